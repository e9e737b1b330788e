"""One row of a grid's comparison table: a cell's values over its seeds, and the columns every row has.

Its own module so that the table (which lays rows out) and the verdicts (which compare them) both
import it without importing each other.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from zoo.bench.stats import Interval, mean_ci
from zoo.contract import MetricColumn

Column = MetricColumn  # cost columns and metric columns are described alike

COST_COLUMNS = (  # what a cell costs, measured by the runner for every cell whatever its metrics
    Column("params", "params (M)"),
    Column("gflops", "GFLOP/img"),
    Column("train_ips", "train img/s", "high", 0),
    Column("sample_spi", "sample s/img", "low"),
)
COST_KEYS = {c.key for c in COST_COLUMNS}


@dataclass
class Row:
    name: str
    overrides: dict[str, Any]
    seeds: list[int]
    status: str  # done | failed | pending | "same as X"
    variant: str | None = None  # the grid variant (the name without axis values); None for reference rows
    metrics: list[str] = field(default_factory=list)  # the metrics the cells' specs ask for
    values: dict[str, list[float]] = field(default_factory=dict)  # key -> one value per finished seed
    per_seed: dict[int, dict[str, float]] = field(default_factory=dict)  # seed -> key -> value, for pairing
    n: int | None = None  # generated images per score
    n_real: int | None = None  # real (test) images per score
    ref_key: str | None = None  # where its reference rows and metric noise are stored
    feature_identity: str | None = None  # the extractor that scored it (one per table: table._one_extractor)
    error: str | None = None
    samples_png: str | None = None
    log: str | None = None

    def mean(self, key: str) -> float | None:
        vals = [v for v in self.values.get(key, []) if v is not None and not math.isnan(v)]
        return statistics.fmean(vals) if vals else None

    def std(self, key: str, spread: str | None = None) -> float | None:
        """Over seeds; for a single seed, the metric's own spread within the run (the key ``spread``)."""
        vals = [v for v in self.values.get(key, []) if v is not None and not math.isnan(v)]
        if len(vals) > 1:
            return statistics.stdev(vals)
        return self.mean(spread) if spread else None

    def ci(self, key: str) -> float | None:
        """Half-width of the 95% Student-t interval of the mean over seeds (None for one seed)."""
        interval = row_interval(self, key)
        return interval.half if interval else None

    def target(self, column: Column) -> float | None:
        """What a ``better="real"`` column is compared with: the real data's value, else None."""
        return self.mean(column.real) if column.real else None

    def to_dict(self, columns: tuple[Column, ...]) -> dict[str, Any]:
        out = {"name": self.name, "overrides": self.overrides, "seeds": self.seeds, "status": self.status,
               "n": self.n, "error": self.error, "samples_png": self.samples_png, "log": self.log,
               "feature_identity": self.feature_identity}
        for c in columns:
            out[c.key] = self.mean(c.key)
            if c.key not in COST_KEYS:
                out[f"{c.key}_std"] = self.std(c.key, c.spread)
                out[f"{c.key}_ci"] = self.ci(c.key)  # 95% half-width over seeds; None for one seed
            if c.real:
                out[c.real] = self.mean(c.real)
        return out


def row_interval(row: Row, key: str) -> Interval | None:
    """Mean and 95% CI over the row's seeds of one value, or None without values."""
    values = [v[key] for v in row.per_seed.values() if v.get(key) is not None]
    return mean_ci(values) if values else None
