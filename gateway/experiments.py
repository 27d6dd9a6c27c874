"""Layered A/B experiments (PAI-Rec style), reloadable without a restart.

A JSON file lists layers; each layer splits users independently (a keyed hash of the user id
with the layer's name as the key) into experiments holding a share of traffic; the rest of a
layer's users get no experiment there. One experiment per layer at most, so layers combine:

    {"layers": [
      {"name": "recall", "experiments": [
        {"id": "no_item_cf", "percent": 10, "recall_quotas": {"item_cf": 0}}]},
      {"name": "rank", "experiments": [
        {"id": "ranker_v2", "percent": 20, "rank_model_version": "v0002"}]},
      {"name": "rerank", "experiments": [
        {"id": "dpp", "percent": 50, "rerank_policy": "dpp"}]}]}

An experiment may set `recall_quotas` (channel -> quota), `rank_model_version` and
`rerank_policy`. The file is re-read when it changes; a broken file is refused (logged) and
the previous configuration stays.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.bucketing import BUCKETS, bucket
from core.errors import InvalidArgument

log = logging.getLogger(__name__)
MAX_ID = 64


@dataclass(frozen=True)
class Experiment:
    id: str
    layer: str
    percent: float
    recall_quotas: dict[str, int] = field(default_factory=dict)
    rank_model_version: str = ""
    rerank_policy: str = ""


@dataclass(frozen=True)
class Assignment:
    """What a request is served under: the experiments it is in and their merged overrides."""

    experiments: tuple[Experiment, ...] = ()

    @property
    def id(self) -> str:
        return ",".join(f"{e.layer}:{e.id}" for e in self.experiments)

    @property
    def recall_quotas(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.experiments:
            out.update(e.recall_quotas)
        return out

    @property
    def rank_model_version(self) -> str:
        return next((e.rank_model_version for e in self.experiments if e.rank_model_version), "")

    @property
    def rerank_policy(self) -> str:
        return next((e.rerank_policy for e in self.experiments if e.rerank_policy), "")


def parse(doc: dict) -> list[tuple[str, list[Experiment]]]:
    """Validate a configuration document; raises ValueError naming the problem."""
    layers, seen = [], set()
    for li, layer in enumerate(doc.get("layers", [])):
        name = layer.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"layers[{li}].name: required")
        exps, total = [], 0.0
        for ei, e in enumerate(layer.get("experiments", [])):
            where = f"layers[{li}].experiments[{ei}]"
            eid, percent = e.get("id"), e.get("percent")
            if not isinstance(eid, str) or not 1 <= len(eid) <= MAX_ID or eid in seen:
                raise ValueError(f"{where}.id: 1..{MAX_ID} characters, unique across layers")
            if not isinstance(percent, (int, float)) or percent < 0:
                raise ValueError(f"{where}.percent: a number >= 0")
            total += percent
            quotas = e.get("recall_quotas", {})
            if not isinstance(quotas, dict) or not all(isinstance(v, int) and v >= 0 for v in quotas.values()):
                raise ValueError(f"{where}.recall_quotas: channel -> quota (int >= 0)")
            seen.add(eid)
            exps.append(Experiment(eid, name, float(percent), dict(quotas),
                                   str(e.get("rank_model_version", "")), str(e.get("rerank_policy", ""))))
        if total > 100:
            raise ValueError(f"layers[{li}]: experiments' percents add up to {total} > 100")
        layers.append((name, exps))
    return layers


class Experiments:
    def __init__(self, path: Path | None = None, check_every_s: float = 1.0):
        self.path, self.check_every_s = path, check_every_s
        self.layers: list[tuple[str, list[Experiment]]] = []
        self._mtime, self._checked = 0, float("-inf")
        if path is not None:
            self.layers = parse(json.loads(path.read_text()))  # a broken file at start-up is fatal
            self._mtime = path.stat().st_mtime_ns

    def maybe_reload(self) -> None:
        if self.path is None or time.monotonic() - self._checked < self.check_every_s:
            return
        self._checked = time.monotonic()
        try:
            mtime = self.path.stat().st_mtime_ns
            if mtime == self._mtime:
                return
            self.layers = parse(json.loads(self.path.read_text()))
            self._mtime = mtime
            log.info("experiments reloaded", extra={"layers": [n for n, _ in self.layers]})
        except (OSError, ValueError) as err:
            log.error("experiment config refused; keeping the previous one", extra={"error": str(err)})

    def by_id(self, experiment_id: str) -> Experiment | None:
        return next((e for _, exps in self.layers for e in exps if e.id == experiment_id), None)

    def assign(self, user_id: int, override: str = "") -> Assignment:
        self.maybe_reload()
        if override:
            exp = self.by_id(override)
            if exp is None:
                raise InvalidArgument("experiment", f"unknown experiment id {override[:MAX_ID]!r}")
            return Assignment((exp,))
        chosen = []
        for name, exps in self.layers:
            b = bucket(user_id, salt=f"layer:{name}")
            edge = 0.0
            for e in exps:
                edge += e.percent * BUCKETS / 100.0
                if b < edge:
                    chosen.append(e)
                    break
        return Assignment(tuple(chosen))
