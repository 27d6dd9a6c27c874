"""Importers on tiny hand-made files in the public formats; bad rows name file and line."""
from __future__ import annotations

import numpy as np
import pytest

from core.store.item_meta import ItemMeta
from training.data import build
from training.display import set_display, video_meta
from training.importers import BadInput, load
from training.world import World, WorldConfig, generate

GENRES = "|".join(["0"] * 19)


def write_ml100k(folder, n_users=12, n_items=15, seed=0, interleave=False):
    """`interleave`: users rate at shuffled times (so users have ratings on both sides of a
    time split), else one user after another."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [(u, i) for u in range(1, n_users + 1) for i in rng.choice(np.arange(1, n_items + 1), 8, replace=False)]
    slot = rng.permutation(len(pairs)) if interleave else np.arange(len(pairs))
    rows = [f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + int(slot[k]) * 3600}" for k, (u, i) in enumerate(pairs)]
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    (folder / "u.user").write_text("".join(f"{u}|{20 + u}|{'MF'[u % 2]}|student|{u % 10}5432\n"
                                           for u in range(1, n_users + 1)))
    flags = lambda g: "|".join("1" if j == g else "0" for j in range(19))  # noqa: E731
    (folder / "u.item").write_text("".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|{flags(i % 19)}\n"
                                           for i in range(1, n_items + 1)), encoding="latin-1")
    return folder


def test_ml100k_maps_ratings_users_and_genres(tmp_path):
    world = load("movielens", write_ml100k(tmp_path / "ml-100k"))
    imp = world.impressions
    assert imp["user_id"].size == 12 * 8 and imp["user_id"].min() == 1 and imp["item_id"].max() <= 15
    assert np.all(np.diff(imp["ts_ms"]) >= 0)
    assert set(np.unique(world.users["gender"])) == {1, 2}
    assert world.users["age_bucket"].min() >= 1 and world.videos["category"].max() <= 19
    ds = build(world)  # the time split works on imported data: the last tenth is the test window
    assert len(ds.train) > len(ds.test) > 0 and ds.train.ts_ms.max() < ds.test.ts_ms.min()


def test_ml1m_double_colon_files(tmp_path):
    d = tmp_path / "ml-1m"
    d.mkdir()
    (d / "ratings.dat").write_text("1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n"
                                   "2::30::1::978300275\n")
    (d / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (d / "movies.dat").write_text("10::GoldenEye (1995)::Action|Adventure|Thriller\n20::Heat (1995)::Crime\n"
                                  "30::Sabrina (1995)::Comedy|Romance\n", encoding="latin-1")
    world = load("movielens", d)
    assert world.config.n_users == 2 and world.config.n_videos == 3
    assert world.impressions["like"].tolist() == [0, 1, 1, 0] or world.impressions["like"].sum() == 2
    assert world.users["age_bucket"].tolist() == [1, 6]


def test_a_malformed_row_names_file_and_line_or_is_skipped_and_counted(tmp_path):
    d = write_ml100k(tmp_path / "bad")
    lines = (d / "u.data").read_text().splitlines()
    lines[4] = "3\tnot-a-number\t4\t880000000"
    (d / "u.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInput, match=r"u\.data:5: malformed row"):
        load("movielens", d)
    world = load("movielens", d, skip_bad=True)
    assert world.skipped_rows == 1 and world.impressions["user_id"].size == 12 * 8 - 1


def test_ratings_out_of_range_are_malformed(tmp_path):
    d = write_ml100k(tmp_path / "range")
    (d / "u.data").write_text((d / "u.data").read_text() + "1\t1\t9\t880000000\n")
    with pytest.raises(BadInput, match="rating 9"):
        load("movielens", d)


def test_missing_paths_and_unknown_layouts_are_one_line_errors(tmp_path):
    with pytest.raises(BadInput, match="no such directory"):
        load("movielens", tmp_path / "nowhere")
    with pytest.raises(BadInput, match="neither ml-100k"):
        load("movielens", tmp_path)
    with pytest.raises(BadInput, match="no KuaiRand"):
        load("kuairand", tmp_path)
    with pytest.raises(BadInput, match="unknown dataset"):
        load("netflix", tmp_path)


def test_kuairand_log_with_video_features(tmp_path):
    header = "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward," \
             "is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,is_profile_enter," \
             "is_rand,tab"
    rows = [f"{u},{v},20220408,1000,{1649400000000 + k * 60000},1,{int(k % 5 == 0)},{int(k % 17 == 0)},0,"
            f"{int(k % 11 == 0)},0,1,{5000 + k * 10},20000,0,0,0,0,1"
            for k, (u, v) in enumerate((u, v) for u in range(5) for v in range(100, 110))]
    (tmp_path / "log_standard_4_08_to_4_21_1k.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "video_features_basic_1k.csv").write_text(
        "video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,server_width,"
        "server_height,music_id,music_type,tag\n" + "".join(f"{v},{v % 3},NORMAL,2022-01-01,x,public,20000,"
                                                            f"720,1280,1,1,{v % 4}\n" for v in range(100, 110)))
    world = load("kuairand", tmp_path)
    imp = world.impressions
    assert imp["user_id"].size == 50 and imp["like"].sum() == 10 and imp["share"].sum() == 5
    assert world.config.n_authors == 3 and world.videos["duration_s"][0] == pytest.approx(20.0)
    assert world.follows["user_id"].size == imp["follow"].sum()
    # the labels the seed's targets need, and the positive: a click or a long view
    assert {"click", "long_view", "hate", "comment", "engaged"} <= set(imp)
    assert imp["engaged"].sum() == 50 and imp["hate"].sum() == 0
    ds = build(world)
    assert ds.heads[0] == "engaged" and {"click", "long_view", "hate"} <= set(ds.heads)
    assert world.original_ids["user"].tolist() == [0, 1, 2, 3, 4]
    assert world.original_ids["item"].tolist() == list(range(100, 110))


def test_kuairand_display_info_keeps_the_real_tags_and_durations(tmp_path):
    """The console shows a KuaiRand video with the dataset's own tags and duration (the
    features file's video_duration, else the log's duration_ms) and a title naming both."""
    header = "user_id,video_id,time_ms,is_click,is_like,is_follow,is_comment,is_forward,is_hate,long_view," \
             "play_time_ms,duration_ms"
    rows = ["1,5,1649400000000,1,0,0,0,0,0,0,900,358000",
            "1,7,1649400060000,1,0,0,0,0,0,0,900,12345",
            "2,9,1649400120000,1,0,0,0,0,0,0,900,61000",
            "2,11,1649400180000,1,0,0,0,0,0,0,900,30000"]  # 11 is not in the features file
    (tmp_path / "log_x.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "video_features_basic_pure.csv").write_text(
        "video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,server_width,"
        "server_height,music_id,music_type,tag\n"
        '5,7349781,NORMAL,2022-04-10,LongImport,0.0,358016.0,720.0,1280.0,1,9.0,"20,43"\n'
        "7,2103883,NORMAL,2022-04-10,Kmovie,0.0,,720.0,1280.0,1,9.0,39\n"  # no duration: the log's
        "9,42,NORMAL,2022-04-10,Kmovie,0.0,61933.0,720.0,1280.0,1,9.0,\n"  # no tag
        "x,1,NORMAL,bad,row,0,1,1,1,1,1,1\n")  # skipped, display info never stops an import
    world = load("kuairand", tmp_path)
    meta = {int(world.original_ids["item"][i - 1]): m for i, m in video_meta(world).items()}
    assert meta[5].tags == ("20", "43") and meta[5].duration_s == pytest.approx(358.016)
    assert meta[5].title == "video 5 · tag 20" and meta[5].author_name == "author 7349781"
    assert meta[7].tags == ("39",) and meta[7].duration_s == pytest.approx(12.345)
    assert meta[9].tags == () and meta[9].title == "video 9" and meta[9].duration_s == pytest.approx(61.933)
    assert meta[11] == ItemMeta("video 11", meta[11].cover_url, "", 30.0, ())
    assert all(m.cover_url == f"/v1/covers/{i}.svg" for i, m in video_meta(world).items())
    world.save(tmp_path / "saved")  # kept with the world, loaded without pickle
    assert video_meta(World.load(tmp_path / "saved")) == video_meta(world)


def test_display_columns_must_cover_every_video(tmp_path):
    world = generate(WorldConfig(n_users=5, n_videos=10, n_authors=3, days=2), progress=False)
    with pytest.raises(ValueError, match="display column 'title': 1 values for 10 videos"):
        set_display(world, {"title": ["x"], "author_name": [], "duration_s": [], "tags": []})


def test_kuairand_positive_is_a_click_or_a_long_view(tmp_path):
    header = "user_id,video_id,time_ms,is_click,is_like,is_follow,is_comment,is_forward,is_hate,long_view," \
             "play_time_ms,duration_ms"
    rows = ["7,70,1649400000000,0,0,0,0,0,1,0,100,20000",    # a hate, no click: not a positive
            "7,71,1649400060000,1,0,0,0,0,0,0,900,20000",    # a click
            "8,70,1649400120000,0,0,0,0,0,0,1,19000,20000",  # a long view without a click
            "8,72,1649400180000,0,1,0,0,0,0,0,100,20000"]    # a like alone is not the positive
    (tmp_path / "log_x.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    imp = load("kuairand", tmp_path).impressions
    assert imp["engaged"].tolist() == [0, 1, 1, 0] and imp["hate"].tolist() == [1, 0, 0, 0]


def test_kuairec_matrix_and_a_bad_header(tmp_path):
    (tmp_path / "small_matrix.csv").write_text(
        "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
        "14,148,4381,6067,2020-07-05 05:27:48.378,20200705,1593898068.378,0.722\n"
        "14,183,11635,6100,2020-07-05 05:28:00.057,20200705,1593898080.057,1.907\n"
        "19,148,20000,6067,2020-07-05 05:29:09.479,20200705,1593898149.479,3.29\n")
    world = load("kuairand", tmp_path)
    assert world.impressions["like"].tolist() == [0, 0, 1]
    (tmp_path / "small_matrix.csv").write_text("user,video\n1,2\n")
    with pytest.raises(BadInput, match=r"small_matrix\.csv:1: header lacks"):
        load("kuairand", tmp_path)
