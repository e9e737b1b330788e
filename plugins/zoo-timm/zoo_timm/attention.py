"""timm's attention and excitation modules as zoo attention factories ``(dim, *, heads, dim_head)``.

Each keeps (B, dim, H, W), so the U-Net can put it where it puts its own attention (inside the norm
and residual of ``model.norm``). timm is imported inside the factories only: registering costs
nothing, so ``zoo list`` does not pay timm's import (benchmarks/results/timm_startup.json).

What a module cannot serve is declared at registration (``validate``), so a spec asking for it fails
when it is loaded, in one line, before a tensor is made:

- the heads split the width (``lambda``, ``halo``, ``attention2d``): every stage width must be a multiple
  of ``model.heads``;
- two kernel paths split the input (``sk``, ``splat``): the width must be even;
- ``halo`` attends within 2x2 blocks (a 1-pixel halo around each): every feature side must be even.

Every BatchNorm inside a module is replaced by a one-group GroupNorm (zoo_timm.batchnorm says why);
the help line of each module that had one says so.

Left out of timm's ``get_attn`` catalogue, on purpose:

- ``bottleneck``: its relative position table is sized for one feature size at construction, and an
  attention factory is not told the side (the U-Net would need one instance per resolution);
- ``bat`` (BatNonLocalAttn): needs sides that are multiples of its block size 7, which no power-of-two
  U-Net level has;
- ``ecam``, ``gca``, ``scoord``, ``ela``, ``strip``: variants of registered modules (one catalogue line
  each to add).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn

from zoo.errors import UserError
from zoo_timm.batchnorm import without_batch_norm

Build = Callable[[int, int, int], nn.Module]  # (dim, heads, dim_head) -> timm's module


@dataclass(frozen=True)
class TimmAttention:
    """One timm module as an attention factory, with the limits it declares."""

    name: str  # registered as timm_<name>
    timm: str  # timm's class, for messages
    build: Build  # imports timm itself
    help: str
    split_heads: bool = False  # timm splits the width over model.heads
    width_multiple: int = 1  # the width must be a multiple of this
    side_multiple: int = 1  # every feature side must be a multiple of this

    def __call__(self, dim: int, *, heads: int = 4, dim_head: int = 32) -> nn.Module:
        problem = self._width_problem(dim, heads)
        if problem:
            raise UserError(f"attention 'timm_{self.name}' cannot serve {dim} channels: {problem}")
        return without_batch_norm(self.build(dim, heads, dim_head))

    def validate(self, dim: int, *, size: int, heads: int, dim_head: int) -> None:
        """zoo's ``validate`` declaration: UserError naming the constraint for a place it cannot serve."""
        problem = self._width_problem(dim, heads) or self._side_problem(size)
        if problem:
            raise UserError(problem)

    @property
    def declarations(self) -> dict[str, object]:
        """What to declare at registration: ``validate`` only for a module with limits."""
        limited = self.split_heads or self.width_multiple > 1 or self.side_multiple > 1
        return {"validate": self.validate} if limited else {}

    def _width_problem(self, dim: int, heads: int) -> str:
        if self.split_heads and dim % heads:
            return (f"timm's {self.timm} splits the channels over model.heads={heads} heads and {dim} is not a "
                    f"multiple of {heads}; choose model.heads dividing every stage width (model.dim x model.dim_mults)")
        if dim % self.width_multiple:
            return (f"timm's {self.timm} splits the channels over {self.width_multiple} kernel paths and {dim} is "
                    f"not a multiple of {self.width_multiple}; use a model.dim that is")
        return ""

    def _side_problem(self, size: int) -> str:
        b = self.side_multiple
        if size % b:
            return (f"timm's {self.timm} attends within {b}x{b} blocks and the feature side {size} is not a multiple "
                    f"of {b}; keep every side a multiple of {b} (data.size, model.dim_mults) or pick another attention")
        return ""


# -- how each module is built (module-level functions: factories stay picklable) ------------------------
def _from_get_attn(kind: str, dim: int, heads: int, dim_head: int) -> nn.Module:
    """A module of timm's ``get_attn`` catalogue at its defaults: a gate or context block, no heads."""
    from timm.layers import get_attn

    return get_attn(kind)(dim)


def _gather_excite(dim: int, heads: int, dim_head: int) -> nn.Module:
    """Gather-Excite with a global gather and timm's default MLP. timm 1.0.31 cannot build that MLP itself
    (``ConvMlp(..., act_layer=act_layer, *dd)`` unpacks the device/dtype dict positionally: a TypeError),
    so when that happens the module is built without it and given the MLP timm meant to build."""
    from timm.layers import ConvMlp, GatherExcite
    from timm.layers.helpers import make_divisible

    try:
        return GatherExcite(dim)
    except TypeError:
        module = GatherExcite(dim, use_mlp=False)
        module.mlp = ConvMlp(dim, make_divisible(dim / 16, 1, round_limit=0.0), act_layer=nn.ReLU)
        return module


def _lambda(dim: int, heads: int, dim_head: int) -> nn.Module:
    """Local lambdas over a 9x9 context (timm's r=9), keys and queries of ``dim_head`` channels."""
    from timm.layers import get_attn

    return get_attn("lambda")(dim, num_heads=heads, dim_head=dim_head, r=9)


def _halo(dim: int, heads: int, dim_head: int) -> nn.Module:
    """2x2 query blocks, each attending to its 4x4 window (a 1-pixel halo): blocks this small keep every
    level of an 8x8 U-Net usable; timm's default 8x8 blocks would fit none below 8x8."""
    from timm.layers import get_attn

    return get_attn("halo")(dim, num_heads=heads, dim_head=dim_head, block_size=2, halo_size=1)


def _attention2d(dim: int, heads: int, dim_head: int) -> nn.Module:
    """Multi-head self-attention over the pixels; timm splits ``dim`` over the heads (no ``dim_head``)."""
    from timm.layers import Attention2d

    return Attention2d(dim, num_heads=heads)


def _multi_query(dim: int, heads: int, dim_head: int) -> nn.Module:
    """``heads`` query heads sharing one key and one value head of ``dim_head`` channels."""
    from timm.layers import MultiQueryAttention2d

    return MultiQueryAttention2d(dim, num_heads=heads, key_dim=dim_head, value_dim=dim_head)


GN = "; its BatchNorm made GroupNorm(1)"
CATALOGUE: tuple[TimmAttention, ...] = (
    TimmAttention("se", "SEModule", partial(_from_get_attn, "se"), "Squeeze-and-Excitation channel gate (Hu et al. 2018)"),
    TimmAttention("ese", "EffectiveSEModule", partial(_from_get_attn, "ese"),
                  "Effective SE: one 1x1 conv, hard-sigmoid gate (Lee & Park 2020)"),
    TimmAttention("eca", "EcaModule", partial(_from_get_attn, "eca"),
                  "Efficient Channel Attention: 1-D conv over pooled channels (Wang et al. 2020)"),
    TimmAttention("ceca", "CecaModule", partial(_from_get_attn, "ceca"), "ECA with circular padding over the channels"),
    TimmAttention("ge", "GatherExcite", _gather_excite, "Gather-Excite, global gather + MLP gate (Hu et al. 2018)"),
    TimmAttention("gc", "GlobalContext", partial(_from_get_attn, "gc"), "Global Context block (Cao et al. 2019, GCNet)"),
    TimmAttention("cbam", "CbamModule", partial(_from_get_attn, "cbam"),
                  "CBAM: channel then spatial gate (Woo et al. 2018)" + GN),
    TimmAttention("lcbam", "LightCbamModule", partial(_from_get_attn, "lcbam"),
                  "light CBAM: avg and max pools summed before the gates" + GN),
    TimmAttention("coord", "CoordAttn", partial(_from_get_attn, "coord"),
                  "Coordinate attention, row and column gates (Hou et al. 2021)" + GN),
    TimmAttention("sk", "SelectiveKernel", partial(_from_get_attn, "sk"),
                  "Selective Kernel conv, 3x3 + dilated 3x3 paths (Li et al. 2019)" + GN, width_multiple=2),
    TimmAttention("splat", "SplitAttn", partial(_from_get_attn, "splat"),
                  "Split-Attention conv of ResNeSt, radix 2, timm's default: no norm (Zhang et al. 2020)",
                  width_multiple=2),
    TimmAttention("nl", "NonLocalAttn", partial(_from_get_attn, "nl"),
                  "Non-local block, quadratic in pixels (Wang et al. 2018)" + GN),
    TimmAttention("lambda", "LambdaLayer", _lambda, "Lambda layer, 9x9 local context (Bello 2021)" + GN, split_heads=True),
    TimmAttention("halo", "HaloAttn", _halo, "Halo attention, 2x2 blocks, 1-pixel halo (Vaswani et al. 2021); even sides",
                  split_heads=True, side_multiple=2),
    TimmAttention("attention2d", "Attention2d", _attention2d,
                  "Attention2d: multi-head self-attention, model.heads split the width", split_heads=True),
    TimmAttention("mqa", "MultiQueryAttention2d", _multi_query,
                  "multi-query attention: shared key/value head (Shazeer 2019; MobileNetV4)"),
)
