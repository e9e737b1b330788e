"""The U-Net builds from any combination of registered parts, and refuses impossible specs early."""

from __future__ import annotations

import itertools

import pytest
import torch

import zoo
from zoo.config.resolve import load_spec
from zoo.errors import UserError
from zoo.models.info import forward_flops
from zoo.plugins import get_registry

_REG = get_registry()
SHAPES = [(8, 1), (16, 3), (16, 1), (8, 3)]  # (image_size, channels), cycled over the combinations
AXES = ("block", "attention", "norm", "activation")
DEFAULTS = {"block": "resnet", "attention": "linear", "norm": "pre", "activation": "default"}


def _own(kind: str) -> list[str]:
    return [c.name for c in _REG.list(kind) if c.distribution == "zoo"]


# every combination of zoo's own parts; each installed plugin's part with zoo's defaults for the other axes
# (the full product with a plugin catalogue such as zoo-timm's would be thousands of networks)
COMBOS = list(itertools.product(_own("block"), _own("attention"), _own("norm"), ["default", *_own("activation")]))
COMBOS += [tuple(c.name if axis == c.kind else DEFAULTS[axis] for axis in AXES)
           for kind in AXES for c in _REG.list(kind) if c.distribution != "zoo"]
TINY = dict(dim=8, dim_mults=(1, 2), heads=2, dim_head=8, groups=4)


@pytest.mark.parametrize(("block", "attention", "norm", "activation"), COMBOS, ids=["-".join(c) for c in COMBOS])
def test_every_combination_runs_forward_and_backward(block: str, attention: str, norm: str, activation: str) -> None:
    size, channels = SHAPES[COMBOS.index((block, attention, norm, activation)) % len(SHAPES)]
    model = zoo.create_model(
        "unet", channels=channels, image_size=size, block=block, attention=attention,
        mid_attention=attention, norm=norm, activation=activation, **TINY,
    )
    x = torch.randn(2, channels, size, size)
    t = torch.tensor([0, 999])
    out = model(x, t)
    assert out.shape == x.shape
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(("size", "channels"), SHAPES)
@pytest.mark.parametrize("time_embedding", ["sinusoidal", "none"])
def test_base_model_shapes_and_time_embedding(size: int, channels: int, time_embedding: str) -> None:
    model = zoo.create_model("unet", channels=channels, image_size=size, time_embedding=time_embedding, **TINY)
    x = torch.randn(3, channels, size, size)
    out_a = model(x, torch.tensor([1, 2, 3]))
    out_b = model(x, torch.tensor([500, 600, 700]))
    assert out_a.shape == x.shape
    # the time embedding is what makes the output depend on t
    assert torch.allclose(out_a, out_b) == (time_embedding == "none")


def test_no_attention_removes_the_layers_and_their_norms() -> None:
    with_attn = zoo.create_model("unet", channels=1, image_size=8, **TINY)
    without = zoo.create_model("unet", channels=1, image_size=8, attention="none", mid_attention="none", **TINY)
    names = [type(m).__name__ for m in without.modules()]
    assert not {"PreNorm", "PostNorm", "LinearAttention", "FullAttention"} & set(names)
    assert sum(p.numel() for p in without.parameters()) < sum(p.numel() for p in with_attn.parameters())


def test_activation_replaces_every_activation_time_mlp_included() -> None:
    model = zoo.create_model("unet", channels=1, image_size=8, activation="relu", **TINY)
    acts = {type(m).__name__ for m in model.modules() if type(m).__name__ in {"ReLU", "GELU", "SiLU", "Mish"}}
    assert acts == {"ReLU"}
    default = zoo.create_model("unet", channels=1, image_size=8, block="resnet", **TINY)
    acts = {type(m).__name__ for m in default.modules() if type(m).__name__ in {"ReLU", "GELU", "SiLU"}}
    assert acts == {"SiLU", "GELU"}  # the ResNet blocks' own SiLU, the time MLP's GELU


STUDY_VARIANTS = {
    "base": [],
    "no_attention": ["model.attention=none", "model.mid_attention=none"],
    "post_norm": ["model.norm=post"],
    "relu": ["model.activation=relu"],
    "silu": ["model.activation=silu"],
    "gelu": ["model.activation=gelu"],
    "resnet": ["model.block=resnet"],
}


@pytest.mark.parametrize("variant", STUDY_VARIANTS)
def test_study_variants_build_from_a_spec(variant: str) -> None:
    spec = load_spec(None, ["data.size=8", "model.dim=8", "model.dim_mults=[1,2]", *STUDY_VARIANTS[variant]],
                     preset="study")
    model = spec.build_model()
    x = torch.randn(2, 1, 8, 8)
    assert model(x, torch.tensor([3, 4])).shape == x.shape


def test_gelu_only_convnext_is_recognised_as_the_base_model() -> None:  # the study's base: --preset study
    base = load_spec(None, ["data.size=8"], preset="study")
    gelu = load_spec(None, ["data.size=8", "model.activation=gelu"], preset="study")
    relu = load_spec(None, ["data.size=8", "model.activation=relu"], preset="study")
    gelu_resnet = load_spec(None, ["data.size=8", "model.activation=gelu", "model.block=resnet"], preset="study")
    resnet = load_spec(None, ["data.size=8", "model.block=resnet"], preset="study")
    assert gelu.hash() == base.hash()
    assert relu.hash() != base.hash()
    assert gelu_resnet.hash() != resnet.hash()  # ResNet's own SiLU is not GELU


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(image_size=10, dim_mults=(1, 2, 4)), "not divisible by 4"),
        (dict(dim=12, groups=8), "groups=8 does not divide"),
        (dict(block="convnxt"), "did you mean 'convnext'"),
        (dict(attention="lin"), "unknown attention 'lin'"),
        (dict(activation="relux"), "did you mean 'relu'"),
        (dict(dim_mults=()), "non-empty"),
        (dict(image_size=12, dim_mults=(1, 2), patch=4), "not divisible by 8: model.patch=4"),
        (dict(patch=0), "model.patch must be at least 1"),
    ],
)
def test_impossible_specs_fail_before_any_tensor(fields: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    monkeypatch.setattr(torch.nn.Conv2d, "__init__", lambda *a, **k: made.append(a) or (_ for _ in ()).throw(AssertionError))
    with pytest.raises(UserError, match=message):
        zoo.create_model("unet", channels=1, image_size=fields.pop("image_size", 16), **fields)
    assert not made


@pytest.mark.parametrize("channels", [1, 3])
def test_patch_runs_the_network_on_folded_blocks_and_keeps_the_image_shape(channels: int) -> None:
    pixels = zoo.create_model("unet", channels=channels, image_size=16, **TINY)
    folded = zoo.create_model("unet", channels=channels, image_size=16, patch=2, **TINY)
    assert folded.init_conv.in_channels == folded.final_conv.out_channels == 4 * channels
    seen = []
    folded.downs[0].register_forward_hook(lambda _m, _i, out: seen.append(out.shape[-1]))
    x = torch.randn(2, channels, 16, 16)
    out = folded(x, torch.tensor([3, 700]))
    assert out.shape == x.shape and seen == [8]  # the first stage works at half the side
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in folded.parameters())
    # four times fewer positions at every resolution: a fraction of the pixel network's work
    assert forward_flops(folded, folded.spec) < 0.4 * forward_flops(pixels, pixels.spec)


def test_attention_is_checked_at_the_side_it_runs_at_under_a_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    """An attention declaring it cannot serve 32x32 maps fits a 32x32 image folded into 2x2 patches."""
    import zoo.plugins

    def small_only(width: int, *, size: int, heads: int, dim_head: int) -> None:
        if size > 16:
            raise UserError(f"at most 16x16 maps, got {size}x{size}")

    registry, infos = zoo.plugins.load_registry()
    registry.add("attention", "small", zoo.plugins.get_registry().get("attention", "full").factory, validate=small_only)
    monkeypatch.setattr(zoo.plugins, "_cache", (registry, infos))
    with pytest.raises(UserError, match="cannot serve 8 channels at 32x32: at most 16x16"):
        zoo.create_model("unet", channels=3, image_size=32, attention="small", **TINY)
    assert zoo.create_model("unet", channels=3, image_size=32, patch=2, attention="small", **TINY)


def test_unknown_model_field_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown setting 'model.blocks'; did you mean 'block'"):
        zoo.create_model("unet", blocks="resnet")


def test_plugin_attention_and_time_embedding_get_the_built_in_treatment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What "none" means is declared by the factory (returning None), not by a registered name."""
    import zoo.plugins

    registry, infos = zoo.plugins.load_registry()
    registry.add("attention", "nothing", lambda dim, *, heads, dim_head: None)
    registry.add("time_embedding", "absent", lambda dim: None)
    monkeypatch.setattr(zoo.plugins, "_cache", (registry, infos))

    def resolved(*overrides: str):  # noqa: ANN202
        return load_spec(None, ["data.size=8", "model.dim=8", "model.dim_mults=[1,2]", *overrides]).model

    for attention in ("none", "nothing"):  # no attention anywhere: the norm placement means nothing
        assert resolved(f"model.attention={attention}", f"model.mid_attention={attention}", "model.norm=post").norm == "pre"
    for embedding in ("none", "absent"):  # no time MLP: SiLU-only ResNet is the plain ResNet
        assert resolved(f"model.time_embedding={embedding}", "model.block=resnet", "model.activation=silu").activation == "default"
    assert resolved("model.block=resnet", "model.activation=silu").activation == "silu"  # the time MLP's GELU changes
    nets = {}
    for attention, embedding in (("none", "none"), ("nothing", "absent")):
        torch.manual_seed(0)
        nets[attention] = zoo.create_model("unet", channels=1, image_size=8, attention=attention, mid_attention=attention,
                                           time_embedding=embedding, **TINY)  # fmt: skip
    a, b = (nets[k].state_dict() for k in ("none", "nothing"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
