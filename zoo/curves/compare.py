"""A grid's learning curves, read from the results database (points written by :mod:`zoo.curves.score`).

Two uses:

- Ranking at equal training time or steps (``zoo benchmark/report --at minutes=M``): each cell's last
  point whose optimisation time is at most M minutes (scoring time excluded) stands in for its final
  scores. A variant that is slower per step is then judged by what it reached in the same time; the
  reference rows are the floor and ceiling at the curve's own n and metrics.
- The report's curves: per variant, the mean over seeds and a band from the lowest to the highest
  seed, against steps and against training minutes (at a step, the mean over seeds of the time the
  seeds took to reach it).
"""

from __future__ import annotations

import copy
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from zoo.bench.store import Store
from zoo.errors import UserError

AT_UNITS = ("minutes", "steps")


@dataclass(frozen=True)
class At:
    """Where on the curves the table ranks: ``minutes`` of optimisation, or ``steps``."""

    unit: str
    value: float

    def reached(self, point: dict[str, Any]) -> bool:
        if self.unit == "minutes":  # compared in minutes, the unit given: M * 60 can round below the seconds M came from
            return point["train_seconds"] / 60.0 <= self.value
        return point["step"] <= self.value

    @property
    def label(self) -> str:
        return f"at {self.value:g} {'min' if self.unit == 'minutes' else 'steps'} of training"


def parse_at(text: str | None) -> At | None:
    """``"minutes=5"`` or ``"steps=400"`` (None: rank at the final scores)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\w+)\s*=\s*([0-9.eE+-]+)\s*", text)
    unit, value = (match.group(1), match.group(2)) if match else ("", "")
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if unit not in AT_UNITS or not number > 0:
        raise UserError(f"--at expects minutes=M or steps=N with a positive number (e.g. --at minutes=5), got '{text}'")
    return At(unit, number)


def point_at(points: list[dict[str, Any]], at: At) -> dict[str, Any] | None:
    """The last point reached within ``at`` (points in step order), or None when the first comes later."""
    reached = [p for p in points if at.reached(p)]
    return reached[-1] if reached else None


def points_at(store: Store, grid: str, at: At) -> dict[str, dict[str, Any] | None]:
    """Cell label -> its curve point at ``at`` (None when the cell has none that early or no curve).

    Fails with what to do when no cell of the grid has a curve at all."""
    cells = store.grid_cells(grid)
    curves = {c["hash"]: store.curve(c["hash"]) for c in cells}
    if not any(curves.values()):
        raise UserError(f"grid '{grid}' has no learning-curve points in {store.path}, so --at has nothing to rank; "
                        "set eval.curve_every (e.g. \"eval.curve_every\" = 100 under [base.eval] of the grid) and run it again")
    return {c["label"]: point_at(curves[c["hash"]], at) for c in cells}


def rewind(record: dict[str, Any] | None, spec: dict[str, Any] | None, point: dict[str, Any] | None,
           ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:  # fmt: skip
    """A cell's (record, spec) as if its scores were the curve ``point``'s: the sample row's values and
    n are the point's, the spec's eval n and metrics the curve's (so the reference rows match).
    (None, spec) when there is no point: the cell has no score at that time."""
    if record is None or spec is None or point is None:
        return None, spec
    record, spec = copy.deepcopy(record), copy.deepcopy(spec)
    sample_row = record["eval"]["rows"][0]
    sample_row.update(values=dict(point["values"]), n_fake=point["n"], class_counts=None)
    spec["eval"].update(n=spec["eval"]["curve_n"], metrics=list(spec["eval"]["curve_metrics"]))
    record["at_point"] = {k: point[k] for k in ("step", "train_seconds")}
    return record, spec


# -- curves per variant, for the report -----------------------------------------------------------
@dataclass
class Series:
    """One variant's curve of one metric: per step, the mean over seeds and the lowest and highest seed."""

    name: str
    seeds: int
    steps: list[int] = field(default_factory=list)
    minutes: list[float] = field(default_factory=list)  # mean over seeds of the training time at the step
    mean: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)


def curve_metrics(curves: Iterable[list[dict[str, Any]]]) -> list[str]:
    """The metrics the points hold, in first-seen order (spreads such as ``kid_std`` left out)."""
    keys: dict[str, None] = {}
    for points in curves:
        for p in points:
            keys.update((k, None) for k, v in p["values"].items() if not k.endswith("_std") and v is not None)
    return list(keys)


def series(store: Store, grid: str, metric: str) -> list[Series]:
    """Per variant (row name) with a curve, in grid order; "same as" duplicates are the same run and left out."""
    by_name: dict[str, list[list[dict[str, Any]]]] = {}
    for c in store.grid_cells(grid):
        if c["duplicate_of"] is None and (points := store.curve(c["hash"])):
            by_name.setdefault(c["name"], []).append(points)
    return [s for name, runs in by_name.items() if (s := _aggregate(name, runs, metric)).steps]


def _aggregate(name: str, runs: list[list[dict[str, Any]]], metric: str) -> Series:
    out = Series(name, len(runs))
    per_step: dict[int, list[dict[str, Any]]] = {}
    for points in runs:
        for p in points:
            if p["values"].get(metric) is not None:
                per_step.setdefault(p["step"], []).append(p)
    for step in sorted(per_step):
        values = [p["values"][metric] for p in per_step[step]]
        out.steps.append(step)
        out.minutes.append(statistics.fmean(p["train_seconds"] for p in per_step[step]) / 60.0)
        out.mean.append(statistics.fmean(values))
        out.low.append(min(values))
        out.high.append(max(values))
    return out


def curve_floor(store: Store, grid: str, metric: str) -> float | None:
    """The floor (real train vs real test) of ``metric`` at the curves' n and metrics, when computed."""
    from zoo.bench.runner import reference_key

    for c in store.grid_cells(grid):
        spec, record = c["spec"], c["record"]
        if c["status"] != "done" or not record or spec["eval"].get("curve_every") is None:
            continue
        e, ev = spec["eval"], record["eval"]
        rows = store.references(reference_key(ev["data_hash"], ev["feature"], e["curve_n"], e["curve_metrics"], e["seed"]))
        for row in rows or []:
            if row["name"].startswith("floor"):
                return row["values"].get(metric)
    return None


def grid_curves(store: Store, grid: str) -> list[tuple[str, list[Series], float | None]]:
    """(metric, one series per variant, floor) of every metric the grid's curves hold; empty without curves."""
    curves = [store.curve(c["hash"]) for c in store.grid_cells(grid) if c["duplicate_of"] is None]
    return [(metric, series(store, grid, metric), curve_floor(store, grid, metric)) for metric in curve_metrics(curves)]
