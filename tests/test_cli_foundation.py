"""`zoo list`, `zoo describe` and the one-line errors of the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo.cli import main


def zoo_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (fresh registry, real stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", **(env or {})},
    )


def test_list_shows_every_kind_with_plugin_and_help(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = {r["kind"] for r in rows}
    assert {"block", "attention", "norm", "activation", "time_embedding", "model"} <= kinds
    resnet = next(r for r in rows if (r["kind"], r["name"]) == ("block", "resnet"))
    assert resnet["distribution"] == "zoo" and resnet["plugin"] == "blocks" and resnet["help"]


def test_list_kind_and_wildcard(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "block", "conv*", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["convnext"]
    assert main(["list", "*attention*", "--json"]) == 0  # a lone pattern filters names, not kinds
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert "linear" not in names and all("attention" in name for name in names)
    assert main(["list", "--plugins", "--json"]) == 0
    plugins = json.loads(capsys.readouterr().out)
    assert any(p["distribution"] == "zoo" and p["status"] == "loaded" and p["version"] for p in plugins)


def test_list_renders_a_table() -> None:
    result = zoo_cli("list", "activation")
    assert result.returncode == 0
    assert "relu" in result.stdout and "zoo:activations" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["list", "blok"], "unknown component kind 'blok'; did you mean 'block'?"),
        (["describe", "--set", "model.block=convnxt"], "unknown block 'convnxt'; did you mean 'convnext'?"),
        (["describe", "--set", "model.blok=resnet"], "unknown setting 'model.blok'; did you mean 'block'?"),
        (["describe", "--set", "modelblock"], "--set expects section.key=value"),
        (["describe", "--set", "data.size=10", "--set", "model.dim_mults=[1,2,4]"], "not divisible by 4"),
    ],
)
def test_user_mistakes_exit_2_with_one_line_and_no_traceback(args: list[str], expected: str) -> None:
    result = zoo_cli(*args)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0]
    assert "`zoo list" in errors[0] or "settings of" in errors[0] or "--set" in errors[0] or "divisible" in errors[0]
    assert "Traceback" not in result.stderr


def test_describe_prints_tree_parameters_and_flops(capsys: pytest.CaptureFixture) -> None:
    assert main(["describe", "--set", "model.block=resnet", "--set", "model.dim_mults=[1,2]", "--set", "data.size=8",
                 "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "Unet" in out and "ResnetBlock" in out
    assert "parameters" in out and "GFLOP" in out and "2 x 1 x 8 x 8" in out


def test_describe_reads_a_toml_config(tmp_path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[model]\nblock = "resnet"\ndim = 16\n[data]\nsize = 8\nchannels = 3\n')
    assert main(["describe", str(config), "--set", "model.dim=8"]) == 0
    assert "1 x 3 x 8 x 8" in capsys.readouterr().out
