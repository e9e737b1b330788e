"""Time embeddings: how the U-Net is told the diffusion step t. Factory ``(dim)``; ``forward(t)``
maps timesteps (B,) to (B, dim). The U-Net adds the MLP on top (so its activation follows the spec).
A factory returning None means no time embedding: the network must infer the noise level itself,
the study's "optional" embedding."""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo.hookspecs import hookimpl


class SinusoidalEmbedding(nn.Module):
    """Transformer position encoding of t (Vaswani et al. 2017), as used by Ho et al. 2020."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"sinusoidal embedding needs an even dim, got {dim}")
        self.out_dim = dim
        half = dim // 2
        freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / max(half - 1, 1)))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        args = t.float()[:, None] * self.freqs[None, :]
        return torch.cat((args.sin(), args.cos()), dim=-1)


def no_time_embedding(dim: int) -> None:
    """No time embedding (returns None)."""
    return None


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("time_embedding", "sinusoidal", SinusoidalEmbedding, help="sinusoidal encoding of t + MLP (Ho et al. 2020)")
    registry.add("time_embedding", "none", no_time_embedding, help="no time embedding: the net infers the noise level")
