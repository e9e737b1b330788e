"""``zoo sample --compile``: which batches the compiled network draws, the auto rule, the fallback."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

import zoo.runtime.compiled
from zoo.config.resolve import load_spec
from zoo.errors import UserError
from zoo.runs.load import LoadedRun, build
from zoo.runs.sample import generate
from zoo.runtime.compiled import PAYS_AFTER, SamplingNetworks, kind_of, pays_off

TINY = ["data.size=8", "model.dim=8", "model.dim_mults=[1,2]", "model.heads=2", "model.dim_head=8", "model.groups=4",
        "diffusion.timesteps=50"]


def tiny_run() -> LoadedRun:
    spec = load_spec(None, TINY)
    model, diffusion = build(spec)
    return LoadedRun(spec, model.eval(), diffusion, 0, "raw")


class Spy(nn.Module):
    """Stands in for the compiled network: the same numbers, and the batch sizes it was called with."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return self.model(x, t)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, Spy]:
    made: dict[str, Spy] = {}

    def fake_compile(model: nn.Module, shape, device, note=print) -> Spy:  # noqa: ANN001
        made["spy"] = Spy(model)
        made["shape"] = tuple(shape)
        return made["spy"]

    monkeypatch.setattr(zoo.runtime.compiled, "compile_for_sampling", fake_compile)
    return made


def batches_of(spy: dict, steps: int) -> int:
    """How many batches the stand-in drew, at ``steps`` calls per batch."""
    calls = spy["spy"].calls if "spy" in spy else []
    assert len(calls) % steps == 0 and len(set(calls)) <= 1, calls  # whole batches, all full
    return len(calls) // steps


def pays_after(monkeypatch: pytest.MonkeyPatch, evaluations: int) -> None:
    """Let ``auto`` compile the tiny test network (8x8, fp32, this CPU) from ``evaluations`` on."""
    monkeypatch.setattr(zoo.runtime.compiled, "PAYS_AFTER", {(kind_of(torch.device("cpu")), 8, "fp32"): evaluations})


def test_the_auto_rule_is_a_threshold_per_measured_configuration() -> None:
    for (kind, side, precision), threshold in PAYS_AFTER.items():
        assert not pays_off(threshold - 1, kind, side, precision) and pays_off(threshold, kind, side, precision)
    # a side or precision never measured: auto never compiles, the break-even moves 10x between those measured
    assert not pays_off(10**12, "amx", 64, "bf16") and not pays_off(10**12, "amx", 16, "bf16")
    # a CPU kind never measured borrows the most cautious CPU figure at its side and precision; a GPU nothing
    cautious = max(PAYS_AFTER["amx", 16, "fp32"], PAYS_AFTER["avx2", 16, "fp32"])
    assert not pays_off(cautious - 1, "avx512", 16, "fp32") and pays_off(cautious, "avx512", 16, "fp32")
    assert not pays_off(10**12, "cuda", 16, "fp32")


def test_auto_says_when_a_large_job_in_an_unmeasured_configuration_stays_eager(
    spy: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoo.runtime.compiled, "PAYS_AFTER", {})
    monkeypatch.setattr(zoo.runtime.compiled, "WORTH_A_NOTE", 24)
    notes: list[str] = []
    generate(tiny_run(), 12, sampler="ddim", steps=3, batch_size=4, compile="auto", note=notes.append)
    assert "spy" not in spy and len(notes) == 1 and "8x8 fp32" in notes[0] and "--compile on" in notes[0]


@pytest.mark.parametrize("compile", ["auto", "on", "off"])
def test_every_choice_draws_the_same_images_when_compiling_changes_no_number(compile: str, spy: dict,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pays_after(monkeypatch, 1)  # auto: everything pays
    run = tiny_run()
    kw = dict(sampler="ddim", steps=3, batch_size=4, seed=5)
    images = generate(run, 14, compile=compile, **kw)  # batches of 4, 4, 4 and 2
    assert np.array_equal(images, generate(run, 14, compile="off", **kw))
    assert batches_of(spy, 3) == {"on": 3, "auto": 2, "off": 0}[compile]  # never the last, smaller batch
    if compile != "off":
        assert spy["shape"] == (4, 1, 8, 8)


def test_auto_counts_the_samplers_calls_before_it_decides(spy: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tiny_run()
    # ddim with 3 steps calls the network 3 times per image: 2 more full batches of 4 are 24 evaluations
    pays_after(monkeypatch, 25)
    generate(run, 12, sampler="ddim", steps=3, batch_size=4, compile="auto")
    assert "spy" not in spy
    pays_after(monkeypatch, 24)
    notes: list[str] = []
    generate(run, 12, sampler="ddim", steps=3, batch_size=4, compile="auto", note=notes.append)
    assert "spy" in spy and "24 network evaluations" in notes[0]
    spy.clear()
    generate(run, 4, sampler="ddim", steps=3, batch_size=4, compile="on")  # one batch: compiled from the start
    assert batches_of(spy, 3) == 1


def test_a_failing_compiler_leaves_an_eager_run_and_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(nn.Module):
        def forward(self, *args):  # noqa: ANN002, ANN202
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore lines")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Broken())
    run = tiny_run()
    notes: list[str] = []
    images = generate(run, 6, sampler="ddim", steps=2, batch_size=3, compile="on", note=notes.append)
    assert np.array_equal(images, generate(run, 6, sampler="ddim", steps=2, batch_size=3))
    assert "torch.compile failed here (RuntimeError: InvalidCxxCompiler: No working C++ compiler found)" in notes[-1]
    assert "sampling without it" in notes[-1]


@pytest.mark.parametrize("compile", ["off", "on"])
def test_the_calls_per_image_are_what_the_sampler_made_not_the_steps_asked(compile: str, spy: dict) -> None:
    run = tiny_run()  # T = 50
    kw = dict(batch_size=4, compile=compile, return_calls=True)
    assert generate(run, 6, sampler="ddim", steps=3, **kw)[1] == 3
    assert generate(run, 4, sampler="ddpm", steps=3, **kw)[1] == 50  # ancestral: all T, whatever steps says
    images, calls = generate(run, 2, sampler="ddim", steps=3, batch_size=4, return_calls=True)  # one smaller batch
    assert calls == 3 and images.shape == (2, 1, 8, 8)


def test_unknown_choices_are_user_errors() -> None:
    with pytest.raises(UserError, match="compile must be one of auto, on, off"):
        SamplingNetworks(nn.Linear(1, 1), "yes", n=4, shape=(2, 1), device=torch.device("cpu"))


@pytest.mark.slow
@pytest.mark.skipif(not any(map(shutil.which, ("g++", "c++", "clang++"))), reason="inductor needs a C++ compiler")
def test_inductor_compiles_the_unet_and_draws_what_eager_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real compiler, once (up to a minute and a half, cold): the same images to a level, the last batch
    eager, and no second compile when sampling starts (the warm-up call must pass dynamo's guards)."""
    torch._dynamo.reset()
    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    run = tiny_run()
    notes: list[str] = []
    kw = dict(sampler="dpmpp_2m", steps=4, batch_size=5, seed=2)
    compiled, calls = generate(run, 7, compile="on", note=notes.append, return_calls=True, **kw)
    compiled = compiled.astype(int)
    eager = generate(run, 7, compile="off", **kw).astype(int)
    assert calls == 4  # counted by a hook on the compiled module, which must not recompile it
    assert len(notes) == 1 and notes[0].startswith("compiling the network for 5 images"), notes
    assert np.abs(compiled - eager).max() <= 1
    assert np.array_equal(compiled[5:], eager[5:])
