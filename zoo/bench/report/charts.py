"""The report's charts as PNG bytes (matplotlib, imported only when a chart is drawn): one bar chart per
metric against the floor and ceiling, the loss curves of every run, and the learning curves."""

from __future__ import annotations

import io
from typing import Any

from zoo.bench.table import Column, Row, best, fmt
from zoo.curves.compare import Series

BEST_COLOUR, BAR_COLOUR = "#2e9e44", "#7b9cc4"
FLOOR_STYLE = {"color": "#333333", "linestyle": "--", "linewidth": 1.2}
CEILING_STYLE = {"color": "#c0392b", "linestyle": ":", "linewidth": 1.5}
REAL_STYLE = {"color": "#8e44ad", "linestyle": "-.", "linewidth": 1.2}


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def literal(text: str) -> str:
    """``text`` as matplotlib draws it literally: a ``$`` would start math text, and an invalid formula in a
    variant name would fail the whole report."""
    return text.replace("$", r"\$")


def ref_name(ref: Row, refs: list[Row]) -> str:
    """A reference row's name, with its n when the grid scored cells at several n (one floor/ceiling each)."""
    return f"{ref.name} (n={ref.n})" if len({r.n for r in refs}) > 1 else ref.name


def chart_rows(rows: list[Row], key: str) -> list[Row]:
    """The rows a chart shows: cells with a value, without the "same as X" duplicates (the same run)."""
    return [r for r in rows if r.status != "reference" and not r.status.startswith("same as") and r.mean(key) is not None]


def metric_chart(rows: list[Row], refs: list[Row], column: Column) -> bytes | None:
    """Bars of one metric (mean over seeds, error bar = its 95% CI when there are several seeds), the best
    bar green, the floor and ceiling (and for diversity the real data's value) as horizontal lines."""
    from matplotlib.figure import Figure

    shown = chart_rows(rows, column.key)
    if not shown:
        return None
    means = [r.mean(column.key) for r in shown]
    errors = [r.ci(column.key) or 0.0 for r in shown]
    top = best(shown, column)
    fig = Figure(figsize=(max(5.6, 1.6 + 0.62 * len(shown)), 3.9), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(range(len(shown)), means, yerr=errors if any(errors) else None, capsize=4, ecolor="#333333",
                  color=[BEST_COLOUR if m == top else BAR_COLOUR for m in means], zorder=2)
    labels = ax.bar_label(bars, labels=[fmt(m, None, column.digits) for m in means], padding=2, fontsize=8, zorder=4)
    for label in labels:
        label.set_bbox({"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85})
    _reference_lines(ax, shown, refs, column)
    names = [literal(r.name) for r in shown]
    tilt = len(names) > 6 or max(map(len, names)) > 12
    ax.set_xticks(range(len(shown)), names, fontsize=8, rotation=35 if tilt else 0, ha="right" if tilt else "center",
                  rotation_mode="anchor")
    ax.set_title(literal(column.header), fontsize=11, loc="left")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(y=0.12)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(fontsize=7.5, loc="outside lower center", ncol=2, frameon=False)
    return _png(fig)


def _reference_lines(ax: Any, shown: list[Row], refs: list[Row], column: Column) -> None:
    """The floor and ceiling (and for diversity the real data's value) as horizontal lines."""
    for ref in refs:
        value = ref.mean(column.key)
        if value is not None:
            style = FLOOR_STYLE if ref.name.startswith("floor") else CEILING_STYLE
            ax.axhline(value, label=literal(f"{ref_name(ref, refs)}: {fmt(value)}"), zorder=3, **style)
    if column.real:  # a "closest to real" metric: the real data's value
        for real in sorted({r.mean(column.real) for r in shown} - {None}):
            ax.axhline(real, label=f"real data: {fmt(real)}", zorder=3, **REAL_STYLE)


def loss_chart(curves: list[tuple[str, str, list[dict[str, Any]]]]) -> bytes | None:
    """Training loss against step of every run on one log-scale figure: (cell label, row name, log.jsonl
    lines) each; one colour per row, one line style per seed."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    curves = [(label, name, [r for r in log if r.get("loss") and r["loss"] > 0]) for label, name, log in curves]
    curves = [c for c in curves if c[2]]
    if not curves:
        return None
    names = list(dict.fromkeys(name for _, name, _ in curves))
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    seen: dict[str, int] = {}
    for label, name, log in curves:
        nth = seen[name] = seen.get(name, -1) + 1
        ax.plot([r["step"] for r in log], [r["loss"] for r in log], label=literal(label), color=palette(names.index(name) % 20),
                linestyle=("-", "--", ":", "-.")[nth % 4], marker="o" if len(log) < 20 else None, markersize=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (log scale)")
    ax.set_title("loss curves", fontsize=11, loc="left")
    ax.grid(which="both", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    fig.legend(fontsize=8, loc="outside right upper", frameon=False, ncol=1 + len(curves) // 24)
    return _png(fig)


def curve_chart(curves: list[Series], metric: str, floor: float | None = None) -> bytes | None:
    """One metric against steps (left) and training minutes (right): per variant the mean over seeds
    as a line and the range over seeds as a band; the floor (real vs real at the same n) dashed."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    if not curves:
        return None
    palette = colormaps["tab10" if len(curves) <= 10 else "tab20"]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for i, s in enumerate(curves):
        label = literal(s.name) + (f" ({s.seeds} seeds)" if s.seeds > 1 else "")
        for ax, x in zip(axes, (s.steps, s.minutes), strict=True):
            ax.plot(x, s.mean, color=palette(i % 20), marker="o" if len(x) < 25 else None, markersize=3,
                    label=label if ax is axes[0] else None)
            if s.seeds > 1:
                ax.fill_between(x, s.low, s.high, color=palette(i % 20), alpha=0.18, linewidth=0)
    for ax, xlabel in zip(axes, ("optimisation step", "training minutes (scoring excluded)"), strict=True):
        if floor is not None:
            ax.axhline(floor, label=f"floor: real vs real {fmt(floor)}" if ax is axes[0] else None, **FLOOR_STYLE)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel(metric)
    axes[0].set_title(f"{metric} of the EMA weights during training", fontsize=11, loc="left")
    fig.legend(fontsize=8, loc="outside right upper", frameon=False)
    return _png(fig)
