"""Faults a careful user meets: hostile or broken files, two runs at once, a full disk, a kill at any moment.

Each test says what zoo promises (docs/reliability.md): code never runs from a weights file, a broken
file or a full disk is one line naming the file and what to do, and nothing half-written is left.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

import zoo.bench.store
import zoo.data.prepare
import zoo.runs.checkpoint
from zoo.bench.grid import load_grid
from zoo.bench.runner import LOCK_NAME
from zoo.bench.store import Store
from zoo.cli import main
from zoo.config.resolve import load_spec
from zoo.config.spec import DataSpec
from zoo.data.prepare import PreparedData
from zoo.errors import DiskFullError, UserError
from zoo.metrics.inception import INCEPTION_ENV
from zoo.registry import Component
from zoo.runs.checkpoint import find_checkpoint, remove_stale_temporaries, save_checkpoint
from zoo.runtime.io import append_to_json_list, file_lock, hold
from zoo.train import Hook, TrainingDiverged, train


def tiny(prepared: Path | str, *extra: str) -> list[str]:
    return ["data.size=8", f"data.prepared={prepared}", "model.dim=8", "model.dim_mults=[1,2]", "model.heads=2",
            "model.dim_head=8", "model.groups=4", "diffusion.timesteps=50", "train.batch_size=8", "train.log_every=2",
            "eval.steps=2", *extra]  # fmt: skip


def sets(prepared: Path | str, *extra: str) -> list[str]:
    return sum((["--set", s] for s in tiny(prepared, *extra)), [])


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err, err
    message = err[err.index("error:"):]
    assert len(message.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in message, err
    return message


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prepared")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, prepared: Path) -> Path:
    """A tiny run of 2 steps (copied by the tests that damage it)."""
    run = tmp_path_factory.mktemp("runs") / "run"
    train(load_spec(None, tiny(prepared, "train.steps=2")), run, progress=False)
    return run


def copy_run(run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp_path / "run"))


# -- 1. no code runs from a weights file --------------------------------------------------------
class Payload:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


def test_a_hostile_inception_pickle_is_refused_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": Payload(marker)}, evil)
    monkeypatch.setenv(INCEPTION_ENV, str(evil))
    assert main(["features", "inception", "--info"]) == 2
    assert not marker.exists()
    one_line_error(capsys, str(evil), "Python objects besides tensors")
    np.savez(tmp_path / "s.npz", images=np.zeros((2, 1, 8, 8), np.uint8))
    assert main(["evaluate", str(tmp_path / "s.npz"), "--feature", "inception", "--prepared", str(tmp_path / "p")]) == 2
    assert not marker.exists()
    one_line_error(capsys, "Python objects besides tensors")


@pytest.fixture(scope="module")
def inception_state() -> dict[str, torch.Tensor]:
    """The architecture's tensor names and shapes (random values: the real file is not here)."""
    from unittest import mock

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with mock.patch("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"):  # fmt: skip
        return FeatureExtractorInceptionV3("fresh", ["2048"]).state_dict()


def test_inception_weights_are_checked_name_by_name_and_may_be_safetensors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry, inception_state: dict[str, torch.Tensor]
) -> None:
    wrong = dict(inception_state)
    del wrong["fc.bias"]
    wrong["extra.weight"] = torch.zeros(1)
    wrong["fc.weight"] = torch.zeros(3, 3)
    torch.save(wrong, tmp_path / "wrong.pth")
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "wrong.pth"))
    with pytest.raises(UserError) as err:
        registry.create("feature", "inception")
    message = str(err.value)
    assert "1 missing (fc.bias)" in message and "1 unexpected (extra.weight)" in message
    assert "fc.weight (3, 3) (wants (1008, 2048))" in message
    save_file({k: v.contiguous() for k, v in inception_state.items()}, tmp_path / "good.safetensors")
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "good.safetensors"))
    extractor = registry.create("feature", "inception")
    assert torch.equal(extractor.net.fc.weight, inception_state["fc.weight"])


# -- 2. one grid per results folder -------------------------------------------------------------
def test_a_second_benchmark_on_a_busy_results_folder_stops_in_one_line(
    tmp_path: Path, prepared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(f'name = "g"\n[budget]\nsteps = 1\n[base.data]\nsize = 8\nprepared = "{prepared}"\n')
    results = tmp_path / "results"
    with file_lock(results / LOCK_NAME):  # as a first `zoo benchmark` holds it for its grid's life
        assert main(["benchmark", "--grid", str(grid), "--results", str(results), "--no-progress"]) == 2
    one_line_error(capsys, "another `zoo benchmark` is running", str(results))
    assert not (results / "runs").exists()  # nothing trained twice


def test_a_second_train_on_a_busy_run_folder_stops_in_one_line(
    tmp_path: Path, prepared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    with file_lock(run / ".train.lock"):  # as a first `zoo train --out run` holds it while it trains
        assert main(["train", *sets(prepared, "train.steps=1"), "--out", str(run), "--no-progress"]) == 2
    one_line_error(capsys, "another process is training the run", str(run))
    assert not (run / "spec.json").exists() and find_checkpoint(run) is None


def test_a_lock_dies_with_its_process_and_leaves_no_file(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    code = f"from pathlib import Path; from zoo.runtime.io import file_lock\nwith file_lock(Path({str(lock)!r})):\n" \
           "    print('held', flush=True); import time; time.sleep(60)"  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(BlockingIOError), file_lock(lock, wait=False):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock.exists()  # a killed holder leaves the file, but not the lock
    with file_lock(lock, wait=False):
        pass
    assert not lock.exists()


# -- 3. non-finite weights never become images -------------------------------------------------
def test_zoo_sample_refuses_weights_that_give_nan(
    tmp_path: Path, trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(trained, tmp_path)
    model = zoo.runs.checkpoint.load_weights(run / "checkpoint", "model")
    save_file({k: torch.full_like(v, float("nan")) for k, v in model.items()}, run / "checkpoint/model.safetensors")
    assert main(["sample", str(run), "--weights", "raw", "--n", "4", "--no-progress"]) == 2
    one_line_error(capsys, "NaN or infinite", "--weights ema")
    assert not (run / "samples.npz").exists() and not (run / "samples.png").exists()


def test_weights_that_went_non_finite_are_never_checkpointed(tmp_path: Path, prepared: Path) -> None:
    class Overflow(Hook):  # an update that overflowed after a finite loss (as a too-high lr does)
        def after_step(self, run, state, loss: float) -> None:  # noqa: ANN001
            if state.step == 4:
                with torch.no_grad():
                    next(state.model.parameters()).fill_(float("inf"))

    spec = load_spec(None, tiny(prepared, "train.steps=6", "train.checkpoint_every=2"))
    with pytest.raises(TrainingDiverged, match=r"the weights became NaN or infinite at step 4; .*"
                                               r"last good checkpoint \(step 2\)"):
        train(spec, tmp_path / "run", progress=False, hooks=[Overflow()])
    checkpoint = find_checkpoint(tmp_path / "run")
    assert json.loads((checkpoint / "state.json").read_text())["step"] == 2
    for which in ("model", "ema", "optimizer"):
        assert all(torch.isfinite(v).all() for v in zoo.runs.checkpoint.load_weights(checkpoint, which).values())
    assert train(spec, tmp_path / "run", resume=True, progress=False).step == 6  # the kept checkpoint resumes


def losses_of(run: Path, weights: str, batches: int = 3) -> list[float]:
    """The diffusion loss of a run's checkpointed weights (as ``zoo sample`` loads them) on its first training
    batches, with noise of a generator of the test's own (not the stream zoo checks with)."""
    from zoo.data.loader import make_loader
    from zoo.runs.load import load_run

    loaded = load_run(run, weights=weights)
    data = zoo.data.prepare.prepare(loaded.spec.data, progress=False)
    generator = torch.Generator().manual_seed(1234)
    out = []
    with torch.no_grad():
        for _, (images, _labels) in zip(range(batches), make_loader(data, "train", batch_size=8, seed=1), strict=False):
            out.append(float(loaded.diffusion.training_loss(loaded.model, images, generator=generator)))
    return out


@pytest.mark.parametrize("lr", ["1e6", "1e3"])
def test_the_checkpoint_a_diverged_run_calls_good_gives_a_finite_loss(
    lr: str, tmp_path: Path, prepared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A too-high lr overflows in the first updates to weights that are finite but give a NaN loss: they used
    to be checkpointed (the loss of step k is computed with the weights of step k - 1) and then called "the
    last good checkpoint". Now a checkpoint's own weights are checked, and the message names only good ones."""
    run = tmp_path / "run"
    assert main(["train", *sets(prepared, f"train.lr={lr}", "train.steps=8", "train.checkpoint_every=1"),
                 "--out", str(run), "--no-progress"]) == 2
    message = one_line_error(capsys, "training stopped")
    if "there is no good checkpoint to keep (none had been written yet)" in message:
        assert find_checkpoint(run) is None
        return
    kept = int(message.split("last good checkpoint (step ")[1].split(")")[0])
    assert json.loads((find_checkpoint(run) / "state.json").read_text())["step"] == kept
    for weights in ("ema", "raw"):
        assert all(np.isfinite(losses_of(run, weights))), weights
        assert main(["sample", str(run), "--weights", weights, "--n", "4", "--no-progress"]) == 0


# -- 4. broken files and a full disk are one line ------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated weights", "corrupt spec.json"])
def test_a_damaged_run_is_one_line_for_sample_evaluate_and_resume(
    damage: str, tmp_path: Path, trained: Path, prepared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(trained, tmp_path)
    broken = run / ("checkpoint/model.safetensors" if damage == "truncated weights" else "spec.json")
    broken.write_bytes(broken.read_bytes()[: len(broken.read_bytes()) // 2])
    commands = [["sample", str(run), "--weights", "raw", "--n", "2", "--no-progress"],
                ["train", *sets(prepared, "train.steps=3"), "--out", str(run), "--resume", "--no-progress"]]
    if damage == "corrupt spec.json":
        np.savez(run / "samples.npz", images=np.zeros((2, 1, 8, 8), np.uint8))
        commands.append(["evaluate", str(run), "--metrics", "diversity", "--no-references"])
    for command in commands:
        assert main(command) == 2, command
        one_line_error(capsys, str(broken), "damaged")


def enospc(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_training_is_one_line_and_leaves_no_temporary(
    tmp_path: Path, prepared: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(tensors, path):  # noqa: ANN001, ANN202 - what safetensors raises on a full disk (not an OSError)
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(zoo.runs.checkpoint, "save_file", full)
    run = tmp_path / "run"
    assert main(["train", *sets(prepared, "train.steps=2"), "--out", str(run), "--no-progress"]) == 2
    one_line_error(capsys, "no space left", str(run / "checkpoint"), "free some space")
    assert sorted(p.name for p in run.iterdir()) == ["log.jsonl", "spec.json"]


def test_a_full_disk_while_preparing_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(zoo.data.prepare._NpyWriter, "_write", enospc)
    out = tmp_path / "prep"
    assert main(["prepare", "digits", "--size", "8", "--out", str(out)]) == 2
    one_line_error(capsys, "no space left", str(out / "digits-8-1"))
    assert list(out.iterdir()) == []  # no half-built copy, no lock file


def test_a_full_results_database_is_one_line_and_keeps_what_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "zoo.db")
    store.save_result("a", {"x": 1}, status="done", run_dir="r")
    connect = zoo.bench.store.sqlite3.connect

    def full(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - SQLite's own SQLITE_FULL, as on a full disk
        db = connect(*args, **kwargs)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(zoo.bench.store.sqlite3, "connect", full)
    with pytest.raises(DiskFullError, match=f"no space left on the device writing '{tmp_path / 'zoo.db'}'"):
        store.save_result("b", {"x": "y" * 100_000}, status="done", run_dir="r")
    assert store.status("a") == "done" and store.status("b") is None


def test_any_full_disk_reaching_the_cli_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import zoo.commands.list

    def full(args):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, "No space left on device", "/some/file")

    monkeypatch.setattr(zoo.commands.list, "run", full)
    assert main(["list"]) == 2
    one_line_error(capsys, "no space left", "/some/file")


def test_a_plugin_block_of_the_wrong_shape_is_named_with_the_shapes(
    tmp_path: Path, prepared: Path, registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class KeepsChannels(torch.nn.Module):  # ignores dim_out: breaks the block contract
        def __init__(self, dim_in: int, dim_out: int, **kwargs) -> None:  # noqa: ANN003
            super().__init__()
            self.conv = torch.nn.Conv2d(dim_in, dim_in, 3, padding=1)

        def forward(self, x: torch.Tensor, t_emb: torch.Tensor | None) -> torch.Tensor:
            return self.conv(x)

    component = Component("block", "keeps", KeepsChannels, "test", "myplugin", "my-dist")
    monkeypatch.setitem(registry._components, ("block", "keeps"), component)
    assert main(["train", *sets(prepared, "train.steps=1", "model.block=keeps"), "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 2
    one_line_error(capsys, "block 'keeps' (plugin myplugin, my-dist) at downs.1.block1",
                   "built as (dim_in=8, dim_out=16) returned (1, 8, 4, 4)", "must return (1, 16, 4, 4)")


def test_a_prepared_array_that_is_not_zoos_is_one_line(
    tmp_path: Path, prepared: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    source = zoo.data.prepare.prepare(DataSpec(size=8, prepared=str(prepared)))
    copy = tmp_path / "prep"
    shutil.copytree(source.path, copy / source.path.name)
    labels = copy / source.path.name / "train_labels.npy"
    np.save(labels, np.array([{"x": 1}] * 3, dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="train_labels.npy' is damaged .*--force"):
        PreparedData.open(copy / source.path.name).labels("train")
    assert main(["train", *sets(copy, "train.steps=1"), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    one_line_error(capsys, str(labels), "Object arrays cannot be loaded")


# -- 6. leftovers and names ----------------------------------------------------------------------
def test_prepare_leaves_no_lock_file(tmp_path: Path) -> None:
    zoo.data.prepare.prepare(DataSpec(size=8, prepared=str(tmp_path)))
    assert [p.name for p in tmp_path.iterdir()] == ["digits-8-1"]


KILL_MID_CHECKPOINT = """
import os, signal, sys, torch
import zoo.runs.checkpoint
from zoo.runtime.io import atomic_write_text
run = sys.argv[1]
def die(tensors, path):
    open(path, "wb").write(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
zoo.runs.checkpoint.save_file = die
with zoo.runtime.io.atomic_path(os.path.join(run, "log.jsonl")) as tmp:  # killed before this write ends
    tmp.write_text("partial")
    zoo.runs.checkpoint.save_checkpoint(run, model={"w": torch.ones(2)}, ema=None, optimizer={"state": {}, "param_groups": []},
                                   state={"step": 1})
"""


def test_a_kill_during_a_checkpoint_write_leaves_temporaries_the_next_checkpoint_removes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(KILL_MID_CHECKPOINT), str(run)],
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = sorted(p.name for p in run.iterdir())
    assert len(left) == 2 and left[0].startswith(".checkpoint.") and left[1].startswith(".log.jsonl."), left
    live = run / ".checkpoint.live"  # another process's checkpoint being written right now
    live.mkdir()
    with hold(live):
        save_checkpoint(run, model={"w": torch.ones(2)}, ema=None, optimizer={"state": {}, "param_groups": []},
                        state={"step": 2})
        assert sorted(p.name for p in run.iterdir()) == [".checkpoint.live", "checkpoint"]
    assert remove_stale_temporaries(run) == [live]
    assert json.loads((find_checkpoint(run) / "state.json").read_text())["step"] == 2


@pytest.mark.parametrize("name", [".hidden", "..", "a/b", " lead", ""])
def test_a_grid_name_that_cannot_name_a_report_folder_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(f"name = {json.dumps(name)}\n")
    with pytest.raises(UserError, match="cannot name a report folder"):
        load_grid(path)


# -- 5. names are text, never markup ---------------------------------------------------------------
def test_a_report_shows_hostile_names_literally(tmp_path: Path) -> None:
    from tests.fake_results import fill, grid_file

    path = grid_file(tmp_path, ["base", '"$x^$ *v*"', '"<i>a|b</i>"'], seeds=1, metrics=["fid", "kid"])
    path.write_text(path.read_text().replace('name = "fake"', 'name = "g_*[x](y)*"\ndescription = "a <b>bold</b> $1 | claim"'))
    results = tmp_path / "results"
    fill(results, load_grid(path), lambda variant, seed: {"fid": 10.0 + len(variant), "kid": 0.01})
    out = tmp_path / "report"
    assert main(["report", "--results", str(results), "--out", str(out)]) == 0  # math text never parsed
    md = (out / "report.md").read_text()
    assert "# zoo report: g\\_\\*\\[x\\](y)\\*" in md
    assert "> a \\<b\\>bold\\</b\\> \\$1 \\| claim" in md
    assert "| \\$x^\\$ \\*v\\* |" in md and "| \\<i\\>a\\|b\\</i\\> |" in md
    assert "<i>" not in md and "<b>" not in md
    assert (out / "img" / "fid.png").stat().st_size > 1000


def test_a_benchmark_history_grows_by_one_entry_and_a_failed_write_keeps_the_old_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results" / "history.json"
    path.parent.mkdir()
    append_to_json_list(path, {"run": 1})
    append_to_json_list(path, {"run": 2})
    assert json.loads(path.read_text()) == [{"run": 1}, {"run": 2}]

    def full_disk(self: Path, text: str) -> None:
        self.write_bytes(text[:10].encode())  # half written, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(DiskFullError, match="no space left on the device"):
        append_to_json_list(path, {"run": 3})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == [{"run": 1}, {"run": 2}]
    assert sorted(p.name for p in path.parent.iterdir()) == ["history.json"]  # no half-written temporary left
