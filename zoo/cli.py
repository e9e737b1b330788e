"""The ``zoo`` command. Each sub-command lives in its own module under ``zoo.commands``.

A command module defines ``add_parser(subparsers)`` (which calls ``set_defaults(run=...)``) and
keeps heavy imports (torch) inside its run function, so ``zoo --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings

from rich.console import Console
from rich.markup import escape

import zoo.commands
from zoo.allocator import tune_allocator
from zoo.errors import UserError

err_console = Console(stderr=True, highlight=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="A plugin-based U-Net architecture zoo for denoising diffusion models.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"zoo {zoo.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [importlib.import_module(f"zoo.commands.{m.name}") for m in pkgutil.iter_modules(zoo.commands.__path__)]
    for module in sorted(modules, key=lambda m: getattr(m, "ORDER", 100)):
        module.add_parser(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    err_console.print(f"[yellow]warning:[/] {escape(str(message))}", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    warnings.showwarning = _show_warning
    tune_allocator()  # before any tensor: zoo/allocator.py
    try:
        return int(args.run(args) or 0)
    except UserError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        return err.exit_code
    except Exception as err:  # noqa: BLE001 - only a full disk is turned into a line, anything else re-raises
        from zoo.io import disk_full_error, is_disk_full

        if not is_disk_full(err):
            raise
        full = disk_full_error(getattr(err, "filename", None))
        err_console.print(f"[bold red]error:[/] {escape(str(full))}", soft_wrap=True)
        return full.exit_code
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130
    except BrokenPipeError:  # `zoo list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
