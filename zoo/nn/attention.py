"""Attention layers over the pixels of a feature map. Factory ``(dim, *, heads, dim_head)``,
``forward(x)`` keeps the shape (B, C, H, W)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from zoo.hookspecs import hookimpl


class FullAttention(nn.Module):
    """Multi-head self-attention (Vaswani et al. 2017) over all H*W positions, through PyTorch's
    fused ``scaled_dot_product_attention``. Cost grows with (H*W)^2: the U-Net uses it in the bottleneck."""

    def __init__(self, dim: int, *, heads: int = 4, dim_head: int = 32) -> None:
        super().__init__()
        self.heads = heads
        hidden = heads * dim_head
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        q, k, v = rearrange(self.to_qkv(x), "b (qkv h d) x y -> qkv b h (x y) d", qkv=3, h=self.heads)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(rearrange(out, "b h (x y) d -> b (h d) x y", x=h, y=w))


class LinearAttention(nn.Module):
    """Linear attention (Shen et al. 2018, "Efficient Attention"): softmax over the query features
    and over the key positions, so keys and values are summarised into a (d x d) context per head
    before the queries read it. Cost is linear in H*W, which is why it can run at every resolution."""

    def __init__(self, dim: int, *, heads: int = 4, dim_head: int = 32) -> None:
        super().__init__()
        self.heads = heads
        self.scale = dim_head**-0.5
        hidden = heads * dim_head
        self.to_qkv = nn.Conv2d(dim, hidden * 3, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, dim, 1), nn.GroupNorm(1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        q, k, v = rearrange(self.to_qkv(x), "b (qkv h d) x y -> qkv b h d (x y)", qkv=3, h=self.heads)
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return self.to_out(rearrange(out, "b h e (x y) -> b (h e) x y", x=h, y=w))


def no_attention(dim: int, *, heads: int = 4, dim_head: int = 32) -> nn.Module:
    """No attention. The U-Net drops the norm wrapper and residual around it too, so the layer vanishes."""
    return nn.Identity()


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("attention", "full", FullAttention, help="multi-head self-attention (fused SDPA), quadratic in pixels")
    registry.add("attention", "linear", LinearAttention, help="linear attention (Shen et al. 2018), linear in pixels")
    registry.add("attention", "none", no_attention, help="no attention layer at all")
