"""Publishing new, immutable versions into the model registry (the writing side).

A version is staged in a hidden folder, every file's sha256 goes into the manifest, and the
folder is renamed into place in one step, so a reader never sees half a version.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from services.common.registry import MANIFEST, Registry, sha256_file


def code_version() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def publish(root: Path, name: str, files: dict[str, Path], manifest: dict[str, Any],
            make_live: bool = True) -> str:
    """Copy `files` (name in the version -> source path) into a new version; returns it."""
    registry = Registry(root)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        digests = {}
        for fname, src in files.items():
            shutil.copyfile(src, staging / fname)
            digests[fname] = sha256_file(staging / fname)
        existing = registry.versions(name)
        number = int(existing[-1][1:]) + 1 if existing else 1
        version = f"v{number:04d}"
        doc = dict(manifest, name=name, version=version, files=digests,
                   created_ms=int(time.time() * 1000), code_version=code_version())
        (staging / MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True))
        os.rename(staging, folder / version)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    if make_live:
        registry.set_live(name, version)
    return version
