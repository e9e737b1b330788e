"""Checks of what feeds and scores an evaluation: dataset source, feature extractor, metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from zoo.contract import DatasetSource, FeatureExtractor, Metric, MetricColumn, optional
from zoo.testing.checks import Checker

Factory = Callable[..., Any]
Declarations = Mapping[str, Any] | None  # what the factory declared at registration (zoo.contract.DECLARATIONS)


def check_dataset(factory: Factory, *, name: str | None = None, declarations: Declarations = None, root: str | None = None, items: int = 4) -> None:
    """(root, *, download) -> DatasetSource: a non-empty sequence whose first ``items`` load as
    (PIL image, int label or None) and have names; the optional num_classes, default_feature and
    attribution are well formed. ``root``: a folder your source reads (None: its default)."""
    from PIL import Image

    c = Checker("dataset", factory, name)
    source = c.call("DatasetSource", factory, root, download=False)
    c.expect(isinstance(source, DatasetSource), "DatasetSource", f"{type(source).__name__} lacks __len__, load or item_name")
    c.expect(len(source) > 0, "DatasetSource.__len__", "the source holds no images")
    num_classes = optional("dataset", source, "num_classes")
    c.expect(num_classes is None or (isinstance(num_classes, int) and num_classes > 0), "DatasetSource.num_classes",
             f"must be a positive int or None, got {num_classes!r}")  # fmt: skip
    feature = optional("dataset", source, "default_feature")
    c.expect(isinstance(feature, str) and feature, "DatasetSource.default_feature", f"must name a feature, got {feature!r}")
    credit = optional("dataset", source, "attribution")
    c.expect(credit is None or (isinstance(credit, str) and credit), "DatasetSource.attribution",
             f"must be a non-empty str or None, got {credit!r}")
    for i in range(min(items, len(source))):
        loaded = c.call(f"DatasetSource.load({i})", source.load, i)
        c.expect(isinstance(loaded, tuple) and len(loaded) == 2, f"DatasetSource.load({i})", "must return (image, label)")
        image, label = loaded
        c.expect(isinstance(image, Image.Image), f"DatasetSource.load({i})", f"the image must be a PIL image, got {type(image).__name__}")
        c.expect(label is None or isinstance(label, int | np.integer), f"DatasetSource.load({i})", f"a label is an int or None, got {label!r}")
        if label is not None and num_classes is not None:
            c.expect(0 <= label < num_classes, f"DatasetSource.load({i})", f"label {label} outside 0..num_classes-1={num_classes - 1}")
        c.expect(isinstance(source.item_name(i), str), f"DatasetSource.item_name({i})", "must return a string")


def check_feature(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """() -> FeatureExtractor: uint8 (N, C, H, W), C = 1 or 3, to the same float (N, num_features) for the same
    images; with num_classes, ``logits(images)`` gives (N, num_classes)."""
    c = Checker("feature", factory, name)
    module = c.call("FeatureExtractor", factory)
    c.module(module, FeatureExtractor, "FeatureExtractor")
    module.eval()
    width = module.num_features
    c.expect(isinstance(width, int) and width > 0, "FeatureExtractor.num_features", f"must be a positive int, got {width!r}")
    num_classes, logits = optional("feature", module, "num_classes"), optional("feature", module, "logits")
    batch_size, label = optional("feature", module, "batch_size"), optional("feature", module, "name")
    c.expect(isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size > 0,
             "FeatureExtractor.batch_size", f"must be a positive int, got {batch_size!r}")
    c.expect(label is None or (isinstance(label, str) and label), "FeatureExtractor.name", f"must be a non-empty string, got {label!r}")
    generator = torch.Generator().manual_seed(0)
    for channels, size in ((1, 8), (3, 16)):
        clause = f"FeatureExtractor.forward on uint8 (3, {channels}, {size}, {size})"
        images = torch.randint(0, 256, (3, channels, size, size), generator=generator, dtype=torch.uint8)
        with torch.no_grad():
            out = c.tensor(c.call(clause, module, images), (3, width), clause, "the features")
            c.expect(torch.equal(out, module(images)), clause, "the same images must give the same features")
            if num_classes is not None and logits is not None:
                c.tensor(c.call("FeatureExtractor.logits", logits, images), (3, num_classes), "FeatureExtractor.logits", "the logits")


def check_metric(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(**options) -> Metric: ``compute(real, fake)`` on 64 features (with 10-class logits) returns a non-empty
    {name: finite float}; it is not skipped on sets that size."""
    from zoo.metrics.scores import Features, skip_reason

    c = Checker("metric", factory, name)
    metric = c.call("Metric", factory)
    c.expect(isinstance(metric, Metric), "Metric", f"{type(metric).__name__} has no compute(real, fake)")
    rng = np.random.default_rng(0)
    real = Features(rng.normal(size=(64, 8)), rng.normal(size=(64, 10)))
    fake = Features(rng.normal(0.5, 1.2, size=(64, 8)), rng.normal(size=(64, 10)))
    reason = skip_reason(metric, c.name, real, fake)
    c.expect(reason is None, "Metric's needs_real / needs_logits / min_samples", f"skipped on 64 samples: {reason}")
    values = c.call("Metric.compute(real, fake)", metric.compute, real, fake)
    c.expect(isinstance(values, dict) and values, "Metric.compute", f"must return a non-empty dict, got {values!r}")
    for key, value in values.items():
        c.expect(isinstance(key, str) and isinstance(value, float | int) and np.isfinite(value), "Metric.compute",
                 f"must map names to finite floats, got {key!r}: {value!r}")  # fmt: skip
    _check_columns(c, optional("metric", metric, "columns"), values)


def _check_columns(c: Checker, columns: object, values: dict[str, float]) -> None:
    """The optional ``columns`` describe values ``compute`` returns, with a known ``better``."""
    if columns is None:
        return
    c.expect(isinstance(columns, tuple | list) and columns, "Metric.columns", f"must be a non-empty tuple, got {columns!r}")
    for column in columns:  # type: ignore[union-attr]
        c.expect(isinstance(column, MetricColumn), "Metric.columns", f"items must be MetricColumn, got {column!r}")
        c.expect(column.better in ("low", "high", "real", ""), "MetricColumn.better", f"unknown direction {column.better!r}")
        for key in (column.key, column.spread, column.real):
            c.expect(key is None or key in values, "Metric.columns", f"column key {key!r} is not among compute()'s {sorted(values)}")
        c.expect(column.better != "real" or column.real, "MetricColumn.real", f"{column.key}: better='real' needs the real key")
