"""The notebooks in notebooks/: each runs top to bottom on the sample and is stored without outputs.

The kernel is the ``python3`` kernel of the interpreter running the tests (jupyter_client
starts a ``python`` kernelspec with ``sys.executable``), so it sees this venv's n2kzones.
All notebooks share the session's generated sample via ``N2KZONES_SAMPLE_DIR`` and write
into the test's temporary folder via ``TMPDIR``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # silence jupyter_core's path-migration warning

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def test_notebooks_present() -> None:
    assert [p.name for p in PATHS] == [
        "01_quickstart.ipynb",
        "02_rko_threshold_study.ipynb",
        "03_kernel_and_validation.ipynb",
        "04_zone_effectiveness.ipynb",
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


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("N2KZONES_SAMPLE_DIR", str(sample_dir))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' temporary output folders
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
    assert any(tmp_path.iterdir()), "the notebook wrote no outputs into its temporary folder"


def test_public_api_is_lazy_and_complete() -> None:
    """The notebooks use ``n2kzones.<name>``: every name resolves, and importing stays light."""
    import subprocess

    code = (
        "import sys, n2kzones as nz; assert 'pandas' not in sys.modules, 'eager import'; "
        "missing = [n for n in nz.__all__ if getattr(nz, n, None) is None]; "
        "assert not missing, missing; assert set(nz.__all__) <= set(dir(nz))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
