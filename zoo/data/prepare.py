"""``zoo prepare``: resize, clean and split a dataset once into memory-mapped uint8 arrays.

The study resized every image to one size, kept only tensors without inf/nan, split the data into
train/validation/test and held it in memory (so only 80k of CelebA's 200k faces fit). Here the same
steps stream: images are decoded one at a time and appended to files, so peak memory stays flat as
the dataset grows, and training reads the result through ``np.load(mmap_mode="r")``.

- Transform: convert to L or RGB (RGBA, LA and transparent palettes are composited on white first;
  16-bit greyscale is scaled to 8 bits), resize the shorter side with bicubic filtering (PIL's resize
  is antialiased) and centre-crop to ``size x size`` (``PIL.ImageOps.fit``); stored as uint8
  ``(N, C, H, W)``. Scaling to [-1, 1] and flips happen when batches are drawn (``zoo.data.loader``),
  so one prepared copy serves every run.
- Cleaning: a file that is empty, undecodable, truncated or holds NaN/inf is rejected with a short
  reason code (``zoo.data.images.REASONS``) and its error text; one bad file never aborts the run.
- Split: a seeded ``numpy`` permutation of the kept images; each split keeps source order.
- Output: ``<prepared>/<dataset>-<size>-<channels>[-seed<S>][-split<a>_<b>_<c>]/`` holding
  ``{train,val,test}_{images,labels}.npy`` and ``manifest.json``. The seed and split fractions join
  the folder name only when they differ from the defaults, so a copy is never reused for another
  split; a copy made from another ``root`` is refused (``--force`` rebuilds it). The folder is built
  under a temporary sibling and renamed into place, so an interrupted run leaves nothing half
  written; leftovers of a crashed run are removed by the next one.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import zoo
from zoo.config.spec import DataSpec
from zoo.contract import DatasetSource, optional
from zoo.data.images import reject_reason, strict_decoding, to_array
from zoo.errors import UserError, did_you_mean
from zoo.runtime.io import atomic_folder, atomic_write_text, file_lock, remove_leftovers
from zoo.runtime.progress import progress_bar

if TYPE_CHECKING:
    from rich.table import Table

    from zoo.registry import Registry


FORMAT = 1  # version of the prepared folder layout; a copy of another version is rebuilt
SPLITS = ("train", "val", "test")
CHUNK = 512  # images per disk write / read while splitting
# -- identity ----------------------------------------------------------------------------------
def folder_name(spec: DataSpec) -> str:
    """``<dataset>-<size>-<channels>``, plus the seed and split when they are not the defaults."""
    name = f"{spec.dataset}-{spec.size}-{spec.channels}"
    if spec.seed != DataSpec.seed:
        name += f"-seed{spec.seed}"
    if not _same_split(spec.split, DataSpec.split):
        name += "-split" + "_".join(f"{f:g}" for f in spec.split)
    return name


def _same_split(a: Any, b: Any) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


def _identity(spec: DataSpec) -> dict[str, Any]:
    """Everything that decides the prepared arrays (the manifest records it)."""
    return {
        "format": FORMAT,
        "dataset": spec.dataset,
        "root": None if spec.root is None else str(Path(spec.root).resolve()),
        "size": spec.size,
        "channels": spec.channels,
        "seed": spec.seed,
        "split": list(spec.split),
    }


def split_sizes(n: int, fractions: tuple[float, ...] | list[float]) -> list[int]:
    """Split ``n`` items by ``fractions``, rounding the cumulative bounds so the sizes sum to ``n``."""
    bounds = [0, *(round(n * c) for c in np.cumsum(fractions)[:-1]), n]
    return [b - a for a, b in itertools.pairwise(bounds)]


def split_assignment(n: int, fractions: tuple[float, ...] | list[float], seed: int) -> np.ndarray:
    """Which split (0 train, 1 val, 2 test) each of ``n`` kept images goes to: a seeded permutation."""
    order = np.random.default_rng(seed).permutation(n)
    assignment = np.empty(n, dtype=np.int8)
    start = 0
    for k, count in enumerate(split_sizes(n, fractions)):
        assignment[order[start : start + count]] = k
        start += count
    return assignment


# -- the prepared folder -----------------------------------------------------------------------
def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "manifest.json").read_text())
    except FileNotFoundError:
        raise UserError(f"'{path}' is not a prepared dataset (no manifest.json); run `zoo prepare`") from None
    except json.JSONDecodeError as err:
        raise UserError(f"'{path}/manifest.json' is damaged ({err}); rebuild with `zoo prepare --force`") from None


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def _combined_hash(files: dict[str, str]) -> str:
    """One content hash from the per-file sha256s (the files include the .npy headers: shapes, dtypes)."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


class PreparedData:
    """A prepared dataset folder: per-split uint8 images (memory-mapped) and int64 labels (-1: none)."""

    def __init__(self, path: str | Path, manifest: dict[str, Any], *, reused: bool = False) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.reused = reused  # True when prepare() found this copy instead of building it

    @classmethod
    def open(cls, path: str | Path) -> PreparedData:
        return cls(path, _read_manifest(Path(path)))

    @property
    def hash(self) -> str:
        return self.manifest["hash"]

    @property
    def num_classes(self) -> int | None:
        return self.manifest["num_classes"]

    @property
    def default_feature(self) -> str:
        return self.manifest["default_feature"]

    @property
    def channels(self) -> int:
        return self.manifest["channels"]

    @property
    def size(self) -> int:
        return self.manifest["size"]

    def __len__(self) -> int:
        return self.manifest["kept"]

    def _file(self, split: str, what: str) -> Path:
        if split not in SPLITS:
            raise UserError(f"unknown split '{split}'{did_you_mean(split, SPLITS)}; splits: {', '.join(SPLITS)}")
        return self.path / f"{split}_{what}.npy"

    def images(self, split: str) -> np.ndarray:
        """uint8 ``(N, C, H, W)``, memory-mapped read-only: pages are read when touched."""
        return self._load(self._file(split, "images"), np.uint8, 4, mmap_mode="r")

    def labels(self, split: str) -> np.ndarray:
        """int64 ``(N,)``; -1 where the dataset has no label."""
        return self._load(self._file(split, "labels"), np.int64, 1)

    def _load(self, path: Path, dtype: type, ndim: int, mmap_mode: str | None = None) -> np.ndarray:
        """One array of the copy, refused in one line when it is not what ``zoo prepare`` writes (never unpickled)."""
        fix = f"rebuild the copy with `zoo prepare {self.manifest.get('dataset', 'DATASET')} --force` (same options)"
        try:
            array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
        except FileNotFoundError:
            raise UserError(f"'{path}' is missing from the prepared dataset; {fix}") from None
        except (ValueError, OSError, EOFError) as err:  # object arrays, truncated or foreign files
            raise UserError(f"'{path}' is damaged ({str(err).splitlines()[0][:200]}); {fix}") from None
        if array.dtype != dtype or array.ndim != ndim:
            raise UserError(f"'{path}' holds {array.dtype} {array.shape}, not the {np.dtype(dtype)} array with {ndim} "
                            f"dimension(s) zoo prepares; {fix}")
        return array

    def verify(self) -> bool:
        """Recompute the content hash from the files (slow for big datasets; prepare never does it)."""
        files = {name: _file_sha256(self.path / name) for name in self.manifest["files"]}
        return files == self.manifest["files"] and _combined_hash(files) == self.hash

    def __repr__(self) -> str:
        return f"PreparedData('{self.path}', {len(self)} images, hash {self.hash[:12]})"


class _NpyWriter:
    """Streams rows into a ``.npy`` file whose shape is known, hashing exactly the bytes written."""

    def __init__(self, path: Path, dtype: type, shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.shape = path, np.dtype(dtype), shape
        self.sha = hashlib.sha256()
        self.rows = 0
        header = io.BytesIO()
        descr = np.lib.format.dtype_to_descr(self.dtype)
        np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._write(header.getvalue())

    def _write(self, data: bytes | memoryview) -> None:
        self.sha.update(data)
        self._file.write(data)

    def write(self, rows: np.ndarray) -> None:
        if len(rows):
            self._write(memoryview(np.ascontiguousarray(rows, dtype=self.dtype)).cast("B"))
            self.rows += len(rows)

    def close(self) -> str:
        """Flush to disk and return the file's sha256."""
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path.name}: wrote {self.rows} rows, expected {self.shape[0]}")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self.sha.hexdigest()


# -- building ----------------------------------------------------------------------------------
def _decode_all(source: DatasetSource, staging: Path, spec: DataSpec, progress: bool) -> tuple[np.ndarray, list[dict]]:
    """Decode every item once, appending kept images to ``staging`` (raw uint8); labels and rejects."""
    n, shape = len(source), (spec.channels, spec.size, spec.size)
    buffer = np.empty((CHUNK, *shape), dtype=np.uint8)
    labels = np.full(n, -1, dtype=np.int64)
    kept, filled, rejected = 0, 0, []
    with open(staging, "wb") as out, strict_decoding(), progress_bar(progress) as bar:
        task = bar.add_task(f"preparing {spec.dataset}", total=n, unit="img")
        for i in range(n):
            try:
                image, label = source.load(i)
                with image:
                    buffer[filled] = to_array(image, spec.size, spec.channels)
            except Exception as err:  # noqa: BLE001 - a bad file is recorded, never fatal
                name = _item_name(source, spec.dataset, i)
                rejected.append({"index": i, "item": name, "reason": reject_reason(err), "error": _text(err)})
            else:
                labels[kept] = -1 if label is None else int(label)
                kept, filled = kept + 1, filled + 1
            if filled == CHUNK or (filled and i == n - 1):
                out.write(memoryview(buffer[:filled]).cast("B"))
                filled = 0
            if i % 64 == 63 or i == n - 1:
                bar.update(task, completed=i + 1)
    return labels[:kept], rejected


def _item_name(source: DatasetSource, dataset: str, i: int) -> str:
    try:
        return source.item_name(i)
    except Exception:  # noqa: BLE001 - a name is only for the report
        return f"{dataset}[{i}]"


def _text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:500]


def _write_splits(staging: Path, folder: Path, labels: np.ndarray, spec: DataSpec) -> dict[str, str]:
    """Stream the staged images into one images/labels file pair per split; returns file -> sha256."""
    kept, shape = len(labels), (spec.channels, spec.size, spec.size)
    assignment = split_assignment(kept, spec.split, spec.seed)
    counts = np.bincount(assignment, minlength=len(SPLITS))
    writers = [_NpyWriter(folder / f"{s}_images.npy", np.uint8, (int(c), *shape)) for s, c in zip(SPLITS, counts, strict=True)]
    buffer = np.empty((CHUNK, *shape), dtype=np.uint8)
    with open(staging, "rb") as f:
        for start in range(0, kept, CHUNK):
            rows = buffer[: min(CHUNK, kept - start)]
            f.readinto(memoryview(rows).cast("B"))
            where = assignment[start : start + len(rows)]
            for k, writer in enumerate(writers):
                writer.write(rows[where == k])
    files = {w.path.name: w.close() for w in writers}
    for k, split in enumerate(SPLITS):
        writer = _NpyWriter(folder / f"{split}_labels.npy", np.int64, (int(counts[k]),))
        writer.write(labels[assignment == k])
        files[writer.path.name] = writer.close()
    return files


def _build(source: DatasetSource, folder: Path, spec: DataSpec, progress: bool) -> dict[str, Any]:
    """Fill ``folder`` with the split arrays and the manifest; returns the manifest."""
    started = time.perf_counter()
    staging = folder / "staging.u8"
    labels, rejected = _decode_all(source, staging, spec, progress)
    if len(labels) == 0:
        reasons = Counter(r["reason"] for r in rejected)
        first = rejected[0] if rejected else {"item": "-", "error": "-"}
        raise UserError(
            f"{spec.dataset}: none of the {len(source)} images could be read ({dict(reasons)}); first: "
            f"{first['item']}: {first['error']}"
        )
    files = _write_splits(staging, folder, labels, spec)
    staging.unlink()
    counts = split_sizes(len(labels), spec.split)
    manifest = {
        **_identity(spec),
        "source_root": optional("dataset", source, "root"),
        "source_items": len(source),
        "kept": len(labels),
        "split_sizes": dict(zip(SPLITS, counts, strict=True)),
        "rejected_counts": dict(sorted(Counter(r["reason"] for r in rejected).items())),
        "rejected": rejected,
        "num_classes": optional("dataset", source, "num_classes"),
        "default_feature": optional("dataset", source, "default_feature"),
        "attribution": optional("dataset", source, "attribution"),  # the credit the images' licence asks for
        "transform": "RGBA/LA/transparent P composited on white; convert to L or RGB; resize shorter side "
        "(bicubic, antialiased) and centre-crop (PIL ImageOps.fit); uint8 (N, C, H, W)",
        "files": files,
        "hash": _combined_hash(files),
        "seconds": round(time.perf_counter() - started, 3),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "zoo_version": zoo.__version__,
    }
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def _reusable(final: Path, identity: dict[str, Any]) -> PreparedData | None:
    """The existing copy if it matches ``identity``; None if it must be (re)built; UserError if foreign."""
    if not final.exists():
        return None
    if not (final / "manifest.json").is_file():
        raise UserError(f"{final} exists but has no manifest.json (zoo did not make it); move it away or pass --force")
    manifest = _read_manifest(final)
    if manifest.get("format") != FORMAT:
        return None  # made by another version of zoo: rebuild
    if manifest.get("root") != identity["root"]:
        raise UserError(
            f"{final} was prepared from root {manifest.get('root')!r}, not {identity['root']!r}; pass "
            f"--force to rebuild it from the new root, or --out another folder to keep both"
        )
    return PreparedData(final, manifest, reused=True)


def prepare(spec: DataSpec, registry: Registry | None = None, *, force: bool = False,
            progress: bool = False) -> PreparedData:
    """Prepare ``spec.dataset`` under ``spec.prepared`` (or reuse a matching copy) and open it; the dataset
    comes from ``registry`` (None: the installed plugins', for scripts)."""
    from zoo.plugins import installed

    spec.check()
    registry = installed(registry)
    registry.get("dataset", spec.dataset)  # an unknown name fails before anything is written
    parent = Path(spec.prepared)
    final = parent / folder_name(spec)
    parent.mkdir(parents=True, exist_ok=True)
    with file_lock(parent / f".{final.name}.lock"):
        remove_leftovers(final)
        if not force and (found := _reusable(final, _identity(spec))) is not None:
            return found
        source = registry.create("dataset", spec.dataset, spec.root, download=spec.download)
        with atomic_folder(final) as tmp:  # a full disk: one line naming the copy, no half-built folder left
            _build(source, tmp, spec, progress)
    return PreparedData.open(final)


# -- reporting ---------------------------------------------------------------------------------
def summary_table(prepared: PreparedData, examples: int = 3) -> Table:
    """Kept and rejected counts per reason, with a few example files, and the split sizes."""
    from rich.table import Table

    m = prepared.manifest
    table = Table(title=f"{m['dataset']} {m['size']}x{m['size']}x{m['channels']}  ({prepared.path})")
    table.add_column("images")
    table.add_column("count", justify="right")
    table.add_column("files / meaning", overflow="fold")
    table.add_row("source", f"{m['source_items']:,}", str(m.get("source_root") or "-"))
    table.add_row("[green]kept[/]", f"{m['kept']:,}", ", ".join(f"{s} {c:,}" for s, c in m["split_sizes"].items()))
    for reason, count in m["rejected_counts"].items():
        names = [r["item"] for r in m["rejected"] if r["reason"] == reason][:examples]
        more = " ..." if count > len(names) else ""
        table.add_row(f"[red]rejected: {reason}[/]", f"{count:,}", ", ".join(names) + more)
    return table
