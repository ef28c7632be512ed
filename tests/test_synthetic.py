"""The synthetic EU-scale generator: counts, valid coverage, compact partitions, GeoParquet
metadata as geopandas writes it, determinism, a loadable config, atomic completion, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely

from n2kzones.config import LayerInput, load_config
from n2kzones.datasets.synthetic import (
    CATEGORIES,
    DEPOSITION_RANGE_MOL_HA,
    _PartitionWriter,
    generate_synthetic,
    gilbert_order,
)
from n2kzones.errors import InputError
from n2kzones.io.readers import read_layer
from n2kzones.params import load_parameters

N = 20_000


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text("utf-8"))


def _parcels(out: Path) -> gpd.GeoDataFrame:
    """All parcel partitions (read as one data set, files in name order)."""
    return gpd.read_parquet(out / "parcels")


def _farms(out: Path) -> gpd.GeoDataFrame:
    return gpd.read_parquet(out / "farms")


def _file_bounds(path: Path) -> np.ndarray:
    """Total bounds of a GeoParquet file's geometries (straight from the WKB)."""
    wkb = pq.read_table(path, columns=["geometry"]).column("geometry").to_numpy()
    return shapely.total_bounds(shapely.from_wkb(wkb))


def _plain(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """The frame with its geometry as WKB bytes (exact, fast comparison)."""
    return pd.DataFrame(frame).assign(geometry=shapely.to_wkb(frame.geometry.values))


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20k parcels in 20 km tiles: one full tile (split over 4 files) and a partial one."""
    out = tmp_path_factory.mktemp("synth") / "set"
    generate_synthetic(out, n_parcels=N, partition_rows=5_000)
    return out


@pytest.fixture(scope="module")
def frames(synth: Path) -> dict[str, gpd.GeoDataFrame]:
    """The parcels and farms of ``synth``, read once."""
    return {"parcels": _parcels(synth), "farms": _farms(synth)}


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20k parcels in 2.5 km tiles (250 each), 8 whole tiles per partition."""
    out = tmp_path_factory.mktemp("tiled") / "set"
    generate_synthetic(out, n_parcels=N, partition_rows=2_000, tile_size_m=2_500.0)
    return out


def test_counts_ids_and_validity(synth: Path, frames: dict[str, gpd.GeoDataFrame]) -> None:
    m = _manifest(synth)
    parcels = frames["parcels"]
    assert len(parcels) == m["n_parcels"] == N == sum(f["rows"] for f in m["parcels"])
    assert m["n_partitions"] == len(m["parcels"]) == len(m["farms"]) == 5
    assert [f["rows"] for f in m["parcels"]] == [4_000] * 5
    assert parcels["parcel_id"].dtype == np.int64
    assert parcels["parcel_id"].is_unique
    assert parcels["parcel_id"].tolist() == list(range(1, N + 1))
    geoms = parcels.geometry.values
    assert shapely.is_valid(geoms).all()
    assert not shapely.is_empty(geoms).any()
    assert set(shapely.get_type_id(geoms)) == {3}  # Polygon
    assert set(parcels["category"]) <= set(CATEGORIES)
    share = parcels["category"].value_counts(normalize=True)
    assert 0.45 < share["Grasland"] < 0.65 and 0.25 < share["Bouwland"] < 0.45
    for f in m["parcels"]:  # manifest bbox = the file's geometries
        assert f["bbox"] == pytest.approx(list(_file_bounds(synth / f["path"])))
    assert m["n_farms"] == sum(f["rows"] for f in m["farms"]) == len(frames["farms"])
    assert 0.06 < m["n_farms"] / N < 0.11  # about one farm per 12 parcels


def test_tile_is_covered_without_overlap(synth: Path, frames: dict[str, gpd.GeoDataFrame]) -> None:
    m = _manifest(synth)
    grid = m["tile_grid"]
    size, per_tile = grid["tile_size_m"], grid["parcels_per_tile"]
    geoms = frames["parcels"].geometry.values
    tile = geoms[:per_tile]  # tile 0: the first parcel ids
    union = shapely.union_all(tile)
    assert shapely.area(tile).sum() == pytest.approx(union.area, rel=1e-6)  # no overlaps
    assert union.area == pytest.approx(size * size, rel=1e-6)  # no gaps
    ox, oy = m["bounds"][:2]
    assert shapely.equals(union, shapely.box(ox, oy, ox + size, oy + size))
    # the partial second tile: no overlaps either, and the whole set is a clean coverage
    # (tiles share their edge vertices: no overlaps, gaps or T-junctions at the seam)
    rest = geoms[per_tile:]
    assert shapely.area(rest).sum() == pytest.approx(shapely.union_all(rest).area, rel=1e-6)
    assert shapely.coverage_is_valid(geoms)


def test_partitions_are_spatially_compact(tiled: Path) -> None:
    m = _manifest(tiled)
    assert m["n_partitions"] == 10 and m["n_tiles"] == 80
    assert all(f["rows"] == 2_000 for f in m["parcels"])  # 8 whole tiles each
    xmin, ymin, xmax, ymax = m["bounds"]
    domain = (xmax - xmin) * (ymax - ymin)
    ratios = []
    for f in m["parcels"]:
        bx0, by0, bx1, by1 = _file_bounds(tiled / f["path"])
        ratios.append((bx1 - bx0) * (by1 - by0) / domain)
    # 8 of 80 tiles: a Hilbert run covers ~8-16 tile cells; a row-major run would span a row
    assert max(ratios) < 0.25, ratios
    assert np.mean(ratios) < 0.18, ratios


def test_gilbert_order_visits_every_cell_with_unit_steps() -> None:
    for w, h in [(1, 1), (1, 5), (4, 4), (8, 8), (9, 9), (5, 3), (3, 7), (16, 10), (13, 11)]:
        cells = gilbert_order(w, h)
        assert sorted(cells) == [(x, y) for x in range(w) for y in range(h)]
        steps = np.abs(np.diff(np.array(cells), axis=0)) if len(cells) > 1 else np.zeros((0, 2))
        assert (steps.max(axis=1, initial=1) <= 1).all() if len(steps) else True
        assert (steps.sum(axis=1) == 1).mean() >= 0.9 if len(steps) else True
    with pytest.raises(ValueError):
        gilbert_order(0, 3)


def test_geoparquet_metadata_matches_geopandas(synth: Path, tmp_path: Path) -> None:
    path = synth / "parcels" / "part-00000.parquet"
    frame = gpd.read_parquet(path)
    ours = pq.read_metadata(path)
    geo = json.loads(ours.metadata[b"geo"])
    col = geo["columns"]["geometry"]
    assert geo["version"] == "1.1.0"
    assert col["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert col["geometry_types"] == ["Polygon"]
    assert ours.num_row_groups >= 1
    again = tmp_path / "again.parquet"
    frame.to_parquet(again, index=False, write_covering_bbox=True)
    assert json.loads(pq.read_metadata(again).metadata[b"geo"]) == geo
    assert pq.read_schema(again).equals(pq.read_schema(path), check_metadata=False)
    assert pq.read_table(again).drop(["geometry"]).equals(pq.read_table(path).drop(["geometry"]))
    # the bbox statistics of each row group allow spatial filtering
    stats = ours.row_group(0).column(pq.read_schema(path).get_field_index("bbox") + 1).statistics
    assert stats is not None and stats.has_min_max


def test_farms_areas_habitats_and_raster(synth: Path, frames: dict[str, gpd.GeoDataFrame]) -> None:
    params = load_parameters()
    parcels, farms = frames["parcels"], frames["farms"]
    assert farms["farm_id"].is_unique
    cats = params.animal_categories
    assert (farms[cats].to_numpy() >= 0).all()
    factors = np.array([params.livestock[c].emission_kg_nh3_per_animal for c in cats])
    np.testing.assert_allclose(farms["emission_kg_nh3"], farms[cats].to_numpy(float) @ factors)
    assert (farms["emission_kg_nh3"] > 0).all()
    # each farm lies on a parcel linked to it; every parcel link names a farm
    joined = gpd.sjoin(farms, parcels, predicate="within")
    assert len(joined) == len(farms)
    assert (joined["farm_id_left"] == joined["farm_id_right"]).all()
    linked = parcels["farm_id"].dropna()
    assert 0.5 < len(linked) / len(parcels) < 0.95
    assert set(linked) <= set(farms["farm_id"])

    areas = gpd.read_parquet(synth / "areas.parquet")
    habitats = gpd.read_parquet(synth / "habitats.parquet")
    m = _manifest(synth)
    assert len(areas) == m["n_areas"] >= 1 and len(habitats) == m["n_habitats"] >= len(areas)
    assert areas["site_code"].is_unique and areas["site_code"].str.fullmatch(r"XX\d{7}").all()
    assert areas["nitrogen_sensitive"].dtype == bool
    assert (
        shapely.is_valid(areas.geometry.values).all()
        and shapely.is_valid(habitats.geometry.values).all()
    )
    assert set(habitats["habitat_code"]) <= set(params.kdw.habitats)
    by_code = areas.set_index("site_code").geometry
    for code, group in habitats.groupby("site_code"):
        area = by_code[code]
        assert all(area.buffer(1e-6).contains(g) for g in group.geometry)
        assert shapely.union_all(group.geometry.values).area == pytest.approx(
            group.area.sum(), rel=1e-6
        )

    with rasterio.open(synth / "background_deposition.tif") as src:
        values = src.read(1)
        assert src.crs.to_epsg() == 3035 and src.res == (1000.0, 1000.0)
        assert tuple(src.bounds) == pytest.approx(m["bounds"])
    lo, hi = DEPOSITION_RANGE_MOL_HA
    assert values.dtype == np.float32 and lo <= values.min() and values.max() <= hi
    assert np.abs(np.diff(values, axis=1)).max() < 0.1 * (hi - lo)  # smooth at 1 km


def test_same_seed_same_rows_other_seed_differs(tmp_path: Path) -> None:
    kwargs = {"n_parcels": 6_000, "partition_rows": 2_000, "tile_size_m": 5_000.0}
    first, again, other = tmp_path / "first", tmp_path / "again", tmp_path / "other"
    generate_synthetic(first, **kwargs)
    generate_synthetic(again, **kwargs)
    generate_synthetic(other, seed=7, **kwargs)
    pd.testing.assert_frame_equal(_plain(_parcels(first)), _plain(_parcels(again)))
    pd.testing.assert_frame_equal(_plain(_farms(first)), _plain(_farms(again)))
    for name in ("areas.parquet", "habitats.parquet"):
        pd.testing.assert_frame_equal(
            gpd.read_parquet(first / name), gpd.read_parquet(again / name)
        )
    with (
        rasterio.open(first / "background_deposition.tif") as a,
        rasterio.open(again / "background_deposition.tif") as b,
    ):
        np.testing.assert_array_equal(a.read(1), b.read(1))
    assert _manifest(first) == _manifest(again)
    differ, base = _parcels(other), _parcels(first)
    assert len(differ) == len(base) == 6_000
    assert not differ.geometry.geom_equals(base.geometry).all()
    assert not differ["category"].equals(base["category"])
    assert not _farms(other)["emission_kg_nh3"].equals(_farms(first)["emission_kg_nh3"])


def test_config_loads_and_layers_read(synth: Path) -> None:
    cfg = load_config(synth / "n2kzones.toml")
    assert cfg.project.crs == "EPSG:3035"
    assert cfg.output_dir == synth.resolve() / "processed"
    assert cfg.deposition.cutoff_m == 25_000 and cfg.deposition.cell_m == 250
    for kind in ("areas", "habitats", "parcels", "farms"):
        assert cfg.resolve(getattr(cfg.inputs, kind).path).exists()
    assert cfg.inputs.parcels.path == synth.resolve() / "parcels"
    assert cfg.inputs.background_deposition.path.is_absolute()
    params = cfg.params
    layers = {}
    for kind, spec in (
        ("areas", cfg.inputs.areas),
        ("habitats", cfg.inputs.habitats),
        ("farms", LayerInput(path=cfg.inputs.farms.path / "part-00000.parquet")),
        ("parcels", LayerInput(path=cfg.inputs.parcels.path / "part-00000.parquet")),
    ):
        layers[kind], report = read_layer(kind, spec, crs=cfg.project.crs, params=params)
        assert report.n_kept == report.n_read == len(layers[kind]) > 0, kind
        assert report.repaired_invalid == 0
    assert layers["habitats"]["kdw_mol_ha"].notna().all()
    assert str(layers["parcels"]["category"].dtype).startswith("string")


def test_interrupted_run_leaves_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "set"
    generate_synthetic(out, n_parcels=3_000, partition_rows=1_000)
    assert (out / "manifest.json").exists() and len(list((out / "parcels").glob("part-*"))) == 3
    calls = []
    real_write = _PartitionWriter.write

    def failing_write(self: _PartitionWriter, pieces: list) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(self, pieces)

    monkeypatch.setattr(_PartitionWriter, "write", failing_write)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic(out, n_parcels=2_000, partition_rows=1_000)
    assert not (out / "manifest.json").exists()
    assert [p.name for p in (out / "parcels").iterdir()] == ["part-00000.parquet"]  # no temp files
    monkeypatch.undo()
    summary = generate_synthetic(out, n_parcels=2_000, partition_rows=1_000)
    assert summary.n_partitions == 2 and len(list((out / "parcels").glob("part-*"))) == 2
    assert _manifest(out)["n_parcels"] == 2_000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_parcels": 0}, "n_parcels must be at least 1"),
        ({"n_parcels": 10.5}, "n_parcels must be an integer"),
        ({"n_parcels": 10, "partition_rows": 999}, "partition_rows must be between"),
        ({"n_parcels": 10, "seed": -1}, "seed must be between"),
        ({"n_parcels": 10, "parcels_per_km2": 0.0}, "parcels_per_km2"),
        ({"n_parcels": 10, "crs": "EPSG:4326"}, "not a projected CRS in metres"),
        ({"n_parcels": 10, "crs": "EPSG:2263"}, "not a projected CRS in metres"),
        ({"n_parcels": 10, "crs": "not-a-crs"}, "unknown CRS"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        generate_synthetic(tmp_path / "bad", **kwargs)
    assert not (tmp_path / "bad").exists()


def test_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from n2kzones.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(
        app,
        [
            "synthetic",
            "--out",
            str(out),
            "--parcels",
            "1500",
            "--partition-rows",
            "1000",
            "--crs",
            "EPSG:28992",
        ],
    )
    assert res.exit_code == 0, res.output
    m = _manifest(out)
    assert m["n_parcels"] == 1_500 and m["crs"] == "EPSG:28992" and m["n_partitions"] == 2
    res = runner.invoke(
        app, ["synthetic", "--out", str(tmp_path / "x"), "--parcels", "10", "--crs", "EPSG:4326"]
    )
    assert res.exit_code == 2
    assert "projected CRS in metres" in res.output
