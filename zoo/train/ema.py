"""Exponential moving averages of the weights whose length suits the run, however short.

Two decay rules, both warming up from "copy the weights" at the first update:

- ``warmup`` (``std=None``): ``decay = 1 - (1 + step) ** -power`` capped at ``max_decay``, the rule
  of diffusers' ``EMAModel``. A fixed decay (0.995, updated every 10 steps) made a reference
  implementation's EMA weights score worse than its raw weights after 3,000 CPU steps: the average
  still remembered the random init. The warm-up averages over roughly the last ``step / power`` steps
  until the cap takes over.
- ``power`` (``std`` given): the power-function EMA of Karras et al. 2024 ("Analyzing and Improving
  the Training Dynamics of Diffusion Models", EDM2, eq. 3 and Appendix C.2):
  ``decay = (1 - 1/t) ** (gamma + 1)`` after ``t`` updates. Its averaging profile is ``tau ** gamma``
  over the run so far, so its length is a fixed *fraction* of the run (``std``, the profile's width
  relative to the training time; EDM2's best ImageNet values are 0.05-0.15) at every step, without a
  cap to tune: right for a 2-minute run and for a 16-minute run alike.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def std_to_gamma(std: float) -> float:
    """The exponent gamma of the power-function profile whose relative std is ``std`` (EDM2 eq. 2 solved,
    as its ``sigma_rel_to_gamma``): std^2 = (gamma + 1) / ((gamma + 2)^2 (gamma + 3))."""
    if not 0 < std < 0.2886:  # gamma -> 0 gives std = 1/sqrt(12), the widest profile (uniform average)
        raise ValueError(f"ema std must be in (0, 0.288), got {std}")
    t = std**-2
    return float(np.roots([1, 7, 16 - t, 12 - t]).real.max())


class EMA:
    """Shadow copies of a model's floating-point parameters and buffers, updated every step."""

    def __init__(
        self, model: nn.Module, *, max_decay: float = 0.9999, power: float = 0.75, std: float | None = None
    ) -> None:
        self.max_decay = max_decay  # warmup rule only
        self.power = power  # warmup rule only
        self.gamma = None if std is None else std_to_gamma(std)  # power-function rule when set
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.num_updates = 0

    def decay(self) -> float:
        """The weight the average keeps at the coming update (``num_updates`` updates so far)."""
        if self.gamma is not None:
            return (1.0 - 1.0 / (self.num_updates + 1)) ** (self.gamma + 1)
        return min(self.max_decay, max(0.0, 1.0 - (1.0 + self.num_updates) ** -self.power))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        weight = 1.0 - self.decay()
        state = model.state_dict()
        floats = [k for k, v in self.shadow.items() if v.is_floating_point()]
        torch._foreach_lerp_([self.shadow[k] for k in floats], [state[k].detach() for k in floats], weight)
        for k, v in self.shadow.items():
            if not v.is_floating_point():
                v.copy_(state[k])
        self.num_updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, shadow: dict[str, torch.Tensor], num_updates: int) -> None:
        for k, v in shadow.items():
            self.shadow[k].copy_(v)
        self.num_updates = num_updates
