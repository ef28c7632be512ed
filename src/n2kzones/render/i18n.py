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

from functools import cache
from importlib import resources
from typing import Literal

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
