"""Where the normalisation sits around a residual attention layer. Factory ``(dim, fn)``.

The Annotated Diffusion Model notes there is no consensus on the order; the study compared both:
pre-norm ``x + fn(GroupNorm(x))`` (as in most transformers since Xiong et al. 2020) and post-norm
``GroupNorm(x + fn(x))`` (as in the original Transformer, Vaswani et al. 2017).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.hookspecs import hookimpl


class PreNorm(nn.Module):
    """x + fn(GroupNorm(x))"""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(self.norm(x))


class PostNorm(nn.Module):
    """GroupNorm(x + fn(x))"""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.fn(x))


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("norm", "pre", PreNorm, help="pre-norm residual: x + fn(GroupNorm(x))")
    registry.add("norm", "post", PostNorm, help="post-norm residual: GroupNorm(x + fn(x))")
