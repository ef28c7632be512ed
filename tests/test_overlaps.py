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
