"""A plugin written from zoo/contract.py alone (tests/plugin_every_kind) adds one component of every
kind; each passes zoo.testing's check, and a grid using all of them runs through `zoo benchmark`.

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

import zoo
import zoo.testing
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


def plugin_registry() -> Registry:
    """The plugin's components alone, registered through its hook (imported by path, not installed)."""
    spec = importlib.util.spec_from_file_location("zoo_every_kind", PLUGIN / "zoo_every_kind" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registry = Registry()
    module.zoo_register(registry=registry)
    return registry


def test_the_plugin_adds_every_kind_and_each_passes_the_conformance_kit() -> None:
    components = plugin_registry().list()
    assert sorted(c.kind for c in components) == sorted(KINDS)
    for c in components:
        zoo.testing.CHECKS[c.kind](c.factory, name=c.name)


def zoo_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(PLUGIN), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "zoo", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"zoo {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


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
