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

The guide's average may be longer than the sampled one (EDM2's autoguidance tunes the two EMA lengths apart).
On three 32-minute runs of the 32x32 recipe, an average longer than the sampled one, kept at the guide's step (std
0.25 against the sampled 0.15 on J and K, 0.2 against 0.1 on E), guided the same weights to a lower FID on every
draw than the sampled average there (``guide_ema.json``, ``guide_place.json``, ``ema_lengths.json``). ``train.guide_ema_std`` keeps that average from the first step until the
guide is taken from it (one more copy of the weights for the first ``guide_at`` of the run, in the checkpoints too,
so a resumed run keeps the same guide), then drops it.
"""

from __future__ import annotations

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
            state.guide = {k: v.detach().to("cpu", copy=True) for k, v in source.items()}
            state.guide_step, state.guide_ema = state.step, None
