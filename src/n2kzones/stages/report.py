"""Stage ``report``: ``report/index.html`` with figures, links to the maps and the tables, an
analysis page per area (``report/areas/``), the farm sheets asked for (``farm_sheets/``) and,
on request, PDFs of all of it (headless Chromium).

Every figure on the pages is read from the stage outputs the catalogue names, so the pages
and the CSVs cannot disagree.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio

from n2kzones.config import Config
from n2kzones.errors import ConfigError
from n2kzones.io.pdf import html_to_pdf, require_chromium
from n2kzones.io.writers import atomic_path, read_table
from n2kzones.render.area_page import (
    PAGE_CSS,
    AreaTables,
    PageContext,
    area_name,
    area_page,
    area_section,
)
from n2kzones.render.farm_sheet import SHEET_COLUMNS, FarmContext, farm_sheet_html, farm_sheet_table
from n2kzones.render.i18n import tr
from n2kzones.render.names import area_map_name
from n2kzones.render.report import (
    LINKED,
    OUTPUT_TEXT_KEYS,
    available_cpus,
    figure_jobs,
    range_text,
    render_report,
    start_figures,
)
from n2kzones.rko import range_labels
from n2kzones.stages.catalogue import (
    AREA_PAGES_DIR,
    FARM_SHEETS_INDEX,
    OUTPUTS,
    REPORT_INDEX,
    REPORT_PDF,
    area_page_name,
    farm_sheet_name,
)
from n2kzones.stages.common import config_name, data_date
from n2kzones.stages.framework import StageRun, stage_run
from n2kzones.stages.manifest import read_manifest

log = logging.getLogger(__name__)

#: Tables the report draws figures from (catalogue keys).
FIGURE_TABLES = (
    "rko_sweep", "area_deposition", "zone_proposal", "scenarios", "policy_area_thresholds", "policy_thresholds",
    "policy_reductions", "policy_zone_variants",
)
#: CSV tables the area pages read (catalogue keys).
PAGE_TABLES = (
    "area_summary",
    "area_deposition",
    "zone_proposal",
    "rko_by_area",
    "scenarios",
    "zone_effectiveness",
)
#: CSV tables only the farm sheets read (catalogue keys): read when sheets are asked for.
FARM_TABLES = ("farm_summary", "scenario_farms")
#: Text columns of the CSVs (read as text, not numbers).
TEXT_COLUMNS = {
    c: str
    for c in (
        "site_code",
        "farm_id",
        "area_codes",
        "nearest_site_code",
        "zone_key",
        "scenario",
        "range",
        "rule",
        "binding_receptor_id",
    )
}
#: The print version of the report (index and every area), removed after printing.
PRINT_PAGE = ".print.html"


def _csv(path: Path, flavour: str) -> pd.DataFrame | None:
    if not path.exists():
        return None
    return read_table(path, flavour, dtype=TEXT_COLUMNS, keep_default_na=True)


def _attributes(path: Path) -> pd.DataFrame:
    """The columns of a GeoParquet file other than its geometry columns (not decoded)."""
    schema = pq.read_schema(path)
    geo = json.loads((schema.metadata or {}).get(b"geo", b"{}"))
    geometry = set(geo.get("columns", {})) or {"geometry"}
    return pd.read_parquet(path, columns=[c for c in schema.names if c not in geometry])


def _read_tables(run: StageRun, *, farm_sheets: bool = False) -> dict[str, pd.DataFrame | None]:
    """The tables the report draws from, by catalogue key (None where a CSV is absent).

    With ``farm_sheets`` also those only the farm sheets need (:data:`FARM_TABLES`, the RKO
    sources, the receptors' coordinates ``x_m`` / ``y_m``); without, those are not read and
    the receptors' geometry is not decoded.
    """
    flavour = run.cfg.project.csv_flavour
    keys = (*FIGURE_TABLES, *PAGE_TABLES, *(FARM_TABLES if farm_sheets else ()))
    tables = {k: _csv(run.upstream(k), flavour) for k in dict.fromkeys(keys)}
    areas = _attributes(run.upstream("areas"))
    tables["areas"] = areas.assign(site_code=areas["site_code"].astype(str))
    if farm_sheets:
        receptors = run.read_upstream("receptors")
        centres = receptors.geometry.centroid
        coordinates = {"x_m": centres.x.to_numpy(), "y_m": centres.y.to_numpy()}
        receptors = pd.DataFrame(receptors.drop(columns="geometry"))
    else:
        receptors, coordinates = _attributes(run.upstream("receptors")), {}
    tables["receptors"] = receptors.assign(
        site_code=receptors["site_code"].astype(str),
        receptor_id=receptors["receptor_id"].astype(str),
        **coordinates,
    )
    names = tables["areas"][["site_code", "name"]].drop_duplicates("site_code")
    for key in ("policy_area_thresholds", "policy_reductions"):  # the report names areas, not codes
        if (t := tables.get(key)) is not None and "name" not in t:
            tables[key] = t.merge(names, on="site_code", how="left", validate="many_to_one")
    if farm_sheets:
        src = pyogrio.read_dataframe(
            run.upstream("rko_sources"), layer="sources", read_geometry=False
        )
        tables["rko_sources"] = src.assign(farm_id=src["farm_id"].astype(str))
    return tables


def _farm_attributes(run: StageRun, farm_summary: pd.DataFrame) -> pd.DataFrame:
    """``farm_summary`` with the farm attributes (address, municipality, type) of the overlay
    stage's farms where the CSV does not carry them."""
    from n2kzones.render.farm_sheet import ATTRIBUTES

    farms = run.read_upstream("farms")
    extra = [c for c in ATTRIBUTES if c in farms.columns and c not in farm_summary.columns]
    if not extra:
        return farm_summary
    attrs = pd.DataFrame(farms[["farm_id", *extra]]).assign(farm_id=farms["farm_id"].astype(str))
    return farm_summary.merge(attrs.drop_duplicates("farm_id"), on="farm_id", how="left")


def requested_farms(cfg: Config, farm_summary: pd.DataFrame | None) -> list[str]:
    """The farm ids ``[report] farm_ids`` and ``farm_areas`` ask a sheet for, in that order.

    A farm belongs to an area of ``farm_areas`` when it lies in the area's zone (its
    ``area_codes``) or the area is its nearest. Unknown ids or site codes are a
    :class:`ConfigError` naming them.
    """
    want = list(cfg.report.farm_ids)
    areas = list(cfg.report.farm_areas)
    if not want and not areas:
        return []
    if farm_summary is None:
        raise ConfigError("farm sheets need farm_summary.csv: run `n2kzones overlay` first")
    ids = farm_summary["farm_id"].astype(str)
    known = set(ids)
    unknown = [f for f in want if f not in known]
    if unknown:
        raise ConfigError(
            f"no farm {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} in "
            f"farm_summary.csv ({len(known)} farms, e.g. {', '.join(sorted(known)[:3])}); "
            "check [report] farm_ids / --farm"
        )
    zone_codes = farm_summary["area_codes"].fillna("").astype(str).str.split(";")
    nearest = farm_summary["nearest_site_code"].fillna("").astype(str)
    all_codes = set(nearest) | {c for cs in zone_codes for c in cs if c}
    for code in areas:
        if code not in all_codes:
            raise ConfigError(
                f"no farm lies in the zone of, or nearest to, {code!r}; check [report] "
                f"farm_areas / --area (site codes with farms: "
                f"{', '.join(sorted(c for c in all_codes if c)[:6])} ...)"
            )
        hit = zone_codes.map(lambda cs, code=code: code in cs) | (nearest == code)
        want += list(ids[hit.to_numpy()])
    return list(dict.fromkeys(want))


def write_farm_sheets(
    run: StageRun,
    tables: dict[str, pd.DataFrame | None],
    farm_ids: list[str],
    *,
    pdf: bool,
    chromium: Path | None,
    data_day: str,
) -> int:
    """Write ``farm_<id>.html`` and ``.csv`` (and ``.pdf``) per farm and ``farm_sheets.csv``
    (all sheets' rows) into the staged ``farm_sheets`` folder; returns the number of sheets."""
    cfg = run.cfg
    if not farm_ids:
        return 0
    summary = _farm_attributes(run, tables["farm_summary"])
    from_farms = {
        c: OUTPUTS["farms"].path for c in summary.columns if c not in tables["farm_summary"].columns
    }
    by_id = (
        summary.assign(farm_id=summary["farm_id"].astype(str))
        .drop_duplicates("farm_id")
        .set_index("farm_id", drop=False)
    )
    sources = tables["rko_sources"].drop_duplicates("farm_id").set_index("farm_id", drop=False)
    areas = tables["areas"]
    ctx = FarmContext(
        max_gve_per_ha=cfg.params.land_based.max_gve_per_ha,
        min_grassland_share=cfg.params.land_based.min_grassland_share,
        thresholds_mol_ha=list(cfg.rko.thresholds_mol_ha),
        ranges={
            lbl: range_text(lbl, cfg.project.language) for lbl, _ in range_labels(cfg.rko.ranges_m)
        },
        area_names=dict(
            zip(areas["site_code"].astype(str), areas["name"].astype(str), strict=True)
        ),
        habitat_names={code: h.name for code, h in cfg.params.kdw.habitats.items()},
        data_date=data_day,
        config_name=config_name(cfg),
        lang=cfg.project.language,
        attribute_sources=from_farms,
    )
    out = run.output("farm_sheets")
    out.mkdir(parents=True, exist_ok=True)
    sheets = []
    for fid in farm_ids:
        sheet = farm_sheet_table(
            by_id.loc[fid],
            sources.loc[fid] if fid in sources.index else None,
            tables["receptors"],
            tables.get("scenario_farms"),
            tables.get("scenarios"),
            ctx,
        )
        run.write_table(out / farm_sheet_name(fid, ".csv"), sheet)
        html = out / farm_sheet_name(fid)
        with atomic_path(html) as tmp:
            tmp.write_text(farm_sheet_html(sheet, ctx), encoding="utf-8")
        if pdf:
            html_to_pdf(html, out / farm_sheet_name(fid, ".pdf"), chromium=chromium)
        sheets.append(sheet)
    run.write_table(
        out / FARM_SHEETS_INDEX,
        pd.concat(sheets, ignore_index=True) if sheets else pd.DataFrame(columns=SHEET_COLUMNS),
    )
    log.info("wrote %d farm sheets%s", len(sheets), " with PDFs" if pdf else "")
    return len(sheets)


def _area_pages(
    codes: list[str],
    tables: dict[str, pd.DataFrame | None],
    area_tables: AreaTables,
    ctx: PageContext,
    pages_dir: Path,
    maps_rel: str,
    map_files: dict[str, str],
    want_pdf: bool,
) -> list[dict[str, object]]:
    """Write the analysis page of each area of ``codes`` into ``pages_dir``; returns the rows
    of the report's area index (:func:`n2kzones.render.report.area_index`)."""
    overloaded = {}
    dep = tables.get("area_deposition")
    if dep is not None:
        overloaded = dict(zip(dep["site_code"].astype(str), dep["overloaded_ha"], strict=True))
    index_rows: list[dict[str, object]] = []
    for code in codes:
        page_path = pages_dir / area_page_name(code)
        with atomic_path(page_path) as tmp:
            tmp.write_text(area_page(code, area_tables, ctx), encoding="utf-8")
        rows = area_tables.records("areas", code)
        index_rows.append(
            {
                "site_code": code,
                "name": area_name(area_tables, code),
                "map_href": f"{maps_rel}/{map_files[code]}" if code in map_files else None,
                "page_href": f"{AREA_PAGES_DIR}/{area_page_name(code)}",
                "pdf_href": f"{AREA_PAGES_DIR}/{area_page_name(code, '.pdf')}" * want_pdf or None,
                "zone_width_m": float(rows[0]["zone_width_m"]) if rows else np.nan,
                "overloaded_ha": float(overloaded.get(code, np.nan)),
            }
        )
    return index_rows


def run_report(cfg: Config, *, pdf: bool | None = None) -> os.PathLike:
    """Stage ``report``; returns the path of ``report/index.html``.

    Parameters
    ----------
    cfg
        The configuration (``[report]``: PDF export and farm sheets).
    pdf
        Print the report, each area page and each farm sheet to PDF (default: ``[report] pdf``).

    Raises
    ------
    ChromiumMissingError
        A PDF is asked for and no Chromium is installed (the message says how to install it).
    ConfigError
        A farm or area of ``[report] farm_ids`` / ``farm_areas`` is unknown.
    """
    want_pdf = cfg.report.pdf if pdf is None else bool(pdf)
    chromium = require_chromium() if want_pdf else None  # fail before any work
    root = cfg.output_dir
    lang = cfg.project.language
    with stage_run(cfg, "report") as run:
        tables = _read_tables(run, farm_sheets=bool(cfg.report.farm_ids or cfg.report.farm_areas))
        farm_ids = requested_farms(cfg, tables.get("farm_summary"))
        report_dir = root / OUTPUTS["report"].path
        rel = os.path.relpath(root, report_dir).replace(os.sep, "/")
        links = [
            (f"{rel}/{OUTPUTS[k].path}", OUTPUTS[k].path, tr(OUTPUT_TEXT_KEYS[k], lang))
            for k in LINKED
            if (root / OUTPUTS[k].path).exists()
        ]
        if farm_ids:
            sheets = f"{OUTPUTS['farm_sheets'].path}/{FARM_SHEETS_INDEX}"
            links.append((f"{rel}/{sheets}", sheets, tr(OUTPUT_TEXT_KEYS["farm_sheets"], lang)))
        maps_dir = run.upstream("maps")
        maps_rel = f"{rel}/{OUTPUTS['maps'].path}"
        pages = (
            [(f"{maps_rel}/index.html", tr("report.overview", cfg.project.language))]
            if (maps_dir / "index.html").exists()
            else []
        )
        maps_manifest = read_manifest(root, "maps") or {}
        map_files: dict[str, str] = dict(maps_manifest.get("map_files") or {})
        codes = list(tables["areas"]["site_code"].astype(str))
        for code in codes:
            map_files.setdefault(code, area_map_name(code))
        map_files = {c: f for c, f in map_files.items() if (maps_dir / f).exists()}
        day = data_date(root)
        area_tables = AreaTables(
            **{
                k: tables.get(k)
                for k in (
                    "areas",
                    "area_summary",
                    "area_deposition",
                    "receptors",
                    "zone_proposal",
                    "rko_by_area",
                    "scenarios",
                    "zone_effectiveness",
                    "policy_area_thresholds",
                    "policy_reductions",
                    "policy_zone_variants",
                )
            }
        )
        p = cfg.params
        ctx = PageContext(
            default_width_m=cfg.default_width_m,
            wide_width_m=p.zones.wide_width_m,
            n_wide=cfg.selection.n_wide,
            near_margin_mol_ha=p.kdw.near_overload_margin_mol_ha,
            habitat_names={code: h.name for code, h in p.kdw.habitats.items()},
            map_hrefs={c: f"../{maps_rel}/{f}" for c, f in map_files.items()},
            index_href=f"../{REPORT_INDEX}",
            data_date=day,
            config_name=config_name(cfg),
            lang=cfg.project.language,
        )
        out = run.output("report")
        pages_dir = out / AREA_PAGES_DIR
        pages_dir.mkdir(parents=True, exist_ok=True)
        # the figures are drawn in worker processes while this one writes the pages
        figures = start_figures(
            figure_jobs(out, {k: tables.get(k) for k in FIGURE_TABLES}, lang),
            workers=available_cpus(),
        )
        with figures:
            index_rows = _area_pages(
                codes, tables, area_tables, ctx, pages_dir, maps_rel, map_files, want_pdf
            )
            figures.wait()
        common = dict(
            tables={k: tables.get(k) for k in FIGURE_TABLES},
            links=links,
            map_pages=pages,
            data_date=day,
            config_name=config_name(cfg),
            areas=index_rows,
            lang=cfg.project.language,
            outside_grid={
                k: list(maps_manifest.get(k, []))
                for k in ("areas_outside_grid", "areas_partly_outside_grid")
            },
            landuse_source=(read_manifest(root, "deposition") or {}).get("receptor_landuse_source"),
        )
        render_report(out, pdf_href=REPORT_PDF if want_pdf else None, figures_done=True, **common)
        pdfs = 0
        if want_pdf:
            for code in codes:
                html_to_pdf(
                    pages_dir / area_page_name(code),
                    pages_dir / area_page_name(code, ".pdf"),
                    chromium=chromium,
                )
                pdfs += 1
            print_ctx = PageContext(
                **{
                    **ctx.__dict__,
                    "map_hrefs": {c: f"{maps_rel}/{f}" for c, f in map_files.items()},
                    "index_href": REPORT_INDEX,
                }
            )
            appendix = "".join(
                area_section(code, area_tables, print_ctx, heading_level=2) for code in codes
            )
            printable = render_report(
                out,
                file_name=PRINT_PAGE,
                figures_done=True,
                appendix=appendix,
                extra_css=PAGE_CSS.replace("body {", "body.x {", 1),
                **common,
            )
            html_to_pdf(printable, out / REPORT_PDF, chromium=chromium)
            printable.unlink()
            pdfs += 1
        n_sheets = write_farm_sheets(
            run, tables, farm_ids, pdf=want_pdf, chromium=chromium, data_day=day
        )
        run.extra.update(
            area_pages=len(codes),
            pdf_files=pdfs + (n_sheets if want_pdf else 0),
            farm_sheets=n_sheets,
        )
    return report_dir / REPORT_INDEX
