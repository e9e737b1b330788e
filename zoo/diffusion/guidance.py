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

Guidance may be limited to an interval of noise levels (``eval.guidance_interval``; Kynkäänniemi et al. 2024,
"Applying Guidance in a Limited Interval Improves Sample and Distribution Quality in Diffusion Models"):
outside it the sampler gets the plain network, and the guide is not called, so a step there costs one
call, not two. The interval is in sigma = sqrt((1 - alpha_bar) / alpha_bar), the noise-to-signal ratio of
x_t, which names the same noise levels whatever the schedule and the number of timesteps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def noise_levels(alphas_cumprod: Tensor) -> Tensor:
    """sigma of each timestep: ``x_t / sqrt(alpha_bar) = x_0 + sigma * eps`` (the EDM noise level of a VP process)."""
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt()


def guided_timesteps(alphas_cumprod: Tensor, interval: tuple[float, float] | None) -> Tensor | None:
    """Which timesteps are guided: those whose sigma lies in ``(low, high]``; None (every one) for no interval."""
    if interval is None:
        return None
    low, high = interval
    sigma = noise_levels(alphas_cumprod.double())
    return (sigma > low) & (sigma <= high)


def per_timestep(on: Tensor | None, inside: Tensor, outside: Tensor) -> Tensor:
    """``inside`` where a sample's timestep is ``on`` (a bool per sample; None: all), else ``outside``: a batch of
    mixed timesteps, for the network wrappers that act on some noise levels only."""
    if on is None or on.all():
        return inside
    return torch.where(on.view(-1, *[1] * (inside.dim() - 1)), inside, outside)


class Guided(nn.Module):
    """``guide(x, t) + weight * (model(x, t) - guide(x, t))``: a network the samplers call as any other.
    ``guided``: a bool per timestep (:func:`guided_timesteps`); elsewhere it is ``model(x, t)``, and a batch
    with no guided timestep never calls the guide. None: every timestep is guided."""

    def __init__(self, model: nn.Module, guide: nn.Module, weight: float, guided: Tensor | None = None) -> None:
        super().__init__()
        self.model, self.guide, self.weight, self.guided = model, guide, float(weight), guided

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        on = None if self.guided is None else self.guided.to(t.device)[t]
        if on is not None and not on.any():
            return self.model(x, t)
        guide, plain = self.guide(x, t), self.model(x, t)
        return per_timestep(on, guide + self.weight * (plain - guide), plain)

    def extra_repr(self) -> str:
        at = "" if self.guided is None else f", guided timesteps={int(self.guided.sum())}/{len(self.guided)}"
        return f"weight={self.weight:g}{at}"
