"""Layering: firmware is the bottom layer; sim and hil build on it; the assay CLI on all.

Checked statically (ast), so a forbidden import fails here even on a code path no test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# package → packages it must never import (directly or from any sub-module)
FORBIDDEN = {
    "firmware": {"sim", "hil", "assay", "benchmarks", "tests"},
    "sim": {"assay", "benchmarks", "tests"},
    "hil": {"sim", "assay", "benchmarks", "tests"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package):
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "layering broken:\n" + "\n".join(offenders)
