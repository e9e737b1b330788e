"""Data and evaluation: dataset sources, feature extractors, and metrics with the columns they report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image
    from torch import Tensor


@runtime_checkable
class DatasetSource(Protocol):
    """Every image of a dataset, in a fixed order (``zoo prepare`` makes its own splits).

    Factory ``(root, *, download)``: ``root`` is a folder or None (the source's default);
    ``download`` is True only when the user asked for it. Optional attributes: ``num_classes``
    (None: no labels) and ``default_feature`` (the extractor metrics use unless the spec names one,
    ``"inception"``), ``root`` (recorded in the manifest), ``attribution`` (the credit line the
    images' licence asks for, e.g. CC BY: recorded in the manifest, shown by ``zoo prepare`` and the report).
    """

    def __len__(self) -> int: ...

    def load(self, i: int) -> tuple[Image.Image, int | None]:
        """Image ``i`` (PIL, any mode) and its label (None without labels). May raise on a bad file:
        ``zoo prepare`` records the reason and carries on."""
        ...

    def item_name(self, i: int) -> str:
        """A short name of item ``i`` for reports (e.g. its file name)."""
        ...


@runtime_checkable
class FeatureExtractor(Protocol):
    """A frozen ``nn.Module``: ``forward(images)`` maps uint8 (N, C, H, W), C = 1 or 3, any size, to
    float features (N, num_features), the same for the same images. Factory ``()``; no downloads.

    Optional: ``num_classes`` and a method ``logits(images) -> (N, num_classes)`` (the Inception
    Score and class histograms need them), ``batch_size`` (images per forward pass when zoo extracts
    features: lower it for a large network) and ``name`` (the label of the scores when a built module,
    not a registered name, is passed to ``zoo.metrics.evaluate``; default its class name).
    """

    num_features: int

    def forward(self, images: Tensor) -> Tensor: ...


class FeatureSet(Protocol):
    """What a metric is given of one image set (zoo passes ``zoo.metrics.scores.Features``)."""

    features: np.ndarray  # (N, D) float64
    logits: np.ndarray | None  # (N, K) class logits, or None when the extractor does not classify


# -- how a metric describes itself -------------------------------------------------------------------
@dataclass(frozen=True)
class MetricColumn:
    """One value a metric reports (``compute`` returns it under ``key``) and how tables show and rank it.

    A metric object lists its values in a ``columns`` attribute (a tuple of these): FID has one, KID
    one with its spread over subsets, precision/recall are two metrics of one column each. Without
    ``columns`` a metric is shown as one unranked column named after it. zoo's table, ``--sort``, the
    report and ``--json`` read only these descriptions, so a plugin metric appears like a built-in one.
    """

    key: str  # the name of the value in compute()'s dict
    title: str = ""  # table header (default: the key); the direction mark is added by zoo
    better: Literal["low", "high", "real", ""] = ""  # "real": closest to the real data's value; "": not ranked
    digits: int = 3  # significant digits shown; 0: a whole number
    spread: str | None = None  # key of the value's own spread within one run (KID over subsets), if any
    real: str | None = None  # better="real": key of the same quantity measured on the real images

    @property
    def header(self) -> str:
        mark = {"low": " ↓", "high": " ↑", "real": " (≈ real)"}.get(self.better, "")
        return (self.title or self.key) + mark


@runtime_checkable
class Metric(Protocol):
    """Scores generated images against real ones from their features, extracted once per set.

    Factory ``(**options)``. ``compute(real, fake)`` takes two :class:`FeatureSet`
    (``.features`` (N, D) float64, ``.logits`` (N, K) or None) and returns named floats, e.g.
    ``{"kid": ..., "kid_std": ...}``. Optional: ``columns`` (a tuple of :class:`MetricColumn`: how
    tables show and rank the values), ``needs_real``, ``needs_logits``, ``min_samples``
    (zoo skips the metric, saying why, when a set is too small or logits are missing).
    Subclassing ``zoo.metrics.scores.BaseMetric`` provides these.
    """

    def compute(self, real: FeatureSet | None, fake: FeatureSet) -> dict[str, float]: ...
