"""The reference implementations zoo is timed against, built at zoo's base architecture.

- denoising-diffusion-pytorch 2.3.4 (lucidrains), ``Unet(dim, dim_mults)``: ResNet blocks (conv3x3,
  RMSNorm, SiLU, FiLM time scale/shift) -- the closest match to zoo's ``block = "resnet"`` -- linear
  attention in every stage and full attention in the bottleneck. Its default puts full attention in
  the innermost stage too; ``full_attn=(False, ...)`` makes every stage linear, as in zoo. It samples
  with its own ``GaussianDiffusion.ddim_sample``.
- diffusers 0.42.1 ``UNet2DModel(block_out_channels=(32, 64, 128), layers_per_block=2)`` with
  attention (head dim 8) at the lowest resolution only, sampled with ``DDIMScheduler``.

Both are wrapped to zoo's call shape ``model(x, t) -> noise prediction`` so the very same loss
(zoo's ``GaussianDiffusion.training_loss``) and optimiser drive every network in the benchmark.
Install them with ``pip install -e .[bench]`` (keep torch at the pinned version).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class _ForwardXT(nn.Module):
    """Adapts a reference network to ``forward(x, t) -> tensor``."""

    def __init__(self, net: nn.Module, output: Callable[[Any], torch.Tensor] = lambda out: out) -> None:
        super().__init__()
        self.net = net
        self._output = output

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._output(self.net(x, t))


#: zoo's U-Net in the architecture these references have (the study's: linear attention in the stages, full
#: in the middle, pre-norm, width 32, mults 1-2-4), pinned here because zoo's default recipe has since moved
#: to a U-Net without stage attention, which would no longer be the same network.
SAME_ARCHITECTURE = {"dim": 32, "dim_mults": (1, 2, 4), "attention": "linear", "mid_attention": "full", "norm": "pre"}


def available() -> dict[str, str | None]:
    """Which reference packages import here: name -> version, or None when missing."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    out: dict[str, str | None] = {}
    for name, module in (("denoising-diffusion-pytorch", "denoising_diffusion_pytorch"), ("diffusers", "diffusers")):
        try:
            out[name] = version(name) if find_spec(module) else None
        except PackageNotFoundError:
            out[name] = None
    return out


def lucidrains_unet(*, dim: int = 32, dim_mults: tuple[int, ...] = (1, 2, 4), channels: int = 3) -> nn.Module:
    """denoising-diffusion-pytorch's ``Unet`` with linear attention in every stage, full in the middle."""
    from denoising_diffusion_pytorch import Unet

    net = Unet(dim=dim, dim_mults=dim_mults, channels=channels, full_attn=(False,) * len(dim_mults))
    return _ForwardXT(net)


def diffusers_unet(*, image_size: int, channels: int = 3, widths: tuple[int, ...] = (32, 64, 128)) -> nn.Module:
    """diffusers' ``UNet2DModel`` with attention at the lowest resolution only."""
    from diffusers import UNet2DModel

    n = len(widths)
    net = UNet2DModel(
        sample_size=image_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=widths,
        layers_per_block=2,
        down_block_types=("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",),
        up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1),
    )
    return _ForwardXT(net, lambda out: out.sample)


def lucidrains_ddim(model: nn.Module, *, image_size: int, steps: int = 50, timesteps: int = 1000) -> Callable[[int], torch.Tensor]:
    """``sample(n)``: n images from denoising-diffusion-pytorch's own DDIM sampler (eta 0, linear
    schedule, eps objective, x0 clipped), the way its ``GaussianDiffusion.sample`` draws them."""
    import denoising_diffusion_pytorch.denoising_diffusion_pytorch as lucidrains
    from denoising_diffusion_pytorch import GaussianDiffusion

    lucidrains.tqdm = lambda iterable, *args, **kwargs: iterable  # no progress bar inside the timing
    net = model.net if isinstance(model, _ForwardXT) else model
    diffusion = GaussianDiffusion(
        net, image_size=image_size, timesteps=timesteps, sampling_timesteps=steps,
        objective="pred_noise", beta_schedule="linear", auto_normalize=False,
    )
    return lambda n: diffusion.ddim_sample((n, net.channels, image_size, image_size))


def diffusers_ddim(model: nn.Module, *, image_size: int, steps: int = 50, timesteps: int = 1000) -> Callable[[int], torch.Tensor]:
    """``sample(n)``: n images from a diffusers ``DDIMScheduler`` loop (eta 0, linear schedule, eps
    objective, x0 clipped), as its ``DDIMPipeline`` runs it."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=timesteps, beta_schedule="linear", clip_sample=True)
    scheduler.set_timesteps(steps)
    channels = model.net.config.in_channels if isinstance(model, _ForwardXT) else 3

    def sample(n: int) -> torch.Tensor:
        with torch.inference_mode():
            x = torch.randn(n, channels, image_size, image_size)
            for t in scheduler.timesteps:
                x = scheduler.step(model(x, t.expand(n)), t, x).prev_sample
        return x

    return sample
