"""Checks of what extends zoo itself: a sub-command and a training hook."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from zoo.contract import HOOK_POINTS
from zoo.testing.checks import Checker

Factory = Callable[..., Any]
Declarations = Mapping[str, Any] | None  # what the factory declared at registration (zoo.contract.DECLARATIONS)


def check_command(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(subparsers) adds exactly one sub-command, named as registered, whose ``run`` default is a callable;
    ``order`` (when declared) is a number."""
    c = Checker("command", factory, name)
    parser = argparse.ArgumentParser(prog="zoo")
    sub = parser.add_subparsers(dest="command")
    c.call("CommandFactory(subparsers)", factory, sub)
    added = list(sub.choices)
    c.expect(len(added) == 1, "CommandFactory(subparsers)", f"must add exactly one sub-command, added {added}")
    if name is not None:
        c.expect(added == [name], "CommandFactory(subparsers)", f"must add the sub-command '{name}' it is registered as, added {added}")
    run = sub.choices[added[0]].get_default("run")
    c.expect(callable(run), "CommandFactory(subparsers)", "must call set_defaults(run=fn) with a callable fn(args) -> int")
    order = (declarations or {}).get("order", 100)
    c.expect(isinstance(order, (int, float)), "the declaration order", f"must be a number, got {order!r}")


def check_training_hook(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(spec) -> a TrainingHook with every hook point, which a two-step training run on 8x8 digits calls
    without error."""
    from zoo.config.resolve import resolve
    from zoo.config.spec import from_dict
    from zoo.train import train

    c = Checker("training_hook", factory, name)
    spec = resolve(from_dict({
        "data": {"dataset": "digits", "size": 8, "channels": 1},
        "model": {"dim": 8, "dim_mults": [1, 2], "groups": 4, "heads": 2, "dim_head": 8},
        "train": {"steps": 2, "batch_size": 8, "log_every": 1, "checkpoint_every": 1},
    }))  # fmt: skip
    hook = c.call("TrainingHook factory (spec)", factory, spec)
    for point in HOOK_POINTS:
        c.expect(callable(getattr(hook, point, None)), f"TrainingHook.{point}",
                 "must be a method (subclass zoo.contract.TrainingHook for the ones you do not need)")
    with tempfile.TemporaryDirectory() as tmp:
        spec.data.prepared = f"{tmp}/prepared"
        c.call("TrainingHook in a two-step run", train, spec, f"{tmp}/run", progress=False, hooks=[hook])
