"""Content digests of an output folder: did a change of code change what the pipeline says?

:func:`output_digest` fingerprints the outputs a user reads as data, each by its content:

* CSV tables: the file's bytes (so a changed digit, header, order or rounding shows);
* GeoTIFF rasters: per band the pixel values with their data type and shape, plus the grid
  (transform, CRS) and the nodata value; not the file bytes (compression, tiling and GDAL
  metadata may change while the pixels do not);
* GeoPackage layers: row for row (in order), every attribute and the geometry as WKB; the
  ``layer_styles`` table (QGIS styles) is left out.

Other files (manifests with their times, HTML with its build stamp, intermediates in
``stages/``) are not content a province acts on and are not digested. Two folders have the
same content exactly when :func:`output_digest` returns the same dict; ``tools/output_digest.py``
prints it as JSON, and ``tests/test_outputs_agree.py`` compares the sample's with the digest
recorded before the performance work of issue 18.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

#: GeoPackage tables that are not data layers.
_SKIP_LAYERS = frozenset({"layer_styles"})


def _sha(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(len(c).to_bytes(8, "little"))
        h.update(c)
    return h.hexdigest()


def csv_digest(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raster_digest(path: Path) -> str:
    """SHA-256 of every band's pixels (dtype, shape, values), the transform, CRS and nodata."""
    import rasterio

    with rasterio.open(path) as src:
        parts = [repr((src.count, src.dtypes, src.width, src.height, tuple(src.transform), src.crs.to_epsg() if src.crs else None, src.nodatavals)).encode()]
        for band in range(1, src.count + 1):
            parts.append(np.ascontiguousarray(src.read(band)).tobytes())
    return _sha(*parts)


def geopackage_digest(path: Path) -> dict[str, str]:
    """Per data layer: SHA-256 over its rows in order (attributes as ``repr``, geometry as WKB)."""
    import pyogrio
    import shapely

    out: dict[str, str] = {}
    for name, _ in pyogrio.list_layers(path):
        if name in _SKIP_LAYERS:
            continue
        df = pyogrio.read_dataframe(path, layer=name, fid_as_index=True)
        parts = [repr(list(df.columns)).encode(), repr([str(t) for t in df.dtypes]).encode(), repr(len(df)).encode()]
        geom_name = getattr(df, "_geometry_column_name", None)
        attrs = df.drop(columns=[geom_name]) if geom_name else df
        for row in attrs.itertuples(index=True, name=None):
            parts.append(repr(row).encode())
        if geom_name:
            wkb = shapely.to_wkb(df.geometry.values, hex=False, output_dimension=2)
            parts.extend(b"" if w is None else w for w in wkb)
        out[name] = _sha(*parts)
    return out


def output_digest(out_dir: Path) -> dict[str, str]:
    """``{relative path[:layer]: sha256}`` for the CSVs, GeoTIFFs and GeoPackage layers.

    Parameters
    ----------
    out_dir : Path
        An output folder (``[project] output_dir``); ``stages/`` and hidden folders are skipped.
    """
    out_dir = Path(out_dir)
    digest: dict[str, str] = {}
    for path in sorted(out_dir.rglob("*")):
        rel = path.relative_to(out_dir)
        if not path.is_file() or rel.parts[0] == "stages" or any(p.startswith(".") for p in rel.parts):
            continue
        key = rel.as_posix()
        suffix = path.suffix.lower()
        if suffix == ".csv":
            digest[key] = csv_digest(path)
        elif suffix in (".tif", ".tiff"):
            digest[key] = raster_digest(path)
        elif suffix == ".gpkg":
            for layer, sha in geopackage_digest(path).items():
                digest[f"{key}:{layer}"] = sha
    return digest
