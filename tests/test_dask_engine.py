"""The Dask engine against the local engine on the sample region, on a 2-worker LocalCluster.

Both engines must give the same outputs: every table byte for byte, the rasters cell for
cell (the issue allows 1e-9; they are identical because both compute the grid in the same
tiles and the Dask chunks use the whole run's kernel lookup table). A worker killed in the
middle of a run must be replaced and its task rerun, or, when it keeps dying, the run must
fail with a clear error and leave the earlier outputs as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import cloudpickle
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from distributed import Client, LocalCluster, WorkerPlugin

from n2kzones.compute import open_backend
from n2kzones.config import Config
from n2kzones.errors import ComputeError
from n2kzones.stages.catalogue import output_path
from n2kzones.stages.deposition import run_deposition
from n2kzones.stages.overlay import run_overlay
from n2kzones.stages.rko import run_rko
from n2kzones.stages.zones import run_zones

# The worker plugin below is defined here, so ship it to the workers by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

TABLES = (
    "area_summary.csv",
    "farm_summary.csv",
    "area_deposition.csv",
    "rko_sweep.csv",
    "rko_by_area.csv",
)
RASTERS = ("deposition_farms.tif", "deposition_total.tif", "exceedance.tif")
SMALL = {"partition_rows": 4000, "tile_cells": 128, "chunk_points": 2500}  # several tasks each


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes with one thread each, as in CI; a task may lose its worker once."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as lc:
            with Client(lc) as client:
                yield lc, client


def _config(sample_config: Config, out: Path, **compute: object) -> Config:
    project = sample_config.project.model_copy(update={"output_dir": out})
    return sample_config.model_copy(update={"project": project}).with_compute(
        **{**SMALL, **compute}
    )


def _run_all(cfg: Config) -> None:
    run_zones(cfg)
    with open_backend(cfg.compute) as backend:
        run_overlay(cfg, backend=backend)
        run_deposition(cfg, backend=backend)
        run_rko(cfg, backend=backend)


@pytest.fixture(scope="module")
def local_and_dask(
    sample_config: Config, cluster, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    lc, _ = cluster
    local = _config(sample_config, tmp_path_factory.mktemp("local"), backend="local")
    dasked = _config(
        sample_config,
        tmp_path_factory.mktemp("dask"),
        backend="dask",
        scheduler=lc.scheduler_address,
    )
    _run_all(local)
    _run_all(dasked)
    return local.output_dir, dasked.output_dir


@pytest.mark.parametrize("name", TABLES)
def test_tables_identical(local_and_dask, name: str) -> None:
    local, dasked = local_and_dask
    a, b = (local / name).read_bytes(), (dasked / name).read_bytes()
    assert len(a.splitlines()) > 1
    assert a == b


@pytest.mark.parametrize("name", RASTERS)
def test_rasters_identical(local_and_dask, name: str) -> None:
    local, dasked = local_and_dask
    with rasterio.open(local / name) as a, rasterio.open(dasked / name) as b:
        assert a.transform == b.transform and a.crs == b.crs and a.shape == b.shape
        x, y = a.read(1), b.read(1)
    assert (x != a.nodata).sum() > 0
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-9)
    assert np.array_equal(x, y)


def test_parcel_pieces_and_farms_identical(local_and_dask) -> None:
    local, dasked = local_and_dask
    pl = gpd.read_parquet(output_path(local, "parcel_pieces"))
    pd_ = gpd.read_parquet(output_path(dasked, "parcel_pieces"))
    assert output_path(dasked, "parcel_pieces").is_dir()  # written per partition
    assert len(list(output_path(dasked, "parcel_pieces").glob("part-*.parquet"))) > 3
    pd.testing.assert_frame_equal(pl.drop(columns="geometry"), pd_.drop(columns="geometry"))
    assert (pl.geometry.to_wkb() == pd_.geometry.to_wkb()).all()
    fl, fd = gpd.read_parquet(output_path(local, "farms")), gpd.read_parquet(output_path(dasked, "farms"))
    pd.testing.assert_frame_equal(fl, fd)
    rl = gpd.read_parquet(local / "stages" / "receptors.parquet")
    rd = gpd.read_parquet(dasked / "stages" / "receptors.parquet")
    pd.testing.assert_frame_equal(rl, rd)


def test_geopackage_layers_hold_the_same_pieces(local_and_dask) -> None:
    import pyogrio

    local, dasked = local_and_dask
    a = pyogrio.read_info(output_path(local, "overlay_gpkg"), layer="parcel_pieces")["features"]
    b = pyogrio.read_info(output_path(dasked, "overlay_gpkg"), layer="parcel_pieces")["features"]
    assert a == b > 0


def test_manifest_records_every_parcel_and_the_engine(local_and_dask) -> None:
    local, dasked = local_and_dask
    ml = json.loads((local / "manifest_overlay.json").read_text())
    md = json.loads((dasked / "manifest_overlay.json").read_text())
    assert md["engine"] == "dask" and ml["engine"] == "local"
    for key in ("n_read", "n_kept", "repaired_invalid", "dropped"):
        assert md["inputs"]["parcels"][key] == ml["inputs"]["parcels"][key]
    assert md["inputs"]["parcels"]["n_read"] > 20_000


# -- a worker killed mid-run ---------------------------------------------------------------
def test_class_aware_model_on_dask_equals_local_bitwise(sample_config, cluster, tmp_path) -> None:
    """The class-aware OPS model (issue 13): receptors, grids and RKO maxima on the cluster
    are bitwise the local ones."""
    lc, _ = cluster
    classes = sample_config.model_copy(
        update={"deposition": sample_config.deposition.model_copy(update={"kernel": "ops_classes"})}
    )
    local = _config(classes, tmp_path / "local", backend="local")
    dasked = _config(classes, tmp_path / "dask", backend="dask", scheduler=lc.scheduler_address)
    _run_all(local)
    _run_all(dasked)
    a, b = local.output_dir, dasked.output_dir
    rl = gpd.read_parquet(a / "stages" / "receptors.parquet")
    assert rl["landuse"].nunique() > 1
    pd.testing.assert_frame_equal(rl, gpd.read_parquet(b / "stages" / "receptors.parquet"))
    for name in ("rko_sweep.csv", "rko_by_area.csv", "area_deposition.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    for name in RASTERS:
        with rasterio.open(a / name) as x, rasterio.open(b / name) as y:
            assert np.array_equal(x.read(1), y.read(1))


class KillWorkerOnTask(WorkerPlugin):
    """Kills (SIGKILL) the worker process when it starts a task whose key has ``prefix``,
    ``times`` times in all (counted with marker files, since the worker dies with its memory)."""

    name = "n2kzones-test-kill"

    def __init__(self, prefix: str, marker_dir: str, times: int) -> None:
        self.prefix, self.marker_dir, self.times = prefix, marker_dir, times

    def transition(self, key, start, finish, **kwargs) -> None:  # noqa: ANN001
        if finish != "executing" or not str(key).startswith(self.prefix):
            return
        done = len(list(Path(self.marker_dir).glob("kill-*")))
        if done < self.times:
            Path(self.marker_dir, f"kill-{done}-{os.getpid()}").touch()
            os.kill(os.getpid(), signal.SIGKILL)


def _checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def kill(tmp_path: Path):
    """A 2-worker cluster of the test's own and a way to kill its workers on chosen tasks.

    Each kill test gets a fresh cluster, closed at the end without waiting for killed workers
    to come back: a worker restarting on a loaded machine (the nanny re-imports NumPy, GeoPandas
    and Numba) may take minutes, and the tests that share the module's cluster must never see
    a cluster with a worker missing.
    """
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as lc, Client(lc) as client:
            registered: list[str] = []

            def register(prefix: str, times: int) -> Path:
                """Kill on tasks with ``prefix`` (replacing an earlier kill); its own markers."""
                markers = Path(tempfile.mkdtemp(prefix="kills-", dir=tmp_path))
                if registered:
                    client.unregister_worker_plugin(KillWorkerOnTask.name)
                client.register_plugin(KillWorkerOnTask(prefix, str(markers), times))
                registered.append(prefix)
                return markers

            yield lc, register


def test_killed_worker_is_replaced_and_the_task_rerun(
    sample_config, kill, local_and_dask, tmp_path
) -> None:
    lc, kill = kill
    cfg = _config(sample_config, tmp_path / "out", backend="dask", scheduler=lc.scheduler_address)
    run_zones(cfg)
    markers = kill("n2kzones-overlay-2", times=1)
    run_overlay(cfg)
    assert len(list(markers.glob("kill-*"))) == 1  # the worker did die once
    local, _ = local_and_dask
    for name in ("area_summary.csv", "farm_summary.csv"):
        assert (cfg.output_dir / name).read_bytes() == (local / name).read_bytes()


def test_killed_worker_during_grid_tiles_and_rko_maxima_is_rerun(
    sample_config, kill, local_and_dask, tmp_path
) -> None:
    lc, kill = kill
    cfg = _config(sample_config, tmp_path / "out", backend="dask", scheduler=lc.scheduler_address)
    run_zones(cfg)
    run_overlay(cfg)
    markers = kill("n2kzones-grid-tile-3", times=1)
    run_deposition(cfg)
    assert len(list(markers.glob("kill-*"))) == 1
    markers = kill("n2kzones-rko-maxima-0", times=1)
    run_rko(cfg)
    assert len(list(markers.glob("kill-*"))) == 1
    local, _ = local_and_dask
    for name in ("area_deposition.csv", "rko_sweep.csv", "rko_by_area.csv"):
        assert (cfg.output_dir / name).read_bytes() == (local / name).read_bytes()
    for name in RASTERS:
        with rasterio.open(local / name) as a, rasterio.open(cfg.output_dir / name) as b:
            assert np.array_equal(a.read(1), b.read(1))


def test_worker_dying_every_time_fails_cleanly_and_keeps_earlier_outputs(
    sample_config, kill, tmp_path
) -> None:
    lc, kill = kill
    cfg = _config(sample_config, tmp_path / "out", backend="dask", scheduler=lc.scheduler_address)
    run_zones(cfg)
    run_overlay(cfg)  # an earlier, complete run
    before = _checksums(cfg.output_dir)
    kill("n2kzones-overlay-1", times=100)
    with pytest.raises(ComputeError, match="died repeatedly"):
        run_overlay(cfg)
    assert _checksums(cfg.output_dir) == before
    leftovers = [p for p in cfg.output_dir.rglob(".*") if "tmp" in p.name or "old" in p.name]
    assert leftovers == []


def test_cli_scheduler_option_runs_the_stage_on_that_cluster(
    sample_config, cluster, local_and_dask, tmp_path
) -> None:
    from typer.testing import CliRunner

    from n2kzones.cli import app

    lc, _ = cluster
    local, dasked = local_and_dask
    text = Path(sample_config.source_path).read_text()
    config = tmp_path / "dask.toml"
    config.write_text(
        text.replace(
            f'output_dir = "{sample_config.project.output_dir}"', f'output_dir = "{dasked}"'
        )
    )
    (dasked / "rko_sweep.csv").unlink()
    result = CliRunner().invoke(
        app, ["-q", "rko", "-c", str(config), "--scheduler", lc.scheduler_address]
    )
    assert result.exit_code == 0, result.output
    assert (dasked / "rko_sweep.csv").read_bytes() == (local / "rko_sweep.csv").read_bytes()
    assert json.loads((dasked / "manifest_rko.json").read_text())["engine"] == "dask"


def test_cli_refuses_an_unknown_engine(sample_config) -> None:
    from typer.testing import CliRunner

    from n2kzones.cli import app

    result = CliRunner().invoke(
        app, ["overlay", "-c", str(sample_config.source_path), "--engine", "spark"]
    )
    assert result.exit_code == 2
    assert "'local' or 'dask'" in result.output


# -- ids repeated across partitions ---------------------------------------------------------
@pytest.fixture(scope="module")
def parcels_with_repeats(
    sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """3,000 sample parcels as a 3-file GeoParquet dataset with an explicit parcel_id, and
    variants whose ids repeat across files: an exact copy of a row, and a differing row."""
    raw = gpd.read_file(sample_dir / "brp_gewaspercelen.gpkg", layer="brp_gewas", max_features=3000)
    raw = raw.sample(frac=1.0, random_state=1).reset_index(drop=True)  # files overlap in space
    raw["parcel_id"] = np.arange(1, len(raw) + 1) * 10
    root = tmp_path_factory.mktemp("repeats")

    def dataset(name: str, frame: gpd.GeoDataFrame) -> Path:
        folder = root / name
        folder.mkdir()
        for k, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
            frame.iloc[part].to_parquet(folder / f"part-{k}.parquet", index=False)
        return folder

    copy = pd.concat(
        [raw, raw.iloc[[5, 17]]], ignore_index=True
    )  # exact copies land in the last file
    differ = copy.copy()
    differ.loc[len(differ) - 1, "gewas"] = "Mais, snij-"
    return {"copy": dataset("copy", copy), "differ": dataset("differ", differ)}


def _overlay_with(
    sample_config: Config, out: Path, parcels: Path, policy: str, **compute: object
) -> Config:
    from n2kzones.config import LayerInput

    inputs = sample_config.inputs.model_copy(
        update={"parcels": LayerInput(path=parcels, preset="brp_pdok", on_duplicate_id=policy)}
    )
    cfg = _config(sample_config, out, **compute).model_copy(update={"inputs": inputs})
    run_zones(cfg)
    run_overlay(cfg)
    return cfg


def test_repeated_rows_kept_under_new_ids_are_refused_as_overlaps(sample_config, parcels_with_repeats, tmp_path) -> None:
    """Issue 14: rows kept under suffixed ids ("60-2") are the same land twice: refused."""
    from n2kzones.errors import InputError

    with pytest.raises(InputError, match=r"must not overlap itself.*'60' and '60-2'.*on_overlap"):
        _overlay_with(sample_config, tmp_path / "local", parcels_with_repeats["differ"], "suffix", backend="local")


@pytest.mark.parametrize(("variant", "policy"), [("copy", "drop_identical")])
def test_ids_repeated_across_partitions_resolved_as_in_memory(
    sample_config, cluster, parcels_with_repeats, tmp_path, variant, policy
) -> None:
    lc, _ = cluster
    path = parcels_with_repeats[variant]
    local = _overlay_with(sample_config, tmp_path / "local", path, policy, backend="local")
    dasked = _overlay_with(
        sample_config,
        tmp_path / "dask",
        path,
        policy,
        backend="dask",
        scheduler=lc.scheduler_address,
        partition_rows=1000,
    )
    pl, pd_ = (gpd.read_parquet(output_path(c.output_dir, "parcel_pieces")) for c in (local, dasked))
    # these partitions overlap in space, so the Dask engine reorders them along a Hilbert curve
    assert pl["input_row"].is_monotonic_increasing and not pd_["input_row"].is_monotonic_increasing
    pl, pd_ = (p.sort_values(["input_row", "zone_key"]).reset_index(drop=True) for p in (pl, pd_))
    pd.testing.assert_frame_equal(pl, pd_)
    assert (
        output_path(local.output_dir, "area_summary").read_bytes()
        == output_path(dasked.output_dir, "area_summary").read_bytes()
    )
    ml = json.loads((local.output_dir / "manifest_overlay.json").read_text())["inputs"]["parcels"]
    md = json.loads((dasked.output_dir / "manifest_overlay.json").read_text())["inputs"]["parcels"]
    assert (
        (md["n_read"], md["n_kept"], md["dropped"])
        == (ml["n_read"], ml["n_kept"], ml["dropped"])
        == ((3002, 3000, {"exact duplicate row": 2}) if variant == "copy" else (3002, 3002, {}))
    )
    if variant == "differ":
        assert {"60-2", "180-2"} <= set(pd_["parcel_id"].astype(str))


def test_ids_repeated_across_partitions_refused_when_rows_differ(
    sample_config, cluster, parcels_with_repeats, tmp_path
) -> None:
    from n2kzones.errors import InputError

    lc, _ = cluster
    with pytest.raises(InputError, match="ids are used by rows that differ"):
        _overlay_with(
            sample_config,
            tmp_path / "dask",
            parcels_with_repeats["differ"],
            "drop_identical",
            backend="dask",
            scheduler=lc.scheduler_address,
            partition_rows=1000,
        )


def test_pieces_can_stay_out_of_the_geopackage(sample_config, tmp_path) -> None:
    import pyogrio

    cfg = _config(sample_config, tmp_path / "out", backend="local", pieces_in_geopackage=False)
    run_zones(cfg)
    run_overlay(cfg)
    layers = set(pyogrio.list_layers(output_path(cfg.output_dir, "overlay_gpkg"))[:, 0])
    assert layers == {"areas", "zones", "zones_by_area", "farms", "layer_styles"}
    assert len(gpd.read_parquet(output_path(cfg.output_dir, "parcel_pieces"))) > 24_000
