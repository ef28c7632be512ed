"""Where the heavy steps run: this process or a Dask cluster (``[compute] engine``).

See :mod:`n2kzones.compute.backend` for what a backend offers and
:mod:`n2kzones.compute.dask_backend` for the Dask one.
"""

from n2kzones.compute.backend import (
    Backend,
    LocalBackend,
    chunk_bounds,
    gather_ordered,
    open_backend,
)

__all__ = ["Backend", "LocalBackend", "chunk_bounds", "gather_ordered", "open_backend"]
