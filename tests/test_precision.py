"""The network's precision: a run samples (and is scored) in the precision it trained in (zoo.runtime.precision)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import zoo.runtime.compiled
import zoo.runtime.cpu
import zoo.runtime.precision
from zoo.cli import main
from zoo.config.resolve import load_spec
from zoo.diffusion.samplers import dpmpp_2m
from zoo.runs.load import LoadedRun, build
from zoo.runs.sample import generate
from zoo.runtime.precision import use_bf16

TINY = ["data.size=8", "model.dim=8", "model.dim_mults=[1,2]", "model.heads=2", "model.dim_head=8", "model.groups=4",
        "diffusion.timesteps=50"]
CPU = torch.device("cpu")


class AutocastSpy(nn.Module):
    """The model, recording whether each call ran under CPU autocast and in which dtype."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seen: list[torch.dtype | None] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        on = torch.is_autocast_enabled("cpu")
        self.seen.append(torch.get_autocast_dtype("cpu") if on else None)
        return self.model(x, t)


def spied_run(*overrides: str) -> LoadedRun:
    spec = load_spec(None, [*TINY, *overrides])
    torch.manual_seed(0)
    model, diffusion = build(spec)
    return LoadedRun(spec, AutocastSpy(model.eval()), diffusion, 0, "raw")


@pytest.fixture
def bf16_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this CPU has bf16 kernels (what is tested is zoo's choice, not the CPU's)."""
    monkeypatch.setattr(zoo.runtime.precision, "bf16_supported", lambda device: True)


def test_auto_leaves_small_images_in_float32_on_every_cpu(bf16_here: None) -> None:
    assert use_bf16(load_spec(None, ["data.size=16"]), CPU)[0] is False  # zoo.runtime.cpu: bf16 pays from 32x32 only
    assert use_bf16(load_spec(None, ["data.size=64", "train.bf16=false"]), CPU) == (False, None)


@pytest.mark.parametrize(("kind", "info", "bf16_at_32"), [
    ("amx", zoo.runtime.cpu.CpuInfo("Xeon", "AVX512", True, True, False), True),
    ("avx512_bf16", zoo.runtime.cpu.CpuInfo("AMD EPYC", "AVX512", False, True, False), True),
    ("avx512", zoo.runtime.cpu.CpuInfo("x", "AVX512", False, False, False), False),
    ("avx2", zoo.runtime.cpu.CpuInfo("y", "AVX2", False, False, False), False),
])  # fmt: skip
def test_auto_runs_32x32_feature_maps_in_bf16_where_the_kind_runs_them_faster(
    bf16_here: None, monkeypatch: pytest.MonkeyPatch, kind: str, info: zoo.runtime.cpu.CpuInfo, bf16_at_32: bool
) -> None:
    monkeypatch.setattr(zoo.runtime.cpu, "current", lambda: info)
    assert info.kind == kind
    assert use_bf16(load_spec(None, ["data.size=32", "data.channels=3", "model.patch=1"]), CPU) == (bf16_at_32, None)
    assert use_bf16(load_spec(None, ["data.size=64", "data.channels=3", "model.patch=2"]), CPU) == (bf16_at_32, None)
    assert use_bf16(load_spec(None, ["data.size=16"]), CPU) == (False, None)
    # the recipe's 32x32 network works on 2x2 patches: 16x16 maps, where bf16 was measured no faster
    assert use_bf16(load_spec(None, ["data.size=32", "data.channels=3"]), CPU) == (False, None)


def test_a_run_trained_in_bf16_samples_in_bf16_and_its_sampler_math_stays_float32(bf16_here: None) -> None:
    run = spied_run("train.bf16=true")
    kw = dict(sampler="dpmpp_2m", steps=3, batch_size=4, seed=1)
    images = generate(run, 6, **kw)
    assert run.model.seen == [torch.bfloat16] * 6  # 2 batches x 3 steps, every call under bf16 autocast
    fp32 = spied_run("train.bf16=false")
    reference = generate(fp32, 6, **kw)
    assert fp32.model.seen == [None] * 6
    assert images.dtype == np.uint8 and images.shape == reference.shape
    # the same weights and noise: bf16 moves pixels by rounding, not the picture
    assert np.abs(images.astype(int) - reference.astype(int)).mean() < 4
    with zoo.runtime.precision.autocast(True, CPU):  # the network's bf16 output is cast back before the update rule
        x = dpmpp_2m(run.model, run.diffusion, (2, 1, 8, 8), steps=2, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32


def test_the_vae_samples_in_its_training_precision_too(bf16_here: None) -> None:
    spec = load_spec(None, [*TINY, "model.name=vae", "model.latent_dim=4", "train.bf16=true"])
    model, _ = build(spec)
    seen: list[bool] = []
    original = model.sample

    def spy(n: int, *, generator: torch.Generator) -> torch.Tensor:
        seen.append(torch.is_autocast_enabled("cpu"))
        return original(n, generator=generator)

    model.sample = spy
    generate(LoadedRun(spec, model.eval(), None, 0, "raw"), 3, batch_size=2)
    assert seen == [True, True]


def test_a_bf16_run_says_so_in_train_json_and_in_zoo_samples_closing_line(
    bf16_here: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = [*TINY, f"data.prepared={tmp_path / 'prepared'}", "train.bf16=true", "train.steps=2", "train.batch_size=8"]
    assert main(["train", *sum((["--set", s] for s in sets), []), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "run" / "train.json").read_text())
    assert summary["precision"] == "bf16" and summary["device"]
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--n", "2", "--steps", "2", "--no-progress"]) == 0
    assert ", bf16, ema weights" in " ".join(capsys.readouterr().err.split())


def test_compile_auto_judges_a_bf16_job_by_bf16_figures(bf16_here: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoo.runtime.compiled, "PAYS_AFTER", {})
    monkeypatch.setattr(zoo.runtime.compiled, "WORTH_A_NOTE", 1)
    notes: list[str] = []
    generate(spied_run("train.bf16=true"), 8, sampler="ddim", steps=2, batch_size=4, compile="auto", note=notes.append)
    assert len(notes) == 1 and "8x8 bf16" in notes[0]
