"""CPU detection from faked /proc/cpuinfo text and environments, and the precision it picks."""

from __future__ import annotations

import pytest

from zoo.runtime.cpu import CpuInfo, choose_bf16, cpuinfo_flags, detect

SAPPHIRE = "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile\n"
EPYC = "model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n"
COOPER = SAPPHIRE.replace(" amx_bf16 amx_tile", "")


def test_cpuinfo_flags_reads_model_and_flags():
    model, flags = cpuinfo_flags(EPYC)
    assert model == "AMD EPYC 7B12"
    assert {"avx2", "fma"} <= flags and "avx512f" not in flags


@pytest.mark.parametrize(("text", "kind"), [(SAPPHIRE, "amx"), (COOPER, "avx512_bf16"), (EPYC, "avx2"), ("", "default")])
def test_kind_from_flags(text, kind):
    info = detect(env={}, cpuinfo=text)
    assert info.kind == kind
    assert not info.emulated


def test_avx2_emulation_on_an_amx_cpu_is_named():
    info = detect(env={"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, cpuinfo=SAPPHIRE)
    assert info.kind == "avx2"
    assert info.emulated and "emulation" in info.describe()


def test_onednn_cap_alone_removes_amx():
    info = detect(env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, cpuinfo=SAPPHIRE)
    assert info.kind == "avx512_bf16"


def test_auto_bf16_only_with_amx_and_large_images():
    amx, avx2 = CpuInfo("x", "AVX512", True, True, False), CpuInfo("y", "AVX2", False, False, False)
    assert choose_bf16(None, 32, amx) == (True, None)
    assert choose_bf16(None, 16, amx) == (False, None)
    assert choose_bf16(None, 64, avx2) == (False, None)


def test_auto_bf16_on_avx512_bf16_from_32x32_as_measured():
    """AVX512-BF16 without AMX (the EPYC of benchmarks/results/precision_avx512_bf16.json): bf16 from 32x32, where
    zoo's training step ran 1.31x and sampling 1.39x faster; fp32 at 16x16 (1.00-1.09x: no measured gain)."""
    epyc = detect(env={}, cpuinfo=COOPER.replace("Intel(R) Xeon(R) Processor", "AMD EPYC"))
    assert epyc.kind == "avx512_bf16" and epyc.bf16_fast
    assert [choose_bf16(None, side, epyc)[0] for side in (8, 16, 32, 64)] == [False, False, True, True]
    assert choose_bf16(True, 16, epyc) == (True, None)  # bf16 in hardware: an explicit true is not slow, no note
    capped = detect(env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, cpuinfo=COOPER)  # oneDNN may not use AVX512-BF16
    assert capped.kind == "avx512" and choose_bf16(None, 64, capped) == (False, None)
    use, note = choose_bf16(True, 32, capped)
    assert use and "emulated" in note


def test_requested_bf16_is_kept_with_a_note_where_slow():
    avx2 = CpuInfo("AMD EPYC", "AVX2", False, False, False)
    use, note = choose_bf16(True, 16, avx2)
    assert use and "slower" in note and "AMD EPYC: avx2" in note
    assert choose_bf16(True, 16, CpuInfo("x", "AVX512", True, True, False)) == (True, None)
    assert choose_bf16(False, 64, avx2) == (False, None)


def test_real_detection_runs():
    assert detect().kind in ("amx", "avx512_bf16", "avx512", "avx2", "default")
