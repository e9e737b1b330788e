"""Statistics of a grid's replicates: a mean with its 95% confidence interval over seeds, the paired
difference of two variants (seed k of one against seed k of the other, which share their random
streams: docs/benchmark.md), its equivalence test (TOST), Holm's step-down correction across the
variants of a grid (and its version for hypotheses of which at most one per contrast can be true),
and the slope of a learning curve's last points.

Why these: a grid has a handful of seeds, so intervals use Student's t (not a normal approximation)
and need no more than the per-seed values; pairing by seed removes what the seeds' shared streams
make common to both variants; Holm (1979) holds the chance of any false "better"/"worse" in a grid
at 5% without assuming the variants' tests are independent, and is uniformly more powerful than
Bonferroni. Pure arithmetic: no torch, no database.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

LEVEL = 0.95  # confidence of every interval
ALPHA = 0.05  # family-wise error rate of a grid's verdicts (Holm)


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values and the half-width of its confidence interval (None when n < 2)."""

    mean: float
    half: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half is None else self.mean - self.half

    @property
    def high(self) -> float | None:
        return None if self.half is None else self.mean + self.half

    def excludes_zero(self) -> bool:
        return self.half is not None and abs(self.mean) > self.half


@lru_cache(maxsize=256)
def t_quantile(df: int, level: float = LEVEL) -> float:
    """The two-sided Student t quantile: mean ± q * s / sqrt(n) covers with probability ``level``."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def mean_ci(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean and Student-t confidence interval of independent replicates (no interval for one value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, None, 1)
    half = t_quantile(len(values) - 1, level) * statistics.stdev(values) / math.sqrt(len(values))
    return Interval(mean, half, len(values))


def paired_t(differences: Sequence[float], level: float = LEVEL) -> tuple[Interval, float]:
    """(interval of the mean difference, two-sided p-value of "mean difference = 0") of paired replicates.

    Equivalent to ``scipy.stats.ttest_rel``; a difference that is the same non-zero number every
    time has p = 0, identical replicates (all differences 0) have p = 1.
    """
    from scipy.stats import t

    interval = mean_ci(differences, level)
    if interval.n < 2:
        return interval, 1.0
    sd = statistics.stdev(differences)
    if sd == 0:
        return interval, 1.0 if interval.mean == 0 else 0.0
    statistic = interval.mean / (sd / math.sqrt(interval.n))
    return interval, float(2 * t.sf(abs(statistic), interval.n - 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: reject hypothesis i at level alpha
    exactly when its adjusted p-value is below alpha (the family-wise error rate stays <= alpha)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def verdict(difference: Interval, p_adjusted: float, better: str, alpha: float = ALPHA) -> str:
    """``better``/``worse`` when the corrected test rejects "no difference", else ``no evidence``.

    ``difference`` is variant minus reference of a quantity where ``better`` says which way is good
    ("low" or "high"; a "closest to real" metric is compared as its distance to the real value: low).
    """
    if difference.n < 2 or p_adjusted >= alpha or difference.mean == 0:
        return "no evidence"
    lower_is_better = better != "high"
    return "better" if (difference.mean < 0) == lower_is_better else "worse"


def tost(differences: Sequence[float], margin: float) -> float:
    """p-value of "the mean difference lies outside (-margin, margin)", by two one-sided paired t-tests
    (Schuirmann 1987): the larger of the two one-sided p-values, so it is below alpha exactly when the
    (1 - 2 alpha) confidence interval lies inside the margin. One pair, or no margin, cannot be tested (1)."""
    from scipy.stats import t

    values = [float(d) for d in differences]
    if len(values) < 2 or not margin > 0:
        return 1.0
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    if sd == 0:
        return 0.0 if abs(mean) < margin else 1.0
    se, df = sd / math.sqrt(len(values)), len(values) - 1
    below = t.sf((mean + margin) / se, df)  # "mean <= -margin"
    above = t.cdf((mean - margin) / se, df)  # "mean >= margin"
    return float(max(below, above))


def stepdown(pvalues: Sequence[float], groups: Sequence[int]) -> list[float]:
    """Holm's step-down for hypotheses that come in groups of which at most one can be true (a contrast's
    "no difference" and "outside the margin"), adjusted p-values in the input order.

    Holm multiplies the k-th smallest p-value by the number of hypotheses not yet rejected, the most that
    can still be true; here at most one per group can be, so the factor is the number of groups that
    still hold a hypothesis not yet rejected (Shaffer 1986's logically constrained Holm). The first
    true hypothesis rejected then has a p-value below alpha / (number of true ones), so the chance of
    any false rejection stays <= alpha under any dependence. One hypothesis per group: exactly holm()."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        live = len({groups[j] for j in order[rank:]})
        running = max(running, min(1.0, live * pvalues[i]))
        adjusted[i] = running
    return adjusted


def common_slope(series: Sequence[tuple[Sequence[float], Sequence[float]]], level: float = LEVEL) -> Interval:
    """The slope shared by several (x, y) series that each have their own level (a fixed-effects
    regression: one intercept per series, one slope), with its Student-t interval from the pooled
    residuals (n - series - 1 degrees of freedom; no interval without one). ``n`` counts the points."""
    dx: list[float] = []
    dy: list[float] = []
    used = 0
    for x, y in series:
        if len(x) < 2:  # a lone point says nothing about a slope
            continue
        mx, my = statistics.fmean(x), statistics.fmean(y)
        dx += [v - mx for v in x]
        dy += [v - my for v in y]
        used += 1
    sxx = sum(a * a for a in dx)
    if not sxx:
        raise ValueError("no series with two distinct x")
    slope = sum(a * b for a, b in zip(dx, dy)) / sxx
    df = len(dx) - used - 1
    if df < 1:
        return Interval(slope, None, len(dx))
    residual = sum((b - slope * a) ** 2 for a, b in zip(dx, dy)) / df
    return Interval(slope, t_quantile(df, level) * math.sqrt(residual / sxx), len(dx))
