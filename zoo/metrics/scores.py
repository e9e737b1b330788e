"""Scores of a set of generated images against real ones, computed from features extracted once.

* ``fid`` -- Fréchet distance between Gaussians fitted to real and fake features (Heusel et al. 2017),
  torchmetrics' FrechetInceptionDistance.
* ``kid`` -- unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over
  random subsets (Bińkowski et al. 2018, "Demystifying MMD GANs"), torchmetrics' formulas.
* ``is`` -- Inception Score exp(E_x KL(p(y|x) || p(y))) over 10 splits (Salimans et al. 2016),
  torchmetrics' InceptionScore; needs logits.
* ``diversity`` -- mean pairwise L2 distance between feature vectors, of the fakes and of the reals:
  closer to the real value is better, higher is not.
* ``precision`` / ``recall`` -- Kynkäänniemi et al. 2019, "Improved precision and recall metric for
  assessing generative models": the share of fakes inside the real manifold (k=3 nearest-neighbour
  balls) and of reals inside the fake manifold; torch-fidelity's implementation.

Interface (kind ``metric``): a factory ``(**options)`` returns a :class:`zoo.contract.Metric` (subclass :class:`BaseMetric`) whose
``compute(real, fake)`` takes :class:`Features` and returns named floats. The feature extractor is
the expensive part, so it runs once per image set and every metric reads the same arrays; the
torchmetrics classes are fed those arrays through a pass-through "feature" module.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from zoo.contract import MetricColumn, optional
from zoo.hookspecs import hookimpl

if TYPE_CHECKING:
    from zoo.registry import Registry


@dataclass(frozen=True)
class Features:
    """Features (N, D) float64 of one image set, and its class logits (N, K) when the extractor classifies."""

    features: np.ndarray
    logits: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.features.ndim != 2:
            raise ValueError(f"features must be (N, D), got shape {self.features.shape}")
        if self.logits is not None and (self.logits.ndim != 2 or len(self.logits) != len(self.features)):
            raise ValueError(f"logits must be (N, K) with N={len(self.features)}, got shape {self.logits.shape}")

    def __len__(self) -> int:
        return len(self.features)

    def tensor(self) -> Tensor:
        return torch.from_numpy(np.asarray(self.features, dtype=np.float64))

    def logits_tensor(self) -> Tensor:
        if self.logits is None:
            raise ValueError("these features come without logits")
        return torch.from_numpy(np.asarray(self.logits, dtype=np.float64))


class Precomputed(nn.Module):
    """A torchmetrics ``feature=`` module for features that were already extracted: the identity."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


class BaseMetric:
    """What every metric shares. ``compute`` returns ``{name: value, ...}`` (e.g. ``kid`` and ``kid_std``);
    ``columns`` says which of those values tables show and which way each is better."""

    name: ClassVar[str]
    columns: ClassVar[tuple[MetricColumn, ...]]
    needs_real: ClassVar[bool] = True  # False: a function of the fakes alone (IS)
    needs_logits: ClassVar[bool] = False  # True: the extractor must classify
    min_samples: ClassVar[int] = 2  # per image set

    def compute(self, real: Features | None, fake: Features) -> dict[str, float]:
        raise NotImplementedError

    def skip_reason(self, real: Features | None, fake: Features) -> str | None:
        """Why this metric cannot be computed on these sets, or None."""
        return skip_reason(self, self.name, real, fake)


def skip_reason(metric: object, name: str, real: Features | None, fake: Features) -> str | None:
    """Why ``metric`` (any :class:`zoo.contract.Metric`) cannot be computed on these sets, or None.

    Reads only the contract's optional ``needs_logits``, ``needs_real`` and ``min_samples``.
    """
    needs_real, min_samples = optional("metric", metric, "needs_real"), optional("metric", metric, "min_samples")
    if optional("metric", metric, "needs_logits") and fake.logits is None:
        return f"{name} needs class logits; this feature extractor does not classify"
    if needs_real and real is None:
        return f"{name} needs real images"
    sets = [("generated", fake)] + ([("real", real)] if needs_real and real is not None else [])
    for what, f in sets:
        if len(f) < min_samples:
            return f"{name} needs at least {min_samples} {what} images, got {len(f)}"
    return None


class FID(BaseMetric):
    """Fréchet distance ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^1/2), in float64."""

    name = "fid"
    columns = (MetricColumn("fid", "FID", "low"),)

    def compute(self, real: Features | None, fake: Features) -> dict[str, float]:
        from torchmetrics.image.fid import FrechetInceptionDistance

        assert real is not None
        fid = FrechetInceptionDistance(feature=Precomputed(real.features.shape[1]))
        fid.update(real.tensor(), real=True)
        fid.update(fake.tensor(), real=False)
        return {"fid": float(fid.compute())}


class KID(BaseMetric):
    """Kernel Inception Distance: unbiased MMD^2 over ``subsets`` random subsets; mean and std.

    Same formulas and the same subset draws as torchmetrics' KernelInceptionDistance (seeded), but
    the kernel matrices are computed once for all subsets when they fit in ``kernel_limit`` rows, not
    once per subset (100x less work at the default 100 subsets).
    """

    name = "kid"
    columns = (MetricColumn("kid", "KID", "low", spread="kid_std"),)

    def __init__(
        self,
        subsets: int = 100,  # torchmetrics' default
        subset_size: int = 1000,  # capped at the smaller set: KID needs subset_size <= n
        degree: int = 3,
        gamma: float | None = None,  # None: 1 / D
        coef: float = 1.0,
        seed: int = 0,
        kernel_limit: int = 6000,  # n_real + n_fake above which kernels are computed per subset
    ) -> None:
        self.subsets, self.subset_size, self.seed, self.kernel_limit = subsets, subset_size, seed, kernel_limit
        self.degree, self.gamma, self.coef = degree, gamma, coef

    def compute(self, real: Features | None, fake: Features) -> dict[str, float]:
        from torchmetrics.image.kid import maximum_mean_discrepancy, poly_kernel

        assert real is not None
        f_real, f_fake = real.tensor(), fake.tensor()
        m = min(self.subset_size, len(real), len(fake))

        def kernel(a: Tensor, b: Tensor) -> Tensor:
            return poly_kernel(a, b, self.degree, self.gamma, self.coef)

        whole = len(real) + len(fake) <= self.kernel_limit
        if whole:
            k_rr, k_rf, k_ff = kernel(f_real, f_real), kernel(f_real, f_fake), kernel(f_fake, f_fake)
        generator = torch.Generator().manual_seed(self.seed)
        scores = []
        for _ in range(self.subsets):
            r = torch.randperm(len(real), generator=generator)[:m]
            f = torch.randperm(len(fake), generator=generator)[:m]
            if whole:
                mmd = maximum_mean_discrepancy(k_rr[r][:, r], k_rf[r][:, f], k_ff[f][:, f])
            else:
                xr, xf = f_real[r], f_fake[f]
                mmd = maximum_mean_discrepancy(kernel(xr, xr), kernel(xr, xf), kernel(xf, xf))
            scores.append(mmd)
        kid = torch.stack(scores)
        return {"kid": float(kid.mean()), "kid_std": float(kid.std(unbiased=False))}


class InceptionScore(BaseMetric):
    """exp(E KL(p(y|x) || p(y))) per split, mean and std over splits: in [1, number of classes]."""

    name = "is"
    columns = (MetricColumn("is", "IS", "high", spread="is_std"),)
    needs_real = False
    needs_logits = True

    def __init__(self, splits: int = 10, seed: int = 0) -> None:
        self.splits, self.seed = splits, seed

    def compute(self, real: Features | None, fake: Features) -> dict[str, float]:
        from torchmetrics.image.inception import InceptionScore as TorchmetricsIS

        logits = fake.logits_tensor()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "will save all extracted features" and 1-split std warnings
            score = TorchmetricsIS(feature=Precomputed(logits.shape[1]), splits=self.splits)
            score.update(logits)
            with torch.random.fork_rng(devices=[]):  # torchmetrics shuffles with the global generator
                torch.manual_seed(self.seed)
                mean, std = score.compute()
        return {"is": float(mean), "is_std": float(std)}


def mean_pairwise_distance(features: Tensor, max_samples: int, seed: int) -> float:
    """Mean L2 distance over all pairs (of a seeded subset of ``max_samples`` when there are more)."""
    if len(features) > max_samples:
        features = features[torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))[:max_samples]]
    return float(torch.pdist(features).mean())


class Diversity(BaseMetric):
    """Mean pairwise feature distance of the fakes, reported beside the same number for the reals.

    Higher is not better: noise is very diverse. A value far below the real one means mode collapse,
    far above means the samples scatter where real images do not.
    """

    name = "diversity"
    columns = (MetricColumn("diversity", "diversity", "real", real="diversity_real"),)

    def __init__(self, max_samples: int = 5000, seed: int = 0) -> None:
        self.max_samples, self.seed = max_samples, seed  # the mean over pairs needs no more to be precise

    def compute(self, real: Features | None, fake: Features) -> dict[str, float]:
        assert real is not None
        return {
            "diversity": mean_pairwise_distance(fake.tensor(), self.max_samples, self.seed),
            "diversity_real": mean_pairwise_distance(real.tensor(), self.max_samples, self.seed),
        }


class PrecisionRecall(BaseMetric):
    """Kynkäänniemi et al. 2019: a point is on a manifold if within the k-th-neighbour radius of one of its points."""

    def __init__(self, which: str, k: int = 3, batch_size: int = 2000) -> None:
        self.which, self.k, self.batch_size = which, k, batch_size
        self.min_samples = k + 1  # the k-th neighbour other than the point itself
        self.columns = (MetricColumn(which, which, "high"),)  # type: ignore[misc]

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.which

    def compute(self, real: Features | None, fake: Features) -> dict[str, float]:
        from torch_fidelity.metric_prc import calculate_precision_recall_part

        assert real is not None
        # torch-fidelity's convention: features_1 are generated, features_2 real.
        precision, recall = calculate_precision_recall_part(fake.tensor(), real.tensor(), self.k, self.batch_size)
        return {self.which: precision if self.which == "precision" else recall}


def precision(**options: int) -> PrecisionRecall:
    """Share of generated images on the real manifold (k=3 NN balls): fidelity."""
    return PrecisionRecall("precision", **options)


def recall(**options: int) -> PrecisionRecall:
    """Share of real images on the generated manifold (k=3 NN balls): coverage."""
    return PrecisionRecall("recall", **options)


def class_histogram(logits: np.ndarray, num_classes: int | None = None) -> list[int]:
    """How many images the classifier puts in each class: a dropped mode shows as a zero."""
    num_classes = num_classes or logits.shape[1]
    return np.bincount(logits.argmax(axis=1), minlength=num_classes).tolist()


@hookimpl
def zoo_register(registry: Registry) -> None:
    registry.add("metric", "fid", FID, help="Fréchet distance of feature Gaussians (Heusel et al. 2017); lower is better")
    registry.add("metric", "kid", KID, help="unbiased polynomial-kernel MMD^2, mean ± std over subsets (Bińkowski 2018)")
    registry.add("metric", "is", InceptionScore, help="Inception Score exp(E KL(p(y|x)||p(y))), 10 splits (Salimans 2016)")
    registry.add("metric", "diversity", Diversity, help="mean pairwise feature distance of samples, beside that of reals")
    registry.add("metric", "precision", precision, help="share of samples on the real manifold, k=3 (Kynkäänniemi 2019)")
    registry.add("metric", "recall", recall, help="share of real images on the sample manifold, k=3 (Kynkäänniemi 2019)")


def __getattr__(name: str) -> Any:
    """``Metric``, the name :class:`BaseMetric` had before the contract's Protocol took it (plugins that
    subclass ``zoo.metrics.scores.Metric`` keep working)."""
    if name == "Metric":
        return BaseMetric
    raise AttributeError(f"module 'zoo.metrics.scores' has no attribute '{name}'")
