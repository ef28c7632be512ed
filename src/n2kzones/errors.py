"""Exceptions raised by n2kzones.

One root exception, :class:`N2kError`; every leaf also inherits the matching builtin
(as rasterio does), so callers can catch either ``N2kError`` or e.g. ``ValueError``.
Messages always say what was wrong *and* what to do about it.
"""

from __future__ import annotations


class N2kError(Exception):
    """Root of all n2kzones errors."""


class ConfigError(N2kError, ValueError):
    """The configuration file has an unknown key or a value outside what is allowed."""


class InputError(N2kError, ValueError):
    """An input layer cannot be used as it is (empty, wrong geometry type, bad values)."""


class CRSError(InputError):
    """An input layer has no CRS, a geographic CRS where metres are needed, or a wrong one."""


class SchemaError(InputError):
    """An input layer lacks a required column, or a column has the wrong type."""


class GridTooLargeError(N2kError, MemoryError):
    """A requested grid would not fit in memory."""


class ComputeError(N2kError, RuntimeError):
    """The compute cluster failed a run (a worker died too often, the scheduler went away)."""


class OutputError(N2kError, OSError):
    """The output folder cannot be written: read-only, no permission, disk full, or it would
    overwrite an input."""


class OutputLockedError(OutputError):
    """Another run is writing into the same output folder."""


class UpstreamError(N2kError, RuntimeError):
    """A stage's upstream outputs are missing, incomplete, from different runs, or older than
    their inputs or config: the message names the file and the command that rebuilds it."""
