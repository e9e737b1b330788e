"""What every check of :mod:`zoo.testing` shares: the error naming component and clause, and a few
assertions on tensors and modules that several kinds need."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from zoo.errors import UserError


class ContractError(AssertionError):
    """A component broke a clause of its kind's contract (``zoo/contract/``)."""


class Checker:
    """Raises :class:`ContractError` prefixed with "<kind> '<name>' breaks <clause>"."""

    def __init__(self, kind: str, factory: Callable[..., Any], name: str | None) -> None:
        self.kind = kind
        self.name = name or getattr(factory, "__qualname__", None) or type(factory).__name__

    def fail(self, clause: str, detail: str) -> ContractError:
        return ContractError(f"{self.kind} '{self.name}' breaks {clause}: {detail} (see zoo/contract/)")

    def expect(self, ok: object, clause: str, detail: str) -> None:
        if not ok:
            raise self.fail(clause, detail)

    def call(self, clause: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, any exception reported as a broken clause but a
        :class:`~zoo.errors.UserError` (files or weights missing on this machine), raised as it is."""
        try:
            return fn(*args, **kwargs)
        except UserError:
            raise
        except Exception as err:
            call = ", ".join([*map(_describe, args), *(f"{k}={_describe(v)}" for k, v in kwargs.items())])
            raise self.fail(clause, f"calling it with ({call}) raised {type(err).__name__}: {err}") from err

    def module(self, obj: object, protocol: type, clause: str) -> None:
        """``obj`` is an ``nn.Module`` with the members of ``protocol``."""
        self.expect(isinstance(obj, nn.Module), clause, f"the factory must return an nn.Module, got {type(obj).__name__}")
        self.expect(isinstance(obj, protocol), clause, f"{type(obj).__name__} lacks a member of {protocol.__name__}")

    def tensor(self, out: object, shape: Sequence[int], clause: str, what: str = "output") -> Tensor:
        """``out`` is a finite floating tensor of ``shape``."""
        self.expect(isinstance(out, Tensor), clause, f"{what} must be a tensor, got {type(out).__name__}")
        assert isinstance(out, Tensor)
        self.expect(tuple(out.shape) == tuple(shape), clause, f"{what} has shape {tuple(out.shape)}, expected {tuple(shape)}")
        self.expect(out.is_floating_point(), clause, f"{what} must be floating point, got {out.dtype}")
        self.expect(bool(torch.isfinite(out).all()), clause, f"{what} has non-finite values")
        return out

    def trains(self, module: nn.Module, out: Tensor, clause: str) -> None:
        """A backward pass through ``out`` reaches parameters with finite gradients."""
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            return
        out.float().square().mean().backward()
        grads = [p.grad for p in params if p.grad is not None]
        self.expect(grads, clause, "no parameter received a gradient: the output does not depend on the parameters")
        self.expect(all(bool(torch.isfinite(g).all()) for g in grads), clause, "a gradient has non-finite values")


def _describe(value: object) -> str:
    """A short text for an argument: tensors by shape and dtype."""
    if isinstance(value, Tensor):
        return f"tensor{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    return type(value).__name__ if isinstance(value, nn.Module) else repr(value)
