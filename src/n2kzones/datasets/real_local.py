"""Lay out ``data/raw/real/`` for ``config/real.toml`` from a local copy of the public data.

``config/real.toml`` reads fixed file names under ``data/raw/real/`` (:data:`REAL_FILES`).
Two routes fill them:

* ``make data-real`` downloads and converts the official sources (PDOK Natura 2000, BRP, ...;
  :mod:`n2kzones.datasets.realdata`); the files that cannot be downloaded (the farm
  registry of the omgevingsdiensten, RIVM's NH3 concentration grid) are put there by hand.
* ``python -m n2kzones.datasets.realdata prepare --from DIR`` (what ``make real`` runs when
  ``../shared/data/real`` exists) takes them from a folder laid out as that one: vector
  layers are converted to GeoPackages with n2kzones' canonical columns (as the download
  route does), rasters and files read as they are get a symbolic link (never a copy), and
  the habitat stand-in is built from the NDVH template (:func:`realdata.habitat_standin`).

Each output is made only when missing or older than its source (a rerun is quick), and
written atomically (a temporary name renamed into place), so an interrupted run leaves
either the old file or the new one.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from n2kzones.errors import InputError

#: Working CRS of the real data (RD New, metres).
RD_NEW = "EPSG:28992"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealFile:
    """One file ``config/real.toml`` reads from ``data/raw/real/``.

    Attributes
    ----------
    name
        File name under the real-data folder (``download/`` for the download route's files).
    what
        What it holds, for the log and the docs.
    local
        Path inside a local copy of the public data (``../shared/data/real``).
    how
        ``"convert"`` (read with ``kind`` and ``preset``, written with canonical columns),
        ``"link"`` (a symbolic link) or ``"standin"`` (built from the areas and ``local``).
    kind, preset, layer
        Layer kind and preset for ``"convert"``.
    otherwise
        How the file gets there without the local copy.
    """

    name: str
    what: str
    local: str
    how: str
    kind: str = ""
    preset: str = "n2kzones"
    layer: str | None = None
    otherwise: str = ""


#: The real-data layout ``config/real.toml`` reads (in the order they are made).
REAL_FILES: tuple[RealFile, ...] = (
    RealFile(
        "natura2000.gpkg",
        "Natura 2000 areas (160, nitrogen-sensitive flag from RCE)",
        "natura2000-nl-pdok-rce/gebieden",
        "convert",
        kind="areas",
        preset="natura2000_json",
        otherwise="make data-real (PDOK; every area then counts as sensitive)",
    ),
    RealFile(
        "brp.gpkg",
        "BRP gewaspercelen (crop parcels)",
        "brp-gewaspercelen-2023-sample/brpgewaspercelen_definitief_2023.gpkg",
        "convert",
        kind="parcels",
        preset="brp_pdok",
        otherwise="make data-real (PDOK ATOM feed)",
    ),
    RealFile(
        "veehouderijen.gpkg",
        "livestock farms (IGO veehouderijen of the omgevingsdiensten)",
        "veehouderijen-igo-n2000-zones/data.gpkg",
        "link",
        otherwise="by hand: the omgevingsdienst's IGO export (read with preset igo_veehouderijen)",
    ),
    RealFile(
        "download/gdn_depositie_ntot.asc",
        "background total N deposition (RIVM GDN, mol N/ha/yr)",
        "gcn-depositie-ntot-2018/depo_ntot_2018.asc",
        "link",
        otherwise="make data-real REALDATA_ARGS='gdn --url gdn=<RIVM file URL>'",
    ),
    RealFile(
        "gcn_nh3_concentratie.asc",
        "NH3 air concentration (RIVM GCN, ug/m3)",
        "gcn-nh3-concentratie-2023/conc_NH3_2023.asc",
        "link",
        otherwise="by hand: RIVM GCN NH3 concentration grid (rivm.nl/gcn-gdn-kaarten)",
    ),
    RealFile(
        "provincies.geojson",
        "provinces (CBS gebiedsindelingen, land only)",
        "cbs-gebiedsindelingen-2026/provincies_zonder_water.geojson",
        "link",
        otherwise="by hand: CBS/PDOK gebiedsindelingen provinces (read with preset cbs_provinces)",
    ),
    RealFile(
        "gemeenten.geojson", "municipalities (CBS gebiedsindelingen, land only), map context",
        "cbs-gebiedsindelingen-2026/gemeenten_zonder_water.geojson", "link",
        otherwise="by hand: CBS/PDOK gebiedsindelingen municipalities",
    ),
    RealFile(
        "habitat_standin.gpkg",
        "habitat stand-in per area (most sensitive objective type)",
        "ndvh-habitat-template-2023/NDVH_Habitat_template_T0_v2023.1.3_Prod.zip",
        "standin",
        otherwise="make habitat-standin (needs natura2000.gpkg and the NDVH template zip)",
    ),
)


def _up_to_date(out: Path, *sources: Path) -> bool:
    if not out.exists():
        return False
    newest = max(
        s.stat().st_mtime
        if s.is_file()
        else max((f.stat().st_mtime for f in s.rglob("*")), default=0.0)
        for s in sources
    )
    return out.stat().st_mtime >= newest


def _link(src: Path, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(src.resolve(), tmp)
    os.replace(tmp, out)


def _convert(item: RealFile, src: Path, out: Path) -> str:
    from n2kzones.config import LayerInput
    from n2kzones.io.readers import read_layer
    from n2kzones.io.writers import write_geopackage
    from n2kzones.params import load_parameters

    spec = LayerInput(path=src, layer=item.layer, preset=item.preset)
    gdf, report = read_layer(item.kind, spec, crs="EPSG:28992", params=load_parameters())  # type: ignore[arg-type]
    write_geopackage(out, {out.stem: gdf})
    return f"{report.n_kept} of {report.n_read} features"


def prepare_real(from_dir: str | Path, out_dir: str | Path = "data/raw/real") -> dict[str, str]:
    """Fill ``out_dir`` with the files of :data:`REAL_FILES` from a local copy of the data.

    Parameters
    ----------
    from_dir
        A folder laid out as ``../shared/data/real`` (see its PROVENANCE.md).
    out_dir
        The real-data folder ``config/real.toml`` reads (``data/raw/real``).

    Returns
    -------
    dict
        Per file name what was done: ``"converted: ..."``, ``"linked"``, ``"built: ..."``,
        ``"up to date"``.

    Raises
    ------
    InputError
        If ``from_dir`` is not a folder or lacks a file of :data:`REAL_FILES`, naming the
        file and how to get it otherwise.
    """
    from_dir, out_dir = Path(from_dir), Path(out_dir)
    if not from_dir.is_dir():
        raise InputError(
            f"{from_dir} is not a folder; give a local copy of the public data (as ../shared/data/real)"
        )
    missing = [f for f in REAL_FILES if not (from_dir / f.local).exists()]
    if missing:
        raise InputError(
            f"{from_dir} lacks "
            + "; ".join(f"{f.local} ({f.what}; otherwise: {f.otherwise})" for f in missing)
        )
    done: dict[str, str] = {}
    for item in REAL_FILES:
        src, out = from_dir / item.local, out_dir / item.name
        out.parent.mkdir(parents=True, exist_ok=True)
        deps = (src, out_dir / "natura2000.gpkg") if item.how == "standin" else (src,)
        if item.how != "link" and _up_to_date(out, *deps):
            done[item.name] = "up to date"
            continue
        t0 = time.perf_counter()
        if item.how == "link":
            if out.is_symlink() and out.resolve() == src.resolve():
                done[item.name] = "up to date"
                continue
            _link(src, out)
            done[item.name] = "linked"
        elif item.how == "convert":
            done[item.name] = f"converted: {_convert(item, src, out)}"
        elif item.how == "standin":
            habitat_standin(out_dir / "natura2000.gpkg", src, out)
            done[item.name] = "built"
        else:  # pragma: no cover - REAL_FILES is fixed
            raise ValueError(item.how)
        log.info(
            "real data %s: %s from %s (%.1f s)",
            item.name,
            done[item.name],
            src,
            time.perf_counter() - t0,
        )
    return done


#: Where :func:`habitat_standin` writes by default.
STANDIN_OUT = Path("data/raw/real/habitat_standin.gpkg")
#: Default areas for :func:`habitat_standin` (the converted PDOK areas of ``natura2000``).
STANDIN_AREAS = Path("data/raw/real/natura2000.gpkg")
#: Default NDVH habitat template (the zip in the steering repository's shared data).
STANDIN_TEMPLATE = Path(
    "../shared/data/real/ndvh-habitat-template-2023/NDVH_Habitat_template_T0_v2023.1.3_Prod.zip"
)


def habitat_standin(
    areas: str | Path,
    template: str | Path,
    out: str | Path,
    *,
    areas_preset: str | None = None,
    areas_layer: str | None = None,
    crs: str = RD_NEW,
) -> Path:
    """Write the offline habitat stand-in: each Natura 2000 area's polygon as one habitat
    polygon of its most nitrogen-sensitive objective type
    (:func:`n2kzones.habitats.objective_standin`).

    Parameters
    ----------
    areas
        Natura 2000 areas with ``site_code`` and ``area_number``: the converted
        ``natura2000.gpkg`` (preset ``n2kzones``), the PDOK GeoJSON (``pdok_natura2000``) or
        the RCE/PDOK JSON folder (``natura2000_json``; a folder picks it by default).
    template
        The NDVH habitat template zip (``NDVH_Habitat_template_T0_v2023.1.3_Prod.zip``).
    out
        GeoPackage to write (layer ``habitat_standin``), atomically.
    areas_preset, areas_layer
        Preset and layer of ``areas`` (default: ``natura2000_json`` for a folder, else
        ``n2kzones``).
    crs
        CRS of the output (RD New).

    Returns
    -------
    Path
        ``out``. Its ``habitat_source`` column says it is a stand-in; the pipeline carries that
        to the per-area table, the manifest, the report and the maps.
    """
    from n2kzones.config import LayerInput
    from n2kzones.habitats import objective_standin
    from n2kzones.io.ndvh import read_ndvh_objectives
    from n2kzones.io.readers import read_layer
    from n2kzones.io.writers import write_geopackage
    from n2kzones.kdw import load_kdw_table
    from n2kzones.params import load_parameters

    areas = Path(areas)
    preset = areas_preset or ("natura2000_json" if areas.is_dir() else "n2kzones")
    spec = LayerInput(path=areas, layer=areas_layer, preset=preset)
    params = load_parameters()
    gdf, _ = read_layer("areas", spec, crs=crs, params=params)
    if "area_number" not in gdf.columns or gdf["area_number"].isna().all():
        raise InputError(
            f"{areas}: the areas have no area_number (the Natura 2000 area number the template's "
            "objectives are keyed by); use the PDOK layer (preset pdok_natura2000 maps nr), the "
            "RCE/PDOK JSON folder, or map area_number under its columns"
        )
    standin = objective_standin(gdf, read_ndvh_objectives(template), load_kdw_table())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_geopackage(out, {"habitat_standin": standin})
    c = standin.attrs["standin"]
    log.info(
        "habitat stand-in: %d areas -> %s (%d areas with objectives; without polygon %s; "
        "types from their variants %s; types without KDW %s)",
        len(standin),
        out,
        c["areas_with_objectives"],
        c["objective_areas_without_polygon"],
        sorted(c["types_kdw_from_variants"]),
        c["types_without_kdw"],
    )
    return out
