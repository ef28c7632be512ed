"""Critical deposition values (KDW) of WUR report 3272 (2023) as a table.

The table ``n2kzones/data/kdw_wur3272.csv`` holds every habitat type, subtype, variant and
leefgebied of Bijlage 1 of

    Wamelink, W., H. van Dobben, F. van der Zee, A. van Hinsberg & R. Bobbink (2023).
    *Overzicht van kritische depositiewaarden voor stikstof, toegepast op habitattypen en
    leefgebieden van Natura 2000; Herziening 2023.* Wageningen Environmental Research,
    Rapport 3272. doi:10.18174/633179.

with its KDW in mol N/ha/yr as printed in the report's column "KDW (mol/ha/j)". Its side
file ``kdw_wur3272.provenance.json`` records the PDF's checksum, the pages, how the table
was extracted and the rule for entries printed as a bound:

* ``>2400`` (with ``>34`` kg; class "minder/niet gevoelig"): stored as **2400**, the limit
  from which a habitat is not nitrogen-sensitive (AERIUS: KDW >= 2400 is not sensitive).
  ``kdw_mol_ha >= 2400`` therefore always means "not nitrogen-sensitive".
* ``<2400`` (only Lg01, class "mogelijk gevoelig"): the report gives no value; stored empty
  (NaN). Decide per use whether to treat it as sensitive.

Codes are written as in the report and in AERIUS (``habitat_type_name`` in AERIUS's open
data): ``H`` + four characters (``H2310``, ``H91E0``), an upper-case letter for a subtype
(``H7110B``, ``H91E0C``), lower-case letters for a variant (``H3150baz``, ``H2180Abe``), and
``Lg01``..``Lg14`` for leefgebieden. AERIUS's search areas (``ZG`` + code, e.g.
``ZGH3130``) are not in the report; they take the KDW of the code without ``ZG``.

:func:`load_kdw_table` reads the packaged table. :func:`extract_kdw_table_from_pdf`
re-extracts it from the PDF with pdfplumber (an optional dependency) and
``python -m n2kzones.kdw PDF OUT_DIR`` writes the CSV and its provenance file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from n2kzones.errors import InputError

__all__ = [
    "KDW_COLUMNS",
    "KINDS",
    "NOT_SENSITIVE_FROM_MOL_HA",
    "code_kind",
    "extract_kdw_table_from_pdf",
    "load_kdw_provenance",
    "load_kdw_table",
]

log = logging.getLogger(__name__)

CSV_NAME = "kdw_wur3272.csv"
PROVENANCE_NAME = "kdw_wur3272.provenance.json"
KDW_COLUMNS = ["code", "name", "kdw_mol_ha", "kind"]
KINDS = ("habitat type", "habitat subtype", "habitat variant", "leefgebied")
NOT_SENSITIVE_FROM_MOL_HA = 2400.0

#: Bijlage 1 (Kritische Depositie Waarden) is on these PDF pages (1-based; printed 30-37).
BIJLAGE1_PDF_PAGES = tuple(range(32, 40))
#: mol N = kg N / 0.014, rounded to whole mol (Bijlage 1, legend of the columns).
KG_TO_MOL_DIVISOR = 0.014

_HABITAT = re.compile(r"^H(?P<base>\d{2}[0-9A-Z]\d)(?P<sub>[A-Z]?)(?P<var>[a-z]*)$")
_LEEFGEBIED = re.compile(r"^Lg\d{2}$")
# A bound printed instead of a value, and what is stored for it.
_BOUND_RULES: dict[str, float] = {">2400": NOT_SENSITIVE_FROM_MOL_HA, "<2400": np.nan}
# After a line break following a hyphen, these words mean the hyphen elides a compound
# ("rivieren- en zeekleigebied"); otherwise the hyphen joins a word broken across lines
# ("Noordzee-" / "kustzone").
_ELISION_WORDS = {"en", "of", "tot"}


def code_kind(code: str) -> str:
    """The kind of a report code: habitat type, subtype, variant or leefgebied.

    Parameters
    ----------
    code
        A code as in Bijlage 1, e.g. ``"H2310"``, ``"H7110B"``, ``"H3150baz"``, ``"Lg01"``.

    Returns
    -------
    str
        One of :data:`KINDS`.

    Raises
    ------
    InputError
        If the code has neither form.
    """
    if _LEEFGEBIED.match(code):
        return "leefgebied"
    m = _HABITAT.match(code)
    if m is None:
        raise InputError(
            f"{code!r} is not a habitat type code (H + 4 characters, optional subtype "
            "letter and variant letters, e.g. H7110B, H3150baz) nor a leefgebied (Lg01..)"
        )
    if m["var"]:
        return "habitat variant"
    if m["sub"]:
        return "habitat subtype"
    return "habitat type"


def _data_file(name: str):
    return resources.files("n2kzones").joinpath("data", name)


def load_kdw_table() -> pd.DataFrame:
    """The KDW table of WUR report 3272 (2023), Bijlage 1, as packaged with n2kzones.

    Source: Wamelink et al. (2023), *Overzicht van kritische depositiewaarden voor
    stikstof, toegepast op habitattypen en leefgebieden van Natura 2000; Herziening 2023*,
    Wageningen Environmental Research Rapport 3272, Bijlage 1 (PDF pages 32-39), extracted
    with pdfplumber; checksum and method in ``kdw_wur3272.provenance.json``.

    Returns
    -------
    pandas.DataFrame
        One row per code, in report order, with columns

        ``code``
            Code as in the report and AERIUS (``H7110B``, ``H91E0C``, ``H3150baz``,
            ``Lg01``), unique.
        ``name``
            Dutch name; for variants the variant after a comma.
        ``kdw_mol_ha``
            KDW in mol N/ha/yr (float). Entries printed ``>2400`` are stored as 2400
            (not nitrogen-sensitive); ``<2400`` (Lg01) is NaN (no value in the report).
        ``kind``
            ``"habitat type"``, ``"habitat subtype"``, ``"habitat variant"`` or
            ``"leefgebied"``.

    Examples
    --------
    >>> kdw = load_kdw_table().set_index("code")["kdw_mol_ha"]
    >>> float(kdw["H7110B"])
    714.0
    """
    with _data_file(CSV_NAME).open("r", encoding="utf-8") as fh:
        df = pd.read_csv(
            fh,
            dtype={"code": str, "name": str, "kdw_mol_ha": float, "kind": str},
            keep_default_na=False,
            na_values={"kdw_mol_ha": [""]},
        )
    if list(df.columns) != KDW_COLUMNS:
        raise InputError(f"{CSV_NAME} has columns {list(df.columns)}, expected {KDW_COLUMNS}")
    return df


def load_kdw_provenance() -> dict[str, Any]:
    """The provenance record of the packaged KDW table (source, checksum, pages, rules)."""
    return json.loads(_data_file(PROVENANCE_NAME).read_text("utf-8"))


# --------------------------------------------------------------------------- extraction


def _join_lines(lines: list[str]) -> str:
    out = ""
    for line in (s.strip() for s in lines):
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith("-") and line.split()[0] not in _ELISION_WORDS:
            out += line
        else:
            out += " " + line
    return out


def _name(code: str, cell: str) -> str:
    lines = [s for s in cell.split("\n") if s.strip()]
    if code_kind(code) == "habitat variant" and len(lines) >= 2:
        # The variant is printed on its own (last) line below the type or subtype name.
        return f"{_join_lines(lines[:-1])}, {lines[-1].strip()}"
    return _join_lines(lines)


def _value(text: str) -> tuple[float, str | None]:
    text = text.strip()
    if text in _BOUND_RULES:
        return _BOUND_RULES[text], text
    if not re.fullmatch(r"\d+", text):
        raise InputError(f"unexpected KDW cell {text!r}")
    return float(text), None


def extract_kdw_table_from_pdf(pdf_path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Extract Bijlage 1 of WUR report 3272 from its PDF with pdfplumber.

    Each page of Bijlage 1 holds one ruled table; pdfplumber's ``extract_tables`` (line
    strategy, its default) returns its cells. A row whose first cell is a code starts an
    entry; rows with an empty first cell continue the previous entry's wrapped cells (only
    the sensitivity class wraps) and are skipped. The mol value is checked against the kg
    value: ``round(kg / 0.014)``, the report's own rule.

    Parameters
    ----------
    pdf_path
        The report's PDF.

    Returns
    -------
    (pandas.DataFrame, dict)
        The table (columns as :func:`load_kdw_table`) and details: per code the printed
        mol and kg cells and the sensitivity class, and per page the codes found.

    Raises
    ------
    ImportError
        If pdfplumber is not installed.
    InputError
        If a page has no table, a code is repeated, or a cell is not as expected.
    """
    try:
        import pdfplumber
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "extracting the KDW table needs pdfplumber: pip install pdfplumber"
        ) from exc

    rows: list[dict[str, Any]] = []
    printed: dict[str, dict[str, str]] = {}
    pages: dict[int, list[str]] = {}
    with pdfplumber.open(pdf_path) as pdf:
        for page_no in BIJLAGE1_PDF_PAGES:
            tables = pdf.pages[page_no - 1].extract_tables()
            if len(tables) != 1:
                raise InputError(f"PDF page {page_no}: expected 1 table, found {len(tables)}")
            table = tables[0]
            header = " ".join((c or "") for c in table[0])
            if not header.startswith("Code Naam van het habitattype"):
                raise InputError(f"PDF page {page_no}: unexpected header {header!r}")
            for cells in table[1:]:
                cells = [(c or "") for c in cells]
                code = cells[0].strip()
                if not code or code in ("Code",):
                    continue
                if not re.fullmatch(r"H\w+|Lg\d{2}", code) or not cells[3].strip():
                    continue  # header continuation lines ("leefgebied", "(mol", ...)
                if code in printed:
                    raise InputError(f"code {code} appears twice (PDF page {page_no})")
                kdw_mol, bound = _value(cells[3])
                kg_cell = cells[2].strip()
                if bound is None:
                    kg = float(kg_cell)
                    expected = round(kg / KG_TO_MOL_DIVISOR)
                    if expected != kdw_mol:
                        raise InputError(
                            f"{code}: {kdw_mol:g} mol does not equal round({kg_cell} kg / 0.014)"
                            f" = {expected}"
                        )
                rows.append(
                    {
                        "code": code,
                        "name": _name(code, cells[1]),
                        "kdw_mol_ha": kdw_mol,
                        "kind": code_kind(code),
                    }
                )
                printed[code] = {
                    "kdw_mol_ha_printed": cells[3].strip(),
                    "kdw_kg_ha_printed": kg_cell,
                    "sensitivity_class": " ".join(cells[4].split()),
                }
                pages.setdefault(page_no, []).append(code)
    df = pd.DataFrame(rows, columns=KDW_COLUMNS)
    df["kdw_mol_ha"] = df["kdw_mol_ha"].astype(float)
    log.info("extracted %d KDW rows from %s", len(df), pdf_path)
    return df, {"printed": printed, "pages": pages}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_kdw_package_data(pdf_path: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Extract the table from ``pdf_path`` and write the CSV and provenance JSON.

    Returns
    -------
    (Path, Path)
        The CSV and the provenance file written in ``out_dir``.
    """
    import pdfplumber

    pdf_path, out_dir = Path(pdf_path), Path(out_dir)
    df, details = extract_kdw_table_from_pdf(pdf_path)
    counts = df["kind"].value_counts().reindex(list(KINDS), fill_value=0)
    bounds = {
        code: d["kdw_mol_ha_printed"]
        for code, d in details["printed"].items()
        if d["kdw_mol_ha_printed"] in _BOUND_RULES
    }
    provenance = {
        "title": (
            "Overzicht van kritische depositiewaarden voor stikstof, toegepast op habitattypen "
            "en leefgebieden van Natura 2000; Herziening 2023"
        ),
        "authors": "Wieger Wamelink, Han van Dobben, Friso van der Zee, Arjen van Hinsberg, "
        "Roland Bobbink",
        "publisher": "Wageningen Environmental Research",
        "report_series": "Wageningen Environmental Research Rapport",
        "report_number": 3272,
        "year": 2023,
        "doi": "10.18174/633179",
        "isbn": "978-94-6447-757-3",
        "file": {
            "name": pdf_path.name,
            "sha256": _sha256(pdf_path),
            "bytes": pdf_path.stat().st_size,
            "pages": 68,
            "copied_from": "Geonovius/Stikstof-2.0 via shared/data/real/kdw-wur-rapport-3272-2023/"
            " (see shared/data/real/PROVENANCE.md)",
        },
        "table": {
            "name": "Bijlage 1 Kritische Depositie Waarden",
            "pdf_pages": list(BIJLAGE1_PDF_PAGES),
            "printed_pages": [p - 2 for p in BIJLAGE1_PDF_PAGES],
            "legend_pdf_page": 31,
            "codes_per_pdf_page": {str(k): v for k, v in details["pages"].items()},
            "column_used": "KDW (mol /ha/j)",
        },
        "extraction": {
            "library": f"pdfplumber {pdfplumber.__version__}",
            "method": (
                "pdfplumber Page.extract_tables() (default lines strategy) on each page of "
                "Bijlage 1: one ruled table per page; a row whose first cell is a code starts "
                "an entry, rows with an empty first cell are wrapped continuations and are "
                "skipped. Names: cell lines joined with spaces, a line ending in '-' joined "
                "without a space unless the next word is en/of/tot; for variants the last line "
                "(the variant, printed on its own line) follows a comma. Every numeric mol "
                "value was checked to equal round(kg / 0.014) (the report's rule). Checked by "
                "hand against the page text (pypdf / pdfplumber extract_text) and the page "
                "images. Regenerate: python -m n2kzones.kdw PDF src/n2kzones/data"
            ),
            "count_total": int(len(df)),
            "count_per_kind": {k: int(v) for k, v in counts.items()},
            "report_total_check": "Tabel 4 (PDF page 25) counts 98 habitat types and "
            "leefgebieden in total",
        },
        "rules": {
            ">2400": "printed '>34' kg / '>2400' mol, class 'minder/niet gevoelig': not "
            "nitrogen-sensitive; stored as kdw_mol_ha = 2400 so that kdw_mol_ha >= 2400 means "
            "not sensitive (AERIUS: KDW >= 2400 mol/ha/yr is not nitrogen-sensitive)",
            "<2400": "printed '<34' kg / '<2400' mol (only Lg01), class 'mogelijk gevoelig': "
            "no value in the report; stored empty (NaN)",
            "not_sensitive_from_mol_ha": NOT_SENSITIVE_FROM_MOL_HA,
            "numeric_at_or_above_2400": "H91E0A is printed 34 kg / 2429 mol, class "
            "'minder/niet gevoelig'; stored as printed (2429)",
            "entries_printed_as_bound": bounds,
            "zoekgebied": "AERIUS codes 'ZG' + code (search areas, e.g. ZGH3130) are not in "
            "the report; they take the KDW of the code without 'ZG'",
        },
        "columns": {
            "code": "code as in the report and AERIUS habitat_type_name",
            "name": "Dutch name as printed; for variants ', ' + the variant line",
            "kdw_mol_ha": "KDW in mol N/ha/yr (column 'KDW (mol /ha/j)')",
            "kind": "habitat type | habitat subtype | habitat variant | leefgebied (from the "
            "code: upper-case letter = subtype, lower-case letters = variant, Lg = leefgebied)",
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, prov_path = out_dir / CSV_NAME, out_dir / PROVENANCE_NAME
    tmp = csv_path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False, float_format="%.0f", lineterminator="\n")
    tmp.replace(csv_path)
    tmp = prov_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", "utf-8")
    tmp.replace(prov_path)
    return csv_path, prov_path


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path, help="WUR report 3272 PDF")
    parser.add_argument("out_dir", type=Path, help="folder for the CSV and provenance JSON")
    args = parser.parse_args(argv)
    for path in write_kdw_package_data(args.pdf, args.out_dir):
        print(path)


if __name__ == "__main__":  # pragma: no cover
    _main()
