"""Self-overlap detection: the coverage fast path answers exactly what pairwise intersection does."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import Polygon, box

from n2kzones.io.validate import OVERLAP_TOLERANCE_M2, is_polygon_coverage, overlapping_pairs


def _brute_pairs(geoms: np.ndarray) -> set[tuple[int, int]]:
    n = len(geoms)
    i, j = np.triu_indices(n, 1)
    area = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    keep = area > OVERLAP_TOLERANCE_M2
    return set(zip(i[keep].tolist(), j[keep].tolist()))


@pytest.mark.parametrize(
    ("polys", "coverage"),
    [
        ([box(0, 0, 1, 1), box(1, 0, 2, 1)], True),  # neighbours sharing an edge
        ([box(0, 0, 1, 1), box(0, 0, 1, 1)], False),  # duplicates
        ([box(0, 0, 1, 1), box(0, 0, 1, 1, ccw=False)], False),  # duplicates, other orientation
        ([box(0, 0, 10, 10), box(2, 2, 3, 3)], False),  # nested
        ([box(0, 0, 10, 10), box(0, 0, 3, 3)], False),  # nested on an edge
        ([box(0, 0, 2, 2), box(1, 0, 3, 2)], False),  # partial overlap
        ([box(0, 0, 1, 1), box(1 - 1e-9, 0, 2, 1)], False),  # a sliver
        ([box(0, 0, 1, 2), box(1, 0, 2, 1)], False),  # touching, vertices not matched: undecided
    ],
)
def test_coverage_check_is_true_only_without_overlap(polys: list[Polygon], coverage: bool) -> None:
    geoms = np.array(polys, dtype=object)
    assert is_polygon_coverage(geoms) is coverage
    a, b, _ = overlapping_pairs(geoms)
    assert set(zip(a.tolist(), b.tolist())) == _brute_pairs(geoms)


def test_a_tessellation_is_a_coverage_and_has_no_pairs() -> None:
    xs = np.arange(20.0)
    geoms = np.array([box(x, y, x + 1, y + 1) for x in xs for y in xs], dtype=object)
    assert is_polygon_coverage(geoms)
    a, b, inter = overlapping_pairs(geoms)
    assert len(a) == len(b) == len(inter) == 0


def test_groups_are_judged_apart() -> None:
    # the same square in two groups (two habitat types stacked) is allowed; in one group it is not
    geoms = np.array([box(0, 0, 1, 1), box(0, 0, 1, 1), box(1, 0, 2, 1)], dtype=object)
    assert is_polygon_coverage(geoms, np.array(["H1", "H2", "H1"]))
    assert not is_polygon_coverage(geoms, np.array(["H1", "H1", "H2"]))
    a, b, inter = overlapping_pairs(geoms, np.array(["H1", "H1", "H2"]))
    assert (a.tolist(), b.tolist()) == ([0], [1]) and inter[0] == pytest.approx(1.0)


def test_random_boxes_give_the_brute_force_pairs() -> None:
    rng = np.random.default_rng(7)
    for n_boxes in (5, 40, 120):
        xy = rng.uniform(0, 50, (n_boxes, 2))
        wh = rng.uniform(0.5, 6, (n_boxes, 2))
        geoms = shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + wh[:, 0], xy[:, 1] + wh[:, 1])
        a, b, inter = overlapping_pairs(geoms)
        assert set(zip(a.tolist(), b.tolist())) == _brute_pairs(geoms)
        assert np.allclose(inter, shapely.area(shapely.intersection(geoms[a], geoms[b])))


def test_non_polygons_take_the_pairwise_path() -> None:
    geoms = np.array([shapely.Point(0, 0), box(0, 0, 1, 1)], dtype=object)
    assert not is_polygon_coverage(geoms)


@pytest.mark.parametrize("x", [0.0, 9.5, 19.5, 29.5, 38.2])
def test_strips_find_an_overlap_wherever_it_lies(monkeypatch: pytest.MonkeyPatch, x: float) -> None:
    # a big layer is checked in vertical strips in threads: an overlap across a strip's edge counts
    import n2kzones.io.validate as validate

    monkeypatch.setattr(validate, "_COVERAGE_STRIP_MIN", 10)
    monkeypatch.setenv("N2KZONES_THREADS", "4")
    xs = np.arange(40.0)
    grid = [box(i, j, i + 1, j + 1) for i in xs for j in xs[:5]]
    assert is_polygon_coverage(np.array(grid, dtype=object))
    geoms = np.array([*grid, box(x + 0.25, 1.25, x + 0.75, 1.75)], dtype=object)
    assert not is_polygon_coverage(geoms)
    a, b, _ = overlapping_pairs(geoms)
    assert set(zip(a.tolist(), b.tolist())) == _brute_pairs(geoms)


def _lattice(n: int, rng: np.random.Generator) -> np.ndarray:
    """Points of an n+1 x n+1 lattice, jittered: quads of it share their edges exactly."""
    ij = np.stack(np.meshgrid(np.arange(n + 1.0), np.arange(n + 1.0), indexing="ij"), axis=-1)
    return ij + rng.uniform(-0.3, 0.3, ij.shape)


def _quads(p: np.ndarray) -> list[Polygon]:
    n = p.shape[0] - 1
    return [Polygon([p[i, j], p[i + 1, j], p[i + 1, j + 1], p[i, j + 1]]) for i in range(n) for j in range(n)]


def test_matched_polygons_are_those_inside_a_tessellation() -> None:
    from n2kzones.io.validate import matched_polygons, matched_polygons_reference

    n = 6
    quads = _quads(_lattice(n, np.random.default_rng(1)))
    quads[7] = shapely.orient_polygons(quads[7], exterior_cw=True)  # orientation does not matter
    matched = matched_polygons(np.array(quads, dtype=object))
    inner = [i * n + j for i in range(1, n - 1) for j in range(1, n - 1)]
    assert np.flatnonzero(matched).tolist() == inner
    doubled = np.array([*quads, quads[14]], dtype=object)  # an inner quad twice
    m = matched_polygons(doubled)
    assert (m == matched_polygons_reference(doubled)).all()
    assert not m[14] and not m[-1] and not m[[8, 13, 15, 20]].any()  # the copies and their neighbours


@pytest.mark.parametrize("seed", range(12))
def test_narrowed_check_agrees_with_brute_force_on_spoilt_tessellations(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # GEOS judges only the unmatched polygons and their neighbours: an overlap anywhere in a
    # big tessellation must still answer False
    import n2kzones.io.validate as validate

    monkeypatch.setattr(validate, "_COVERAGE_STRIP_MIN", 10)
    rng = np.random.default_rng(seed)
    n = 24
    p = _lattice(n, rng)
    quads = _quads(p)
    i, j = rng.integers(3, n - 3, 2)
    k = i * n + j
    kind = seed % 6
    if kind == 1:  # one quad's corner moved out alone: an overlap with its neighbours
        c = np.asarray(quads[k].exterior.coords)[:-1]
        c[2] += rng.uniform(0.05, 0.2, 2)
        quads[k] = Polygon(c)
    elif kind == 2:  # a duplicate deep inside
        quads.append(quads[k])
    elif kind == 3:  # a small polygon on top of one
        quads.append(shapely.buffer(quads[k].centroid, 0.05))
    elif kind == 4:  # a quad stacked on the union of four, along their outer edges
        quads.append(Polygon([p[i, j], p[i + 2, j], p[i + 2, j + 2], p[i, j + 2]]))
    elif kind == 5:  # the union of two neighbours beside the two: shares their outer edges
        quads.append(shapely.union(quads[k], quads[k + 1]))
    geoms = np.array(quads, dtype=object)
    assert shapely.is_valid(geoms).all()
    judged: list[int] = []
    strips = validate._coverage_is_valid_in_strips
    monkeypatch.setattr(validate, "_coverage_is_valid_in_strips", lambda g: judged.append(len(g)) or strips(g))
    assert (validate.matched_polygons(geoms) == validate.matched_polygons_reference(geoms)).all()
    assert bool(_brute_pairs(geoms)) is (kind != 0)  # every spoilt layer has an overlap
    assert is_polygon_coverage(geoms) is (kind == 0)
    assert judged and judged[0] < len(geoms) // 2  # GEOS saw the border and the spoilt part only


@pytest.mark.parametrize(("kind", "coverage"), [("island", True), ("big island", False), ("multi", True), ("multi stacked", False)])
def test_narrowed_check_with_holes_and_multipolygons(monkeypatch: pytest.MonkeyPatch, kind: str, coverage: bool) -> None:
    import n2kzones.io.validate as validate

    monkeypatch.setattr(validate, "_COVERAGE_STRIP_MIN", 10)
    n = 24
    quads: list = _quads(_lattice(n, np.random.default_rng(4)))
    k = 10 * n + 10
    c = quads[k].centroid
    if kind in ("island", "big island"):  # a quad with a hole, and the island in it
        hole = box(c.x - 0.1, c.y - 0.1, c.x + 0.1, c.y + 0.1)
        quads[k] = Polygon(quads[k].exterior.coords, [hole.exterior.coords])
        quads.append(hole if kind == "island" else shapely.buffer(hole, 0.02, join_style="mitre"))
    else:  # two quads far apart as one MultiPolygon
        quads[k] = shapely.MultiPolygon([quads[k], quads.pop(k + 5 * n)])
        if kind == "multi stacked":
            quads.append(shapely.buffer(c, 0.05))
    geoms = np.array(quads, dtype=object)
    assert shapely.is_valid(geoms).all()
    assert (validate.matched_polygons(geoms) == validate.matched_polygons_reference(geoms)).all()
    assert bool(_brute_pairs(geoms)) is (not coverage)
    assert is_polygon_coverage(geoms) is coverage
    if kind == "island":  # the hole's edges are matched by the island's: both need no judging
        matched = validate.matched_polygons(geoms)
        assert matched[k] and matched[-1]


def test_layers_of_unmatched_polygons_go_to_geos_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import n2kzones.io.validate as validate

    monkeypatch.setattr(validate, "_COVERAGE_STRIP_MIN", 10)
    judged: list[int] = []
    strips = validate._coverage_is_valid_in_strips
    monkeypatch.setattr(validate, "_coverage_is_valid_in_strips", lambda g: judged.append(len(g)) or strips(g))
    xy = np.arange(30.0) * 2.0  # parcels apart from each other (ditches between): nothing matched
    geoms = np.array([box(x, y, x + 1.5, y + 1.5) for x in xy for y in xy], dtype=object)
    assert is_polygon_coverage(geoms) and judged == [len(geoms)]
    spoilt = np.array([*geoms, box(31.0, 31.0, 32.0, 32.0)], dtype=object)
    assert not is_polygon_coverage(spoilt) and judged[-1] == len(spoilt)
