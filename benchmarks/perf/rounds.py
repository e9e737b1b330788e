"""Alternating rounds, the timing scheme of the perf benchmarks that compare two ways of doing one thing.

Each round times every way once, and the order flips every other round, so a slow phase of the shared
host hits both sides; the per-round ratios then carry the measurement's own noise.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable


def alternate(rounds: int, ways: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Seconds of each way (a call returning the seconds it timed), one per round."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            times[name].append(ways[name]())
    return times


def per_round(slow: list[float], fast: list[float]) -> dict[str, float]:
    """Median, quartiles, min and max of the round-by-round speed-ups ``slow / fast`` (the quartiles tell a
    settled ratio from one a few busy rounds of a shared host stretched to a wide range)."""
    ratios = sorted(a / b for a, b in zip(slow, fast))
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return {"median": statistics.median(ratios), "q1": q1, "q3": q3, "min": ratios[0], "max": ratios[-1]}
