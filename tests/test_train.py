"""Training and sampling: files, exact resume, crash safety, divergence, Ctrl-C, DDP and the VAE."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo.runs.checkpoint
from zoo.cli import main
from zoo.config.resolve import load_spec
from zoo.curves.score import read_curve
from zoo.errors import UserError
from zoo.runs.checkpoint import find_checkpoint, load_weights
from zoo.runtime.io import read_log
from zoo.train import TrainingDiverged, train


def tiny(prepared_root: str, *extra: str) -> list[str]:
    return [
        "data.size=8", f"data.prepared={prepared_root}", "model.dim=8", "model.dim_mults=[1,2]", "model.heads=2",
        "model.dim_head=8", "model.groups=4", "diffusion.timesteps=50", "train.batch_size=8", "train.log_every=2",
        "eval.steps=5", *extra,
    ]


def weights(run_dir: Path, which: str = "model") -> dict[str, torch.Tensor]:
    return load_weights(find_checkpoint(run_dir), which)


def test_a_short_run_writes_every_file_and_samples(tmp_path: Path, prepared_root: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", *sum((["--set", s] for s in tiny(prepared_root, "train.steps=4")), []),
                 "--out", str(run), "--no-progress"]) == 0
    for name in ("spec.json", "log.jsonl", "train.json", "checkpoint/model.safetensors", "checkpoint/ema.safetensors",
                 "checkpoint/optimizer.safetensors", "checkpoint/state.json"):
        assert (run / name).is_file(), name
    assert [r["step"] for r in read_log(run / "log.jsonl")] == [2, 4]
    state = json.loads((run / "checkpoint/state.json").read_text())
    assert state["step"] == 4 and state["samples_seen"] == 32
    summary = json.loads((run / "train.json").read_text())
    assert summary["precision"] == "fp32" and summary["device"]  # 8x8 images train in fp32 on every CPU
    assert weights(run, "ema").keys() == weights(run).keys()
    assert main(["sample", str(run), "--n", "6", "--no-progress"]) == 0
    images = np.load(run / "samples.npz")["images"]
    assert images.shape == (6, 1, 8, 8) and images.dtype == np.uint8
    assert (run / "samples.png").is_file()
    # same seed, same samples; raw weights differ from EMA weights
    assert main(["sample", str(run), "--n", "6", "--out", str(tmp_path / "again.npz"), "--no-progress"]) == 0
    assert np.array_equal(np.load(tmp_path / "again.npz")["images"], images)
    said = lambda: " ".join(capsys.readouterr().err.split())  # noqa: E731 - rich wraps at the terminal's width
    assert "(dpmpp_2m, 5 steps, ema weights" in said()
    # ddpm runs all T = 50 steps, and the closing line says so rather than the spec's 5
    assert main(["sample", str(run), "--n", "2", "--sampler", "ddpm", "--out", str(tmp_path / "d.npz"), "--no-progress"]) == 0
    assert "(ddpm, 50 network calls per image (the sampler's own count; steps=5), ema" in said()
    # a second train into the same folder without --resume is refused
    assert main(["train", *sum((["--set", s] for s in tiny(prepared_root, "train.steps=4")), []),
                 "--out", str(run), "--no-progress"]) == 2


def crash_at_optimizer_step(spec, run_dir: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Train ``spec`` into ``run_dir`` and kill it inside its ``n``-th optimizer step (counted from 1)."""
    calls, original = {"n": 0}, torch.optim.Adam.step

    def crashing(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", crashing)
    with pytest.raises(RuntimeError, match="killed"):
        train(spec, run_dir, progress=False)
    monkeypatch.setattr(torch.optim.Adam, "step", original)


def test_resume_after_a_crash_gives_bit_identical_weights(tmp_path: Path, prepared_root: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # 203 training images / batch 8 = 25 steps per epoch: 30 steps cross an epoch boundary
    spec = load_spec(None, tiny(prepared_root, "train.steps=30", "train.checkpoint_every=12"))
    straight = train(spec, tmp_path / "straight", progress=False)
    assert straight.step == 30

    crash_at_optimizer_step(spec, tmp_path / "crashed", 17, monkeypatch)
    assert json.loads((tmp_path / "crashed/checkpoint/state.json").read_text())["step"] == 12
    resumed = train(spec, tmp_path / "crashed", resume=True, progress=False)
    assert resumed.step == 30
    for which in ("model", "ema"):
        a, b = weights(tmp_path / "straight", which), weights(tmp_path / "crashed", which)
        assert all(torch.equal(a[k], b[k]) for k in a), which
    assert [r["step"] for r in read_log(tmp_path / "crashed/log.jsonl")] == list(range(2, 31, 2))


def test_resume_may_extend_the_budget_but_not_change_the_model(tmp_path: Path, prepared_root: str) -> None:
    spec = load_spec(None, tiny(prepared_root, "train.steps=2"))
    train(spec, tmp_path / "r", progress=False)
    base = json.loads((tmp_path / "r/spec.json").read_text())
    assert train(load_spec(None, ["train.steps=4"], base=base), tmp_path / "r", resume=True, progress=False).step == 4
    with pytest.raises(UserError, match="differs from the run's spec.json in model.block"):
        train(load_spec(None, ["model.block=convnext"], base=base), tmp_path / "r", resume=True, progress=False)
    with pytest.raises(UserError, match="nothing to resume"):
        train(spec, tmp_path / "empty", resume=True, progress=False)


def test_adams_betas_are_the_specs(tmp_path: Path, prepared_root: str) -> None:
    for betas, run in (("[0.9, 0.999]", tmp_path / "torch"), ("[0.9, 0.99]", tmp_path / "edm2")):
        train(load_spec(None, tiny(prepared_root, "train.steps=3", f"train.adam_betas={betas}")), run, progress=False)
        state = json.loads((run / "checkpoint/state.json").read_text())
        assert state["optimizer"]["param_groups"][0]["betas"] == json.loads(betas)
    a, b = weights(tmp_path / "torch"), weights(tmp_path / "edm2")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_a_vae_run_saved_with_settings_it_never_reads_resumes(tmp_path: Path, prepared_root: str) -> None:
    """A VAE's spec.json written before its unused U-Net and diffusion settings were reset (71f1aeb) holds
    them; resuming compares both specs in today's canonical form, so it is still the same run."""
    spec = load_spec(None, tiny(prepared_root, "model.name=vae", "model.latent_dim=4", "train.steps=2"))
    train(spec, tmp_path / "v", progress=False)
    saved = json.loads((tmp_path / "v/spec.json").read_text())
    saved["model"]["block"], saved["diffusion"]["schedule"], saved["eval"]["steps"] = "convnext", "linear", 40
    (tmp_path / "v/spec.json").write_text(json.dumps(saved))
    assert train(load_spec(None, ["train.steps=4"], base=saved), tmp_path / "v", resume=True, progress=False).step == 4


def test_an_interrupted_checkpoint_write_leaves_the_previous_one_loadable(
    tmp_path: Path, prepared_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec(None, tiny(prepared_root, "train.steps=4", "train.checkpoint_every=2"))
    written = {"n": 0}
    original = zoo.runs.checkpoint.save_file

    def die_in_second_checkpoint(tensors, path):  # noqa: ANN001, ANN202
        written["n"] += 1
        if written["n"] == 5:  # model, ema, optimizer of checkpoint 1; then the 2nd checkpoint's ema file
            raise OSError("disk full")
        return original(tensors, path)

    monkeypatch.setattr(zoo.runs.checkpoint, "save_file", die_in_second_checkpoint)
    with pytest.raises(OSError, match="disk full"):
        train(spec, tmp_path / "run", progress=False)
    checkpoint = find_checkpoint(tmp_path / "run")
    assert json.loads((checkpoint / "state.json").read_text())["step"] == 2
    assert load_weights(checkpoint, "model") and load_weights(checkpoint, "ema")
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".checkpoint")]  # no temp left


def test_a_nan_batch_stops_the_run_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, prepared_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zoo.data.loader

    original = zoo.data.loader.make_loader

    def poisoned(*args, **kwargs):  # noqa: ANN001, ANN202
        for i, (images, labels) in enumerate(original(*args, **kwargs)):
            if kwargs["start_batch"] + i == 4:  # the 5th batch of the run
                images = images.clone()
                images[0, 0, 0, 0] = float("nan")
            yield images, labels

    monkeypatch.setattr(zoo.data.loader, "make_loader", poisoned)
    spec = load_spec(None, tiny(prepared_root, "train.steps=8", "train.checkpoint_every=3"))
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5.*last good checkpoint \(step 3\)"):
        train(spec, tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run/checkpoint/state.json").read_text())["step"] == 3
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "run").values())


def _cli(*args: str, **kwargs) -> subprocess.Popen:  # noqa: ANN003
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path, prepared_root: str) -> None:
    run = tmp_path / "run"
    sets = sum((["--set", s] for s in tiny(prepared_root, "train.steps=100000", "train.log_every=1")), [])
    proc = _cli(sys.executable, "-m", "zoo", "train", *sets, "--out", str(run), "--no-progress")
    deadline = time.time() + 120
    while time.time() < deadline and not ((run / "log.jsonl").is_file() and (run / "log.jsonl").read_text().count("\n") >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: saved" in err and "Traceback" not in err
    state = json.loads((run / "checkpoint/state.json").read_text())
    assert 3 <= state["step"] < 100000


@pytest.mark.slow
def test_ddp_with_two_processes_sees_the_expected_number_of_samples(tmp_path: Path, prepared_root: str) -> None:
    run = tmp_path / "run"
    curve = ["eval.curve_every=2", "eval.curve_n=8", "eval.curve_steps=2"]  # rank 0 scores while rank 1 waits
    sets = sum((["--set", s] for s in tiny(prepared_root, "train.steps=3", *curve)), [])
    proc = _cli(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "-m", "zoo", "train", *sets, "--out", str(run), "--no-progress")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    state = json.loads((run / "checkpoint/state.json").read_text())
    assert state["step"] == 3 and state["world_size"] == 2
    assert state["samples_seen"] == 3 * 8 * 2  # batch_size is per rank
    assert set(state["generator"]) == {"0", "1"}
    assert json.loads((run / "train.json").read_text())["samples_seen"] == 48
    assert [p["step"] for p in read_curve(run)] == [2, 3]  # once each, though two processes trained


def test_the_vae_trains_through_the_same_loop_and_samples(tmp_path: Path, prepared_root: str) -> None:
    run = tmp_path / "vae"
    sets = sum((["--set", s] for s in tiny(prepared_root, "model.name=vae", "model.latent_dim=4", "train.steps=6")), [])
    assert main(["train", *sets, "--out", str(run), "--no-progress"]) == 0
    losses = [r["loss"] for r in read_log(run / "log.jsonl")]
    assert losses[-1] < losses[0]
    assert main(["sample", str(run), "--n", "5", "--no-progress"]) == 0
    images = np.load(run / "samples.npz")["images"]
    assert images.shape == (5, 1, 8, 8) and len(np.unique(images)) > 10
    assert main(["sample", str(run), "--n", "5", "--option", "spacing=linspace", "--no-progress"]) == 2  # no sampler
    assert main(["sample", str(run), "--n", "5", "--compile", "on", "--no-progress"]) == 2  # no denoising network


def test_hooks_see_every_step_set_the_lr_and_can_veto_a_checkpoint(tmp_path: Path, prepared_root: str) -> None:
    from zoo.train import Hook

    class Recorder(Hook):
        def __init__(self) -> None:
            self.calls: list[tuple[str, int]] = []

        def on_start(self, run, state):  # noqa: ANN001, ANN202
            self.calls.append(("start", state.step))

        def before_step(self, run, state):  # noqa: ANN001, ANN202
            state.optimizer.param_groups[0]["lr"] = 1e-4 * (state.step + 1)  # a warm-up

        def after_step(self, run, state, loss):  # noqa: ANN001, ANN202
            self.calls.append(("step", state.step))

        def before_checkpoint(self, run, state):  # noqa: ANN001, ANN202
            self.calls.append(("checkpoint", state.step))
            if state.step == 4:
                raise RuntimeError("weights not saved")

    spec = load_spec(None, tiny(prepared_root, "train.steps=4", "train.checkpoint_every=2"))
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="weights not saved"):
        train(spec, tmp_path / "run", progress=False, hooks=[recorder])
    assert recorder.calls == [("start", 0), ("step", 1), ("step", 2), ("checkpoint", 2), ("step", 3), ("step", 4),
                              ("checkpoint", 4)]
    assert [r["lr"] for r in read_log(tmp_path / "run/log.jsonl")] == pytest.approx([2e-4, 4e-4])
    assert json.loads((tmp_path / "run/checkpoint/state.json").read_text())["step"] == 2


def test_zoo_sample_takes_the_specs_sampler_options_and_its_own(tmp_path: Path, prepared_root: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    overrides = tiny(prepared_root, "train.steps=2", 'eval.sampler_options={spacing="linspace"}')
    assert main(["train", *sum((["--set", s] for s in overrides), []), "--out", str(run), "--no-progress"]) == 0

    def draw(*extra: str) -> np.ndarray:
        out = tmp_path / f"draw{len(list(tmp_path.glob('*.npz')))}.npz"
        assert main(["sample", str(run), "--n", "4", "--out", str(out), "--no-progress", *extra]) == 0
        return np.load(out)["images"]

    from_spec = draw()
    assert np.array_equal(draw("--option", "spacing=linspace"), from_spec)
    assert not np.array_equal(draw("--option", "spacing=trailing"), from_spec)  # dpmpp_2m's own default
    draw("--sampler", "ddpm")  # takes no options: the spec's, meant for dpmpp_2m, stay behind
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "4", "--option", "nope=1", "--no-progress"]) == 2
    assert "has no option 'nope'" in capsys.readouterr().err
    assert main(["sample", str(run), "--n", "4", "--option", "spacing", "--no-progress"]) == 2
    assert "--option expects KEY=VALUE" in capsys.readouterr().err
