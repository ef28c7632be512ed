"""Stage integrity: an output folder always holds complete runs, one per stage, and a stage
refuses upstream outputs that are missing, mixed, stale or from another run.

Each test works on its own copy of one complete sample run (copied with its file times, so
the copy is as consistent as the original), through the CLI as a user would run it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pytest

from n2kzones.config import load_config
from n2kzones.errors import OutputError, UpstreamError
from n2kzones.stages.catalogue import STAGES
from n2kzones.stages.integrity import (
    JOURNAL,
    LOCK_NAME,
    STAGING_PREFIX,
    Staging,
    output_lock,
    recover,
)
from n2kzones.stages.manifest import stage_problems

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "n2kzones")
INPUT_FILES = ("natura2000.gpkg", "habitats.gpkg", "brp_gewaspercelen.gpkg", "veehouderijen.gpkg", "background_deposition.tif")


def write_config(path: Path, inputs: Path, out: Path, **replace: str) -> Path:
    """The sample config with inputs from ``inputs`` and outputs into ``out``."""
    text = (REPO / "config" / "sample.toml").read_text()
    text = text.replace('"data/raw/sample/', f'"{inputs}/').replace('"config/', f'"{REPO}/config/')
    text = text.replace('output_dir = "data/processed"', f'output_dir = "{out}"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


def copy_inputs(sample_dir: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in INPUT_FILES:
        shutil.copy2(sample_dir / name, dest / name)
    return dest


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def problems(config: Path) -> dict[str, list]:
    cfg = load_config(config)
    return {s: stage_problems(cfg, s) for s in STAGES if stage_problems(cfg, s)}


def error_line(res: subprocess.CompletedProcess) -> str:
    """The error a command printed: one line, no traceback."""
    assert "Traceback" not in res.stderr, res.stderr
    log_line = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING) ")
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and "done in" not in ln and not log_line.match(ln)]
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def complete(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with copied inputs and one complete run of every stage."""
    root = tmp_path_factory.mktemp("complete")
    inputs = copy_inputs(sample_dir, root / "input")
    config = write_config(root / "config.toml", inputs, root / "out")
    res = cli("-q", "run", "-c", str(config))
    assert res.returncode == 0, res.stderr
    assert problems(config) == {}
    return root


@pytest.fixture
def project(complete: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(config, output folder) of a private copy of the complete run, inputs shared."""
    out = tmp_path / "out"
    shutil.copytree(complete / "out", out)  # copy2: file times kept
    return write_config(tmp_path / "config.toml", complete / "input", out), out


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# -- killed runs --------------------------------------------------------------------------------
def _staging_has_files(out: Path, stage: str) -> bool:
    """Whether a running stage has written into its staging folder (which may vanish meanwhile)."""
    try:
        return any(p.is_file() for s in out.glob(f"{STAGING_PREFIX}{stage}-*") for p in s.rglob("*"))
    except FileNotFoundError:  # committed and removed while we looked
        return False

@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_stage_killed_while_writing_leaves_one_complete_run(project, stage: str) -> None:
    config, out = project
    landed = False
    for _attempt in range(6):
        proc = subprocess.Popen([CLI, "-q", stage, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while proc.poll() is None:  # kill as soon as the stage has written something
            if _staging_has_files(out, stage):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
        proc.wait(timeout=120)
        proc.stderr.close()
        landed |= proc.returncode == -signal.SIGKILL
        # whatever happened, the folder holds complete runs only; the next start cleans up
        assert problems(config) == {}, f"after a kill of {stage}"
        if landed:
            break
    assert landed, f"no kill landed while {stage} was writing"
    assert list(out.glob(f"{STAGING_PREFIX}*")), "the kill left its staging folder (cleaned at the next start)"
    rerun = cli("-q", stage, "-c", str(config))
    assert rerun.returncode == 0, rerun.stderr
    assert not list(out.glob(f"{STAGING_PREFIX}*")) and not (out / LOCK_NAME).exists()
    assert stage_problems(load_config(config), stage) == []


def test_commit_interrupted_between_moves_is_rolled_forward(tmp_path: Path, monkeypatch) -> None:
    """A kill after the journal is written but before every output is in place: the next start
    finishes the moves, so the folder holds the new run's complete set."""
    root = tmp_path / "out"
    root.mkdir()
    (root / "a.csv").write_text("old a")
    (root / "b.csv").write_text("old b")
    (root / "manifest_x.json").write_text("old manifest")
    staging = Staging(root, "x")
    for name in ("a.csv", "b.csv", "manifest_x.json"):
        staging(name).write_text(f"new {name}")
    real_replace = os.replace
    calls = {"n": 0}

    def crash_after_first_move(src, dst):  # noqa: ANN001
        if calls["n"] == 1:
            raise KeyboardInterrupt("killed")  # stands for SIGKILL: no clean-up runs
        calls["n"] += 1
        return real_replace(src, dst)

    monkeypatch.setattr("n2kzones.stages.integrity.os.replace", crash_after_first_move)
    with pytest.raises(KeyboardInterrupt):
        staging.commit(last="manifest_x.json")
    monkeypatch.setattr("n2kzones.stages.integrity.os.replace", real_replace)
    assert (staging.path / JOURNAL).exists() and (root / "a.csv").read_text() == "new a.csv"
    assert (root / "b.csv").read_text() == "old b"  # mixed, until the next start
    done = recover(root)
    assert done and "finished the commit" in done[0]
    assert {p.name: p.read_text() for p in root.iterdir()} == {
        "a.csv": "new a.csv", "b.csv": "new b.csv", "manifest_x.json": "new manifest_x.json"
    }


def test_staging_without_journal_is_discarded(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (root / "a.csv").write_text("old")
    staging = Staging(root, "x")
    staging("a.csv").write_text("half")
    assert "removed" in recover(root)[0]
    assert [p.name for p in root.iterdir()] == ["a.csv"] and (root / "a.csv").read_text() == "old"


# -- mixed and stale upstream ------------------------------------------------------------------
def test_downstream_refuses_an_upstream_output_from_another_run(project) -> None:
    config, out = project
    farms = gpd.read_parquet(out / "stages" / "farms.parquet")
    farms.iloc[1:].to_parquet(out / "stages" / "farms.parquet")  # as if from another run
    res = cli("deposition", "-c", str(config))
    assert res.returncode == 2
    msg = error_line(res)
    assert "farms.parquet" in msg and "another run" in msg and "n2kzones overlay" in msg and "--rebuild-upstream" in msg


@pytest.mark.slow
def test_downstream_refuses_upstream_older_than_its_input_and_rebuilds_on_request(complete: Path, tmp_path: Path) -> None:
    inputs = copy_inputs(complete / "input", tmp_path / "input")
    out = tmp_path / "out"
    config = write_config(tmp_path / "config.toml", inputs, out)
    assert cli("-q", "run", "-c", str(config), "--until", "select").returncode == 0
    farms_in = inputs / "veehouderijen.gpkg"
    farms = gpd.read_file(farms_in)
    farms.loc[farms.index[0], "emission_kg_nh3"] = float(farms["emission_kg_nh3"].iloc[0]) + 1000.0
    farms.to_file(farms_in, driver="GPKG")  # the user edits an input after the run
    before = snapshot(out)
    res = cli("rko", "-c", str(config))
    assert res.returncode == 2
    msg = error_line(res)
    assert "veehouderijen.gpkg" in msg and "input changed after the overlay stage ran" in msg
    assert "n2kzones overlay" in msg
    assert snapshot(out) == before  # refused before anything was written
    res = cli("-q", "rko", "-c", str(config), "--rebuild-upstream")
    assert res.returncode == 0, res.stderr
    cfg = load_config(config)
    for stage in ("zones", "overlay", "deposition", "rko"):
        assert stage_problems(cfg, stage) == []
    # a stage after overlay that did not rerun is now stale, and says why
    assert any("earlier run of the" in str(p) for p in stage_problems(cfg, "select"))


def test_config_change_makes_downstream_refuse(project) -> None:
    config, out = project
    config.write_text(config.read_text().replace("cell_m = 100 ", "cell_m = 250 "))
    res = cli("rko", "-c", str(config))
    assert res.returncode == 2
    msg = error_line(res)
    assert "config changed since the deposition stage ran: deposition" in msg and "n2kzones deposition" in msg


def test_a_missing_upstream_stage_is_named_with_its_command(tmp_path: Path, complete: Path) -> None:
    config = write_config(tmp_path / "config.toml", complete / "input", tmp_path / "out")
    res = cli("maps", "-c", str(config))
    assert res.returncode == 2
    msg = error_line(res)
    assert "the zones stage has not run" in msg and f"n2kzones zones -c {config}" in msg


# -- concurrency --------------------------------------------------------------------------------
def test_second_concurrent_run_fails_at_once_and_the_first_completes(project) -> None:
    config, out = project
    first = subprocess.Popen([CLI, "-q", "run", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / LOCK_NAME).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    second = cli("overlay", "-c", str(config))
    assert first.poll() is None, "the second run did not wait for the first"
    assert second.returncode == 2
    msg = error_line(second)
    assert "is in use by `n2kzones run`" in msg and f"pid {first.pid}" in msg
    assert first.wait(timeout=300) == 0, first.stderr.read()
    first.stderr.close()
    assert problems(config) == {}


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "stage": "x"}))
    with output_lock(root, "y"):
        assert json.loads((root / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (root / LOCK_NAME).exists()


# -- output folder problems -------------------------------------------------------------------
def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True).returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path):
    """A mount point for a small tmpfs (skips where mounting is not allowed: see the injected test)."""
    mnt = tmp_path / "mnt"
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if not _mount_tmpfs(mnt, size):
            pytest.skip("cannot mount a tmpfs here (not root); test_injected_enospc covers this")
        mounted.append(mnt)
        return mnt

    yield mount
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def test_full_file_system_gives_one_line_and_keeps_earlier_outputs(complete: Path, small_fs, tmp_path: Path) -> None:
    used = sum(p.stat().st_size for p in (complete / "out").rglob("*") if p.is_file())
    mnt = small_fs(f"{used // 1024 + 600}k")  # the run fits, a second overlay set does not
    out = mnt / "out"
    shutil.copytree(complete / "out", out)
    config = write_config(tmp_path / "config.toml", complete / "input", out)
    before = snapshot(out)
    res = cli("overlay", "-c", str(config))
    assert res.returncode == 2
    msg = error_line(res)
    assert "No space left on device" in msg and "disk is full" in msg and "Earlier outputs are intact" in msg
    assert snapshot(out) == before and problems(config) == {}


def test_read_only_output_folder_gives_one_line_and_keeps_earlier_outputs(complete: Path, small_fs, tmp_path: Path) -> None:
    used = sum(p.stat().st_size for p in (complete / "out").rglob("*") if p.is_file())
    mnt = small_fs(f"{used // 1024 + 20_000}k")
    shutil.copytree(complete / "out", mnt / "out")
    assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode == 0
    config = write_config(tmp_path / "config.toml", complete / "input", mnt / "out")
    before = snapshot(mnt / "out")
    res = cli("zones", "-c", str(config))
    assert res.returncode == 2
    msg = error_line(res)
    assert "Read-only file system" in msg and "make it writable or set another [project] output_dir" in msg
    assert snapshot(mnt / "out") == before


def test_injected_enospc_while_writing(project, monkeypatch) -> None:
    """Where no small file system can be mounted: the same failure, injected into a writer."""
    from typer.testing import CliRunner

    from n2kzones.cli import app

    config, out = project
    before = snapshot(out)

    def full(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / ".staging-x" / "area_summary.csv"))

    monkeypatch.setattr("n2kzones.stages.framework.write_csv", full)
    res = CliRunner().invoke(app, ["overlay", "-c", str(config)])
    assert res.exit_code == 2
    assert "disk is full" in res.output and "Traceback" not in res.output
    assert snapshot(out) == before and not list(out.glob(f"{STAGING_PREFIX}*"))


def test_output_folder_holding_an_input_is_refused_before_writing(complete: Path, tmp_path: Path) -> None:
    inputs = copy_inputs(complete / "input", tmp_path / "data")
    config = write_config(tmp_path / "config.toml", inputs, inputs)  # outputs into the input folder
    before = snapshot(inputs)
    for stage in ("zones", "run"):
        res = cli(stage, "-c", str(config))
        assert res.returncode == 2
        assert "contains the input inputs.areas" in error_line(res)
    assert snapshot(inputs) == before


def test_background_that_does_not_cover_the_habitat_is_one_clear_error(project, tmp_path: Path) -> None:
    import rasterio
    from rasterio.windows import Window

    config, out = project
    cfg = load_config(config)
    src_path = cfg.resolve(cfg.inputs.background_deposition.path)
    cropped = tmp_path / "background_cropped.tif"
    with rasterio.open(src_path) as src:
        win = Window(0, 0, src.width // 3, src.height // 3)
        profile = {**src.profile, "width": win.width, "height": win.height, "transform": src.window_transform(win)}
        with rasterio.open(cropped, "w", **profile) as dst:
            dst.write(src.read(window=win))
    config.write_text(config.read_text().replace(str(src_path), str(cropped)))
    res = cli("deposition", "-c", str(config))
    assert res.returncode == 2
    msg = error_line(res)
    assert "does not cover" in msg and "receptors" in msg and "extend it" in msg


def test_traceback_only_with_vv(project) -> None:
    config, out = project
    shutil.rmtree(out)
    res = cli("maps", "-c", str(config))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = cli("-vv", "maps", "-c", str(config))
    assert res.returncode != 0 and "Traceback" in res.stderr and "UpstreamError" in res.stderr


def test_library_errors_are_n2k_errors_with_builtin_parents(project) -> None:
    from n2kzones.stages.maps import run_maps

    config, out = project
    shutil.rmtree(out)
    with pytest.raises(UpstreamError):
        run_maps(load_config(config))
    assert issubclass(OutputError, OSError) and issubclass(UpstreamError, RuntimeError)


def test_old_engine_names_are_accepted_with_a_deprecation_warning() -> None:
    from n2kzones.config import config_from_dict

    data = {"inputs": {"areas": {"path": "a.gpkg"}}, "deposition": {"engine": "numpy"}, "compute": {"engine": "local"}}
    with pytest.warns(DeprecationWarning, match="engine is deprecated"):
        cfg = config_from_dict(data)
    assert cfg.deposition.implementation == "numpy" and cfg.compute.backend == "local"
    with pytest.raises(ValueError, match="sets both"):
        config_from_dict({"inputs": data["inputs"], "deposition": {"engine": "numpy", "implementation": "numba"}})


# -- make follows the config ---------------------------------------------------------------------
def _make(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(REPO), f"CONFIG={config}", *args], capture_output=True, text=True, timeout=900)


def _stages_make_runs(res: subprocess.CompletedProcess) -> list[str]:
    return [ln.split("n2kzones ", 1)[1].split()[0] for ln in res.stdout.splitlines() if "/n2kzones " in ln and "--config" in ln]


@pytest.mark.slow
def test_make_reruns_exactly_the_stages_that_read_a_touched_input(project, complete: Path) -> None:
    stamp = REPO / ".venv" / ".installed-stamp"
    if shutil.which("make") is None or not stamp.exists():
        pytest.skip("needs make and the project's .venv (make test creates both)")
    if stamp.stat().st_mtime < (REPO / "pyproject.toml").stat().st_mtime:
        pytest.skip("the .venv is older than pyproject.toml: make would reinstall it first")
    config, out = project
    then = min(p.stat().st_mtime for p in out.glob("manifest_*.json")) - 60
    os.utime(config, (then, then))  # the config was written before the run
    assert _make(config, "-q", "report").returncode == 0, "a complete run is up to date"
    habitats = complete / "input" / "habitats.gpkg"
    os.utime(habitats)  # touched: newer than the deposition stage's target
    dry = _make(config, "-n", "report")
    assert _stages_make_runs(dry) == ["deposition", "rko", "select", "scenario", "policy", "maps", "report"], dry.stdout
    res = _make(config, "report")
    assert res.returncode == 0, res.stderr
    assert _stages_make_runs(res) == ["deposition", "rko", "select", "scenario", "policy", "maps", "report"]
    assert _make(config, "-q", "report").returncode == 0
    farms = complete / "input" / "veehouderijen.gpkg"
    os.utime(farms)
    assert _stages_make_runs(_make(config, "-n", "report")) == ["overlay", "deposition", "rko", "select", "scenario", "policy", "maps", "report"]
    assert problems(config) == {}
    os.utime(farms, (then, then))
    # a config edit reruns the stages whose config keys changed, and those after them
    config.write_text(config.read_text().replace("n_wide = 2 ", "n_wide = 3 "))
    assert _stages_make_runs(_make(config, "-n", "report")) == ["select", "report"]
