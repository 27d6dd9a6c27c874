"""Videos published online, as feature assembly sees them.

A model version's item table (`items.npz`) is frozen when the version is built; a video
published through the catalog API afterwards is unknown to it, and `assemble` gives an unknown
item code 0 and default features: every new upload looks the same to the ranker, whoever made
it and whatever it is about. Measured in the learning loop (training/loop/run.py, the world
uploading its usual ~250 videos a day): by the fourth day ~90% of the shown items were such
blank uploads, chosen with no regard to the user.

`OnlineItems` is a catalog sink (the `CatalogFollower` keeps it in step, as it keeps the recall
service's live catalog) whose `extend(table)` appends the online videos to a model's table:
author, category, region, duration and publish time known, popularity 0 (none logged yet). Their
dense indices lie past the model's vocabulary, so the model still reads their item id code as
unknown (LoadedModel clamps codes beyond the manifest's vocab to 0; training does the same), while
every other feature — the author, the category against the user's sequence, the region, the age —
is the real one. Training (training/loop/retrain.py) assembles rows with the same extension.
"""
from __future__ import annotations

import numpy as np

from core.items import COLUMNS, ItemTable
from core.store.catalog_log import CatalogItem, CatalogSink


def extend_items(base: ItemTable, items: list[CatalogItem]) -> ItemTable:
    """`base` with the `items` it does not hold appended (in id order), popularity 0."""
    if not items:
        return base
    ids = np.fromiter((it.item_id for it in items), np.int64, len(items))
    new = np.flatnonzero(base.index_of(ids) < 0)
    if new.size == 0:
        return base
    new = new[np.argsort(ids[new], kind="stable")]
    picked = [items[i] for i in new]
    cols = {
        "item_id": ids[new],
        "author_id": np.fromiter((it.author_id for it in picked), np.int64, new.size),
        "category": np.fromiter((it.category for it in picked), np.int64, new.size),
        "duration_s": np.fromiter((it.duration_s for it in picked), np.float32, new.size),
        "publish_ms": np.fromiter((it.publish_ms for it in picked), np.int64, new.size),
        "region": np.fromiter((it.region for it in picked), np.int64, new.size),
        "log_pop": np.zeros(new.size, np.float32),
    }
    return ItemTable.from_columns(**{c: np.concatenate([getattr(base, c), cols[c]]) for c in COLUMNS})


class OnlineItems(CatalogSink):
    """The online catalog for the rank service; `extend` caches one table per base table."""

    def __init__(self):
        self._items: dict[int, CatalogItem] = {}
        self._generation = 0
        self._cache: dict[int, tuple[int, ItemTable, ItemTable]] = {}  # id(base) -> (generation, base, table)

    def __len__(self) -> int:
        return len(self._items)

    def publish(self, items: list[CatalogItem]) -> None:
        if items:
            self._items.update((it.item_id, it) for it in items)
            self._generation += 1

    def remove(self, item_ids: list[int]) -> None:
        # A removed video is never recalled again (DropUnavailable); its features may stay.
        pass

    def extend(self, base: ItemTable) -> ItemTable:
        if not self._items:
            return base
        hit = self._cache.get(id(base))
        if hit is not None and hit[0] == self._generation and hit[1] is base:
            return hit[2]
        table = extend_items(base, list(self._items.values()))
        if len(self._cache) > 8:  # versions come and go; a handful are ever in use at once
            self._cache.clear()
        self._cache[id(base)] = (self._generation, base, table)
        return table
