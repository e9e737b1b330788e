"""One benchmark cell, start to finish: train (or resume), sample, score.

A plain top-level function of plain data (a spec dict and a folder), so that the local executor can
run it in this process or in a worker process and Ray can run it on any node of a cluster.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.registry import Registry


def run_cell(spec_dict: dict[str, Any], run_dir: str, *, registry: Registry | None = None, threads: int | None = None,
             progress: Any = False) -> dict[str, Any]:
    """Returns ``{"status": "done", "record": {...}}`` or ``{"status": "failed", "error": "..."}``, each with
    the run's learning-curve points under ``curve``; never raises for a failing cell, so one bad cell
    cannot stop a grid. A full disk is not the cell's fault and would fail every cell after it: it stops
    the grid (one line, finished cells kept). ``registry``: the one the grid was resolved with when the cell runs
    in that process; a worker process (a pool's, Ray's) loads the installed plugins' itself."""
    from zoo.curves.score import read_curve
    from zoo.errors import DiskFullError
    from zoo.runtime.io import disk_full_error, is_disk_full

    try:
        outcome = {"status": "done", "record": _run(spec_dict, Path(run_dir), registry, threads, progress)}
    except (KeyboardInterrupt, DiskFullError):
        raise
    except Exception as err:  # noqa: BLE001 - recorded with the cell, the grid goes on
        if is_disk_full(err):
            raise disk_full_error(getattr(err, "filename", None) or run_dir) from None
        outcome = {"status": "failed", "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    return {**outcome, "curve": read_curve(run_dir)}


def _run(spec_dict: dict[str, Any], run_dir: Path, registry: Registry | None, threads: int | None,
         progress: Any) -> dict[str, Any]:
    import torch

    from zoo.config.resolve import resolve
    from zoo.config.spec import from_dict
    from zoo.curves.score import read_curve
    from zoo.data.prepare import prepare
    from zoo.metrics.evaluate import evaluate
    from zoo.runs.checkpoint import find_checkpoint
    from zoo.runs.load import load_run
    from zoo.runs.sample import generate, save_grid, save_npz
    from zoo.runtime.allocator import tune_allocator
    from zoo.runtime.io import atomic_write_text
    from zoo.runtime.streams import SAMPLING, stream_seed
    from zoo.train import train

    tune_allocator()  # a pool or Ray worker is a fresh process: zoo's allocator setting there too
    if threads:
        torch.set_num_threads(threads)
    spec = resolve(from_dict(spec_dict), registry)  # resolved already: the same spec, now holding its registry
    timings: dict[str, float] = {}

    start = time.perf_counter()
    summary = train(spec, run_dir, resume=find_checkpoint(run_dir) is not None, progress=progress)
    timings["train"] = time.perf_counter() - start
    timings["train_steps"] = summary.elapsed  # time inside optimisation steps, for the overhead figure
    timings["curve"] = sum(p["score_seconds"] for p in read_curve(run_dir))  # inside "train", not "train_steps"

    start = time.perf_counter()
    run = load_run(run_dir, spec.registry, weights=spec.eval.weights, spec=spec)
    e = spec.eval
    # the sampling-noise stream of this replicate (train.seed): shared by every variant with that seed
    seed = stream_seed(spec.train.seed, SAMPLING, e.seed)
    images = generate(run, e.n, sampler=e.sampler, steps=e.steps, seed=seed, batch_size=e.batch_size,
                      options=e.sampler_options)
    timings["sample"] = time.perf_counter() - start
    save_npz(images, run_dir / "samples.npz")
    save_grid(images, run_dir / "samples.png")

    start = time.perf_counter()
    result = evaluate(images, prepare(spec.data, spec.registry), feature=e.feature, metrics=e.metrics, references=False,
                      seed=e.seed, registry=spec.registry)
    atomic_write_text(run_dir / "metrics.json", json.dumps(result.to_dict(), indent=2) + "\n")
    timings["evaluate"] = time.perf_counter() - start

    return {
        "train": summary.__dict__,
        "eval": result.to_dict(),
        "sample_seconds_per_image": timings["sample"] / e.n,
        "timings": timings,
        "weights": run.weights,
    }
