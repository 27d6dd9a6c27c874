"""An imported dataset on disk, built once per input: the folder `make run DATA=...` and
`python -m training.train --data ...` train and serve from.

    <root>/<name>-<hash12>/
        stamp.json      content hash of the input files, preset, rows, import speed, peak memory
        world/          the World (dense ids) training and the Redis loader read
        ids.npz         source ids by dense id (core/ids.py; the gateway's GATEWAY_ID_MAP)
        display.jsonl   display info per item (title, cover, author, duration, tags)
        models/         the registry trained from it (training/train.py --data)

The hash covers every file directly in the input folder (names and bytes), the preset and
the importer's version, so the same data is imported once and a changed file imports anew.
"""
from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.ids import IdMap
from core.store.item_meta import ItemMeta
from training.importers import presets
from training.importers.common import BadInput
from training.importers.generic import build
from training.world import World

# Bump when the import's output changes for the same input (a new column read, a new rule).
IMPORT_VERSION = 1
DEFAULT_ROOT = Path("data/datasets")


@dataclass(frozen=True)
class Prepared:
    folder: Path
    stamp: dict

    @property
    def world_dir(self) -> Path:
        return self.folder / "world"

    @property
    def ids_path(self) -> Path:
        return self.folder / "ids.npz"

    @property
    def registry(self) -> Path:
        return self.folder / "models"

    @property
    def content_hash(self) -> str:
        return self.stamp["hash"]

    def world(self) -> World:
        return World.load(self.world_dir)

    def ids(self) -> IdMap:
        return IdMap.load(self.ids_path)

    def display(self) -> dict[int, ItemMeta]:
        out = {}
        with (self.folder / "display.jsonl").open() as f:
            for line in f:
                d = json.loads(line)
                item = d.pop("item")
                out[item] = ItemMeta(**{**d, "tags": tuple(d["tags"])})
        return out


def content_hash(folder: Path, preset: str, skip_bad: bool) -> str:
    h = hashlib.sha256(json.dumps([IMPORT_VERSION, preset, skip_bad]).encode())
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        h.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def cpu_s() -> float:
    """CPU seconds this process has used (user + system, all its threads): on a shared
    machine the wall-clock time says more about the neighbours than about the work."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20) if sys.platform == "darwin" else peak / 1024, 1)


def prepare(data: Path, root: Path = DEFAULT_ROOT, preset: str = "auto", skip_bad: bool = False,
            say=print) -> Prepared:
    """Import `data` unless the same input was imported already; returns where it lives."""
    data = Path(data).expanduser().resolve()
    if not data.is_dir():
        raise BadInput(f"{data}: no such directory")
    preset = presets.detect(data) if preset == "auto" else preset
    digest = content_hash(data, preset, skip_bad)
    folder = Path(root) / f"{data.name}-{digest[:12]}"
    stamp_path = folder / "stamp.json"
    if stamp_path.exists():
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("hash") == digest:
            say(f"data: {data} already imported -> {folder}")
            return Prepared(folder, stamp)
    say(f"data: importing {data} (preset {preset}) -> {folder}")
    start, cpu_start = time.perf_counter(), cpu_s()
    imported = build(presets.read(data, preset, skip_bad))
    seconds, cpu = time.perf_counter() - start, cpu_s() - cpu_start
    folder.mkdir(parents=True, exist_ok=True)
    imported.world.save(folder / "world")
    imported.ids.save(folder / "ids.npz")
    with (folder / "display.jsonl").open("w") as f:
        for item, m in imported.display.items():
            f.write(json.dumps({"item": item, "title": m.title, "cover_url": m.cover_url,
                                "author_name": m.author_name, "duration_s": m.duration_s,
                                "tags": list(m.tags)}) + "\n")
    c = imported.world.config
    stamp = {"hash": digest, "source": str(data), "preset": preset, "import_version": IMPORT_VERSION,
             "rows": imported.rows_read, "skipped_rows": imported.skipped,
             "interactions": int(imported.world.impressions["user_id"].size),
             "users": c.n_users, "items": c.n_videos, "authors": c.n_authors, "categories": c.n_categories,
             "import_s": round(seconds, 2), "import_rows_per_s": round(imported.rows_read / max(seconds, 1e-9)),
             "import_cpu_s": round(cpu, 2), "import_rows_per_cpu_s": round(imported.rows_read / max(cpu, 1e-9)),
             "peak_rss_mb": peak_rss_mb()}
    # Written last: a folder without its stamp is an import that did not finish.
    stamp_path.write_text(json.dumps(stamp, indent=2))
    say(f"data: {stamp['interactions']} interactions, {c.n_users} users, {c.n_videos} items, "
        f"{imported.skipped} rows skipped, {stamp['import_rows_per_s']} rows/s "
        f"({stamp['import_rows_per_cpu_s']} per CPU second), peak memory {stamp['peak_rss_mb']} MB")
    return Prepared(folder, stamp)
