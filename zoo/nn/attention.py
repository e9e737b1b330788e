"""Attention layers over the pixels of a feature map. Factory ``(dim, *, heads, dim_head)``,
``forward(x)`` keeps the shape (B, C, H, W).

Both layers compute in the token layout (B, H*W, C), which is exactly the memory of a channels_last
feature map: the 1x1 projections become one matmul each on a view of ``x``, the softmaxes run over
contiguous or cleanly strided dimensions, and the result is handed back as a channels_last view.
On CPU this avoids the NCHW <-> per-head reshuffles (each a full copy of a (B, 3*heads*dim_head, H, W)
tensor, forward and backward) that dominated the time of the textbook formulation; the parameters
(``to_qkv`` and ``to_out`` 1x1 convolutions) and the numbers computed are those of the textbook
version, to float rounding (pinned by tests/test_unet_equivalence.py). The reshapes are einops
``rearrange`` patterns: the same views as hand-written permutes (bit-identical results), with the shapes
spelled out. Measurements and the alternatives that lost (per-head autograd function, head-major
projections, block-diagonal context, NCHW 1x1 convolutions): docs/performance.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from zoo.hookspecs import hookimpl


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C); a free view when ``x`` is channels_last."""
    return rearrange(x, "b c h w -> b (h w) c")


def _feature_map(tokens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W) in the memory format of ``like`` (a view for channels_last)."""
    out = rearrange(tokens, "b (h w) c -> b c h w", h=like.shape[2])
    return out if like.is_contiguous(memory_format=torch.channels_last) else out.contiguous()


def _matrix(conv: nn.Conv2d) -> torch.Tensor:
    """The (out, in) matrix of a 1x1 convolution."""
    return conv.weight.flatten(1)


def _position_softmax_sum(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """softmax(logits over positions)^T tokens: (B, N, K), (B, N, C) -> (B, K, C).

    The softmax's division is moved onto the small (K x C) product: the (N x K) weights are only
    exponentiated, in place, so the big tensor is read and written once less than by ``softmax``
    (about a third less time at 16x16 on CPU). The max is detached: it only guards exp from
    overflow, and the result does not depend on it.
    """
    logits = logits.float()  # a no-op in fp32; under bf16 autocast the exponentials stay fp32, as softmax's do
    weights = logits.sub_(logits.detach().amax(1, keepdim=True)).exp_()
    return (weights.transpose(1, 2) @ tokens) / weights.sum(1).unsqueeze(-1)


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
        qkv = F.linear(_tokens(x), _matrix(self.to_qkv))
        q, k, v = rearrange(qkv, "b n (qkv h d) -> qkv b h n d", qkv=3, h=self.heads)  # strided views: SDPA copies nothing
        out = rearrange(F.scaled_dot_product_attention(q, k, v), "b h n d -> b n (h d)")
        return _feature_map(F.linear(out, _matrix(self.to_out), self.to_out.bias), x)


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
        tokens = _tokens(x)
        # q and k from two matmuls on slices of the one weight: each output is contiguous
        # (B, N, heads, d), so no split/cat of a 3x wider tensor is needed forward or backward
        w_q, w_k, w_v = _matrix(self.to_qkv).chunk(3)
        q = rearrange(F.linear(tokens, w_q), "b n (h d) -> b n h d", h=self.heads).softmax(dim=-1)  # over features
        k = F.linear(tokens, w_k)  # key logits (B, N, heads*d), softmaxed over positions below
        conv, norm = self.to_out
        if tokens.shape[1] >= tokens.shape[2]:  # at least as many pixels as channels
            y = self._folded(tokens, q, k, w_v, conv)
        else:
            k = rearrange(k, "b n (h d) -> b n h d", h=self.heads).softmax(dim=1)
            y = F.linear(self._per_head(tokens, q, k, w_v), _matrix(conv), conv.bias)
        return norm(_feature_map(y, x))

    def _folded(self, tokens: torch.Tensor, q: torch.Tensor, k: torch.Tensor, w_v: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """The same products, associated so that no (pixels x heads*d) tensor but q is ever made.

        The context k^T v = (k^T x) W_v^T needs no values, and the output projection of q (context)
        is q (context W_o^T): the keys are summed against the input itself, the value and output
        weights fold into one (heads*d x C_out) matrix per image, and a single matmul of the queries
        with it gives the result, bias included, already in token layout. The big products keep their
        sizes (k^T x costs what the value projection did, q M what the output projection did); the
        folds add heads*d^2*(C + C_out) per image and save the two per-head products, 2 N heads*d^2,
        so this order wins whenever the map has more pixels N than channels. It also moves far less
        memory: the values and the per-head outputs, and their gradients, are never materialised.
        """
        h = self.heads
        summary = rearrange(_position_softmax_sum(k, tokens), "b (h d) c -> b h d c", h=h)
        w_v = rearrange(w_v, "(h e) c -> h c e", h=h) * self.scale
        w_o = rearrange(_matrix(conv), "o (h e) -> h e o", h=h)
        folded = rearrange(summary @ w_v @ w_o, "b h d o -> b (h d) o")
        return torch.baddbmm(conv.bias, rearrange(q, "b n h d -> b n (h d)"), folded)

    def _per_head(self, tokens: torch.Tensor, q: torch.Tensor, k: torch.Tensor, w_v: torch.Tensor) -> torch.Tensor:
        """q (k^T v) in the textbook order: cheaper on small maps with many channels (4x4 x 128)."""
        v = rearrange(F.linear(tokens, w_v), "b n (h e) -> b n h e", h=self.heads)
        # the query scale is applied to the tiny (d x d) context instead of the (N x d) queries
        if torch.is_grad_enabled():
            context = torch.einsum("bnhd,bnhe->bhde", k, v) * self.scale
            return rearrange(torch.einsum("bnhd,bhde->bnhe", q, context), "b n h e -> b n (h e)")
        # sampling: per-head matmuls on strided views skip einsum's two head-major copies
        heads = range(self.heads)
        return torch.cat([q[:, :, i] @ (k[:, :, i].transpose(1, 2) @ v[:, :, i] * self.scale) for i in heads], dim=-1)


def no_attention(dim: int, *, heads: int = 4, dim_head: int = 32) -> None:
    """No attention (returns None): the U-Net drops the norm wrapper and residual too, so the layer vanishes."""
    return None


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("attention", "full", FullAttention, help="multi-head self-attention (fused SDPA), quadratic in pixels")
    registry.add("attention", "linear", LinearAttention, help="linear attention (Shen et al. 2018), linear in pixels")
    registry.add("attention", "none", no_attention, help="no attention layer at all")
