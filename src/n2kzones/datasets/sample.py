"""Deterministic, embedded generator of a synthetic sample region.

The real Natura 2000, BRP and livestock registers may not be shipped with this package, so
:func:`generate_sample` builds a realistic stand-in from a seed: Natura 2000 areas of several
archetypes, a habitat-type map with critical deposition values (KDW), a field-like BRP parcel
tessellation, livestock farms linked to their parcels, and a background deposition raster.
All layers are in RD New (EPSG:28992).

The region is made of 40 x 40 km tiles. ``scale=1`` is one tile at (150000, 440000) holding
nine areas, one of each archetype; ``scale=N`` lays out N tiles on a grid of ceil(sqrt(N))
columns from (20000, 300000), four areas per tile (``scale=32`` is roughly national: ~120
areas, ~770,000 parcels, ~50,000 farms). Each tile draws from its own random stream,
``numpy.random.SeedSequence(seed, spawn_key=(0, tile_index))``, so a tile does not depend on
how many tiles come before it.

``density=K`` (a scaling benchmark at a fixed extent) keeps the tiles, areas, habitats and
the background grid and makes about K times the parcels and farms: the tessellation's mean
field area is ``MEAN_CELL_AREA_M2 / K`` and each tile draws K times the farms, each aiming at
1/K of the land its herd would claim.

The same seed gives byte-identical files (the GeoPackage timestamp is pinned through the
GDAL option ``OGR_CURRENT_DATE``), and each file is written under a temporary name and
renamed when complete; ``manifest.json`` (written last, removed at the start of a run) lists
the sha256 of every file, so its presence means the set is complete and consistent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import multiprocessing
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import rasterio
import shapely
from numpy.typing import NDArray
from rasterio.transform import from_origin
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Polygon

from n2kzones._version import __version__
from n2kzones.datasets import shapes as shp
from n2kzones.errors import ConfigError
from n2kzones.io.writers import atomic_path as _atomic
from n2kzones.params import Parameters, load_parameters
from n2kzones.threads import exit_with_parent

logger = logging.getLogger(__name__)

__all__ = ["SampleSummary", "generate_sample", "tile_origins", "DEFAULT_SEED"]

DEFAULT_SEED = 20260626
CRS = "EPSG:28992"
TILE_SIZE_M = 40_000.0
SINGLE_TILE_ORIGIN_M = (150_000.0, 440_000.0)
GRID_ORIGIN_M = (20_000.0, 300_000.0)
MAX_SCALE = 200
MAX_DENSITY = 8
"""Largest ``density``: the mean field is then 71,000 / 8 = 8,875 m2, still well above the
2,000 m2 a farm's home parcel must have (finer fields would leave ever fewer candidate homes,
and fewer fields above the 12,000 m2 that a ditch or hedgerow strip needs)."""
EDGE_MARGIN_M = 1_500.0
MIN_AREA_GAP_M = 2_500.0
PAIR_GAP_RANGE_M = (1_200.0, 1_800.0)
MEAN_CELL_AREA_M2 = 71_000.0
DEPOSITION_CELL_M = 250.0
NODATA = -9999.0
FIXED_GPKG_DATE = "2026-06-26T00:00:00Z"
YEAR = 2025

FILES = {
    "natura2000": ("natura2000.gpkg", "natura2000"),
    "habitats": ("habitats.gpkg", "habitats"),
    "parcels": ("brp_gewaspercelen.gpkg", "brp_gewas"),
    "farms": ("veehouderijen.gpkg", "veehouderijen"),
}
DEPOSITION_FILE = "background_deposition.tif"
MANIFEST_FILE = "manifest.json"

# ---------------------------------------------------------------------------------------
# Archetypes of Natura 2000 areas
# ---------------------------------------------------------------------------------------

_HEATH = (("H4030", 0.45), ("H2310", 0.2), ("H2330", 0.1), ("H3130", 0.1), ("H3160", 0.15))
_FOREST = (("H9190", 0.6), ("H9120", 0.4))
_PALETTES: dict[str, tuple[tuple[str, float], ...]] = {
    "heath_complex": (
        ("H4030", 0.3),
        ("H2310", 0.14),
        ("H2330", 0.07),
        ("H3130", 0.05),
        ("H3160", 0.06),
        ("H9190", 0.23),
        ("H9120", 0.15),
    ),
    "bog": (("H7110B", 0.4), ("H91D0", 0.35), ("H3160", 0.25)),
    "pair_a": (("H2330", 0.35), ("H2310", 0.35), ("H4030", 0.3)),
    "pair_b": _FOREST,
    "lake": (("H1130", 1.0),),
    "stream_valley": (("H91E0C", 0.6), ("H6410", 0.4)),
    "fen_meadow": (("H6410", 0.5), ("H7150", 0.2), ("H4010A", 0.3)),
    "old_forest": _FOREST,
    "small_heath": _HEATH,
}
ARCHETYPES: tuple[str, ...] = (
    "heath_complex",
    "bog",
    "pair_a",
    "pair_b",
    "lake",
    "stream_valley",
    "fen_meadow",
    "old_forest",
    "small_heath",
)
"""Area kinds, in area-number order within a tile."""
_PLACE_ORDER = (
    "heath_complex",
    "lake",
    "pair_a",
    "pair_b",
    "bog",
    "stream_valley",
    "fen_meadow",
    "old_forest",
    "small_heath",
)

_UNITS = (
    ("heath_complex",),
    ("pair_a", "pair_b"),
    ("lake",),
    ("bog",),
    ("stream_valley",),
    ("fen_meadow",),
    ("old_forest",),
    ("small_heath",),
)
_AREAS_PER_TILE_MULTI = 4

_NAME_STEM_A = (
    "Bar",
    "Wol",
    "Dwin",
    "Ees",
    "Gel",
    "Har",
    "Mep",
    "Rui",
    "Sted",
    "Vled",
    "Hol",
    "Lie",
    "Bor",
    "Dal",
    "Ech",
    "Fle",
    "Gra",
    "Hen",
    "Kor",
    "Lem",
    "Nij",
    "Olde",
    "Pes",
    "Ros",
    "Schoon",
    "Ter",
    "Ulf",
    "Vee",
    "Wier",
    "Zwi",
    "Asse",
    "Bee",
    "Dier",
    "Ger",
    "Hoog",
    "Lutte",
    "Mar",
    "Nor",
    "Ot",
    "Put",
    "Ren",
    "Sle",
    "Tub",
    "Wes",
    "Zel",
)
_NAME_STEM_B = (
    "erlo",
    "ingen",
    "um",
    "horst",
    "wijk",
    "dorp",
    "hem",
    "oo",
    "beek",
    "sel",
    "kamp",
    "rade",
    "loo",
    "broek",
    "veld",
    "holt",
    "berg",
    "en",
    "ter",
    "elo",
    "haar",
)
_NAME_PATTERNS: dict[str, tuple[str, ...]] = {
    # {s}: place name, {a}: its adjective ("Wolhorst" -> "Wolhorster", "Marelo" -> "Marelose")
    "heath_complex": ("{a} Heide en Bossen", "Heide en bossen van {s}", "{a} Zand"),
    "bog": ("Hoogveentjes van {s}", "{a} Venen", "Veentjes rond {s}"),
    "pair_a": ("{a} Stuifzand", "{a} Duinen", "Zandverstuiving {s}"),
    "pair_b": ("Bossen bij {s}", "{a} Hout", "Landgoed {s}"),
    "lake": ("{a} Meer", "Meer van {s}", "{a} Plassen"),
    "stream_valley": ("Beekdal van de {a} Aa", "{a} Beek", "Dal van de {s}"),
    "fen_meadow": ("{a} Broek", "Blauwgraslanden bij {s}", "{a} Hooilanden"),
    "old_forest": ("Oude bossen van {s}", "{a} Bos", "Landgoederen {s}"),
    "small_heath": ("{a} Heide", "Heideveld {s}", "{a} Veld"),
}


def _adjective(place: str) -> str:
    """Dutch adjective of a place name: vowel or -er/-en/-el/-em ending -> "se", else "er"."""
    if place[-1] in "aeiou" or place.endswith(("er", "en", "el", "em")):
        return place + "se"
    return place + "er"


# ---------------------------------------------------------------------------------------
# BRP crops: (category, gewascode, gewas)
# ---------------------------------------------------------------------------------------

CROPS: tuple[tuple[str, int, str], ...] = (
    ("Grasland", 265, "Grasland, blijvend"),
    ("Grasland", 266, "Grasland, tijdelijk"),
    ("Grasland", 331, "Grasland, natuurlijk. Hoofdfunctie landbouw."),
    ("Bouwland", 259, "Mais, snij-"),
    ("Bouwland", 233, "Tarwe, winter-"),
    ("Bouwland", 2014, "Aardappelen, consumptie"),
    ("Bouwland", 256, "Bieten, suiker-"),
    ("Bouwland", 316, "Mais, korrel-"),
    ("Natuurterrein", 335, "Natuurterreinen (incl. heide)"),
    ("Landschapselement", 343, "Sloot"),
    ("Landschapselement", 2621, "Houtwal en houtsingel"),
    ("Braakland", 6794, "Groene braak, spontane opkomst"),
)
CATEGORIES = ("Grasland", "Bouwland", "Natuurterrein", "Landschapselement", "Braakland")
_C_GRASS = np.array([0, 1, 2])
_P_GRASS = np.array([0.78, 0.17, 0.05])
_C_ARABLE = np.array([3, 4, 5, 6, 7])
_P_ARABLE = np.array([0.40, 0.20, 0.18, 0.14, 0.08])
_C_NATURE, _C_SLOOT, _C_HOUTWAL, _C_BRAAK = 8, 9, 10, 11
_CROP_CATEGORY = np.array([CATEGORIES.index(c[0]) for c in CROPS])
_CAT_GRASS, _CAT_ARABLE, _CAT_NATURE = 0, 1, 2

# ---------------------------------------------------------------------------------------
# Farms
# ---------------------------------------------------------------------------------------

from n2kzones.datasets.farms import (
    FARM_TYPE_P as _FARM_TYPE_P,
)
from n2kzones.datasets.farms import (
    FARM_TYPES,
)
from n2kzones.datasets.farms import (
    GENERATED_ANIMALS as _GENERATED_ANIMALS,
)
from n2kzones.datasets.farms import (
    HEIGHT_RANGE_M as _HEIGHT_RANGE_M,
)
from n2kzones.datasets.farms import (
    herds as _herds,
)


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate_sample` wrote.

    Attributes
    ----------
    out_dir
        Folder holding all files.
    natura2000_path, habitats_path, parcels_path, farms_path, deposition_path, manifest_path
        The files written (GeoPackages, GeoTIFF, JSON).
    seed, scale, density
        The arguments used.
    n_tiles, n_areas, n_habitats, n_parcels, n_farms
        Feature counts.
    """

    out_dir: Path
    natura2000_path: Path
    habitats_path: Path
    parcels_path: Path
    farms_path: Path
    deposition_path: Path
    manifest_path: Path
    seed: int
    scale: int
    n_tiles: int
    n_areas: int
    n_habitats: int
    n_parcels: int
    n_farms: int
    density: int = 1

    @property
    def paths(self) -> dict[str, Path]:
        """Layer name -> file path."""
        return {
            "natura2000": self.natura2000_path,
            "habitats": self.habitats_path,
            "parcels": self.parcels_path,
            "farms": self.farms_path,
            "deposition": self.deposition_path,
            "manifest": self.manifest_path,
        }


# ---------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------


def tile_origins(scale: int) -> list[tuple[float, float]]:
    """Lower-left corners (RD New metres) of the 40 x 40 km tiles of a sample of ``scale``."""
    _check_scale(scale)
    if scale == 1:
        return [SINGLE_TILE_ORIGIN_M]
    ncols = math.ceil(math.sqrt(scale))
    x0, y0 = GRID_ORIGIN_M
    return [(x0 + TILE_SIZE_M * (i % ncols), y0 + TILE_SIZE_M * (i // ncols)) for i in range(scale)]


def _tile_kinds(scale: int) -> list[tuple[str, ...]]:
    """Area archetypes per tile: all nine for one tile, else four per tile in a cycle."""
    if scale == 1:
        return [ARCHETYPES]
    queue: deque[tuple[str, ...]] = deque()
    plans: list[tuple[str, ...]] = []
    for _ in range(scale):
        kinds: list[str] = []
        while len(kinds) < _AREAS_PER_TILE_MULTI:
            if len(queue) < 2:
                queue.extend(_UNITS)
            free = _AREAS_PER_TILE_MULTI - len(kinds)
            pos = next(i for i, u in enumerate(queue) if len(u) <= free)
            unit = queue[pos]
            del queue[pos]
            kinds.extend(unit)
        plans.append(tuple(sorted(kinds, key=ARCHETYPES.index)))
    return plans


def _check_density(density: int) -> None:
    """Raise ConfigError unless ``density`` is an integer from 1 to ``MAX_DENSITY``."""
    if isinstance(density, bool) or not isinstance(density, int | np.integer):
        raise ConfigError(f"density must be an integer, got {density!r}")
    if not 1 <= density <= MAX_DENSITY:
        raise ConfigError(f"density must be between 1 and {MAX_DENSITY}, got {density}")


def _check_scale(scale: int) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer):
        raise ConfigError(f"scale must be an integer, got {scale!r}")
    if not 1 <= scale <= MAX_SCALE:
        raise ConfigError(f"scale must be between 1 and {MAX_SCALE} tiles, got {scale}")


# ---------------------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------------------


def _make_area(kind: str, rng: np.random.Generator, shrink: float) -> shapely.Geometry:
    """A shape of ``kind`` centred near the origin (``shrink`` < 1 on placement trouble)."""
    u = rng.uniform
    if kind == "heath_complex":
        outer = shp.blob(rng, u(48e6, 72e6) * shrink, aspect=u(1.2, 1.8), roughness=0.25)
        return shp.with_enclaves(rng, outer, int(rng.integers(2, 5)), (0.3e6, 1.4e6))
    if kind == "bog":
        return shp.fragments(rng, int(rng.integers(3, 7)), (0.4e6 * shrink, 2.4e6 * shrink), 3000.0)
    if kind == "pair_a":
        return shp.blob(rng, u(6e6, 13e6) * shrink, aspect=u(1.0, 2.0))
    if kind == "pair_b":
        return shp.blob(rng, u(5e6, 11e6) * shrink, aspect=u(1.0, 2.2))
    if kind == "lake":
        return shp.blob(rng, u(22e6, 36e6) * shrink, aspect=u(1.0, 1.6), roughness=0.15)
    if kind == "stream_valley":
        return shp.meander_valley(rng, u(5000.0, 8000.0) * shrink, u(300.0, 480.0))
    if kind == "fen_meadow":
        return shp.blob(rng, u(2e6, 7e6) * shrink, aspect=u(1.2, 2.5))
    if kind == "old_forest":
        return shp.blob(rng, u(1.5e6, 5e6) * shrink, aspect=u(1.0, 1.8))
    if kind == "small_heath":
        return shp.blob(rng, u(1e6, 4e6) * shrink, aspect=u(1.0, 1.8))
    raise ValueError(f"unknown area kind {kind!r}")


def _place_areas(
    rng: np.random.Generator, kinds: tuple[str, ...], tile: Polygon
) -> list[tuple[str, MultiPolygon]]:
    m = EDGE_MARGIN_M
    inner = shapely.box(*(np.array(tile.bounds) + [m, m, -m, -m]))
    placed: list[tuple[str, shapely.Geometry]] = []
    for kind in sorted(kinds, key=_PLACE_ORDER.index):
        if kind == "pair_b":
            continue  # placed together with pair_a
        for shrink in (1.0, 0.8, 0.65, 0.5, 0.4):
            others = [g for _, g in placed]
            geom = shp.place(
                rng,
                lambda r, k=kind, s=shrink: _make_area(k, r, s),
                inner,
                others,
                MIN_AREA_GAP_M,
            )
            if geom is None:
                continue
            if kind == "pair_a" and "pair_b" in kinds:
                shape_b = _make_area("pair_b", rng, shrink)
                c = shape_b.centroid
                shape_b = shp.translate(shape_b, -c.x, -c.y)
                gap = rng.uniform(*PAIR_GAP_RANGE_M)
                geom_b = shp.place_at_gap(rng, geom, shape_b, gap, inner, others, MIN_AREA_GAP_M)
                if geom_b is None:
                    continue
                placed += [(kind, geom), ("pair_b", geom_b)]
            else:
                placed.append((kind, geom))
            break
        else:
            raise RuntimeError(f"could not place a {kind} area in tile {tile.bounds}")
    placed.sort(key=lambda kg: ARCHETYPES.index(kg[0]))
    return [(k, shp.to_multi(g)) for k, g in placed]


def _area_names(seed: int, kinds: list[str]) -> list[str]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    used: set[str] = set()
    names: list[str] = []
    for kind in kinds:
        patterns = _NAME_PATTERNS[kind]
        for attempt in range(10_000):
            head = _NAME_STEM_A[rng.integers(len(_NAME_STEM_A))]
            tail = _NAME_STEM_B[rng.integers(len(_NAME_STEM_B))]
            if head[-1] in "aeiou" and tail[0] in "aeiou":
                continue  # no vowel clash such as "Bee" + "elo"
            stem = head + tail
            name = patterns[rng.integers(len(patterns))].format(s=stem, a=_adjective(stem))
            if attempt > 5000:
                name = f"{name} {attempt}"
            if name not in used:
                break
        used.add(name)
        names.append(name)
    return names


# ---------------------------------------------------------------------------------------
# One tile
# ---------------------------------------------------------------------------------------


@dataclass
class _Tile:
    """Generated content of one tile (geometry as WKB to keep memory small)."""

    index: int
    origin: tuple[float, float]
    area_kinds: list[str]
    area_geoms: list[MultiPolygon]
    hab_area: NDArray[np.int64]
    hab_code: list[str]
    hab_wkb: NDArray[np.object_]
    parcel_wkb: NDArray[np.object_]
    parcel_crop: NDArray[np.int16]
    parcel_farm: NDArray[np.int32]
    parcel_edge: NDArray[np.int64]
    farm_xy: NDArray[np.float64]
    farm_type: NDArray[np.int8]
    farm_animals: dict[str, NDArray[np.int32]]
    farm_height: NDArray[np.float64]
    farm_emission: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))


def _generate_tile(
    seed: int,
    index: int,
    origin: tuple[float, float],
    kinds: tuple[str, ...],
    params: Parameters,
    density: int = 1,
) -> _Tile:
    ss = np.random.SeedSequence(seed, spawn_key=(0, index))
    rng_area, rng_hab, rng_parcel, rng_farm = (np.random.default_rng(s) for s in ss.spawn(4))
    ox, oy = origin
    tile = shapely.box(ox, oy, ox + TILE_SIZE_M, oy + TILE_SIZE_M)

    areas = _place_areas(rng_area, kinds, tile)
    area_kinds = [k for k, _ in areas]
    area_geoms = [g for _, g in areas]

    # habitat map
    hab_area: list[int] = []
    hab_code: list[str] = []
    hab_geom: list[shapely.Geometry] = []
    for i, (kind, geom) in enumerate(areas):
        palette = _PALETTES[kind]
        codes = [c for c, _ in palette]
        p = np.array([w for _, w in palette])
        coverage = rng_hab.uniform(0.2, 0.4) if kind == "lake" else rng_hab.uniform(0.55, 0.75)
        cell = 60_000.0 if kind in ("heath_complex", "lake") else 30_000.0
        patches = shp.habitat_patches(rng_hab, geom, cell, coverage)
        picks = rng_hab.choice(len(codes), size=len(patches), p=p / p.sum())
        hab_area += [i] * len(patches)
        hab_code += [codes[j] for j in picks]
        hab_geom += patches

    parcels, crop, farm_of_parcel, farms = _parcels_and_farms(
        rng_parcel, rng_farm, tile, area_kinds, area_geoms, params, density
    )
    return _Tile(
        index=index,
        origin=origin,
        area_kinds=area_kinds,
        area_geoms=area_geoms,
        hab_area=np.asarray(hab_area, dtype=np.int64),
        hab_code=hab_code,
        hab_wkb=shapely.to_wkb(np.asarray(hab_geom, dtype=object)),
        parcel_wkb=shapely.to_wkb(parcels),
        parcel_crop=crop,
        parcel_farm=farm_of_parcel,
        parcel_edge=np.flatnonzero(shapely.intersects(parcels, tile.boundary)),
        **farms,
    )


def _parcels_and_farms(
    rng: np.random.Generator,
    rng_farm: np.random.Generator,
    tile: Polygon,
    area_kinds: list[str],
    area_geoms: list[MultiPolygon],
    params: Parameters,
    density: int,
) -> tuple[NDArray[np.object_], NDArray[np.int16], NDArray[np.int32], dict[str, object]]:
    """Parcels (mean field ``MEAN_CELL_AREA_M2 / density`` m2) and farms of one tile."""
    ox, oy = tile.bounds[:2]
    areas = np.asarray(area_geoms, dtype=object)
    sensitive = np.array([k != "lake" for k in area_kinds])
    sens_union = shapely.union_all(areas[sensitive])
    shapely.prepare(sens_union)

    # --- tessellation -------------------------------------------------------------------
    def thin(xy: NDArray[np.float64]) -> NDArray[np.bool_]:
        # parcels in nature areas are larger: keep 40 % of the seeds there
        in_nature = shapely.contains_xy(sens_union, xy[:, 0], xy[:, 1])
        return ~in_nature | (rng.uniform(size=len(xy)) < 0.4)

    def strip_allowed(fields: NDArray[np.object_]) -> NDArray[np.bool_]:
        return ~shapely.intersects(fields, all_areas)

    def strip_width(n: int) -> NDArray[np.float64]:
        # ditches 3-7 m, hedgerows 7-14 m wide; the kind is read back from the width
        sloot = rng.uniform(size=n) < 0.62
        return np.where(sloot, rng.uniform(3.0, 6.9, n), rng.uniform(7.0, 14.0, n))

    all_areas = shapely.union_all(areas)
    shapely.prepare(all_areas)
    lines, bands, fields, band_width = shp.field_linework(
        rng,
        tile,
        n_blocks=40,
        cell_area_m2=MEAN_CELL_AREA_M2 / density,
        thin=thin,
        strip_allowed=strip_allowed,
        strip_share=0.075,
        strip_width_m=strip_width,
    )
    lines += list(shapely.boundary(areas))
    faces = shp.polygonize_lines(lines)
    rp = shapely.point_on_surface(faces)
    lab = np.full(len(faces), -1, dtype=np.int64)
    fi, ai = shapely.STRtree(areas).query(rp, predicate="within")
    lab[fi] = ai
    keep = ~np.isin(lab, np.flatnonzero(~sensitive))  # no parcels in the lake
    faces, rp, lab = faces[keep], rp[keep], lab[keep]
    n = len(faces)
    # strips: faces inside a strip band; parent = the field the strip was cut from
    parent = np.full(n, -1, dtype=np.int64)
    is_strip = np.zeros(n, dtype=bool)
    strip_band = np.full(n, -1, dtype=np.int64)
    if len(fields):
        fi, ci = shapely.STRtree(fields).query(rp, predicate="within")
        parent[fi] = ci
        fi, bi = shapely.STRtree(bands).query(rp, predicate="within")
        strip_band[fi] = bi
        is_strip = (strip_band >= 0) & (strip_band == parent)

    # --- crops ----------------------------------------------------------------------------
    cxy = shapely.get_coordinates(shapely.centroid(faces))
    grass_field = shp.fourier_field(rng, 10, (8_000.0, 40_000.0))
    grass_share = np.clip(0.63 + 0.17 * grass_field(cxy[:, 0], cxy[:, 1]), 0.3, 0.95)
    crop = np.empty(n, dtype=np.int16)
    u = rng.uniform(size=n)
    inside = lab >= 0
    grass_crop = rng.choice(_C_GRASS, size=n, p=_P_GRASS)
    arable_crop = rng.choice(_C_ARABLE, size=n, p=_P_ARABLE)
    crop[:] = np.where(u < grass_share, grass_crop, arable_crop)
    other = (~inside) & (parent < 0)  # fields with a strip stay agricultural
    crop[other & (u >= 0.975)] = _C_NATURE
    crop[other & (u >= 0.96) & (u < 0.975)] = _C_BRAAK
    crop[inside] = np.where(u[inside] < 0.85, _C_NATURE, np.where(u[inside] < 0.97, 0, 2))
    if is_strip.any():
        crop[is_strip] = np.where(band_width[strip_band[is_strip]] < 7.0, _C_SLOOT, _C_HOUTWAL)
    parcels, pcrop, p_inside = faces, crop, inside

    # sort parcels spatially (1 km rows, then x) for locality in the file
    pxy = shapely.get_coordinates(shapely.centroid(parcels))
    order = np.lexsort((pxy[:, 0], np.floor((pxy[:, 1] - oy) / 1000.0)))
    parcels, parent, is_strip, pcrop, p_inside, pxy = (
        parcels[order],
        parent[order],
        is_strip[order],
        pcrop[order],
        p_inside[order],
        pxy[order],
    )

    farms, owner = _farms(
        rng_farm,
        tile,
        parcels,
        pxy,
        pcrop,
        is_strip,
        p_inside,
        parent,
        area_kinds,
        areas,
        params,
        density,
    )
    return parcels, pcrop.astype(np.int16), owner, farms


def _farms(
    rng: np.random.Generator,
    tile: Polygon,
    parcels: NDArray[np.object_],
    pxy: NDArray[np.float64],
    pcrop: NDArray[np.int16],
    is_strip: NDArray[np.bool_],
    p_inside: NDArray[np.bool_],
    parent: NDArray[np.int64],
    area_kinds: list[str],
    areas: NDArray[np.object_],
    params: Parameters,
    density: int,
) -> tuple[dict[str, object], NDArray[np.int32]]:
    """Farms of one tile (``density`` times the usual count) and the farm owning each parcel.

    Returns the farm columns (``farm_xy`` m, ``farm_type``, ``farm_animals`` head,
    ``farm_height`` m) and per parcel the tile-local farm index (-1: no farm).
    """
    ox, oy, mx, my = tile.bounds
    pcat = _CROP_CATEGORY[pcrop]
    parea = shapely.area(parcels)
    is_ag = (pcat <= _CAT_ARABLE) & ~is_strip
    is_grass = pcat == _CAT_GRASS

    # farm density: clusters, a few of them at area edges, plus a uniform background
    n_cl = int(rng.integers(14, 22))
    cx = rng.uniform(ox, mx, n_cl)
    cy = rng.uniform(oy, my, n_cl)
    sig = rng.uniform(1_200.0, 4_000.0, n_cl)
    wt = rng.uniform(0.5, 2.0, n_cl)
    for kind, geom in zip(area_kinds, areas, strict=True):
        if kind == "lake" or rng.uniform() > 0.7:
            continue
        ring = max(shapely.get_parts(geom), key=lambda g: g.area).exterior
        p = ring.interpolate(rng.uniform(), normalized=True)
        cx, cy = np.append(cx, p.x), np.append(cy, p.y)
        sig, wt = np.append(sig, 1_200.0), np.append(wt, 1.2)
    d2 = (pxy[:, 0, None] - cx) ** 2 + (pxy[:, 1, None] - cy) ** 2
    dens = 0.12 + (wt * np.exp(-0.5 * d2 / sig**2)).sum(axis=1)

    home_ok = np.flatnonzero(is_ag & ~p_inside & (parea > 2_000.0))
    w = dens[home_ok] * np.sqrt(parea[home_ok])
    n_farms = min(density * int(rng.integers(1_520, 1_680)), len(home_ok))
    home = np.sort(rng.choice(home_ok, size=n_farms, replace=False, p=w / w.sum()))

    # farm types: more dairy where grassland dominates, intensive farms in some regions
    hxy = pxy[home]
    intensive = shp.fourier_field(rng, 8, (10_000.0, 50_000.0))(hxy[:, 0], hxy[:, 1])
    tree = cKDTree(pxy[is_ag])
    _, nb = tree.query(hxy, k=min(25, int(is_ag.sum())))
    local_grass = is_grass[np.flatnonzero(is_ag)[nb]].mean(axis=1)
    logits = np.log(_FARM_TYPE_P)[None, :] + np.zeros((n_farms, len(FARM_TYPES)))
    logits[:, 0] += 2.5 * (local_grass - 0.65)
    logits[:, 2] += 0.8 * intensive
    logits[:, 3] += 0.8 * intensive
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    ftype = (rng.uniform(size=(n_farms, 1)) > np.cumsum(prob, axis=1)).sum(axis=1)
    ftype = np.minimum(ftype, len(FARM_TYPES) - 1).astype(np.int8)

    animals, target_ha = _herds(rng, ftype, params)
    grazing = np.isin(ftype, [0, 1, 4, 5])

    # density K: K times the farms on the same land, each aiming at 1/K of its herd's hectares
    target_m2 = target_ha * 1e4 / density
    owner = _allocate_land(rng, hxy, home, target_m2, grazing, pxy, parea, is_ag, is_grass)
    # strips (ditches, hedgerows) belong to the farm owning the rest of their field
    host_rows = np.flatnonzero(~is_strip & (parent >= 0))
    if host_rows.size and is_strip.any():
        # largest remaining face per field is the host
        o = np.lexsort((-parea[host_rows], parent[host_rows]))
        rows = host_rows[o]
        first = np.r_[True, parent[rows][1:] != parent[rows][:-1]]
        host_of = np.full(int(parent.max()) + 1, -1, dtype=np.int64)
        host_of[parent[rows[first]]] = rows[first]
        s_rows = np.flatnonzero(is_strip)
        h = host_of[parent[s_rows]]
        ok = h >= 0
        owner[s_rows[ok]] = owner[h[ok]]

    # farm location: a random point on the home parcel
    pts = _points_in(rng, parcels[home])
    height = np.round(np.array([rng.uniform(*_HEIGHT_RANGE_M[FARM_TYPES[t]]) for t in ftype]), 1)
    farms = {
        "farm_xy": pts,
        "farm_type": ftype,
        "farm_animals": animals,
        "farm_height": height,
    }
    return farms, owner




def _allocate_land(
    rng: np.random.Generator,
    farm_xy: NDArray[np.float64],
    home: NDArray[np.int64],
    target_m2: NDArray[np.float64],
    grazing: NDArray[np.bool_],
    pxy: NDArray[np.float64],
    parea: NDArray[np.float64],
    is_ag: NDArray[np.bool_],
    is_grass: NDArray[np.bool_],
) -> NDArray[np.int32]:
    """Round-robin: every farm in turn claims its nearest free agricultural parcel.

    Grazing-livestock farms prefer grassland (arable parcels count as 1.8x farther).
    Candidates are limited to the 48 nearest agricultural parcels within 3 km.
    """
    owner = np.full(len(pxy), -1, dtype=np.int32)
    n_farms = len(home)
    if n_farms == 0:
        return owner
    owner[home] = np.arange(n_farms, dtype=np.int32)
    owned = parea[home].copy()
    ag = np.flatnonzero(is_ag)
    k = min(48, len(ag))
    dist, j = cKDTree(pxy[ag]).query(farm_xy, k=k)
    cand = ag[j]
    penalty = np.where(is_grass[cand] | ~grazing[:, None], 1.0, 1.8)
    eff = np.where(dist <= 3_000.0, dist * penalty, np.inf)
    srt = np.argsort(eff, axis=1, kind="stable")
    cand = np.take_along_axis(cand, srt, axis=1)
    eff = np.take_along_axis(eff, srt, axis=1)
    ptr = np.zeros(n_farms, dtype=np.int64)
    active = owned < target_m2
    turn = rng.permutation(n_farms)
    cand_l = cand.tolist()
    eff_l = eff.tolist()
    owner_l = owner.tolist()
    parea_l = parea.tolist()
    owned_l = owned.tolist()
    target_l = target_m2.tolist()
    ptr_l = ptr.tolist()
    act = [int(f) for f in turn if active[f]]
    while act:
        nxt: list[int] = []
        for f in act:
            row, erow = cand_l[f], eff_l[f]
            p = ptr_l[f]
            while p < k and (owner_l[row[p]] != -1 or erow[p] == math.inf):
                if erow[p] == math.inf:
                    p = k
                    break
                p += 1
            if p >= k:
                ptr_l[f] = k
                continue
            owner_l[row[p]] = f
            owned_l[f] += parea_l[row[p]]
            ptr_l[f] = p + 1
            if owned_l[f] < target_l[f]:
                nxt.append(f)
        act = nxt
    return np.asarray(owner_l, dtype=np.int32)


def _points_in(rng: np.random.Generator, polys: NDArray[np.object_]) -> NDArray[np.float64]:
    """One random point inside each polygon (falls back to a point on the surface)."""
    n = len(polys)
    out = shapely.get_coordinates(shapely.point_on_surface(polys))
    if n == 0:
        return out.reshape(0, 2)
    b = shapely.bounds(polys)
    tries = 16
    fx = rng.uniform(0.2, 0.8, size=(n, tries))
    fy = rng.uniform(0.2, 0.8, size=(n, tries))
    x = b[:, 0, None] + fx * (b[:, 2] - b[:, 0])[:, None]
    y = b[:, 1, None] + fy * (b[:, 3] - b[:, 1])[:, None]
    ok = shapely.contains_xy(np.repeat(polys[:, None], tries, axis=1), x, y)
    first = ok.argmax(axis=1)
    has = ok.any(axis=1)
    rows = np.flatnonzero(has)
    out[rows, 0] = x[rows, first[rows]]
    out[rows, 1] = y[rows, first[rows]]
    return np.round(out, 2)


# ---------------------------------------------------------------------------------------
# Background deposition
# ---------------------------------------------------------------------------------------


def _deposition(
    seed: int,
    origins: list[tuple[float, float]],
    farm_xy: NDArray[np.float64],
    farm_emission: NDArray[np.float64],
    density: int = 1,
) -> tuple[NDArray[np.float32], tuple[float, float, float, float]]:
    """Background deposition (mol N/ha/yr) on a 250 m grid over the sample extent.

    Its local term follows the farms' emission density (kg NH3/ha/yr) divided by ``density``,
    so that a denser sample keeps the background level of the density-1 sample.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    org = np.asarray(origins)
    xmin, ymin = org.min(axis=0)
    xmax, ymax = org.max(axis=0) + TILE_SIZE_M
    c = DEPOSITION_CELL_M
    nx, ny = round((xmax - xmin) / c), round((ymax - ymin) / c)
    xc = xmin + (np.arange(nx) + 0.5) * c
    yc = ymax - (np.arange(ny) + 0.5) * c
    gx, gy = np.meshgrid(xc, yc)

    def smooth_noise(sigma_cells: float) -> NDArray[np.float64]:
        z = gaussian_filter(rng.normal(size=(ny, nx)), sigma_cells, mode="reflect")
        return (z - z.mean()) / z.std()

    z = 0.8 * smooth_noise(24.0) + 0.45 * smooth_noise(6.0)
    gradient = 120.0 * (gx - 155_000.0) / 100_000.0 - 100.0 * (gy - 460_000.0) / 100_000.0
    # emission density of the farms (kg NH3/ha/yr), spread over ~0.5 and ~2.5 km
    col = np.clip(((farm_xy[:, 0] - xmin) / c).astype(np.int64), 0, nx - 1)
    row = np.clip(((ymax - farm_xy[:, 1]) / c).astype(np.int64), 0, ny - 1)
    emis = np.zeros((ny, nx))
    np.add.at(emis, (row, col), farm_emission)
    emis /= c * c / 1e4 * density
    local = 0.4 * gaussian_filter(emis, 2.0, mode="constant") + 0.6 * gaussian_filter(
        emis, 10.0, mode="constant"
    )
    dep = 930.0 + 160.0 * z + gradient + 13.0 * local
    # soft floor at 700 (no pile-up of clipped cells), hard cap at 3500
    dep = 700.0 + 80.0 * np.logaddexp(0.0, (dep - 700.0) / 80.0)
    dep = np.minimum(dep, 3500.0)
    inside = np.zeros((ny, nx), dtype=bool)
    for ox, oy in origins:
        inside |= (gx >= ox) & (gx < ox + TILE_SIZE_M) & (gy >= oy) & (gy < oy + TILE_SIZE_M)
    out = np.where(inside, np.round(dep, 1), NODATA).astype(np.float32)
    return out, (xmin, ymin, xmax, ymax)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _fixed_gdal_date() -> Iterator[None]:
    """Pin the GeoPackage 'last change' timestamp so that files are reproducible."""
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_GPKG_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _write_gpkg(
    path: Path,
    layer: str,
    geometry_type: str,
    wkb: NDArray[np.object_],
    fields: dict[str, NDArray[np.generic]],
) -> None:
    with _atomic(path) as tmp, _fixed_gdal_date():
        pyogrio.raw.write(
            str(tmp),
            wkb,
            list(fields.values()),
            list(fields),
            layer=layer,
            driver="GPKG",
            geometry_type=geometry_type,
            crs=CRS,
            encoding="UTF-8",
        )


def _write_raster(path: Path, data: NDArray[np.float32], bounds: tuple[float, ...]) -> None:
    xmin, _, _, ymax = bounds
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": from_origin(xmin, ymax, DEPOSITION_CELL_M, DEPOSITION_CELL_M),
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with _atomic(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
            dst.set_band_description(1, "background N deposition, mol N/ha/yr")
            dst.update_tags(1, units="mol N/ha/yr")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _str_array(values: list[str | None] | NDArray[np.object_]) -> NDArray[np.object_]:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def generate_sample(
    out_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = 1,
    params: Parameters | None = None,
    workers: int = 1,
    density: int = 1,
) -> SampleSummary:
    """Generate the synthetic sample region into ``out_dir``.

    Parameters
    ----------
    out_dir
        Folder for the files (created if needed). Existing sample files are replaced.
    seed
        Non-negative integer; the same seed (and scale) gives byte-identical files.
    scale
        Number of 40 x 40 km tiles (1 to 200). ``1`` is one tile with all nine area
        archetypes; ``32`` is about national size.
    params
        Parameters for KDW values and livestock emission factors; defaults to
        :func:`n2kzones.params.load_parameters`.
    workers
        Processes generating tiles in parallel (default 1: in this process). The output
        does not depend on it. With more than one, tiles are generated in "spawn" worker
        processes, so call this from the CLI, a notebook, or a script whose top-level code
        is guarded by ``if __name__ == "__main__":``.
    density
        Integer multiplier ``K`` of the parcels and farms (1 to ``MAX_DENSITY`` = 8; default
        1, the standard sample). Every tile keeps its areas, habitats and background grid
        (identical geometry) and gets:

        * about ``K`` times the parcels: the tessellation's mean field area is
          ``MEAN_CELL_AREA_M2 / K`` m2 (the same field lattice made ``K`` times finer, not
          fields split afterwards). Faces cut by area boundaries and ditch strips do not
          multiply with the lattice, so the one-tile sample gets 2.0x at ``K`` = 2 and 3.65x
          at ``K`` = 4; ``scale=32`` gets 4.0x at ``K`` = 4.
        * ``K`` times the farms: the farm count drawn per tile is multiplied by ``K`` (capped,
          as before, by the candidate home parcels) and each farm aims at ``1/K`` of the
          hectares its herd would claim, so that with parcels ``K`` times smaller a farm owns
          about as many parcels as at density 1 and the agricultural land suffices for all.
          Herds per farm are unchanged (the total emission is about ``K`` times); the farm
          term of the background deposition is divided by ``K`` to keep its level.

        The random streams are those of density 1, so ``density=1`` gives the files of the
        standard sample byte for byte; the manifest records ``density`` only when it is not 1.

    Returns
    -------
    SampleSummary
        Paths of the files written and feature counts.

    Raises
    ------
    ConfigError
        If ``seed``, ``scale``, ``workers`` or ``density`` is out of range, or ``params``
        lacks a habitat type or an animal category the generator uses.

    Notes
    -----
    Files written (all EPSG:28992): ``natura2000.gpkg`` (layer ``natura2000``),
    ``habitats.gpkg`` (``habitats``), ``brp_gewaspercelen.gpkg`` (``brp_gewas``),
    ``veehouderijen.gpkg`` (``veehouderijen``), ``background_deposition.tif`` (250 m,
    mol N/ha/yr, nodata -9999) and ``manifest.json`` (seed, scale, density if not 1, tiles,
    counts, sha256).
    """
    t_start = time.perf_counter()
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    _check_scale(scale)
    scale = int(scale)
    params = load_parameters() if params is None else params
    _check_params(params)
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    _check_density(density)
    density = int(density)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)

    origins = tile_origins(scale)
    plans = _tile_kinds(scale)
    tiles: list[_Tile] = []
    for tile in _run_tiles(seed, origins, plans, params, int(workers), density):
        tiles.append(tile)
        logger.debug(
            "tile %d/%d at %s: %d areas, %d parcels, %d farms (%.1f s since start)",
            tile.index + 1,
            scale,
            tile.origin,
            len(tile.area_kinds),
            len(tile.parcel_wkb),
            len(tile.farm_type),
            time.perf_counter() - t_start,
        )
    _stitch_tiles(tiles)
    t_gen = time.perf_counter()

    paths = {key: out_dir / fname for key, (fname, _) in FILES.items()}
    counts, farm_xy, farm_em = _write_all(tiles, seed, paths, params)
    del tiles  # the parcel WKB is the bulk of the memory
    dep_path = out_dir / DEPOSITION_FILE
    dep, bounds = _deposition(seed, origins, farm_xy, farm_em, density)
    _write_raster(dep_path, dep, bounds)

    files = {
        p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size}
        for p in [*paths.values(), dep_path]
    }
    valid = dep[dep != NODATA]
    manifest = {
        "generator": "n2kzones.datasets.sample",
        "version": __version__,
        "seed": seed,
        "scale": scale,
        "crs": CRS,
        "tile_size_m": TILE_SIZE_M,
        "tiles": [
            {"index": i, "origin_x_m": o[0], "origin_y_m": o[1], "area_kinds": list(k)}
            for i, (o, k) in enumerate(zip(origins, plans, strict=True))
        ],
        "counts": {
            "natura2000": counts["natura2000"],
            "habitats": counts["habitats"],
            "brp_gewas": counts["parcels"],
            "veehouderijen": counts["farms"],
            "deposition_cells": int(valid.size),
        },
        "deposition_mol_ha": {
            "min": round(float(valid.min()), 1),
            "mean": round(float(valid.mean()), 1),
            "max": round(float(valid.max()), 1),
        },
        "files": files,
    }
    if density != 1:  # absent means 1: the standard sample's manifest stays as it was
        manifest["density"] = density
    man_path = out_dir / MANIFEST_FILE
    with _atomic(man_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    logger.info(
        "sample seed=%d scale=%d density=%d: %d areas, %d habitat patches, %d parcels, %d farms "
        "in %.1f s (generate %.1f s, write %.1f s) -> %s",
        seed,
        scale,
        density,
        counts["natura2000"],
        counts["habitats"],
        counts["parcels"],
        counts["farms"],
        time.perf_counter() - t_start,
        t_gen - t_start,
        time.perf_counter() - t_gen,
        out_dir,
    )
    return SampleSummary(
        out_dir=out_dir,
        natura2000_path=paths["natura2000"],
        habitats_path=paths["habitats"],
        parcels_path=paths["parcels"],
        farms_path=paths["farms"],
        deposition_path=dep_path,
        manifest_path=man_path,
        seed=seed,
        scale=scale,
        n_tiles=scale,
        n_areas=counts["natura2000"],
        n_habitats=counts["habitats"],
        n_parcels=counts["parcels"],
        n_farms=counts["farms"],
        density=density,
    )


def _tile_job(
    seed: int,
    index: int,
    origin: tuple[float, float],
    kinds: tuple[str, ...],
    params: Parameters,
    density: int,
) -> _Tile:
    tile = _generate_tile(seed, index, origin, kinds, params, density)
    tile.farm_emission = _emission(tile.farm_animals, params)
    return tile


def _run_tiles(
    seed: int,
    origins: list[tuple[float, float]],
    plans: list[tuple[str, ...]],
    params: Parameters,
    workers: int,
    density: int = 1,
) -> Iterator[_Tile]:
    """Generate the tiles in order, in this process or in a pool of ``workers`` processes."""
    n = len(origins)
    args = ([seed] * n, list(range(n)), origins, plans, [params] * n, [density] * n)
    if workers <= 1 or n == 1:
        yield from map(_tile_job, *args)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a possibly threaded parent
    try:
        with ProcessPoolExecutor(max_workers=min(workers, n), mp_context=ctx, initializer=exit_with_parent) as pool:
            yield from pool.map(_tile_job, *args)
    except BrokenProcessPool as exc:
        raise RuntimeError(
            "a sample worker process died; with workers > 1 the calling script must guard "
            "its top-level code with `if __name__ == '__main__':` (or use workers=1)"
        ) from exc


def _stitch_tiles(tiles: list[_Tile]) -> None:
    """Give parcels on both sides of a tile seam the same vertices along the seam.

    Tiles are tessellated independently, so the nodes on a shared tile edge differ on its
    two sides (T-junctions; no overlap, as both sides lie exactly on the straight edge).
    Inserting the other side's seam vertices makes the whole parcel layer a clean coverage.
    """
    if len(tiles) < 2:
        return
    size = TILE_SIZE_M
    by_origin = {t.origin: t for t in tiles}
    geoms = {t.index: shapely.from_wkb(t.parcel_wkb[t.parcel_edge]) for t in tiles}
    seam_xy = {}
    for t in tiles:
        xy = shapely.get_coordinates(geoms[t.index])
        ox, oy = t.origin
        on = (xy[:, 0] == ox) | (xy[:, 0] == ox + size) | (xy[:, 1] == oy) | (xy[:, 1] == oy + size)
        seam_xy[t.index] = np.unique(xy[on], axis=0)
    for t in tiles:
        ox, oy = t.origin
        g = geoms[t.index]
        b = shapely.bounds(g)
        # (neighbour offset, coordinate axis, seam value, bounds column touching the seam)
        sides = (
            ((-size, 0.0), 0, ox, 0),
            ((size, 0.0), 0, ox + size, 2),
            ((0.0, -size), 1, oy, 1),
            ((0.0, size), 1, oy + size, 3),
        )
        for (dx, dy), axis, value, col in sides:
            nb = by_origin.get((ox + dx, oy + dy))
            if nb is None:
                continue
            pts = seam_xy[nb.index]
            pts = pts[pts[:, axis] == value]
            rows = np.flatnonzero(b[:, col] == value)
            if len(pts) == 0 or len(rows) == 0:
                continue
            g[rows] = shapely.snap(g[rows], shapely.multipoints(pts), tolerance=0.001)
        t.parcel_wkb[t.parcel_edge] = shapely.to_wkb(g)


def _check_params(params: Parameters) -> None:
    missing = [c for c in _GENERATED_ANIMALS if c not in params.livestock]
    if missing:
        raise ConfigError(
            f"the sample generator needs livestock categories {missing} in the parameters "
            "([parameters.livestock.<name>])"
        )
    codes = sorted({c for pal in _PALETTES.values() for c, _ in pal})
    unknown = [c for c in codes if c not in params.kdw.habitats]
    if unknown:
        raise ConfigError(
            f"the sample generator needs KDW values for habitat types {unknown} "
            "([parameters.kdw.habitats])"
        )


def _emission(animals: dict[str, NDArray[np.int32]], params: Parameters) -> NDArray[np.float64]:
    """Farm NH3 emission, kg/yr: sum over categories (table order) of count x factor."""
    n = len(next(iter(animals.values())))
    total = np.zeros(n, dtype=np.float64)
    for cat, lv in params.livestock.items():
        counts = animals.get(cat)
        if counts is not None:
            total = total + counts.astype(np.float64) * lv.emission_kg_nh3_per_animal
    return total


def _write_all(
    tiles: list[_Tile], seed: int, paths: dict[str, Path], params: Parameters
) -> tuple[dict[str, int], NDArray[np.float64], NDArray[np.float64]]:
    """Write the four GeoPackages; returns (feature counts, farm xy, farm emission)."""
    # --- Natura 2000 areas ------------------------------------------------------------
    kinds = [k for t in tiles for k in t.area_kinds]
    geoms = [g for t in tiles for g in t.area_geoms]
    n_areas = len(kinds)
    numbers = np.arange(1, n_areas + 1, dtype=np.int32)
    site_codes = [f"NL{2003000 + int(n)}" for n in numbers]
    names = _area_names(seed, kinds)
    _write_gpkg(
        paths["natura2000"],
        FILES["natura2000"][1],
        "MultiPolygon",
        shapely.to_wkb(np.asarray(geoms, dtype=object)),
        {
            "site_code": _str_array(site_codes),
            "area_number": numbers,
            "name": _str_array(names),
            "nitrogen_sensitive": np.array([k != "lake" for k in kinds], dtype=bool),
        },
    )

    # --- habitats -----------------------------------------------------------------------
    offsets = np.cumsum([0] + [len(t.area_kinds) for t in tiles])
    hab_site = np.concatenate(
        [np.asarray(site_codes, dtype=object)[offsets[i] + t.hab_area] for i, t in enumerate(tiles)]
    )
    hab_code = np.concatenate([np.asarray(t.hab_code, dtype=object) for t in tiles])
    hab_wkb = np.concatenate([t.hab_wkb for t in tiles])
    kdw = np.array([params.kdw.kdw_of(c) for c in hab_code], dtype=np.float64)
    _write_gpkg(
        paths["habitats"],
        FILES["habitats"][1],
        "MultiPolygon",
        hab_wkb,
        {"site_code": hab_site, "habitat_code": hab_code, "kdw_mol_ha": kdw},
    )

    # --- farms --------------------------------------------------------------------------
    farm_ids_per_tile = [
        np.array([f"F{t.index:03d}{i + 1:05d}" for i in range(len(t.farm_type))], dtype=object)
        for t in tiles
    ]
    farm_xy = np.concatenate([t.farm_xy for t in tiles])
    farm_em = np.concatenate([t.farm_emission for t in tiles])
    farm_fields: dict[str, NDArray[np.generic]] = {
        "farm_id": np.concatenate(farm_ids_per_tile),
        "farm_type": np.asarray(FARM_TYPES, dtype=object)[
            np.concatenate([t.farm_type for t in tiles])
        ],
    }
    for cat in params.animal_categories:
        farm_fields[cat] = np.concatenate(
            [t.farm_animals.get(cat, np.zeros(len(t.farm_type), dtype=np.int32)) for t in tiles]
        ).astype(np.int32)
    farm_fields["emission_kg_nh3"] = farm_em
    farm_fields["source_height_m"] = np.concatenate([t.farm_height for t in tiles])
    _write_gpkg(
        paths["farms"],
        FILES["farms"][1],
        "Point",
        shapely.to_wkb(shapely.points(farm_xy)),
        farm_fields,
    )

    # --- parcels --------------------------------------------------------------------------
    crop = np.concatenate([t.parcel_crop for t in tiles])
    farm_id = np.concatenate(
        [
            np.where(t.parcel_farm >= 0, farm_ids_per_tile[i][np.maximum(t.parcel_farm, 0)], None)
            if len(farm_ids_per_tile[i])
            else np.full(len(t.parcel_farm), None, dtype=object)
            for i, t in enumerate(tiles)
        ]
    ).astype(object)
    wkb = np.concatenate([t.parcel_wkb for t in tiles])
    n_parcels = len(wkb)
    crop_cat = np.asarray([c[0] for c in CROPS], dtype=object)
    crop_code = np.asarray([c[1] for c in CROPS], dtype=np.int32)
    crop_name = np.asarray([c[2] for c in CROPS], dtype=object)
    _write_gpkg(
        paths["parcels"],
        FILES["parcels"][1],
        "Polygon",
        wkb,
        {
            "category": crop_cat[crop],
            "gewas": crop_name[crop],
            "gewascode": crop_code[crop],
            "jaar": np.full(n_parcels, YEAR, dtype=np.int32),
            "status": np.full(n_parcels, "Definitief", dtype=object),
            "farm_id": farm_id,
        },
    )
    counts = {
        "natura2000": n_areas,
        "habitats": len(hab_wkb),
        "parcels": n_parcels,
        "farms": len(farm_xy),
    }
    return counts, farm_xy, farm_em
