"""Fetch, verify and convert the official Dutch data sets n2kzones uses.

``python -m n2kzones.datasets.realdata`` (or ``make data-real``) downloads the sources listed in
:data:`SOURCES` into ``data/raw/real/download/``, verifies them (checksum where one is
known, a minimum row count, and a schema check by reading the file with
:func:`n2kzones.io.readers.read_layer` and the matching preset) and converts the vector
layers into GeoPackages in EPSG:28992 (RD New) with n2kzones' canonical columns in
``data/raw/real/``. Use the converted files in a config with ``preset = "n2kzones"``.

Only the Python standard library (:mod:`urllib`) is used to download; every download goes
to a temporary file in the destination folder and is renamed into place when complete and
verified, so an interrupted or failed download never leaves a file that looks complete.
Without network the error says so and names the URL to fetch by hand.

Official sources
----------------
``natura2000``
    Natura 2000 boundaries, RVO via PDOK, WFS ``service.pdok.nl/rvo/natura2000`` as GeoJSON
    in EPSG:4326 (fields ``naamN2K``, ``nr``, ``sitecodeH``, ``sitecodeV``); preset
    ``pdok_natura2000``. Public domain.
``brp``
    Basisregistratie Gewaspercelen (BRP gewaspercelen), RVO via PDOK: one GeoPackage per
    year (layer ``brp_gewas``, EPSG:28992, ~770,000 parcels before 2023, ~2.3 million
    polygons including landscape elements since), linked from PDOK's ATOM download feed;
    preset ``brp_pdok``. CC0.
``gdn``
    RIVM GDN (Grootschalige Depositiekaarten Nederland): background total nitrogen
    deposition, 1 km x 1 km grid in mol N/ha/yr, ESRI ASCII grid in RD New without ``.prj``.
    RIVM moves the yearly files; give the file's URL with ``--url gdn=...`` (landing page
    below).
``habitat-standin`` (a command, not a download)
    Each Natura 2000 area's polygon as one habitat polygon of its most nitrogen-sensitive
    objective type, from the NDVH habitat template's objectives (offline, labelled a
    stand-in); see :func:`habitat_standin`.
``corine``
    CORINE Land Cover 2018 (CLC2018, Copernicus Land Monitoring Service / EEA), the 100 m
    raster ``U2018_CLC2018_V2020_20u1.tif`` (GeoTIFF, EPSG:3035, 44 classes stored as grid
    codes 1..44), recoded to the 9 OPS/DEPAC receptor land-use classes with the packaged
    table ``n2kzones/data/clc_ops_landuse.csv`` and written as
    ``data/raw/real/receptor_landuse.tif`` (RD New, 100 m, codes 1..9, nodata 0) for
    ``[inputs.receptor_landuse]``; see :func:`convert_corine`. The download needs a (free)
    EU login: give the file's URL with ``--url corine=...`` or save it by hand and use
    ``--offline`` (the zip CLMS delivers is read as it is).
``kdw``
    Critical deposition values (KDW): Wamelink et al. (2023), WEnR rapport 3272,
    doi:10.18174/633179 (PDF). The values n2kzones uses are transcribed in
    ``n2kzones/data/parameters.toml``; the PDF is fetched for reference only.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from n2kzones.datasets.real_local import (  # noqa: F401 - re-exported
    STANDIN_AREAS,
    STANDIN_OUT,
    STANDIN_TEMPLATE,
    habitat_standin,
)
from n2kzones.errors import InputError, N2kError

log = logging.getLogger(__name__)

#: Working CRS of the converted files (RD New, metres).
RD_NEW = "EPSG:28992"
#: Seconds to wait for a server before giving up.
DEFAULT_TIMEOUT_S = 60.0
USER_AGENT = "n2kzones-realdata/0.1 (+https://github.com/)"


class DownloadError(N2kError, OSError):
    """A download failed (no network, HTTP error) or its checksum did not match."""


@dataclass(frozen=True)
class Source:
    """One official data set: where it comes from and how to check and convert it.

    Attributes
    ----------
    name
        Short key used on the command line and as the converted file's name.
    kind
        n2kzones layer kind (``areas``, ``parcels``), or ``raster``/``document``.
    url
        Direct download URL; ``None`` when it must be resolved (ATOM) or given (``--url``).
    landing_page
        Human-readable page describing the data set.
    filename
        Name of the downloaded file.
    preset
        Column-mapping preset of :mod:`n2kzones.io.presets` for ``kind``.
    layer
        Layer name inside the downloaded file, if it has several.
    sha256
        Expected checksum, where a fixed file is known.
    min_rows
        Fewest features a complete download has (a truncated WFS answer has fewer).
    atom_feed
        ATOM feed whose ``<link href>`` entries list the downloadable files.
    atom_pattern
        Regular expression picking the wanted link from the feed (``{year}`` filled in).
    licence
        Licence as stated by the publisher.
    """

    name: str
    kind: str
    url: str | None
    landing_page: str
    filename: str
    preset: str | None = None
    layer: str | None = None
    sha256: str | None = None
    min_rows: int | None = None
    atom_feed: str | None = None
    atom_pattern: str | None = None
    licence: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


PDOK_N2000_WFS = (
    "https://service.pdok.nl/rvo/natura2000/wfs/v1_0?service=WFS&version=2.0.0"
    "&request=GetFeature&typeNames=natura2000:natura2000&outputFormat=application/json"
    "&srsName=EPSG:4326"
)
PDOK_BRP_ATOM = "https://service.pdok.nl/rvo/brpgewaspercelen/atom/v1_0/basisregistratie_gewaspercelen_brp.xml"

#: The official sources, by name (see the module docstring).
SOURCES: dict[str, Source] = {
    "natura2000": Source(
        name="natura2000",
        kind="areas",
        url=PDOK_N2000_WFS,
        landing_page="https://www.pdok.nl/introductie/-/article/natura-2000",
        filename="natura2000_pdok.geojson",
        preset="pdok_natura2000",
        min_rows=150,  # 162 Dutch areas; some are split over several features
        licence="public domain (RVO via PDOK)",
        notes=("No nitrogen-sensitive flag: take it from the RCE list (natura2000_json preset).",),
    ),
    "brp": Source(
        name="brp",
        kind="parcels",
        url=None,
        landing_page="https://www.pdok.nl/introductie/-/article/basisregistratie-gewaspercelen-brp-",
        filename="brpgewaspercelen_{year}.gpkg",
        preset="brp_pdok",
        layer="brp_gewas",
        min_rows=100_000,
        atom_feed=PDOK_BRP_ATOM,
        atom_pattern=r"brpgewaspercelen_(definitief|concept)_{year}\.gpkg$",
        licence="CC0 1.0 (RVO via PDOK)",
        notes=("Parcel ids are not stable across years; since 2023 landscape elements are included.",),
    ),
    "gdn": Source(
        name="gdn",
        kind="raster",
        url=None,
        landing_page="https://www.rivm.nl/gcn-gdn-kaarten/depositiekaart",
        filename="gdn_depositie_ntot.asc",
        licence="open data, cite RIVM GDN (year of release)",
        notes=(
            "ESRI ASCII grid, 1 km cells, mol N/ha/yr, RD New without .prj: set "
            "[inputs.background_deposition] assume_crs = \"EPSG:28992\".",
        ),
    ),
    "corine": Source(
        name="corine",
        kind="raster",
        url=None,
        landing_page="https://land.copernicus.eu/en/products/corine-land-cover/clc2018",
        filename="corine_clc2018_100m.tif",
        licence=(
            "Copernicus data: free, full and open; cite 'European Union, Copernicus Land "
            "Monitoring Service 2018, European Environment Agency (EEA)'"
        ),
        notes=(
            "Raster U2018_CLC2018_V2020_20u1.tif, 100 m, EPSG:3035, grid codes 1..44 (48 no "
            "data); a login at land.copernicus.eu is needed: pass --url corine=<url> or save "
            "the file (or the zip) by hand as download/corine_clc2018_100m.tif and use --offline.",
            "Converted to data/raw/real/receptor_landuse.tif (OPS/DEPAC classes 1..9, RD New) "
            "with n2kzones/data/clc_ops_landuse.csv: set [inputs.receptor_landuse] to it.",
        ),
    ),
    "kdw": Source(
        name="kdw",
        kind="document",
        url="https://doi.org/10.18174/633179",
        landing_page="https://research.wur.nl/en/publications/overzicht-van-kritische-depositiewaarden-voor-stikstof-toegepast-o-3",
        filename="kdw_wur_rapport_3272.pdf",
        licence="reproduction with clear attribution; not for commercial purposes",
        notes=("The KDW values used are in n2kzones/data/parameters.toml [kdw.habitats].",),
    ),
}


# -- download ---------------------------------------------------------------------------------
def fetch(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> IO[bytes]:
    """Open ``url`` for reading (a binary file-like object). Tests replace this function.

    Parameters
    ----------
    url
        HTTP(S) or ``file://`` URL.
    timeout
        Seconds to wait for the server (connect and each read).
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - URLs are ours/user's


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks of ``chunk_bytes`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    opener: Callable[[str, float], IO[bytes]] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, optionally checking its SHA-256.

    The bytes go to a temporary file in ``dest``'s folder; only when the transfer is
    complete (and the checksum matches) is it renamed to ``dest``. On any failure the
    temporary file is removed and an existing ``dest`` is left untouched.

    Parameters
    ----------
    url
        What to fetch.
    dest
        Where to write it (folders are created).
    sha256
        Expected hex SHA-256; a mismatch raises :class:`DownloadError`.
    timeout
        Seconds to wait for the server.
    opener
        Function ``(url, timeout) -> file-like``; default :func:`fetch`.

    Returns
    -------
    Path
        ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    open_url = opener or fetch
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    n_bytes = 0
    try:
        try:
            with os.fdopen(fd, "wb") as out, open_url(url, timeout) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    n_bytes += len(block)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: server answered HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                f"cannot download {url}: {reason}. Is there a network connection? Without one, "
                f"fetch the file by hand (e.g. in a browser) and save it as {dest}, then rerun "
                "with --offline"
            ) from exc
        if n_bytes == 0:
            raise DownloadError(f"{url}: the server sent an empty file")
        got = digest.hexdigest()
        if sha256 is not None and got.lower() != sha256.lower():
            raise DownloadError(
                f"{url}: checksum mismatch (expected sha256 {sha256}, got {got}); the file "
                f"was not saved to {dest}. The source may have been updated: check it and "
                "pass the new checksum"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, dest, n_bytes, got)
    return dest


def resolve_atom(feed_url: str, pattern: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 opener: Callable[[str, float], IO[bytes]] | None = None) -> str:
    """The ``href`` in an ATOM feed matching ``pattern``; of several, the newest year.

    Links are ranked by the last four-digit number in their file name (``..._2023.gpkg``),
    then by name (so ``definitief`` ranks above ``concept`` within a year).
    Nested feeds are not followed.

    Parameters
    ----------
    feed_url
        The ATOM feed (PDOK download service).
    pattern
        Regular expression searched in each link's ``href``.
    """
    open_url = opener or fetch
    try:
        with open_url(feed_url, timeout) as response:
            root = ET.fromstring(response.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DownloadError(
            f"cannot read the download feed {feed_url}: {getattr(exc, 'reason', exc)}. "
            "Is there a network connection?"
        ) from exc
    except ET.ParseError as exc:
        raise DownloadError(f"{feed_url} is not an ATOM (XML) feed: {exc}") from exc
    hrefs = [el.get("href", "") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "link"]
    def rank(href: str) -> tuple[int, str]:
        years = re.findall(r"(?<!\d)\d{4}(?!\d)", href.rsplit("/", 1)[-1])
        return (int(years[-1]) if years else -1, href)

    matches = sorted((h for h in hrefs if re.search(pattern, h)), key=rank)
    if matches:
        return matches[-1]
    raise DownloadError(f"{feed_url}: no download link matches {pattern!r} ({len(hrefs)} links)")


# -- verify and convert -----------------------------------------------------------------------
@dataclass
class Verification:
    """What :func:`verify` found: checksum, feature count and the reader's account."""

    path: Path
    sha256: str
    n_rows: int | None = None
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read(source: Source, path: Path, crs: str = RD_NEW):  # noqa: ANN202 - (gdf, report)
    from n2kzones.config import LayerInput
    from n2kzones.io.readers import read_layer
    from n2kzones.params import load_parameters

    if source.kind not in {"areas", "parcels", "farms", "habitats"}:
        raise InputError(f"source {source.name!r} ({source.kind}) is not a vector layer")
    spec = LayerInput(path=path, layer=source.layer, preset=source.preset or "n2kzones")
    return read_layer(source.kind, spec, crs=crs, params=load_parameters())  # type: ignore[arg-type]


def verify(source: Source, path: str | Path) -> Verification:
    """Check a downloaded file: SHA-256 (if known), readable with its preset, enough rows.

    For vector sources the file is read with :func:`n2kzones.io.readers.read_layer` and the
    source's preset, which checks the CRS, geometry types and required columns; a raster is
    opened with rasterio (cell size in m is logged). Raises :class:`DownloadError` or
    :class:`n2kzones.errors.InputError` naming the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; download it first (python -m n2kzones.datasets.realdata {source.name})")
    result = Verification(path=path, sha256=sha256_of(path))
    if source.sha256 and result.sha256 != source.sha256.lower():
        raise DownloadError(f"{path}: sha256 {result.sha256} differs from the known {source.sha256}")
    if source.kind in {"areas", "parcels", "farms", "habitats"}:
        gdf, report = _read(source, path)
        result.n_rows = report.n_read
        result.columns = [c for c in gdf.columns if c != "geometry"]
        result.notes = list(report.notes)
        if source.min_rows is not None and report.n_read < source.min_rows:
            raise InputError(
                f"{path}: {report.n_read} features, expected at least {source.min_rows} for "
                f"{source.name}; the download is probably truncated (WFS page limit?)"
            )
    elif source.kind == "raster":
        import rasterio
        from rasterio.errors import RasterioIOError

        try:
            ds = rasterio.open(raster_path(path))
        except RasterioIOError as exc:
            raise InputError(
                f"{path} is not a readable raster (or a zip holding one): {exc}"
            ) from exc
        with ds:
            result.n_rows = ds.height
            result.notes = [f"{ds.width} x {ds.height} cells of {ds.res[0]:g} m, crs {ds.crs}"]
    return result


def convert(source: Source, path: str | Path, out_dir: str | Path, *, crs: str = RD_NEW) -> Path:
    """Convert a downloaded vector layer into ``out_dir/<name>.gpkg`` in ``crs`` (RD New).

    The output has n2kzones' canonical columns for the source's kind (e.g. ``site_code``,
    ``name``, ``area_number``, ``nitrogen_sensitive`` for areas) followed by the source's
    other columns and ``input_row``; geometries are repaired and reprojected as the
    pipeline would. Written atomically; the layer is named after the source.

    Returns
    -------
    Path
        The GeoPackage written.
    """
    from n2kzones.io.writers import write_geopackage

    gdf, report = _read(source, Path(path), crs)
    out = Path(out_dir) / f"{source.name}.gpkg"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_geopackage(out, {source.name: gdf})
    log.info("converted %s: %d of %d features -> %s", source.name, report.n_kept, report.n_read, out)
    return out


def raster_path(path: str | Path) -> str:
    """The path rasterio opens for a downloaded raster: the file itself, or, for a zip (as
    CLMS delivers CORINE), GDAL's ``/vsizip/`` path of the largest ``.tif`` inside."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return str(path)
    with zipfile.ZipFile(path) as zf:
        tifs = [i for i in zf.infolist() if i.filename.lower().endswith((".tif", ".tiff"))]
    if not tifs:
        raise InputError(f"{path} is a zip without a .tif inside")
    inner = max(tifs, key=lambda i: i.file_size).filename
    return f"/vsizip/{{{path.resolve()}}}/{inner}"  # braces: the zip may not end in .zip


#: RD New extent the land-use raster covers by default (m): the Netherlands with the
#: Waddenzee and the coast (the RD New area of use, EPSG:28992), snapped to 1 km.
NL_BOUNDS_RD: tuple[float, float, float, float] = (0.0, 300_000.0, 280_000.0, 640_000.0)
#: Cell size of the land-use raster by default (m): that of the CLC raster.
LANDUSE_CELL_M = 100.0
#: Name of the converted land-use raster in the real-data folder.
LANDUSE_OUT = "receptor_landuse.tif"


def convert_corine(
    path: str | Path,
    out: str | Path,
    *,
    bounds: tuple[float, float, float, float] = NL_BOUNDS_RD,
    cell_m: float = LANDUSE_CELL_M,
    crs: str = RD_NEW,
) -> Path:
    """Write the OPS/DEPAC land-use classes of a CORINE raster as a GeoTIFF on an RD grid.

    Parameters
    ----------
    path
        The CLC raster (GeoTIFF, or the zip holding it), any CRS (CLMS: EPSG:3035).
    out
        GeoTIFF to write (atomically): uint8 class codes 1..9, nodata 0, ``crs``.
    bounds
        ``(x_min, y_min, x_max, y_max)`` of the grid in m (``crs``); snapped outward to
        multiples of ``cell_m``. Default: the Netherlands (:data:`NL_BOUNDS_RD`).
    cell_m
        Cell size in m (default 100 m, that of the CLC raster).
    crs
        CRS of the grid (default RD New).

    Returns
    -------
    Path
        ``out``. Band description and tags name the source and the conversion table.
    """
    import rasterio

    from n2kzones.deposition.landuse import CLC_TABLE, NO_CLASS, corine_landuse
    from n2kzones.io.grid import GridSpec
    from n2kzones.io.writers import atomic_path

    grid = GridSpec.from_bounds(bounds, cell_m)
    classes = corine_landuse(raster_path(path), grid, crs)
    out = Path(out)
    profile = {
        "driver": "GTiff", "height": grid.n_rows, "width": grid.n_cols, "count": 1,
        "dtype": "uint8", "crs": crs, "transform": grid.transform, "nodata": NO_CLASS,
        "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256,
    }
    with atomic_path(out) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(classes, 1)
        dst.set_band_description(1, "OPS/DEPAC receptor land-use class (1..9)")
        dst.update_tags(
            source=f"CORINE Land Cover ({Path(path).name})",
            conversion=f"n2kzones/data/{CLC_TABLE}",
            units="class code",
            classes="1 grass, 2 arable, 3 permanent crops, 4 coniferous forest, 5 deciduous "
            "forest, 6 water, 7 urban, 8 heath and other nature, 9 bare soil/desert",
        )
    n = int((classes != NO_CLASS).sum())
    log.info("converted corine: %d of %d cells with a class -> %s", n, classes.size, out)
    return out


def fetch_source(
    source: Source,
    download_dir: str | Path,
    *,
    url: str | None = None,
    year: int | None = None,
    offline: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Download one source (unless ``offline``) into ``download_dir``; returns the file.

    ``url`` overrides the source's URL; ``year`` picks the BRP year from the ATOM feed.
    """
    filename = source.filename.format(year=year or "latest")
    dest = Path(download_dir) / filename
    if offline:
        if not dest.is_file():
            raise InputError(f"--offline: {dest} is missing; download {url or source.url or source.landing_page} by hand")
        return dest
    target = url or source.url
    if target is None and source.atom_feed and source.atom_pattern:
        pattern = source.atom_pattern.format(year=year if year else r"\d{4}")
        target = resolve_atom(source.atom_feed, pattern, timeout=timeout)
    if target is None:
        raise InputError(
            f"source {source.name!r} has no fixed download URL; find the file on "
            f"{source.landing_page} and pass --url {source.name}=<url>"
        )
    return download(target, dest, source.sha256 if url is None else None, timeout=timeout)


def _standin_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m n2kzones.datasets.realdata habitat-standin",
        description="Write data/raw/real/habitat_standin.gpkg: each Natura 2000 area as one "
        "habitat polygon of its most sensitive objective type (NDVH habitat template), "
        "labelled a stand-in.",
    )
    add = parser.add_argument
    add("--areas", type=Path, default=STANDIN_AREAS, help="areas file or JSON folder")
    add("--areas-preset", default=None, help="preset of --areas (default: by file type)")
    add("--areas-layer", default=None, help="layer of --areas in a multi-layer file")
    add("--template", type=Path, default=STANDIN_TEMPLATE, help="NDVH habitat template zip")
    add("--out", type=Path, default=STANDIN_OUT, help="GeoPackage to write")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        out = habitat_standin(
            args.areas,
            args.template,
            args.out,
            areas_preset=args.areas_preset,
            areas_layer=args.areas_layer,
        )
    except N2kError as exc:
        print(f"n2kzones.datasets.realdata habitat-standin: {exc}", file=sys.stderr)
        return 2
    print(f"habitat_standin {out}")
    return 0


def _prepare_main(argv: Sequence[str]) -> int:
    from n2kzones.datasets.real_local import REAL_FILES, prepare_real

    parser = argparse.ArgumentParser(
        prog="python -m n2kzones.datasets.realdata prepare",
        description="Fill data/raw/real/ (the files config/real.toml reads) from a local copy of "
        "the public data laid out as ../shared/data/real: vector layers converted, rasters and "
        "the farm file linked, the habitat stand-in built. Files: "
        + ", ".join(f.name for f in REAL_FILES),
    )
    parser.add_argument("--from", dest="from_dir", type=Path, required=True, help="local copy of the data")
    parser.add_argument("--out", type=Path, default=Path("data/raw/real"), help="real-data folder")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        done = prepare_real(args.from_dir, args.out)
    except N2kError as exc:
        print(f"n2kzones.datasets.realdata prepare: {exc}", file=sys.stderr)
        return 2
    for name, what in done.items():
        print(f"{name:34s} {what}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m n2kzones.datasets.realdata [natura2000 brp gdn corine kdw] ...``,
    or ``python -m n2kzones.datasets.realdata habitat-standin [--areas ...] [--template ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["habitat-standin"]:
        return _standin_main(argv[1:])
    if argv[:1] == ["prepare"]:
        return _prepare_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m n2kzones.datasets.realdata",
        description="Download, verify and convert the official data sets into data/raw/real/.",
    )
    parser.add_argument("sources", nargs="*", default=["natura2000", "brp"],
                        help=f"which sources (default: natura2000 brp); known: {', '.join(SOURCES)}")
    parser.add_argument("--out", type=Path, default=Path("data/raw/real"), help="folder for converted GeoPackages")
    parser.add_argument("--download-dir", type=Path, default=None, help="folder for downloads (default OUT/download)")
    parser.add_argument("--url", action="append", default=[], metavar="NAME=URL", help="override a source's URL")
    parser.add_argument("--year", type=int, default=None, help="BRP year (default: the first in PDOK's feed)")
    parser.add_argument("--offline", action="store_true", help="use files already in the download folder")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for a server")
    parser.add_argument("--bounds", type=float, nargs=4, default=list(NL_BOUNDS_RD),
                        metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                        help="RD New extent (m) of the converted land-use raster (corine); "
                        "default the Netherlands")
    parser.add_argument("--cell", type=float, default=LANDUSE_CELL_M,
                        help="cell size (m) of the converted land-use raster (corine)")
    parser.add_argument("--list", action="store_true", help="list the sources and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)

    if args.list:
        for s in SOURCES.values():
            print(f"{s.name:11s} {s.kind:9s} {s.url or s.atom_feed or '(give --url)'}\n{'':21s}{s.landing_page}; {s.licence}")
        return 0
    unknown = [s for s in args.sources if s not in SOURCES]
    if unknown:
        parser.error(f"unknown source(s) {unknown}; known: {', '.join(SOURCES)}")
    urls: dict[str, str] = {}
    for item in args.url:
        name, sep, value = item.partition("=")
        if not sep or name not in SOURCES:
            parser.error(f"--url expects NAME=URL with NAME one of {', '.join(SOURCES)}; got {item!r}")
        urls[name] = value
    download_dir = args.download_dir or args.out / "download"
    summary: dict[str, Any] = {}
    try:
        for name in args.sources:
            source = SOURCES[name]
            path = fetch_source(source, download_dir, url=urls.get(name), year=args.year,
                                offline=args.offline, timeout=args.timeout)
            check = verify(source, path)
            if source.kind in {"areas", "parcels"}:
                out = convert(source, path, args.out)
            elif name == "corine":
                out = convert_corine(
                    path, args.out / LANDUSE_OUT, bounds=tuple(args.bounds), cell_m=args.cell
                )
            else:
                out = path
            summary[name] = (out, check.n_rows, check.sha256[:12])
    except N2kError as exc:
        print(f"n2kzones.datasets.realdata: {exc}", file=sys.stderr)
        return 2
    for name, (out, n, sha) in summary.items():
        print(f"{name:11s} {out}  rows={n}  sha256={sha}...")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
