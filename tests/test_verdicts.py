"""A grid's verdicts end to end: an injected effect is judged ``worse``, an identical variant ``no evidence``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch

from zoo.bench.executors import LocalExecutor
from zoo.bench.grid import load_grid
from zoo.bench.runner import DB_NAME, run_grid
from zoo.cli import main
from zoo.errors import UserError

GRID = """
    name = "injected"
    seeds = 3
    [budget]
    steps = 5
    [base.data]
    size = 8
    flip = false
    prepared = "PREPARED"
    [base.model]
    dim = 8
    dim_mults = [1, 2]
    heads = 2
    dim_head = 8
    groups = 4
    [base.diffusion]
    timesteps = 50
    [base.train]
    batch_size = 16
    lr = 3e-3
    [base.eval]
    n = 40
    steps = 5
    batch_size = 40
    metrics = ["kid", "fid"]
    [compare]
    reference = "base"
    [variants]
    base = {}
    noisy = { "eval.sampler" = "noisy_ddim" }   # the same network, its samples spoiled: must be worse
    same = { "eval.sampler" = "ddim_again" }    # another name for DDIM: a separate run, identical samples
"""


def noisy(ddim):  # noqa: ANN001, ANN201
    """A test sampler: DDIM, then Gaussian noise (sd 1) on every pixel, from the sampling stream."""

    def sample(model, diffusion, shape, *, generator=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        x = ddim(model, diffusion, shape, generator=generator, **kwargs)
        return (x + torch.randn(x.shape, generator=generator).to(x)).clamp(-1, 1)

    return sample


@pytest.fixture
def samplers(registry, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(registry, "_components", dict(registry._components))  # undone after the test
    ddim = registry.get("sampler", "ddim").factory
    registry.add("sampler", "noisy_ddim", noisy(ddim), help="test: DDIM plus noise")
    registry.add("sampler", "ddim_again", ddim, help="test: DDIM under another name")
    return registry


@pytest.mark.slow
def test_an_injected_effect_is_worse_and_an_identical_variant_no_evidence(
    tmp_path: Path, samplers, capsys: pytest.CaptureFixture  # noqa: ANN001
) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(textwrap.dedent(GRID).replace("PREPARED", str(tmp_path / "prepared")))
    results = tmp_path / "results"
    outcome = run_grid(load_grid(path), results, executor=LocalExecutor(jobs=1, threads=1), progress=False)
    assert outcome.failed == 0 and (results / DB_NAME).is_file()
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table", "--json"]) == 0
    comparison = json.loads(capsys.readouterr().out)["comparison"]
    verdicts = {c["name"]: c for c in comparison["contrasts"]}
    assert verdicts["noisy"]["verdict"] == "worse" and verdicts["noisy"]["ci_low"] > 0
    assert verdicts["same"]["verdict"] == "no evidence" and verdicts["same"]["difference"] == 0
    assert comparison["primary"] == "kid" and comparison["noise"]["draws"] >= 2 and comparison["noise"]["sd"]["kid"] > 0
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table"]) == 0
    table = capsys.readouterr().out
    assert "vs base" in table and "worse" in table and "metric noise" in table


@pytest.mark.parametrize(("body", "message"), [
    ('[compare]\nreference = "bsae"\n[variants]\nbase = {}\n', "compare.reference 'bsae' is not a cell of this grid; did you mean 'base'"),
    ('[compare]\nprimery = "kid"\n', r"\[compare\] takes reference and primary, not primery"),
])
def test_compare_mistakes_are_user_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(body)
    with pytest.raises(UserError, match=message):
        load_grid(path)
