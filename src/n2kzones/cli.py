"""Command-line interface: ``n2kzones <stage> --config config/sample.toml``.

The library only logs; this module owns the log handlers and progress bars, and turns
n2kzones' errors into one clear message and exit code 2 (a traceback only with ``-vv``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from n2kzones.errors import N2kError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Zones around Natura 2000 areas, parcel/farm overlay, NH3 deposition and RKO analysis.",
)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Project config (TOML).")]
BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", help="'local' or 'dask' (overrides \\[compute] backend)."),
]
EngineOpt = Annotated[
    str | None,
    typer.Option("--engine", hidden=True, help="Deprecated name of --backend."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786); implies --backend dask."),
]
RebuildOpt = Annotated[
    bool,
    typer.Option("--rebuild-upstream", help="Rerun upstream stages whose outputs are missing or stale first."),
]
AreasOpt = Annotated[
    str | None,
    typer.Option("--areas", help="Only these Natura 2000 areas: site codes or names, comma-separated "
                 "(replaces \\[project] areas; list them with `n2kzones areas`)."),
]
ProvinceOpt = Annotated[
    str | None,
    typer.Option("--province", help="Only the Natura 2000 areas in these provinces: names or "
                 "codes (PV21), comma-separated, case- and accent-insensitive (replaces "
                 "\\[project] province; needs \\[inputs.provinces]; with --areas: the areas "
                 "both choose)."),
]
DEFAULT_CONFIG = Path("config/sample.toml")

_state = {"verbose": 0}


@app.callback()
def main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More output (-vv: debug).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    """Set up logging for every subcommand."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    _state["verbose"] = verbose
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # Dask's distributed configures its own loggers when imported; tell it (through its
    # config's environment variable) to stay quiet unless -vv asks for debug output.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "debug" if verbose > 1 else "warning")
    for noisy in ("numba", "fiona", "pyogrio", "rasterio", "matplotlib", "PIL", "distributed", "bokeh", "tornado"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _run(step: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - thin wrapper
    """Call ``fn``; an n2kzones error becomes one red line and exit code 2 (a traceback with -vv)."""
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except N2kError as exc:
        if _state["verbose"] > 1:
            raise
        typer.secho(f"n2kzones {step}: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.secho(f"n2kzones {step}: done in {time.perf_counter() - t0:.1f} s", err=True, fg=typer.colors.GREEN)
    return result


def _config(path: Path, backend: str | None = None, scheduler: str | None = None, engine: str | None = None,  # noqa: ANN202
            areas: str | None = None, province: str | None = None):
    from n2kzones.config import load_config

    if engine is not None:
        typer.secho("--engine is deprecated: use --backend (same values)", err=True, fg=typer.colors.YELLOW)
        backend = backend or engine
    changes = {k: v for k, v in (("backend", "dask" if scheduler else backend), ("scheduler", scheduler)) if v}

    def load():  # noqa: ANN202
        cfg = load_config(path)
        if areas is not None:
            cfg = cfg.with_areas(_split(areas))
        if province is not None:
            cfg = cfg.with_province(_split(province))
        return cfg.with_compute(**changes) if changes else cfg

    return _run("config", load)


def _split(text: str) -> list[str]:
    """Comma-separated command-line entries, trimmed, blanks left out."""
    return [a for a in (x.strip() for x in text.split(",")) if a]


@contextmanager
def _backend(cfg):  # noqa: ANN001, ANN202
    """The configured compute backend for a command (one Dask cluster for all its stages)."""
    from n2kzones.compute import open_backend

    try:
        with open_backend(cfg.compute) as backend:
            yield backend
    except N2kError as exc:
        if _state["verbose"] > 1:
            raise
        typer.secho(f"n2kzones: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None


def _stage(name: str, config: Path, *, rebuild: bool = False, backend: str | None = None, scheduler: str | None = None,
           engine: str | None = None, areas: str | None = None, province: str | None = None,
           **options) -> None:  # noqa: ANN003
    from n2kzones.stages.run import ON_BACKEND, run_stage

    cfg = _config(config, backend, scheduler, engine, areas, province)
    if name in ON_BACKEND or rebuild:
        with _backend(cfg) as be:
            _run(name, run_stage, name, cfg, backend=be, rebuild_upstream=rebuild, **options)
    else:
        _run(name, run_stage, name, cfg, rebuild_upstream=rebuild, **options)


@app.command()
def sample(
    out: Annotated[Path, typer.Option(help="Folder for the generated layers.")] = Path("data/raw/sample"),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 20260626,
    scale: Annotated[int, typer.Option(min=1, help="Number of 40 x 40 km tiles (32 ~ national).")] = 1,
    density: Annotated[
        int,
        typer.Option(
            min=1,
            help="About this many times the parcels and farms on the same tiles, areas and "
            "habitats (1 to 8; 1 is the standard sample).",
        ),
    ] = 1,
) -> None:
    """Generate the embedded sample region (areas, habitats, parcels, farms, background)."""
    from n2kzones.datasets.sample import generate_sample

    summary = _run("sample", generate_sample, out, seed=seed, scale=scale, density=density)
    typer.echo(str(summary))


@app.command()
def synthetic(
    out: Annotated[Path, typer.Option(help="Folder for the generated data set.")] = Path("data/raw/synthetic"),
    parcels: Annotated[int, typer.Option(min=1, help="Number of parcels (exact).")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical rows.")] = 20260626,
    partition_rows: Annotated[
        int, typer.Option(min=1000, help="Parcels per GeoParquet partition file (about).")
    ] = 200_000,
    crs: Annotated[str, typer.Option(help="Projected CRS in metres of all layers.")] = "EPSG:3035",
) -> None:
    """Generate a synthetic EU-scale data set as partitioned GeoParquet (tests, benchmarks)."""
    from n2kzones.datasets.synthetic import generate_synthetic

    summary = _run(
        "synthetic",
        generate_synthetic,
        out,
        n_parcels=parcels,
        seed=seed,
        partition_rows=partition_rows,
        crs=crs,
        progress=sys.stderr.isatty(),
    )
    typer.echo(str(summary))


@app.command()
def check(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Validate a config file and show the resolved inputs."""
    cfg = _config(config)
    typer.echo(f"config {config} is valid; output folder {cfg.output_dir}")
    for kind in ("areas", "habitats", "parcels", "farms", "provinces", "background_deposition",
                 "nh3_background", "receptor_landuse", "receptor_z0"):
        spec = getattr(cfg.inputs, kind)
        if spec is not None:
            typer.echo(f"  {kind:22s} {cfg.resolve(spec.path)}")


def _read_input(cfg, kind: str, spec):  # noqa: ANN001, ANN202 - (GeoDataFrame, LayerReport)
    """Read one input layer of ``cfg`` as the stages do (working CRS, parameters, project folder)."""
    from n2kzones.io.readers import read_layer

    return read_layer(kind, spec, crs=cfg.project.crs, params=cfg.params, base_dir=cfg.base_dir)


@app.command("areas")
def list_areas(
    config: ConfigOpt = DEFAULT_CONFIG,
    by_province: Annotated[
        bool,
        typer.Option(
            "--by-province",
            help="Group the areas per province of \\[inputs.provinces] (an area "
            "in two provinces under both, with the hectares inside each).",
        ),
    ] = False,
    province: ProvinceOpt = None,
) -> None:
    """List the Natura 2000 areas of inputs.areas (site code and name), for [project] areas /
    --areas; per province with --by-province or --province (* marks the config's choice)."""

    cfg = _config(config, province=province)
    gdf, _ = _run("areas", _read_input, cfg, "areas", cfg.inputs.areas)
    chosen = _chosen_codes(cfg, gdf)
    if not (by_province or province):
        for code, name in zip(
            gdf["site_code"].astype(str), gdf.get("name", gdf["site_code"]).astype(str), strict=True
        ):
            typer.echo(f"{'*' if code in chosen else ' '} {code}  {name}")
        return
    from n2kzones.zones import areas_in_provinces, match_provinces

    if cfg.inputs.provinces is None:
        typer.secho(
            "n2kzones areas: --by-province needs [inputs.provinces] in the config (e.g. the CBS "
            'file provincies_zonder_water.geojson with preset = "cbs_provinces")',
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(code=2)
    provinces, _ = _run("provinces", _read_input, cfg, "provinces", cfg.inputs.provinces)
    if cfg.project.province:
        provinces = provinces.iloc[
            _run("province", match_provinces, provinces, cfg.project.province)
        ]
    pairs = areas_in_provinces(gdf, provinces)
    for name, group in pairs.groupby("province", sort=False):
        code = group["province_code"].iloc[0]
        label = f"{name} ({code})" if isinstance(code, str) else name
        typer.echo(f"{label}: {len(group)} areas")
        for row in group.itertuples():
            part = (
                ""
                if row.share_pct >= 99.95
                else f"  ({row.overlap_ha:,.0f} ha, {row.share_pct:.3g}% of it)"
            )
            typer.echo(
                f"  {'*' if row.site_code in chosen else ' '} {row.site_code}  {row.name}{part}"
            )
    if not cfg.project.province:
        outside = [c for c in gdf["site_code"].astype(str) if c not in set(pairs["site_code"])]
        if outside:
            typer.echo(f"in no province: {len(outside)} areas")
            names = dict(
                zip(
                    gdf["site_code"].astype(str),
                    gdf.get("name", gdf["site_code"]).astype(str),
                    strict=True,
                )
            )
            for code in outside:
                typer.echo(f"  {'*' if code in chosen else ' '} {code}  {names[code]}")


def _chosen_codes(cfg, areas) -> set[str]:  # noqa: ANN001
    """Site codes the config's [project] areas and province choose (empty: no choice, no match)."""
    from n2kzones.zones import choose_areas, choose_areas_by_province

    if not cfg.project.chooses_areas:
        return set()
    try:
        codes = choose_areas(areas, cfg.project.areas)[1] if cfg.project.areas else None
        if cfg.project.province and cfg.inputs.provinces is not None:
            provinces, _ = _read_input(cfg, "provinces", cfg.inputs.provinces)
            codes = choose_areas_by_province(
                areas, provinces, cfg.project.province, within=codes
            ).site_codes
    except N2kError as exc:
        typer.secho(f"n2kzones areas: {exc}", err=True, fg=typer.colors.YELLOW)
        return set()
    return set(codes or ())


@app.command()
def zones(
    config: ConfigOpt = DEFAULT_CONFIG, rebuild_upstream: RebuildOpt = False,
    areas: AreasOpt = None, province: ProvinceOpt = None,
) -> None:
    """Build the zones per area and the national zone layer."""
    _stage("zones", config, rebuild=rebuild_upstream, areas=areas, province=province)


@app.command()
def overlay(
    config: ConfigOpt = DEFAULT_CONFIG, backend: BackendOpt = None, scheduler: SchedulerOpt = None,
    rebuild_upstream: RebuildOpt = False, engine: EngineOpt = None, areas: AreasOpt = None,
    province: ProvinceOpt = None,
) -> None:
    """Overlay parcels and farms with the zones; write the GeoPackage and CSV tables."""
    _stage("overlay", config, rebuild=rebuild_upstream, backend=backend, scheduler=scheduler, engine=engine,
           areas=areas, province=province, progress=sys.stderr.isatty())


@app.command()
def deposition(
    config: ConfigOpt = DEFAULT_CONFIG, backend: BackendOpt = None, scheduler: SchedulerOpt = None,
    rebuild_upstream: RebuildOpt = False, engine: EngineOpt = None, areas: AreasOpt = None,
    province: ProvinceOpt = None,
) -> None:
    """NH3 deposition from the farms on hexagon receptors and a grid; KDW overload per area."""
    _stage("deposition", config, rebuild=rebuild_upstream, backend=backend, scheduler=scheduler, engine=engine,
           areas=areas, province=province, progress=sys.stderr.isatty())


@app.command()
def rko(
    config: ConfigOpt = DEFAULT_CONFIG, backend: BackendOpt = None, scheduler: SchedulerOpt = None,
    rebuild_upstream: RebuildOpt = False, engine: EngineOpt = None, areas: AreasOpt = None,
    province: ProvinceOpt = None,
) -> None:
    """RKO threshold sweep: permit-free sources and what their deposition adds up to."""
    _stage("rko", config, rebuild=rebuild_upstream, backend=backend, scheduler=scheduler,
           engine=engine, areas=areas, province=province)


@app.command()
def select(
    config: ConfigOpt = DEFAULT_CONFIG, rebuild_upstream: RebuildOpt = False,
    areas: AreasOpt = None, province: ProvinceOpt = None,
) -> None:
    """Propose zone widths from the deposition coming from within 500 m / 1000 m of each area."""
    _stage("select", config, rebuild=rebuild_upstream, areas=areas, province=province)


@app.command()
def scenario(
    config: ConfigOpt = DEFAULT_CONFIG, rebuild_upstream: RebuildOpt = False,
    areas: AreasOpt = None, province: ProvinceOpt = None,
) -> None:
    """Scenarios from the config and zone effectiveness (inside vs outside the zones)."""
    _stage("scenario", config, rebuild=rebuild_upstream, areas=areas, province=province)


@app.command()
def policy(
    config: ConfigOpt = DEFAULT_CONFIG, backend: BackendOpt = None, scheduler: SchedulerOpt = None,
    rebuild_upstream: RebuildOpt = False, engine: EngineOpt = None, areas: AreasOpt = None,
    province: ProvinceOpt = None,
) -> None:
    """Thresholds per area, relative (% of KDW) and named foreign thresholds: permit-free sources and their sum."""
    _stage("policy", config, rebuild=rebuild_upstream, backend=backend, scheduler=scheduler,
           engine=engine, areas=areas, province=province)


@app.command()
def maps(
    config: ConfigOpt = DEFAULT_CONFIG,
    self_contained: Annotated[
        bool,
        typer.Option("--self-contained/--no-self-contained", help="Inline Leaflet's JS/CSS (no CDN needed)."),
    ] = True,
    rebuild_upstream: RebuildOpt = False,
    areas: AreasOpt = None,
    province: ProvinceOpt = None,
) -> None:
    """Interactive maps: maps/index.html (overview) and maps/area_<site_code>.html per area."""
    _stage("maps", config, rebuild=rebuild_upstream, areas=areas, province=province,
           self_contained=self_contained)


PdfOpt = Annotated[
    bool | None,
    typer.Option(
        "--pdf/--no-pdf",
        help="Also print to PDF with headless Chromium (default: \\[report] pdf).",
    ),
]


@app.command()
def report(
    config: ConfigOpt = DEFAULT_CONFIG, rebuild_upstream: RebuildOpt = False,
    areas: AreasOpt = None, province: ProvinceOpt = None, pdf: PdfOpt = None,
) -> None:
    """HTML report with figures (RKO sweep, overload, zone proposal, scenarios), links, an
    analysis page per area (report/areas/) and, with --pdf, report/report.pdf and a PDF per area."""
    _stage("report", config, rebuild=rebuild_upstream, areas=areas, province=province, pdf=pdf)


@app.command("farm-sheet")
def farm_sheet(
    config: ConfigOpt = DEFAULT_CONFIG,
    farm: Annotated[
        list[str] | None,
        typer.Option("--farm", help="A farm id (repeat for more); replaces \\[report] farm_ids."),
    ] = None,
    area: Annotated[
        list[str] | None,
        typer.Option(
            "--area",
            help="Every farm in this area's zone or nearest to it (site code; repeat for "
            "more); replaces \\[report] farm_areas.",
        ),
    ] = None,
    pdf: PdfOpt = None,
    rebuild_upstream: RebuildOpt = False,
) -> None:
    """A sheet per farm in farm_sheets/ (farm_<id>.html and .csv, .pdf with --pdf): zones,
    distance, land-based norms, NH3, largest contribution and where, RKO status, scenarios.
    Runs the report stage with these farms."""
    if not farm and not area:
        typer.secho(
            "n2kzones farm-sheet: give --farm ID (one or more) or --area SITECODE",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(code=2)
    cfg = _config(config)
    cfg = _run("config", cfg.with_report, farm_ids=list(farm or []), farm_areas=list(area or []))
    from n2kzones.stages.run import run_stage

    _run("farm-sheet", run_stage, "report", cfg, rebuild_upstream=rebuild_upstream, pdf=pdf)
    from n2kzones.stages.catalogue import output_path

    typer.echo(str(output_path(cfg.output_dir, "farm_sheets")))


@app.command()
def run(
    config: ConfigOpt = DEFAULT_CONFIG, backend: BackendOpt = None, scheduler: SchedulerOpt = None,
    until: Annotated[str | None, typer.Option(help="Last stage to run (default: all, up to report).")] = None,
    engine: EngineOpt = None, areas: AreasOpt = None,
    province: ProvinceOpt = None,
) -> None:
    """Run every stage in order, zones to report (one cluster for all)."""
    from n2kzones.stages.catalogue import STAGES
    from n2kzones.stages.run import run_all

    if until is not None and until not in STAGES:
        typer.secho(f"n2kzones run: --until must be one of {', '.join(STAGES)}; got {until!r}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    stages = STAGES[: STAGES.index(until) + 1] if until else STAGES
    cfg = _config(config, backend, scheduler, engine, areas, province)
    with _backend(cfg) as be:
        _run("run", run_all, cfg, stages=stages, backend=be, progress=sys.stderr.isatty())


@app.command()
def deps(
    config: ConfigOpt = DEFAULT_CONFIG,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the fragment here (default: stdout).")] = None,
) -> None:
    """Make prerequisites for a config: each stage's target, inputs, upstream and code."""
    from n2kzones.io.writers import atomic_path
    from n2kzones.stages.deps import make_deps

    cfg = _config(config)
    text = _run("deps", make_deps, cfg, None if out is None else out.with_suffix(".d"))
    if out is None:
        typer.echo(text, nl=False)
        return
    with atomic_path(out) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":  # pragma: no cover
    app()
