"""`python -m training.prerank_version`'s one-line usage errors (the distillation itself is
tested in training/train_test.py and, served, in tests/integration/rank_prerank_test.py)."""
from __future__ import annotations

import pytest

from training.prerank_version import main


@pytest.mark.parametrize("args, message", [
    (["--prerank", "gbdt"], "invalid choice: 'gbdt'"),
    (["--prerank", "two_tower", "--world", "/nonexistent"], "no world here"),
])
def test_cli_errors_name_the_flag(args, message, capsys):
    with pytest.raises(SystemExit):
        main(args)
    assert message in capsys.readouterr().err


def test_cli_needs_a_live_ranker_to_distil_from(tmp_path, capsys):
    (tmp_path / "world.json").write_text("{}")
    with pytest.raises(SystemExit):
        main(["--prerank", "two_tower", "--world", str(tmp_path), "--registry", str(tmp_path / "reg")])
    assert "no live ranker" in capsys.readouterr().err
