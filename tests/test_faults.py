"""Faults (issue 8): a run killed while writing leaves the previous outputs intact and a rerun
needs no clean-up; a grid too large for memory is refused with the numbers and a way out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyogrio
import pytest

from n2kzones.deposition import GridSpec, default_kernel, deposition_on_grid
from n2kzones.errors import GridTooLargeError

CLI = [str(Path(sys.executable).parent / "n2kzones")]
# layer_styles: the QGIS styles table
LAYERS = {"areas", "zones", "zones_by_area", "parcel_pieces", "farms", "layer_styles"}
FINAL = {
    "n2kzones.gpkg",
    "area_summary.csv",
    "farm_summary.csv",
    "manifest_overlay.json",
    "manifest_zones.json",
    "config.toml",
}
TEMP = re.compile(r"^\..*\.tmp")


def _overlay(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "-q", "overlay", "-c", str(cfg), "--rebuild-upstream"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _temp_files(out: Path) -> list[Path]:
    """Temporary files below ``out``; the folders of a running stage come and go meanwhile."""
    for _attempt in range(20):
        try:
            return [p for p in out.rglob("*") if TEMP.match(p.name)]
        except FileNotFoundError:  # a staging folder was removed while we listed it
            continue
    return []


def _check_outputs(out: Path, summary: bytes, layer_rows: dict[str, int]) -> None:
    assert (out / "area_summary.csv").read_bytes() == summary
    gpkg = out / "n2kzones.gpkg"
    assert {str(n) for n in pyogrio.list_layers(gpkg)[:, 0]} == LAYERS
    for layer, n in layer_rows.items():
        assert pyogrio.read_info(gpkg, layer=layer)["features"] == n
        pyogrio.read_dataframe(gpkg, layer=layer, max_features=5)
    visible = {p.name for p in out.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert visible <= FINAL, f"unexpected files that look like outputs: {visible - FINAL}"
    for tmp in _temp_files(out):  # leftovers of a kill are hidden and named as temporary
        assert tmp.name.startswith(".") and ".tmp" in tmp.name


@pytest.mark.slow
def test_killed_while_writing_leaves_previous_outputs_and_rerun_works(
    sample_config, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    text = sample_config.source_path.read_text()
    text = re.sub(r'output_dir = ".*"', f'output_dir = "{out}"', text)
    out.mkdir()
    cfg = out / "config.toml"
    cfg.write_text(text)

    first = _overlay(cfg)
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()
    summary = (out / "area_summary.csv").read_bytes()
    rows = {n: pyogrio.read_info(out / "n2kzones.gpkg", layer=n)["features"] for n in LAYERS}

    # Kill as soon as a temporary output file appears (the run is writing); if a run
    # finishes before a write is caught, try again a few times.
    landed = 0
    for _attempt in range(4):
        proc = _overlay(cfg)
        before = set(_temp_files(out))
        while proc.poll() is None:
            if set(_temp_files(out)) - before:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
        proc.stderr.close()
        if proc.returncode == -signal.SIGKILL:
            landed += 1
            _check_outputs(out, summary, rows)
        if landed >= 2:
            break
    assert landed, "no kill landed while the run was writing"

    rerun = _overlay(cfg)
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read().decode()
    rerun.stderr.close()
    first.stderr.close()
    _check_outputs(out, summary, rows)


def test_grid_too_large_for_memory_is_refused_with_the_numbers() -> None:
    grid = GridSpec(0.0, 300_000.0, 1.0, 300_000, 300_000)  # the Netherlands at 1 m: 9e10 cells
    x, y, e = np.array([150_000.0]), np.array([450_000.0]), np.array([1000.0])
    for method in ("direct", "fft"):
        with pytest.raises(GridTooLargeError) as info:
            deposition_on_grid(x, y, e, default_kernel(), grid, method=method)
        msg = str(info.value)
        assert "300000 x 300000 at 1 m" in msg
        assert re.search(r"need about [\d.]+ GiB, more than the budget of 4 GiB", msg), msg
        assert "coarser cell" in msg and "Dask" in msg
    # the same extent at 100 m fits
    small = GridSpec.from_bounds((149_000, 449_000, 151_000, 451_000), 100.0)
    assert deposition_on_grid(x, y, e, default_kernel(), small, method="direct").shape == (20, 20)
