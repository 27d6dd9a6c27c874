from core.store.impressions import Impression, decode, encode, rows


def sample(**kw) -> Impression:
    base = dict(request_id="r1", user_id=7, ts_ms=1000, item_ids=[5, 9], experiment="exp-a",
                models={"ranker": "v0002", "prerank": "v0001"}, region=2, device=1, hour=13,
                age_bucket=3, gender=1, degraded=["rerank_unavailable"], recall_pos=[1, 4], rank_pos=[2, 0],
                follows=[0, 1], channels=[["two_tower", "hot"], []], recall_scores=[0.5, 0.25],
                rank_scores=[0.125, None], heads=["like", "complete"], head_scores=[[0.1, 0.2], [None, None]],
                latency_ms=12.5)
    return Impression(**(base | kw))


def test_encode_decode_round_trip_bytes_keys():
    imp = sample()
    fields = {k.encode(): v.encode() for k, v in encode(imp).items()}
    assert decode(fields) == imp


def test_empty_feed_round_trips():
    imp = Impression(request_id="r", user_id=1, ts_ms=5, item_ids=[])
    assert decode(encode(imp)) == imp


def test_rows_one_per_item_with_its_stage_facts():
    out = rows(sample())
    assert [r["item_id"] for r in out] == [5, 9]
    assert [r["position"] for r in out] == [1, 2]
    assert out[0]["ranker_version"] == "v0002" and out[0]["channels"] == "two_tower|hot"
    assert out[1]["rank_score"] is None and out[1]["rank_pos"] == 0 and out[1]["follows_author"] == 1
    assert out[0]["head_scores"] == "like=0.1,complete=0.2" and out[1]["head_scores"] == ""
