"""The serving funnel, offline: recall channels -> RRF merge -> DropSeen -> pre-rank -> rank
-> rerank policy, for one user at a dataset's cutoff, with the services' own code and the
models of a registry. training.evaluate measures it; training.fusion fits the ranker's head
weights with it on a validation split; training.train draws the ranker's hard negatives from
its recall stage (`Recall`, the funnel before any ranker exists).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.context import RequestContext
from core.feedback import HOT_WEIGHTS, EventKind
from core.rank import scoring
from core.rank.model import LoadedModel
from core.recall.channels.hot import top_by_total
from core.recall.channels.item_cf import ItemCFChannel
from core.recall.channels.mf import MFChannel
from core.recall.channels.region import RegionChannel
from core.recall.channels.two_tower import TwoTowerModel
from core.recall.merge import DEFAULT_WEIGHTS, merge
from core.registry.reader import Registry
from core.rerank.candidates import ItemSide
from core.rerank.policies import build_policies
from core.store import keys as K
from core.store.keys import SEQ_CAP
from core.store.user_state import UserStateData
from training import data as data_mod
from training.data import Dataset
from training.world import World

FEED = 20
QUOTAS = {"two_tower": 500, "item_cf": 300, "mf": 300, "hot": 200, "region": 200, "follow": 100}
FOLLOW_WINDOW_MS = 7 * 86_400_000
PRERANK_KEEP, RANK_KEEP = 200, 50


def hot_scopes(world: World, cutoff_ms: int, window_h: int = K.HOT_WINDOW_H, half_life_h: float = 6.0,
               depth: int = 2000) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What the hot channel reads at `cutoff_ms`, per scope (global, each region): the
    engagement of the last `window_h` hourly buckets (core.feedback.HOT_WEIGHTS,
    as training.load_state writes them), bucket weight 0.5 ** (age / half_life_h), top `depth`
    (core.recall.channels.hot.HotChannel's defaults)."""
    imp = world.impressions
    ts = imp["ts_ms"]
    now_bucket = K.hot_bucket(cutoff_ms)
    age = now_bucket - ts // K.HOT_BUCKET_MS
    recent = (ts < cutoff_ms) & (age < window_h)
    score = (HOT_WEIGHTS[EventKind.VIEW] * data_mod.engaged_mask(world)
             + HOT_WEIGHTS[EventKind.LIKE] * (imp["like"] > 0) + HOT_WEIGHTS[EventKind.SHARE] * (imp["share"] > 0))
    score = score * recent * 0.5 ** (np.maximum(age, 0) / half_life_h)
    rows = np.flatnonzero(score > 0)
    region = world.users["region"][imp["user_id"][rows] - 1]
    out = {}
    for scope, sel in [(K.GLOBAL_SCOPE, np.ones(rows.size, bool))] + [
            (K.region_scope(r), region == r) for r in np.unique(region)]:
        total = np.bincount(imp["item_id"][rows[sel]] - 1, weights=score[rows[sel]], minlength=world.config.n_videos)
        order = np.argsort(-total, kind="stable")[:depth]
        order = order[total[order] > 0]
        out[scope] = (order + 1, total[order].astype(np.float32))
    return out


class Recall:
    """The recall stage for one offline user: the channels, the RRF merge and DropSeen, with
    the recall service's own code and the live two_tower and item_cf versions of a registry
    (all a ranker's training needs of the funnel, before any ranker exists)."""

    def __init__(self, world: World, ds: Dataset, registry: Path, merge_weights: dict[str, float] | None = None):
        reg = Registry(registry)
        self.reg, self.world, self.ds = reg, world, ds
        self.two_tower = reg.open("two_tower")
        self.tower = TwoTowerModel.load(self.two_tower)
        self.cf = ItemCFChannel.load(reg.open("item_cf"))
        self.region = RegionChannel.load(reg.open("item_cf"))
        self.mf = MFChannel.load(reg.open("item_cf"))
        self.items = self.tower.items
        self.hot = hot_scopes(world, ds.cutoff_ms)
        self.merge_weights = {n: float({**DEFAULT_WEIGHTS, **(merge_weights or {})}.get(n, 1.0)) for n in QUOTAS}
        self.weights = list(self.merge_weights.values())
        tr = ds.train
        self.by_user = np.argsort(tr.user_idx, kind="stable")
        self.bounds = np.searchsorted(tr.user_idx[self.by_user], np.arange(world.config.n_users + 1))

    @classmethod
    def served(cls, world: World, ds: Dataset, registry: Path) -> Recall:
        """The recall stage as the recall service serves it: with the merge weights published
        in the live two-tower manifest (the defaults where it has none)."""
        return cls(world, ds, registry, Registry(registry).open("two_tower").manifest.get("merge_weights"))

    def state(self, u: int) -> UserStateData:
        tr, items, w = self.ds.train, self.items, self.world
        rows = self.by_user[self.bounds[u]:self.bounds[u + 1]]
        eng = rows[tr.engaged[rows]]
        recent = items.item_id[tr.item_idx[eng][np.argsort(-tr.ts_ms[eng], kind="stable")]]
        _, first = np.unique(recent, return_index=True)  # distinct, newest first: the online list
        recent = recent[np.sort(first)][:SEQ_CAP]
        seen = items.item_id[tr.item_idx[rows]]
        f = w.follows
        return UserStateData(known=True, recent_items=recent, seen_items=seen,
                             followed_authors=f["author_id"][(f["user_id"] == u + 1)
                                                             & (f["ts_ms"] < self.ds.cutoff_ms)],
                             age_bucket=int(w.users["age_bucket"][u]), gender=int(w.users["gender"][u]),
                             region=int(w.users["region"][u]))

    def hot_list(self, region: int, fetch: int) -> np.ndarray:
        """HotChannel.retrieve: the global and the region's lists, each scaled by its top score."""
        lists = [self.hot[K.GLOBAL_SCOPE]] + ([self.hot[K.region_scope(region)]]
                                              if region and K.region_scope(region) in self.hot else [])
        ids = np.concatenate([i for i, _ in lists])
        scores = np.concatenate([x / x[0] if x.size and x[0] > 0 else x for _, x in lists])
        return top_by_total(ids, scores, fetch).item_ids

    def recall(self, u: int, state: UserStateData) -> dict[str, np.ndarray]:
        """Each channel's list as the recall service asks for it (quota + the seen count)."""
        items, cutoff = self.items, self.ds.cutoff_ms
        recent, extra = state.recent_items, state.seen_items.size
        vec = self.tower.user_vector(recent, state.region, state.age_bucket, state.gender)
        cf_idx, _ = self.cf.votes(items.index_of(recent[: self.cf.seeds]))
        fresh = (items.publish_ms >= cutoff - FOLLOW_WINDOW_MS) & (items.publish_ms < cutoff)
        follow = np.flatnonzero(fresh & np.isin(items.author_id, state.followed_authors))
        follow = items.item_id[follow[np.argsort(-items.publish_ms[follow], kind="stable")]]
        return {"two_tower": self.tower.search(vec, QUOTAS["two_tower"] + extra)[0],
                "item_cf": items.item_id[cf_idx[: QUOTAS["item_cf"] + extra]],
                "mf": self.mf.top(recent, state.seen_items, QUOTAS["mf"] + extra).item_ids,
                "hot": self.hot_list(state.region, QUOTAS["hot"] + extra),
                "region": self.region.favourites(state.region, recent.size, QUOTAS["region"] + extra).item_ids,
                "follow": follow[: QUOTAS["follow"] + extra]}

    def candidates(self, u: int) -> tuple[RequestContext, UserStateData, dict[str, np.ndarray], np.ndarray]:
        """The request, the user's state, each channel's list and the merged candidates
        (seen items dropped, at most 1000) as the rank service receives them."""
        state = self.state(u)
        lists = self.recall(u, state)
        merged = merge([(bit, np.asarray(ids, np.int64)) for bit, ids in enumerate(lists.values())], self.weights)
        cand = merged.item_ids[~np.isin(merged.item_ids, state.seen_items)][:1000]
        return RequestContext(user_id=int(u) + 1, region=state.region), state, lists, cand


class Funnel(Recall):
    """The serving stages for one offline user, with the services' own code and models."""

    def __init__(self, world: World, ds: Dataset, registry: Path, policy: str = "default",
                 merge_weights: dict[str, float] | None = None):
        super().__init__(world, ds, registry, merge_weights)
        reg = self.reg
        self.ranker, self.prerank = LoadedModel.load(reg.open("ranker")), LoadedModel.load(reg.open("prerank"))
        vectors = np.load(self.two_tower.file("item_vectors.npy"), allow_pickle=False)
        self.side = ItemSide(self.items, vectors)
        self.policy = build_policies()[policy]

    def feed(self, ids: np.ndarray, fused: np.ndarray) -> np.ndarray:
        """The rerank policy's feed from the rank order."""
        result = self.policy.apply(self.side.candidates(ids, fused), FEED)
        return ids[np.asarray(result.feed, np.int64)]

    def run(self, u: int) -> dict[str, np.ndarray]:
        """Item ids after every stage (and of every channel alone, seen items dropped)."""
        ctx, state, lists, cand = self.candidates(u)
        seen, now = state.seen_items, self.ds.cutoff_ms
        # the pre-rank cut's order (what it keeps is its top PRERANK_KEEP): the pre-ranker's
        # fused score with the ranker version's weighted watch score, as the rank stage cuts
        pre = scoring.score(ctx, state, cand, now, self.prerank, None)
        items = self.ranker.items
        watch = scoring.watch_scores(self.ranker, ctx, state, items.index_of(pre.item_ids), items, now)
        cut = pre.item_ids if watch is None else pre.item_ids[np.argsort(-(pre.fused + watch), kind="stable")]
        scored = scoring.score(ctx, state, cand, now, self.ranker, self.prerank, PRERANK_KEEP, RANK_KEEP)
        out = {f"channel:{name}": np.asarray(ids, np.int64)[~np.isin(ids, seen)] for name, ids in lists.items()}
        self.last_fused, self.last_state = scored.fused, state  # the run's rank scores and user state
        out |= {"recall_top20": cand[:FEED], "merged_recall": cand, "prerank": cut[:PRERANK_KEEP],
                "rank": scored.item_ids, "final": self.feed(scored.item_ids, scored.fused)}
        return out
