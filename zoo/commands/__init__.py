"""zoo's own sub-commands, one module each, registered as components of kind ``command`` through the same
hook a plugin's use (:mod:`zoo.contract`, ``CommandFactory``). A module defines ``add_parser(subparsers)``
and ``ORDER`` (its place in ``zoo --help``) and keeps heavy imports (torch) inside its run function."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.commands import benchmark, describe, evaluate, features, prepare, report, sample, schedules, train
from zoo.commands import list as list_
from zoo.hookspecs import hookimpl

if TYPE_CHECKING:
    from zoo.registry import Registry

COMMANDS = (list_, describe, schedules, prepare, train, sample, evaluate, features, benchmark, report)


@hookimpl
def zoo_register(registry: Registry) -> None:
    for module in COMMANDS:
        name = module.__name__.rpartition(".")[2]
        registry.add("command", name, module.add_parser, help=_summary(module.__doc__ or ""), order=module.ORDER)


def _summary(doc: str) -> str:
    """What a command does, from its module docstring (``zoo NAME ...``: what it does.), usage left out."""
    return " ".join(doc.split()).partition("``: ")[2].split(". ")[0].rstrip(".") or doc.strip().splitlines()[0]
