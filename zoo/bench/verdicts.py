"""What a grid's table concludes: every variant against the grid's reference variant on one primary
metric, paired by seed, with a verdict ``better`` / ``worse`` / ``equivalent`` / ``no evidence``
corrected for the number of variants (Holm; :mod:`zoo.bench.procedure`), the metric's own noise
measured on real images, and, with learning curves, the verdict at every curve point and which cells
are still learning (:mod:`zoo.bench.history`). A grid may ask for verdicts on further metrics too
(``compare.also``): they are judged in the primary's family, every hypothesis corrected together.

The arithmetic is in :mod:`zoo.bench.stats` and :mod:`zoo.bench.procedure`; this module knows rows,
columns and grid settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo.bench.judged import choose_primary, further_metrics
from zoo.bench.procedure import RESOLVED, Judgement, Metric, judge_family
from zoo.bench.row import Row
from zoo.bench.stats import Interval
from zoo.contract import MetricColumn

if TYPE_CHECKING:
    from zoo.bench.store import Store


@dataclass(frozen=True)
class Contrast:
    """One variant minus the reference on the primary metric, over the seeds both finished."""

    name: str
    difference: Interval  # variant - reference (of the distance to real, for a "closest to real" metric)
    p: float  # paired t-test, two-sided (sequential grids: Bonferroni over looks)
    p_holm: float  # Holm-adjusted across the grid's comparisons
    verdict: str  # better | worse | equivalent | no evidence
    p_tost: float | None = None  # "outside the margin", two one-sided tests; None without a margin
    p_tost_holm: float | None = None
    within_margin: bool = False  # equivalence shown (with better/worse: a real difference smaller than the margin)
    look: int | None = None  # sequential grids: pairs at the look that decided a difference

    def to_dict(self) -> dict[str, Any]:
        d = self.difference
        return {"name": self.name, "difference": d.mean, "ci_low": d.low, "ci_high": d.high, "pairs": d.n,
                "p": self.p, "p_holm": self.p_holm, "p_tost": self.p_tost, "p_tost_holm": self.p_tost_holm,
                "within_margin": self.within_margin, "look": self.look, "verdict": self.verdict}


@dataclass(frozen=True)
class Trend:
    """The slope of a cell's primary metric per step over its last curve points, pooled over seeds
    (:func:`zoo.bench.history.trend`); ``still_learning`` when its CI excludes 0 on the improving side."""

    slope: Interval
    first: int  # the window's first and last steps
    last: int
    still_learning: bool

    def to_dict(self) -> dict[str, Any]:
        s = self.slope
        return {"slope": s.mean, "ci_low": s.low, "ci_high": s.high, "points": s.n, "from_step": self.first,
                "to_step": self.last, "still_learning": self.still_learning}


@dataclass
class MetricVerdicts:
    """The contrasts on one further metric of the grid (``compare.also``), judged with the primary's."""

    column: MetricColumn
    margin: float | None
    margin_source: str
    contrasts: dict[str, Contrast] = field(default_factory=dict)  # row name -> contrast

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.column.key, "margin": self.margin, "margin_source": self.margin_source,
                "contrasts": [c.to_dict() for c in self.contrasts.values()]}


@dataclass
class Comparison:
    reference: str
    primary: MetricColumn | None
    why_primary: str
    contrasts: dict[str, Contrast] = field(default_factory=dict)  # row name -> contrast
    noise: dict[str, Any] | None = None  # see zoo.metrics.noise.metric_noise
    note: str = ""  # why there are no contrasts, when there are none
    reference_rows: set[str] = field(default_factory=set)  # the rows others were compared with
    bases: dict[str, str] = field(default_factory=dict)  # compared row -> its reference row
    margin: float | None = None  # equivalence margin in the primary metric's units; None: no equivalence
    margin_source: str = ""
    sequential: dict[str, Any] | None = None  # --until-resolved: {"seeds": [...], "looks": [pairs per look]}
    history: dict[str, list[tuple[float, Contrast]]] = field(default_factory=dict)  # row -> (position, contrast)
    history_axis: str = "step"  # what the history's positions count: "step", or "minutes" of training (a minutes budget)
    learning: dict[str, Trend] = field(default_factory=dict)  # row -> slope of its last curve points
    curve_note: str = ""  # why there is no history, when the grid has curves but none could be judged
    also: list[MetricVerdicts] = field(default_factory=list)  # verdicts on the grid's further metrics (compare.also)

    def still_learning(self, name: str) -> bool:
        trend = self.learning.get(name)
        return trend is not None and trend.still_learning

    def undecided(self) -> list[str]:
        """The contrasts without a resolved verdict on the primary or on any further metric."""
        verdicts = [self.contrasts, *(m.contrasts for m in self.also)]
        return [name for name in self.contrasts if any(v[name].verdict not in RESOLVED for v in verdicts if name in v)]

    def learning_in(self, name: str) -> list[str]:
        """The cells of a contrast (the row, then its reference) that are still learning."""
        return [n for n in (name, self.bases.get(name)) if n is not None and self.still_learning(n)]

    def to_dict(self) -> dict[str, Any]:
        contrasts = []
        for c in self.contrasts.values():
            since, verdict, before = held_since(self.history.get(c.name, []))
            contrasts.append({**c.to_dict(), "reference_row": self.bases.get(c.name),
                              "still_learning": self.learning_in(c.name),
                              "history": [{self.history_axis: at, **{k: v for k, v in h.to_dict().items() if k != "name"}}
                                          for at, h in self.history.get(c.name, [])],
                              "held_since": since, "curve_verdict": verdict, "before": before})
        return {"reference": self.reference, "reference_rows": sorted(self.reference_rows),
                "primary": self.primary.key if self.primary else None,
                "why_primary": self.why_primary, "note": self.note, "noise": self.noise,
                "margin": self.margin, "margin_source": self.margin_source, "sequential": self.sequential,
                "learning": {name: t.to_dict() for name, t in self.learning.items()}, "curve_note": self.curve_note,
                "history_axis": self.history_axis,
                "contrasts": contrasts, "also": [m.to_dict() for m in self.also]}


def held_since(history: list[tuple[float, Contrast]]) -> tuple[float | None, str | None, str | None]:
    """(first position (step or minute) of the last run of equal verdicts, that verdict, the verdict before
    it) of a contrast's curve points; (None, None, None) without points."""
    if not history:
        return None, None, None
    last = history[-1][1].verdict
    i = len(history) - 1
    while i > 0 and history[i - 1][1].verdict == last:
        i -= 1
    return history[i][0], last, history[i - 1][1].verdict if i > 0 else None


def comparison_from_dict(data: dict[str, Any], columns: tuple[MetricColumn, ...]) -> Comparison:
    """The :class:`Comparison` a ``--json`` output's ``comparison`` describes (the inverse of
    :meth:`Comparison.to_dict`), so that a results file renders with the table's own words
    (``contrast_text``, ``reading``, ``history_lines``) without the database it came from."""

    def interval(mean: float, low: float | None, high: float | None, n: int) -> Interval:
        return Interval(mean, None if low is None or high is None else (high - low) / 2, n)

    def contrast(name: str, c: dict[str, Any]) -> Contrast:
        return Contrast(name, interval(c["difference"], c["ci_low"], c["ci_high"], c["pairs"]), c["p"], c["p_holm"],
                        c["verdict"], c["p_tost"], c["p_tost_holm"], c["within_margin"], c["look"])

    primary = next((c for c in columns if c.key == data["primary"]), None)
    result = Comparison(data["reference"], primary, data["why_primary"], noise=data["noise"], note=data["note"],
                        reference_rows=set(data["reference_rows"]), margin=data["margin"],
                        margin_source=data["margin_source"], sequential=data["sequential"], curve_note=data["curve_note"],
                        history_axis=data.get("history_axis", "step"))  # results of zoo before minutes: steps
    for c in data["contrasts"]:
        result.contrasts[c["name"]] = contrast(c["name"], c)
        if c["reference_row"] is not None:
            result.bases[c["name"]] = c["reference_row"]
        if c["history"]:
            result.history[c["name"]] = [(h[result.history_axis], contrast(c["name"], h)) for h in c["history"]]
    for name, t in data["learning"].items():
        slope = interval(t["slope"], t["ci_low"], t["ci_high"], t["points"])
        result.learning[name] = Trend(slope, t["from_step"], t["to_step"], t["still_learning"])
    by_key = {c.key: c for c in columns}
    for m in data.get("also", []):  # results written before compare.also have none
        result.also.append(MetricVerdicts(by_key[m["metric"]], m["margin"], m["margin_source"],
                                          {c["name"]: contrast(c["name"], c) for c in m["contrasts"]}))
    return result


def quantity(row: Row, column: MetricColumn) -> dict[int, float]:
    """Seed -> the value compared: the metric, or its distance to the real value for "closest to real"."""
    return {seed: value for seed, values in row.per_seed.items() if (value := compared(values, column)) is not None}


def compared(values: dict[str, float], column: MetricColumn) -> float | None:
    """The value compared of one score (a cell's, or a curve point's): the metric, or its distance to the
    real value for "closest to real"; None when the score lacks it."""
    value = values.get(column.key)
    if value is not None and column.better == "real" and column.real and values.get(column.real) is not None:
        value = abs(value - values[column.real])
    return value


def paired_differences(rows: list[Row], bases: dict[str, Row], column: MetricColumn,
                       sequential: dict[str, Any] | None) -> dict[str, list[float | None]]:  # fmt: skip
    """Row name -> its differences from its reference row on ``column``, one per seed both have (in the
    sequential plan's seed order, None where a seed is missing)."""
    out: dict[str, list[float | None]] = {}
    for row in rows:
        base = bases.get(row.name)
        if base is None or base is row:
            continue
        values, base_values = quantity(row, column), quantity(base, column)
        order = sequential["seeds"] if sequential else sorted(set(values) & set(base_values))
        out[row.name] = [values[s] - base_values[s] if s in values and s in base_values else None for s in order]
    return out


def _contrast(name: str, j: Judgement) -> Contrast:
    return Contrast(name, j.difference, j.p, j.p_holm, j.verdict, j.p_tost, j.p_tost_holm, j.within_margin, j.look)


def compare(rows: list[Row], columns: tuple[MetricColumn, ...], *, reference: str = "base", primary: str | None = None,
            also: Sequence[str] = (), noise: dict[str, Any] | None = None, margin: float | None = None,
            sequential: dict[str, Any] | None = None) -> Comparison:  # fmt: skip
    """Every row but the reference against it, on the primary metric, paired by seed. ``reference`` names
    a row, or a variant: then, in a grid with axes, each row is compared with that variant's row at
    the same axis values (``resnet schedule=cosine`` with ``base schedule=cosine``). ``also``: further
    metrics judged the same way, all hypotheses corrected together. ``margin``: the primary's equivalence
    margin (None: the default from ``noise``, 0: none, on every metric); the further metrics' margins come
    from ``noise``. ``sequential``: the seeds and looks of a grid run ``--until-resolved``."""
    column, why = choose_primary(columns, rows, primary)
    result = Comparison(reference, column, why, noise=noise, sequential=sequential)
    by_name = {r.name: r for r in rows}
    bases = {row.name: base for row in rows if (base := reference_row(by_name, row, reference)) is not None}
    if column is None or not bases:
        result.note = "no ranked metric" if column is None else f"no variant '{reference}' to compare with (compare.reference)"
        return result
    result.reference_rows = {base.name for base in bases.values()}
    result.margin, result.margin_source = default_margin(margin, noise, column)
    result.also = [MetricVerdicts(c, *default_margin(0.0 if margin == 0 else None, noise, c))
                   for c in further_metrics(columns, column.key, also)]  # fmt: skip
    family = {m.column.key: Metric(paired_differences(rows, bases, m.column, sequential), direction(m.column), m.margin)
              for m in result.also}  # fmt: skip
    family[column.key] = Metric(paired_differences(rows, bases, column, sequential), direction(column), result.margin)
    result.bases = {name: bases[name].name for name in family[column.key].differences}
    judged = judge_family(family, looks=sequential["looks"] if sequential else None)
    result.contrasts = {name: _contrast(name, j) for name, j in judged[column.key].items()}
    for m in result.also:
        m.contrasts = {name: _contrast(name, j) for name, j in judged[m.column.key].items()}
    if all(c.difference.n < 2 for c in result.contrasts.values()):
        result.note = "n=1, no CI: set seeds = 3 or more in the grid for verdicts"
    return result


def direction(column: MetricColumn) -> str:
    """Which way the compared quantity is good: "low" or "high" (a "closest to real" metric is compared as
    its distance to the real value: low)."""
    return "low" if column.better == "real" else column.better


def default_margin(setting: float | None, noise: dict[str, Any] | None,
                   column: MetricColumn) -> tuple[float | None, str]:  # fmt: skip
    """(equivalence margin, where it comes from): the grid's ``compare.margin`` (0: no equivalence), else
    2 x sqrt(2) x the metric's own noise sd at the grid's n (zoo.metrics.noise): what two draws of real
    images differ by at most, 95% of the time, the smallest gap one evaluation can see. None without noise."""
    if setting is not None:
        return (float(setting), "the grid's compare.margin") if setting > 0 else (None, "compare.margin = 0: no equivalence")
    sd = (noise or {}).get("sd", {}).get(column.key)
    if not sd:
        return None, "no margin: set compare.margin (the metric's noise was not measured)"
    return 2 * math.sqrt(2) * sd, f"2√2 x the metric's noise sd {sd:.3g} at n={noise['n']} (the default)"


def reference_row(by_name: dict[str, Row], row: Row, reference: str) -> Row | None:
    """The row ``row`` is compared with, among the rows ``by_name``: the one named ``reference``, else the
    reference variant's row with the same axis values as ``row`` (its name after the variant's); None when
    there is neither."""
    if reference in by_name:
        return by_name[reference]
    if row.variant is None or not row.name.startswith(row.variant):
        return None
    return by_name.get(reference + row.name[len(row.variant):])


def comparison_of(store: Store, grid: str, rows: list[Row], columns: tuple[MetricColumn, ...]) -> Comparison:
    """The comparison of a grid's rows, with the settings its file gave and its stored metric noise."""
    from zoo.bench.runner import noise_key

    settings = (store.grid(grid) or {}).get("settings", {})
    keys = sorted({r.ref_key for r in rows if r.ref_key})
    noise = store.references(noise_key(keys[0])) if len(keys) == 1 else None  # one instrument, one noise
    return compare(rows, columns, reference=settings.get("reference", "base"), primary=settings.get("primary"),
                   also=settings.get("also", ()), noise=noise[0] if noise else None, margin=settings.get("margin"), sequential=settings.get("sequential"))
