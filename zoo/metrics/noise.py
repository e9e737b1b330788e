"""The resolution of the instrument: how much a metric moves between two samples of the *same*
distribution, measured on real images at the sample size the cells are scored with.

Each draw scores ``n`` real training images, a fresh random subset, against the real test split
(the set every cell is scored against), exactly as a cell's samples are scored. The spread of the
draws is the metric's own noise at that n: a difference between two cells smaller than about
2 x sqrt(2) x sd is within what two draws of real data show (docs/metrics.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from zoo.data.prepare import PreparedData
    from zoo.registry import Registry

DRAWS = 8  # random real subsets; enough for the sd to within about 25%, cheap next to training a cell


def metric_noise(
    prepared: PreparedData, n: int, *, feature: str | None, metrics: Sequence[str], draws: int = DRAWS, seed: int = 0,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """``{"n", "n_real", "draws", "mean": {key: ...}, "sd": {key: ...}}`` over ``draws`` real-vs-real scores."""
    from zoo.metrics.evaluate import build_extractor, build_metrics, reference_features, score
    from zoo.metrics.scores import Features

    metric_objects = build_metrics(metrics, registry)
    extractor = build_extractor(feature if feature is not None else prepared.default_feature, registry)
    extractor.eval()
    real = reference_features(prepared, extractor, "test")
    pool = reference_features(prepared, extractor, "train")
    size = min(n, len(pool))
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(draws):
        chosen = np.sort(rng.choice(len(pool), size, replace=False))
        fake = Features(pool.features[chosen], None if pool.logits is None else pool.logits[chosen])
        for key, value in score("noise", metric_objects, real, fake, extractor.num_classes, {}).values.items():
            if value is not None:
                values.setdefault(key, []).append(value)
    return {"n": size, "n_real": len(real), "draws": draws,
            "mean": {k: statistics.fmean(v) for k, v in values.items()},
            "sd": {k: statistics.stdev(v) for k, v in values.items() if len(v) > 1}}
