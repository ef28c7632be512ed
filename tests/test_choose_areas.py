"""Choosing areas: [project] areas / --areas restricts the run to those Natura 2000 areas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from n2kzones.errors import ConfigError
from n2kzones.io.writers import read_table
from n2kzones.zones import choose_areas

RD = "EPSG:28992"
CODE = "NL2003002"  # Hoogveentjes van Veehem in the sample
OTHER = "NL2003003"  # Zandverstuiving Marelo


def _cfg(sample_config, out: Path, areas: list[str]):
    project = sample_config.project.model_copy(update={"output_dir": out})
    return sample_config.model_copy(update={"project": project}).with_areas(areas)


def _name_of(sample_dir: Path, code: str) -> str:
    layer = gpd.read_file(sample_dir / "natura2000.gpkg")
    return str(layer.set_index("site_code").loc[code, "name"])


def _layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"site_code": ["NL1", "NL2", "NL3"], "name": ["Veluwe", "De Peel", "de  peel"], "nitrogen_sensitive": [True] * 3},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)],
        crs=RD,
    )


def test_choose_by_code_and_name_case_insensitive() -> None:
    chosen, codes = choose_areas(_layer(), ["veluwe", "nl3"])
    assert codes == ["NL1", "NL3"] and list(chosen["site_code"]) == ["NL1", "NL3"]
    assert choose_areas(_layer(), [])[1] == ["NL1", "NL2", "NL3"]


def test_ambiguous_name_is_refused_naming_the_areas() -> None:
    with pytest.raises(ConfigError, match=r"belongs to 2 areas: NL2 \(De Peel\), NL3 \(de  peel\)"):
        choose_areas(_layer(), ["DE PEEL"])


def test_unknown_name_is_refused_with_suggestion() -> None:
    with pytest.raises(ConfigError) as exc:
        choose_areas(_layer(), ["Veluw", "NL4"])
    msg = str(exc.value)
    assert "'Veluw' (closest: Veluwe" in msg and "'NL4' (closest: NL" in msg
    assert "n2kzones areas -c CONFIG" in msg


def test_blank_entry_is_refused(sample_config) -> None:
    with pytest.raises(ConfigError, match="blank"):
        sample_config.with_areas(["NL2003001", "  "])


def test_two_areas_by_code_and_name_on_the_sample(sample_config, sample_dir: Path, tmp_path: Path) -> None:
    from n2kzones.stages.catalogue import OutputFolder
    from n2kzones.stages.manifest import upstream_problems
    from n2kzones.stages.overlay import run_overlay
    from n2kzones.stages.zones import run_zones

    name = _name_of(sample_dir, OTHER)
    cfg = _cfg(sample_config, tmp_path, [CODE, name.upper()])
    run_zones(cfg)
    run_overlay(cfg)
    folder = OutputFolder(tmp_path)
    assert sorted(gpd.read_parquet(folder.areas)["site_code"]) == [CODE, OTHER]
    assert set(gpd.read_parquet(folder.zones_by_area)["site_code"]) <= {CODE, OTHER}
    assert set(read_table(folder.area_summary)["site_code"]) - {"ALL"} == {CODE, OTHER}
    manifest = json.loads(folder.manifest("zones").read_text())
    assert manifest["areas_chosen"]["site_codes"] == [CODE, OTHER]
    assert manifest["areas_chosen"]["kept"] == 2 and manifest["areas_chosen"]["of"] == 9
    assert manifest["config_keys"]["project.areas"] == [CODE, name.upper()]
    # another choice makes the overlay stale through the zones stage's config keys
    assert upstream_problems(cfg, "overlay") == []
    assert upstream_problems(cfg.with_areas([CODE]), "overlay")


def test_unknown_area_on_the_sample_is_refused(sample_config, sample_dir: Path, tmp_path: Path) -> None:
    from n2kzones.stages.zones import run_zones

    name = _name_of(sample_dir, OTHER)
    with pytest.raises(ConfigError, match=re.escape(f"closest: {name}")):
        run_zones(_cfg(sample_config, tmp_path, [name[:-2]]))


def test_cli_option_equals_config_key(sample_config, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from n2kzones.cli import app

    text = Path(sample_config.source_path).read_text()
    by_key, by_cli = tmp_path / "key", tmp_path / "cli"
    key_toml = tmp_path / "key.toml"
    key_toml.write_text(re.sub(r'output_dir = "[^"]*"', f'output_dir = "{by_key}"\nareas = ["{CODE}", "{OTHER}"]', text))
    cli_toml = tmp_path / "cli.toml"
    cli_toml.write_text(re.sub(r'output_dir = "[^"]*"', f'output_dir = "{by_cli}"', text))
    runner = CliRunner()
    assert runner.invoke(app, ["zones", "-c", str(key_toml)]).exit_code == 0
    res = runner.invoke(app, ["zones", "-c", str(cli_toml), "--areas", f"{CODE}, {OTHER}"])
    assert res.exit_code == 0, res.output
    m_key = json.loads((by_key / "manifest_zones.json").read_text())
    m_cli = json.loads((by_cli / "manifest_zones.json").read_text())
    assert m_key["config_keys"] == m_cli["config_keys"]
    assert m_key["outputs"] == m_cli["outputs"]
    assert sorted(gpd.read_parquet(by_cli / "stages" / "areas.parquet")["site_code"]) == [CODE, OTHER]
    bad = runner.invoke(app, ["zones", "-c", str(cli_toml), "--areas", "Nowhere Heath"])
    assert bad.exit_code == 2 and "n2kzones areas" in bad.output
    listed = runner.invoke(app, ["areas", "-c", str(key_toml)])
    assert listed.exit_code == 0 and f"* {CODE}" in listed.output and "  NL2003001" in listed.output


def test_deposition_receptors_only_on_the_chosen_areas(sample_config, tmp_path: Path) -> None:
    """The habitat layer is read raw by the deposition stage: it follows the choice too."""
    from n2kzones.stages.catalogue import OutputFolder
    from n2kzones.stages.deposition import run_deposition
    from n2kzones.stages.overlay import run_overlay
    from n2kzones.stages.zones import run_zones

    cfg = _cfg(sample_config, tmp_path, [CODE, OTHER])
    run_zones(cfg)
    run_overlay(cfg)
    run_deposition(cfg)
    folder = OutputFolder(tmp_path)
    assert set(gpd.read_parquet(folder.receptors)["site_code"].astype(str)) == {CODE, OTHER}
    assert set(read_table(folder.area_deposition)["site_code"]) - {"ALL"} == {CODE, OTHER}
