"""Threads for GEOS work: results in input order whatever the thread count."""

from __future__ import annotations

import os

import numpy as np
import pytest
import shapely

from n2kzones.threads import ARRAY_MAP_MIN, MAX_THREADS, array_map, available_threads, thread_chunks, thread_map


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


def test_array_map_equals_one_call_and_chunks_join_to_the_input() -> None:
    rng = np.random.default_rng(3)
    n = ARRAY_MAP_MIN + 1_001
    polys = shapely.buffer(shapely.points(rng.uniform(0, 100, n), rng.uniform(0, 100, n)), 1.0, quad_segs=2)
    polys[::997] = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])  # bow-ties: invalid
    expected = shapely.is_valid(polys)
    assert (~expected).sum() == len(polys[::997])
    for threads in (1, 2, 3):
        parts = thread_chunks(polys, threads=threads)
        assert len(parts) == threads and (np.concatenate(parts) == polys).all()
        assert (array_map(shapely.is_valid, polys, threads=threads) == expected).all()
    assert len(thread_chunks(polys[:10], threads=4)) == 1  # short: one chunk


def test_a_pool_worker_ends_when_its_parent_is_killed(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing, os, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from n2kzones.threads import exit_with_parent\n"
        "if __name__ == '__main__':\n"
        "    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'),\n"
        "                               initializer=exit_with_parent, initargs=(0.1,))\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    time.sleep(60)\n"
    )
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True) as parent:
        worker = int(parent.stdout.readline())
        os.kill(worker, 0)  # alive while its parent is
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    for _ in range(100):  # it looks every 0.1 s
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the worker outlived its killed parent")
