"""Geometry helpers for the synthetic sample region (private; see :mod:`n2kzones.datasets.sample`).

Everything here is a pure function of its arguments and a ``numpy.random.Generator``, so the
sample generator stays deterministic. Coordinates are metres in RD New (EPSG:28992), snapped
to a 1 cm grid (:data:`GRID_M`); overlays use that grid. The parcel tessellation is the
polygonized, snap-rounded union of all field, block, strip and area boundary lines, so
neighbouring parcels share exactly the same edges (a clean coverage, no slivers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiPolygon, Polygon

GRID_M = 0.01
"""Precision grid (metres) of all generated coordinates."""

_TWO_PI = 2.0 * np.pi


# --------------------------------------------------------------------------------------
# Basic shapes
# --------------------------------------------------------------------------------------


def blob(
    rng: np.random.Generator,
    area_m2: float,
    *,
    aspect: float = 1.0,
    roughness: float = 0.22,
    n_vertices: int = 192,
) -> Polygon:
    """Irregular, smooth, star-shaped polygon of a given area centred on the origin.

    The radius is ``1 + sum_k a_k cos(k theta + phi_k)`` (random Fourier perturbation,
    amplitudes decaying with the harmonic ``k``), stretched by ``aspect`` and rotated at
    random. A star-shaped ring with a positive radius is always simple, so the result is
    valid by construction.
    """
    theta = np.linspace(0.0, _TWO_PI, n_vertices, endpoint=False)
    k = np.arange(2, 13, dtype=float)
    amp = roughness * k**-1.3 * rng.normal(size=k.size)
    phase = rng.uniform(0.0, _TWO_PI, size=k.size)
    r = 1.0 + (amp[:, None] * np.cos(k[:, None] * theta + phase[:, None])).sum(axis=0)
    kf = np.arange(13, 33, dtype=float)
    ampf = 0.25 * roughness * kf**-1.0 * rng.normal(size=kf.size)
    phasef = rng.uniform(0.0, _TWO_PI, size=kf.size)
    r += (ampf[:, None] * np.cos(kf[:, None] * theta + phasef[:, None])).sum(axis=0)
    r = np.maximum(r, 0.35)
    stretch = np.sqrt(aspect)
    x = r * np.cos(theta) * stretch
    y = r * np.sin(theta) / stretch
    angle = rng.uniform(0.0, np.pi)
    ca, sa = np.cos(angle), np.sin(angle)
    xr, yr = ca * x - sa * y, sa * x + ca * y
    poly = Polygon(np.column_stack([xr, yr]))
    s = np.sqrt(area_m2 / poly.area)
    return snap(shapely.transform(poly, lambda c: c * s))


def meander_valley(
    rng: np.random.Generator, length_m: float, width_m: float
) -> Polygon | MultiPolygon:
    """Elongated stream-valley shape: a buffered meandering line plus a few bulges."""
    t = np.linspace(0.0, length_m, 160)
    y = np.zeros_like(t)
    for _ in range(3):
        wavelength = rng.uniform(0.25, 0.7) * length_m
        amplitude = rng.uniform(0.03, 0.08) * length_m
        y += amplitude * np.sin(_TWO_PI * t / wavelength + rng.uniform(0, _TWO_PI))
    line = LineString(np.column_stack([t - length_m / 2.0, y]))
    parts = [line.buffer(width_m / 2.0, quad_segs=8)]
    for _ in range(int(rng.integers(3, 7))):
        p = line.interpolate(rng.uniform(0.1, 0.9), normalized=True)
        b = blob(rng, rng.uniform(0.6, 1.6) * width_m**2, aspect=rng.uniform(1.0, 2.5))
        parts.append(shapely.transform(b, lambda c, p=p: c + np.array([p.x, p.y])))
    shape = shapely.union_all(parts)
    angle = rng.uniform(0.0, np.pi)
    ca, sa = np.cos(angle), np.sin(angle)
    rot = np.array([[ca, sa], [-sa, ca]])
    return snap(shapely.transform(shape, lambda c: c @ rot))


def with_enclaves(
    rng: np.random.Generator, outer: Polygon, n_enclaves: int, area_range_m2: tuple[float, float]
) -> Polygon:
    """``outer`` with ``n_enclaves`` farmland enclaves cut out as interior rings (holes)."""
    core = outer.buffer(-400.0)
    holes: list[Polygon] = []
    minx, miny, maxx, maxy = outer.bounds
    for _ in range(400):
        if len(holes) == n_enclaves:
            break
        hole = blob(rng, rng.uniform(*area_range_m2), aspect=rng.uniform(1.0, 2.0), roughness=0.15)
        cx, cy = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        hole = translate(hole, cx, cy)
        if not core.contains(hole):
            continue
        if any(hole.distance(h) < 500.0 for h in holes):
            continue
        holes.append(hole)
    if not holes:
        return outer
    result = snap(shapely.difference(outer, shapely.union_all(holes), grid_size=GRID_M))
    return result if isinstance(result, Polygon) else outer


def fragments(
    rng: np.random.Generator, n_parts: int, area_range_m2: tuple[float, float], spread_m: float
) -> MultiPolygon:
    """``n_parts`` separate blobs scattered around the origin (a multipart area)."""
    parts: list[Polygon] = []
    for _ in range(2000):
        if len(parts) == n_parts:
            break
        part = blob(rng, rng.uniform(*area_range_m2), aspect=rng.uniform(1.0, 2.2))
        r = spread_m * np.sqrt(rng.uniform(0.0, 1.0))
        phi = rng.uniform(0.0, _TWO_PI)
        part = translate(part, r * np.cos(phi), r * np.sin(phi))
        if any(part.distance(p) < 250.0 for p in parts):
            continue
        parts.append(part)
    return MultiPolygon(parts)


# --------------------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------------------


def snap(geom: shapely.Geometry) -> shapely.Geometry:
    """Geometry snapped to the 1 cm grid (also makes it valid)."""
    return shapely.set_precision(geom, GRID_M)


def translate(geom: shapely.Geometry, dx: float, dy: float) -> shapely.Geometry:
    """Geometry shifted by (dx, dy), snapped to the grid."""
    off = np.array([dx, dy])
    return snap(shapely.transform(geom, lambda c: c + off))


def to_multi(geom: shapely.Geometry) -> MultiPolygon:
    """The polygonal parts of ``geom`` as a MultiPolygon (drops points/lines)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return MultiPolygon(parts)


def fourier_field(
    rng: np.random.Generator, n_waves: int, wavelength_range_m: tuple[float, float]
) -> Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]:
    """A smooth random field ``f(x, y)`` with mean 0 and standard deviation ~1.

    Sum of ``n_waves`` plane cosine waves with random direction, wavelength and phase.
    """
    lam = rng.uniform(*wavelength_range_m, size=n_waves)
    ang = rng.uniform(0.0, np.pi, size=n_waves)
    kx, ky = _TWO_PI / lam * np.cos(ang), _TWO_PI / lam * np.sin(ang)
    phase = rng.uniform(0.0, _TWO_PI, size=n_waves)
    norm = np.sqrt(2.0 / n_waves)

    def field(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=float)[..., None]
        y = np.asarray(y, dtype=float)[..., None]
        return norm * np.cos(kx * x + ky * y + phase).sum(axis=-1)

    return field


def random_points_in(
    rng: np.random.Generator, geom: shapely.Geometry, n: int
) -> NDArray[np.float64]:
    """``n`` uniform random points inside ``geom`` (rejection sampling), shape (n, 2)."""
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    out: list[NDArray[np.float64]] = []
    have = 0
    while have < n:
        batch = max(64, 2 * (n - have))
        xy = np.column_stack(
            [rng.uniform(minx, maxx, size=batch), rng.uniform(miny, maxy, size=batch)]
        )
        xy = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]
        out.append(xy)
        have += len(xy)
    return np.concatenate(out)[:n]


def voronoi_cells(points: NDArray[np.float64], extent: Polygon) -> NDArray[np.object_]:
    """Voronoi cells of ``points`` (in point order), snapped and clipped to ``extent``."""
    mp = shapely.multipoints(points)
    cells = shapely.get_parts(shapely.voronoi_polygons(mp, extend_to=extent, ordered=True))
    cells = snap(cells)
    inside = shapely.within(cells, extent)
    out = cells.copy()
    out[~inside] = shapely.intersection(cells[~inside], extent, grid_size=GRID_M)
    return out


# --------------------------------------------------------------------------------------
# Placement
# --------------------------------------------------------------------------------------


def place(
    rng: np.random.Generator,
    make_shape: Callable[[np.random.Generator], shapely.Geometry],
    inner: Polygon,
    others: Sequence[shapely.Geometry],
    min_gap_m: float,
    tries: int = 600,
) -> shapely.Geometry | None:
    """Translate a freshly made shape to a random spot inside ``inner``, keeping a gap.

    A new shape is drawn every 40 tries. Returns None when nothing fitted.
    """
    minx, miny, maxx, maxy = inner.bounds
    others_arr = np.asarray(others, dtype=object)
    shapely.prepare(inner)
    shape = None
    for i in range(tries):
        if i % 40 == 0:
            shape = make_shape(rng)
        cand = translate(shape, rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if not inner.contains(cand):
            continue
        if len(others_arr) and shapely.distance(others_arr, cand).min() < min_gap_m:
            continue
        return cand
    return None


def place_at_gap(
    rng: np.random.Generator,
    anchor: shapely.Geometry,
    shape: shapely.Geometry,
    gap_m: float,
    inner: Polygon,
    others: Sequence[shapely.Geometry],
    min_gap_m: float,
    tries: int = 60,
) -> shapely.Geometry | None:
    """Put ``shape`` (centred on the origin) at edge-to-edge distance ``gap_m`` from ``anchor``.

    For a random direction, bisects the offset along that direction until the distance
    equals ``gap_m`` (to 0.5 m); then checks ``inner`` and the gap to ``others``.
    """
    c = anchor.centroid
    others_arr = np.asarray(others, dtype=object)
    reach = np.sqrt(anchor.envelope.area) + np.sqrt(shape.envelope.area) + 2.0 * gap_m
    for _ in range(tries):
        phi = rng.uniform(0.0, _TWO_PI)
        ux, uy = np.cos(phi), np.sin(phi)

        def at(t: float, ux: float = ux, uy: float = uy) -> shapely.Geometry:
            return translate(shape, c.x + t * ux, c.y + t * uy)

        lo, hi = 0.0, reach
        if anchor.distance(at(hi)) <= gap_m:
            continue
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            d = anchor.distance(at(mid))
            if abs(d - gap_m) < 0.5:
                lo = hi = mid
                break
            if d < gap_m:
                lo = mid
            else:
                hi = mid
        cand = at(0.5 * (lo + hi))
        if abs(anchor.distance(cand) - gap_m) > 2.0:
            continue
        if not inner.contains(cand):
            continue
        if len(others_arr) and shapely.distance(others_arr, cand).min() < min_gap_m:
            continue
        return cand
    return None


# --------------------------------------------------------------------------------------
# Field-like tessellation
# --------------------------------------------------------------------------------------


def field_linework(
    rng: np.random.Generator,
    extent: Polygon,
    n_blocks: int,
    cell_area_m2: float,
    *,
    thin: Callable[[NDArray[np.float64]], NDArray[np.bool_]],
    strip_allowed: Callable[[NDArray[np.object_]], NDArray[np.bool_]],
    strip_share: float,
    strip_width_m: Callable[[int], NDArray[np.float64]],
) -> tuple[list[shapely.Geometry], NDArray[np.object_], NDArray[np.object_], NDArray[np.float64]]:
    """Lines of a field-like tessellation of ``extent``, with strips along some fields.

    The extent is split into ``n_blocks`` polder blocks (Voronoi of random seeds); each block
    gets its own orientation, elongation (length/width 1.6-4.5), mean cell size and a
    jittered lattice of seeds. Field edges are the Voronoi edges of those seeds in a metric
    squeezed along the block orientation, stretched back (elongated, irregular fields),
    clipped to the block. ``thin(xy)`` returns which seeds to keep (fewer -> larger fields).

    A share ``strip_share`` of the fields for which ``strip_allowed(fields)`` holds gets a
    cut line parallel to one long side at ``strip_width_m(n)`` metres: the thin face between
    that line and the side becomes a ditch or hedgerow parcel.

    Returns
    -------
    lines
        Line geometries; node and polygonize them together with any other boundaries.
    bands
        Per strip, the polygon the strip face lies in (to recognise it after polygonizing).
    fields
        Per strip, the whole field it was cut from (same order as ``bands``).
    widths
        Per strip, its width in metres.
    """
    block_xy = random_points_in(rng, extent, n_blocks)
    blocks = voronoi_cells(block_xy, extent)
    lines: list[shapely.Geometry] = [extent.boundary, *shapely.boundary(blocks)]
    bands: list[NDArray[np.object_]] = []
    fields: list[NDArray[np.object_]] = []
    widths: list[NDArray[np.float64]] = []
    for block in blocks:
        if block.is_empty:
            continue
        a_cell = cell_area_m2 * rng.uniform(0.7, 1.35)
        ratio = rng.uniform(1.6, 4.5)
        s = np.sqrt(a_cell / ratio)  # lattice spacing in the squeezed (isotropic) frame
        jitter = rng.uniform(0.08, 0.3)
        angle = rng.uniform(0.0, np.pi)
        ca, sa = np.cos(angle), np.sin(angle)
        c = block.centroid
        # squeezed frame: rotate by -angle, then divide the long axis by `ratio`
        to_sq = np.array([[ca / ratio, -sa], [sa / ratio, ca]])  # row-vector transform
        from_sq = np.linalg.inv(to_sq)
        off = np.array([c.x, c.y])
        block_sq = shapely.transform(block, lambda xy, off=off, m=to_sq: (xy - off) @ m)
        minx, miny, maxx, maxy = block_sq.bounds
        gx = np.arange(minx - s * rng.uniform(0, 1), maxx + s, s)
        gy = np.arange(miny - s * rng.uniform(0, 1), maxy + s, s)
        u, v = np.meshgrid(gx, gy)
        u = u.ravel() + rng.uniform(-jitter, jitter, size=u.size) * s
        v = v.ravel() + rng.uniform(-jitter, jitter, size=v.size) * s
        shapely.prepare(block_sq)
        keep = shapely.contains_xy(block_sq, u, v)
        pts = np.column_stack([u[keep], v[keep]])
        pts = pts[thin(pts @ from_sq + off)] if len(pts) else pts
        if len(pts) < 3:
            continue
        env = shapely.box(minx - 2 * s, miny - 2 * s, maxx + 2 * s, maxy + 2 * s)
        mp = shapely.multipoints(pts)
        back = lambda xy, off=off, m=from_sq: xy @ m + off  # noqa: E731
        edges = shapely.voronoi_polygons(mp, extend_to=env, only_edges=True)
        edges = shapely.transform(edges, back)
        lines.append(shapely.intersection(edges, block))
        # strips along some fields of this block
        cells = shapely.transform(
            shapely.get_parts(shapely.voronoi_polygons(mp, extend_to=env)), back
        )
        pick = np.flatnonzero(rng.uniform(size=len(cells)) < strip_share)
        if pick.size == 0:
            continue
        cells = shapely.intersection(cells[pick], block, grid_size=GRID_M)
        cells = cells[(shapely.get_type_id(cells) == 3) & (shapely.area(cells) > 12_000.0)]
        cells = cells[strip_allowed(cells)] if len(cells) else cells
        if len(cells) == 0:
            continue
        w = strip_width_m(len(cells))
        cut, band = _strip_lines(cells, w, rng.uniform(size=len(cells)) < 0.5)
        lines.append(shapely.intersection(cut, cells))
        bands.append(shapely.intersection(band, cells, grid_size=GRID_M))
        fields.append(cells)
        widths.append(w)
    if bands:
        return lines, np.concatenate(bands), np.concatenate(fields), np.concatenate(widths)
    return lines, np.empty(0, dtype=object), np.empty(0, dtype=object), np.empty(0)


def _strip_lines(
    fields: NDArray[np.object_], widths_m: NDArray[np.float64], flip: NDArray[np.bool_]
) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    """Cut line at ``widths_m`` inside a long side of each field and the band it bounds.

    The side is a long edge of the field's oriented envelope (the opposite one where
    ``flip``). The line and band overshoot the field by 10 m; clip them to the field.
    """
    env = shapely.oriented_envelope(fields)
    xy = shapely.get_coordinates(env).reshape(len(fields), 5, 2)
    p0, p1, p2, p3 = xy[:, 0], xy[:, 1], xy[:, 2], xy[:, 3]
    long01 = np.hypot(*(p1 - p0).T) >= np.hypot(*(p2 - p1).T)
    lo = long01[:, None]
    a = np.where(lo, p0, p1)
    b = np.where(lo, p1, p2)
    inward = np.where(lo, p3 - p0, p0 - p1)
    fl = flip[:, None]
    a, b = np.where(fl, np.where(lo, p3, p0), a), np.where(fl, np.where(lo, p2, p3), b)
    inward = np.where(fl, -inward, inward)
    n = inward / np.maximum(np.hypot(*inward.T), 1e-9)[:, None]
    t = (b - a) / np.maximum(np.hypot(*(b - a).T), 1e-9)[:, None]
    w = widths_m[:, None]
    a0, b0 = a - 10.0 * t, b + 10.0 * t
    cut = shapely.linestrings(np.stack([a0 + n * w, b0 + n * w], axis=1))
    ring = [a0 - 10.0 * n, b0 - 10.0 * n, b0 + n * w, a0 + n * w, a0 - 10.0 * n]
    band = shapely.polygons(np.stack(ring, axis=1))
    return cut, band


def polygonize_lines(lines: Sequence[shapely.Geometry]) -> NDArray[np.object_]:
    """Faces of the noded (snap-rounded to the 1 cm grid) union of ``lines``.

    Every pair of adjacent faces shares exactly the same edge (a clean coverage).
    """
    flat = np.concatenate([np.atleast_1d(np.asarray(g, dtype=object)) for g in lines])
    parts = shapely.get_parts(shapely.get_parts(flat))
    parts = parts[~shapely.is_empty(parts)]
    noded = shapely.union_all(parts, grid_size=GRID_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    return faces[shapely.area(faces) > 0.0]


# --------------------------------------------------------------------------------------
# Habitat patches
# --------------------------------------------------------------------------------------


def habitat_patches(
    rng: np.random.Generator,
    area: shapely.Geometry,
    cell_area_m2: float,
    coverage: float,
) -> list[shapely.Geometry]:
    """Voronoi-like habitat patches inside ``area`` covering about ``coverage`` of it.

    Fine Voronoi cells clipped to the area are grouped into patches (cells nearest to the
    same patch centre); patches are taken in random order until the coverage is reached.
    Returned patches are disjoint and lie inside ``area``.
    """
    n_cells = int(np.clip(area.area / cell_area_m2, 12, 3000))
    pts = random_points_in(rng, area, n_cells)
    minx, miny, maxx, maxy = area.bounds
    env = shapely.box(minx - 100, miny - 100, maxx + 100, maxy + 100)
    cells = voronoi_cells(pts, env)
    cells = shapely.intersection(cells, area, grid_size=GRID_M)
    n_patch = max(3, n_cells // 5)
    _, label = cKDTree(pts[:n_patch]).query(pts)
    order = rng.permutation(n_patch)
    target = coverage * area.area
    patches: list[shapely.Geometry] = []
    total = 0.0
    for p in order:
        members = cells[label == p]
        if members.size == 0:
            continue
        g = shapely.union_all(members, grid_size=GRID_M)
        parts = [q for q in shapely.get_parts(g) if q.geom_type == "Polygon" and q.area > 1.0]
        if not parts:
            continue
        g = MultiPolygon(parts)
        patches.append(g)
        total += g.area
        if total >= target:
            break
    return patches
