"""The places where code plugs into the training loop, in the order the loop calls them.

A hook is an object with any of these methods (subclass :class:`Hook` and override what you need).
Hooks run on every rank, in list order, after the built-in logger; only ``run.writer`` (rank 0) may
write files. What each point is for:

- ``on_start``          once, after restore, before the first step
- ``before_step``       set this step's learning rate (warm-up, decay)
- ``after_step``        look at the loss; evaluate a learning curve every K steps
- ``before_checkpoint`` refuse to save (raise) when the weights went non-finite
- ``on_end``            once, after the final checkpoint (not on an exception)

What the loop builds is changed in one function each, not through hooks: the EMA and optimizer in
:func:`zoo.train.state.build_state`, the loss module (DDP, ``torch.compile``) in
:func:`zoo.train.step.loss_module`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoo.train.setup import Run
    from zoo.train.state import TrainState


class Hook:
    """No-op defaults for every hook point."""

    def on_start(self, run: Run, state: TrainState) -> None:
        """Once before the first step of this process (``state.step`` > 0 when resuming)."""

    def before_step(self, run: Run, state: TrainState) -> None:
        """Before step ``state.step + 1``."""

    def after_step(self, run: Run, state: TrainState, loss: float) -> None:
        """After step ``state.step`` (counters already advanced); ``loss`` is this step's loss."""

    def before_checkpoint(self, run: Run, state: TrainState) -> None:
        """Before ``state`` is saved; raise to keep the previous checkpoint."""

    def on_end(self, run: Run, state: TrainState) -> None:
        """After the final checkpoint of this process."""
