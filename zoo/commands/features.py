"""``zoo features [NAME] [--info]``: the registered feature extractors, or the details of one.
``zoo features build NAME [--out DIR]``: train a network zoo ships (for a changed recipe).

``--info`` builds the extractor (digits loads its shipped weights; Inception needs its weights file)
and prints its identity, weights file, parameter count and, for digits, the recipe hash, held-out test
accuracy and the CPU, torch and threads it was trained with.

``build`` is the only thing that trains a shipped network: it writes ``<stem>.safetensors`` and its
JSON (sha256, identity, held-out accuracy, recipe, torch, CPU) atomically into --out (default: the
current folder) and never replaces existing files without --force. A maintainer updates the shipped
network with ``--out`` pointing at the package folder (docs/metrics.md).
"""

from __future__ import annotations

import argparse
from typing import Any

ORDER = 75


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "features",
        help="list feature extractors, or --info on one",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", metavar="NAME|ACTION",
                   help=f"an extractor name or a wildcard like 'inc*'; or an action on one: {', '.join(ACTIONS)}")
    p.add_argument("target", nargs="?", metavar="NAME", help="the extractor an ACTION acts on (`zoo features build digits`)")
    p.add_argument("--info", action="store_true", help="build NAME and print its details")
    p.add_argument("--out", default=".", help="build: folder for the weights and their JSON (default: the current one)")
    p.add_argument("--force", action="store_true", help="build: replace existing files in --out (the shipped network too)")
    p.add_argument("--threads", type=int, default=1, help="build: torch threads to train with (the bytes depend on it)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run=run)


def build(args: argparse.Namespace) -> int:
    """Train the shipped network ``args.target`` into ``args.out`` and print what was written."""
    import json
    from pathlib import Path

    from rich.console import Console

    from zoo.errors import UserError
    from zoo.metrics.shipped import shipped

    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    network = shipped(args.target)
    err = Console(stderr=True, highlight=False)
    err.print(f"training the '{args.target}' feature network with {args.threads} thread(s) ...")
    weights, manifest = network.build(Path(args.out), force=args.force, threads=args.threads)
    if args.json:
        print(json.dumps({"weights": str(weights), **manifest}, indent=2))
        return 0
    accuracy = manifest.get("test_accuracy")
    err.print(f"wrote {weights} and {weights.with_suffix('.json').name}: identity {manifest['identity']}, "
              f"sha256 {manifest['sha256'][:16]}..." + (f", held-out test accuracy {accuracy:.4f}" if accuracy is not None else ""))
    if weights.parent.resolve() != network.directory().resolve():
        err.print(f"zoo still scores with the shipped network in {network.directory()} (docs/metrics.md says how to replace it)")
    return 0


#: ``zoo features ACTION NAME``: what acts on one extractor instead of listing or describing it.
ACTIONS = {"build": build}


def run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from zoo.errors import UserError
    from zoo.plugins import get_registry

    if args.name in ACTIONS:
        if not args.target:
            raise UserError(f"`zoo features {args.name}` needs an extractor name, e.g. `zoo features {args.name} digits`")
        return ACTIONS[args.name](args)
    if args.target:
        raise UserError(f"unknown action '{args.name}' (actions: {', '.join(ACTIONS)}); `zoo features NAME --info` describes one")
    registry = get_registry()
    console = Console(highlight=False)
    if args.info:
        if not args.name:
            raise UserError("--info needs an extractor name, e.g. `zoo features digits --info`")
        from zoo.metrics.extractor import as_extractor

        info = as_extractor(registry.create("feature", args.name), args.name).info()
        if args.json:
            print(json.dumps(info, indent=2))
            return 0
        table = Table(title=f"feature extractor '{args.name}'")
        table.add_column("property")
        table.add_column("value", overflow="fold")
        for key, value in info.items():
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
        console.print(table)
        return 0
    pattern = args.name if args.name and any(c in args.name for c in "*?[") else None
    components = registry.list("feature", pattern)
    if args.name and pattern is None:
        components = [registry.get("feature", args.name)]  # an unknown name fails with did-you-mean
    if args.json:
        print(json.dumps([{"name": c.name, "distribution": c.distribution, "plugin": c.plugin, "help": c.help}
                          for c in components], indent=2))  # fmt: skip
        return 0
    table = Table("name", "plugin", "help", title="feature extractors (`zoo features NAME --info` for details)")
    for c in components:
        table.add_row(f"[bold]{c.name}[/]", f"{c.distribution}:{c.plugin}", c.help)
    console.print(table)
    return 0
