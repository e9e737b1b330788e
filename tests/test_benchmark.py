"""The benchmark runner: grid expansion and deduplication, resume, failing cells, the table, Ray."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import zoo.bench.executors
from zoo import get_registry
from zoo.bench.executors import LocalExecutor
from zoo.bench.grid import load_grid
from zoo.bench.runner import DB_NAME, run_grid
from zoo.bench.store import Store
from zoo.bench.table import build_rows, sort_rows
from zoo.cli import main
from zoo.errors import UserError

SMOKE = Path(__file__).resolve().parents[1] / "benchmarks" / "grids" / "smoke.toml"


def write_grid(tmp_path: Path, body: str, prepared: str | None = None) -> Path:
    text = textwrap.dedent(body)
    if prepared:
        text = text.replace("PREPARED", prepared)
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


TINY = """
    [budget]
    steps = 2
    [base.data]
    size = 8
    prepared = "PREPARED"
    [base.model]
    dim = 8
    dim_mults = [1, 2]
    groups = 4
    [base.eval]
    n = 20
    metrics = ["fid"]
"""  # a grid of 8x8 cells trained for 2 steps, on the smoke grid's prepared data; add eval keys and variants


def tiny_grid(tmp_path: Path, smoke_results: Path, name: str, rest: str) -> Path:
    body = f'name = "{name}"\n' + textwrap.dedent(TINY) + textwrap.dedent(rest)
    return write_grid(tmp_path, body, str(smoke_results.parent / "prep"))


def test_variants_cross_axes_and_seeds_and_duplicates_run_once(tmp_path: Path) -> None:
    grid = load_grid(write_grid(tmp_path, """
        name = "g"
        seeds = 2
        preset = "study"
        [budget]
        steps = 3
        [base.data]
        size = 8
        [variants]
        base = {}
        gelu = { "model.activation" = "gelu" }
        relu = { "model.activation" = "relu" }
        [axes]
        "diffusion.schedule" = ["linear", "cosine"]
    """))
    assert len(grid.cells) == 3 * 2 * 2
    assert [c.label for c in grid.cells[:4]] == [
        "base schedule=linear [seed 0]", "base schedule=linear [seed 1]",
        "base schedule=cosine [seed 0]", "base schedule=cosine [seed 1]",
    ]
    cell = grid.cells[-1]
    assert cell.overrides == {"model.activation": "relu", "diffusion.schedule": "cosine"} and cell.seed == 1
    assert cell.spec.diffusion.schedule == "cosine" and cell.spec.train.steps == 3 and cell.spec.train.seed == 1
    gelu = [c for c in grid.cells if c.variant == "gelu"]
    assert [c.duplicate_of for c in gelu] == [
        "base schedule=linear [seed 0]", "base schedule=linear [seed 1]",
        "base schedule=cosine [seed 0]", "base schedule=cosine [seed 1]",
    ]
    assert len(grid.unique()) == 8
    assert len({c.hash for c in grid.unique()}) == 8


def test_the_vae_crossed_with_unet_and_diffusion_axes_is_one_cell_trained_once(tmp_path: Path) -> None:
    """The VAE reads neither the U-Net's parts nor the diffusion process nor the sampler: crossed with axes over
    them, every cell of it is the first one ("same as"), and its spec says what runs."""
    grid = load_grid(write_grid(tmp_path, """
        name = "vae_axes"
        [budget]
        steps = 3
        [base.data]
        size = 8
        [base.eval]
        steps = 7
        [variants]
        base = {}
        vae = { "model.name" = "vae", "model.latent_dim" = 4 }
        [axes]
        "diffusion.schedule" = ["linear", "cosine"]
        "model.attention" = ["none", "linear"]
    """))
    vae = [c for c in grid.cells if c.variant == "vae"]
    assert [c.duplicate_of for c in vae] == [None, *["vae schedule=linear attention=none"] * 3]
    assert {(c.spec.diffusion.schedule, c.spec.model.attention, c.spec.eval.steps, c.spec.model.latent_dim) for c in vae} == {
        ("cosine", "none", 10, 4)}  # the defaults, whatever the axis said
    unets = [c for c in grid.cells if c.variant == "base"]
    assert not any(c.duplicate_of for c in unets) and {c.spec.model.latent_dim for c in unets} == {16}
    assert {c.spec.eval.steps for c in unets} == {7}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('nmae = "x"\n', "unknown grid key 'nmae'; did you mean 'name'"),
        ('[variants]\nx = { "block" = "resnet" }\n', "override keys are 'section.key'"),
        ('[variants]\nx = { "model.block" = "resnt" }\n', "cell 'x': unknown block 'resnt'; did you mean 'resnet'"),
        ('[budget]\nsteeps = 3\n', "[budget] takes steps, epochs and/or minutes"),
        ('seeds = "three"\n', "seeds must be a count"),
        ("jobs = 0\n", "jobs must be a whole number of processes >= 1"),
    ],
)
def test_grid_mistakes_are_user_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_grid(write_grid(tmp_path, body))


def test_shipped_grids_expand() -> None:
    full = load_grid(SMOKE.parent / "study_full.toml")  # every study variant
    variants = {c.variant for c in full.cells}
    assert {"base", "no_attention", "post_norm", "relu", "silu", "gelu", "resnet", "vae"} <= variants
    assert {c.spec.diffusion.schedule for c in full.cells} == {"linear", "quadratic", "cosine", "sigmoid"}
    assert [c.label for c in full.cells if c.duplicate_of] == [f"gelu [seed {s}]" for s in range(4)]
    study = load_grid(SMOKE.parent / "study_recipe.toml")  # the study's recipe: a subset, paired seeds, verdicts on KID
    assert {c.variant for c in study.cells} < variants and {c.seed for c in study.cells} == {0, 1, 2, 3}
    assert study.settings == {"reference": "base", "primary": "kid"} and study.cells[0].spec.data.size == 8
    assert study.name == "study"  # results databases of the old default still hold its cells
    default = load_grid(SMOKE.parent / "default.toml")  # the study's questions on zoo's fast recipe
    base = next(c.spec for c in default.cells if c.variant == "base")
    assert (base.model.block, base.model.attention, base.diffusion.schedule, base.diffusion.objective) == ("resnet", "none", "cosine", "v")
    assert {c.seed for c in default.cells} == {0, 1, 2, 3} and default.settings["reference"] == "base" and base.data.size == 8
    questions = {c.variant: c.spec for c in default.cells}
    assert questions["convnext"].model.block == "convnext" and questions["schedule_linear"].diffusion.schedule == "linear"
    assert questions["attention"].model.attention == "linear" and questions["vae"].model.name == "vae"
    smoke = load_grid(SMOKE)
    assert [c.duplicate_of for c in smoke.cells] == [None, None, "base", None]


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke grid run once (shared by the tests below)."""
    results = tmp_path_factory.mktemp("results")
    grid = load_grid(SMOKE)
    outcome = run_grid(grid, results, executor=LocalExecutor(jobs=1, threads=1), progress=False)
    assert (outcome.ran, outcome.failed) == (3, 0)
    return results


def test_a_finished_grid_is_not_run_again(smoke_results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(zoo.bench.executors, "run_cell", lambda *a, **k: calls.append(a) or {"status": "failed"})
    outcome = run_grid(load_grid(SMOKE), smoke_results, progress=False)
    assert calls == [] and outcome.ran == 0 and outcome.skipped == 4


def test_table_rows_references_and_sorting(smoke_results: Path, capsys: pytest.CaptureFixture) -> None:
    rows, refs = build_rows(Store(smoke_results / DB_NAME), "smoke")
    assert [r.name for r in rows] == ["base", "resnet", "gelu", "vae"]
    assert rows[2].status == "same as base" and rows[2].mean("fid") == rows[0].mean("fid")
    assert all(r.mean(k) is not None for r in rows for k in ("fid", "kid", "is", "diversity", "params", "train_ips"))
    assert [r.name for r in refs] == ["floor: real train vs real test", "ceiling: uniform noise"]
    assert refs[0].mean("fid") < refs[1].mean("fid")
    by_fid = sort_rows(rows, "fid", get_registry())
    assert [r.mean("fid") for r in by_fid] == sorted(r.mean("fid") for r in rows)
    assert main(["benchmark", "--grid", str(SMOKE), "--results", str(smoke_results), "--table", "--json",
                 "--sort", "is"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["is"] for r in data["rows"]] == sorted((r["is"] for r in data["rows"]), reverse=True)
    assert main(["benchmark", "--grid", str(SMOKE), "--results", str(smoke_results), "--table", "--sort", "fdi"]) == 2


def test_an_interrupted_grid_resumes_and_a_failing_cell_does_not_stop_the_others(
    tmp_path: Path, smoke_results: Path
) -> None:
    path = tiny_grid(tmp_path, smoke_results, "mixed", """
        steps = 2
        [variants]
        first = {}
        broken = { "train.batch_size" = 100000 }
        last = { "model.block" = "convnext" }
    """)
    grid = load_grid(path)
    store = Store(tmp_path / "results" / DB_NAME)
    store.register_grid(grid)
    first = grid.cells[0]
    store.save_result(first.hash, first.spec.to_dict(), status="done", run_dir="x", record=None)  # as if done before a kill
    outcome = run_grid(grid, tmp_path / "results", progress=False)
    assert (outcome.ran, outcome.failed, outcome.skipped) == (1, 1, 1)
    rows, _ = build_rows(store, "mixed")
    status = {r.name: r.status for r in rows}
    assert status == {"first": "done", "broken": "failed", "last": "done"}
    broken = next(r for r in rows if r.name == "broken")
    assert "fewer than one batch" in broken.error
    assert main(["benchmark", "--grid", str(path), "--results", str(tmp_path / "results"), "--table"]) == 1


def test_parallel_jobs_split_the_cores() -> None:
    assert LocalExecutor(jobs=2).threads == max(1, zoo.bench.executors.cpu_count() // 2)
    with pytest.raises(UserError):
        LocalExecutor(jobs=0)


@pytest.mark.parametrize(("argv", "jobs"), [([], 2), (["--jobs", "1"], 1)])
def test_the_grid_s_jobs_are_the_default_of_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                                 jobs: int) -> None:
    made = []

    class Stop(Exception):
        pass

    def executor(n: int, **kwargs: object) -> None:
        made.append(n)
        raise Stop

    monkeypatch.setattr(zoo.bench.executors, "LocalExecutor", executor)
    with pytest.raises(Stop):
        main(["benchmark", "--grid", str(write_grid(tmp_path, "jobs = 2\n")), "--results", str(tmp_path), *argv])
    assert made == [jobs]


@pytest.mark.slow
def test_ray_executor_runs_the_smoke_grid_on_a_local_instance(tmp_path: Path, smoke_results: Path) -> None:
    import ray  # in the test extra: this test must run, not skip

    from zoo.bench.executors import RayExecutor

    try:
        executor = RayExecutor(None, threads=1, num_cpus=2)
        outcome = run_grid(load_grid(SMOKE), tmp_path, executor=executor, progress=False)
    finally:
        ray.shutdown()
    assert (outcome.ran, outcome.failed) == (3, 0)
    ray_rows, _ = build_rows(Store(tmp_path / DB_NAME), "smoke")
    local_rows, _ = build_rows(Store(smoke_results / DB_NAME), "smoke")
    # same specs, same seeds, same threads: the same scores wherever the cell ran
    assert [r.mean("fid") for r in ray_rows] == pytest.approx([r.mean("fid") for r in local_rows], rel=1e-4)


@pytest.mark.slow
def test_two_local_jobs_give_the_same_results_as_one(tmp_path: Path, smoke_results: Path) -> None:
    outcome = run_grid(load_grid(SMOKE), tmp_path, executor=LocalExecutor(jobs=2, threads=1), progress=False)
    assert (outcome.ran, outcome.failed) == (3, 0)
    parallel, _ = build_rows(Store(tmp_path / DB_NAME), "smoke")
    serial, _ = build_rows(Store(smoke_results / DB_NAME), "smoke")
    assert [r.mean("fid") for r in parallel] == pytest.approx([r.mean("fid") for r in serial], rel=1e-4)


def test_sampler_options_of_a_cell_reach_its_samples_and_curve(tmp_path: Path, smoke_results: Path) -> None:
    path = tiny_grid(tmp_path, smoke_results, "options", """
        steps = 3
        curve_every = 2
        curve_n = 20
        [variants]
        trailing = {}
        linspace = { "eval.sampler_options" = { spacing = "linspace" } }
    """)
    grid = load_grid(path)
    assert grid.cells[1].spec.eval.sampler_options == {"spacing": "linspace"}
    assert grid.cells[0].hash != grid.cells[1].hash
    assert run_grid(grid, tmp_path / "results", progress=False).failed == 0
    store = Store(tmp_path / "results" / DB_NAME)
    runs = [tmp_path / "results" / "runs" / c.hash for c in grid.cells]
    # same seed, same training: the weights agree and only the timesteps of sampling differ
    samples = [np.load(run / "samples.npz")["images"] for run in runs]
    assert not np.array_equal(*samples)
    curves = [store.curve(c.hash) for c in grid.cells]
    assert [p["step"] for p in curves[0]] == [p["step"] for p in curves[1]] == [2]
    assert curves[0][0]["values"] != curves[1][0]["values"]


def test_the_grid_example_of_the_docs_loads(tmp_path: Path) -> None:
    docs = (SMOKE.parents[2] / "docs" / "benchmark.md").read_text()
    example = docs.split("## Grid files", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    grid = load_grid(write_grid(tmp_path, example))
    assert len(grid.cells) == 4 * 2 * 3  # variants x schedules x seeds
    assert grid.settings["reference"] in {c.variant for c in grid.cells}
