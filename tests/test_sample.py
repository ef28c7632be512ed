"""Tests of the synthetic sample region generator (n2kzones.datasets.sample)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import rasterio.transform
import shapely

from n2kzones.datasets import sample
from n2kzones.errors import ConfigError
from n2kzones.params import load_parameters

SEED = 20260626
TILE = shapely.box(150_000, 440_000, 190_000, 480_000)


# ---------------------------------------------------------------------------------------
# fixtures: one scale-1 sample, a repeat with the same seed, one with another seed
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def params():
    return load_parameters()


@pytest.fixture(scope="session")
def run_a(tmp_path_factory):
    return sample.generate_sample(tmp_path_factory.mktemp("sample_a"), seed=SEED, scale=1)


@pytest.fixture(scope="session")
def run_b(tmp_path_factory):
    return sample.generate_sample(tmp_path_factory.mktemp("sample_b"), seed=SEED, scale=1)


@pytest.fixture(scope="session")
def run_c(tmp_path_factory):
    return sample.generate_sample(tmp_path_factory.mktemp("sample_c"), seed=SEED + 1, scale=1)


@pytest.fixture(scope="session")
def areas(run_a) -> gpd.GeoDataFrame:
    return gpd.read_file(run_a.natura2000_path, layer="natura2000")


@pytest.fixture(scope="session")
def habitats(run_a) -> gpd.GeoDataFrame:
    return gpd.read_file(run_a.habitats_path, layer="habitats")


@pytest.fixture(scope="session")
def parcels(run_a) -> gpd.GeoDataFrame:
    return gpd.read_file(run_a.parcels_path, layer="brp_gewas")


@pytest.fixture(scope="session")
def farms(run_a) -> gpd.GeoDataFrame:
    return gpd.read_file(run_a.farms_path, layer="veehouderijen")


def _geoms(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(gdf.geometry.values, dtype=object)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lake(areas: gpd.GeoDataFrame):
    return areas.loc[~areas.nitrogen_sensitive, "geometry"].union_all()


# ---------------------------------------------------------------------------------------
# layout and arguments
# ---------------------------------------------------------------------------------------


def test_tile_origins():
    assert sample.tile_origins(1) == [(150_000.0, 440_000.0)]
    o = sample.tile_origins(5)  # 3 columns
    assert o[0] == (20_000.0, 300_000.0)
    assert o[2] == (100_000.0, 300_000.0)
    assert o[3] == (20_000.0, 340_000.0)
    assert len(sample.tile_origins(32)) == 32


def test_multi_tile_plans_cycle_through_all_archetypes():
    plans = sample._tile_kinds(32)
    assert all(len(p) == 4 for p in plans)
    for p in plans:  # the close pair always lands in the same tile
        assert ("pair_a" in p) == ("pair_b" in p)
    assert {k for p in plans for k in p} == set(sample.ARCHETYPES)
    assert sample._tile_kinds(1) == [sample.ARCHETYPES]


def test_multi_tile_area_placement():
    # the area layout of the first nine tiles of a national sample (a full cycle)
    for i, (origin, kinds) in enumerate(
        zip(sample.tile_origins(32)[:9], sample._tile_kinds(32)[:9], strict=True)
    ):
        rng = np.random.default_rng(i)
        tile = shapely.box(*origin, origin[0] + 40_000, origin[1] + 40_000)
        placed = sample._place_areas(rng, kinds, tile)
        geoms = np.array([g for _, g in placed], dtype=object)
        assert [k for k, _ in placed] == list(kinds)
        assert shapely.is_valid(geoms).all()
        assert shapely.within(geoms, tile.buffer(-1_500)).all()
        d = shapely.distance(geoms[:, None], geoms[None, :])
        np.fill_diagonal(d, np.inf)
        assert d.min() > 1_000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale": 0}, "scale"),
        ({"scale": 10_000}, "scale"),
        ({"scale": 1.5}, "scale"),
        ({"seed": -1}, "seed"),
        ({"workers": 0}, "workers"),
        ({"density": 0}, "density"),
        ({"density": sample.MAX_DENSITY + 1}, "density"),
        ({"density": 1.5}, "density"),
        ({"density": True}, "density"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sample.generate_sample(tmp_path, **kwargs)
    assert not list(tmp_path.iterdir()) or not (tmp_path / "manifest.json").exists()


def test_missing_kdw_is_config_error(tmp_path, params):
    habitats = {k: v for k, v in params.kdw.habitats.items() if k != "H4030"}
    bad = params.model_copy(update={"kdw": params.kdw.model_copy(update={"habitats": habitats})})
    with pytest.raises(ConfigError, match="H4030"):
        sample.generate_sample(tmp_path, params=bad)


# ---------------------------------------------------------------------------------------
# files, manifest, determinism
# ---------------------------------------------------------------------------------------


def test_summary_and_files(run_a):
    for path in run_a.paths.values():
        assert path.is_file() and path.parent == run_a.out_dir
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in run_a.out_dir.iterdir()) == sorted(
        p.name for p in run_a.paths.values()
    )
    assert run_a.n_tiles == 1 and run_a.scale == 1 and run_a.seed == SEED
    assert run_a.n_areas == 9
    assert run_a.n_parcels >= 20_000
    assert run_a.n_farms >= 500


def test_manifest(run_a):
    m = json.loads(run_a.manifest_path.read_text("utf-8"))
    assert m["seed"] == SEED and m["scale"] == 1 and m["crs"] == "EPSG:28992"
    assert m["tiles"] == [
        {
            "index": 0,
            "origin_x_m": 150_000.0,
            "origin_y_m": 440_000.0,
            "area_kinds": list(sample.ARCHETYPES),
        }
    ]
    assert m["counts"]["natura2000"] == run_a.n_areas
    assert m["counts"]["habitats"] == run_a.n_habitats
    assert m["counts"]["brp_gewas"] == run_a.n_parcels
    assert m["counts"]["veehouderijen"] == run_a.n_farms
    for key in ("natura2000", "habitats", "parcels", "farms", "deposition"):
        path = run_a.paths[key]
        assert m["files"][path.name]["sha256"] == _sha(path)
        assert m["files"][path.name]["bytes"] == path.stat().st_size


def test_same_seed_gives_identical_files(run_a, run_b):
    for key, path in run_a.paths.items():
        assert _sha(path) == _sha(run_b.paths[key]), key


def test_other_seed_gives_other_files(run_a, run_c):
    for key, path in run_a.paths.items():
        assert _sha(path) != _sha(run_c.paths[key]), key


def test_rerun_replaces_files_in_place(tmp_path_factory, run_a):
    # regenerate over an existing (different) sample: same result as a fresh run
    out = tmp_path_factory.mktemp("rerun")
    (out / "manifest.json").write_text("stale", encoding="utf-8")
    (out / "natura2000.gpkg").write_bytes(b"stale")
    s = sample.generate_sample(out, seed=SEED)
    assert _sha(s.natura2000_path) == _sha(run_a.natura2000_path)
    assert _sha(s.manifest_path) == _sha(run_a.manifest_path)


# ---------------------------------------------------------------------------------------
# density: more parcels and farms on the same areas
# ---------------------------------------------------------------------------------------

#: Parcels and farms at density 2 over density 1, at scale 1: 2x within this tolerance (faces
#: cut by area boundaries and strips do not double with the lattice; measured 2.01 and 2.00).
DENSITY_2_RATIO = (1.7, 2.3)


@pytest.fixture(scope="session")
def run_d2(tmp_path_factory):
    return sample.generate_sample(tmp_path_factory.mktemp("sample_d2"), seed=SEED, density=2)


def test_density_two_doubles_parcels_and_farms_on_the_same_areas(run_a, run_d2):
    lo, hi = DENSITY_2_RATIO
    assert run_d2.density == 2 and run_a.density == 1
    assert lo <= run_d2.n_parcels / run_a.n_parcels <= hi
    assert lo <= run_d2.n_farms / run_a.n_farms <= hi
    # same areas and habitats (geometry and attributes), same background grid
    for key, layer in (("natura2000", "natura2000"), ("habitats", "habitats")):
        a = gpd.read_file(run_a.paths[key], layer=layer)
        b = gpd.read_file(run_d2.paths[key], layer=layer)
        assert a.geom_equals_exact(b, tolerance=0).all(), key
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    with rasterio.open(run_a.deposition_path) as a, rasterio.open(run_d2.deposition_path) as b:
        assert a.transform == b.transform and a.shape == b.shape
        assert ((a.read(1) == sample.NODATA) == (b.read(1) == sample.NODATA)).all()
    # the parcels still tile the same land, and every farm owns land
    pa = gpd.read_file(run_a.parcels_path)
    pb = gpd.read_file(run_d2.parcels_path)
    assert pb.area.sum() == pytest.approx(pa.area.sum(), rel=1e-6)
    farms = gpd.read_file(run_d2.farms_path)
    assert set(farms.farm_id) <= set(pb.farm_id.dropna())
    m = json.loads(run_d2.manifest_path.read_text("utf-8"))
    assert m["density"] == 2 and m["counts"]["brp_gewas"] == run_d2.n_parcels


def test_density_one_manifest_has_no_density_key(run_a):
    # density 1 is the standard sample, byte for byte: its manifest is unchanged too
    assert "density" not in json.loads(run_a.manifest_path.read_text("utf-8"))


def test_crs_of_all_layers(run_a):
    for key in ("natura2000", "habitats", "parcels", "farms"):
        assert pyogrio.read_info(run_a.paths[key])["crs"] == "EPSG:28992"
    with rasterio.open(run_a.deposition_path) as src:
        assert src.crs.to_epsg() == 28992


# ---------------------------------------------------------------------------------------
# Natura 2000 areas
# ---------------------------------------------------------------------------------------


def test_area_schema(areas):
    assert list(areas.columns) == [
        "site_code",
        "area_number",
        "name",
        "nitrogen_sensitive",
        "geometry",
    ]
    assert pd.api.types.is_string_dtype(areas.site_code)
    assert pd.api.types.is_string_dtype(areas.name)
    assert areas.area_number.dtype == np.int32
    assert areas.nitrogen_sensitive.dtype == bool
    assert (areas.geom_type == "MultiPolygon").all()
    assert areas.site_code.str.fullmatch(r"NL2003\d{3}").all()
    assert areas.site_code.is_unique and areas.area_number.is_unique and areas.name.is_unique


def test_area_archetypes(areas):
    g = _geoms(areas)
    assert len(areas) >= 8
    assert shapely.is_valid(g).all()
    n_parts = shapely.get_num_geometries(g)
    assert (n_parts >= 2).any(), "a multipart area"
    holes = [sum(len(p.interiors) for p in m.geoms) for m in g]
    assert max(holes) >= 1, "an area with enclaves"
    water = areas[~areas.nitrogen_sensitive]
    assert len(water) == 1 and 20e6 <= water.area.iloc[0] <= 40e6
    big = areas.area.max()
    assert 40e6 <= big <= 80e6
    small = areas.area.sort_values().iloc[:4]
    assert (small >= 1e6).all() and (small <= 10e6).all()


def test_areas_apart_and_inside_tile(areas):
    g = _geoms(areas)
    assert shapely.within(g, TILE.buffer(-1_500)).all()
    d = shapely.distance(g[:, None], g[None, :])
    np.fill_diagonal(d, np.inf)
    assert d.min() > 0, "areas do not overlap or touch"
    close = np.argwhere(np.triu((d > 1_000) & (d < 2_000)))
    assert len(close) >= 1, "a pair whose 1000 m zones overlap but 500 m zones do not"
    i, j = close[0]
    z500 = shapely.buffer(g[[i, j]], 500)
    z1000 = shapely.buffer(g[[i, j]], 1000)
    assert not shapely.intersects(z500[0], z500[1])
    assert shapely.intersects(z1000[0], z1000[1])


# ---------------------------------------------------------------------------------------
# habitats
# ---------------------------------------------------------------------------------------


def test_habitat_schema_and_kdw(habitats, params):
    assert list(habitats.columns) == ["site_code", "habitat_code", "kdw_mol_ha", "geometry"]
    assert habitats.kdw_mol_ha.dtype == np.float64
    assert habitats.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert shapely.is_valid(_geoms(habitats)).all()
    expected = habitats.habitat_code.map(lambda c: params.kdw.habitats[c].kdw_mol_ha)
    np.testing.assert_array_equal(habitats.kdw_mol_ha.to_numpy(), expected.to_numpy())


def test_habitats_inside_areas_without_overlap(habitats, areas):
    by_site = areas.set_index("site_code").geometry
    assert set(habitats.site_code) <= set(by_site.index)
    area_geom = np.asarray(by_site.loc[habitats.site_code].values, dtype=object)
    h = _geoms(habitats)
    outside = shapely.area(shapely.difference(h, area_geom))
    assert outside.sum() < 1e-6 * shapely.area(h).sum()  # only grid rounding
    tree = shapely.STRtree(h)
    i, j = tree.query(h, predicate="intersects")
    pair = i < j
    overlap = shapely.area(shapely.intersection(h[i[pair]], h[j[pair]]))
    assert overlap.sum() < 1.0  # m2, over all pairs


def test_habitat_coverage_per_area(habitats, areas, params):
    cover = habitats.dissolve("site_code").area / areas.set_index("site_code").area
    sensitive = areas.set_index("site_code").nitrogen_sensitive
    for site, is_sensitive in sensitive.items():
        if is_sensitive:
            assert 0.5 <= cover.get(site, 0.0) <= 0.82, site
    water_sites = sensitive.index[~sensitive]
    water_codes = habitats.loc[habitats.site_code.isin(water_sites), "kdw_mol_ha"]
    assert (water_codes >= params.kdw.not_sensitive_from_mol_ha).all()


# ---------------------------------------------------------------------------------------
# parcels
# ---------------------------------------------------------------------------------------


def test_parcel_schema(parcels):
    assert list(parcels.columns) == [
        "category",
        "gewas",
        "gewascode",
        "jaar",
        "status",
        "farm_id",
        "geometry",
    ]
    assert parcels.gewascode.dtype == np.int32 and parcels.jaar.dtype == np.int32
    for col in ("category", "gewas", "status", "farm_id"):
        assert pd.api.types.is_string_dtype(parcels[col]), col
    assert (parcels.geom_type == "Polygon").all()
    assert (parcels.jaar == 2025).all() and (parcels.status == "Definitief").all()
    assert set(parcels.category) == {
        "Grasland",
        "Bouwland",
        "Natuurterrein",
        "Landschapselement",
        "Braakland",
    }
    # one name per crop code
    assert (parcels.groupby("gewascode").gewas.nunique() == 1).all()
    assert parcels.farm_id.isna().any() and parcels.farm_id.notna().any()


def test_parcels_tessellate_land(parcels, areas):
    g = _geoms(parcels)
    assert len(g) >= 20_000
    assert shapely.is_valid(g).all()
    lake = _lake(areas)
    land = TILE.area - lake.area
    assert abs(shapely.area(g).sum() - land) < 0.005 * land
    assert shapely.within(g, TILE.buffer(0.01)).all()
    # nothing in the water (up to the 1 cm snap-rounding of the shore line)
    assert shapely.area(shapely.intersection(g, lake)).sum() < 0.01 * lake.length
    # shared edges identical: a clean polygon coverage
    assert shapely.coverage_is_valid(g)


def test_parcels_do_not_overlap_sampled_neighbours(parcels):
    g = _geoms(parcels)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(g), size=2_000, replace=False)
    i, j = shapely.STRtree(g).query(g[pick], predicate="intersects")
    i = pick[i]
    other = i != j
    assert other.sum() > 2_000 * 3  # every parcel has neighbours
    overlap = shapely.area(shapely.intersection(g[i[other]], g[j[other]]))
    assert overlap.max() < 1e-6


def test_parcel_categories(parcels, areas):
    share = parcels.category.value_counts(normalize=True)
    assert 0.45 <= share["Grasland"] <= 0.65
    assert 0.20 <= share["Bouwland"] <= 0.40
    assert 0.03 <= share["Landschapselement"] <= 0.08
    assert share["Braakland"] < 0.03
    # landscape elements are small
    le = parcels[parcels.category == "Landschapselement"]
    assert le.area.median() < 0.25 * parcels.area.median()
    # inside sensitive areas: mostly nature, some farmland
    sens = areas.loc[areas.nitrogen_sensitive, "geometry"].union_all()
    rp = parcels.representative_point()
    inside = parcels[shapely.within(np.asarray(rp.values, dtype=object), sens)]
    cat = inside.category.value_counts(normalize=True)
    assert cat["Natuurterrein"] >= 0.7
    assert cat.get("Grasland", 0.0) > 0.03
    # nature outside the areas is rare
    outside = parcels[~parcels.index.isin(inside.index)]
    assert (outside.category == "Natuurterrein").mean() < 0.05


def test_some_parcels_cross_zone_edges(parcels, areas):
    g = _geoms(parcels)
    tree = shapely.STRtree(g)
    for width in (500.0, 1000.0):
        edge = shapely.boundary(shapely.buffer(_geoms(areas), width))
        _, hit = tree.query(edge, predicate="intersects")
        assert len(np.unique(hit)) > 100


# ---------------------------------------------------------------------------------------
# farms
# ---------------------------------------------------------------------------------------


def test_farm_schema(farms, params):
    cats = params.animal_categories
    assert list(farms.columns) == [
        "farm_id",
        "farm_type",
        *cats,
        "emission_kg_nh3",
        "source_height_m",
        "geometry",
    ]
    assert len(farms) >= 500
    assert farms.farm_id.is_unique and farms.farm_id.str.fullmatch(r"F\d{8}").all()
    assert set(farms.farm_type) == set(sample.FARM_TYPES)
    for c in cats:
        assert farms[c].dtype == np.int32 and (farms[c] >= 0).all(), c
    assert (farms.geom_type == "Point").all()
    assert farms.source_height_m.between(3.0, 8.0).all()


def test_farm_emission_is_counts_times_factors(farms, params):
    expected = np.zeros(len(farms))
    for cat, lv in params.livestock.items():
        expected = expected + farms[cat].to_numpy(float) * lv.emission_kg_nh3_per_animal
    np.testing.assert_allclose(farms.emission_kg_nh3.to_numpy(), expected, rtol=1e-12)
    assert (farms.emission_kg_nh3 > 0).all()


def test_farm_herds_match_type(farms):
    by = farms.groupby("farm_type")
    assert (by.get_group("melkvee").rundvee > 0).all()
    assert (by.get_group("varkens").varkens > 0).all()
    assert (by.get_group("pluimvee").kippen > 0).all()
    sg = by.get_group("schapen_geiten")
    assert ((sg.schapen + sg.geiten) > 0).all()
    assert by.get_group("melkvee").rundvee.median() > 80


def test_farms_on_their_own_agricultural_parcel(farms, parcels):
    j = gpd.sjoin(
        farms[["farm_id", "geometry"]],
        parcels[["farm_id", "category", "geometry"]],
        predicate="within",
        how="left",
    )
    assert len(j) == len(farms)
    assert (j.farm_id_left == j.farm_id_right).all()
    assert j.category.isin(["Grasland", "Bouwland"]).all()


def test_farm_land_gives_realistic_livestock_density(farms, parcels, params):
    owned = parcels[parcels.farm_id.notna()]
    ha = owned.area.groupby(owned.farm_id).sum() / 1e4
    assert set(ha.index) == set(farms.farm_id)  # every farm has land
    f = farms.set_index("farm_id")
    gve = sum(f[c] * params.livestock[c].gve_per_animal for c in params.animal_categories)
    density = gve / ha.loc[f.index]
    dairy = density[f.farm_type == "melkvee"]
    assert dairy.median() == pytest.approx(2.5, abs=1.0)  # 1.5 .. 3.5 GVE/ha
    assert dairy.quantile(0.9) < 5.0
    pigs = density[f.farm_type.isin(["varkens", "pluimvee"])]
    assert pigs.median() > 10.0
    assert ha[f.farm_type == "melkvee"].median() > 3 * ha[f.farm_type == "varkens"].median()


def test_farms_clustered_and_near_areas(farms, areas):
    xy = shapely.get_coordinates(_geoms(farms))
    counts, _, _ = np.histogram2d(
        xy[:, 0], xy[:, 1], bins=8, range=[[150_000, 190_000], [440_000, 480_000]]
    )
    assert counts.max() > 2.5 * counts.mean()  # denser in some parts of the tile
    d = shapely.distance(_geoms(farms), areas.loc[areas.nitrogen_sensitive].union_all())
    assert (d < 1_000).sum() >= 10


# ---------------------------------------------------------------------------------------
# background deposition
# ---------------------------------------------------------------------------------------


def test_deposition_raster(run_a, farms):
    with rasterio.open(run_a.deposition_path) as src:
        assert src.dtypes == ("float32",)
        assert src.nodata == -9999
        assert src.res == (250.0, 250.0)
        assert tuple(src.bounds) == TILE.bounds
        data = src.read(1, masked=True)
        rows, cols = rasterio.transform.rowcol(
            src.transform, farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy()
        )
    assert data.mask.sum() == 0
    assert data.min() >= 650 and data.max() <= 3500
    assert 1200 <= data.mean() <= 1600
    assert np.percentile(data.compressed(), 99) > 2400
    # higher near farms: emission-weighted deposition at farms above the mean
    at_farms = data[np.asarray(rows), np.asarray(cols)]
    w = farms.emission_kg_nh3.to_numpy()
    assert np.average(at_farms, weights=w) > data.mean() + 150


def test_stitch_tiles_makes_seams_a_clean_coverage():
    # two tiles tessellated independently: their nodes on the shared edge x=40000 differ
    def fake_tile(index, origin, polys):
        polys = np.asarray(polys, dtype=object)
        n = len(polys)
        tile = shapely.box(*origin, origin[0] + 40_000, origin[1] + 40_000)
        return sample._Tile(
            index=index, origin=origin, area_kinds=[], area_geoms=[],
            hab_area=np.empty(0, np.int64), hab_code=[], hab_wkb=np.empty(0, object),
            parcel_wkb=shapely.to_wkb(polys), parcel_crop=np.zeros(n, np.int16),
            parcel_farm=np.full(n, -1, np.int32),
            parcel_edge=np.flatnonzero(shapely.intersects(polys, tile.boundary)),
            farm_xy=np.empty((0, 2)), farm_type=np.empty(0, np.int8), farm_animals={},
            farm_height=np.empty(0),
        )  # fmt: skip

    left = [shapely.box(0, y0, 40_000, y1) for y0, y1 in [(0, 15_000.5), (15_000.5, 40_000)]]
    right = [shapely.box(40_000, y0, 80_000, y1) for y0, y1 in [(0, 9_999.25), (9_999.25, 40_000)]]
    tiles = [fake_tile(0, (0.0, 0.0), left), fake_tile(1, (40_000.0, 0.0), right)]
    before = np.concatenate([shapely.from_wkb(t.parcel_wkb) for t in tiles])
    assert not shapely.coverage_is_valid(before)
    sample._stitch_tiles(tiles)
    after = np.concatenate([shapely.from_wkb(t.parcel_wkb) for t in tiles])
    assert shapely.coverage_is_valid(after)
    assert shapely.is_valid(after).all()
    np.testing.assert_allclose(shapely.area(after), shapely.area(before))


def test_cli_density_option_is_validated(tmp_path):
    from typer.testing import CliRunner

    from n2kzones.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["sample", "--out", str(tmp_path / "s"), "--density", "0"])
    assert res.exit_code == 2 and "density" in res.output.lower()
    res = runner.invoke(app, ["sample", "--out", str(tmp_path / "s"), "--density", "9"])
    assert res.exit_code == 2 and "density must be between 1 and 8" in res.output
    assert not (tmp_path / "s" / "manifest.json").exists()
