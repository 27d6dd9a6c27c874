"""The map between a dataset's own ids and the dense ids the system serves with.

Everything inside the system (models, Redis keys, streams, the impression log) uses dense
int64 ids 1..n: embedding tables and item tables are indexed by them, and 0 means
"unknown". A dataset brought in from outside (training/importers/generic.py) has ids of
any form: strings ("u_8f3a"), integers that start at 0 (KuaiRand), sparse 64-bit hashes.
The importer gives every user and item a dense id in the sorted order of its source id and
stores the source ids here; the gateway loads this map (GATEWAY_ID_MAP) and translates at
the edge: `external_user_id` / `external_item_id` in, `external_item_id` out.

A user the map does not know (someone new to the log) gets a stable id from a hash of the
source id, above every dense id (`new_user_id`), so every replica and every restart gives
them the same state in Redis without a shared counter. Items come only from the catalog:
an item the map does not know is bad input.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Users unknown to the map live at NEW_USER_BASE + a 56-bit hash of their source id: far
# above any dense id, below 2**63 (int64), and the same on every replica.
NEW_USER_BASE = 1 << 62
MAX_EXTERNAL_ID = 128  # characters


@dataclass
class IdMap:
    """Source ids by dense id (position = dense id - 1), both ways."""

    users: np.ndarray  # unicode [n_users]
    items: np.ndarray  # unicode [n_items]
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.users = np.asarray(self.users).astype(str)
        self.items = np.asarray(self.items).astype(str)
        self._user_index = {s: k + 1 for k, s in enumerate(self.users.tolist())}
        self._item_index = {s: k + 1 for k, s in enumerate(self.items.tolist())}
        if len(self._user_index) != self.users.size or len(self._item_index) != self.items.size:
            raise ValueError("source ids must be unique")

    def save(self, path: Path) -> None:
        np.savez(path, users=self.users, items=self.items)

    @classmethod
    def load(cls, path: Path) -> IdMap:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["users"], data["items"])

    def user_id(self, source: str) -> int:
        """The dense id of a known user, else the stable hashed id of a new one."""
        known = self._user_index.get(source)
        return known if known is not None else new_user_id(source)

    def item_id(self, source: str) -> int | None:
        """The dense id of a known item, None if the catalog has no such item."""
        return self._item_index.get(source)

    def item_source(self, item_id: int) -> str:
        """The source id of a dense item id; "" for an id the map does not hold (a video
        published online after the import)."""
        return str(self.items[item_id - 1]) if 1 <= item_id <= self.items.size else ""

    def user_source(self, user_id: int) -> str:
        return str(self.users[user_id - 1]) if 1 <= user_id <= self.users.size else ""


def new_user_id(source: str) -> int:
    digest = hashlib.blake2b(source.encode(), digest_size=7).digest()
    return NEW_USER_BASE + int.from_bytes(digest, "big")
