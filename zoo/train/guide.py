"""Keep the run's guide for autoguidance (:mod:`zoo.diffusion.guidance`): its own EMA weights at
``train.guide_at`` of the budget.

Karras et al. 2024 guide a network with a smaller one trained for a fraction of its time. On 32x32 emoji
after 32 minutes, separate shorter runs of the same network guided it from FID 77 to 42-44 and a narrower
one to 54, where the run's own EMA weights at 4-15% of its steps took a run from 67 to 25-27
(``benchmarks/results/autoguidance.json``): so zoo trains no second model. The run's EMA weights at a
fraction of its budget are the guide, for the price of one copy of the weights. The fraction follows the
progress the lr decay follows (:func:`zoo.train.lr.progress`: steps or minutes, whichever is further
along), so a guide at 0.05 of a 32-minute run is its weights at about minute 1.6 on any CPU. A model that
samples itself (the VAE) has no sampler to guide and keeps none.
"""

from __future__ import annotations

from zoo.contract import TrainingHook as Hook
from zoo.train.lr import progress
from zoo.train.setup import TrainingRun
from zoo.train.state import TrainState


class KeepGuide(Hook):
    """After the first step at or past ``train.guide_at`` of the budget, copy the EMA weights (the raw ones
    without an EMA) into ``state.guide``; the checkpoints carry it from then on."""

    def after_step(self, run: TrainingRun, state: TrainState, loss: float) -> None:
        at = run.spec.train.guide_at
        if at is None or state.guide is not None or state.diffusion is None:
            return
        if progress(state.step, run.limit, state.elapsed, run.deadline) >= at:
            source = state.ema.state_dict() if state.ema is not None else state.model.state_dict()
            state.guide = {k: v.detach().to("cpu", copy=True) for k, v in source.items()}
            state.guide_step = state.step
