"""`python -m training.train --ranker NAME --prerank NAME`: the named architectures are
trained, published with their names in the manifest, and load in the rank service's loader
(signature, feature order, golden parity) like the defaults."""
from __future__ import annotations

import pytest

from core.rank.model import LoadedModel
from core.registry.reader import Registry
from training import train
from training.world import WorldConfig, generate


def test_the_named_ranker_and_pre_ranker_are_published_and_load(tmp_path):
    generate(WorldConfig(n_users=60, n_videos=200, n_authors=20, days=4), progress=False).save(tmp_path / "world")
    assert train.main(["--world", str(tmp_path / "world"), "--registry", str(tmp_path / "models"), "--epochs", "1",
                       "--ranker", "ple", "--prerank", "fm"]) == 0
    registry = Registry(tmp_path / "models")
    ranker, prerank = registry.open("ranker"), registry.open("prerank")
    assert ranker.manifest["architecture"] == "ple" and ranker.manifest["hyperparameters"]["shared_experts"] == 2
    assert prerank.manifest["architecture"] == "fm" and prerank.manifest["hyperparameters"] == {"emb": 8}
    assert [d["name"] for d in ranker.manifest["inputs"]] == ["cat", "num", "seq_items", "seq_cats"]
    for mv in (ranker, prerank):
        assert LoadedModel.load(mv).heads == tuple(mv.manifest["heads"])


def test_an_unknown_architecture_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main(["--world", str(tmp_path), "--ranker", "wide_and_deep"])
    assert "invalid choice: 'wide_and_deep'" in capsys.readouterr().err
