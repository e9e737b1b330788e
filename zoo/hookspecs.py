"""The pluggy hook: the one entry into zoo for every plugin, zoo's own parts included.

A plugin is any installed distribution that declares an entry point in the group ``zoo``::

    [project.entry-points.zoo]
    my_blocks = "my_package.blocks"

and whose module defines::

    import zoo

    @zoo.hookimpl
    def zoo_register(registry):
        registry.add("activation", "mish", torch.nn.Mish, help="Mish (Misra 2019)")

zoo's own components, sub-commands and training hooks register through exactly this path (see zoo's
``pyproject.toml``). What each kind's factory is called with and must return is :mod:`zoo.contract`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from zoo.registry import Registry

PROJECT = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register(registry: Registry) -> None:
    """Add components with ``registry.add(kind, name, factory, help="one line", **declarations)``: any
    kind of :data:`zoo.registry.KINDS` (blocks to datasets, and ``command`` and ``training_hook`` to
    extend ``zoo`` itself); the factory's call shape and declarations are in :mod:`zoo.contract`."""


def __getattr__(name: str) -> Any:
    """The contract's names, where plugins written before :mod:`zoo.contract` existed import them from."""
    import zoo.contract

    if name.startswith("__") or not hasattr(zoo.contract, name):
        raise AttributeError(f"module 'zoo.hookspecs' has no attribute '{name}'")
    return getattr(zoo.contract, name)
