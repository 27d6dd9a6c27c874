import json
import time

import numpy as np
import pytest

from core.errors import InvalidArgument
from gateway.experiments import Experiments, parse

CONFIG = {"layers": [
    {"name": "rank", "experiments": [{"id": "ranker_v2", "percent": 20, "rank_model_version": "v0002"}]},
    {"name": "rerank", "experiments": [{"id": "dpp", "percent": 30, "rerank_policy": "dpp"},
                                       {"id": "diverse", "percent": 10, "rerank_policy": "diverse"}]},
    {"name": "recall", "experiments": [{"id": "no_cf", "percent": 50, "recall_quotas": {"item_cf": 0}}]},
]}


def write(path, doc):
    path.write_text(json.dumps(doc))
    return path


def test_shares_per_layer_within_three_points(tmp_path):
    exps = Experiments(write(tmp_path / "e.json", CONFIG))
    ids = [exps.assign(u).id for u in range(1, 10_001)]
    for exp_id, percent in (("rank:ranker_v2", 20), ("rerank:dpp", 30), ("rerank:diverse", 10),
                            ("recall:no_cf", 50)):
        share = np.mean([exp_id in i for i in ids]) * 100
        assert abs(share - percent) <= 3, (exp_id, share)


def test_layers_are_independent_and_overrides_merge(tmp_path):
    exps = Experiments(write(tmp_path / "e.json", CONFIG))
    both = [exps.assign(u) for u in range(1, 10_001)]
    in_rank = np.array(["ranker_v2" in a.id for a in both])
    in_dpp = np.array(["dpp" in a.id for a in both])
    assert abs(np.mean(in_dpp[in_rank]) - 0.30) < 0.05  # no correlation between layers
    a = next(a for a in both if "ranker_v2" in a.id and "dpp" in a.id and "no_cf" in a.id)
    assert (a.rank_model_version, a.rerank_policy, a.recall_quotas) == ("v0002", "dpp", {"item_cf": 0})
    assert exps.assign(7).id == exps.assign(7).id  # stable


def test_override_and_unknown_override(tmp_path):
    exps = Experiments(write(tmp_path / "e.json", CONFIG))
    assert exps.assign(1, "diverse").rerank_policy == "diverse"
    with pytest.raises(InvalidArgument) as err:
        exps.assign(1, "nope")
    assert err.value.field == "experiment"
    assert Experiments().assign(5).id == ""  # no configuration: nobody is in an experiment


def test_reload_on_change_and_a_broken_file_keeps_the_old_config(tmp_path):
    path = write(tmp_path / "e.json", CONFIG)
    exps = Experiments(path, check_every_s=0.0)
    write(path, {"layers": [{"name": "rerank", "experiments": [{"id": "all_dpp", "percent": 100,
                                                                "rerank_policy": "dpp"}]}]})
    time.sleep(0.01)
    assert exps.assign(3).id == "rerank:all_dpp"
    path.write_text("{not json")
    assert exps.assign(3).id == "rerank:all_dpp"


@pytest.mark.parametrize("doc, match", [
    ({"layers": [{"experiments": []}]}, "name"),
    ({"layers": [{"name": "a", "experiments": [{"id": "x", "percent": 60}, {"id": "y", "percent": 50}]}]}, "100"),
    ({"layers": [{"name": "a", "experiments": [{"id": "x", "percent": 5}]},
                 {"name": "b", "experiments": [{"id": "x", "percent": 5}]}]}, "unique"),
    ({"layers": [{"name": "a", "experiments": [{"id": "x", "percent": -1}]}]}, "percent"),
    ({"layers": [{"name": "a", "experiments": [{"id": "x", "percent": 5, "recall_quotas": {"hot": -2}}]}]},
     "recall_quotas"),
])
def test_bad_configs_name_the_problem(doc, match):
    with pytest.raises(ValueError, match=match):
        parse(doc)
