"""Beta schedules: the noise added at each of the T steps of the forward process (Ho et al. 2020).

Every factory maps ``timesteps`` (T) to ``betas``, a float64 tensor of shape (T,) with every value in
(0, 1). A registered name keeps its meaning forever (the rule of openai/improved-diffusion: schedules
may be added, never changed or removed), so a saved run always means the same forward process.

- ``linear``: Ho et al. 2020, beta from 1e-4 to 0.02 at T = 1000; for other T both ends are scaled by
  1000 / T so the total noise stays comparable (``get_named_beta_schedule`` in openai/improved-diffusion).
- ``quadratic``: sqrt(beta) linear between sqrt(1e-4) and sqrt(0.02), squared, same scaling
  ("The Annotated Diffusion Model", Rogge & Rasul 2022).
- ``cosine``: Nichol & Dhariwal 2021 ("Improved DDPM"), alpha_bar(t) = cos²((t/T + s) / (1 + s) · π/2)
  with s = 0.008 and every beta clipped at 0.999.
- ``sigmoid``: the sigmoid *betas* of "The Annotated Diffusion Model" (the study followed that post):
  beta = 1e-4 + (0.02 - 1e-4) · sigmoid(linspace(-6, 6, T)), with the same 1000 / T scaling as linear.
  (Not the sigmoid *alpha_bar* schedule of Jabri et al. 2022 / lucidrains' ``sigmoid_beta_schedule``.)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from zoo.errors import UserError
from zoo.hookspecs import hookimpl

if TYPE_CHECKING:
    from zoo.registry import Registry

LINEAR_START, LINEAR_END = 1e-4, 0.02  # Ho et al. 2020, at T = 1000
COSINE_OFFSET = 0.008  # s in Nichol & Dhariwal 2021, eq. 17: keeps beta_1 from being vanishingly small
MAX_BETA = 0.999  # Nichol & Dhariwal 2021: prevents the singularity at t = T


def _check_timesteps(name: str, timesteps: int) -> None:
    if not isinstance(timesteps, int) or isinstance(timesteps, bool) or timesteps < 1:
        raise UserError(f"schedule '{name}' needs a positive whole number of timesteps, got {timesteps!r}")


def _checked(name: str, betas: Tensor) -> Tensor:
    """Refuse betas outside (0, 1): the scaled schedules overflow when T is small."""
    if not (betas > 0).all() or not (betas < 1).all():
        raise UserError(
            f"schedule '{name}' with T={len(betas)} gives betas outside (0, 1) "
            f"(min {betas.min().item():.3g}, max {betas.max().item():.3g}); "
            "use more timesteps (diffusion.timesteps) or the cosine schedule"
        )
    return betas


def _scaled_range(timesteps: int) -> tuple[float, float]:
    """Ho et al.'s beta range at T = 1000, stretched by 1000 / T (improved-diffusion)."""
    scale = 1000 / timesteps
    return scale * LINEAR_START, scale * LINEAR_END


def linear_beta_schedule(timesteps: int) -> Tensor:
    """Ho et al. 2020: betas linear from 1e-4 to 0.02 (at T = 1000; scaled by 1000 / T otherwise)."""
    _check_timesteps("linear", timesteps)
    start, end = _scaled_range(timesteps)
    return _checked("linear", torch.linspace(start, end, timesteps, dtype=torch.float64))


def quadratic_beta_schedule(timesteps: int) -> Tensor:
    """sqrt(beta) linear from sqrt(1e-4) to sqrt(0.02), squared (The Annotated Diffusion Model)."""
    _check_timesteps("quadratic", timesteps)
    start, end = _scaled_range(timesteps)
    return _checked("quadratic", torch.linspace(start**0.5, end**0.5, timesteps, dtype=torch.float64) ** 2)


def cosine_beta_schedule(timesteps: int) -> Tensor:
    """Nichol & Dhariwal 2021: betas from alpha_bar(t) = cos²((t/T + s)/(1 + s) · π/2), clipped at 0.999."""
    _check_timesteps("cosine", timesteps)
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    alpha_bar = torch.cos((t + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return _checked("cosine", betas.clamp(max=MAX_BETA))


def sigmoid_beta_schedule(timesteps: int) -> Tensor:
    """The Annotated Diffusion Model's sigmoid betas: 1e-4 + (0.02 - 1e-4) · sigmoid(linspace(-6, 6, T))."""
    _check_timesteps("sigmoid", timesteps)
    start, end = _scaled_range(timesteps)
    ramp = torch.sigmoid(torch.linspace(-6, 6, timesteps, dtype=torch.float64))
    return _checked("sigmoid", start + (end - start) * ramp)


def alphas_cumprod(betas: Tensor) -> Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s), in float64."""
    return torch.cumprod(1 - betas.to(torch.float64), dim=0)


def log_snr(betas: Tensor) -> Tensor:
    """log(alpha_bar / (1 - alpha_bar)) per step, computed without cancellation near alpha_bar = 1."""
    alpha_bar = alphas_cumprod(betas)
    one_minus = -torch.expm1(torch.cumsum(torch.log1p(-betas.to(torch.float64)), dim=0))
    return alpha_bar.log() - one_minus.log()


@hookimpl
def zoo_register(registry: Registry) -> None:
    registry.add("schedule", "linear", linear_beta_schedule, help="Ho et al. 2020: beta 1e-4 -> 0.02 (x 1000/T)")
    registry.add("schedule", "quadratic", quadratic_beta_schedule, help="beta 1e-4 -> 0.02 with sqrt(beta) linear (x 1000/T)")
    registry.add("schedule", "cosine", cosine_beta_schedule, help="Nichol & Dhariwal 2021: cosine alpha_bar, s=0.008")
    registry.add("schedule", "sigmoid", sigmoid_beta_schedule, help="Annotated Diffusion: sigmoid(-6..6) betas 1e-4 -> 0.02")
