"""The report's analysis page per area, its PDF export and the farm sheets, on the sample: every
figure on a page or sheet equals the stage output it comes from (the CSVs, rko_sources.gpkg),
every area has a page and a section in the PDF with its name, and the index names the areas."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from n2kzones.io.writers import read_table

CHROMIUM = Path("/usr/bin/chromium")
FARMS = ("F00000100", "F00000099")


def _need_chromium() -> None:
    if not CHROMIUM.exists() and not os.environ.get("N2KZONES_CHROMIUM"):
        if os.environ.get("CI"):
            pytest.fail("CI must run the PDF test: `make test` installs chromium (apt-get)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def reported(sample_config, tmp_path_factory):
    """The pipeline on the sample, then the report with PDFs and two farm sheets."""
    from n2kzones.stages.report import run_report
    from n2kzones.stages.run import run_all

    _need_chromium()
    out = tmp_path_factory.mktemp("report-pages")
    # English: the tables are read by their English headers (tests/test_i18n.py checks Dutch)
    project = sample_config.project.model_copy(update={"output_dir": out, "language": "en"})
    cfg = sample_config.model_copy(update={"project": project})
    run_all(cfg, stages=("zones", "overlay", "deposition", "rko", "select", "scenario", "policy", "maps"))
    cfg = cfg.with_report(pdf=True, farm_ids=list(FARMS))
    index = run_report(cfg)
    return {"cfg": cfg, "out": out, "index": index}


def _csv(out: Path, name: str) -> pd.DataFrame:
    return read_table(
        out / name,
        dtype={"site_code": str, "farm_id": str, "area_codes": str, "nearest_site_code": str},
    )


def _table(html: str, ident: str) -> pd.DataFrame:
    return pd.read_html(io.StringIO(html), attrs={"id": ident}, thousands=",")[0]


def test_every_area_has_a_page_and_the_index_names_and_links_it(reported) -> None:
    from n2kzones.stages.catalogue import area_page_name

    out, index = reported["out"], reported["index"]
    areas = pd.read_parquet(out / "stages" / "areas.parquet", columns=["site_code", "name"])
    html = index.read_text()
    listed = _table(html, "areas")
    assert list(listed.iloc[:, 0]) == [
        f"{n} ({c})" for c, n in zip(areas["site_code"], areas["name"], strict=True)
    ]
    hrefs = re.findall(r'href="([^"]+)"', html)
    for code in areas["site_code"]:
        page = index.parent / "areas" / area_page_name(code)
        assert page.exists() and f"areas/{area_page_name(code)}" in hrefs
        assert (index.parent / f"../maps/area_{code}.html").resolve().exists()
        assert f"../maps/area_{code}.html" in hrefs
        assert f"areas/{area_page_name(code, '.pdf')}" in hrefs  # PDFs were asked for
        text = page.read_text()
        name = areas.loc[areas["site_code"] == code, "name"].iloc[0]
        assert f"<title>Area analysis: {name} ({code})</title>" in text
        assert f'href="../../maps/area_{code}.html"' in text  # the page links its map
        assert (page.parent / f"../../maps/area_{code}.html").resolve().exists()


def test_habitat_totals_equal_area_deposition(reported) -> None:
    from n2kzones.stages.catalogue import area_page_name

    out = reported["out"]
    dep = _csv(out, "area_deposition.csv").set_index("site_code")
    receptors = pd.read_parquet(
        out / "stages" / "receptors.parquet", columns=["site_code", "habitat_code"]
    )
    checked = 0
    for code in receptors["site_code"].unique():
        tab = _table((out / "report" / "areas" / area_page_name(code)).read_text(), "habitats")
        total = tab.iloc[-1]
        assert total.iloc[0] == "all types"
        assert (
            len(tab) - 1 == receptors.loc[receptors["site_code"] == code, "habitat_code"].nunique()
        )
        row = dep.loc[code]
        assert float(total["habitat (ha)"]) == pytest.approx(
            row["sensitive_ha"], abs=0.056  # the page's 0.1 ha and the CSV's 0.01 ha rounding
        )
        assert float(total["overloaded (ha)"]) == pytest.approx(
            row["overloaded_ha"], abs=0.056  # the page's 0.1 ha and the CSV's 0.01 ha rounding
        )
        assert float(total["near overload (ha)"]) == pytest.approx(
            row["near_overload_ha"], abs=0.056  # the page's 0.1 ha and the CSV's 0.01 ha rounding
        )
        assert float(total["mean (mol/ha/yr)"]) == pytest.approx(
            row["mean_deposition_mol_ha"], abs=0.506  # whole mol on the page, 0.01 in the CSV
        )
        # the types add up to the total
        assert tab["overloaded (ha)"].iloc[:-1].sum() == pytest.approx(
            total["overloaded (ha)"], abs=0.05 * len(tab)
        )
        checked += 1
    assert checked >= 5


def test_area_page_tables_equal_the_csv_rows(reported) -> None:
    from n2kzones.stages.catalogue import area_page_name

    out = reported["out"]
    summary = _csv(out, "area_summary.csv")
    proposal = _csv(out, "zone_proposal.csv").set_index("site_code")
    scen = _csv(out, "scenarios.csv")
    rko = _csv(out, "rko_by_area.csv")
    code = proposal["overloaded_ha"].idxmax()
    html = (out / "report" / "areas" / area_page_name(code)).read_text()
    # land and farms: the ring and inner rows of area_summary.csv
    land = _table(html, "land").set_index("category")
    ring = summary[(summary["site_code"] == code) & (summary["part"] == "ring")].iloc[0]
    both = summary[summary["site_code"] == code]
    assert float(land.loc["grasland", "zone ring"]) == pytest.approx(
        round(ring["ha_grasland"], 1), abs=0.051
    )
    assert float(land.loc["grasland", "total"]) == pytest.approx(
        round(both["ha_grasland"].sum(), 1), abs=0.051
    )
    farms = _table(html, "farms").set_index("category")
    assert int(farms.loc["farms", "total"]) == int(both["farms"].sum())
    assert float(farms.loc["NH3 emission (kg/yr)", "total"]) == pytest.approx(
        both["emission_kg_nh3"].sum(), abs=0.51
    )
    # zone width and why
    zone = _table(html, "zone")
    assert str(proposal.loc[code, "reason"]) in " ".join(zone.iloc[:, 1].astype(str))
    # deposition by distance: zone_proposal.csv
    dist = _table(html, "distance").set_index("farms")
    p = proposal.loc[code]
    assert int(dist.loc["within 500 m", "number"]) == int(p["n_farms_within_500m"])
    assert float(dist.loc["within 500 m", "deposition (mol/ha/yr)"]) == pytest.approx(
        round(p["dep_within_500m_mol_ha"], 1), abs=0.051
    )
    share = 100 * p["dep_500_1000m_mol_ha"] / p["dep_farms_total_mol_ha"]
    assert float(dist.loc["500-1000 m", "share of all farms (%)"]) == pytest.approx(
        round(share, 1), abs=0.051
    )
    # RKO: rko_by_area.csv rows of the area, one per threshold x range
    r = _table(html, "rko")
    mine = rko[rko["site_code"] == code]
    assert len(r) == len(mine)
    assert (
        r["sources below"].astype(int).tolist()
        == mine.sort_values("threshold_mol_ha", kind="stable")["n_sources_below"].tolist()
    )
    # scenarios: scenarios.csv rows of the area
    s = _table(html, "scenarios").set_index("scenario")
    for row in scen[scen["site_code"] == code].itertuples():
        assert float(s.loc[row.scenario, "change (ha)"]) == pytest.approx(
            round(row.overloaded_ha_change, 1), abs=0.051
        )
        assert int(s.loc[row.scenario, "farms affected"]) == row.farms_affected


def test_area_page_policy_section_equals_the_policy_tables(reported) -> None:
    """Each area page shows the policy stage's rows of that area: its threshold, the extra
    reduction per target and the zone bases (English run: numbers with a decimal point)."""
    from n2kzones.stages.catalogue import area_page_name

    out = reported["out"]
    thr = _csv(out, "policy_area_thresholds.csv").set_index("site_code")
    red = _csv(out, "policy_reductions.csv")
    var = _csv(out, "policy_zone_variants.csv")
    for code in thr.index:
        html = (out / "report" / "areas" / area_page_name(code)).read_text()
        assert 'id="policy-threshold"' in html, code
        shown = _table(html, "policy-threshold").iloc[:, 1]
        t = float(thr.loc[code, "area_threshold_mol_ha"])
        first = str(shown.iloc[0])
        assert (first == "none needed: all farms fit") if not np.isfinite(t) else float(first) == pytest.approx(t, rel=1e-3)
        assert int(float(shown.iloc[2])) == int(thr.loc[code, "permit_free_sources"])
        rows = red[red["site_code"] == code]
        page = _table(html, "policy-reductions")
        assert list(page.iloc[:, 0]) == list(rows["target"])
        extra = pd.to_numeric(page.iloc[:, 2], errors="coerce").to_numpy(float)
        np.testing.assert_allclose(extra, rows["extra_pct_points"].to_numpy(float), atol=0.006)
        bases = _table(html, "policy-variants")
        np.testing.assert_array_equal(
            bases.iloc[:, 2].to_numpy(int), var.loc[var["site_code"] == code, "farms"].to_numpy(int)
        )


def test_habitat_table_known_answer() -> None:
    """Two types: sums, weighted means, % of KDW and (near) overload by hand."""
    from n2kzones.render.area_page import habitat_table

    rec = pd.DataFrame(
        {
            "receptor_id": ["a", "b", "c"],
            "habitat_code": ["H1", "H1", "H2"],
            "habitat_ha": [1.0, 3.0, 2.0],
            "kdw_mol_ha": [1000.0, 1000.0, 500.0],
            "total_mol_ha": [1200.0, 800.0, 450.0],
            "overload": [True, False, False],
            "near_overload": [True, True, True],
            "farms_mol_ha": [100.0, 200.0, 50.0],
            "farms_in_zone_mol_ha": [40.0, 0.0, 10.0],
        }
    )
    t = habitat_table(rec, {"H1": "One"}).set_index("habitat_code")
    assert t.loc["H1", "name"] == "One" and t.loc["H1", "habitat_ha"] == 4.0
    assert t.loc["H1", "sum_mol"] == 1200 + 3 * 800
    assert t.loc["H1", "mean_mol_ha"] == pytest.approx((1200 + 2400) / 4)
    assert t.loc["H1", "max_mol_ha"] == 1200 and t.loc["H1", "max_pct_kdw"] == pytest.approx(120)
    assert t.loc["H1", "mean_pct_kdw"] == pytest.approx((120 + 3 * 80) / 4)
    assert t.loc["H2", "mean_pct_kdw"] == pytest.approx(90)
    assert t.loc["ALL", "overloaded_ha"] == 1.0 and t.loc["ALL", "near_overload_ha"] == 6.0
    assert t.loc["ALL", "mean_farms_in_zone_mol_ha"] == pytest.approx((40 + 0 + 20) / 6)
    assert t.loc["ALL", "receptors"] == 3


def test_habitat_table_types_in_order_rows_kept_in_each_type() -> None:
    """Interleaved types, a missing code ("?") and a receptor in two rows: each type's rows are
    its own (hectares, counts, the first-row maximum), sorted by code, then the total."""
    from n2kzones.render.area_page import habitat_table

    rec = pd.DataFrame(
        {
            "receptor_id": ["a", "b", "a", "c", "d"],
            "habitat_code": ["H2", None, "H1", "H2", "H1"],
            "habitat_ha": [1.0, 2.0, 4.0, 8.0, 16.0],
            "kdw_mol_ha": [500.0, 700.0, 1000.0, 400.0, 900.0],
            "total_mol_ha": [600.0, 100.0, 900.0, 300.0, 1000.0],
            "overload": [True, False, False, False, True],
            "near_overload": [True, False, True, False, True],
            "farms_mol_ha": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    t = habitat_table(rec)
    assert list(t["habitat_code"]) == ["?", "H1", "H2", "ALL"]
    t = t.set_index("habitat_code")
    assert list(t["habitat_ha"]) == [2.0, 20.0, 9.0, 31.0]
    assert list(t["receptors"]) == [1, 2, 2, 4]  # "a" counts once in the total
    assert list(t["overloaded_ha"]) == [0.0, 16.0, 1.0, 17.0]
    assert t.loc["H1", "kdw_mol_ha"] == 900.0 and t.loc["H2", "max_mol_ha"] == 600.0
    assert t.loc["H2", "mean_farms_mol_ha"] == pytest.approx((1 + 8 * 4) / 9)
    assert np.isnan(t.loc["ALL", "mean_farms_in_zone_mol_ha"])  # no in-zone column


def test_area_tables_rows_are_the_areas_rows_in_table_order() -> None:
    """An area's rows (and their dicts) are those of the table with its code, in the table's
    order with their index; no rows: an empty frame with the columns; a replaced table is
    looked up anew."""
    from n2kzones.render.area_page import AreaTables

    scen = pd.DataFrame(
        {"site_code": ["B", "A", "B", "C", "B"], "v": [1, 2, 3, 4, 5]}, index=[10, 11, 12, 13, 14]
    )
    t = AreaTables(areas=pd.DataFrame({"site_code": ["A"]}), scenarios=scen)
    b = t.rows("scenarios", "B")
    pd.testing.assert_frame_equal(b, scen.loc[scen["site_code"] == "B"])
    assert t.records("scenarios", "B") == [
        {"site_code": "B", "v": 1}, {"site_code": "B", "v": 3}, {"site_code": "B", "v": 5}
    ]
    none = t.rows("scenarios", "X")
    assert none.empty and list(none.columns) == ["site_code", "v"]
    assert t.records("scenarios", "X") == [] and t.records("zone_proposal", "A") == []
    assert t.rows("zone_proposal", "A").empty  # no such table
    t.scenarios = scen.assign(v=scen["v"] * 10)
    assert [r["v"] for r in t.records("scenarios", "B")] == [10, 30, 50]


def test_figures_drawn_in_worker_processes_are_the_same_files(tmp_path) -> None:
    """The report's figures drawn in two worker processes are byte for byte those drawn in
    this process, in the order of the jobs, one per table with rows."""
    from n2kzones.render.report import draw_figures, figure_jobs

    tables = {
        "area_deposition": pd.DataFrame(
            {"site_code": ["A", "B", "C"], "pct_overloaded": [10.0, 50.0, 0.0],
             "pct_near_overload": [20.0, 60.0, 5.0]}
        ),
        "scenarios": pd.DataFrame(
            {"site_code": ["A", "B", "ALL"], "scenario": ["s", "s", "s"],
             "overloaded_ha_change": [-1.0, -2.5, -3.5]}
        ),
        "zone_proposal": pd.DataFrame(),  # no rows: no figure
    }
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    paths = draw_figures(figure_jobs(one, tables, "en"), workers=1)
    assert [p.name for p in paths] == ["overload_per_area.png", "scenarios.png"]
    assert draw_figures(figure_jobs(two, tables, "en"), workers=2) == [two / p.name for p in paths]
    for p in paths:
        assert p.read_bytes() == (two / p.name).read_bytes()


def _pdf_pages(path: Path) -> list[str]:
    pdfplumber = pytest.importorskip("pdfplumber")
    with pdfplumber.open(path) as pdf:
        return [" ".join((p.extract_text() or "").split()) for p in pdf.pages]


def test_pdf_has_one_section_per_area_with_its_name(reported) -> None:
    from n2kzones.stages.catalogue import area_page_name

    out = reported["out"]
    areas = pd.read_parquet(out / "stages" / "areas.parquet", columns=["site_code", "name"])
    pages = _pdf_pages(out / "report" / "report.pdf")
    assert pages[0].startswith("n2kzones report")
    starts = [i for i, t in enumerate(pages) if t.startswith("Area analysis: ")]
    assert len(starts) == len(areas), "each area's section starts a page"
    for i, (code, name) in zip(
        starts, zip(areas["site_code"], areas["name"], strict=True), strict=True
    ):
        assert pages[i].startswith(f"Area analysis: {name} ({code}) Zone width and why")
    assert len(pages) >= 1 + len(areas)
    for code, name in zip(areas["site_code"], areas["name"], strict=True):
        one = _pdf_pages(out / "report" / "areas" / area_page_name(code, ".pdf"))
        assert one[0].startswith(f"Area analysis: {name} ({code})")
        assert "Deposition on each habitat type" in " ".join(one)


def test_farm_sheet_equals_farm_summary_and_rko_sources(reported) -> None:
    from n2kzones.stages.catalogue import farm_sheet_name

    out, cfg = reported["out"], reported["cfg"]
    summary = _csv(out, "farm_summary.csv").set_index("farm_id")
    src = pyogrio.read_dataframe(out / "rko_sources.gpkg", layer="sources", read_geometry=False)
    src = src.assign(farm_id=src["farm_id"].astype(str)).set_index("farm_id")
    cuts = _csv(out, "scenario_farms.csv")
    for fid in FARMS:
        sheet = read_table(
            out / "farm_sheets" / farm_sheet_name(fid, ".csv"), dtype=str
        ).set_index("key")
        f, s = summary.loc[fid], src.loc[fid]
        for col in (
            "gve_per_ha",
            "grassland_share",
            "distance_to_area_m",
            "emission_kg_nh3",
            "width_m",
        ):
            assert float(sheet.loc[col, "value"]) == pytest.approx(float(f[col]), rel=1e-12), col
        assert float(sheet.loc["gve_per_ha", "norm"]) == cfg.params.land_based.max_gve_per_ha == 2.6
        assert (
            float(sheet.loc["grassland_share", "norm"])
            == cfg.params.land_based.min_grassland_share
            == 0.85
        )
        assert sheet.loc["gve_per_ha", "meets"] == ("yes" if f["gve_per_ha"] <= 2.6 else "no")
        assert sheet.loc["grassland_share", "meets"] == (
            "yes" if f["grassland_share"] >= 0.85 else "no"
        )
        assert str(f["nearest_site_code"]) in sheet.loc["nearest_site_code", "value"]
        for label in ("none", "25000"):
            assert float(sheet.loc[f"max_{label}_mol_ha", "value"]) == pytest.approx(
                float(s[f"max_{label}_mol_ha"]), rel=1e-12
            )
            assert sheet.loc[f"receptor_{label}", "value"] == str(s[f"receptor_{label}"])
            assert str(s[f"site_code_{label}"]) in sheet.loc[f"site_code_{label}", "value"]
            for t in cfg.rko.thresholds_mol_ha:
                below = s[f"max_{label}_mol_ha"] < t
                assert sheet.loc[f"below_{t:g}_{label}", "value"].startswith(
                    "yes" if below else "no"
                )
            flag = s[f"below_{cfg.rko.map_threshold_mol_ha:g}_{label}"]
            assert sheet.loc[f"below_{cfg.rko.map_threshold_mol_ha:g}_{label}", "value"].startswith(
                "yes" if flag else "no"
            )
        for name in (sc.name for sc in cfg.scenarios):
            cut = cuts.loc[
                (cuts["farm_id"] == fid) & (cuts["scenario"] == name), "nh3_reduced_kg"
            ].sum()
            assert float(sheet.loc[f"{name}:nh3_reduced_kg", "value"]) == pytest.approx(cut)
        html = (out / "farm_sheets" / farm_sheet_name(fid)).read_text()
        assert f"<title>Farm sheet {fid}</title>" in html
        row = re.search(r'<tr data-key="gve_per_ha">(.*?)</tr>', html).group(1)
        assert f">{f['gve_per_ha']:,.2f}<" in row
        row = re.search(r'<tr data-key="emission_kg_nh3">(.*?)</tr>', html).group(1)
        assert f">{f['emission_kg_nh3']:,.1f}<" in row
        assert (out / "farm_sheets" / farm_sheet_name(fid, ".pdf")).stat().st_size > 5000
        assert _pdf_pages(out / "farm_sheets" / farm_sheet_name(fid, ".pdf"))[0].startswith(
            f"Farm sheet {fid}"
        )
    index = read_table(out / "farm_sheets" / "farm_sheets.csv", dtype=str)
    assert list(dict.fromkeys(index["farm_id"])) == list(FARMS)


def test_scenario_farm_cuts_add_up_to_the_scenario_totals(reported) -> None:
    out = reported["out"]
    cuts = _csv(out, "scenario_farms.csv")
    scen = _csv(out, "scenarios.csv")
    for name, g in scen[scen["site_code"] == "ALL"].groupby("scenario"):
        mine = cuts[cuts["scenario"] == name]
        assert mine["nh3_reduced_kg"].sum() == pytest.approx(float(g["nh3_reduced_kg"].iloc[0]))
        assert len(mine) == int(g["farms_affected"].iloc[0])


def test_farm_sheets_for_an_area_and_unknown_ids(reported) -> None:
    from n2kzones.errors import ConfigError
    from n2kzones.stages.report import requested_farms

    out, cfg = reported["out"], reported["cfg"]
    summary = _csv(out, "farm_summary.csv")
    code = "NL2003002"
    expect = summary[
        summary["area_codes"].fillna("").str.split(";").map(lambda c: code in c)
        | (summary["nearest_site_code"] == code)
    ]["farm_id"]
    got = requested_farms(cfg.with_report(farm_ids=[], farm_areas=[code]), summary)
    assert got == list(expect) and len(got) > 10
    assert requested_farms(cfg.with_report(farm_ids=[got[0]], farm_areas=[code]), summary) == got
    with pytest.raises(ConfigError, match="no farm NOPE"):
        requested_farms(cfg.with_report(farm_ids=["NOPE"]), summary)
    with pytest.raises(ConfigError, match="NL9999999"):
        requested_farms(cfg.with_report(farm_areas=["NL9999999"]), summary)


def test_pdf_without_chromium_says_how_to_install(sample_config, monkeypatch, tmp_path) -> None:
    from n2kzones.io.pdf import CHROMIUM_ENV, ChromiumMissingError
    from n2kzones.stages.report import run_report

    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    cfg = sample_config.model_copy(
        update={"project": sample_config.project.model_copy(update={"output_dir": tmp_path / "o"})}
    )
    with pytest.raises(ChromiumMissingError, match="apt-get install -y chromium"):
        run_report(cfg, pdf=True)
    assert not (tmp_path / "o" / "report").exists()


def test_cli_farm_sheet_needs_a_farm_or_area() -> None:
    from typer.testing import CliRunner

    from n2kzones.cli import app

    res = CliRunner().invoke(app, ["farm-sheet", "-c", "config/sample.toml"])
    assert res.exit_code == 2
    assert "--farm" in res.output or "--farm" in (
        res.stderr if res.stderr_bytes is not None else ""
    )


def test_fmt_number_dutch_and_english() -> None:
    from n2kzones.render.area_page import fmt_number

    assert fmt_number(1234.567, 1, "en") == "1,234.6"
    assert fmt_number(1234.567, 1, "nl") == fmt_number(1234.567, 1) == "1.234,6"  # Dutch default
    assert fmt_number(-0.04, 1, "en") == "0.0"
    assert fmt_number(float("nan")) == "" and fmt_number(np.float64(2.5), 0) == "2"


def test_area_page_dutch_by_default_and_english_on_request() -> None:
    """The page's text comes from the catalogue (completeness: tests/test_i18n.py), Dutch by
    default, English with ``lang="en"``."""
    from n2kzones.render import area_page

    t = area_page.AreaTables(areas=pd.DataFrame({"site_code": ["X1"], "name": ["Âlde Feanen"]}))
    ctx = area_page.PageContext(
        default_width_m=500, wide_width_m=1000, n_wide=2, near_margin_mol_ha=70
    )
    nl_page = area_page.area_page("X1", t, ctx)
    assert "<title>Gebiedsanalyse: Âlde Feanen (X1)</title>" in nl_page
    assert 'lang="nl"' in nl_page and "Zonebreedte en waarom" in nl_page
    en_page = area_page.area_page("X1", t, area_page.PageContext(**{**ctx.__dict__, "lang": "en"}))
    assert "<title>Area analysis: Âlde Feanen (X1)</title>" in en_page and 'lang="en"' in en_page


def test_area_page_and_index_escape_input_values() -> None:
    from n2kzones.render.area_page import AreaTables, PageContext, area_page
    from n2kzones.render.report import area_index

    xss = "<img src=x onerror=alert(1)>"
    t = AreaTables(areas=pd.DataFrame({"site_code": ["X1"], "name": [xss]}))
    ctx = PageContext(default_width_m=500, wide_width_m=1000, n_wide=2, near_margin_mol_ha=70)
    html = area_page("X1", t, ctx)
    row = {"site_code": "X1", "name": xss, "map_href": None, "page_href": "a.html"}
    index = area_index([{**row, "zone_width_m": 500.0, "overloaded_ha": 1.0}])
    for out in (html, index):
        assert "<img src=x" not in out and "&lt;img src=x" in out
