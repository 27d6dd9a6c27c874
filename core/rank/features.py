"""Feature assembly for the ranker: the one definition training and serving share.

The ranker's ONNX inputs are four dense tensors whose column order is written in the
model's manifest (`feature_order`):

    cat      int64   [B, len(CAT_FEATURES)]  categorical codes, 0 = unknown
    num      float32 [B, len(NUM_FEATURES)]  numeric features
    seq_items int64  [B, SEQ_LEN]            recent items (dense index + 1), 0 = padding
    seq_cats  int64  [B, SEQ_LEN]            their categories, 0 = padding

`assemble` builds them from per-row user arrays and dense item indices; training calls it
on logged rows, the rank service on one user x many candidates (`rows_for_user`). Items the
table does not know (index -1) get code 0 and default numeric values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.items import ItemTable

SEQ_LEN = 30
CAT_FEATURES = ("user_region", "user_age", "user_gender", "device", "hour", "item", "author",
                "category", "item_region", "duration_bucket")
NUM_FEATURES = ("item_log_pop", "item_age_log_days", "follows_author", "same_region",
                "seq_category_share", "seq_author_share", "recent_category_share")
# "recent" = the last few items of the sequence: the user's interest of the moment.
RECENT_LEN = 5
ITEM_COL = CAT_FEATURES.index("item")
CATEGORY_COL = CAT_FEATURES.index("category")
DURATION_EDGES = np.array([10, 15, 20, 30, 45, 60, 90, 120], dtype=np.float32)
DAY_MS = 24 * 3600 * 1000
# Values an unknown item's numeric features take; a model's manifest may override them
# ("feature_defaults", written by training: the training catalog's median duration).
ITEM_DEFAULTS = {"duration_s": 30.0, "log_pop": 0.0}


@dataclass(frozen=True)
class UserRows:
    """Per-row user side of a batch (B rows). `seq_idx` holds dense item indices, -1 = pad."""

    region: np.ndarray      # int64 [B]
    age_bucket: np.ndarray  # int64 [B]
    gender: np.ndarray      # int64 [B]
    device: np.ndarray      # int64 [B]
    hour: np.ndarray        # int64 [B], -1 = unknown
    seq_idx: np.ndarray     # int64 [B, SEQ_LEN]
    follows_author: np.ndarray  # float32 [B], 1 when the user follows the row's item's author
    now_ms: np.ndarray      # int64 [B], world time of the request
    # True when every row has the same sequence (one user, many candidates): the sequence
    # features are then computed once instead of once per row.
    shared_sequence: bool = False


def vocab_sizes(items: ItemTable, n_regions: int, n_authors: int, n_categories: int) -> dict[str, int]:
    """Embedding table size per categorical feature (code range 0..size-1)."""
    return {"user_region": n_regions + 1, "user_age": 7, "user_gender": 3, "device": 4,
            "hour": 25, "item": len(items) + 1, "author": n_authors + 1,
            "category": n_categories + 1, "item_region": n_regions + 1,
            "duration_bucket": DURATION_EDGES.size + 2}


def clamp_to_vocab(x: dict[str, np.ndarray], vocab: dict[str, int]) -> dict[str, np.ndarray]:
    """Codes at or past a feature's embedding size (an item or author newer than the model:
    core/rank/online_items.py) read as 0, unknown — what the rank service feeds a model too."""
    out = dict(x)
    limits = np.array([int(vocab[f]) for f in CAT_FEATURES], dtype=np.int64)
    out["cat"] = np.where(x["cat"] < limits, x["cat"], 0)
    for key, feature in (("seq_items", "item"), ("seq_cats", "category")):
        if key in x:
            out[key] = np.where(x[key] < int(vocab[feature]), x[key], 0)
    return out


def pad_sequence(seq_idx: np.ndarray, length: int = SEQ_LEN) -> np.ndarray:
    """Most-recent-first dense indices -> fixed length, -1 padded (unknown items dropped)."""
    seq_idx = seq_idx[seq_idx >= 0][:length]
    out = np.full(length, -1, dtype=np.int64)
    out[: seq_idx.size] = seq_idx
    return out


def assemble(items: ItemTable, item_idx: np.ndarray, users: UserRows,
             defaults: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Model inputs for B rows. `item_idx` [B] dense indices, -1 for unknown items, whose
    item features take `defaults` (ITEM_DEFAULTS where a key is missing)."""
    defaults = {**ITEM_DEFAULTS, **(defaults or {})}
    known = item_idx >= 0
    safe = np.where(known, item_idx, 0)

    def item_col(values: np.ndarray, default=0):
        return np.where(known, values[safe], default)

    author = item_col(items.author_id)
    category = item_col(items.category)
    item_region = item_col(items.region)
    duration = item_col(items.duration_s, np.float32(defaults["duration_s"]))
    duration_bucket = np.where(known, np.searchsorted(DURATION_EDGES, duration) + 1, 0)

    if users.shared_sequence:
        seq_items, seq_cats, cat_share, author_share, recent_share = _shared_sequence_features(
            items, users.seq_idx[0], category, author)
        b = item_idx.size
        seq_items = np.broadcast_to(seq_items, (b, seq_items.size))
        seq_cats = np.broadcast_to(seq_cats, (b, seq_cats.size))
    else:
        seq_valid = users.seq_idx >= 0
        seq_safe = np.where(seq_valid, users.seq_idx, 0)
        seq_items = np.where(seq_valid, users.seq_idx + 1, 0)
        seq_cats = np.where(seq_valid, items.category[seq_safe], 0)
        seq_authors = np.where(seq_valid, items.author_id[seq_safe], -1)
        seq_count = np.maximum(seq_valid.sum(axis=1), 1).astype(np.float32)
        same_cat = seq_cats == category[:, None]
        cat_share = same_cat.sum(axis=1) / seq_count
        recent_count = np.maximum(seq_valid[:, :RECENT_LEN].sum(axis=1), 1).astype(np.float32)
        recent_share = same_cat[:, :RECENT_LEN].sum(axis=1) / recent_count
        author_share = (seq_authors == author[:, None]).sum(axis=1) / seq_count

    age_days = np.maximum(users.now_ms - item_col(items.publish_ms, users.now_ms), 0) / DAY_MS
    cat = np.stack([
        users.region, users.age_bucket, users.gender, users.device,
        np.where(users.hour >= 0, users.hour + 1, 0),
        np.where(known, safe + 1, 0), author, category, item_region, duration_bucket,
    ], axis=1).astype(np.int64)
    num = np.stack([
        item_col(items.log_pop, np.float32(defaults["log_pop"])),
        np.log1p(age_days),
        users.follows_author,
        ((item_region == users.region) & (users.region > 0)).astype(np.float32),
        cat_share * known,
        author_share * known,
        recent_share * known,
    ], axis=1).astype(np.float32)
    return {"cat": cat, "num": num,
            "seq_items": np.ascontiguousarray(seq_items, dtype=np.int64),
            "seq_cats": np.ascontiguousarray(seq_cats, dtype=np.int64)}


def _shared_sequence_features(items: ItemTable, seq_idx: np.ndarray, category: np.ndarray,
                              author: np.ndarray):
    """Sequence inputs and cross features for B candidates against ONE sequence [L]."""
    valid = seq_idx >= 0
    safe = np.where(valid, seq_idx, 0)
    seq_items = np.where(valid, seq_idx + 1, 0)
    seq_cats = np.where(valid, items.category[safe], 0)
    seq_authors = items.author_id[safe[valid]]
    count = np.float32(max(int(valid.sum()), 1))
    recent_count = np.float32(max(int(valid[:RECENT_LEN].sum()), 1))
    n_codes = int(max(category.max(initial=0), seq_cats.max(initial=0))) + 1
    cat_hist = np.bincount(seq_cats[valid], minlength=n_codes)
    recent_hist = np.bincount(seq_cats[:RECENT_LEN][valid[:RECENT_LEN]], minlength=n_codes)
    authors, counts = np.unique(seq_authors, return_counts=True)
    author_count = np.zeros(author.size)
    if authors.size:
        pos = np.minimum(np.searchsorted(authors, author), authors.size - 1)
        author_count = np.where(authors[pos] == author, counts[pos], 0)
    return (seq_items, seq_cats, cat_hist[category] / count, author_count / count,
            recent_hist[category] / recent_count)


def rows_for_user(items: ItemTable, item_idx: np.ndarray, *, region: int, age_bucket: int,
                  gender: int, device: int, hour: int, recent_items: np.ndarray,
                  followed_authors: np.ndarray, now_ms: int) -> UserRows:
    """One user against B candidates: the user's fields broadcast to every row."""
    b = item_idx.size
    seq = pad_sequence(items.index_of(recent_items))
    known = item_idx >= 0
    authors = np.where(known, items.author_id[np.where(known, item_idx, 0)], -1)

    def full(value: int) -> np.ndarray:
        return np.full(b, value, dtype=np.int64)

    return UserRows(
        region=full(region), age_bucket=full(age_bucket), gender=full(gender),
        device=full(device), hour=full(hour),
        seq_idx=np.broadcast_to(seq, (b, SEQ_LEN)),
        follows_author=np.isin(authors, followed_authors).astype(np.float32),
        now_ms=full(now_ms), shared_sequence=True,
    )
