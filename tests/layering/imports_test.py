"""The layering rules of the tree (README "Layout"), checked by parsing every import.

* `core/` (the funnel's logic) imports no grpc, generated stubs, services, gateway, training or dev;
* `services/` and `gateway/` import neither `training` nor `dev`; no stage imports another
  stage's package, and the gateway imports none of them;
* `training/` imports `core/`, never `services` or `gateway`.

Production modules only: a `*_test.py` may build its fixtures with training code.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("services.recall", "services.rank", "services.rerank")


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py")
                  if not p.name.endswith("_test.py") and "__pycache__" not in p.parts)


def imports(path: Path) -> set[str]:
    """Every module name an import statement in `path` names (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(package: str, forbidden) -> list[str]:
    out = []
    for path in modules(package):
        own = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for name in sorted(imports(path)):
            why = forbidden(own, name)
            if why:
                out.append(f"{path.relative_to(ROOT)} imports {name}: {why}")
    return out


def core_rule(own: str, name: str) -> str:
    if under(name, ("grpc", "grpc_health", "grpc_reflection", "recsys")):
        return "core/ knows no transport"
    if under(name, ("services", "gateway", "training", "dev")):
        return "core/ is the bottom layer"
    return ""


def serving_rule(own: str, name: str) -> str:
    if under(name, ("training", "dev")):
        return "serving code never imports offline or local-run code"
    mine = next((s for s in STAGES if under(own, (s,))), None)
    for stage in STAGES:
        if under(name, (stage,)) and stage != mine:
            return "a stage (or the gateway) never imports another stage's package"
    return ""


def training_rule(own: str, name: str) -> str:
    if under(name, ("services", "gateway")):
        return "training runs the serving logic from core/, not from a service"
    return ""


@pytest.mark.parametrize("package,rule", [("core", core_rule), ("services", serving_rule),
                                          ("gateway", serving_rule), ("training", training_rule)])
def test_layering(package, rule):
    assert modules(package), f"no modules found under {package}/"
    assert violations(package, rule) == []


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The rules really fire: a module that breaks one is reported."""
    bad = tmp_path / "core" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("import grpc\nfrom services.rank import servicer\nfrom . import items\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = violations("core", core_rule)
    assert found == ["core/bad.py imports grpc: core/ knows no transport",
                     "core/bad.py imports services.rank: core/ is the bottom layer",
                     "core/bad.py imports services.rank.servicer: core/ is the bottom layer"]
