"""``zoo benchmark --grid [FILE]``: train, sample and score every cell of a grid, then compare them.

Results go to ``RESULTS/zoo.db`` keyed by each cell's resolved spec: running the command again skips
finished cells, an interrupted grid resumes, a failing cell is recorded and the others go on.
"""

from __future__ import annotations

import argparse

ORDER = 80


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="run a grid of U-Net variants and compare them", description=__doc__)
    p.add_argument("--grid", nargs="?", const="", default="", metavar="FILE",
                   help="grid TOML (default: benchmarks/grids/default.toml)")
    p.add_argument("--results", default="results", help="results folder (database, runs)")
    p.add_argument("--jobs", type=int, default=None,
                   help="cells run in parallel processes, splitting the cores (default: the grid's jobs, else 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="where cells run")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local instance)")
    p.add_argument("--sort", default=None, help="sort the table by a column: a metric value the grid reports (fid, kid, ...) or a cost")
    p.add_argument("--at", default=None, metavar="minutes=M",
                   help="rank at equal training time (minutes=M) or steps (steps=N) on the learning curves "
                        "(eval.curve_every) instead of the final scores")
    p.add_argument("--until-resolved", action="store_true",
                   help="add paired seeds to the undecided contrasts, round by round, until every contrast is better, "
                        "worse or equivalent or --max-seeds is reached (error rate kept at 5%%: docs/benchmark.md)")
    p.add_argument("--max-seeds", type=int, default=None, metavar="N",
                   help="with --until-resolved: at most N seeds per cell (default: twice the grid's, at least 4)")
    p.add_argument("--seeds-per-round", type=int, default=None, metavar="K",
                   help="with --until-resolved: seeds added a round (default 2)")
    p.add_argument("--json", action="store_true", help="print the table as JSON (progress goes to stderr)")
    p.add_argument("--table", action="store_true", help="only show the table of what the database holds")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rich.console import Console

    from zoo.bench.grid import default_grid_path, load_grid
    from zoo.bench.history import attach
    from zoo.bench.runner import DB_NAME
    from zoo.bench.store import Store
    from zoo.bench.table import (
        build_rows,
        render,
        render_history,
        render_metric_verdicts,
        sort_rows,
        table_columns,
    )
    from zoo.bench.verdicts import comparison_of
    from zoo.curves.compare import parse_at

    err = Console(stderr=True)
    at = parse_at(args.at)  # a mistake fails before anything runs
    _check_sequential(args)
    grid = load_grid(args.grid or default_grid_path(), args.registry)
    if not args.table:
        _run(args, grid, err)
    store = Store(Path(args.results) / DB_NAME)
    rows, refs = build_rows(store, grid.name, at)
    rows = sort_rows(rows, args.sort, args.registry)
    columns = table_columns(rows, args.registry)
    comparison = attach(comparison_of(store, grid.name, rows, columns), store, grid.name, columns, at)
    if args.json:
        columns = table_columns(rows, args.registry)
        print(json.dumps({"grid": grid.name, "at": {at.unit: at.value} if at else None, "columns": [c.__dict__ for c in columns],
                          "comparison": comparison.to_dict(),
                          "rows": [{**r.to_dict(columns), "still_learning": comparison.still_learning(r.name)} for r in rows],
                          "references": [r.to_dict(columns) for r in refs]},
                         indent=2))
    else:
        out = Console()
        if not out.is_terminal:  # piped or CI: do not squeeze the table into 80 columns
            out = Console(width=max(out.width, 180))
        out.print(render(rows, refs, f"zoo benchmark: {grid.name}" + (f" ({at.label})" if at else ""), args.registry,
                         comparison))
        for extra in (render_metric_verdicts(comparison), render_history(comparison)):
            if extra is not None:
                out.print(extra)
    return 1 if any(r.status == "failed" for r in rows) else 0


def _check_sequential(args: argparse.Namespace) -> None:
    from zoo.errors import UserError

    if args.until_resolved and args.table:
        raise UserError("--until-resolved runs cells and --table only shows the database: pass one of them")
    if not args.until_resolved and (args.max_seeds is not None or args.seeds_per_round is not None):
        raise UserError("--max-seeds and --seeds-per-round go with --until-resolved; add it (or drop them)")


def _run(args: argparse.Namespace, grid, err) -> None:  # noqa: ANN001
    """Run the grid's cells (with --until-resolved, round after round), reporting on stderr."""
    from zoo.bench.executors import LocalExecutor, RayExecutor, cpu_count
    from zoo.bench.runner import run_grid
    from zoo.bench.sequential import run_until_resolved

    jobs = args.jobs or grid.jobs
    if args.executor == "ray":
        threads = max(1, cpu_count() // max(jobs, 1))
        executor = RayExecutor(args.address, threads=threads)
    else:
        executor = LocalExecutor(jobs, registry=args.registry)
    dupes = [c for c in grid.cells if c.duplicate_of]
    err.print(f"grid [bold]{grid.name}[/] ({grid.path}): {len(grid.cells)} cells, {len(grid.unique())} distinct specs"
              + ("; run once: " + ", ".join(f"{c.label} = {c.duplicate_of}" for c in dupes) if dupes else ""))
    if args.until_resolved:
        seeds = len({c.seed for c in grid.cells})
        per_round = 2 if args.seeds_per_round is None else args.seeds_per_round
        run_until_resolved(grid, args.results, max_seeds=args.max_seeds or max(2 * seeds, 4), per_round=per_round,
                           console=err, executor=executor, progress=args.progress)
        return
    outcome = run_grid(grid, args.results, executor=executor, progress=args.progress, console=err)
    err.print(f"ran {outcome.ran}, skipped {outcome.skipped} (done before or identical), failed {outcome.failed} "
              f"in {outcome.seconds:.0f} s")
