import numpy as np

from core.store.user_state import UserStateData
from gateway.clients import Ranked, Recalled
from gateway.impressions import impression_of
from gateway.pipeline import Feed, FeedItem, Trace
from gateway.validation import RecommendInput


def test_impression_names_every_stage_and_the_served_features():
    recalled = Recalled(np.array([10, 20, 30]), np.array([0.3, 0.2, 0.1], np.float32), np.array([1, 2, 3], np.uint32),
                        ["hot", "two_tower"], [])
    ranked = Ranked(np.array([20, 10]), np.array([0.9, 0.4], np.float32), ["like", "complete"],
                    np.array([[0.5, 0.6], [0.1, 0.2]], np.float32), "v0003",
                    [("ranker", "v0003"), ("prerank", "v0001")])
    feed = Feed("req", [FeedItem(20, 0.9, ["two_tower"], 2, 1, 7, 1, {}),
                        FeedItem(30, 0.1, ["hot", "two_tower"], 3, 0, 8, 2, {})],
                list(ranked.models), ["rerank_unavailable"], experiment="arm-b")
    state = UserStateData(known=True, followed_authors=np.array([8]), age_bucket=2, gender=1, region=4)
    imp = impression_of(RecommendInput(user_id=5, count=2, debug=False, device=2, local_hour=9),
                        Trace(state, recalled, ranked, None, feed))
    assert imp.item_ids == [20, 30] and imp.user_id == 5 and imp.request_id == "req"
    assert imp.models == {"ranker": "v0003", "prerank": "v0001"} and imp.experiment == "arm-b"
    assert (imp.region, imp.device, imp.hour, imp.age_bucket, imp.gender) == (4, 2, 9, 2, 1)
    assert imp.recall_pos == [2, 3] and imp.rank_pos == [1, 0] and imp.follows == [0, 1]
    assert imp.recall_scores == [np.float32(0.2), np.float32(0.1)]
    assert imp.rank_scores[0] == np.float32(0.9) and imp.rank_scores[1] is None
    assert imp.head_scores[0] == [np.float32(0.5), np.float32(0.6)] and imp.head_scores[1] == [None, None]
    assert imp.degraded == ["rerank_unavailable"] and imp.ts_ms > 0
