"""The cost of every study_full.toml variant, measured side by side in one process: training-step
time (interleaved rounds, median) and DDIM sampling time per cell, as multiples of the base's and in
seconds on this machine now. Prints the lines study_full.toml's comments quote.

    OMP_NUM_THREADS=1 python benchmarks/study_cost.py [--rounds 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from zoo.bench.grid import load_grid
from zoo.runs.load import build

GRID = Path(__file__).resolve().parent / "grids" / "study_full.toml"


def step_seconds(spec, steps: int) -> float:  # noqa: ANN001
    """Seconds per training step (batch of the spec, random images) of a freshly built model."""
    torch.manual_seed(0)
    model, diffusion = build(spec)
    model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.train.lr)
    x0 = torch.rand(spec.train.batch_size, spec.model.channels, spec.model.image_size, spec.model.image_size) * 2 - 1
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        if diffusion is None:
            loss = model.training_loss(x0, generator=generator)
        else:
            loss = diffusion.training_loss(model, x0, generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    cells = [c for c in load_grid(GRID).cells if c.seed == 0 and not c.duplicate_of]
    times: dict[str, list[float]] = {c.name: [] for c in cells}
    for _ in range(args.rounds):  # interleaved, so a change in the machine's load hits every variant alike
        for c in cells:
            times[c.name].append(step_seconds(c.spec, args.steps))
    base = statistics.median(times["base"]) * cells[0].spec.train.steps
    print(f"threads {torch.get_num_threads()}; per cell = budget steps x median step time")
    for c in cells:
        cell = statistics.median(times[c.name]) * c.spec.train.steps
        print(f"{c.name:<20} {cell:7.1f} s per cell of training  ({cell / base:4.2f} x base)")


if __name__ == "__main__":
    main()
