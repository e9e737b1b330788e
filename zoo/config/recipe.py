"""The default recipe for the data at hand, and named presets.

A spec is layered, lowest first: the dataclass defaults of :mod:`zoo.config.spec` (the fast recipe measured
in docs/diffusion.md), then either a named preset or the settings this module derives from *what the
data is* (image size and channels), then the user's file and ``--set`` overrides. The recipe never
looks at a dataset's name: 16x16 greyscale digits read through ``imagefolder`` get the same network
as the built-in ``digits``. (Flips are the one data-dependent default a dataset declares itself:
``flip_invariant`` in :mod:`zoo.contract`, resolved in ``RunSpec.resolved``.) :func:`zoo.config.spec.with_recipe`
layers them; this module is knowledge only and imports nothing of the spec.

Presets (``--preset NAME``, ``preset = "NAME"`` at the top of a run file or a grid file):

- ``study``: the settings of the study zoo reproduces (ConvNeXt U-Net of width 32 with linear
  attention in every stage, linear schedule, eps objective, SmoothL1, constant lr 1e-3 without
  warm-up, diffusers' EMA warm-up rule, DDIM with 50 steps): zoo's defaults before the fast
  recipe, kept reachable so the study's numbers can be reproduced.
"""

from __future__ import annotations

import math
from typing import Any

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "study": {
        "model": {"dim": 32, "dim_mults": [1, 2, 4], "block": "convnext", "attention": "linear",
                  "mid_attention": "full", "norm": "pre"},  # fmt: skip
        "diffusion": {"schedule": "linear", "objective": "eps", "loss": "smooth_l1", "min_snr_gamma": None},
        "train": {"batch_size": 32, "lr": 1e-3, "lr_warmup": 0, "lr_decay": "none", "ema_std": None,
                  "ema_max_decay": 0.9999, "ema_power": 0.75, "bf16": False},  # fmt: skip
        "eval": {"sampler": "ddim", "steps": 50},
    },
}


#: from this image side on, the recipe runs the U-Net on 2x2 patches, at batch 16, sampled with autoguidance and epsilon scaling in 30
#: steps (measured at 32x32 RGB)
LARGE_FROM = 32
#: the recipe's autoguidance there: the guide is the run's EMA weights at this fraction of its budget, sampled with this
#: weight at the noise levels sigma in this interval (where x_t holds more noise than signal)
GUIDE_AT, GUIDANCE, GUIDANCE_INTERVAL = 0.05, 2.0, (1.0, math.inf)
#: the recipe's epsilon scaling there (zoo.diffusion.eps_scaling): the noise prediction divided by it, so enlarged by 2%
EPS_SCALE = 0.98
#: the recipe's EMA length there (``train.ema_std``, the power-function EMA's width relative to the run): longer than
#: the 0.1 of smaller images, for the sampled weights and for the guide kept from the same average
EMA_STD = 0.15
#: the recipe's Adam betas there: EDM2's and lucidrains' trainer's beta2, shorter than torch's 0.999
ADAM_BETAS = (0.9, 0.99)
#: the recipe's options there for the default sampler (``dpmpp_2m``, zoo.config.spec.EvalSpec.sampler), and only for
#: it: its SDE form, eta 0.5 (:class:`zoo.diffusion.samplers.DPMSolverPP2MUpdate`)
SAMPLER_OPTIONS = {"eta": 0.5}


def model_for(size: int, channels: int) -> dict[str, Any]:
    """Width, depth and patch of the U-Net for ``size`` x ``size`` images of ``channels`` channels.

    Measured at 16x16 greyscale (docs/diffusion.md): width 32, three resolutions (16, 8, 4), on pixels.
    From 32x32 on, the network runs on 2x2 patches (``model.patch``): at 32x32 RGB that quarters the work of
    an image, and in the same minutes of 2 cores it reached about half the pixel network's FID from 4 to 16
    minutes and 91 against 115 at 32 (``benchmarks/results/recipe_colour.json``, ``quality_emoji_patch*.json``). The feature maps then start at size / 2, and the depth keeps
    a 4x4 to 8x8 bottleneck there (one more resolution per doubling from 64 on, the study's proportions).
    At 64x64 RGB, 16 minutes of emoji on 2x2 patches scored FID 361, 4x4 patches 374 at this width and 377 at
    width 48: no patch ahead beyond one seed's noise, so 2x2 stays (``recipe_64.json``). Wider patches need a
    wider network: the last layer maps ``dim`` channels to patch x patch x channels values per position, and
    4x4 RGB patches (48 values) at width 32 left per-pixel noise in every sample, which width 48 removed.
    Colour images get the same width (not measured apart).
    """
    patch = 2 if size >= LARGE_FROM else 1
    side = size // patch
    if side <= 8:
        mults = [1, 2]
    elif side <= 32:
        mults = [1, 2, 4]
    else:
        mults = [1, 2, 4, 8] if side <= 64 else [1, 1, 2, 4, 8]
    del channels  # the same width serves greyscale and RGB at these sizes (not measured apart)
    return {"dim": 32, "dim_mults": mults, "patch": patch}


def recipe_for(size: int, channels: int) -> dict[str, dict[str, Any]]:
    """The settings that depend on the data's shape, by section (:func:`zoo.config.spec.with_recipe` puts the
    user's over them). From 32x32 on:

    - batch 16, because on 32x32 RGB at equal minutes half the batch (about the same images in twice the
      steps) ended at a lower FID, and a quarter of it (batch 8) on 2x2 patches ended higher
      (``benchmarks/results/recipe_colour.json``, ``recipe_colour_steps.json``);
    - autoguidance (:mod:`zoo.diffusion.guidance`) with weight 2, guided by the run's own EMA weights at 5% of its
      budget: on 32x32 emoji after 32 minutes it lowered FID from 66.7 to 26.5 and KID from 149 to 8 (40 sampler
      steps, the same weights and noise), where guides kept at 4-15% of the run scored alike, one at 31% less
      well, and weights 2.5 and 3 less well than 2 (``benchmarks/results/autoguidance.json``); on a run of the
      recipe with beta2 0.99 and EMA 0.15, guides at 3.5, 5, 7, 10 and 14% scored mean FIDs of 34.6, 33.0, 35.5,
      43.1 and 49.7 over three draws (``guide_place.json``);
    - guidance only where sigma > 1, at the noisy start of sampling, where the layout of an image is decided: on a
      32-minute run (``benchmarks/results/autoguidance_interval.json``, three noise draws, 25 steps) it scored a
      mean FID of 22.9 against 27.6 guided at every step, where guiding only from sigma 0.28 to 5.42
      (Kynkaanniemi et al.'s interval for classifier-free guidance) scored 53.5: the guide is trained so
      little that its fine detail is no direction to steer by, but its coarse shapes are; on a second run, 32.1
      (30 steps) against 39.5 (25 steps at every noise level) over five draws (``autoguidance_interval_32.json``);
    - 30 sampler steps: the interval guides 16 of them, so 30 cost 46 network calls and 1,000
      images stay within issue 24's 60 s on 2 cores (42-44 s); on the first run 30 steps scored a mean FID of 22.0 against 22.9 for
      25 (the number of steps before the interval; 40 scored 16.7 against 17.5 on one draw, in 58 s);
    - epsilon scaling 0.98 (``eval.eps_scale``): on the second of two 32-minute runs of an AVX2 EPYC, 0.98 to
      0.96 scored alike (mean FID 32.8, 32.5, 33.2 against 37.7 off; 0.94: 37.3) and 0.98, the closest to 1 of
      them, was chosen; on the first run, which did not choose it, it scored 34.1 against 38.1, lower on every
      draw (``benchmarks/results/eps_scale.json``). Ning et al.'s direction (above 1) scored worse on every draw;
    - Adam's beta2 0.99 (``train.adam_betas``, EDM2's): two 32-minute runs with it on AVX2 EPYCs scored mean FIDs
      of 29.5 and 27.1 (their EMA of std 0.1), below all five runs with torch's 0.999 (32.8-41.2), the second judged
      by a rule fixed before its draws (exact one-sided rank test p = 1/21); a third, trained after it was chosen,
      scored 37.5, within theirs (over all three p = 11/56 = 0.2: the field's choice, which zoo's runs lean to but
      do not settle; ``adam_beta2_avx2.json``, ``ema_lengths_beta099.json``);
    - an EMA of std 0.15 (``train.ema_std``; the guide is that same average at ``guide_at``): four 32-minute runs
      kept it beside 0.1, each sampled the recipe's way from the same three noise draws, and 0.15 scored the lower
      mean FID on all four (29.1 against 35.6, 33.0 against 33.4, 24.2 against 27.1, and on the run that checked
      the choice 31.5 against 37.5, lower on every draw), where 0.2 had the lower mean on three runs and the higher
      on two, the last of them the run that checked it by a rule fixed before (36.4 against 33.0, higher on every
      draw; ``ema_lengths.json``, ``ema_lengths_beta099.json``, ``guide_place.json``);
    - no average of its own for the guide (``train.guide_ema_std`` none): the EMA of std 0.25 as the guide scored lower
      than the 0.15 average at the same step on every draw of two runs (K: 27.5 against 29.0, J: 32.0 against 33.0;
      0.2's guiding E's 0.1: 30.4 against 35.6), then higher on every draw of the two runs that checked it by rules
      fixed before (L: 32.0 against 31.3, M: 31.8 against 29.8; ``guide_ema.json``, ``guide_place.json``,
      ``ema_lengths.json``, ``guide_ema_check.json``);
    - the sampler's SDE form, ``dpmpp_2m`` with ``eta`` 0.5 (``eval.sampler_options``; another sampler gets no options
      from the recipe): chosen on one draw of run L (eta 0 33.6, 0.25 24.9, 0.5 22.8, 0.75 22.5, 1 24.5), then checked
      on five runs that had not chosen it, two draws each, by a rule fixed before (894534e): a mean FID of 21.7
      against 31.9 for the deterministic solver, lower on all ten draws, with KID 11.3 against 24.8 and recall 0.725
      against 0.697 (``benchmarks/results/sde_sampling.json``). The fresh noise of each step corrects part of what
      the network, and the guidance pushing it, got wrong at the steps before; it costs no network call.
    """
    recipe: dict[str, dict[str, Any]] = {"model": model_for(size, channels)}
    if size >= LARGE_FROM:
        recipe["train"] = {"batch_size": 16, "guide_at": GUIDE_AT, "ema_std": EMA_STD, "adam_betas": ADAM_BETAS}
        recipe["eval"] = {"steps": 30, "guidance": GUIDANCE, "guidance_interval": GUIDANCE_INTERVAL, "eps_scale": EPS_SCALE,
                          "sampler_options": dict(SAMPLER_OPTIONS)}
    return recipe
