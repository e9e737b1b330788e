"""An evaluation as terminal tables: the scores (one column per compared row: samples, floor, ceiling)
and, with a classifying extractor, the images per predicted class."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from zoo.metrics.evaluate import SAMPLES, EvalResult

READING = (
    "Samples should sit near the floor, far from the ceiling. Compare only numbers with the same extractor, "
    "dataset and n (docs/metrics.md)."
)


@dataclass(frozen=True)
class _Line:
    key: str
    title: str
    render: Callable[[dict[str, float]], str]


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _plus_minus(key: str) -> Callable[[dict[str, float]], str]:
    def render(values: dict[str, float]) -> str:
        if key not in values:
            return "-"
        std = values.get(f"{key}_std")
        return _num(values[key], 3) + ("" if std is None or math.isnan(std) else f" ± {_num(std, 2)}")

    return render


_LINES = (
    _Line("fid", "FID ↓", lambda v: _num(v.get("fid"))),
    _Line("kid", "KID ↓ (± std)", _plus_minus("kid")),
    _Line("is", "IS (± std)", _plus_minus("is")),
    _Line("diversity", "diversity (≈ real)", lambda v: _num(v.get("diversity"), 3)),
    _Line("diversity_real", "diversity of real", lambda v: _num(v.get("diversity_real"), 3)),
    _Line("precision", "precision ↑", lambda v: _num(v.get("precision"), 3)),
    _Line("recall", "recall ↑", lambda v: _num(v.get("recall"), 3)),
)
_KNOWN = {line.key for line in _LINES} | {"kid_std", "is_std"}


def _caption(result: EvalResult) -> str:
    lines = [READING]
    lines += [f"skipped {name}: {why}" for name, why in result.skipped.items()]
    return "\n".join(lines)


def result_table(result: EvalResult) -> Table:
    """A rich table: one column per row of the evaluation (samples, floor, ceiling), one line per score.

    Transposed so it fits a terminal and each score reads across from samples to its references.
    """
    title = f"{result.dataset}: features '{result.feature}' ({result.feature_identity})"
    table = Table(title=title, caption=_caption(result), caption_justify="left")
    table.add_column("score")
    for row in result.rows:
        table.add_column(f"[bold]{row.name}[/]" if row.name == SAMPLES else row.name, justify="right")
    table.add_row("n fake / n real", *(f"{row.n_fake:,} / {row.n_real:,}" for row in result.rows), end_section=True)
    for line in _LINES:
        if any(line.key in row.values for row in result.rows):
            table.add_row(line.title, *(line.render(row.values) for row in result.rows))
    for key in sorted({k for row in result.rows for k in row.values} - _KNOWN):  # a plugin metric's own keys
        table.add_row(key, *(_num(row.values.get(key)) for row in result.rows))
    return table


def class_table(result: EvalResult) -> Table | None:
    """Predicted-class counts per row (a dropped mode shows as a 0), or None without a classifier."""
    rows = [row for row in result.rows if row.class_counts]
    if not rows:
        return None
    k = len(rows[0].class_counts or [])
    table = Table(title="images per predicted class")
    table.add_column("row", no_wrap=True)
    if k > 20:
        table.add_column("classes used", justify="right")
        table.add_column("largest class", justify="right")
        for row in rows:
            counts = row.class_counts or []
            table.add_row(row.name.split(":")[0], f"{sum(c > 0 for c in counts)} of {k}", f"{max(counts)} of {sum(counts)}")
        return table
    for c in range(k):
        table.add_column(str(c), justify="right")
    for row in rows:
        table.add_row(row.name.split(":")[0], *("[red]0[/]" if n == 0 else str(n) for n in row.class_counts or []))
    return table


def render_result(result: EvalResult, console: Any = None) -> None:
    """Both tables to ``console`` (a rich Console; stdout by default)."""
    console = console or Console()
    console.print(result_table(result))
    classes = class_table(result)
    if classes is not None:
        console.print(classes)
