"""A model whose inputs differ from the live ranker's manifest is never published beside it:
the service would refuse it at load time anyway, and a registry should not hold it."""
from __future__ import annotations

import json

import pytest

from core.registry.reader import Registry
from training.models import zoo
from training.publish import publish
from training.ranker_version import publish_architecture

INPUTS = [{"name": n, "dtype": "int64", "shape": ["batch", 1]} for n in ("cat", "num", "seq_items", "seq_cats")]


def test_a_model_with_other_inputs_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"x")
    publish(tmp_path / "reg", "ranker", {"w.bin": tmp_path / "w.bin"}, {"kind": "ranker", "inputs": INPUTS,
                                                                        "outputs": []})
    registry = Registry(tmp_path / "reg")
    prerank, hp = zoo.build_prerank("fm", [3] * 10, 7, 4)  # takes (cat, num) only
    with pytest.raises(ValueError, match=r"inputs \['cat', 'num'\] differ"):
        publish_architecture(tmp_path / "reg", registry.open("ranker"), prerank, None, "fm", hp)
    assert registry.versions("ranker") == ["v0001"]
    assert json.loads((tmp_path / "reg" / "ranker" / "v0001" / "manifest.json").read_text())["kind"] == "ranker"


@pytest.mark.parametrize("args, message", [
    (["--ranker", "wide_and_deep"], "invalid choice: 'wide_and_deep'"),
    (["--ranker", "ple", "--world", "/nonexistent"], "no world here"),
])
def test_cli_errors_name_the_flag(args, message, capsys):
    from training.ranker_version import main
    with pytest.raises(SystemExit):
        main(args)
    assert message in capsys.readouterr().err


def test_cli_needs_a_live_ranker_to_publish_beside(tmp_path, capsys):
    from training.ranker_version import main
    (tmp_path / "world.json").write_text("{}")
    with pytest.raises(SystemExit):
        main(["--ranker", "ple", "--world", str(tmp_path), "--registry", str(tmp_path / "reg")])
    assert "no live ranker" in capsys.readouterr().err
