"""Epsilon scaling: divide the network's noise prediction by a constant before the sampler uses it.

Ning et al. 2024, "Elucidating the Exposure Bias in Diffusion Models" (ICLR 2024): while sampling, x_t drifts
from the x_t of training, and the network's noise prediction comes out too large, so they divide it by a
``scale`` just above 1 (ComfyUI's EpsilonScaling node defaults to 1.005). zoo's 32x32 recipe errs the other
way: on its emoji weights every scale above 1 scored worse, and 0.96-0.995 better (docs/diffusion.md,
"Epsilon scaling"), so the scale is the data's to choose (``eval.eps_scale``), and 1 is off.

It is a wrapper around the network, as autoguidance is (:mod:`zoo.diffusion.guidance`), not a sampler
option: every sampler, a plugin's too, calls the scaled network as it calls a plain one, and a recipe can
set it without handing a sampler an option it does not take. The wrapper returns what a network of the
run's objective would (eps, x0 or v) had it predicted ``eps / scale`` at the same x_t.

Only noise levels sigma = sqrt((1 - alpha_bar) / alpha_bar) up to :data:`MAX_SIGMA` are scaled. The x0 a
sampler derives, x_t / sqrt(alpha_bar) - sigma eps, moves by sigma |1 / scale - 1| |eps|: at the first call
on pure noise (sigma about 2e4 under the cosine schedule, T = 1000) a 2% scale would move it by 400, and the
sampler clamps that to a saturated image. 80 is the top of the noise range EDM samples from (Karras et al.
2022, sigma_max); under the cosine schedule only t = T-1 lies above it, under the linear one the top 7%.
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo.diffusion.gaussian import GaussianDiffusion
from zoo.diffusion.guidance import guided_timesteps, per_timestep

#: the highest noise level sigma that is scaled (the module docstring says why)
MAX_SIGMA = 80.0


class EpsScaled(nn.Module):
    """``model`` whose noise prediction is divided by ``scale`` where sigma <= :data:`MAX_SIGMA`, in the output
    terms of ``diffusion``'s objective; elsewhere (and for a scale of 1) ``model`` itself."""

    def __init__(self, model: nn.Module, diffusion: GaussianDiffusion, scale: float) -> None:
        super().__init__()
        self.model, self.diffusion, self.scale = model, diffusion, float(scale)
        self.scaled = guided_timesteps(diffusion.alphas_cumprod, (0.0, MAX_SIGMA))  # a bool per timestep: sigma in (0, 80]

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        out = self.model(x, t)
        on = self.scaled.to(t.device)[t]
        if self.scale == 1 or not on.any():
            return out
        eps, _ = self.diffusion.split(out.float(), x, t)
        return per_timestep(on, self.diffusion.output(eps / self.scale, x, t), out.float())

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}, scaled timesteps={int(self.scaled.sum())}/{len(self.scaled)}"
