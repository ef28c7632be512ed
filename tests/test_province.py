"""Choosing areas by province: [project] province / --province, [inputs.provinces], preset
cbs_provinces, and the rule "an area is in a province when their polygons share more than a
boundary" (an area in two provinces is in both)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from conftest import RD, REAL, require_shared
from n2kzones.config import LayerInput, config_from_dict
from n2kzones.errors import ConfigError
from n2kzones.io.writers import read_table
from n2kzones.params import load_parameters
from n2kzones.zones import areas_in_provinces, choose_areas_by_province, match_provinces

CBS = REAL / "cbs-gebiedsindelingen-2026" / "provincies_zonder_water.geojson"
N2000 = REAL / "natura2000-nl-pdok-rce" / "gebieden"


# -- tiny frames with known answers ------------------------------------------------------------
def _provinces() -> gpd.GeoDataFrame:
    """Two 10 x 10 km squares side by side: Fryslân (PV21) west of x = 10 km, Noord-Holland east."""
    return gpd.GeoDataFrame(
        {"name": ["Fryslân", "Noord-Holland"], "code": ["PV21", "PV27"]},
        geometry=[shapely.box(0, 0, 10_000, 10_000), shapely.box(10_000, 0, 20_000, 10_000)],
        crs=RD,
    )


def _areas() -> gpd.GeoDataFrame:
    """W: 2 x 2 km inside the west square, E: inside the east one, S: 4 x 2 km straddling
    x = 10 km (half in each), T: east of x = 10 km, touching the west square along its edge."""
    return gpd.GeoDataFrame(
        {
            "site_code": ["NL1", "NL2", "NL3", "NL4"],
            "name": ["West", "East", "Straddling", "Touching"],
        },
        geometry=[
            shapely.box(1_000, 1_000, 3_000, 3_000),
            shapely.box(14_000, 1_000, 16_000, 3_000),
            shapely.box(8_000, 5_000, 12_000, 7_000),
            shapely.box(10_000, 8_000, 11_000, 9_000),
        ],
        crs=RD,
    )


@pytest.mark.parametrize(
    ("wanted", "codes", "names"),
    [
        (["Fryslân"], ["NL1", "NL3"], ["Fryslân"]),
        (["Noord-Holland"], ["NL2", "NL3", "NL4"], ["Noord-Holland"]),
        (["Fryslân", "Noord-Holland"], ["NL1", "NL2", "NL3", "NL4"], ["Fryslân", "Noord-Holland"]),
    ],
)
def test_square_provinces_give_the_exact_areas(
    wanted: list[str], codes: list[str], names: list[str]
) -> None:
    choice = choose_areas_by_province(_areas(), _provinces(), wanted)
    assert choice.site_codes == codes
    assert list(choice.areas["site_code"]) == codes
    assert choice.provinces == names


def test_pairs_with_overlap_in_hectares() -> None:
    pairs = areas_in_provinces(_areas(), _provinces())
    got = {(r.site_code, r.province): (r.overlap_ha, r.share_pct) for r in pairs.itertuples()}
    # 2 x 2 km = 400 ha; the straddling 4 x 2 km area has 400 ha on each side; touching: none
    assert got == {
        ("NL1", "Fryslân"): (400.0, 100.0),
        ("NL3", "Fryslân"): (400.0, 50.0),
        ("NL2", "Noord-Holland"): (400.0, 100.0),
        ("NL3", "Noord-Holland"): (400.0, 50.0),
        ("NL4", "Noord-Holland"): (100.0, 100.0),
    }
    assert list(pairs["province_code"].unique()) == ["PV21", "PV27"]


@pytest.mark.parametrize(
    "entry",
    ["Fryslân", "fryslan", "FRYSLAN", "  fryslân ", "Friesland", "friesland", "pv21", "PV 21"],
)
def test_names_case_and_accent_insensitive_and_codes(entry: str) -> None:
    assert match_provinces(_provinces(), [entry]) == [0]


@pytest.mark.parametrize("entry", ["noord holland", "NOORD-HOLLAND", "Noord Holland", "PV27"])
def test_hyphen_or_space_and_statcode(entry: str) -> None:
    assert match_provinces(_provinces(), [entry]) == [1]


def test_unknown_province_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as exc:
        choose_areas_by_province(_areas(), _provinces(), ["Frysland", "Utrecht"])
    msg = str(exc.value)
    assert "2 of the chosen provinces are not in the province layer" in msg
    assert "'Frysland' (closest: Fryslân (PV21))" in msg and "'Utrecht' (no close match)" in msg
    assert "the layer has: Fryslân (PV21), Noord-Holland (PV27)" in msg


def test_combined_with_areas_is_the_intersection_in_the_order_asked() -> None:
    choice = choose_areas_by_province(
        _areas(), _provinces(), ["Fryslân"], within=["NL3", "NL2", "NL1"]
    )
    assert choice.site_codes == ["NL3", "NL1"]
    assert sorted(choice.areas["site_code"]) == ["NL1", "NL3"]
    assert set(choice.pairs["site_code"]) == {"NL1", "NL3"}


def test_empty_intersection_names_what_was_asked_and_what_exists() -> None:
    with pytest.raises(ConfigError) as exc:
        choose_areas_by_province(_areas(), _provinces(), ["friesland"], within=["NL2"])
    msg = str(exc.value)
    assert "[project] areas = ['NL2'] and province = ['friesland'] choose no area together" in msg
    assert "NL2 (East) lies in Noord-Holland" in msg
    assert "Areas in Fryslân (PV21): NL1 (West), NL3 (Straddling)" in msg
    assert "n2kzones areas -c CONFIG --by-province" in msg


def test_province_without_areas_is_refused() -> None:
    provinces = _provinces()
    far = gpd.GeoDataFrame(
        {"name": ["Zeeland"], "code": ["PV29"]},
        geometry=[shapely.box(50_000, 0, 60_000, 10_000)],
        crs=RD,
    )
    with pytest.raises(
        ConfigError,
        match=r"no area of the area layer lies in Zeeland \(PV29\); provinces with areas "
        r"\(count\): Fryslân \(2\), Noord-Holland \(3\)",
    ):
        choose_areas_by_province(
            _areas(),
            gpd.GeoDataFrame(
                {"name": [*provinces["name"], "Zeeland"], "code": [*provinces["code"], "PV29"]},
                geometry=[*provinces.geometry, far.geometry.iloc[0]],
                crs=RD,
            ),
            ["Zeeland"],
        )


# -- config --------------------------------------------------------------------------------------
def _config_dict(tmp_path: Path, **project) -> dict:  # noqa: ANN003
    return {
        "project": {"output_dir": str(tmp_path / "out"), **project},
        "inputs": {"areas": {"path": "a.gpkg"}},
    }


def test_province_one_name_or_a_list(tmp_path: Path) -> None:
    data = _config_dict(tmp_path, province="Fryslân")
    data["inputs"]["provinces"] = {"path": "p.geojson", "preset": "cbs_provinces"}
    assert config_from_dict(data).project.province == ["Fryslân"]
    data["project"]["province"] = ["Fryslân", " Groningen ", "Fryslân"]
    cfg = config_from_dict(data)
    assert cfg.project.province == ["Fryslân", "Groningen"] and cfg.project.chooses_areas
    data["project"]["province"] = ["Fryslân", " "]
    with pytest.raises(ConfigError, match="blank"):
        config_from_dict(data)


def test_province_without_province_layer_is_refused(tmp_path: Path, sample_config) -> None:
    with pytest.raises(
        ConfigError, match=r"needs the province polygons: add \[inputs.provinces\].*cbs_provinces"
    ):
        config_from_dict(_config_dict(tmp_path, province="Fryslân"))
    with pytest.raises(ConfigError, match=r"--province = \['PV21'\] needs the province polygons"):
        sample_config.with_province(["PV21"])


def test_unknown_province_preset_is_refused(tmp_path: Path) -> None:
    data = _config_dict(tmp_path)
    data["inputs"]["provinces"] = {"path": "p.geojson", "preset": "cbs"}
    with pytest.raises(ConfigError, match="allowed: n2kzones, cbs_provinces"):
        config_from_dict(data)


def _write_provinces(path: Path, boxes: list[tuple[str, str, shapely.Geometry]]) -> Path:
    """A CBS-like province file: statcode, statnaam, jrstatcode (EPSG:28992)."""
    gpd.GeoDataFrame(
        {
            "statcode": [b[0] for b in boxes],
            "statnaam": [b[1] for b in boxes],
            "jrstatcode": [f"2026{b[0]}" for b in boxes],
        },
        geometry=[b[2] for b in boxes],
        crs=RD,
    ).to_file(path, driver="GeoJSON")
    return path


def test_cbs_preset_reads_name_and_code_and_dissolves_repeated_names(tmp_path: Path) -> None:
    from n2kzones.io.readers import read_layer

    x, y = 150_000, 450_000  # in the Netherlands (RD New)
    path = _write_provinces(
        tmp_path / "p.geojson",
        [
            ("PV21", "Fryslân", shapely.box(x, y, x + 10_000, y + 10_000)),
            ("PV27", "Noord-Holland", shapely.box(x + 10_000, y, x + 20_000, y + 5_000)),
            ("PV27", "Noord-Holland", shapely.box(x + 10_000, y + 5_000, x + 20_000, y + 10_000)),
        ],
    )
    gdf, report = read_layer(
        "provinces",
        LayerInput(path=path, preset="cbs_provinces"),
        crs=RD,
        params=load_parameters({}),
    )
    assert list(gdf["name"]) == ["Fryslân", "Noord-Holland"] and list(gdf["code"]) == [
        "PV21",
        "PV27",
    ]
    assert gdf.geometry.area.tolist() == pytest.approx([1e8, 1e8])
    assert "dissolved 2 rows sharing 1 province names" in " ".join(report.notes)


# -- stages and CLI on the sample ------------------------------------------------------------------
def _sample_split(sample_dir: Path) -> tuple[float, set[str], set[str]]:
    """A vertical line through the sample's areas; the areas reaching west / east of it."""
    areas = gpd.read_file(sample_dir / "natura2000.gpkg").to_crs(RD)
    b = areas.geometry.bounds
    x = float(b["minx"].median()) + 1.0
    west = set(areas.loc[b["minx"] < x, "site_code"])
    east = set(areas.loc[b["maxx"] > x, "site_code"])
    assert west and east and west != east
    return x, west, east


@pytest.fixture
def province_toml(
    sample_config, sample_dir: Path, tmp_path: Path
) -> tuple[Path, set[str], set[str]]:
    """The sample config plus [inputs.provinces]: two CBS-like provinces split at a line
    through the areas."""
    x, west, east = _sample_split(sample_dir)
    x0, y0, x1, y1 = gpd.read_file(sample_dir / "natura2000.gpkg").to_crs(RD).total_bounds
    path = _write_provinces(
        tmp_path / "provinces.geojson",
        [
            ("PV21", "Fryslân", shapely.box(x0 - 5_000, y0 - 5_000, x, y1 + 5_000)),
            ("PV22", "Drenthe", shapely.box(x, y0 - 5_000, x1 + 5_000, y1 + 5_000)),
        ],
    )
    text = Path(sample_config.source_path).read_text()
    text = re.sub(r'output_dir = "[^"]*"', f'output_dir = "{tmp_path / "out"}"', text)
    text += f'\n[inputs.provinces]\npath = "{path}"\npreset = "cbs_provinces"\n'
    toml = tmp_path / "province.toml"
    toml.write_text(text)
    return toml, west, east


def test_cli_province_through_the_zones_stage(province_toml) -> None:
    from typer.testing import CliRunner

    from n2kzones.cli import app

    toml, west, east = province_toml
    out = toml.parent / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["zones", "-c", str(toml), "--province", "friesland"])
    assert res.exit_code == 0, res.output
    assert set(gpd.read_parquet(out / "stages" / "areas.parquet")["site_code"]) == west
    assert set(gpd.read_parquet(out / "stages" / "zones_by_area.parquet")["site_code"]) <= west
    manifest = json.loads((out / "manifest_zones.json").read_text())
    chosen = manifest["areas_chosen"]
    assert chosen["province"] == ["friesland"] and chosen["provinces"] == ["Fryslân"]
    assert set(chosen["site_codes"]) == west and chosen["kept"] == len(west) and chosen["of"] == 9
    assert "share more than a boundary" in chosen["rule"]
    assert set(chosen["in_province"]) == west
    assert manifest["config_keys"]["project.province"] == ["friesland"]
    assert "provinces" in manifest["inputs"]

    # with --areas: the areas both choose; an area of the east only -> a clear error
    both = sorted(west & east) or sorted(west)[:1]
    res = runner.invoke(
        app, ["zones", "-c", str(toml), "--province", "PV21", "--areas", ",".join(both)]
    )
    assert res.exit_code == 0, res.output
    assert sorted(gpd.read_parquet(out / "stages" / "areas.parquet")["site_code"]) == both
    only_east = sorted(east - west)[0]
    res = runner.invoke(app, ["zones", "-c", str(toml), "--province", "PV21", "--areas", only_east])
    assert (
        res.exit_code == 2
        and "choose no area together" in res.output
        and f"{only_east} (" in res.output
    )

    # later stages follow the zones stage's choice (and refuse it when they are asked another)
    res = runner.invoke(app, ["zones", "-c", str(toml), "--province", "friesland"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["overlay", "-c", str(toml), "--province", "friesland"])
    assert res.exit_code == 0, res.output
    zoned = set(gpd.read_parquet(out / "stages" / "zones_by_area.parquet")["site_code"])
    assert set(read_table(out / "area_summary.csv")["site_code"]) - {"ALL"} == zoned
    assert zoned <= west and len(zoned) >= 2
    stale = runner.invoke(app, ["overlay", "-c", str(toml)])
    assert (
        stale.exit_code == 2
        and "config changed" in stale.output
        and "project.province" in stale.output
    )

    bad = runner.invoke(app, ["zones", "-c", str(toml), "--province", "Frieslân-Oost"])
    assert bad.exit_code == 2 and "the layer has: Fryslân (PV21), Drenthe (PV22)" in bad.output

    listed = runner.invoke(app, ["areas", "-c", str(toml), "--by-province"])
    assert listed.exit_code == 0, listed.output
    assert f"Fryslân (PV21): {len(west)} areas" in listed.output
    assert f"Drenthe (PV22): {len(east)} areas" in listed.output
    one = runner.invoke(app, ["areas", "-c", str(toml), "--province", "fryslan"])
    assert one.exit_code == 0 and "Drenthe" not in one.output
    assert all(f"* {code}" in one.output for code in west)


def test_province_flag_without_province_layer_exits_2(sample_config) -> None:
    from typer.testing import CliRunner

    from n2kzones.cli import app

    res = CliRunner().invoke(
        app, ["zones", "-c", str(sample_config.source_path), "--province", "Fryslân"]
    )
    assert res.exit_code == 2 and "add [inputs.provinces]" in res.output


def test_habitats_follow_the_province_choice(province_toml, sample_dir: Path) -> None:
    from n2kzones.config import load_config
    from n2kzones.stages.common import habitats_of_chosen_areas

    toml, west, _ = province_toml
    cfg = load_config(toml)
    habitats = gpd.read_file(sample_dir / "habitats.gpkg")
    assert len(habitats_of_chosen_areas(cfg, habitats, gpd.GeoDataFrame())) == len(
        habitats
    )  # no choice
    areas = gpd.read_file(sample_dir / "natura2000.gpkg")
    areas = areas[areas["site_code"].isin(west)]
    kept = habitats_of_chosen_areas(cfg.with_province(["Fryslân"]), habitats, areas)
    assert 0 < len(kept) < len(habitats)
    assert set(kept["site_code"]) <= west


# -- the real CBS provinces and Natura 2000 areas ------------------------------------------------
@pytest.mark.real_data
def test_fryslan_from_the_real_cbs_file() -> None:
    from n2kzones.io.natura2000_json import read_natura2000_json
    from n2kzones.io.readers import read_layer

    require_shared(CBS)
    require_shared(N2000)
    provinces, _ = read_layer(
        "provinces",
        LayerInput(path=CBS, preset="cbs_provinces"),
        crs=RD,
        params=load_parameters({}),
    )
    assert len(provinces) == 12 and set(provinces["code"]) == {f"PV{n}" for n in range(20, 32)}
    areas = read_natura2000_json(N2000).to_crs(RD)
    choice = choose_areas_by_province(areas, provinces, ["Fryslân"])
    names = set(choice.areas["name"])
    assert choice.provinces == ["Fryslân"]
    assert 12 <= len(choice.site_codes) <= 30
    assert {"Alde Feanen", "Duinen Schiermonnikoog", "Sneekermeergebied", "Lauwersmeer"} <= names
    assert not names & {"Veluwe", "Biesbosch", "Meijendel & Berkheide"}
    # Lauwersmeer lies in Fryslân and Groningen: it is in both
    assert "Lauwersmeer" in set(
        choose_areas_by_province(areas, provinces, ["groningen"]).areas["name"]
    )
    assert choose_areas_by_province(areas, provinces, ["Friesland"]).site_codes == choice.site_codes
    assert choose_areas_by_province(areas, provinces, ["PV21"]).site_codes == choice.site_codes
