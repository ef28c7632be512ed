"""What every stage does around its own work: lock, recover, check upstream, stage, commit.

A stage module writes its runner as::

    def run_overlay(cfg, *, backend=None):
        with stage_run(cfg, "overlay") as run:
            zones = gpd.read_parquet(run.upstream("zones"))
            farms, report = run.read_layer("farms")
            ...
            run.write_table("area_summary", table)

:func:`stage_run` takes the output folder's lock, finishes or discards what a killed run
left (:func:`~n2kzones.stages.integrity.recover`), refuses upstream outputs that are
missing, changed, mixed or stale (:class:`~n2kzones.errors.UpstreamError` naming the file and
the command that rebuilds it), hands the stage a :class:`StageRun` whose ``output`` paths lie
in a staging folder, and on success writes the manifest and commits the whole set at once.
On any error the staging folder is removed and the previous outputs stay as they were.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from n2kzones.config import Config, LayerInput, RasterInput
from n2kzones.errors import ConfigError, UpstreamError
from n2kzones.io.readers import read_layer
from n2kzones.io.validate import LayerReport
from n2kzones.io.writers import read_table, write_csv
from n2kzones.stages.catalogue import OUTPUTS, READS, manifest_name, outputs_of
from n2kzones.stages.integrity import Staging, output_lock, recover, translate_os_errors
from n2kzones.stages.manifest import (
    manifest_digest,
    os_path_within,
    read_manifest,
    upstream_problems,
    write_manifest,
)

if TYPE_CHECKING:  # rasterio is imported by the stages that read a raster (read_raster)
    from n2kzones.io.raster import Raster

log = logging.getLogger(__name__)

#: The ``[inputs]`` the config may name (layers and rasters), as :func:`input_paths` lists them.
INPUT_KINDS = (
    "areas", "habitats", "parcels", "farms", "provinces", "background_deposition", "nh3_background",
    "receptor_landuse", "receptor_z0",
)


@dataclass
class StageRun:
    """One run of one stage: where to read upstream outputs, where to write, what to record.

    Attributes
    ----------
    cfg
        The run's configuration.
    stage
        Stage name (see :data:`~n2kzones.stages.catalogue.STAGES`).
    staging
        The staging folder outputs are written into.
    extra
        Stage-specific facts for the manifest (engine, kernel provenance, grid).
    """

    cfg: Config
    stage: str
    staging: Staging
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    reports: dict[str, LayerReport] = field(default_factory=dict)
    files_read: dict[str, Path] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    upstream_digests: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The output folder."""
        return self.cfg.output_dir

    # -- reading ---------------------------------------------------------------------------
    def upstream(self, key: str) -> Path:
        """Path of upstream output ``key`` (checked at the start of the run)."""
        if key not in READS[self.stage]:
            raise KeyError(f"the {self.stage} stage does not declare that it reads {key!r} (catalogue.READS)")
        return self.root / OUTPUTS[key].path

    def read_upstream(self, key: str) -> gpd.GeoDataFrame:
        """A GeoParquet upstream output as a GeoDataFrame."""
        return gpd.read_parquet(self.upstream(key))

    def read_layer(self, kind: str, spec: LayerInput | None = None, *, name: str | None = None) -> tuple[gpd.GeoDataFrame, LayerReport]:
        """Read input layer ``kind`` (from ``[inputs]`` unless ``spec`` is given), recorded in the manifest."""
        spec = spec if spec is not None else getattr(self.cfg.inputs, kind)
        if spec is None:
            raise ConfigError(f"the {self.stage} stage needs [inputs.{kind}] in the config")
        gdf, report = read_layer(kind, spec, crs=self.cfg.project.crs, params=self.cfg.params, base_dir=self.cfg.base_dir)
        key = name or kind
        self.reports[key] = report
        self.files_read[key] = self.cfg.resolve(spec.path)
        return gdf, report

    def read_raster(self, kind: str, spec: RasterInput | None = None, *, role: str | None = None) -> Raster:
        """Read raster input ``kind`` (from ``[inputs]`` unless ``spec`` is given), recorded, and
        checked against raster role ``role`` (default: ``kind``) of the parameters."""
        from n2kzones.io.raster import read_raster

        spec = spec if spec is not None else getattr(self.cfg.inputs, kind)
        if spec is None:
            raise ConfigError(f"the {self.stage} stage needs [inputs.{kind}] in the config")
        path = self.cfg.resolve(spec.path)
        self.files_read[kind] = path
        params = self.cfg.params
        raster = read_raster(
            path, crs=self.cfg.project.crs, assume_crs=spec.assume_crs, role=params.raster_roles.get(role or kind),
            role_name=role or kind, roles=params.raster_roles, margin_deg=params.crs.area_of_use_margin_deg,
            setting=f"inputs.{kind}",
        )
        if raster.notes:
            self.extra.setdefault("raster_notes", {})[kind] = list(raster.notes)
        return raster

    def record_input(self, name: str, path: Path) -> Path:
        """Record another file the stage reads (a width list, a kernel, a wind rose)."""
        self.files_read[name] = Path(path)
        return Path(path)

    # -- writing ---------------------------------------------------------------------------
    def output(self, key: str, **fmt: str) -> Path:
        """Where to write output ``key`` (in the staging folder; moved into place at commit)."""
        out = OUTPUTS[key]
        if out.stage != self.stage:
            raise KeyError(f"{key!r} is an output of the {out.stage} stage, not of {self.stage}")
        return self.staging(out.path.format(**fmt))

    def write_table(self, key: str | Path, table: pd.DataFrame) -> Path:
        """Write a CSV table for people: output ``key`` of this stage (or a path in the staging
        folder), in the config's ``csv_flavour``, with headers for people in the project
        language unless ``csv_headers = "machine"``."""
        path = self.output(key) if isinstance(key, str) else key
        project = self.cfg.project
        headers = project.language if project.csv_headers == "people" else None
        return write_csv(path, table, flavour=project.csv_flavour, headers=headers)

    def read_table(self, key: str, **kwargs: Any) -> pd.DataFrame:
        """An upstream CSV output with the column identifiers as columns (any flavour or header
        style; ``kwargs`` go to :func:`~n2kzones.io.writers.read_table`)."""
        return read_table(self.upstream(key), self.cfg.project.csv_flavour, **kwargs)

    def finish(self) -> list[str]:
        """Write the manifest into the staging folder and commit every output at once."""
        written = {rel: self.staging.path / rel for rel in self.staging.entries()}
        name = manifest_name(self.stage)
        write_manifest(
            self.staging(name), cfg=self.cfg, stage=self.stage, run_id=self.run_id, started=self.started,
            finished=datetime.now(UTC), reports=self.reports, files_read=self.files_read,
            upstream_digests=self.upstream_digests, outputs=written, extra=self.extra,
        )
        previous = read_manifest(self.root, self.stage) or {}
        stale = tuple(rel for rel in previous.get("outputs", {}) if rel not in written)
        return self.staging.commit(last=name, remove=stale)


def check_paths(cfg: Config) -> None:
    """Refuse an output folder that holds an input (an output could overwrite it).

    Raises
    ------
    ConfigError
        Naming the input and the folder.
    """
    root = cfg.output_dir
    for label, path in input_paths(cfg).items():
        if os_path_within(path, root):
            raise ConfigError(
                f"[project] output_dir {root} contains the input {label} ({path}); outputs could "
                "overwrite it: choose an output folder outside the input data"
            )
    reserved = {OUTPUTS[k].path.split("/")[0] for k in OUTPUTS}
    for label, path in input_paths(cfg).items():
        for name in reserved:
            if Path(path).resolve() == (root / name).resolve():
                raise ConfigError(f"the input {label} ({path}) is an output path of n2kzones; move it")


def input_paths(cfg: Config) -> dict[str, Path]:
    """Every input file or folder the config names (layers, rasters, tables, kernels)."""
    out: dict[str, Path] = {}
    for kind in INPUT_KINDS:
        spec = getattr(cfg.inputs, kind)
        if spec is not None:
            out[f"inputs.{kind}"] = cfg.resolve(spec.path)
    for i, spec in enumerate(cfg.inputs.context):
        out[f"inputs.context.{i}"] = cfg.resolve(spec.path)
    if cfg.zones.overrides_csv is not None:
        out["zones.overrides_csv"] = cfg.resolve(cfg.zones.overrides_csv)
    for extra in cfg.zones.extra_layers:
        out[f"zones.extra_layers.{extra.name}"] = cfg.resolve(extra.input.path)
    if cfg.deposition.kernel_csv is not None:
        out["deposition.kernel_csv"] = cfg.resolve(cfg.deposition.kernel_csv)
    rose = cfg.resolve(Path(cfg.deposition.wind_rose))
    if rose.suffix == ".json" and rose.exists():
        out["deposition.wind_rose"] = rose
    if cfg.rko.projects is not None:
        out["rko.projects"] = cfg.resolve(cfg.rko.projects.path)
    for sc in cfg.scenarios:
        if sc.polygon is not None:
            out[f"scenarios.{sc.name}.polygon"] = cfg.resolve(sc.polygon.path)
    return out


def rebuild_hint(cfg: Config, stage: str) -> str:
    """The command that rebuilds ``stage``'s outputs for this config."""
    src = f" -c {cfg.source_path}" if cfg.source_path else ""
    return f"n2kzones {stage}{src}"


@contextlib.contextmanager
def stage_run(cfg: Config, stage: str) -> Iterator[StageRun]:
    """Run the body as stage ``stage`` (see the module docstring).

    Raises
    ------
    UpstreamError
        An upstream output is missing, changed, from another run, or stale.
    OutputError
        The output folder cannot be written (permissions, read-only, full), or is locked.
    """
    check_paths(cfg)
    root = cfg.output_dir
    t0 = time.perf_counter()
    with output_lock(root, stage), translate_os_errors(root):
        recover(root)
        problems = upstream_problems(cfg, stage)
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise UpstreamError(
                f"the {stage} stage cannot use the {first.stage} outputs in {root}: {first}{more}; "
                f"rebuild them with `{rebuild_hint(cfg, first.stage)}`, or run this stage with --rebuild-upstream"
            )
        run = StageRun(cfg, stage, Staging(root, stage))
        run.upstream_digests = {
            s: d for s in {OUTPUTS[k].stage for k in READS[stage]} if (d := manifest_digest(root, s)) is not None
        }
        try:
            yield run
            committed = run.finish()
        except BaseException:
            run.staging.discard()
            raise
    log.info("stage %s: %d outputs committed to %s in %.1f s", stage, len(committed), root, time.perf_counter() - t0)


__all__ = ["StageRun", "check_paths", "input_paths", "outputs_of", "rebuild_hint", "stage_run"]
