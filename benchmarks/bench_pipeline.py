"""Every pipeline stage against its compute core: wall time, core time, ratio and peak memory.

On a sample of ``--scale N`` tiles (default 32, the national-sized sample of
``benchmarks/_common.py``: generated once into ``data/raw/national``, other scales into
``data/raw/bench-scale-N``; ``--data DIR`` reuses a folder) with the national config of
``_common.national_config`` plus a scenario (20 pp extra reduction in the zones) and the
``[policy]`` targets of ``bench_policy.py``, it runs every stage of
:data:`n2kzones.stages.catalogue.STAGES` twice, each time into a fresh output folder:

* **separate processes** - ``python -m n2kzones.cli <stage> -c separate.toml`` per stage, as a
  user or ``make`` runs it; wall time of the child, and its peak memory (maximum resident set)
  from ``/usr/bin/time -v`` (else from ``getrusage(RUSAGE_CHILDREN)``: known only where the
  child's peak exceeds every earlier child's);
* **one process** - :func:`n2kzones.stages.run.run_stage` per stage in this process, on one
  compute backend (as ``n2kzones run``); wall time per stage, and the time of the stage's
  compute core measured in the same call: the core functions of :data:`CORES` are wrapped
  (monkeypatched where the stage code looks them up; the package is not changed) and their
  calls timed (nested core calls count once).

It prints per stage both wall times, the core time, the ratio one-process wall / core and the
peak memory of the stage's own process, the totals, and the checks of issue 18 (which hold
for the national-sized sample on 2 idle cores: total under 60 s, no stage over 3x its core,
peak memory under 4 GB). ``--profile`` adds a third run: each stage in its own process under
py-spy (sampling wall-clock time of the main thread, idle included) when py-spy can attach
here, else each stage under cProfile in this process; it prints per stage the top functions
by cumulative time. The figures also go to ``results.json`` in the output folder.

Exit code: 0, or 1 if a stage fails (its log tail is printed; later stages do not run), or 3
with ``--check`` when a check is missed.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [--scale N | --data DIR] [--profile]
    [--top 8] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    NATIONAL_DIR,
    NATIONAL_SCALE,
    REPO,
    national_config,
    national_sample,
    quiet_logging,
    toml_text,
    with_policy,
)

#: The checks of issue 18 (national-sized sample, default config, 2 idle cores).
TOTAL_GOAL_S = 60.0
RATIO_GOAL = 3.0
MEMORY_GOAL_GB = 4.0

#: Compute core of each stage: ``(where, name)`` pairs, ``where`` a module (or
#: ``module:Class``) in which the stage's code looks ``name`` up at call time. The time inside
#: these calls is the stage's core time; everything else (reading, writing, tables, per-row
#: Python) is overhead. The deposition core is building the receptors (``hexagon_receptors``:
#: the habitat map cut by the hexagon grid, a polygon overlay like the overlay stage's core),
#: the receptor pass (``DepositionModel.at_points``) and the grid kernels that ``grid_tile``
#: calls (background sampling and KDW rasterisation of the tiles are not core). The maps core
#: is the building of the maps: ``build_area_maps`` (its wall time: the area maps are built
#: and written in ``[compute] n_workers`` worker processes, so it holds their start-up, their
#: reading of the large layers and the HTML rendering, which overlap there) and
#: ``overview_map``; reading the small layers and the overview's HTML are overhead. The
#: report's figures are drawn in worker processes while the stage writes the area pages: its
#: core is the pages, the HTML, starting the figures (drawing them, with one worker) and
#: waiting for them (``Figures.wait``); reading the tables is overhead.
CORES: dict[str, tuple[tuple[str, str], ...]] = {
    "zones": (("n2kzones.stages.zones", "build_zones"),),
    "overlay": (
        ("n2kzones.stages.overlay", "overlay_parcels"),
        ("n2kzones.stages.overlay", "overlay_farms"),
    ),
    "deposition": (
        ("n2kzones.stages.deposition", "hexagon_receptors"),
        ("n2kzones.deposition.model:DepositionModel", "at_points"),
        ("n2kzones.deposition.tiles", "deposition_on_grid"),
        ("n2kzones.deposition.tiles", "class_deposition_on_grid"),
    ),
    "rko": (("n2kzones.stages.rko", "rko_sweep"), ("n2kzones.stages.rko", "projects_rko")),
    "select": (("n2kzones.stages.select", "zone_contributions"),),
    "scenario": (
        ("n2kzones.stages.scenario", "scenario_cut"),
        ("n2kzones.stages.scenario", "apply_cut"),
        ("n2kzones.stages.scenario", "zone_effectiveness"),
    ),
    "policy": (
        ("n2kzones.stages.policy", "area_thresholds"),
        ("n2kzones.stages.policy", "threshold_rules"),
        ("n2kzones.stages.policy", "zone_baseline"),
        ("n2kzones.stages.policy", "required_reduction"),
        ("n2kzones.stages.policy", "compare_zone_bases"),
    ),
    "maps": (
        ("n2kzones.stages.maps", "build_area_maps"),
        ("n2kzones.stages.maps", "overview_map"),
    ),
    "report": (
        ("n2kzones.stages.report", "render_report"),
        ("n2kzones.stages.report", "area_page"),
        ("n2kzones.stages.report", "area_section"),
        ("n2kzones.stages.report", "start_figures"),
        ("n2kzones.render.report:Figures", "wait"),
    ),
}

TIME_BIN = Path("/usr/bin/time")


@dataclass
class StageFigures:
    """One stage's figures (seconds, GB); None where not measured."""

    separate_s: float | None = None
    separate_peak_gb: float | None = None
    one_s: float | None = None
    core_s: float | None = None
    core_calls: dict[str, tuple[int, float]] = field(default_factory=dict)
    one_peak_gb: float | None = None  # this process's peak after the stage (running maximum)

    @property
    def ratio(self) -> float | None:
        """One-process wall time over core time (both from the same run)."""
        if self.one_s is None or not self.core_s:
            return None
        return self.one_s / self.core_s


#: Key of the one-process run's import time in the figures (not a stage).
IMPORTS = "(imports)"


class StageFailed(RuntimeError):
    """A stage of the pipeline failed; the message says which and how."""


# -- the sample and the config ------------------------------------------------------------


def sample_folder(scale: int | None, data: Path | None) -> Path:
    """The sample to run on: ``data`` if given (it must hold a sample's manifest, of ``scale``
    tiles if that is given too), else the sample of ``scale`` tiles (default
    :data:`NATIONAL_SCALE`), generated once (see the module docstring)."""
    if data is not None:
        if not (data / "manifest.json").is_file():
            raise SystemExit(f"--data {data}: no manifest.json there (not a generated sample)")
        made = json.loads((data / "manifest.json").read_text("utf-8")).get("scale")
        if scale is not None and made != scale:
            raise SystemExit(f"--data {data} holds a sample of scale {made}, not --scale {scale}")
        return data
    scale = NATIONAL_SCALE if scale is None else scale
    out = REPO / "data" / "raw" / f"bench-scale-{scale}"
    out = NATIONAL_DIR if scale == NATIONAL_SCALE else out
    folder = national_sample(scale, out)
    made = json.loads((folder / "manifest.json").read_text("utf-8")).get("scale")
    if made != scale:
        raise SystemExit(f"{folder} holds a sample of scale {made}, not {scale}; remove it")
    return folder


def pipeline_config(out: Path, folder: Path) -> dict[str, Any]:
    """The benchmark's config (a dict as parsed TOML): :func:`_common.national_config` for
    ``folder`` writing to ``out``, with the scenario and ``[policy]`` settings of
    ``bench_policy.py`` (a 20 pp zone reduction as the policy's baseline, two targets)."""
    return with_policy(national_config(out, folder))


def write_config(
    root: Path,
    run: str,
    folder: Path,
    make_config: Callable[[Path, Path], dict[str, Any]] | None = None,
) -> Path:
    """Write ``<root>/<run>.toml`` with outputs in ``<root>/<run>/`` and logs in
    ``<root>/<run>-logs/`` (both emptied first); checks that the TOML reads back as the config
    dict (nothing dropped). ``make_config(out, folder)``: the config dict (default
    :func:`pipeline_config`)."""
    out = root / run
    for path in (out, log_folder(out)):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    raw = (make_config or pipeline_config)(out, folder)
    text = toml_text(raw)
    if tomllib.loads(text) != raw:
        raise SystemExit(f"the TOML written for {run} does not read back as the config")
    path = root / f"{run}.toml"
    path.write_text(text, "utf-8")
    return path


def log_folder(out: Path) -> Path:
    """Folder of the logs (and profiles) of the run writing to output folder ``out``."""
    return out.with_name(f"{out.name}-logs")


def child_env() -> dict[str, str]:
    """Environment for the stage processes: they import the same n2kzones as this script."""
    import n2kzones

    src = str(Path(n2kzones.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def stage_command(stage: str, config: Path) -> list[str]:
    """The CLI call that runs ``stage`` on ``config``."""
    return [sys.executable, "-m", "n2kzones.cli", stage, "--config", str(config)]


# -- (a) every stage in its own process ---------------------------------------------------


def _max_rss_kb(time_output: str) -> int:
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output)
    if m is None:
        raise StageFailed(f"no maximum resident set in the output of {TIME_BIN}:\n{time_output}")
    return int(m.group(1))


def run_child(
    stage: str, cmd: list[str], log: Path, env: dict[str, str]
) -> tuple[float, float | None]:
    """Run ``cmd`` (stage ``stage``) as a child, its output into ``log``; returns its wall time
    (s) and peak memory (GB; None if not known). Raises :class:`StageFailed` on a non-zero exit.
    """
    use_time = TIME_BIN.is_file() and os.access(TIME_BIN, os.X_OK)
    rss_file = log.with_suffix(".time")
    full = [str(TIME_BIN), "-v", "-o", str(rss_file), *cmd] if use_time else cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.run(full, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(log.read_text("utf-8", errors="replace").splitlines()[-25:])
        raise StageFailed(
            f"{stage}: `{' '.join(cmd)}` exited {proc.returncode}; log {log}:\n{tail}"
        )
    if use_time:
        return wall, _max_rss_kb(rss_file.read_text("utf-8")) / 1024**2
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, (after / 1024**2 if after > before else None)


def run_separate(config: Path, figures: dict[str, StageFigures], stages: tuple[str, ...]) -> None:
    """Run every stage in its own process, in pipeline order, recording wall time and peak."""
    env = child_env()
    logs = log_folder(config.with_suffix(""))
    for stage in stages:
        print(f"  {stage} ...", end=" ", flush=True)
        try:
            wall, peak = run_child(
                stage, stage_command(stage, config), logs / f"log_{stage}.txt", env
            )
        except StageFailed:
            print("FAILED", flush=True)
            raise
        figures[stage].separate_s, figures[stage].separate_peak_gb = wall, peak
        print(f"{wall:.1f} s", flush=True)


# -- (b) all stages in one process, with the core timed ----------------------------------


def _resolve(where: str) -> Any:
    module, _, cls = where.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, cls) if cls else obj


class CoreTimer:
    """Context manager that wraps a stage's core functions (:data:`CORES`) and sums the time
    spent in them; a core call inside another one (nested) is not counted twice.

    After the ``with`` block, ``calls`` maps each wrapped name to (calls, seconds) and
    ``seconds`` is the total core time.
    """

    def __init__(self, targets: tuple[tuple[str, str], ...]) -> None:
        self.targets = targets
        self.calls: dict[str, tuple[int, float]] = {}
        self._depth = 0
        self._saved: list[tuple[Any, str, Any]] = []

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.calls.values())

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                n, s = self.calls.get(label, (0, 0.0))
                self.calls[label] = (n + 1, s + time.perf_counter() - t0)
                self._depth -= 1

        return timed

    def __enter__(self) -> CoreTimer:
        for where, name in self.targets:
            owner = _resolve(where)
            if not hasattr(owner, name):
                self.__exit__(None, None, None)
                raise SystemExit(f"CORES: {where} has no {name!r} (renamed? update CORES)")
            label = f"{where.rpartition(':')[2] + '.' if ':' in where else ''}{name}"
            original = owner.__dict__[name]
            self._saved.append((owner, name, original))
            setattr(owner, name, self._wrap(label, getattr(owner, name)))
        return self

    def __exit__(self, *exc: object) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            setattr(owner, name, original)


def peak_rss_now_gb() -> float:
    """This process's peak resident set so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_one_process(
    config: Path, figures: dict[str, StageFigures], stages: tuple[str, ...]
) -> None:
    """Run every stage in this process (one backend for all), timing each stage and its core.

    The stages' modules are imported first and timed apart (``IMPORTS``): in one process the
    imports are paid once, by whichever stage came first, and belong to none of them.
    """
    from n2kzones.compute import open_backend
    from n2kzones.config import load_config
    from n2kzones.stages.run import run_stage, runner

    t0 = time.perf_counter()
    for stage in stages:
        runner(stage)
    imports_s = time.perf_counter() - t0
    print(f"  (imports of the stage modules: {imports_s:.1f} s)", flush=True)
    figures[IMPORTS] = StageFigures(one_s=imports_s)
    cfg = load_config(config)
    with open_backend(cfg.compute) as backend:
        for stage in stages:
            print(f"  {stage} ...", end=" ", flush=True)
            with CoreTimer(CORES[stage]) as core:
                t0 = time.perf_counter()
                try:
                    run_stage(stage, cfg, backend=backend)
                except Exception as exc:
                    print("FAILED", flush=True)
                    raise StageFailed(
                        f"{stage} (one process): {type(exc).__name__}: {exc}\n"
                        + traceback.format_exc()
                    ) from exc
                wall = time.perf_counter() - t0
            f = figures[stage]
            f.one_s, f.core_s, f.core_calls = wall, core.seconds, dict(core.calls)
            f.one_peak_gb = peak_rss_now_gb()
            print(f"{wall:.1f} s (core {core.seconds:.1f} s)", flush=True)
            if not core.calls:
                print(f"    note: no core function of {stage} was called ({CORES[stage]})")


# -- profile --------------------------------------------------------------------------------


def py_spy() -> Path | None:
    """The py-spy executable if it can record a child process here (it needs ptrace)."""
    exe = Path(sys.executable).with_name("py-spy")
    exe = exe if exe.is_file() else (Path(p) if (p := shutil.which("py-spy")) else None)
    if exe is None:
        return None
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_pipeline_pyspy_{os.getpid()}.txt"
    try:
        proc = subprocess.run(
            [str(exe), "record", "--format", "raw", "--idle", "-o", str(probe), "--",
             sys.executable, "-c", "import time; time.sleep(0.3)"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        ok = proc.returncode == 0 and probe.is_file() and probe.stat().st_size > 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    finally:
        probe.unlink(missing_ok=True)
    return exe if ok else None


IMPORTS = "(imports)"
#: Frames that only pass a call on (context managers, generators, shapely's decorators): left
#: out of the profile's lists, their callees are listed.
PASS_THROUGH = re.compile(r"^contextlib\.py:|builtins\.next>|^shapely/decorators\.py:")

Row = tuple[str, float, float]  # function(s) (file:name), cumulative share, own share


@dataclass
class Fn:
    """One function of a profile: shares (0..1) of the stage's time; ``chain`` groups the
    functions of one call chain (each calls the next and they take the same time)."""

    name: str
    cum: float
    own: float
    depth: int  # how deep it first appears (outer first within a chain)
    chain: Any


def runner_key(stage: str) -> str:
    """``path/of/module.py:function`` of the stage's runner (the end of a profile frame name)."""
    from n2kzones.stages.run import runner

    fn = runner(stage)
    return f"{fn.__module__.replace('.', '/')}.py:{fn.__name__}"


def rank(fns: list[Fn], above: set[str], top: int) -> list[Row]:
    """The ``top`` rows by cumulative share; the functions of ``above`` (the stage's runner and
    what calls it; if empty, those in >= 95 % of the time) and :data:`PASS_THROUGH` frames are
    left out, and a call chain is one row ``outer > inner`` (``+k`` frames between)."""
    keep = [
        f for f in fns
        if not PASS_THROUGH.search(f.name) and (f.name not in above if above else f.cum < 0.95)
    ]
    chains: dict[Any, list[Fn]] = {}
    for f in sorted(keep, key=lambda f: f.depth):
        chains.setdefault(f.chain, []).append(f)
    rows = []
    for members in chains.values():
        first, last = members[0], members[-1]
        name = first.name if len(members) == 1 else f"{first.name} > {last.name}"
        if len(members) > 2:
            name += f" (+{len(members) - 2})"
        rows.append((name, max(f.cum for f in members), sum(f.own for f in members)))
    return sorted(rows, key=lambda r: -r[1])[:top]


def _frame_name(frame: str) -> str:
    """``func (file)`` of py-spy's raw format as ``file:func`` (``.<locals>`` left out)."""
    m = re.fullmatch(r"(.*) \((.*)\)", frame)
    return f"{m.group(2)}:{m.group(1).replace('.<locals>', '')}" if m else frame


def py_spy_top(raw: Path, stage: str, top: int) -> tuple[float, list[Row]]:
    """From a py-spy raw file (``--threads --nolineno``, 100 Hz): the seconds sampled on the main
    thread and its :func:`rank` rows. Frames up to the script's ``<module>`` are left out; an
    import below it (module bodies, import machinery and all they call) counts as one
    function, ``(imports)``; functions seen in exactly the same stacks form one chain."""
    key = runner_key(stage)
    cum: dict[str, int] = {}
    own: dict[str, int] = {}
    depth: dict[str, int] = {}
    stacks: dict[str, set[int]] = {}
    above: set[str] = set()
    total = 0
    for i, line in enumerate(raw.read_text("utf-8").splitlines()):
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            continue
        n = int(count)
        total += n
        frames = frames[1:]
        start = next((j + 1 for j, f in enumerate(frames) if f.startswith("<module> ")), 0)
        names = []
        for f in frames[start:]:
            if f.startswith("<module> ") or "<frozen importlib" in f:
                names.append(IMPORTS)
                break
            names.append(_frame_name(f))
        at = next((j for j, f in enumerate(names) if f.endswith(key)), None)
        if at is not None:
            above.update(names[: at + 1])
        for d, name in enumerate(dict.fromkeys(names)):  # once per stack (recursion)
            cum[name] = cum.get(name, 0) + n
            depth[name] = min(depth.get(name, d), d)
            stacks.setdefault(name, set()).add(i)
        if names:
            own[names[-1]] = own.get(names[-1], 0) + n
    if not total:
        return 0.0, []
    fns = [
        Fn(k, v / total, own.get(k, 0) / total, depth[k], frozenset(stacks[k]))
        for k, v in cum.items()
    ]
    return total / 100.0, rank(fns, above, top)


def _short(path: str) -> str:
    """``path`` relative to the longest ``sys.path`` entry (or the folder holding the n2kzones
    package) it lies under."""
    import n2kzones

    best = ""
    for p in [*sys.path, str(Path(n2kzones.__file__).resolve().parents[1])]:
        if p and path.startswith(p.rstrip("/") + "/") and len(p) > len(best):
            best = p.rstrip("/") + "/"
    return path[len(best) :]


def cprofile_top(stats: Any, wall_s: float, stage: str, top: int) -> list[Row]:
    """The :func:`rank` rows of a :class:`pstats.Stats` of a stage that took ``wall_s``; a
    function called from one place only, taking within 0.5 % of the stage's time of its
    caller, is in its caller's chain."""
    table = stats.stats  # (file, line, func) -> (cc, nc, own s, cum s, callers)

    def name(k: tuple[str, int, str]) -> str:
        return f"{_short(k[0])}:{k[2]}" if k[0] != "~" else k[2]

    def chain(k: tuple[str, int, str], seen: frozenset = frozenset()) -> tuple[Any, int]:
        callers = table[k][4]
        if len(callers) == 1 and k not in seen:
            (c,) = callers
            if c in table and table[c][3] - table[k][3] < 0.005 * wall_s:
                head, d = chain(c, seen | {k})
                return head, d + 1
        return k, 0

    key = runner_key(stage)
    above: set[str] = set()
    todo = [k for k in table if name(k).endswith(key)]
    while todo:
        k = todo.pop()
        if name(k) not in above:
            above.add(name(k))
            todo.extend(c for c in table[k][4] if c in table)
    fns = []
    for k, (_cc, _nc, tt, ct, _callers) in table.items():
        head, d = chain(k)
        fns.append(Fn(name(k), ct / wall_s, tt / wall_s, d, head))
    return rank(fns, above, top)


def profile_stages(
    root: Path, folder: Path, stages: tuple[str, ...], top: int
) -> tuple[str, dict[str, tuple[float, list[Row]]]]:
    """A third run of the pipeline into ``<root>/profile/``, each stage profiled; returns the
    profiler's name and per stage (seconds profiled, top functions)."""
    config = write_config(root, "profile", folder)
    logs = log_folder(config.with_suffix(""))
    result: dict[str, tuple[float, list[Row]]] = {}
    exe = py_spy()
    if exe is not None:
        env = child_env()
        for stage in stages:
            print(f"  {stage} ...", end=" ", flush=True)
            raw = logs / f"profile_{stage}.txt"
            cmd = [str(exe), "record", "--format", "raw", "--nolineno", "--idle", "--threads",
                   "-r", "100", "-o", str(raw), "--", *stage_command(stage, config)]
            wall, _ = run_child(stage, cmd, logs / f"log_{stage}.txt", env)
            result[stage] = py_spy_top(raw, stage, top)
            print(f"{wall:.1f} s", flush=True)
        return "py-spy (100 Hz wall-clock samples of the main thread, idle included)", result
    import cProfile
    import pstats

    from n2kzones.compute import open_backend
    from n2kzones.config import load_config
    from n2kzones.stages.run import run_stage

    print("  (py-spy cannot record here: cProfile in this process)")
    cfg = load_config(config)
    with open_backend(cfg.compute) as backend:
        for stage in stages:
            print(f"  {stage} ...", end=" ", flush=True)
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            try:
                prof.runcall(run_stage, stage, cfg, backend=backend)
            except Exception as exc:
                raise StageFailed(f"{stage} (profile): {type(exc).__name__}: {exc}") from exc
            wall = time.perf_counter() - t0
            result[stage] = (wall, cprofile_top(pstats.Stats(prof), wall, stage, top))
            print(f"{wall:.1f} s", flush=True)
    return "cProfile (deterministic, in one process)", result


# -- the report -----------------------------------------------------------------------------


def _fmt(v: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def print_table(figures: dict[str, StageFigures]) -> dict[str, Any]:
    """Print the per-stage table and the totals; returns the totals."""
    head = (f"{'stage':12s} {'separate s':>10s} {'one-proc s':>10s} {'core s':>8s} "
            f"{'wall/core':>9s} {'peak GB':>8s}")
    print(head)
    print("-" * len(head))
    for stage, f in figures.items():
        print(
            f"{stage:12s} {_fmt(f.separate_s):>10s} {_fmt(f.one_s):>10s} "
            f"{_fmt(f.core_s, '.2f'):>8s} {_fmt(f.ratio, '.1f', 'x'):>9s} "
            f"{_fmt(f.separate_peak_gb, '.2f'):>8s}"
        )
    sep = sum(f.separate_s or 0.0 for f in figures.values())
    one = sum(f.one_s or 0.0 for f in figures.values())
    core = sum(f.core_s or 0.0 for f in figures.values())
    peaks = [f.separate_peak_gb for f in figures.values() if f.separate_peak_gb is not None]
    one_peak = max((f.one_peak_gb or 0.0 for f in figures.values()), default=0.0)
    print("-" * len(head))
    print(
        f"{'total':12s} {sep:10.1f} {one:10.1f} {core:8.2f} "
        f"{_fmt(one / core if core else None, '.1f', 'x'):>9s} "
        f"{_fmt(max(peaks, default=None), '.2f'):>8s}"
    )
    how = (f"{TIME_BIN} -v" if TIME_BIN.is_file()
           else "getrusage(RUSAGE_CHILDREN), '-' where below an earlier stage's")
    print(
        "separate s / peak GB: each stage as its own `n2kzones <stage>` process (peak: that "
        f"process's maximum resident set, from {how}); one-proc s and core s: all stages in "
        f"one process (its peak: {one_peak:.2f} GB); wall/core = one-proc s / core s"
    )
    return {"separate_s": sep, "one_process_s": one, "core_s": core,
            "separate_peak_gb": max(peaks, default=None), "one_process_peak_gb": one_peak}


def print_cores(figures: dict[str, StageFigures]) -> None:
    """Print what each stage's core time is made of."""
    print("\ncore calls (one process):")
    for stage, f in figures.items():
        if stage == IMPORTS:
            continue
        parts = [f"{name} {n}x {s:.2f} s" for name, (n, s) in f.core_calls.items()]
        print(f"  {stage:12s} {'; '.join(parts) or 'none called'}")


def checks(figures: dict[str, StageFigures], totals: dict[str, Any]) -> list[tuple[str, bool]]:
    """The checks of issue 18 on these figures: (text, met)."""
    stages = {s: f for s, f in figures.items() if s != IMPORTS}
    over = [s for s, f in stages.items() if f.ratio is not None and f.ratio > RATIO_GOAL]
    no_core = [s for s, f in stages.items() if f.ratio is None]
    peak = max(totals["separate_peak_gb"] or 0.0, totals["one_process_peak_gb"])
    return [
        (f"total under {TOTAL_GOAL_S:g} s: separate {totals['separate_s']:.1f} s, "
         f"one process {totals['one_process_s']:.1f} s",
         max(totals["separate_s"], totals["one_process_s"]) < TOTAL_GOAL_S),
        (f"no stage over {RATIO_GOAL:g}x its core: over {over or 'none'}"
         + (f", no core time {no_core}" if no_core else ""), not over and not no_core),
        (f"peak memory under {MEMORY_GOAL_GB:g} GB: {peak:.2f} GB", peak < MEMORY_GOAL_GB),
    ]


def print_profile(name: str, result: dict[str, tuple[float, list[Row]]]) -> None:
    """Print the top functions per stage."""
    print(f"\nprofile: {name}; top functions by cumulative share of the stage (cum %, own %)")
    for stage, (secs, rows) in result.items():
        print(f"  {stage} ({secs:.1f} s profiled)")
        for fn, cum, own in rows:
            print(f"    {100 * cum:5.1f} {100 * own:5.1f}  {fn}")
        if not rows:
            print("    (no samples)")


@contextlib.contextmanager
def section(title: str) -> Iterator[None]:
    """Print a run's title and its duration."""
    print(f"\n{title}", flush=True)
    t0 = time.perf_counter()
    yield
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=None,
                    help=f"sample tiles of 40 x 40 km (default {NATIONAL_SCALE}: national-sized)")
    ap.add_argument("--data", type=Path, default=None,
                    help="folder of a generated sample to use (instead of --scale)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for configs, outputs and logs "
                    "(default data/processed/bench_pipeline/<sample folder name>)")
    ap.add_argument("--profile", action="store_true", help="add a profiled run (slow)")
    ap.add_argument("--top", type=int, default=8, help="functions per stage in the profile")
    ap.add_argument("--check", action="store_true",
                    help="exit 3 when a check of issue 18 is missed")
    args = ap.parse_args()
    quiet_logging()
    from n2kzones.stages.catalogue import STAGES

    missing = set(STAGES) ^ set(CORES)
    if missing:
        raise SystemExit(f"CORES and STAGES differ: {sorted(missing)}")
    t_start = time.perf_counter()
    folder = sample_folder(args.scale, args.data)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    counts = manifest.get("counts", {})
    root = args.out or REPO / "data" / "processed" / "bench_pipeline" / folder.name
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"sample {folder} (scale {manifest.get('scale')}): {counts.get('natura2000', '?')} areas, "
        f"{counts.get('brp_gewas', 0):,} parcels, {counts.get('veehouderijen', 0):,} farms; "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; outputs in {root}"
    )
    figures = {s: StageFigures() for s in STAGES}
    profile = None
    try:
        with section("(a) every stage in its own process"):
            run_separate(write_config(root, "separate", folder), figures, STAGES)
        with section("(b) all stages in one process, compute cores timed"):
            run_one_process(write_config(root, "one-process", folder), figures, STAGES)
        if args.profile:
            with section("(c) profile"):
                profile = profile_stages(root, folder, STAGES, args.top)
    except StageFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    print()
    totals = print_table(figures)
    print_cores(figures)
    found = checks(figures, totals)
    print(f"\nchecks of issue 18 (they are for the national-sized sample, scale {NATIONAL_SCALE}, "
          f"on 2 idle cores; this run: scale {manifest.get('scale')}, "
          f"load {os.getloadavg()[0]:.1f}):")
    for text, met in found:
        print(f"  {'met   ' if met else 'MISSED'} {text}")
    if profile is not None:
        print_profile(*profile)
    results = {
        "sample": str(folder), "scale": manifest.get("scale"), "counts": counts,
        "stages": {s: asdict(f) | {"ratio": f.ratio} for s, f in figures.items()},
        "totals": totals, "checks": [{"check": t, "met": m} for t, m in found],
        "profile": None if profile is None else {"profiler": profile[0], "stages": profile[1]},
    }
    (root / "results.json").write_text(json.dumps(results, indent=2), "utf-8")
    print(f"\nbenchmark took {time.perf_counter() - t_start:.0f} s; "
          f"figures in {root / 'results.json'}")
    return 3 if args.check and not all(m for _, m in found) else 0


if __name__ == "__main__":
    sys.exit(main())
