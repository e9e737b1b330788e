"""What a component declares at registration, what zoo reads from a built one, and the adapter for model
factories written before the registry was handed over."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

#: What a factory may declare when it is registered (``registry.add(..., name=value)``), per kind, and the
#: value zoo assumes when it does not. They are read before anything is built.
DECLARATIONS: dict[str, dict[str, Any]] = {
    "block": {"default_activation": None},  # registered name of the block's own activation
    "attention": {"validate": None},  # see Attention
    "model": {"validate": None, "canonical": None, "self_sampling": False},  # see ModelFactory
    "dataset": {"flip_invariant": True},  # False: a mirrored image means something else (digits); flips default off
    "command": {"order": 100},  # place in `zoo --help` (zoo's own: 10 to 90)
}

#: Every optional attribute zoo reads from a built object, per kind, and the value it assumes when absent.
OPTIONAL: dict[str, dict[str, Any]] = {
    "dataset": {"num_classes": None, "default_feature": "inception", "root": None, "attribution": None},
    "feature": {"num_classes": None, "logits": None, "batch_size": 64, "name": None},  # name None: the class name
    "metric": {"columns": None, "needs_real": True, "needs_logits": False, "min_samples": 2},
}


def optional(kind: str, obj: object, attr: str) -> Any:
    """``obj.attr`` of a built component, or the default :data:`OPTIONAL` documents for ``kind``."""
    return getattr(obj, attr, OPTIONAL[kind][attr])


def declared(kind: str, factory: object, attr: str, declarations: Mapping[str, Any] | None = None) -> Any:
    """What ``factory`` declared at registration (``declarations``), else the same name as an attribute of
    the factory (how plugins written before declarations existed said it), else the default."""
    if declarations is not None and attr in declarations:
        return declarations[attr]
    return getattr(factory, attr, DECLARATIONS[kind][attr])


def takes_registry(fn: Callable[..., Any]) -> bool:
    """Whether a model factory (or its ``validate``/``canonical``) takes ``(spec, registry)``, the current
    contract, rather than ``(spec)`` alone, the one before it."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: assume the current contract
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def with_registry(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called as ``(spec, registry)``: itself under the current contract, else a wrapper that drops the
    registry (see :func:`takes_registry`). The registry applies it once, when a model is registered."""
    if takes_registry(fn):
        return fn

    @functools.wraps(fn)
    def spec_only(spec: Any, registry: Any) -> Any:
        return fn(spec)

    return spec_only
