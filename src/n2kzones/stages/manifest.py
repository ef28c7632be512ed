"""Stage manifests: what a run read, with which config, and what it wrote.

``manifest_<stage>.json`` in the output folder records

- ``inputs``: every input layer with what happened to each feature (the layer report) and
  its checksum; ``input_files``: every file read, with checksum, size and modification time;
- ``config_keys``: the config sections the stage depends on
  (:data:`~n2kzones.stages.catalogue.CONFIG_KEYS`), and the whole config for reference;
- ``upstream``: the checksum of each upstream stage's manifest it consumed;
- ``outputs`` (checksum per output) and ``output_files`` (checksum, size, time);
- the package and library versions, start and finish times, and stage-specific extras.

:func:`upstream_problems` reads these back to decide whether a stage's upstream outputs can
be used: present, unchanged since written, one run each, and not older than their inputs,
config and package version.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from n2kzones._version import __version__
from n2kzones.config import Config
from n2kzones.io.writers import write_json
from n2kzones.stages.catalogue import CONFIG_KEYS, STAGES, manifest_name, upstream

#: Side files that belong to an input file (shapefile parts, GDAL's .aux.xml, world files).
_SIDECARS = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".aux.xml", ".tfw", ".wld")


def sha256(path: Path) -> str:
    """Checksum of a file (or of all files below a folder, in sorted order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _stat(path: Path) -> tuple[int, int]:
    """(size, newest mtime in ns) of a file or of every file below a folder."""
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*") if p.is_file()]
        return sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def fingerprint(path: Path) -> dict[str, Any]:
    """Checksum, size (bytes) and modification time (ns) of a file or folder."""
    size, mtime = _stat(path)
    return {"sha256": sha256(path), "size": size, "mtime_ns": mtime}


def unchanged(path: Path, fp: dict[str, Any]) -> bool:
    """Whether ``path`` still has fingerprint ``fp``.

    Same size and modification time count as unchanged (as ``make`` assumes); otherwise the
    checksum decides, so a file that was only touched is not taken as changed.
    """
    if not path.exists():
        return False
    size, mtime = _stat(path)
    if size == fp.get("size") and mtime == fp.get("mtime_ns"):
        return True
    return size == fp.get("size") and sha256(path) == fp.get("sha256")


def input_files(path: Path) -> list[Path]:
    """The files that make up an input: the file with its side files, or every file of a folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    out = [path]
    for suffix in _SIDECARS:
        for side in (path.with_suffix(suffix), Path(f"{path}{suffix}")):
            if side.exists() and side not in out:
                out.append(side)
    return out


def config_section(cfg: Config, stage: str) -> dict[str, Any]:
    """The config values ``stage``'s outputs depend on, by dotted key (JSON-compatible)."""
    dump = cfg.model_dump(mode="json")
    out: dict[str, Any] = {}
    for key in CONFIG_KEYS[stage]:
        if key == "parameters":
            out[key] = cfg.params.model_dump(mode="json")
            continue
        value: Any = dump
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[key] = value
    return out


def read_manifest(root: Path, stage: str) -> dict[str, Any] | None:
    """The manifest of ``stage`` in output folder ``root`` (None when absent or unreadable)."""
    try:
        return json.loads((Path(root) / manifest_name(stage)).read_text())
    except (OSError, ValueError):
        return None


def manifest_digest(root: Path, stage: str) -> str | None:
    """Checksum of ``stage``'s manifest file (None when absent)."""
    p = Path(root) / manifest_name(stage)
    return sha256(p) if p.exists() else None


def _version_of(package: str) -> str | None:
    """The installed version of ``package``, without importing it (a stage that computes no
    deposition need not import Numba to record its version); None where not installed."""
    module = sys.modules.get(package)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_manifest(
    path: Path,
    *,
    cfg: Config,
    stage: str,
    run_id: str,
    started: datetime,
    finished: datetime,
    reports: dict[str, Any],
    files_read: dict[str, Path],
    upstream_digests: dict[str, str],
    outputs: dict[str, Path],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a stage manifest (see the module docstring) to ``path``.

    Parameters
    ----------
    reports
        Input kind -> :class:`~n2kzones.io.validate.LayerReport` of each layer read.
    files_read
        Input name -> file or folder read (layers, rasters, tables, kernels).
    upstream_digests
        Upstream stage -> checksum of its manifest at the time it was read.
    outputs
        Path relative to the output folder -> the written file or folder.
    """
    files: dict[str, Any] = {}
    for src in files_read.values():
        for f in input_files(src):
            files[str(f.resolve())] = fingerprint(f)
    out_fp = {rel: fingerprint(p) for rel, p in outputs.items()}
    manifest = {
        "stage": stage,
        "run_id": run_id,
        "n2kzones_version": __version__,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "config_file": str(cfg.source_path) if cfg.source_path else None,
        "config_keys": config_section(cfg, stage),
        "config": cfg.model_dump(mode="json"),
        "parameters": cfg.params.model_dump(mode="json"),
        "inputs": {
            kind: {**r.as_dict(), "sha256": sha256(Path(r.source)) if Path(r.source).exists() else None}
            for kind, r in reports.items()
        },
        "input_files": files,
        "upstream": upstream_digests,
        "outputs": {rel: fp["sha256"] for rel, fp in out_fp.items()},
        "output_files": out_fp,
        "versions": {
            "python": platform.python_version(),
            **{name: _version_of(name) for name in ("geopandas", "shapely", "numba", "pandas")},
        },
        **(extra or {}),
    }
    return write_json(path, manifest)


@dataclass(frozen=True)
class Problem:
    """Why an upstream stage's outputs cannot be used."""

    stage: str
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def ancestors(stage: str) -> tuple[str, ...]:
    """Every stage ``stage`` depends on, directly or not, in pipeline order."""
    seen: set[str] = set()
    frontier = list(upstream(stage))
    while frontier:
        s = frontier.pop()
        if s not in seen:
            seen.add(s)
            frontier.extend(upstream(s))
    return tuple(s for s in STAGES if s in seen)


def stage_problems(cfg: Config, stage: str) -> list[Problem]:
    """What is wrong with ``stage``'s outputs in the output folder (empty: usable)."""
    root = cfg.output_dir
    name = manifest_name(stage)
    m = read_manifest(root, stage)
    if m is None:
        return [Problem(stage, str(root / name), f"missing: the {stage} stage has not run in {root}")]
    if m.get("n2kzones_version") != __version__:
        return [Problem(stage, name, f"written by n2kzones {m.get('n2kzones_version')}, this is {__version__}")]
    out: list[Problem] = []
    for rel, fp in (m.get("output_files") or {}).items():
        p = root / rel
        if not p.exists():
            out.append(Problem(stage, str(p), f"missing, although {name} lists it"))
        elif not unchanged(p, fp):
            out.append(Problem(stage, str(p), f"changed since {name} was written, or comes from another run"))
    for f, fp in (m.get("input_files") or {}).items():
        p = Path(f)
        if not p.exists():
            out.append(Problem(stage, f, f"input of the {stage} stage is gone"))
        elif not unchanged(p, fp):
            out.append(Problem(stage, f, f"input changed after the {stage} stage ran"))
    now = config_section(cfg, stage)
    then = m.get("config_keys") or {}
    changed = sorted(k for k in now if json.dumps(now[k], sort_keys=True) != json.dumps(then.get(k), sort_keys=True))
    if changed:
        out.append(Problem(stage, name, f"config changed since the {stage} stage ran: {', '.join(changed)}"))
    for up, digest in (m.get("upstream") or {}).items():
        if manifest_digest(root, up) != digest:
            out.append(Problem(stage, name, f"made from an earlier run of the {up} stage"))
    return out


def upstream_problems(cfg: Config, stage: str) -> list[Problem]:
    """Problems of every stage ``stage`` depends on (directly or not), earliest stage first."""
    return [p for s in ancestors(stage) for p in stage_problems(cfg, s)]


def os_path_within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
    except ValueError:
        return False
    return True
