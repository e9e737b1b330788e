"""``zoo schedules [--timesteps T] [--plot out.png]``: every registered beta schedule, side by side.

Without ``--plot`` it prints a table (name, help, beta_1, beta_T, alpha_bar_T). With ``--plot`` it
draws alpha_bar(t) and log SNR(t) of every schedule on one figure (two panels), written atomically;
the format follows the file's extension (png, pdf, svg, ...).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoo.registry import Registry

ORDER = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schedules",
        help="compare the registered beta schedules (table, or --plot a figure)",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--timesteps", "-T", type=int, default=1000, help="number of diffusion steps T")
    p.add_argument("--plot", metavar="FILE", type=Path, help="write alpha_bar(t) and log SNR(t) to this image file")
    p.set_defaults(run=run)


def _schedules(registry: Registry, timesteps: int) -> tuple[dict[str, object], dict[str, str]]:
    """name -> betas for every schedule that works at this T, and name -> reason for the others."""
    from zoo.errors import UserError

    betas, failed = {}, {}
    for component in registry.list("schedule"):
        try:
            betas[component.name] = component.factory(timesteps)
        except UserError as err:
            failed[component.name] = str(err)
    return betas, failed


def _table(registry: Registry, timesteps: int) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from zoo.diffusion.schedules import alphas_cumprod

    betas, failed = _schedules(registry, timesteps)
    table = Table("name", "help", "beta_1", "beta_T", "alpha_bar_T", title=f"beta schedules at T = {timesteps}")
    for component in registry.list("schedule"):
        name = component.name
        if name in betas:
            b = betas[name]
            cells = (f"{b[0].item():.4g}", f"{b[-1].item():.4g}", f"{alphas_cumprod(b)[-1].item():.3g}")
        else:
            cells = ("[red]n/a[/]", "[red]n/a[/]", "[red]n/a[/]")
        table.add_row(f"[bold]{name}[/]", escape(component.help), *cells)
    console = Console()
    console.print(table)
    for name, reason in failed.items():
        console.print(f"[yellow]{name}:[/] {escape(reason)}", soft_wrap=True)
    return 0


def _plot(registry: Registry, timesteps: int, path: Path) -> int:
    from matplotlib.figure import Figure

    from zoo.diffusion.schedules import alphas_cumprod, log_snr
    from zoo.errors import UserError
    from zoo.runtime.io import atomic_path

    fig = Figure(figsize=(10, 4), layout="constrained")
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in fig.canvas.get_supported_filetypes():
        supported = ", ".join(sorted(fig.canvas.get_supported_filetypes()))
        raise UserError(f"cannot write a figure to '{path}': use one of the extensions {supported}")
    betas, failed = _schedules(registry, timesteps)
    if not betas:
        raise UserError(f"no registered schedule works at T={timesteps}: " + "; ".join(failed.values()))
    ax_alpha, ax_snr = fig.subplots(1, 2)
    for name, b in betas.items():
        t = range(1, timesteps + 1)
        ax_alpha.plot(t, alphas_cumprod(b).numpy(), label=name)
        ax_snr.plot(t, log_snr(b).numpy(), label=name)
    ax_alpha.set(title="alpha_bar(t)", xlabel="t", ylabel="alpha_bar")
    ax_snr.set(title="log SNR(t) = log(alpha_bar / (1 - alpha_bar))", xlabel="t", ylabel="log SNR")
    for ax in (ax_alpha, ax_snr):
        ax.grid(alpha=0.3)
    ax_alpha.legend()
    fig.suptitle(f"beta schedules, T = {timesteps}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)
    print(f"wrote {path}")
    for name, reason in failed.items():
        print(f"skipped {name}: {reason}")
    return 0


def run(args: argparse.Namespace) -> int:
    from zoo.errors import UserError

    if args.timesteps < 2:
        raise UserError(f"--timesteps must be at least 2, got {args.timesteps}")
    return _plot(args.registry, args.timesteps, args.plot) if args.plot else _table(args.registry, args.timesteps)
