"""The package's structure: the layer contract in pyproject.toml holds, no module imports in a
circle, and both checks fail when a forbidden import is planted (so they can fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
grimp = pytest.importorskip("grimp", reason="import-linter (a dev dependency) is not installed")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the package below ``root/src`` with ``root/pyproject.toml``."""
    env = {"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin", "HOME": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )


def import_cycles(src: Path) -> list[list[str]]:
    """Strongly connected groups of n2kzones modules (with type-checking imports) under ``src``."""
    code = (
        "import grimp, json\n"
        "g = grimp.build_graph('n2kzones', cache_dir=None)\n"
        "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(src)}, capture_output=True, text=True, check=True, timeout=300
    )
    import json

    adj: dict[str, list[str]] = json.loads(out.stdout)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in adj.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for m in sorted(adj):
        if m not in index:
            visit(m)
    return groups


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package in which a domain module imports the CLI (a cycle, and upwards)."""
    root = tmp_path_factory.mktemp("planted")
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    zones = root / "src" / "n2kzones" / "zones.py"
    zones.write_text(zones.read_text() + "\n\ndef _planted():\n    from n2kzones import cli  # noqa: F401\n")
    return root


def test_layer_contract_is_kept() -> None:
    res = _lint_imports(REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


def test_no_import_cycles_in_the_package() -> None:
    assert import_cycles(REPO / "src") == []


def test_contract_and_cycle_check_fail_on_a_planted_import(planted: Path) -> None:
    res = _lint_imports(planted)
    assert res.returncode != 0
    assert "n2kzones.zones is not allowed to import n2kzones.cli" in res.stdout
    cycles = import_cycles(planted / "src")
    assert cycles and any({"n2kzones.cli", "n2kzones.zones"} <= set(c) for c in cycles)


def test_every_stage_has_its_module_and_every_output_a_stage() -> None:
    """A newcomer finds each stage from the folder names: stages/<name>.py per CLI stage."""
    from n2kzones.stages import catalogue

    stage_files = {"select": "select", "scenario": "scenario"}
    for stage in catalogue.STAGES:
        assert (REPO / "src" / "n2kzones" / "stages" / f"{stage_files.get(stage, stage)}.py").exists(), stage
    for out in catalogue.OUTPUTS.values():
        assert out.stage in catalogue.STAGES
    for stage, keys in catalogue.READS.items():
        for key in keys:
            assert catalogue.OUTPUTS[key].stage != stage, f"{stage} reads its own output {key}"
