"""Column headers of the CSV tables for people, and reading any CSV back by identifier.

Every column of a CSV the pipeline writes has a stable identifier (``mean_deposition_mol_ha``),
which the GeoPackage and GeoParquet layers always use. The CSVs are read by people, so with
``[project] csv_headers = "people"`` (the default) they carry a header in the project's
language instead ("gemiddelde depositie (mol N/ha/jaar)"), from the packaged table
``n2kzones/data/columns.toml``. :func:`n2kzones.io.writers.read_table` reads a CSV in either form and in
either flavour back with the identifiers, so stages, notebooks and scripts never depend on those
settings.

The mapping is a bijection per language: headers are unique, and no header is another
column's identifier (checked by :func:`check_headers` and the tests), so reading back is
exact. A column without an entry (a new one, a user's extra column) keeps its identifier.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import pandas as pd
import tomllib

#: Languages of the header table.
HEADER_LANGUAGES: tuple[str, ...] = ("nl", "en")
#: ``[project] csv_headers`` values: headers for people in the project language, or identifiers.
HEADER_STYLES: tuple[str, ...] = ("people", "machine")


@cache
def _table() -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    text = resources.files("n2kzones").joinpath("data/columns.toml").read_text("utf-8")
    data = tomllib.loads(text)
    patterns = data.pop("pattern", {})
    return data, patterns


def column_headers() -> dict[str, dict[str, str]]:
    """Identifier -> language -> header, from ``data/columns.toml`` (without the patterns)."""
    return _table()[0]


def header_patterns() -> dict[str, dict[str, str]]:
    """Prefix -> language -> header template with ``{key}`` (families such as ``ha_<crop>``)."""
    return _table()[1]


def header_for(column: str, lang: str) -> str:
    """The header for people of ``column`` in ``lang`` (the identifier when it has none)."""
    headers, patterns = _table()
    if column in headers:
        return headers[column][lang]
    for prefix, texts in patterns.items():
        if column.startswith(prefix) and len(column) > len(prefix):
            return texts[lang].format(key=column[len(prefix):])
    return column


@cache
def _reverse() -> tuple[dict[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    headers, patterns = _table()
    exact = {texts[lang]: col for col, texts in headers.items() for lang in HEADER_LANGUAGES}
    regexes = []
    for prefix, texts in patterns.items():
        for lang in HEADER_LANGUAGES:
            head, _, tail = texts[lang].partition("{key}")
            regexes.append((re.compile(f"^{re.escape(head)}(.+){re.escape(tail)}$"), prefix))
    return exact, tuple(regexes)


def identifier_of(header: str) -> str:
    """The column identifier of a header (either language, or already an identifier)."""
    headers, _ = _table()
    if header in headers:
        return header
    exact, regexes = _reverse()
    if header in exact:
        return exact[header]
    for rx, prefix in regexes:
        if m := rx.match(header):
            return prefix + m.group(1)
    return header


def to_people(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``df`` with its columns renamed to the headers for people in ``lang``."""
    if lang not in HEADER_LANGUAGES:
        raise ValueError(f"no headers in language {lang!r}; choose one of {HEADER_LANGUAGES}")
    return df.rename(columns={c: header_for(str(c), lang) for c in df.columns})


def to_machine(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with headers for people (either language) renamed back to identifiers."""
    return df.rename(columns={c: identifier_of(str(c)) for c in df.columns})


def check_headers() -> list[str]:
    """Problems of the header table: a missing language, a header used twice in one language,
    a header that is another column's identifier, a header with a CSV separator (``,`` ``;``)
    or starting like a spreadsheet formula. Empty when the mapping is a clean bijection."""
    headers, patterns = _table()
    problems = []
    for col, texts in {**headers, **{f"{p}*": t for p, t in patterns.items()}}.items():
        missing = [lang for lang in HEADER_LANGUAGES if not texts.get(lang)]
        if missing:
            problems.append(f"{col}: no header in {missing}")
        for lang, h in texts.items():
            if re.search(r"[,;\t\n\"]", h) or h[:1] in "=+-@":
                problems.append(f"{col}: the {lang} header {h!r} has a separator, quote or formula start")
    for lang in HEADER_LANGUAGES:
        seen: dict[str, str] = {}
        for col, texts in headers.items():
            h = texts.get(lang, "")
            if h in seen and h:
                problems.append(f"{lang}: {h!r} is the header of both {seen[h]} and {col}")
            seen[h] = col
            if h in headers and h != col:
                problems.append(f"{lang}: the header of {col} is the identifier {h!r}")
    return problems


__all__ = [
    "HEADER_LANGUAGES",
    "HEADER_STYLES",
    "check_headers",
    "column_headers",
    "header_for",
    "identifier_of",
    "to_machine",
    "to_people",
]
