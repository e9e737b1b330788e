"""``zoo features [NAME] [--info]``: the registered feature extractors, or the details of one.

``--info`` builds the extractor (the digits CNN trains once if it is not cached; Inception needs its
weights file) and prints its identity, weights file, parameter count and, for digits, the recipe
hash and held-out test accuracy.
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
    p.add_argument("name", nargs="?", metavar="NAME", help="an extractor name, or a wildcard like 'inc*'")
    p.add_argument("--info", action="store_true", help="build NAME and print its details (may train digits once)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from zoo.errors import UserError
    registry = args.registry
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
