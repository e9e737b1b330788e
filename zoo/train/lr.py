"""The learning-rate schedule: linear warm-up, then an optional decay to zero at the end of the budget.

A short run needs both ends. Adam's first steps at full rate on a freshly initialised U-Net move it
far (the warm-up, Goyal et al. 2017, "Accurate, Large Minibatch SGD"); and the last part of a run at
a rate decayed towards zero lands in a better point than a constant rate stopped anywhere (Loshchilov
& Hutter 2017, "SGDR", cosine; the linear "decay to zero" of Defazio et al. 2023, "When, Why and How
Much? Adaptive Learning Rate Scheduling by Refinement").

The decay needs to know where the run ends. It follows the *progress* of the run: the fraction of
the step budget done (``steps``/``epochs``) or of the wall-clock budget (``minutes``), whichever is
further along, so a ``--set train.minutes=8`` run decays over its 8 minutes however fast the CPU is.
Step budgets keep exact resume: the rate is then a pure function of the step.
"""

from __future__ import annotations

import math

from zoo.config.spec import DECAYS

WARMUP_SHARE = 0.05  # the warm-up never takes more than this fraction of the budget


def progress(step: int, limit: int | None, elapsed: float, deadline: float | None) -> float:
    """Fraction of the budget done, in [0, 1]: the further along of steps and wall clock (0 without a budget)."""
    done = 0.0
    if limit:
        done = max(done, step / limit)
    if deadline:
        done = max(done, elapsed / deadline)
    return min(done, 1.0)


def lr_factor(step: int, done: float, *, warmup: int, decay: str) -> float:
    """Multiplier of the base rate at optimisation step ``step`` (0-based) with ``done`` of the budget behind.

    Warm-up: (step + 1) / warmup over the first ``warmup`` steps, or over the first
    ``WARMUP_SHARE`` of the budget when that ends sooner (a 50-step test run is not all warm-up).
    Decay: 1 -> 0 over the budget, ``cosine`` as (1 + cos(pi done)) / 2, ``linear`` as 1 - done;
    ``none`` keeps the rate.
    """
    factor = min(1.0, max((step + 1) / warmup, done / WARMUP_SHARE)) if warmup > 0 else 1.0
    if decay == "cosine":
        factor *= 0.5 * (1.0 + math.cos(math.pi * done))
    elif decay == "linear":
        factor *= 1.0 - done
    elif decay != "none":
        raise ValueError(f"unknown lr decay {decay!r}; use {', '.join(DECAYS)}")
    return factor
