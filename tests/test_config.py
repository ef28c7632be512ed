"""Config: valid example loads; wrong keys and values are errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from n2kzones.config import config_from_dict, load_config
from n2kzones.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {"inputs": {"areas": {"path": "areas.gpkg"}}}


def test_sample_config_is_valid() -> None:
    cfg = load_config(REPO / "config" / "sample.toml")
    assert cfg.project.crs == "EPSG:28992"
    assert cfg.default_width_m == 500.0  # from the parameter table
    assert cfg.output_dir == REPO / "data" / "processed"
    assert cfg.inputs.parcels is not None and cfg.inputs.parcels.preset == "brp_pdok"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"zones": {"default_widht_m": 500}}, r"zones\.default_widht_m: unknown key"),
        ({"zones": {"default_width_m": -5}}, r"zones\.default_width_m: .*greater than or equal to 0"),
        ({"zones": {"overrides": {"NL1": 20000}}}, r"zones\.overrides: .*between 0 and 10000"),
        ({"project": {"crs": "EPSG:4326"}}, r"project\.crs: .*not a projected CRS in metres"),
        ({"project": {"crs": "EPSG:99999999"}}, r"project\.crs: .*unknown CRS"),
        ({"inputs": {"areas": {"path": "a.gpkg", "preset": "pdok"}}}, r"allowed: n2kzones, pdok_natura2000"),
        ({"inputs": {"areas": {"path": "a.gpkg", "on_duplicate_id": "ignore"}}}, r"on_duplicate_id: .*'error', 'drop_identical' or 'suffix'"),
        ({"parameters": {"zones": {"quad_segz": 8}}}, r"quad_segz"),
        ({"parameters": {"livestock": {"rundvee": {"emission_kg_nh3_per_animal": -1}}}}, r"emission_kg_nh3_per_animal"),
        ({"inputs": {}}, r"inputs\.areas: Field required"),
    ],
)
def test_bad_config_names_the_key(patch: dict, expected: str) -> None:
    data = {**MINIMAL, **patch}
    with pytest.raises(ConfigError, match=expected):
        config_from_dict(data)


def test_parameter_override_is_applied() -> None:
    cfg = config_from_dict({**MINIMAL, "parameters": {"zones": {"default_width_m": 250.0}}})
    assert cfg.default_width_m == 250.0
    assert cfg.params.kdw.kdw_of("H4030") == 714.0


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[zones\ndefault_width_m = 5")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
