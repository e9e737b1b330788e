"""Size and cost of a model: parameters and FLOPs (torch.utils.flop_counter), shared by
``zoo describe``, the benchmark table and the performance suite."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from zoo.config.spec import ModelSpec


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def example_inputs(spec: ModelSpec, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(batch_size, spec.channels, spec.image_size, spec.image_size)
    t = torch.zeros(batch_size, dtype=torch.long)
    return x, t


def forward_flops(model: nn.Module, spec: ModelSpec, batch_size: int = 1) -> int:
    """FLOPs of one forward pass at ``batch_size`` (a multiply-add counts as two)."""
    x, t = example_inputs(spec, batch_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, t)
    return counter.get_total_flops()
