"""Reading the model registry, and moving its aliases.

Layout (see README "Model registry"):

    <root>/<name>/<version>/manifest.json   inputs, outputs, feature order, metrics, sha256 per file
    <root>/<name>/<version>/<files>         model.onnx, index.faiss, items.npz, ...
    <root>/<name>/aliases.json              {"live": "v0002", "previous": "v0001",
                                             "canary": "v0003", "canary_percent": 5}

With an aliases folder (`ALIASES_DIR`), aliases are read from `<aliases_dir>/<name>.json`
instead: in Kubernetes that folder is a ConfigMap mounted as a directory, so `kubectl apply`
of a new ConfigMap rolls a version on every replica (subPath mounts would never update).

Versions are immutable directories. Services open a version only after every file's sha256
matches its manifest; nothing here unpickles anything. Writing new versions is the training
side's job (training/publish.py); this module only reads them and moves aliases.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import FailedPrecondition, NotFound

VERSION_RE = re.compile(r"v\d{4,}")  # always .fullmatch: "$" would let "v0001\n" through
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ALIASES = "aliases.json"
MANIFEST = "manifest.json"


def is_plain_name(name: str) -> bool:
    """A single path component that stays where it is joined: no separators, no "..", not
    absolute, no NUL. Model names and a version's file names must be plain, or a name from a
    manifest or a request could reach outside the registry."""
    return bool(NAME_RE.fullmatch(name)) and name not in (".", "..") and ".." not in name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelVersion:
    """An opened, checksum-verified registry version."""

    name: str
    version: str
    root: Path
    manifest: dict[str, Any]

    def file(self, name: str) -> Path:
        if name not in self.manifest["files"]:
            raise FailedPrecondition(f"{self.name}/{self.version}: manifest lists no file {name!r}")
        return self.root / name


def write_json_atomic(path: Path, doc: dict) -> None:
    """Write JSON so readers see either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class Registry:
    def __init__(self, root: Path | str, aliases_dir: Path | str | None = None):
        self.root = Path(root)
        self.aliases_dir = Path(aliases_dir) if aliases_dir else None

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir()
                      if p.is_dir() and VERSION_RE.fullmatch(p.name) and (p / MANIFEST).exists())

    def aliases(self, name: str) -> dict[str, Any]:
        path = self.aliases_path(name)
        if not path.exists():
            return {}
        return json.loads(path.read_text())

    def live_version(self, name: str) -> str:
        live = self.aliases(name).get("live")
        if not live:
            raise NotFound(f"model {name!r} has no live version in {self.root}")
        return live

    def open(self, name: str, version: str | None = None, verify: bool = True) -> ModelVersion:
        """Open `version` (default: live) after checking every file's sha256."""
        if not is_plain_name(name):
            raise NotFound(f"no model {name!r}")
        version = version or self.live_version(name)
        if not VERSION_RE.fullmatch(version):
            raise NotFound(f"model {name!r} has no version {version!r}")
        folder = self.root / name / version
        manifest_path = folder / MANIFEST
        if not manifest_path.exists():
            raise NotFound(f"model {name!r} has no version {version!r}")
        manifest = json.loads(manifest_path.read_text())
        if verify:
            for fname, expected in manifest.get("files", {}).items():
                if not is_plain_name(fname) or fname == MANIFEST:
                    raise FailedPrecondition(f"{name}/{version}: manifest file {fname!r} is not a plain file name")
                path = folder / fname
                if not path.exists():
                    raise FailedPrecondition(f"{name}/{version}: file {fname} is missing")
                actual = sha256_file(path)
                if actual != expected:
                    raise FailedPrecondition(
                        f"{name}/{version}: checksum mismatch for {fname} "
                        f"(manifest {expected[:12]}, file {actual[:12]})")
        return ModelVersion(name, version, folder, manifest)

    def aliases_path(self, name: str) -> Path:
        if self.aliases_dir is not None:
            return self.aliases_dir / f"{name}.json"
        return self.root / name / ALIASES

    def set_canary(self, name: str, version: str, percent: float) -> None:
        """Send `percent` of users to `version` ("" or 0 % clears the canary)."""
        if version and version not in self.versions(name):
            raise NotFound(f"model {name!r} has no version {version!r}")
        doc = self.aliases(name)
        if version and percent > 0:
            doc.update(canary=version, canary_percent=percent)
        else:
            doc.pop("canary", None)
            doc.pop("canary_percent", None)
        write_json_atomic(self.aliases_path(name), doc)

    def set_live(self, name: str, version: str) -> str:
        """Point `live` at `version`; returns the version that was live before ("" if none)."""
        if version not in self.versions(name):
            raise NotFound(f"model {name!r} has no version {version!r}")
        doc = self.aliases(name)
        previous = doc.get("live", "")
        if previous != version:
            doc["previous"] = previous
        doc["live"] = version
        if doc.get("canary") == version:  # promoting the canary ends the canary
            doc.pop("canary", None)
            doc.pop("canary_percent", None)
        write_json_atomic(self.aliases_path(name), doc)
        return previous
