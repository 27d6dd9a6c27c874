"""The ranking and pre-ranking architectures by name, each with its default hyper-parameters.

Every entry takes the same inputs (`core.rank.features.assemble`: cat, num, seq_items,
seq_cats) and returns one probability per head [B, H], so the trainer trains any of them and
the rank service serves any of them from the manifest alone. `--ranker NAME` in
`training.train` picks one; the manifest records `architecture` and `hyperparameters`.
Pre-rankers (`--prerank NAME`) take (cat, num), the pre-rank stage's inputs; the two-tower
pre-ranker takes the sequence too (its user tower reads it once per request).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from torch import nn

from training.models.blocks import EMB_INIT_STD
from training.models.bst import BST
from training.models.dcn_v2 import DCNv2
from training.models.deepfm import DeepFM
from training.models.din import DIN
from training.models.fm import FactorizationMachine
from training.models.lr import LogisticRegression
from training.models.mmoe import MMoE
from training.models.ple import PLE
from training.models.prerank import PreRanker
from training.models.two_tower_prerank import TwoTowerPreRanker


@dataclass(frozen=True)
class Architecture:
    cls: type[nn.Module]
    defaults: dict = field(default_factory=dict)   # JSON-safe: they go into the manifest
    summary: str = ""


RANKERS: dict[str, Architecture] = {
    "din": Architecture(DIN, {"emb": 16}, "target attention over the sequence + MLP (the reference)"),
    # DIN with the zoo's small embedding init (blocks.EMB_INIT_STD): tells what the others gain
    # from their architecture from what they gain from their start
    "din_small_init": Architecture(DIN, {"emb": 16, "emb_init_std": EMB_INIT_STD},
                                   "DIN, embeddings initialised as the other zoo models'"),
    "deepfm": Architecture(DeepFM, {"emb": 16, "hidden": [128, 64]}, "FM + MLP over shared embeddings"),
    "dcn_v2": Architecture(DCNv2, {"emb": 16, "cross_layers": 3, "low_rank": None, "structure": "parallel",
                                   "hidden": [128, 64], "sequence": "attention"},
                           "cross network beside an MLP, target-attended sequence"),
    "bst": Architecture(BST, {"emb": 32, "attn_heads": 4, "ff": 64, "layers": 1, "dropout": 0.1,
                              "hidden": [128, 64]}, "Transformer over the sequence + the target"),
    "mmoe": Architecture(MMoE, {"emb": 16, "cross_layers": 2, "low_rank": 32, "experts": 4,
                                "expert_hidden": [64], "tower_hidden": [32], "sequence": "attention"},
                         "mixture of experts, a gate per task, on a crossing + sequence bottom"),
    "ple": Architecture(PLE, {"emb": 16, "cross_layers": 2, "low_rank": 32, "levels": 2, "task_experts": 1,
                              "shared_experts": 2, "expert_hidden": [64], "tower_hidden": [32],
                              "sequence": "attention"},
                        "task + shared experts in two extraction levels, on a crossing + sequence bottom"),
}
DEFAULT_RANKER = "din"

PRERANKERS: dict[str, Architecture] = {
    "mlp": Architecture(PreRanker, {"emb": 8}, "embeddings + one hidden layer (the default)"),
    "fm": Architecture(FactorizationMachine, {"emb": 8}, "factorisation machine: pairwise crosses, no MLP"),
    "lr": Architecture(LogisticRegression, {}, "logistic regression: no crossing"),
    "two_tower": Architecture(TwoTowerPreRanker, {"emb": 8, "dim": 16, "hidden": 64},
                              "user tower once per request . item vectors precomputed per version, per head"),
}
DEFAULT_PRERANK = "mlp"
_SHAPE_ARGS = {"vocab", "n_num", "n_heads", "seq_len"}


def hyperparameters(name: str, table: dict[str, Architecture] | None = None, **overrides) -> dict:
    """The named architecture's defaults with `overrides` applied; unknown names refused.
    `table` is RANKERS (default) or PRERANKERS."""
    table = RANKERS if table is None else table
    kind = "ranker" if table is RANKERS else "pre-ranker"
    if name not in table:
        raise ValueError(f"{kind} {name!r}: expected one of {sorted(table)}")
    accepted = set(inspect.signature(table[name].cls).parameters) - _SHAPE_ARGS
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise ValueError(f"{kind} {name!r}: unknown hyper-parameters {unknown} (accepted: {sorted(accepted)})")
    return {**table[name].defaults, **overrides}


def _kwargs(hp: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in hp.items()}


def build(name: str, vocab: list[int], n_num: int, n_heads: int, seq_len: int, **overrides) -> tuple[nn.Module, dict]:
    """A ranker: (model, the hyper-parameters it was built with)."""
    hp = hyperparameters(name, **overrides)
    return RANKERS[name].cls(vocab, n_num, n_heads, seq_len, **_kwargs(hp)), hp


def build_prerank(name: str, vocab: list[int], n_num: int, n_heads: int, **overrides) -> tuple[nn.Module, dict]:
    """A pre-ranker: (model, the hyper-parameters it was built with)."""
    hp = hyperparameters(name, PRERANKERS, **overrides)
    return PRERANKERS[name].cls(vocab, n_num, n_heads, **_kwargs(hp)), hp


def input_names(model: nn.Module) -> list[str]:
    """The model's inputs, named as the feature assembly names its tensors (its forward's
    parameters): what it is called with, exported with and declared in the manifest."""
    return list(inspect.signature(model.forward).parameters)
