"""Quality against optimisation steps for candidate recipes: the CPU-independent half of choosing one.

Trains each named candidate for ``--steps`` steps (1 thread by default, so the numbers do not depend on
how busy the machine is) and scores it with the digits metric at the ``--at`` steps, with several
EMAs kept side by side (diffusers' warm-up rule and power-function EMAs of three lengths) and several
samplers at the end. Appends one JSON line per score to ``--out``. Time per step is measured apart,
side by side in one process (``step_time.py``); FID vs minutes = this curve at steps = minutes x
steps per minute.

    python benchmarks/quality/recipe_steps.py --candidate new --steps 3000 --at 1000,2000,3000
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

CANDIDATES: dict[str, list[str]] = {
    # quality.toml's base before this change: the study's recipe at dim 16
    "old": ["preset=study", "model.dim=16"],
    # the new default (zoo.config.recipe) for 16x16 greyscale
    "new": [],
    "new_convnext": ["model.block=convnext", "model.attention=linear"],  # the new training recipe, old network
    "new_eps_linear": ["diffusion.objective=eps", "diffusion.schedule=linear", "diffusion.min_snr_gamma=none"],
    "new_dim16": ["model.dim=16"],
    "new_const_lr": ["train.lr_decay=none"],
}
EMAS = {"warmup": {"std": None}, "std0.05": {"std": 0.05}, "std0.10": {"std": 0.10}}


def make_spec(overrides: list[str]):  # noqa: ANN201
    from zoo.config.resolve import load_spec

    preset = [o.split("=", 1)[1] for o in overrides if o.startswith("preset=")]
    rest = [o for o in overrides if not o.startswith("preset=")]
    base = ["data.dataset=digits", "data.size=16", "data.channels=1"]
    return load_spec(None, base + rest, preset=preset[0] if preset else None)


def score(model, diffusion, spec, prepared, sampler: str, steps: int, n: int) -> dict:  # noqa: ANN001
    from zoo.metrics.evaluate import evaluate
    from zoo.plugins import get_registry
    from zoo.runs.sample import to_uint8

    sample = get_registry().get("sampler", sampler).factory
    model.eval()
    start = time.perf_counter()
    images = []
    for i in range(0, n, 250):
        g = torch.Generator().manual_seed(1000 + i)
        images.append(to_uint8(sample(model, diffusion, (min(250, n - i), 1, 16, 16), steps=steps, generator=g)))
    seconds = time.perf_counter() - start
    import numpy as np

    result = evaluate(np.concatenate(images), prepared, metrics=("fid", "kid", "precision", "recall"), references=True)
    rows = {r.name.split(":")[0]: r.values for r in result.rows}
    return {"sample_s": seconds, **{k: rows["samples"][k] for k in ("fid", "kid", "precision", "recall")},
            "floor_fid": rows["floor"]["fid"], "floor_kid": rows["floor"]["kid"]}


def train(name: str, args: argparse.Namespace, out: Path) -> None:
    from zoo.data.loader import make_loader
    from zoo.data.prepare import prepare
    from zoo.runs.load import build
    from zoo.train.ema import EMA
    from zoo.train.lr import lr_factor, progress

    spec = make_spec(CANDIDATES[name] + args.set)
    t = spec.train
    prepared = prepare(spec.data)
    torch.manual_seed(t.seed)
    model, diffusion = build(spec)
    model.to(memory_format=torch.channels_last)
    emas = {k: EMA(model, **v) for k, v in EMAS.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, fused=True)
    generator = torch.Generator().manual_seed(t.seed)
    at = sorted(int(s) for s in args.at.split(","))
    step, epoch, start = 0, 0, time.perf_counter()
    while step < args.steps:
        for images, _ in make_loader(prepared, "train", batch_size=t.batch_size, seed=t.seed, epoch=epoch, flip=spec.data.flip):
            for group in optimizer.param_groups:
                group["lr"] = t.lr * lr_factor(step, progress(step, args.steps, 0, None), warmup=t.lr_warmup, decay=t.lr_decay)
            model.train()
            loss = diffusion.training_loss(model, images.contiguous(memory_format=torch.channels_last), generator=generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            optimizer.step()
            for ema in emas.values():
                ema.update(model)
            step += 1
            if step in at:
                evaluate_point(name, step, time.perf_counter() - start, model, diffusion, spec, prepared, emas, args, out)
            if step >= args.steps:
                break
        epoch += 1


def evaluate_point(name, step, seconds, model, diffusion, spec, prepared, emas, args, out) -> None:  # noqa: ANN001
    """Mid-run: the default EMA with dpmpp_2m-20 on ``--mid-n`` samples. At the end: every EMA with
    dpmpp_2m-20 and the default EMA with DDIM-50 (the old default sampler), on ``--n`` samples."""
    final = step == args.steps
    points = [(args.ema, "dpmpp_2m", 20)]
    if final:
        points += [(args.ema, "ddim", 50)] + [(e, "dpmpp_2m", 20) for e in emas if e != args.ema]
    for ema_name, sampler, steps in points:
        shadow = copy.deepcopy(model)
        shadow.load_state_dict(emas[ema_name].state_dict())
        n = args.n if final else args.mid_n
        row = {"candidate": name, "set": args.set, "step": step, "train_s": seconds, "ema": ema_name, "n": n,
               "sampler": sampler, "sampler_steps": steps, **score(shadow, diffusion, spec, prepared, sampler, steps, n)}
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), file=sys.stderr, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidate", required=True, choices=sorted(CANDIDATES))
    p.add_argument("--set", action="append", default=[], help="extra section.key=value overrides")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--at", default="1000,2000,3000", help="steps at which to score")
    p.add_argument("--n", type=int, default=1000, help="samples per score at the end")
    p.add_argument("--mid-n", type=int, default=500, help="samples per score before the end")
    p.add_argument("--ema", default="std0.10", help="the EMA scored at every point (all are scored at the end)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/recipe_steps.jsonl")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from zoo.runtime.allocator import tune_allocator

    tune_allocator()
    train(args.candidate, args, Path(args.out))


if __name__ == "__main__":
    main()
