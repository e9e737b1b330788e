"""Verdicts that know their budget: each contrast judged at every learning-curve point, since when its
verdict has held, and which cells were still learning when training stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_results import curve_points, fake_grid
from zoo import get_registry
from zoo.bench.history import trend
from zoo.cli import main
from zoo.contract import MetricColumn

LEVEL = [50.0, 80.0, 65.0, 72.0]  # what seed k gives every variant (paired seeds)
WIGGLE = {100: 0.2, 200: 0.3, 300: -0.6, 400: 0.3}  # scoring noise of a point: no slope over 200-400
SHAPE = {  # variant -> KID at each step, before the seed's level and noise
    "base": {100: 60.0, 200: 40.0, 300: 30.0, 400: 25.0},  # still falling at the end
    "late": {100: 60.0, 200: 40.0, 300: 25.0, 400: 20.0},  # as base until 200, then 5 lower
    "flat": {100: 33.0, 200: 33.0, 300: 33.0, 400: 33.0},  # learnt early, then nothing: better, then worse
}
FINAL = {"base": 0.0, "late": -5.0, "flat": 8.0}


def _curve(variant: str, seed: int) -> dict[int, float]:
    amplitude = 1 + 0.1 * (seed + 1) * (-1) ** (seed + list(SHAPE).index(variant))  # paired noise of either sign
    return {step: LEVEL[seed] + kid + amplitude * WIGGLE[step] for step, kid in SHAPE[variant].items()}


def _scores(variant: str, seed: int) -> dict[str, float]:
    jitter = [0.3, -0.2, 0.1, -0.3][seed] * (variant != "base")
    return {"kid": LEVEL[seed] + 25.0 + FINAL[variant] + jitter, "fid": 100.0}


@pytest.fixture
def grid(tmp_path: Path) -> tuple[Path, Path]:
    path, results, _ = fake_grid(tmp_path, list(SHAPE), _scores, seeds=4, curve=_curve,
                                 extra='[compare]\nreference = "base"\nprimary = "kid"\nmargin = 3.0')
    return path, results


def _json(path: Path, results: Path, capsys: pytest.CaptureFixture, *extra: str) -> dict:
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_contrast_is_judged_at_every_curve_point(grid: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    data = _json(*grid, capsys)
    contrasts = {c["name"]: c for c in data["comparison"]["contrasts"]}
    late, flat = contrasts["late"], contrasts["flat"]
    assert [h["step"] for h in late["history"]] == [100, 200, 300, 400]
    assert [h["verdict"] for h in late["history"]] == ["equivalent", "equivalent", "better", "better"]
    assert (late["verdict"], late["held_since"], late["before"]) == ("better", 300, "equivalent")
    assert [h["verdict"] for h in flat["history"]] == ["better", "better", "worse", "worse"]
    assert flat["history"][0]["difference"] == pytest.approx(33.0 - 60.0, abs=0.5) and flat["history"][0]["ci_low"] < 0
    assert (flat["verdict"], flat["held_since"]) == ("worse", 300)
    assert data["comparison"]["margin"] == 3.0 and data["comparison"]["margin_source"] == "the grid's compare.margin"


def test_cells_still_learning_are_marked_and_their_verdicts_say_so(grid: tuple[Path, Path],
                                                                   capsys: pytest.CaptureFixture) -> None:
    data = _json(*grid, capsys)
    rows = {r["name"]: r["still_learning"] for r in data["rows"]}
    assert rows == {"base": True, "late": True, "flat": False}
    learning = data["comparison"]["learning"]
    assert learning["base"]["slope"] == pytest.approx(-0.075) and learning["base"]["ci_high"] < 0
    assert (learning["base"]["from_step"], learning["base"]["to_step"], learning["base"]["points"]) == (200, 400, 12)
    assert learning["flat"]["slope"] == pytest.approx(0.0, abs=1e-9) and learning["flat"]["ci_low"] < 0
    contrasts = {c["name"]: c["still_learning"] for c in data["comparison"]["contrasts"]}
    assert contrasts == {"late": ["late", "base"], "flat": ["base"]}
    path, results = grid
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table"]) == 0
    table = capsys.readouterr().out
    assert "-5.03 [-5.46, -4.59] better (still learning)" in table and "worse (still learning)" in table
    assert "better since step 300 (was equivalent)" in table and "worse since step 300 (was better)" in table
    assert "done · still learning" in table and "verdict by curve step" in table
    from zoo.bench.history import attach
    from zoo.bench.store import Store
    from zoo.bench.table import build_rows, table_columns
    from zoo.bench.verdicts import comparison_of
    from zoo.bench.wording import contrast_text, since_text

    store = Store(results / "zoo.db")
    rows, _ = build_rows(store, "fake")
    columns = table_columns(rows, get_registry())
    comparison = attach(comparison_of(store, "fake", rows, columns), store, "fake", columns)
    assert contrast_text(comparison, rows[1]) == "-5.03 [-5.46, -4.59] better (still learning)"
    assert since_text(comparison, "late") == "better since step 300 (was equivalent)"
    assert comparison.learning_in("late") == ["late", "base"] and comparison.learning_in("flat") == ["base"]
    assert "equivalent 100-200 · better 300-400" in table and "better 100-200 · worse 300-400" in table


def test_at_a_time_judges_the_curves_up_to_it(grid: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    data = _json(*grid, capsys, "--at", "steps=250")
    late = next(c for c in data["comparison"]["contrasts"] if c["name"] == "late")
    assert [h["step"] for h in late["history"]] == [100, 200] and late["verdict"] == "equivalent"
    assert late["held_since"] == 100 and late["before"] is None
    # at step 250 the window is each seed's points 100-200: base (and late, the same until then) falling, flat not
    assert {r["name"]: r["still_learning"] for r in data["rows"]} == {"base": True, "late": True, "flat": False}
    assert data["comparison"]["learning"]["base"]["slope"] == pytest.approx(-0.2, abs=0.01)


def test_the_report_shows_the_verdicts_over_training(grid: tuple[Path, Path], tmp_path: Path) -> None:
    _, results = grid
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "report.html").read_text()
    assert "### Verdicts over training" in markdown
    assert "| late | equivalent 100-200 · better 300-400 | better since step 300 (was equivalent) | late, base |" in markdown
    assert "better (still learning)" in markdown and "done · still learning" in markdown
    assert "<h3>Verdicts over training</h3>" in html and "still learning</div>" in html


def test_a_grid_whose_curves_lack_the_primary_metric_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, results, _ = fake_grid(tmp_path, list(SHAPE), _scores, seeds=4, curve=_curve,
                                 extra='[compare]\nprimary = "fid"')
    data = _json(path, results, capsys)
    assert "do not score fid" in data["comparison"]["curve_note"]
    assert all(c["history"] == [] and c["held_since"] is None for c in data["comparison"]["contrasts"])


def test_trend_follows_the_metric_direction_and_needs_two_points() -> None:
    rising = [curve_points({100: 0.5, 200: 0.6, 300: 0.701, 400: 0.8})]
    for points in rising:
        for p in points:
            p["values"] = {"acc": p["values"]["kid"]}
    assert trend(rising, MetricColumn("acc", better="high")).still_learning
    assert not trend(rising, MetricColumn("acc", better="low")).still_learning  # rising is worse there
    assert trend([curve_points({100: 1.0})], MetricColumn("kid", better="low")) is None


CLOCK = {  # variant -> (train seconds, KID) of its curve points: "quick" takes a fifth of base's time per step
    "base": [(100, 55.0, 60.0), (200, 110.0, 40.0), (300, 181.0, 30.0)],  # (step, seconds, KID); the last past 3 minutes
    "quick": [(500, 30.0, 48.0), (1000, 60.0, 45.0), (1500, 90.0, 45.0), (2000, 120.0, 45.0), (2500, 150.0, 45.0),
              (3000, 180.4, 45.0)],
}


@pytest.fixture
def clock_grid(tmp_path: Path) -> tuple[Path, Path]:
    """A grid on a 3-minute budget whose two variants take different steps: quick is ahead at minute 1, behind
    from minute 2; by step they never meet (base's points are at steps 100-300, quick's from 500)."""
    from zoo.bench.grid import load_grid

    def scores(variant: str, seed: int) -> dict[str, float]:
        return {"kid": LEVEL[seed] + CLOCK[variant][-1][2] + [0.3, -0.2, 0.1, -0.3][seed] * (variant != "base"), "fid": 1.0}

    path, results, store = fake_grid(tmp_path, list(CLOCK), scores, seeds=4, budget="minutes = 3",
                                     extra='[compare]\nreference = "base"\nprimary = "kid"\nmargin = 3.0')
    for cell in load_grid(path).unique():
        wiggle = [0.2, -0.3, 0.1, -0.1][cell.seed] * (cell.variant != "base")  # paired noise, well inside the gaps
        store.save_curve(cell.hash, [{"step": step, "train_seconds": seconds, "score_seconds": 0.1, "n": 20,
                                      "values": {"kid": LEVEL[cell.seed] + kid + wiggle}}
                                     for step, seconds, kid in CLOCK[cell.variant]])  # fmt: skip
    return path, results


def test_a_minutes_budget_is_judged_on_the_clock_not_by_step(clock_grid: tuple[Path, Path],
                                                             capsys: pytest.CaptureFixture) -> None:
    data = _json(*clock_grid, capsys)
    quick = next(c for c in data["comparison"]["contrasts"] if c["name"] == "quick")
    assert data["comparison"]["history_axis"] == "minutes"
    # minute 1: base's point at 55 s (60) against quick's at 60 s (45); minute 2: 40 against 45; the end (3): 30 against 45
    assert [h["minutes"] for h in quick["history"]] == [1, 2, 3]
    assert [h["verdict"] for h in quick["history"]] == ["better", "worse", "worse"]
    assert quick["history"][0]["difference"] == pytest.approx(-15.0, abs=0.5)
    assert (quick["held_since"], quick["before"]) == (2, "better")
    path, results = clock_grid
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table"]) == 0
    table = capsys.readouterr().out
    assert "verdict by minute of training" in table and "better 1 · worse 2-3" in table
    assert "worse since minute 2 (was better)" in table and "every whole minute of training" in table


def test_a_minutes_budget_read_at_a_time_ends_there(clock_grid: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    data = _json(*clock_grid, capsys, "--at", "minutes=1.5")
    quick = next(c for c in data["comparison"]["contrasts"] if c["name"] == "quick")
    assert [(h["minutes"], h["verdict"]) for h in quick["history"]] == [(1, "better"), (1.5, "better")]


def test_the_clock_history_survives_the_json_and_the_report(clock_grid: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    from zoo.bench.table import table_columns
    from zoo.bench.verdicts import comparison_from_dict
    from zoo.bench.wording import history_headers, history_lines

    data = _json(*clock_grid, capsys)
    columns = table_columns([], get_registry()) + (MetricColumn("kid", better="low"),)
    again = comparison_from_dict(data["comparison"], columns)
    assert again.history_axis == "minutes" and again.history["quick"][1][0] == 2
    assert history_lines(again)[0][1:3] == ("better 1 · worse 2-3", "worse since minute 2 (was better)")
    assert history_headers(again)[1] == "verdict by minute of training"
    assert main(["report", "--results", str(clock_grid[1]), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| quick | better 1 · worse 2-3 | worse since minute 2 (was better) | base |" in markdown
    assert "| cell | verdict by minute of training | since | still learning |" in markdown


def test_a_minutes_budget_read_at_a_step_ends_at_that_steps_minute(clock_grid: tuple[Path, Path],
                                                                   capsys: pytest.CaptureFixture) -> None:
    from zoo.bench.history import clock_budget, marks
    from zoo.curves.compare import At

    data = _json(*clock_grid, capsys, "--at", "steps=1000")  # quick's points by step 1000 end at 60 s, base's at 181 s
    quick = next(c for c in data["comparison"]["contrasts"] if c["name"] == "quick")
    assert [(h["minutes"], h["verdict"]) for h in quick["history"]] == [(1, "better"), (2, "worse"), (3, "worse")]
    cells = [{"spec": {"train": {"minutes": 3.0}}}]
    curves = {"a": [{"step": 100, "train_seconds": 55.0}, {"step": 200, "train_seconds": 110.0}]}  # within steps=200
    assert [m for m, _ in marks(clock_budget(cells), curves, At("steps", 200))] == [1, 1.8]
    assert [m for m, _ in marks(clock_budget(cells), curves, None)] == [1, 2, 3]
    mixed = clock_budget([*cells, {"spec": {"train": {"minutes": None}}}])
    assert [m for m, _ in marks(mixed, curves, None)] == [100, 200]
