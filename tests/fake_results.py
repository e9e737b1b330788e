"""A results database as `zoo benchmark` leaves it, with chosen scores and no training: for the table,
statistics and verdict tests (a real grid run costs minutes)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.bench.grid import Grid, load_grid
from zoo.bench.runner import DB_NAME
from zoo.bench.store import Store


def grid_file(tmp_path: Path, variants: list[str], *, seeds: int, metrics: list[str], extra: str = "",
              budget: str = "steps = 2") -> Path:
    """A grid of ``variants`` (each a different learning rate, so a distinct spec) scored with ``metrics``."""
    lines = [f'{v} = {{ "train.lr" = {i}e-4 }}' if i else f"{v} = {{}}" for i, v in enumerate(variants)]  # never the default
    path = tmp_path / "grid.toml"
    path.write_text(textwrap.dedent(f"""
        name = "fake"
        seeds = {seeds}
        {extra}
        [budget]
        {budget}
        [base.data]
        size = 8
        [base.eval]
        metrics = {metrics!r}
        [variants]
    """).replace("'", '"') + "\n".join(lines) + "\n")
    return path


Curve = Callable[[str, int], dict[int, float]]  # (variant, seed) -> step -> KID of the learning-curve point


def record(values: dict[str, float]) -> dict[str, Any]:
    """A cell's record as the runner stores it, with these final scores."""
    return {
        "train": {"parameters": 1000, "flops_per_image": 1e6, "images_per_s": 100.0},
        "eval": {"data_hash": "d" * 64, "feature": "digits",
                 "rows": [{"name": "samples", "n_fake": 40, "n_real": 180, "values": values}]},
        "sample_seconds_per_image": 0.01,
        "timings": {},
    }


def curve_points(kid: dict[int, float]) -> list[dict[str, Any]]:
    """Learning-curve points (zoo.curves.score's format) with these KIDs, one second of training per step."""
    return [{"step": step, "train_seconds": float(step), "score_seconds": 0.1, "n": 20, "values": {"kid": value}}
            for step, value in sorted(kid.items())]


def fill(results: Path, grid: Grid, scores: Callable[[str, int], dict[str, float]], curve: Curve | None = None) -> Store:
    """Record every distinct cell of ``grid`` as done with ``scores(variant, seed)`` (and the learning-curve
    points ``curve(variant, seed)``)."""
    store = Store(results / DB_NAME)
    store.register_grid(grid)
    for cell in grid.unique():
        store.save_result(cell.hash, cell.spec.to_dict(), status="done", run_dir=str(results / "runs" / cell.hash),
                          record=record(scores(cell.variant, cell.seed)))
        if curve is not None:
            store.save_curve(cell.hash, curve_points(curve(cell.variant, cell.seed)))
    return store


def fake_grid(tmp_path: Path, variants: list[str], scores: Callable[[str, int], dict[str, float]], *, seeds: int = 3,
              metrics: list[str] | None = None, extra: str = "", curve: Curve | None = None,
              budget: str = "steps = 2") -> tuple[Path, Path, Store]:
    """(grid file, results folder, store) of a filled fake grid (``budget``: the lines of its [budget] table)."""
    path = grid_file(tmp_path, variants, seeds=seeds, metrics=metrics or ["fid", "kid"], extra=extra, budget=budget)
    results = tmp_path / "results"
    return path, results, fill(results, load_grid(path), scores, curve)
