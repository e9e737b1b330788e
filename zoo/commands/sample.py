"""``zoo sample RUN_DIR [--n N] [--sampler ddim] [--steps 50] [--option KEY=VALUE] [--seed S] [--compile auto]
[--guidance W] [--guidance-interval LOW,HIGH] [--eps-scale S] [--out FILE]``:
draw images from a trained run into ``samples.npz`` and ``samples.png``."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.config.spec import EvalSpec

ORDER = 60


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw images from a trained run", description=__doc__)
    p.add_argument("run_dir", help="a run folder written by `zoo train`")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--sampler", default=None, help="registered sampler (default: the spec's eval.sampler)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the spec's eval.steps)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampler option, e.g. spacing=linspace (repeatable; default: the spec's eval.sampler_options "
                   "when --sampler is the spec's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    p.add_argument("--batch-size", type=int, default=250, help="images per sampling batch")
    p.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                   help="draw with the network compiled by torch.compile: auto (default) compiles when the job's "
                   "network evaluations repay the compile time (thousands of images), on always, off never")
    p.add_argument("--weights", choices=("ema", "raw"), default="ema", help="EMA weights (default) or raw weights")
    p.add_argument("--guidance", type=float, default=None, metavar="W",
                   help="autoguidance weight: 1 unguided, more steers away from the run's guide (default: the spec's eval.guidance)")
    p.add_argument("--guidance-interval", default=None, metavar="LOW,HIGH",
                   help="guide only where the noise level sigma is in (LOW, HIGH]; 'none' everywhere (default: the spec's "
                        "eval.guidance_interval)")
    p.add_argument("--eps-scale", type=float, default=None, metavar="S",
                   help="epsilon scaling: divide the noise prediction by S, 1 off, 0.9-1.1 (default: the spec's eval.eps_scale)")
    p.add_argument("--out", default=None, help="output .npz (default RUN_DIR/samples.npz; the PNG grid goes beside it)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from zoo.diffusion.samplers import model_device
    from zoo.errors import UserError
    from zoo.runs.load import load_run
    from zoo.runs.sample import generate, save_grid, save_npz
    from zoo.runtime.precision import use_bf16

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    loaded = load_run(args.run_dir, args.registry, weights=args.weights)
    e = loaded.spec.eval
    sampler = args.sampler or e.sampler
    steps = args.steps or e.steps
    args.registry.get("sampler", sampler)
    for flag, given in (("--option", bool(args.option)), ("--compile on", args.compile == "on"),
                        ("--guidance", args.guidance is not None), ("--guidance-interval", args.guidance_interval is not None),
                        ("--eps-scale", args.eps_scale is not None)):
        if given and loaded.diffusion is None:
            raise UserError(f"{flag}: the model of {args.run_dir} samples itself ({loaded.spec.model.name}), through "
                            f"no sampler and no denoising network, so it takes no {flag}; leave it out")
    if args.guidance_interval is not None:
        e = interval_set(e, args.guidance_interval)
        loaded = dataclasses.replace(loaded, spec=dataclasses.replace(loaded.spec, eval=e))
    options = {**e.options_for(sampler), **parse_options(args.option)}
    out = Path(args.out) if args.out else Path(args.run_dir) / "samples.npz"
    if out.suffix != ".npz":  # before sampling, not after
        raise UserError(f"--out must end in .npz, got '{out}'")
    console = Console(stderr=True)
    start = time.perf_counter()
    images, calls = generate(loaded, args.n, sampler=sampler, steps=steps, seed=args.seed, batch_size=args.batch_size,
                             progress=args.progress, options=options, compile=args.compile,
                             note=lambda text: console.print(text, markup=False), return_calls=True, guidance=args.guidance,
                             eps_scale=args.eps_scale)
    seconds = time.perf_counter() - start
    save_npz(images, out)
    save_grid(images, out.with_suffix(".png"))
    bf16 = ["bf16"] if use_bf16(loaded.spec, model_device(loaded.model, loaded.diffusion))[0] else []
    if loaded.diffusion is None:
        how = ", ".join(["the model's own sampler", *bf16])
    else:
        made = f"{steps} steps" if calls == steps else f"{calls} network calls per image (the sampler's own count; steps={steps})"
        guidance = e.guidance if args.guidance is None else args.guidance
        within = "" if e.guidance_interval is None else ", sigma in ({:g}, {:g}]".format(*e.guidance_interval)
        guided = [f"autoguidance {guidance:g} (guide: the weights at step {loaded.guide_step:,}{within})"] if guidance != 1 else []
        eps_scale = e.eps_scale if args.eps_scale is None else args.eps_scale
        scaled = [f"eps_scale {eps_scale:g}"] if eps_scale != 1 else []
        how = ", ".join([sampler, made, *(f"{key}={value}" for key, value in options.items()), *guided, *scaled, *bf16])
    console.print(f"{args.n} samples ({how}, {loaded.weights} weights, {seconds / args.n * 1e3:.1f} ms/image) "
                  f"-> {out} and {out.with_suffix('.png')}")
    return 0


def interval_set(evaluation: EvalSpec, text: str) -> EvalSpec:
    """``evaluation`` with ``--guidance-interval``'s value, checked as the spec's own would be."""
    from zoo.config.coerce import coerce
    from zoo.config.spec import EvalSpec

    interval = coerce(text, typing.get_type_hints(EvalSpec)["guidance_interval"], "--guidance-interval")
    out = dataclasses.replace(evaluation, guidance_interval=interval)
    out.check()
    return out


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["spacing=linspace", "eta=1"]`` -> ``{"spacing": "linspace", "eta": 1}`` (values as in ``--set``)."""
    from zoo.config.spec import parse_value
    from zoo.errors import UserError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--option expects KEY=VALUE (e.g. spacing=linspace), got '{pair}'")
        out[key.strip()] = parse_value(value.strip())
    return out
