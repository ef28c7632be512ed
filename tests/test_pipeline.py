"""The zones and overlay stages on the generated sample region: nothing lost, everything adds up."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from tests.conftest import read_manifest

from n2kzones.io.writers import read_table
from n2kzones.stages.catalogue import OutputFolder
from n2kzones.stages.overlay import run_overlay


@pytest.fixture(scope="module")
def outputs(sample_overlay):
    paths = OutputFolder(sample_overlay.output_dir)
    parcels = gpd.read_file(sample_overlay.resolve(sample_overlay.inputs.parcels.path), layer="brp_gewas")
    return sample_overlay, paths, parcels


def test_every_parcel_pieces_add_up_to_its_area(outputs) -> None:
    cfg, paths, parcels = outputs
    pieces = gpd.read_parquet(paths.parcel_pieces)
    parcels["parcel_id"] = np.arange(1, len(parcels) + 1)  # BRP has no id: the row number
    total = pieces.groupby("parcel_id")["area_m2"].sum()
    assert set(total.index) == set(parcels["parcel_id"])  # every parcel accounted for
    area = parcels.set_index("parcel_id").geometry.area.loc[total.index]
    rel = (total - area).abs() / area
    assert rel.max() <= 1e-6, f"worst parcel off by {rel.max():.2e} (relative)"
    assert ((pieces["share"] > 0) & (pieces["share"] <= 1 + 1e-9)).all()
    assert not pieces.duplicated(["parcel_id", "zone_key"]).any()  # one piece per membership
    n_cut = pieces.groupby("parcel_id").size().gt(1).sum()
    assert n_cut > 100  # the sample has parcels crossing zone edges


def test_pieces_lie_in_their_zone(outputs) -> None:
    cfg, paths, _ = outputs
    pieces = gpd.read_parquet(paths.parcel_pieces)
    zones = gpd.read_parquet(paths.zones).set_index("zone_key")
    inzone = pieces.loc[pieces["zone_key"] != ""].sample(2000, random_state=1)
    zone_geoms = zones.geometry.reindex(inzone["zone_key"]).to_numpy()
    frac = gpd.GeoSeries(inzone.geometry.to_numpy(), crs=zones.crs).difference(gpd.GeoSeries(zone_geoms, crs=zones.crs), align=False).area
    assert (frac.to_numpy() < 1e-3).all()


def test_national_rows_add_up_to_inputs(outputs) -> None:
    cfg, paths, parcels = outputs
    summary = read_table(paths.area_summary)
    farms = gpd.read_file(cfg.resolve(cfg.inputs.farms.path))
    nat = summary.loc[summary["site_code"] == "ALL"]
    assert nat["farms"].sum() == len(farms)
    # the CSV is rounded for people (kg NH3 to 0.1, ha to 0.01: CSV_ROUNDING); the parquet is exact
    kg, ha = farms["emission_kg_nh3"].sum(), parcels.geometry.area.sum() / 1e4
    assert nat["emission_kg_nh3"].sum() == pytest.approx(kg, abs=0.05 * len(nat))
    assert nat["parcels_ha"].sum() == pytest.approx(ha, abs=0.005 * len(nat))
    per_area = summary.loc[summary["site_code"] != "ALL"]
    zones = gpd.read_parquet(paths.zones)
    # Overlaps count for each area, so per-area sums are at least the national ones
    assert per_area["zone_ha"].sum() >= zones["area_m2"].sum() / 1e4 - 1e-6
    assert per_area["farms"].sum() >= nat.loc[nat["part"] != "outside", "farms"].sum()


def test_widths_follow_the_official_list(outputs) -> None:
    cfg, paths, _ = outputs
    areas = gpd.read_parquet(paths.areas).set_index("site_code")
    official = pd.read_csv(cfg.resolve(cfg.zones.overrides_csv)).set_index("site_code")["width_m"]
    for code, width in official.items():
        assert areas.loc[code, "zone_width_m"] == width
    lake = areas.loc[~areas["nitrogen_sensitive"]]
    assert (lake["zone_width_m"] == 0).all()
    others = areas.index.difference(official.index)
    assert (areas.loc[others, "zone_width_m"] == cfg.default_width_m).all()


def test_overlapping_1000m_zones_of_the_close_pair(outputs) -> None:
    _, paths, _ = outputs
    zones = gpd.read_parquet(paths.zones)
    overlap = zones.loc[zones["n_areas"] > 1]
    assert len(overlap) >= 1 and (overlap["width_m"] == 1000).all()


def test_geopackage_layers_and_farm_table(outputs) -> None:
    cfg, paths, _ = outputs
    layers = set(pyogrio.list_layers(paths.overlay_gpkg)[:, 0])
    assert {"areas", "zones", "parcel_pieces", "farms"} <= layers
    farms = read_table(paths.farm_summary)
    assert farms["farm_id"].is_unique
    inzone = farms["zone_key"].notna()
    assert (farms.loc[inzone, "width_m"] > 0).all()
    assert (farms.loc[~inzone, "width_m"] == 0).all()
    ring = inzone & ~farms["inside_area"].astype(bool)
    assert ring.sum() > 50
    assert (farms.loc[ring, "distance_to_area_m"] <= farms.loc[ring, "width_m"] + 1e-6).all()
    linked = farms["land_ha"] > 0
    assert linked.mean() > 0.5 and (farms.loc[linked, "gve_per_ha"] > 0).all()


def test_manifest_accounts_for_every_feature(outputs) -> None:
    cfg, paths, _ = outputs
    m = read_manifest(paths.manifest("overlay"))
    for kind in ("parcels", "farms"):
        r = m["inputs"][kind]
        assert r["n_read"] == r["n_kept"] + sum(r["dropped"].values())
        assert len(r["sha256"]) == 64
    assert set(m["outputs"]) >= {"n2kzones.gpkg", "area_summary.csv"}


def test_failed_run_leaves_previous_outputs_intact(outputs, monkeypatch) -> None:
    cfg, paths, _ = outputs
    before = paths.area_summary.read_bytes()
    gpkg_before = paths.overlay_gpkg.stat().st_mtime_ns

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("n2kzones.stages.framework.write_csv", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run_overlay(cfg)
    assert paths.area_summary.read_bytes() == before
    assert paths.overlay_gpkg.stat().st_mtime_ns >= gpkg_before  # complete, written before the failure
    assert not list(paths.root.glob(".*tmp*"))  # no temporary files left behind
    assert len(pyogrio.list_layers(paths.overlay_gpkg)) >= 4
