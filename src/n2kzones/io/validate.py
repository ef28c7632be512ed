"""Checks and repairs shared by every reader: CRS, emptiness, geometry type, validity, ids.

Each function either returns a repaired layer and records what it did in a
:class:`LayerReport` (logged, and written to the run manifest), or raises an
:class:`~n2kzones.errors.InputError` that names the layer and says what to do. Nothing is
dropped silently: every input feature is either kept or counted under a reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from n2kzones.errors import CRSError, InputError, SchemaError

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

    def drop(self, reason: str, n: int) -> None:
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def note(self, text: str) -> None:
        self.notes.append(text)
        log.info("%s: %s", self.name, text)

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
        }


def ensure_nonempty(gdf: gpd.GeoDataFrame, report: LayerReport) -> None:
    if len(gdf) == 0:
        raise InputError(
            f"{report.source}: layer {report.name!r} has no features; check the path and "
            "the layer name (list layers with `pyogrio.list_layers`)"
        )


def to_working_crs(gdf: gpd.GeoDataFrame, crs: str, report: LayerReport) -> gpd.GeoDataFrame:
    """Reproject to the working CRS; refuse data without a CRS or with implausible coordinates."""
    if gdf.crs is None:
        raise CRSError(
            f"{report.source}: layer {report.name!r} has no CRS. Set `assume_crs` for this "
            "input in the config (e.g. 'EPSG:28992' for RD New, 'EPSG:4326' for lon/lat), or "
            "fix the file (a .shp needs its .prj)"
        )
    _check_plausible_coordinates(gdf, report)
    target = pyproj.CRS.from_user_input(crs)
    if not gdf.crs.equals(target):
        report.note(f"reprojected from {gdf.crs.to_string()} to {target.to_string()}")
        gdf = gdf.to_crs(target)
    _check_plausible_coordinates(gdf, report)
    return gdf


def _check_plausible_coordinates(gdf: gpd.GeoDataFrame, report: LayerReport) -> None:
    crs = gdf.crs
    finite = gdf.geometry[~gdf.geometry.is_empty & gdf.geometry.notna()]
    if finite.empty:
        return
    xmin, ymin, xmax, ymax = finite.total_bounds
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
    invalid = ~shapely.is_valid(geoms)
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


def deduplicate_ids(
    gdf: gpd.GeoDataFrame, id_col: str, policy: str, report: LayerReport
) -> gpd.GeoDataFrame:
    """Handle rows sharing an id according to ``policy`` (see config ``on_duplicate_id``)."""
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
        example = ids[dup].iloc[0]
        raise InputError(
            f"{report.source}: layer {report.name!r} has {n_dup_ids} ids used more than once "
            f"(e.g. {example!r}); fix the source or set on_duplicate_id = 'drop_identical' or "
            "'suffix' for this input"
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
    key = pd.util.hash_pandas_object(gdf[attrs].astype(str), index=False).astype("uint64")
    wkb = pd.Series(shapely.to_wkb(gdf.geometry.values), index=gdf.index)
    frame = pd.DataFrame({"id": ids, "attrs": key, "wkb": wkb})
    exact = frame.duplicated(keep="first")
    if exact.any():
        report.drop("exact duplicate row", int(exact.sum()))
        report.note(f"dropped {int(exact.sum())} exact duplicate rows")
        gdf = gdf.loc[~exact]
    still = gdf[id_col].duplicated(keep=False)
    if still.any():
        example = gdf.loc[still, id_col].iloc[0]
        raise InputError(
            f"{report.source}: layer {report.name!r}: {int(gdf.loc[still, id_col].nunique())} "
            f"ids are used by rows that differ (e.g. {example!r}). Fix the source, or set "
            "on_duplicate_id = 'suffix' to keep them all under new ids"
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
