"""Atomic writes of files and folders: a reader (or a crash) never sees half of one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    _share(tmp_path, 0o666)  # mkstemp makes files owner-only; results are meant to be shared
    try:
        yield tmp_path
        _fsync(tmp_path)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: str | Path, *, old: str | Path | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` by two renames.

    ``path`` is at every moment absent, the old complete folder or the new complete one. Between the two
    renames the old folder is at ``old`` (default ``.<name>.old-<pid>``, removed afterwards); pass a fixed
    ``old`` when readers should fall back on it after a crash there (checkpoints do). On an exception the
    temporary folder is removed and ``path`` is untouched. A crash (kill -9) can leave ``.<name>.tmp-*``
    and ``.<name>.old-*`` beside ``path``: :func:`remove_leftovers` clears them under a lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = Path(old) if old is not None else path.with_name(f".{path.name}.old-{os.getpid()}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    _share(tmp, 0o777)  # mkdtemp makes it owner-only
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                _fsync(f)
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_leftovers(path: str | Path) -> None:
    """The temporary folders a crashed :func:`atomic_folder` left beside ``path`` (call it holding a lock on
    ``path``, so nobody else is writing them)."""
    path = Path(path)
    for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*"):
        for leftover in path.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def _share(path: Path, mode: int) -> None:
    """Give ``path`` the permissions the umask allows (temp files and folders start owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (two processes preparing the same data or training the same
    network take turns; the second finds the first one's result)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic writes alone still keep the files whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a JSON-lines log; a torn last line (a kill mid-write) is skipped."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_log(path: str | Path, row: dict[str, Any]) -> None:
    """One JSON line, flushed: a crash loses at most the line being written (which read_log skips)."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
