"""`make demo`: feeds for three users with why each item is there, then a feed learning.

The second part likes ten videos of one category the user's feed barely shows, reports
those events through the gateway, and asks again: the category's share of the feed rises,
because the reported likes changed the user's recent sequence in Redis, which the two-tower
user tower and the ranker's attention read on the very next request.
"""
from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
from recsys.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc

from training.world import World

COLD_USER = 10_000_000


def print_feed(title: str, reply: gateway_pb2.RecommendResponse) -> None:
    print(f"\n=== {title}  (request {reply.request_id}, models "
          f"{', '.join(f'{m.name}/{m.version}' for m in reply.models) or '-'}"
          f"{', degraded: ' + ', '.join(reply.degraded) if reply.degraded else ''})")
    print(f"{'#':>3} {'item':>7} {'author':>6} {'cat':>4} {'score':>7}  {'recall#':>7} "
          f"{'rank#':>5}  {'channels':<24} {'title':<34} rerank")
    for pos, it in enumerate(reply.items, 1):
        print(f"{pos:>3} {it.item_id:>7} {it.author_id:>6} {it.category:>4} {it.score:>7.3f}  "
              f"{it.recall_position:>7} {it.rank_position:>5}  {'+'.join(it.channels):<24} "
              f"{it.title[:34]:<34} {it.rerank_reason}")
    lat = "  ".join(f"{s.stage} {s.ms:.1f}ms" for s in reply.latencies)
    print(f"    latency: {lat}")


def category_share(reply: gateway_pb2.RecommendResponse, category: int) -> float:
    if not reply.items:
        return 0.0
    return sum(it.category == category for it in reply.items) / len(reply.items)


def like_category(stub, world: World, user_id: int, feed: gateway_pb2.RecommendResponse,
                  n_likes: int = 10) -> tuple[int, list[int]]:
    """Pick a category the feed barely shows; report full views + likes of its top videos."""
    shown = Counter(it.category for it in feed.items)
    v = world.videos
    cats, counts = np.unique(v["category"], return_counts=True)
    candidates = [int(c) for c, n in zip(cats, counts) if n >= 3 * n_likes]
    category = min(candidates, key=lambda c: (shown.get(c, 0), -c))
    in_cat = np.flatnonzero(v["category"] == category)
    picks = in_cat[np.argsort(-v["exposure"][in_cat])[:n_likes]]
    events = []
    for idx in picks:
        item = int(v["item_id"][idx])
        watch = int(v["duration_s"][idx] * 1000)
        events.append(common_pb2.Event(event_id=uuid.uuid4().hex, user_id=user_id, item_id=item,
                                       type=common_pb2.EVENT_TYPE_VIEW, watch_ms=watch))
        events.append(common_pb2.Event(event_id=uuid.uuid4().hex, user_id=user_id, item_id=item,
                                       type=common_pb2.EVENT_TYPE_LIKE))
    stub.ReportEvents(gateway_pb2.ReportEventsRequest(events=events), timeout=5)
    return category, [int(v["item_id"][i]) for i in picks]


def run_demo(gateway_addr: str, world_dir: Path, users: tuple[int, ...] = (1, 2)) -> dict:
    world = World.load(world_dir)
    with grpc.insecure_channel(gateway_addr) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)

        def recommend(uid: int) -> gateway_pb2.RecommendResponse:
            return stub.Recommend(gateway_pb2.RecommendRequest(user_id=uid, count=20, debug=True),
                                  timeout=5)

        for uid in users:
            print_feed(f"user {uid}", recommend(uid))
        print_feed(f"user {COLD_USER} (unknown: cold start)", recommend(COLD_USER))

        uid = users[0]
        before = recommend(uid)
        category, liked = like_category(stub, world, uid, before)
        after = recommend(uid)
        share_before, share_after = category_share(before, category), category_share(after, category)
        print(f"\n=== the feed learns: user {uid} watched and liked {len(liked)} videos of "
              f"category {category} (items {liked})")
        print_feed(f"user {uid} after the likes", after)
        print(f"\ncategory {category} share of user {uid}'s feed: {share_before:.0%} before, "
              f"{share_after:.0%} after the reported likes")
        return {"category": category, "before": share_before, "after": share_after}
