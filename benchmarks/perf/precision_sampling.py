"""How much faster does a network sample in bf16 than in fp32, per image size, on this CPU?

    python benchmarks/perf/precision_sampling.py [--sizes 16,32,64] [--rounds 8] [--threads 2]
        [--json benchmarks/results/precision_sampling.json]
    python benchmarks/perf/precision_sampling.py --run RUN_DIR [--n 1000] [--seeds 0,1]

The network is the default recipe's for each size (RGB from 32x32, greyscale at 16x16, as the digits),
untrained (its weights do not change its speed), in channels_last and eval mode. Each round times one
sampling-batch forward pass in fp32 and one under bf16 autocast, in alternating order, so a slow phase
of the host hits both; the speed-up is the median of the per-round ratios. The relative error of the
bf16 output against fp32 on the same input is printed beside it. This is the measurement behind
``zoo.runtime.precision`` (sampling follows the training precision, bf16 on AMX from 32x32). Results are
appended to ``--json`` with the CPU.

With ``--run``, what the precision does to a trained run's images instead: for each sampling seed, ``--n``
images in fp32 and in bf16 from the same weights and noise (the run's eval sampler and steps), the share
of identical uint8 pixels, and FID / KID of both against the run's test split, with the seconds spent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from rounds import alternate, per_round  # benchmarks/perf/rounds.py, beside this script


def measure(size: int, args: argparse.Namespace) -> dict:
    import torch

    from zoo.config.resolve import load_spec
    from zoo.runs.load import build

    channels = 1 if size <= 16 else 3
    spec = load_spec(None, [f"data.size={size}", f"data.channels={channels}"])
    model, _ = build(spec)
    model = model.eval().to(memory_format=torch.channels_last)
    batch = args.batch or (250 if size <= 32 else 50)
    x = torch.randn(batch, channels, size, size).contiguous(memory_format=torch.channels_last)
    t = torch.full((batch,), 500)
    contexts = {"fp32": lambda: torch.autocast("cpu", enabled=False),
                "bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16)}  # fmt: skip
    outputs = {}

    def forward(mode: str) -> float:
        with contexts[mode]():
            start = time.perf_counter()
            model(x, t)
            return time.perf_counter() - start

    with torch.inference_mode():
        for mode, context in contexts.items():  # warm-up, and the outputs compared
            with context():
                outputs[mode] = model(x, t).float()
        times = alternate(args.rounds, {mode: lambda mode=mode: forward(mode) for mode in contexts})
    error = float((outputs["bf16"] - outputs["fp32"]).norm() / outputs["fp32"].norm())
    return {"size": size, "channels": channels, "dim": spec.model.dim, "dim_mults": list(spec.model.dim_mults),
            "batch": batch, "fp32_ms": statistics.median(times["fp32"]) * 1e3,
            "bf16_ms": statistics.median(times["bf16"]) * 1e3,
            "speedup_per_round": per_round(times["fp32"], times["bf16"]),
            "relative_error": error, "times_s": times}


def paired(args: argparse.Namespace) -> list[dict]:
    import dataclasses

    import numpy as np

    from zoo.data.prepare import prepare
    from zoo.metrics.evaluate import evaluate
    from zoo.runs.load import load_run
    from zoo.runs.sample import generate

    loaded = load_run(args.run)
    e = loaded.spec.eval
    prepared = prepare(loaded.spec.data)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        images = {}
        for precision in ("fp32", "bf16"):
            train = dataclasses.replace(loaded.spec.train, bf16=precision == "bf16")
            run = dataclasses.replace(loaded, spec=dataclasses.replace(loaded.spec, train=train))
            start = time.perf_counter()
            images[precision] = generate(run, args.n, sampler=e.sampler, steps=e.steps, seed=seed,
                                         batch_size=e.batch_size, options=e.options_for(e.sampler))
            seconds = time.perf_counter() - start
            scored = evaluate(images[precision], prepared, metrics=("fid", "kid"), references=False)
            values = scored.rows[0].values
            rows.append({"run": str(args.run), "seed": seed, "precision": precision, "n": args.n, "sampler": e.sampler,
                         "steps": e.steps, "seconds": seconds, "fid": values["fid"], "kid": values["kid"],
                         "feature_identity": scored.feature_identity, "n_real": scored.rows[0].n_real})
            print(json.dumps(rows[-1]), flush=True)
        difference = np.abs(images["fp32"].astype(int) - images["bf16"].astype(int))
        rows[-1].update(identical=float((difference == 0).mean()), mean_difference=float(difference.mean()))
        print(f"seed {seed}: {rows[-1]['identical']:.1%} of the pixels identical, mean difference "
              f"{rows[-1]['mean_difference']:.2f} levels", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="16,32,64", help="image sides (default 16,32,64)")
    p.add_argument("--rounds", type=int, default=8, help="rounds of one fp32 and one bf16 pass (default 8)")
    p.add_argument("--batch", type=int, default=None, help="images per pass (default 250, 50 at 64x64 and up)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="benchmarks/results/precision_sampling.json")
    p.add_argument("--run", type=Path, default=None, help="a trained run: compare its images in both precisions")
    p.add_argument("--n", type=int, default=1000, help="--run: images per precision and seed (default 1000)")
    p.add_argument("--seeds", default="0,1", help="--run: sampling seeds (default 0,1)")
    args = p.parse_args(argv)
    import torch

    import zoo
    from zoo.metrics.shipped import provenance
    from zoo.runtime.cpu import current

    zoo.tune_allocator()
    torch.set_num_threads(args.threads)
    # the CPU as zoo names it ("cpu"), and its model, kind, the commit, torch and the date (provenance)
    where = {"script": "benchmarks/perf/precision_sampling.py", **provenance(args.threads), "when": time.strftime("%Y-%m-%d %H:%M"), "cpu": current().describe(),
             "load_before": os.getloadavg()}  # fmt: skip
    if args.run is not None:
        trained = args.run / "train.json"  # how the run was trained: steps, minutes, precision, device
        summary = json.loads(trained.read_text()) if trained.is_file() else None
        return _append(args, {**where, "trained": summary, "paired": paired(args), "load_after": os.getloadavg()})
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure(size, args)
        print(f"{size}x{size} x{row['channels']}, batch {row['batch']}: fp32 {row['fp32_ms']:.1f} ms, bf16 "
              f"{row['bf16_ms']:.1f} ms, speed-up {row['speedup_per_round']['median']:.2f}x per round "
              f"(quartiles {row['speedup_per_round']['q1']:.2f}-{row['speedup_per_round']['q3']:.2f}, range "
              f"{row['speedup_per_round']['min']:.2f}-{row['speedup_per_round']['max']:.2f}), "
              f"relative error {row['relative_error']:.1e}", flush=True)
        rows.append(row)
    return _append(args, {**where, "rounds": args.rounds, "rows": rows, "load_after": os.getloadavg()})


def _append(args: argparse.Namespace, result: dict) -> int:
    from zoo.runtime.io import append_to_json_list

    append_to_json_list(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
