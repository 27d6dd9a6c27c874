"""Publishing test versions: a copy of the live version, optionally changed first."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from core.registry.reader import Registry
from training.publish import manifest_body, publish


def republish(registry: Registry, name: str, mutate=None) -> str:
    """Publish (not live) a copy of `name`'s live version after `mutate(folder, manifest)`."""
    live = registry.open(name)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(live.root, work)
        manifest = json.loads((work / "manifest.json").read_text())
        if mutate is not None:
            mutate(work, manifest)
        return publish(registry.root, name, {f: work / f for f in manifest["files"]}, manifest_body(manifest),
                       make_live=False)
