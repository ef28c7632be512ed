"""Atomic writers: a file appears complete under its final name, or not at all.

Each writer writes to a temporary name in the destination folder and renames it into place
(``os.replace`` is atomic on one filesystem). An interrupted or failed run therefore leaves
the previous output intact, and never a half-written file that looks current.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from n2kzones.errors import OutputError
from n2kzones.io.gdal_log import route_gdal_messages
from n2kzones.io.headers import HEADER_LANGUAGES, identifier_of, to_machine, to_people

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers (GDAL) want to create the file themselves
    try:
        yield tmp
        if path.is_dir():  # a partitioned dataset from a Dask run: replaced as a whole
            aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, aside / path.name)
            os.replace(tmp, path)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _prepare_for_ogr(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """GDAL cannot store list/dict columns or pandas' nullable booleans with NA everywhere."""
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, (list, tuple, set, dict))).any():
            out[col] = out[col].map(lambda v: json.dumps(sorted(v) if isinstance(v, set) else v))
    return out


#: Columns of the ``layer_styles`` table in which QGIS keeps layer styles in a GeoPackage
#: (as QGIS creates it; ``id`` is the primary key).
LAYER_STYLES_COLUMNS = (
    "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
    "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time",
)


def _write_layer_styles(path: Path, styles: Mapping[str, str]) -> None:
    """Add ``layer_styles`` (QGIS's table) to a GeoPackage: one default style per layer."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as con:
        query = "SELECT table_name, column_name FROM gpkg_geometry_columns"
        geom = dict(con.execute(query).fetchall())
    unknown = sorted(set(styles) - set(geom))
    if unknown:
        raise OutputError(f"{path.name}: styles given for layers it does not have: {unknown}")
    now = pd.Timestamp.now(tz="UTC").floor("s")
    rows = pd.DataFrame(
        {
            "f_table_catalog": "",
            "f_table_schema": "",
            "f_table_name": list(styles),
            "f_geometry_column": [geom[name] for name in styles],
            "styleName": list(styles),
            "styleQML": list(styles.values()),
            "styleSLD": "",
            "useAsDefault": True,
            "description": [f"n2kzones default style of {name}" for name in styles],
            "owner": "n2kzones",
            "ui": "",
            "update_time": now,
        },
        columns=list(LAYER_STYLES_COLUMNS),
    )
    pyogrio.write_dataframe(
        rows, path, layer="layer_styles", driver="GPKG", append=True, layer_options={"FID": "id"}
    )


def write_geopackage(
    path: str | Path,
    layers: Mapping[str, gpd.GeoDataFrame | Iterable[gpd.GeoDataFrame]],
    *,
    styles: Mapping[str, str] | None = None,
    log_as: Path | None = None,
) -> Path:
    """Write several layers into one GeoPackage, atomically (all layers or none).

    Parameters
    ----------
    path
        Destination ``.gpkg``.
    layers
        Layer name -> GeoDataFrame (in the working CRS), or an iterable of GeoDataFrames
        with the same columns, written one after the other (a layer bigger than memory).
    styles
        Layer name -> QGIS style (QML text), stored as each layer's default style in the
        ``layer_styles`` table (:data:`LAYER_STYLES_COLUMNS`), where QGIS finds it.
    log_as
        The path the log names (default ``path``): the final path of a temporary file.
    """
    path = Path(path)
    counts: dict[str, int] = {}
    route_gdal_messages()  # what GDAL reports outside pyogrio's calls goes to the log
    # The file is a temporary one until it is complete and renamed, so SQLite need not sync
    # every transaction to disk (a crash leaves only the temporary file, which is removed).
    with atomic_path(path) as tmp, _gdal_options(OGR_SQLITE_SYNCHRONOUS="OFF"):
        for name, frames in layers.items():
            if isinstance(frames, pd.DataFrame):
                frame = _prepare_for_ogr(frames)
                # Through Arrow: about 2x faster than feature by feature (785,860 parcel pieces:
                # 7.0 s, was 15.2 s). Not for a column of Python objects (ids with None): OGR
                # stores those as text, Arrow would infer a type, and a layer's schema stays as it was.
                typed = not any(frame[c].dtype == object for c in frame.columns if c != frame.geometry.name)
                if not (typed and _write_mixed_polygons(tmp, name, frame)):
                    pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", append=tmp.exists(), use_arrow=typed)
                counts[name] = len(frames)
                continue
            counts[name] = _write_layer_stream(tmp, name, frames)
        if styles:
            _write_layer_styles(tmp, {k: v for k, v in styles.items() if k in layers})
    log.info("wrote %s (%s)", log_as or path, ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return path


#: WKB header of a one-part MultiPolygon (little endian, type 6, one part): a Polygon's WKB
#: after it is that MultiPolygon's WKB.
_MULTI_POLYGON_OF_ONE = b"\x01\x06\x00\x00\x00\x01\x00\x00\x00"


def _write_mixed_polygons(path: Path, layer: str, frame: gpd.GeoDataFrame) -> bool:
    """Write a layer mixing Polygons and MultiPolygons (2D, no missing geometry, plain
    columns) as MultiPolygon through Arrow; False (nothing written) for any other layer.

    What ``pyogrio.write_dataframe(..., use_arrow=True)`` writes for such a layer (it
    promotes the Polygons), without building a GEOS MultiPolygon per Polygon: the Polygon's
    WKB gets the one-part MultiPolygon header (:data:`_MULTI_POLYGON_OF_ONE`).
    """
    import pyarrow as pa
    import shapely

    geoms = frame.geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    if not len(geoms) or not (np.isin(types, (3, 6)).all() and (types == 3).any() and (types == 6).any()):
        return False
    if shapely.has_z(geoms).any() or any(
        isinstance(frame[c].dtype, pd.DatetimeTZDtype) for c in frame.columns if c != frame.geometry.name
    ):
        return False
    wkb = shapely.to_wkb(geoms, byte_order=1)  # little endian, as the header
    polygon = np.flatnonzero(types == 3)
    wkb[polygon] = [_MULTI_POLYGON_OF_ONE + w for w in wkb[polygon]]
    table = pa.Table.from_pandas(pd.DataFrame(frame.drop(columns=frame.geometry.name)), preserve_index=False)
    table = table.append_column(frame.geometry.name, pa.array(wkb, type=pa.binary()))
    epsg = frame.crs.to_epsg() if frame.crs is not None else None
    pyogrio.write_arrow(
        table, path, layer=layer, driver="GPKG", append=path.exists(),
        geometry_name=frame.geometry.name, geometry_type="MultiPolygon",
        crs=f"EPSG:{epsg}" if epsg else (frame.crs.to_wkt("WKT1_GDAL") if frame.crs is not None else None),
    )
    return True


@contextlib.contextmanager
def write_geopackage_aside(
    path: str | Path,
    layers: Mapping[str, gpd.GeoDataFrame | Iterable[gpd.GeoDataFrame]],
    *,
    styles: Mapping[str, str] | None = None,
    fork: bool = True,
) -> Iterator[None]:
    """:func:`write_geopackage` in a forked process while the block runs.

    GDAL holds the GIL while it writes a layer (a thread beside it would wait), so the
    GeoPackage is written by a child forked from this process (it has the layers already:
    nothing is copied or pickled) while the block computes and writes other outputs. Leaving
    the block waits for the child and raises its error. The child writes a temporary file
    that becomes ``path`` only when both the child and the block succeed; on an error in
    either, no file is left and ``path`` is as it was. The block's error comes first.

    Parameters
    ----------
    path, layers, styles
        As :func:`write_geopackage`.
    fork
        False (or a platform without ``fork``) writes the GeoPackage here, before the block
        (it still becomes ``path`` only when the block succeeds): for a process that must not
        fork (a Dask client's threads).
    """
    import multiprocessing

    with atomic_path(path) as tmp:
        if not fork or "fork" not in multiprocessing.get_all_start_methods():
            write_geopackage(tmp, layers, styles=styles, log_as=Path(path))
            yield
            return
        route_gdal_messages()  # before the fork: the child logs GDAL's messages as this process
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_write_in_child, args=(send, tmp, Path(path), layers, styles), name="gpkg-writer")
        child.start()
        send.close()
        try:
            yield
        finally:  # the child's result is read even when the block failed: no orphan, no leftovers
            error = _child_result(receive, child, tmp)
        if error is not None:
            raise error


def _write_in_child(send: Any, tmp: Path, path: Path, layers: Mapping, styles: Mapping[str, str] | None) -> None:
    """The forked child of :func:`write_geopackage_aside`: write ``tmp`` (to become ``path``),
    then send None or the error."""
    try:
        write_geopackage(tmp, layers, styles=styles, log_as=path)
    except BaseException as exc:  # noqa: BLE001 - every error goes back to the parent
        try:
            send.send(exc)
        except Exception:  # an error that cannot be pickled: its text
            send.send(OutputError(f"writing {tmp.name} failed: {exc!r}"))
    else:
        send.send(None)
    finally:
        send.close()


def _child_result(receive: Any, child: Any, tmp: Path) -> BaseException | None:
    """Wait for the child of :func:`write_geopackage_aside`; its error, or None."""
    try:
        error = receive.recv()
    except EOFError:  # it died without a word (killed, out of memory)
        error = None
    finally:
        receive.close()
        child.join()
    if error is None and child.exitcode != 0:
        error = OutputError(f"the process writing {tmp.name} ended with exit code {child.exitcode} (out of memory?)")
    return error


def _write_layer_stream(path: Path, layer: str, frames: Iterable[gpd.GeoDataFrame]) -> int:
    """Write frames with the same columns as one layer in one GDAL session (an Arrow stream).

    One session lets GDAL build the spatial index once at the end instead of updating it
    for every appended feature (2-3x faster for millions of features). Polygonal layers are
    written as MultiPolygon, as GDAL does for a layer that mixes both.
    """
    import pyarrow as pa
    import shapely

    state: dict[str, Any] = {}

    def batches() -> Iterator[pa.RecordBatch]:
        for gdf in frames:
            if gdf.empty and state:
                continue
            gdf = _prepare_for_ogr(gdf)
            geoms = gdf.geometry.to_numpy()
            polygonal = bool(len(geoms)) and bool(np.isin(shapely.get_type_id(geoms), (3, 6)).all())
            if polygonal:
                parts, idx = shapely.get_parts(geoms, return_index=True)
                if np.unique(idx).size == len(geoms):  # no empty geometry: one multi per row
                    multi = shapely.multipolygons(parts, indices=idx)
                    gdf = gdf.set_geometry(gpd.GeoSeries(multi, index=gdf.index, crs=gdf.crs))
            table = pa.table(gdf.to_arrow(index=False, geometry_encoding="WKB"))
            if not state:
                state.update(schema=table.schema, crs=gdf.crs, geometry=gdf.geometry.name, polygonal=polygonal, n=0)
            state["n"] += table.num_rows
            yield from table.cast(state["schema"]).to_batches()

    stream = batches()
    head = next(stream, None)
    if head is None:
        return 0

    def all_batches() -> Iterator[pa.RecordBatch]:
        yield head
        yield from stream

    pyogrio.write_arrow(
        pa.RecordBatchReader.from_batches(state["schema"], all_batches()),
        path,
        layer=layer,
        driver="GPKG",
        append=path.exists(),
        geometry_name=state["geometry"],
        geometry_type="MultiPolygon" if state["polygonal"] else None,
        crs=state["crs"].to_wkt() if state["crs"] is not None else None,
    )
    return int(state["n"])


@contextlib.contextmanager
def _gdal_options(**options: str) -> Iterator[None]:
    before = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; swap it in for ``path`` when the block succeeds.

    For outputs written as many files (a partitioned GeoParquet dataset). On an exception
    the temporary folder is removed and ``path`` is left as it was. ``path`` may be a file
    or a folder from an earlier run; it is replaced as a whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(path: str | Path, gdf: gpd.GeoDataFrame | pd.DataFrame) -> Path:
    """Write a (Geo)DataFrame as (Geo)Parquet, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        gdf.to_parquet(tmp, index=False)
    return path


#: A text cell starting with one of these is run as a formula by spreadsheet programs
#: (OWASP, "CSV Injection"): such cells get a leading apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: object) -> object:
    """``value`` with a leading ``'`` if it is text that a spreadsheet would run as a formula.

    Numbers (a negative number too) and other non-text values are returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_formulas(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A copy of ``df`` with every text cell (and column name) escaped; number of cells changed."""
    out = df.copy()
    n = 0
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            hit = s.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
            if hit.any():
                n += int(hit.sum())
                out[col] = s.map(escape_formula)
    renamed = {c: escape_formula(c) for c in out.columns if isinstance(c, str) and c.startswith(FORMULA_PREFIXES)}
    if renamed:
        n += len(renamed)
        out = out.rename(columns=renamed)
    return out, n


@dataclass(frozen=True)
class CsvFlavour:
    """How a CSV meant for people is spelled.

    Attributes
    ----------
    sep
        Field separator.
    decimal
        Decimal mark.
    encoding
        Python codec; ``utf-8-sig`` writes the UTF-8 byte-order mark.
    """

    sep: str
    decimal: str
    encoding: str


#: CSV flavours by ``[project] csv_flavour``. ``plain`` (the default) is comma-separated with a
#: decimal point, UTF-8 without a byte-order mark: what pandas, R, QGIS, GDAL and command-line
#: tools expect (a BOM ends up in the first column name of several of them). ``excel_nl`` is
#: for Excel with Dutch regional settings: ``;``-separated with a decimal comma, UTF-8 with a
#: BOM (without it Excel reads the file as Windows-1252 and garbles names such as
#: "Âlde Feanen").
CSV_FLAVOURS: dict[str, CsvFlavour] = {
    "plain": CsvFlavour(sep=",", decimal=".", encoding="utf-8"),
    "excel_nl": CsvFlavour(sep=";", decimal=",", encoding="utf-8-sig"),
}

#: Rounding of the float columns of every CSV (the tables for people), by column name: the
#: first pattern that matches wins; ``("dp", n)`` rounds to ``n`` decimals, ``("sig", n)`` to
#: ``n`` significant digits, ``("dpsig", n)`` to ``n`` decimals but keeps 3 significant digits
#: of smaller values (a summed sub-threshold deposition of 0.0043 mol N/ha/yr is not
#: 0.0), ``("floorsig", n)`` rounds down to ``n`` significant digits (an upper limit stays
#: admissible), ``("ceildp", n)`` up to ``n`` decimals (a required amount stays sufficient; a
#: value within 1e-9 of the grid is not pushed up). Machine outputs (GeoPackage, GeoParquet, GeoTIFF) keep full
#: precision. Units follow the column suffix (``_ha`` hectares, ``_mol_ha`` mol N/ha/yr,
#: ``_mol`` mol N/yr, ``_kg``/``kg_nh3`` kg NH3/yr, ``_pct`` per cent, ``_m`` metres).
CSV_ROUNDING: tuple[tuple[str, tuple[str, int]], ...] = (
    (r"ratio|per_kg|^reduction_", ("sig", 3)),  # ratios and marginal effects: 3 significant
    # an admissible upper limit (the policy stage's threshold per area) rounded down to 3
    # significant digits, so the rounded value is admissible too
    (r"^area_threshold", ("floorsig", 3)),
    # a required cut (the policy stage's extra percentage points) rounded up to 2 decimals: a
    # rounded-down cut would fall short of its target
    (r"_pct_points$", ("ceildp", 2)),
    # a target's metric (mol N/ha/yr or % of hectares, see the row's `metric`): as mol N/ha/yr
    (r"^metric_", ("dpsig", 2)),
    (r"threshold", ("sig", 6)),  # parameter values (RKO thresholds 0.005 mol/ha/yr) as given
    (r"_mol_ha($|_)", ("dpsig", 2)),  # mol N/ha/yr: 2 decimals (3 significant below 1)
    (r"_mol($|_)", ("dp", 1)),  # summed mol N/yr: 1 decimal
    (r"(^|_)pct($|_)", ("dp", 1)),  # per cent: 1 decimal
    (r"share", ("dp", 3)),  # fractions 0-1 (share_emission_below, grassland_share): 3 decimals
    (r"(^|_)ha($|_)", ("dp", 2)),  # hectares: 2 decimals
    (r"kg", ("dp", 1)),  # kg NH3/yr: 1 decimal
    (r"gve", ("dp", 2)),  # livestock units (GVE, GVE/ha): 2 decimals
    (r"_m$", ("dp", 1)),  # metres (distances, widths, coordinates): 1 decimal
    (r"", ("sig", 6)),  # anything else: 6 significant digits (no 100.00000000000001)
)


def csv_rounding(column: str) -> tuple[str, int]:
    """The rounding rule of :data:`CSV_ROUNDING` for a column name: ``("dp"|"sig", n)``."""
    for pattern, rule in CSV_ROUNDING:
        if re.search(pattern, column.lower()):
            return rule
    return ("sig", 6)  # pragma: no cover - the last pattern matches everything


def _round_sig(x: np.ndarray, digits: int) -> np.ndarray:
    out = x.astype(float).copy()
    ok = np.isfinite(out) & (out != 0)
    mag = np.floor(np.log10(np.abs(out[ok]))).astype(int)
    out[ok] = [round(float(v), int(digits - 1 - m)) for v, m in zip(out[ok], mag, strict=True)]
    return out


def _floor_sig(x: np.ndarray, digits: int) -> np.ndarray:
    """``x`` rounded down (towards zero) to ``digits`` significant digits."""
    out = x.astype(float).copy()
    ok = np.isfinite(out) & (out != 0)
    mag = np.floor(np.log10(np.abs(out[ok])))
    scale = 10.0 ** (digits - 1 - mag)
    out[ok] = np.trunc(out[ok] * scale) / scale
    return out


def round_for_people(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with each float column rounded by :data:`CSV_ROUNDING`."""
    out = df.copy()
    for col in out.columns:
        if not pd.api.types.is_float_dtype(out[col].dtype):
            continue
        kind, n = csv_rounding(str(col))
        values = out[col].to_numpy(dtype=float, na_value=np.nan)
        if kind == "dp":
            out[col] = np.round(values, n)
        elif kind == "sig":
            out[col] = _round_sig(values, n)
        elif kind == "floorsig":
            out[col] = _floor_sig(values, n)
        elif kind == "ceildp":
            scaled = values * 10.0**n
            out[col] = np.ceil(scaled - 1e-9 * np.maximum(1.0, np.abs(scaled))) / 10.0**n + 0.0  # no -0.0
        else:  # dpsig: n decimals, or 3 significant digits where that keeps more
            big = np.abs(values) >= 10.0 ** (2 - n)
            out[col] = np.where(big, np.round(values, n), _round_sig(values, 3))
    return out


def _flavour_of(path: Path) -> str:
    """``excel_nl`` when the file starts with a UTF-8 byte-order mark, else ``plain``."""
    with open(path, "rb") as f:
        return "excel_nl" if f.read(3) == codecs.BOM_UTF8 else "plain"


def read_table(
    path: str | Path,
    flavour: str | None = None,
    *,
    dtype: Mapping[str, Any] | Any = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Read a CSV the pipeline wrote, with the column identifiers as its columns.

    Whatever ``[project] csv_headers``, ``language`` and ``csv_flavour`` the run used, the
    result has the same columns (:func:`n2kzones.io.headers.to_machine`).

    Parameters
    ----------
    path
        The CSV (``area_deposition.csv``, ...).
    flavour
        A key of :data:`CSV_FLAVOURS`; None: from the file (``excel_nl`` files start with a
        byte-order mark).
    dtype
        pandas dtypes by column *identifier* (``{"site_code": str}``), whatever the header;
        or one dtype for every column.
    **kwargs
        Passed to :func:`pandas.read_csv`.
    """
    path = Path(path)
    f = CSV_FLAVOURS[flavour or _flavour_of(path)]
    if isinstance(dtype, Mapping):
        header = pd.read_csv(path, sep=f.sep, encoding=f.encoding, nrows=0).columns
        by_id = {identifier_of(str(h)): h for h in header}
        dtype = {by_id.get(k, k): v for k, v in dtype.items()}
    if dtype is not None:
        kwargs["dtype"] = dtype
    df = pd.read_csv(path, sep=f.sep, decimal=f.decimal, encoding=f.encoding, **kwargs)
    return to_machine(df)


#: The old name of :func:`read_table`.
read_csv = read_table


def write_csv(
    path: str | Path,
    df: pd.DataFrame,
    *,
    float_format: str | None = None,
    flavour: str = "plain",
    headers: str | None = None,
) -> Path:
    """Write a table for people as CSV, atomically; rounded, text escaped against formulas.

    Float columns are rounded by :data:`CSV_ROUNDING` (:func:`round_for_people`) unless
    ``float_format`` is given. Every text cell (and column name) starting with ``= + - @``, a
    tab or a carriage return gets a leading apostrophe, so spreadsheet programs show it as text
    instead of running it. Numeric columns are written as numbers.

    Parameters
    ----------
    path
        Destination ``.csv``.
    df
        The table.
    float_format
        A ``%`` format for every float instead of the rounding rules.
    flavour
        A key of :data:`CSV_FLAVOURS`: ``plain`` (``,``, decimal point, UTF-8) or
        ``excel_nl`` (``;``, decimal comma, UTF-8 with BOM).
    headers
        None: the column identifiers as headers; ``"nl"`` / ``"en"``: the headers for people
        in that language (:mod:`n2kzones.io.headers`; :func:`read_table` maps them back).
    """
    path = Path(path)
    if flavour not in CSV_FLAVOURS:
        raise OutputError(f"unknown CSV flavour {flavour!r}; choose one of {sorted(CSV_FLAVOURS)}")
    if headers is not None and headers not in HEADER_LANGUAGES:
        raise OutputError(f"no CSV headers in language {headers!r}; choose one of {HEADER_LANGUAGES}")
    f = CSV_FLAVOURS[flavour]
    table = df if float_format is not None else round_for_people(df)
    if headers is not None:
        table = to_people(table, headers)
    safe, n = escape_formulas(table)
    if n:
        log.warning("%s: %d text cells start with a formula character (= + - @ tab CR); written with a leading apostrophe", path.name, n)
    with atomic_path(path) as tmp:
        safe.to_csv(
            tmp, index=False, float_format=float_format, sep=f.sep, decimal=f.decimal,
            encoding=f.encoding,
        )
    log.info("wrote %s (%d rows)", path, len(df))
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file (a QGIS ``.qml`` style), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, "utf-8")
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON (UTF-8, indented, sorted keys), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", "utf-8")
    return path


#: Longest file-name stem :func:`safe_file_stem` returns (well below any filesystem's 255).
MAX_STEM = 64
_PLAIN_STEM = re.compile(r"[A-Z0-9][A-Z0-9_-]*")
_HASHED_TAIL = re.compile(r"-[0-9a-f]{8}$")


def safe_file_stem(text: object, max_len: int = MAX_STEM) -> str:
    """A collision-free, length-limited, filesystem-safe file-name stem for an id.

    An id of upper-case letters, digits, ``_`` and ``-`` (``NL2003003``) is its own stem. Any
    other id (``NL/1``, ``nl1``, ``NLÂ1``, ``$``, 300 characters) becomes an ASCII slug plus
    ``-`` and the first 8 hex digits of its SHA-1, at most ``max_len`` characters. Plain stems
    never end in a hash, hashed ones always do, and plain stems have no lower-case letters,
    so distinct ids give distinct names, also on case-insensitive filesystems.
    """
    s = str(text)
    if len(s) <= max_len and _PLAIN_STEM.fullmatch(s) and not _HASHED_TAIL.search(s):
        return s
    slug = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", slug).strip("_")[: max(1, max_len - 9)] or "id"
    return f"{slug}-{hashlib.sha1(s.encode('utf-8')).hexdigest()[:8]}"
