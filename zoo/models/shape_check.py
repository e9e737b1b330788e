"""Which registered part broke the U-Net's shape contract, named in one line instead of a traceback.

Every block must map ``(N, dim_in, H, W)`` to ``(N, dim_out, H, W)`` and every attention must keep its
input's shape (docs/plugins.md). A plugin part that does not fails somewhere downstream with torch's
message about a convolution or a concatenation, which names neither the part nor the shapes. The U-Net
records what each part it builds must return; when a forward pass fails (or returns the wrong shape),
:meth:`ShapeContract.diagnose` runs one image again with a check after every part and raises a
:class:`~zoo.errors.UserError` naming the first offender. Nothing is checked on the normal path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo.errors import UserError

if TYPE_CHECKING:
    from zoo.registry import Registry


@dataclass(frozen=True)
class Expected:
    kind: str  # "block" or "attention"
    name: str  # the registered name (spec.block, spec.attention, ...)
    dims: tuple[int, int] | None  # (dim_in, dim_out) of a block; None: the output keeps the input's shape
    plugin: str  # who registered the part ("plugin, distribution"), named when it breaks its contract


class ShapeContract:
    """What each part of one network must return, keyed by the part's module path (``downs.0.block1``)."""

    def __init__(self, registry: Registry) -> None:
        self._registry: Registry | None = registry  # while the network is built; not kept (a model must not hold the registry)
        self._pending: dict[int, Expected] = {}  # by id() while the network is being built
        self.parts: dict[str, Expected] = {}

    def block(self, factory: Callable[..., nn.Module], name: str) -> Callable[[int, int], nn.Module]:
        """``factory`` (dim_in, dim_out) -> block, recording the shape each block it builds must return."""

        def build(dim_in: int, dim_out: int) -> nn.Module:
            module = factory(dim_in, dim_out)
            self._pending[id(module)] = Expected("block", name, (dim_in, dim_out), self._plugin("block", name))
            return module

        return build

    def same_shape(self, module: nn.Module, kind: str, name: str) -> nn.Module:
        self._pending[id(module)] = Expected(kind, name, None, self._plugin(kind, name))
        return module

    def _plugin(self, kind: str, name: str) -> str:
        c = self._registry.get(kind, name)
        return f"{c.plugin}, {c.distribution}"

    def bind(self, network: nn.Module) -> None:
        """Key the records by module path (stable under copies of the network, unlike ids)."""
        self.parts = {path: self._pending[id(m)] for path, m in network.named_modules() if id(m) in self._pending}
        self._pending.clear()
        self._registry = None

    def diagnose(self, network: nn.Module, forward: Callable[..., Any], *args: torch.Tensor) -> None:
        """Run ``forward`` on the first image of ``args`` with every part checked; raise a UserError naming the
        first part whose output breaks its contract. Returns when every part keeps it."""
        handles = [network.get_submodule(path).register_forward_hook(_checker(path, expected))
                   for path, expected in self.parts.items()]
        try:
            with torch.no_grad():
                forward(*(a[:1] if a.ndim else a for a in args))
        except UserError:
            raise
        except Exception:  # noqa: BLE001 - not a contract breach: the caller re-raises its own error
            return
        finally:
            for handle in handles:
                handle.remove()


def _checker(path: str, expected: Expected) -> Callable[..., None]:
    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        x = inputs[0]
        want = tuple(x.shape) if expected.dims is None else (x.shape[0], expected.dims[1], *x.shape[2:])
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        if got != want:
            built = "" if expected.dims is None else f" built as (dim_in={expected.dims[0]}, dim_out={expected.dims[1]})"
            raise UserError(
                f"{expected.kind} '{expected.name}' (plugin {expected.plugin}) at {path}{built} returned "
                f"{got} for an input of {tuple(x.shape)}; it must return {want} (the {expected.kind} contract in "
                "docs/plugins.md)"
            )

    return hook
