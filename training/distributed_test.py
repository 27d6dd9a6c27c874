"""Training runs data-parallel under torchrun (two processes, gloo on CPU) on tiny data, and
publishes once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.registry.reader import Registry
from dev.redis_server import free_port
from training.world import WorldConfig, generate

ROOT = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes_train_and_publish_once(tmp_path):
    generate(WorldConfig(n_users=60, n_videos=200, n_authors=20, days=4), progress=False).save(tmp_path / "world")
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "protos"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", str(free_port()),
                           "-m", "training.train", "--world", str(tmp_path / "world"),
                           "--registry", str(tmp_path / "models"), "--epochs", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "process 0 of 2" in out and "process 1 of 2" in out
    registry = Registry(tmp_path / "models")
    for name in ("two_tower", "item_cf", "ranker", "prerank"):
        assert registry.versions(name) == ["v0001"]  # one publisher
        registry.open(name)  # checksums verify
