"""``zoo evaluate RUN_DIR|SAMPLES.npz``: FID, KID, IS, diversity, precision/recall of samples (zoo.metrics).

Prints the samples' scores beside two reference rows computed with the same extractor and the same
number of images: real training images (the floor) and uniform noise (the ceiling).
"""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 70


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score samples against real test images, beside floor and ceiling reference rows",
        description="Score RUN_DIR/samples.npz against the run's data (writes RUN_DIR/metrics.json), or a bare "
        "SAMPLES.npz (key 'images', uint8 N,C,H,W) against --dataset at --size. Each score is shown beside "
        "the same score of real training images (floor) and of uniform noise (ceiling); see docs/metrics.md.",
    )
    p.add_argument("target", metavar="RUN_DIR|SAMPLES.npz", help="a run folder, or a .npz holding 'images'")
    p.add_argument("--dataset", default="digits", help="bare .npz only: the registered dataset of the real images (default: digits)")
    p.add_argument("--size", type=int, help="bare .npz only: side of the real images (default: the samples' side)")
    p.add_argument("--channels", type=int, help="bare .npz only: 1 or 3 (default: the samples' channels)")
    p.add_argument("--root", help="bare .npz only: folder of the raw files (flowers102, celeba, imagefolder)")
    p.add_argument("--prepared", default="data/prepared", help="bare .npz only: folder of prepared datasets")
    p.add_argument("--feature", help="feature extractor (`zoo features`); default: the run's, else the dataset's")
    p.add_argument("--metrics", help="comma-separated metrics (`zoo list metric`); default: the run's, else all")
    p.add_argument("--n", type=int, help="score only the first N samples (default: all); references use the same N")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise images of the ceiling row")
    p.add_argument("--no-references", dest="references", action="store_false", help="skip the floor and ceiling rows")
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rich.console import Console

    from zoo.errors import UserError
    from zoo.metrics.evaluate import (
        DEFAULT_METRICS,
        build_extractor,
        build_metrics,
        evaluate,
        evaluate_run,
    )
    from zoo.metrics.render import render_result
    from zoo.metrics.samples import load_samples

    target = Path(args.target)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    progress = not args.json
    if target.is_dir():
        result = evaluate_run(target, feature=args.feature, metrics=metrics, n=args.n, references=args.references,
                              seed=args.seed, progress=progress, registry=args.registry)  # fmt: skip
    elif target.suffix == ".npz" or target.is_file():
        from zoo.config.spec import DataSpec
        from zoo.data.prepare import prepare

        images = load_samples(target)
        channels = args.channels or images.shape[1]
        if channels != images.shape[1]:
            raise UserError(
                f"the samples in '{target}' have {images.shape[1]} channel(s) but --channels is {channels}; "
                f"drop --channels or evaluate samples of a {channels}-channel model"
            )
        build_metrics(metrics or DEFAULT_METRICS, args.registry)  # unknown names and missing weights fail before preparing
        feature = build_extractor(args.feature, args.registry) if args.feature else None
        spec = DataSpec(dataset=args.dataset, root=args.root, size=args.size or images.shape[2], channels=channels,
                        prepared=args.prepared)  # fmt: skip
        prepared = prepare(spec, args.registry, progress=progress)
        result = evaluate(images, prepared, feature=feature, metrics=metrics or DEFAULT_METRICS, n=args.n,
                          references=args.references, seed=args.seed, progress=progress, registry=args.registry)  # fmt: skip
    else:
        raise UserError(f"'{target}' does not exist; pass a run folder or a samples .npz (`zoo sample` writes both)")
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        render_result(result, Console(highlight=False))
        if target.is_dir():
            Console(highlight=False).print(f"wrote {target / 'metrics.json'}")
    return 0
