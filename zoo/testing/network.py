"""Checks of the parts the U-Net is assembled from: block, attention, norm, activation, time embedding."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from zoo.contract import Activation, Attention, Block, Norm, TimeEmbedding, declared
from zoo.testing.checks import Checker

Factory = Callable[..., Any]
Declarations = Mapping[str, Any] | None  # what the factory declared at registration (zoo.contract.DECLARATIONS)


def check_block(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(dim_in, dim_out, *, time_emb_dim, act, groups) -> Block mapping (B, dim_in, H, W) to (B, dim_out, H, W),
    with and without a time embedding, with its own activation and with the spec's."""
    c = Checker("block", factory, name)
    own = declared("block", factory, "default_activation", declarations)
    c.expect(own is None or isinstance(own, str), "the declaration default_activation",
             f"must be a registered activation name, got {own!r}")  # fmt: skip
    for time_emb_dim in (16, None):
        calls = []

        def act(calls: list[int] = calls) -> nn.Module:  # bound now, not at the loop's end
            calls.append(1)
            return nn.SiLU()

        for given in (None, act):
            clause = f"Block (time_emb_dim={time_emb_dim}, act={'a callable' if given else None})"
            block = c.call(clause, factory, 8, 12, time_emb_dim=time_emb_dim, act=given, groups=4)
            c.module(block, Block, clause)
            t_emb = torch.randn(2, time_emb_dim) if time_emb_dim else None
            out = c.tensor(c.call(f"{clause}.forward(x, t_emb)", block, torch.randn(2, 8, 8, 6), t_emb), (2, 12, 8, 6), f"{clause}.forward(x, t_emb)")
            c.trains(block, out, f"{clause}.forward(x, t_emb)")
        c.expect(calls, "Block's act", "a block given act must build its activations with it (act was never called)")


def check_attention(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(dim, *, heads, dim_head) -> Attention keeping the shape, or None for "no attention"."""
    c = Checker("attention", factory, name)
    layer = c.call("Attention", factory, 16, heads=2, dim_head=8)
    if layer is None:
        return
    c.module(layer, Attention, "Attention")
    for h, w in ((8, 8), (4, 6)):
        clause = f"Attention.forward on a {h}x{w} map"
        out = c.tensor(c.call(clause, layer, torch.randn(2, 16, h, w)), (2, 16, h, w), clause)
    c.trains(layer, out, "Attention.forward")


def check_norm(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(dim, fn) -> Norm wrapping ``fn`` (it must be a sub-module, so it trains), keeping the shape."""
    c = Checker("norm", factory, name)
    fn = nn.Conv2d(16, 16, 1)
    wrapper = c.call("Norm", factory, 16, fn)
    c.module(wrapper, Norm, "Norm")
    c.expect(any(m is fn for m in wrapper.modules()), "Norm", "the wrapped fn must be a sub-module of the norm")
    out = c.tensor(c.call("Norm.forward", wrapper, torch.randn(2, 16, 8, 8)), (2, 16, 8, 8), "Norm.forward")
    c.trains(wrapper, out, "Norm.forward")
    c.expect(fn.weight.grad is not None, "Norm.forward", "the output must depend on the wrapped fn")


def check_activation(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """() -> elementwise Activation keeping the shape."""
    c = Checker("activation", factory, name)
    act = c.call("Activation", factory)
    c.module(act, Activation, "Activation")
    x = torch.randn(2, 4, 8, 8)
    out = c.tensor(c.call("Activation.forward", act, x), x.shape, "Activation.forward")
    one_by_one = act(x.reshape(-1, 1, 1, 1)).reshape(x.shape)  # every value alone in its tensor
    c.expect(torch.allclose(one_by_one, out), "Activation.forward", "it must act elementwise")


def check_time_embedding(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(dim) -> TimeEmbedding: long (B,) -> (B, out_dim), distinct for distinct t; or None for "no embedding"."""
    c = Checker("time_embedding", factory, name)
    embedding = c.call("TimeEmbedding", factory, 16)
    if embedding is None:
        return
    c.module(embedding, TimeEmbedding, "TimeEmbedding")
    out_dim = embedding.out_dim
    c.expect(isinstance(out_dim, int) and out_dim > 0, "TimeEmbedding.out_dim", f"must be a positive int, got {out_dim!r}")
    out = c.tensor(c.call("TimeEmbedding.forward(t)", embedding, torch.tensor([0, 1, 999])), (3, out_dim), "TimeEmbedding.forward(t)")
    c.expect(not torch.allclose(out[0], out[2]), "TimeEmbedding.forward(t)", "t=0 and t=999 get the same embedding")
