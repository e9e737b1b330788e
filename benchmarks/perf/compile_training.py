"""When does ``torch.compile`` repay itself for training? Eager against compiled steps, compile time counted.

    python benchmarks/perf/compile_training.py [--sizes 32] [--rounds 12] [--steps 20] [--threads 2]
        [--json benchmarks/results/compile_training.json]

The step is zoo's own (``zoo.train.step.Step``, as ``precision_training.py`` builds it: the default recipe's
network, batch and precision for each size, greyscale at 16x16 and RGB from 32x32, on random images), once
with ``train.compile = off`` and once with ``on``, from the same seed. The compiled step's first call
compiles into an empty inductor cache (a cold compile, as a user's first run of a network; a warm cache
compiles in seconds; ``--warm`` keeps inductor's usual cache). After a few warm-up steps each, ``--rounds``
rounds time ``--steps`` steps of one and then of the other, the order flipping every round, so a slow phase
of a shared host hits both. The break-evens, compile time / time saved per image and compile time /
fraction of an eager step saved, are the figures behind ``zoo.train.compiled.PAYS_AFTER``; the result is
appended to ``--json`` with the CPU, commit, torch version, date and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from compile_sampling import inductor_cache  # beside this script
from precision_training import alternate_steps, make_step, start_record
from rounds import per_round


def precision(step: object) -> str:
    from zoo.runtime.precision import use_bf16

    return "bf16" if use_bf16(step.run.spec, step.run.device)[0] else "fp32"


def measure(size: int, args: argparse.Namespace) -> dict:
    steps = {mode: make_step(size, args.batch, None, [f"train.compile={mode}"]) for mode in ("off", "on")}
    for mode in steps:
        assert steps[mode][0].compiled == (mode == "on"), "train.compile=on must compile the step"
    step, images = steps["on"]
    start = time.perf_counter()
    step(images)  # compiles forward and backward
    compile_s = time.perf_counter() - start
    if not step.compiled:
        raise SystemExit("torch.compile failed on this machine: nothing to measure")

    times = alternate_steps(steps, args.rounds, args.steps, warmup=5)
    eager, fast = statistics.median(times["off"]), statistics.median(times["on"])
    batch = images.shape[0]
    model = step.run.spec.model
    saved_per_image = (eager - fast) / batch
    return {"size": size, "channels": images.shape[1], "batch": batch, "dim": model.dim, "patch": model.patch,
            "dim_mults": list(model.dim_mults), "precision": precision(step),
            "steps_per_round": args.steps, "eager_ms": eager * 1e3, "compiled_ms": fast * 1e3,
            "speedup_per_round": per_round(times["off"], times["on"]), "compile_s": compile_s,
            "pays_after_images": compile_s / saved_per_image if saved_per_image > 0 else None,
            "pays_after_seconds": compile_s * eager / (eager - fast) if eager > fast else None,
            "times_s": times}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="32", help="image sides (default 32; one process per side keeps each compile cold)")
    p.add_argument("--batch", type=int, default=None, help="images per step (default: the recipe's)")
    p.add_argument("--rounds", type=int, default=12, help="rounds of eager and compiled steps (default 12)")
    p.add_argument("--steps", type=int, default=20, help="steps of each per round (default 20)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warm", action="store_true", help="use inductor's usual cache (default: an empty one)")
    p.add_argument("--json", default="benchmarks/results/compile_training.json")
    args = p.parse_args(argv)
    with inductor_cache(args.warm):
        from zoo.runtime.io import append_to_json_list

        record = {**start_record("benchmarks/perf/compile_training.py", args), "cold_cache": not args.warm}
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            row = measure(size, args)
            ratio = row["speedup_per_round"]
            print(f"{size}x{size} x{row['channels']} {row['precision']}, batch {row['batch']}: eager {row['eager_ms']:.1f} ms, "
                  f"compiled {row['compiled_ms']:.1f} ms a step, speed-up {ratio['median']:.2f}x per round (quartiles "
                  f"{ratio['q1']:.2f}-{ratio['q3']:.2f}); compile {row['compile_s']:.0f} s, pays after "
                  f"{row['pays_after_images'] or float('inf'):,.0f} images / {row['pays_after_seconds'] or float('inf'):,.0f} s",
                  flush=True)  # fmt: skip
            rows.append(row)
        append_to_json_list(args.json, {**record, "load_after": os.getloadavg(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
