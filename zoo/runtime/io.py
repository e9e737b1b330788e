"""Atomic writes of files and folders: a reader (or a crash) never sees half of one; a full disk is one line,
not a traceback; a temporary is locked while it is written, so what a killed writer left can be told from
a live writer's work and removed (:func:`remove_stale`)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from zoo.errors import DiskFullError, UserError

try:
    import fcntl  # POSIX file locks
except ImportError:  # not POSIX: no locks (see _flock and file_lock)
    fcntl = None  # type: ignore[assignment]

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})  # a full disk, a full quota


def is_disk_full(err: BaseException) -> bool:
    """True for the ways a full disk surfaces: ENOSPC/EDQUOT from the OS, SQLITE_FULL from SQLite, and the OS
    message inside a library's own error (safetensors reports "No space left on device (os error 28)")."""
    if isinstance(err, OSError) and err.errno is not None:
        return err.errno in NO_SPACE
    if isinstance(err, sqlite3.Error) and getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    return any(os.strerror(code) in str(err) for code in NO_SPACE) or "disk is full" in str(err)


def disk_full_error(path: str | Path | None) -> DiskFullError:
    where = f"writing '{path}'" if path else "while writing"
    return DiskFullError(f"no space left on the device {where}; free some space (or write elsewhere) and run the "
                         "command again: finished work is kept, nothing half-written was left")


@contextmanager
def disk_guard(path: str | Path) -> Iterator[None]:
    """Turn a full disk inside the block into a :class:`DiskFullError` naming ``path``."""
    try:
        yield
    except Exception as err:
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise disk_full_error(path) from None
        raise


def load_json(path: str | Path, *, fix: str, what: str | None = None) -> Any:
    """The JSON in ``path`` (a mapping, when ``what`` names one); a damaged file is a UserError naming it and
    ``fix`` (what to do about it)."""
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"'{path}' is damaged ({type(err).__name__}: {err}); {fix}") from None
    if what is not None and not isinstance(data, dict):
        raise UserError(f"'{path}' is damaged (it holds a {type(data).__name__}, not {what}); {fix}")
    return data


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (``.<name>.XXXX.tmp``, locked while written) beside ``path``; on success it
    replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with disk_guard(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp_path = Path(tmp)
    try:
        _flock(fd)
        _share(tmp_path, 0o666)  # mkstemp makes files owner-only; results are meant to be shared
        with disk_guard(path):
            yield tmp_path
            _fsync(tmp_path)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def atomic_folder(path: str | Path, *, old: str | Path | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` by two renames.

    ``path`` is at every moment absent, the old complete folder or the new complete one. Between the two
    renames the old folder is at ``old`` (default ``.<name>.old-<pid>``, removed afterwards); pass a fixed
    ``old`` when readers should fall back on it after a crash there (checkpoints do). On an exception (a
    full disk: :class:`DiskFullError`) the temporary folder is removed and ``path`` is untouched. A crash
    (kill -9) can leave ``.<name>.tmp-*`` and ``.<name>.old-*`` beside ``path``: the temporary is locked
    while written, so :func:`remove_stale` can clear it at any time, and :func:`remove_leftovers` clears
    both under a lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = Path(old) if old is not None else path.with_name(f".{path.name}.old-{os.getpid()}")
    with disk_guard(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        with hold(tmp), disk_guard(path):
            _share(tmp, 0o777)  # mkdtemp makes it owner-only
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


def _flock(fd: int, *, wait: bool = True) -> bool:
    """An exclusive OS lock on an open file or folder; it dies with the process. BlockingIOError when another
    process holds it and ``wait`` is False; False when the platform has no such locks (not POSIX)."""
    if fcntl is None:
        return False
    fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    return True


@contextmanager
def hold(path: str | Path) -> Iterator[None]:
    """Lock a temporary file or folder while this process writes it (see :func:`remove_stale`)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _flock(fd)
        yield
    finally:
        os.close(fd)


def remove_stale(paths: Iterator[Path] | list[Path]) -> list[Path]:
    """Remove the temporaries among ``paths`` that no live process holds (a kill left them); return them.

    A writer holds its temporary locked from creation to rename (:func:`atomic_path`, :func:`hold`), so one
    we can lock has no writer left. Without OS locks (not POSIX) nothing can tell them apart: none is removed.
    """
    removed = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # gone already, or not ours to open
            continue
        try:
            if not _flock(fd, wait=False):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        except BlockingIOError:
            continue  # a live writer's
        finally:
            os.close(fd)
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def append_to_json_list(path: str | Path, entry: Any) -> None:
    """Add ``entry`` to the JSON list in ``path`` (a benchmark's history; made if missing), atomically: a crash
    leaves the list as it was."""
    path = Path(path)
    history = json.loads(path.read_text()) if path.is_file() else []
    atomic_write_text(path, json.dumps([*history, entry], indent=1) + "\n")


@contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (two processes preparing the same data or training the same
    network take turns; the second finds the first one's result). ``wait=False`` raises BlockingIOError at once
    when another process holds it.

    The lock is the OS's (``flock``): it dies with its process, so a killed run never blocks the next one. The
    lock file is removed on release; a waiter that then wakes up on the removed file sees that the path no
    longer names the file it locked and locks the path afresh, so two processes never both hold it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # not POSIX: atomic writes alone still keep the files whole
        yield
        return
    while True:
        handle = open(path, "a")  # noqa: SIM115 - closed below
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise
        if _same_file(handle, path):
            break
        handle.close()  # the holder we waited for removed the file: lock the current one
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking: nobody can lock the removed file and think it current
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextmanager
def exclusive(path: Path, busy: str) -> Iterator[None]:
    """:func:`file_lock` without waiting: a UserError saying ``busy`` when another process holds ``path``."""
    with ExitStack() as stack:
        try:
            stack.enter_context(file_lock(path, wait=False))
        except BlockingIOError:
            raise UserError(busy) from None
        yield


def _same_file(handle: Any, path: Path) -> bool:
    try:
        mine, now = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


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
    with disk_guard(path), open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
