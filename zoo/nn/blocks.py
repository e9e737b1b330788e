"""Convolutional blocks of the U-Net, after "The Annotated Diffusion Model" (Rogge & Rasul 2022).

Every block honours one call shape, ``factory(dim_in, dim_out, *, time_emb_dim, act, groups)`` with
``forward(x, t_emb)``, so any block drops into any stage. ``act`` is a zero-argument callable that
builds an activation (or None for the block's own); ``t_emb`` is None when the U-Net has no time
embedding. ``default_activation`` names a block's own activation, so that a spec asking for it
explicitly is recognised as the same model (the study trained its GELU-only ConvNeXt twice).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from zoo.hookspecs import hookimpl

ActFactory = Callable[[], nn.Module] | None


def _residual(dim_in: int, dim_out: int) -> nn.Module:
    return nn.Conv2d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()


class ResnetBlock(nn.Module):
    """Two conv3x3 + GroupNorm + SiLU sub-blocks; the time embedding scales and shifts the first
    (FiLM, as in Ho et al. 2020's successors); 1x1 conv on the residual when channels change."""

    def __init__(
        self, dim_in: int, dim_out: int, *, time_emb_dim: int | None = None, act: ActFactory = None, groups: int = 8
    ) -> None:
        super().__init__()
        act = act or nn.SiLU
        self.mlp = nn.Sequential(act(), nn.Linear(time_emb_dim, dim_out * 2)) if time_emb_dim else None
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(groups, dim_out)
        self.act1 = act()
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, dim_out)
        self.act2 = act()
        self.res_conv = _residual(dim_in, dim_out)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(self.conv1(x))
        if self.mlp is not None and t_emb is not None:
            scale, shift = self.mlp(t_emb)[:, :, None, None].chunk(2, dim=1)
            h = torch.addcmul(shift, h, scale + 1)
        h = self.act1(h)
        h = self.act2(self.norm2(self.conv2(h)))
        return h + self.res_conv(x)


class ConvNextBlock(nn.Module):
    """ConvNeXt block (Liu et al. 2022) as adapted for diffusion in "The Annotated Diffusion Model":
    depthwise 7x7 conv, time embedding added, GroupNorm, conv3x3 widening x2, GELU, GroupNorm,
    conv3x3, residual. Its norms use one group (layer-norm-like), as in the blog; ``groups`` is unused."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        *,
        time_emb_dim: int | None = None,
        act: ActFactory = None,
        groups: int = 8,
        mult: int = 2,
    ) -> None:
        super().__init__()
        act = act or nn.GELU
        self.mlp = nn.Sequential(act(), nn.Linear(time_emb_dim, dim_in)) if time_emb_dim else None
        self.ds_conv = nn.Conv2d(dim_in, dim_in, 7, padding=3, groups=dim_in)
        self.net = nn.Sequential(
            nn.GroupNorm(1, dim_in),
            nn.Conv2d(dim_in, dim_out * mult, 3, padding=1),
            act(),
            nn.GroupNorm(1, dim_out * mult),
            nn.Conv2d(dim_out * mult, dim_out, 3, padding=1),
        )
        self.res_conv = _residual(dim_in, dim_out)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor | None = None) -> torch.Tensor:
        # The depthwise conv's bias is added together with the time embedding, in one pass: on CPU
        # the bias gradient of a depthwise convolution costs more than the sum a plain add needs.
        conv = self.ds_conv
        shift = conv.bias if self.mlp is None or t_emb is None else conv.bias + self.mlp(t_emb)
        h = F.conv2d(x, conv.weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)
        h = h + shift[..., None, None]
        return self.net(h) + self.res_conv(x)


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("block", "resnet", ResnetBlock, help="ResNet block: 2x (conv3x3, GroupNorm, SiLU), time scale/shift",
                 default_activation="silu")
    registry.add("block", "convnext", ConvNextBlock, help="ConvNeXt block: dw7x7, +time, GN, conv3x3 x2 width, GELU, GN, conv3x3",
                 default_activation="gelu")
