"""Score generated images against a prepared dataset, with reference rows that make the numbers readable.

A bare FID of 42 means nothing: it depends on the extractor, the dataset and the sample counts.
So every evaluation reports three rows computed with the same extractor and the same N:

* ``samples`` -- the generated images vs the real test split;
* ``floor: real train vs real test`` -- N real training images vs the same test split: what a
  perfect generator would score at this N (FID and KID are biased upwards at small N);
* ``ceiling: uniform noise`` -- N uniform-noise images (seeded) vs the test split: a generator
  that learnt nothing.

Features are extracted once per image set (the extractor is the expensive part) and every metric
reads them. Features of the real splits and of the noise are cached on disk under the zoo cache
folder, keyed by the data's content hash, the extractor's identity (name + weights hash), the split
and N, so a second evaluation against the same data only runs the extractor on the new samples.
This follows the careful practice of Karras et al. (EDM, ``fid.py``): cached reference statistics,
fixed sample counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.config.spec import EvalSpec
from zoo.contract import optional
from zoo.errors import UserError
from zoo.metrics.samples import check_samples, load_samples
from zoo.plugins import installed
from zoo.runtime.io import atomic_path, atomic_write_text
from zoo.runtime.progress import progress_bar

if TYPE_CHECKING:
    from zoo.data.prepare import PreparedData
    from zoo.metrics.extractor import Extractor
    from zoo.metrics.scores import Features
    from zoo.registry import Registry

DEFAULT_METRICS: tuple[str, ...] = EvalSpec.metrics  # one list of the default metrics, in the run spec
SAMPLES = "samples"
FLOOR = "floor: real train vs real test"
CEILING = "ceiling: uniform noise"
REFERENCE_FORMAT = 1  # bump when the way reference features are drawn changes


@dataclass
class EvalRow:
    """One compared pair of image sets: the scores and how many images each side had."""

    name: str
    n_fake: int
    n_real: int
    values: dict[str, float] = field(default_factory=dict)
    class_counts: list[int] | None = None  # per class, when the extractor classifies

    def to_dict(self) -> dict[str, Any]:
        values = {k: (None if v is None or math.isnan(v) else v) for k, v in self.values.items()}
        return {"name": self.name, "n_fake": self.n_fake, "n_real": self.n_real, "values": values,
                "class_counts": self.class_counts}  # fmt: skip


@dataclass
class EvalResult:
    """The rows of one evaluation and everything needed to know what they may be compared with."""

    dataset: str
    data_hash: str
    feature: str
    feature_identity: str
    metrics: list[str]
    rows: list[EvalRow]
    skipped: dict[str, str] = field(default_factory=dict)  # metric -> why it was not computed
    seed: int = 0
    attribution: str | None = None  # the credit the dataset's licence asks for (its manifest's)

    def row(self, name: str) -> EvalRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row '{name}' (rows: {', '.join(r.name for r in self.rows)})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "data_hash": self.data_hash,
            "attribution": self.attribution,
            "feature": self.feature,
            "feature_identity": self.feature_identity,
            "metrics": self.metrics,
            "seed": self.seed,
            "skipped": self.skipped,
            "rows": [row.to_dict() for row in self.rows],
        }


# -- features ----------------------------------------------------------------------------------
def extract_features(
    extractor: Extractor, images: np.ndarray, *, batch_size: int | None = None, progress: Any = None,
    description: str = "features",
) -> Features:  # fmt: skip
    """Run the extractor once over ``images`` (uint8 (N,C,H,W), possibly memory-mapped), in batches."""
    import torch

    from zoo.metrics.scores import Features

    batch_size = batch_size or optional("feature", extractor, "batch_size")
    extractor.eval()
    features, logits = [], []
    task = progress.add_task(description, total=len(images)) if progress is not None else None
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.array(images[start : start + batch_size]))  # a writable copy of the slice
            f, lg = extractor.extract(batch)
            features.append(f.double().numpy())
            if lg is not None:
                logits.append(lg.double().numpy())
            if task is not None:
                progress.advance(task, len(batch))
    out_f = np.concatenate(features) if features else np.zeros((0, extractor.num_features))
    return Features(out_f, np.concatenate(logits) if logits else None)


def _cached(key: str, compute: Callable[[], Features]) -> Features:
    """Features stored under the zoo cache folder as safetensors (written atomically), else computed."""
    from safetensors.numpy import load_file, save_file

    from zoo.metrics.features import cache_dir
    from zoo.metrics.scores import Features

    path = cache_dir() / "references" / f"{key}.safetensors"
    if path.is_file():
        arrays = load_file(str(path))
        logits = arrays.get("logits")
        return Features(arrays["features"].astype(np.float64), None if logits is None else logits.astype(np.float64))
    features = compute()
    arrays = {"features": _compact(features.features)}
    if features.logits is not None:
        arrays["logits"] = _compact(features.logits)
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp))
    return features


def _compact(values: np.ndarray) -> np.ndarray:
    """float32 when that loses nothing (extractors compute in float32), so cached files are half the size."""
    single = values.astype(np.float32)
    return single if np.array_equal(single, values) else np.ascontiguousarray(values)


def reference_features(
    prepared: PreparedData, extractor: Extractor, split: str, n: int | None = None, *, progress: Any = None
) -> Features:
    """Features of ``n`` real images of ``split`` (all when None or more than the split has), cached.

    The subset is a fixed seeded choice (seed 0, independent of the evaluation seed), so the floor
    row of every run against the same data and N uses the same real images.
    """
    images = prepared.images(split)
    count = len(images) if n is None else min(n, len(images))
    key = f"v{REFERENCE_FORMAT}-{prepared.hash[:16]}-{extractor.identity()}-{split}-{count}"

    def compute() -> Features:
        chosen = images
        if count < len(images):
            chosen = images[np.sort(np.random.default_rng(0).choice(len(images), count, replace=False))]
        return extract_features(extractor, chosen, progress=progress, description=f"features: real {split}")

    return _cached(key, compute)


def noise_images(n: int, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """``n`` images of i.i.d. uniform uint8 pixels: the generator that learnt nothing."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def noise_features(
    extractor: Extractor, n: int, shape: tuple[int, int, int], seed: int, *, progress: Any = None
) -> Features:
    key = f"v{REFERENCE_FORMAT}-noise-{'x'.join(map(str, shape))}-{n}-seed{seed}-{extractor.identity()}"
    return _cached(
        key, lambda: extract_features(extractor, noise_images(n, shape, seed), progress=progress, description="features: noise")
    )


# -- scoring -----------------------------------------------------------------------------------
def build_metrics(names: Sequence[str], registry: Registry | None = None) -> dict[str, Any]:
    """Each named metric from ``registry`` (an unknown name fails with the closest matches)."""
    registry = installed(registry)
    return {name: registry.create("metric", name) for name in dict.fromkeys(names)}


def score(
    name: str, metrics: dict[str, Any], real: Features, fake: Features, num_classes: int | None,
    skipped: dict[str, str],
) -> EvalRow:  # fmt: skip
    """One row: every metric on (real, fake); a metric that cannot run records why in ``skipped``."""
    from zoo.metrics.scores import class_histogram, skip_reason

    row = EvalRow(name, n_fake=len(fake), n_real=len(real))
    for metric_name, metric in metrics.items():
        reason = skip_reason(metric, metric_name, real, fake)
        if reason is not None:
            skipped.setdefault(metric_name, reason)
            continue
        row.values.update(metric.compute(real, fake))
    if fake.logits is not None:
        row.class_counts = class_histogram(fake.logits, num_classes)
    return row


def build_extractor(feature: str | Extractor, registry: Registry | None = None) -> Extractor:
    """A registered extractor by name (or a given module), adapted and in eval mode."""
    from zoo.metrics.extractor import as_extractor

    if isinstance(feature, str):
        return as_extractor(installed(registry).create("feature", feature), feature)
    return as_extractor(feature, optional("feature", feature, "name") or type(feature).__name__)


def evaluate(
    images: np.ndarray,
    prepared: PreparedData,
    *,
    feature: str | Extractor | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    n: int | None = None,
    references: bool = True,
    seed: int = 0,
    progress: bool = False,
    registry: Registry | None = None,
) -> EvalResult:
    """Score ``images`` (uint8 (N,C,H,W)) against the test split of ``prepared``, with reference rows.

    ``feature``: a registered extractor name (or a built extractor); None uses the dataset's default.
    ``n``: how many of ``images`` to score (the first n; default all); the floor and ceiling rows use
    the same n. ``seed``: the noise images of the ceiling row.
    """
    images = check_samples(images)
    real_shape = tuple(prepared.images("test").shape[1:])
    if images.shape[1] != real_shape[0]:
        raise UserError(
            f"the samples have {images.shape[1]} channel(s) but the real data has {real_shape[0]}; "
            f"evaluate against data with --channels {images.shape[1]} (data.channels) or sample the right model"
        )
    if images.shape[2:] != real_shape[1:]:
        raise UserError(
            f"the samples are {images.shape[2]}x{images.shape[3]} but the real data is {real_shape[1]}x{real_shape[2]}; "
            f"evaluate against data prepared at --size {images.shape[2]} (data.size)"
        )
    if n is not None:
        if n < 2 or n > len(images):
            raise UserError(f"n must be between 2 and the {len(images)} images given, got {n}")
        images = images[:n]
    if len(prepared.images("test")) == 0:
        raise UserError(f"{prepared.path} has no test images; prepare it with a test fraction above 0 (data.split)")
    metric_objects = build_metrics(metrics, registry)  # unknown names fail before any feature is extracted
    extractor = build_extractor(feature if feature is not None else prepared.default_feature, registry)
    extractor.eval()  # a plugin's module may come in train mode; scores must never see dropout or BN updates
    skipped: dict[str, str] = {}
    with progress_bar(progress, transient=True) as bar:
        real = reference_features(prepared, extractor, "test", progress=bar)
        fake = extract_features(extractor, images, progress=bar, description="features: samples")
        rows = [score(SAMPLES, metric_objects, real, fake, extractor.num_classes, skipped)]
        if references:
            rows += _reference_rows(prepared, extractor, metric_objects, real, len(images), seed, skipped, bar)
    return _result(prepared, extractor, metric_objects, rows, skipped, seed)


def reference_rows(
    prepared: PreparedData,
    n: int,
    *,
    feature: str | Extractor | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = 0,
    progress: bool = False,
    registry: Registry | None = None,
) -> EvalResult:
    """Only the floor and ceiling rows, exactly as :func:`evaluate` computes them for ``n`` samples
    (the benchmark computes them once per grid rather than once per cell)."""
    metric_objects = build_metrics(metrics, registry)
    extractor = build_extractor(feature if feature is not None else prepared.default_feature, registry)
    extractor.eval()
    skipped: dict[str, str] = {}
    with progress_bar(progress, transient=True) as bar:
        real = reference_features(prepared, extractor, "test", progress=bar)
        rows = _reference_rows(prepared, extractor, metric_objects, real, n, seed, skipped, bar)
    return _result(prepared, extractor, metric_objects, rows, skipped, seed)


def _reference_rows(
    prepared: PreparedData, extractor: Extractor, metrics: dict[str, Any], real: Features, n: int, seed: int,
    skipped: dict[str, str], bar: Any,
) -> list[EvalRow]:  # fmt: skip
    """Floor: n real train images vs the test split. Ceiling: n uniform-noise images vs the test split."""
    rows = []
    train = reference_features(prepared, extractor, "train", n, progress=bar)
    if len(train) >= 2:
        rows.append(score(FLOOR, metrics, real, train, extractor.num_classes, skipped))
    shape = tuple(prepared.images("test").shape[1:])
    noise = noise_features(extractor, n, shape, seed, progress=bar)
    rows.append(score(CEILING, metrics, real, noise, extractor.num_classes, skipped))
    return rows


def _result(
    prepared: PreparedData, extractor: Extractor, metrics: dict[str, Any], rows: list[EvalRow],
    skipped: dict[str, str], seed: int,
) -> EvalResult:  # fmt: skip
    return EvalResult(
        dataset=str(prepared.manifest.get("dataset", prepared.path.name)),
        data_hash=prepared.hash,
        feature=extractor.name,
        feature_identity=extractor.identity(),
        metrics=list(metrics),
        rows=rows,
        skipped=skipped,
        seed=seed,
        attribution=prepared.manifest.get("attribution"),
    )


# -- files -------------------------------------------------------------------------------------
def evaluate_run(
    run_dir: str | Path,
    *,
    feature: str | Extractor | None = None,
    metrics: Sequence[str] | None = None,
    n: int | None = None,
    references: bool = True,
    seed: int = 0,
    progress: bool = False,
    registry: Registry | None = None,
) -> EvalResult:
    """Score ``run_dir/samples.npz`` against the run's data (its ``spec.json``); writes ``run_dir/metrics.json``.

    ``feature`` and ``metrics`` default to the run spec's eval section.
    """
    from zoo.config.resolve import resolve
    from zoo.config.spec import RunSpec
    from zoo.data.prepare import prepare

    run_dir = Path(run_dir)
    spec_path = run_dir / "spec.json"
    if not spec_path.is_file():
        raise UserError(f"'{run_dir}' is not a run folder (no spec.json); pass a run folder made by `zoo train`, "
                        f"or a samples .npz with --dataset and --size")  # fmt: skip
    spec = resolve(RunSpec.load(spec_path), registry)
    registry = spec.registry
    samples = run_dir / "samples.npz"
    if not samples.is_file():
        raise UserError(f"'{run_dir}' has no samples.npz; run `zoo sample {run_dir}` first")
    images = load_samples(samples)
    feature = feature if feature is not None else spec.eval.feature
    metrics = tuple(metrics or spec.eval.metrics)
    build_metrics(metrics, registry)  # unknown names and missing weights fail before the data is prepared
    if isinstance(feature, str):
        feature = build_extractor(feature, registry)
    prepared = prepare(spec.data, registry, progress=progress)
    result = evaluate(images, prepared, feature=feature, metrics=metrics, n=n, references=references, seed=seed,
                      progress=progress, registry=registry)  # fmt: skip
    atomic_write_text(run_dir / "metrics.json", json.dumps(result.to_dict(), indent=2) + "\n")
    return result
