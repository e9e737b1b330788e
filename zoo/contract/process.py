"""The diffusion process as a sampler sees it, and the schedule and sampler factories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor


class ScheduleFactory(Protocol):
    """``(timesteps) -> betas``: a float64 tensor (T,) with every value in (0, 1)."""

    def __call__(self, timesteps: int) -> Tensor: ...


@runtime_checkable
class Diffusion(Protocol):
    """What a sampler may use of the diffusion process (``zoo.diffusion.gaussian.GaussianDiffusion``).

    Schedule tensors: float32, shape (T,), indexed by timestep t = 0..T-1 (alpha_bar = alphas_cumprod).
    Nothing else of the object is part of the contract.
    """

    num_timesteps: int  # T
    objective: str  # what the network predicts: "eps", "x0" or "v"
    betas: Tensor
    alphas_cumprod: Tensor  # alpha_bar_t
    alphas_cumprod_prev: Tensor  # alpha_bar_{t-1}, 1 at t = 0
    sqrt_alphas_cumprod: Tensor  # x_t = sqrt_alphas_cumprod x0 + sqrt_one_minus_alphas_cumprod eps
    sqrt_one_minus_alphas_cumprod: Tensor
    sqrt_recip_alphas_cumprod: Tensor
    sqrt_recipm1_alphas_cumprod: Tensor
    posterior_variance: Tensor  # beta tilde (Ho et al. eq. 7)
    posterior_log_variance_clipped: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor
    snr: Tensor  # alpha_bar / (1 - alpha_bar)

    def to(self, device: torch.device) -> Diffusion:
        """Move the schedule tensors (do it to the model's device before indexing them)."""
        ...

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t from x0 in one step; ``t`` a long tensor (B,)."""
        ...

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x0), each broadcastable to x."""
        ...

    def predict_x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor: ...

    def predict_eps_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor: ...

    def predict_x0_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor: ...

    def predict_eps_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor: ...

    def model_predictions(self, model: Any, x_t: Tensor, t: Tensor, *, clip_x0: bool = True) -> tuple[Tensor, Tensor]:
        """Call ``model(x_t, t)`` and return (eps, x0) whatever the objective; x0 clamped to [-1, 1]."""
        ...


class SamplerFactory(Protocol):
    """A sampler is the factory itself: it runs the reverse process and returns float images
    ``shape`` = (B, C, H, W) in [-1, 1].

    ``model`` is a :class:`DenoisingModel` in eval mode; call it only under ``torch.inference_mode()``.
    ``diffusion`` is a :class:`Diffusion`; ``steps`` the number of model calls asked for (a sampler
    with a fixed count may ignore it); every random number comes from ``generator`` (drawn on
    ``generator.device``, then moved to the model's device), so a seed fixes the images; ``progress``
    asks for a progress bar. Unknown ``**options`` (from the spec's sampler options) must raise
    :class:`zoo.errors.UserError` naming the option.
    """

    def __call__(
        self, model: Any, diffusion: Diffusion, shape: Sequence[int], *, steps: int,
        generator: torch.Generator | None = None, progress: bool = False, **options: Any,
    ) -> Tensor: ...  # fmt: skip
