"""The Dask backend: tasks on a ``dask.distributed`` cluster (a LocalCluster by default).

Shared read-only inputs (zones, kernel, all sources) are scattered to every worker once;
each task gets only its own item (a parcel partition, a grid tile, a chunk of receptors).
Numba kernels run single-threaded inside tasks (``parallel=False``; they release the GIL),
so a worker with one thread uses one core and the cluster's parallelism is its workers.

A worker that dies (killed, out of memory) loses its running task; the scheduler reruns it
elsewhere up to ``allowed_failures`` times, after which the run fails with a
:class:`~n2kzones.errors.ComputeError`. Stages write their outputs only after every task
has succeeded (tasks write into a temporary folder that is moved into place at the end),
so a failed run leaves no partial output that looks complete.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from n2kzones.config import ComputeSettings
from n2kzones.errors import ComputeError

log = logging.getLogger(__name__)


@contextmanager
def dask_client(settings: ComputeSettings) -> Iterator[Any]:
    """A ``distributed.Client`` to ``settings.scheduler``, or to a new LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    # Keep pandas' own string dtype (Dask would turn text into string[pyarrow]): the
    # partitions must come out exactly as the in-memory reader's frames.
    with dask.config.set({"dataframe.convert-string": False}):
        yield from _client(settings, dask, Client, LocalCluster)


def _client(settings: ComputeSettings, dask: Any, Client: Any, LocalCluster: Any) -> Iterator[Any]:  # noqa: N803
    if settings.scheduler:
        try:
            client = Client(settings.scheduler, timeout="30s")
        except OSError as exc:
            raise ComputeError(
                f"cannot reach the Dask scheduler at {settings.scheduler} ({exc}); start it "
                "(`dask scheduler`) or leave [compute] scheduler unset for a local cluster"
            ) from None
        log.info(
            "connected to Dask scheduler %s (%d workers)",
            settings.scheduler,
            len(client.scheduler_info()["workers"]),
        )
        try:
            yield client
        finally:
            client.close()
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": settings.allowed_failures}):
        cluster = LocalCluster(
            n_workers=settings.n_workers,
            threads_per_worker=settings.threads_per_worker,
            memory_limit=settings.memory_limit,
            processes=True,
            dashboard_address=":0",  # a free port: never one taken by another program
            silence_logs=logging.ERROR,
        )
    client = Client(cluster)
    log.info(
        "started a Dask LocalCluster: %d workers x %d threads, memory limit %s",
        settings.n_workers,
        settings.threads_per_worker,
        settings.memory_limit,
    )
    try:
        yield client
    finally:
        client.close()
        cluster.close()


class DaskBackend:
    """Runs :class:`~n2kzones.compute.backend.Backend` calls on a Dask cluster."""

    name = "dask"
    parallel_kernels = False

    def __init__(self, client: Any, settings: ComputeSettings) -> None:
        self.client = client
        self.settings = settings
        self.chunk_points = settings.chunk_points

    # -- generic map ----------------------------------------------------------------------
    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        shared: dict[str, Any] | None = None,
        name: str = "task",
    ) -> Iterator[tuple[int, Any]]:
        import dask

        shared_d = {k: self.share(v) for k, v in (shared or {}).items()}
        tasks = [
            dask.delayed(fn, pure=False)(item, **shared_d, dask_key_name=f"n2kzones-{name}-{i}")
            for i, item in enumerate(items)
        ]
        yield from self.compute(tasks, name=name)

    def compute(self, tasks: Sequence[Any], *, name: str = "task") -> Iterator[tuple[int, Any]]:
        """Compute Dask ``Delayed`` tasks on the cluster; yields ``(index, result)`` as they finish."""
        from distributed import as_completed

        if not tasks:
            return
        with warnings.catch_warnings():
            # The inputs are in the graph on purpose (see share()); Dask warns about its size.
            warnings.filterwarnings("ignore", message="Large object of size", category=UserWarning)
            warnings.filterwarnings("ignore", message="Sending large graph of size", category=UserWarning)
            futures = self.client.compute(list(tasks))
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                yield index[fut.key], self._result(fut, name)
        finally:
            self.client.cancel(futures)

    @staticmethod
    def share(value: Any) -> Any:
        """``value`` as one node of the task graph, for every task that needs it.

        Each worker fetches it once. Unlike data scattered to workers it is part of the
        graph, so the scheduler can recreate it when the worker holding it dies.
        """
        import dask

        return dask.delayed(value, name=f"n2kzones-shared-{uuid.uuid4().hex}", traverse=False)

    @staticmethod
    def _result(fut: Any, name: str) -> Any:
        from distributed.scheduler import KilledWorker

        try:
            return fut.result()
        except KilledWorker as exc:
            raise ComputeError(
                f"Dask workers died repeatedly running {name} task {fut.key!r} ({exc}); nothing "
                "was written. Usually a worker ran out of memory: raise [compute] memory_limit, "
                "lower partition_rows / chunk_points / tile_cells, or add workers"
            ) from None
