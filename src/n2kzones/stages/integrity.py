"""An output folder that always holds complete stage runs: lock, staging folder, commit journal.

A stage never writes into the output folder directly. It writes its whole output set into a
staging folder beside the destination (``<out>/.staging-<stage>-<run id>/``, same file
system), then commits:

1. every output is complete in the staging folder, the manifest among them;
2. a journal ``.commit`` listing the outputs is written and synced: from here on the run
   counts as done;
3. each output is moved into place with ``os.replace`` (atomic per entry; a folder output
   such as ``maps/`` is first moved aside), the manifest last;
4. the staging folder is removed.

A run killed before step 2 leaves only a staging folder without journal: the next start
removes it and the previous outputs are untouched. A run killed during step 3 leaves a
journal: the next start finishes the moves (roll forward), so the folder again holds one
run's complete set. Either way nothing half-written ever sits under an output's name.

A lock file per output folder (``.n2kzones.lock``: PID, host, stage, start time) makes a
second concurrent run fail at once; a lock whose process no longer exists on this host is
stale and taken over with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from n2kzones.errors import OutputError, OutputLockedError

log = logging.getLogger(__name__)

LOCK_NAME = ".n2kzones.lock"
STAGING_PREFIX = ".staging-"
JOURNAL = ".commit"
_REPLACED = ".replaced"

#: Locks this process holds: folder -> depth (a whole ``run`` holds the lock its stages take).
_HELD: dict[Path, int] = {}


def _process_start(pid: int) -> str | None:
    """Start time of a process (Linux ``/proc``), to tell a reused PID from the holder."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or _process_start(pid) in (None, start)


@contextlib.contextmanager
def output_lock(root: Path, stage: str) -> Iterator[None]:
    """Hold the lock of output folder ``root`` (re-entrant within this process).

    Raises
    ------
    OutputLockedError
        Another live process holds it; the message names the holder.
    OutputError
        The folder cannot be created or written (read-only, permissions, disk full).
    """
    root = Path(root).resolve()
    if root in _HELD:
        _HELD[root] += 1
        try:
            yield
        finally:
            _HELD[root] -= 1
        return
    lock = root / LOCK_NAME
    with translate_os_errors(root):
        root.mkdir(parents=True, exist_ok=True)
        _acquire(lock, stage)
    _HELD[root] = 1
    try:
        yield
    finally:
        del _HELD[root]
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _acquire(lock: Path, stage: str) -> None:
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "stage": stage,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "process_start": _process_start(os.getpid()),
    }
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(lock)
            if holder is not None and not _stale(holder):
                raise OutputLockedError(
                    f"output folder {lock.parent} is in use by `n2kzones {holder.get('stage')}` "
                    f"(pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('started')}); "
                    "wait until it has finished, or set another [project] output_dir. If no such run "
                    f"exists, delete {lock}"
                ) from None
            log.warning("removing a stale lock %s (%s)", lock, holder or "unreadable")
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return
    raise OutputLockedError(f"could not take the lock {lock}; another run took it first")


def _read_lock(lock: Path) -> dict | None:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None


def _stale(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname():
        return False  # cannot tell from here: the user decides
    try:
        pid = int(holder["pid"])
    except (KeyError, TypeError, ValueError):
        return True
    return not _alive(pid, holder.get("process_start"))


@contextlib.contextmanager
def translate_os_errors(root: Path, what: str = "write into") -> Iterator[None]:
    """Turn a full disk, a read-only folder or missing permissions into an :class:`OutputError`."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, OutputError) or exc.errno not in _USER_ERRNOS:
            raise
        where = exc.filename or root
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the disk is full: free space or set another [project] output_dir"
        else:
            hint = "no permission (or a read-only file system): make it writable or set another [project] output_dir"
        raise OutputError(
            f"cannot {what} {root} ({os.strerror(exc.errno)} at {where}); {hint}. Earlier outputs are intact"
        ) from exc


_USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def recover(root: Path) -> list[str]:
    """Finish or discard what killed runs left in ``root``; returns what was done (for logs).

    A staging folder with a commit journal is rolled forward (its remaining outputs are moved
    into place); one without is removed. Call it while holding the folder's lock.
    """
    done: list[str] = []
    root = Path(root)
    if not root.exists():
        return done
    for staging in sorted(root.glob(f"{STAGING_PREFIX}*")):
        if not staging.is_dir():
            continue
        journal = staging / JOURNAL
        if journal.exists():
            try:
                entries = json.loads(journal.read_text())["entries"]
            except (OSError, ValueError, KeyError):
                entries = None
            if entries is not None:
                _move_into_place(staging, root, entries)
                done.append(f"finished the commit of {staging.name} ({len(entries)} outputs)")
        else:
            done.append(f"removed {staging.name}, left by a run that did not finish")
        shutil.rmtree(staging, ignore_errors=True)
    for leftover in root.rglob(".*.tmp-*"):  # temporary files of atomic writers outside staging
        if STAGING_PREFIX not in str(leftover):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    leftover.unlink()
    for msg in done:
        log.warning("%s: %s", root, msg)
    return done


def _move_into_place(staging: Path, root: Path, entries: list[str]) -> None:
    """Move each staged entry onto its destination (idempotent: moved ones are skipped)."""
    aside = staging / _REPLACED
    for rel in entries:
        src, dst = staging / rel, root / rel
        if not src.exists() and not src.is_symlink():
            continue  # moved before the interruption
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_dir() and not dst.is_symlink():
            target = aside / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            os.replace(dst, target)
        elif src.is_dir() and dst.exists():
            dst.unlink()
        os.replace(src, dst)


@dataclass
class Staging:
    """The staging folder of one stage run; see the module docstring.

    Attributes
    ----------
    root
        The output folder.
    stage
        The stage writing.
    path
        The staging folder (inside ``root``).
    """

    root: Path
    stage: str
    path: Path = field(init=False)
    registered: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.path = self.root / f"{STAGING_PREFIX}{self.stage}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.path.mkdir(parents=True)

    def __call__(self, rel: str) -> Path:
        """Where to write output ``rel`` (a path relative to the output folder); registers it."""
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel not in self.registered:
            self.registered.append(rel)
        return p

    def entries(self) -> list[str]:
        """The registered outputs that were written (files, or folders such as ``maps``)."""
        return [rel for rel in self.registered if (self.path / rel).exists()]

    def commit(self, *, last: str | None = None, remove: tuple[str, ...] = ()) -> list[str]:
        """Move the staged outputs into place (``last`` moved last); remove ``remove`` afterwards.

        Returns the relative paths committed.
        """
        entries = self.entries()
        if last is not None and last in entries:
            entries = [e for e in entries if e != last] + [last]
        journal = self.path / JOURNAL
        with journal.open("w") as fh:
            json.dump({"stage": self.stage, "entries": entries}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        _move_into_place(self.path, self.root, entries)
        for rel in remove:
            p = self.root / rel
            if rel not in entries and p.exists():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        shutil.rmtree(self.path, ignore_errors=True)
        return entries

    def discard(self) -> None:
        """Remove the staging folder; the output folder stays as it was."""
        shutil.rmtree(self.path, ignore_errors=True)

