"""zoo-extras: components added to zoo from outside, through the public plugin contract only.

- block ``nafnet``: NAFNet's activation-free block (Chen et al. 2022, "Simple Baselines for Image
  Restoration"): a SimpleGate (x1 * x2) instead of a nonlinearity and simplified channel attention.
- activation ``squareplus``: (x + sqrt(x^2 + b)) / 2, a smooth ReLU without exp (Barron 2021).
"""

from __future__ import annotations

import torch
from torch import nn

import zoo


class Squareplus(nn.Module):
    def __init__(self, b: float = 4.0) -> None:
        super().__init__()
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x + torch.sqrt(x * x + self.b))


class SimpleGate(nn.Module):
    """Splits channels in two halves and multiplies them; with ``act``, a GLU: act(x1) * x2."""

    def __init__(self, act: nn.Module | None = None) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return (self.act(x1) if self.act is not None else x1) * x2


class NAFBlock(nn.Module):
    """NAFNet block with the diffusion time embedding added after the depthwise conv.
    ``act`` (when a spec replaces activations) turns each SimpleGate into a gated linear unit."""

    def __init__(self, dim_in, dim_out, *, time_emb_dim=None, act=None, groups=8, expand=2):  # noqa: ANN001
        super().__init__()
        width = dim_out * expand
        self.proj = nn.Conv2d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()
        self.norm1 = nn.GroupNorm(1, dim_out)
        self.conv1 = nn.Conv2d(dim_out, width, 1)
        self.dwconv = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.time = nn.Linear(time_emb_dim, width) if time_emb_dim else None
        self.gate1 = SimpleGate(act() if act else None)
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(width // 2, width // 2, 1))
        self.conv2 = nn.Conv2d(width // 2, dim_out, 1)
        self.norm2 = nn.GroupNorm(1, dim_out)
        self.conv3 = nn.Conv2d(dim_out, width, 1)
        self.gate2 = SimpleGate(act() if act else None)
        self.conv4 = nn.Conv2d(width // 2, dim_out, 1)
        self.beta = nn.Parameter(torch.zeros(1, dim_out, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, dim_out, 1, 1))

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor | None = None) -> torch.Tensor:
        x = self.proj(x)
        h = self.dwconv(self.conv1(self.norm1(x)))
        if self.time is not None and t_emb is not None:
            h = h + self.time(t_emb)[:, :, None, None]
        h = self.gate1(h)
        h = self.conv2(h * self.sca(h))
        x = x + h * self.beta
        h = self.conv4(self.gate2(self.conv3(self.norm2(x))))
        return x + h * self.gamma


@zoo.hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("block", "nafnet", NAFBlock, help="NAFNet block: SimpleGate + channel attention (Chen et al. 2022)")
    registry.add("activation", "squareplus", Squareplus, help="Squareplus, (x + sqrt(x^2 + 4)) / 2 (Barron 2021)")
