"""``zoo benchmark --until-resolved``: paired seeds added, round after round, to the contrasts a grid
could not decide, until every contrast is ``better``, ``worse`` or ``equivalent`` or the seeds run out.

A round gives every undecided contrast's row, and the reference row it is paired with, the next
``per_round`` seeds (seed k of every row is still paired: the same new seed numbers for all), then
runs the grid again: the runner skips what is done (results are keyed by spec hash), so a round
trains only its new cells, and an interrupted run resumes. The schedule of seed counts, hence the
number of looks, is fixed before the first look, which the verdicts' correction needs
(:mod:`zoo.bench.procedure`: Bonferroni over the looks, Holm over the contrasts); the grid's settings
in the results database carry it, so ``--table`` and ``zoo report`` judge the grid the same way.

A grid that already ran to its end without ``--until-resolved`` has had its own verdicts printed at the full
5%. The rounds' error rate stays at 5% only if they would have run whatever that table said. Run because it
left contrasts open, they make the procedure "quote the first table where it resolved, the rounds where it did
not", whose error rate is bounded by the sum of the two, 10%. Nothing here can tell why the rounds run, so the
plan records that they came after such a table (``after_fixed_look``) and the lines under the table say so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from zoo.bench.grid import Grid, load_grid
from zoo.bench.procedure import RESOLVED, looks_of, schedule
from zoo.bench.runner import DB_NAME, run_grid
from zoo.bench.stats import ALPHA
from zoo.bench.store import Store
from zoo.bench.table import build_rows, table_columns
from zoo.bench.verdicts import Comparison, comparison_of
from zoo.errors import UserError


def plan(grid: Grid, max_seeds: int, per_round: int) -> dict[str, Any]:
    """``{"seeds": every seed a cell may get, in order, "counts": seeds per cell after each round, "looks": pairs
    at each look}``: the grid's own seeds first, then new ones after its largest."""
    first = list(dict.fromkeys(c.seed for c in grid.cells))
    if per_round < 1:
        raise UserError(f"--seeds-per-round must be at least 1, got {per_round}")
    if max_seeds <= len(first):
        raise UserError(f"--max-seeds {max_seeds} adds no seed: grid '{grid.name}' already has {len(first)}; "
                        f"pass a larger number (e.g. --max-seeds {2 * len(first)})")
    seeds = first + list(range(max(first) + 1, max(first) + 1 + max_seeds - len(first)))
    counts = schedule(len(first), max_seeds, per_round)
    return {"seeds": seeds, "counts": counts, "looks": looks_of(counts)}


def after_fixed_look(results: Path, grid: Grid) -> bool:
    """Whether ``grid``'s verdicts were already printed from its own seeds before seeds are added: the results
    database holds the grid, not as a sequential one, with every one of its cells run (done or failed), so its
    run ended with the table. A sequential grid resumed after an interruption keeps what its plan recorded."""
    if not (results / DB_NAME).exists():
        return False
    store = Store(results / DB_NAME)
    record = store.grid(grid.name)
    if record is None:
        return False
    if "sequential" in record["settings"]:
        return bool(record["settings"]["sequential"].get("after_fixed_look"))
    cells = store.grid_cells(grid.name)
    return bool(cells) and all(c["status"] is not None for c in cells)


def round_grid(grid: Grid, sequential: dict[str, Any], have: dict[str, int]) -> Grid:
    """The grid with row ``name`` at its first ``have[name]`` seeds, carrying the sequential settings."""
    seeds = sequential["seeds"]
    full = load_grid(grid.path, grid.registry, seeds=seeds[: max(have.values())])
    cells, first_by_hash = [], {}
    for cell in full.cells:
        if seeds.index(cell.seed) < have[cell.name]:
            cells.append(dataclasses.replace(cell, duplicate_of=first_by_hash.get(cell.hash)))
            first_by_hash.setdefault(cell.hash, cell.label)
    plan_settings = {"seeds": seeds, "looks": sequential["looks"]}
    if sequential.get("after_fixed_look"):
        plan_settings["after_fixed_look"] = True
    settings = {**full.settings, "sequential": plan_settings}
    return dataclasses.replace(full, cells=cells, settings=settings)


def _judge(results: Path, grid: Grid) -> Comparison:
    store = Store(results / DB_NAME)
    rows, _ = build_rows(store, grid.name)
    return comparison_of(store, grid.name, rows, table_columns(rows, grid.registry))


def _summary(comparison: Comparison) -> str:
    """The round's verdicts by kind, per metric when the grid judges several (compare.also)."""

    def grouped(contrasts: dict[str, Any]) -> str:
        groups: dict[str, list[str]] = {}
        for name, c in contrasts.items():
            groups.setdefault(c.verdict, []).append(name)
        return " · ".join(f"{v}: {', '.join(groups[v])}" for v in (*RESOLVED, "no evidence") if v in groups) or "no contrast"

    if not comparison.also or comparison.primary is None:
        return grouped(comparison.contrasts)
    metrics = [(comparison.primary.key, comparison.contrasts), *((m.column.key, m.contrasts) for m in comparison.also)]
    return " | ".join(f"{key}: {grouped(contrasts)}" for key, contrasts in metrics)


def run_until_resolved(grid: Grid, results: str | Path, *, max_seeds: int, per_round: int = 2, console: Any,
                       **run: Any) -> Comparison:  # fmt: skip
    """Run ``grid``, then add seeds to its undecided contrasts round by round (``run``: run_grid's
    executor and progress); each round's verdicts go to ``console`` (stderr). Returns the last comparison."""
    results, sequential = Path(results), plan(grid, max_seeds, per_round)
    counts, looks = sequential["counts"], sequential["looks"]
    have = dict.fromkeys((c.name for c in grid.cells), counts[0])
    console.print(f"until resolved: up to {max_seeds} seeds per cell, {per_round} more a round; looks at "
                  f"{', '.join(map(str, looks))} pairs, each at alpha {ALPHA / len(looks):.3g} (5% / {len(looks)} looks), "
                  "Holm over the contrasts")
    if after_fixed_look(results, grid):
        sequential["after_fixed_look"] = True
        console.print(f"grid '{grid.name}' already ran to its end on its own seeds and printed verdicts at 5%: the "
                      "rounds' verdicts hold at 5% if they would have run whatever that table said; run because it "
                      "left contrasts open, the two tables together hold at 10% (5% + 5%)")
    comparison: Comparison | None = None
    for number, count in enumerate(counts, 1):
        if comparison is not None:
            undecided = comparison.undecided()
            grow = {*undecided, *(comparison.bases[n] for n in undecided)}
            have.update(dict.fromkeys(grow, count))
            console.print(f"round {number}: {count} seeds for {', '.join(undecided)} and their reference "
                          f"{', '.join(sorted({comparison.bases[n] for n in undecided}))}")
        outcome = run_grid(round_grid(grid, sequential, have), results, console=console, **run)
        comparison = _judge(results, grid)
        console.print(f"round {number} ({count} seeds; ran {outcome.ran}, skipped {outcome.skipped}, failed "
                      f"{outcome.failed}): {_summary(comparison)}")
        if not comparison.undecided():
            console.print(f"every contrast resolved after round {number}")
            return comparison
    undecided = comparison.undecided()
    console.print(f"--max-seeds {max_seeds} reached: {', '.join(undecided)} undecided")
    return comparison
