"""Known-answer tests of grid tiling (GridSpec.tiles) and the tiled GeoTIFF writer.

The writer must assemble a GeoTIFF/COG from tiles in any order, equal to writing the full
array at once, never leave a partial raster under the final name, and keep its memory of
the order of one tile (checked on a 1.6 GB grid in a subprocess).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.windows
from hypothesis import given, settings
from hypothesis import strategies as st

from n2kzones.errors import InputError, N2kError
from n2kzones.io.grid import GridSpec, Tile
from n2kzones.io.raster import TiledGeoTIFFWriter, _uncovered_cells

NODATA = -9999.0


def _grid(n_rows: int, n_cols: int, cell_m: float = 25.0) -> GridSpec:
    return GridSpec(x_min=120_000.0, y_min=480_000.0, cell_m=cell_m, n_cols=n_cols, n_rows=n_rows)


def _known_array(grid: GridSpec) -> np.ndarray:
    """Distinct values per cell (exact in float32 up to 2**24 cells), with NaN patches."""
    arr = np.arange(grid.n_cells, dtype=np.float64).reshape(grid.shape) / 4.0
    arr[:3, :5] = np.nan
    arr[grid.n_rows // 2, :] = np.nan
    arr[-1, -1] = np.nan
    return arr


def _part(arr: np.ndarray, tile: Tile) -> np.ndarray:
    rows = slice(tile.row0, tile.row0 + tile.grid.n_rows)
    cols = slice(tile.col0, tile.col0 + tile.grid.n_cols)
    return arr[..., rows, cols]


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# -- GridSpec.tiles --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_rows", "n_cols", "tile_cells"),
    [(1, 1, 1), (1, 1, 64), (7, 13, 4), (13, 7, 4), (300, 257, 128), (256, 256, 128), (5, 9, 100)],
)
def test_tiles_cover_every_cell_once_row_major(n_rows: int, n_cols: int, tile_cells: int) -> None:
    grid = _grid(n_rows, n_cols)
    tiles = grid.tiles(tile_cells)
    count = np.zeros(grid.shape, dtype=np.int64)
    for i, t in enumerate(tiles):
        assert isinstance(t, Tile)
        assert t.index == i
        _part(count, t)[...] += 1
        # full-size tiles except in the last tile column/row
        assert t.grid.n_rows == min(tile_cells, n_rows - t.row0)
        assert t.grid.n_cols == min(tile_cells, n_cols - t.col0)
        assert t.shape == t.grid.shape
        assert t.row0 % tile_cells == 0 and t.col0 % tile_cells == 0
    assert (count == 1).all()
    assert [(t.row0, t.col0) for t in tiles] == sorted((t.row0, t.col0) for t in tiles)
    assert len(tiles) == -(-n_rows // tile_cells) * -(-n_cols // tile_cells)


@pytest.mark.parametrize("cell_m", [25.0, 10.0, 2.5, 1000.0])
def test_tile_grids_align_with_parent(cell_m: float) -> None:
    x0, y0 = 155_013.0, 463_007.0
    grid = GridSpec.from_bounds((x0, y0, x0 + 37 * cell_m, y0 + 29 * cell_m), cell_m)
    px, py = grid.cell_centres()
    for t in grid.tiles(8):
        sub = t.grid
        assert sub.cell_m == grid.cell_m
        x, y = sub.cell_centres()  # tile cell (r, c) is parent cell (row0 + r, col0 + c)
        np.testing.assert_allclose(x, px[t.col0 : t.col0 + sub.n_cols], rtol=0, atol=1e-6)
        np.testing.assert_allclose(y, py[t.row0 : t.row0 + sub.n_rows], rtol=0, atol=1e-6)
        assert sub.transform.almost_equals(rasterio.windows.transform(t.window(), grid.transform))
        w = t.window()
        assert (w.col_off, w.row_off, w.width, w.height) == (t.col0, t.row0, sub.n_cols, sub.n_rows)
        # the sub-grid is itself a valid, lattice-aligned GridSpec (passes the validator)
        assert GridSpec(sub.x_min, sub.y_min, sub.cell_m, sub.n_cols, sub.n_rows) == sub


def test_tiles_exact_coordinates() -> None:
    grid = _grid(7, 13)  # x 120000..120325, y 480000..480175
    tiles = grid.tiles(4)
    assert len(tiles) == 8
    last = tiles[-1]
    assert (last.index, last.row0, last.col0) == (7, 4, 12)
    assert last.grid == GridSpec(120_300.0, 480_000.0, 25.0, 1, 3)
    assert tiles[0].grid == GridSpec(120_000.0, 480_075.0, 25.0, 4, 4)
    assert tiles[0].grid.y_max == grid.y_max


@pytest.mark.parametrize("bad", [0, -3, 2.0, "4", True, None])
def test_tiles_rejects_bad_tile_size(bad: object) -> None:
    with pytest.raises(InputError, match="tile_cells"):
        _grid(5, 5).tiles(bad)  # type: ignore[arg-type]


def test_tiles_accepts_numpy_int() -> None:
    assert len(_grid(5, 5).tiles(np.int64(2))) == 9


# -- coverage bookkeeping ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n_rows=st.integers(1, 12),
    n_cols=st.integers(1, 12),
    data=st.data(),
)
def test_uncovered_cells_matches_brute_force(n_rows: int, n_cols: int, data: st.DataObject) -> None:
    windows = []
    for _ in range(data.draw(st.integers(0, 6))):
        r0 = data.draw(st.integers(0, n_rows - 1))
        c0 = data.draw(st.integers(0, n_cols - 1))
        h = data.draw(st.integers(1, n_rows - r0))
        w = data.draw(st.integers(1, n_cols - c0))
        windows.append((r0, c0, h, w))
    mask = np.zeros((n_rows, n_cols), dtype=bool)
    for r0, c0, h, w in windows:
        mask[r0 : r0 + h, c0 : c0 + w] = True
    assert _uncovered_cells(set(windows), n_rows, n_cols) == int((~mask).sum())


# -- TiledGeoTIFFWriter: known answers ---------------------------------------------------


@pytest.mark.parametrize("cog", [False, True])
@pytest.mark.parametrize(
    ("n_rows", "n_cols", "tile_cells"), [(300, 257, 128), (613, 700, 256), (7, 13, 4)]
)
def test_writer_round_trip_shuffled(
    tmp_path: Path, cog: bool, n_rows: int, n_cols: int, tile_cells: int
) -> None:
    grid = _grid(n_rows, n_cols)
    arr = _known_array(grid)
    tiles = grid.tiles(tile_cells)
    random.Random(n_rows * 7 + cog).shuffle(tiles)
    out = tmp_path / "dep.tif"
    with TiledGeoTIFFWriter(out, grid, nodata=NODATA, cog=cog) as w:
        for t in tiles:
            w.write(t, _part(arr, t))
        assert w.missing_cells() == 0

    assert _leftovers(tmp_path, {"dep.tif"}) == []
    expected = arr.astype(np.float32)
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 28992
        assert src.transform == grid.transform
        assert (src.height, src.width, src.count) == grid.shape + (1,)
        assert src.dtypes == ("float32",)
        assert src.nodata == NODATA
        assert src.profile["tiled"] is True
        assert src.block_shapes == [(256, 256)]
        structure = src.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == "DEFLATE"
        assert structure["PREDICTOR"] == "3"
        raw = src.read(1)
        masked = src.read(1, masked=True)
        if cog:
            assert structure.get("LAYOUT") == "COG"
            larger_than_block = max(grid.shape) > 256
            assert bool(src.overviews(1)) == larger_than_block
            if larger_than_block:
                assert src.overviews(1)[0] == 2
        else:
            assert "LAYOUT" not in structure
            assert src.overviews(1) == []
    np.testing.assert_array_equal(masked.mask, np.isnan(expected))
    np.testing.assert_array_equal(raw[~np.isnan(expected)], expected[~np.isnan(expected)])
    assert (raw[np.isnan(expected)] == np.float32(NODATA)).all()


@pytest.mark.parametrize("cog", [False, True])
def test_writer_equals_write_geotiff(tmp_path: Path, cog: bool) -> None:
    grid = _grid(300, 257)
    arr = _known_array(grid)
    ref = grid.write_geotiff(tmp_path / "ref.tif", arr, nodata=NODATA)
    out = tmp_path / "tiled.tif"
    with TiledGeoTIFFWriter(out, grid, nodata=NODATA, cog=cog) as w:
        for t in reversed(grid.tiles(100)):
            w.write(t, _part(arr, t))
    with rasterio.open(ref) as a, rasterio.open(out) as b:
        assert a.crs == b.crs
        assert a.transform == b.transform == grid.transform
        assert (a.nodata, a.dtypes, a.shape) == (b.nodata, b.dtypes, b.shape)
        assert a.profile["compress"] == b.profile["compress"] == "deflate"
        np.testing.assert_array_equal(a.read(), b.read())


def test_writer_multiband_3d_arrays_and_overlapping_tilings(tmp_path: Path) -> None:
    grid = _grid(40, 33)
    arr = np.stack([_known_array(grid), -_known_array(grid)])
    out = tmp_path / "two.tif"
    with TiledGeoTIFFWriter(out, grid, bands=2, nodata=NODATA, cog=False, block=16) as w:
        t16 = grid.tiles(16)
        for t in t16[:3]:  # part of one tiling ...
            w.write(t, np.zeros((2, *t.shape)))  # ... first written wrong, overwritten below
        assert w.missing_cells() == grid.n_cells - 16 * 33
        for t in grid.tiles(10):  # ... then a whole other tiling over it
            w.write(t, _part(arr, t))
    with rasterio.open(out) as src:
        assert src.count == 2
        assert src.block_shapes == [(16, 16), (16, 16)]
        got = src.read(masked=True).filled(np.nan)
    np.testing.assert_array_equal(got, arr.astype(np.float32))


def test_writer_nodata_none_keeps_nan(tmp_path: Path) -> None:
    grid = _grid(9, 9)
    arr = _known_array(grid)
    out = tmp_path / "nan.tif"
    with TiledGeoTIFFWriter(out, grid, nodata=None, cog=True) as w:
        for t in grid.tiles(4):
            w.write(t, _part(arr, t))
    with rasterio.open(out) as src:
        assert src.nodata is None
        np.testing.assert_array_equal(src.read(1), arr.astype(np.float32))


def test_writer_does_not_modify_callers_array(tmp_path: Path) -> None:
    grid = _grid(8, 8)
    arr = _known_array(grid).astype(np.float32)
    before = arr.copy()
    with TiledGeoTIFFWriter(tmp_path / "x.tif", grid, cog=False) as w:
        w.write(grid.tiles(8)[0], arr)
    np.testing.assert_array_equal(arr, before)


def test_writer_one_cell_cog(tmp_path: Path) -> None:
    grid = _grid(1, 1)
    out = tmp_path / "one.tif"
    with TiledGeoTIFFWriter(out, grid) as w:
        (t,) = grid.tiles(1)
        w.write(t, np.array([[3.25]]))
    with rasterio.open(out) as src:
        assert src.read(1).tolist() == [[3.25]]
        assert src.overviews(1) == []
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"


# -- TiledGeoTIFFWriter: failures leave nothing behind -----------------------------------


@pytest.mark.parametrize("cog", [False, True])
def test_missing_tile_raises_and_writes_nothing(tmp_path: Path, cog: bool) -> None:
    grid = _grid(30, 20)
    out = tmp_path / "sub" / "dep.tif"
    tiles = grid.tiles(8)
    with pytest.raises(InputError, match=r"64 of 600 cells were never written"):
        with TiledGeoTIFFWriter(out, grid, cog=cog) as w:
            for t in tiles:
                if t.index != 1:  # an 8 x 8 tile
                    w.write(t, np.ones(t.shape))
    assert not out.exists()
    assert _leftovers(out.parent, set()) == []


def test_missing_tile_error_is_n2k_error(tmp_path: Path) -> None:
    grid = _grid(4, 4)
    with pytest.raises(N2kError):
        with TiledGeoTIFFWriter(tmp_path / "none.tif", grid):
            pass
    assert _leftovers(tmp_path, set()) == []


@pytest.mark.parametrize("cog", [False, True])
@pytest.mark.parametrize("failure", ["exception", "missing"])
def test_failed_write_keeps_existing_file(tmp_path: Path, cog: bool, failure: str) -> None:
    grid = _grid(300, 257)
    out = grid.write_geotiff(tmp_path / "dep.tif", np.full(grid.shape, 7.0), nodata=NODATA)
    before = out.read_bytes()
    tiles = grid.tiles(128)

    class Boom(RuntimeError):
        pass

    expected = Boom if failure == "exception" else InputError
    with pytest.raises(expected):
        with TiledGeoTIFFWriter(out, grid, cog=cog) as w:
            for t in tiles[:-1]:
                w.write(t, np.zeros(t.shape))
            if failure == "exception":
                w.write(tiles[-1], np.zeros(tiles[-1].shape))
                raise Boom("computation of a tile failed")
    assert out.read_bytes() == before
    assert _leftovers(tmp_path, {"dep.tif"}) == []


def test_successful_write_replaces_existing_file(tmp_path: Path) -> None:
    grid = _grid(20, 20)
    out = grid.write_geotiff(tmp_path / "dep.tif", np.full(grid.shape, 7.0))
    with TiledGeoTIFFWriter(out, grid, cog=True) as w:
        for t in grid.tiles(8):
            w.write(t, np.full(t.shape, 2.0))
    with rasterio.open(out) as src:
        assert (src.read(1) == 2.0).all()
    assert _leftovers(tmp_path, {"dep.tif"}) == []


def test_write_rejects_foreign_tiles_and_bad_shapes(tmp_path: Path) -> None:
    grid = _grid(20, 20)
    tile = grid.tiles(8)[0]
    other_origin = GridSpec(grid.x_min + 25.0, grid.y_min, 25.0, 20, 20).tiles(8)[0]
    other_cell = GridSpec(grid.x_min, grid.y_min, 10.0, 50, 50).tiles(8)[0]
    too_big = _grid(30, 30).tiles(8)[-1]  # rows/cols 24..29 lie outside a 20 x 20 grid
    with pytest.raises(InputError, match="never written"):
        with TiledGeoTIFFWriter(tmp_path / "x.tif", grid, cog=False) as w:
            for bad in (other_origin, other_cell, too_big):
                with pytest.raises(InputError, match="is not a tile of the grid"):
                    w.write(bad, np.zeros(bad.shape))
            with pytest.raises(InputError, match="does not match the tile"):
                w.write(tile, np.zeros((8, 9)))
            with pytest.raises(InputError, match="does not match the tile"):
                w.write(tile, np.zeros((2, 8, 8)))  # one band only
            with pytest.raises(InputError, match="must be a Tile"):
                w.write(rasterio.windows.Window(0, 0, 8, 8), np.zeros((8, 8)))  # type: ignore[arg-type]
    assert _leftovers(tmp_path, set()) == []


def test_write_outside_with_block_and_reuse(tmp_path: Path) -> None:
    grid = _grid(4, 4)
    (t,) = grid.tiles(4)
    w = TiledGeoTIFFWriter(tmp_path / "x.tif", grid, cog=False)
    with pytest.raises(InputError, match="outside its with-block"):
        w.write(t, np.zeros(t.shape))
    with w:
        w.write(t, np.zeros(t.shape))
    with pytest.raises(InputError, match="outside its with-block"):
        w.write(t, np.zeros(t.shape))
    with pytest.raises(InputError, match="entered once"):
        with w:
            pass


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bands": 0},
        {"block": 100},
        {"block": 0},
        {"nodata": "x"},
        {"cache_mib": 0},
        {"num_threads": 0},
    ],
)
def test_writer_rejects_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(InputError):
        TiledGeoTIFFWriter(tmp_path / "x.tif", _grid(4, 4), **kwargs)


def test_writer_num_threads(tmp_path: Path) -> None:
    grid = _grid(300, 257)
    arr = _known_array(grid)
    out = tmp_path / "mt.tif"
    with TiledGeoTIFFWriter(out, grid, num_threads="ALL_CPUS") as w:
        for t in grid.tiles(256):
            w.write(t, _part(arr, t))
    with rasterio.open(out) as src:
        got = src.read(1, masked=True).filled(np.nan)
    np.testing.assert_array_equal(got, arr.astype(np.float32))


# -- bounded memory ------------------------------------------------------------------------

_BIG_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np
    from n2kzones.io.grid import GridSpec
    from n2kzones.io.raster import TiledGeoTIFFWriter

    n_cells, tile_cells, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    grid = GridSpec(0.0, 300_000.0, 25.0, n_cells, n_cells)
    tiles = grid.tiles(tile_cells)
    block = np.full((tile_cells, tile_cells), 12.5, dtype=np.float32)
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with TiledGeoTIFFWriter(out, grid, cog=False) as w:
        for t in tiles:
            w.write(t, block[: t.grid.n_rows, : t.grid.n_cols])
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_mib": (peak_kib - base_kib) / 1024, "seconds": seconds}))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("tile_cells", [1024, 1000], ids=["block-aligned", "unaligned"])
def test_writer_memory_stays_bounded(tmp_path: Path, tile_cells: int) -> None:
    """20000 x 20000 float32 = 1.6 GB; the process may grow by far less than that.

    Unaligned tiles leave partial blocks in GDAL's block cache: without the writer's cache
    limit the cache (5 % of RAM by default) would grow by over 1 GB here.
    """
    n_cells = 20_000
    out = tmp_path / "big.tif"
    proc = subprocess.run(
        [sys.executable, "-c", _BIG_SCRIPT, str(n_cells), str(tile_cells), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    grid_mib = n_cells * n_cells * 4 / 2**20
    assert result["growth_mib"] < 300 < grid_mib / 5, result
    with rasterio.open(out) as src:
        assert src.shape == (n_cells, n_cells)
        for window in (
            rasterio.windows.Window(0, 0, 5, 5),
            rasterio.windows.Window(19_990, 19_997, 10, 3),
        ):
            assert (src.read(1, window=window) == 12.5).all()
    assert _leftovers(tmp_path, {"big.tif"}) == []
