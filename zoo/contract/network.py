"""The parts the U-Net is assembled from: block, attention, norm, activation, time embedding."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor


@runtime_checkable
class Block(Protocol):
    """A residual stage of the U-Net: (B, dim_in, H, W) -> (B, dim_out, H, W), an ``nn.Module``.

    Factory ``(dim_in, dim_out, *, time_emb_dim, act, groups)``: ``time_emb_dim`` is the width of
    ``t_emb`` (None: the network has no time embedding and ``t_emb`` is None); ``act`` is a
    zero-argument callable building the activation the spec chose, or None for the block's own;
    ``groups`` is the GroupNorm group count (it divides dim_out). Declaration
    ``default_activation``: the registered activation name the block uses by itself.
    """

    def forward(self, x: Tensor, t_emb: Tensor | None) -> Tensor: ...


@runtime_checkable
class Attention(Protocol):
    """Attention over the pixels, an ``nn.Module`` keeping the shape (B, dim, H, W).

    Factory ``(dim, *, heads, dim_head)``. Returning None means "no attention here": the U-Net then
    leaves out the layer together with its norm and residual (the built-in ``none`` does this).
    Declaration ``validate(dim, *, size, heads, dim_head)``: raise :class:`zoo.errors.UserError` (one
    line naming the constraint) when the layer cannot serve ``dim`` channels on ``size`` x ``size``
    feature maps (the image side over ``model.patch``, halved per stage); the U-Net asks it for every
    place it would put the layer, when the spec is loaded.
    """

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Norm(Protocol):
    """Wraps an attention module ``fn`` with a normalisation and the residual, keeping the shape.

    Factory ``(dim, fn)``: pre-norm is ``x + fn(norm(x))``, post-norm ``norm(x + fn(x))``.
    """

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Activation(Protocol):
    """An elementwise ``nn.Module`` keeping the shape. Factory ``()``."""

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class TimeEmbedding(Protocol):
    """Embeds timesteps: long (B,) -> float (B, out_dim), an ``nn.Module``.

    Factory ``(dim)`` (the U-Net's base width; ``out_dim`` need not equal it). The U-Net puts its MLP
    (Linear, activation, Linear to 4 * dim) on top. Returning None means "no time embedding": the
    network infers the noise level itself and blocks get ``t_emb=None``. A factory that cannot embed
    at this ``dim`` raises ValueError (zoo reports it as a spec error).
    """

    out_dim: int

    def forward(self, t: Tensor) -> Tensor: ...
