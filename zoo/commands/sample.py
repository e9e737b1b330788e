"""``zoo sample RUN_DIR [--n N] [--sampler ddim] [--steps 50] [--seed S] [--out FILE]``:
draw images from a trained run into ``samples.npz`` and ``samples.png``."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 60


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw images from a trained run", description=__doc__)
    p.add_argument("run_dir", help="a run folder written by `zoo train`")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--sampler", default=None, help="registered sampler (default: the spec's eval.sampler)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the spec's eval.steps)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    p.add_argument("--batch-size", type=int, default=250, help="images per sampling batch")
    p.add_argument("--weights", choices=("ema", "raw"), default="ema", help="EMA weights (default) or raw weights")
    p.add_argument("--out", default=None, help="output .npz (default RUN_DIR/samples.npz; the PNG grid goes beside it)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from zoo.errors import UserError
    from zoo.plugins import get_registry
    from zoo.run import load_run
    from zoo.sample import generate, save_grid, save_npz

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    loaded = load_run(args.run_dir, weights=args.weights)
    sampler = args.sampler or loaded.spec.eval.sampler
    steps = args.steps or loaded.spec.eval.steps
    get_registry().get("sampler", sampler)
    start = time.perf_counter()
    images = generate(loaded, args.n, sampler=sampler, steps=steps, seed=args.seed, batch_size=args.batch_size,
                      progress=args.progress)
    seconds = time.perf_counter() - start
    out = Path(args.out) if args.out else Path(args.run_dir) / "samples.npz"
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got '{out}'")
    save_npz(images, out)
    save_grid(images, out.with_suffix(".png"))
    how = "the model's own sampler" if loaded.diffusion is None else f"{sampler}, {steps} steps"
    Console(stderr=True).print(f"{args.n} samples ({how}, {loaded.weights} weights, {seconds / args.n * 1e3:.1f} ms/image) "
                               f"-> {out} and {out.with_suffix('.png')}")
    return 0
