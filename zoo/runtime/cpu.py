"""What this CPU offers, detected at run time, and the precision that is fast on it.

The same code meets very different CPUs: on a Sapphire Rapids Xeon (AMX) a bf16 3x3 convolution runs
at 1,600-2,100 GFLOP/s, 5-6x fp32; on an AVX2-only AMD EPYC it runs at 10 GFLOP/s against 76 in fp32
(issue 13), so bf16 there is several times *slower*. This module names the CPU's kind from what
torch will actually use (``torch.backends.cpu.get_cpu_capability()``, which honours
``ATEN_CPU_CAPABILITY``; ``ONEDNN_MAX_CPU_ISA``, which caps oneDNN's kernels; torch's own AMX and
AVX512-BF16 probes), falling back to the flags in ``/proc/cpuinfo``; and says which precision to
use for a training or sampling run.

Kinds, fastest bf16 first:

========== ============================================ =========================================
kind       needs                                        bf16
========== ============================================ =========================================
amx        AMX tiles + AMX-BF16, oneDNN allowed to use  fast: autocast where it pays (>= 32x32)
avx512_bf16 AVX512-BF16 without AMX                     in hardware: autocast where it pays (>= 32x32)
avx512     AVX-512 without BF16                         emulated: slower than fp32
avx2       AVX2 only                                    emulated: several times slower than fp32
default    anything else                                emulated: slower
========== ============================================ =========================================
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

KINDS = ("amx", "avx512_bf16", "avx512", "avx2", "default")
# oneDNN's ISA names, lowest to highest, as ONEDNN_MAX_CPU_ISA takes them (upper case, any prefix order)
_ONEDNN_ORDER = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
                 "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX")  # fmt: skip
# The feature-map side from which bf16 autocast is measured faster than fp32, per kind (docs/performance.md, "CPU
# kinds"); the kinds not listed emulate bf16, slower at every size. (A 32x32 image on 2x2 patches, 16x16 maps,
# trains at the same speed in both on the AVX512-BF16 EPYC: benchmarks/results/recipe_colour.json.) AMX: training 1.2-1.4x and sampling 1.8x
# faster at 32x32, 1.04-1.06x at 16. AVX512-BF16 (an AMD EPYC, benchmarks/results/precision_avx512_bf16.json):
# training 1.31x at 32x32 and 1.47x at 64x64, sampling 1.39-1.55x and 1.60-1.72x; 1.00-1.09x at 16x16.
BF16_FROM_SIZE = {"amx": 32, "avx512_bf16": 32}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as torch will use it."""

    model: str  # lscpu's "Model name" (from /proc/cpuinfo)
    capability: str  # torch's vector ISA: "AVX512", "AVX2", "DEFAULT", ...
    amx: bool  # AMX-BF16 tiles usable (hardware and oneDNN's cap)
    avx512_bf16: bool  # AVX512-BF16 instructions usable
    emulated: bool  # ATEN_CPU_CAPABILITY or ONEDNN_MAX_CPU_ISA caps the ISA below the hardware's

    @property
    def kind(self) -> str:
        if self.amx:
            return "amx"
        if self.avx512_bf16:
            return "avx512_bf16"
        return {"AVX512": "avx512", "AVX2": "avx2"}.get(self.capability, "default")

    @property
    def bf16_fast(self) -> bool:
        """bf16 matmuls and convolutions in hardware (AMX, AVX512-BF16), faster than fp32 on large enough images."""
        return self.kind in BF16_FROM_SIZE

    def describe(self) -> str:
        note = " (capped by ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA: an emulation)" if self.emulated else ""
        return f"{self.model}: {self.kind}{note}"


def cpuinfo_flags(text: str | None = None) -> tuple[str, set[str]]:
    """(model name, flags) of the first processor in /proc/cpuinfo (empty when unreadable)."""
    if text is None:
        path = Path("/proc/cpuinfo")
        text = path.read_text() if path.is_file() else ""
    model, flags = "unknown CPU", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def _onednn_allows(isa: str, env: dict[str, str]) -> bool:
    cap = env.get("ONEDNN_MAX_CPU_ISA", env.get("DNNL_MAX_CPU_ISA", "")).upper()
    if not cap or cap == "ALL" or cap not in _ONEDNN_ORDER:
        return True
    return _ONEDNN_ORDER.index(cap) >= _ONEDNN_ORDER.index(isa)


def detect(env: dict[str, str] | None = None, cpuinfo: str | None = None) -> CpuInfo:
    """The CPU as torch will use it; ``env`` and ``cpuinfo`` stand in for the real ones in tests."""
    import torch

    env = dict(os.environ) if env is None else env
    model, flags = cpuinfo_flags(cpuinfo)
    capability = torch.backends.cpu.get_cpu_capability() if cpuinfo is None else _capability_from(flags, env)
    probe = cpuinfo is None and hasattr(torch.cpu, "_is_amx_tile_supported")
    amx_hw = torch.cpu._is_amx_tile_supported() if probe else {"amx_tile", "amx_bf16"} <= flags
    bf16_hw = torch.cpu._is_avx512_bf16_supported() if probe else "avx512_bf16" in flags
    avx512 = capability == "AVX512"
    amx = amx_hw and avx512 and _onednn_allows("AVX512_CORE_AMX", env)
    avx512_bf16 = bf16_hw and avx512 and _onednn_allows("AVX512_CORE_BF16", env)
    emulated = (amx_hw and not amx) or (bf16_hw and not avx512_bf16) or ("avx512f" in flags and not avx512)
    return CpuInfo(model, capability, amx, avx512_bf16, emulated)


def _capability_from(flags: set[str], env: dict[str, str]) -> str:
    """torch's capability from cpuinfo flags, capped by ATEN_CPU_CAPABILITY as torch caps it."""
    hardware = "AVX512" if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags else "AVX2" if "avx2" in flags else "DEFAULT"
    order = ("DEFAULT", "AVX2", "AVX512")
    cap = env.get("ATEN_CPU_CAPABILITY", "").upper()
    return order[min(order.index(hardware), order.index(cap))] if cap in order else hardware


@functools.cache
def current() -> CpuInfo:
    """This process's CPU (detected once)."""
    return detect()


def choose_bf16(requested: bool | None, feature_side: int, info: CpuInfo | None = None) -> tuple[bool, str | None]:
    """(use bf16 autocast?, a note for the log or None) for a CPU run.

    ``requested`` None ("auto") turns bf16 on only where it is measured faster: a kind of :data:`BF16_FROM_SIZE`
    (AMX, AVX512-BF16) and a network whose largest feature maps, ``feature_side`` (the image side over
    ``model.patch``), reach its side (32x32). An explicit ``true`` is honoured, with a note when this CPU
    makes it slow.
    """
    info = info or current()
    if requested is None:
        start = BF16_FROM_SIZE.get(info.kind)
        return start is not None and feature_side >= start, None
    if requested and not info.bf16_fast:
        return True, (f"train.bf16 = true on {info.describe()}: without AMX or AVX512-BF16, bf16 convolutions are emulated and "
                      "run several times slower than fp32 (10 vs 76 GFLOP/s on an AVX2 EPYC); "
                      "drop it (or set train.bf16 = none to let zoo choose)")  # fmt: skip
    return bool(requested), None
