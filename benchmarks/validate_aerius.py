"""Compare the project's deposition model with real AERIUS results, per distance band.

Two real AERIUS calculations from ``../shared/data/real`` (see its ``PROVENANCE.md``):

1. ``aerius-wommels-120koeien-2024``: one farm (960 kg NH3/yr, a stable polygon of ~0.3 ha)
   computed by AERIUS 2024.0.1 at 5 m and at 30 m emission height, NH3 deposition on 4,295
   hexagons (all 11-25 km from the farm: AERIUS's 25 km calculation range).
2. ``aerius-fryslan-landbouw-nh3-2024``: a formal AERIUS assessment of 3,474 agricultural
   NH3 emission cells (1 x 1 km surface sources, sector 4110, 5 m) with the deposition on
   38,541 hexagons of the northern Natura 2000 areas.

Models compared (both with the 1 ha disc average, radius sqrt(1e4 / pi) = 56.4 m, and the
25 km calculation range AERIUS used: ``with_max_distance = true`` in the Fryslan GML, and
no Wommels hexagon beyond 24,999 m):

* ``grass``: the default kernel (OPS-LT, 5 m source, grass, z0 0.1 m, NH3 background
  8 ug/m3) for every pair: ``DepositionModel(default_kernel(), receptor_radius_m=...)``;
* ``class``: the class-aware model (``classes=KernelTable.from_ops()``) with each source's
  own height (the OPS table's nodes run 1..15 m: a 30 m source is clamped to 15 m), the
  receptor's land use and z0, and the NH3 background of the RIVM GCN 2023 concentration map
  at the hexagon centre (8 ug/m3 where the map has no data).

The AERIUS files carry no habitat type per hexagon, so the receptor class is a documented
default, ``heath_other_nature`` with z0 0.1 m (``[receptor_classes] default_landuse`` of
``parameters.toml``), and two variants show the spread: ``grass`` z0 0.03 m and
``deciduous_forest`` z0 1.0 m (z0 per land use from ``[receptor_classes.z0_m]``).

Surface sources (the Wommels stable, the 1 km Fryslan cells) are spread over an ``n x n``
lattice of cell centres of the polygon's bounding box (default 5 x 5: 200 m apart in a 1 km
cell, 100 m from its edges); lattice points outside the polygon are dropped and the
emission is split evenly over the rest (the polygon's representative point if none is
inside). Distances to a hexagon are measured from its centre to the nearest source polygon
(0 inside one).

Prints the median model/AERIUS ratio per distance band; ``--json OUT`` writes all figures.
Skips (exit 0) if ``../shared`` is absent.

Run: ``.venv/bin/python benchmarks/validate_aerius.py [--json out.json] [--lattice 5]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import shapely

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "data" / "real"
WOMMELS = REAL / "aerius-wommels-120koeien-2024"
FRYSLAN = REAL / "aerius-fryslan-landbouw-nh3-2024"
BRONKENMERKEN = REAL / "aerius-standaard-bronkenmerken-2024"
GCN_NH3 = REAL / "gcn-nh3-concentratie-2023" / "conc_NH3_2023.asc"

IMAER = "{http://imaer.aerius.nl/6.0}"
GML = "{http://www.opengis.net/gml/3.2}"

#: AERIUS's calculation range (m), applied by AERIUS in both calculations.
AERIUS_RANGE_M = 25_000.0
#: NH3 background where the GCN map has no data (ug/m3), as [receptor_classes].
BG_FALLBACK_UG_M3 = 8.0
#: Distance bands (m); the last edge of each list is open-ended.
WOMMELS_BANDS_M = (0, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 20_000, 25_000)
FRYSLAN_BANDS_M = (0, 250, 500, 1000, 2000, math.inf)
#: Sector default emission heights (m) if a source has none and the xlsx cannot be read
#: (RIVM-AERIUS_Standaard-bronkenmerken_20241128: 4110 animal housing 5 m, 4120 manure 1.5 m).
SECTOR_HEIGHT_FALLBACK_M = {4110: 5.0, 4120: 1.5}


# ------------------------------------------------------------------------- reading


@dataclass
class Sources:
    """IMAER emission sources: one row per source, geometry in RD New."""

    ids: list[str]
    sector: np.ndarray  # int
    emission_kg_nh3: np.ndarray
    height_m: np.ndarray  # NaN where the GML gives none
    geometry: np.ndarray  # shapely Points / Polygons / LineStrings

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Receptors:
    """AERIUS result hexagons: receptor id, NH3 deposition (mol N/ha/yr), centre (RD New)."""

    ids: np.ndarray
    deposition: np.ndarray
    x: np.ndarray
    y: np.ndarray
    edge_effect: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.size)


def _geometry_of(el: Any) -> shapely.Geometry:
    g = el.find(f"{IMAER}geometry")
    poly = g.find(f".//{GML}Polygon")
    if poly is not None:
        rings = [np.array(r.text.split(), float).reshape(-1, 2) for r in poly.iter(f"{GML}posList")]
        return shapely.Polygon(rings[0], rings[1:])
    line = g.find(f".//{GML}LineString")
    if line is not None:
        return shapely.LineString(
            np.array(line.find(f"{GML}posList").text.split(), float).reshape(-1, 2)
        )
    return shapely.Point(*map(float, g.find(f".//{GML}pos").text.split()[:2]))


def read_imaer(fh: str | Path | IO[bytes]) -> tuple[Sources, Receptors | None]:
    """The emission sources and (if present) the receptor results of an IMAER 6 GML.

    Streams the file with lxml. A source is any feature with ``emissionSourceCharacteristics``
    (``EmissionSource``, ``FarmAnimalHousingSource``, ...); its NH3 emission is the direct
    ``emission/Emission[@substance="NH3"]`` child. Receptors: ``ReceptorPoint`` features
    with their NH3 ``DEPOSITION`` result and edge-effect flag; centres from the ids with
    :func:`n2kzones.deposition.receptor_grid.receptor_centres`.
    """
    from lxml import etree

    from n2kzones.deposition.receptor_grid import receptor_centres

    ids, sector, emis, height, geoms = [], [], [], [], []
    r_ids, r_dep, r_edge = [], [], []
    for _, el in etree.iterparse(fh, events=("end",), tag=f"{IMAER}featureMember"):
        feat = el[0]
        if feat.tag == f"{IMAER}ReceptorPoint":
            val = np.nan
            for res in feat.iter(f"{IMAER}CalculationResult"):
                if res.get("substance") == "NH3" and res.get("resultType") == "DEPOSITION":
                    val = float(res.find(f"{IMAER}value").text)
            edge = feat.find(f"{IMAER}edgeEffect")
            r_ids.append(int(feat.get("receptorPointId")))
            r_dep.append(val)
            r_edge.append(edge is not None and edge.text.strip().lower() == "true")
        elif feat.find(f"{IMAER}emissionSourceCharacteristics") is not None:
            e = 0.0
            for em in feat.findall(f"{IMAER}emission/{IMAER}Emission"):
                if em.get("substance") == "NH3":
                    e += float(em.find(f"{IMAER}value").text)
            h = feat.find(f".//{IMAER}emissionHeight")
            ids.append(feat.get(f"{GML}id"))
            sector.append(int(feat.get("sectorId", "0")))
            emis.append(e)
            height.append(float(h.text) if h is not None else np.nan)
            geoms.append(_geometry_of(feat))
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
    src = Sources(
        ids, np.array(sector, int), np.array(emis), np.array(height), np.array(geoms, dtype=object)
    )
    if not r_ids:
        return src, None
    rid = np.array(r_ids, np.int64)
    x, y = receptor_centres(rid)
    return src, Receptors(rid, np.array(r_dep), x, y, np.array(r_edge))


def read_fryslan(folder: Path = FRYSLAN) -> tuple[Sources, Receptors]:
    """Sources and hexagon results of the zipped Fryslan IMAER GML (streamed from the zip)."""
    (zpath,) = sorted(folder.glob("*.gml.zip"))
    with zipfile.ZipFile(zpath) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".gml")]
        with zf.open(name) as fh:
            src, rec = read_imaer(fh)
    if rec is None:
        raise ValueError(f"{zpath} holds no ReceptorPoint results")
    return src, rec


def read_gpkg_receptors(path: Path) -> Receptors:
    """AERIUS GeoPackage export: layer ``receptor_hexagons`` (receptor_id, deposition_nh3),
    sorted by receptor id."""
    import pyogrio

    from n2kzones.deposition.receptor_grid import receptor_centres

    df = pyogrio.read_dataframe(path, layer="receptor_hexagons", read_geometry=False)
    df = df.sort_values("receptor_id", kind="stable")  # the export's row order differs by run
    rid = df["receptor_id"].to_numpy(np.int64)
    x, y = receptor_centres(rid)
    return Receptors(
        rid, df["deposition_nh3"].to_numpy(float), x, y, df["edge_effect"].to_numpy(bool)
    )


def read_wommels(folder: Path = WOMMELS) -> dict[float, tuple[Sources, Receptors]]:
    """``{emission height (m): (sources, receptors)}`` of the scenario folders (5m/, 30m/)."""
    out: dict[float, tuple[Sources, Receptors]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        (gml,) = sorted(sub.glob("*.gml"))
        (gpkg,) = sorted(sub.glob("*.gpkg"))
        src, _ = read_imaer(gml)
        heights = set(src.height_m.tolist())
        if len(heights) != 1:
            raise ValueError(f"{gml}: expected one emission height, got {sorted(heights)}")
        out[heights.pop()] = (src, read_gpkg_receptors(gpkg))
    return dict(sorted(out.items()))


def sector_heights(folder: Path = BRONKENMERKEN) -> dict[int, float]:
    """AERIUS sector default emission heights (m) from the bronkenmerken xlsx (needs openpyxl;
    falls back to :data:`SECTOR_HEIGHT_FALLBACK_M`)."""
    try:
        import pandas as pd

        (xlsx,) = sorted(folder.glob("RIVM-AERIUS_Standaard-bronkenmerken*.xlsx"))
        df = pd.read_excel(xlsx, sheet_name="bronkenmerken")
        cols = {c.lower(): c for c in df.columns.astype(str)}
        sec = next(cols[c] for c in cols if "sector" in c and "id" in c or c.startswith("sector"))
        hgt = next(cols[c] for c in cols if "hoogte" in c or "height" in c)
        return {int(s): float(h) for s, h in zip(df[sec], df[hgt], strict=True) if str(s).isdigit()}
    except Exception:  # noqa: BLE001 - any failure: the documented fallback
        return dict(SECTOR_HEIGHT_FALLBACK_M)


def fill_heights(src: Sources) -> np.ndarray:
    """Each source's emission height: from the GML, else the sector default."""
    h = src.height_m.copy()
    miss = ~np.isfinite(h)
    if miss.any():
        table = sector_heights()
        h[miss] = [table.get(int(s), np.nan) for s in src.sector[miss]]
        if not np.isfinite(h).all():
            bad = sorted({int(s) for s in src.sector[~np.isfinite(h)]})
            raise ValueError(f"no emission height and no sector default for sectors {bad}")
    return h


def read_ascii_grid(path: Path = GCN_NH3) -> tuple[np.ndarray, dict[str, float]]:
    """An ESRI ASCII grid: values (rows from the north) and its header."""
    header: dict[str, float] = {}
    with open(path) as fh:
        for _ in range(6):
            k, v = fh.readline().split()
            header[k.lower()] = float(v)
        data = np.loadtxt(fh, dtype=float)
    return data.reshape(int(header["nrows"]), int(header["ncols"])), header


def sample_background(x: np.ndarray, y: np.ndarray, path: Path = GCN_NH3) -> np.ndarray:
    """NH3 background (ug/m3) of the GCN grid (RD New, EPSG:28992 assumed: no .prj) at points;
    :data:`BG_FALLBACK_UG_M3` where the grid has no data or the point is outside it."""
    grid, h = read_ascii_grid(path)
    top = h["yllcorner"] + h["nrows"] * h["cellsize"]
    col = np.floor((x - h["xllcorner"]) / h["cellsize"]).astype(np.int64)
    row = np.floor((top - y) / h["cellsize"]).astype(np.int64)
    ok = (row >= 0) & (row < grid.shape[0]) & (col >= 0) & (col < grid.shape[1])
    out = np.full(x.shape, BG_FALLBACK_UG_M3)
    v = grid[row[ok], col[ok]]
    good = np.isfinite(v) & (v != h["nodata_value"]) & (v > 0)
    sub = out[ok]
    sub[good] = v[good]
    out[ok] = sub
    return out


# --------------------------------------------------------------------- geometry


def spread_sources(src: Sources, heights_m: np.ndarray, n: int = 5) -> dict[str, np.ndarray]:
    """Point sources for the model: points as they are, surfaces on an ``n x n`` lattice.

    A polygon's bounding box is cut into ``n x n`` cells; the cell centres inside the
    polygon each get an equal share of the emission (the representative point if none
    is inside). A line gets ``n`` points evenly along it. Returns arrays ``x, y, e, h,
    owner`` (owner = source index).
    """
    xs, ys, es, hs, owner = [], [], [], [], []
    f = (np.arange(n) + 0.5) / n
    for i, (g, e, h) in enumerate(zip(src.geometry, src.emission_kg_nh3, heights_m, strict=True)):
        if isinstance(g, shapely.Polygon):
            x0, y0, x1, y1 = g.bounds
            gx, gy = np.meshgrid(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
            gx, gy = gx.ravel(), gy.ravel()
            inside = shapely.contains_xy(g, gx, gy)
            if not inside.any():
                p = g.representative_point()
                gx, gy, inside = np.array([p.x]), np.array([p.y]), np.array([True])
            px, py = gx[inside], gy[inside]
        elif isinstance(g, shapely.LineString):
            pts = shapely.line_interpolate_point(g, f, normalized=True)
            px, py = shapely.get_x(pts), shapely.get_y(pts)
        else:
            px, py = np.array([g.x]), np.array([g.y])
        xs.append(px)
        ys.append(py)
        es.append(np.full(px.size, e / px.size))
        hs.append(np.full(px.size, h))
        owner.append(np.full(px.size, i))
    return {
        k: np.concatenate(v)
        for k, v in (("x", xs), ("y", ys), ("e", es), ("h", hs), ("owner", owner))
    }


def nearest_source_distance(src: Sources, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance (m) from each point to the nearest source geometry (0 inside a polygon)."""
    tree = shapely.STRtree(src.geometry)
    pts = shapely.points(x, y)
    (_, _), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    return dist


# ----------------------------------------------------------------------- models


def receptor_variants() -> dict[str, tuple[str, float]]:
    """Receptor classes to try: the documented default first, then the spread."""
    from n2kzones.params import load_parameters

    rc = load_parameters().receptor_classes
    short = {"heath_other_nature": "heath", "deciduous_forest": "forest"}
    return {
        f"{short.get(lu, lu)} z0 {rc.z0_m[lu]:g}": (lu, rc.z0_m[lu])
        for lu in (rc.default_landuse, "grass", "deciduous_forest")
    }


def model_depositions(
    pts: dict[str, np.ndarray],
    rec: Receptors,
    bg_ug_m3: np.ndarray,
    cutoff_m: float | None,
    wind_rose: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Deposition (mol N/ha/yr) at the hexagon centres for every model; and the runtimes (s).

    ``grass`` = model (a), ``class <land use> z0 <m>`` = model (b) per receptor variant;
    ``grass+rose`` (a diagnostic, not one of the two models): model (a) with the packaged
    12-sector OPS wind rose (meteo 2005, region 5) instead of direction-averaged.
    """
    from n2kzones.deposition import default_kernel, load_wind_rose
    from n2kzones.deposition.classes import KernelTable, ReceptorTerms
    from n2kzones.deposition.kernel import HECTARE_DISC_RADIUS_M
    from n2kzones.deposition.model import DepositionModel

    kern = default_kernel()
    grass = DepositionModel(kern, receptor_radius_m=HECTARE_DISC_RADIUS_M, cutoff_m=cutoff_m)
    table = KernelTable.from_ops()
    cls = DepositionModel(
        kern, receptor_radius_m=HECTARE_DISC_RADIUS_M, cutoff_m=cutoff_m, classes=table
    )
    out: dict[str, np.ndarray] = {}
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    out["grass"] = grass.at_points(pts["x"], pts["y"], pts["e"], rec.x, rec.y)
    times["grass"] = time.perf_counter() - t0
    if wind_rose:
        t0 = time.perf_counter()
        rose = replace(grass, wind_rose=load_wind_rose())
        out["grass+rose"] = rose.at_points(pts["x"], pts["y"], pts["e"], rec.x, rec.y)
        times["grass+rose"] = time.perf_counter() - t0
    n = len(rec)
    for name, (lu, z0) in receptor_variants().items():
        terms = ReceptorTerms.from_values(
            table, np.full(n, lu, dtype=object), np.full(n, z0), bg_ug_m3
        )
        t0 = time.perf_counter()
        out[f"class {name}"] = cls.at_points(
            pts["x"],
            pts["y"],
            pts["e"],
            rec.x,
            rec.y,
            source_height_m=pts["h"],
            receptor_classes=terms,
        )
        times[f"class {name}"] = time.perf_counter() - t0
    return out, times


# ------------------------------------------------------------------------ stats


def _band_labels(edges: tuple[float, ...]) -> list[str]:
    def km(v: float) -> str:
        return f"{v:g}" if v < 1000 else f"{v / 1000:g}k"

    return [
        f"{km(a)}-{km(b)}" if math.isfinite(b) else f">{km(a)}"
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


def band_of(dist: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Band index per distance (``-1`` beyond the last edge)."""
    b = np.searchsorted(np.asarray(edges, float), dist, side="right") - 1
    return np.where(b >= len(edges) - 1, -1, b)


def _median(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def ratio(model: np.ndarray, aerius: np.ndarray) -> np.ndarray:
    """model / AERIUS, NaN where AERIUS is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(aerius > 0, model / aerius, np.nan)


def _fmt(v: float | None, w: int = 8) -> str:
    return f"{'-':>{w}}" if v is None else f"{v:{w}.3f}"


def _print_table(
    title: str,
    labels: list[str],
    cols: dict[str, list[float | None]],
    n: list[int],
    extra: dict[str, dict[str, float | None]] | None = None,
) -> None:
    """Rows = bands (and ``extra`` rows: name -> value per column), columns = models."""
    print(f"\n{title}")
    w = {c: max(8, len(c)) for c in cols}
    print(f"{'band (m)':>12} {'n':>6} " + " ".join(f"{c:>{w[c]}}" for c in cols))
    for i, lab in enumerate(labels):
        print(f"{lab:>12} {n[i]:6d} " + " ".join(_fmt(cols[c][i], w[c]) for c in cols))
    for name, row in (extra or {}).items():
        print(f"{name:>12} {'':6} " + " ".join(_fmt(row.get(c), w[c]) for c in cols))


# --------------------------------------------------------------------- the cases


def run_wommels(lattice: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    scen = read_wommels()
    t_read = time.perf_counter() - t0
    heights = list(scen)
    recs = [scen[h][1] for h in heights]
    if not all(np.array_equal(r.ids, recs[0].ids) for r in recs):
        raise ValueError("the Wommels scenarios have different receptor sets")
    rec = recs[0]
    src0 = scen[heights[0]][0]
    dist = nearest_source_distance(src0, rec.x, rec.y)
    bg = sample_background(rec.x, rec.y)
    labels = _band_labels(WOMMELS_BANDS_M)
    band = band_of(dist, WOMMELS_BANDS_M)
    n = [int((band == i).sum()) for i in range(len(labels))]
    dep: dict[float, dict[str, np.ndarray]] = {}
    times: dict[str, float] = {}
    for h in heights:
        src, r = scen[h]
        pts = spread_sources(src, fill_heights(src), lattice)
        dep[h], t = model_depositions(pts, rec, bg, AERIUS_RANGE_M)
        dep[h]["AERIUS"] = r.deposition
        times.update({f"{k} @ {h:g} m": v for k, v in t.items()})
    models = [k for k in dep[heights[0]] if k != "AERIUS"]
    res: dict[str, Any] = {
        "receptors": len(rec),
        "sources": len(src0),
        "emission_kg_nh3": float(src0.emission_kg_nh3.sum()),
        "lattice_points": int(spread_sources(src0, fill_heights(src0), lattice)["x"].size),
        "distance_m": {
            "min": float(dist.min()),
            "median": float(np.median(dist)),
            "max": float(dist.max()),
        },
        "nh3_background_ug_m3": {
            "min": float(bg.min()),
            "median": float(np.median(bg)),
            "max": float(bg.max()),
        },
        "bands": labels,
        "n": n,
        "median_ratio": {},
        "ratio_hi_lo": {},
        "aerius_median": {},
        "runtime_s": {"read": t_read, **times},
    }
    for h in heights:
        res["aerius_median"][f"{h:g} m"] = [
            _median(dep[h]["AERIUS"][band == i]) for i in range(len(labels))
        ]
        for m in models:
            rt = ratio(dep[h][m], dep[h]["AERIUS"])
            res["median_ratio"][f"{m} @ {h:g} m"] = [
                _median(rt[band == i]) for i in range(len(labels))
            ]
    lo, hi = heights[0], heights[-1]
    for m in ["AERIUS", *models]:
        rt = ratio(dep[hi][m], dep[lo][m])
        res["ratio_hi_lo"][m] = [_median(rt[band == i]) for i in range(len(labels))]
    res["heights_m"] = heights
    print(
        f"\n=== Wommels: one farm, {res['emission_kg_nh3']:g} kg NH3/yr, AERIUS at {heights} m "
        f"({len(rec)} hexagons, {dist.min() / 1000:.1f}-{dist.max() / 1000:.1f} km away; "
        f"stable polygon on a {lattice}x{lattice} lattice -> {res['lattice_points']} points; "
        f"NH3 background {bg.min():.1f}-{bg.max():.1f} ug/m3)"
    )
    for h in heights:
        _print_table(
            f"median model / AERIUS at {h:g} m emission height"
            + (
                " (class model: height clamped to 15 m, the top of the OPS table)" if h > 15 else ""
            ),
            labels,
            {m: res["median_ratio"][f"{m} @ {h:g} m"] for m in models},
            n,
        )
    _print_table(
        f"median ratio deposition {hi:g} m / {lo:g} m per hexagon", labels, res["ratio_hi_lo"], n
    )
    return res


def run_fryslan(lattice: int, no_cutoff: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    src, rec = read_fryslan()
    t_read = time.perf_counter() - t0
    heights = fill_heights(src)
    pts = spread_sources(src, heights, lattice)
    t0 = time.perf_counter()
    dist = nearest_source_distance(src, rec.x, rec.y)
    bg = sample_background(rec.x, rec.y)
    t_geom = time.perf_counter() - t0
    labels = _band_labels(FRYSLAN_BANDS_M)
    band = band_of(dist, FRYSLAN_BANDS_M)
    n = [int((band == i).sum()) for i in range(len(labels))]
    kinds = {
        "polygon": int(sum(isinstance(g, shapely.Polygon) for g in src.geometry)),
        "point": int(sum(isinstance(g, shapely.Point) for g in src.geometry)),
        "line": int(sum(isinstance(g, shapely.LineString) for g in src.geometry)),
    }
    res: dict[str, Any] = {
        "sources": len(src),
        "source_geometry": kinds,
        "lattice_points": int(pts["x"].size),
        "emission_kg_nh3": float(src.emission_kg_nh3.sum()),
        "heights_m": sorted(set(heights.tolist())),
        "receptors": len(rec),
        "edge_effect_true": int(rec.edge_effect.sum()),
        "receptors_beyond_range": int((dist > AERIUS_RANGE_M).sum()),
        "aerius_deposition": {
            "median": float(np.median(rec.deposition)),
            "max": float(rec.deposition.max()),
        },
        "nh3_background_ug_m3": {
            "min": float(bg.min()),
            "median": float(np.median(bg)),
            "max": float(bg.max()),
            "fallback_8": int((bg == BG_FALLBACK_UG_M3).sum()),
        },
        "bands": labels,
        "n": n,
        "runtime_s": {"read": t_read, "distance+background": t_geom},
        "cutoffs": {},
    }
    print(
        f"\n=== Fryslan: {len(src)} sources ({kinds['polygon']} polygons of ~1 km2, "
        f"{kinds['point']} points)"
        f" -> {pts['x'].size} lattice points ({lattice}x{lattice} per cell), "
        f"{res['emission_kg_nh3'] / 1e6:.2f} kt NH3/yr, heights {res['heights_m']} m; "
        f"{len(rec)} hexagons (edge effect flag on {res['edge_effect_true']}); "
        f"NH3 background {bg.min():.1f}-{bg.max():.1f} ug/m3 (median {np.median(bg):.1f})"
    )
    for cut in [AERIUS_RANGE_M] + ([None] if no_cutoff else []):
        key = "25 km" if cut else "none"
        dep, times = model_depositions(pts, rec, bg, cut, wind_rose=cut is not None)
        out: dict[str, Any] = {
            "median_ratio": {},
            "overall_median": {},
            "mean_ratio": {},
            "sum_ratio": {},
            "runtime_s": times,
        }
        for m, d in dep.items():
            rt = ratio(d, rec.deposition)
            out["median_ratio"][m] = [_median(rt[band == i]) for i in range(len(labels))]
            out["overall_median"][m] = _median(rt)
            out["mean_ratio"][m] = float(np.nanmean(rt))
            out["sum_ratio"][m] = float(d.sum() / rec.deposition.sum())
        res["cutoffs"][key] = out
        title = f"median model / AERIUS per band of distance to the nearest source (range {key})"
        _print_table(
            title,
            labels,
            out["median_ratio"],
            n,
            {
                "all (median)": out["overall_median"],
                "mean ratio": out["mean_ratio"],
                "sum ratio": out["sum_ratio"],
            },
        )
        print("runtimes (s): " + ", ".join(f"{m} {t:.1f}" for m, t in times.items()))
    print(
        "mean ratio = habitat-weighted mean with equal weights (each hexagon 1 ha: the file has no "
        "habitat surface per hexagon); sum ratio = sum(model) / sum(AERIUS) over all hexagons"
    )
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file")
    ap.add_argument(
        "--lattice", type=int, default=5, help="n x n points per surface source (default 5)"
    )
    ap.add_argument(
        "--no-cutoff",
        action="store_true",
        help="Fryslan: also run without the 25 km range (no wind-rose column; ~2.5 min)",
    )
    ap.add_argument("--only", choices=("wommels", "fryslan"), help="run one case")
    args = ap.parse_args(argv)
    if not REAL.is_dir():
        print(f"SKIPPED: real AERIUS data not found in {REAL} (../shared absent)")
        return 0
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "aerius_range_m": AERIUS_RANGE_M,
        "lattice": args.lattice,
        "receptor_variants": {k: list(v) for k, v in receptor_variants().items()},
    }
    if args.only in (None, "wommels"):
        out["wommels"] = run_wommels(args.lattice)
    if args.only in (None, "fryslan"):
        out["fryslan"] = run_fryslan(args.lattice, args.no_cutoff)
    out["runtime_total_s"] = time.perf_counter() - t0
    print(f"\ntotal {out['runtime_total_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
