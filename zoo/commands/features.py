"""``zoo features [NAME] [--info]``: the registered feature extractors, or the details of one.
``zoo features ACTION NAME``: do something to one extractor's weights.

``--info`` builds the extractor (digits loads its shipped weights; Inception needs its weights file)
and prints its identity, weights file, parameter count and, for digits, the recipe hash, held-out test
accuracy and the CPU, torch and threads it was trained with.

Actions (a word before NAME; these words are never extractor names):
  fetch inception   download the FID Inception weights once into the torch hub cache (or to
                    $ZOO_INCEPTION_WEIGHTS when set), check their SHA-256 and that they load; a second
                    call checks the file already there. $ZOO_INCEPTION_URL names a mirror.
  build digits      train a network zoo ships (for a changed recipe): the only thing that trains one. It
                    writes ``<stem>.safetensors`` and its JSON (sha256, identity, held-out accuracy,
                    recipe, torch, CPU) atomically into --out (default: the current folder) and never
                    replaces existing files without --force. A maintainer updates the shipped network
                    with ``--out`` pointing at the package folder (docs/metrics.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

ORDER = 75


def _fetch(name: str, args: argparse.Namespace) -> int:
    from zoo.errors import UserError

    if name != "inception":
        raise UserError(f"feature extractor '{name}' has no weights to download; `zoo features fetch` knows "
                        f"'inception' only (digits ships with zoo: `zoo features digits --info`)")
    import json

    from rich.console import Console

    from zoo.metrics.fetch import fetch_inception

    fetched = fetch_inception(progress=not args.json)
    if args.json:
        print(json.dumps(fetched.to_dict(), indent=2))
        return 0
    what = (f"downloaded {fetched.path.name} ({fetched.size / 1e6:.1f} MB)" if fetched.downloaded else
            f"{fetched.path.name} is already there")  # fmt: skip
    Console(highlight=False).print(f"{what}: {fetched.path}\nSHA-256 {fetched.sha256} verified; {fetched.tensors} "
                                   f"tensors load; `zoo evaluate --feature inception` reads it")
    return 0


def _build(name: str, args: argparse.Namespace) -> int:
    """Train the shipped network ``name`` into ``args.out`` and print what was written."""
    import json
    from pathlib import Path

    from rich.console import Console

    from zoo.errors import UserError
    from zoo.metrics.shipped import shipped

    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    network = shipped(name, args.registry)
    err = Console(stderr=True, highlight=False)
    err.print(f"training the '{name}' feature network with {args.threads} thread(s) ...")
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


#: ``zoo features ACTION NAME``: each action, run with the extractor's name and the parsed arguments.
ACTIONS: dict[str, Callable[[str, argparse.Namespace], int]] = {"fetch": _fetch, "build": _build}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "features",
        help="list feature extractors, --info on one, fetch inception's weights or build a shipped network",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="zoo features [NAME | PATTERN] [--info] [--json]\n       zoo features ACTION NAME [--json] "
              "[--out DIR --force --threads N]",
    )
    p.add_argument("words", nargs="*", metavar="[ACTION] NAME",
                   help=f"an extractor name or a wildcard like 'inc*', after an action ({', '.join(ACTIONS)}) or not")
    p.add_argument("--info", action="store_true", help="build NAME and print its details")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--out", default=".", help="build: folder for the weights and their JSON (default: the current one)")
    p.add_argument("--force", action="store_true", help="build: replace existing files in --out (the shipped network too)")
    p.add_argument("--threads", type=int, default=1, help="build: torch threads to train with (the bytes depend on it)")
    p.set_defaults(run=run)


def _parse(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(action, name) from the positional words: ``[NAME]`` or ``ACTION NAME``."""
    from zoo.errors import UserError, did_you_mean

    words = args.words
    if len(words) > 2:
        raise UserError(f"too many words: {' '.join(words)}; use `zoo features [NAME] [--info]` or `zoo features "
                        f"ACTION NAME` (actions: {', '.join(ACTIONS)})")
    if len(words) == 2:
        if words[0] not in ACTIONS:
            hint = did_you_mean(words[0], ACTIONS) or f" (actions: {', '.join(ACTIONS)})"
            raise UserError(f"unknown action '{words[0]}'{hint}; `zoo features NAME --info` describes one extractor")
        if args.info:
            raise UserError(f"--info does not go with {words[0]}: run `zoo features {' '.join(words)}`, then "
                            f"`zoo features {words[1]} --info`")
        return words[0], words[1]
    if words and words[0] in ACTIONS:
        raise UserError(f"`zoo features {words[0]}` needs an extractor name, e.g. `zoo features {words[0]} inception`")
    return None, (words[0] if words else None)


def run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from zoo.errors import UserError
    action, name = _parse(args)
    registry = args.registry
    if action is not None:
        registry.get("feature", name)  # an unknown name fails with did-you-mean
        return ACTIONS[action](name, args)
    args.name = name
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
