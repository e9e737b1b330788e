"""``zoo train [CONFIG] [--set ...] [--out RUN_DIR] [--resume]``: train one run.

Under ``torchrun --nproc_per_node=2 -m zoo train ...`` the same command trains with DDP.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.commands.describe import add_spec_arguments

ORDER = 50


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a spec", description=__doc__)
    add_spec_arguments(p)
    p.add_argument("--out", default="runs/default", help="run folder (checkpoints, logs, samples)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from zoo.config.resolve import load_spec
    from zoo.config.spec import read_spec_json
    from zoo.train import train

    saved = Path(args.out) / "spec.json"
    base = read_spec_json(saved) if args.resume and saved.is_file() else None
    spec = load_spec(args.config, args.overrides, registry=args.registry, base=base, preset=args.preset)
    summary = train(spec, args.out, resume=args.resume, progress=args.progress, saved=base)
    console = Console(stderr=True)
    verb = "interrupted: saved" if summary.interrupted else "trained"
    console.print(f"{verb} {summary.step} steps ({summary.samples_seen} images, {summary.images_per_s:.0f} img/s, "
                  f"final loss {summary.final_loss:.4f}) -> {args.out}")
    return 130 if summary.interrupted else 0
