"""The deposition stage on the sample region: receptors, attribution, overload, rasters."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from n2kzones.deposition import default_kernel, deposition_at_points
from n2kzones.io.writers import read_table
from n2kzones.stages.catalogue import OutputFolder
from n2kzones.stages.deposition import run_deposition


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
    paths = OutputFolder(cfg.output_dir)
    table = read_table(paths.area_deposition)
    rec = out["receptors"]
    nat = table.set_index("site_code").loc["ALL"]
    assert nat["sensitive_ha"] == pytest.approx(rec["habitat_ha"].sum())
    assert nat["overloaded_ha"] == pytest.approx(rec.loc[rec["overload"], "habitat_ha"].sum())
    per_area = table.loc[table["site_code"] != "ALL"]
    assert per_area["sensitive_ha"].sum() == pytest.approx(nat["sensitive_ha"])
    assert per_area["pct_overloaded"].between(0, 100).all()
    with rasterio.open(paths.deposition_farms_tif) as src:
        farm = src.read(1, masked=True)
        assert src.crs.to_epsg() == 28992 and src.res == (cfg.deposition.cell_m, cfg.deposition.cell_m)
        assert float(farm.min()) >= 0 and float(farm.max()) > 100
    with rasterio.open(paths.exceedance_tif) as src:
        ex = src.read(1, masked=True)
        assert 0 < ex.count() < ex.size  # only where there is habitat


@pytest.mark.parametrize("cutoff_m", [None, 25_000.0])
@pytest.mark.parametrize("method", ["fft", "direct"])
def test_grid_tiles_change_the_grid_by_roundoff_only(sample_dir, cutoff_m, method) -> None:
    """Tiles with halos give the grid one tile gives (both engines tile the same way)."""
    from n2kzones.deposition import GridSpec, default_kernel
    from n2kzones.io.raster import read_raster
    from n2kzones.stages.deposition import GridInputs, grid_tile, sensitive_habitats

    farms = gpd.read_file(sample_dir / "veehouderijen.gpkg")
    habitats = gpd.read_file(sample_dir / "habitats.gpkg").assign(kdw_mol_ha=1000.0)
    x0, y0, x1, y1 = farms.total_bounds
    grid = GridSpec.from_bounds((x0 - 2000, y0 - 2000, x1 + 2000, y1 + 2000), 100.0)
    inputs = GridInputs(
        farms.geometry.x.to_numpy(), farms.geometry.y.to_numpy(), farms["emission_kg_nh3"].to_numpy(float),
        default_kernel(), None, cutoff_m, method, "numba",
        read_raster(sample_dir / "background_deposition.tif", crs="EPSG:28992"), "EPSG:28992",
        sensitive_habitats(habitats, 2400.0), True,
    )

    def assemble(tile_cells: int) -> np.ndarray:
        out = np.full(grid.shape, np.nan)
        for t in grid.tiles(tile_cells):
            out[t.row0 : t.row0 + t.grid.n_rows, t.col0 : t.col0 + t.grid.n_cols] = grid_tile(t, inputs=inputs)["deposition_farms"]
        return out

    one, many = assemble(max(grid.shape)), assemble(100)
    assert len(grid.tiles(100)) == 25 and one.max() > 1000
    np.testing.assert_allclose(many, one, rtol=1e-11, atol=1e-9)
