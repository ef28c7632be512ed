"""Reader for the per-area JSON layout of the Dutch Natura 2000 areas.

The layout (source project ``jolietjakeblues/BoerderijenNatura2000NL``; see
``shared/data/real/PROVENANCE.md`` section 1) is one folder per area::

    gebieden/<slug>/geometrie.json     {"naam", "slug", "polys": [polygon, ...], "bbox"}
                                        polygon = [exterior_ring, hole_ring, ...]
    gebieden/<slug>/data.json           used only when geometrie.json is absent;
                                        "n2000": [{"naam", "rings": [ring, ...]}] with the
                                        rings as a flat list (exterior and holes not grouped)
    gebieden/<slug>/richtlijn-raw.txt   pipe-separated, no header, 9 columns, one line per
                                        directive part of the area

Rings are ``[[lon, lat], ...]`` in WGS84. The geometry is returned as stored, in EPSG:4326;
the caller reprojects.

Geometry repair
---------------
* ``geometrie.json``: each polygon part is built from its exterior and holes; a part that is
  invalid (self-intersection, nested holes) is repaired with :func:`shapely.make_valid`,
  keeping only its polygonal pieces. An area is stored as several parts (one per directive
  part, e.g. the Birds- and the Habitats-directive part) that touch or overlap; such a
  MultiPolygon is invalid, so the parts are dissolved with :func:`shapely.union_all`. (Calling
  ``make_valid`` on the whole MultiPolygon would apply even-odd logic to the overlaps and drop
  them.)
* ``data.json``: the flat ring list is read with the even-odd rule: the symmetric difference of
  the (valid) polygons of all rings, so a ring inside another ring is a hole and a ring inside a
  hole is an island again. The result is passed through ``make_valid`` if still invalid.

How many areas needed repair is logged at INFO level on this module's logger.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from n2kzones.errors import InputError

__all__ = ["read_natura2000_json"]

logger = logging.getLogger(__name__)

GEOMETRY_FILE = "geometrie.json"
DATA_FILE = "data.json"
RICHTLIJN_FILE = "richtlijn-raw.txt"
RICHTLIJN_N_COLUMNS = 9
_MISSING = "-"
_FLAGS = {"true": True, "false": False}

COLUMNS = [
    "area_number",
    "site_code",
    "site_code_birds",
    "site_code_habitats",
    "name",
    "slug",
    "directive",
    "nitrogen_sensitive",
]


@dataclass(frozen=True)
class _Richtlijn:
    """The directive information of one area, combined over its lines."""

    area_number: int
    site_code_birds: str | None
    site_code_habitats: str | None
    directive: str
    nitrogen_sensitive: bool
    flag_missing: bool


@dataclass
class _RepairStats:
    """Counts of what the geometry repair did, for the summary log line."""

    parts_made_valid: int = 0
    areas_dissolved: int = 0
    areas_repaired: int = 0


def read_natura2000_json(folder: str | Path) -> gpd.GeoDataFrame:
    """Read the per-area Natura 2000 JSON folders into one row per area.

    Parameters
    ----------
    folder : str or Path
        The ``gebieden`` folder holding one sub-folder per area (``<slug>/``). The folder
        above it (which holds ``gebieden/``) is accepted too. Hidden sub-folders and plain
        files are ignored.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per area, sorted by ``area_number``, with columns

        - ``area_number`` (int): Natura 2000 area number (column 1 of ``richtlijn-raw.txt``).
        - ``site_code`` (str): the Habitats-directive site code if the area has one, else the
          Birds-directive site code; never empty.
        - ``site_code_birds``, ``site_code_habitats`` (str or None): the site codes combined
          over all lines of the area (``-`` = None).
        - ``name`` (str): ``naam`` from the geometry file.
        - ``slug`` (str): the folder name (``slug`` from ``geometrie.json`` where present).
        - ``directive`` (str): ``"VR+HR"``, ``"HR"`` or ``"VR"``, derived from which site
          codes the area has over all its lines (the raw per-line codes such as
          ``"HR groeve"`` describe parts of an area).
        - ``nitrogen_sensitive`` (bool): the flag of the first line; ``-`` is read as False
          (logged as a warning).
        - ``geometry``: valid, non-empty MultiPolygon in EPSG:4326 (lon/lat as stored).

    Raises
    ------
    InputError
        If the folder does not exist or holds no area folders; an area folder has no
        ``geometrie.json``/``data.json`` or no ``richtlijn-raw.txt``; a JSON file cannot be
        parsed or lacks the expected keys; a ring is not a list of ``[lon, lat]`` pairs; a
        ``richtlijn-raw.txt`` line does not have 9 pipe-separated columns, or has a bad area
        number or flag; an area has no site code; an area number occurs twice; or an area's
        geometry is empty after repair.

    Notes
    -----
    Geometry repair is described in the module docstring; the number of repaired areas is
    logged at INFO level.
    """
    root = _resolve_root(folder)
    area_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not area_dirs:
        raise InputError(
            f"{root} holds no area folders; pass the 'gebieden' folder of the Natura 2000 JSON "
            f"layout (one sub-folder per area with {GEOMETRY_FILE} or {DATA_FILE} and "
            f"{RICHTLIJN_FILE})"
        )

    stats = _RepairStats()
    records: list[dict[str, Any]] = []
    geometries: list[MultiPolygon] = []
    seen: dict[int, Path] = {}
    for area_dir in area_dirs:
        info = _read_richtlijn(area_dir / RICHTLIJN_FILE)
        if info.area_number in seen:
            raise InputError(
                f"area number {info.area_number} occurs in both {seen[info.area_number]} and "
                f"{area_dir}; remove the duplicate area folder"
            )
        seen[info.area_number] = area_dir
        name, slug, geometry = _read_area_geometry(area_dir, stats)
        if info.flag_missing:
            logger.warning(
                "%s (area %d): nitrogen-sensitive flag is '-' in %s; read as False",
                name,
                info.area_number,
                area_dir / RICHTLIJN_FILE,
            )
        records.append(
            {
                "area_number": info.area_number,
                "site_code": info.site_code_habitats or info.site_code_birds,
                "site_code_birds": info.site_code_birds,
                "site_code_habitats": info.site_code_habitats,
                "name": name,
                "slug": slug,
                "directive": info.directive,
                "nitrogen_sensitive": info.nitrogen_sensitive,
            }
        )
        geometries.append(geometry)

    logger.info(
        "read %d Natura 2000 areas from %s; %d areas repaired (%d polygon parts/rings made "
        "valid with shapely.make_valid, %d areas with touching or overlapping parts dissolved)",
        len(records),
        root,
        stats.areas_repaired,
        stats.parts_made_valid,
        stats.areas_dissolved,
    )

    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    frame["area_number"] = frame["area_number"].astype("int64")
    frame["nitrogen_sensitive"] = frame["nitrogen_sensitive"].astype(bool)
    for column in ("site_code_birds", "site_code_habitats"):
        # object dtype keeps None (the pandas string dtype would turn it into NaN)
        frame[column] = pd.Series([r[column] for r in records], index=frame.index, dtype=object)
    gdf = gpd.GeoDataFrame(frame, geometry=geometries, crs="EPSG:4326")
    return gdf.sort_values("area_number", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------
# folders and files


def _resolve_root(folder: str | Path) -> Path:
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(
            f"Natura 2000 folder {root} does not exist; pass the 'gebieden' folder of the "
            "per-area JSON layout (e.g. shared/data/real/natura2000-nl-pdok-rce/gebieden)"
        )
    if not root.is_dir():
        raise InputError(
            f"{root} is not a folder; pass the 'gebieden' folder that holds one sub-folder "
            "per Natura 2000 area"
        )
    nested = root / "gebieden"
    if nested.is_dir() and not _looks_like_area(root):
        return nested
    return root


def _looks_like_area(path: Path) -> bool:
    return any((path / name).is_file() for name in (GEOMETRY_FILE, DATA_FILE, RICHTLIJN_FILE))


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "restore the file from the source dataset"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text ({exc.reason}); restore the file from the source dataset"
        ) from exc


# --------------------------------------------------------------------------------------
# richtlijn-raw.txt


def _read_richtlijn(path: Path) -> _Richtlijn:
    if not path.is_file():
        raise InputError(
            f"{path} is missing; every area folder needs its {RICHTLIJN_FILE} (area number, "
            "site codes, nitrogen-sensitive flag) — restore it from the source dataset"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason}); restore it") from exc

    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != RICHTLIJN_N_COLUMNS:
            raise InputError(
                f"{path}, line {lineno}: expected {RICHTLIJN_N_COLUMNS} '|'-separated columns "
                f"(number|RCE URI|directive|description|Birds site code|Habitats site code|"
                f"nitrogen flag|designation|Wikidata URI), found {len(fields)}; fix the line"
            )
        rows.append((lineno, fields))
    if not rows:
        raise InputError(f"{path} is empty; restore it from the source dataset")

    numbers = set()
    for lineno, fields in rows:
        try:
            numbers.add(int(fields[0]))
        except ValueError:
            raise InputError(
                f"{path}, line {lineno}: area number {fields[0]!r} is not an integer; fix column 1"
            ) from None
    if len(numbers) != 1:
        raise InputError(
            f"{path} mixes area numbers {sorted(numbers)}; one folder must describe one area"
        )
    area_number = numbers.pop()

    birds = _combine_codes(path, [f[4] for _, f in rows], "Birds")
    habitats = _combine_codes(path, [f[5] for _, f in rows], "Habitats")
    if birds is None and habitats is None:
        raise InputError(
            f"{path}: area {area_number} has no Birds- nor Habitats-directive site code "
            "(columns 5 and 6 are '-' on every line); add the site code"
        )
    directive = "VR+HR" if birds and habitats else ("HR" if habitats else "VR")

    first_line, first = rows[0]
    flag_text = first[6].lower()
    if flag_text == _MISSING:
        sensitive, missing = False, True
    elif flag_text in _FLAGS:
        sensitive, missing = _FLAGS[flag_text], False
    else:
        raise InputError(
            f"{path}, line {first_line}: nitrogen-sensitive flag {first[6]!r} is not "
            "'true', 'false' or '-'; fix column 7"
        )
    other_flags = {f[6].lower() for _, f in rows[1:]} - {flag_text}
    if other_flags:
        logger.info(
            "%s: lines disagree on the nitrogen-sensitive flag (%s, then %s); using the first",
            path,
            flag_text,
            ", ".join(sorted(other_flags)),
        )
    return _Richtlijn(area_number, birds, habitats, directive, sensitive, missing)


def _combine_codes(path: Path, values: Iterable[str], kind: str) -> str | None:
    codes = list(dict.fromkeys(v for v in values if v and v != _MISSING))
    if not codes:
        return None
    if len(codes) > 1:
        logger.warning(
            "%s lists several %s-directive site codes %s; using the first", path, kind, codes
        )
    return codes[0]


# --------------------------------------------------------------------------------------
# geometry


def _read_area_geometry(area_dir: Path, stats: _RepairStats) -> tuple[str, str, MultiPolygon]:
    geometry_path = area_dir / GEOMETRY_FILE
    data_path = area_dir / DATA_FILE
    if geometry_path.is_file():
        doc = _read_json(geometry_path)
        if not isinstance(doc, dict) or not isinstance(doc.get("polys"), list):
            raise InputError(
                f"{geometry_path} has no 'polys' list; expected "
                '{"naam", "slug", "polys": [[exterior_ring, hole_ring, ...], ...], "bbox"}'
            )
        name = _text(doc.get("naam")) or area_dir.name
        slug = _text(doc.get("slug")) or area_dir.name
        if slug != area_dir.name:
            logger.warning(
                "%s: slug %r differs from the folder name %r; using the slug",
                geometry_path,
                slug,
                area_dir.name,
            )
        geometry = _from_grouped_polygons(doc["polys"], geometry_path, name, stats)
        return name, slug, geometry
    if data_path.is_file():
        doc = _read_json(data_path)
        entries = doc.get("n2000") if isinstance(doc, dict) else None
        if (
            not isinstance(entries, list)
            or not entries
            or not all(isinstance(e, dict) and isinstance(e.get("rings"), list) for e in entries)
        ):
            raise InputError(
                f"{data_path} has no geometry: expected a non-empty 'n2000' list of "
                '{"naam", "rings": [ring, ...]} objects'
            )
        name = _text(entries[0].get("naam")) or _text(doc.get("gebied")) or area_dir.name
        geometry = _from_flat_rings(entries, data_path, name, stats)
        return name, area_dir.name, geometry
    raise InputError(
        f"area folder {area_dir} has neither {GEOMETRY_FILE} nor {DATA_FILE}; restore the "
        "geometry file from the source dataset or remove the folder"
    )


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _ring_coords(ring: Any, path: Path) -> np.ndarray:
    try:
        coords = np.asarray(ring, dtype=float)
    except (TypeError, ValueError):
        coords = np.empty((0,))
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] < 3:
        raise InputError(
            f"{path}: a ring is not a list of at least 3 [lon, lat] pairs; restore the file "
            "from the source dataset"
        )
    if not np.isfinite(coords).all():
        raise InputError(f"{path}: a ring has non-finite coordinates; restore the file")
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise InputError(
            f"{path}: coordinates outside lon/lat range (e.g. {coords[0].tolist()}); this "
            "reader expects WGS84 lon/lat — projected files need another reader"
        )
    if not np.array_equal(coords[0], coords[-1]):
        coords = np.vstack([coords, coords[:1]])
    if coords.shape[0] < 4:
        raise InputError(f"{path}: a ring has fewer than 3 distinct points; restore the file")
    return coords


def _polygonal_parts(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons in ``geom`` (drops points and lines from make_valid)."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygonal_parts(g)]
    return []


def _as_multipolygon(parts: Sequence[Polygon], path: Path, name: str) -> MultiPolygon:
    parts = [p for p in parts if not p.is_empty and p.area > 0]
    if not parts:
        raise InputError(
            f"{path}: the geometry of {name!r} is empty after repair; check the file against "
            "the source dataset"
        )
    return MultiPolygon(parts)


def _valid_parts(polygon: Polygon, stats: _RepairStats) -> tuple[list[Polygon], bool]:
    if polygon.is_valid:
        return [polygon], False
    stats.parts_made_valid += 1
    return _polygonal_parts(shapely.make_valid(polygon)), True


def _from_grouped_polygons(
    polys: list[Any], path: Path, name: str, stats: _RepairStats
) -> MultiPolygon:
    parts: list[Polygon] = []
    repaired = False
    for poly in polys:
        if not isinstance(poly, list) or not poly:
            raise InputError(
                f"{path}: a polygon is not a list [exterior_ring, hole_ring, ...]; restore "
                "the file from the source dataset"
            )
        rings = [_ring_coords(r, path) for r in poly]
        valid, fixed = _valid_parts(Polygon(rings[0], rings[1:]), stats)
        parts.extend(valid)
        repaired |= fixed
    geometry = _as_multipolygon(parts, path, name)
    if not geometry.is_valid:
        # parts touch along shared edges or overlap: dissolve them
        stats.areas_dissolved += 1
        repaired = True
        geometry = _dissolve(parts, path, name)
    if repaired:
        stats.areas_repaired += 1
        logger.debug("%s: geometry of %r repaired", path, name)
    return geometry


def _from_flat_rings(
    entries: list[dict[str, Any]], path: Path, name: str, stats: _RepairStats
) -> MultiPolygon:
    pieces: list[BaseGeometry] = []
    repaired = False
    for entry in entries:
        ring_polys: list[BaseGeometry] = []
        for ring in entry["rings"]:
            valid, fixed = _valid_parts(Polygon(_ring_coords(ring, path)), stats)
            repaired |= fixed
            ring_polys.append(shapely.union_all(valid) if len(valid) != 1 else valid[0])
        if ring_polys:
            # even-odd rule: a point is inside if it lies inside an odd number of rings
            pieces.append(reduce(shapely.symmetric_difference, ring_polys))
    geometry = shapely.union_all(pieces) if len(pieces) > 1 else pieces[0] if pieces else None
    if geometry is None:
        raise InputError(f"{path}: 'n2000' holds no rings; restore the file")
    if not geometry.is_valid:
        stats.parts_made_valid += 1
        repaired = True
        geometry = shapely.make_valid(geometry)
    result = _as_multipolygon(_polygonal_parts(geometry), path, name)
    if repaired:
        stats.areas_repaired += 1
        logger.debug("%s: geometry of %r repaired", path, name)
    return result


def _dissolve(parts: Sequence[Polygon], path: Path, name: str) -> MultiPolygon:
    merged = shapely.union_all(parts)
    if not merged.is_valid:
        merged = shapely.make_valid(merged)
    return _as_multipolygon(_polygonal_parts(merged), path, name)
