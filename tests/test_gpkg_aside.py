"""The GeoPackage written in a forked process: the same file, or no (new) file on an error."""

from __future__ import annotations

import ctypes
import errno
import os
import logging
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import shapely.affinity

from n2kzones.io.gdal_log import gdal_library_path, route_gdal_messages
from n2kzones.io.writers import write_geopackage, write_geopackage_aside


def _frames() -> dict[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(5)
    pts = shapely.points(rng.uniform(0, 1000, 500), rng.uniform(0, 1000, 500))
    polys = gpd.GeoDataFrame({"k": np.arange(500), "name": [f"p{i}" for i in range(500)]},
                             geometry=shapely.buffer(pts, 5.0), crs=28992)
    farms = gpd.GeoDataFrame({"farm_id": np.arange(40), "kg": rng.uniform(0, 9, 40)},
                             geometry=pts[:40], crs=28992)
    return {"polys": polys, "farms": farms}


def _rows(path: Path) -> dict[str, gpd.GeoDataFrame]:
    return {layer: pyogrio.read_dataframe(path, layer=layer) for layer, _ in pyogrio.list_layers(path)}


@pytest.mark.parametrize("fork", [True, False])
def test_aside_writes_the_same_file_while_the_block_runs(tmp_path: Path, fork: bool) -> None:
    frames = _frames()
    write_geopackage(tmp_path / "serial.gpkg", frames)
    with write_geopackage_aside(tmp_path / "aside.gpkg", frames, fork=fork):
        (tmp_path / "table.csv").write_text("written meanwhile\n")
        assert not (tmp_path / "aside.gpkg").exists()  # in place only when both are done
    a, b = _rows(tmp_path / "serial.gpkg"), _rows(tmp_path / "aside.gpkg")
    assert list(a) == list(b) == ["polys", "farms"]
    for layer in a:
        assert a[layer].equals(b[layer]), layer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aside.gpkg", "serial.gpkg", "table.csv"]


def test_an_error_in_the_block_leaves_the_earlier_file_and_is_the_error_raised(tmp_path: Path) -> None:
    frames = _frames()
    (tmp_path / "x.gpkg").write_bytes(b"earlier run")
    with pytest.raises(KeyError, match="while computing"):
        with write_geopackage_aside(tmp_path / "x.gpkg", frames):
            raise KeyError("while computing")
    assert [p.name for p in tmp_path.iterdir()] == ["x.gpkg"]  # no temporary file left
    assert (tmp_path / "x.gpkg").read_bytes() == b"earlier run"


def test_an_error_in_the_child_is_raised_here_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(path: Path, styles: dict) -> None:  # the child inherits this (fork)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("n2kzones.io.writers._write_layer_styles", full)
    with pytest.raises(OSError) as caught:
        with write_geopackage_aside(tmp_path / "x.gpkg", _frames(), styles={"polys": "<qgis/>"}):
            (tmp_path / "table.csv").write_text("written meanwhile\n")
    assert caught.value.errno == errno.ENOSPC  # the child's error, as it raised it
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.mark.skipif(gdal_library_path() is None, reason="GDAL's library is found through /proc (Linux)")
def test_gdal_messages_outside_pyogrio_calls_go_to_the_log(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> None:
    assert route_gdal_messages() and route_gdal_messages()  # installs once
    lib = ctypes.CDLL(str(gdal_library_path()))
    lib.CPLError.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p]
    with caplog.at_level(logging.DEBUG, logger="n2kzones.gdal"):
        # a thread of its own, as GDAL's messages from the GeoPackage writer thread
        t = threading.Thread(target=lambda: lib.CPLError(3, 1, b"sqlite3_exec(COMMIT) failed: disk full"))
        t.start()
        t.join()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "GDAL error 1: sqlite3_exec(COMMIT) failed: disk full")
    ]
    assert "ERROR 1" not in capfd.readouterr().err


def test_a_layer_mixing_polygons_and_multipolygons_is_written_as_pyogrio_writes_it(tmp_path: Path) -> None:
    polys = _frames()["polys"]
    geoms = polys.geometry.to_numpy().copy()
    geoms[::3] = shapely.multipolygons([[g, shapely.affinity.translate(g, 2000)] for g in geoms[::3]])
    mixed = polys.set_geometry(geoms).assign(share=np.linspace(0, 1, len(polys)), flag=polys["k"] % 2 == 0)
    mixed["name"] = mixed["name"].astype("string")
    mixed.loc[5, "name"] = None
    write_geopackage(tmp_path / "ours.gpkg", {"pieces": mixed})
    pyogrio.write_dataframe(mixed, tmp_path / "pyogrio.gpkg", layer="pieces", driver="GPKG", use_arrow=True)
    ours, theirs = _rows(tmp_path / "ours.gpkg")["pieces"], _rows(tmp_path / "pyogrio.gpkg")["pieces"]
    assert ours.equals(theirs)
    assert set(ours.geom_type) == {"MultiPolygon"}
    assert (shapely.to_wkb(ours.geometry.values) == shapely.to_wkb(theirs.geometry.values)).all()
    info = pyogrio.read_info(tmp_path / "ours.gpkg", layer="pieces")
    assert info["geometry_type"] == "MultiPolygon" and info["crs"] == "EPSG:28992"
