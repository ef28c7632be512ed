"""Read the layers users have (GeoPackage, Shapefile, GeoJSON, GeoParquet, CSV with x/y,
the RCE/PDOK Natura 2000 JSON folder) into n2kzones' canonical schemas, in the working CRS.

Every reader returns ``(GeoDataFrame, LayerReport)``. The frame has the canonical columns of
its kind (see :data:`n2kzones.io.presets.SCHEMAS`) followed by the source's other columns,
and ``input_row`` (0-based row in the source) so every output can be traced back.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from n2kzones.config import Config, LayerInput
from n2kzones.errors import InputError
from n2kzones.io.presets import SCHEMAS, get_preset
from n2kzones.io.validate import (
    POLYGONAL,
    PUNTAL,
    LayerReport,
    deduplicate_ids,
    drop_missing_geometries,
    ensure_nonempty,
    force_2d,
    points_from_single_multipoints,
    repair_polygons,
    require_columns,
    require_finite_nonnegative,
    require_geometry_types,
    to_working_crs,
)
from n2kzones.params import Parameters

log = logging.getLogger(__name__)

Kind = Literal["areas", "habitats", "parcels", "farms"]

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
    try:
        if suffix in PARQUET_SUFFIXES or (path.is_dir() and any(path.glob("*.parquet"))):
            return gpd.read_parquet(path)  # a file, or a partitioned dataset (folder)
        if suffix in {".csv", ".txt", ".tsv"}:
            return _read_csv_points(path, spec)
        if path.is_dir() or suffix in VECTOR_SUFFIXES:
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
    x_col = (spec.x_column if spec else None) or "x"
    y_col = (spec.y_column if spec else None) or "y"
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: is not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded; "
            "probably Latin-1/Windows-1252 as old Excel versions write). Re-save it as UTF-8 "
            "(e.g. from Excel: 'CSV UTF-8')"
        ) from None
    header = text.lstrip().split("\n", 1)[0]
    counts = {d: header.count(d) for d in CSV_DELIMITERS}
    sep = max(counts, key=lambda d: counts[d])
    if counts[sep] == 0:
        raise InputError(
            f"{path}: cannot find the delimiter: the header line {header.strip()[:80]!r} has no "
            f"{', '.join(CSV_DELIMITERS.values())}; save it as CSV with one of those"
        )
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as exc:
        raise InputError(
            f"{path}: cannot be parsed with delimiter {CSV_DELIMITERS[sep]} ({exc}); check the delimiter"
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    notes: list[str] = []
    for col in df.columns:
        values = df[col].dropna()
        if values.empty:
            continue
        comma = values.str.contains(",", regex=False)
        if comma.any() and values.str.match(_DECIMAL_COMMA).all():
            if sep == ",":
                raise InputError(
                    f"{path}: column {col!r} has numbers with a comma such as "
                    f"{values[comma].head(3).tolist()} in a comma-delimited file: decimal "
                    "comma or thousands separator cannot be told apart. Use a point as "
                    "decimal separator, or ';' as delimiter with decimal commas"
                )
            df[col] = values.str.replace(",", ".", regex=False).reindex(df.index)
            notes.append(f"column {col!r}: read decimal commas as decimal points ({CSV_DELIMITERS[sep]}-delimited file)")
        numeric = pd.to_numeric(df[col], errors="coerce")
        if numeric.notna().sum() == df[col].notna().sum():
            df[col] = numeric
    if x_col not in df.columns or y_col not in df.columns:
        raise InputError(
            f"{path}: no coordinate columns {x_col!r}/{y_col!r} (columns: {', '.join(map(str, df.columns))}); "
            "set x_column and y_column for this input, and check the delimiter"
        )
    xy = {}
    for c in (x_col, y_col):
        values = pd.to_numeric(df[c], errors="coerce")
        if values.isna().any():
            sample = df.loc[values.isna(), c].head(3).tolist()
            raise InputError(
                f"{path}: column {c!r} has non-numeric coordinates such as {sample}; "
                "use a point as decimal separator"
            )
        xy[c] = values.to_numpy(float)
    crs = spec.assume_crs if spec else None
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(xy[x_col], xy[y_col]), crs=crs)
    for n in notes:
        log.warning("%s: %s", path, n)
    gdf.attrs["read_notes"] = notes
    return gdf


def _apply_mapping(df: gpd.GeoDataFrame, kind: Kind, spec: LayerInput, report: LayerReport) -> gpd.GeoDataFrame:
    preset = get_preset(kind, spec.preset)
    mapping: dict[str, str | list[str]] = {**preset.columns, **spec.columns}
    df = df.copy()
    for target, source in mapping.items():
        if target == source:
            continue
        sources = [source] if isinstance(source, str) else list(source)
        present = [s for s in sources if s in df.columns]
        if not present:
            continue  # reported by require_columns if the target is required
        value = df[present[0]]
        for s in present[1:]:
            blank = value.isna() | (value.astype(str).str.strip() == "")
            value = value.where(~blank, df[s])
        if isinstance(value.dtype, pd.StringDtype) or value.dtype == object:
            value = value.astype("string").str.strip()
        if target in df.columns and target not in sources:
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
        ``"areas"``, ``"habitats"``, ``"parcels"`` or ``"farms"``.
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
        report.note(text)
    encoding = _shapefile_encoding(path)
    if encoding is not None:
        report.note(f"text read as {encoding} (from the .cpg, or the dBase default without one)")
    if gdf.crs is None and spec.assume_crs:
        gdf = gdf.set_crs(spec.assume_crs)
        report.note(f"no CRS in the file; assumed {spec.assume_crs} as configured")
    gdf = normalise_layer(gdf, kind, spec, crs=crs, params=params, report=report)
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
    gdf = force_2d(gdf, report)
    gdf = drop_missing_geometries(gdf, report)
    if kind == "farms":
        gdf = require_geometry_types(gdf, PUNTAL, report)
        gdf = points_from_single_multipoints(gdf, report)
    else:
        gdf = require_geometry_types(gdf, POLYGONAL, report)
    gdf = to_working_crs(gdf, crs, report)
    if kind != "farms":
        gdf = repair_polygons(gdf, report)
    gdf = _apply_mapping(gdf, kind, spec, report)
    hint = f"[inputs.{kind}.columns] (or pick a preset)"
    require_columns(gdf, SCHEMAS[kind][0], report, hint)
    gdf = _finish[kind](gdf, spec, params, report, not partition)
    if not partition:
        ensure_nonempty(gdf, report)
    report.n_kept += len(gdf)
    if not report.accounted:  # pragma: no cover - a bug guard, not an input problem
        raise AssertionError(f"{report.name}: features unaccounted for: {report.as_dict()}")
    return _order(gdf, kind)


def _finish_areas(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True) -> gpd.GeoDataFrame:
    gdf["site_code"] = gdf["site_code"].astype("string").str.strip()
    if "name" not in gdf.columns:
        gdf["name"] = gdf["site_code"]
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


def _finish_habitats(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True) -> gpd.GeoDataFrame:
    gdf["habitat_code"] = gdf["habitat_code"].astype("string").str.strip()
    table = {code: h.kdw_mol_ha for code, h in params.kdw.habitats.items()}
    from_table = gdf["habitat_code"].map(table)
    if "kdw_mol_ha" not in gdf.columns:
        unknown = sorted(set(gdf.loc[from_table.isna(), "habitat_code"].dropna()))
        if unknown:
            raise InputError(
                f"{report.source}: habitat types {unknown} have no KDW in the parameter table; "
                "add them under [parameters.kdw.habitats] or map a kdw_mol_ha column"
            )
        gdf["kdw_mol_ha"] = from_table.astype(float)
    else:
        require_finite_nonnegative(gdf, "kdw_mol_ha", report)
        gdf["kdw_mol_ha"] = gdf["kdw_mol_ha"].astype(float)
        differs = from_table.notna() & (from_table != gdf["kdw_mol_ha"])
        if differs.any():
            report.note(f"{int(differs.sum())} habitat rows carry a KDW that differs from the table; the file's value is used")
    return gdf


def _finish_parcels(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True) -> gpd.GeoDataFrame:
    if "parcel_id" not in gdf.columns:
        gdf["parcel_id"] = (gdf["input_row"] + 1).astype("int64")
    if deduplicate:
        gdf = deduplicate_ids(gdf, "parcel_id", spec.on_duplicate_id, report)
    gdf["category"] = gdf["category"].astype("string").fillna("Onbekend")
    if "farm_id" in gdf.columns:
        gdf["farm_id"] = gdf["farm_id"].astype("string")
    return gdf


def _finish_farms(gdf: gpd.GeoDataFrame, spec: LayerInput, params: Parameters, report: LayerReport, deduplicate: bool = True) -> gpd.GeoDataFrame:
    gdf["farm_id"] = gdf["farm_id"].astype("string").str.strip()
    if deduplicate:
        gdf = deduplicate_ids(gdf, "farm_id", spec.on_duplicate_id, report)
    categories = params.animal_categories
    present = [c for c in categories if c in gdf.columns]
    for c in present:
        gdf[c] = pd.to_numeric(gdf[c], errors="coerce")
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
        gdf["emission_kg_nh3"] = pd.to_numeric(gdf["emission_kg_nh3"], errors="coerce")
    require_finite_nonnegative(gdf, "emission_kg_nh3", report, upper=MAX_PLAUSIBLE_EMISSION_KG_NH3)
    gdf["emission_kg_nh3"] = gdf["emission_kg_nh3"].astype(float)
    if "source_height_m" in gdf.columns:
        require_finite_nonnegative(gdf, "source_height_m", report, upper=300)
    return gdf


_finish = {
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
