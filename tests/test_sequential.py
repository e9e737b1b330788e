"""``zoo benchmark --until-resolved``: rounds of paired seeds for the undecided contrasts only, through
the real runner (which skips finished cells) with an executor that scores cells without training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import zoo.bench.executors
import zoo.bench.runner
import zoo.data.prepare
from tests.fake_results import grid_file, record
from zoo.bench.grid import load_grid
from zoo.bench.runner import DB_NAME
from zoo.bench.store import Store
from zoo.cli import main

LEVEL = [50.0, 80.0, 65.0, 72.0, 58.0, 61.0, 77.0, 69.0]  # seed k's level, shared by every variant
EFFECT = {"base": 0.0, "clear": -10.0, "slow": -2.0, "null": 0.0}
JITTER = {  # variant - base at seed k, around the effect
    "base": [0.0] * 8,
    "clear": [0.3, -0.2, 0.1, -0.3, 0.2, -0.1, 0.0, 0.1],  # better at the first look
    "slow": [1.0, -1.0, 0.9, -0.9, 0.0, 0.0, 0.0, 0.0],  # too spread at 4 seeds, better at 6
    "null": [2.0, -2.0, 1.5, -1.5, 2.0, -2.0, 1.5, -1.5],  # nothing, and too spread for equivalence (margin 1)
}


class ScoringExecutor:
    """Runs no cell: scores each (variant, seed) as above and counts the cells it was given."""

    def __init__(self, path: Path) -> None:
        full = load_grid(path, seeds=list(range(8)))
        self.cells = {c.hash: (c.variant, c.seed) for c in full.cells}
        self.ran: list[tuple[str, int]] = []

    def run(self, jobs, progress=None):  # noqa: ANN001, ANN201
        for key, _, _ in jobs:
            variant, seed = self.cells[key]
            self.ran.append((variant, seed))
            kid = LEVEL[seed] + EFFECT[variant] + JITTER[variant][seed]
            yield key, {"status": "done", "record": record({"kid": kid, "fid": 2 * kid}), "curve": []}


@pytest.fixture
def grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, ScoringExecutor]:
    path = grid_file(tmp_path, list(EFFECT), seeds=4, metrics=["fid", "kid"], extra='[compare]\nmargin = 1.0')
    executor = ScoringExecutor(path)
    monkeypatch.setattr(zoo.bench.executors, "LocalExecutor", lambda *a, **k: executor)
    monkeypatch.setattr(zoo.bench.runner, "compute_references", lambda store, grid: None)  # no instrument needed
    monkeypatch.setattr(zoo.data.prepare, "prepare", lambda *a, **k: None)
    return path, tmp_path / "results", executor


def _verdicts(out: str) -> dict[str, tuple[str, int]]:
    return {c["name"]: (c["verdict"], c["pairs"]) for c in json.loads(out)["comparison"]["contrasts"]}


def test_seeds_are_added_to_undecided_contrasts_until_resolved(grid: tuple, capsys: pytest.CaptureFixture) -> None:
    path, results, executor = grid
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--until-resolved", "--json",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert _verdicts(captured.out) == {"clear": ("better", 4), "slow": ("better", 6), "null": ("no evidence", 8)}
    comparison = json.loads(captured.out)["comparison"]
    assert comparison["sequential"] == {"seeds": list(range(8)), "looks": [4, 6, 8]}
    assert next(c for c in comparison["contrasts"] if c["name"] == "slow")["look"] == 6
    err = " ".join(captured.err.split())
    assert "looks at 4, 6, 8 pairs, each at alpha 0.0167 (5% / 3 looks)" in err
    assert "round 1 (4 seeds; ran 16, skipped 0, failed 0): better: clear · no evidence: slow, null" in err
    assert "round 2: 6 seeds for slow, null and their reference base" in err
    assert "round 2 (6 seeds; ran 6, skipped 16, failed 0): better: clear, slow · no evidence: null" in err
    assert "round 3: 8 seeds for null and their reference base" in err and "--max-seeds 8 reached: null undecided" in err
    # the new seeds are the same numbers for a variant and its reference (paired), and nothing ran twice
    seeds = {v: sorted(s for w, s in executor.ran if w == v) for v in EFFECT}
    assert seeds == {"base": list(range(8)), "clear": [0, 1, 2, 3], "slow": list(range(6)), "null": list(range(8))}
    assert len(executor.ran) == len(set(executor.ran)) == 26
    # the database keeps the sequential grid: --table judges it the same way
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table", "--json"]) == 0
    assert _verdicts(capsys.readouterr().out) == _verdicts(captured.out)


def test_a_resolved_grid_takes_one_round_and_a_plain_run_forgets_the_rounds(grid: tuple,
                                                                            capsys: pytest.CaptureFixture) -> None:
    path, results, executor = grid
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--until-resolved", "--max-seeds", "6",
                 "--seeds-per-round", "2", "--no-progress", "--json"]) == 0
    assert _verdicts(capsys.readouterr().out)["slow"] == ("better", 6)
    # the plain grid: its own 4 seeds, one look at 5%, the cells already done
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--json", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["comparison"]["sequential"] is None and _verdicts(out)["slow"] == ("no evidence", 4)
    assert len(Store(results / DB_NAME).grid_cells("fake")) == 16 and len(executor.ran) == 16 + 6 + 0


@pytest.mark.parametrize(("args", "message"), [
    (["--until-resolved", "--table"], "--until-resolved runs cells and --table only shows the database"),
    (["--max-seeds", "8"], "--max-seeds and --seeds-per-round go with --until-resolved"),
    (["--seeds-per-round", "2"], "--max-seeds and --seeds-per-round go with --until-resolved"),
    (["--until-resolved", "--max-seeds", "4"], "--max-seeds 4 adds no seed: grid 'fake' already has 4"),
    (["--until-resolved", "--seeds-per-round", "0"], "--seeds-per-round must be at least 1"),
])
def test_until_resolved_mistakes_are_one_line(grid: tuple, capsys: pytest.CaptureFixture, args: list[str],
                                              message: str) -> None:
    path, results, executor = grid
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err and executor.ran == []


def test_rounds_after_a_printed_table_say_what_the_error_rate_then_is(grid: tuple,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """A plain run that ended printed verdicts at 5%: rounds added afterwards are told apart, in the run's
    messages, the stored plan (so a resumed or re-read grid says it too) and the lines under the table."""
    path, results, executor = grid
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--json", "--no-progress"]) == 0
    assert _verdicts(capsys.readouterr().out)["slow"] == ("no evidence", 4)
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--until-resolved", "--json",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["comparison"]["sequential"]["after_fixed_look"] is True
    assert "already ran to its end on its own seeds and printed verdicts at 5%" in " ".join(captured.err.split())
    assert _verdicts(captured.out)["slow"] == ("better", 6) and len(executor.ran) == 16 + 6 + 4
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table"]) == 0
    table = " ".join(capsys.readouterr().out.split())
    assert "that table and this one together hold at 10%" in table


def test_rounds_from_the_start_or_after_an_unfinished_run_carry_no_such_line(grid: tuple,
                                                                             capsys: pytest.CaptureFixture) -> None:
    path, results, executor = grid
    from zoo.bench.sequential import after_fixed_look

    assert not after_fixed_look(results, load_grid(path))  # no database yet
    store = Store(results / DB_NAME)
    store.register_grid(load_grid(path))  # a plain run stopped before any cell finished: no table was printed
    assert not after_fixed_look(results, load_grid(path))
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--until-resolved", "--json",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "after_fixed_look" not in json.loads(captured.out)["comparison"]["sequential"]
    assert "printed verdicts at 5%" not in captured.err
    # the finished sequential grid, looked at again with --until-resolved (nothing left to run), is not a fixed one
    assert not after_fixed_look(results, load_grid(path))
