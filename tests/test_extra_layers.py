"""Zoning works for any protected-area layer: an extra layer with its own width joins the
national zone layer next to Natura 2000."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from n2kzones.config import config_from_dict
from n2kzones.stages.zones import run_zones

RD = "EPSG:28992"


def test_stream_valley_layer_with_its_own_width(tmp_path: Path) -> None:
    n2k = gpd.GeoDataFrame({"site_code": ["NL1"], "nitrogen_sensitive": [True]}, geometry=[shapely.box(150_000, 450_000, 151_000, 451_000)], crs=RD)
    valley = gpd.GeoDataFrame({"code": ["BEEK1"]}, geometry=[shapely.box(151_200, 450_000, 151_300, 453_000)], crs=RD)
    n2k.to_file(tmp_path / "n2k.gpkg")
    valley.to_file(tmp_path / "beek.gpkg")
    cfg = config_from_dict(
        {
            "project": {"output_dir": str(tmp_path / "out")},
            "inputs": {"areas": {"path": str(tmp_path / "n2k.gpkg")}},
            "zones": {
                "include_inner": False,
                "extra_layers": [
                    {"name": "beekdalen", "width_m": 250, "input": {"path": str(tmp_path / "beek.gpkg"), "columns": {"site_code": "code"}}}
                ],
            },
        }
    )
    layers = run_zones(cfg)
    by_area = layers.by_area.set_index("site_code")
    assert by_area.loc["BEEK1", "layer"] == "beekdalen" and by_area.loc["BEEK1", "width_m"] == 250
    assert by_area.loc["NL1", "width_m"] == 500
    nat = layers.national.set_index("zone_key")
    # The 500 m ring of NL1 and the 250 m ring of the valley overlap: both kept, largest width
    both = nat.loc["BEEK1:ring|NL1:ring"]
    assert both["width_m"] == 500 and both["area_codes"] == "BEEK1;NL1"
    assert nat["area_m2"].sum() == pytest.approx(shapely.union_all(layers.by_area.geometry.to_numpy()).area, rel=1e-9)
