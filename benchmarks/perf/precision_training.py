"""How much faster does zoo's training step run in bf16 than in fp32, per image size, on this CPU?

    python benchmarks/perf/precision_training.py [--sizes 16,32,64] [--batch 32] [--rounds 10] [--steps 3]
        [--threads 2] [--json benchmarks/results/precision_training.json]

The step is zoo's own, ``zoo.train.step.Step`` on a fresh ``zoo.train.state.build_state`` (channels_last, bf16
autocast or not, the finite-loss check, backward, gradient clipping, fused Adam, the EMA update), with the
default recipe's network, batch and settings for each size (greyscale at 16x16, RGB from 32x32), on random
images in [-1, 1]. Two states, one with ``train.bf16 = false`` and one with ``true``, from the same seed; each
round runs ``--steps`` steps of one and then of the other, the order flipping every round, so a slow phase of
a shared host hits both; the speed-up is the median of the per-round ratios, with their range. This is the
measurement behind ``zoo.runtime.cpu.choose_bf16`` for training. Results are appended to ``--json`` with the
CPU, commit, torch version, date and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from rounds import alternate, per_round  # benchmarks/perf/rounds.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for provenance.py


def make_step(size: int, batch: int | None, bf16: bool | None, more: tuple[str, ...] = ()) -> tuple[object, object]:
    """(zoo's Step for the default recipe at ``size``, a batch of images) with bf16 autocast on or off (None: as
    zoo chooses here), and any ``more`` overrides."""
    import torch

    from zoo.config.resolve import load_spec
    from zoo.train.setup import TrainingRun
    from zoo.train.state import build_state
    from zoo.train.step import Step

    channels = 1 if size <= 16 else 3
    overrides = [f"data.size={size}", f"data.channels={channels}", *more]
    overrides += [f"train.bf16={str(bf16).lower()}"] if bf16 is not None else []
    spec = load_spec(None, overrides + ([f"train.batch_size={batch}"] if batch else []))
    run = TrainingRun(spec, Path(tempfile.mkdtemp(prefix="zoo-precision-")), rank=0, world_size=1,
                      device=torch.device("cpu"), prepared=None, steps_per_epoch=1, limit=None, deadline=None)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # train.bf16 = true off AMX warns that it may be slow: measuring is the point
        step = Step(run, build_state(run))
    images = torch.rand(spec.train.batch_size, channels, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return step, images


def alternate_steps(steps: dict[str, tuple], rounds: int, per_round: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds a step of each way (``name: (step, images)``), per round: ``warmup`` steps of each first (oneDNN's
    kernels, the allocator, Adam's state), then ``rounds`` rounds of ``per_round`` steps of each, alternating."""

    def run(mode: str) -> float:
        step, images = steps[mode]
        start = time.perf_counter()
        for _ in range(per_round):
            step(images)
        return (time.perf_counter() - start) / per_round

    for _ in range(warmup):
        for step, images in steps.values():
            step(images)
    return alternate(rounds, {mode: lambda mode=mode: run(mode) for mode in steps})


def start_record(script: str, args: argparse.Namespace) -> dict:
    """Set up the process as zoo trains (allocator, ``args.threads``) and start the result's record: the
    script, the machine and code (``provenance``), the rounds and the load average before."""
    import torch
    from provenance import provenance  # benchmarks/provenance.py

    import zoo

    zoo.tune_allocator()
    torch.set_num_threads(args.threads)
    return {"script": script, **provenance(), "threads": args.threads, "rounds": args.rounds,
            "load_before": os.getloadavg()}  # fmt: skip


def measure(size: int, args: argparse.Namespace) -> dict:
    steps = {mode: make_step(size, args.batch, mode == "bf16") for mode in ("fp32", "bf16")}

    times = alternate_steps(steps, args.rounds, args.steps)
    step, images = steps["fp32"]
    model = step.run.spec.model
    return {"size": size, "channels": images.shape[1], "batch": images.shape[0], "dim": model.dim,
            "dim_mults": list(model.dim_mults), "steps_per_round": args.steps,
            "fp32_ms": statistics.median(times["fp32"]) * 1e3, "bf16_ms": statistics.median(times["bf16"]) * 1e3,
            "speedup_per_round": per_round(times["fp32"], times["bf16"]),
            "loss_after": {mode: s.state.last_loss for mode, (s, _) in steps.items()}, "times_s": times}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="16,32,64", help="image sides (default 16,32,64)")
    p.add_argument("--batch", type=int, default=None, help="images per step (default: the recipe's)")
    p.add_argument("--rounds", type=int, default=10, help="rounds of fp32 and bf16 steps (default 10)")
    p.add_argument("--steps", type=int, default=3, help="steps of each precision per round (default 3)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="benchmarks/results/precision_training.json")
    args = p.parse_args(argv)
    from zoo.runtime.io import append_to_json_list

    record = start_record("benchmarks/perf/precision_training.py", args)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure(size, args)
        ratio = row["speedup_per_round"]
        print(f"{size}x{size} x{row['channels']}, batch {row['batch']}: fp32 {row['fp32_ms']:.1f} ms, bf16 "
              f"{row['bf16_ms']:.1f} ms a step, speed-up {ratio['median']:.2f}x per round "
              f"(quartiles {ratio['q1']:.2f}-{ratio['q3']:.2f}, range {ratio['min']:.2f}-{ratio['max']:.2f})", flush=True)
        rows.append(row)
    append_to_json_list(args.json, {**record, "load_after": os.getloadavg(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
