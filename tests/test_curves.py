"""Learning curves: points scored during training, stored with the results, resumed without loss or
repeats, looked up at equal training time (``--at``) and drawn in the report."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest
import torch

from zoo import get_registry
from zoo.bench.grid import load_grid
from zoo.bench.runner import DB_NAME, run_grid
from zoo.bench.store import SCHEMA, Store
from zoo.bench.table import build_rows
from zoo.cli import main
from zoo.config.resolve import resolve
from zoo.config.spec import RunSpec, from_dict, merge
from zoo.curves.compare import At, parse_at, point_at
from zoo.curves.score import CurveScorer, read_curve
from zoo.errors import UserError
from zoo.runtime.io import read_log
from zoo.train import train


def _point(step: int, seconds: float, kid: float) -> dict:
    return {"step": step, "train_seconds": seconds, "score_seconds": 0.5, "n": 20, "values": {"kid": kid, "kid_std": 0.1}}


def test_curve_settings_left_at_their_defaults_keep_the_hash_of_older_cells() -> None:
    spec = resolve(from_dict({"data": {"size": 8}}))
    before_curves = resolve(spec).to_dict()  # how a zoo without curve settings hashed this spec
    for key in ("curve_every", "curve_n", "curve_steps", "curve_metrics", "sampler_options"):  # the last came later
        del before_curves["eval"][key]
    del before_curves["train"]["hooks"]  # train.hooks came later still
    del before_curves["model"]["patch"]  # and model.patch after it
    del before_curves["train"]["compile"]  # and train.compile after that
    del before_curves["train"]["guide_at"], before_curves["eval"]["guidance"]  # and autoguidance
    del before_curves["eval"]["guidance_interval"]  # and its interval
    del before_curves["eval"]["eps_scale"], before_curves["train"]["adam_betas"]  # and these two
    del before_curves["train"]["guide_ema_std"]  # and the guide's own average last
    assert spec.hash() == hashlib.sha256(json.dumps(before_curves, sort_keys=True).encode()).hexdigest()[:16]
    with_curve = resolve(from_dict({"data": {"size": 8}, "eval": {"curve_every": 5}}))
    assert with_curve.hash() != spec.hash()
    assert resolve(from_dict({"data": {"size": 8}, "eval": {"curve_every": 5, "curve_n": 100}})).hash() != with_curve.hash()


@pytest.mark.parametrize(("settings", "message"), [
    ({"curve_every": 0}, "eval.curve_every and eval.curve_steps must be at least 1"),
    ({"curve_n": 1}, "eval.curve_n at least 2"),
    ({"curve_metrics": ["kdi"]}, "did you mean 'kid'"),
])
def test_curve_setting_mistakes_are_user_errors(settings: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        resolve(from_dict({"data": {"size": 8}, "eval": settings}))


@pytest.mark.parametrize(("text", "expected"), [
    ("minutes=5", At("minutes", 5.0)), ("steps=400", At("steps", 400.0)), (" minutes = 0.5 ", At("minutes", 0.5)),
    (None, None),
])
def test_parse_at(text: str | None, expected: At | None) -> None:
    assert parse_at(text) == expected


@pytest.mark.parametrize("text", ["minutes", "hours=3", "minutes=0", "minutes=-1", "minutes=abc", "steps="])
def test_parse_at_mistakes_name_the_form(text: str) -> None:
    with pytest.raises(UserError, match="--at expects minutes=M or steps=N"):
        parse_at(text)


def test_point_at_takes_the_last_point_within_the_time_or_steps() -> None:
    points = [_point(10, 30.0, 5.0), _point(20, 61.0, 4.0), _point(30, 90.0, 3.0)]
    assert point_at(points, At("minutes", 1.0))["step"] == 10  # 61 s is past one minute
    assert point_at(points, At("minutes", 1.5))["step"] == 30
    assert point_at(points, At("minutes", 60.0))["step"] == 30  # a run that ended earlier: its last point
    assert point_at(points, At("minutes", 0.25)) is None
    assert point_at(points, At("steps", 25))["step"] == 20


def test_saving_a_curve_again_replaces_it_without_duplicates(tmp_path: Path) -> None:
    store = Store(tmp_path / "zoo.db")
    store.save_curve("h", [_point(2, 1.0, 9.0), _point(4, 2.0, 8.0)])
    store.save_curve("h", [_point(2, 1.0, 9.0), _point(4, 2.5, 8.0), _point(6, 3.0, 7.0)])
    assert [p["step"] for p in store.curve("h")] == [2, 4, 6]
    assert store.curve("h")[1] == _point(4, 2.5, 8.0)
    assert store.curve("other") == []


def test_a_database_written_before_curves_opens_and_gains_the_table(tmp_path: Path) -> None:
    old_schema = SCHEMA.split("CREATE TABLE IF NOT EXISTS curve_points")[0] + SCHEMA.split("PRIMARY KEY (hash, step)\n);")[1]
    assert "curve_points" not in old_schema and "grid_runs" in old_schema
    db = sqlite3.connect(tmp_path / "zoo.db")
    db.executescript(old_schema)
    db.execute("INSERT INTO results VALUES ('h', '{}', 'done', NULL, 'runs/h', '{\"x\": 1}', 0)")
    db.commit()
    db.close()
    store = Store(tmp_path / "zoo.db")
    assert store.status("h") == "done" and store.curve("h") == []
    store.save_curve("h", [_point(2, 1.0, 9.0)])
    assert len(store.curve("h")) == 1


# -- training, the grid, resume -------------------------------------------------------------------
TINY = {"data": {"size": 8, "flip": False}, "model": {"dim": 8, "dim_mults": [1, 2], "groups": 4, "heads": 2, "dim_head": 8},
        "diffusion": {"timesteps": 50}, "train": {"batch_size": 16, "log_every": 1, "checkpoint_every": 4, "threads": 1},
        "eval": {"n": 20, "steps": 2, "batch_size": 20, "metrics": ["kid"], "curve_n": 20, "curve_steps": 2}}


def _tiny(prepared: Path, **sections: dict) -> RunSpec:
    data = merge(TINY, {"data": {"prepared": str(prepared)}})
    return from_dict(merge(data, sections))


def _weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "checkpoint" / "ema.safetensors"))


def test_training_scores_points_and_leaves_the_trained_weights_untouched(tmp_path: Path) -> None:
    with_curve = train(_tiny(tmp_path / "prep", train={"steps": 5}, eval={"curve_every": 2}), tmp_path / "a", progress=False)
    train(_tiny(tmp_path / "prep", train={"steps": 5}), tmp_path / "b", progress=False)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)  # scoring never touches training
    points = read_curve(tmp_path / "a")
    assert [p["step"] for p in points] == [2, 4, 5]  # every 2 steps and the last one
    assert all(p["n"] == 20 and p["score_seconds"] > 0 and "kid" in p["values"] for p in points)
    assert points[-1]["train_seconds"] == with_curve.elapsed
    assert read_curve(tmp_path / "b") == []


def test_scoring_time_is_not_training_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The optimisation clock (what train.minutes spends) does not advance while a point is scored."""
    import zoo.runs.sample

    original = zoo.runs.sample.generate

    def slow(*args: object, **kwargs: object) -> object:
        time.sleep(1.5)
        return original(*args, **kwargs)

    monkeypatch.setattr(zoo.runs.sample, "generate", slow)
    train(_tiny(tmp_path / "prep", train={"steps": 3}, eval={"curve_every": 2}), tmp_path / "run", progress=False)
    log = {r["step"]: r["elapsed"] for r in read_log(tmp_path / "run" / "log.jsonl")}
    points = read_curve(tmp_path / "run")
    assert points[0]["train_seconds"] == log[2] and points[0]["score_seconds"] >= 1.5
    assert log[3] - log[2] < 1.5  # the step after the point: its own time only


def _grid(tmp_path: Path, name: str, curve_every: int | None = 2) -> Path:
    path = tmp_path / f"{name}.toml"
    eval_ = {**TINY["eval"], **({"curve_every": curve_every} if curve_every else {})}
    lines = [f'name = "{name}"', "[budget]", "steps = 8"]
    for section, values in [*((s, v) for s, v in TINY.items() if s != "eval"), ("eval", eval_)]:
        values = {**values, "prepared": str(tmp_path / "prep")} if section == "data" else values
        lines += [f"[base.{section}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]
    lines += ["[variants]", "base = {}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-cell grid with a learning curve, run straight through."""
    tmp_path = tmp_path_factory.mktemp("straight")
    outcome = run_grid(load_grid(_grid(tmp_path, "curvy")), tmp_path / "results", progress=False)
    assert (outcome.ran, outcome.failed) == (1, 0)
    return tmp_path / "results"


def _curve(results: Path) -> list[dict]:
    store = Store(results / DB_NAME)
    (cell,) = store.grid_cells("curvy")
    return store.curve(cell["hash"])


def test_points_are_stored_with_the_results(straight: Path) -> None:
    points = _curve(straight)
    assert [p["step"] for p in points] == [2, 4, 6, 8]
    assert points == read_curve(Store(straight / DB_NAME).grid_cells("curvy")[0]["run_dir"])


def test_an_interrupted_grid_resumes_with_identical_points_and_no_duplicates(
    tmp_path: Path, straight: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = CurveScorer.score

    def killed_after_step_6(self: CurveScorer, step: int, seconds: float, guide: dict | None = None) -> dict:
        point = original(self, step, seconds, guide)
        if step == 6:  # the point is written, the last checkpoint is at step 4: a kill here
            raise KeyboardInterrupt
        return point

    grid = load_grid(_grid(tmp_path, "curvy"))
    monkeypatch.setattr(CurveScorer, "score", killed_after_step_6)
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, tmp_path / "results", progress=False)
    run_dir = tmp_path / "results" / "runs" / grid.cells[0].hash
    assert [p["step"] for p in read_curve(run_dir)] == [2, 4, 6]
    monkeypatch.setattr(CurveScorer, "score", original)
    assert run_grid(grid, tmp_path / "results", progress=False).ran == 1
    resumed, reference = _curve(tmp_path / "results"), _curve(straight)
    assert [p["step"] for p in resumed] == [2, 4, 6, 8]  # 6 dropped with the lost steps and scored again, once
    assert [p["values"] for p in resumed] == [p["values"] for p in reference]  # bit-identical to a straight run


def test_at_ranks_with_the_curve_point_reached_in_time(straight: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, points = Store(straight / DB_NAME), _curve(straight)
    (row,), refs = build_rows(store, "curvy", At("steps", 5))
    assert row.mean("kid") == points[1]["values"]["kid"] and row.n == 20
    minutes = points[2]["train_seconds"] / 60
    (row,), _ = build_rows(store, "curvy", At("minutes", minutes))
    assert row.mean("kid") == points[2]["values"]["kid"]
    assert [r.n for r in refs] == [20, 20] and refs[0].name.startswith("floor")
    (final,), _ = build_rows(store, "curvy")
    assert final.metrics == ["kid"] and final.n == 20
    grid = str(Store(straight / DB_NAME).grids()[0]["path"])
    assert main(["benchmark", "--grid", grid, "--results", str(straight), "--table", "--json", "--at", "steps=3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["at"] == {"steps": 3.0} and data["rows"][0]["kid"] == points[0]["values"]["kid"]
    assert data["comparison"]["noise"]["n"] == 20  # the instrument's noise at the curve's n


def test_at_on_a_grid_without_curves_says_what_to_set(tmp_path: Path, straight: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = _grid(tmp_path, "flat", curve_every=None)
    store = Store(tmp_path / DB_NAME)
    store.register_grid(load_grid(path))
    with pytest.raises(UserError, match="no learning-curve points.*eval.curve_every"):
        build_rows(store, "flat", At("minutes", 1))
    assert main(["benchmark", "--grid", str(path), "--results", str(tmp_path), "--table", "--at", "minutes=1"]) == 2
    assert main(["benchmark", "--grid", str(path), "--results", str(tmp_path), "--table", "--at", "hours=1"]) == 2


def test_the_report_draws_the_curves_and_ranks_at_a_time(straight: Path, tmp_path: Path) -> None:
    from zoo.bench.report import build_report, write_report

    report = build_report(straight, get_registry(), grid="curvy")
    assert [c.file for c in report.curves] == ["curve-kid.png"]
    write_report(report, tmp_path / "report")
    markdown, html = (tmp_path / "report" / "report.md").read_text(), (tmp_path / "report" / "report.html").read_text()
    assert "## Learning curves" in markdown and "](img/curve-kid.png)" in markdown
    assert (tmp_path / "report" / "img" / "curve-kid.png").read_bytes()[:4] == b"\x89PNG"
    assert "<h2>Learning curves</h2>" in html and 'alt="kid learning curve"' in html
    assert main(["report", "--results", str(straight), "--out", str(tmp_path / "at"), "--at", "steps=5"]) == 0
    assert "learning-curve points at 5 steps of training" in (tmp_path / "at" / "report.md").read_text()
