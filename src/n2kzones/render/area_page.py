"""The analysis page per area (the "gebiedsanalyse"): ``report/areas/area_<site_code>.html``.

Every figure on the page is taken from the stage outputs (the rows of the area in
``area_summary.csv``, ``area_deposition.csv``, ``zone_proposal.csv``, ``rko_by_area.csv``,
``scenarios.csv``, ``zone_effectiveness.csv`` and the receptors of the deposition stage), so
the page and the CSVs cannot disagree; only the table per habitat type is summed here, from the
receptors, with the same weights as :func:`n2kzones.overload.area_overload_table`. The
functions take frames and return HTML; values from the data are HTML-escaped.

User-facing text is in :data:`STRINGS` (one dict per language) so that it can move into the
translation catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import pandas as pd

#: Page text per language (``en``, ``nl``); ``{name}`` fields are filled with str.format.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Area analysis: {name} ({code})",
        "to_map": "Map of the area",
        "to_index": "Report index",
        "zone": "Zone width and why",
        "zone_drawn": "Zone width drawn (zones stage)",
        "zone_rule": "Rule",
        "zone_rule_text": (
            "default {default} m (parameters); {wide} m for the {n_wide} areas with the most "
            "deposition from farms within 1000 m"
        ),
        "zone_proposal": "Proposal (select stage)",
        "zone_rank": "rank {rank}",
        "zone_official": "Official list / override",
        "zone_none": "none",
        "zone_final": "Final width (proposal, the official list wins)",
        "land": "Zone and farmland by crop category",
        "part_ring": "zone ring",
        "part_inner": "inside the area",
        "part_total": "total",
        "category": "category",
        "zone_ha": "zone (ha)",
        "parcels_ha": "all parcels (ha)",
        "farms": "Farms, animals, GVE and NH3 in the zone",
        "n_farms": "farms",
        "animals": "animals: {kind}",
        "gve": "GVE (livestock units)",
        "nh3": "NH3 emission (kg/yr)",
        "habitats": "Deposition on each habitat type",
        "habitats_note": (
            "Total deposition (background plus modelled change) on the receptor hexagons of each "
            "nitrogen-sensitive habitat type; means are weighted by habitat hectares, the sum is "
            "deposition times hectares (mol N/yr), overload is deposition above the KDW, near "
            "overload above KDW - {margin} mol."
        ),
        "h_code": "type",
        "h_name": "name",
        "h_kdw": "KDW (mol/ha/yr)",
        "h_ha": "habitat (ha)",
        "h_receptors": "receptors",
        "h_sum": "sum (mol N/yr)",
        "h_max": "max (mol/ha/yr)",
        "h_mean": "mean (mol/ha/yr)",
        "h_pct_kdw": "mean % of KDW",
        "h_max_pct_kdw": "max % of KDW",
        "h_over": "overloaded (ha)",
        "h_near": "near overload (ha)",
        "h_farms": "farms: mean (mol/ha/yr)",
        "h_farms_zone": "of which in zones",
        "all_types": "all types",
        "distance": "Share of farms within 0-500 m and 500-1000 m",
        "distance_note": (
            "Mean deposition (mol N/ha/yr) on the area's overloaded habitat from the farms at "
            "that distance from its edge, and their share of the deposition from all farms "
            "(select stage)."
        ),
        "d_band": "farms",
        "d_n": "number",
        "d_dep": "deposition (mol/ha/yr)",
        "d_share": "share of all farms (%)",
        "d_500": "within 500 m",
        "d_1000": "500-1000 m",
        "d_both": "within 1000 m",
        "d_all": "all farms",
        "rko": "Summed sub-threshold deposition per RKO value",
        "rko_note": (
            "Sources whose largest contribution is below the threshold (permit-free; a source "
            "belongs to the area of its maximum) and what their contributions add up to on the "
            "area's sensitive habitat (rko stage)."
        ),
        "r_threshold": "RKO (mol/ha/yr)",
        "r_range": "range",
        "r_below": "sources below",
        "r_emission": "their NH3 (kg/yr)",
        "r_mean": "mean sum (mol/ha/yr)",
        "r_max": "max sum (mol/ha/yr)",
        "r_tipped": "ha tipped into overload",
        "r_none": "no range",
        "scenarios": "Scenario effects",
        "s_name": "scenario",
        "s_kind": "kind",
        "s_farms": "farms affected",
        "s_nh3": "NH3 reduced (kg/yr)",
        "s_change": "mean change (mol/ha/yr)",
        "s_before": "overloaded before (ha)",
        "s_after": "after (ha)",
        "s_delta": "change (ha)",
        "effect": "Effect of a cut inside against outside the zones",
        "e_cut": "uniform cut (%)",
        "e_inside": "per kg NH3 cut inside (mol/ha/yr)",
        "e_outside": "per kg NH3 cut outside (mol/ha/yr)",
        "e_ratio": "ratio inside / outside",
        "no_data": "No data: the stage has not run or the area has no rows.",
        "footer": "Data of {date} · config {config}",
    },
    "nl": {
        "title": "Gebiedsanalyse: {name} ({code})",
        "to_map": "Kaart van het gebied",
        "to_index": "Inhoud van het rapport",
        "zone": "Zonebreedte en waarom",
        "zone_drawn": "Getekende zonebreedte (stap zones)",
        "zone_rule": "Regel",
        "zone_rule_text": (
            "standaard {default} m (parameters); {wide} m voor de {n_wide} gebieden met de meeste"
            " depositie van bedrijven binnen 1000 m"
        ),
        "zone_proposal": "Voorstel (stap select)",
        "zone_rank": "rang {rank}",
        "zone_official": "Officiële lijst / afwijking",
        "zone_none": "geen",
        "zone_final": "Definitieve breedte (voorstel, de officiële lijst gaat voor)",
        "land": "Zone en landbouwgrond per gewascategorie",
        "part_ring": "zonering",
        "part_inner": "binnen het gebied",
        "part_total": "totaal",
        "category": "categorie",
        "zone_ha": "zone (ha)",
        "parcels_ha": "alle percelen (ha)",
        "farms": "Bedrijven, dieren, GVE en NH3 in de zone",
        "n_farms": "bedrijven",
        "animals": "dieren: {kind}",
        "gve": "GVE (grootvee-eenheden)",
        "nh3": "NH3-emissie (kg/jaar)",
        "habitats": "Depositie per habitattype",
        "habitats_note": (
            "Totale depositie (achtergrond plus gemodelleerde verandering) op de rekenpunten "
            "(hexagonen) van elk stikstofgevoelig habitattype; gemiddelden gewogen naar hectares "
            "habitat, de som is depositie maal hectares (mol N/jaar), overbelast is depositie "
            "boven de KDW, bijna overbelast boven KDW - {margin} mol."
        ),
        "h_code": "type",
        "h_name": "naam",
        "h_kdw": "KDW (mol/ha/jaar)",
        "h_ha": "habitat (ha)",
        "h_receptors": "rekenpunten",
        "h_sum": "som (mol N/jaar)",
        "h_max": "maximum (mol/ha/jaar)",
        "h_mean": "gemiddeld (mol/ha/jaar)",
        "h_pct_kdw": "gemiddeld % van KDW",
        "h_max_pct_kdw": "maximaal % van KDW",
        "h_over": "overbelast (ha)",
        "h_near": "bijna overbelast (ha)",
        "h_farms": "bedrijven: gemiddeld (mol/ha/jaar)",
        "h_farms_zone": "waarvan in zones",
        "all_types": "alle typen",
        "distance": "Aandeel van bedrijven binnen 0-500 m en 500-1000 m",
        "distance_note": (
            "Gemiddelde depositie (mol N/ha/jaar) op het overbelaste habitat van het gebied van "
            "de bedrijven op die afstand van de rand, en hun aandeel in de depositie van alle "
            "bedrijven (stap select)."
        ),
        "d_band": "bedrijven",
        "d_n": "aantal",
        "d_dep": "depositie (mol/ha/jaar)",
        "d_share": "aandeel van alle bedrijven (%)",
        "d_500": "binnen 500 m",
        "d_1000": "500-1000 m",
        "d_both": "binnen 1000 m",
        "d_all": "alle bedrijven",
        "rko": "Opgetelde depositie onder de rekenkundige ondergrens per RKO-waarde",
        "rko_note": (
            "Bronnen waarvan de grootste bijdrage onder de drempel blijft (vergunningvrij; een "
            "bron hoort bij het gebied van zijn maximum) en wat hun bijdragen samen op het "
            "gevoelige habitat van het gebied opleveren (stap rko)."
        ),
        "r_threshold": "RKO (mol/ha/jaar)",
        "r_range": "rekenafstand",
        "r_below": "bronnen eronder",
        "r_emission": "hun NH3 (kg/jaar)",
        "r_mean": "gemiddelde som (mol/ha/jaar)",
        "r_max": "maximale som (mol/ha/jaar)",
        "r_tipped": "ha daardoor overbelast",
        "r_none": "geen grens",
        "scenarios": "Effect van de scenario's",
        "s_name": "scenario",
        "s_kind": "soort",
        "s_farms": "bedrijven geraakt",
        "s_nh3": "NH3 minder (kg/jaar)",
        "s_change": "gemiddelde verandering (mol/ha/jaar)",
        "s_before": "overbelast voor (ha)",
        "s_after": "na (ha)",
        "s_delta": "verschil (ha)",
        "effect": "Effect van een reductie binnen tegenover buiten de zones",
        "e_cut": "gelijke reductie (%)",
        "e_inside": "per kg NH3 minder binnen (mol/ha/jaar)",
        "e_outside": "per kg NH3 minder buiten (mol/ha/jaar)",
        "e_ratio": "verhouding binnen / buiten",
        "no_data": "Geen gegevens: de stap is niet gedraaid of het gebied heeft geen rijen.",
        "footer": "Gegevens van {date} · configuratie {config}",
    },
}
#: Default language of the pages (English until ``[project] language`` exists).
DEFAULT_LANGUAGE = "en"

#: CSS shared by the area pages and the farm sheets (screen and print).
PAGE_CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em; }
table.t { border-collapse: collapse; font-size: 13px; margin-bottom: 0.6em; }
table.t td, table.t th { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: right; }
table.t td.l, table.t th.l { text-align: left; }
table.t tr.total td { font-weight: bold; border-top: 1px solid #888; }
p.note { color: #444; font-size: 13px; max-width: 60em; }
nav a { margin-right: 1.2em; }
footer { margin-top: 2em; color: #666; font-size: 12px; }
section.area { page-break-before: always; break-before: page; }
section.area.first { page-break-before: auto; break-before: auto; }
@media print {
  body { max-width: none; margin: 0; font-size: 11px; }
  nav { display: none; }
  table.t { font-size: 9.5px; }
  h2 { page-break-after: avoid; break-after: avoid; }
  table.t { page-break-inside: avoid; break-inside: avoid; }
}
"""


def text(lang: str, key: str, **fields: object) -> str:
    """The text ``key`` in ``lang`` (falling back to English), with ``fields`` filled in."""
    table = STRINGS.get(lang, STRINGS["en"])
    return table.get(key, STRINGS["en"][key]).format(**fields)


def fmt_number(value: object, digits: int = 1, lang: str = DEFAULT_LANGUAGE) -> str:
    """A number for a page: ``digits`` decimals, thousands grouped (``1,234.5``; Dutch
    ``1.234,5``); blank for a missing value, text as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return ""
    s = f"{v:,.{digits}f}"
    if s.startswith("-") and float(s.replace(",", "")) == 0:  # no "-0.0"
        s = s[1:]
    if lang == "nl":
        s = s.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return s


Cell = object  # a number (formatted with the column's digits) or text


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    digits: Sequence[int] | int = 1,
    lang: str = DEFAULT_LANGUAGE,
    total_last: bool = False,
    text_cols: int = 1,
    css_id: str | None = None,
) -> str:
    """An escaped HTML table: the first ``text_cols`` columns left-aligned text, the others
    numbers with ``digits`` decimals (one per column, or one for all); ``total_last`` bolds
    the last row."""
    ncol = len(header)
    rows = [list(r) for r in rows]
    digs = [digits] * ncol if isinstance(digits, int) else list(digits)
    th = "".join(
        f'<th class="{"l" if i < text_cols else "r"}">{escape(h)}</th>'
        for i, h in enumerate(header)
    )
    body = []
    for r, row in enumerate(rows):
        tds = []
        for i, v in enumerate(row):
            cls = "l" if i < text_cols else "r"
            tds.append(f'<td class="{cls}">{escape(fmt_number(v, digs[i], lang))}</td>')
        total = ' class="total"' if total_last and r == len(rows) - 1 else ""
        body.append(f"<tr{total}>{''.join(tds)}</tr>")
    ident = f' id="{escape(css_id, quote=True)}"' if css_id else ""
    head = f"<thead><tr>{th}</tr></thead>"
    return f'<table class="t"{ident}>{head}<tbody>{"".join(body)}</tbody></table>'


def habitat_table(
    receptors: pd.DataFrame, habitat_names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Deposition indicators per habitat type of one area's receptors, and a total row.

    Parameters
    ----------
    receptors
        The area's rows of the deposition stage's receptors: ``habitat_code``, ``habitat_ha``,
        ``kdw_mol_ha``, ``total_mol_ha``, ``overload``, ``near_overload``, ``farms_mol_ha``
        and (when present) ``farms_in_zone_mol_ha``; deposition in mol N/ha/yr.
    habitat_names
        Habitat code -> name.

    Returns
    -------
    DataFrame
        One row per habitat code (sorted) and a last row ``habitat_code == "ALL"``:
        ``name, kdw_mol_ha`` (lowest KDW of the type), ``habitat_ha, receptors,
        sum_mol`` (deposition x ha, mol N/yr), ``max_mol_ha, mean_mol_ha`` (habitat-weighted),
        ``mean_pct_kdw, max_pct_kdw`` (%), ``overloaded_ha, near_overload_ha,
        mean_farms_mol_ha, mean_farms_in_zone_mol_ha``. The total row's hectares equal
        ``area_deposition.csv``'s ``sensitive_ha``, ``overloaded_ha`` and ``near_overload_ha``.
    """
    names = dict(habitat_names or {})
    codes = (
        receptors["habitat_code"].astype("string").fillna("?")
        if "habitat_code" in receptors
        else pd.Series("?", index=receptors.index)
    )
    groups = [(str(c), g) for c, g in receptors.groupby(codes.to_numpy(), sort=True)]
    rows = []
    for code, g in [*groups, ("ALL", receptors)]:
        w = g["habitat_ha"].to_numpy(float)
        ha = float(w.sum())
        dep = g["total_mol_ha"].to_numpy(float)
        kdw = g["kdw_mol_ha"].to_numpy(float)
        pct = np.where(kdw > 0, 100.0 * dep / np.where(kdw > 0, kdw, 1.0), np.nan)

        def wmean(x: np.ndarray, w: np.ndarray = w, ha: float = ha) -> float:
            return float(np.average(x, weights=w)) if ha > 0 else float("nan")

        in_zone = (
            g["farms_in_zone_mol_ha"].to_numpy(float)
            if "farms_in_zone_mol_ha" in g
            else np.full(len(g), np.nan)
        )
        rows.append(
            {
                "habitat_code": code,
                "name": ""
                if code == "ALL"
                else names.get(code, names.get(code.removeprefix("ZG"), "")),
                "kdw_mol_ha": float(kdw.min()) if len(g) and code != "ALL" else float("nan"),
                "habitat_ha": ha,
                "receptors": int(g["receptor_id"].nunique()) if "receptor_id" in g else len(g),
                "sum_mol": float((dep * w).sum()),
                "max_mol_ha": float(dep.max()) if len(g) else float("nan"),
                "mean_mol_ha": wmean(dep),
                "mean_pct_kdw": wmean(pct) if len(g) and not np.isnan(pct).all() else float("nan"),
                "max_pct_kdw": float(np.nanmax(pct))
                if len(g) and not np.isnan(pct).all()
                else float("nan"),
                "overloaded_ha": float(w[g["overload"].to_numpy(bool)].sum()),
                "near_overload_ha": float(w[g["near_overload"].to_numpy(bool)].sum()),
                "mean_farms_mol_ha": wmean(g["farms_mol_ha"].to_numpy(float)),
                "mean_farms_in_zone_mol_ha": wmean(in_zone),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class AreaTables:
    """The stage outputs an area page is drawn from (whole tables; the page takes the area's
    rows). A table is None where its stage has not run."""

    areas: pd.DataFrame
    area_summary: pd.DataFrame | None = None
    area_deposition: pd.DataFrame | None = None
    receptors: pd.DataFrame | None = None
    zone_proposal: pd.DataFrame | None = None
    rko_by_area: pd.DataFrame | None = None
    scenarios: pd.DataFrame | None = None
    zone_effectiveness: pd.DataFrame | None = None


@dataclass
class PageContext:
    """What an area page needs besides the tables: policy numbers and links.

    Attributes
    ----------
    default_width_m, wide_width_m
        The zone widths of the rule (m).
    n_wide
        How many areas the rule gives the wide zone.
    near_margin_mol_ha
        Near overload margin below the KDW (mol N/ha/yr).
    habitat_names
        Habitat code -> name.
    map_hrefs
        Site code -> href of the area's map, relative to the page.
    index_href
        Href of the report index, relative to the page.
    data_date, config_name
        For the footer.
    lang
        ``en`` or ``nl``.
    """

    default_width_m: float
    wide_width_m: float
    n_wide: int
    near_margin_mol_ha: float
    habitat_names: Mapping[str, str] = field(default_factory=dict)
    map_hrefs: Mapping[str, str] = field(default_factory=dict)
    index_href: str = "../index.html"
    data_date: str = "unknown"
    config_name: str = ""
    lang: str = DEFAULT_LANGUAGE


def _rows_of(df: pd.DataFrame | None, code: str) -> pd.DataFrame:
    if df is None or "site_code" not in df:
        return pd.DataFrame()
    return df.loc[df["site_code"].astype(str) == code]


def _zone_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    area = _rows_of(t.areas, code)
    prop = _rows_of(t.zone_proposal, code)
    drawn = area["zone_width_m"].iloc[0] if len(area) and "zone_width_m" in area else float("nan")
    rows: list[list[Cell]] = [
        [text(lang, "zone_drawn"), f"{fmt_number(drawn, 0, lang)} m"],
        [
            text(lang, "zone_rule"),
            text(
                lang,
                "zone_rule_text",
                default=fmt_number(ctx.default_width_m, 0, lang),
                wide=fmt_number(ctx.wide_width_m, 0, lang),
                n_wide=ctx.n_wide,
            ),
        ],
    ]
    if len(prop):
        p = prop.iloc[0]
        rank = p.get("rank")
        reason = str(p.get("reason", "") or "")
        rank_text = (
            text(lang, "zone_rank", rank=fmt_number(rank, 0, lang))
            if pd.notna(rank) and "rank" not in reason
            else ""
        )
        proposed = f"{fmt_number(p.get('proposed_width_m'), 0, lang)} m"
        rows.append(
            [text(lang, "zone_proposal"), ", ".join(s for s in (proposed, rank_text, reason) if s)]
        )
        off = p.get("official_width_m")
        rows.append(
            [
                text(lang, "zone_official"),
                f"{fmt_number(off, 0, lang)} m" if pd.notna(off) else text(lang, "zone_none"),
            ]
        )
        rows.append([text(lang, "zone_final"), f"{fmt_number(p.get('final_width_m'), 0, lang)} m"])
    return f"<h2>{escape(text(lang, 'zone'))}</h2>" + html_table(
        ["", ""], rows, lang=lang, text_cols=2, css_id="zone"
    )


def _parts(summary: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    out = []
    for part in ("ring", "inner"):
        rows = summary.loc[summary["part"].astype(str) == part]
        if len(rows):
            out.append((part, rows.iloc[0]))
    return out


def _land_and_farms(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    summary = _rows_of(t.area_summary, code)
    if not len(summary) or "part" not in summary:
        return f"<h2>{escape(text(lang, 'land'))}</h2><p>{escape(text(lang, 'no_data'))}</p>"
    parts = _parts(summary)
    header = [
        text(lang, "category"),
        *[text(lang, f"part_{p}") for p, _ in parts],
        text(lang, "part_total"),
    ]

    def line(label: str, col: str) -> list[Cell]:
        vals = [float(s.get(col, 0.0) or 0.0) for _, s in parts]
        return [label, *vals, float(sum(vals))]

    cats = [c for c in summary.columns if c.startswith("ha_")]
    land = [line(c.removeprefix("ha_"), c) for c in cats]
    land += [line(text(lang, "parcels_ha"), "parcels_ha"), line(text(lang, "zone_ha"), "zone_ha")]
    animals = [c for c in summary.columns if c.startswith("animals_")]
    farms = [line(text(lang, "n_farms"), "farms")]
    farms += [line(text(lang, "animals", kind=c.removeprefix("animals_")), c) for c in animals]
    farms += [line(text(lang, "gve"), "gve"), line(text(lang, "nh3"), "emission_kg_nh3")]
    return (
        f"<h2>{escape(text(lang, 'land'))}</h2>"
        + html_table(header, land, lang=lang, css_id="land")
        + f"<h2>{escape(text(lang, 'farms'))}</h2>"
        + html_table(header, farms, digits=0, lang=lang, css_id="farms")
    )


def _habitat_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(text(lang, 'habitats'))}</h2>"
    rec = _rows_of(t.receptors, code)
    if not len(rec):
        return head + f"<p>{escape(text(lang, 'no_data'))}</p>"
    tab = habitat_table(rec, ctx.habitat_names)
    tab.loc[tab["habitat_code"] == "ALL", "habitat_code"] = text(lang, "all_types")
    cols = [
        "habitat_code",
        "name",
        "kdw_mol_ha",
        "habitat_ha",
        "receptors",
        "sum_mol",
        "max_mol_ha",
        "mean_mol_ha",
        "mean_pct_kdw",
        "max_pct_kdw",
        "overloaded_ha",
        "near_overload_ha",
        "mean_farms_mol_ha",
        "mean_farms_in_zone_mol_ha",
    ]
    keys = [
        "h_code",
        "h_name",
        "h_kdw",
        "h_ha",
        "h_receptors",
        "h_sum",
        "h_max",
        "h_mean",
        "h_pct_kdw",
        "h_max_pct_kdw",
        "h_over",
        "h_near",
        "h_farms",
        "h_farms_zone",
    ]
    digits = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    margin = fmt_number(ctx.near_margin_mol_ha, 0, lang)
    return (
        head
        + f'<p class="note">{escape(text(lang, "habitats_note", margin=margin))}</p>'
        + html_table(
            [text(lang, k) for k in keys],
            tab[cols].itertuples(index=False, name=None),
            digits=digits,
            lang=lang,
            total_last=True,
            text_cols=2,
            css_id="habitats",
        )
    )


def _distance_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(text(lang, 'distance'))}</h2>"
    prop = _rows_of(t.zone_proposal, code)
    if not len(prop) or "dep_within_500m_mol_ha" not in prop:
        return head + f"<p>{escape(text(lang, 'no_data'))}</p>"
    p = prop.iloc[0]
    total = float(p.get("dep_farms_total_mol_ha", float("nan")))

    def share(v: float) -> float:
        return 100.0 * v / total if total and not math.isnan(total) else float("nan")

    n5, n10 = p.get("n_farms_within_500m"), p.get("n_farms_500_1000m")
    d5, d10 = float(p["dep_within_500m_mol_ha"]), float(p["dep_500_1000m_mol_ha"])
    d_both = float(p.get("dep_within_1000m_mol_ha", d5 + d10))
    rows: list[list[Cell]] = [
        [text(lang, "d_500"), n5, d5, share(d5)],
        [text(lang, "d_1000"), n10, d10, share(d10)],
        [
            text(lang, "d_both"),
            (n5 or 0) + (n10 or 0) if pd.notna(n5) and pd.notna(n10) else None,
            d_both,
            share(d_both),
        ],
        [text(lang, "d_all"), None, total, 100.0 if total else float("nan")],
    ]
    header = [text(lang, k) for k in ("d_band", "d_n", "d_dep", "d_share")]
    return (
        head
        + f'<p class="note">{escape(text(lang, "distance_note"))}</p>'
        + html_table(
            header, rows, digits=[0, 0, 1, 1], lang=lang, total_last=True, css_id="distance"
        )
    )


def _rko_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(text(lang, 'rko'))}</h2>"
    rko = _rows_of(t.rko_by_area, code)
    if not len(rko):
        return head + f"<p>{escape(text(lang, 'no_data'))}</p>"
    rows = []
    for r in rko.sort_values("threshold_mol_ha", kind="stable").itertuples(index=False):
        rng = str(r.range)
        label = (
            text(lang, "r_none")
            if rng == "none"
            else f"{float(r.range_m) / 1000:g} km"
            if pd.notna(getattr(r, "range_m", np.nan))
            else rng
        )
        rows.append(
            [
                f"{float(r.threshold_mol_ha):g}",
                label,
                r.n_sources_below,
                r.emission_below_kg_nh3,
                r.mean_sum_mol_ha,
                r.max_sum_mol_ha,
                r.ha_tipped_overload,
            ]
        )
    header = [
        text(lang, k)
        for k in ("r_threshold", "r_range", "r_below", "r_emission", "r_mean", "r_max", "r_tipped")
    ]
    return (
        head
        + f'<p class="note">{escape(text(lang, "rko_note"))}</p>'
        + html_table(
            header, rows, digits=[0, 0, 0, 0, 3, 3, 1], lang=lang, text_cols=2, css_id="rko"
        )
    )


def _scenario_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(text(lang, 'scenarios'))}</h2>"
    sc = _rows_of(t.scenarios, code)
    out = head
    if not len(sc):
        out += f"<p>{escape(text(lang, 'no_data'))}</p>"
    else:
        rows = [
            [
                r.scenario,
                r.kind,
                r.farms_affected,
                r.nh3_reduced_kg,
                r.mean_change_mol_ha,
                r.overloaded_ha_before,
                r.overloaded_ha_after,
                r.overloaded_ha_change,
            ]
            for r in sc.itertuples(index=False)
        ]
        header = [
            text(lang, k)
            for k in (
                "s_name",
                "s_kind",
                "s_farms",
                "s_nh3",
                "s_change",
                "s_before",
                "s_after",
                "s_delta",
            )
        ]
        out += html_table(
            header,
            rows,
            digits=[0, 0, 0, 0, 2, 1, 1, 1],
            lang=lang,
            text_cols=2,
            css_id="scenarios",
        )
    eff = _rows_of(t.zone_effectiveness, code)
    if len(eff):
        e = eff.iloc[0]
        rows = [
            [text(lang, "e_cut"), f"{float(e.get('cut_pct')):g}"],
            [text(lang, "e_inside"), e.get("per_kg_inside_mean_mol_ha")],
            [text(lang, "e_outside"), e.get("per_kg_outside_mean_mol_ha")],
            [text(lang, "e_ratio"), e.get("ratio_inside_outside")],
        ]
        out += f"<h3>{escape(text(lang, 'effect'))}</h3>" + html_table(
            ["", ""], rows, digits=[0, 6], lang=lang, css_id="effect"
        )
    return out


def area_name(tables: AreaTables, code: str) -> str:
    """The area's name from the areas table (its code where it has none)."""
    rows = _rows_of(tables.areas, code)
    if (
        len(rows)
        and "name" in rows
        and pd.notna(rows["name"].iloc[0])
        and str(rows["name"].iloc[0]).strip()
    ):
        return str(rows["name"].iloc[0])
    return code


def area_section(code: str, tables: AreaTables, ctx: PageContext, *, heading_level: int = 1) -> str:
    """The body of one area's analysis (headings, tables, notes) as escaped HTML, wrapped in
    ``<section class="area" id="area-<code>">``; used by the page and by the printed report."""
    lang = ctx.lang
    title = text(lang, "title", name=area_name(tables, code), code=code)
    links = []
    if code in ctx.map_hrefs:
        href = escape(ctx.map_hrefs[code], quote=True)
        links.append(f'<a href="{href}">{escape(text(lang, "to_map"))}</a>')
    links.append(
        f'<a href="{escape(ctx.index_href, quote=True)}">{escape(text(lang, "to_index"))}</a>'
    )
    body = (
        _zone_section(code, tables, ctx)
        + _land_and_farms(code, tables, ctx)
        + _habitat_section(code, tables, ctx)
        + _distance_section(code, tables, ctx)
        + _rko_section(code, tables, ctx)
        + _scenario_section(code, tables, ctx)
    )
    if heading_level != 1:
        body = (
            body.replace("<h3>", "<h4>")
            .replace("</h3>", "</h4>")
            .replace("<h2>", "<h3>")
            .replace("</h2>", "</h3>")
        )
    h = f"h{heading_level}"
    return (
        f'<section class="area" id="area-{escape(code, quote=True)}"><{h}>{escape(title)}</{h}>'
        f"<nav>{' '.join(links)}</nav>{body}</section>"
    )


def page(title: str, body: str, *, lang: str = DEFAULT_LANGUAGE, footer: str = "") -> str:
    """A complete HTML page (title escaped; ``body`` and ``footer`` already HTML)."""
    return f"""<!DOCTYPE html>
<html lang="{escape(lang, quote=True)}">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{PAGE_CSS}</style>
</head>
<body>
{body}
<footer>{footer}</footer>
</body>
</html>
"""


def area_page(code: str, tables: AreaTables, ctx: PageContext) -> str:
    """The analysis page of area ``code`` as a complete, escaped HTML document."""
    title = text(ctx.lang, "title", name=area_name(tables, code), code=code)
    footer = escape(text(ctx.lang, "footer", date=ctx.data_date, config=ctx.config_name))
    section = area_section(code, tables, ctx).replace(
        '<section class="area"', '<section class="area first"', 1
    )
    return page(title, section, lang=ctx.lang, footer=footer)
