"""A plugin written from zoo/contract/ alone (tests/plugin_every_kind) adds one component of every
kind; each passes zoo.testing's check, what it declares at registration is honoured, its sub-command runs
as `zoo census`, its training hook runs in the runs whose spec names it, and a grid using all of them runs
through `zoo benchmark`.

The plugin is never pip-installed: its folder holds a ``*.dist-info`` with ``entry_points.txt``, so
putting the folder on PYTHONPATH makes it an installed distribution to ``importlib.metadata``, which
is how zoo finds plugins. The CLI runs in a subprocess so this session's registry stays as it was.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import zoo
import zoo.testing
from zoo.config.resolve import resolve
from zoo.config.spec import from_dict
from zoo.contract import DECLARATIONS
from zoo.errors import UserError
from zoo.plugins import load_registry
from zoo.registry import KINDS, Registry

PLUGIN = Path(__file__).parent / "plugin_every_kind"
REPO = Path(zoo.__file__).resolve().parents[1]

GRID = """\
name = "every-kind"
seeds = [0]

[budget]
steps = 3

[base.data]
dataset = "stripes"
size = 8
flip = false

[base.model]
dim = 8
dim_mults = [1, 2]
heads = 2
dim_head = 8
groups = 4
block = "tinyconv"
attention = "gate"
mid_attention = "gate"
norm = "halfres"
activation = "softsign"
time_embedding = "fourier"

[base.diffusion]
timesteps = 50
schedule = "geometric"

[base.train]
batch_size = 16
log_every = 1
hooks = ["tally"]

[base.eval]
n = 20
steps = 3
batch_size = 20
sampler = "euler"
feature = "pixelstats"
metrics = ["fid", "meandist"]

[variants]
unet = {}
tinynet = { "model.name" = "tinynet" }
"""


def register_plugin(registry: Registry) -> Registry:
    """``registry`` with the plugin's components added through its hook (imported by path, not installed)."""
    spec = importlib.util.spec_from_file_location("zoo_every_kind", PLUGIN / "zoo_every_kind" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with registry.registering_as("every_kind", "zoo-every-kind"):
        module.zoo_register(registry=registry)
    return registry


def plugin_registry() -> Registry:
    """The plugin's components alone."""
    return register_plugin(Registry())


def test_the_plugin_adds_every_kind_and_each_passes_the_conformance_kit() -> None:
    components = plugin_registry().list()
    assert sorted(c.kind for c in components) == sorted(KINDS)
    for c in components:
        zoo.testing.check_component(c)


def test_the_plugin_declares_at_registration_not_on_its_factories() -> None:
    registry = plugin_registry()
    assert registry.get("block", "tinyconv").declarations == {"default_activation": "silu"}
    assert set(registry.get("model", "tinynet").declarations) == {"validate"}
    for c in registry.list():
        assert not [attr for attr in DECLARATIONS.get(c.kind, {}) if hasattr(c.factory, attr)], c


def spec_of(**model: object) -> dict:
    return {"data": {"dataset": "stripes", "size": 8, "channels": 1},
            "model": {"dim": 8, "dim_mults": [1, 2], **model}}


def test_what_the_plugin_declares_is_honoured_when_a_spec_resolves() -> None:
    registry = register_plugin(load_registry()[0])  # zoo's own components beside the plugin's
    with pytest.raises(UserError, match=r"model.options.width of tinynet must be a positive integer, got 0"):
        resolve(from_dict(spec_of(name="tinynet", options={"width": 0})), registry)
    with pytest.raises(UserError, match=r"unknown activation 'softsing'.*did you mean 'softsign'"):
        resolve(from_dict(spec_of(name="tinynet", activation="softsing")), registry)  # validate gets the registry
    tiny = resolve(from_dict(spec_of(name="tinynet", activation="softsign")), registry)
    assert isinstance(tiny.build_model().net[1], torch.nn.Softsign)  # the factory built it from the registry
    own = resolve(from_dict(spec_of(block="tinyconv", activation="silu", time_embedding="none")), registry)
    assert own.model.activation == "default"  # silu is the block's declared own: one network, one name


def zoo_cli(cwd: Path, *args: str, returncode: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(PLUGIN), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "zoo", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == returncode, \
        f"zoo {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_plugin_command_is_a_zoo_sub_command(tmp_path: Path) -> None:
    listed = json.loads(zoo_cli(tmp_path, "list", "command", "--json").stdout)
    assert {"kind": "command", "name": "census", "plugin": "every_kind", "distribution": "zoo-every-kind",
            "help": "count the registered components of each kind (test plugin)"} in listed
    assert "census" in zoo_cli(tmp_path, "--help").stdout
    counts = dict(line.split(": ") for line in zoo_cli(tmp_path, "census").stdout.splitlines())
    assert set(counts) == set(KINDS)  # the registry zoo loaded, handed to the command
    assert counts["command"] == str(len(listed)) and int(counts["training_hook"]) >= 1
    one_kind = zoo_cli(tmp_path, "census", "--kind", "training_hook").stdout
    assert one_kind.splitlines() == [f"training_hook: {counts['training_hook']}"]
    failed = zoo_cli(tmp_path, "census", "--kind", "blok", returncode=2)  # a UserError in a plugin command: one line
    assert failed.stderr.strip().splitlines() == [
        "error: unknown component kind 'blok'; did you mean 'block'?; `zoo list` shows all"]


def test_the_plugin_training_hook_runs_in_zoo_train_and_on_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    tiny = ["--set", "data.dataset=stripes", "--set", "data.size=8", "--set", "data.channels=1",
            "--set", "model.name=tinynet", "--set", "train.batch_size=8", "--set", "train.checkpoint_every=2"]
    zoo_cli(tmp_path, "train", *tiny, "--set", "train.steps=3", "--set", "train.hooks=tally", "--out", str(run),
            "--no-progress")
    tally = json.loads((run / "tally.json").read_text())
    assert tally == {"calls": {"on_start": 1, "before_step": 3, "after_step": 3, "before_checkpoint": 2, "on_end": 1},
                     "steps": [1, 2, 3], "losses_finite": True}  # checkpoints at step 2 and at the end
    zoo_cli(tmp_path, "train", "--resume", "--set", "train.steps=5", "--out", str(run), "--no-progress")
    tally = json.loads((run / "tally.json").read_text())  # the saved spec still names the hook
    assert tally["steps"] == [4, 5] and tally["calls"]["on_start"] == 1


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The grid run once through `zoo benchmark` (a subprocess with the plugin on its path), then its
    table (JSON and text) and its report."""
    work = tmp_path_factory.mktemp("every-kind")
    (work / "grid.toml").write_text(textwrap.dedent(GRID))
    table = ("benchmark", "--grid", "grid.toml", "--results", "results", "--table")
    zoo_cli(work, *table[:-1], "--no-progress")
    zoo_cli(work, "report", "--results", "results", "--out", "report")
    return {
        "folder": work,
        "json": json.loads(zoo_cli(work, *table, "--json").stdout),
        "table": zoo_cli(work, *table).stdout,
        "report": {p.suffix: p.read_text() for p in (work / "report").glob("report.*")},
    }


@pytest.mark.slow
def test_a_grid_of_plugin_components_runs_and_scores_with_the_plugin_metric(outputs: dict) -> None:
    rows = outputs["json"]["rows"]
    assert sorted(r["name"] for r in rows) == ["tinynet", "unet"]
    assert all(r["status"] == "done" for r in rows), rows
    runs = outputs["folder"] / "results" / "runs"
    assert all("meandist" in (run / "metrics.json").read_text() for run in runs.iterdir())
    assert all('"dataset": "stripes"' in (run / "spec.json").read_text() for run in runs.iterdir())
    tallies = [json.loads((run / "tally.json").read_text()) for run in runs.iterdir()]  # the hook the grid names
    assert len(tallies) == 2 and all(t["steps"] == [1, 2, 3] and t["losses_finite"] for t in tallies), tallies
    assert set(outputs["report"]) == {".md", ".html"}
    (manifest,) = (outputs["folder"] / "data" / "prepared").glob("*/manifest.json")
    described = json.loads(manifest.read_text())  # the source has neither: the contract's defaults
    assert (described["num_classes"], described["default_feature"]) == (None, "inception")


@pytest.mark.slow
def test_the_plugin_metric_is_a_column_of_the_table(outputs: dict) -> None:
    assert all(isinstance(r.get("meandist"), float) for r in outputs["json"]["rows"]), outputs["json"]["rows"]
    assert "mean distance ↓" in outputs["table"]  # the title and direction the metric declares


@pytest.mark.slow
def test_the_plugin_metric_is_in_the_report(outputs: dict) -> None:
    assert "mean distance ↓" in outputs["report"][".md"] and "mean distance ↓" in outputs["report"][".html"]
