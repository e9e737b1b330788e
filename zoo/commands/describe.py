"""``zoo describe [CONFIG.toml] [--set model.KEY=VALUE ...]``: the network a spec builds."""

from __future__ import annotations

import argparse

ORDER = 20


def add_spec_arguments(p: argparse.ArgumentParser) -> None:
    """The spec syntax every command shares: an optional TOML file and repeated --set overrides."""
    p.add_argument("config", nargs="?", help="run spec TOML file (sections model, diffusion, data, train, eval)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set model.block=resnet --set model.dim_mults=[1,2,4]",
    )
    p.add_argument("--preset", help="named settings under the file and --set (`study`: the study's recipe; zoo.config.recipe)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("describe", help="module tree, parameters and FLOPs of a spec's model", description=__doc__)
    add_spec_arguments(p)
    p.add_argument("--batch-size", type=int, default=1, help="batch size for the FLOP count")
    p.add_argument("--depth", type=int, default=2, help="depth of the module tree shown")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.tree import Tree

    from zoo.config.resolve import load_spec
    from zoo.models.info import count_parameters, forward_flops

    spec = load_spec(args.config, args.overrides, registry=args.registry, model_only=True, preset=args.preset)
    model = spec.build_model()
    console = Console()

    def add(node: Tree, module, depth: int) -> None:  # noqa: ANN001
        for name, child in module.named_children():
            n = count_parameters(child)
            sub = node.add(f"[bold]{name}[/] {type(child).__name__} [dim]{n:,} params[/]")
            if depth > 1:
                add(sub, child, depth - 1)

    tree = Tree(f"[bold]{type(model).__name__}[/] ({spec.model.name})")
    add(tree, model, args.depth)
    console.print(tree)
    flops = forward_flops(model, spec.model, args.batch_size)
    table = Table("", "value", title="summary")
    for key in ("block", "attention", "mid_attention", "norm", "activation", "time_embedding", "dim", "dim_mults", "patch"):
        table.add_row(key, str(getattr(spec.model, key)))
    table.add_row("input", f"{args.batch_size} x {spec.model.channels} x {spec.model.image_size} x {spec.model.image_size}")
    table.add_row("parameters", f"{count_parameters(model):,}")
    table.add_row("forward FLOPs", f"{flops / 1e9:.3f} GFLOP")
    console.print(table)
    return 0
