"""zoo.runtime.layout: the channels_last layout reaches every 2-D convolution and never breaks a model
holding a 5-D tensor (a plugin's Conv3d), which ``Module.to(memory_format=...)`` refuses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.runtime.layout import to_layout


class WithConv3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.local = nn.Conv3d(1, 2, (3, 3, 1), padding=(1, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return h + self.local(h.unsqueeze(1)).mean(1)


def test_torch_itself_refuses_channels_last_with_a_5d_weight() -> None:  # why the helper exists
    with pytest.raises(RuntimeError, match="rank 4"):
        WithConv3d().to(memory_format=torch.channels_last)


def test_only_4d_tensors_take_channels_last_and_the_model_still_runs_and_trains() -> None:
    model = WithConv3d()
    x = torch.randn(2, 3, 6, 6)
    expected = model(x)
    assert to_layout(model, "cpu", torch.channels_last) is model
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.local.weight.is_contiguous() and model.local.weight.dim() == 5
    out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected)
    out.square().mean().backward()
    assert model.local.weight.grad is not None and isinstance(model.conv.weight, nn.Parameter)


def test_contiguous_format_leaves_every_tensor_as_it_is() -> None:
    model = WithConv3d()
    before = model.conv.weight.stride()
    to_layout(model, "cpu", torch.contiguous_format)
    assert model.conv.weight.stride() == before


def test_4d_tensors_get_the_strides_module_to_gives_them() -> None:
    """A 1x1 conv's weight counts as channels_last in either layout; its strides must still be
    Module.to's, or oneDNN picks other kernels and runs round differently than they used to."""
    model = nn.Sequential(nn.Conv2d(8, 4, 1), nn.Conv2d(4, 4, 3, groups=4))
    reference = nn.Sequential(nn.Conv2d(8, 4, 1), nn.Conv2d(4, 4, 3, groups=4)).to(memory_format=torch.channels_last)
    to_layout(model, "cpu", torch.channels_last)
    assert [p.stride() for p in model.parameters()] == [p.stride() for p in reference.parameters()]
