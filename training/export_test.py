"""Every exported model computes in ONNX Runtime what it computes in PyTorch, at any batch
size (dynamic batch axis), within rtol 1e-3 / atol 1e-5."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

from core.rank.features import CAT_FEATURES, NUM_FEATURES, SEQ_LEN
from training.models import zoo
from training.models.prerank import PreRanker
from training.models.ranker import Ranker
from training.models.two_tower import ItemTower, UserTower
from training.train import _export

VOCAB = [5, 7, 3, 4, 25, 51, 9, 6, 5, 10]
# Small widths keep the test fast; the structure (layers, experts, heads) is the default one.
TINY = {"din": {"emb": 4}, "din_small_init": {"emb": 4}, "deepfm": {"emb": 4, "hidden": [8]},
        "dcn_v2": {"emb": 4, "hidden": [8]}, "bst": {"emb": 8, "attn_heads": 2, "ff": 8, "hidden": [8]},
        "mmoe": {"emb": 4, "low_rank": 4, "expert_hidden": [8], "tower_hidden": [4]},
        "ple": {"emb": 4, "low_rank": 4, "expert_hidden": [8], "tower_hidden": [4]}}
# The structural variants DCN-v2 offers besides its default (parallel, full rank).
VARIANTS = {"dcn_v2_stacked_low_rank": ("dcn_v2", {"structure": "stacked", "low_rank": 4}),
            "deepfm_no_hidden": ("deepfm", {"hidden": []}), "mmoe_mean_sequence": ("mmoe", {"sequence": "mean"})}
N_ITEMS = 50
RANKER_INPUTS = ["cat", "num", "seq_items", "seq_cats"]


def inputs(batch, rng):
    cat = np.stack([rng.integers(0, v, batch) for v in VOCAB], 1).astype(np.int64)
    num = rng.random((batch, len(NUM_FEATURES)), dtype=np.float32)
    seq = rng.integers(0, N_ITEMS + 1, (batch, SEQ_LEN)).astype(np.int64)
    seq[:, 20:] = 0  # padding
    seq[0] = 0  # a user without history
    return {"cat": cat, "num": num, "seq_items": seq, "seq_cats": rng.integers(0, 6, (batch, SEQ_LEN)),
            "profile": np.stack([rng.integers(0, 4, batch), rng.integers(0, 7, batch),
                                 rng.integers(0, 3, batch)], 1).astype(np.int64),
            "meta": np.stack([rng.integers(0, N_ITEMS + 1, batch), rng.integers(0, 9, batch),
                              rng.integers(0, 6, batch), rng.integers(0, 4, batch),
                              rng.integers(0, 10, batch)], 1).astype(np.int64)}


def models():
    torch.manual_seed(0)
    assert len(VOCAB) == len(CAT_FEATURES)
    yield "ranker", Ranker(VOCAB, len(NUM_FEATURES), 4, SEQ_LEN), ["cat", "num", "seq_items", "seq_cats"]
    for name in zoo.RANKERS:
        yield f"zoo:{name}", zoo.build(name, VOCAB, len(NUM_FEATURES), 4, SEQ_LEN, **TINY[name])[0], RANKER_INPUTS
    for label, (name, extra) in VARIANTS.items():
        yield f"zoo:{label}", zoo.build(name, VOCAB, len(NUM_FEATURES), 4, SEQ_LEN,
                                        **(TINY[name] | extra))[0], RANKER_INPUTS
    yield "prerank", PreRanker(VOCAB, len(NUM_FEATURES), 4), ["cat", "num"]
    for name in zoo.PRERANKERS:  # (the two-tower one whole; served split: training/prerank_export_test.py)
        model = zoo.build_prerank(name, VOCAB, len(NUM_FEATURES), 4)[0]
        yield f"prerank:{name}", model, zoo.input_names(model)
    cats, authors = torch.randint(1, 6, (N_ITEMS,)), torch.randint(1, 9, (N_ITEMS,))
    yield "user_tower", UserTower(N_ITEMS, 3, cats, authors, dim=8), ["seq_items", "profile"]
    yield "item_tower", ItemTower(N_ITEMS, 8, 5, 3, 10, dim=8), ["meta"]


@pytest.mark.parametrize("name, model, names", list(models()), ids=lambda x: x if isinstance(x, str) else "")
def test_onnx_matches_pytorch_at_every_batch_size(name, model, names, tmp_path):
    rng = np.random.default_rng(1)
    model.eval()
    example = inputs(2, rng)
    _export(model, tuple(torch.from_numpy(example[n]) for n in names), names, ["out"], tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 37, 1024):
        feeds = {n: v for n, v in inputs(batch, rng).items() if n in names}
        with torch.no_grad():
            want = model(*(torch.from_numpy(feeds[n]) for n in names)).numpy()
        got = session.run(None, feeds)[0]
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5, err_msg=f"{name} at batch {batch}")
        assert np.all(np.isfinite(got)), f"{name} at batch {batch}"  # incl. the user without history


def test_every_zoo_ranker_takes_the_assembled_inputs():
    for name in zoo.RANKERS:
        model, hp = zoo.build(name, VOCAB, len(NUM_FEATURES), 4, SEQ_LEN, **TINY[name])
        assert zoo.input_names(model) == RANKER_INPUTS, name
        assert hp == zoo.RANKERS[name].defaults | TINY[name]


def test_unknown_rankers_and_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="expected one of"):
        zoo.build("wide_and_deep", VOCAB, len(NUM_FEATURES), 4, SEQ_LEN)
    with pytest.raises(ValueError, match="pre-ranker 'gbdt'"):
        zoo.build_prerank("gbdt", VOCAB, len(NUM_FEATURES), 4)
    with pytest.raises(ValueError, match=r"unknown hyper-parameters \['depth'\]"):
        zoo.hyperparameters("bst", depth=3)
    with pytest.raises(ValueError, match="structure 'serial'"):
        zoo.build("dcn_v2", VOCAB, len(NUM_FEATURES), 4, SEQ_LEN, structure="serial")
    with pytest.raises(ValueError, match="sequence pooling 'max'"):
        zoo.build("ple", VOCAB, len(NUM_FEATURES), 4, SEQ_LEN, sequence="max")


def test_publish_cli_copies_a_built_version_and_names_missing_files(tmp_path, capsys):
    import json
    import shutil

    from core.registry.reader import Registry
    from training.publish import main as publish_main
    src = tmp_path / "src"
    src.mkdir()
    (src / "weights.bin").write_bytes(b"abc")
    (src / "manifest.json").write_text(json.dumps({"kind": "test", "inputs": [], "outputs": [],
                                                   "files": {"weights.bin": "x"}}))
    assert publish_main(["--registry", str(tmp_path / "reg"), "--name", "toy", "--source", str(src), "--live"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v0001"
    assert Registry(tmp_path / "reg").open("toy").file("weights.bin").read_bytes() == b"abc"
    (src / "weights.bin").unlink()
    with pytest.raises(SystemExit):
        publish_main(["--registry", str(tmp_path / "reg"), "--name", "toy", "--source", str(src)])
    assert "missing: ['weights.bin']" in capsys.readouterr().err
    shutil.rmtree(src)
