"""The learning-curve hook: :mod:`zoo.curves.score` scores the EMA weights at the steps ``eval.curve_every`` asks for."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from zoo.contract import TrainingHook as Hook
from zoo.curves.score import CurveScorer, trim_curve
from zoo.train.distributed import any_rank, barrier

if TYPE_CHECKING:
    from zoo.config.resolve import ResolvedSpec
    from zoo.train.setup import TrainingRun
    from zoo.train.state import TrainState


class CurveHook(Hook):
    """The training-loop side (a :class:`zoo.contract.TrainingHook`): a point every ``every`` steps and one at the
    last step. Rank 0 scores while the other ranks wait at a barrier, so no rank's step time includes
    the scoring."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.scorer: CurveScorer | None = None

    def on_start(self, run: TrainingRun, state: TrainState) -> None:
        if run.writer:
            trim_curve(run.run_dir, state.step)
            self.scorer = CurveScorer(run.spec, run.run_dir, run.prepared, state.model, state.diffusion, state.ema)

    def after_step(self, run: TrainingRun, state: TrainState, loss: float) -> None:
        done = any_rank(run.budget_spent(state.step, state.elapsed), run.world_size)  # ranks' clocks differ
        if not done and state.step % self.every != 0:
            return
        start = time.perf_counter()
        if self.scorer is not None and not self.scorer.has(state.step):
            self.scorer.score(state.step, state.elapsed, state.guide)
        barrier(run.world_size)
        state.paused += time.perf_counter() - start  # the logger's images/s leaves it out


def curve_hooks(spec: ResolvedSpec) -> list[Hook]:
    """The hooks a run's spec asks for: a :class:`CurveHook` when ``eval.curve_every`` is set."""
    return [CurveHook(spec.eval.curve_every)] if spec.eval.curve_every is not None else []
