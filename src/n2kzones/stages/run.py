"""Run stages by name: one stage (rebuilding stale upstream stages on request) or all of them.

:data:`RUNNERS` maps every stage of :data:`~n2kzones.stages.catalogue.STAGES` to its runner,
imported on first use (:func:`runner`), so ``n2kzones zones`` does not import the maps'
folium or the report's matplotlib; :func:`run_stage` is what the CLI calls; :func:`run_stale` runs only what is missing or stale
(the notebooks use it, so a second run on a large config reuses the outputs).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from n2kzones.compute import Backend, open_backend
from n2kzones.config import Config
from n2kzones.errors import UpstreamError
from n2kzones.stages.catalogue import STAGES
from n2kzones.stages.framework import check_paths
from n2kzones.stages.integrity import output_lock
from n2kzones.stages.manifest import ancestors, stage_problems, upstream_problems

log = logging.getLogger(__name__)

#: Stages that run their heavy steps on a compute backend (``[compute] backend``).
ON_BACKEND = ("overlay", "deposition", "rko", "policy")

#: Stage -> ``module:function`` of its runner (see :func:`runner`).
RUNNERS: dict[str, str] = {
    "zones": "n2kzones.stages.zones:run_zones",
    "overlay": "n2kzones.stages.overlay:run_overlay",
    "deposition": "n2kzones.stages.deposition:run_deposition",
    "rko": "n2kzones.stages.rko:run_rko",
    "select": "n2kzones.stages.select:run_select",
    "scenario": "n2kzones.stages.scenario:run_scenarios",
    "policy": "n2kzones.stages.policy:run_policy",
    "maps": "n2kzones.stages.maps:run_maps",
    "report": "n2kzones.stages.report:run_report",
}
assert tuple(RUNNERS) == STAGES


def runner(name: str) -> Callable[..., Any]:
    """The runner of stage ``name`` (its module imported now)."""
    module, _, function = RUNNERS[name].partition(":")
    return getattr(importlib.import_module(module), function)


#: The runner options each stage takes (a ``run_all`` / ``run_stale`` call's other options are
#: for other stages).
_OPTIONS: dict[str, tuple[str, ...]] = {
    "overlay": ("progress",),
    "deposition": ("progress",),
    "maps": ("self_contained",),
    "report": ("pdf",),
}


def _stage_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in _OPTIONS.get(name, ())}


def _call(name: str, cfg: Config, backend: Backend | None, options: dict[str, Any]) -> Any:
    kwargs = dict(options)
    if name in ON_BACKEND and backend is not None:
        kwargs["backend"] = backend
    return runner(name)(cfg, **kwargs)


def run_stage(
    name: str,
    cfg: Config,
    *,
    backend: Backend | None = None,
    rebuild_upstream: bool = False,
    **options: Any,
) -> Any:
    """Run stage ``name``; with ``rebuild_upstream`` first rerun every upstream stage whose
    outputs are missing or stale (earliest first), else refuse them (:class:`UpstreamError`).

    ``options`` go to the stage's runner (``progress`` for overlay and deposition,
    ``self_contained`` for maps, ``pdf`` for report).
    """
    check_paths(cfg)
    with output_lock(cfg.output_dir, name):
        if rebuild_upstream:
            for _ in range(len(STAGES)):
                problems = upstream_problems(cfg, name)
                if not problems:
                    break
                stale = problems[0].stage
                log.info("rebuilding the %s stage first: %s", stale, problems[0])
                _call(stale, cfg, backend, {})
            else:  # pragma: no cover - every rebuild clears at least its own stage
                raise UpstreamError(f"could not bring the upstream stages of {name} up to date")
        return _call(name, cfg, backend, options)


@contextlib.contextmanager
def _backend(cfg: Config, backend: Backend | None) -> Iterator[Backend]:
    if backend is not None:
        yield backend
        return
    with open_backend(cfg.compute) as opened:
        yield opened


def run_all(
    cfg: Config, *, stages: Sequence[str] = STAGES, backend: Backend | None = None, **options: Any
) -> dict[str, Any]:
    """Run ``stages`` in pipeline order on one backend (one Dask cluster for all); returns each
    stage's result."""
    results: dict[str, Any] = {}
    check_paths(cfg)
    with output_lock(cfg.output_dir, "run"), _backend(cfg, backend) as be:
        for name in STAGES:
            if name in stages:
                results[name] = _call(name, cfg, be, _stage_options(name, options))
    return results


def run_stale(
    cfg: Config, stages: Sequence[str] = STAGES, *, backend: Backend | None = None, **options: Any
) -> dict[str, bool]:
    """Bring ``stages`` up to date, as ``make`` would: run each of them, and each stage they
    read from, whose outputs in the output folder are missing or stale (a changed input,
    config key or upstream run; :func:`~n2kzones.stages.manifest.stage_problems`), in pipeline
    order, and reuse the rest.

    Unlike the Makefile this does not look at the package's source files. ``options`` go to the
    stages that take them (``progress``, ``self_contained``). Returns ``stage -> whether it ran``.
    """
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
    wanted = {s for name in stages for s in (*ancestors(name), name)}
    ran: dict[str, bool] = {}
    check_paths(cfg)
    with output_lock(cfg.output_dir, "run"), contextlib.ExitStack() as stack:
        be = backend
        for name in STAGES:
            if name not in wanted:
                continue
            ran[name] = bool(stage_problems(cfg, name))
            if not ran[name]:
                log.info("the %s stage is up to date in %s; reusing it", name, cfg.output_dir)
                continue
            if be is None and name in ON_BACKEND:
                be = stack.enter_context(_backend(cfg, None))
            _call(name, cfg, be, _stage_options(name, options))
    return ran
