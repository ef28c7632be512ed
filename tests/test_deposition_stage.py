"""The deposition stage on the sample region: receptors, attribution, overload, rasters."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from n2kzones.deposition import default_kernel, deposition_at_points
from n2kzones.deposition_stage import DepositionPaths, run_deposition


@pytest.fixture(scope="module")
def result(sample_overlay):
    out = run_deposition(sample_overlay)
    return sample_overlay, out


def test_receptors_groups_add_up_and_overload_follows_kdw(result) -> None:
    cfg, out = result
    rec = out["receptors"]
    assert len(rec) > 1000 and rec["receptor_id"].is_unique
    assert np.allclose(rec["farms_in_zone_mol_ha"] + rec["farms_outside_zone_mol_ha"], rec["farms_mol_ha"], rtol=1e-12)
    assert (rec["overload"] == (rec["total_mol_ha"] > rec["kdw_mol_ha"])).all()
    assert (rec["near_overload"] == (rec["total_mol_ha"] > rec["kdw_mol_ha"] - 70)).all()
    assert (rec["kdw_mol_ha"] < 2400).all()


def test_one_receptor_by_hand(result) -> None:
    """The farm contribution at a receptor equals the kernel summed over farms by hand."""
    cfg, out = result
    rec = out["receptors"].iloc[[len(out["receptors"]) // 2]]
    farms = gpd.read_parquet(cfg.output_dir / "stages" / "farms.parquet")
    k = default_kernel()
    r = np.hypot(farms.geometry.x - rec.geometry.x.item(), farms.geometry.y - rec.geometry.y.item()).to_numpy()
    assert r.min() > 100  # away from the near-source averaging
    by_hand = float((k(r) * farms["emission_kg_nh3"].to_numpy()).sum())
    assert rec["farms_mol_ha"].item() == pytest.approx(by_hand, rel=1e-3)  # lookup table error
    again = deposition_at_points(farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy(), farms["emission_kg_nh3"].to_numpy(), rec.geometry.x.to_numpy(), rec.geometry.y.to_numpy(), k)
    assert again[0] == pytest.approx(rec["farms_mol_ha"].item(), rel=1e-12)


def test_area_table_and_rasters(result) -> None:
    cfg, out = result
    paths = DepositionPaths(cfg.output_dir)
    table = pd.read_csv(paths.area_table)
    rec = out["receptors"]
    nat = table.set_index("site_code").loc["ALL"]
    assert nat["sensitive_ha"] == pytest.approx(rec["habitat_ha"].sum())
    assert nat["overloaded_ha"] == pytest.approx(rec.loc[rec["overload"], "habitat_ha"].sum())
    per_area = table.loc[table["site_code"] != "ALL"]
    assert per_area["sensitive_ha"].sum() == pytest.approx(nat["sensitive_ha"])
    assert per_area["pct_overloaded"].between(0, 100).all()
    with rasterio.open(paths.tif("deposition_farms")) as src:
        farm = src.read(1, masked=True)
        assert src.crs.to_epsg() == 28992 and src.res == (cfg.deposition.cell_m, cfg.deposition.cell_m)
        assert float(farm.min()) >= 0 and float(farm.max()) > 100
    with rasterio.open(paths.tif("exceedance")) as src:
        ex = src.read(1, masked=True)
        assert 0 < ex.count() < ex.size  # only where there is habitat
