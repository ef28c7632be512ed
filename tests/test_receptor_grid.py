"""AERIUS's receptor grid: ids, centres and hexagons against hand-computed answers and
against hexagons AERIUS itself wrote (IMAER GML and GeoPackage in ../shared)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from n2kzones.deposition import receptor_grid as rg
from n2kzones.deposition.receptor_grid import (
    hexagon_polygons,
    receptor_centres,
    receptor_ids_at,
    receptors_in_polygons,
)
from n2kzones.errors import CRSError, InputError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL = SHARED / "data" / "real"
FRYSLAN = REAL / "aerius-fryslan-landbouw-nh3-2024"
WOMMELS = REAL / "aerius-wommels-120koeien-2024"

# Independent of the module: a regular hexagon of 1 ha has side r with 3 sqrt(3)/2 r^2 = 1e4.
R = math.sqrt(2 * 10_000 / (3 * math.sqrt(3)))
H = math.sqrt(3) * R


def _rowcol_to_id(dy: int, dx: int) -> int:
    return dy * 1529 + dx + 1


# ------------------------------------------------------------------------- constants


def test_constants() -> None:
    assert (rg.MIN_X, rg.MIN_Y, rg.MAX_X, rg.MAX_Y) == (3604.0, 296800.0, 287959.0, 629300.0)
    assert rg.HEX_PER_ROW == 1529 and rg.ZOOM_LEVEL == 1
    assert rg.HEXAGON_RADIUS_M == pytest.approx(62.0403239401, abs=1e-9)
    assert rg.HEXAGON_HEIGHT_M == pytest.approx(H, rel=1e-15)
    # the hexagons the module draws are 1 ha each (their area measured, not the formula's)
    areas = shapely.area(rg.hexagon_polygons(np.array([1, 2, rg.HEX_PER_ROW + 1, rg.MAX_RECEPTOR_ID])))
    assert areas == pytest.approx(10_000, rel=1e-9)
    # Rows while the centre is inside the box: floor(332500 / 53.7285) + 1.
    assert rg.N_ROWS == 6189 and rg.MAX_RECEPTOR_ID == 6189 * 1529


# ----------------------------------------------------------- known answers by hand

# id = dy * 1529 + dx + 1; x = 3604 + 3r dx (+ 1.5 r in odd rows dy); y = 296800 + dy h/2.
HAND = [
    # (id, dy, dx): first hexagon; last of row 0; first of row 1 (odd, shifted 1.5 r);
    # last of row 1; first of row 2; 4706906 - 1 = 3078 * 1529 + 643.
    (1, 0, 0),
    (1529, 0, 1528),
    (1530, 1, 0),
    (3058, 1, 1528),
    (3059, 2, 0),
    (4706906, 3078, 643),
]


@pytest.mark.parametrize(("rid", "dy", "dx"), HAND)
def test_known_centres_by_hand(rid: int, dy: int, dx: int) -> None:
    assert _rowcol_to_id(dy, dx) == rid
    x, y = receptor_centres(np.array([rid]))
    assert x[0] == pytest.approx(3604 + 3 * R * dx + (1.5 * R if dy % 2 else 0), abs=1e-8)
    assert y[0] == pytest.approx(296800 + dy * H / 2, abs=1e-8)
    assert receptor_ids_at(x, y)[0] == rid


def test_known_centres_numbers() -> None:
    # Worked out: 3 r = 186.1209718204, 1.5 r = 93.0604859102, h/2 = 53.7284965912.
    x, y = receptor_centres(np.array([1, 1530, 3059, 4706906]))
    np.testing.assert_allclose(x, [3604.0, 3697.0604859102, 3604.0, 123279.7848805], atol=1e-6)
    np.testing.assert_allclose(
        y, [296800.0, 296853.7284966, 296907.4569932, 462176.3125076], atol=1e-6
    )


def test_agrees_with_aerius_published_table() -> None:
    """The id/coordinate pairs listed in IMAER-java's ReceptorUtilTest (RPS), as data."""
    table = [
        (1, 3604, 296800),
        (800, 152314.656485, 296800),
        (1529, 287996.844942, 296800),
        (1530, 3697.06048591021, 296853.72849659115),
        (3058, 288089.905428, 296853.72849659115),
        (3059, 3604, 296907.45699318236),
        (3060, 3790.12097182, 296907.45699318236),
        (3061, 3976.24194364, 296907.45699318236),
        (291550, 196983.689721416, 307008.41435234),
        (293046, 190934.758137253, 307062.142848915),
        (4706906, 123279.78488053002, 462176.3125076431),
        (9184376, 227135.287156324, 619493.35052661),
    ]
    ids, xs, ys = (np.array(c) for c in zip(*table, strict=True))
    x, y = receptor_centres(ids)
    np.testing.assert_allclose(x, xs, atol=1e-6)
    np.testing.assert_allclose(y, ys, atol=1e-6)
    np.testing.assert_array_equal(receptor_ids_at(xs, ys), ids)


# ---------------------------------------------------------------------- round trips


def test_round_trip_random_ids() -> None:
    rng = np.random.default_rng(20261201)
    ids = rng.integers(1, rg.MAX_RECEPTOR_ID + 1, size=200_000)
    x, y = receptor_centres(ids)
    np.testing.assert_array_equal(receptor_ids_at(x, y), ids)
    # every row's first and last hexagon
    dy = np.arange(rg.N_ROWS)
    edges = np.concatenate([dy * 1529 + 1, dy * 1529 + 1529])
    np.testing.assert_array_equal(receptor_ids_at(*receptor_centres(edges)), edges)


def test_random_points_inside_hexagon() -> None:
    rng = np.random.default_rng(7)
    # not on the grid's outer rows and columns (a neighbour must exist)
    dy = rng.integers(2, rg.N_ROWS - 2, size=20_000)
    dx = rng.integers(1, 1528, size=20_000)
    ids = dy * 1529 + dx + 1
    x, y = receptor_centres(ids)
    # points uniformly in the hexagon: sample in the bounding box, keep those inside
    px = x + rng.uniform(-R, R, ids.size)
    py = y + rng.uniform(-H / 2, H / 2, ids.size)
    inside = shapely.contains_xy(hexagon_polygons(ids), px, py)
    assert inside.mean() == pytest.approx(0.75, abs=0.02)  # hexagon / its bounding box
    got = receptor_ids_at(px, py)
    np.testing.assert_array_equal(got[inside], ids[inside])
    # the others fell in a neighbour, whose hexagon contains them
    out = ~inside
    assert np.all(got[out] != ids[out])
    assert np.all(shapely.intersects_xy(hexagon_polygons(got[out]), px[out], py[out]))


def test_corners_just_inside() -> None:
    rid = _rowcol_to_id(3000, 700)
    x, y = receptor_centres(np.array([rid]))
    ang = np.deg2rad(np.arange(0, 360, 60))  # the six corners of a flat-topped hexagon
    d = R - 1e-6
    np.testing.assert_array_equal(receptor_ids_at(x + d * np.cos(ang), y + d * np.sin(ang)), rid)


# ------------------------------------------------------------------ shared edges


def _neighbours(dy: int, dx: int) -> dict[str, int]:
    """Neighbours by hand: same column two rows up/down; the rows just above and below are
    offset by half a column (odd rows to the right)."""
    left, right = (dx - 1, dx) if dy % 2 == 0 else (dx, dx + 1)
    return {
        "top": _rowcol_to_id(dy + 2, dx),
        "bottom": _rowcol_to_id(dy - 2, dx),
        "top_right": _rowcol_to_id(dy + 1, right),
        "top_left": _rowcol_to_id(dy + 1, left),
        "bottom_right": _rowcol_to_id(dy - 1, right),
        "bottom_left": _rowcol_to_id(dy - 1, left),
    }


# edge midpoint directions of a flat-topped hexagon (outward normals), at distance h/2
EDGE_NORMAL_DEG = {
    "top": 90,
    "bottom": 270,
    "top_right": 30,
    "top_left": 150,
    "bottom_right": 330,
    "bottom_left": 210,
}


@pytest.mark.parametrize("dy", [4000, 4001])  # an even and an odd row
@pytest.mark.parametrize("edge", sorted(EDGE_NORMAL_DEG))
def test_points_at_shared_edge(dy: int, edge: str) -> None:
    dx = 800
    rid = _rowcol_to_id(dy, dx)
    nb = _neighbours(dy, dx)[edge]
    x, y = receptor_centres(np.array([rid]))
    a = math.radians(EDGE_NORMAL_DEG[edge])
    ux, uy = math.cos(a), math.sin(a)
    tx, ty = -uy, ux  # along the edge
    along = np.linspace(-0.49, 0.49, 11) * R  # points along the edge, not its corners
    for offset, expected in ((-1e-6, rid), (1e-6, nb)):
        d = H / 2 + offset
        px = x + d * ux + along * tx
        py = y + d * uy + along * ty
        np.testing.assert_array_equal(receptor_ids_at(px, py), expected, err_msg=edge)
    # exactly on the edge (to rounding): one of the two, and its hexagon touches the point
    px, py = x + H / 2 * ux + along * tx, y + H / 2 * uy + along * ty
    got = receptor_ids_at(px, py)
    assert set(got.tolist()) <= {rid, nb}
    # the two hexagons share this edge: two vertices in common (to rounding), no overlap
    a_hex, b_hex = hexagon_polygons(np.array([rid, nb]))
    va = shapely.get_coordinates(a_hex)[:6]
    vb = shapely.get_coordinates(b_hex)[:6]
    common = np.hypot(*(va[:, None, :] - vb[None, :, :]).transpose(2, 0, 1)) < 1e-6
    assert common.sum() == 2
    assert shapely.intersection(a_hex, b_hex).area < 1e-6


def test_outside_points() -> None:
    with pytest.raises(InputError, match="outside AERIUS's NL receptor grid"):
        receptor_ids_at(np.array([5.2]), np.array([52.1]))  # degrees, not metres
    ids = receptor_ids_at(np.array([150_000.0, 0.0, 150_000.0]), np.array([450_000.0, 0, 7e5]),
                          outside="zero")  # fmt: skip
    assert ids[0] > 0 and ids[1] == 0 and ids[2] == 0
    with pytest.raises(InputError, match="outside="):
        receptor_ids_at(0.0, 0.0, outside="clip")
    with pytest.raises(InputError, match="finite"):
        receptor_ids_at(np.nan, 450_000.0)
    for bad in (0, rg.MAX_RECEPTOR_ID + 1, -5):
        with pytest.raises(InputError, match="outside 1.."):
            receptor_centres(np.array([bad]))
    with pytest.raises(InputError, match="whole numbers"):
        receptor_centres(np.array([1.5]))


# ---------------------------------------------------------------------- hexagons


def test_hexagon_shape_and_orientation() -> None:
    rid = _rowcol_to_id(3078, 643)
    (hexagon,) = hexagon_polygons(np.array([rid]))
    x, y = receptor_centres(np.array([rid]))
    assert hexagon.area == pytest.approx(10_000, rel=1e-12)
    assert shapely.centroid(hexagon).x == pytest.approx(x[0], abs=1e-8)
    ring = np.asarray(hexagon.exterior.coords)
    assert len(ring) == 7 and np.array_equal(ring[0], ring[-1])
    # flat-topped: the first and last edges (top) are horizontal, corners at +-r on y = centre
    assert ring[0, 1] == ring[5, 1] == pytest.approx(y[0] + H / 2)
    assert ring[1, 0] == pytest.approx(x[0] + R) and ring[1, 1] == pytest.approx(y[0])
    assert ring[4, 0] == pytest.approx(x[0] - R) and ring[4, 1] == pytest.approx(y[0])
    # AERIUS's vertex order: top right first, clockwise
    assert ring[0, 0] == pytest.approx(x[0] + R / 2)
    assert not shapely.is_ccw(hexagon.exterior)
    # width 2r, height h
    b = hexagon.bounds
    assert (b[2] - b[0], b[3] - b[1]) == pytest.approx((2 * R, H))


def test_hexagons_tile_without_gaps() -> None:
    dy, dx = np.meshgrid(np.arange(2000, 2012), np.arange(500, 508), indexing="ij")
    ids = (dy * 1529 + dx + 1).ravel()
    hexes = hexagon_polygons(ids)
    assert shapely.union_all(hexes).area == pytest.approx(10_000 * ids.size, rel=1e-9)
    # the hexagon of each id contains its centre and no other centre
    x, y = receptor_centres(ids)
    inside = shapely.contains_xy(hexes[:, None], x[None, :], y[None, :])
    np.testing.assert_array_equal(inside, np.eye(ids.size, dtype=bool))


def test_hexagon_rounding_like_aerius() -> None:
    hexes = hexagon_polygons(np.array([[1, 2], [3, 4]]), round_to_metre=True)
    assert hexes.shape == (2, 2)
    coords = shapely.get_coordinates(hexes)
    np.testing.assert_array_equal(coords, np.round(coords))


# ----------------------------------------------------------- receptors in polygons


def _brute_force(geom: shapely.Geometry) -> np.ndarray:
    x0, y0, x1, y1 = geom.bounds
    dy = np.arange(
        math.floor((y0 - rg.MIN_Y) / (H / 2)) - 1, math.ceil((y1 - rg.MIN_Y) / (H / 2)) + 2
    )
    dx = np.arange(
        math.floor((x0 - rg.MIN_X) / (3 * R)) - 2, math.ceil((x1 - rg.MIN_X) / (3 * R)) + 2
    )
    dy, dx = (a.ravel() for a in np.meshgrid(dy, dx, indexing="ij"))
    ok = (dy >= 0) & (dy < rg.N_ROWS) & (dx >= 0) & (dx < 1529)
    ids = dy[ok] * 1529 + dx[ok] + 1
    x, y = receptor_centres(ids)
    return np.sort(ids[shapely.contains_xy(geom, x, y)])


def _random_area(rng: np.random.Generator) -> shapely.Geometry:
    c = rng.uniform([20_000, 310_000], [270_000, 610_000])
    blob = shapely.concave_hull(shapely.multipoints(c + rng.normal(0, 2500, (40, 2))), 0.3)
    blob = blob.buffer(rng.uniform(0, 300))
    hole = shapely.Point(c).buffer(rng.uniform(100, 900))
    island = shapely.Point(c + rng.normal(0, 200, 2)).buffer(60)  # an island in the hole
    far = shapely.Point(c + 9000).buffer(rng.uniform(50, 1500))  # a second part
    return shapely.union_all([shapely.difference(blob, hole), island, far])


@pytest.mark.parametrize("tile_m", [250.0, 1000.0, 1777.0])
def test_receptors_in_polygons_equals_brute_force(tile_m: float) -> None:
    rng = np.random.default_rng(int(tile_m))
    for _ in range(8):
        area = _random_area(rng)
        ids, x, y = receptors_in_polygons(area, tile_m=tile_m)
        np.testing.assert_array_equal(ids, _brute_force(area))
        np.testing.assert_array_equal(np.diff(ids) > 0, True)
        np.testing.assert_array_equal((x, y), receptor_centres(ids))


def test_centres_on_tile_edges_and_boundary() -> None:
    # a square whose edges run through rows of centres and whose corners sit on tile edges
    cx, cy = receptor_centres(np.array([_rowcol_to_id(3000, 700)]))
    square = shapely.box(cx[0] - 4000, cy[0] - 4000, cx[0] + 4000, cy[0] + 4000)
    ids, _, _ = receptors_in_polygons(square)
    np.testing.assert_array_equal(ids, _brute_force(square))
    assert _rowcol_to_id(3000, 700) in ids
    # a centre on the polygon's boundary is not inside
    thin = shapely.box(cx[0], cy[0] - 10, cx[0] + 50, cy[0] + 10)
    assert receptors_in_polygons(thin)[0].size == 0
    # tile corners exactly on a centre: 1 m tiles aligned on multiples of 1 m
    x0, y0 = math.floor(cx[0]), math.floor(cy[0])
    small = shapely.box(x0 - 300.5, y0 - 300.5, x0 + 300.5, y0 + 300.5)
    for tile in (1.0, 100.0, 333.0):
        np.testing.assert_array_equal(
            receptors_in_polygons(small, tile_m=tile)[0], _brute_force(small)
        )


def test_receptors_in_polygons_inputs() -> None:
    a = shapely.box(150_000, 450_000, 152_000, 452_000)
    b = shapely.box(151_000, 451_000, 153_000, 453_000)
    ids_a = receptors_in_polygons(a)[0]
    ids_ab = receptors_in_polygons([a, b])[0]  # overlap counted once
    np.testing.assert_array_equal(ids_ab, _brute_force(shapely.union(a, b)))
    assert ids_ab.size < ids_a.size + receptors_in_polygons(b)[0].size
    # GeoSeries / GeoDataFrame in RD; other CRS refused
    gs = gpd.GeoSeries([a, b], crs=28992)
    np.testing.assert_array_equal(receptors_in_polygons(gs)[0], ids_ab)
    np.testing.assert_array_equal(receptors_in_polygons(gpd.GeoDataFrame(geometry=gs))[0], ids_ab)
    with pytest.raises(CRSError, match="EPSG:28992"):
        receptors_in_polygons(gs.to_crs(4326))
    with pytest.raises(InputError, match="polygons"):
        receptors_in_polygons([shapely.Point(150_000, 450_000)])
    with pytest.raises(InputError, match="tile_m"):
        receptors_in_polygons(a, tile_m=0)
    # empty input, None and empty geometries
    for empty in ([], [None], [shapely.Polygon()]):
        ids, x, y = receptors_in_polygons(empty)
        assert ids.size == x.size == y.size == 0
    # an invalid bow-tie is repaired (make_valid keeps both triangles)
    bowtie = shapely.Polygon([(150_000, 450_000), (152_000, 452_000), (152_000, 450_000),
                              (150_000, 452_000)])  # fmt: skip
    np.testing.assert_array_equal(
        receptors_in_polygons(bowtie)[0], _brute_force(shapely.make_valid(bowtie))
    )
    # outside the grid: nothing, no error
    assert receptors_in_polygons(shapely.box(100_000, 700_000, 110_000, 710_000))[0].size == 0


def test_progress_callback() -> None:
    calls: list[int] = []
    receptors_in_polygons(shapely.Point(150_000, 450_000).buffer(5000), tile_m=250,
                          progress=calls.append)  # fmt: skip
    assert calls and calls == sorted(calls) and calls[-1] > 0
    # a tqdm bar (to stderr) gives the same result
    ids_bar = receptors_in_polygons(shapely.Point(150_000, 450_000).buffer(5000), progress=True)[0]
    ids = receptors_in_polygons(shapely.Point(150_000, 450_000).buffer(5000))[0]
    np.testing.assert_array_equal(ids_bar, ids)


# ------------------------------------------------------- AERIUS's own hexagons


def _read_imaer_receptors(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, points (n, 2), hexagon rings (n, 7, 2)) of the ReceptorPoint features of a
    zipped IMAER GML, streamed with lxml (nothing is extracted to disk)."""
    etree = pytest.importorskip("lxml.etree")
    imaer, gml = "{http://imaer.aerius.nl/6.0}", "{http://www.opengis.net/gml/3.2}"
    ids, pts, rings = [], [], []
    with zipfile.ZipFile(path) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".gml")]
        with zf.open(name) as fh:
            for _, el in etree.iterparse(fh, events=("end",), tag=f"{imaer}ReceptorPoint"):
                ids.append(int(el.get("receptorPointId")))
                pts.append([float(v) for v in el.find(f".//{gml}pos").text.split()])
                rings.append([float(v) for v in el.find(f".//{gml}posList").text.split()])
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
    return np.array(ids), np.array(pts), np.array(rings).reshape(len(ids), -1, 2)


@pytest.fixture(scope="module")
def fryslan() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    zips = sorted(FRYSLAN.glob("*.gml.zip")) if FRYSLAN.is_dir() else []
    if not zips:
        pytest.skip(f"real AERIUS assessment not available here ({FRYSLAN} is absent)")
    return _read_imaer_receptors(zips[0])


@pytest.mark.real_data
@pytest.mark.slow
def test_fryslan_centres(fryslan) -> None:
    ids, pts, _ = fryslan
    assert ids.size == 38_541 and np.unique(ids).size == ids.size
    x, y = receptor_centres(ids)
    assert np.max(np.hypot(x - pts[:, 0], y - pts[:, 1])) < 1e-3  # 1 mm
    np.testing.assert_array_equal(receptor_ids_at(pts[:, 0], pts[:, 1]), ids)


@pytest.mark.real_data
@pytest.mark.slow
def test_fryslan_hexagons(fryslan) -> None:
    ids, _, rings = fryslan
    assert rings.shape == (ids.size, 7, 2)
    # AERIUS writes its hexagons with vertices rounded to whole metres: ours, rounded the
    # same way, are identical, vertex by vertex and in the same order.
    ours = shapely.get_coordinates(hexagon_polygons(ids, round_to_metre=True)).reshape(rings.shape)
    np.testing.assert_array_equal(ours, rings)
    # the exact hexagons lie within the rounding (<= 0.5 m per coordinate) of AERIUS's
    exact = shapely.get_coordinates(hexagon_polygons(ids)).reshape(rings.shape)
    assert np.max(np.abs(exact - rings)) <= 0.5
    theirs = shapely.polygons(rings)
    sym = shapely.area(shapely.symmetric_difference(hexagon_polygons(ids), theirs))
    # rounding moves each vertex by up to 0.7 m: up to ~2 % of the area changes hands
    assert np.max(sym) < 200
    assert np.all(shapely.contains_xy(theirs, *receptor_centres(ids)))


@pytest.mark.real_data
@pytest.mark.parametrize("height", ["5m", "30m"])
def test_wommels_receptor_ids(height: str) -> None:
    gpkgs = sorted((WOMMELS / height).glob("*.gpkg")) if WOMMELS.is_dir() else []
    if not gpkgs:
        pytest.skip(f"AERIUS Wommels results not available here ({WOMMELS} is absent)")
    import pyogrio

    pts = pyogrio.read_dataframe(gpkgs[0], layer="receptor_points")
    hexes = pyogrio.read_dataframe(gpkgs[0], layer="receptor_hexagons")
    assert len(pts) == len(hexes) == 4295
    ids = pts["receptor_id"].to_numpy().astype(np.int64)
    x, y = receptor_centres(ids)
    # the points are stored to the mm
    assert np.max(np.hypot(x - pts.geometry.x, y - pts.geometry.y)) < 1e-3
    np.testing.assert_array_equal(receptor_ids_at(pts.geometry.x, pts.geometry.y), ids)
    hid = hexes["receptor_id"].to_numpy().astype(np.int64)
    ours = shapely.get_coordinates(hexagon_polygons(hid, round_to_metre=True))
    np.testing.assert_array_equal(ours, shapely.get_coordinates(hexes.geometry.values))


# ------------------------------------------- the stage's receptors on AERIUS's grid


def _block_ids(dy0: int, dx0: int, n_rows: int, n_cols: int) -> np.ndarray:
    dy, dx = np.meshgrid(np.arange(dy0, dy0 + n_rows), np.arange(dx0, dx0 + n_cols), indexing="ij")
    return (dy * 1529 + dx + 1).ravel()


def _habitat(geoms: list, kdw: float = 714.0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"habitat_code": ["H4030"] * len(geoms), "kdw_mol_ha": [kdw] * len(geoms), "site_code": ["A"] * len(geoms)},
        geometry=geoms,
        crs="EPSG:28992",
    )


def test_hexagon_receptors_on_aerius_grid_take_aerius_ids_and_centres() -> None:
    from n2kzones.deposition.receptors import hexagon_receptors

    # habitat = 60 AERIUS hexagons (10 rows x 6 columns near Utrecht), each shrunk by 1 cm:
    # exactly those hexagons are receptors, with AERIUS's ids, centres and ~1 ha each
    ids = _block_ids(2500, 800, 10, 6)
    hexes = shapely.buffer(hexagon_polygons(ids), -0.01)
    rec = hexagon_receptors(_habitat([shapely.union_all(hexes)]), grid="aerius")
    assert rec["receptor_id"].dtype == np.int64
    np.testing.assert_array_equal(rec["receptor_id"].to_numpy(), np.sort(ids))
    x, y = receptor_centres(rec["receptor_id"].to_numpy())
    np.testing.assert_array_equal(rec.geometry.x.to_numpy(), x)
    np.testing.assert_array_equal(rec.geometry.y.to_numpy(), y)
    np.testing.assert_allclose(rec["habitat_ha"], shapely.area(hexes)[0] / 1e4, rtol=1e-9)
    # the local lattice (from RD (0, 0)) is offset from AERIUS's: more, cut hexagons, text ids
    local = hexagon_receptors(_habitat([shapely.union_all(hexes)]), grid="local")
    assert len(local) > len(ids) and local["receptor_id"].map(type).eq(str).all()


def test_hexagon_receptors_aerius_grid_refuses_what_is_not_aerius() -> None:
    from n2kzones.deposition.receptors import hexagon_receptors

    hab = _habitat([shapely.box(150_000, 450_000, 150_500, 450_500)])
    with pytest.raises(InputError, match="1 ha hexagons"):
        hexagon_receptors(hab, grid="aerius", hexagon_ha=0.5)
    with pytest.raises(InputError, match="receptor_grid = 'local'"):
        hexagon_receptors(_habitat([shapely.box(400_000, 450_000, 400_500, 450_500)]), grid="aerius")
    with pytest.raises(InputError, match="'local' or 'aerius'"):
        hexagon_receptors(hab, grid="AERIUS-ish")


def test_config_aerius_grid_needs_rd_new_and_one_hectare(tmp_path: Path) -> None:
    from n2kzones.config import load_config
    from n2kzones.errors import ConfigError

    base = '[inputs.areas]\npath = "areas.gpkg"\n'
    for extra, words in (
        ("[deposition]\nhexagon_ha = 2.0\n", ["hexagon_ha = 2", "receptor_grid = 'local'"]),
        ('[project]\ncrs = "EPSG:3035"\n', ["EPSG:3035", "RD New", "receptor_grid = 'local'"]),
    ):
        p = tmp_path / "c.toml"
        p.write_text(base + extra, "utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(p)
        for w in words:
            assert w in str(info.value), str(info.value)
        p.write_text(base + extra.replace("[deposition]\n", "[deposition]\nreceptor_grid = 'local'\n")
                     + ("" if "[deposition]" in extra else "[deposition]\nreceptor_grid = 'local'\n"), "utf-8")
        assert load_config(p).deposition.receptor_grid == "local"


@pytest.mark.real_data
@pytest.mark.slow
def test_fryslan_habitat_gives_aerius_receptors_and_outlines(fryslan) -> None:
    from n2kzones.deposition.receptors import hexagon_receptors

    # AERIUS's own hexagons (rounded to metres), each shrunk by 1 m so it lies within its
    # exact hexagon: the receptors built on them are AERIUS's receptors, id by id
    ids, _, rings = fryslan
    theirs = shapely.buffer(shapely.polygons(rings), -1.0)
    rec = hexagon_receptors(_habitat(list(theirs)), grid="aerius")
    np.testing.assert_array_equal(rec["receptor_id"].to_numpy(), np.sort(ids))
    order = np.argsort(ids)
    np.testing.assert_allclose(rec["habitat_ha"].to_numpy(), shapely.area(theirs)[order] / 1e4, rtol=1e-9)
    ours = shapely.get_coordinates(hexagon_polygons(rec["receptor_id"].to_numpy(), round_to_metre=True))
    np.testing.assert_array_equal(ours.reshape(-1, 7, 2), rings[order])
