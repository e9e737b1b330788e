"""Autoguidance: the guided network's arithmetic, the guide a run keeps (and keeps across a crash), sampling
with it, and the settings that cannot work refused before anything trains."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.test_train import crash_at_optimizer_step, tiny, weights
from zoo.cli import main
from zoo.config.resolve import load_spec
from zoo.config.spec import RunSpec
from zoo.contract import TrainingHook
from zoo.curves.score import read_curve
from zoo.diffusion.guidance import Guided, guided_timesteps, noise_levels
from zoo.errors import UserError
from zoo.runs.load import build, load_run
from zoo.runs.sample import generate
from zoo.train import train
from zoo.train.ema import EMA


class EmaAt(TrainingHook):
    """Records the EMA weights after one step (user hooks run after zoo's own)."""

    def __init__(self, step: int) -> None:
        self.step, self.ema = step, None

    def after_step(self, run, state, loss: float) -> None:  # noqa: ANN001
        if state.step == self.step:
            self.ema = {k: v.detach().clone() for k, v in state.ema.state_dict().items()}


class RawAt(TrainingHook):
    """Records the raw weights after each step up to ``last``."""

    def __init__(self, last: int) -> None:
        self.last, self.raw = last, []

    def after_step(self, run, state, loss: float) -> None:  # noqa: ANN001
        if state.step <= self.last:
            self.raw.append({k: v.detach().clone() for k, v in state.model.state_dict().items()})


class Constant(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.value)


def test_the_guided_network_steps_from_the_guide_past_the_model() -> None:
    x, t = torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long)
    assert torch.equal(Guided(Constant(3.0), Constant(1.0), 2.0)(x, t), torch.full_like(x, 5.0))  # 1 + 2 (3 - 1)
    assert torch.equal(Guided(Constant(3.0), Constant(1.0), 1.0)(x, t), torch.full_like(x, 3.0))  # w = 1: the model


class Counting(nn.Module):
    """A network that counts the images it is called on."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network, self.images = network, 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.network(x, t)


def test_guidance_in_an_interval_leaves_other_noise_levels_to_the_model_and_never_calls_the_guide_there() -> None:
    alphas_cumprod = torch.linspace(0.99, 0.01, 10, dtype=torch.float64)
    sigma = noise_levels(alphas_cumprod)
    guided = guided_timesteps(alphas_cumprod, (float(sigma[2]), float(sigma[6])))  # (low, high]: timesteps 3 to 6
    assert guided.tolist() == [False] * 3 + [True] * 4 + [False] * 3
    assert guided_timesteps(alphas_cumprod, None) is None
    guide = Counting(Constant(1.0))
    network, x = Guided(Constant(3.0), guide, 2.0, guided), torch.zeros(2, 1, 4, 4)
    assert torch.equal(network(x, torch.full((2,), 4)), torch.full_like(x, 5.0))
    assert torch.equal(network(x, torch.full((2,), 8)), torch.full_like(x, 3.0)) and guide.images == 2
    mixed = network(x, torch.tensor([4, 8]))  # a caller of its own may mix timesteps in a batch
    assert mixed[0].eq(5).all() and mixed[1].eq(3).all()


def test_a_run_samples_guided_only_in_its_guidance_interval(tmp_path: Path, prepared_root: str) -> None:
    run = tmp_path / "run"
    train(load_spec(None, tiny(prepared_root, "train.steps=4", "train.guide_at=0.5", "eval.guidance=2")), run, progress=False)

    def draw(interval: tuple[float, float]) -> tuple[np.ndarray, int]:
        loaded = load_run(run)
        spec = dataclasses.replace(loaded.spec, eval=dataclasses.replace(loaded.spec.eval, guidance_interval=interval))
        guide = Counting(loaded.guide)
        return generate(dataclasses.replace(loaded, spec=spec, guide=guide), 4, seed=1, steps=10), guide.images

    everywhere, calls = draw((0, float("inf")))
    assert np.array_equal(everywhere, generate(load_run(run), 4, seed=1, steps=10)) and calls == 4 * 10
    nowhere, calls = draw((1e8, 1e9))  # above every noise level of the schedule
    assert np.array_equal(nowhere, generate(load_run(run), 4, seed=1, steps=10, guidance=1)) and calls == 0
    middle, calls = draw((0.5, 5))
    assert 0 < calls < 4 * 10 and not np.array_equal(middle, everywhere) and not np.array_equal(middle, nowhere)


def test_an_interval_open_at_the_top_is_saved_as_strict_json(tmp_path: Path, prepared_root: str) -> None:
    spec = load_spec(None, tiny(prepared_root, "train.guide_at=0.5", "eval.guidance=2", "eval.guidance_interval=[1, inf]"))
    spec.save(tmp_path / "spec.json")
    saved = json.loads((tmp_path / "spec.json").read_text(), parse_constant=pytest.fail)  # no Infinity token
    assert saved["eval"]["guidance_interval"] == [1.0, "inf"]
    assert RunSpec.load(tmp_path / "spec.json").eval.guidance_interval == (1.0, float("inf"))


def test_a_run_keeps_its_ema_weights_at_guide_at_and_samples_guided_by_them(
        tmp_path: Path, prepared_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    run, at_2 = tmp_path / "run", EmaAt(2)
    spec = load_spec(None, tiny(prepared_root, "train.steps=8", "train.guide_at=0.25", "eval.guidance=2"))
    train(spec, run, progress=False, hooks=[at_2])
    guide, final = weights(run, "guide"), weights(run, "ema")
    assert all(torch.equal(guide[k], at_2.ema[k]) for k in guide)  # step 2 = 0.25 of the 8-step budget
    assert not all(torch.equal(guide[k], final[k]) for k in guide)
    assert json.loads((run / "checkpoint/state.json").read_text())["guide_step"] == 2

    loaded = load_run(run)
    assert loaded.guide is not None and loaded.guide_step == 2
    plain, guided = (generate(loaded, 6, seed=1, guidance=w) for w in (1.0, 2.0))
    assert not np.array_equal(plain, guided)
    assert np.array_equal(generate(loaded, 6, seed=1), guided)  # the spec's eval.guidance is the default
    assert main(["sample", str(run), "--n", "2", "--no-progress"]) == 0
    assert "autoguidance 2 (guide: the weights at step 2)" in " ".join(capsys.readouterr().err.split())
    assert main(["sample", str(run), "--n", "2", "--guidance", "1", "--out", str(tmp_path / "p.npz"), "--no-progress"]) == 0
    assert "autoguidance" not in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "2", "--guidance-interval", "0.5,80", "--no-progress"]) == 0
    assert "(guide: the weights at step 2, sigma in (0.5, 80])" in " ".join(capsys.readouterr().err.split())
    assert main(["sample", str(run), "--n", "2", "--guidance-interval", "80,0.5", "--no-progress"]) == 2
    assert "eval.guidance_interval must be two noise levels" in " ".join(capsys.readouterr().err.split())


def test_a_guide_with_its_own_average_is_that_average_at_guide_at(tmp_path: Path, prepared_root: str) -> None:
    run, raw = tmp_path / "run", RawAt(3)
    spec = load_spec(None, tiny(prepared_root, "train.steps=8", "train.guide_at=0.375", "train.guide_ema_std=0.25",
                                "eval.guidance=2"))
    train(spec, run, progress=False, hooks=[raw])
    torch.manual_seed(spec.train.seed)
    model = build(spec)[0]
    average = EMA(model, std=0.25)  # the power-function EMA of the raw weights of steps 1-3, from the init
    for weights_at in raw.raw:
        model.load_state_dict(weights_at)
        average.update(model)
    guide = weights(run, "guide")
    assert all(torch.equal(guide[k], average.shadow[k]) for k in guide)
    assert json.loads((run / "checkpoint/state.json").read_text())["guide_step"] == 3
    assert not (run / "checkpoint/guide_ema.safetensors").exists()  # dropped once the guide is taken from it
    shorter = tmp_path / "shorter"  # the same run guided by its sampled average (ema_std 0.1) keeps another guide
    train(load_spec(None, tiny(prepared_root, "train.steps=8", "train.guide_at=0.375", "eval.guidance=2")), shorter,
          progress=False)
    assert not all(torch.equal(guide[k], weights(shorter, "guide")[k]) for k in guide)
    assert all(torch.equal(weights(run, "ema")[k], weights(shorter, "ema")[k]) for k in guide)  # the sampled one is unchanged


def test_a_resumed_run_keeps_the_same_guide(tmp_path: Path, prepared_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(None, tiny(prepared_root, "train.steps=8", "train.checkpoint_every=4", "train.guide_at=0.25",
                                "eval.guidance=2"))
    train(spec, tmp_path / "straight", progress=False)
    crash_at_optimizer_step(spec, tmp_path / "crashed", 6, monkeypatch)
    assert (tmp_path / "crashed/checkpoint/guide.safetensors").is_file()  # the step-4 checkpoint carries it
    train(spec, tmp_path / "crashed", resume=True, progress=False)
    for which in ("guide", "ema"):
        a, b = weights(tmp_path / "straight", which), weights(tmp_path / "crashed", which)
        assert all(torch.equal(a[k], b[k]) for k in a), which


def test_a_run_resumed_before_its_guide_is_kept_keeps_the_same_guide_average(
        tmp_path: Path, prepared_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_spec(None, tiny(prepared_root, "train.steps=8", "train.checkpoint_every=2", "train.guide_at=0.5",
                                "train.guide_ema_std=0.25", "eval.guidance=2"))
    train(spec, tmp_path / "straight", progress=False)
    crash_at_optimizer_step(spec, tmp_path / "crashed", 3, monkeypatch)
    checkpoint = tmp_path / "crashed/checkpoint"
    assert (checkpoint / "guide_ema.safetensors").is_file() and not (checkpoint / "guide.safetensors").exists()
    assert json.loads((checkpoint / "state.json").read_text())["guide_ema_updates"] == 2  # the step-2 checkpoint
    train(spec, tmp_path / "crashed", resume=True, progress=False)
    for which in ("guide", "ema"):
        a, b = weights(tmp_path / "straight", which), weights(tmp_path / "crashed", which)
        assert all(torch.equal(a[k], b[k]) for k in a), which


def test_learning_curve_points_say_when_they_were_guided(tmp_path: Path, prepared_root: str) -> None:
    spec = load_spec(None, tiny(prepared_root, "train.steps=6", "train.guide_at=0.5", "eval.guidance=2",
                                "eval.curve_every=2", "eval.curve_n=4", "eval.curve_steps=2"))
    train(spec, tmp_path / "run", progress=False)
    assert [(p["step"], p.get("guidance")) for p in read_curve(tmp_path / "run")] == [(2, None), (4, 2.0), (6, 2.0)]


def test_settings_that_cannot_guide_are_refused_before_training(tmp_path: Path, prepared_root: str) -> None:
    with pytest.raises(UserError, match="eval.guidance=2 needs a guide: set train.guide_at"):
        load_spec(None, tiny(prepared_root, "eval.guidance=2"))
    with pytest.raises(UserError, match="train.guide_at must be a fraction of the budget between 0 and 1"):
        load_spec(None, tiny(prepared_root, "train.guide_at=1.5"))
    with pytest.raises(UserError, match="train.guide_ema_std must be in .0, 0.288."):
        load_spec(None, tiny(prepared_root, "train.guide_at=0.1", "train.guide_ema_std=0.3"))
    with pytest.raises(UserError, match="eval.guidance must be 1 .off. or more"):
        load_spec(None, tiny(prepared_root, "eval.guidance=0.5"))
    for interval in ("[5, 0.3]", "[0.3]", "[inf, inf]", "[-1, 2]", "[nan, 2]"):
        with pytest.raises(UserError, match="eval.guidance_interval must be two noise levels sigma .low, high."):
            load_spec(None, tiny(prepared_root, f"eval.guidance_interval={interval}"))
    # the VAE samples itself: guidance and guide are put back to none, so it is one cell whatever they say
    vae = load_spec(None, tiny(prepared_root, "model.name=vae", "train.guide_at=0.1", "eval.guidance=2",
                               "eval.guidance_interval=[0.3, 5]", "train.guide_ema_std=0.25"))
    assert (vae.train.guide_at, vae.train.guide_ema_std, vae.eval.guidance, vae.eval.guidance_interval) == (None, None, 1.0, None)
    assert vae.hash() == load_spec(None, tiny(prepared_root, "model.name=vae")).hash()


def test_a_run_without_a_guide_says_how_to_sample_it(tmp_path: Path, prepared_root: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    train(load_spec(None, tiny(prepared_root, "train.steps=2")), run, progress=False)
    assert not (run / "checkpoint/guide.safetensors").exists()
    with pytest.raises(UserError, match="this run has no autoguidance guide .it was trained without train.guide_at."):
        load_run(run).network(2.0)
    assert main(["sample", str(run), "--n", "2", "--guidance", "2", "--no-progress"]) == 2
    assert "sample it with guidance 1 (--guidance 1)" in " ".join(capsys.readouterr().err.split())
