"""Runs a grid: prepares each dataset once, computes the reference rows once, sends the cells that
are not done to an executor and records every outcome (a failure included) as it arrives.

One grid at a time per results folder: a run holds an OS lock on ``RESULTS/.zoo.lock`` for its whole
life (it dies with the process, so a killed run never blocks the next), and a second run on the same
folder stops at once with a one-line message instead of training the same cells again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.bench.executors import Executor, LocalExecutor
from zoo.bench.grid import Grid
from zoo.bench.store import Store
from zoo.runtime.io import exclusive
from zoo.runtime.progress import progress_bar

DB_NAME = "zoo.db"
LOCK_NAME = ".zoo.lock"


@dataclass
class GridOutcome:
    ran: int
    skipped: int  # already done (or duplicates of a cell in this grid)
    failed: int
    seconds: float


def reference_key(data_hash: str, feature: str, n: int, metrics: list[str] | tuple[str, ...], seed: int) -> str:
    text = json.dumps([data_hash, feature, n, list(metrics), seed])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def noise_key(key: str) -> str:
    """Where the metric-noise estimate of the references under ``key`` is stored."""
    return f"noise-{key}"


def compute_references(store: Store, grid: Grid) -> None:
    """The floor (real train vs real test) and ceiling (uniform noise) rows and the metrics' own noise
    (zoo.metrics.noise), with the same extractor, metrics and n as the cells' final scores and their
    learning-curve points, once per distinct (data, extractor, n, metrics). Each row records the
    extractor identity; rows of another (or an unrecorded) identity are computed again, so the table
    never sets cells beside references measured with another yardstick (zoo.bench.table)."""
    from zoo.data.prepare import prepare
    from zoo.metrics.evaluate import build_extractor, reference_rows
    from zoo.metrics.noise import metric_noise

    identities: dict[str, str] = {}
    for cell in grid.unique():
        e, data, registry = cell.spec.eval, prepare(cell.spec.data, cell.spec.registry), cell.spec.registry
        feature = e.feature or data.default_feature
        if feature not in identities:
            identities[feature] = build_extractor(feature).identity()
        identity = identities[feature]
        scored = [(e.n, e.metrics)] + ([(e.curve_n, e.curve_metrics)] if e.curve_every is not None else [])
        for n, metrics in scored:  # the final scores, and the learning-curve points (zoo.curves.score)
            key = reference_key(data.hash, feature, n, metrics, e.seed)
            if not _measured_with(store.references(key), identity):
                result = reference_rows(data, n, feature=feature, metrics=metrics, seed=e.seed, registry=registry)
                rows = [{**row.to_dict(), "feature_identity": result.feature_identity} for row in result.rows]
                store.save_references(key, grid.name, rows)
            if not _measured_with(store.references(noise_key(key)), identity):  # the instrument's own noise at that n
                noise = metric_noise(data, n, feature=feature, metrics=metrics, registry=registry)
                store.save_references(noise_key(key), grid.name, [{**noise, "feature_identity": identity}])


def _measured_with(rows: list[dict[str, Any]] | None, identity: str) -> bool:
    return bool(rows) and all(row.get("feature_identity") == identity for row in rows)


def run_grid(
    grid: Grid,
    results: str | Path = "results",
    *,
    executor: Executor | None = None,
    progress: bool = True,
    console: Any = None,
) -> GridOutcome:
    """Run every cell of ``grid`` not yet done; results go to ``results/zoo.db``, runs to ``results/runs/``."""
    results = Path(results)
    busy = (f"another `zoo benchmark` is running on the results folder '{results}' (it holds {results / LOCK_NAME}); "
            "wait for it to finish or pass another --results (`zoo benchmark --table` and `zoo report` can read the "
            "folder meanwhile)")
    with exclusive(results / LOCK_NAME, busy):
        return _run_locked(grid, results, executor=executor, progress=progress, console=console)


def _run_locked(grid: Grid, results: Path, *, executor: Executor | None, progress: bool, console: Any) -> GridOutcome:
    from zoo.data.prepare import prepare

    started = time.perf_counter()
    store = Store(results / DB_NAME)
    store.register_grid(grid)
    executor = executor or LocalExecutor()
    timings: dict[str, float] = {}

    tick = time.perf_counter()
    for spec in {json.dumps(c.spec.data.__dict__, sort_keys=True, default=list): c.spec for c in grid.unique()}.values():
        prepare(spec.data, spec.registry, progress=progress)
    timings["prepare"] = time.perf_counter() - tick

    pending = [c for c in grid.unique() if store.status(c.hash) != "done"]
    skipped = len(grid.cells) - len(pending)
    jobs = [(c.hash, c.spec.to_dict(), str(results / "runs" / c.hash)) for c in pending]
    by_hash = {c.hash: c for c in pending}
    failed = 0
    cell_times = {"train": 0.0, "train_steps": 0.0, "curve": 0.0, "sample": 0.0, "evaluate": 0.0}
    bar = progress_bar(progress, console=console)
    with bar:
        overall = bar.add_task(f"grid {grid.name}", total=len(grid.cells), completed=skipped, info="")
        per_cell = bar if isinstance(executor, LocalExecutor) and executor.jobs == 1 else None
        if pending:
            bar.update(overall, info=f"running {by_hash[jobs[0][0]].label}")
        for key, outcome in executor.run(jobs, progress=per_cell):
            cell = by_hash[key]
            if outcome["status"] == "done":
                for phase in cell_times:
                    cell_times[phase] += outcome["record"]["timings"].get(phase, 0.0)
            else:
                failed += 1
                bar.console.print(f"[red]cell '{cell.label}' failed:[/] {outcome['error']}")
            store.save_result(key, cell.spec.to_dict(), status=outcome["status"], run_dir=str(results / "runs" / key),
                              record=outcome.get("record"), error=outcome.get("error"))
            store.save_curve(key, outcome.get("curve", []))
            bar.update(overall, advance=1 + sum(1 for c in grid.cells if c.duplicate_of == cell.label),
                       info=f"{cell.label}: {outcome['status']}")
        tick = time.perf_counter()
        compute_references(store, grid)
        timings["references"] = time.perf_counter() - tick
    timings.update(cell_times)
    timings["total"] = time.perf_counter() - started
    if pending:
        store.set_timings(grid.name, timings)
    return GridOutcome(ran=len(pending) - failed, skipped=skipped, failed=failed, seconds=timings["total"])
