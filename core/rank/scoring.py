"""Two-stage scoring for one request: pre-rank cuts the candidates, the ranker orders them.

Features are assembled once for all candidates (the two models share the assembly when
they share an item table); the pre-ranker runs once over all of them and keeps the best
`keep`; the ranker runs once over those. Each stage is one `run` over the batch: an ONNX
scorer's, or a two-tower pre-ranker's (its user tower once, then a dot product per candidate
and head: core/rank/two_tower_prerank.py); both return head probabilities fused by the
version's weights, so nothing here depends on the kind.

The candidates arrive in recall order (the RRF merge, best first), and that order is evidence
the models do not see: which channels agreed, how high. Each stage adds it to its fused
score as a prior, `prior_weight * recall_prior(position)` with the weight from the version's
manifest (fitted on a validation split with the head weights; 0 = the models alone), so a
ranker that knows little about a user cannot throw away what recall found. The ranker's
version may also ship a watch model (core/rank/watch.py: the user's long-term taste, learned
from watched fractions): its score joins the ranker's fused score with the version's
`watch_weight`, the user's vector updated with the views in the state since the version
(`state.watched_*`). The pre-rank cut adds the same weighted watch score to the pre-ranker's,
so it keeps what the ranker's fused score will want (a dot product per candidate: cheap
enough for all of them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.context import RequestContext
from core.items import ItemTable
from core.rank.features import assemble, rows_for_user
from core.rank.model import LoadedModel
from core.rank.online_items import OnlineItems
from core.rank.watch import Watched
from core.store.user_state import UserStateData


@dataclass(frozen=True)
class Scored:
    item_ids: np.ndarray   # int64, best fused score first
    fused: np.ndarray      # float32, parallel
    heads: np.ndarray      # float32 [n, n_heads], the ranker's probabilities
    unknown: int           # candidates the ranker's item table does not know
    kept: int              # candidates the ranker scored
    prerank_ran: bool


def recall_prior(n: int) -> np.ndarray:
    """The prior of each position in the recall order: 1 / log2(2 + position), the discount
    NDCG gives a rank (1.0 first, 0.5 at position 2, 0.1 at 1,000)."""
    return (1.0 / np.log2(np.arange(n, dtype=np.float64) + 2.0)).astype(np.float32)


def best_rows(scores: np.ndarray, keep: int) -> np.ndarray:
    """The rows of the `keep` best scores, in their input order (the pre-rank's cut)."""
    return np.sort(np.argpartition(-scores, keep - 1)[:keep])


def _features(model: LoadedModel, context: RequestContext, state: UserStateData, ids: np.ndarray,
              now_ms: int, online: OnlineItems | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, ItemTable]:
    # A model without a vocabulary in its manifest cannot clamp codes past it: no extension.
    items = online.extend(model.items) if online is not None and model.cat_limits is not None else model.items
    idx = items.index_of(ids)
    rows = rows_for_user(items, idx, region=context.region or state.region,
                         age_bucket=state.age_bucket, gender=state.gender, device=context.device,
                         hour=context.local_hour, recent_items=state.recent_items,
                         followed_authors=state.followed_authors, now_ms=now_ms)
    return assemble(items, idx, rows, model.feature_defaults), idx, items


def watch_scores(ranker: LoadedModel, context: RequestContext, state: UserStateData, idx: np.ndarray,
                 items: ItemTable, now_ms: int, clock_offset_ms: int = 0) -> np.ndarray | None:
    """The ranker version's weighted watch score of every candidate (None without one): the
    user's vector with the views in the state folded in (their times are wall time)."""
    watch = ranker.watch
    if watch is None or not ranker.watch_weight:
        return None
    seen = items.index_of(state.seen_items) if watch.needs_seen(context.user_id) else None
    watched = (Watched(items.index_of(state.watched_items), state.watched_ms, state.watched_ts_ms - clock_offset_ms)
               if watch.fold_in is not None and state.watched_items.size else None)
    return ranker.watch_weight * watch.score(context.user_id, idx, items, now_ms, seen, watched)


def score(context: RequestContext, state: UserStateData, ids: np.ndarray, now_ms: int,
          ranker: LoadedModel, prerank: LoadedModel | None = None, keep: int = 200,
          top_k: int = 0, online: OnlineItems | None = None, clock_offset_ms: int = 0) -> Scored:
    """`online`: videos published since the versions were built, assembled with their real
    item features instead of as unknown items (core/rank/online_items.py). `clock_offset_ms`:
    wall time less catalog time (core/store/clock.py); the state's view times are wall time."""
    features, idx, items = _features(ranker, context, state, ids, now_ms, online)
    chosen = np.arange(ids.size)
    prior = recall_prior(ids.size)
    watch = watch_scores(ranker, context, state, idx, items, now_ms, clock_offset_ms)
    ran = prerank is not None and ids.size > keep
    if ran:
        pre_features = (features if prerank.items_sha == ranker.items_sha
                        else _features(prerank, context, state, ids, now_ms, online)[0])
        pre = prerank.fuse(prerank.run(pre_features))
        if prerank.prior_weight:
            pre = pre + prerank.prior_weight * prior
        if watch is not None:  # the cut keeps what the ranker's fused score will want
            pre = pre + watch
        chosen = best_rows(pre, keep)
        features = {k: v[chosen] for k, v in features.items()}
    heads = ranker.run(features)
    fused = ranker.fuse(heads)
    if ranker.prior_weight:
        fused = fused + ranker.prior_weight * prior[chosen]
    if watch is not None:
        fused = fused + watch[chosen]
    order = np.argsort(-fused, kind="stable")
    if top_k:
        order = order[:top_k]
    return Scored(ids[chosen][order], fused[order], heads[order], int((idx < 0).sum()),
                  int(chosen.size), ran)
