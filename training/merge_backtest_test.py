"""`training.merge_backtest` on a tiny world: one row per list and window, paired with hot,
and the CLI's one-line errors."""
from __future__ import annotations

import json

import pytest

from training import merge_backtest
from training.world import WorldConfig, generate


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    generate(WorldConfig(n_users=80, n_authors=10, n_videos=200, days=5, test_days=1.0), progress=False).save(folder)
    return folder


def test_each_window_pairs_every_list_with_hot(world_dir, tmp_path):
    out = tmp_path / "bt"
    assert merge_backtest.main(["--world", str(world_dir), "--back", "0", "1", "--epochs", "1",
                                "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert [w["back_days"] for w in report["windows"]] == [0, 1]
    first, second = report["windows"]
    assert second["end_ms"] == first["end_ms"] - 86_400_000 and second["cutoff_ms"] < first["cutoff_ms"]
    for w in report["windows"]:
        lists = w["lists"]
        assert lists["hot alone"]["minus_hot"] == 0.0
        assert {"merged (fitted weights)", "merged, hot 30", "two_tower alone"} <= set(lists)
        for r in lists.values():
            assert r["ci95"][0] <= r["minus_hot"] <= r["ci95"][1] or r["ci95"][0] != r["ci95"][0]
    assert "| merged (fitted weights) |" in out.with_suffix(".md").read_text()


def test_cli_errors_name_the_flag(tmp_path, capsys):
    assert merge_backtest.main(["--world", str(tmp_path)]) == 2
    assert "--world" in capsys.readouterr().err
    bad = tmp_path / "r.json"
    bad.write_text("{}")
    (tmp_path / "world.json").write_text("{}")
    assert merge_backtest.main(["--world", str(tmp_path), "--from-report", str(bad)]) == 2
    assert "--from-report" in capsys.readouterr().err
