"""The verdict procedure of a grid, on paired differences alone (no rows, no database): `zoo benchmark`
and the simulation that checks its error rate (``benchmarks/sequential_sim.py``) run this same code.

Each contrast (a variant minus its reference, paired by seed) carries two hypotheses:

- "no difference" (mean 0), by the paired t-test, two-sided; rejected: ``better`` or ``worse`` by the sign;
- "outside the margin" (|mean| >= margin), by two one-sided t-tests (TOST); rejected: ``equivalent``.

They exclude each other (a mean of 0 is inside any margin), so at most one of a contrast's two is true,
and the grid's 2m hypotheses are corrected together by :func:`zoo.bench.stats.stepdown`: Holm's
step-down in which a contrast stops counting once both its hypotheses are rejected. Without a margin
only the first hypothesis exists and this is exactly Holm, the verdicts of a grid before equivalence.

Sequential grids (``--until-resolved``) look at the data several times, after each round of seeds. Each
hypothesis' p-value is then L x its smallest p-value over the L looks the schedule allows (Bonferroni
over looks): whatever the data do, the chance that any look rejects a true hypothesis is at most the sum
over looks, so that p-value is valid however the rounds went, and the step-down keeps the grid's
family-wise error at alpha. A contrast that resolved early gets no more seeds; its later looks are
missing, which only makes its p-value larger, and the step-down can only reject less when a p-value
grows, so stopping early never adds an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from zoo.bench.stats import ALPHA, Interval, mean_ci, paired_t, stepdown, tost

RESOLVED = ("better", "worse", "equivalent")


@dataclass(frozen=True)
class Judgement:
    """One contrast's verdict and the numbers behind it."""

    difference: Interval  # over every pair
    p: float  # "no difference", as entering the correction (sequential: Bonferroni over looks)
    p_holm: float  # adjusted over the grid's hypotheses
    p_tost: float | None  # "outside the margin" (None: no margin)
    p_tost_holm: float | None
    verdict: str  # better | worse | equivalent | no evidence
    within_margin: bool  # the equivalence hypothesis was rejected (also with better/worse: a small real difference)
    look: int | None  # pairs at the look whose test decided a difference, with looks


def schedule(first: int, max_seeds: int, per_round: int) -> list[int]:
    """Seeds per cell after each round: the grid's own, then ``per_round`` more a round up to ``max_seeds``."""
    counts = [first]
    while counts[-1] < max_seeds:
        counts.append(min(counts[-1] + per_round, max_seeds))
    return counts


def looks_of(counts: Sequence[int]) -> list[int]:
    """The looks of a schedule: every round with at least two pairs (one pair cannot be tested)."""
    return [c for c in counts if c >= 2]


def _tests(differences: Sequence[float | None], looks: Sequence[int] | None,
           margin: float | None) -> tuple[float, float, float | None, int | None]:  # fmt: skip
    """(p of "no difference", sign of the mean it tested, p of "outside the margin", pairs of the deciding look)."""
    sizes = looks or [len(differences)]
    best = (1.0, 0.0, None)
    p_tost = 1.0
    for size in sizes:
        pairs = tuple(d for d in differences[:size] if d is not None)
        if len(pairs) < 2:
            continue
        p, mean, p_look = _look(pairs, margin)
        if p < best[0] or best[2] is None:
            best = (p, mean, len(pairs))
        p_tost = min(p_tost, p_look)
    factor = len(sizes)  # 1 without looks
    return min(1.0, factor * best[0]), best[1], min(1.0, factor * p_tost) if margin else None, best[2] if looks else None


@lru_cache(maxsize=4096)
def _look(pairs: tuple[float, ...], margin: float | None) -> tuple[float, float, float]:
    """(p of "no difference", mean, p of "outside the margin") of one look's pairs; cached, since every
    round of a sequential grid looks again at the earlier looks' unchanged pairs."""
    interval, p = paired_t(pairs)
    return p, interval.mean, tost(pairs, margin) if margin else 1.0


@dataclass(frozen=True)
class Metric:
    """One metric's contrasts for :func:`judge_family`: ``differences`` maps a contrast to its paired
    differences in seed order (None where a seed has no pair), ``better`` says which way is good ("low" or
    "high"), ``margin`` (> 0) adds equivalence in the metric's units."""

    differences: dict[str, Sequence[float | None]]
    better: str
    margin: float | None = None


def judge(differences: dict[str, Sequence[float | None]], better: str, *, margin: float | None = None,
          looks: Sequence[int] | None = None, alpha: float = ALPHA) -> dict[str, Judgement]:  # fmt: skip
    """Verdicts of every contrast on one metric: ``differences`` maps a contrast to its paired differences
    in seed order (None where a seed has no pair), ``better`` says which way is good ("low" or "high"),
    ``margin`` (> 0) adds equivalence, ``looks`` (pairs at each look) makes the procedure sequential."""
    return judge_family({"": Metric(differences, better, margin)}, looks=looks, alpha=alpha)[""]


def judge_family(metrics: dict[str, Metric], *, looks: Sequence[int] | None = None,
                 alpha: float = ALPHA) -> dict[str, dict[str, Judgement]]:  # fmt: skip
    """Verdicts of every contrast on every metric, the hypotheses of all corrected together in one step-down:
    a grid that reads its verdicts on three metrics makes three times the claims, and its family-wise error
    stays at ``alpha`` only if all of them are counted. A contrast's two hypotheses on one metric exclude each
    other (one group); on two metrics they do not, so each (metric, contrast) is its own group."""
    keys = [(m, n) for m, metric in metrics.items() for n, d in metric.differences.items() if any(v is not None for v in d)]
    tests = {(m, n): _tests(metrics[m].differences[n], looks, metrics[m].margin) for m, n in keys}
    pvalues, groups = [tests[k][0] for k in keys], list(range(len(keys)))
    with_margin = [i for i, (m, _) in enumerate(keys) if metrics[m].margin]
    pvalues += [tests[keys[i]][2] for i in with_margin]
    groups += with_margin
    adjusted = stepdown(pvalues, groups)
    tost_adjusted = dict(zip(with_margin, adjusted[len(keys):]))
    out: dict[str, dict[str, Judgement]] = {m: {} for m in metrics}
    for i, (m, name) in enumerate(keys):
        p, sign, p_tost, look = tests[(m, name)]
        interval = mean_ci([d for d in metrics[m].differences[name] if d is not None])
        p_holm, p_tost_holm = adjusted[i], tost_adjusted.get(i)
        within = p_tost_holm is not None and p_tost_holm < alpha and interval.n >= 2
        verdict = "equivalent" if within else "no evidence"
        if interval.n >= 2 and p_holm < alpha and sign != 0:
            verdict = "better" if (sign < 0) == (metrics[m].better != "high") else "worse"
        out[m][name] = Judgement(interval, p, p_holm, p_tost, p_tost_holm, verdict, within, look)
    return out
