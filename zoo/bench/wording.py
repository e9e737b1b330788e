"""How a grid's verdicts read: the ``vs`` column of the table, the lines under it, the table of verdicts
on every metric (``compare.also``) and the verdicts over training, in the terminal, the report and the
docs alike. The verdicts themselves: :mod:`zoo.bench.verdicts`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zoo.bench.row import Row
from zoo.bench.stats import t_quantile
from zoo.bench.verdicts import Comparison, Contrast, held_since


def runs_text(points: list[tuple[float, Contrast]]) -> str:
    """A contrast's verdicts over training as runs of equal verdicts: "no evidence 100-200 · better 300-400"
    (steps, or minutes of training)."""
    runs: list[list[Any]] = []
    for at, contrast in points:
        if runs and runs[-1][0] == contrast.verdict:
            runs[-1][2] = at
        else:
            runs.append([contrast.verdict, at, at])
    return " · ".join(f"{v} {_number(a)}" if a == b else f"{v} {_number(a)}-{_number(b)}" for v, a, b in runs)


def _number(at: float) -> str:
    return str(at) if isinstance(at, int) else f"{at:g}"


@dataclass(frozen=True)
class _AxisWords:
    """How the verdicts over training name their positions, per ``Comparison.history_axis``."""

    unit: str  # one position: "step 300"
    column: str  # the table's column: "verdict by curve step"
    every: str  # where each contrast is judged, in the line under the table
    title: str  # the same, in the table's title
    why: str = ""  # why the grid is judged there, when it is not the usual


_AXES = {
    "step": _AxisWords("step", "curve step", "at every learning-curve point", "at each learning-curve point"),
    "minutes": _AxisWords("minute", "minute of training", "at every whole minute of training",
                          "at each whole minute of training (each cell's last curve point by then) and at the end of the budget",
                          ", as the grid's budget is minutes (the cells' steps differ)"),
}  # fmt: skip


def _position(comparison: Comparison, at: float) -> str:
    """"step 300", or "minute 3" in a grid judged on the clock."""
    return f"{_AXES[comparison.history_axis].unit} {_number(at)}"


def history_headers(comparison: Comparison) -> tuple[str, str, str, str]:
    """The columns of the "verdicts over training" table."""
    return ("cell", f"verdict by {_AXES[comparison.history_axis].column}", "since", "still learning")


def metric_verdict_lines(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """(headers, one line per contrast) of the "verdicts on every metric" table: the contrast's difference
    [95% CI] and verdict on the primary, then on each further metric (compare.also); no lines without them."""
    if not comparison.also or comparison.primary is None:
        return [], []
    judged = [(comparison.primary, comparison.margin, comparison.contrasts),
              *((m.column, m.margin, m.contrasts) for m in comparison.also)]  # fmt: skip
    headers = ["cell", *(f"{c.title or c.key}{' (primary)' if c is comparison.primary else ''}" + (
        f", margin ±{margin:.3g}" if margin else "") for c, margin, _ in judged)]
    lines = [[name, *(_difference_text(contrasts.get(name), column.digits) for column, _, contrasts in judged)]
             for name in comparison.contrasts]
    return headers, lines


def metric_verdicts_caption(comparison: Comparison) -> str:
    """What the table of verdicts on every metric is, under its title in the report."""
    return (f"Each contrast against {comparison.reference} on the primary metric and on each of compare.also, "
            "all corrected together (Holm).")


def _difference_text(c: Contrast | None, digits: int) -> str:
    """difference [95% CI] verdict (", within margin" for a real difference smaller than the margin)."""
    if c is None:
        return "-"
    d = c.difference
    if d.half is None:
        return f"{d.mean:+.{digits}g} (n=1)"
    text = f"{d.mean:+.{digits}g} [{d.low:+.{digits}g}, {d.high:+.{digits}g}] {c.verdict}"
    return text + (", within margin" if c.within_margin and c.verdict in ("better", "worse") else "")


def history_lines(comparison: Comparison) -> list[tuple[str, str, str, str]]:
    """(contrast, its verdicts over training, since when the last one held, its cells still learning) of
    every contrast with curve points: the "verdicts over training" table of the terminal and the report."""
    return [(name, runs_text(points), since_text(comparison, name), ", ".join(comparison.learning_in(name)) or "-")
            for name, points in comparison.history.items()]


def history_title(comparison: Comparison) -> str:
    p = comparison.primary
    return (f"verdicts over training: {p.title or p.key if p else '?'} vs {comparison.reference} "
            f"{_AXES[comparison.history_axis].title}, judged as if training had stopped there")


def contrast_text(comparison: Comparison, row: Row) -> str:
    """The ``vs base`` cell of a row: difference [95% CI] verdict."""
    if row.name in comparison.reference_rows:
        return "reference"
    c = comparison.contrasts.get(row.name)
    if c is None:
        return "-"
    text = _difference_text(c, comparison.primary.digits if comparison.primary else 3)
    return text + (" (still learning)" if c.difference.half is not None and comparison.learning_in(row.name) else "")


def since_text(comparison: Comparison, name: str) -> str:
    """Since when a contrast's verdict has held on the learning curves: "better since step 300 (was no
    evidence)", or what the curves say when the final evaluation (larger n) says otherwise."""
    c = comparison.contrasts.get(name)
    since, verdict, before = held_since(comparison.history.get(name, []))
    if c is None or since is None:
        return "-"
    if verdict != c.verdict:
        return f"{verdict} since {_position(comparison, since)} (final: {c.verdict})"
    return f"{verdict} since {_position(comparison, since)}" + (f" (was {before})" if before else "")


def reading(comparison: Comparison, seeds: int) -> list[str]:
    """Lines under the table: what ± and the ``vs`` column mean, the metric's noise."""
    p = comparison.primary
    up_to = "up to " if comparison.sequential else ""  # --until-resolved: each row has its own seeds
    out = [f"± is the 95% confidence interval of the mean over {up_to}{seeds} seeds (Student t)" if seeds > 1
           else "n=1, no CI: one seed per cell (set seeds = 3 or more for intervals and verdicts)"]
    if p is not None and not comparison.note:
        margin = comparison.margin
        equivalent = (f"equivalent by two one-sided tests within ±{margin:.3g} ({comparison.margin_source}); "
                      if margin else f"no equivalence verdicts ({comparison.margin_source}); ")
        count = len(comparison.contrasts)
        family = f"{count} comparison{'' if count == 1 else 's'}"
        if comparison.also:
            family = (f"{family} on {1 + len(comparison.also)} metrics ("
                      f"{', '.join(m.column.key for m in comparison.also)} too, compare.also: the table below)")
        out.append(f"vs {comparison.reference}: paired difference of {p.title or p.key} ({comparison.why_primary}) "
                   f"with its 95% CI; better/worse by paired t-test, {equivalent}Holm-corrected together over "
                   f"{family} at 5%")
        out += _sequential_reading(comparison) + _equivalence_reach(comparison) + _curve_reading(comparison)
    elif comparison.note:
        out.append(comparison.note)
    noise = comparison.noise
    if noise and p is not None and p.key in noise["sd"]:
        sd = noise["sd"][p.key]
        out.append(f"metric noise: {p.title or p.key} of real vs real images at n={noise['n']} varies with sd {sd:.2g} "
                   f"over {noise['draws']} draws (mean {noise['mean'][p.key]:.3g}); two samples of one distribution "
                   f"differ by up to ±{2 * 2 ** 0.5 * sd:.2g}")
    return out


def _equivalence_reach(comparison: Comparison) -> list[str]:
    """What equivalence cost, when no contrast could reach it: each contrast's 90% interval (the one two
    one-sided tests at 5% need inside ±margin) is wider than the margin, or lies wholly outside it (a
    difference larger than the margin), so every contrast keeps its "outside the margin" hypothesis open
    and the step-down corrects each better/worse p-value for every contrast (Bonferroni) instead of
    Holm's shrinking factors. The fix is the next grid's, set before it runs: changing the margin after
    seeing the data would be choosing the test by its result. With further metrics (compare.also), every
    metric's contrasts count, each against its own margin."""
    judged = [(comparison.margin, comparison.contrasts), *((m.margin, m.contrasts) for m in comparison.also)]
    total = sum(len(contrasts) for _, contrasts in judged)  # all count in the step-down, one-pair ones too
    if not comparison.margin or total < 2:
        return []
    for margin, contrasts in judged:
        for c in contrasts.values():
            if not margin or c.difference.half is None:
                continue
            df = c.difference.n - 1
            half = c.difference.half * t_quantile(df, 0.90) / t_quantile(df)
            if c.within_margin or (half < margin and abs(c.difference.mean) - half < margin):
                return []
    return [f"equivalence out of reach: each contrast's 90% interval is wider than ±{comparison.margin:.3g} or lies outside it"
            + (" (each metric's own margin)" if comparison.also else "")
            + f", so none can be equivalent and each better/worse p-value is corrected for all {total} contrasts "
            "(Bonferroni), not by Holm's shrinking factors; a grid that asks only better/worse sets "
            "compare.margin = 0 before it runs"]


def _sequential_reading(comparison: Comparison) -> list[str]:
    seq = comparison.sequential
    if not seq:
        return []
    looks, pairs = seq["looks"], sorted({c.difference.n for c in comparison.contrasts.values()})
    spread = f" (contrasts with {pairs[0]} to {pairs[-1]} pairs)" if len(pairs) > 1 else ""
    out = [f"seeds added until resolved (--until-resolved){spread}: looks at {', '.join(map(str, looks))} pairs; each "
           f"p-value is {len(looks)} x its smallest over the looks (Bonferroni), so the grid's error rate stays at 5%"]
    if seq.get("after_fixed_look"):
        out.append("the seeds were added after the grid had run to its end on its own seeds and printed verdicts: this "
                   "5% holds if they would have been added whatever that table said; added because it left contrasts "
                   "open, that table and this one together hold at 10% (decide on --until-resolved before the first run)")
    return out


def _curve_reading(comparison: Comparison) -> list[str]:
    out = []
    if comparison.history:
        axis = _AXES[comparison.history_axis]
        out.append(f"verdicts over training (the table below): each contrast {axis.every}{axis.why}, judged as if "
                   f"training had stopped there, and since which {axis.unit} its last verdict has held (`--json` has every point)")
    if comparison.learning:
        learning = [n for n, t in comparison.learning.items() if t.still_learning]
        out.append(f"still learning: {', '.join(learning) or 'none'} (the slope of the last curve points excludes 0 on "
                   "the improving side, docs/benchmark.md); a verdict between cells still learning says (still learning)")
    if comparison.curve_note:
        out.append(comparison.curve_note)
    return out
