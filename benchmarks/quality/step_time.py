"""Training-step and sampling time of candidate recipes, side by side in one process.

The machine these run on is shared, so absolute times mean little; the candidates are timed
round-robin (one training step of each in turn, repeated) and compared as ratios. Optionally each is
also timed under ``torch.compile`` (inductor), compile time included. Prints and appends JSON.

    python benchmarks/quality/step_time.py --candidates old,new --reps 30 --threads 1 [--compile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from recipe_steps import CANDIDATES, make_spec  # noqa: E402


def setup(name: str, compiled: bool) -> dict:
    from zoo.runs.load import build

    spec = make_spec(CANDIDATES[name])
    torch.manual_seed(0)
    model, diffusion = build(spec)
    model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    x0 = (torch.rand(spec.train.batch_size, 1, 16, 16) * 2 - 1).contiguous(memory_format=torch.channels_last)
    net = torch.compile(model) if compiled else model
    return {"spec": spec, "model": model, "net": net, "diffusion": diffusion, "opt": opt, "x0": x0,
            "g": torch.Generator().manual_seed(0), "times": []}  # fmt: skip


def step(c: dict) -> float:
    start = time.perf_counter()
    c["net"].train()
    loss = c["diffusion"].training_loss(c["net"], c["x0"], generator=c["g"])
    c["opt"].zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(c["model"].parameters(), 1.0)
    c["opt"].step()
    return time.perf_counter() - start


def sample_seconds(c: dict, n: int) -> float:
    from zoo.plugins import get_registry

    e = c["spec"].eval
    sample = get_registry().get("sampler", e.sampler).factory
    c["net"].eval()
    start = time.perf_counter()
    sample(c["net"], c["diffusion"], (n, 1, 16, 16), steps=e.steps, generator=torch.Generator().manual_seed(0))
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", default="old,new")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sample-n", type=int, default=250, help="images drawn per sampling measurement")
    p.add_argument("--compile", action="store_true", help="also time each candidate under torch.compile")
    p.add_argument("--out", default="benchmarks/results/recipe_step_time.jsonl")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from zoo.runtime.allocator import tune_allocator
    from zoo.runtime.cpu import current

    tune_allocator()
    runs = {(name, False): None for name in args.candidates.split(",")}
    if args.compile:
        runs.update({(name, True): None for name in args.candidates.split(",")})
    first = {}
    for key in runs:
        runs[key] = setup(*key)
        start = time.perf_counter()
        step(runs[key])  # warm-up (and the compile, for compiled ones)
        first[key] = time.perf_counter() - start
    for _ in range(args.reps):
        for c in runs.values():
            c["times"].append(step(c))
    samples = {key: [sample_seconds(c, args.sample_n) for _ in range(2)] for key, c in runs.items()}
    info = current()
    for (name, compiled), c in runs.items():
        row = {"candidate": name, "compiled": compiled, "threads": args.threads, "cpu": info.describe(),
               "first_step_s": first[(name, compiled)], "step_s_median": statistics.median(c["times"]),
               "step_s_min": min(c["times"]), "sample_s_per_1000": 1000 / args.sample_n * min(samples[(name, compiled)]),
               "first_sample_s": samples[(name, compiled)][0],
               "sampler": f"{c['spec'].eval.sampler}-{c['spec'].eval.steps}", "load": list(__import__("os").getloadavg())}  # fmt: skip
        print(json.dumps(row))
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
