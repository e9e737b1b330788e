"""Autoguidance: steer a network away from a weaker copy of itself.

Karras et al. 2024, "Guiding a Diffusion Model with a Bad Version of Itself" (NeurIPS 2024), eq. 2:
``D_w = D_0 + w (D_1 - D_0)``, where ``D_1`` is the trained network and ``D_0`` the *guide*, the same
network trained less. Where the two agree, the sample follows them; where the weaker one errs, the
difference points away from its error, and ``w`` > 1 pushes further along it. Classifier-free guidance
does the same with an unconditional network as the guide, which needs labels and costs diversity;
autoguidance needs neither. The combination is linear in the network's output, so it holds for
eps-, x0- and v-predicting networks alike (each is linear in (x0, eps) at a given x_t and t), and every
sampler takes the guided network as it takes a plain one. It costs a second network call per call.

zoo's guide is the run's own EMA weights at a point of its training (``train.guide_at``,
:mod:`zoo.train.guide`): it needs no second training run, and its errors are the run's own.
"""

from __future__ import annotations

from torch import Tensor, nn


class Guided(nn.Module):
    """``guide(x, t) + weight * (model(x, t) - guide(x, t))``: a network the samplers call as any other."""

    def __init__(self, model: nn.Module, guide: nn.Module, weight: float) -> None:
        super().__init__()
        self.model, self.guide, self.weight = model, guide, float(weight)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        guide = self.guide(x, t)
        return guide + self.weight * (self.model(x, t) - guide)

    def extra_repr(self) -> str:
        return f"weight={self.weight:g}"
