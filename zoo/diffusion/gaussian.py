"""The Gaussian diffusion process: forward noising, its posterior, training objectives and the loss.

- Forward process and posterior q(x_{t-1} | x_t, x_0): Ho et al. 2020, "Denoising Diffusion
  Probabilistic Models", eqs. 4, 6, 7.
- Objectives: predict the noise eps (Ho et al. 2020), the clean image x0, or the velocity
  v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022, "Progressive Distillation").
- Min-SNR-gamma loss weighting: Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting".
- Loss: SmoothL1 by default (the study), MSE (Ho et al.) or L1.

Layout after openai/improved-diffusion ``gaussian_diffusion.py`` and lucidrains'
denoising-diffusion-pytorch: every per-step coefficient is computed once in float64 and kept as a
float32 buffer, so ``diffusion.to(device)`` moves them and the hot path is one gather per coefficient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.config.spec import LOSSES, OBJECTIVES
from zoo.errors import UserError, did_you_mean

if TYPE_CHECKING:
    from zoo.config.spec import DiffusionSpec
    from zoo.registry import Registry

#: the elementwise loss of each name in zoo.config.spec.LOSSES (reduction="none"); averaged per sample, then over
#: the batch
LOSS_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "smooth_l1": F.smooth_l1_loss,  # the study: Huber-like, less sensitive to outliers than MSE
    "mse": F.mse_loss,  # Ho et al. 2020, L_simple
    "l1": F.l1_loss,
}


def extract(a: Tensor, t: Tensor, ndim: int) -> Tensor:
    """``a[t]`` shaped (B, 1, ..., 1) to broadcast against a batch of ``ndim`` dimensions."""
    return a[t].reshape(t.shape[0], *((1,) * (ndim - 1)))


def _choice(kind: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    if value not in choices:
        raise UserError(f"unknown diffusion.{kind} '{value}'{did_you_mean(value, choices)}; use {', '.join(choices)}")
    return value


class GaussianDiffusion(nn.Module):
    """Forward process q(x_t | x_0) of a beta schedule, its posterior, and the denoising loss."""

    def __init__(
        self,
        betas: Tensor,  # (T,) in (0, 1), from a schedule plugin; float64 preferred
        *,
        objective: str = "eps",  # what the network predicts: "eps", "x0" or "v"
        loss: str = "smooth_l1",  # "smooth_l1" (the study), "mse" or "l1"
        min_snr_gamma: float | None = None,  # Hang et al. 2023 use 5.0; None: unweighted
    ) -> None:
        super().__init__()
        self.objective = _choice("objective", objective, OBJECTIVES)
        self.loss_type = _choice("loss", loss, LOSSES)
        if min_snr_gamma is not None and min_snr_gamma <= 0:
            raise UserError(f"diffusion.min_snr_gamma must be positive (Hang et al. use 5), got {min_snr_gamma}")
        self.min_snr_gamma = min_snr_gamma
        betas = torch.as_tensor(betas).detach().to("cpu", torch.float64)
        if betas.ndim != 1 or len(betas) < 2 or not ((betas > 0) & (betas < 1)).all():
            raise UserError(
                f"betas must be a 1-D tensor of at least 2 steps, every value in (0, 1); got shape {tuple(betas.shape)}"
            )
        self.num_timesteps = len(betas)

        # Everything in float64 (1 - alpha_bar near t = 0 is ~1e-4: float32 would lose digits), once.
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
        one_minus = -torch.expm1(torch.cumsum(torch.log1p(-betas), dim=0))  # 1 - alpha_bar, no cancellation
        posterior_variance = betas * (1 - alphas_cumprod_prev) / one_minus  # beta tilde, Ho et al. eq. 7
        coefficients = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": one_minus.sqrt(),
            "sqrt_recip_alphas_cumprod": alphas_cumprod.rsqrt(),
            "sqrt_recipm1_alphas_cumprod": (one_minus / alphas_cumprod).sqrt(),
            "posterior_variance": posterior_variance,
            # log(0) at t = 0 is replaced by the t = 1 value, as in improved-diffusion
            "posterior_log_variance_clipped": torch.cat([posterior_variance[1:2], posterior_variance[1:]]).log(),
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / one_minus,
            "posterior_mean_coef2": (1 - alphas_cumprod_prev) * (1 - betas).sqrt() / one_minus,
            "snr": alphas_cumprod / one_minus,
        }
        for name, value in coefficients.items():
            self.register_buffer(name, value.to(torch.float32))

    @classmethod
    def from_spec(cls, spec: DiffusionSpec, registry: Registry) -> GaussianDiffusion:
        """The process of a run's ``[diffusion]`` section, its schedule built by ``registry``."""
        betas = registry.create("schedule", spec.schedule, spec.timesteps)
        return cls(betas, objective=spec.objective, loss=spec.loss, min_snr_gamma=spec.min_snr_gamma)

    def _at(self, name: str, t: Tensor, x: Tensor) -> Tensor:
        return extract(getattr(self, name), t, x.ndim)

    # -- forward process -----------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise: q(x_t | x_0) in one step (Ho eq. 4)."""
        return self._at("sqrt_alphas_cumprod", t, x0) * x0 + self._at("sqrt_one_minus_alphas_cumprod", t, x0) * noise

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0) (Ho et al. eqs. 6-7)."""
        mean = self._at("posterior_mean_coef1", t, x_t) * x0 + self._at("posterior_mean_coef2", t, x_t) * x_t
        return mean, self._at("posterior_variance", t, x_t), self._at("posterior_log_variance_clipped", t, x_t)

    # -- conversions between what a network can predict -----------------------------------------
    def predict_x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        return self._at("sqrt_recip_alphas_cumprod", t, x_t) * x_t - self._at("sqrt_recipm1_alphas_cumprod", t, x_t) * eps

    def predict_eps_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        return (self._at("sqrt_recip_alphas_cumprod", t, x_t) * x_t - x0) / self._at("sqrt_recipm1_alphas_cumprod", t, x_t)

    def predict_v(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022, eq. 10)."""
        return self._at("sqrt_alphas_cumprod", t, x0) * eps - self._at("sqrt_one_minus_alphas_cumprod", t, x0) * x0

    def predict_x0_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        return self._at("sqrt_alphas_cumprod", t, x_t) * x_t - self._at("sqrt_one_minus_alphas_cumprod", t, x_t) * v

    def predict_eps_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        return self._at("sqrt_alphas_cumprod", t, x_t) * v + self._at("sqrt_one_minus_alphas_cumprod", t, x_t) * x_t

    def model_predictions(self, model: nn.Module, x_t: Tensor, t: Tensor, *, clip_x0: bool = True) -> tuple[Tensor, Tensor]:
        """Run ``model(x_t, t)`` and turn whatever its objective predicts into (eps, x0), in float32.

        With ``clip_x0`` the x0 estimate is clamped to the data range [-1, 1] and eps re-derived from it,
        so the pair stays consistent (as lucidrains' ``rederive_pred_noise`` and improved-diffusion's DDIM).
        """
        eps, x0 = self.split(model(x_t, t).float(), x_t, t)
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            eps = self.predict_eps_from_x0(x_t, t, x0)
        return eps, x0

    def split(self, out: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(eps, x0) of a network output ``out`` at (x_t, t), whatever the objective it predicts."""
        if self.objective == "eps":
            return out, self.predict_x0_from_eps(x_t, t, out)
        if self.objective == "x0":
            return self.predict_eps_from_x0(x_t, t, out), out
        return self.predict_eps_from_v(x_t, t, out), self.predict_x0_from_v(x_t, t, out)

    def output(self, eps: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """What a network of this objective outputs at (x_t, t) when its noise prediction is ``eps``: the
        inverse of :meth:`split`, as a wrapper that changes eps (:mod:`zoo.diffusion.eps_scaling`) needs."""
        if self.objective == "eps":
            return eps
        x0 = self.predict_x0_from_eps(x_t, t, eps)
        return x0 if self.objective == "x0" else self.predict_v(x0, eps, t)

    # -- training ------------------------------------------------------------------------------
    def target(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """What the network should output for (x0, noise, t) under this objective."""
        if self.objective == "eps":
            return noise
        if self.objective == "x0":
            return x0
        return self.predict_v(x0, noise, t)

    def loss_weight(self, t: Tensor) -> Tensor:
        """Min-SNR-gamma weight per sample (Hang et al. 2023, eq. 12 and its v / x0 forms), or ones."""
        snr = self.snr[t]
        if self.min_snr_gamma is None:
            return torch.ones_like(snr)
        clipped = snr.clamp(max=self.min_snr_gamma)
        if self.objective == "eps":
            return clipped / snr
        if self.objective == "v":
            return clipped / (snr + 1)
        return clipped

    def training_loss(
        self, model: nn.Module, x0: Tensor, *, generator: torch.Generator | None = None,
        timestep_generator: torch.Generator | None = None,
    ) -> Tensor:  # fmt: skip
        """The denoising loss of one batch: t ~ U{0..T-1}, noise ~ N(0, I), loss on the objective's target.

        The noise comes from ``generator`` and ``t`` from ``timestep_generator`` (default: ``generator``),
        drawn on the generator's device, then moved to x0's. Training passes two streams (zoo.runtime.streams).
        The loss is computed in float32 even when the model returns bf16 under autocast.
        """
        x0 = x0.float()
        timestep_generator = timestep_generator or generator
        t_device = timestep_generator.device if timestep_generator is not None else x0.device
        device = generator.device if generator is not None else x0.device
        t = torch.randint(0, self.num_timesteps, (x0.shape[0],), generator=timestep_generator, device=t_device).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=device).to(x0.device)
        x_t = self.q_sample(x0, t, noise)
        out = model(x_t, t).float()
        loss = LOSS_FUNCTIONS[self.loss_type](out, self.target(x0, noise, t), reduction="none")
        per_sample = loss.reshape(loss.shape[0], -1).mean(dim=1)
        return (per_sample * self.loss_weight(t)).mean()

    def extra_repr(self) -> str:
        return (
            f"num_timesteps={self.num_timesteps}, objective={self.objective!r}, loss={self.loss_type!r}, "
            f"min_snr_gamma={self.min_snr_gamma}"
        )
