"""The DDPM U-Net (Ho et al. 2020) as popularised by "The Annotated Diffusion Model", assembled
from registered parts named in a :class:`zoo.config.spec.ModelSpec`.

Layout: init conv 7x7; per resolution two blocks, a norm-wrapped residual attention (linear by
default) and a downsample (all but the last); a bottleneck of block, full attention, block;
symmetric up stages that upsample, concatenate the matching skip and run two blocks and attention;
a final block over [features, init-conv skip] and a 1x1 conv to the image channels. Nothing here
knows which block, attention or norm is inside: the registry builds them.

``model.patch`` = p > 1 folds each p x p block of pixels into channels before the init conv and
unfolds the output after the final conv (space-to-depth, ``pixel_unshuffle``; the cheap first layer
"simple diffusion", Hoogeboom et al. 2023, uses to avoid full-resolution feature maps). Every feature
map is p times smaller per side, so a step costs about 1/p² of the work, which buys more training
images per minute on a CPU (docs/diffusion.md, "The default recipe").
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from zoo.config.spec import ModelSpec
from zoo.errors import UserError
from zoo.hookspecs import hookimpl
from zoo.models.geometry import check_geometry
from zoo.models.shape_check import ShapeContract
from zoo.registry import Registry


def validate(spec: ModelSpec, registry: Registry) -> None:
    """Every impossible spec fails here, before a tensor is made: unknown parts, shapes, and what the
    attention layers declare they cannot serve (a side or width, :class:`zoo.contract.Attention`)."""
    for kind, name in (
        ("block", spec.block),
        ("attention", spec.attention),
        ("attention", spec.mid_attention),
        ("norm", spec.norm),
        ("time_embedding", spec.time_embedding),
    ):
        registry.get(kind, name)
    if spec.activation != "default":
        registry.get("activation", spec.activation)
    check_geometry(spec, "U-Net", patch=spec.patch)
    for name in ("heads", "dim_head"):
        if getattr(spec, name) < 1:
            raise UserError(f"model.{name} must be at least 1, got {getattr(spec, name)}")
    for setting, name, width, side in _attention_places(spec):
        check = registry.get("attention", name).declared("validate")
        if check is not None:
            try:
                check(width, size=side, heads=spec.heads, dim_head=spec.dim_head)
            except UserError as err:
                raise UserError(f"model.{setting} '{name}' cannot serve {width} channels at {side}x{side}: {err}") from None
    _time_embedding(spec, registry)


def _attention_places(spec: ModelSpec) -> list[tuple[str, str, int, int]]:
    """(setting, attention name, width, feature side) of every place the U-Net puts an attention layer."""
    widths, side = [spec.dim * m for m in spec.dim_mults], spec.image_size // spec.patch
    places = [("attention", spec.attention, w, side // 2**i) for i, w in enumerate(widths)]
    places.append(("mid_attention", spec.mid_attention, widths[-1], side // 2 ** (len(widths) - 1)))
    return list(dict.fromkeys(places))


def _probe(registry: Registry, kind: str, name: str, *args: object, **kwargs: object) -> object:
    """Build a component only to read what it declares (None: absent), leaving torch's RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        return registry.create(kind, name, *args, **kwargs)


def _time_embedding(spec: ModelSpec, registry: Registry) -> object:
    """The spec's time embedding at ``model.dim`` (None: none), or a UserError when it cannot embed there."""
    try:
        return _probe(registry, "time_embedding", spec.time_embedding, spec.dim)
    except ValueError as err:
        raise UserError(f"model.time_embedding '{spec.time_embedding}' does not work with model.dim={spec.dim}: {err}") from None


def _has_attention(spec: ModelSpec, registry: Registry) -> bool:
    """Whether any attention factory of the spec builds a layer (returning None means no layer)."""
    names = dict.fromkeys((spec.attention, spec.mid_attention))
    return any(_probe(registry, "attention", n, spec.dim, heads=spec.heads, dim_head=spec.dim_head) is not None
               for n in names)


def canonical(spec: ModelSpec, registry: Registry) -> ModelSpec:
    """The same network under one name, so identical grid cells are trained once.

    An explicit activation equal to what every activation of the network already is becomes
    "default" (GELU-only on ConvNeXt, whose blocks and time MLP already use GELU); with no
    attention anywhere, the norm placement and head settings mean nothing and are reset. Both are
    read from what the registered factories declare (time embedding or attention returning None),
    so a plugin's gets the treatment of a built-in. The VAE's own settings (``latent_dim``, ``kl_weight``)
    are reset too. ``spec`` has passed :func:`validate` (zoo.config.resolve validates before it canonicalises).
    """
    defaults = ModelSpec()
    out = dataclasses.replace(spec, latent_dim=defaults.latent_dim, kl_weight=defaults.kl_weight)
    uses_time_mlp = _time_embedding(spec, registry) is not None
    own = registry.get("block", spec.block).declared("default_activation")
    if spec.activation == own and (not uses_time_mlp or own == TIME_MLP_ACTIVATION):
        out.activation = "default"
    if not _has_attention(spec, registry):
        out.norm, out.heads, out.dim_head = defaults.norm, defaults.heads, defaults.dim_head
    return out


TIME_MLP_ACTIVATION = "gelu"  # the time MLP's own activation, as in the Annotated Diffusion Model


#: Without autograd (sampling, evaluation), a CPU batch runs through the network in equal chunks of
#: at most max(INFERENCE_CHUNK_IMAGES, INFERENCE_CHUNK_PIXELS / (h x w)) images, h x w the network's
#: largest feature map (the image on p x p patches is h = H / p): 128 at 16x16 and at 32x32 on 2x2
#: patches, 32 from 32x32 on pixels. That keeps the largest activation of a chunk (the attention's
#: 128 hidden channels) near 16 MB, under the 32 MiB above which glibc hands out fresh, page-faulting
#: memory even with zoo's allocator setting (zoo/runtime/allocator.py). On a 2-core Xeon, with that
#: setting, this is as fast as the whole batch at 16x16 and 1.0-1.2x faster at 32x32 for 100 and 250
#: images, and 1.2x faster at 16x16 than the 8192-pixel chunks that had won under glibc's defaults
#: (docs/performance.md). Sized by the image instead, 32x32 RGB on 2x2 patches ran in chunks of 32 and
#: sampled 1,000 images in 49.0 s against 39.9 s in chunks of 128 (40 steps, 2 threads, 2-core AMD
#: EPYC avx512_bf16, 2 rounds: benchmarks/results/inference_chunks_patch.json). Every image is
#: computed on its own (GroupNorm and attention never mix images), so the output is the same up to
#: float rounding. Training batches are never split.
INFERENCE_CHUNK_IMAGES = 32
INFERENCE_CHUNK_PIXELS = 32768


def inference_chunks(x: torch.Tensor, t: torch.Tensor, patch: int = 1) -> int:
    """Into how many equal chunks to split the batch ``x`` (1: run it whole), for a network that runs on
    ``patch`` x ``patch`` patches. A chunk holds at most the budget above; 100 images with a budget of
    32 run as 4 x 25, not 32 + 32 + 32 + 4."""
    n = x.shape[0]
    if torch.is_grad_enabled() or x.device.type != "cpu" or t.ndim != 1 or t.shape[0] != n:
        return 1
    feature_pixels = max(1, (x.shape[-2] // patch) * (x.shape[-1] // patch))
    budget = max(INFERENCE_CHUNK_IMAGES, INFERENCE_CHUNK_PIXELS // feature_pixels)
    return math.ceil(n / budget)


class Downsample(nn.Conv2d):
    """Strided 4x4 conv halving the resolution."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim, 4, stride=2, padding=1)


class Upsample(nn.ConvTranspose2d):
    """Transposed 4x4 conv doubling the resolution."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim, 4, stride=2, padding=1)


class Stage(nn.Module):
    """Two blocks then residual attention, at one resolution."""

    def __init__(self, block1: nn.Module, block2: nn.Module, attn: nn.Module) -> None:
        super().__init__()
        self.block1, self.block2, self.attn = block1, block2, attn

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor | None) -> torch.Tensor:
        return self.attn(self.block2(self.block1(x, t_emb), t_emb))


class Unet(nn.Module):
    """Predicts the noise (or x0, or v) of ``x`` at timesteps ``t``: ``forward(x, t) -> same shape as x``."""

    def __init__(self, spec: ModelSpec, registry: Registry) -> None:
        validate(spec, registry)
        super().__init__()
        self.spec = spec
        act = None if spec.activation == "default" else partial(registry.create, "activation", spec.activation)
        dim = spec.dim
        dims = [dim, *(dim * m for m in spec.dim_mults)]
        in_out = list(zip(dims[:-1], dims[1:]))

        embedding = registry.create("time_embedding", spec.time_embedding, dim)
        time_dim = None
        self.time_mlp = None
        if embedding is not None:
            time_dim = dim * 4
            time_act = act() if act else registry.create("activation", TIME_MLP_ACTIVATION)
            self.time_mlp = nn.Sequential(
                embedding, nn.Linear(embedding.out_dim, time_dim), time_act, nn.Linear(time_dim, time_dim)
            )

        self._shapes = ShapeContract(registry)  # what each part must return, to name a plugin part that does not
        block = self._shapes.block(
            partial(registry.get("block", spec.block).factory, time_emb_dim=time_dim, act=act, groups=spec.groups),
            spec.block,
        )

        def attention(name: str, width: int) -> nn.Module:
            fn = registry.create("attention", name, width, heads=spec.heads, dim_head=spec.dim_head)
            if fn is None:  # no layer, no norm, no residual
                return nn.Identity()
            self._shapes.same_shape(fn, "attention", name)
            return self._shapes.same_shape(registry.create("norm", spec.norm, width, fn), "norm", spec.norm)

        folded = spec.channels * spec.patch**2  # the image's channels once patch x patch blocks are folded in
        self.init_conv = nn.Conv2d(folded, dim, 7, padding=3)
        self.downs = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        for i, (d_in, d_out) in enumerate(in_out):
            self.downs.append(Stage(block(d_in, d_out), block(d_out, d_out), attention(spec.attention, d_out)))
            last = i == len(in_out) - 1
            self.downsamples.append(nn.Identity() if last else Downsample(d_out))

        mid = dims[-1]
        self.mid_block1 = block(mid, mid)
        self.mid_attn = attention(spec.mid_attention, mid)
        self.mid_block2 = block(mid, mid)

        self.upsamples = nn.ModuleList()
        self.ups = nn.ModuleList()
        x_dim = mid
        for i, (d_in, d_out) in reversed(list(enumerate(in_out))):
            last = i == len(in_out) - 1
            self.upsamples.append(nn.Identity() if last else Upsample(x_dim))
            self.ups.append(Stage(block(x_dim + d_out, d_in), block(d_in, d_in), attention(spec.attention, d_in)))
            x_dim = d_in

        self.final_block = block(dim * 2, dim)
        self.final_conv = nn.Conv2d(dim, folded, 1)
        self._shapes.bind(self)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        try:
            chunks = inference_chunks(x, t, self.spec.patch)
            if chunks > 1:
                out = torch.cat([self._forward(xs, ts) for xs, ts in zip(x.tensor_split(chunks), t.tensor_split(chunks))])
            else:
                out = self._forward(x, t)
        except RuntimeError:  # a plugin part of the wrong shape? name it (UserError); else torch's own error
            self._shapes.diagnose(self, self._forward, x, t)
            raise
        if out.shape != x.shape:
            self._shapes.diagnose(self, self._forward, x, t)
            raise UserError(f"the U-Net returned {tuple(out.shape)} for an input of {tuple(x.shape)}; it must keep the shape")
        return out

    def _forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t_emb = self.time_mlp(t) if self.time_mlp is not None else None
        patch = self.spec.patch
        x = self.init_conv(F.pixel_unshuffle(x, patch) if patch > 1 else x)
        r = x
        skips = []
        for stage, down in zip(self.downs, self.downsamples):
            x = stage(x, t_emb)
            skips.append(x)
            x = down(x)
        x = self.mid_block2(self.mid_attn(self.mid_block1(x, t_emb)), t_emb)
        for up, stage in zip(self.upsamples, self.ups):
            x = stage(torch.cat((up(x), skips.pop()), dim=1), t_emb)
        x = self.final_conv(self.final_block(torch.cat((x, r), dim=1), t_emb))
        return F.pixel_shuffle(x, patch) if patch > 1 else x


def build_unet(spec: ModelSpec, registry: Registry) -> Unet:
    """The DDPM U-Net assembled from the registered parts the spec names."""
    return Unet(spec, registry)


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("model", "unet", build_unet, help="DDPM U-Net assembled from registered blocks/attention/norms",
                 validate=validate, canonical=canonical)
