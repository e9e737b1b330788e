"""Samplers: run the reverse process from pure noise to images in [-1, 1].

- ``ddpm``: ancestral sampling over all T steps with the posterior variance beta tilde
  (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", Algorithm 2).
- ``ddim``: Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12, on any number of steps;
  ``eta`` = 0 is deterministic, ``eta`` = 1 with all T steps is ``ddpm``.
- ``dpmpp_2m``: DPM-Solver++(2M), Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
  Diffusion Probabilistic Models", Algorithm 2: a multistep second-order exponential integrator on the
  data prediction in log-SNR (lambda) time; the first and the last step are first order.

All three share one loop (:func:`sample_loop`): pick timesteps, draw the start noise, call the
model through ``diffusion.model_predictions`` (so eps-, x0- and v-predicting networks all work),
apply the sampler's update. A sampler is only its update rule.

Timesteps (one ``spacing`` option for every sampler but ddpm, see :func:`sampling_timesteps`):

- ``ddim`` defaults to "linspace": ``steps`` evenly spaced integers from T-1 down to 0 (Lin et al.
  2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Table 2). The first model call
  sees pure noise at t = T-1 (Lin et al.'s point against "leading"), the last makes its x0 estimate at
  the lowest noise level, t = 0 (unlike "trailing").
- ``dpmpp_2m`` defaults to "trailing" (Lin et al.'s choice; diffusers' ``DPMSolverMultistepScheduler``
  is close by default: its "linspace" drops t = 0, so its last network call is at t = round(T/steps),
  one step above "trailing"'s T/steps - 1). A trained network is worst where it was trained least:
  min-SNR weighting (the default recipe's) gives the lowest-noise timesteps almost no weight, and
  "logsnr" and "linspace" spend their last calls there. On the default recipe's 8-minute digits
  model (benchmarks/results/recipe.md) 15 "trailing" steps score FID 62.7 and 10 (the default
  ``eval.steps``) 62.9, 20 "logsnr" steps 70.2 and 20 "linspace" steps 66.7, against 63.4 for
  DDIM-50. With an exact denoiser (tests/test_samplers.py, N(0.3, 0.2²) data, linear schedule) the
  order reverses: 20 steps give std 0.204 with "logsnr", 0.251 with "linspace" and 0.150 with
  "trailing", whose last x0 estimate is made at t = 49 (sigma 0.17), a noise level the sharp
  Gaussian does not survive. Under the
  cosine schedule "logsnr" also wastes steps: its log-SNR falls by 5 over the last ten timesteps, so
  8 of 20 evenly spaced targets land on t = 991..999.
- DDIM is first order whatever the spacing: 50 steps give std 0.177 ("linspace"), 0.175
  ("trailing"), 0.191 ("logsnr") on that data; the error halves when the steps double.

Determinism: every random number (the start noise included) comes from ``generator``, drawn on the
generator's device (the CPU for ``torch.Generator()``) and then moved to the model's device, so the
same seed gives the same start on CPU and GPU.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor, nn

from zoo.diffusion.gaussian import GaussianDiffusion
from zoo.errors import UserError, did_you_mean
from zoo.hookspecs import hookimpl
from zoo.runtime.progress import progress_bar

if TYPE_CHECKING:
    from zoo.registry import Registry

SPACINGS = ("linspace", "leading", "trailing", "logsnr")


# -- shared machinery ---------------------------------------------------------------------------
def sampling_timesteps(diffusion: GaussianDiffusion, steps: int, spacing: str = "linspace") -> list[int]:
    """``steps`` distinct timesteps in decreasing order, chosen by ``spacing``; one step is [T-1].

    linspace: round(linspace(T-1, 0, steps)) (Lin et al. 2024, Table 2); leading: (steps-1 .. 0) *
    (T // steps) (the DDIM paper); trailing: round(T - i T / steps) - 1 (Lin et al.'s choice); logsnr:
    the timesteps nearest to evenly spaced log-SNR values from t = T-1 to t = 0 (Lu et al. 2022, "logSNR",
    recommended for low-resolution images), nudged apart where rounding would repeat one.
    """
    T = diffusion.num_timesteps
    if spacing not in SPACINGS:
        raise UserError(f"unknown timestep spacing '{spacing}'{did_you_mean(spacing, SPACINGS)}; use {', '.join(SPACINGS)}")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= T:
        raise UserError(f"sampler steps must be a whole number from 1 to T={T}, got {steps!r}")
    if steps == 1:
        return [T - 1]
    if spacing == "linspace":
        return [round((T - 1) * (steps - 1 - i) / (steps - 1)) for i in range(steps)]
    if spacing == "leading":
        return [(steps - 1 - i) * (T // steps) for i in range(steps)]
    if spacing == "trailing":
        return [round(T - i * T / steps) - 1 for i in range(steps)]
    log_snr = diffusion.snr.double().log().cpu()  # decreasing in t
    targets = torch.linspace(log_snr[-1].item(), log_snr[0].item(), steps, dtype=torch.float64)
    nearest = (log_snr[None, :] - targets[:, None]).abs().argmin(dim=1).tolist()
    return _strictly_decreasing(nearest, T)


def _strictly_decreasing(ts: list[int], num_timesteps: int) -> list[int]:
    """Decreasing ``ts`` made strictly decreasing within [0, T-1], moving each value as little as needed."""
    out = [num_timesteps - 1]
    for t in ts[1:]:  # below the previous one ...
        out.append(min(t, out[-1] - 1))
    n = len(out)
    return [max(t, n - 1 - i) for i, t in enumerate(out)]  # ... and leaving room for the rest above 0


@dataclass(frozen=True)
class ReverseStep:
    """One move of the reverse process, from timestep ``t`` to ``t_next`` (-1: clean data).

    ``alpha`` = sqrt(alpha_bar_t) and ``sigma`` = sqrt(1 - alpha_bar_t), so x_t = alpha x0 + sigma eps;
    clean data has alpha = 1, sigma = 0.
    """

    t: int
    t_next: int
    alpha: float
    sigma: float
    alpha_next: float
    sigma_next: float

    @property
    def is_last(self) -> bool:
        return self.t_next < 0


def _steps(diffusion: GaussianDiffusion, timesteps: Sequence[int]) -> list[ReverseStep]:
    alpha = diffusion.sqrt_alphas_cumprod.double().tolist()
    sigma = diffusion.sqrt_one_minus_alphas_cumprod.double().tolist()
    nexts = [*timesteps[1:], -1]
    return [
        ReverseStep(t, n, alpha[t], sigma[t], alpha[n] if n >= 0 else 1.0, sigma[n] if n >= 0 else 0.0)
        for t, n in zip(timesteps, nexts, strict=True)
    ]


class Noise:
    """Standard normal draws from one generator, made on the generator's device, moved to ``device``."""

    def __init__(self, generator: torch.Generator | None, device: torch.device) -> None:
        self.generator = generator
        self.source = generator.device if generator is not None else torch.device("cpu")
        self.device = device

    def __call__(self, shape: Sequence[int]) -> Tensor:
        return torch.randn(tuple(shape), generator=self.generator, device=self.source).to(self.device)


class Update(Protocol):
    """A sampler's rule: the next x from the current x and the model's (eps, x0) estimates."""

    def __call__(self, x: Tensor, eps: Tensor, x0: Tensor, step: ReverseStep, noise: Noise) -> Tensor: ...


def model_device(model: nn.Module, diffusion: GaussianDiffusion | None) -> torch.device:
    """The model's device (first parameter, else first buffer), else the diffusion's, else the CPU."""
    tensors = itertools.chain(model.parameters(), model.buffers()) if isinstance(model, nn.Module) else ()
    first = next(iter(tensors), None)
    if first is not None:
        return first.device
    return diffusion.betas.device if diffusion is not None else torch.device("cpu")


@contextmanager
def _progress(description: str, total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A transient rich progress bar; yields the function that advances it (a no-op when disabled)."""
    if not enabled:
        yield lambda: None
        return
    with progress_bar(transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def sample_loop(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    timesteps: Sequence[int],
    update: Update,
    *,
    generator: torch.Generator | None,
    progress: bool = False,
    description: str = "sampling",
) -> Tensor:
    """Start from N(0, I) and apply ``update`` once per timestep; the images, clamped to [-1, 1].

    The diffusion's buffers are moved to the model's device. The model is called as
    ``model(x, t)`` with ``t`` a long tensor of shape (B,); put it in eval mode first.
    """
    device = model_device(model, diffusion)
    diffusion.to(device)
    noise = Noise(generator, device)
    steps = _steps(diffusion, timesteps)
    with torch.inference_mode(), _progress(description, len(steps), progress) as advance:
        x = noise(shape)
        for step in steps:
            t = torch.full((x.shape[0],), step.t, device=device, dtype=torch.long)
            eps, x0 = diffusion.model_predictions(model, x, t, clip_x0=True)
            x = update(x, eps, x0, step, noise)
            advance()
        return x.clamp(-1.0, 1.0)


def _reject_unknown(sampler: str, options: dict[str, Any], known: Sequence[str]) -> None:
    if options:
        name = next(iter(options))
        accepted = ", ".join(known) if known else "none"
        if name == "eps_scale":  # a sampler option until it became a setting every sampler gets
            raise UserError(f"eps_scale is not a sampler option but a setting: eval.eps_scale (zoo sample --eps-scale); "
                            f"sampler '{sampler}' takes {accepted}")
        raise UserError(f"sampler '{sampler}' has no option '{name}'{did_you_mean(name, known)}; its options: {accepted}")


# -- update rules -------------------------------------------------------------------------------
class DDPMUpdate:
    """x_{t-1} ~ q(x_{t-1} | x_t, x0_hat) = N(posterior mean, beta tilde) (Ho et al. 2020, Algorithm 2)."""

    def __init__(self, diffusion: GaussianDiffusion) -> None:
        self.diffusion = diffusion

    def __call__(self, x: Tensor, eps: Tensor, x0: Tensor, step: ReverseStep, noise: Noise) -> Tensor:
        t = torch.full((x.shape[0],), step.t, device=x.device, dtype=torch.long)
        mean, _, log_variance = self.diffusion.q_posterior(x0, x, t)
        if step.t == 0:  # the last step returns the mean (Ho et al.: no noise at t = 1)
            return mean
        return mean + (0.5 * log_variance).exp() * noise(x.shape)


class DDIMUpdate:
    """x_next = alpha_next x0 + sqrt(sigma_next² - s²) eps + s z (Song et al. 2021, eq. 12).

    s = eta sqrt((1 - alpha_bar_next) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_next).
    """

    def __init__(self, eta: float) -> None:
        if eta < 0:
            raise UserError(f"ddim's eta must be >= 0 (0: deterministic, 1: DDPM-like), got {eta}")
        self.eta = eta

    def __call__(self, x: Tensor, eps: Tensor, x0: Tensor, step: ReverseStep, noise: Noise) -> Tensor:
        ratio = (step.alpha / step.alpha_next) ** 2  # alpha_bar_t / alpha_bar_next, < 1
        s = self.eta * (step.sigma_next / step.sigma) * math.sqrt(max(1.0 - ratio, 0.0))
        x_next = step.alpha_next * x0 + math.sqrt(max(step.sigma_next**2 - s**2, 0.0)) * eps
        return x_next + s * noise(x.shape) if s > 0 else x_next


class DPMSolverPP2MUpdate:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), in lambda = log(alpha / sigma); with ``eta`` > 0 its
    stochastic form, DPM-Solver++(2M) SDE (Lu et al. 2022, section 4, the midpoint rule of k-diffusion's
    ``sample_dpmpp_2m_sde`` and diffusers' ``algorithm_type="sde-dpmsolver++"``).

    With g = (1 + eta) h, h = lambda_next - lambda:
    x_next = (sigma_next / sigma) exp(-eta h) x + alpha_next (1 - exp(-g)) D + sigma_next sqrt(1 - exp(-2 eta h)) z,
    with D = x0 on the first step, else D = x0 + (x0 - x0_prev) / (2r), r = h_prev / h. ``eta`` = 0 is the
    deterministic solver; 1 is the SDE's own noise, which forgets part of x at each step and so corrects
    errors of earlier steps (Karras et al. 2022, section 4) at the cost of a lower order.
    The last step (to sigma = 0, h = inf) is first order, which makes it x_next = x0.
    """

    def __init__(self, eta: float = 0.0) -> None:
        if not eta >= 0:
            raise UserError(f"dpmpp_2m's eta must be >= 0 (0: deterministic, 1: the SDE's noise), got {eta}")
        self.eta = float(eta)
        self.prev_x0: Tensor | None = None
        self.prev_h = 0.0

    def __call__(self, x: Tensor, eps: Tensor, x0: Tensor, step: ReverseStep, noise: Noise) -> Tensor:
        if step.is_last:
            return x0
        h = math.log(step.alpha_next / step.sigma_next) - math.log(step.alpha / step.sigma)
        d = x0
        if self.prev_x0 is not None:
            half_inv_r = h / (2 * self.prev_h)
            d = (1 + half_inv_r) * x0 - half_inv_r * self.prev_x0
        self.prev_x0, self.prev_h = x0, h
        kept = math.exp(-self.eta * h)  # the share of x (in sigma units) the step keeps; 1 for the ODE
        x_next = (step.sigma_next / step.sigma) * kept * x - step.alpha_next * math.expm1(-(1 + self.eta) * h) * d
        if self.eta == 0:
            return x_next
        return x_next + step.sigma_next * math.sqrt(-math.expm1(-2 * self.eta * h)) * noise(x.shape)


# -- the registered samplers --------------------------------------------------------------------
def ddpm(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    *,
    steps: int | None = None,  # ignored: ancestral sampling always runs all T steps
    generator: torch.Generator | None = None,
    progress: bool = False,
    **options: Any,
) -> Tensor:
    """Ho et al. 2020: ancestral sampling through all T steps, posterior variance beta tilde."""
    _reject_unknown("ddpm", options, ())
    timesteps = sampling_timesteps(diffusion, diffusion.num_timesteps)
    return sample_loop(
        model, diffusion, shape, timesteps, DDPMUpdate(diffusion), generator=generator, progress=progress, description="ddpm",
    )


def ddim(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    *,
    steps: int,
    generator: torch.Generator | None = None,
    progress: bool = False,
    eta: float = 0.0,  # 0: deterministic (DDIM); 1: the DDPM posterior variance
    spacing: str = "linspace",  # see sampling_timesteps
    **options: Any,
) -> Tensor:
    """Song et al. 2021: DDIM on ``steps`` timesteps, ``eta`` scales the noise (0 = deterministic)."""
    _reject_unknown("ddim", options, ("eta", "spacing"))
    timesteps = sampling_timesteps(diffusion, steps, spacing)
    return sample_loop(
        model, diffusion, shape, timesteps, DDIMUpdate(eta), generator=generator, progress=progress, description="ddim",
    )


def dpmpp_2m(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: Sequence[int],
    *,
    steps: int,
    generator: torch.Generator | None = None,
    progress: bool = False,
    spacing: str = "trailing",  # see sampling_timesteps and the module docstring
    eta: float = 0.0,  # 0: the deterministic solver; > 0: its SDE form (DPMSolverPP2MUpdate)
    **options: Any,
) -> Tensor:
    """Lu et al. 2022: DPM-Solver++(2M), second order; good samples in 15-25 steps; ``eta`` > 0 its SDE form."""
    _reject_unknown("dpmpp_2m", options, ("spacing", "eta"))
    timesteps = sampling_timesteps(diffusion, steps, spacing)
    return sample_loop(
        model, diffusion, shape, timesteps, DPMSolverPP2MUpdate(eta), generator=generator, progress=progress,
        description="dpm-solver++(2m)",
    )


@hookimpl
def zoo_register(registry: Registry) -> None:
    registry.add("sampler", "ddpm", ddpm, help="Ho et al. 2020: ancestral, all T steps (ignores steps)")
    registry.add("sampler", "ddim", ddim, help="Song et al. 2021: DDIM on any steps; options eta (default 0), spacing")
    registry.add("sampler", "dpmpp_2m", dpmpp_2m, help="Lu et al. 2022: DPM-Solver++(2M), 2nd-order multistep; options spacing, eta (> 0: SDE)")
