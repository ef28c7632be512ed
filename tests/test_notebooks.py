"""The notebooks in notebooks/: each runs top to bottom on any config and is stored without outputs.

Each notebook takes its config from one parameter cell (``CONFIG``, from ``N2KZONES_CONFIG``;
default the sample config). The kernel is the ``python3`` kernel of the interpreter running
the tests (jupyter_client starts a ``python`` kernelspec with ``sys.executable``), so it sees
this venv's n2kzones. The runs use a copy of the sample config written to the test's
temporary folder, reading the session's generated sample and writing into another folder
there (``TMPDIR`` points there too, for the notebooks' scratch files).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import tomllib

os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # silence jupyter_core's path-migration warning

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
#: The cheapest notebook (zones to rko): the one run twice to check reuse.
CHEAPEST = NOTEBOOKS / "02_rko_threshold_study.ipynb"


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _sample_names() -> list[str]:
    """Names only the sample uses: its input folder and files (from ``config/sample.toml``),
    its zone-width list, the old sample-folder variable and its size in words."""
    data = tomllib.loads((REPO / "config" / "sample.toml").read_text())
    paths = [Path(spec["path"]) for spec in data["inputs"].values()] + [
        Path(data["zones"]["overrides_csv"])
    ]
    names = (
        {p.as_posix() for p in paths}
        | {p.name for p in paths}
        | {p.parent.as_posix() for p in paths[:-1]}
    )
    return sorted(
        names | {"N2KZONES_SAMPLE_DIR", "sample_dir", "40 x 40 km", "9 Natura 2000", "nine"}
    )


#: A hard-coded Natura 2000 site code (sample or real): NL followed by seven digits.
SITE_CODE = re.compile(r"NL\d{7}")


def write_config_copy(sample_dir: Path, folder: Path) -> tuple[Path, Path]:
    """``config/sample.toml`` with its inputs in ``sample_dir`` and another project name and
    ``output_dir``, written into ``folder``; returns (config path, output folder)."""
    outputs = folder / "elsewhere" / "outputs"
    text = (REPO / "config" / "sample.toml").read_text()
    for old, new in [
        ('"data/raw/sample/', f'"{sample_dir}/'),
        ('"config/', f'"{REPO}/config/'),
        ('output_dir = "data/processed"', f'output_dir = "{outputs}"'),
        ('name = "sample"', 'name = "copy-of-sample"'),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "my_config.toml"
    path.write_text(text)
    return path, outputs


def execute(path: Path) -> nbformat.NotebookNode:
    """Run a notebook top to bottom (in notebooks/, as Jupyter does); fails on any error."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(
        out.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for out in c.outputs
        if out.output_type == "stream"
    )


def test_notebooks_present() -> None:
    assert [p.name for p in PATHS] == [
        "01_quickstart.ipynb",
        "02_rko_threshold_study.ipynb",
        "03_kernel_and_validation.ipynb",
        "04_zone_effectiveness.ipynb",
        "05_policy_variants.ipynb",
    ]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has stored outputs; clear them"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


def test_kernel_is_this_interpreter() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.argv[0] in {"python", "python3", sys.executable}, spec.argv


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_one_parameter_cell_reads_the_config(path: Path) -> None:
    """Exactly one cell tagged ``parameters``: the first code cell, setting ``CONFIG`` from
    ``N2KZONES_CONFIG``; no other cell reads the environment."""
    cells = _code_cells(path)
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0], (
        f"{path.name}: the parameter cell must be the first code cell, and the only one tagged"
    )
    assert re.search(r'^CONFIG = os\.environ\.get\("N2KZONES_CONFIG", ', cells[0].source, re.M), (
        cells[0].source
    )
    for c in cells[1:]:
        assert "os.environ" not in c.source and "N2KZONES_CONFIG" not in c.source, c.source


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_sample_names_nor_shared_data(path: Path) -> None:
    """After the parameter cell, nothing names the sample's files, folders or area codes, and
    no cell reads ../shared (notebook 03 compares with the packaged OPS tables)."""
    nb = nbformat.read(path, as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    names = _sample_names()
    for i, cell in enumerate(nb.cells):
        src = cell.source
        assert "shared" not in src, f"{path.name} cell {i} reads ../shared"
        assert not SITE_CODE.search(src), f"{path.name} cell {i} hard-codes a site code"
        if i == first_code:
            continue
        hits = [n for n in names if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", src, re.I)]
        assert not hits, f"{path.name} cell {i} names the sample's {hits}"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each notebook runs on the config named by ``N2KZONES_CONFIG``; its outputs land in
    that config's ``output_dir`` and the sample config's own output folder is not touched."""
    config, outputs = write_config_copy(sample_dir, tmp_path)
    default_out = REPO / "data" / "processed"
    before = sorted(default_out.rglob("*")) if default_out.exists() else []
    monkeypatch.setenv("N2KZONES_CONFIG", str(config))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # scratch files (notebook 03's own kernel)
    nb = execute(path)
    assert str(config) in _text(nb), "the notebook did not report the config it ran on"
    assert sorted(p.name for p in outputs.glob("manifest_*.json")), f"no stage outputs in {outputs}"
    after = sorted(default_out.rglob("*")) if default_out.exists() else []
    assert after == before, "the notebook wrote into the sample config's output folder"


@pytest.mark.slow
def test_second_run_reuses_the_outputs(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheapest notebook on a copied config writes into that config's output folder; run
    again, it reruns no stage (the make-like checks find the outputs current)."""
    config, outputs = write_config_copy(sample_dir, tmp_path)
    monkeypatch.setenv("N2KZONES_CONFIG", str(config))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    first = _text(execute(CHEAPEST))
    assert "rko: ran" in first
    manifests = {
        p.name: json.loads(p.read_text())["finished"] for p in outputs.glob("manifest_*.json")
    }
    assert set(manifests) == {
        "manifest_zones.json",
        "manifest_overlay.json",
        "manifest_deposition.json",
        "manifest_rko.json",
    }
    second = _text(execute(CHEAPEST))
    assert not re.search(r": ran\b", second) and ": reused" in second, second
    assert {
        p.name: json.loads(p.read_text())["finished"] for p in outputs.glob("manifest_*.json")
    } == manifests


def test_run_stale_reuses_current_stages(sample_config, tmp_path: Path) -> None:
    """``nz.run_stale`` (what the notebooks call) runs a stage once, then reuses it until an
    upstream stage reruns."""
    import n2kzones as nz

    cfg = sample_config.model_copy(
        update={
            "project": sample_config.project.model_copy(update={"output_dir": tmp_path / "out"})
        }
    )
    assert nz.run_stale(cfg, ["zones"]) == {"zones": True}
    assert nz.run_stale(cfg, ["zones"]) == {"zones": False}
    nz.run_zones(cfg)
    assert nz.run_stale(cfg, ["zones"]) == {"zones": False}
    with pytest.raises(ValueError, match="unknown stage"):
        nz.run_stale(cfg, ["zone"])


def test_public_api_is_lazy_and_complete() -> None:
    """The notebooks use ``n2kzones.<name>``: every name resolves, and importing stays light."""
    import subprocess

    code = (
        "import sys, n2kzones as nz; assert 'pandas' not in sys.modules, 'eager import'; "
        "missing = [n for n in nz.__all__ if getattr(nz, n, None) is None]; "
        "assert not missing, missing; assert set(nz.__all__) <= set(dir(nz))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
