"""The one catalogue of user-facing text: ``n2kzones/data/messages.toml``.

Every text a person reads on the maps, the report, the area pages and the farm sheets is a
key of the catalogue with an ``en`` and an ``nl`` text; :func:`tr` looks one up in the
language of ``[project] language`` (Dutch by default) and fills its ``{fields}`` with
:meth:`str.format`. Keys are namespaced by where they are shown: ``area.`` (the area
analysis pages), ``farm.`` (the farm sheets), ``map.`` (the maps) and ``report.`` (the report
index). Column names of the CSVs and GeoPackages are not in the catalogue: they are stable
English identifiers, read back by later stages.

The catalogue is a plain TOML file (one table per key), so that it needs no build step
(gettext's ``.mo`` files would); ``tests/test_i18n.py`` checks that both languages are
complete, have the same fields, and that every key is used and every used key exists.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np
import pandas as pd
import tomllib

#: The languages of the catalogue.
LANGUAGES: tuple[str, ...] = ("nl", "en")
#: Language when none is given (``[project] language``'s default).
DEFAULT_LANGUAGE: Literal["nl"] = "nl"
#: Language a missing text falls back to.
FALLBACK_LANGUAGE = "en"


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Key -> language -> text, from the package's ``data/messages.toml``.

    Returns
    -------
    dict
        Flattened keys (``area.title``) of the TOML tables that hold language texts.
    """
    text = resources.files("n2kzones").joinpath("data/messages.toml").read_text("utf-8")
    out: dict[str, dict[str, str]] = {}

    def walk(prefix: str, table: dict) -> None:
        for k, v in table.items():
            if isinstance(v, dict) and v and all(isinstance(x, str) for x in v.values()):
                out[f"{prefix}{k}"] = dict(v)
            elif isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                raise ValueError(f"messages.toml: {prefix}{k} is not a table of texts")

    walk("", tomllib.loads(text))
    return out


def tr(key: str, lang: str = DEFAULT_LANGUAGE, /, **fields: object) -> str:
    """The text of ``key`` in ``lang`` with ``fields`` filled in.

    Parameters
    ----------
    key
        A catalogue key such as ``"area.title"``.
    lang
        ``nl`` or ``en``; a missing text falls back to English.
    **fields
        Values of the text's ``{placeholders}`` (:meth:`str.format`).

    Returns
    -------
    str
        Plain text (not HTML-escaped).

    Raises
    ------
    KeyError
        ``key`` is not in the catalogue.
    """
    texts = catalogue()[key]
    template = texts.get(lang) or texts[FALLBACK_LANGUAGE]
    return template.format(**fields) if fields else template


def localise(formatted: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A number formatted the English way (``1,234.5``) in ``lang``'s notation (Dutch
    ``1.234,5``)."""
    if lang == "nl":
        return formatted.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return formatted


def fmt_number(value: object, digits: int = 1, lang: str = DEFAULT_LANGUAGE) -> str:
    """A number for a page: ``digits`` decimals, thousands grouped (``1,234.5``; Dutch
    ``1.234,5``); yes / no for a boolean; blank for a missing value, text as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return tr("farm.yes" if value else "farm.no", lang)
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return ""
    s = f"{v:,.{digits}f}"
    if s.startswith("-") and float(s.replace(",", "")) == 0:  # no "-0.0"
        s = s[1:]
    return localise(s, lang)


#: Catalogue key of each status of the required reduction (:data:`n2kzones.reductions.STATUSES`).
REDUCTION_STATUS_KEYS = {
    "met_now": "report.red_met_now",
    "baseline_reaches": "report.red_baseline_reaches",
    "extra_needed": "report.red_extra_needed",
    "out_of_reach": "report.red_out_of_reach",
    "no_zone_farms": "report.red_no_zone_farms",
    "no_overloaded_habitat": "report.red_no_overloaded_habitat",
    "no_habitat": "report.red_no_habitat",
    "no_receptors": "report.red_no_receptors",
}
#: Catalogue key of each zone basis (:data:`n2kzones.zone_variants.ZONE_BASES`).
ZONE_VARIANT_KEYS = {
    "area_edge": "report.variant_area_edge",
    "habitat_edge": "report.variant_habitat_edge",
    "ta_luft": "report.variant_ta_luft",
    "ta_luft_2002": "report.variant_ta_luft_2002",
}


#: Catalogue key of each zone-proposal reason code (:data:`n2kzones.selection.REASON_CODES`).
ZONE_REASON_KEYS = {
    "not_sensitive": "area.reason_not_sensitive",
    "no_habitat_data": "area.reason_no_habitat_data",
    "no_overload": "area.reason_no_overload",
    "below_minimum": "area.reason_below_minimum",
    "wide": "area.reason_wide",
    "default": "area.reason_default",
}


def zone_reason(
    code: str,
    lang: str = DEFAULT_LANGUAGE,
    /,
    *,
    rank: object = None,
    n_wide: int = 0,
    dep_within_1000m_mol_ha: float = float("nan"),
    min_contribution_mol_ha: float = 0.0,
    official_width_m: float = float("nan"),
) -> str:
    """The sentence for people behind a zone proposal's ``reason_code``
    (:data:`n2kzones.selection.REASON_CODES`), with the official width when listed.

    Parameters
    ----------
    code
        The reason code.
    rank, n_wide
        The area's rank and how many areas get the wide zone.
    dep_within_1000m_mol_ha, min_contribution_mol_ha
        The deposition from farms within 1000 m and the minimum for a zone (mol N/ha/yr).
    official_width_m
        The official list's width (m; NaN: not listed).
    """
    text = tr(
        ZONE_REASON_KEYS[code],
        lang,
        rank=fmt_number(rank, 0, lang),
        n_wide=n_wide,
        dep=fmt_number(dep_within_1000m_mol_ha, 2, lang),
        minimum=fmt_number(min_contribution_mol_ha, 2, lang),
    )
    if official_width_m is not None and np.isfinite(official_width_m):
        text += tr("area.reason_official", lang, width=fmt_number(official_width_m, 0, lang))
    return text
