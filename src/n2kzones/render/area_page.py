"""The analysis page per area (the "gebiedsanalyse"): ``report/areas/area_<site_code>.html``.

Every figure on the page is taken from the stage outputs (the rows of the area in
``area_summary.csv``, ``area_deposition.csv``, ``zone_proposal.csv``, ``rko_by_area.csv``,
``scenarios.csv``, ``zone_effectiveness.csv`` and the receptors of the deposition stage), so
the page and the CSVs cannot disagree; only the table per habitat type is summed here, from the
receptors, with the same weights as :func:`n2kzones.overload.area_overload_table`. The
functions take frames and return HTML; values from the data are HTML-escaped.

User-facing text is in the catalogue (:mod:`n2kzones.render.i18n`, keys ``area.*``), in the
language of :attr:`PageContext.lang` (``[project] language``, Dutch by default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import pandas as pd

from n2kzones.render.i18n import (
    DEFAULT_LANGUAGE,
    REDUCTION_STATUS_KEYS,
    ZONE_VARIANT_KEYS,
    fmt_number,
    localise,
    tr,
)

#: Part of an area's rows in ``area_summary.csv`` -> its column heading.
PART_KEYS = {"ring": "area.part_ring", "inner": "area.part_inner"}


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


#: Reason codes whose sentence already names the rank.
RANKED_REASONS = ("wide", "default")

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
    n = len(receptors)
    codes = (
        receptors["habitat_code"].astype("string").fillna("?").to_numpy(dtype=object)
        if "habitat_code" in receptors
        else np.full(n, "?", dtype=object)
    )
    # The columns once as arrays; each habitat type's rows are a sorted run of positions
    # (a stable sort, so within a type the rows keep their order and every sum is the same).
    ha_all = receptors["habitat_ha"].to_numpy(float)
    dep_all = receptors["total_mol_ha"].to_numpy(float)
    kdw_all = receptors["kdw_mol_ha"].to_numpy(float)
    farms_all = receptors["farms_mol_ha"].to_numpy(float)
    zone_all = (
        receptors["farms_in_zone_mol_ha"].to_numpy(float)
        if "farms_in_zone_mol_ha" in receptors
        else np.full(n, np.nan)
    )
    over_all = receptors["overload"].to_numpy(bool)
    near_all = receptors["near_overload"].to_numpy(bool)
    ids_all = (
        receptors["receptor_id"].to_numpy(dtype=object) if "receptor_id" in receptors else None
    )
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if n else np.array([], int)
    ends = [*starts[1:], n]
    groups: list[tuple[str, np.ndarray | slice]] = [
        (str(ordered[a]), order[a:b]) for a, b in zip(starts, ends, strict=True)
    ]
    rows = []
    for code, idx in [*groups, ("ALL", slice(None))]:
        w = ha_all[idx]
        size = len(w)
        ha = float(w.sum())
        dep = dep_all[idx]
        kdw = kdw_all[idx]
        pct = np.where(kdw > 0, 100.0 * dep / np.where(kdw > 0, kdw, 1.0), np.nan)

        def wmean(x: np.ndarray, w: np.ndarray = w, ha: float = ha) -> float:
            return float(np.average(x, weights=w)) if ha > 0 else float("nan")

        if ids_all is None:
            n_receptors = size
        else:
            ids = ids_all[idx]
            n_receptors = len(pd.unique(ids[pd.notna(ids)]))
        rows.append(
            {
                "habitat_code": code,
                "name": ""
                if code == "ALL"
                else names.get(code, names.get(code.removeprefix("ZG"), "")),
                "kdw_mol_ha": float(kdw.min()) if size and code != "ALL" else float("nan"),
                "habitat_ha": ha,
                "receptors": int(n_receptors),
                "sum_mol": float((dep * w).sum()),
                "max_mol_ha": float(dep.max()) if size else float("nan"),
                "mean_mol_ha": wmean(dep),
                "mean_pct_kdw": wmean(pct) if size and not np.isnan(pct).all() else float("nan"),
                "max_pct_kdw": float(np.nanmax(pct))
                if size and not np.isnan(pct).all()
                else float("nan"),
                "overloaded_ha": float(w[over_all[idx]].sum()),
                "near_overload_ha": float(w[near_all[idx]].sum()),
                "mean_farms_mol_ha": wmean(farms_all[idx]),
                "mean_farms_in_zone_mol_ha": wmean(zone_all[idx]),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class _ByCode:
    """One table's rows by site code: the table, its rows sorted by site code (stable), each
    code's ``(first, end)`` positions in them and (once asked for) those rows as dicts."""

    table: pd.DataFrame
    ordered: pd.DataFrame
    spans: dict[str, tuple[int, int]]
    records: list[dict[str, object]] | None = None

    @classmethod
    def of(cls, df: pd.DataFrame) -> _ByCode:
        codes = df["site_code"].astype(str).to_numpy(dtype=object)
        order = np.argsort(codes, kind="stable")
        ordered = codes[order]
        n = len(df)
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if n else []
        ends = [*starts[1:], n]
        spans = {str(ordered[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
        return cls(df, df.iloc[order], spans)


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
    policy_area_thresholds: pd.DataFrame | None = None
    policy_reductions: pd.DataFrame | None = None
    policy_zone_variants: pd.DataFrame | None = None
    _by_code: dict[str, _ByCode] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _index(self, name: str) -> _ByCode | None:
        df = getattr(self, name)
        if df is None or "site_code" not in df:
            return None
        index = self._by_code.get(name)
        if index is None or index.table is not df:  # a field replaced since: index it again
            index = self._by_code[name] = _ByCode.of(df)
        return index

    def rows(self, name: str, code: str) -> pd.DataFrame:
        """The rows of table ``name`` (a field) whose ``site_code`` is ``code``, in table order.

        The table is sorted by site code once (stably, so each area's rows keep their order)
        and an area's rows are then a slice of it, not a scan of the whole table per page; an
        absent table or one without ``site_code`` gives an empty frame.
        """
        index = self._index(name)
        if index is None:
            return pd.DataFrame()
        a, b = index.spans.get(code, (0, 0))
        return index.ordered.iloc[a:b]

    def records(self, name: str, code: str) -> list[dict[str, object]]:
        """The rows of :meth:`rows` as dicts (column -> value, Python scalars), in table order.

        The whole table is turned into dicts once; an area's are then a slice of them (cheaper
        than a pandas row per look-up). ``[]`` for an absent table, one without ``site_code``
        or an area without rows.
        """
        index = self._index(name)
        if index is None:
            return []
        if index.records is None:
            index.records = index.ordered.to_dict("records")
        a, b = index.spans.get(code, (0, 0))
        return index.records[a:b]


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


def _nan_last(value: object) -> tuple[bool, float]:
    """Sort key of a number that puts missing values last (as :meth:`DataFrame.sort_values`)."""
    missing = bool(pd.isna(value))
    return missing, 0.0 if missing else float(value)  # type: ignore[arg-type]


def _zone_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    area = t.records("areas", code)
    prop = t.records("zone_proposal", code)
    drawn = area[0]["zone_width_m"] if area and "zone_width_m" in area[0] else float("nan")
    rows: list[list[Cell]] = [
        [tr("area.zone_drawn", lang), f"{fmt_number(drawn, 0, lang)} m"],
        [
            tr("area.zone_rule", lang),
            tr("area.zone_rule_text", lang,
                default=fmt_number(ctx.default_width_m, 0, lang),
                wide=fmt_number(ctx.wide_width_m, 0, lang),
                n_wide=ctx.n_wide,
            ),
        ],
    ]
    if prop:
        p = prop[0]
        rank = p.get("rank")
        reason = str(p.get("reason", "") or "")
        rank_text = (
            tr("area.zone_rank", lang, rank=fmt_number(rank, 0, lang))
            if pd.notna(rank) and str(p.get("reason_code", "")) not in RANKED_REASONS
            else ""
        )
        proposed = f"{fmt_number(p.get('proposed_width_m'), 0, lang)} m"
        rows.append(
            [
                tr("area.zone_proposal", lang),
                ", ".join(s for s in (proposed, rank_text, reason) if s),
            ]
        )
        off = p.get("official_width_m")
        rows.append(
            [
                tr("area.zone_official", lang),
                f"{fmt_number(off, 0, lang)} m" if pd.notna(off) else tr("area.zone_none", lang),
            ]
        )
        final = f"{fmt_number(p.get('final_width_m'), 0, lang)} m"
        rows.append([tr("area.zone_final", lang), final])
    return f"<h2>{escape(tr('area.zone', lang))}</h2>" + html_table(
        ["", ""], rows, lang=lang, text_cols=2, css_id="zone"
    )


def _parts(summary: list[dict[str, object]]) -> list[tuple[str, dict[str, object]]]:
    out = []
    for part in ("ring", "inner"):
        rows = [r for r in summary if str(r["part"]) == part]
        if rows:
            out.append((part, rows[0]))
    return out


def _land_and_farms(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    summary = t.records("area_summary", code)
    if not summary or "part" not in summary[0]:
        return f"<h2>{escape(tr('area.land', lang))}</h2><p>{escape(tr('area.no_data', lang))}</p>"
    parts = _parts(summary)
    header = [
        tr("area.category", lang),
        *[tr(PART_KEYS[p], lang) for p, _ in parts],
        tr("area.part_total", lang),
    ]

    def line(label: str, col: str) -> list[Cell]:
        vals = [float(s.get(col, 0.0) or 0.0) for _, s in parts]
        return [label, *vals, float(sum(vals))]

    columns = list(summary[0])
    cats = [c for c in columns if c.startswith("ha_")]
    land = [line(c.removeprefix("ha_"), c) for c in cats]
    land += [
        line(tr("area.parcels_ha", lang), "parcels_ha"),
        line(tr("area.zone_ha", lang), "zone_ha"),
    ]
    animals = [c for c in columns if c.startswith("animals_")]
    farms = [line(tr("area.n_farms", lang), "farms")]
    farms += [line(tr("area.animals", lang, kind=c.removeprefix("animals_")), c) for c in animals]
    farms += [line(tr("area.gve", lang), "gve"), line(tr("area.nh3", lang), "emission_kg_nh3")]
    return (
        f"<h2>{escape(tr('area.land', lang))}</h2>"
        + html_table(header, land, lang=lang, css_id="land")
        + f"<h2>{escape(tr('area.farms', lang))}</h2>"
        + html_table(header, farms, digits=0, lang=lang, css_id="farms")
    )


def _habitat_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(tr('area.habitats', lang))}</h2>"
    rec = t.rows("receptors", code)
    if not len(rec):
        return head + f"<p>{escape(tr('area.no_data', lang))}</p>"
    tab = habitat_table(rec, ctx.habitat_names)
    tab.loc[tab["habitat_code"] == "ALL", "habitat_code"] = tr("area.all_types", lang)
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
        "area.h_code",
        "area.h_name",
        "area.h_kdw",
        "area.h_ha",
        "area.h_receptors",
        "area.h_sum",
        "area.h_max",
        "area.h_mean",
        "area.h_pct_kdw",
        "area.h_max_pct_kdw",
        "area.h_over",
        "area.h_near",
        "area.h_farms",
        "area.h_farms_zone",
    ]
    digits = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    margin = fmt_number(ctx.near_margin_mol_ha, 0, lang)
    return (
        head
        + f'<p class="note">{escape(tr("area.habitats_note", lang, margin=margin))}</p>'
        + html_table(
            [tr(k, lang) for k in keys],
            zip(*(tab[c].tolist() for c in cols)),
            digits=digits,
            lang=lang,
            total_last=True,
            text_cols=2,
            css_id="habitats",
        )
    )


def _distance_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(tr('area.distance', lang))}</h2>"
    prop = t.records("zone_proposal", code)
    if not prop or "dep_within_500m_mol_ha" not in prop[0]:
        return head + f"<p>{escape(tr('area.no_data', lang))}</p>"
    p = prop[0]
    total = float(p.get("dep_farms_total_mol_ha", float("nan")))

    def share(v: float) -> float:
        return 100.0 * v / total if total and not math.isnan(total) else float("nan")

    n5, n10 = p.get("n_farms_within_500m"), p.get("n_farms_500_1000m")
    d5, d10 = float(p["dep_within_500m_mol_ha"]), float(p["dep_500_1000m_mol_ha"])
    d_both = float(p.get("dep_within_1000m_mol_ha", d5 + d10))
    rows: list[list[Cell]] = [
        [tr("area.d_500", lang), n5, d5, share(d5)],
        [tr("area.d_1000", lang), n10, d10, share(d10)],
        [
            tr("area.d_both", lang),
            (n5 or 0) + (n10 or 0) if pd.notna(n5) and pd.notna(n10) else None,
            d_both,
            share(d_both),
        ],
        [tr("area.d_all", lang), None, total, 100.0 if total else float("nan")],
    ]
    header = [tr(k, lang) for k in ("area.d_band", "area.d_n", "area.d_dep", "area.d_share")]
    return (
        head
        + f'<p class="note">{escape(tr("area.distance_note", lang))}</p>'
        + html_table(
            header, rows, digits=[0, 0, 1, 1], lang=lang, total_last=True, css_id="distance"
        )
    )


def _rko_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(tr('area.rko', lang))}</h2>"
    rko = t.records("rko_by_area", code)
    if not rko:
        return head + f"<p>{escape(tr('area.no_data', lang))}</p>"
    rows = []
    for r in sorted(rko, key=lambda r: _nan_last(r["threshold_mol_ha"])):
        rng = str(r["range"])
        range_m = r.get("range_m", np.nan)
        label = (
            tr("area.r_none", lang)
            if rng == "none"
            else f"{localise(f'{float(range_m) / 1000:g}', lang)} km"
            if pd.notna(range_m)
            else rng
        )
        rows.append(
            [
                localise(f"{float(r['threshold_mol_ha']):g}", lang),
                label,
                r["n_sources_below"],
                r["emission_below_kg_nh3"],
                r["mean_sum_mol_ha"],
                r["max_sum_mol_ha"],
                r["ha_tipped_overload"],
            ]
        )
    header = [
        tr(k, lang)
        for k in (
            "area.r_threshold",
            "area.r_range",
            "area.r_below",
            "area.r_emission",
            "area.r_mean",
            "area.r_max",
            "area.r_tipped",
        )
    ]
    return (
        head
        + f'<p class="note">{escape(tr("area.rko_note", lang))}</p>'
        + html_table(
            header, rows, digits=[0, 0, 0, 0, 3, 3, 1], lang=lang, text_cols=2, css_id="rko"
        )
    )


def _scenario_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    lang = ctx.lang
    head = f"<h2>{escape(tr('area.scenarios', lang))}</h2>"
    sc = t.records("scenarios", code)
    out = head
    if not sc:
        out += f"<p>{escape(tr('area.no_data', lang))}</p>"
    else:
        rows = [
            [
                r["scenario"],
                r["kind"],
                r["farms_affected"],
                r["nh3_reduced_kg"],
                r["mean_change_mol_ha"],
                r["overloaded_ha_before"],
                r["overloaded_ha_after"],
                r["overloaded_ha_change"],
            ]
            for r in sc
        ]
        header = [
            tr(k, lang)
            for k in (
                "area.s_name",
                "area.s_kind",
                "area.s_farms",
                "area.s_nh3",
                "area.s_change",
                "area.s_before",
                "area.s_after",
                "area.s_delta",
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
    eff = t.records("zone_effectiveness", code)
    if eff:
        e = eff[0]
        rows = [
            [tr("area.e_cut", lang), localise(f"{float(e.get('cut_pct')):g}", lang)],
            [tr("area.e_inside", lang), e.get("per_kg_inside_mean_mol_ha")],
            [tr("area.e_outside", lang), e.get("per_kg_outside_mean_mol_ha")],
            [tr("area.e_ratio", lang), e.get("ratio_inside_outside")],
        ]
        out += f"<h3>{escape(tr('area.effect', lang))}</h3>" + html_table(
            ["", ""], rows, digits=[0, 6], lang=lang, css_id="effect"
        )
    return out


def _policy_section(code: str, t: AreaTables, ctx: PageContext) -> str:
    """The policy stage's answers for the area: its own threshold, the extra zone reduction
    per target and the zone bases compared; "" where the stage wrote none of them."""
    lang = ctx.lang
    thr, red, var = (t.records(x, code) for x in ("policy_area_thresholds", "policy_reductions", "policy_zone_variants"))
    if not (thr or red or var):
        return ""
    out = f"<h2>{escape(tr('area.policy', lang))}</h2>"
    if thr:
        r = thr[0]
        v = float(r["area_threshold_mol_ha"])
        rows = [
            [tr("area.p_threshold", lang), fmt_number(v, 4, lang) if np.isfinite(v) else tr("area.p_all_fit", lang)],
            [tr("area.p_binding", lang), str(r.get("binding_receptor_id", "") or "")],
            [tr("area.p_permit_free", lang), r.get("permit_free_sources")],
            [tr("area.p_permit_free_nh3", lang), r.get("permit_free_nh3_kg")],
        ]
        out += f"<p>{escape(tr('area.p_threshold_caption', lang))}</p>" + html_table(
            ["", ""], rows, digits=[0, 0], lang=lang, css_id="policy-threshold"
        )
    if red:
        rows = [
            [r["target"], tr(REDUCTION_STATUS_KEYS[st], lang) if (st := r["status"]) in REDUCTION_STATUS_KEYS else st,
             r["extra_pct_points"], r["nh3_cut_kg"], r["metric_before"], r["metric_after"]]
            for r in red
        ]
        header = [tr(k, lang) for k in ("area.r_target", "area.r_status", "area.r_extra", "area.r_nh3", "area.r_before", "area.r_after")]
        out += f"<h3>{escape(tr('area.reductions', lang))}</h3>" + html_table(
            header, rows, digits=[0, 0, 2, 0, 2, 2], lang=lang, text_cols=2, css_id="policy-reductions"
        )
    if var:
        rows = [
            [tr(ZONE_VARIANT_KEYS[v], lang) if (v := r["variant"]) in ZONE_VARIANT_KEYS else v,
             r["zone_ha"], r["farms"], r["emission_kg_nh3"], r["ratio_inside_outside"]]
            for r in var
        ]
        header = [tr(k, lang) for k in ("area.v_basis", "area.v_zone_ha", "area.v_farms", "area.v_nh3", "area.v_ratio")]
        out += f"<h3>{escape(tr('area.zone_bases', lang))}</h3>" + html_table(
            header, rows, digits=[0, 1, 0, 0, 2], lang=lang, text_cols=1, css_id="policy-variants"
        )
    return out


def area_name(tables: AreaTables, code: str) -> str:
    """The area's name from the areas table (its code where it has none)."""
    rows = tables.records("areas", code)
    if rows and "name" in rows[0] and pd.notna(rows[0]["name"]) and str(rows[0]["name"]).strip():
        return str(rows[0]["name"])
    return code


def area_section(code: str, tables: AreaTables, ctx: PageContext, *, heading_level: int = 1) -> str:
    """The body of one area's analysis (headings, tables, notes) as escaped HTML, wrapped in
    ``<section class="area" id="area-<code>">``; used by the page and by the printed report."""
    lang = ctx.lang
    title = tr("area.title", lang, name=area_name(tables, code), code=code)
    links = []
    if code in ctx.map_hrefs:
        href = escape(ctx.map_hrefs[code], quote=True)
        links.append(f'<a href="{href}">{escape(tr("area.to_map", lang))}</a>')
    links.append(
        f'<a href="{escape(ctx.index_href, quote=True)}">{escape(tr("area.to_index", lang))}</a>'
    )
    body = (
        _zone_section(code, tables, ctx)
        + _land_and_farms(code, tables, ctx)
        + _habitat_section(code, tables, ctx)
        + _distance_section(code, tables, ctx)
        + _rko_section(code, tables, ctx)
        + _scenario_section(code, tables, ctx)
        + _policy_section(code, tables, ctx)
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
    title = tr("area.title", ctx.lang, name=area_name(tables, code), code=code)
    footer = escape(tr("area.footer", ctx.lang, date=ctx.data_date, config=ctx.config_name))
    section = area_section(code, tables, ctx).replace(
        '<section class="area"', '<section class="area first"', 1
    )
    return page(title, section, lang=ctx.lang, footer=footer)
