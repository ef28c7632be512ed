"""How a value is parsed and normalised, per column kind: the one place that decides it.

Every canonical column of an input layer has a *kind* (:data:`COLUMN_KINDS`):

``id``
    Always text. Never read via float: ``0000005`` stays ``0000005``; an integer-valued
    float id (``5.0``, from a numeric column) becomes ``5`` (counted); a fractional or
    non-finite float id is refused.
``code``
    Text, trimmed, inner whitespace removed and upper-cased (site codes ``nl2003003 `` ->
    ``NL2003003``; habitat codes ``h4010a`` -> ``H4010A``, matched against the parameter
    table's vocabulary). Every changed value is counted in the layer report.
``category``
    Text matched case- and whitespace-insensitively against a vocabulary (BRP crop
    categories: ``grasland`` -> ``Grasland``), counted.
``count``
    Whole non-negative numbers. ``1.200`` is 1200 where the file's conventions say that
    ``.`` groups thousands (a count has no fraction); ``veel`` is refused with its row.
``emission`` / ``number``
    Strict numbers: Dutch thousands / decimal handling (``1.654`` in a ``;`` file whose other
    values show ``.`` grouping thousands = 1654); a column whose values could mean either is
    refused, naming the file, the column, the rows and what to do.
``name``
    Text, trimmed; never parsed as a number.

Text columns that are not canonical are converted to numbers only where every value parses
unambiguously (otherwise they stay text).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from n2kzones.errors import InputError, SchemaError

if TYPE_CHECKING:
    from n2kzones.io.validate import LayerReport

Kind = Literal["id", "code", "category", "count", "emission", "number", "name"]

#: Crop categories of the BRP gewaspercelen (PDOK, RVO: the ``category`` attribute).
#: Source: PDOK BRP Gewaspercelen dataset description (categorie: Grasland, Bouwland,
#: Natuurterrein, Braakland, Landschapselement, Overige).
BRP_CATEGORIES = ("Grasland", "Bouwland", "Natuurterrein", "Braakland", "Landschapselement", "Overige")

# Number shapes (after trimming; an optional sign in front).
_INT = re.compile(r"^[-+]?\d+$")
_DOT_GROUPED = re.compile(r"^[-+]?\d{1,3}(\.\d{3})+$")  # 1.654, 12.500.000 (ambiguous if one dot)
_DOT_GROUPED_COMMA = re.compile(r"^[-+]?\d{1,3}(\.\d{3})+,\d+$")  # 1.654,5 (Dutch)
_COMMA_DECIMAL = re.compile(r"^[-+]?\d*,\d+$")  # 940,5
_DOT_DECIMAL = re.compile(r"^[-+]?(\d*\.\d+|\d+\.)([eE][-+]?\d+)?$")  # 940.5, .5, 1e3 below
_EXP = re.compile(r"^[-+]?\d+(\.\d+)?[eE][-+]?\d+$")
_COMMA_GROUPED = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")  # 1,654 / 1,654.5 (English)


def _fold(name: str) -> str:
    return re.sub(r"\s+", "", str(name)).casefold()


def _map_distinct(text: pd.Series, fn: Callable[[str], str]) -> pd.Series:
    """``fn`` applied to each distinct non-missing value once (a column of 758,470 crop
    names has a few hundred), then spread back; missing values stay missing. Same result as
    ``text.map(fn, na_action="ignore")``, as a ``string`` Series with ``text``'s index."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    mapped = np.array([fn(v) for v in uniques] + [pd.NA], dtype=object)
    return pd.Series(mapped[codes], index=text.index, dtype="string")


def _change_examples(before: pd.Series, after: pd.Series, changed: pd.Series, n: int = 3) -> list[str]:
    """The first ``n`` (sorted) distinct ``'before' -> 'after'`` pairs among the changed rows."""
    pairs = pd.DataFrame({"a": before[changed], "b": after[changed]}).drop_duplicates()
    return sorted({f"{a!r} -> {b!r}" for a, b in zip(pairs["a"], pairs["b"], strict=True)})[:n]


def _rows(index: Iterable[int], input_row: pd.Series | None) -> list[int]:
    idx = list(index)[:5]
    if input_row is not None:
        return [int(input_row.loc[i]) for i in idx]
    return [int(i) for i in idx]


@dataclass(frozen=True)
class Conventions:
    """How numbers are written in a source: ``decimal_comma`` allowed (a ``;``, tab or ``|``
    delimited CSV, or a typed format with text columns) or not (a comma-delimited CSV)."""

    decimal_comma: bool = True
    label: str = "file"


def parse_numbers(
    values: pd.Series,
    *,
    source: str,
    column: str,
    conventions: Conventions = Conventions(),
    whole: bool = False,
    input_row: pd.Series | None = None,
    strict: bool = True,
) -> tuple[pd.Series, str | None]:
    """Text -> float, deciding the decimal and thousands separators for the whole column.

    Parameters
    ----------
    values
        The column as read (text, or already numeric: then only checked).
    source, column
        For messages.
    conventions
        What the source allows (decimal commas or not).
    whole
        The column holds counts: no fractions, so a lone ``1.200`` groups thousands where
        decimal commas are the file's convention.
    input_row
        Source row numbers for messages (default: the index).
    strict
        Refuse values that are no number; False: return None for the whole column (a
        non-canonical column that simply is text).

    Returns
    -------
    (Series, note)
        Floats (NaN for blanks) and a note saying how separators were read, or None.

    Raises
    ------
    InputError
        Non-numeric values (``veel``), a column mixing conventions, or one whose values
        could mean either (``1.654`` with nothing telling whether ``.`` is a decimal point).
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        if whole and pd.api.types.is_float_dtype(values):
            v = values.to_numpy(float)
            frac = np.isfinite(v) & (v != np.floor(np.nan_to_num(v)))
            if frac.any():
                bad = values[frac]
                raise InputError(
                    f"{source}: column {column!r} holds counts but has fractional values such as "
                    f"{bad.head(3).tolist()} (rows {_rows(bad.index, input_row)}); a count is a whole number"
                )
        return values, None  # typed numbers are kept as they are (integers stay integers)
    text = values.astype("string").str.strip()
    blank = text.isna() | (text == "")
    t = text[~blank].astype(str)
    if t.empty:
        return pd.Series(np.nan, index=values.index, dtype=float), None
    t = t.str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    shapes = {
        "int": t.str.match(_INT),
        "dot_grouped": t.str.match(_DOT_GROUPED),
        "dot_grouped_comma": t.str.match(_DOT_GROUPED_COMMA),
        "comma_decimal": t.str.match(_COMMA_DECIMAL),
        "dot_decimal": t.str.match(_DOT_DECIMAL) & ~t.str.match(_DOT_GROUPED),
        "exp": t.str.match(_EXP),
        "comma_grouped": t.str.match(_COMMA_GROUPED) & ~t.str.match(_COMMA_DECIMAL),
    }
    special = t.str.lower().isin({"nan", "inf", "-inf", "+inf", "infinity", "-infinity"})
    known = special.copy()
    for s in shapes.values():
        known |= s
    where = f"{source}: column {column!r}"
    if not known.all():
        if not strict:
            raise _NotNumeric
        bad = t[~known]
        raise InputError(
            f"{where} has {len(bad)} values that are not numbers, e.g. {bad.head(3).tolist()} "
            f"(rows {_rows(bad.index, input_row)}); write a number in every row (blank = missing)"
        )
    if special.any():
        if not strict:
            raise _NotNumeric
        bad = t[special]
        raise InputError(
            f"{where} has {len(bad)} values that are not finite numbers, e.g. {bad.head(3).tolist()} "
            f"(rows {_rows(bad.index, input_row)}); write the real value, or leave it blank"
        )
    dot_decimal = shapes["dot_decimal"] | (shapes["exp"] & t.str.contains(".", regex=False))
    dutch = shapes["dot_grouped_comma"] | shapes["comma_decimal"] | t.str.count(r"\.").gt(1)
    lone = shapes["dot_grouped"] & ~t.str.count(r"\.").gt(1)
    comma_grouped = shapes["comma_grouped"]
    note = None
    if dutch.any() and (dot_decimal.any() or comma_grouped.any()):
        a = t[dutch].head(2).tolist()
        b = t[dot_decimal | comma_grouped].head(2).tolist()
        rows = _rows(t[dot_decimal | comma_grouped].index, input_row)
        raise InputError(
            f"{where} mixes Dutch number notation ({a}: '.' groups thousands, ',' is the decimal "
            f"separator) with English notation ({b}, rows {rows}); write every value the same way"
        )
    if dutch.any() and not conventions.decimal_comma:
        raise InputError(
            f"{where} has numbers with a comma such as {t[dutch].head(3).tolist()} in a "
            f"{conventions.label}: decimal comma or thousands separator cannot be told apart. "
            "Use a point as decimal separator, or ';' as delimiter with decimal commas"
        )
    thousands_by_count = lone.any() and whole and conventions.decimal_comma and not dot_decimal.any()
    if dutch.any() or thousands_by_count:
        out = t.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        dotted = t.str.contains(".", regex=False)
        if dotted.any():
            why = "a count has no fraction" if not dutch.any() else "other values such as " + repr(t[dutch].head(2).tolist()) + " show it"
            note = (
                f"column {column!r}: read '.' as thousands separator ({why}): "
                f"{int(dotted.sum())} values such as {t[dotted].head(2).tolist()}"
                + ("; decimal commas read as decimal points" if t.str.contains(",", regex=False).any() else "")
            )
        else:
            note = f"column {column!r}: read decimal commas as decimal points ({conventions.label})"
    elif lone.any() and conventions.decimal_comma and not dot_decimal.any():
        if not strict:
            raise _NotNumeric
        rows = _rows(t[lone].index, input_row)
        raise InputError(
            f"{where} has values such as {t[lone].head(3).tolist()} (rows {rows}) that can mean a "
            "decimal point (1.654) or a thousands separator (1654) in a file with decimal commas, "
            "and no other value in the column tells which. Write them without a thousands "
            "separator (1654) or with a decimal comma (1,654)"
        )
    elif comma_grouped.any():
        out = t.str.replace(",", "", regex=False)
        note = f"column {column!r}: read ',' as thousands separator ({int(comma_grouped.sum())} values)"
    else:
        out = t
    nums = pd.to_numeric(out, errors="coerce")
    result = pd.Series(np.nan, index=values.index, dtype=float)
    result.loc[nums.index] = nums.to_numpy(float)
    if whole:
        frac = result.notna() & (result != np.floor(result.fillna(0)))
        if frac.any():
            rows = _rows(result.index[frac], input_row)
            raise InputError(
                f"{where} holds counts but has fractional values such as "
                f"{text[frac].head(3).tolist()} (rows {rows}); a count is a whole number. If "
                "'.' groups thousands there (1.200 = 1200), remove it or use ';' as delimiter "
                "with decimal commas"
            )
    return result, note


class _NotNumeric(Exception):
    """A non-strict column that is not (unambiguously) numeric: leave it as text."""


def try_numeric(values: pd.Series, conventions: Conventions) -> pd.Series | None:
    """A non-canonical text column as numbers where every value parses unambiguously, else None."""
    try:
        out, _ = parse_numbers(values, source="", column="", conventions=conventions, strict=False)
    except (_NotNumeric, InputError):
        return None
    if out.notna().sum() == 0:
        return None
    return out


def parse_ids(values: pd.Series, *, source: str, column: str, report: LayerReport, input_row: pd.Series | None = None) -> pd.Series:
    """Ids as text (``string`` dtype), trimmed; never via float (leading zeros kept)."""
    if pd.api.types.is_float_dtype(values):
        v = values.to_numpy(float)
        ok = np.isnan(v) | (np.isfinite(v) & (v == np.floor(np.nan_to_num(v))))
        if not ok.all():
            bad = values[~ok]
            raise InputError(
                f"{source}: column {column!r} holds ids as fractional numbers such as "
                f"{bad.head(3).tolist()} (rows {_rows(bad.index, input_row)}); store ids as text"
            )
        out = pd.Series(pd.NA, index=values.index, dtype="string")
        finite = ~np.isnan(v)
        out[finite] = [str(int(x)) for x in v[finite]]
        if finite.any():
            report.count_change(column, int(finite.sum()), "integer-valued float ids written as whole numbers (5.0 -> 5)")
        return out
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.astype("string")
    text = values.astype("string")
    stripped = text.str.strip()
    changed = (stripped != text).fillna(False)
    if changed.any():
        report.count_change(column, int(changed.sum()), "leading/trailing spaces removed from ids")
    return stripped.where(stripped != "", pd.NA)


def normalise_codes(
    values: pd.Series,
    *,
    column: str,
    report: LayerReport,
    vocabulary: Iterable[str] | None = None,
) -> pd.Series:
    """Codes trimmed, inner whitespace removed, Unicode-normalised and upper-cased; matched
    against ``vocabulary`` (case-insensitively) where one is given. Changes are counted."""
    text = values.astype("string")
    norm = _map_distinct(text, lambda v: re.sub(r"\s+", "", unicodedata.normalize("NFKC", v)))
    if vocabulary is not None:
        lookup = {_fold(v): v for v in vocabulary}
        matched = _map_distinct(norm, lambda v: lookup.get(_fold(v), v.upper()))
    else:
        matched = norm.str.upper()
    matched = matched.astype("string")
    matched = matched.where(matched != "", pd.NA)
    changed = (matched != text).fillna(False) & text.notna() & (text.str.strip() != "")
    if changed.any():
        examples = _change_examples(text, matched, changed)
        report.count_change(column, int(changed.sum()), f"codes normalised (case, spaces), e.g. {', '.join(examples)}")
    return matched


def normalise_categories(values: pd.Series, *, column: str, report: LayerReport, vocabulary: Iterable[str]) -> pd.Series:
    """Categories matched case- and whitespace-insensitively against ``vocabulary`` (counted);
    values outside it are kept as written (trimmed) and noted."""
    text = values.astype("string")
    lookup = {_fold(v): v for v in vocabulary}

    def match(value: str) -> str:
        trimmed = re.sub(r"\s+", " ", value.strip())
        return lookup.get(_fold(trimmed), trimmed)

    matched = _map_distinct(text, match)
    changed = (matched != text).fillna(False) & text.notna()
    if changed.any():
        examples = _change_examples(text, matched, changed)
        report.count_change(column, int(changed.sum()), f"categories matched to the known ones (case, spaces), e.g. {', '.join(examples)}")
    unknown = sorted(set(matched.dropna().unique()) - set(lookup.values()))
    if unknown:
        report.note(f"column {column!r}: {len(unknown)} values outside the known categories {list(vocabulary)}: {unknown[:5]}")
    return matched


def normalise_names(values: pd.Series, *, column: str, report: LayerReport) -> pd.Series:
    """Names: text, trimmed (never parsed as numbers)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("string")
    text = values.astype("string")
    out = text.str.strip()
    changed = (out != text).fillna(False)
    if not changed.any():
        return values  # unchanged, in its own dtype
    report.count_change(column, int(changed.sum()), "leading/trailing spaces removed")
    return out


def refuse_duplicate_columns(columns: Iterable[str], *, source: str, used: Iterable[str] | None = None) -> None:
    """Refuse a table in which a column appears twice, exactly or up to case and spaces.

    ``used``: only collisions involving one of these names (folded) are refused.
    """
    seen: dict[str, list[str]] = {}
    for c in columns:
        seen.setdefault(_fold(c), []).append(str(c))
    used_f = None if used is None else {_fold(u) for u in used}
    for key, names in seen.items():
        if len(names) > 1 and (used_f is None or key in used_f):
            raise SchemaError(
                f"{source}: column {names[0]!r} appears {len(names)} times "
                f"({', '.join(repr(n) for n in names)}); which one holds the data cannot be "
                "known. Delete or rename the extra column(s) in the file"
            )


def find_column(columns: Iterable[str], name: str) -> str | None:
    """The column matching ``name`` exactly, else up to case and spaces (None if absent)."""
    cols = [str(c) for c in columns]
    if name in cols:
        return name
    hits = [c for c in cols if _fold(c) == _fold(name)]
    return hits[0] if len(hits) == 1 else None
