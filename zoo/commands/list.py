"""``zoo list [KIND] [PATTERN] [--json] [--plugins]``: what is registered, and by which plugin."""

from __future__ import annotations

import argparse
import json

ORDER = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered components (or --plugins)", description=__doc__)
    p.add_argument("kind", nargs="?", help="only this kind (block, attention, norm, activation, ...)")
    p.add_argument("pattern", nargs="?", help="wildcard on the name, e.g. 'conv*'")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--plugins", action="store_true", help="list plugin distributions and their status instead")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from zoo.plugins import plugin_infos
    from zoo.registry import KINDS

    console = Console()
    if args.plugins:
        infos = plugin_infos()
        if args.json:
            print(json.dumps([info.__dict__ for info in infos], indent=2))
            return 0
        table = Table("plugin", "distribution", "version", "module", "status", title="zoo plugins")
        for info in infos:
            style = "green" if info.status == "loaded" else ("yellow" if info.status == "disabled" else "red")
            table.add_row(info.name, info.distribution, info.version, info.module, f"[{style}]{info.status}[/]")
        console.print(table)
        return 0
    kind, pattern = args.kind, args.pattern
    if kind is not None and kind not in KINDS and pattern is None and any(c in kind for c in "*?["):
        kind, pattern = None, kind  # `zoo list 'conv*'`
    components = args.registry.list(kind, pattern)
    if args.json:
        rows = [{"kind": c.kind, "name": c.name, "plugin": c.plugin, "distribution": c.distribution, "help": c.help}
                for c in components]
        print(json.dumps(rows, indent=2))
        return 0
    table = Table("kind", "name", "plugin", "help", title="zoo components")
    for c in components:
        table.add_row(c.kind, f"[bold]{c.name}[/]", f"{c.distribution}:{c.plugin}", c.help)
    console.print(table)
    if not components:
        console.print("no component matches; `zoo list` shows all")
    return 0
