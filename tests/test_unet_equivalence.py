"""zoo's fast layers compute the textbook layers' numbers (same weights) to float tolerance.

The attention layers work in the token layout of a channels_last map and ConvNeXt adds its depthwise
bias together with the time embedding (see zoo/nn/attention.py, zoo/nn/blocks.py). Each reference
below is the plain formulation ("The Annotated Diffusion Model"): explicit softmax attention,
linear attention with einsum over (batch, heads, features, pixels), bias inside the convolution.
Outputs and gradients are compared in both memory formats, then a whole U-Net is compared with
the same U-Net running the reference layers. Checks exact memory-format behaviour too; no timings.
"""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

import zoo
from zoo.nn.attention import FullAttention, LinearAttention
from zoo.nn.blocks import ConvNextBlock

FORMATS = [torch.contiguous_format, torch.channels_last]


def reference_full(layer: FullAttention, x: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head, materialising the attention matrix."""
    _, _, h, w = x.shape
    q, k, v = rearrange(layer.to_qkv(x), "b (qkv h d) x y -> qkv b h (x y) d", qkv=3, h=layer.heads)
    attn = (q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5).softmax(dim=-1)
    return layer.to_out(rearrange(attn @ v, "b h (x y) d -> b (h d) x y", x=h, y=w))


def reference_linear(layer: LinearAttention, x: torch.Tensor) -> torch.Tensor:
    _, _, h, w = x.shape
    q, k, v = rearrange(layer.to_qkv(x), "b (qkv h d) x y -> qkv b h d (x y)", qkv=3, h=layer.heads)
    q = q.softmax(dim=-2) * layer.scale
    k = k.softmax(dim=-1)
    context = torch.einsum("bhdn,bhen->bhde", k, v)
    out = torch.einsum("bhde,bhdn->bhen", context, q)
    return layer.to_out(rearrange(out, "b h e (x y) -> b (h e) x y", x=h, y=w))


def reference_convnext(block: ConvNextBlock, x: torch.Tensor, t_emb: torch.Tensor | None = None) -> torch.Tensor:
    h = block.ds_conv(x)
    if block.mlp is not None and t_emb is not None:
        h = h + block.mlp(t_emb)[:, :, None, None]
    return block.net(h) + block.res_conv(x)


REFERENCES = {FullAttention: reference_full, LinearAttention: reference_linear, ConvNextBlock: reference_convnext}


def _outputs_and_grads(module: torch.nn.Module, fn, *inputs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """fn(*inputs) and the gradients of a fixed random projection of it w.r.t. inputs and parameters."""
    leaves = [t.detach().requires_grad_() for t in inputs]
    out = fn(*leaves)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(7))
    wrt = [*leaves, *module.parameters()]
    return out.detach(), list(torch.autograd.grad((out * weight).sum(), wrt))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    """Equal up to float32 rounding, relative to the tensor's scale."""
    scale = expected.abs().max().clamp_min(1e-12)
    assert (actual - expected).abs().max() <= rel * scale, (actual - expected).abs().max() / scale


@pytest.mark.parametrize("memory_format", FORMATS, ids=["nchw", "channels_last"])
@pytest.mark.parametrize(
    ("cls", "dim", "size"),
    [(LinearAttention, 32, 16), (LinearAttention, 24, 5), (LinearAttention, 64, 4), (FullAttention, 64, 8)],
    ids=["linear-folded", "linear-folded-odd", "linear-per-head", "full"],
)
def test_attention_matches_the_textbook_formulation(cls, dim: int, size: int, memory_format) -> None:
    """Linear attention reassociates its products on maps with at least as many pixels as channels
    ("folded") and keeps the textbook order on small, wide maps ("per-head"): both are checked."""
    layer = cls(dim, heads=4, dim_head=32).to(memory_format=memory_format)
    x = torch.randn(3, dim, size, size).contiguous(memory_format=memory_format)
    out, grads = _outputs_and_grads(layer, layer, x)
    ref, ref_grads = _outputs_and_grads(layer, lambda x: REFERENCES[cls](layer, x), x)
    assert out.shape == x.shape
    assert out.is_contiguous(memory_format=memory_format)  # the layer keeps the caller's layout
    assert_close(out, ref)
    for g, r in zip(grads, ref_grads):
        assert_close(g, r, rel=1e-4)  # gradients through GroupNorm/softmax: a few float32 ulps more


@pytest.mark.parametrize("memory_format", FORMATS, ids=["nchw", "channels_last"])
@pytest.mark.parametrize(
    ("cls", "dim", "size"),
    [(LinearAttention, 32, 16), (LinearAttention, 64, 4), (FullAttention, 32, 16)],
    ids=["linear-folded", "linear-per-head", "full"],
)
def test_attention_without_autograd_matches_too(cls, dim: int, size: int, memory_format) -> None:
    """Sampling runs under inference_mode, where the per-head linear attention takes strided views."""
    layer = cls(dim, heads=4, dim_head=32).to(memory_format=memory_format)
    x = torch.randn(3, dim, size, size).contiguous(memory_format=memory_format)
    with torch.inference_mode():
        out, ref = layer(x), REFERENCES[cls](layer, x)
    assert out.is_contiguous(memory_format=memory_format)
    assert_close(out, ref)


@pytest.mark.parametrize("size", [16, 4], ids=["linear-folded", "linear-per-head"])
def test_linear_attention_keys_do_not_overflow(size: int) -> None:
    """The folded path exponentiates the key logits itself and normalises after the product: logits
    in the hundreds (exp overflows float32 beyond 88) must give the textbook numbers, not inf/nan."""
    layer = LinearAttention(32, heads=4, dim_head=32)
    with torch.no_grad():
        layer.to_qkv.weight.mul_(300)
    x = torch.randn(2, 32, size, size).contiguous(memory_format=torch.channels_last)
    out, grads = _outputs_and_grads(layer, layer, x)
    ref, ref_grads = _outputs_and_grads(layer, lambda x: reference_linear(layer, x), x)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)
    assert_close(out, ref)
    for g, r in zip(grads, ref_grads):
        assert_close(g, r, rel=1e-3)


def test_linear_attention_under_bf16_autocast_stays_near_fp32() -> None:
    """``train.bf16`` runs the layer under autocast, where the in-place key path meets bf16 logits:
    it must run and stay as close to fp32 as the textbook layer did (max error 1.4e-2 both)."""
    torch.manual_seed(0)
    layer = LinearAttention(32, heads=4, dim_head=32)
    x = torch.randn(4, 32, 16, 16).contiguous(memory_format=torch.channels_last)
    ref = reference_linear(layer, x).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x).float()
    assert_close(out, ref, rel=1e-2)


@pytest.mark.parametrize("with_time", [True, False])
def test_convnext_block_matches_the_bias_inside_the_convolution(with_time: bool) -> None:
    block = ConvNextBlock(16, 24, time_emb_dim=32 if with_time else None, groups=8).to(memory_format=torch.channels_last)
    inputs = [torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)]
    if with_time:
        inputs.append(torch.randn(2, 32))
    out, grads = _outputs_and_grads(block, block, *inputs)
    ref, ref_grads = _outputs_and_grads(block, lambda *args: reference_convnext(block, *args), *inputs)
    assert_close(out, ref)
    for g, r in zip(grads, ref_grads):
        assert_close(g, r, rel=1e-4)


@pytest.mark.parametrize("block", ["convnext", "resnet"])
def test_whole_unet_matches_the_unet_built_from_reference_layers(block: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = zoo.create_model("unet", channels=3, image_size=16, block=block, dim=16, dim_mults=(1, 2, 2))
    model.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([3, 700])
    out, grads = _outputs_and_grads(model, lambda x: model(x, t), x)
    for cls, ref in REFERENCES.items():
        monkeypatch.setattr(cls, "forward", lambda self, *args, ref=ref: ref(self, *args))
    ref_out, ref_grads = _outputs_and_grads(model, lambda x: model(x, t), x)
    assert_close(out, ref_out)
    for g, r in zip(grads, ref_grads):
        assert_close(g, r, rel=1e-4)


def test_inference_batches_run_in_chunks_with_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.models import unet

    model = zoo.create_model("unet", channels=1, image_size=8, dim=8, dim_mults=(1, 2), heads=2, dim_head=8, groups=4)
    x = torch.randn(7, 1, 8, 8)
    t = torch.arange(7) * 100
    calls = []
    monkeypatch.setattr(unet.Unet, "_forward", lambda self, x, t, real=unet.Unet._forward: calls.append(len(x)) or real(self, x, t))
    whole = model(x, t)  # autograd on: one pass over the whole batch
    assert calls == [7]
    monkeypatch.setattr(unet, "INFERENCE_CHUNK_IMAGES", 3)
    monkeypatch.setattr(unet, "INFERENCE_CHUNK_PIXELS", 2 * 64)
    calls.clear()
    with torch.inference_mode():
        chunked = model(x, t)
    assert calls == [3, 2, 2]  # 7 images under a budget of 3: three equal-ish chunks
    assert_close(chunked, whole.detach())


def test_inference_chunks_are_sized_by_the_feature_maps_the_network_runs_on() -> None:
    """On 2x2 patches a 32x32 image is a 16x16 feature map: chunks as large as at 16x16, not as at 32x32."""
    from zoo.models.unet import inference_chunks

    x, t = torch.zeros(256, 3, 32, 32), torch.zeros(256, dtype=torch.long)
    with torch.inference_mode():
        assert inference_chunks(x, t) == 8  # pixels: 32 images a chunk
        assert inference_chunks(x, t, patch=2) == 2  # 2x2 patches: 128 a chunk
        assert inference_chunks(torch.zeros(256, 1, 16, 16), t) == 2
    assert inference_chunks(x, t, patch=2) == 1  # training batches are never split
