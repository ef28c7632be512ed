"""Threads for GEOS work: results in input order whatever the thread count."""

from __future__ import annotations

import os

import numpy as np
import pytest
import shapely

from n2kzones.threads import MAX_THREADS, available_threads, thread_map


def test_thread_map_keeps_the_order_of_its_inputs() -> None:
    items = list(range(50))
    for threads in (1, 2, 7):
        assert thread_map(lambda x: x * x, items, threads=threads) == [x * x for x in items]


def test_thread_map_raises_the_error_of_a_call() -> None:
    def f(x: int) -> int:
        if x == 3:
            raise ValueError("bad item 3")
        return x

    with pytest.raises(ValueError, match="bad item 3"):
        thread_map(f, list(range(6)), threads=3)


def test_geometry_work_in_threads_equals_one_call() -> None:
    rng = np.random.default_rng(3)
    pts = shapely.points(rng.uniform(0, 100, (400, 2)))
    discs = shapely.buffer(pts, rng.uniform(1, 9, 400))
    chunks = np.array_split(np.arange(400), 5)
    parts = thread_map(lambda c: shapely.intersection(discs[c], shapely.box(20, 20, 80, 80)), chunks, threads=3)
    whole = shapely.intersection(discs, shapely.box(20, 20, 80, 80))
    assert shapely.equals_exact(np.concatenate(parts), whole, tolerance=0).all()


def test_available_threads_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("N2KZONES_THREADS", "3")
    assert available_threads() == 3
    monkeypatch.setenv("N2KZONES_THREADS", "1000")
    assert available_threads() == MAX_THREADS
    monkeypatch.setenv("N2KZONES_THREADS", "0")
    assert available_threads() == 1
    monkeypatch.delenv("N2KZONES_THREADS")
    # outside a Dask worker: the cores this process may run on, capped
    assert available_threads() == min(len(os.sched_getaffinity(0)), MAX_THREADS)
