"""The NDVH habitat template (``NDVH_Habitat_template_T0_v<version>_Prod.zip``): a zipped
Esri FileGDB with the schema of the national habitat-type map and the habitat-type
objectives per Natura 2000 area.

Layers (template T0 v2023.1.3): ``Habitat`` (the habitat-type map's schema, empty in the
template; read with preset ``ndvh_habitat``), ``Natura2000Doelstellingen`` (a table of
``gebiedNummer``, ``habitatType``: 1,181 objective pairs for 136 areas), ``Natura2000Gebieden``
(171 polygons with ``gebiedNummer``, ``_bescherming``), ``Natura2000``, ``HabitatPackage``,
``TemplateVersie``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio

from n2kzones.errors import InputError

__all__ = ["OBJECTIVES_LAYER", "gdal_path", "read_ndvh_objectives"]

OBJECTIVES_LAYER = "Natura2000Doelstellingen"


def gdal_path(path: str | Path) -> str:
    """The GDAL path of a template: ``/vsizip/<zip>/<name>.gdb`` for a zip holding one
    FileGDB, the path itself for an unpacked ``.gdb`` folder (or any other file)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist (the NDVH habitat template zip or .gdb folder)")
    if path.suffix.lower() != ".zip":
        return str(path)
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            gdbs = sorted({n.split(".gdb/", 1)[0] + ".gdb" for n in zf.namelist() if ".gdb/" in n})
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: is not a zip file ({exc})") from None
    if len(gdbs) != 1:
        raise InputError(
            f"{path}: expected one FileGDB (.gdb folder) in the zip, found {gdbs or 'none'}"
        )
    return f"/vsizip/{path.resolve()}/{gdbs[0]}"


def read_ndvh_objectives(path: str | Path) -> pd.DataFrame:
    """The habitat-type objectives of the NDVH template.

    Parameters
    ----------
    path
        The template zip (or its unpacked ``.gdb`` folder).

    Returns
    -------
    pandas.DataFrame
        ``area_number`` (int, ``gebiedNummer``) and ``habitat_code`` (``habitatType``,
        trimmed), one row per objective pair as in the file.

    Raises
    ------
    InputError
        If the file cannot be opened or lacks the layer or its columns.
    """
    src = gdal_path(path)
    try:
        layers = [str(n) for n in pyogrio.list_layers(src)[:, 0]]
    except Exception as exc:  # pyogrio raises several types for unreadable data sources
        raise InputError(
            f"{path}: cannot be read as a FileGDB ({type(exc).__name__}: {exc})"
        ) from exc
    if OBJECTIVES_LAYER not in layers:
        raise InputError(f"{path}: has no layer {OBJECTIVES_LAYER!r} (layers: {', '.join(layers)})")
    df = pyogrio.read_dataframe(src, layer=OBJECTIVES_LAYER, read_geometry=False)
    missing = [c for c in ("gebiedNummer", "habitatType") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: layer {OBJECTIVES_LAYER!r} has no column(s) {missing}")
    out = pd.DataFrame(
        {
            "area_number": pd.to_numeric(df["gebiedNummer"], errors="raise").astype("int64"),
            "habitat_code": df["habitatType"].astype("string").str.strip(),
        }
    )
    return out.loc[out["habitat_code"].notna() & (out["habitat_code"] != "")].reset_index(drop=True)
