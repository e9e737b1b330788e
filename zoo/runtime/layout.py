"""A model on its device, in the memory layout a run trains and samples in.

``Module.to(memory_format=torch.channels_last)`` converts every 4-D *and 5-D* tensor and raises on a
5-D one ("required rank 4 tensor to use channels_last format"): one plugin part holding a Conv3d
weight (timm's LambdaLayer, in zoo-timm) would stop every run that uses it. The layout exists for
oneDNN's 2-D convolutions, so here only 4-D tensors take it and the others keep theirs.

Each 4-D tensor goes through ``Tensor.to(memory_format=...)``, as in ``Module.to``, not
``.contiguous(memory_format=...)``: a tensor with size-1 dimensions (a 1x1 convolution's weight, a
depthwise one's) already counts as channels_last, so ``.contiguous`` would keep its old strides, oneDNN
would pick other kernels for it, and training would round differently from every run made before this
helper existed (the same maths, weights and scores apart in their last digits: benchmarks/same_numbers.py
caught it).
"""

from __future__ import annotations

import torch
from torch import nn


def to_layout(model: nn.Module, device: torch.device | str, memory_format: torch.memory_format) -> nn.Module:
    """``model`` moved to ``device``, its 4-D parameters and buffers in ``memory_format`` (in place)."""
    model.to(device)
    if memory_format is not torch.contiguous_format:
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                if tensor.dim() == 4:
                    tensor.data = tensor.data.to(memory_format=memory_format)
    return model
