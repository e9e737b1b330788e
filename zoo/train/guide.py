"""Keep the run's guide for autoguidance (:mod:`zoo.diffusion.guidance`): its own EMA weights at
``train.guide_at`` of the budget, averaged over ``train.guide_ema_std`` of the run so far when that is set.

Karras et al. 2024 guide a network with a smaller one trained for a fraction of its time. On 32x32 emoji
after 32 minutes, separate shorter runs of the same network guided it from FID 77 to 42-44 and a narrower
one to 54, where the run's own EMA weights at 4-15% of its steps took a run from 67 to 25-27
(``benchmarks/results/autoguidance.json``): so zoo trains no second model. The run's EMA weights at a
fraction of its budget are the guide, for the price of one copy of the weights. The fraction follows the
progress the lr decay follows (:func:`zoo.train.lr.progress`: steps or minutes, whichever is further
along), so a guide at 0.05 of a 32-minute run is its weights at about minute 1.6 on any CPU. A model that
samples itself (the VAE) has no sampler to guide and keeps none.

The guide's average may be set apart from the sampled one (EDM2's autoguidance tunes the two EMA lengths apart):
``train.guide_ema_std`` keeps an average of its own from the first step until the guide is taken from it (one more
copy of the weights for the first ``guide_at`` of the run, in the checkpoints too, so a resumed run keeps the same
guide), then drops it. zoo's recipe sets none: on 32x32 emoji an average of 0.25 as the guide of the sampled 0.15
was better on every draw of the runs that suggested it and worse on every draw of the two that checked it
(``guide_ema.json``, ``guide_ema_check.json``; docs/benchmark.md, "The guide's place in the run").
"""

from __future__ import annotations

import torch

from zoo.contract import TrainingHook as Hook
from zoo.train.lr import progress
from zoo.train.setup import TrainingRun
from zoo.train.state import TrainState


class KeepGuide(Hook):
    """After the first step at or past ``train.guide_at`` of the budget, copy the guide's own average
    (``state.guide_ema``, which :class:`zoo.train.step.Step` updates beside the EMA while it is pending; else the
    EMA weights, else the raw ones) into ``state.guide`` and drop that average; the checkpoints carry the guide
    from then on."""

    def after_step(self, run: TrainingRun, state: TrainState, loss: float) -> None:
        at = run.spec.train.guide_at
        if at is None or state.guide is not None or state.diffusion is None:
            return
        if progress(state.step, run.limit, state.elapsed, run.deadline) >= at:
            source = next(s for s in (state.guide_ema, state.ema, state.model) if s is not None).state_dict()
            state.guide = cpu_copy(source)
            state.guide_step, state.guide_ema = state.step, None


def cpu_copy(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of the weights on the CPU that later steps do not change (on the CPU ``.to`` alone would alias them)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in tensors.items()}
