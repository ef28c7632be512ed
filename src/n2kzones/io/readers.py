"""Read the layers users have (GeoPackage, Shapefile, GeoJSON, GeoParquet, CSV with x/y,
the RCE/PDOK Natura 2000 JSON folder) into n2kzones' canonical schemas, in the working CRS.

Every reader returns ``(GeoDataFrame, LayerReport)``. The frame has the canonical columns of
its kind (see :data:`n2kzones.io.presets.SCHEMAS`) followed by the source's other columns,
and ``input_row`` (0-based row in the source) so every output can be traced back.
"""

from __future__ import annotations

import csv
import io
import logging
import time
import warnings
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from n2kzones.config import Config, LayerInput
from n2kzones.errors import InputError
from n2kzones.io.habitat_maps import habitat_map_columns
from n2kzones.io.presets import SCHEMAS, get_preset
from n2kzones.io.validate import (
    POLYGONAL,
    PUNTAL,
    LayerReport,
    check_overlaps,
    deduplicate_ids,
    drop_missing_geometries,
    ensure_nonempty,
    force_2d,
    points_from_single_multipoints,
    refuse_non_finite_coordinates,
    repair_polygons,
    require_columns,
    require_finite_nonnegative,
    require_geometry_types,
    split_collections,
    to_working_crs,
)
from n2kzones.io.values import (
    BRP_CATEGORIES,
    Conventions,
    find_column,
    normalise_categories,
    normalise_codes,
    normalise_names,
    parse_ids,
    parse_numbers,
    refuse_duplicate_columns,
    try_numeric,
)
from n2kzones.params import Parameters

log = logging.getLogger(__name__)

Kind = Literal["areas", "habitats", "parcels", "farms", "provinces"]

VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".zip"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}

#: Emissions above this (kg NH3/yr) are refused as absurd: the largest Dutch farms emit
#: tens of thousands of kg; 1e7 kg would be a tenth of the national total at one point.
MAX_PLAUSIBLE_EMISSION_KG_NH3 = 1e7

_TRUE = {"true", "1", "ja", "yes", "j", "y", "t", "waar"}
_FALSE = {"false", "0", "nee", "no", "n", "f", "onwaar", "-", ""}


def read_file(path: Path, *, layer: str | None = None, spec: LayerInput | None = None) -> gpd.GeoDataFrame:
    """Read any supported file into a GeoDataFrame, with a clear error when it cannot be read."""
    if not path.exists():
        raise InputError(f"{path} does not exist; check inputs.*.path in the config (run `make sample` for the sample data)")
    suffix = path.suffix.lower()
    with warnings.catch_warnings():
        # NaN coordinates in WKB make shapely warn; refuse_non_finite_coordinates names them
        warnings.filterwarnings("ignore", message="invalid value encountered", category=RuntimeWarning)
        return _read_any(path, suffix, layer, spec)


def _read_any(path: Path, suffix: str, layer: str | None, spec: LayerInput | None) -> gpd.GeoDataFrame:
    try:
        if suffix in PARQUET_SUFFIXES or (path.is_dir() and any(path.glob("*.parquet"))):
            return gpd.read_parquet(path)  # a file, or a partitioned dataset (folder)
        if suffix in {".csv", ".txt", ".tsv"}:
            return _read_csv_points(path, spec)
        if path.is_dir() or suffix in VECTOR_SUFFIXES:
            if suffix in {".geojson", ".json"} and path.is_file():
                _require_utf8(path, "GeoJSON must be UTF-8 (RFC 7946)")
            if suffix == ".gpkg" and layer is None:
                layers = pyogrio.list_layers(path)
                if len(layers) > 1:
                    names = ", ".join(str(n) for n in layers[:, 0])
                    raise InputError(f"{path} holds several layers ({names}); name one with `layer =`")
            return pyogrio.read_dataframe(path, layer=layer, use_arrow=True, encoding=_shapefile_encoding(path))
    except InputError:
        raise
    except Exception as exc:  # pyogrio/arrow raise many types for corrupt or truncated files
        raise InputError(f"{path}: cannot be read ({type(exc).__name__}: {exc}). Is the file complete and of the type its name says?") from exc
    raise InputError(
        f"{path}: unsupported format {suffix!r}; use GeoPackage, Shapefile, GeoJSON, "
        "GeoParquet or CSV with x/y columns"
    )


def _require_utf8(path: Path, why: str) -> str:
    """The file's text; InputError naming the byte and line if it is not UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: is not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded; "
            f"probably Latin-1/Windows-1252 as old Excel versions and some GIS exports write). {why}: "
            "re-save it as UTF-8 (e.g. from Excel: 'CSV UTF-8'; in QGIS: Export, encoding UTF-8)"
        ) from None


def _shapefile_encoding(path: Path) -> str | None:
    """The encoding of a shapefile's .dbf when it is not UTF-8, else None (GDAL's choice).

    Without a .cpg (and without a code page in the .dbf header) GDAL assumes ISO-8859-1, the
    dBase default; the Arrow read path would not recode such text, so it is passed on
    explicitly (and logged).
    """
    if path.suffix.lower() != ".shp" or not path.is_file():
        return None
    encoding = pyogrio.read_info(path).get("encoding") or "UTF-8"
    if encoding.upper().replace("-", "") == "UTF8":
        return None
    if not path.with_suffix(".cpg").exists() and not path.with_suffix(".CPG").exists():
        log.warning(
            "%s: no .cpg file says how its text is encoded; read as %s (the dBase default). "
            "Add a .cpg (e.g. containing UTF-8) if names look wrong",
            path, encoding,
        )
    return encoding


#: Delimiters a CSV may use; anything else is refused (a sniffer guessing ':' or ' ' from
#: the data would silently split fields wrongly).
CSV_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_DECIMAL_COMMA = r"^\s*[-+]?\d+(,\d+)?\s*$"


def _read_csv_points(path: Path, spec: LayerInput | None) -> gpd.GeoDataFrame:
    """A CSV with x/y columns; every other column stays text (parsed per column kind later)."""
    text = _require_utf8(path, "CSV must be UTF-8")
    header = text.lstrip().split("\n", 1)[0]
    counts = {d: header.count(d) for d in CSV_DELIMITERS}
    sep = max(counts, key=lambda d: counts[d])
    if counts[sep] == 0:
        raise InputError(
            f"{path}: cannot find the delimiter: the header line {header.strip()[:80]!r} has no "
            f"{', '.join(CSV_DELIMITERS.values())}; save it as CSV with one of those"
        )
    names = next(csv.reader([header.strip("\r\n")], delimiter=sep))
    refuse_duplicate_columns([n.strip() for n in names], source=str(path))
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as exc:
        raise InputError(
            f"{path}: cannot be parsed with delimiter {CSV_DELIMITERS[sep]} ({exc}); check the delimiter"
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    conventions = Conventions(decimal_comma=sep != ",", label=f"{CSV_DELIMITERS[sep]}-delimited file")
    x_col = find_column(df.columns, (spec.x_column if spec else None) or "x")
    y_col = find_column(df.columns, (spec.y_column if spec else None) or "y")
    if x_col is None or y_col is None:
        want = ((spec.x_column if spec else None) or "x", (spec.y_column if spec else None) or "y")
        raise InputError(
            f"{path}: no coordinate columns {want[0]!r}/{want[1]!r} (columns: {', '.join(map(str, df.columns))}); "
            "set x_column and y_column for this input, and check the delimiter"
        )
    notes: list[str] = []
    xy = {}
    for c in (x_col, y_col):
        try:
            values, note = parse_numbers(df[c], source=str(path), column=c, conventions=conventions)
        except InputError as exc:
            raise InputError(f"{exc}; coordinates must be numbers") from None
        if values.isna().any():
            rows = list(df.index[values.isna()][:5])
            raise InputError(f"{path}: column {c!r} has {int(values.isna().sum())} rows without a coordinate (rows {rows}); every point needs x and y")
        if note:
            notes.append(note)
        xy[c] = values.to_numpy(float)
    crs = spec.assume_crs if spec else None
    gdf = gpd.GeoDataFrame(df.drop(columns=[x_col, y_col]).assign(**{x_col: xy[x_col], y_col: xy[y_col]}), geometry=gpd.points_from_xy(xy[x_col], xy[y_col]), crs=crs)
    gdf = gdf[[*df.columns, "geometry"]]
    gdf.attrs["read_notes"] = notes
    gdf.attrs["conventions"] = conventions
    return gdf


def _apply_mapping(df: gpd.GeoDataFrame, kind: Kind, spec: LayerInput, report: LayerReport, extra: tuple[str, ...] = ()) -> gpd.GeoDataFrame:
    preset = get_preset(kind, spec.preset)
    mapping: dict[str, str | list[str]] = {**preset.columns, **spec.columns}
    required, optional = SCHEMAS[kind]
    canonical = [*required, *optional, *extra]
    used = set(canonical)
    for source in mapping.values():
        used.update([source] if isinstance(source, str) else source)
    refuse_duplicate_columns([c for c in df.columns if c != df.geometry.name], source=report.source, used=used)
    df = df.copy()
    # canonical columns written in another case ("Farm_ID", "SITECODE "): matched, noted
    for target in canonical:
        if target not in df.columns and target not in mapping:
            hit = find_column([c for c in df.columns if c != df.geometry.name], target)
            if hit is not None:
                df = df.rename(columns={hit: target})
                report.note(f"column {hit!r} read as {target!r} (case/spaces differ)")
    for target, source in mapping.items():
        if target == source:
            continue
        sources = [source] if isinstance(source, str) else list(source)
        # a source column written in another case ("VTHOBJECT_ID" for the preset's
        # "vthobject_id") is matched and noted; two such columns were refused above
        pairs = [(s, c) for s in sources if (c := find_column(df.columns, s)) is not None]
        present = [c for _, c in pairs]
        if not present:
            continue  # reported by require_columns if the target is required
        for s, c in pairs:
            if c != s:
                report.note(f"column {c!r} read as {target!r} (mapped from {s!r}; case/spaces differ)")
        value = df[present[0]]
        for s in present[1:]:
            blank = value.isna() | (value.astype(str).str.strip() == "")
            value = value.where(~blank, df[s])
        if isinstance(value.dtype, pd.StringDtype) or value.dtype == object:
            value = value.astype("string").str.strip()
        if target in df.columns and target not in present:
            df = df.rename(columns={target: f"{target}_source"})
        df[target] = value
    for col, default in preset.defaults.items():
        if col not in df.columns:
            df[col] = default
            report.note(f"no {col!r} column: every feature gets {default!r} ({preset.note})")
    return df


def _to_bool(series: pd.Series, report: LayerReport, column: str) -> pd.Series:
    if series.dtype == bool:
        return series
    text = series.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    unknown = out.isna()
    if unknown.any():
        raise InputError(
            f"{report.source}: column {column!r} has values that are not true/false: "
            f"{sorted(set(text[unknown].astype(str)))[:5]}"
        )
    return out.astype(bool)


def _order(df: gpd.GeoDataFrame, kind: Kind) -> gpd.GeoDataFrame:
    required, optional = SCHEMAS[kind]
    canonical = [c for c in (*required, *optional) if c in df.columns]
    rest = [c for c in df.columns if c not in canonical and c not in ("geometry", "input_row")]
    return df[[*canonical, *rest, "input_row", "geometry"]]


def read_layer(
    kind: Kind,
    spec: LayerInput,
    *,
    crs: str,
    params: Parameters,
    base_dir: Path = Path("."),
) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Read one input layer into its canonical schema in the working CRS.

    Parameters
    ----------
    kind
        ``"areas"``, ``"habitats"``, ``"parcels"``, ``"farms"`` or ``"provinces"``.
    spec
        The layer's config entry (path, layer, preset, column mapping).
    crs
        Working CRS (projected, metres), e.g. ``"EPSG:28992"``.
    params
        Parameters (KDW table for habitats, emission factors for farms).
    base_dir
        Folder that relative paths in ``spec`` are relative to.

    Returns
    -------
    (GeoDataFrame, LayerReport)
        The layer and an account of every feature read (kept, repaired or set aside).
    """
    t0 = time.perf_counter()
    path = spec.path if spec.path.is_absolute() else base_dir / spec.path
    report = LayerReport(name=spec.layer or path.stem, source=str(path))
    if spec.preset == "natura2000_json":
        from n2kzones.io.natura2000_json import read_natura2000_json

        gdf = read_natura2000_json(path)
    else:
        gdf = read_file(path, layer=spec.layer, spec=spec)
    for text in gdf.attrs.pop("read_notes", []):
        report.warn(text)
    conventions = gdf.attrs.pop("conventions", None)
    encoding = _shapefile_encoding(path)
    if encoding is not None:
        report.note(f"text read as {encoding} (from the .cpg, or the dBase default without one)")
    if gdf.crs is None and spec.assume_crs:
        gdf = gdf.set_crs(spec.assume_crs)
        report.note(f"no CRS in the file; assumed {spec.assume_crs} as configured")
    gdf = normalise_layer(gdf, kind, spec, crs=crs, params=params, report=report, conventions=conventions)
    log.info(
        "read %s %r: %d features in, %d kept, %d repaired, set aside %s (%.1f s)",
        kind, report.name, report.n_read, report.n_kept, report.repaired_invalid,
        report.dropped or "none", time.perf_counter() - t0,
    )
    return gdf, report


def normalise_layer(
    gdf: gpd.GeoDataFrame,
    kind: Kind,
    spec: LayerInput,
    *,
    crs: str,
    params: Parameters,
    report: LayerReport,
    row_offset: int | None = 0,
    partition: bool = False,
    conventions: Conventions | None = None,
) -> gpd.GeoDataFrame:
    """Checks, repairs and column mapping of a layer as read (all of it, or one partition).

    Parameters
    ----------
    gdf
        Rows as read from the source, in source order.
    kind, spec, crs, params
        As in :func:`read_layer`.
    report
        Accumulates what happened to every row (``n_read``, ``n_kept``, repairs, drops).
    row_offset
        Source row of ``gdf``'s first row (``input_row`` numbering of a partition); None:
        ``gdf`` already has an ``input_row`` column (a partitioned reader's).
    partition
        ``gdf`` is one partition of a layer: an empty result is allowed and duplicate ids
        are left alone (the partitioned reader checks both over the whole layer).
    conventions
        How numbers are written in a text source (a CSV); None: typed columns, and text
        columns parsed as in a file with decimal commas.

    Returns
    -------
    GeoDataFrame
        The canonical schema of ``kind`` in ``crs``, columns ordered, ``input_row`` kept.
    """
    report.n_read += len(gdf)
    if not partition:
        ensure_nonempty(gdf, report)
    gdf = gdf.reset_index(drop=True)
    if row_offset is not None:
        gdf["input_row"] = np.arange(row_offset, row_offset + len(gdf), dtype=np.int64)
    t0 = time.perf_counter()
    n_vertices = _log_size(gdf, report)
    refuse_non_finite_coordinates(gdf, report)
    gdf = force_2d(gdf, report)
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    lost = gdf.loc[missing]
    gdf = drop_missing_geometries(gdf, report)
    allowed = PUNTAL if kind == "farms" else POLYGONAL
    gdf = split_collections(gdf, allowed, report)
    gdf = require_geometry_types(gdf, allowed, report)
    if kind == "farms":
        gdf = points_from_single_multipoints(gdf, report)
    gdf = to_working_crs(
        gdf, crs, report, max_scale_error=params.crs.max_scale_error, margin_deg=params.crs.area_of_use_margin_deg
    )
    if kind != "farms":
        gdf = repair_polygons(gdf, report)
    extra = tuple(params.animal_categories) if kind == "farms" else ()
    gdf = _apply_mapping(gdf, kind, spec, report, extra)
    if kind == "habitats":
        gdf = habitat_map_columns(gdf, get_preset(kind, spec.preset), spec, params, report)
    hint = f"[inputs.{kind}.columns] (or pick a preset)"
    require_columns(gdf, SCHEMAS[kind][0], report, hint)
    if len(lost):
        _report_lost(_apply_mapping(lost, kind, spec, LayerReport(report.name, report.source), extra), kind, params, report)
    conv = conventions or Conventions(decimal_comma=True, label="file")
    gdf = _finish[kind](gdf, spec, params, report, not partition, conv)
    if kind in ("parcels", "habitats"):
        group = "habitat_code" if kind == "habitats" else None
        id_col = "parcel_id" if kind == "parcels" else None
        gdf = check_overlaps(
            gdf, report, spec.on_overlap, id_col=id_col, group_col=group, setting=f"[inputs.{kind}] on_overlap",
            skip_same_id=partition,
        )
    if conventions is not None:  # other text columns of a CSV: numbers where unambiguous
        required, optional = SCHEMAS[kind]
        for col in gdf.columns:
            if col in (*required, *optional, *extra, "geometry", "input_row") or gdf[col].dtype.kind in "fiub":
                continue
            num = try_numeric(gdf[col], conv)
            if num is not None and num.notna().sum() == gdf[col].notna().sum():
                gdf[col] = num
    if not partition:
        ensure_nonempty(gdf, report)
    report.n_kept += len(gdf)
    if n_vertices >= LARGE_VERTICES:
        log.info("%s: checked and repaired %d vertices in %.1f s", report.name, n_vertices, time.perf_counter() - t0)
    if not report.accounted:  # pragma: no cover - a bug guard, not an input problem
        raise AssertionError(f"{report.name}: features unaccounted for: {report.as_dict()}")
    return _order(gdf, kind)


#: A layer (or one feature) with this many vertices takes seconds per step: logged.
LARGE_VERTICES = 250_000


def _log_size(gdf: gpd.GeoDataFrame, report: LayerReport) -> int:
    """Log the vertex count of a large layer (its steps take long) and return it."""
    import shapely

    counts = shapely.get_num_coordinates(gdf.geometry.values)
    total = int(counts.sum())
    if total >= LARGE_VERTICES:
        big = int(counts.max()) if len(counts) else 0
        log.info(
            "%s: %d features with %d vertices (largest %d vertices, row %d): validity checks, "
            "repairs and buffers take time in proportion",
            report.name, len(gdf), total, big, int(np.argmax(counts)) if len(counts) else -1,
        )
    return total


def _report_lost(lost: pd.DataFrame, kind: str, params: Parameters, report: LayerReport) -> None:
    """Say what features without geometry carried: kg NH3/yr for farms, ha for polygons."""
    n = len(lost)
    rows = lost["input_row"].astype(int).tolist()[:5]
    what = ""
    if kind == "farms":
        kg = None
        if "emission_kg_nh3" in lost:
            kg = pd.to_numeric(lost["emission_kg_nh3"], errors="coerce").sum()
        elif all(c in lost for c in params.animal_categories):
            ef = np.array([params.livestock[c].emission_kg_nh3_per_animal for c in params.animal_categories])
            kg = float(lost[params.animal_categories].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() @ ef).sum()
        what = f" carrying {kg:,.1f} kg NH3/yr" if kg is not None else " (emission unknown)"
        if "farm_id" in lost:
            what += f", farm_id {lost['farm_id'].astype(str).head(5).tolist()}"
    else:
        area_col = next((c for c in lost.columns if str(c).lower() in _AREA_COLUMNS), None)
        if area_col is not None:
            v = pd.to_numeric(lost[area_col], errors="coerce").sum()
            ha = v / 1e4 if str(area_col).lower() in _AREA_M2 else v
            what = f" carrying {ha:,.2f} ha (column {area_col!r})"
        else:
            what = " (their area is unknown: no geometry and no area column)"
    report.warn(f"{n} features without geometry set aside{what}; first rows {rows}. Fix their geometry to include them")


_AREA_M2 = {"area_m2", "shape_area", "oppervlakte_m2", "opp_m2"}
_AREA_COLUMNS = _AREA_M2 | {"area_ha", "oppervlakte", "opp_ha", "oppervlakte_ha", "ha"}


def _require_codes(gdf: gpd.GeoDataFrame, column: str, report: LayerReport) -> None:
    blank = gdf[column].isna()
    if blank.any():
        rows = gdf.loc[blank, "input_row"].astype(int).tolist()
        raise InputError(
            f"{report.source}: layer {report.name!r} has {int(blank.sum())} rows with a blank or "
            f"missing {column} (rows {rows[:5]}); every feature needs one. Fill them in, or map "
            f"another column under [inputs.<kind>.columns] {column} = [\"first\", \"second\"]"
        )


def _finish_areas(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True, conv: Conventions | None = None) -> gpd.GeoDataFrame:
    gdf["site_code"] = normalise_codes(gdf["site_code"], column="site_code", report=report)
    _require_codes(gdf, "site_code", report)
    if "name" not in gdf.columns:
        gdf["name"] = gdf["site_code"]
    else:
        gdf["name"] = normalise_names(gdf["name"], column="name", report=report)
    if "nitrogen_sensitive" not in gdf.columns:
        gdf["nitrogen_sensitive"] = True
        report.note("no nitrogen_sensitive column: every area is treated as nitrogen-sensitive")
    gdf["nitrogen_sensitive"] = _to_bool(gdf["nitrogen_sensitive"], report, "nitrogen_sensitive")
    dup = gdf["site_code"].duplicated(keep=False)
    if dup.any():
        # An area split over several rows (per directive part, or a copy with other
        # geometry): one area is one zone, so dissolve by code. Logged with the codes.
        codes = sorted(gdf.loc[dup, "site_code"].unique())
        flags = gdf.loc[dup].groupby("site_code")["nitrogen_sensitive"].nunique()
        if (flags > 1).any():
            raise InputError(
                f"{report.source}: area code(s) {list(flags[flags > 1].index)} appear several "
                "times with different nitrogen_sensitive flags; make them agree"
            )
        n_rows = int(dup.sum())
        first = gdf.drop(columns="geometry").groupby("site_code", sort=False).first()
        geom = gdf.dissolve(by="site_code", sort=False)[["geometry"]]
        merged = first.join(geom).reset_index()
        gdf = gpd.GeoDataFrame(merged, geometry="geometry", crs=gdf.crs)
        report.drop("merged into another row with the same site_code", n_rows - len(codes))
        report.note(f"dissolved {n_rows} rows sharing {len(codes)} site codes: {codes[:10]}")
    return gdf


def _finish_habitats(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True, conv: Conventions | None = None) -> gpd.GeoDataFrame:
    gdf["habitat_code"] = normalise_codes(gdf["habitat_code"], column="habitat_code", report=report, vocabulary=params.kdw.habitats)
    _require_codes(gdf, "habitat_code", report)
    if "site_code" in gdf.columns:
        gdf["site_code"] = normalise_codes(gdf["site_code"], column="site_code", report=report)
        _require_codes(gdf, "site_code", report)
    def kdw(code: object) -> float:
        try:
            return params.kdw.kdw_of(str(code))
        except KeyError:
            return np.nan

    codes = gdf["habitat_code"]
    from_table = codes.map({c: kdw(c) for c in codes.dropna().unique()}).astype(float)
    if "kdw_mol_ha" not in gdf.columns:
        unknown = sorted(set(gdf.loc[from_table.isna(), "habitat_code"].dropna()))
        if unknown:
            raise InputError(
                f"{report.source}: habitat types {unknown} have no KDW in the parameter table; "
                "add them under [parameters.kdw.habitats] or map a kdw_mol_ha column"
            )
        gdf["kdw_mol_ha"] = from_table.astype(float)
    else:
        gdf["kdw_mol_ha"] = _numbers(gdf, "kdw_mol_ha", report, conv)
        require_finite_nonnegative(gdf, "kdw_mol_ha", report)
        gdf["kdw_mol_ha"] = gdf["kdw_mol_ha"].astype(float)
        differs = from_table.notna() & (from_table != gdf["kdw_mol_ha"])
        if differs.any():
            report.note(f"{int(differs.sum())} habitat rows carry a KDW that differs from the table; the file's value is used")
    return gdf


def _numbers(gdf: pd.DataFrame, column: str, report: LayerReport, conv: Conventions | None, *, whole: bool = False) -> pd.Series:
    values, note = parse_numbers(
        gdf[column], source=report.source, column=column, conventions=conv or Conventions(),
        whole=whole, input_row=gdf["input_row"] if "input_row" in gdf else None,
    )
    if note and "thousands" in note:
        text = gdf[column].astype("string")
        n = int(text.str.contains(r"[.,]", regex=True).fillna(False).sum())
        report.count_change(column, n, note.split(": ", 1)[-1])
    elif note:
        report.warn(note)
    return values


def joined_columns(kind: Kind, spec: LayerInput) -> tuple[str, ...]:
    """The columns joined onto each feature: ``spec.joined_columns``, else the preset's."""
    if spec.joined_columns is not None:
        return tuple(spec.joined_columns)
    return get_preset(kind, spec.preset).joined_columns


def _finish_parcels(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True, conv: Conventions | None = None) -> gpd.GeoDataFrame:
    if "parcel_id" not in gdf.columns:
        gdf["parcel_id"] = (gdf["input_row"] + 1).astype("int64")
    else:
        gdf["parcel_id"] = parse_ids(gdf["parcel_id"], source=report.source, column="parcel_id", report=report, input_row=gdf["input_row"])
    if deduplicate:
        gdf = deduplicate_ids(gdf, "parcel_id", spec.on_duplicate_id, report, joined_columns("parcels", spec))
    category = normalise_categories(gdf["category"], column="category", report=report, vocabulary=BRP_CATEGORIES)
    n_blank = int(category.isna().sum())
    if n_blank:
        report.warn(f"{n_blank} parcels without a category: counted as 'Onbekend'")
    gdf["category"] = category.fillna("Onbekend")
    if "farm_id" in gdf.columns:
        gdf["farm_id"] = parse_ids(gdf["farm_id"], source=report.source, column="farm_id", report=report, input_row=gdf["input_row"])
    return gdf


def _finish_farms(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True, conv: Conventions | None = None) -> gpd.GeoDataFrame:
    gdf["farm_id"] = parse_ids(gdf["farm_id"], source=report.source, column="farm_id", report=report, input_row=gdf["input_row"])
    if gdf["farm_id"].isna().any():
        rows = gdf.loc[gdf["farm_id"].isna(), "input_row"].astype(int).tolist()
        raise InputError(
            f"{report.source}: layer {report.name!r} has {len(rows)} farms without farm_id "
            f"(rows {rows[:5]}); every farm needs an id"
        )
    if deduplicate:
        gdf = deduplicate_ids(gdf, "farm_id", spec.on_duplicate_id, report, joined_columns("farms", spec))
    for col in ("farm_type", "address", "municipality"):  # descriptive text, carried through
        if col in gdf.columns:
            gdf[col] = normalise_names(gdf[col], column=col, report=report)
    categories = params.animal_categories
    present = [c for c in categories if c in gdf.columns]
    for c in present:
        gdf[c] = _numbers(gdf, c, report, conv, whole=True)
        if gdf[c].isna().any():
            n = int(gdf[c].isna().sum())
            gdf[c] = gdf[c].fillna(0)
            report.note(f"{n} farms have no {c} count; taken as 0")
        require_finite_nonnegative(gdf, c, report)
    missing = [c for c in categories if c not in gdf.columns]
    for c in missing:
        gdf[c] = 0.0
    if missing and present:
        report.note(f"no count columns for {missing}; taken as 0")
    if "emission_kg_nh3" not in gdf.columns:
        if not present:
            raise InputError(
                f"{report.source}: farms have neither an emission_kg_nh3 column nor animal counts "
                f"({', '.join(categories)}); map one of them in [inputs.farms.columns]"
            )
        ef = pd.Series({c: params.livestock[c].emission_kg_nh3_per_animal for c in categories})
        gdf["emission_kg_nh3"] = gdf[categories].astype(float).to_numpy() @ ef.to_numpy()
        report.note("emission_kg_nh3 computed from animal counts x emission factors")
    else:
        gdf["emission_kg_nh3"] = _numbers(gdf, "emission_kg_nh3", report, conv)
    require_finite_nonnegative(gdf, "emission_kg_nh3", report, upper=MAX_PLAUSIBLE_EMISSION_KG_NH3)
    gdf["emission_kg_nh3"] = gdf["emission_kg_nh3"].astype(float)
    if "source_height_m" in gdf.columns:
        gdf["source_height_m"] = _numbers(gdf, "source_height_m", report, conv)
        require_finite_nonnegative(gdf, "source_height_m", report, upper=300)
    return gdf


def _finish_provinces(
    gdf: gpd.GeoDataFrame,
    spec: LayerInput,
    params: Parameters,
    report: LayerReport,
    deduplicate: bool = True,
    conv: Conventions | None = None,
) -> gpd.GeoDataFrame:
    """Province polygons: ``name`` (trimmed, required) and ``code`` (normalised like site codes,
    optional); rows sharing a name are dissolved into one province (noted)."""
    gdf["name"] = (
        normalise_names(gdf["name"], column="name", report=report).astype("string").str.strip()
    )
    gdf["name"] = gdf["name"].where(gdf["name"] != "", pd.NA)
    _require_codes(gdf, "name", report)
    if "code" in gdf.columns:
        gdf["code"] = normalise_codes(gdf["code"], column="code", report=report)
    dup = gdf["name"].duplicated(keep=False)
    if dup.any():
        names = sorted(gdf.loc[dup, "name"].unique())
        n_rows = int(dup.sum())
        first = gdf.drop(columns="geometry").groupby("name", sort=False).first()
        geom = gdf.dissolve(by="name", sort=False)[["geometry"]]
        gdf = gpd.GeoDataFrame(first.join(geom).reset_index(), geometry="geometry", crs=gdf.crs)
        report.drop("merged into another row with the same name", n_rows - len(names))
        report.note(f"dissolved {n_rows} rows sharing {len(names)} province names: {names[:10]}")
    return gdf


_finish = {
    "provinces": _finish_provinces,
    "areas": _finish_areas,
    "habitats": _finish_habitats,
    "parcels": _finish_parcels,
    "farms": _finish_farms,
}


def read_inputs(cfg: Config, kinds: tuple[Kind, ...] = ("areas", "habitats", "parcels", "farms")) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, LayerReport]]:
    """Read every configured input layer of ``kinds`` (missing optional ones are skipped)."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    reports: dict[str, LayerReport] = {}
    params = cfg.params
    for kind in kinds:
        spec = getattr(cfg.inputs, kind)
        if spec is None:
            continue
        layers[kind], reports[kind] = read_layer(kind, spec, crs=cfg.project.crs, params=params, base_dir=cfg.base_dir)
    return layers, reports


def read_wind_rose_json(path: Path, setting: str = "deposition.wind_rose") -> tuple[list[float], dict]:
    """The ``weights`` (one per sector, north first, clockwise) and ``provenance`` of a wind-rose
    JSON file, checked: UTF-8 JSON, an object with a ``weights`` list of finite numbers >= 0.

    Raises
    ------
    InputError
        Naming the file, the key or the entry that is wrong and what is expected.
    """
    import json

    path = Path(path)
    expected = 'expected {"weights": [w0, w1, ...], "provenance": {...}} with one number >= 0 per sector, north first, clockwise'
    text = _require_utf8(path, f"{setting} must be UTF-8")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} ({setting}): is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); {expected}") from None
    if not isinstance(obj, dict) or "weights" not in obj:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise InputError(f"{path} ({setting}): has no key 'weights' (found: {keys}); {expected}")
    weights = obj["weights"]
    if not isinstance(weights, list) or len(weights) < 1:
        raise InputError(f"{path} ({setting}): 'weights' must be a non-empty list, got {type(weights).__name__}; {expected}")
    bad = [
        (i, w) for i, w in enumerate(weights)
        if isinstance(w, bool) or not isinstance(w, int | float) or not np.isfinite(w) or w < 0
    ]
    if bad:
        i, w = bad[0]
        raise InputError(
            f"{path} ({setting}): {len(bad)} of the {len(weights)} weights are not numbers >= 0, e.g. "
            f"weights[{i}] = {w!r} (write numbers without quotes); {expected}"
        )
    if sum(weights) <= 0:
        raise InputError(f"{path} ({setting}): every weight is 0; {expected}")
    provenance = obj.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise InputError(f"{path} ({setting}): 'provenance' must be an object, got {type(provenance).__name__}")
    return [float(w) for w in weights], provenance
