"""Download the FID Inception weights once, on request (``zoo features fetch inception``), into the place
:func:`zoo.metrics.inception.inception_weights_location` reads them from. Nothing else in zoo downloads.

The file is streamed to a locked temporary beside its destination (:func:`zoo.runtime.io.atomic_path`), its SHA-256
checked and the tensors loaded (``torch.load(weights_only=True)``, :func:`zoo.metrics.inception.read_weights`)
before one rename gives it its name: a broken connection, a truncated or altered download, Ctrl-C or a full
disk leaves nothing behind. A second call finds the file, checks it the same way and downloads nothing.

The expected SHA-256: torch-fidelity publishes none (it loads the file with ``torch.hub``'s
``load_state_dict_from_url`` without ``check_hash``). The ``6726825d`` in the name follows torch.hub's
convention, the first 8 hex digits of the file's SHA-256; the full digest below is the one several public
projects pin for this file (95,628,359 bytes, 566 tensors, the count torch-fidelity's network has), and it
starts with those 8 digits.
"""

from __future__ import annotations

import hashlib
import http.client
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from zoo.errors import UserError
from zoo.metrics.inception import (
    INCEPTION_ENV,
    INCEPTION_URL,
    INCEPTION_WEIGHTS,
    inception_weights_location,
    read_weights,
)
from zoo.runtime.io import atomic_path, file_lock
from zoo.runtime.progress import progress_bar

INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
URL_ENV = "ZOO_INCEPTION_URL"  # a mirror of the same file (an offline cluster's own server); the hash still applies
TIMEOUT = 60  # seconds without an answer or a byte before the download is given up
CHUNK = 1 << 20


@dataclass(frozen=True)
class Fetched:
    """Where the weights are and what was checked."""

    path: Path
    sha256: str
    size: int  # bytes
    tensors: int
    downloaded: bool  # False: the file was already there (and was checked again)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def inception_url() -> str:
    return os.environ.get(URL_ENV) or INCEPTION_URL


def fetch_inception(*, url: str | None = None, sha256: str | None = None, progress: bool = False) -> Fetched:
    """The FID Inception weights at :func:`inception_weights_location`, downloaded from ``url`` (default
    ``$ZOO_INCEPTION_URL``, else torch-fidelity's release) unless already there, and checked: SHA-256
    ``sha256`` (default :data:`INCEPTION_SHA256`) and a restricted ``torch.load``."""
    url, sha256 = url or inception_url(), sha256 or INCEPTION_SHA256
    dest = inception_weights_location()
    if dest.suffix == ".safetensors":
        raise UserError(f"${INCEPTION_ENV} names a .safetensors file ({dest}), but the published weights are the .pth "
                        f"{INCEPTION_WEIGHTS}; unset ${INCEPTION_ENV} to fetch them into the torch hub cache, or point "
                        f"it at a .pth path")  # fmt: skip
    if dest.is_dir():
        raise UserError(f"${INCEPTION_ENV} names a folder ({dest}); point it at a file path, e.g. {dest / INCEPTION_WEIGHTS}")
    with file_lock(dest.parent / f".{dest.name}.lock"):  # a second fetch waits, then finds the file
        if dest.is_file():
            return _check_existing(dest, sha256)
        with atomic_path(dest) as tmp:
            size = _download(url, tmp, dest, progress)
            digest = _sha256(tmp)
            if digest != sha256:
                raise UserError(f"the file downloaded from {url} is not the published {INCEPTION_WEIGHTS}: its SHA-256 "
                                f"is {digest}, not {sha256} (damaged or altered on the way); nothing was written. "
                                f"{_manual_route(url, dest)}")  # fmt: skip
            try:  # the published file always loads; a mirror's or a test's file may not
                tensors = len(read_weights(tmp, shown_as=f"the file downloaded from {url}"))
            except UserError as err:
                raise UserError(f"{err}; nothing was written") from None
    return Fetched(dest, digest, size, tensors, downloaded=True)


def _check_existing(path: Path, sha256: str) -> Fetched:
    digest = _sha256(path)
    if digest != sha256:
        raise UserError(f"{path} is there but is not the published {INCEPTION_WEIGHTS} (SHA-256 {digest}, not "
                        f"{sha256}); it was left as it is: delete it and run `zoo features fetch inception` again")
    return Fetched(path, digest, path.stat().st_size, len(read_weights(path)), downloaded=False)


def _download(url: str, tmp: Path, dest: Path, progress: bool) -> int:
    """Stream ``url`` into ``tmp``; the number of bytes. Every network failure is one line with the way round it."""
    try:
        response = urlopen(Request(url, headers={"User-Agent": "zoo"}), timeout=TIMEOUT)  # noqa: S310 - http(s) only
    except HTTPError as err:
        raise _unreachable(url, dest, f"HTTP {err.code} {err.reason}") from None
    except URLError as err:
        raise _unreachable(url, dest, f"{err.reason} (offline?)") from None
    except TimeoutError:
        raise _unreachable(url, dest, f"no answer within {TIMEOUT} s") from None
    except ValueError as err:  # not a URL at all (a mistyped $ZOO_INCEPTION_URL)
        raise UserError(f"cannot download from '{url}': {err}; check ${URL_ENV} (unset it to use {INCEPTION_URL})") from None
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    size = 0
    with response, open(tmp, "wb") as out, progress_bar(progress, transient=True) as bar:
        task = bar.add_task(f"{INCEPTION_WEIGHTS} (MB)", total=expected / 1e6 if expected else None, unit="MB")
        while chunk := _read(response, url, dest, size):
            out.write(chunk)
            size += len(chunk)
            bar.advance(task, len(chunk) / 1e6)
    if expected is not None and size != expected:
        raise _unreachable(url, dest, f"the download stopped after {size:,} of {expected:,} bytes")
    return size


def _read(response: Any, url: str, dest: Path, done: int) -> bytes:
    try:
        return response.read(CHUNK)
    except TimeoutError:
        raise _unreachable(url, dest, f"no byte for {TIMEOUT} s after {done:,} bytes") from None
    except (OSError, http.client.HTTPException) as err:  # a reset connection, an incomplete body
        raise _unreachable(url, dest, f"the connection broke after {done:,} bytes ({type(err).__name__})") from None


def _unreachable(url: str, dest: Path, reason: str) -> UserError:
    return UserError(f"cannot download {INCEPTION_WEIGHTS} from {url}: {reason}; nothing was written. "
                     f"{_manual_route(url, dest)}")


def _manual_route(url: str, dest: Path) -> str:
    anywhere = "" if os.environ.get(INCEPTION_ENV) else f" (or anywhere, named by ${INCEPTION_ENV})"
    return (f"By hand: download {url} on a machine that can and put the file in {dest.parent}/ as {dest.name}"
            f"{anywhere}; `zoo features fetch inception` then checks it")


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
