"""Deterministic cover images (SVG) for videos without a real one: the synthetic world's,
and published videos that name no cover. The same id always draws the same picture; the
category picks the palette, so a feed's topics show at a glance."""
from __future__ import annotations

MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def cover_svg(item_id: int, category: int = 0) -> str:
    """A 9:16 cover: a two-tone gradient in the category's hue, soft shapes placed by the id."""
    h = _mix(int(item_id))
    hue = (category * 137 + (h & 0x1F)) % 360 if category else h % 360
    hue2 = (hue + 40 + (h >> 8) % 60) % 360
    shapes = []
    for k in range(4):
        v = _mix(h + k)
        cx, cy, r = v % 180, (v >> 8) % 320, 20 + (v >> 16) % 60
        light = 55 + (v >> 24) % 30
        shapes.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="hsl({(hue + 180) % 360},70%,{light}%)" '
                      f'fill-opacity="0.35"/>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="180" height="320" viewBox="0 0 180 320">'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="hsl({hue},65%,45%)"/>'
        f'<stop offset="1" stop-color="hsl({hue2},70%,25%)"/></linearGradient></defs>'
        '<rect width="180" height="320" fill="url(#g)"/>' + "".join(shapes)
        + '<circle cx="90" cy="160" r="26" fill="#fff" fill-opacity="0.85"/>'
        '<path d="M82 146 L104 160 L82 174 Z" fill="#222"/>'
        '<text x="10" y="308" font-family="sans-serif" font-size="14" fill="#fff" fill-opacity="0.8">'
        f"#{int(item_id)}</text>"
        "</svg>")
