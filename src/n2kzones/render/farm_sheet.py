"""A sheet per farm: what the zones, the land-based norms, the RKO and the scenarios mean for it.

:func:`farm_sheet_table` gathers one farm's figures from the stage outputs (its row of
``farm_summary.csv``, its row of layer ``sources`` of ``rko_sources.gpkg``, the receptor of its
largest contribution, its rows of ``scenario_farms.csv`` and its area's rows of
``scenarios.csv``) into one long table (the sheet's CSV); :func:`farm_sheet_html` renders that
table, so the CSV and the HTML cannot disagree. The norms (2.6 GVE/ha, 85 % grassland) come
from the parameters. Text is in the catalogue (:mod:`n2kzones.render.i18n`, keys ``farm.*``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import pandas as pd

from n2kzones.render.area_page import page
from n2kzones.render.i18n import DEFAULT_LANGUAGE, fmt_number, localise, tr

#: Columns of a farm sheet's CSV (one row per figure).
SHEET_COLUMNS = ("farm_id", "section", "key", "label", "value", "unit", "norm", "meets", "source")
#: Optional farm attributes shown when ``farm_summary.csv`` carries them: column -> label key.
ATTRIBUTES = {
    "address": "farm.address",
    "adres": "farm.address",
    "municipality": "farm.municipality",
    "gemeente": "farm.municipality",
    "farm_type": "farm.farm_type",
    "type": "farm.farm_type",
}


@dataclass
class FarmContext:
    """What a farm sheet needs besides the farm's rows.

    Attributes
    ----------
    max_gve_per_ha
        Norm: at most this many GVE per ha (parameters ``land_based.max_gve_per_ha``).
    min_grassland_share
        Norm: at least this share of grassland, 0-1 (``land_based.min_grassland_share``).
    thresholds_mol_ha
        RKO thresholds (mol N/ha/yr) of the status lines.
    ranges
        Calculation range labels of ``rko_sources`` (``none``, ``25000``) -> text label.
    area_names
        Site code -> area name.
    habitat_names
        Habitat code -> name.
    data_date, config_name, lang
        Footer and language.
    attribute_sources
        Farm attribute column -> the output it comes from, where not ``farm_summary.csv``.
    """

    max_gve_per_ha: float
    min_grassland_share: float
    thresholds_mol_ha: Sequence[float]
    ranges: Mapping[str, str]
    area_names: Mapping[str, str] = field(default_factory=dict)
    habitat_names: Mapping[str, str] = field(default_factory=dict)
    data_date: str = "unknown"
    config_name: str = ""
    lang: str = DEFAULT_LANGUAGE
    attribute_sources: Mapping[str, str] = field(default_factory=dict)


def _area_label(code: object, ctx: FarmContext) -> str:
    if code is None or (isinstance(code, float) and np.isnan(code)) or str(code) == "":
        return ""
    c = str(code)
    name = ctx.area_names.get(c)
    return f"{name} ({c})" if name and name != c else c


def farm_sheet_table(
    farm: pd.Series,
    source: pd.Series | None,
    receptors: pd.DataFrame | None,
    scenario_farms: pd.DataFrame | None,
    scenarios: pd.DataFrame | None,
    ctx: FarmContext,
) -> pd.DataFrame:
    """One farm's figures as a long table (columns :data:`SHEET_COLUMNS`).

    Parameters
    ----------
    farm
        The farm's row of ``farm_summary.csv``.
    source
        The farm's row of layer ``sources`` of ``rko_sources.gpkg`` (None: the rko stage
        has no row for it).
    receptors
        The deposition stage's receptors (``receptor_id``, ``site_code``, ``habitat_code``,
        ``habitat_ha`` and optionally ``x_m`` / ``y_m``): the habitat where the largest
        contribution lands.
    scenario_farms, scenarios
        ``scenario_farms.csv`` (cuts per farm) and ``scenarios.csv`` (effects per area).
    ctx
        Norms, thresholds and labels.

    Returns
    -------
    DataFrame
        ``value`` keeps the stage output's number unrounded (text where it is text); ``unit``
        its unit; ``norm`` and ``meets`` for the land-based norms and the RKO thresholds;
        ``source`` the output file it comes from.
    """
    lang = ctx.lang
    fid = str(farm["farm_id"])
    rows: list[dict] = []

    def add(
        section: str,
        key: str,
        label: str,
        value: object,
        unit: str = "",
        source_file: str = "farm_summary.csv",
        norm: object = "",
        meets: object = "",
    ) -> None:
        rows.append(
            {
                "farm_id": fid,
                "section": section,
                "key": key,
                "label": label,
                "value": value,
                "unit": unit_label(unit, lang),
                "norm": norm,
                "meets": meets,
                "source": source_file,
            }
        )

    add("farm", "farm_id", tr("farm.farm_id", lang), fid)
    seen: set[str] = set()
    for col, key in ATTRIBUTES.items():
        if col in farm.index and key not in seen and pd.notna(farm[col]) and str(farm[col]).strip():
            add(
                "farm",
                col,
                tr(key, lang),
                str(farm[col]),
                source_file=ctx.attribute_sources.get(col, "farm_summary.csv"),
            )
            seen.add(key)
    for col, key in (("x_m", "farm.x_m"), ("y_m", "farm.y_m")):
        if col in farm.index:
            add("farm", col, tr(key, lang), float(farm[col]), "m")
    codes = str(farm.get("area_codes", "") or "")
    codes = "" if codes == "nan" else codes
    add(
        "zone",
        "area_codes",
        tr("farm.zones", lang),
        "; ".join(_area_label(c, ctx) for c in codes.split(";") if c) or tr("farm.none", lang),
    )
    add("zone", "width_m", tr("farm.zone_width_m", lang), float(farm.get("width_m", np.nan)), "m")
    add(
        "zone",
        "inside_area",
        tr("farm.inside_area", lang),
        tr("farm.yes", lang) if _truthy(farm.get("inside_area")) else tr("farm.no", lang),
    )
    add(
        "zone",
        "nearest_site_code",
        tr("farm.nearest_site_code", lang),
        _area_label(farm.get("nearest_site_code"), ctx),
    )
    add(
        "zone",
        "distance_to_area_m",
        tr("farm.distance_to_area_m", lang),
        float(farm.get("distance_to_area_m", np.nan)),
        "m",
    )
    gph = float(farm.get("gve_per_ha", np.nan))
    share = float(farm.get("grassland_share", np.nan))
    add(
        "norms",
        "gve_per_ha",
        tr("farm.gve_per_ha", lang),
        gph,
        "GVE/ha",
        norm=ctx.max_gve_per_ha,
        meets=_yes_no(lang, gph <= ctx.max_gve_per_ha) if not np.isnan(gph) else "",
    )
    add(
        "norms",
        "grassland_share",
        tr("farm.grassland_share", lang),
        share,
        "0-1",
        norm=ctx.min_grassland_share,
        meets=_yes_no(lang, share >= ctx.min_grassland_share) if not np.isnan(share) else "",
    )
    if "meets_land_based_norm" in farm.index:
        add(
            "norms",
            "meets_land_based_norm",
            tr("farm.meets_land_based_norm", lang),
            _yes_no(lang, _truthy(farm["meets_land_based_norm"])),
        )
    for col, key, unit in (("land_ha", "farm.land_ha", "ha"), ("gve", "farm.gve", "GVE")):
        if col in farm.index:
            add("norms", col, tr(key, lang), float(farm[col]), unit)
    emission = float(farm.get("emission_kg_nh3", np.nan))
    add("emission", "emission_kg_nh3", tr("farm.emission_kg_nh3", lang), emission, "kg NH3/yr")
    if source is not None:
        hab = (
            receptors.assign(receptor_id=receptors["receptor_id"].astype(str))
            if receptors is not None
            else None
        )
        for label, text_label in ctx.ranges.items():
            rng = text_label
            mx = float(source.get(f"max_{label}_mol_ha", np.nan))
            add(
                "contribution",
                f"max_{label}_mol_ha",
                tr("farm.max_mol_ha", lang, range=rng),
                mx,
                "mol N/ha/yr",
                "rko_sources.gpkg",
            )
            rid = source.get(f"receptor_{label}")
            site = source.get(f"site_code_{label}")
            add(
                "contribution",
                f"receptor_{label}",
                tr("farm.receptor", lang, range=rng),
                "" if pd.isna(rid) else str(rid),
                "",
                "rko_sources.gpkg",
            )
            add(
                "contribution",
                f"site_code_{label}",
                tr("farm.site_code", lang, range=rng),
                _area_label(site, ctx),
                "",
                "rko_sources.gpkg",
            )
            if hab is not None and pd.notna(rid):
                at = hab.loc[hab["receptor_id"] == str(rid)]
                if pd.notna(site) and "site_code" in at:
                    at = at.loc[at["site_code"].astype(str) == str(site)]
                types = [
                    f"{c} {ctx.habitat_names.get(str(c), '')}".strip()
                    for c in at.sort_values("habitat_ha", ascending=False)["habitat_code"]
                    .astype(str)
                    .drop_duplicates()
                ]
                add(
                    "contribution",
                    f"habitat_{label}",
                    tr("farm.habitat", lang, range=rng),
                    "; ".join(types),
                    "",
                    "receptors",
                )
                if len(at) and {"x_m", "y_m"} <= set(at.columns):
                    add(
                        "contribution",
                        f"receptor_xy_{label}",
                        tr("farm.receptor_xy", lang, range=rng),
                        f"{float(at['x_m'].iloc[0]):.0f}, {float(at['y_m'].iloc[0]):.0f}",
                        "m",
                        "receptors",
                    )
            for t in ctx.thresholds_mol_ha:
                below = bool(mx < t) if not np.isnan(mx) else False
                add(
                    "rko",
                    f"below_{t:g}_{label}",
                    tr("farm.below", lang, threshold=localise(f"{t:g}", lang), range=rng),
                    tr("farm.permit_free", lang) if below else tr("farm.no", lang),
                    "",
                    "rko_sources.gpkg",
                    norm=t,
                )
    names = (
        list(dict.fromkeys(scenarios["scenario"].astype(str)))
        if scenarios is not None and len(scenarios)
        else []
    )
    cuts = (
        scenario_farms.loc[scenario_farms["farm_id"].astype(str) == fid]
        if scenario_farms is not None
        else pd.DataFrame()
    )
    nearest = str(farm.get("nearest_site_code", "") or "")
    for name in names:
        cut = (
            float(cuts.loc[cuts["scenario"].astype(str) == name, "nh3_reduced_kg"].sum())
            if len(cuts)
            else 0.0
        )
        add(
            "scenarios",
            f"{name}:nh3_reduced_kg",
            tr("farm.scenario_cut", lang, scenario=name),
            cut,
            "kg NH3/yr",
            "scenario_farms.csv",
        )
        add(
            "scenarios",
            f"{name}:emission_after_kg_nh3",
            tr("farm.scenario_after", lang, scenario=name),
            emission - cut,
            "kg NH3/yr",
            "scenario_farms.csv",
        )
        area_rows = scenarios.loc[
            (scenarios["scenario"].astype(str) == name)
            & (scenarios["site_code"].astype(str) == nearest)
        ]
        if len(area_rows):
            add(
                "scenarios",
                f"{name}:overloaded_ha_change",
                tr("farm.scenario_area", lang, scenario=name, area=_area_label(nearest, ctx)),
                float(area_rows["overloaded_ha_change"].iloc[0]),
                "ha",
                "scenarios.csv",
            )
    return pd.DataFrame(rows, columns=list(SHEET_COLUMNS))


def _truthy(v: object) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else False


def _yes_no(lang: str, v: bool) -> str:
    return tr("farm.yes", lang) if v else tr("farm.no", lang)


#: Decimals per unit on the sheet.
DIGITS = {"m": 0, "GVE/ha": 2, "0-1": 2, "ha": 1, "GVE": 1, "kg NH3/yr": 1, "mol N/ha/yr": 4}
#: Units written differently per language (catalogue keys); the others are the same in both.
UNIT_KEYS = {"kg NH3/yr": "farm.u_kg_nh3_yr", "mol N/ha/yr": "farm.u_mol_ha_yr", "0-1": "farm.u_fraction"}


def unit_label(unit: str, lang: str) -> str:
    """A unit of the sheet as people read it in ``lang`` (``kg NH3/jaar``)."""
    return tr(UNIT_KEYS[unit], lang) if unit in UNIT_KEYS else unit


def farm_sheet_html(sheet: pd.DataFrame, ctx: FarmContext) -> str:
    """The sheet of :func:`farm_sheet_table` as a complete, escaped HTML page."""
    lang = ctx.lang
    fid = str(sheet["farm_id"].iloc[0]) if len(sheet) else ""
    title = tr("farm.title", lang, farm_id=fid)
    parts = [f"<h1>{escape(title)}</h1>"]
    heads = {
        "farm": "farm.s_farm",
        "zone": "farm.s_zone",
        "norms": "farm.s_norms",
        "emission": "farm.s_emission",
        "contribution": "farm.s_contribution",
        "rko": "farm.s_rko",
        "scenarios": "farm.s_scenarios",
    }
    for section, rows in sheet.groupby("section", sort=False):
        parts.append(f"<h2>{escape(tr(heads.get(str(section), 'farm.s_farm'), lang))}</h2>")
        show_norm = rows["norm"].astype(str).str.len().gt(0).any()
        th = [tr("farm.h_item", lang), tr("farm.h_value", lang), tr("farm.h_unit", lang)] + (
            [tr("farm.h_norm", lang), tr("farm.h_meets", lang)] if show_norm else []
        )
        body = []
        digits = {unit_label(u, lang): d for u, d in DIGITS.items()}
        for r in rows.itertuples(index=False):
            d = digits.get(str(r.unit), 2)
            cells = [
                escape(str(r.label)),
                escape(fmt_number(r.value, d, lang)),
                escape(str(r.unit)),
            ]
            if show_norm:
                cells += [
                    escape(
                        fmt_number(r.norm, 3 if str(r.section) == "rko" else 2, lang)
                        if r.norm != ""
                        else ""
                    ),
                    escape(str(r.meets)),
                ]
            body.append(
                f'<tr data-key="{escape(str(r.key), quote=True)}">'
                + "".join(
                    f'<td class="{"l" if i != 1 else "r"}">{c}</td>' for i, c in enumerate(cells)
                )
                + "</tr>"
            )
        parts.append(
            '<table class="t"><thead><tr>'
            + "".join(f'<th class="l">{escape(h)}</th>' for h in th)
            + f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )
    footer = escape(tr("farm.footer", lang, date=ctx.data_date, config=ctx.config_name))
    return page(title, "".join(parts), lang=lang, footer=footer)
