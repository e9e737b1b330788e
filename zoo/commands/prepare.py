"""``zoo prepare DATASET``: resize, clean and split a dataset into memory-mapped arrays (zoo.data.prepare)."""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 40


def add_parser(subparsers: Any) -> None:
    from zoo.config.spec import DataSpec

    d = DataSpec()
    p = subparsers.add_parser(
        "prepare",
        help="resize, clean and split a dataset once, for every run",
        description="Decode every image of DATASET, resize and centre-crop it, reject bad files with a "
        "reason, split train/val/test by seed, and save uint8 arrays plus manifest.json under "
        "OUT/<dataset>-<size>-<channels>/. Running it again with the same arguments reuses that copy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("dataset", metavar="DATASET", help="registered dataset (`zoo list dataset`)")
    p.add_argument("--root", default=d.root, help="folder of the raw files (flowers102/celeba: data/raw)")
    p.add_argument("--size", type=int, default=d.size, help="side of the square images")
    p.add_argument("--channels", type=int, default=d.channels, help="1 (greyscale) or 3 (RGB)")
    p.add_argument("--split", default=",".join(f"{f:g}" for f in d.split), help="train,val,test fractions")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the split")
    p.add_argument("--out", default=d.prepared, help="folder holding prepared datasets")
    p.add_argument("--force", action="store_true", help="rebuild even if a matching copy exists")
    p.add_argument("--download", action="store_true", help="let torchvision download missing files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from zoo.config.spec import DataSpec, section_from_dict
    from zoo.data.prepare import prepare, summary_table

    values = {
        "dataset": args.dataset,
        "root": args.root,
        "size": args.size,
        "channels": args.channels,
        "split": args.split,  # "0.8,0.1,0.1": parsed (and checked) by the spec
        "seed": args.seed,
        "prepared": args.out,
        "download": args.download,
    }
    spec = section_from_dict(DataSpec, values, "data")
    prepared = prepare(spec, args.registry, force=args.force, progress=True)
    console = Console(highlight=False)
    verb = "reused" if prepared.reused else f"wrote in {prepared.manifest['seconds']:.1f} s"
    console.print(f"{verb}: {prepared.path}  (hash {prepared.hash[:12]})")
    console.print(summary_table(prepared))
    if attribution := prepared.manifest.get("attribution"):
        console.print(f"attribution: {attribution}")
    return 0
