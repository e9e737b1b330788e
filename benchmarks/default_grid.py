"""The README's main command, timed from a fresh clone, and its results recorded for the docs.

Clones this repository at HEAD into a work folder, makes a fresh virtual environment there (with the
interpreter's site packages, as the project's own environments are made: torch and the other
dependencies are already installed, zoo is not), then runs exactly what the README says,
``pip install -e . && zoo benchmark --grid``, timing the install and the grid apart and sampling the
load average every 15 s (a machine shared with other jobs makes every wall-clock number slower than
the same run alone). Between the two, untimed, it installs the clone's own ``plugins/`` that this
machine has installed, so a grid that needs a plugin runs the clone's code. Then reads the grid back
(``zoo benchmark --grid --table --json``, the per-seed values, the timings of the results database and
each cell's steps and learning curve) and writes one results file with where it ran
(``provenance.py``): ``benchmarks/docs_tables.py`` renders docs/benchmark.md's default-grid table,
verdicts and timings from it.

    python benchmarks/default_grid.py                                  # -> benchmarks/results/default_grid.json
    python benchmarks/default_grid.py --seeds 4,5,6,7 --out benchmarks/results/default_grid_seeds4-7.json
    python benchmarks/default_grid.py --caps avx2 --out benchmarks/results/default_grid_avx2.json

``--seeds`` runs the grid with other paired seeds (the reproducibility check, ``verdicts_repro.py
--from``); ``--caps avx2`` caps torch, oneDNN and MKL at AVX2 (docs/performance.md, "CPU kinds");
``--threads N`` sets OMP_NUM_THREADS (default: unset, torch's own choice, as a user runs it);
``--grid FILE`` (a path inside the repository) runs another grid the same way, e.g. ``smoke.toml`` to
try the whole procedure in a minute (the record then names that grid, and the docs do not quote it);
``--samples DIR`` copies each variant's sample grid of its first seed (the cell's ``samples.png``) to
``DIR/<variant>.png``, for the docs. ``--until-resolved N --work DIR`` continues the run left in DIR
with ``zoo benchmark --until-resolved`` (seeds added one a round, or ``--seeds-per-round K``, up to N), ``--more --work DIR`` moves
the clone in DIR to HEAD and runs the grid again (a variant added to the grid file trains; the finished
cells are kept), and either adds the round to the record in ``--out``. ``--reuse DIR`` starts a new grid
with the results folder of an earlier run of this script in DIR (copied, the earlier run is left as it
is): the runner keys a cell by its resolved spec, so a cell the earlier grid finished with the same spec
and seed is not trained again, and the record's ``reused`` lists each such cell with the grid and label
it ran as:

    python benchmarks/default_grid.py --grid benchmarks/grids/emoji_minutes.toml --work /tmp/emin \
        --out benchmarks/results/emoji_minutes_grid.json
    python benchmarks/default_grid.py --grid benchmarks/grids/emoji_minutes.toml --work /tmp/emin \
        --out benchmarks/results/emoji_minutes_grid.json --until-resolved 3
    python benchmarks/default_grid.py --grid benchmarks/grids/emoji_schedules.toml --work /tmp/esched \
        --reuse /tmp/erecall --out benchmarks/results/emoji_schedules_grid_5seeds.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import ROOT, git, provenance  # noqa: E402

CAPS = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}
GRID = "benchmarks/grids/default.toml"


class LoadSampler(threading.Thread):
    """The 1-minute load average every ``every`` seconds until stopped."""

    def __init__(self, every: float = 15.0) -> None:
        super().__init__(daemon=True)
        self.every, self.samples, self.done = every, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append(os.getloadavg()[0])
            self.done.wait(self.every)

    def summary(self) -> dict[str, float]:
        return load_summary(self.samples or [os.getloadavg()[0]])


def load_summary(s: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(s), 2), "min": round(min(s), 2), "max": round(max(s), 2), "samples": len(s)}


def timed(command: str, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run a shell command as a user would (output to this terminal); (its wall clock, the CPU time of
    all its processes: what it would take alone on one core); exit on failure."""
    start, cpu = time.perf_counter(), _children_cpu()
    if subprocess.run(["bash", "-c", command], cwd=cwd, env=env, check=False).returncode != 0:
        sys.exit(f"failed: {command}")
    return time.perf_counter() - start, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_clone(work: Path, seeds: list[int] | None, grid: str = GRID) -> Path:
    """A clone of HEAD (committed files only) in ``work``; with ``seeds``, its ``grid`` runs those."""
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", git("rev-parse", "HEAD")], cwd=clone, check=True)
    if seeds is not None:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from verdicts_repro import grid_with_seeds

        grid_with_seeds(clone / grid, seeds, clone / grid)
    return clone


def install_plugins(clone: Path, env: dict[str, str]) -> list[str]:
    """The clone's own ``plugins/<name>``, for each one installed on this machine, installed editable into
    the venv, so a grid that needs a plugin runs the clone's code and not whichever copy the machine
    has (a working tree ahead of the clone once broke a run's read-back). Returns their names."""
    folders = []
    for project in sorted((clone / "plugins").glob("*/pyproject.toml")):
        try:
            metadata.distribution(tomllib.loads(project.read_text())["project"]["name"])
        except metadata.PackageNotFoundError:
            continue
        folders.append(project.parent)
    if folders:
        editable = [arg for folder in folders for arg in ("-e", str(folder))]
        subprocess.run(["pip", "install", "--quiet", "--no-deps", *editable], cwd=clone, env=env, check=True)
    return [folder.name for folder in folders]


def _store(results: Path) -> Any:
    """The results database ``zoo benchmark`` keeps in the folder ``results``."""
    from zoo.bench.runner import DB_NAME
    from zoo.bench.store import Store

    return Store(results / DB_NAME)


def grid_record(table: dict[str, Any], results: Path) -> dict[str, Any]:
    """What the docs render a grid from: its ``--json`` table, the per-seed values and the timings of
    the results database it was read from (``docs_tables.py`` rebuilds the table's rows from them)."""
    from zoo.bench.table import build_rows

    store = _store(results)
    rows, _ = build_rows(store, table["grid"])
    timings = next((g["timings"] for g in store.grids() if g["grid"] == table["grid"]), None)
    return {"table": table, "per_seed": {r.name: {str(s): v for s, v in r.per_seed.items()} for r in rows}, "timings": timings,
            "cells": cell_training(store, table["grid"])}


def cell_training(store: Any, grid: str) -> list[dict[str, Any]]:
    """Each finished cell's steps and optimisation seconds (what a minutes budget bought it on this machine)
    and its learning curve's points (step, n, the curve metrics), which the table only summarises."""
    cells = []
    for c in store.grid_cells(grid):
        train = (c["record"] or {}).get("train", {}) if c["status"] == "done" else {}  # the store parses records
        if "step" in train:
            curve = [{"step": p["step"], "n": p["n"], **{k: round(v, 2) for k, v in p["values"].items()}} for p in store.curve(c["hash"])]
            cells.append({"variant": c["variant"], "seed": c["seed"], "steps": train["step"], "train_seconds": round(train["elapsed"], 1),
                          **({"curve": curve} if curve else {})})  # fmt: skip
    return cells


def copy_samples(results: Path, grid: str, out: Path) -> None:
    """Each variant's first-seed ``samples.png`` (what ``zoo report`` shows) as ``out/<variant>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    cells = [c for c in _store(results).grid_cells(grid) if c["status"] == "done"]
    for variant in dict.fromkeys(c["variant"] for c in cells):
        first = min((c for c in cells if c["variant"] == variant), key=lambda c: c["seed"])
        run = Path(first["run_dir"])
        shutil.copyfile((run if run.is_absolute() else results.parent / run) / "samples.png", out / f"{variant}.png")


def finished_cells(results: Path) -> dict[str, list[str]]:
    """Each finished cell of the results database in ``results``, by hash: the ``grid: label`` names it ran as."""
    store, done = _store(results), {}
    for grid in store.grids():
        for c in store.grid_cells(grid["grid"]):
            if c["status"] == "done":
                done.setdefault(c["hash"], []).append(f"{grid['grid']}: {c['label']}")
    return done


def earlier_results(earlier_work: Path) -> Path:
    """The results folder an earlier run of this script left in ``earlier_work`` (exits when there is none)."""
    source = earlier_work / "clone" / "results"
    if not (source / "zoo.db").is_file():
        sys.exit(f"--reuse {earlier_work}: no results database at {source}/zoo.db (pass the --work folder of an earlier run)")
    return source


def read_back(clone: Path, env: dict[str, str], command: str) -> dict[str, Any]:
    """The record of the clone's grid: ``COMMAND --table --json`` run there, and its database."""
    out = subprocess.run(["bash", "-c", f"{command} --table --json"], cwd=clone, env=env, capture_output=True,
                         text=True, check=True).stdout
    return grid_record(json.loads(out), clone / "results")


def environment(venv: Path, args: argparse.Namespace) -> dict[str, str]:
    """The environment of a command run in ``venv``: its ``bin`` first, torch's own thread count (or
    ``--threads``), the ``--caps``; also sets the caps here, since provenance() reads the kind as the run saw it."""
    env = {**os.environ, **CAPS.get(args.caps, {}), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(key, None)
    if args.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    os.environ.update(CAPS.get(args.caps, {}))
    return env


def continue_run(args: argparse.Namespace) -> int:
    """Continue the grid an earlier run of this script left in ``--work`` (its clone, venv and results database,
    as they are): with ``--until-resolved N``, ``zoo benchmark --until-resolved --max-seeds N --seeds-per-round K``
    (``--seeds-per-round``, default 1);
    with ``--more``, the clone first moves to this repository's HEAD (a fast-forward: the grid file there may
    add a variant or a seed) and the grid runs again. Either way the runner skips the finished cells, so only
    new ones train. The record in ``--out`` gains this round (``rounds``, with the commit it ran), its wall
    clock and load join the earlier ones, and the table, per-seed values and verdicts are read back anew."""
    clone, venv = args.work / "clone", args.work / "venv"
    if not (clone / "results").is_dir() or not args.out.is_file():
        sys.exit(f"--until-resolved and --more continue a run: {clone}/results and {args.out} must exist (run without them first)")
    earlier = json.loads(args.out.read_text())
    env = environment(venv, args)
    command = "zoo benchmark --grid" + (f" {args.grid}" if args.grid else "")
    if args.more:
        subprocess.run(["git", "pull", "--quiet", "--ff-only", str(ROOT), "HEAD"], cwd=clone, check=True)
        more = command
    else:
        more = f"{command} --until-resolved --max-seeds {args.until_resolved} --seeds-per-round {args.seeds_per_round}"
    rounds = earlier.get("rounds") or [{"command": earlier["command"], "commit": earlier["commit"], "date": earlier["date"],
                                        "grid_seconds": earlier["grid_seconds"], "load_average_during": earlier["load_average_during"]}]  # fmt: skip
    where = provenance(clone)
    sampler = LoadSampler()
    sampler.start()
    grid, grid_cpu = timed(more, clone, env)
    sampler.done.set()
    samples = (earlier.get("load_average_samples") or []) + sampler.samples
    record = {**earlier, **read_back(clone, env, command), "rounds": [*rounds, {"command": more, "commit": where["commit"], "date": where["date"], "grid_seconds": round(grid, 1),
                                                                               "load_average_during": sampler.summary()}]}  # fmt: skip
    record["grid_seconds"] = round(sum(r["grid_seconds"] for r in record["rounds"]), 1)
    record["wall_seconds"] = round(record["install_seconds"] + record["grid_seconds"], 1)
    cpu = earlier.get("cpu_seconds") or {}
    record["cpu_seconds"] = {**cpu, "grid": round(cpu["grid"] + grid_cpu, 1) if cpu.get("grid") is not None else None}
    record["load_average_samples"], record["load_average_during"] = samples, load_summary(samples)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.samples:
        copy_samples(clone / "results", record["table"]["grid"], args.samples)
    print(f"wrote {args.out}: this round {grid:.0f} s, load {sampler.summary()}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "default_grid.json")
    parser.add_argument("--work", type=Path, default=None, help="where to clone and run (default: a new temporary folder)")
    parser.add_argument("--seeds", default=None, help="run the default grid with these paired seeds, e.g. 4,5,6,7")
    parser.add_argument("--caps", choices=sorted(CAPS), default=None, help="cap the ISA (an emulated CPU kind)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS (default: unset, as a user runs it)")
    parser.add_argument("--grid", default=None, help="another grid file of the repository (default: the README's command)")
    parser.add_argument("--samples", type=Path, default=None, help="copy each variant's first-seed sample grid here")
    parser.add_argument("--reuse", type=Path, default=None, metavar="DIR",
                        help="start from the results of an earlier run's --work DIR: its finished cells with the same spec are not trained again")
    parser.add_argument("--until-resolved", type=int, default=None, metavar="MAX_SEEDS",
                        help="continue the run in --work: add seeds (--seeds-per-round a round) until resolved or MAX_SEEDS")
    parser.add_argument("--seeds-per-round", type=int, default=1, metavar="K",
                        help="with --until-resolved: seeds added a round (default 1; zoo benchmark's own default is 2)")
    parser.add_argument("--more", action="store_true",
                        help="continue the run in --work at this repository's HEAD (e.g. a variant added to the grid file)")
    args = parser.parse_args(argv)
    if args.until_resolved and args.more:
        parser.error("--until-resolved and --more are two ways to continue a run: one at a time")
    if args.until_resolved or args.more:
        if args.work is None:
            parser.error(f"{'--more' if args.more else '--until-resolved'} continues the run in --work: pass it")
        if args.reuse:
            parser.error("--reuse starts a new run; --more and --until-resolved continue one")
        return continue_run(args)
    work = args.work or Path(tempfile.mkdtemp(prefix="zoo-default-grid-"))
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    source = earlier_results(args.reuse) if args.reuse else None
    clone = fresh_clone(work, seeds, args.grid or GRID)
    earlier: dict[str, list[str]] = {}
    if source is not None:  # the earlier grid's cells: the runner skips those with this grid's specs
        shutil.copytree(source, clone / "results")
        earlier = finished_cells(clone / "results")
    command = "zoo benchmark --grid" + (f" {args.grid}" if args.grid else "")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = environment(venv, args)
    record = {**provenance(clone), "command": f"pip install -e . && {command}", "grid": args.grid or GRID, "seeds": seeds,
              "threads": args.threads or "torch default", "environment": "fresh clone, fresh venv --system-site-packages"}
    sampler = LoadSampler()
    sampler.start()
    install, install_cpu = timed("pip install -e .", clone, env)
    record["plugins"] = install_plugins(clone, env)  # after the timed install: the README's command is zoo's alone
    grid, grid_cpu = timed(command, clone, env)
    sampler.done.set()
    record.update({"install_seconds": round(install, 1), "grid_seconds": round(grid, 1),
                   "wall_seconds": round(install + grid, 1), "cpu_seconds": {"install": round(install_cpu, 1), "grid": round(grid_cpu, 1)},
                   "load_average_during": sampler.summary(), "load_average_samples": sampler.samples})
    args.out.write_text(json.dumps(record, indent=1) + "\n")  # the timings first: a failing read-back keeps them
    record.update(read_back(clone, env, command))
    if args.reuse:
        record["reused"] = [{"variant": c["variant"], "seed": c["seed"], "hash": c["hash"], "ran_as": earlier[c["hash"]]}
                            for c in _store(clone / "results").grid_cells(record["table"]["grid"]) if c["hash"] in earlier]
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.samples:
        copy_samples(clone / "results", record["table"]["grid"], args.samples)
    print(f"wrote {args.out}: install {install:.0f} s, grid {grid:.0f} s, load {sampler.summary()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
