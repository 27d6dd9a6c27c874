import json

import pytest

from training import learning_curve


def test_bad_flags_name_the_flag(capsys):
    with pytest.raises(SystemExit):
        learning_curve.main(["--sessions", "0"])
    assert "--sessions" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        learning_curve.main(["--users", "0"])
    assert "--users" in capsys.readouterr().err


def test_write_keeps_every_point_in_json_markdown_and_plot(tmp_path):
    point = {"sessions_per_user": 8.0, "impressions": 160000, "impressions_per_video": 26.7,
             "impressions_per_user": 80.0, "ceiling_best10": 0.27,
             "ceiling_share": {"final": 0.2, "rank": 0.19, "merged_recall": 0.19, "hot": 0.16, "two_tower": 0.15},
             "rank_best10_share": 0.48, "ndcg@10": {"final": 0.066, "merged_recall": 0.061, "implicit_als": 0.047},
             "seconds": 1.0}
    doc = {"seed": 7, "users": 10, "epochs": 1, "points": [point, {**point, "sessions_per_user": 16.0}]}
    out = tmp_path / "lc.json"
    learning_curve.write(doc, out)
    assert json.loads(out.read_text()) == doc
    md = out.with_suffix(".md").read_text()
    assert "--sessions 8.0 16.0" in md and md.count("| 160,000 |") == 2
    assert out.with_suffix(".png").stat().st_size > 0
