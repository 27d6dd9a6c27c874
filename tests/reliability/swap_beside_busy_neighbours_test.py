"""A model version swap completes while CPU-bound neighbours keep the core busy.

The loader thread used to run at SCHED_IDLE: it gets CPU only when nothing else wants it, so
beside two busy processes on a 2-core node a promotion never landed. Here the swapping
process and two busy loops share one core (pinned), so the test means the same on any
machine; the busy loops stop by themselves, and the swap must finish well before they do."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.registry.reader import Registry
from tests.registry_helpers import republish

ROOT = Path(__file__).resolve().parents[2]
BUSY_S = 120
SWAP_TIMEOUT_S = 90

SWAP = """
import asyncio, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[2])})  # threads started from here on inherit it
from core.rank.model_store import ModelSlot
from core.registry.reader import Registry
slot = ModelSlot(Registry(sys.argv[1]), "ranker")
async def main():
    await slot.promote(sys.argv[3])
    assert slot.live.version == sys.argv[3]
asyncio.run(main())
print("swapped")
"""
BUSY = f"""
import os, sys, time
os.sched_setaffinity(0, {{int(sys.argv[1])}})
end = time.monotonic() + {BUSY_S}
while time.monotonic() < end:
    pass
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_swap_completes_beside_two_busy_processes(artifacts, tmp_path):
    for name in ("ranker",):
        shutil.copytree(artifacts[1] / name, tmp_path / name)
    target = republish(Registry(tmp_path), "ranker")
    cpu = min(os.sched_getaffinity(0))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "protos")]))
    busy = [subprocess.Popen([sys.executable, "-c", BUSY, str(cpu)]) for _ in range(2)]
    try:
        swap = subprocess.run([sys.executable, "-c", SWAP, str(tmp_path), str(cpu), target], env=env,
                              capture_output=True, text=True, timeout=SWAP_TIMEOUT_S)
        assert swap.returncode == 0 and "swapped" in swap.stdout, swap.stderr[-2000:]
        assert all(p.poll() is None for p in busy), "the neighbours stopped first: the test proved nothing"
    except subprocess.TimeoutExpired:
        pytest.fail(f"the swap did not complete in {SWAP_TIMEOUT_S} s beside two busy processes")
    finally:
        for p in busy:
            p.kill()
            p.wait()
