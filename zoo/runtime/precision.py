"""The precision a network runs in: bf16 autocast where the spec asks for it and the device has it.

Training and sampling decide alike (``train.bf16``; None lets :func:`zoo.runtime.cpu.choose_bf16` choose: AMX or
AVX512-BF16 and feature maps of 32x32 or more, where bf16 convolutions run faster), so a run samples, is scored and draws
its learning curve in the precision it was trained in (on another CPU, in the one the same rule gives
there). On the AMX Xeon, the default recipe's network evaluates 1.8x faster in bf16 at 32x32 and 2.3x
at 64x64 (docs/performance.md). Only the network runs under autocast:
``GaussianDiffusion.model_predictions`` casts its output to float32, so the samplers' own arithmetic
and the training loss stay float32.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch

from zoo.runtime.cpu import choose_bf16, current

if TYPE_CHECKING:
    from zoo.config.spec import RunSpec


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def use_bf16(spec: RunSpec, device: torch.device) -> tuple[bool, str | None]:
    """(run ``spec``'s network under bf16 autocast on ``device``?, a note when an explicit ``train.bf16 = true``
    is slow on this CPU). The one rule for training, sampling and what ``train.json`` records."""
    requested, note = spec.train.bf16, None
    if device.type == "cpu":
        requested, note = choose_bf16(requested, spec.model.image_size // spec.model.patch)
    return bool(requested) and bf16_supported(device), note


def autocast(bf16: bool, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``bf16``, else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def describe_device(device: torch.device) -> str:
    """The device as a results file names it: the CPU's model and zoo kind, or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return current().describe()
    return str(device)
