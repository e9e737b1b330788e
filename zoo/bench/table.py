"""The comparison table of a grid: one row per cell (mean ± std over seeds), the floor and ceiling
reference rows, the best value of each column highlighted. Built from the results database only,
so ``zoo benchmark`` and ``zoo report`` show the same numbers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from zoo.bench.row import COST_COLUMNS, Column, Row
from zoo.bench.row import COST_KEYS as _COST_KEYS
from zoo.bench.runner import noise_key, reference_key
from zoo.bench.store import Store
from zoo.curves.compare import At, points_at, rewind
from zoo.errors import UserError, did_you_mean

if TYPE_CHECKING:
    from zoo.bench.verdicts import Comparison
    from zoo.registry import Registry


def table_columns(rows: list[Row], registry: Registry) -> tuple[Column, ...]:
    """The cost columns, then the columns of every metric the rows' grid asks for, as each metric
    describes itself (built-in or plugin)."""
    from zoo.metrics.columns import metric_columns

    return COST_COLUMNS + metric_columns((m for r in rows for m in r.metrics), registry)


def _values_of(record: dict[str, Any]) -> dict[str, float]:
    train, scores = record["train"], record["eval"]["rows"][0]["values"]
    return {
        "params": train["parameters"] / 1e6,
        "gflops": train["flops_per_image"] / 1e9,
        "train_ips": train["images_per_s"],
        "sample_spi": record["sample_seconds_per_image"],
        **{k: v for k, v in scores.items() if v is not None},
    }


def build_rows(store: Store, grid: str, at: At | None = None) -> tuple[list[Row], list[Row]]:
    """(cell rows, reference rows) of ``grid``: the final scores, or the learning-curve points ``at``
    a training time or step (:mod:`zoo.curves.compare`)."""
    cells = store.grid_cells(grid)
    if not cells:
        known = [g["grid"] for g in store.grids()]
        raise UserError(f"no grid '{grid}' in {store.path}{did_you_mean(grid, known)}; grids there: {', '.join(known) or 'none'}")
    by_label = {c["label"]: c for c in cells}
    rows: dict[str, Row] = {}
    refs: list[Row] = []
    ref_keys = set()
    statuses: dict[str, list[str]] = {}
    at_points = points_at(store, grid, at) if at is not None else None
    scored_with: dict[str, list[str]] = {}  # extractor identity -> what was scored with it
    for c in cells:
        source = by_label[c["duplicate_of"]] if c["duplicate_of"] else c
        row = rows.setdefault(c["name"], Row(c["name"], c["overrides"], [], "pending", variant=c["variant"]))
        record, spec = source["record"], source["spec"]
        if at_points is not None:
            record, spec = rewind(record, spec, at_points[c["label"]])
        if spec is not None:  # None: the cell has not run yet
            row.metrics = list(dict.fromkeys([*row.metrics, *spec["eval"]["metrics"]]))
        row.seeds.append(c["seed"])
        status = source["status"] or "pending"
        statuses.setdefault(c["name"], []).append(status)
        row.status = _row_status(statuses[c["name"]], c["duplicate_of"], len(row.seeds))
        if status == "failed":
            row.error = source["error"]
        if status != "done" or not record:
            continue
        for key, value in _values_of(record).items():
            row.values.setdefault(key, []).append(value)
            row.per_seed.setdefault(c["seed"], {})[key] = value
        row.n, row.n_real = record["eval"]["rows"][0]["n_fake"], record["eval"]["rows"][0].get("n_real")
        row.samples_png = row.samples_png or f"{source['run_dir']}/samples.png"  # the first seed's
        row.log = row.log or f"{source['run_dir']}/log.jsonl"
        e, ev = spec["eval"], record["eval"]
        row.ref_key = reference_key(ev["data_hash"], ev["feature"], e["n"], e["metrics"], e["seed"])
        ref_keys.add(row.ref_key)
        if ev.get("feature_identity"):  # absent only in records of zoo <= 0.1
            row.feature_identity = ev["feature_identity"]
            scored_with.setdefault(ev["feature_identity"], []).append(c["label"])
    _one_extractor(store, grid, scored_with, ref_keys)
    for key in sorted(ref_keys):
        for ref in store.references(key) or []:
            r = Row(ref["name"], {}, [], "reference", n=ref["n_fake"])
            for k, v in ref["values"].items():
                if v is not None:
                    r.values[k] = [v]
            refs.append(r)
    return list(rows.values()), refs


def _one_extractor(store: Store, grid: str, scored_with: dict[str, list[str]], ref_keys: set[str]) -> None:
    """Refuse a table whose cells (or reference rows) were scored with different extractors: a grid resumed
    across a change of the shipped network, or results of two zoo versions in one folder. Their numbers live
    in different feature spaces, so no ranking or verdict between them means anything (docs/metrics.md)."""
    for key in sorted(ref_keys):
        for ref in [*(store.references(key) or []), *(store.references(noise_key(key)) or [])]:
            if ref.get("feature_identity"):
                scored_with.setdefault(ref["feature_identity"], []).append(f"reference row '{ref.get('name', 'metric noise')}'")
    if len(scored_with) > 1:
        found = "; ".join(f"{identity}: {len(what)} ({', '.join(what[:2])}{', ...' if len(what) > 2 else ''})"
                          for identity, what in sorted(scored_with.items(), key=lambda kv: -len(kv[1])))
        raise UserError(f"grid '{grid}' in {store.path} was scored with {len(scored_with)} different feature extractors "
                        f"({found}), whose numbers cannot be compared; run the grid again into a new --results folder "
                        "so every cell and reference is scored with one")


def _row_status(statuses: list[str], duplicate_of: str | None, seeds: int) -> str:
    """One status for a row's seeds: done only when every seed is; a failure wins over pending."""
    if all(s == "done" for s in statuses):
        if duplicate_of:
            return f"same as {duplicate_of.split(' [seed')[0]}"
        return "done"
    if "failed" in statuses:
        return "failed" if seeds == 1 else f"failed ({statuses.count('failed')} of {seeds} seeds)"
    return "pending"


def best(rows: list[Row], column: Column) -> float | None:
    values = [(r.mean(column.key), r) for r in rows if r.mean(column.key) is not None]
    if not values or not column.better:
        return None
    if column.better == "low":
        return min(v for v, _ in values)
    if column.better == "high":
        return max(v for v, _ in values)
    return min(values, key=lambda vr: abs(vr[0] - (vr[1].target(column) or vr[0])))[0]


def sort_rows(rows: list[Row], key: str | None, registry: Registry) -> list[Row]:
    """Best first by the column ``key`` (its metric says which way is better); rows without a value last."""
    if key is None:
        return rows
    columns = {c.key: c for c in table_columns(rows, registry)}
    if key not in columns:
        raise UserError(f"cannot sort by '{key}'{did_you_mean(key, columns)}; columns: {', '.join(columns)}")
    column = columns[key]

    def order(row: Row) -> tuple[int, float]:
        value = row.mean(key)
        if value is None:
            return (1, 0.0)
        if column.better == "real":
            return (0, abs(value - (row.target(column) or value)))
        return (0, -value if column.better == "high" else value)

    return sorted(rows, key=order)


def fmt(value: float | None, std: float | None = None, digits: int = 3) -> str:
    if value is None:
        return "-"
    text = f"{value:.0f}" if digits == 0 else (f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}")
    if std is not None and not math.isnan(std):
        text += f" ± {std:,.0f}" if abs(std) >= 100 else f" ± {std:.2g}"
    return text


def overrides_text(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in overrides.items()) or "(base)"


def cell_text(row: Row, column: Column, bests: dict[str, float | None]) -> tuple[str, str, bool]:
    """(text, note, is best) of one table cell, shared by the terminal table and the report."""
    value = row.mean(column.key)
    text = fmt(value, row.ci(column.key) if column.key not in _COST_KEYS else None, column.digits)
    note = ""
    if row.target(column) is not None and row.status != "reference":
        note = f"real {fmt(row.target(column))}"
    is_best = row.status != "reference" and value is not None and value == bests[column.key]
    return text, note, is_best


def render(rows: list[Row], refs: list[Row], title: str, registry: Registry,  # noqa: ANN201
           comparison: Comparison | None = None):
    """A rich Table; with a comparison, a ``vs <reference>`` column and its reading under the table."""
    from rich.table import Table

    from zoo.bench.wording import contrast_text, reading

    columns = table_columns(rows, registry)
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("cell")
    table.add_column("overrides", style="dim", max_width=34)
    for c in columns:
        table.add_column(c.header, justify="right")
    if comparison is not None:
        table.add_column(f"vs {comparison.reference}", justify="right")
    table.add_column("status")
    bests = {c.key: best(rows, c) for c in columns}
    for row in [*rows, *refs]:
        cells = []
        for c in columns:
            text, note, is_best = cell_text(row, c, bests)
            text += f" ({note})" if note else ""
            cells.append(f"[bold green]{text}[/]" if is_best else text)
        if comparison is not None:
            cells.append(_verdict_markup(contrast_text(comparison, row)) if row.status != "reference" else "")
        status = row.status + (" · still learning" if comparison is not None and comparison.still_learning(row.name) else "")
        style = {"done": "green", "failed": "red", "pending": "yellow", "reference": "cyan"}.get(status.split()[0], "")
        if row.error:
            status += f": {row.error[:60]}"
        name = f"[cyan]{row.name}[/]" if row.status == "reference" else row.name
        table.add_row(name, overrides_text(row.overrides) if row.status != "reference" else "",
                      *cells, f"[{style}]{status}[/]" if style else status, end_section=row is rows[-1] and bool(refs))
    n = next((r.n for r in [*rows, *refs] if r.n), None)
    identity = next((r.feature_identity for r in rows if r.feature_identity), None)
    seeds = max((len(r.seeds) for r in rows), default=1)
    lines = [f"n = {n} samples per score" + (f", features {identity}" if identity else "") + "; best value per column in "
             "green; (≈ real): best closest to the real data's value. Floor and ceiling rows: what a perfect model and "
             "pure noise score with the same extractor and n."]
    lines += reading(comparison, seeds) if comparison is not None else []
    table.caption = "\n".join(lines)
    return table


def render_history(comparison: Comparison | None):  # noqa: ANN201
    """The verdicts over training, a rich Table to print under the main one; None without curve verdicts."""
    from rich.table import Table

    from zoo.bench.wording import history_headers, history_lines, history_title

    if comparison is None or not comparison.history:
        return None
    table = Table(title=history_title(comparison), header_style="bold", title_justify="left")
    for header in history_headers(comparison):
        table.add_column(header)
    for line in history_lines(comparison):
        table.add_row(*line)
    return table


def render_metric_verdicts(comparison: Comparison | None):  # noqa: ANN201
    """The verdicts on every metric (a grid with compare.also), a rich Table; None without further metrics."""
    from rich.table import Table

    from zoo.bench.wording import metric_verdict_lines

    headers, lines = metric_verdict_lines(comparison) if comparison is not None else ([], [])
    if not headers:
        return None
    table = Table(title=f"verdicts on every metric, vs {comparison.reference}, corrected together", header_style="bold",
                  title_justify="left")  # fmt: skip
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for name, *cells in lines:
        table.add_row(name, *map(_verdict_markup, cells))
    return table


def _verdict_markup(text: str) -> str:
    verdict = text.split("] ", 1)[-1]
    colour = ("green" if verdict.startswith("better") else "red" if verdict.startswith("worse")
              else "cyan" if verdict.startswith("equivalent") else "")
    return f"[{colour}]{text}[/]" if colour else text

