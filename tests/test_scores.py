"""Scores computed from features: FID, KID, IS, diversity, precision/recall (zoo.metrics.scores)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from zoo.metrics.scores import (
    FID,
    KID,
    Diversity,
    Features,
    InceptionScore,
    Precomputed,
    class_histogram,
    precision,
    recall,
)


def gaussian(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> Features:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(size=(d, d)) / math.sqrt(d) + np.eye(d)  # correlated dimensions
    return Features(rng.normal(size=(n, d)) @ mixing * scale + shift)


def fid_scipy(real: np.ndarray, fake: np.ndarray) -> float:
    """FID as in Heusel et al.'s reference code: ||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


# -- FID ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_real", "n_fake", "d", "shift", "scale"), [(400, 300, 16, 0.3, 1.5), (200, 500, 32, 2.0, 0.5)])
def test_fid_equals_scipy_sqrtm_computation(n_real: int, n_fake: int, d: int, shift: float, scale: float) -> None:
    real, fake = gaussian(n_real, d, 0), gaussian(n_fake, d, 1, shift=shift, scale=scale)
    expected = fid_scipy(real.features, fake.features)
    assert FID().compute(real, fake)["fid"] == pytest.approx(expected, rel=1e-3)


def test_fid_of_a_set_with_itself_is_zero() -> None:
    real = gaussian(300, 16, 0, shift=5.0)
    assert abs(FID().compute(real, real)["fid"]) < 1e-6


def test_fid_grows_with_the_shift() -> None:
    real = gaussian(300, 8, 0)
    fids = [FID().compute(real, gaussian(300, 8, 1, shift=s))["fid"] for s in (0.0, 0.5, 2.0)]
    assert fids[0] < fids[1] < fids[2]
    assert fids[2] == pytest.approx(8 * 2.0**2, rel=0.15)  # the mean term dominates: D * shift^2


# -- KID ---------------------------------------------------------------------------------------
def test_kid_near_zero_for_one_distribution_and_positive_for_shifted() -> None:
    real, same, shifted = gaussian(300, 16, 0), gaussian(300, 16, 1), gaussian(300, 16, 2, shift=0.5)
    kid_same = KID(subsets=20, subset_size=100).compute(real, same)
    kid_shifted = KID(subsets=20, subset_size=100).compute(real, shifted)
    assert abs(kid_same["kid"]) < 3 * kid_same["kid_std"] + 1e-3
    assert kid_shifted["kid"] > 10 * max(abs(kid_same["kid"]), kid_same["kid_std"])
    assert kid_shifted["kid"] > 5 * kid_shifted["kid_std"]


@pytest.mark.parametrize("kernel_limit", [10_000, 0])  # kernels once for all subsets / per subset
def test_kid_equals_torchmetrics_with_the_same_subset_draws(kernel_limit: int) -> None:
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = gaussian(120, 8, 0), gaussian(90, 8, 1, shift=0.2)
    ours = KID(subsets=7, subset_size=50, seed=3, kernel_limit=kernel_limit).compute(real, fake)
    with pytest.warns(UserWarning, match="save all extracted features"):
        reference = KernelInceptionDistance(feature=Precomputed(8), subsets=7, subset_size=50)
    reference.update(real.tensor(), real=True)
    reference.update(fake.tensor(), real=False)
    torch.manual_seed(3)
    mean, std = reference.compute()
    assert ours["kid"] == pytest.approx(float(mean), rel=1e-9)
    assert ours["kid_std"] == pytest.approx(float(std), rel=1e-9)


def test_kid_subset_size_is_capped_at_the_smaller_set() -> None:
    real, fake = gaussian(30, 4, 0), gaussian(12, 4, 1)
    assert math.isfinite(KID().compute(real, fake)["kid"])  # default subset_size 1000 > 12 images


# -- IS ----------------------------------------------------------------------------------------
def confident_logits(n: int, k: int) -> np.ndarray:
    return np.eye(k)[np.arange(n) % k] * 60.0


def test_is_equals_num_classes_for_confident_uniform_predictions() -> None:
    fake = Features(np.zeros((4000, 1)), confident_logits(4000, 10))
    assert InceptionScore(splits=1).compute(None, fake)["is"] == pytest.approx(10.0, rel=1e-6)
    # torchmetrics shuffles before cutting 10 splits, so each is only roughly uniform: slightly below 10.
    assert 9.8 < InceptionScore().compute(None, fake)["is"] <= 10.0


def test_is_is_one_when_every_image_gets_the_same_class() -> None:
    logits = np.tile(np.array([[9.0, 0.0, 0.0, 0.0]]), (200, 1))
    assert InceptionScore().compute(None, Features(np.zeros((200, 1)), logits))["is"] == pytest.approx(1.0, abs=1e-9)


def test_is_lies_between_one_and_num_classes() -> None:
    logits = np.random.default_rng(0).normal(scale=3.0, size=(500, 7))
    result = InceptionScore().compute(None, Features(np.zeros((500, 1)), logits))
    assert 1.0 <= result["is"] <= 7.0
    assert result["is_std"] > 0


def test_is_needs_logits() -> None:
    reason = InceptionScore().skip_reason(None, Features(np.zeros((10, 3))))
    assert reason is not None and "logits" in reason


# -- diversity, precision, recall --------------------------------------------------------------
def test_diversity_is_the_mean_pairwise_distance_beside_the_real_one() -> None:
    fake = Features(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]))  # distances 5, 0, 5
    real = Features(np.array([[0.0, 0.0], [0.0, 2.0]]))
    assert Diversity().compute(real, fake) == {"diversity": pytest.approx(10 / 3), "diversity_real": pytest.approx(2.0)}


def test_diversity_of_a_collapsed_set_is_zero() -> None:
    fake = Features(np.ones((50, 4)))
    assert Diversity().compute(gaussian(50, 4, 0), fake)["diversity"] == 0.0


def test_precision_and_recall_of_identical_sets_are_one() -> None:
    real = gaussian(100, 8, 0)
    assert precision().compute(real, real) == {"precision": 1.0}
    assert recall().compute(real, real) == {"recall": 1.0}


def test_precision_and_recall_of_far_disjoint_sets_are_zero() -> None:
    real, fake = gaussian(100, 8, 0), gaussian(100, 8, 1, shift=100.0)
    assert precision().compute(real, fake) == {"precision": 0.0}
    assert recall().compute(real, fake) == {"recall": 0.0}


def test_a_dropped_mode_lowers_recall_not_precision() -> None:
    modes = [gaussian(100, 4, seed, shift=50.0 * seed) for seed in range(2)]
    real = Features(np.concatenate([m.features for m in modes]))
    one_mode = gaussian(100, 4, 7)  # only mode 0
    both_modes = Features(np.concatenate([gaussian(50, 4, 8).features, gaussian(50, 4, 9, shift=50.0).features]))
    assert precision().compute(real, one_mode)["precision"] > 0.9
    covered = recall().compute(real, both_modes)["recall"]
    assert covered > 0.7
    assert recall().compute(real, one_mode)["recall"] == pytest.approx(covered / 2, abs=0.1)


def test_precision_needs_more_images_than_neighbours() -> None:
    reason = precision().skip_reason(gaussian(3, 2, 0), gaussian(10, 2, 1))
    assert reason is not None and "at least 4 real" in reason


# -- helpers -----------------------------------------------------------------------------------
def test_class_histogram_counts_argmax_per_class_with_empty_classes() -> None:
    logits = np.eye(5)[[0, 0, 3, 3, 3]]
    assert class_histogram(logits) == [2, 0, 0, 3, 0]


def test_features_refuse_bad_shapes() -> None:
    with pytest.raises(ValueError, match="features must be"):
        Features(np.zeros(5))
    with pytest.raises(ValueError, match="logits must be"):
        Features(np.zeros((5, 2)), np.zeros((4, 3)))


def test_every_metric_is_registered(registry) -> None:
    for name in ("fid", "kid", "is", "diversity", "precision", "recall"):
        assert registry.create("metric", name).name == name
