"""n2kzones: zones around Natura 2000 areas, overlay, NH3 deposition and RKO analysis."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
