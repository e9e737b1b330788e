"""The ``zoo`` command: the edge where the registry is loaded and handed to every sub-command.

Sub-commands are registered components of kind ``command`` (zoo's own in :mod:`zoo.commands`, a
plugin's through the same hook): a factory ``(subparsers)`` that adds its parser and
``set_defaults(run=fn)``; ``fn(args)`` finds the loaded registry in ``args.registry``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from rich.console import Console
from rich.markup import escape

import zoo
from zoo.errors import UserError
from zoo.plugins import get_registry
from zoo.registry import Registry
from zoo.runtime.allocator import tune_allocator

err_console = Console(stderr=True, highlight=False)


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="A plugin-based U-Net architecture zoo for denoising diffusion models.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"zoo {zoo.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in sorted(registry.list("command"), key=lambda c: (c.declared("order"), c.name)):
        try:
            command.factory(sub)
        except Exception as err:  # noqa: BLE001 - one broken plugin command must not take `zoo` down
            warnings.warn(f"command '{command.name}' (plugin {command.plugin}, {command.distribution}) failed to add "
                          f"its parser: {type(err).__name__}: {err}; it was skipped", stacklevel=2)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    err_console.print(f"[yellow]warning:[/] {escape(str(message))}", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning  # a broken plugin is one line, from here on
    registry = get_registry()
    parser = build_parser(registry)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    args.registry = registry
    tune_allocator()  # before any tensor: zoo/runtime/allocator.py
    try:
        return int(args.run(args) or 0)
    except UserError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        return err.exit_code
    except Exception as err:  # noqa: BLE001 - only a full disk is turned into a line, anything else re-raises
        from zoo.runtime.io import disk_full_error, is_disk_full

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
