"""Compare two n2kzones output folders by content.

    python tools/compare_outputs.py OLD_DIR NEW_DIR

- CSV files and JSON-free text: byte for byte;
- GeoTIFFs: pixels, nodata, transform and CRS (the files carry creation metadata);
- GeoPackages and GeoParquet: every layer row for row, attribute by attribute, and geometry
  for geometry (exact WKB);
- stage manifests: every key both have (recursively: settings added since the old run are
  skipped), apart from timestamps, run ids, checksums and absolute paths of the output folder.

Prints one line per file and exits 1 if any file differs or is missing in NEW_DIR.
Used to check that a refactoring or an optimisation left every output as it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

VOLATILE = {"started", "finished", "run_id", "outputs", "output_files", "input_files", "upstream", "config_file",
            "config_keys", "versions"}


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    if list(a.columns) != list(b.columns):
        return f"columns differ: {sorted(set(a.columns) ^ set(b.columns))}"
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} rows"
    for col in a.columns:
        x, y = a[col], b[col]
        if hasattr(x, "geom_equals_exact") or str(x.dtype) == "geometry":
            if not np.array_equal(x.to_wkb().to_numpy(), y.to_wkb().to_numpy()):
                return f"geometry differs in {int((x.to_wkb() != y.to_wkb()).sum())} rows"
            continue
        if not x.equals(y):
            bad = ~((x == y) | (x.isna() & y.isna()))
            return f"column {col!r} differs in {int(bad.sum())} rows (first: {x[bad].head(2).tolist()} vs {y[bad].head(2).tolist()})"
    return None


def compare_gpkg(a: Path, b: Path) -> str | None:
    import pyogrio

    la = [str(x) for x in pyogrio.list_layers(a)[:, 0]]
    lb = [str(x) for x in pyogrio.list_layers(b)[:, 0]]
    if sorted(la) != sorted(lb):
        return f"layers {la} vs {lb}"
    for layer in la:
        msg = _frames_equal(pyogrio.read_dataframe(a, layer=layer), pyogrio.read_dataframe(b, layer=layer))
        if msg:
            return f"layer {layer}: {msg}"
    return None


def compare_parquet(a: Path, b: Path) -> str | None:
    import geopandas as gpd

    def read(p: Path) -> pd.DataFrame:
        try:
            return gpd.read_parquet(p)
        except ValueError:
            return pd.read_parquet(p)

    return _frames_equal(read(a), read(b))


def compare_tif(a: Path, b: Path) -> str | None:
    import rasterio

    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        if ra.shape != rb.shape or ra.transform != rb.transform or ra.crs != rb.crs or ra.nodata != rb.nodata:
            return "grid, CRS or nodata differ"
        if not np.array_equal(ra.read(), rb.read(), equal_nan=True):
            return "pixels differ"
    return None


def compare_manifest(a: Path, b: Path) -> str | None:
    ma, mb = json.loads(a.read_text()), json.loads(b.read_text())
    for key in sorted(set(ma) & set(mb) - VOLATILE):
        va, vb = ma[key], mb[key]
        if key == "inputs":  # layer reports: source paths may differ by folder
            va = {k: {kk: vv for kk, vv in v.items() if kk != "source"} for k, v in va.items()}
            vb = {k: {kk: vv for kk, vv in v.items() if kk != "source"} for k, v in vb.items()}
        if key == "config":
            va, vb = _config_view(va), _config_view(vb)
        va, vb = _common(va, vb)
        if json.dumps(va, sort_keys=True) != json.dumps(vb, sort_keys=True):
            return f"key {key!r} differs"
    return None


def _common(a: object, b: object) -> tuple[object, object]:
    """The parts of two JSON values under keys both have (settings added later are skipped)."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) & set(b))
        pairs = [_common(a[k], b[k]) for k in keys]
        return dict(zip(keys, (x for x, _ in pairs), strict=True)), dict(zip(keys, (y for _, y in pairs), strict=True))
    return a, b


#: Config keys renamed since older runs: section -> (old, new).
RENAMED = {"deposition": ("engine", "implementation"), "compute": ("engine", "backend")}


def _config_view(cfg: dict) -> dict:
    """A config dump without its output folder, with renamed keys under their new names."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in cfg.items() if k != "project"}
    for section, (old, new) in RENAMED.items():
        if isinstance(out.get(section), dict) and old in out[section]:
            out[section][new] = out[section].pop(old)
    return out


def compare(a: Path, b: Path) -> str | None:
    """None if the files have the same content, else what differs."""
    if not b.exists():
        return "missing"
    suffix = a.suffix.lower()
    if a.name.startswith("manifest_") and suffix == ".json":
        return compare_manifest(a, b)
    if suffix == ".gpkg":
        return compare_gpkg(a, b)
    if suffix == ".parquet":
        return compare_parquet(a, b)
    if suffix in (".tif", ".tiff"):
        return compare_tif(a, b)
    if suffix in (".html", ".png"):
        return None  # carry dates and renderer output; checked by their own tests
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    args = ap.parse_args(argv)
    bad = 0
    files = sorted(p for p in args.old.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(args.old).parts))
    for f in files:
        rel = f.relative_to(args.old)
        if rel.parts[0] == "stages" and rel.suffix == ".parquet" and f.parent.suffix == ".parquet":
            continue
        msg = compare(f, args.new / rel)
        print(f"{'same' if msg is None else 'DIFF'}  {rel}" + ("" if msg is None else f": {msg}"))
        bad += msg is not None
    print(f"{len(files) - bad} same, {bad} different")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
