"""Two-tower ANN channel: run the user tower on the user's fresh sequence, then faiss.

The user tower (ONNX) reads the recent sequence from the request's user state, so a like
reported a moment ago already moves the user's vector. Item vectors live in a faiss index
whose row numbers are dense item indices of the version's item table.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import faiss
import numpy as np
import onnxruntime as ort

from services.common.items import ItemTable
from services.common.onnx_session import check_signature, make_session
from services.common.registry import ModelVersion
from services.rank.features import pad_sequence
from services.recall.channels.base import Channel, ChannelRequest, ChannelResult


@dataclass(frozen=True)
class TwoTowerModel:
    version: str
    user_tower: ort.InferenceSession
    index: faiss.Index
    items: ItemTable
    seq_len: int

    @classmethod
    def load(cls, mv: ModelVersion, threads: int = 1) -> TwoTowerModel:
        session = make_session(mv.file("user_tower.onnx"), threads)
        check_signature(session, mv.manifest, f"{mv.name}/{mv.version}")
        index = faiss.read_index(str(mv.file("index.faiss")))
        items = ItemTable.load(mv.file("items.npz"))
        if index.ntotal != len(items):
            raise ValueError(f"{mv.name}/{mv.version}: index has {index.ntotal} vectors, "
                             f"item table {len(items)} rows")
        seq_len = int(mv.manifest["inputs"][0]["shape"][1])
        return cls(mv.version, session, index, items, seq_len)

    def user_vector(self, recent_items: np.ndarray, region: int, age: int, gender: int) -> np.ndarray:
        seq = pad_sequence(self.items.index_of(recent_items), self.seq_len)
        feeds = {"seq_items": (seq + 1)[None, :],  # dense index + 1, pad (-1) -> 0
                 "profile": np.array([[region, age, gender]], dtype=np.int64)}
        return self.user_tower.run(None, feeds)[0]

    def search(self, user_vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.index.ntotal)
        scores, rows = self.index.search(user_vec.astype(np.float32), k)
        ok = rows[0] >= 0
        return self.items.item_id[rows[0][ok]], scores[0][ok]


class TwoTowerChannel(Channel):
    name = "two_tower"

    def __init__(self, model: TwoTowerModel, threads: int = 1):
        self.model, self.threads = model, threads

    def load_version(self, mv: ModelVersion) -> None:
        """Serve another version (loaded and checked first; then one assignment)."""
        self.model = TwoTowerModel.load(mv, self.threads)

    def _retrieve(self, request: ChannelRequest) -> ChannelResult:
        s, model = request.state, self.model  # one version for the whole request
        vec = model.user_vector(s.recent_items, request.context.region or s.region, s.age_bucket, s.gender)
        ids, scores = model.search(vec, request.fetch)
        return ChannelResult(ids.astype(np.int64), scores.astype(np.float32))

    async def retrieve(self, request: ChannelRequest) -> ChannelResult:
        # onnxruntime and faiss release the GIL: a worker thread runs beside the event loop.
        return await asyncio.to_thread(self._retrieve, request)
