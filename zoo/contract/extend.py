"""Extending zoo itself: a sub-command, and a hook into the training loop."""

from __future__ import annotations

import argparse
from typing import Any, Protocol


class CommandFactory(Protocol):
    """``(subparsers) -> None``: adds one sub-command with ``subparsers.add_parser(name, help=...)`` and
    ``set_defaults(run=fn)``, where ``fn(args) -> int`` is the exit code. Keep heavy imports inside ``fn``.
    Raise :class:`zoo.errors.UserError` for a user's mistake: ``zoo`` prints it as one line. The
    sub-command's name is the registered name. Declaration ``order`` places it in ``zoo --help``."""

    def __call__(self, subparsers: argparse._SubParsersAction) -> None: ...


class TrainingHook:
    """Code that runs inside the training loop, at the points below, in this order; subclass it and
    override what you need (every point is a no-op here). Hooks run on every rank, after zoo's own
    (lr schedule, logger, finite-weights check, autoguidance guide, learning curve); only ``run.writer`` (rank 0) may
    write files. A registered hook runs in the runs whose ``train.hooks`` name it; its factory is
    ``(spec: RunSpec) -> TrainingHook``. ``run`` is a ``zoo.train.setup.TrainingRun``
    (spec, run_dir, rank, device, ...), ``state`` a ``zoo.train.state.TrainState`` (step, epoch,
    model, ema, optimizer)."""

    def on_start(self, run: Any, state: Any) -> None:
        """Once before the first step of this process (``state.step`` > 0 when resuming)."""

    def before_step(self, run: Any, state: Any) -> None:
        """Before step ``state.step + 1``."""

    def after_step(self, run: Any, state: Any, loss: float) -> None:
        """After step ``state.step`` (counters already advanced); ``loss`` is this step's loss."""

    def before_checkpoint(self, run: Any, state: Any) -> None:
        """Before ``state`` is saved; raise to keep the previous checkpoint."""

    def on_end(self, run: Any, state: Any) -> None:
        """After the final checkpoint of this process (not on an exception)."""


#: The points of :class:`TrainingHook`, in the order the loop reaches them.
HOOK_POINTS = ("on_start", "before_step", "after_step", "before_checkpoint", "on_end")
