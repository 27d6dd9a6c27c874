"""Rerank follows the two-tower version like every service: after a promotion its diversity
step uses the new version's item vectors, without a restart."""
from __future__ import annotations

import json
import os
import shutil
import time

import grpc
import numpy as np
from recsys.v1 import common_pb2, rerank_pb2, rerank_pb2_grpc

from core.registry.reader import Registry
from dev.stack import Stack
from tests.registry_helpers import republish


def test_rerank_uses_a_promoted_two_tower_version_without_restart(artifacts, redis_url, prefix, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(artifacts[1] / "two_tower", root / "two_tower")
    registry = Registry(root)
    live = registry.open("two_tower")
    ids = np.load(live.file("items.npz"), allow_pickle=False)["item_id"][:40].tolist()
    first, second = ids[0], ids[1]

    def twin_vectors(folder, manifest):
        """v2: the second item's vector is the first's, so the two are near duplicates."""
        vectors = np.load(folder / "item_vectors.npy", allow_pickle=False)
        vectors[1] = vectors[0]
        np.save(folder / "item_vectors.npy", vectors, allow_pickle=False)

    v2 = republish(registry, "two_tower", twin_vectors)
    stack = Stack(root, redis_url, prefix, tmp_path / "logs", env={"RERANK_ALIAS_POLL_S": "0.2"})
    stack.start_one("rerank")
    try:
        stack.wait_one("rerank")
        with grpc.insecure_channel(stack.address("rerank")) as channel:
            stub = rerank_pb2_grpc.RerankServiceStub(channel)
            request = rerank_pb2.RerankRequest(user=common_pb2.UserContext(user_id=1), item_ids=ids,
                                               scores=np.linspace(1, 0, len(ids)).tolist(), count=10,
                                               policy="default")
            before = stub.Rerank(request, timeout=5)
            assert second not in before.removed_item_ids  # v1: two different videos

            aliases = root / "two_tower" / "aliases.json"
            doc = json.loads(aliases.read_text())
            aliases.write_text(json.dumps({**doc, "live": v2, "previous": doc["live"]}))
            os.utime(aliases, ns=(1, aliases.stat().st_mtime_ns + 10**9))  # a visibly new file
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                after = stub.Rerank(request, timeout=5)
                removed = dict(zip(after.removed_item_ids, after.removed_reasons))
                if second in removed:
                    break
                time.sleep(0.2)
            assert removed.get(second) == "DropNearDuplicates"  # v2's vectors: the twin is dropped
            assert first in after.item_ids
    finally:
        stack.stop()
