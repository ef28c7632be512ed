"""The habitat stand-in's label reaches every output that uses it: the sample pipeline with one
area's habitat replaced by its stand-in (the area polygon as its most sensitive objective type),
every other area keeping the sample's habitat map."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest

from n2kzones.habitats import HABITAT_MAP, STANDIN_LABEL, objective_standin
from n2kzones.io.writers import read_table
from n2kzones.kdw import load_kdw_table


@pytest.fixture(scope="module")
def standin_run(sample_config, tmp_path_factory):
    """The whole pipeline, maps and report with the first sensitive area's habitat a stand-in."""
    from n2kzones.stages.maps import run_maps
    from n2kzones.stages.report import run_report
    from n2kzones.stages.run import run_all

    cfg0 = sample_config
    spec, hab_spec = cfg0.inputs.areas, cfg0.inputs.habitats
    areas = gpd.read_file(cfg0.resolve(spec.path), layer=spec.layer)
    habitats = gpd.read_file(cfg0.resolve(hab_spec.path), layer=hab_spec.layer)
    area = areas.loc[
        areas["nitrogen_sensitive"] & areas["site_code"].isin(habitats["site_code"])
    ].iloc[[0]]
    code, number = str(area["site_code"].iloc[0]), int(area["area_number"].iloc[0])
    objectives = pd.DataFrame({"area_number": [number, number], "habitat_code": ["H9120", "H4030"]})
    standin = objective_standin(area, objectives, load_kdw_table())
    assert standin["habitat_code"].tolist() == ["H4030"] and standin["kdw_mol_ha"].tolist() == [
        714.0
    ]
    keep = habitats.loc[habitats["site_code"] != code]
    mixed = pd.concat(
        [keep, standin[["site_code", "habitat_code", "kdw_mol_ha", "habitat_source", "geometry"]]]
    )
    work = tmp_path_factory.mktemp("habitat-standin")
    path = work / "habitats.gpkg"
    gpd.GeoDataFrame(mixed, geometry="geometry", crs=habitats.crs).to_file(path, layer="habitats")
    out = work / "out"
    cfg = cfg0.model_copy(
        update={
            # English: the notes checked below are the English texts of the catalogue
            "project": cfg0.project.model_copy(update={"output_dir": out, "language": "en"}),
            "inputs": cfg0.inputs.model_copy(
                update={"habitats": hab_spec.model_copy(update={"path": path})}
            ),
        }
    )
    run_all(cfg, stages=("zones", "overlay", "deposition", "rko", "select", "scenario", "policy"))
    run_maps(cfg, self_contained=False)
    report = run_report(cfg)
    return {
        "cfg": cfg,
        "code": code,
        "report": report,
        "n_areas": int(habitats["site_code"].nunique()),
    }


def test_area_deposition_has_the_habitat_source(standin_run) -> None:
    cfg, code = standin_run["cfg"], standin_run["code"]
    dep = read_table(cfg.output_dir / "area_deposition.csv", dtype={"site_code": str}).set_index(
        "site_code"
    )
    assert dep.loc[code, "habitat_source"] == STANDIN_LABEL
    others = dep.drop(index=[code, "ALL"])
    assert (others["habitat_source"] == HABITAT_MAP).all() and len(others)
    assert dep.loc["ALL", "habitat_source"] == f"{HABITAT_MAP}; {STANDIN_LABEL}"


def test_manifest_counts_areas_per_habitat_source(standin_run) -> None:
    cfg = standin_run["cfg"]
    manifest = json.loads((cfg.output_dir / "manifest_deposition.json").read_text())
    assert manifest["habitat_source_areas"] == {
        HABITAT_MAP: standin_run["n_areas"] - 1,
        STANDIN_LABEL: 1,
    }


def test_report_and_area_map_say_habitat_is_a_stand_in(standin_run) -> None:
    from n2kzones.render.maps import area_map_name

    cfg, code = standin_run["cfg"], standin_run["code"]
    html = standin_run["report"].read_text()
    assert f"Habitat is a stand-in for 1 area(s)</b> ({STANDIN_LABEL}): {code}." in html
    page = (cfg.output_dir / "maps" / area_map_name(code)).read_text()
    assert "Habitat is a stand-in" in page and STANDIN_LABEL in page
    other = next(
        p
        for p in sorted((cfg.output_dir / "maps").glob("area_*.html"))
        if p.name != area_map_name(code)
    )
    assert "Habitat is a stand-in" not in other.read_text()


def test_sample_without_habitat_source_says_habitat_map(sample_config) -> None:
    """The sample's habitat layer has no habitat_source: its per-area rows say "habitat map"
    and the report has no stand-in note (rendered from a table like the deposition stage's)."""
    from n2kzones.render.report import habitat_note
    from n2kzones.stages.deposition import area_habitat_sources, habitat_source_counts

    hab_spec = sample_config.inputs.habitats
    habitats = gpd.read_file(sample_config.resolve(hab_spec.path), layer=hab_spec.layer)
    codes = pd.Series([*sorted(habitats["site_code"].unique()), "ALL"])
    sources = area_habitat_sources(codes, habitats)
    assert set(sources) == {HABITAT_MAP}
    assert habitat_source_counts(habitats) == {HABITAT_MAP: int(habitats["site_code"].nunique())}
    assert habitat_note(pd.DataFrame({"site_code": codes, "habitat_source": sources})) == ""
