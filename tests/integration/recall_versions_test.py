"""The recall service follows the alias files: new two-tower / item-CF (and mf) versions serve without
a restart, and a broken one is refused while the old one keeps serving."""
from __future__ import annotations

import asyncio
import os
import shutil

import redis.asyncio as aioredis

from core.registry.reader import Registry
from services.recall.__main__ import build_pipeline, version_followers
from services.recall.settings import RecallSettings
from tests.registry_helpers import republish


def test_alias_changes_swap_channel_versions(artifacts, redis_url, tmp_path):
    root = tmp_path / "models"
    for name in ("two_tower", "item_cf"):
        shutil.copytree(artifacts[1] / name, root / name)
    aliases = tmp_path / "aliases"
    aliases.mkdir()
    for name in ("two_tower", "item_cf"):
        (aliases / f"{name}.json").write_text('{"live": "v0001"}')
    registry = Registry(root, aliases)
    v2_tt, v2_cf = republish(registry, "two_tower"), republish(registry, "item_cf")

    async def run():
        client = aioredis.Redis.from_url(redis_url)
        settings = RecallSettings(registry_dir=root, aliases_dir=aliases, redis_url=redis_url)
        pipeline = build_pipeline(settings, client)
        watchers = {w.name: w for w in version_followers(pipeline, registry)}
        channels = {c.name: c for c in pipeline.channels}
        assert channels["two_tower"].model.version == "v0001" and channels["item_cf"].version == "v0001"
        for name, version in (("two_tower", v2_tt), ("item_cf", v2_cf)):
            path = aliases / f"{name}.json"
            path.write_text(f'{{"live": "{version}"}}')
            os.utime(path, ns=(1, path.stat().st_mtime_ns + 10**9))  # a visibly new file
            assert await watchers[name].check()
        assert channels["two_tower"].model.version == v2_tt and channels["item_cf"].version == v2_cf
        assert channels["mf"].version == v2_cf  # the ALS factors live in the item-CF version
        # a tampered version is refused; the serving one stays
        bad = republish(registry, "two_tower")
        (root / "two_tower" / bad / "index.faiss").write_bytes(b"tampered")
        path = aliases / "two_tower.json"
        path.write_text(f'{{"live": "{bad}"}}')
        os.utime(path, ns=(1, path.stat().st_mtime_ns + 2 * 10**9))
        assert not await watchers["two_tower"].check()
        assert channels["two_tower"].model.version == v2_tt and "checksum" in watchers["two_tower"].error
        await client.aclose()

    asyncio.run(run())
