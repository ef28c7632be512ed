"""Command-line interface: ``n2kzones <stage> --config config/sample.toml``.

The library only logs; this module owns the log handlers and progress bars, and turns
n2kzones' errors into one clear message and exit code 2 (a traceback with ``-v``).
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
EngineOpt = Annotated[
    str | None,
    typer.Option("--engine", help="'local' or 'dask' (overrides \\[compute] engine)."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786); implies --engine dask."),
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
    t0 = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except N2kError as exc:
        if _state["verbose"]:
            raise
        typer.secho(f"n2kzones {step}: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.secho(f"n2kzones {step}: done in {time.perf_counter() - t0:.1f} s", err=True, fg=typer.colors.GREEN)
    return result


def _config(path: Path, engine: str | None = None, scheduler: str | None = None):  # noqa: ANN202
    from n2kzones.config import load_config

    changes = {k: v for k, v in (("engine", "dask" if scheduler else engine), ("scheduler", scheduler)) if v}

    def load():  # noqa: ANN202
        cfg = load_config(path)
        return cfg.with_compute(**changes) if changes else cfg

    return _run("config", load)


@contextmanager
def _backend(cfg):  # noqa: ANN001, ANN202
    """The configured compute backend for a command (one Dask cluster for all its stages)."""
    from n2kzones.compute import open_backend

    try:
        with open_backend(cfg) as backend:
            yield backend
    except N2kError as exc:
        if _state["verbose"]:
            raise
        typer.secho(f"n2kzones: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None


@app.command()
def sample(
    out: Annotated[Path, typer.Option(help="Folder for the generated layers.")] = Path("data/raw/sample"),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 20260626,
    scale: Annotated[int, typer.Option(min=1, help="Number of 40 x 40 km tiles (32 ~ national).")] = 1,
) -> None:
    """Generate the embedded sample region (areas, habitats, parcels, farms, background)."""
    from n2kzones.sample import generate_sample

    summary = _run("sample", generate_sample, out, seed=seed, scale=scale)
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
    from n2kzones.synthetic import generate_synthetic

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
    for kind in ("areas", "habitats", "parcels", "farms", "background_deposition"):
        spec = getattr(cfg.inputs, kind)
        if spec is not None:
            typer.echo(f"  {kind:22s} {cfg.resolve(spec.path)}")


@app.command()
def zones(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Build the zones per area and the national zone layer."""
    from n2kzones.pipeline import run_zones

    cfg = _config(config)
    _run("zones", run_zones, cfg)


@app.command()
def overlay(config: ConfigOpt = DEFAULT_CONFIG, engine: EngineOpt = None, scheduler: SchedulerOpt = None) -> None:
    """Overlay parcels and farms with the zones; write the GeoPackage and CSV tables."""
    from n2kzones.pipeline import run_overlay

    cfg = _config(config, engine, scheduler)
    with _backend(cfg) as backend:
        _run("overlay", run_overlay, cfg, progress=sys.stderr.isatty(), backend=backend)


@app.command()
def deposition(config: ConfigOpt = DEFAULT_CONFIG, engine: EngineOpt = None, scheduler: SchedulerOpt = None) -> None:
    """NH3 deposition from the farms on hexagon receptors and a grid; KDW overload per area."""
    from n2kzones.deposition_stage import run_deposition

    cfg = _config(config, engine, scheduler)
    with _backend(cfg) as backend:
        _run("deposition", run_deposition, cfg, backend=backend)


@app.command()
def run(config: ConfigOpt = DEFAULT_CONFIG, engine: EngineOpt = None, scheduler: SchedulerOpt = None) -> None:
    """Run the zones, overlay and deposition stages in order (one cluster for all)."""
    from n2kzones.deposition_stage import run_deposition
    from n2kzones.pipeline import run_overlay, run_zones

    cfg = _config(config, engine, scheduler)
    _run("zones", run_zones, cfg)
    with _backend(cfg) as backend:
        _run("overlay", run_overlay, cfg, progress=sys.stderr.isatty(), backend=backend)
        _run("deposition", run_deposition, cfg, backend=backend)


@app.command()
def rko(config: ConfigOpt = DEFAULT_CONFIG, engine: EngineOpt = None, scheduler: SchedulerOpt = None) -> None:
    """RKO threshold sweep: permit-free sources and what their deposition adds up to."""
    from n2kzones.rko import run_rko

    cfg = _config(config, engine, scheduler)
    with _backend(cfg) as backend:
        _run("rko", run_rko, cfg, backend=backend)


@app.command()
def select(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Propose zone widths from the deposition coming from within 500 m / 1000 m of each area."""
    from n2kzones.selection import run_select

    cfg = _config(config)
    _run("select", run_select, cfg)


@app.command()
def scenario(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Scenarios from the config and zone effectiveness (inside vs outside the zones)."""
    from n2kzones.scenarios import run_scenarios

    cfg = _config(config)
    _run("scenario", run_scenarios, cfg)


@app.command()
def maps(
    config: ConfigOpt = DEFAULT_CONFIG,
    self_contained: Annotated[
        bool,
        typer.Option("--self-contained/--no-self-contained", help="Inline Leaflet's JS/CSS (no CDN needed)."),
    ] = True,
) -> None:
    """Interactive maps: maps/index.html (overview) and maps/area_<site_code>.html per area."""
    from n2kzones.maps import run_maps

    cfg = _config(config)
    _run("maps", run_maps, cfg, self_contained=self_contained)


@app.command()
def report(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """HTML report with figures (RKO sweep, overload, zone proposal, scenarios) and links."""
    from n2kzones.report import run_report

    cfg = _config(config)
    _run("report", run_report, cfg)


if __name__ == "__main__":  # pragma: no cover
    app()
