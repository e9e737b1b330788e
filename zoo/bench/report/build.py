"""The report in memory: rows, charts and sample grids read from ``results/zoo.db`` and the run folders,
plus the pieces both renderings (Markdown and HTML) share."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zoo
from zoo.bench.history import attach
from zoo.bench.report.charts import curve_chart, loss_chart, metric_chart
from zoo.bench.runner import DB_NAME
from zoo.bench.store import Store
from zoo.bench.table import (
    COST_COLUMNS,
    Column,
    Row,
    best,
    build_rows,
    fmt,
    overrides_text,
    sort_rows,
    table_columns,
)
from zoo.bench.verdicts import Comparison, comparison_of
from zoo.bench.wording import reading
from zoo.curves.compare import At, grid_curves
from zoo.errors import UserError, did_you_mean
from zoo.runtime.io import read_log

if TYPE_CHECKING:
    from zoo.registry import Registry

CURVE_CAPTION = ("metric of the EMA weights during training against optimisation steps (left) and training minutes "
                 "(right, scoring excluded): mean over seeds, band from the lowest to the highest seed; dashed: the "
                 "floor, real train vs real test images at the same n")
PHASES = (  # (timings key, what it covers)
    ("prepare", "data preparation (once per dataset)"),
    ("references", "floor and ceiling reference rows"),
    ("train", "training, summed over cells (model build, steps, checkpoints)"),
    ("train_steps", "&nbsp;&nbsp;of which optimisation steps"),
    ("curve", "&nbsp;&nbsp;of which learning-curve scoring"),
    ("sample", "sampling, summed over cells"),
    ("evaluate", "scoring, summed over cells (features, metrics)"),
)


@dataclass
class Image:
    """One PNG of the report: its file name in ``img/``, a title and its bytes."""

    file: str
    title: str
    png: bytes
    caption: str = ""


@dataclass
class Report:
    grid: dict[str, Any]  # one entry of Store.grids(): grid, path, description, timings, updated
    db: Path
    rows: list[Row]
    refs: list[Row]
    columns: tuple[Column, ...] = ()  # the cost columns, then those of the metrics the grid asks for
    comparison: Comparison | None = None  # every variant against the grid's reference
    charts: list[Image] = field(default_factory=list)
    loss: Image | None = None
    samples: list[Image] = field(default_factory=list)
    curves: list[Image] = field(default_factory=list)  # one per learning-curve metric (zoo.curves.compare)
    at: At | None = None  # the table ranks learning-curve points at this time/step instead of final scores
    failed: list[tuple[str, str]] = field(default_factory=list)  # (cell label, error)
    data: dict[str, str | None] = field(default_factory=dict)  # dataset scored on -> its attribution or None
    generated: str = ""
    version: str = ""

    @property
    def name(self) -> str:
        return self.grid["grid"]

    def images(self) -> list[Image]:
        return [*self.charts, *([self.loss] if self.loss else []), *self.curves, *self.samples]


# -- reading the database ---------------------------------------------------------------------------
def open_store(results: str | Path) -> Store:
    """The results database of ``results`` (never created here: a missing one is a user mistake)."""
    db = Path(results) / DB_NAME
    if not db.is_file():
        raise UserError(f"no results database at {db}; run `zoo benchmark --grid FILE --results {results}` first "
                        "(or pass --results DIR of an earlier run)")
    return Store(db)


def pick_grid(store: Store, name: str | None) -> dict[str, Any]:
    """The grid called ``name``, or the most recently run one."""
    grids = store.grids()
    if not grids:
        raise UserError(f"{store.path} holds no grid; run `zoo benchmark --grid FILE --results {store.path.parent}` first")
    if name is None:
        return grids[0]
    for g in grids:
        if g["grid"] == name:
            return g
    known = [g["grid"] for g in grids]
    raise UserError(f"no grid '{name}' in {store.path}{did_you_mean(name, known)}; grids there: {', '.join(known)}")


def _run_file(results: Path, run_dir: str, name: str) -> Path | None:
    """A file of a run folder: ``results/runs/<hash>/`` first, then the folder as the database recorded it
    (relative to wherever the benchmark ran, so it may not resolve from here)."""
    for folder in (results / "runs" / Path(run_dir).name, Path(run_dir)):
        if (folder / name).is_file():
            return folder / name
    return None


def slug(text: str) -> str:
    """``text`` as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "cell"


# -- the report, in memory --------------------------------------------------------------------------
def build_report(results: str | Path, registry: Registry, grid: str | None = None, sort: str | None = None,
                 at: At | None = None) -> Report:
    """Everything the report shows, read from ``results/zoo.db`` and the run folders beside it; ``at``
    ranks the table at a point of the learning curves (``--at minutes=M``)."""
    results = Path(results)
    store = open_store(results)
    info = pick_grid(store, grid)
    rows, refs = build_rows(store, info["grid"], at)
    rows = sort_rows(rows, sort, registry)
    cells = store.grid_cells(info["grid"])
    if not any(c["status"] == "done" for c in cells):
        counts = {s: sum(1 for c in cells if (c["status"] or "pending") == s) for s in ("failed", "pending")}
        raise UserError(f"grid '{info['grid']}' has no finished cell in {store.path} ({counts['failed']} failed, "
                        f"{counts['pending']} not run); run `zoo benchmark --grid {info['path']} --results {results}` first")
    columns = table_columns(rows, registry)
    comparison = attach(comparison_of(store, info["grid"], rows, columns), store, info["grid"], columns, at)
    report = Report(info, store.path, rows, refs, columns, comparison,
                    version=zoo.__version__, generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    report.failed = [(c["label"], c["error"] or "") for c in cells if c["status"] == "failed"]
    report.data = {c["record"]["eval"]["dataset"]: c["record"]["eval"].get("attribution") for c in cells
                   if c["status"] == "done" and c["record"] and "dataset" in c["record"]["eval"]}
    report.at = at
    report.curves = [Image(f"curve-{slug(metric)}.png", f"{metric} learning curve", png, CURVE_CAPTION)
                     for metric, series, floor in grid_curves(store, info["grid"])
                     if (png := curve_chart(series, metric, floor)) is not None]
    for column in columns[len(COST_COLUMNS):]:
        if (png := metric_chart(rows, refs, column)) is not None:
            report.charts.append(Image(f"{column.key}.png", column.header, png))
    _add_runs(report, results, cells)
    return report


def _add_runs(report: Report, results: Path, cells: list[dict[str, Any]]) -> None:
    """The sample grid of every distinct run, in the order of the (possibly sorted) rows, and their loss curves."""
    order = {r.name: i for i, r in enumerate(report.rows)}
    runs = sorted((c for c in cells if c["status"] == "done" and not c["duplicate_of"]),
                  key=lambda c: (order.get(c["name"], len(order)), c["position"]))
    curves, used = [], set()
    for c in runs:
        log = _run_file(results, c["run_dir"], "log.jsonl")
        if log is not None:
            curves.append((c["label"], c["name"], read_log(log)))
        png = _run_file(results, c["run_dir"], "samples.png")
        if png is None:
            continue
        file = f"samples-{slug(c['label'])}.png"
        if file in used:
            file = f"samples-{slug(c['label'])}-{c['hash']}.png"
        used.add(file)
        aliases = [d["label"] for d in cells if d["duplicate_of"] == c["label"]]
        report.samples.append(Image(file, c["label"], png.read_bytes(), _sample_caption(c, aliases)))
    if (png := loss_chart(curves)) is not None:
        report.loss = Image("loss.png", "loss curves", png, "training loss of every run (log scale), from log.jsonl")


def _sample_caption(cell: dict[str, Any], aliases: list[str]) -> str:
    record = cell["record"]
    fid = record["eval"]["rows"][0]["values"].get("fid") if record else None
    n = record["eval"]["rows"][0]["n_fake"] if record else None
    caption = " · ".join([overrides_text(cell["overrides"]), *([f"FID {fmt(fid)}"] if fid is not None else []),
                          *([f"n={n}"] if n else [])])
    if aliases:
        caption += " · same run as " + ", ".join(aliases)
    return caption


# -- shared pieces of the two renderings ------------------------------------------------------------
def bests(report: Report) -> dict[str, float | None]:
    """The best value of each column over the report's rows."""
    return {c.key: best(report.rows, c) for c in report.columns}


def caption(report: Report) -> str:
    """How to read the table."""
    counts = sorted({r.n for r in [*report.rows, *report.refs] if r.n})
    n = "n = " + "/".join(str(c) for c in counts) + " generated samples per score" if counts else "no scores yet"
    if identity := next((r.feature_identity for r in report.rows if r.feature_identity), None):
        n += f", features {identity}"
    seeds = max((len(r.seeds) for r in report.rows), default=1)
    spread = ". ".join(reading(report.comparison, seeds)) if report.comparison else ""
    at = (f"Scores of the learning-curve points {report.at.label} (scoring time excluded), not of the final "
          "evaluation. ") if report.at else ""
    return (f"{at}{n}. Best value of each column in green (bold in Markdown); arrows say which way is better; "
            f"(≈ real) is best closest to the real data's value. {spread}. The floor row scores real training images "
            "against the real test images, the ceiling row uniform noise, with the same extractor and n: a model "
            "near the floor is as good as this evaluation can tell, one near the ceiling learned nothing. "
            "A \"same as X\" row has the same resolved spec as X, so it was run once.")


def data_line(report: Report) -> str:
    """The datasets of the grid, each with the credit its licence asks for (one line; empty when unknown)."""
    return "; ".join(f"{name} ({credit})" if credit else name for name, credit in report.data.items())


def timing_rows(timings: dict[str, float] | None) -> list[tuple[str, str, float, float]]:
    """(key, label, seconds, share) of the last run, overhead (everything that is neither an optimisation step
    nor sampling) included.

    Shares are of the work: the phases summed over cells. One cell at a time, that is the wall clock; with
    cells in parallel (``--jobs``) the summed phases exceed it, and a share of the wall clock would pass 100%
    and hide the overhead, so the last row then says how many cells' worth of work the wall clock held."""
    if not timings or not timings.get("total"):
        return []
    total = timings["total"]
    summed = sum(timings.get(k, 0.0) for k in ("prepare", "references", "train", "sample", "evaluate"))
    work = summed if summed > 1.05 * total else total  # 5%: the timers' own overlap in a serial run
    rows = [(k, label, timings[k], timings[k] / work) for k, label in PHASES if k in timings]
    overhead = max(work - timings.get("train_steps", 0.0) - timings.get("sample", 0.0) - timings.get("curve", 0.0), 0.0)
    measured = " and sampling" if not timings.get("curve") else ", sampling and curve scoring"
    rows.append(("overhead", f"overhead: everything but optimisation steps{measured}", overhead, overhead / work))
    if work > total:
        rows.append(("total", f"total wall clock (cells in parallel: {work / total:.2f} cells' work at a time)", total, total / work))
    else:
        rows.append(("total", "total wall clock", total, 1.0))
    return rows


def seconds(s: float) -> str:
    """A duration in the unit that reads best."""
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def status(row: Row, comparison: Comparison | None = None) -> str:
    """A row's status, its error and, with learning curves, whether it was still learning."""
    text = row.status + (" · still learning" if comparison is not None and comparison.still_learning(row.name) else "")
    return f"{text}: {row.error}" if row.error else text
