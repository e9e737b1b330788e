"""The verdict procedure: equivalence (TOST), the step-down that corrects it together with the
difference tests, the sequential looks of --until-resolved, the slope behind "still learning", and a
simulation of its error rate (the fast version of benchmarks/sequential_sim.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from zoo.bench.procedure import Metric, judge, judge_family, looks_of, schedule
from zoo.bench.stats import ALPHA, common_slope, holm, paired_t, stepdown, tost

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("margin", [0.5, 2.0])
def test_tost_is_the_larger_of_two_one_sided_t_tests(seed: int, margin: float) -> None:
    x = np.random.default_rng(seed).normal(0.3, 1.0, 6)
    below = scipy_stats.ttest_1samp(x, -margin, alternative="greater").pvalue  # rejects "mean <= -margin"
    above = scipy_stats.ttest_1samp(x, margin, alternative="less").pvalue  # rejects "mean >= margin"
    assert tost(list(x), margin) == pytest.approx(max(below, above))
    # below alpha exactly when the (1 - 2 alpha) interval lies inside the margin
    low, high = scipy_stats.t.interval(1 - 2 * ALPHA, len(x) - 1, loc=x.mean(), scale=scipy_stats.sem(x))
    assert (tost(list(x), margin) < ALPHA) == (-margin < low and high < margin)


def test_tost_edge_cases() -> None:
    assert tost([1.0], 5.0) == 1.0 and tost([1.0, 2.0], 0.0) == 1.0  # one pair, no margin: untestable
    assert tost([0.0, 0.0, 0.0], 1.0) == 0.0 and tost([2.0, 2.0], 1.0) == 1.0  # no spread: inside or not


def test_stepdown_with_one_hypothesis_per_group_is_holm() -> None:
    rng = np.random.default_rng(0)
    for m in (1, 3, 7):
        p = list(rng.uniform(0, 0.1, m))
        assert stepdown(p, list(range(m))) == pytest.approx(holm(p))


def test_stepdown_counts_a_group_until_both_its_hypotheses_are_rejected() -> None:
    # contrast 0: difference p 0.001 and equivalence p 0.002 (a small real difference); contrast 1: 0.03, 0.9
    p, groups = [0.001, 0.03, 0.002, 0.9], [0, 1, 0, 1]
    # sorted: 0.001 (2 groups live) -> 0.002 (2) -> 0.03 (only group 1 left) -> 0.9 (1)
    assert stepdown(p, groups) == pytest.approx([0.002, 0.03, 0.004, 0.9])
    # Holm over the 4 as if all could be true would multiply the first by 4
    assert holm(p)[0] == pytest.approx(0.004)


def test_common_slope_is_least_squares_with_one_intercept_per_series() -> None:
    rng = np.random.default_rng(1)
    series = [([100.0, 200.0, 300.0], list(50 - 0.1 * np.array([100, 200, 300]) + rng.normal(0, 2, 3) + level))
              for level in (0.0, 7.0, -4.0)]
    x = np.concatenate([s[0] for s in series])
    design = np.column_stack([np.repeat(np.eye(3), 3, axis=0), x])  # a dummy per series, then the shared slope
    y = np.concatenate([s[1] for s in series])
    coef, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    df = len(y) - design.shape[1]
    se = np.sqrt(residual[0] / df * np.linalg.inv(design.T @ design)[-1, -1])
    slope = common_slope(series)
    assert slope.mean == pytest.approx(coef[-1]) and slope.half == pytest.approx(scipy_stats.t.ppf(0.975, df) * se)
    assert slope.n == 9 and common_slope([([1.0, 2.0], [3.0, 5.0])]).half is None  # a line through 2 points: no CI


def test_judge_without_a_margin_is_the_holm_verdict_of_before() -> None:
    differences = {"a": [1.0, 1.2, 0.9, 1.1], "b": [0.1, -0.3, 0.2, 0.0], "c": [-2.0, -2.5, -1.8, -2.2]}
    got = judge(differences, "low")
    p = [paired_t(d)[1] for d in differences.values()]
    assert [got[n].p_holm for n in differences] == pytest.approx(holm(p))
    assert {n: j.verdict for n, j in got.items()} == {"a": "worse", "b": "no evidence", "c": "better"}
    assert judge(differences, "high")["a"].verdict == "better"  # the metric says which way is good
    assert all(j.p_tost is None and not j.within_margin for j in got.values())


def test_judge_with_a_margin_adds_equivalent_and_keeps_real_differences() -> None:
    differences = {"small": [0.11, 0.1, 0.12, 0.09, 0.1], "none": [0.2, -0.3, 0.1, 0.0, -0.1],
                   "large": [9.0, 11.0, 10.0, 10.5, 9.5], "vague": [5.0, -4.0, 6.0, -7.0, 1.0]}
    got = judge(differences, "low", margin=1.0)
    assert {n: j.verdict for n, j in got.items()} == {"small": "worse", "none": "equivalent", "large": "worse",
                                                      "vague": "no evidence"}
    assert got["small"].within_margin and not got["large"].within_margin  # real, but smaller than the margin
    assert got["vague"].p_tost_holm >= ALPHA and got["none"].p_tost_holm < ALPHA


def test_several_metrics_are_one_family_of_hypotheses() -> None:
    """Two metrics without margins: Holm over every (metric, contrast); with margins, each (metric, contrast)
    is its own group of two exclusive hypotheses, so the step-down is stepdown() over those groups."""
    kid = {"a": [1.0, 1.2, 0.9, 1.1], "b": [0.1, -0.3, 0.2, 0.0]}
    recall = {"a": [-0.05, -0.07, -0.04, -0.06], "b": [0.01, -0.02, 0.0, 0.02]}
    got = judge_family({"kid": Metric(kid, "low"), "recall": Metric(recall, "high")})
    p = [paired_t(d)[1] for d in (*kid.values(), *recall.values())]
    assert [got[m][n].p_holm for m in ("kid", "recall") for n in ("a", "b")] == pytest.approx(holm(p))
    assert got["kid"]["a"].verdict == "worse" and got["recall"]["a"].verdict == "worse"  # recall: higher is good
    with_margins = judge_family({"kid": Metric(kid, "low", 0.5), "recall": Metric(recall, "high", 0.1)})
    p_tost = [tost(kid["a"], 0.5), tost(kid["b"], 0.5), tost(recall["a"], 0.1), tost(recall["b"], 0.1)]
    adjusted = stepdown(p + p_tost, [0, 1, 2, 3, 0, 1, 2, 3])
    assert [with_margins[m][n].p_tost_holm for m in ("kid", "recall") for n in ("a", "b")] == pytest.approx(adjusted[4:])
    assert judge_family({"kid": Metric(kid, "low")})["kid"] == judge(kid, "low")  # one metric: judge itself


def test_sequential_p_values_are_bonferroni_over_the_schedules_looks() -> None:
    series = [1.0, 1.4, 0.2, 1.1, 0.9, 1.3]
    looks = [3, 5, 6]
    got = judge({"a": series}, "low", margin=0.5, looks=looks)["a"]
    smallest = min(paired_t(series[:k])[1] for k in looks)
    assert got.p == pytest.approx(min(1.0, 3 * smallest)) and got.look in looks
    assert got.p_tost == pytest.approx(min(1.0, 3 * min(tost(series[:k], 0.5) for k in looks)))
    # a contrast that stopped early (its later seeds missing) is judged on the looks it had
    stopped = judge({"a": series[:3] + [None] * 3}, "low", looks=looks)["a"]
    assert stopped.p == pytest.approx(min(1.0, 3 * paired_t(series[:3])[1])) and stopped.difference.n == 3


def test_schedule_and_looks() -> None:
    assert schedule(4, 8, 2) == [4, 6, 8] and schedule(4, 9, 2) == [4, 6, 8, 9] and schedule(1, 4, 2) == [1, 3, 4]
    assert looks_of([1, 3, 4]) == [3, 4]  # one pair cannot be tested: no look


def _simulation():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("sequential_sim", ROOT / "benchmarks" / "sequential_sim.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scenario", ["null", "at the margin"])
def test_seeds_until_resolved_keep_the_grids_error_rate_at_5_percent(scenario: str) -> None:
    """200 simulated grids with 8 looks (3 to 10 seeds, one a round), the hardest case for a sequential
    test: every contrast null (better/worse would be wrong) or at the margin (equivalent would be). The
    procedure stays at or below 5% wrong grids; judging each look at the full 5% (what the Bonferroni
    over looks prevents) fails the same draws, so the test can tell a broken correction."""
    sim = _simulation()
    settings = {"seed": 1, "first": 3, "max_seeds": 10, "per_round": 1}
    corrected = sim.simulate(200, sim.scenarios()[scenario], "sequential", **settings)
    naive = sim.simulate(200, sim.scenarios()[scenario], "naive", **settings)
    assert corrected["error_rate"] <= 0.05 and corrected["resolved_share"] > 0.5, corrected
    assert naive["error_rate"] > 0.05, naive
