"""The helpers of ``benchmarks/bench_pipeline.py``: the config it writes, the core timer, the
py-spy summary, a failing stage process and the checks of issue 18."""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from pathlib import Path

import pytest
import tomllib

from conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "bench_pipeline", REPO / "benchmarks" / "bench_pipeline.py"
)
bp = importlib.util.module_from_spec(_spec)
sys.modules["bench_pipeline"] = bp
_spec.loader.exec_module(bp)


def test_config_with_arrays_of_tables_reads_back(tmp_path: Path) -> None:
    raw = bp.pipeline_config(tmp_path / "out", tmp_path / "sample")
    text = bp.toml_text(raw)
    assert tomllib.loads(text) == raw
    assert "[[scenarios]]" in text and text.count("[[policy.targets]]") == 2
    assert raw["policy"]["baseline_scenario"] == raw["scenarios"][0]["name"]


def test_write_config_empties_the_run_folders(tmp_path: Path) -> None:
    (tmp_path / "separate").mkdir()
    (tmp_path / "separate" / "stale.csv").write_text("x")
    path = bp.write_config(tmp_path, "separate", tmp_path / "sample")
    assert path == tmp_path / "separate.toml"
    assert tomllib.loads(path.read_text())["project"]["output_dir"] == str(tmp_path / "separate")
    assert list((tmp_path / "separate").iterdir()) == []
    assert (tmp_path / "separate-logs").is_dir()


def test_core_timer_counts_outer_calls_once_and_restores() -> None:
    mod = types.ModuleType("bench_fake_core")
    mod.inner = lambda x: x + 1
    mod.outer = lambda x: mod.inner(x) * 2  # looks inner up in the module: the wrapped one
    sys.modules[mod.__name__] = mod
    original_inner, original_outer = mod.inner, mod.outer
    try:
        with bp.CoreTimer(((mod.__name__, "outer"), (mod.__name__, "inner"))) as core:
            assert mod.outer(1) == 4
            assert mod.outer(2) == 6
            assert mod.inner(5) == 6
        assert {k: n for k, (n, _) in core.calls.items()} == {"outer": 2, "inner": 1}
        assert core.seconds == pytest.approx(sum(s for _, s in core.calls.values()))
        assert mod.inner is original_inner and mod.outer is original_outer
    finally:
        del sys.modules[mod.__name__]


def test_core_timer_wraps_a_method_on_its_class() -> None:
    mod = types.ModuleType("bench_fake_cls")

    class Model:
        def at(self, x: int) -> int:
            return 10 * x

    mod.Model = Model
    sys.modules[mod.__name__] = mod
    try:
        with bp.CoreTimer(((f"{mod.__name__}:Model", "at"),)) as core:
            assert Model().at(3) == 30
        assert core.calls["Model.at"][0] == 1
        assert Model.__dict__["at"].__qualname__.endswith("Model.at")
        assert not hasattr(Model.__dict__["at"], "__wrapped__")
    finally:
        del sys.modules[mod.__name__]


def test_every_core_name_exists_where_the_stage_looks_it_up() -> None:
    from n2kzones.stages.catalogue import STAGES

    assert tuple(bp.CORES) == STAGES
    for targets in bp.CORES.values():
        with bp.CoreTimer(targets):
            pass


def test_py_spy_summary_of_a_hand_made_profile(tmp_path: Path) -> None:
    main = "thread (7): MainThread;_run_module_as_main (runpy.py);<module> (n2kzones/cli.py)"
    stage = f"{main};main (typer/main.py);run_zones (n2kzones/stages/zones.py)"
    raw = tmp_path / "profile.txt"
    raw.write_text(
        f"{stage};build_zones (n2kzones/zones.py);buffer (shapely/constructive.py) 25\n"
        f"{stage};write_parquet (n2kzones/io/writers.py) 40\n"
        f"{stage};lazy (n2kzones/x.py);<module> (folium/__init__.py);render (folium/x.py) 10\n"
        f"{main};_find_and_load (<frozen importlib._bootstrap>);<module> (numba/__init__.py) 25\n"
        "thread (8): Thread-1;Thread.run (threading.py) 500\n"
    )
    seconds, rows = bp.py_spy_top(raw, "zones", 8)
    assert seconds == pytest.approx(1.0)  # 100 main-thread samples at 100 Hz
    assert [(f, round(c, 3), round(o, 3)) for f, c, o in rows] == [
        ("n2kzones/io/writers.py:write_parquet", 0.4, 0.4),
        ("(imports)", 0.35, 0.35),  # at start-up and inside the stage
        ("n2kzones/zones.py:build_zones > shapely/constructive.py:buffer", 0.25, 0.25),
        ("n2kzones/x.py:lazy", 0.1, 0.0),
    ]
    assert len(bp.py_spy_top(raw, "zones", 2)[1]) == 2


def test_cprofile_summary_of_hand_made_stats() -> None:
    import n2kzones

    src = str(Path(n2kzones.__file__).resolve().parent)
    call = (f"{src}/stages/run.py", 60, "_call")
    runner = (f"{src}/stages/zones.py", 90, "run_zones")
    build = (f"{src}/zones.py", 10, "build_zones")
    union = (f"{src}/geom.py", 20, "union")  # only from build_zones, 0.2 % less: its chain
    write = (f"{src}/io/writers.py", 30, "write_parquet")
    stats = types.SimpleNamespace(stats={  # (cc, nc, own s, cum s, callers)
        call: (1, 1, 0.0, 2.0, {}),
        runner: (1, 1, 0.2, 2.0, {call: ()}),
        build: (1, 1, 0.1, 1.2, {runner: ()}),
        union: (1, 1, 1.1, 1.196, {build: ()}),
        write: (2, 2, 0.6, 0.6, {runner: ()}),
    })
    rows = bp.cprofile_top(stats, 2.0, "zones", 8)
    assert [(f, round(c, 3), round(o, 3)) for f, c, o in rows] == [
        ("n2kzones/zones.py:build_zones > n2kzones/geom.py:union", 0.6, 0.6),
        ("n2kzones/io/writers.py:write_parquet", 0.3, 0.3),
    ]


def test_a_failing_stage_process_raises_with_its_log(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; print('no such layer'); sys.exit(4)"]
    with pytest.raises(bp.StageFailed, match=r"(?s)exited 4.*no such layer"):
        bp.run_child("zones", cmd, tmp_path / "log_zones.txt", bp.child_env())


def test_a_stage_process_reports_its_peak(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "x = bytearray(200 * 1024 * 1024)"]
    wall, peak = bp.run_child("zones", cmd, tmp_path / "log.txt", bp.child_env())
    assert wall > 0
    if bp.TIME_BIN.is_file():
        assert 0.2 <= peak < 1.0  # GB: the 200 MiB buffer and the interpreter


def test_checks_on_hand_figures() -> None:
    fig = {
        "zones": bp.StageFigures(separate_s=2.0, one_s=1.0, core_s=0.5, separate_peak_gb=0.5),
        "overlay": bp.StageFigures(separate_s=30.0, one_s=20.0, core_s=5.0, separate_peak_gb=1.0),
    }
    totals = {"separate_s": 32.0, "one_process_s": 21.0, "core_s": 5.5,
              "separate_peak_gb": 1.0, "one_process_peak_gb": 4.5}
    (t_text, t_met), (r_text, r_met), (m_text, m_met) = bp.checks(fig, totals)
    assert t_met and not r_met and not m_met
    assert "['overlay']" in r_text and "4.50 GB" in m_text
    # the one process's import time is no stage: it has no core and is not judged as one
    fig[bp.IMPORTS] = bp.StageFigures(one_s=3.0)
    fig["overlay"].core_s = 10.0
    (_, _), (r_text, r_met), (_, _) = bp.checks(fig, totals)
    assert r_met and "none" in r_text


def test_data_folder_must_be_a_sample_of_the_asked_scale(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no manifest.json"):
        bp.sample_folder(None, tmp_path)
    (tmp_path / "manifest.json").write_text('{"scale": 1}')
    assert bp.sample_folder(None, tmp_path) == tmp_path
    assert bp.sample_folder(1, tmp_path) == tmp_path
    with pytest.raises(SystemExit, match="scale 1, not --scale 2"):
        bp.sample_folder(2, tmp_path)


# -- bench_growth: the growth exponent -----------------------------------------------------------
def _growth():
    spec = importlib.util.spec_from_file_location("bench_growth", REPO / "benchmarks" / "bench_growth.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return mod


@pytest.mark.parametrize(
    ("costs", "exponent"),
    [([3.0, 6.0, 12.0], 1.0), ([1.0, 4.0, 16.0], 2.0), ([5.0, 5.0, 5.0], 0.0), ([2.0, 2.0 * 2**1.5, 16.0], 1.5)],
)
def test_growth_exponent_of_power_laws(costs: list[float], exponent: float) -> None:
    assert _growth().growth_exponent([1.0, 2.0, 4.0], costs) == pytest.approx(exponent)


def test_growth_exponent_needs_two_measured_points() -> None:
    g = _growth()
    assert g.growth_exponent([1.0, 2.0, 4.0], [0.0, 0.0, 3.0]) is None
    assert g.growth_exponent([1.0, 2.0], [1.0, None]) is None
    # n log n over 1x-4x of 758,470 parcels: sizes equally spaced in log, so the fitted
    # slope is the end points' one, 1 + log(log 4n / log n) / log 4 (1.073, below the flag)
    n = [758_470.0 * k for k in (1, 2, 4)]
    expected = 1 + math.log(math.log(n[2]) / math.log(n[0])) / math.log(4)
    assert g.growth_exponent(n, [v * math.log(v) for v in n]) == pytest.approx(expected, rel=1e-9)
    assert expected < g.FLAG_EXPONENT


def test_growth_config_puts_receptors_on_a_local_grid(tmp_path: Path) -> None:
    g = _growth()
    path = bp.write_config(tmp_path, "scale-1", tmp_path / "sample", g.growth_config)
    raw = tomllib.loads(path.read_text())
    assert raw["deposition"]["receptor_grid"] == "local"
    assert raw["project"]["output_dir"] == str(tmp_path / "scale-1")


def test_growth_sample_folder_must_hold_the_asked_scale_and_density(tmp_path: Path) -> None:
    g = _growth()
    folder = tmp_path / "density-2"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"scale": 1, "density": 2}')
    assert g.sample_for(1, 2, tmp_path) == folder
    with pytest.raises(SystemExit, match="scale 1, density 2, not scale 2, density 2"):
        g.sample_for(2, 2, tmp_path)
    (folder / "manifest.json").write_text('{"scale": 1}')  # no density key: density 1
    with pytest.raises(SystemExit, match="scale 1, density 1, not scale 1, density 2"):
        g.sample_for(1, 2, tmp_path)
