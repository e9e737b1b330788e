"""The statistics behind a grid's verdicts, against scipy and against Holm's definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tests.fake_results import fake_grid
from zoo import get_registry
from zoo.bench.stats import Interval, holm, mean_ci, paired_t, verdict
from zoo.bench.table import build_rows, table_columns
from zoo.bench.verdicts import compare, comparison_of

VALUES = [[3.1, 2.7, 3.9], [0.2, -0.1, 0.4, 0.3, 0.25], [10.0, 12.5]]


@pytest.mark.parametrize("values", VALUES)
def test_mean_ci_is_student_t(values: list[float]) -> None:
    interval = mean_ci(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert interval.low == pytest.approx(low) and interval.high == pytest.approx(high)


def test_one_value_has_no_interval() -> None:
    assert mean_ci([4.0]) == Interval(4.0, None, 1) and not mean_ci([4.0]).excludes_zero()


@pytest.mark.parametrize("seed", range(4))
def test_paired_t_matches_scipy_ttest_rel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.normal(10, 2, 5)
    variant = base + rng.normal(0.8, 0.5, 5)
    interval, p = paired_t(list(variant - base))
    expected = scipy_stats.ttest_rel(variant, base)
    assert p == pytest.approx(expected.pvalue)
    low, high = expected.confidence_interval(0.95)
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))


def test_paired_t_edge_cases() -> None:
    assert paired_t([0.0, 0.0, 0.0])[1] == 1.0  # identical replicates: no evidence of anything
    assert paired_t([2.0, 2.0, 2.0])[1] == 0.0  # the same shift every time
    assert paired_t([1.5])[1] == 1.0  # one pair cannot be tested


def _holm_by_definition(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm 1979: sort ascending, reject while p_(i) <= alpha / (m - i + 1), stop at the first failure."""
    m, rejected = len(pvalues), [False] * len(pvalues)
    for rank, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        if pvalues[i] > alpha / (m - rank):
            break
        rejected[i] = True
    return rejected


def test_holm_adjusted_pvalues() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(0)
    for m, alpha in itertools.product((1, 2, 5, 9), (0.01, 0.05, 0.1)):
        p = list(rng.uniform(0, 0.08, m))
        assert [a < alpha for a in holm(p)] == _holm_by_definition(p, alpha - 1e-15)


def test_verdict_follows_the_metric_direction() -> None:
    lower = Interval(-2.0, 1.0, 3)
    assert verdict(lower, 0.01, "low") == "better" and verdict(lower, 0.01, "high") == "worse"
    assert verdict(lower, 0.2, "low") == "no evidence"
    assert verdict(Interval(-2.0, None, 1), 0.0, "low") == "no evidence"


def _scores(variant: str, seed: int) -> dict[str, float]:
    """A per-seed level every variant shares (what common random numbers give) plus each variant's effect."""
    level = [50.0, 80.0, 65.0, 72.0][seed]
    effect = {"base": 0.0, "same": 0.0, "worse": 6.0, "better": -5.0, "noisy": 0.0}[variant]
    jitter = [0.3, -0.2, 0.1, -0.3][seed] if variant != "same" else 0.0
    return {"kid": level + effect + jitter, "fid": 2 * level, "kid_std": 1.0}


def test_verdicts_of_a_grid_with_holm(tmp_path) -> None:  # noqa: ANN001
    _, _, store = fake_grid(tmp_path, ["base", "same", "worse", "better", "noisy"], _scores, seeds=4,
                            extra='[compare]\nreference = "base"')
    rows, _ = build_rows(store, "fake")
    comparison = comparison_of(store, "fake", rows, table_columns(rows, get_registry()))
    assert comparison.primary.key == "kid" and "40" in comparison.why_primary  # small n: KID by default
    got = {name: c.verdict for name, c in comparison.contrasts.items()}
    assert got == {"same": "no evidence", "worse": "worse", "better": "better", "noisy": "no evidence"}
    p = [comparison.contrasts[n].p for n in ("same", "worse", "better", "noisy")]
    assert [comparison.contrasts[n].p_holm for n in ("same", "worse", "better", "noisy")] == pytest.approx(holm(p))
    assert comparison.contrasts["worse"].difference.excludes_zero()
    # without pairing (the seeds' shared level not removed) the same data could not say "worse"
    worse = [r for r in rows if r.name == "worse"][0].values["kid"]
    base = [r for r in rows if r.name == "base"][0].values["kid"]
    assert scipy_stats.ttest_ind(worse, base).pvalue > 0.05
    fid = compare(rows, table_columns(rows, get_registry()), primary="fid")
    assert fid.primary.key == "fid" and {c.verdict for c in fid.contrasts.values()} == {"no evidence"}
