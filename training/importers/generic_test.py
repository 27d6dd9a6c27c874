"""The generic schema and its presets on small files; bad rows name file and line."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.data import build as split
from training.importers import BadInput, fixture, generic, presets
from training.importers.importers_test import write_ml100k
from training.importers.prepared import prepare


def write_log(folder, rows, header="user_id,item_id,ts_ms,like,watch_ms"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "interactions.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return folder


def test_string_ids_become_dense_and_map_back(tmp_path):
    imported = generic.load(fixture.write(tmp_path / "log"))
    world, ids = imported.world, imported.ids
    imp = world.impressions
    assert imp["user_id"].min() == 1 and imp["user_id"].max() == world.config.n_users == ids.users.size
    assert ids.users[0].startswith("user-") and set(ids.items) <= set(fixture.item_ids(80))
    assert "0" in ids.items.tolist()  # an integer id 0 is an id like any other, not "unknown"
    # every row maps back to the source row's ids
    source = pd.read_csv(tmp_path / "log" / "interactions.csv", dtype=str)
    pairs = set(zip(ids.users[imp["user_id"] - 1], ids.items[imp["item_id"] - 1]))
    assert pairs == set(zip(source["user_id"], source["item_id"]))
    # display info and codes from the side files
    item = int(np.flatnonzero(ids.items == "vid_1")[0]) + 1
    meta = imported.display[item]
    items = pd.read_csv(tmp_path / "log" / "items.csv", dtype=str).set_index("item_id")
    assert meta.title == "Clip vid_1" and meta.tags[0] == items.loc["vid_1", "category"]
    assert meta.duration_s == float(items.loc["vid_1", "duration_s"]) and meta.author_name.startswith("@creator")
    assert world.config.n_categories == 4 and set(np.unique(world.users["region"])) == {1, 2}
    assert world.users["age_bucket"].min() >= 1
    ds = split(world)
    assert len(ds.train) > len(ds.test) > 0


def test_event_rows_of_one_viewing_merge_into_one_interaction(tmp_path):
    d = write_log(tmp_path / "ev", ["a,x,1000,view,30000", "a,x,6000,like,0", "a,x,99000000,view,100",
                                    "b,x,2000,share,0"], header="user_id,item_id,ts_ms,event,watch_ms")
    imp = generic.load(d).world.impressions
    assert imp["user_id"].size == 3  # the like 5 s after the view is the same interaction
    rows = sorted(zip(imp["user_id"].tolist(), imp["like"].tolist(), imp["watch_ms"].tolist(),
                      imp["share"].tolist()))
    assert rows == [(1, 0, 100, 0), (1, 1, 30000, 0), (2, 0, 0, 1)]


def test_label_columns_iso_times_and_parquet(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pd.DataFrame({"user_id": [10, 11, 10], "item_id": ["a", "b", "b"],
                  "timestamp": ["2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z", "2025-01-02T00:00:00Z"],
                  "like": [1, 0, 1], "engaged": [1, 1, 0]}).to_parquet(d / "interactions.parquet")
    world = generic.load(d).world
    assert world.impressions["like"].tolist() == [1, 0, 1] and world.impressions["engaged"].tolist() == [1, 1, 0]
    assert np.diff(world.impressions["ts_ms"]).tolist() == [60_000, 86_400_000 - 60_000]


@pytest.mark.parametrize("row, problem", [
    (",x,1000,1,5", "empty user_id"), ("a,x,soon,1,5", "unparseable time"),
    ("a,x,1000,yes,5", "label like"), ("a,x,1000,1,-4", "watch_ms"), ("a,x,1000,1,5,extra", "Expected 5 fields"),
])
def test_a_malformed_row_names_file_and_line_or_is_skipped_and_counted(tmp_path, row, problem):
    d = write_log(tmp_path / "bad", ["a,x,1000,1,5", "b,y,2000,0,7", row, "c,z,3000,0,1"])
    with pytest.raises(BadInput, match=rf"interactions\.csv:4: malformed row .*{problem}"):
        generic.load(d)
    imported = generic.load(d, skip_bad=True)
    assert imported.skipped == 1 and imported.world.impressions["user_id"].size == 3


def test_unknown_events_missing_columns_and_empty_folders_are_one_line_errors(tmp_path):
    d = write_log(tmp_path / "ev", ["a,x,1,view", "a,x,2,teleport"], header="user_id,item_id,ts_ms,event")
    with pytest.raises(BadInput, match=r"interactions\.csv:3: .*unknown event"):
        generic.load(d)
    d = write_log(tmp_path / "cols", ["a,x"], header="user_id,item_id")
    with pytest.raises(BadInput, match=r"interactions\.csv:1: header lacks .*ts_ms"):
        generic.load(d)
    (tmp_path / "none").mkdir()
    with pytest.raises(BadInput, match="no interactions.csv"):
        generic.load(tmp_path / "none")
    with pytest.raises(BadInput, match="no interactions.csv / .parquet"):
        presets.read(tmp_path / "none")
    with pytest.raises(BadInput, match="no such directory"):
        presets.read(tmp_path / "nowhere")
    with pytest.raises(BadInput, match="unknown preset"):
        presets.read(tmp_path / "none", "netflix")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "interactions.csv").write_text("")
    with pytest.raises(BadInput, match="empty file"):
        generic.load(tmp_path / "empty")
    write_log(tmp_path / "side", ["a,x,1,0,0"])
    (tmp_path / "side" / "items.csv").write_text("id,title\n1,x\n")
    with pytest.raises(BadInput, match=r"items\.csv:1: header lacks .*item_id"):
        generic.load(tmp_path / "side")
    (tmp_path / "latin").mkdir()
    (tmp_path / "latin" / "interactions.csv").write_bytes(b"user_id,item_id,ts_ms\n\xe9,x,1\n")
    with pytest.raises(BadInput, match="not UTF-8"):
        generic.load(tmp_path / "latin")
    (tmp_path / "pq").mkdir()
    (tmp_path / "pq" / "interactions.parquet").write_bytes(b"not parquet")
    with pytest.raises(BadInput, match="not a readable Parquet"):
        generic.load(tmp_path / "pq")
    write_log(tmp_path / "nothing", [])
    (tmp_path / "nothing" / "interactions.csv").write_text("user_id,item_id,ts_ms\n")
    with pytest.raises(BadInput, match="no interactions"):
        generic.load(tmp_path / "nothing")


def test_kuairand_preset_keeps_video_ids_tags_and_durations(tmp_path):
    header = "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward," \
             "is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,is_profile_enter," \
             "is_rand,tab"
    rows = [f"{u},{v},20220408,1000,{1649400000000 + k * 60000},{k % 2},{int(k % 5 == 0)},0,0,0,0,"
            f"{int(k % 3 == 0)},5000,20000,0,0,0,0,1" for k, (u, v) in enumerate((u, v) for u in range(4)
                                                                                for v in (0, 5, 9))]
    (tmp_path / "log_standard_x.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "video_features_basic_x.csv").write_text(
        "video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,server_width,"
        "server_height,music_id,music_type,tag\n0,77,NORMAL,2022-04-01,x,0,87433.0,720,1280,1,9,\"39,5\"\n"
        "5,78,NORMAL,2022-04-02,x,0,11000.0,720,1280,1,9,2\n")
    imported = generic.build(presets.read(tmp_path))
    ids, imp = imported.ids, imported.world.impressions
    assert ids.items.tolist() == ["0", "5", "9"] and ids.users.tolist() == ["0", "1", "2", "3"]
    assert imported.display[1].tags == ("39", "5") and imported.display[1].duration_s == pytest.approx(87.433)
    assert imported.display[1].author_name == "@77"
    assert imported.display[3].duration_s == pytest.approx(20.0)  # not in the video file: the logged duration
    assert imp["engaged"].tolist() == [int(c or lv) for c, lv in zip(imp["click"], imp["long_view"])]


def test_movielens_preset_has_titles_genres_and_the_rating_positive(tmp_path):
    imported = generic.build(presets.read(write_ml100k(tmp_path / "ml")))
    world = imported.world
    assert world.impressions["user_id"].size == 12 * 8 and world.impressions["engaged"].all()
    assert imported.display[1].title.startswith("Movie ") and world.users["age_bucket"].min() >= 1


def test_prepare_imports_once_per_content(tmp_path):
    data = fixture.write(tmp_path / "log", n_users=10, n_items=12, views_per_user=5)
    said = []
    first = prepare(data, tmp_path / "root", say=said.append)
    assert first.ids_path.exists() and json.loads((first.folder / "stamp.json").read_text())["rows"] > 0
    assert prepare(data, tmp_path / "root", say=said.append).folder == first.folder
    assert "already imported" in said[-1]
    assert first.display()[1].title.startswith("Clip")
    with (data / "interactions.csv").open("a") as f:
        f.write("user-new,vid_1,2025-03-09T00:00:00Z,like,0\n")
    assert prepare(data, tmp_path / "root", say=said.append).folder != first.folder
    with pytest.raises(BadInput, match="no such directory"):
        prepare(tmp_path / "nowhere", tmp_path / "root")


def test_a_generated_worlds_log_reads_back_through_the_schema(tmp_path):
    from training.world import WorldConfig, generate
    world = generate(WorldConfig(n_users=30, n_authors=10, n_videos=60, days=4, test_days=1.0), progress=False)
    world.save(tmp_path / "world")
    imported = generic.load(fixture.write_world(tmp_path / "world", tmp_path / "log"))
    again = imported.world.impressions
    assert again["user_id"].size == world.impressions["user_id"].size
    assert again["like"].sum() == world.impressions["like"].sum()
    assert imported.world.config.n_categories <= world.config.n_categories


def test_evaluation_reads_the_schema_too_with_its_source_ids(tmp_path):
    from training.importers import load
    world = load("generic", fixture.write(tmp_path / "log", n_users=8, n_items=10, views_per_user=4))
    assert world.original_ids["user"][0].item().startswith("user-")  # what --dump-recs writes
