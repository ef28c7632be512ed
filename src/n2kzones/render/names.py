"""File names of the rendered pages that other stages link to, without the renderers'
imports (folium, matplotlib): the report links the maps stage's area maps by these names.
"""

from __future__ import annotations

from n2kzones.io.writers import safe_file_stem


def safe_name(site_code: str) -> str:
    """File-name-safe, collision-free, length-limited form of a site code (slug + short hash
    where the code is not plain; see :func:`n2kzones.io.writers.safe_file_stem`)."""
    return safe_file_stem(site_code)


def area_map_name(site_code: str) -> str:
    """File name of an area's map: ``area_<code>.html``, or ``area_<slug>-<hash>.html``."""
    return f"area_{safe_name(site_code)}.html"
