"""Checks and repairs shared by every reader: CRS, emptiness, geometry type, validity, ids.

Each function either returns a repaired layer and records what it did in a
:class:`LayerReport` (logged, and written to the run manifest), or raises an
:class:`~n2kzones.errors.InputError` that names the layer and says what to do. Nothing is
dropped silently: every input feature is either kept or counted under a reason.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from n2kzones.errors import CRSError, InputError, SchemaError
from n2kzones.threads import array_map, available_threads, thread_chunks, thread_map

log = logging.getLogger(__name__)

POLYGONAL = {"Polygon", "MultiPolygon"}
PUNTAL = {"Point", "MultiPoint"}

# Where RD New coordinates can lie (generous: Netherlands plus its EEZ and borders).
RD_NEW_PLAUSIBLE = (-100_000.0, 200_000.0, 400_000.0, 900_000.0)


@dataclass
class LayerReport:
    """What happened to one input layer on its way in."""

    name: str
    source: str
    n_read: int = 0
    n_kept: int = 0
    repaired_invalid: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Values changed by normalisation (case, spaces, separators), per column.
    normalised: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int) -> None:
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def note(self, text: str) -> None:
        self.notes.append(text)
        log.info("%s: %s", self.name, text)

    def warn(self, text: str) -> None:
        """A note that is also logged as a warning (a repair the user should know of)."""
        self.notes.append(text)
        log.warning("%s: %s", self.name, text)

    def count_change(self, column: str, n: int, what: str) -> None:
        """Count ``n`` values of ``column`` changed by normalisation, with a note saying how."""
        if n:
            self.normalised[column] = self.normalised.get(column, 0) + int(n)
            self.warn(f"column {column!r}: {n} values changed: {what}")

    @property
    def accounted(self) -> bool:
        """True when every feature read is either kept or dropped for a recorded reason."""
        return self.n_read == self.n_kept + sum(self.dropped.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "n_read": self.n_read,
            "n_kept": self.n_kept,
            "repaired_invalid": self.repaired_invalid,
            "dropped": dict(self.dropped),
            "notes": list(self.notes),
            **({"normalised": dict(self.normalised)} if self.normalised else {}),
        }


def ensure_nonempty(gdf: gpd.GeoDataFrame, report: LayerReport) -> None:
    if len(gdf) == 0:
        raise InputError(
            f"{report.source}: layer {report.name!r} has no features; check the path and "
            "the layer name (list layers with `pyogrio.list_layers`)"
        )


def to_working_crs(
    gdf: gpd.GeoDataFrame,
    crs: str,
    report: LayerReport,
    *,
    max_scale_error: float | None = None,
    margin_deg: float | None = None,
) -> gpd.GeoDataFrame:
    """Reproject to the working CRS; refuse data without a CRS or with implausible coordinates.

    Checks from the data, not the label: the coordinates must lie in the area of use of the
    CRS they claim (``margin_deg`` around it), and afterwards in that of the working CRS,
    whose scale error over the data's extent must not exceed ``max_scale_error``.
    """
    if gdf.crs is None:
        raise CRSError(
            f"{report.source}: layer {report.name!r} has no CRS. Set `assume_crs` for this "
            "input in the config (e.g. 'EPSG:28992' for RD New, 'EPSG:4326' for lon/lat), or "
            "fix the file (a .shp needs its .prj)"
        )
    bounds = _bounds(gdf)  # once per coordinate system: a pass over every vertex
    _check_plausible_coordinates(gdf.crs, bounds, report)
    if margin_deg is not None:
        check_area_of_use(bounds, gdf.crs, f"{report.source}: layer {report.name!r}", margin_deg)
    target = pyproj.CRS.from_user_input(crs)
    if not gdf.crs.equals(target):
        report.note(f"reprojected from {gdf.crs.to_string()} to {target.to_string()}")
        gdf = gdf.to_crs(target)
        bounds = _bounds(gdf)
    if margin_deg is not None and bounds is not None:
        check_area_of_use(bounds, target, f"{report.source}: layer {report.name!r} (reprojected)", margin_deg, working=True)
    _check_plausible_coordinates(gdf.crs, bounds, report)
    if max_scale_error is not None and bounds is not None:
        check_scale_error(bounds, target, f"layer {report.name!r} ({report.source})", max_scale_error)
    return gdf


def _bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    """Bounds (x0, y0, x1, y1) of the layer's geometries, missing and empty ones left out;
    None when there are none or they are not finite."""
    geoms = gdf.geometry.to_numpy()
    if not len(geoms):
        return None
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all missing or empty: NaN
        b = tuple(float(v) for v in shapely.total_bounds(geoms))
    return b if np.isfinite(b).all() else None  # type: ignore[return-value]


def _sample_points(bounds: tuple[float, float, float, float], n: int = 7) -> tuple[np.ndarray, np.ndarray]:
    xmin, ymin, xmax, ymax = bounds
    xs, ys = np.meshgrid(np.linspace(xmin, xmax, n), np.linspace(ymin, ymax, n))
    return xs.ravel(), ys.ravel()


def _lonlat(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if crs.is_geographic:
        return x, y
    geo = crs.geodetic_crs or pyproj.CRS.from_epsg(4326)
    t = pyproj.Transformer.from_crs(crs, geo, always_xy=True)
    with np.errstate(all="ignore"):
        lon, lat = t.transform(x, y, errcheck=False)
    return np.asarray(lon, float), np.asarray(lat, float)


def check_area_of_use(
    bounds: tuple[float, float, float, float] | None,
    crs: pyproj.CRS,
    what: str,
    margin_deg: float,
    *,
    working: bool = False,
) -> None:
    """Refuse coordinates outside the area of use of ``crs`` (plus ``margin_deg``), any CRS.

    Raises
    ------
    CRSError
        Naming the layer, the CRS, where the coordinates fall and what to do.
    """
    if bounds is None:
        return
    crs = pyproj.CRS.from_user_input(crs)
    aou = crs.area_of_use
    if aou is None or aou.west > aou.east:  # unknown, or across the antimeridian
        return
    x, y = _sample_points(bounds)
    lon, lat = _lonlat(crs, x, y)
    m = margin_deg
    bad = ~np.isfinite(lon) | ~np.isfinite(lat)
    with np.errstate(invalid="ignore"):
        bad |= (lon < aou.west - m) | (lon > aou.east + m) | (lat < aou.south - m) | (lat > aou.north + m)
    if not bad.any():
        return
    ok = np.isfinite(lon) & np.isfinite(lat)
    where = (
        f"lon {np.nanmin(lon[ok]):.2f}..{np.nanmax(lon[ok]):.2f}, lat {np.nanmin(lat[ok]):.2f}..{np.nanmax(lat[ok]):.2f}"
        if ok.any() else "nowhere on Earth"
    )
    area = f"{aou.name} (lon {aou.west:.2f}..{aou.east:.2f}, lat {aou.south:.2f}..{aou.north:.2f})"
    if working:
        raise CRSError(
            f"{what}: its coordinates fall at {where}, outside the area of use of the working CRS "
            f"{crs.to_string()}: {area}. Either the layer's CRS label is wrong (e.g. lon/lat "
            "axes swapped, or another projection's numbers) or [project] crs does not fit these "
            "data; fix the label in the file (or `assume_crs`) or choose a working CRS for this region"
        )
    raise CRSError(
        f"{what} says it is in {crs.to_string()} ({crs.name}), but its bounds "
        f"({bounds[0]:.1f}, {bounds[1]:.1f}, {bounds[2]:.1f}, {bounds[3]:.1f}) fall at {where}, "
        f"outside that CRS's area of use: {area}. The label is probably wrong: assign the CRS the "
        "coordinates are really in (in the file, or via `assume_crs` on a file without CRS)"
    )


def crs_scale_error(crs: pyproj.CRS, bounds: tuple[float, float, float, float]) -> float:
    """Largest |scale factor - 1| (meridional or parallel) of ``crs`` at points over ``bounds``."""
    crs = pyproj.CRS.from_user_input(crs)
    x, y = _sample_points(bounds)
    lon, lat = _lonlat(crs, x, y)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return float("inf")
    f = pyproj.Proj(crs).get_factors(lon[ok], lat[ok], errcheck=False)
    k = np.concatenate([np.asarray(f.meridional_scale, float), np.asarray(f.parallel_scale, float)])
    return float(np.nanmax(np.abs(k - 1.0))) if np.isfinite(k).any() else float("inf")


def check_scale_error(bounds: tuple[float, float, float, float], crs: pyproj.CRS, what: str, limit: float) -> None:
    """Refuse a working CRS that distorts distances over the data by more than ``limit``.

    Raises
    ------
    CRSError
        Naming ``[project] crs``, the scale error, what it does to a 500 m zone and what to use.
    """
    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_geographic:
        return  # refused by the config already
    err = crs_scale_error(crs, bounds)
    if err <= limit:
        return
    ring = 500.0 / (1.0 + err) if np.isfinite(err) else float("nan")
    raise CRSError(
        f"[project] crs = {crs.to_string()} ({crs.name}) distorts distances by up to {err:.2%} over "
        f"the extent of {what} (limit {limit:.1%}, [parameters.crs] max_scale_error): a 500 m zone "
        f"would be about {ring:.0f} m wide on the ground and areas off by as much. Use a CRS made "
        "for the region: EPSG:28992 (RD New) for the Netherlands, EPSG:3035 (ETRS89-LAEA) for "
        "Europe, or the UTM zone of the data"
    )


def _check_plausible_coordinates(
    crs: pyproj.CRS, bounds: tuple[float, float, float, float] | None, report: LayerReport
) -> None:
    """Refuse bounds (:func:`_bounds`; None: nothing to check) that ``crs`` cannot have."""
    if bounds is None:
        return
    xmin, ymin, xmax, ymax = bounds
    if crs.is_geographic:
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            raise CRSError(
                f"{report.source}: layer {report.name!r} says it is in {crs.to_string()} "
                f"(degrees) but its coordinates reach ({xmin:.0f}, {ymin:.0f}, {xmax:.0f}, "
                f"{ymax:.0f}), which are not degrees. The file's CRS is wrong: set the right "
                "one in the file or via `assume_crs` after removing the wrong one"
            )
        return
    if crs.to_epsg() == 28992:
        x0, y0, x1, y1 = RD_NEW_PLAUSIBLE
        if xmin < x0 or xmax > x1 or ymin < y0 or ymax > y1:
            looks_like_degrees = -180 <= xmin and xmax <= 180 and -90 <= ymin and ymax <= 90
            hint = (
                " They look like lon/lat degrees labelled as RD New: assign EPSG:4326 instead."
                if looks_like_degrees
                else ""
            )
            raise CRSError(
                f"{report.source}: layer {report.name!r} is labelled EPSG:28992 (RD New) but its "
                f"bounds ({xmin:.1f}, {ymin:.1f}, {xmax:.1f}, {ymax:.1f}) are outside the "
                f"Netherlands.{hint}"
            )


def force_2d(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    """Drop Z and M coordinates (analysis is planar); logged when any were present."""
    geoms = gdf.geometry.values
    has_z = shapely.has_z(geoms)
    has_m = shapely.has_m(geoms) if hasattr(shapely, "has_m") else np.zeros(len(gdf), bool)
    n = int((has_z | has_m).sum())
    if n:
        report.note(f"dropped Z/M coordinates of {n} features (analysis is 2D)")
        gdf = gdf.set_geometry(shapely.force_2d(geoms), crs=gdf.crs)
    return gdf


def drop_missing_geometries(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    n = int(missing.sum())
    if n:
        report.drop("missing or empty geometry", n)
        log.warning("%s: %d features without geometry were set aside", report.name, n)
        gdf = gdf.loc[~missing]
    return gdf


def require_geometry_types(gdf: gpd.GeoDataFrame, allowed: set[str], report: LayerReport) -> gpd.GeoDataFrame:
    """Refuse a layer with none of the allowed types; set aside (counted) stray types."""
    types = gdf.geom_type
    ok = types.isin(allowed)
    if not ok.any():
        found = ", ".join(sorted(types.unique()))
        raise InputError(
            f"{report.source}: layer {report.name!r} has no {' or '.join(sorted(allowed))} "
            f"geometries (found {found}); is this the right layer?"
        )
    if not ok.all():
        counts = types[~ok].value_counts().to_dict()
        for t, n in counts.items():
            report.drop(f"geometry type {t}", n)
        log.warning("%s: set aside %s features of another geometry type", report.name, counts)
        gdf = gdf.loc[ok]
    return gdf


def repair_polygons(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    """Make invalid polygons valid (``make_valid``), keeping only their polygonal parts.

    Features whose repair leaves no area (e.g. a zero-area sliver or a bow-tie collapsed to
    a line) are set aside and counted under "zero area after repair".
    """
    geoms = gdf.geometry.values
    invalid = ~array_map(shapely.is_valid, geoms.to_numpy())
    n_invalid = int(invalid.sum())
    if n_invalid:
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        fixed = _polygonal_part(fixed)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
        report.repaired_invalid += n_invalid
        report.note(f"repaired {n_invalid} invalid geometries with make_valid")
    zero = (shapely.area(gdf.geometry.values) <= 0) | gdf.geometry.is_empty
    n_zero = int(zero.sum())
    if n_zero:
        report.drop("zero area (after repair)", n_zero)
        log.warning("%s: set aside %d features with zero area", report.name, n_zero)
        gdf = gdf.loc[~zero]
    return gdf


def _polygonal_part(geoms: np.ndarray) -> np.ndarray:
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            out[i] = shapely.Polygon()
        elif g.geom_type in POLYGONAL:
            out[i] = g
        else:
            parts = [p for p in shapely.get_parts(g) if p.geom_type in POLYGONAL]
            out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def points_from_single_multipoints(gdf: gpd.GeoDataFrame, report: LayerReport) -> gpd.GeoDataFrame:
    """MultiPoints with one part become Points (registries often store them so)."""
    geoms = gdf.geometry.values
    multi = shapely.get_type_id(geoms) == 4
    if not multi.any():
        return gdf
    n_parts = shapely.get_num_geometries(geoms[multi])
    if (n_parts > 1).any():
        raise InputError(
            f"{report.source}: layer {report.name!r} has {int((n_parts > 1).sum())} MultiPoints "
            "with several points; a farm needs one location. Split them first."
        )
    geoms = geoms.copy()
    geoms[multi] = shapely.get_geometry(geoms[multi], 0)
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))


def require_columns(df: pd.DataFrame, required: tuple[str, ...], report: LayerReport, mapping_hint: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        have = ", ".join(c for c in df.columns if c != "geometry")
        raise SchemaError(
            f"{report.source}: layer {report.name!r} lacks column(s) {', '.join(missing)}. "
            f"Columns present: {have}. Map them in the config under {mapping_hint}"
        )


_MAX_NAMED = 10


def _name_ids(ids: pd.Series) -> str:
    """The distinct ``ids`` quoted, at most :data:`_MAX_NAMED` of them, with the total."""
    distinct = list(pd.unique(ids))
    shown = ", ".join(repr(i) for i in distinct[:_MAX_NAMED])
    more = f" and {len(distinct) - _MAX_NAMED} more" if len(distinct) > _MAX_NAMED else ""
    return f"{shown}{more}"


def differing_columns(gdf: gpd.GeoDataFrame, id_col: str) -> list[str]:
    """The columns in which rows sharing an id differ (``geometry`` by its WKB).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Rows that share ids (other rows are ignored).
    id_col : str
        The id column.

    Returns
    -------
    list of str
        Column names in frame order; ``input_row`` (always different) is left out.
    """
    dup = gdf[gdf[id_col].duplicated(keep=False)]
    if dup.empty:
        return []
    geom = gdf.geometry.name
    out = []
    for col in dup.columns:
        if col in (id_col, "input_row"):
            continue
        values = pd.Series(shapely.to_wkb(dup.geometry.values), index=dup.index) if col == geom else dup[col].astype("string")
        if (values.groupby(dup[id_col]).nunique(dropna=False) > 1).any():
            out.append(col)
    return out


def _repeats(gdf: gpd.GeoDataFrame, id_col: str, columns: Sequence[str]) -> pd.Series:
    """Rows equal to an earlier row in ``id_col``, ``columns`` and geometry (the first kept)."""
    key = pd.util.hash_pandas_object(gdf[list(columns)].astype(str), index=False).astype("uint64")
    wkb = pd.Series(shapely.to_wkb(gdf.geometry.values), index=gdf.index)
    return pd.DataFrame({"id": gdf[id_col], "attrs": key, "wkb": wkb}).duplicated(keep="first")


def deduplicate_ids(
    gdf: gpd.GeoDataFrame,
    id_col: str,
    policy: str,
    report: LayerReport,
    joined_columns: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Handle rows sharing an id according to ``policy`` (config ``on_duplicate_id``).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer, with ``id_col`` and (optionally) ``input_row``.
    id_col : str
        The id column (``farm_id``, ``parcel_id``).
    policy : {"error", "drop_identical", "suffix"}
        ``"drop_identical"`` (the default in the config) keeps the first of rows identical
        in every column and geometry (``input_row`` aside), counts the others in
        ``report.dropped["exact duplicate row"]`` and notes their ids; rows that share an
        id but differ are refused. ``"error"`` refuses any repeated id; ``"suffix"`` keeps
        every row, renaming repeats ``id-2``, ``id-3``.
    report : LayerReport
        Receives the count and notes.
    joined_columns : sequence of str
        Under ``"drop_identical"``: columns a publisher joined onto each feature (matched
        regardless of case). Rows sharing an id that differ only in these are one feature
        repeated per joined record: the first is kept, the others counted in
        ``report.dropped["repeated row (joined columns)"]`` and noted with their ids, so
        the feature (and its emission) counts once.

    Returns
    -------
    geopandas.GeoDataFrame
        ``gdf`` without the dropped rows (or with renamed ids).

    Raises
    ------
    InputError
        Rows without an id; repeated ids under ``"error"``; under ``"drop_identical"``,
        rows that share an id but differ, naming the ids and the columns that differ.
    """
    ids = gdf[id_col]
    if ids.isna().any():
        raise InputError(
            f"{report.source}: layer {report.name!r} has {int(ids.isna().sum())} rows without "
            f"{id_col}; every feature needs an id"
        )
    dup = ids.duplicated(keep=False)
    if not dup.any():
        return gdf
    n_dup_ids = int(ids[dup].nunique())
    if policy == "error":
        raise InputError(
            f"{report.source}: layer {report.name!r} has {n_dup_ids} ids used more than once "
            f"({id_col} {_name_ids(ids[dup])}); fix the source or set on_duplicate_id = "
            "'drop_identical' or 'suffix' for this input"
        )
    if policy == "suffix":
        counter = gdf.groupby(id_col).cumcount()
        renamed = counter > 0
        gdf = gdf.copy()
        gdf[id_col] = gdf[id_col].astype(str)  # "id-2" is text, whatever the ids' type was
        gdf.loc[renamed, id_col] = (
            gdf.loc[renamed, id_col].astype(str) + "-" + (counter[renamed] + 1).astype(str)
        )
        report.note(f"renamed {int(renamed.sum())} repeated {id_col}s with a -2, -3 suffix")
        return gdf
    # drop_identical: drop exact copies (same attributes and geometry), refuse the rest
    attrs = [c for c in gdf.columns if c not in (gdf.geometry.name, "input_row")]
    exact = _repeats(gdf, id_col, attrs)
    if exact.any():
        n_exact = int(exact.sum())
        report.drop("exact duplicate row", n_exact)
        report.note(
            f"dropped {n_exact} exact duplicate rows (identical in every column; "
            f"{id_col} {_name_ids(ids[exact])}); the first of each is kept"
        )
        gdf = gdf.loc[~exact]
    by_name = {"".join(str(c).split()).lower(): c for c in attrs}  # regardless of case, spaces
    joined = [by_name[k] for name in joined_columns if (k := "".join(name.split()).lower()) in by_name]
    if joined and gdf[id_col].duplicated().any():
        repeated = _repeats(gdf, id_col, [c for c in attrs if c not in joined])
        if repeated.any():
            n_rep = int(repeated.sum())
            report.drop("repeated row (joined columns)", n_rep)
            report.note(
                f"kept one row of {int(gdf.loc[repeated, id_col].nunique())} {id_col}s repeated "
                f"only in the joined columns {', '.join(repr(c) for c in joined)} "
                f"({id_col} {_name_ids(gdf.loc[repeated, id_col])}): {n_rep} repeated rows "
                "dropped, each feature counted once"
            )
            gdf = gdf.loc[~repeated]
    still = gdf[id_col].duplicated(keep=False)
    if still.any():
        cols = differing_columns(gdf, id_col)
        raise InputError(
            f"{report.source}: layer {report.name!r}: {int(gdf.loc[still, id_col].nunique())} "
            f"ids are used by rows that differ ({id_col} {_name_ids(gdf.loc[still, id_col])}; "
            f"they differ in {', '.join(repr(c) for c in cols)}). Fix the source: if the rows "
            "are one feature repeated (e.g. a farm joined to several Natura 2000 areas), keep "
            "one row per id or delete the columns that differ; or set on_duplicate_id = "
            "'suffix' to keep them all under new ids (each row then counts as a feature of "
            "its own, its emission included)"
        )
    return gdf


def require_finite_nonnegative(df: pd.DataFrame, column: str, report: LayerReport, *, upper: float | None = None) -> None:
    """Refuse NaN, infinite, negative (and, with ``upper``, absurdly large) values."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad_nan = ~np.isfinite(values.to_numpy(dtype=float))
    problems = []
    if bad_nan.any():
        problems.append(f"{int(bad_nan.sum())} missing/non-numeric")
    neg = values < 0
    if neg.any():
        problems.append(f"{int(neg.sum())} negative")
    if upper is not None and (values > upper).any():
        problems.append(f"{int((values > upper).sum())} above {upper:g}")
    if problems:
        idx = df.index[bad_nan | neg.to_numpy() | ((values > upper).to_numpy() if upper else False)]
        raise InputError(
            f"{report.source}: layer {report.name!r} column {column!r} has "
            f"{', '.join(problems)} values (first rows: {list(idx[:5])}); fix them in the "
            "source: a wrong emission would silently change every result"
        )


def _all_finite(geoms: np.ndarray) -> bool:
    """All x and y of ``geoms`` are finite."""
    return bool(np.isfinite(shapely.get_coordinates(geoms)).all())


def refuse_non_finite_coordinates(gdf: gpd.GeoDataFrame, report: LayerReport) -> None:
    """Refuse geometries with NaN or infinite vertices (never "repaired" into another shape).

    Raises
    ------
    InputError
        Naming the layer, the count and the first source rows.
    """
    geoms = gdf.geometry.values
    present = ~(pd.isna(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return
    if all(thread_map(_all_finite, thread_chunks(geoms[present].to_numpy()))):  # the usual case
        return
    coords, idx = shapely.get_coordinates(geoms[present], return_index=True)  # x, y (Z is dropped)
    bad_vertex = ~np.isfinite(coords).all(axis=1)
    if not bad_vertex.any():
        return
    rows_local = np.flatnonzero(present)[np.unique(idx[bad_vertex])]
    rows = gdf["input_row"].to_numpy()[rows_local] if "input_row" in gdf else rows_local
    raise InputError(
        f"{report.source}: layer {report.name!r} has {len(rows_local)} geometries with NaN or "
        f"infinite coordinates ({int(bad_vertex.sum())} vertices; first rows: {list(map(int, rows[:5]))}). "
        "Such a shape cannot be repaired without guessing: fix or remove those vertices in the source"
    )


def split_collections(gdf: gpd.GeoDataFrame, allowed: set[str], report: LayerReport) -> gpd.GeoDataFrame:
    """GeometryCollections -> their parts of the allowed kind (polygons, or points), counted.

    Parts of another kind (lines in an area's collection) are left out and counted in a
    note; a collection without any allowed part stays a collection (and is set aside as a
    stray type by :func:`require_geometry_types`).
    """
    geoms = gdf.geometry.values
    gc = shapely.get_type_id(geoms) == 7
    if not gc.any():
        return gdf
    geoms = geoms.copy()
    n_split = n_left = 0
    polygonal = "Polygon" in allowed
    for i in np.flatnonzero(gc):
        parts = shapely.get_parts(shapely.get_parts(geoms[i]))  # nested collections too
        keep = [p for p in parts if p.geom_type in allowed and not p.is_empty]
        if not keep:
            continue
        n_left += len(parts) - len(keep)
        if polygonal:
            geoms[i] = shapely.union_all(keep) if len(keep) > 1 else keep[0]
        else:
            geoms[i] = shapely.multipoints(keep) if len(keep) > 1 else keep[0]
        n_split += 1
    if n_split:
        other = f"; {n_left} parts of another type left out" if n_left else ""
        report.warn(f"split {n_split} GeometryCollections into their {'polygon' if polygonal else 'point'} parts{other}")
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))


#: Overlaps up to this (m2, per pair of features) are floating-point noise: ignored.
OVERLAP_TOLERANCE_M2 = 1e-6
#: Overlaps up to this (m2, per pair) are digitising slivers: always resolved as first_wins
#: (counted in the report), whatever the policy; larger ones follow ``on_overlap``.
SLIVER_M2 = 1.0


def is_polygon_coverage(geoms: np.ndarray, groups: np.ndarray | None = None) -> bool:
    """True when the polygons (of each group) are a valid coverage: interiors pairwise disjoint.

    GEOS's coverage validator (``shapely.coverage_is_valid``) walks every polygon's edges
    against its neighbours' once, about 5x faster than intersecting every pair of touching
    neighbours (12.9 s against 60 s for 758,470 parcels); it is given only the polygons
    whose edges are not all matched by a neighbour's, and their neighbours
    (:func:`_coverage_is_valid`, with the proof; 3x faster again where parcels share their
    edges). The polygons must be valid (:func:`repair_polygons` first). It is conservative: shared edges
    whose vertices do not match, duplicates and nested polygons make it say False (then
    :func:`overlapping_pairs` measures the pairs). So True proves that no pair overlaps, and
    the answer of :func:`overlapping_pairs` is then empty whatever its tolerance.
    """
    if not len(geoms) or not np.isin(shapely.get_type_id(geoms), (3, 6)).all():
        return False
    if groups is None:
        return _coverage_is_valid(geoms)
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.r_[True, groups[order][1:] != groups[order][:-1], True])
    return all(_coverage_is_valid(geoms[order[lo:hi]]) for lo, hi in zip(bounds[:-1], bounds[1:]))


#: Layers of at least this many polygons are checked in strips, in parallel threads.
_COVERAGE_STRIP_MIN = 50_000


#: Above this share of polygons with an edge not matched by a neighbour's,
#: :func:`_coverage_is_valid` gives GEOS the whole layer (the narrowing would save little).
_NARROW_MAX_SHARE = 0.5


def _coverage_is_valid(geoms: np.ndarray) -> bool:
    """True when the polygons are a valid coverage; GEOS judges only the ones it must.

    A polygon whose every edge is matched, bit for bit, by the reversed edge of exactly one
    other polygon and by no other edge (:func:`matched_polygons`) needs no judging of its
    own. Proof: let ``w(x)`` count the polygons containing ``x``. With exteriors oriented
    counter-clockwise and holes clockwise, ``w`` is the winding number of the chain of all
    ring edges; a matched pair of edges is ``e - e = 0`` in that chain, so ``w`` is the
    winding number of the remaining edges, all of them edges of unmatched polygons ``U``.
    If two polygons overlap, ``{w >= 2}`` is a bounded open set; its boundary lies on
    those remaining edges, so some point ``y`` of it lies on a polygon ``R`` of ``U``, and
    two polygons ``A``, ``B`` overlap at points as near ``y`` as one likes, so their
    bounding boxes meet ``R``'s. GEOS's validator given ``U`` and every polygon whose box
    meets a box of ``U`` therefore sees ``A`` and ``B`` and says False. Where most polygons
    are unmatched (parcels apart from each other) GEOS gets the whole layer.
    """
    if len(geoms) < _COVERAGE_STRIP_MIN:
        return bool(shapely.coverage_is_valid(geoms))
    matched = matched_polygons(geoms)
    unmatched = np.flatnonzero(~matched)
    if len(unmatched) > _NARROW_MAX_SHARE * len(geoms):
        return _coverage_is_valid_in_strips(geoms)
    if not len(unmatched):  # only possible without polygons: every finite set has an edge
        return True
    boxes = shapely.box(*shapely.bounds(geoms[unmatched]).T)
    near = np.unique(shapely.STRtree(geoms).query(boxes)[1])  # closed boxes: touching counts
    log.debug("coverage check: %d of %d polygons judged by GEOS", len(near), len(geoms))
    return _coverage_is_valid_in_strips(geoms[near])


def matched_polygons(geoms: np.ndarray) -> np.ndarray:
    """Per polygon: every edge is shared, reversed, with exactly one other polygon's edge.

    Each edge is taken in the way its ring runs once exteriors run counter-clockwise and
    holes clockwise (from the sign of each ring's area), so two neighbours run along their
    common edge in opposite ways. An edge is matched when its
    reverse occurs exactly once in the layer, in another polygon, with the same
    coordinates bit for bit, and the segment occurs nowhere else (a duplicate, or a
    polygon stacked on another along an edge, is not matched). Edges of zero length are
    left out (they bound nothing). Segments are sorted by a 64-bit hash of their end
    points and compared on the coordinates themselves, so a hash collision can only leave
    an edge unmatched.

    Parameters
    ----------
    geoms
        Valid Polygons and MultiPolygons (coordinates in m, any orientation).

    Returns
    -------
    numpy.ndarray of bool
        True where every edge of the polygon is matched.
    """
    from n2kzones.io import _edges_numba as kernels

    xy, ring_of, owner, outer = _ring_coordinates(geoms)
    xy = np.ascontiguousarray(xy)
    bits = xy.view(np.uint64)
    wrong_way = (kernels.twice_ring_areas(xy, ring_of, len(outer)) < 0) == outer
    start, hashes, flip, up = kernels.edges(xy, bits, ring_of, wrong_way)
    edge_owner = owner[ring_of[start]]
    order = np.argsort(hashes)
    matched = kernels.matched_edges(order, hashes, start, flip, up, edge_owner, bits)
    ok = np.ones(len(geoms), dtype=bool)
    ok[edge_owner[~matched]] = False
    return ok


def matched_polygons_reference(geoms: np.ndarray) -> np.ndarray:
    """:func:`matched_polygons` in NumPy alone (the reference the Numba kernels of
    :mod:`n2kzones.io._edges_numba` are tested against)."""
    xy, ring_of, owner, outer = _ring_coordinates(geoms)
    # the ways each ring runs: exteriors should run counter-clockwise, holes clockwise
    ax, ay, bx, by = xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]
    along = ring_of[1:] == ring_of[:-1]
    twice_area = np.bincount(ring_of[:-1], weights=(ax * by - bx * ay) * along, minlength=len(outer))
    wrong_way = (twice_area < 0) == outer
    keep = along & ((ax != bx) | (ay != by))  # edges of zero length bound nothing
    a, b = xy[:-1][keep], xy[1:][keep]
    ring = ring_of[:-1][keep]
    owner = owner[ring]
    # each edge as its lower and higher end point (x, then y) and the way it runs there;
    # (-0.0 and 0.0 differ in bits: such an edge is left unmatched, which is safe)
    flip = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    seg = np.empty((len(a), 4))
    seg[:, :2], seg[:, 2:] = a, b
    seg[flip, :2], seg[flip, 2:] = b[flip], a[flip]
    runs_up = flip != wrong_way[ring]
    bits = seg.view(np.uint64)
    hashes = _edge_hash(bits[:, 0], bits[:, 1], bits[:, 2], bits[:, 3])
    order = np.argsort(hashes)
    sorted_hashes = hashes[order]
    run = sorted_hashes[1:] == sorted_hashes[:-1]  # equal segments have equal hashes
    # a matched pair: the only two segments of their hash, equal bit for bit, run opposite
    # ways, by two polygons (any third copy would have the same hash)
    first = np.flatnonzero(run & np.r_[True, ~run[:-1]] & np.r_[~run[1:], True])
    i, j = order[first], order[first + 1]
    pair = (runs_up[i] != runs_up[j]) & (owner[i] != owner[j]) & (bits[i] == bits[j]).all(axis=1)
    matched = np.zeros(len(order), dtype=bool)
    matched[i[pair]] = True
    matched[j[pair]] = True
    ok = np.ones(len(geoms), dtype=bool)
    ok[owner[~matched]] = False
    return ok


def _ring_coordinates(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices of every ring of the polygons: ``xy`` (m), the ring of each vertex, the
    polygon of each ring and whether the ring is an exterior."""
    types = shapely.get_type_id(geoms)
    if (types == 3).all() and not shapely.get_num_interior_rings(geoms).any():
        xy, ring_of = shapely.get_coordinates(geoms, return_index=True)  # one ring each
        return xy, ring_of, np.arange(len(geoms)), np.ones(len(geoms), dtype=bool)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    first = np.r_[True, ring_part[1:] != ring_part[:-1]]  # get_rings gives the exterior first
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    return xy, ring_of, part_of[ring_part], first


def _edge_hash(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """A 64-bit hash of directed edges from the bits of their coordinates (order matters)."""
    h = np.full(len(x0), 0x9E3779B97F4A7C15, dtype=np.uint64)
    for v in (x0, y0, x1, y1):
        h = (h ^ v) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    return h


def _coverage_is_valid_in_strips(geoms: np.ndarray) -> bool:
    """``shapely.coverage_is_valid`` in vertical strips, one thread each (GEOS releases the GIL).

    Strip k holds the polygons whose bounding-box centre falls in it, plus every polygon whose
    box meets the strip's own polygons' box. Two polygons whose interiors overlap have
    meeting boxes, so both are in the strip of the first: if every strip is a valid coverage,
    the layer has no overlap. (A strip of a valid coverage is one too, so nothing that was
    answered True before is answered False; a False only sends the layer the slow way.)
    """
    n_threads = available_threads()
    if len(geoms) < _COVERAGE_STRIP_MIN or n_threads == 1:
        return bool(shapely.coverage_is_valid(geoms))
    box = shapely.bounds(geoms)
    order = np.argsort(box[:, 0] + box[:, 2], kind="stable")
    strips = []
    for own in np.array_split(order, 2 * n_threads):
        x0, y0 = box[own, 0].min(), box[own, 1].min()
        x1, y1 = box[own, 2].max(), box[own, 3].max()
        meets = (box[:, 0] <= x1) & (box[:, 2] >= x0) & (box[:, 1] <= y1) & (box[:, 3] >= y0)
        strips.append(geoms[meets])
    return all(bool(v) for v in thread_map(shapely.coverage_is_valid, strips, threads=n_threads))


def overlapping_pairs(geoms: np.ndarray, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, whose interiors overlap by more than the tolerance; areas in m2.

    A layer that is a valid polygon coverage (:func:`is_polygon_coverage`, the usual case of a
    parcel map) has no such pair and is answered without intersecting its neighbours.
    """
    geoms = np.asarray(geoms, dtype=object)
    if is_polygon_coverage(geoms, groups):
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if groups is not None:
        same = groups[a] == groups[b]
        a, b = a[same], b[same]
    if not len(a):
        return a, b, np.zeros(0)
    inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    big = inter > OVERLAP_TOLERANCE_M2
    return a[big], b[big], inter[big]


def check_overlaps(
    gdf: gpd.GeoDataFrame,
    report: LayerReport,
    policy: str,
    *,
    id_col: str | None = None,
    group_col: str | None = None,
    setting: str = "on_overlap",
    skip_same_id: bool = False,
) -> gpd.GeoDataFrame:
    """Layers that must tessellate: refuse (``policy = "error"``) or resolve overlaps.

    ``group_col``: only features with the same value there must not overlap (a habitat
    map may stack different types; the same type twice counts its hectares twice).
    ``policy = "first_wins"``: a feature keeps only what no earlier feature (source order)
    covers; features left without area are set aside, all counted.

    Raises
    ------
    InputError
        With the overlapping hectares, the pairs and an example, and the setting to change.
    """
    if len(gdf) < 2:
        return gdf
    geoms = gdf.geometry.values
    groups = gdf[group_col].astype(str).to_numpy() if group_col else None
    a, b, inter = overlapping_pairs(geoms, groups)
    if skip_same_id and id_col and len(a):
        # one partition of a layer: rows sharing an id are the whole-layer dedup's to judge
        ids = gdf[id_col].astype(str).to_numpy()
        keep = ids[a] != ids[b]
        a, b, inter = a[keep], b[keep], inter[keep]
    if not len(a):
        return gdf
    ha = inter.sum() / 1e4
    label = (lambda k: repr(gdf[id_col].iloc[k])) if id_col else (lambda k: f"row {int(gdf['input_row'].iloc[k])}")
    kind = f" of the same {group_col}" if group_col else ""
    large = inter > SLIVER_M2
    if policy == "error" and not large.any():
        report.warn(f"{len(a)} slivers{kind} of at most {SLIVER_M2:g} m2 where features overlap ({inter.sum():.3f} m2): clipped from the later feature")
        policy = "first_wins"
    if policy == "error":
        a, b, inter = a[large], b[large], inter[large]
        ha = inter.sum() / 1e4
        raise InputError(
            f"{report.source}: layer {report.name!r} must not overlap itself, but {len(a)} pairs of "
            f"features{kind} overlap by {ha:.4f} ha in total (e.g. {label(a[0])} and {label(b[0])}: "
            f"{inter[0] / 1e4:.4f} ha); summed they would count that land twice. Fix the source, or "
            f"set {setting} = \"first_wins\" for this input (earlier rows keep the overlap)"
        )
    later = np.unique(b)
    new = geoms.copy()
    for j in later:
        earlier = a[b == j]
        new[j] = shapely.difference(geoms[j], shapely.union_all(geoms[earlier]))
    new[later] = _polygonal_part(new[later])
    gdf = gdf.set_geometry(gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs))
    zero = shapely.area(new) <= OVERLAP_TOLERANCE_M2
    report.warn(
        f"{len(a)} overlapping pairs{kind} ({ha:.4f} ha): {len(later)} later features clipped to what "
        f"earlier ones do not cover ({setting} = first_wins), {int(zero.sum())} of them wholly covered"
    )
    if zero.any():
        report.drop("wholly covered by an earlier feature (first_wins)", int(zero.sum()))
        gdf = gdf.loc[~zero]
    return gdf
