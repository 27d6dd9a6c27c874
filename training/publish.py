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

from core.errors import InvalidArgument
from core.registry.reader import MANIFEST, NAME_RE, ModelVersion, Registry, is_plain_name, sha256_file


def code_version() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def publish(root: Path, name: str, files: dict[str, Path], manifest: dict[str, Any],
            make_live: bool = True) -> str:
    """Copy `files` (name in the version -> source path) into a new version; returns it.
    Names must be plain file names (no folders, no "..", not absolute): a version is one
    folder, and a name that escaped it would write anywhere the publisher can."""
    if not is_plain_name(name):
        raise InvalidArgument("name", f"must be a plain name ({NAME_RE.pattern}), got {name!r}")
    for fname in files:
        if not is_plain_name(fname) or fname == MANIFEST:
            raise InvalidArgument("files", f"{fname!r} is not a plain file name (or is {MANIFEST})")
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


def manifest_body(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a new version inherits from a manifest: all but what `publish` writes itself."""
    return {k: v for k, v in manifest.items() if k not in ("files", "version", "name")}


def copy_version(root: Path, mv: ModelVersion, files: dict[str, Path] | None = None,
                 changes: dict[str, Any] | None = None, make_live: bool = False) -> str:
    """Publish into `root` a new version of `mv`'s model: its files and manifest, with `files`
    (name -> path) replacing or adding files and `changes` merged into the manifest."""
    sources = {f: mv.root / f for f in mv.manifest["files"]} | (files or {})
    return publish(root, mv.name, sources, manifest_body(mv.manifest) | (changes or {}), make_live)


def main(argv: list[str] | None = None) -> int:
    """Publish a model built elsewhere: a folder holding `manifest.json` (inputs, outputs,
    feature order, metrics, ... as `make train` writes them) and the files it lists."""
    import argparse
    import json
    import sys

    p = argparse.ArgumentParser(prog="python -m training.publish", description=main.__doc__.split("\n")[0])
    p.add_argument("--registry", type=Path, default=Path("models"))
    p.add_argument("--name", required=True, help="model name, e.g. ranker")
    p.add_argument("--source", type=Path, required=True, help="folder with manifest.json and the model's files")
    p.add_argument("--live", action="store_true", help="make the new version live at once (default: publish only)")
    args = p.parse_args(argv)
    manifest_path = args.source / "manifest.json"
    if not manifest_path.is_file():
        p.error(f"--source {args.source}: no manifest.json there")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        p.error(f"--source {manifest_path}: not JSON ({err})")
    names = list(manifest.get("files", {})) or [f.name for f in args.source.iterdir()
                                                 if f.is_file() and f.name != "manifest.json"]
    missing = [n for n in names if not (args.source / n).is_file()]
    if missing:
        p.error(f"--source {args.source}: files listed in the manifest are missing: {missing}")
    version = publish(args.registry, args.name, {n: args.source / n for n in names}, manifest_body(manifest),
                      make_live=args.live)
    print(json.dumps({"name": args.name, "version": version, "live": args.live}), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
