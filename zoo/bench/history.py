"""Verdicts that know their budget: with learning curves, every contrast is judged again at each curve
point (as if training had stopped there), and a cell whose primary metric was still improving when
training stopped is marked ``still learning``.

- **Verdicts over training.** At every step where some cell has a curve point, the grid's rows are the
  curve points reached by then (a cell that finished earlier counts with its last point, as ``--at``
  does) and the comparison runs as on the final scores: the same primary metric, margin, Holm
  correction and, for a grid run ``--until-resolved``, the same looks. A contrast's "since" is the first
  step of the last run of equal verdicts. Each point is a separate question (what would the grid have
  said at that budget?), not a sequential test: a verdict that flips between points is fragile.
- **On the clock, when the budget is the clock.** A grid whose every cell trains on a minutes budget
  equalises time, not steps: its cells' steps differ (the VAE's step is far cheaper than the U-Net's), so
  pairing them by step would compare a model 1.5 minutes in with one 9 minutes in. Such a grid is judged
  at every whole minute of training (scoring excluded) before its budget ends, each cell with its last
  point by then, and at the end with every point (a run stops on the first step past its deadline, so
  its last point lies a step beyond the budget).
- **Still learning.** Per cell, the primary metric's points in the last third of each seed's run (at
  least the last ``MIN_POINTS``), one straight line per seed with a slope shared by the seeds (a
  fixed-effects regression: each seed its own level) and the slope's 95% Student-t interval from the
  pooled residuals. The cell is still learning when that interval lies entirely on the improving side
  of 0. Why this test: the points of one seed are scored on independent sampling noise, so their
  scatter around the line is the noise the slope must beat; pooling the seeds gives it degrees of
  freedom (4 seeds x 3 points: 7) where a per-seed interval would have one. Why the last third: the
  early drop of a curve says nothing about its end, and a fixed fraction keeps the window comparable
  between a run of 4 points and one of 16. It is a mark, not a verdict (no correction across cells):
  a false mark only asks for caution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zoo.bench.stats import common_slope
from zoo.bench.table import build_rows
from zoo.bench.verdicts import Comparison, Trend, compare, compared
from zoo.curves.compare import At, curve_metrics

if TYPE_CHECKING:
    from zoo.bench.store import Store
    from zoo.contract import MetricColumn

WINDOW = 1 / 3  # the last third of a run's steps
MIN_POINTS = 3  # the fewest points a slope is fitted on: a line through 2 has no residual


@dataclass(frozen=True)
class _Until:
    """Curve points up to ``step`` and ``minutes`` of training (and within ``at``, when ranking at a time):
    duck-types :class:`At`."""

    step: float = math.inf
    minutes: float = math.inf
    at: At | None = None

    def reached(self, point: dict[str, Any]) -> bool:
        return (point["step"] <= self.step and point["train_seconds"] / 60.0 <= self.minutes
                and (self.at is None or self.at.reached(point)))


def clock_budget(cells: list[dict[str, Any]]) -> float | None:
    """The grid's minutes budget (the largest of its cells'), when every cell that ran had one; else None."""
    specs = [c["spec"] for c in cells if c["spec"]]
    minutes = [s["train"].get("minutes") for s in specs]
    return max(minutes) if minutes and None not in minutes else None


def marks(budget: float | None, curves: dict[str, list[dict[str, Any]]],
          at: At | None) -> list[tuple[float, _Until]]:  # fmt: skip
    """(position, which points count there) of every verdict over training: each curve step, or, in a grid on
    a minutes ``budget`` (:func:`clock_budget`), each whole minute before the budget's end and the end itself.
    ``curves``: the points within ``at``, which ends the marks where it ends the points (``steps=N``: at the
    last point's minute)."""
    if budget is None:
        steps = sorted({p["step"] for points in curves.values() for p in points})
        return [(step, _Until(step=step, at=at)) for step in steps]
    end = budget
    if at is not None:
        last = max(p["train_seconds"] for points in curves.values() for p in points) / 60.0
        end = min(budget, at.value if at.unit == "minutes" else round(last, 1))
    whole = [(m, _Until(minutes=m, at=at)) for m in range(1, math.ceil(end))]
    return [*whole, (int(end) if float(end).is_integer() else end, _Until(at=at))]


def attach(comparison: Comparison, store: Store, grid: str, columns: tuple[MetricColumn, ...],
           at: At | None = None) -> Comparison:
    """Fill ``comparison.history`` and ``comparison.learning`` from the grid's learning curves (up to
    ``at``, when the table ranks at a time); a grid without curves is left as it is."""
    column = comparison.primary
    cells = store.grid_cells(grid)
    curves = {c["hash"]: [p for p in store.curve(c["hash"]) if at is None or at.reached(p)] for c in cells}
    if column is None or not any(curves.values()):
        return comparison
    if column.key not in curve_metrics(curves.values()):
        comparison.curve_note = (f"the learning curves do not score {column.key} (eval.curve_metrics), so there are no "
                                 "verdicts over training nor still-learning marks")
        return comparison
    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for c in cells:
        if curves[c["hash"]]:
            runs.setdefault(c["name"], []).append(curves[c["hash"]])
    comparison.learning = {name: t for name, points in runs.items() if (t := trend(points, column)) is not None}
    if comparison.contrasts:
        budget = clock_budget(cells)
        comparison.history_axis = "step" if budget is None else "minutes"
        comparison.history = history(store, grid, comparison, columns, marks(budget, curves, at))
    return comparison


def history(store: Store, grid: str, comparison: Comparison, columns: tuple[MetricColumn, ...],
            positions: list[tuple[float, _Until]]) -> dict[str, list[tuple[float, Any]]]:  # fmt: skip
    """Contrast name -> (position, contrast) at every position (:func:`marks`) where its cells have points.
    ``columns``: the table's (the rows there come from the same cells, so they ask for the same metrics)."""
    column = comparison.primary
    out: dict[str, list[tuple[float, Any]]] = {name: [] for name in comparison.contrasts}
    if column.key not in {c.key for c in columns if c.better}:
        return {}
    for position, until in positions:
        rows, _ = build_rows(store, grid, until)  # type: ignore[arg-type]
        at_position = compare(rows, columns, reference=comparison.reference, primary=column.key,
                              margin=comparison.margin or 0.0, sequential=comparison.sequential)
        for name, contrast in at_position.contrasts.items():
            if name in out:
                out[name].append((position, contrast))
    return {name: points for name, points in out.items() if points}


def trend(runs: list[list[dict[str, Any]]], column: MetricColumn) -> Trend | None:
    """The slope of ``column`` over the last points of a cell's seeds (``runs``: each seed's points in
    step order), shared by the seeds; None when no seed has two points."""
    windows = []
    for points in runs:
        values = [(p["step"], v) for p in points if (v := compared(p["values"], column)) is not None and math.isfinite(v)]
        if len(values) < 2:
            continue
        window = [sv for sv in values if sv[0] >= values[-1][0] * (1 - WINDOW)]
        windows.append(window if len(window) >= MIN_POINTS else values[-MIN_POINTS:])
    if not windows:
        return None
    slope = common_slope([([float(s) for s, _ in w], [v for _, v in w]) for w in windows])
    improving = slope.half is not None and (slope.low > 0 if column.better == "high" else slope.high < 0)
    return Trend(slope, min(w[0][0] for w in windows), max(w[-1][0] for w in windows), improving)

