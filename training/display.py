"""Display info for the synthetic world: category and tag names, author names and video
titles, generated from the world's own columns (category, author, tags) and its seed, so
the same world always shows the same titles. Covers are drawn by the gateway
(gateway/http/covers.py); the metadata points at them.

An imported dataset brings its own: an importer that knows titles, authors, durations or
tags stores them with `set_display` as `display_*` columns of the world's videos (saved and
loaded with the world), and `video_meta` serves those instead of generated ones (KuaiRand:
the real tags and durations, training/importers/kuairand.py).
"""
from __future__ import annotations

import numpy as np

from core.store.item_meta import TAG_SEPARATOR, ItemMeta, generated_cover_url

# The videos' columns an importer fills with the dataset's own display info (one per video, dense order).
DISPLAY_COLUMNS = {"title": "display_title", "author_name": "display_author",
                   "duration_s": "display_duration_s", "tags": "display_tags"}

# (category name, its tags, nouns its titles are about)
CATEGORIES = (
    ("Comedy", ("sketch", "prank", "standup", "parody"), ("prank", "sketch", "roommate", "office day")),
    ("Pets", ("cats", "dogs", "puppies", "rescue"), ("kitten", "golden retriever", "parrot", "rescue pup")),
    ("Cooking", ("recipe", "baking", "streetfood", "quickmeals"), ("ramen", "sourdough", "dumplings", "tacos")),
    ("Dance", ("choreo", "hiphop", "kpop", "ballet"), ("choreography", "freestyle", "dance battle", "routine")),
    ("Music", ("cover", "guitar", "beats", "live"), ("guitar riff", "piano cover", "beat drop", "duet")),
    ("Travel", ("roadtrip", "hiking", "citywalk", "beach"), ("Lisbon", "mountain pass", "night market", "island")),
    ("Fitness", ("workout", "yoga", "running", "gym"), ("ab workout", "morning yoga", "5k run", "leg day")),
    ("Gaming", ("speedrun", "esports", "retro", "mods"), ("speedrun", "boss fight", "clutch play", "retro game")),
    ("Beauty", ("makeup", "skincare", "nails", "hair"), ("makeup look", "skincare routine", "nail art", "braid")),
    ("DIY", ("woodwork", "crafts", "repair", "upcycle"), ("bookshelf", "lamp", "bike repair", "planter")),
    ("Science", ("physics", "space", "chemistry", "experiments"), ("experiment", "rocket", "black hole", "magnet")),
    ("Sports", ("football", "basketball", "skate", "highlights"), ("trick shot", "free kick", "dunk", "kickflip")),
    ("Fashion", ("outfits", "streetwear", "thrift", "styling"), ("outfit", "thrift haul", "sneakers", "jacket")),
    ("Cars", ("supercars", "restoration", "drift", "ev"), ("restoration", "drift run", "engine swap", "EV test")),
    ("Nature", ("wildlife", "ocean", "forest", "birds"), ("owl", "coral reef", "forest walk", "thunderstorm")),
    ("Art", ("painting", "drawing", "sculpture", "animation"), ("portrait", "watercolor", "clay figure", "sketchbook")),
)
TEMPLATES = (
    "My first {noun} ever", "{noun} in 60 seconds", "POV: the perfect {noun}", "I tried the viral {noun}",
    "{noun}, day {n}", "Why nobody talks about this {noun}", "Rating every {noun} I found",
    "The {noun} that broke the internet", "Quick {noun} hack you need", "{noun} at 3 am",
    "Best {noun} of the week", "Can I beat this {noun}?", "Unexpected {noun} ending", "{noun} tier list",
)
FIRST = ("Mia", "Leo", "Ava", "Noah", "Zoe", "Kai", "Lena", "Omar", "Yuki", "Ines", "Theo", "Nia",
         "Ravi", "Sara", "Jonas", "Luz", "Emil", "Hana", "Ivo", "Maya")
HANDLE = ("cooks", "moves", "plays", "makes", "travels", "lifts", "films", "sings", "draws", "builds",
          "explores", "laughs", "styles", "drives", "grows", "tests")


def category_name(category: int) -> str:
    """1-based category code -> its name ("Category N" beyond the named ones)."""
    return CATEGORIES[category - 1][0] if 1 <= category <= len(CATEGORIES) else f"Category {category}"


def tag_name(tag: int, tags_per_category: int) -> str:
    """The world's 1-based tag code -> a tag (the world gives each category a run of codes)."""
    category, k = divmod(int(tag) - 1, tags_per_category)
    if category < len(CATEGORIES) and k < len(CATEGORIES[category][1]):
        return CATEGORIES[category][1][k]
    return f"tag{int(tag)}"


def author_names(n_authors: int, main_category: np.ndarray, seed: int) -> list[str]:
    """One handle per author (1-based ids -> index id-1), e.g. "@lena.cooks"."""
    rng = np.random.default_rng([seed, 1])
    first = rng.integers(0, len(FIRST), n_authors)
    return [f"@{FIRST[f].lower()}.{HANDLE[(int(c) - 1) % len(HANDLE)]}{'' if a < len(FIRST) else a}"
            for a, (f, c) in enumerate(zip(first, main_category))]


def set_display(world, columns: dict[str, list]) -> None:
    """Store an imported dataset's display info in the world's videos: `columns` has a list
    per ItemMeta field ("title", "author_name", "duration_s", "tags" = tuples of strings),
    one entry per video in dense order. Strings, so the world still loads without pickle."""
    n = len(world.videos["item_id"])
    for name, values in columns.items():
        if len(values) != n:
            raise ValueError(f"display column {name!r}: {len(values)} values for {n} videos")
    v = world.videos
    v[DISPLAY_COLUMNS["title"]] = np.array(columns["title"], dtype=str)
    v[DISPLAY_COLUMNS["author_name"]] = np.array(columns["author_name"], dtype=str)
    v[DISPLAY_COLUMNS["duration_s"]] = np.asarray(columns["duration_s"], dtype=np.float64)
    v[DISPLAY_COLUMNS["tags"]] = np.array([TAG_SEPARATOR.join(t) for t in columns["tags"]], dtype=str)


def imported_meta(world) -> dict[int, ItemMeta]:
    """Item id -> the display info an importer stored (`set_display`), covers generated."""
    v = world.videos
    title, author, duration, tags = (v[DISPLAY_COLUMNS[f]] for f in ("title", "author_name", "duration_s", "tags"))
    return {int(item): ItemMeta(str(title[i]), generated_cover_url(int(item)), str(author[i]), float(duration[i]),
                                tuple(t for t in str(tags[i]).split(TAG_SEPARATOR) if t))
            for i, item in enumerate(v["item_id"])}


def video_meta(world) -> dict[int, ItemMeta]:
    """Item id -> display info for every video: the dataset's own when an importer stored it
    (`set_display`), else generated (a synthetic world)."""
    if DISPLAY_COLUMNS["title"] in world.videos:
        return imported_meta(world)
    c, v = world.config, world.videos
    n = len(v["item_id"])
    rng = np.random.default_rng([c.seed, 2])
    template = rng.integers(0, len(TEMPLATES), n)
    noun = rng.integers(0, 4, n)
    day = rng.integers(2, 100, n)
    authors = author_names(c.n_authors, world.authors["main_category"], c.seed)
    per_cat = max(1, c.n_tags // c.n_categories)
    out = {}
    for i in range(n):
        cat = int(v["category"][i])
        nouns = CATEGORIES[cat - 1][2] if 1 <= cat <= len(CATEGORIES) else ("video",)
        title = TEMPLATES[template[i]].format(noun=nouns[noun[i] % len(nouns)], n=day[i])
        title = title[0].upper() + title[1:]
        # The category's name leads the tags (what a viewer browses by).
        tags = tuple(dict.fromkeys([category_name(cat).lower(), *(tag_name(t, per_cat) for t in v["tags"][i])]))
        item = int(v["item_id"][i])
        out[item] = ItemMeta(title, generated_cover_url(item), authors[int(v["author_id"][i]) - 1],
                             float(v["duration_s"][i]), tags)
    return out
