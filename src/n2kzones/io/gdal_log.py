"""GDAL's own messages into Python logging instead of bare lines on standard error.

pyogrio turns the errors of the calls it makes into exceptions, but GDAL reports some
failures outside them (a COMMIT that fails on a full disk while another layer is written,
a trigger that cannot be made afterwards) through its default error handler, which prints
``ERROR 1: ...`` on standard error: lines that are not in the run's log and that break the
CLI's promise of one error line. :func:`route_gdal_messages` replaces that default handler
of pyogrio's GDAL with one that logs to the ``n2kzones.gdal`` logger: failures and warnings
as warnings (the operation that failed raises its own error), debug messages as debug.
pyogrio's own per-call handlers are untouched: they come first.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

log = logging.getLogger("n2kzones.gdal")

#: GDAL's ``CPLErr`` classes -> logging levels (CE_None, CE_Debug, CE_Warning, CE_Failure,
#: CE_Fatal).
LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.WARNING, 3: logging.WARNING, 4: logging.ERROR}

_HANDLER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_char_p)
_state: dict[str, object] = {}
_lock = threading.Lock()


def gdal_library_path() -> Path | None:
    """The GDAL shared library pyogrio runs on (Linux: as mapped into this process), or None."""
    import pyogrio._io  # noqa: F401 - loads GDAL

    maps = Path("/proc/self/maps")
    if not maps.exists():
        return None
    paths = {line.split()[-1] for line in maps.read_text().splitlines() if "libgdal" in line}
    paths = {p for p in paths if p.startswith("/")}
    ours = sorted(p for p in paths if "pyogrio" in p) or sorted(paths)
    return Path(ours[0]) if ours else None


def _log_message(err_class: int, err_no: int, message: bytes | None) -> None:
    text = (message or b"").decode("utf-8", errors="replace")
    log.log(LEVELS.get(err_class, logging.WARNING), "GDAL error %d: %s", err_no, text)


def route_gdal_messages() -> bool:
    """Send GDAL's default-handler messages to the ``n2kzones.gdal`` logger (once per process).

    Returns
    -------
    bool
        True when the handler is installed (now or before); False where pyogrio's GDAL
        library cannot be found (not on Linux): GDAL then prints as before.
    """
    with _lock:
        if "handler" in _state:
            return True
        path = gdal_library_path()
        if path is None:
            return False
        lib = ctypes.CDLL(str(path))  # already loaded: the same library, not a second copy
        handler = _HANDLER_TYPE(_log_message)
        lib.CPLSetErrorHandler.restype = ctypes.c_void_p
        lib.CPLSetErrorHandler.argtypes = [_HANDLER_TYPE]
        lib.CPLSetErrorHandler(handler)
        _state["handler"] = handler  # kept alive: GDAL holds only its address
        _state["library"] = lib
        return True
