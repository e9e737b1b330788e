"""``train.compile``: the auto rule from the budget, what the compiled step trains, the fallback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo.train.compiled
from zoo.config.resolve import load_spec
from zoo.errors import UserError
from zoo.runs.checkpoint import find_checkpoint, load_weights
from zoo.train import train
from zoo.train.compiled import PAYS_AFTER, config_of, decide, pays_off

HERE = config_of(torch.device("cpu"), 8, bf16=False)  # the tiny runs' configuration on this machine


@pytest.fixture(scope="module")
def prepared_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("prepared"))


def tiny(prepared_root: str, *extra: str) -> list[str]:
    return ["data.size=8", f"data.prepared={prepared_root}", "model.dim=8", "model.dim_mults=[1,2]", "model.heads=2",
            "model.dim_head=8", "model.groups=4", "diffusion.timesteps=50", "train.batch_size=8", "train.log_every=2",
            "train.checkpoint_every=1000", *extra]  # fmt: skip


class Spy(nn.Module):
    """Stands in for the compiled network: the same numbers, and how often it ran."""

    made: list[Spy] = []

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, 0
        Spy.made.append(self)

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.model(*args)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[Spy]:
    Spy.made = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: Spy(model))
    return Spy.made


def run(tmp_path: Path, prepared_root: str, name: str, *extra: str) -> tuple[dict, dict[str, torch.Tensor]]:
    spec = load_spec(None, tiny(prepared_root, *extra))
    train(spec, tmp_path / name, progress=False)
    summary = json.loads((tmp_path / name / "train.json").read_text())
    return summary, load_weights(find_checkpoint(tmp_path / name), "model")


def test_the_auto_rule_needs_every_limit_of_the_budget_past_the_break_even(monkeypatch: pytest.MonkeyPatch) -> None:
    for config, (images, seconds) in PAYS_AFTER.items():
        assert pays_off(config, images, None) and not pays_off(config, images - 1, None)
        assert pays_off(config, None, seconds) and not pays_off(config, None, seconds * 0.99)
        assert not pays_off(config, images, seconds * 0.99)  # a minutes limit that stops the run first
    # a configuration nobody measured trains eagerly, whatever its length: no figure is borrowed
    assert not pays_off(("avx2", 32, "fp32"), 10**12, 10**9) and not pays_off(("cuda", 32, "fp32"), 10**12, None)
    monkeypatch.setattr(zoo.train.compiled, "PAYS_AFTER", {HERE: (100, 60.0)})
    assert decide("auto", HERE, images=100, seconds=None, own_loss=False)
    assert not decide("auto", HERE, images=99, seconds=None, own_loss=False)
    assert decide("on", ("avx2", 64, "bf16"), images=1, seconds=None, own_loss=False)
    assert not decide("off", HERE, images=10**9, seconds=None, own_loss=False)
    assert not decide("on", HERE, images=10**9, seconds=None, own_loss=True)  # the VAE's loss is its own


def test_an_unknown_choice_is_a_user_error(prepared_root: str) -> None:
    with pytest.raises(UserError, match="train.compile must be one of auto, on, off, got 'yes'"):
        load_spec(None, tiny(prepared_root, "train.compile=yes"))


def test_on_trains_through_the_compiled_network_and_saves_the_plain_models_weights(
    tmp_path: Path, prepared_root: str, spy: list[Spy]
) -> None:
    summary, compiled = run(tmp_path, prepared_root, "on", "train.steps=3", "train.compile=on")
    assert summary["compiled"] and len(spy) == 1 and spy[0].calls == 3
    summary, eager = run(tmp_path, prepared_root, "off", "train.steps=3", "train.compile=off")
    assert not summary["compiled"] and len(spy) == 1
    assert compiled.keys() == eager.keys()  # no wrapper's prefix in the checkpoint
    assert all(torch.equal(compiled[k], eager[k]) for k in eager)  # the stand-in computes the same numbers


def test_auto_compiles_from_the_budget_left(tmp_path: Path, prepared_root: str, spy: list[Spy],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoo.train.compiled, "PAYS_AFTER", {HERE: (24, 3600.0)})  # 3 steps of 8 images
    assert not run(tmp_path, prepared_root, "two", "train.steps=2")[0]["compiled"]
    assert run(tmp_path, prepared_root, "three", "train.steps=3")[0]["compiled"] and len(spy) == 1
    # a minutes budget shorter than the break-even's hour stops the run first: eager, however many steps
    assert not run(tmp_path, prepared_root, "minutes", "train.steps=3", "train.minutes=1")[0]["compiled"]
    assert not run(tmp_path, prepared_root, "vae", "model.name=vae", "train.steps=3")[0]["compiled"]


def test_a_failing_compiler_leaves_the_eager_run_it_would_have_been(
    tmp_path: Path, prepared_root: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Broken(nn.Module):
        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore lines")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Broken())
    summary, fell_back = run(tmp_path, prepared_root, "broken", "train.steps=3", "train.compile=on")
    said = capsys.readouterr().err
    assert "torch.compile failed here (RuntimeError: InvalidCxxCompiler: No working C++ compiler found)" in said
    assert "training without it" in said and not summary["compiled"]
    _, eager = run(tmp_path, prepared_root, "eager", "train.steps=3", "train.compile=off")
    assert all(torch.equal(fell_back[k], eager[k]) for k in eager)  # the random streams were put back


@pytest.mark.slow
@pytest.mark.skipif(not any(map(shutil.which, ("g++", "c++", "clang++"))), reason="inductor needs a C++ compiler")
def test_inductor_trains_what_eager_trains(tmp_path: Path, prepared_root: str) -> None:
    """The real compiler, once (under a minute, cold): the same loss curve to float rounding, one compile."""
    torch._dynamo.reset()
    summary, compiled = run(tmp_path, prepared_root, "on", "train.steps=4", "train.compile=on")
    _, eager = run(tmp_path, prepared_root, "off", "train.steps=4", "train.compile=off")
    assert summary["compiled"]
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], rtol=1e-3, atol=1e-4)
