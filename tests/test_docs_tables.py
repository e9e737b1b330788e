"""Every generated block of README.md and docs/*.md says what its results file says (benchmarks/docs_tables.py):
rendered in memory from the committed file, no training, compared with the page."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


docs_tables = _load("docs_tables")


def blocks() -> list[tuple[Path, object]]:
    return [(doc, m) for doc in docs_tables.documents() for m in docs_tables.MARKER.finditer(doc.read_text())]


def test_the_docs_quote_their_results_files() -> None:
    found = blocks()
    assert found, "no generated block in the docs"
    stale = [f"{doc.relative_to(ROOT)}: {m['file']} {m['what']}" for doc, m in found if docs_tables.render(m) != m[0]]
    assert not stale, "run `python benchmarks/docs_tables.py`: stale blocks " + "; ".join(stale)


def test_every_quoted_file_says_where_it_was_measured() -> None:
    for _, m in blocks():
        record = docs_tables.read_record(ROOT / m["file"])
        assert not docs_tables.missing(record), m["file"]


def test_the_default_grid_s_table_verdicts_and_fid_are_quoted() -> None:
    quoted = {(doc.name, m["what"]) for doc, m in blocks()}
    assert {("benchmark.md", "grid_table"), ("benchmark.md", "grid_verdicts"), ("benchmark.md", "grid_fid"),
            ("benchmark.md", "candidates_table"), ("performance.md", "grid_timings")} <= quoted


def test_a_stale_block_is_rewritten_and_an_unknown_one_named(tmp_path: Path) -> None:
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    record = {"cpu": "CPU", "cpu_flags": ["avx2"], "cpu_kind": "avx2", "commit": "abc", "torch": "2", "date": "2026",
              "wall_seconds": 842.4}
    (results / "r.json").write_text(json.dumps(record))
    text = "took <!-- generated: benchmarks/results/r.json wall -->12 min 46 s<!-- /generated --> in all\n"
    assert docs_tables.regenerate(text, tmp_path) == text.replace("12 min 46 s", "14 min 2 s")
    block = "<!-- generated: benchmarks/results/r.json wall -->\nold\n<!-- /generated -->"
    assert docs_tables.regenerate(block, tmp_path) == block.replace("old", "14 min 2 s")
    with pytest.raises(ValueError, match="unknown renderer 'walls'"):
        docs_tables.regenerate(text.replace(" wall ", " walls "), tmp_path)
    del record["commit"]
    (results / "r.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="lacks commit"):
        docs_tables.regenerate(text, tmp_path)


def test_a_grid_record_renders_the_report_s_own_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The docs' table of a recorded grid is the one `zoo report` writes from the database: same rows, ±, verdicts,
    reading and verdicts over training, rebuilt from the --json output and the per-seed values alone."""
    from tests.fake_results import fake_grid
    from zoo.cli import main

    level = [50.0, 80.0, 65.0, 72.0]
    shift = {"base": 0.0, "worse": 30.0, "same": 0.5}

    def scores(variant: str, seed: int) -> dict[str, float]:
        return {"kid": level[seed] + shift[variant] + [0.3, -0.2, 0.1, -0.3][seed] * (variant != "base"), "fid": 90.0 + seed}

    def curve(variant: str, seed: int) -> dict[int, float]:
        return {step: level[seed] + shift[variant] + 100.0 / step for step in (100, 200, 300)}

    path, results, _ = fake_grid(tmp_path, list(shift), scores, seeds=4, curve=curve,
                                 extra='[compare]\nreference = "base"\nprimary = "kid"\nmargin = 3.0')
    assert main(["benchmark", "--grid", str(path), "--results", str(results), "--table", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    record = {"grid": str(path), **_load("default_grid").grid_record(table, results)}
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    rendered = docs_tables.grid_table(record)
    assert "| worse |" in rendered and "worse" in rendered and "### Verdicts over training" in rendered
    assert rendered in markdown
    assert docs_tables.grid_verdicts(record).splitlines()[0].startswith("- `worse`: +30")


def test_grid_steps_says_what_each_seed_s_cell_trained() -> None:
    """Under a minutes budget the steps differ by design and by seed: the docs list them beside the table."""
    record = {"cells": [{"variant": "vae", "seed": 1, "steps": 19000, "train_seconds": 960.0},
                        {"variant": "base", "seed": 0, "steps": 3221, "train_seconds": 960.0},
                        {"variant": "vae", "seed": 0, "steps": 18500, "train_seconds": 959.9}]}
    assert docs_tables.grid_steps(record).splitlines() == [
        "- `vae`: 18,500 / 19,000 steps in 16.0 / 16.0 min (seeds 0, 1)",
        "- `base`: 3,221 steps in 16.0 min (seeds 0)",
    ]


def test_recipe_probes_list_one_row_per_run_and_sampler_step_count() -> None:
    """The same weights at 10 and 20 sampler steps sit on adjacent rows, so the steps' effect reads off the page."""
    final = [{"steps": n, "fid": fid, "kid": 300.0, "recall": 0.7, "s_per_1000": n * 1.1} for n, fid in ((10, 148.1), (20, 126.23))]
    final.append({**final[1], "spacing": "logsnr"})
    record = {"runs": [{"run": "p2b16", "patch": 2, "batch_size": 16, "steps": 9394, "images_seen": 150304, "images_per_s": 158.0,
                        "final": final}]}
    assert docs_tables.recipe_probe_table(record).splitlines()[2:] == [
        "| p2b16 | 2 | 16 | 9,394 | 150,304 | 158 | 10 | 148.1 | 300.0 | 0.700 | 11.0 |",
        "| p2b16 | 2 | 16 | 9,394 | 150,304 | 158 | 20 | 126.2 | 300.0 | 0.700 | 22.0 |",
        "| p2b16 | 2 | 16 | 9,394 | 150,304 | 158 | 20 (logsnr) | 126.2 | 300.0 | 0.700 | 22.0 |",  # not the default spacing: named
    ]


def test_a_grid_record_keeps_each_cell_s_steps_and_learning_curve(tmp_path: Path) -> None:
    """The record carries what the table only summarises: the steps each cell trained and its curve's points."""
    from tests.fake_results import fake_grid, record

    _, _, store = fake_grid(tmp_path, ["base"], lambda v, s: {"kid": 50.0 + s, "fid": 90.0}, seeds=2,
                            curve=lambda v, s: {100: 70.0 + s, 200: 60.0 + s})
    for cell in store.grid_cells("fake"):
        trained = record({"kid": 50.0 + cell["seed"]})
        trained["train"] |= {"step": 200, "elapsed": 2.04}
        store.save_result(cell["hash"], cell["spec"], status="done", run_dir=cell["run_dir"], record=trained)
    cells = _load("default_grid").cell_training(store, "fake")
    assert [(c["seed"], c["steps"], c["train_seconds"]) for c in cells] == [(0, 200, 2.0), (1, 200, 2.0)]
    assert [(p["step"], p["kid"]) for p in cells[1]["curve"]] == [(100, 71.0), (200, 61.0)]


def test_a_reused_results_folder_names_the_cells_it_holds_and_the_grids_they_ran_in(tmp_path: Path) -> None:
    """``default_grid.py --reuse``: the record lists each cell not trained again with the grid and label it ran as,
    so a verdict built partly on another grid's cells says so; a cell that failed there is trained again."""
    from tests.fake_results import fake_grid

    _, results, store = fake_grid(tmp_path, ["base", "other"], lambda v, s: {"kid": 50.0 + s}, seeds=2)
    failed = store.grid_cells("fake")[-1]
    store.save_result(failed["hash"], failed["spec"], status="failed", run_dir=failed["run_dir"], error="boom")
    done = _load("default_grid").finished_cells(results)
    assert sorted(done.values()) == [["fake: base [seed 0]"], ["fake: base [seed 1]"], ["fake: other [seed 0]"]]
    assert failed["hash"] not in done


def test_the_reused_cells_are_listed_by_the_grid_they_ran_in() -> None:
    reused = [{"variant": v, "seed": s, "hash": f"{v}{s}", "ran_as": [f"other: {v} [seed {s}]"]} for v in ("base", "lin") for s in (6, 5)]
    assert docs_tables.grid_reused({"reused": reused}) == "- from `other`: `base` (seeds 5, 6); `lin` (seeds 5, 6)"
    assert docs_tables.grid_reused({}) == "- every cell trained in this run"


def test_noise_split_separates_the_draws_of_one_run_from_the_training_seed() -> None:
    """Two runs, two draws each: the draws' spread is the sampling noise; the runs' means spread by the
    training seed plus that noise's share of a mean (var(means) = var(training) + var(within) / draws)."""
    split = _load("quality/noise_split").split
    rows = [{"run": run, "kid": kid} for run, kids in (("a", (1.0, 3.0)), ("b", (5.0, 7.0))) for kid in kids]
    s = split(rows, "kid")
    assert (s["runs"], s["draws_per_run"], s["mean"]) == (2, 2, 4.0)
    assert s["within_sd"] == pytest.approx(2**0.5)  # each run's two draws: variance 2
    assert s["between_sd"] == pytest.approx(8**0.5)  # means 2 and 6
    assert s["training_sd"] == pytest.approx(7**0.5)  # 8 - 2 / 2
    assert docs_tables.noise_split({"split": {"kid": s}}).splitlines()[2] == "| KID | 2 x 2 | 4 | 1.4 | 2.8 | 2.6 |"


def test_noise_split_refuses_runs_drawn_once() -> None:
    """One draw per run cannot tell sampling noise from the seed: a clear exit, not a zero."""
    split = _load("quality/noise_split").split
    with pytest.raises(SystemExit, match="at least 2 draws"):
        split([{"run": "a", "kid": 1.0}, {"run": "b", "kid": 2.0}], "kid")


def test_guided_draws_with_other_sampler_options_are_lines_of_their_own() -> None:
    """autoguidance.py --options and --eps-scales: draws that differ only in a sampler option or the epsilon
    scaling are separate lines, each named by what differs; a draw scored twice counts once, and a row that drew
    the scale as a sampler option (before it was eval.eps_scale) is on the line of the setting's rows."""
    def row(seed: int, fid: float, eps_scale: float = 1.0, **options: str) -> dict:
        return {"run_step": 100, "weight": 2.0, "interval": [1.0, "inf"], "steps": 30, "sampler": "dpmpp_2m",
                "guide_step": 5, "seed_offset": seed, "fid": fid, "kid": 1.0, "recall": 0.5, "s_per_1000": 50.0,
                **({"options": options} if options else {}), **({"eps_scale": eps_scale} if eps_scale != 1 else {})}
    old = {**row(0, 28.0), "options": {"eps_scale": 0.99}}
    low = {**row(0, 27.0, eps_scale=0.99), "eps_max_sigma": 1.0}  # autoguidance.py --eps-max-sigma
    records = [{"rows": [row(0, 30.0), old, row(1, 32.0), row(1, 29.0, eps_scale=0.99), row(0, 31.0, spacing="logsnr"), low]},
               {"rows": [row(0, 30.0)]}]
    lines = docs_tables.guidance_draws_table(records).splitlines()[2:]
    assert lines == ["| 100 | 2 (guide: step 5) | (1, inf] | dpmpp_2m, 30 | 0, 1 | 30.0, 32.0 | 31.0 | 1.0 | 0.500 | 50 |",
                     "| 100 | 2 (guide: step 5) | (1, inf] | dpmpp_2m, 30, eps_scale 0.99 | 0, 1 | 28.0, 29.0 | 28.5 | 1.0 | 0.500 | 50 |",
                     "| 100 | 2 (guide: step 5) | (1, inf] | dpmpp_2m, 30, spacing logsnr | 0 | 31.0 | 31.0 | 1.0 | 0.500 | 50 |",
                     "| 100 | 2 (guide: step 5) | (1, inf] | dpmpp_2m, 30, eps_max_sigma 1, eps_scale 0.99 | 0 | 27.0 | 27.0 | 1.0 | 0.500 | 50 |"]
    from_file = {**row(0, 26.0, eta=0.5), "guide_step": None}  # autoguidance.py --guides FILE.safetensors, no step in its name
    assert docs_tables.guidance_draws_table([{"rows": [from_file]}]).splitlines()[2:] == [
        "| 100 | 2 (guide: a weights file) | (1, inf] | dpmpp_2m, 30, eta 0.5 | 0 | 26.0 | 26.0 | 1.0 | 0.500 | 50 |"]


def test_ema_lengths_are_lines_per_run_shortest_first_each_draw_once() -> None:
    def row(step: int, std: str, offset: int, fid: float, guide: str = "matched", guide_step: int = 5) -> dict:
        return {"run_step": step, "ema_std": std, "own": std == "0.1", "seed_offset": offset, "guide": guide,
                "guide_step": guide_step, "fid": fid, "kid": 2.0, "recall": 0.5}

    records = [{"rows": [row(100, "0.1", 0, 30.0), row(100, "0.25", 0, 40.0), row(100, "0.2", 0, 20.0), row(100, "raw", 0, 31.0),
                         row(100, "0.1", 1, 32.0), row(100, "0.2", 1, 22.0)]},
               {"rows": [row(200, "0.2", 0, 25.0), row(100, "0.2", 0, 20.0), row(100, "0.2", 0, 20.0, guide="own")]},
               {"rows": [row(100, "0.1", 0, 35.0, guide="at 0.1", guide_step=9), row(100, "0.1", 0, 34.0, guide="at 0.03", guide_step=2),
                         row(100, "0.1", 0, 90.0, guide="none")]}]  # fmt: skip
    lines = docs_tables.ema_lengths_table(records).splitlines()[2:]
    assert lines == ["| 100 | 0.1 (the spec's) | at 0.03 | 2 | 0 | 34.0 | 34.0 | 2.0 | 0.500 |",  # guides in the order they were kept
                     "| 100 | 0.1 (the spec's) | matched | 5 | 0, 1 | 30.0, 32.0 | 31.0 | 2.0 | 0.500 |",
                     "| 100 | 0.1 (the spec's) | none |  | 0 | 90.0 | 90.0 | 2.0 | 0.500 |",  # unguided: no guide's step
                     "| 100 | 0.1 (the spec's) | at 0.1 | 9 | 0 | 35.0 | 35.0 | 2.0 | 0.500 |",
                     "| 100 | 0.2 | matched | 5 | 0, 1 | 20.0, 22.0 | 21.0 | 2.0 | 0.500 |",
                     "| 100 | 0.2 | own | 5 | 0 | 20.0 | 20.0 | 2.0 | 0.500 |",
                     "| 100 | 0.25 | matched | 5 | 0 | 40.0 | 40.0 | 2.0 | 0.500 |",
                     "| 100 | raw | matched | 5 | 0 | 31.0 | 31.0 | 2.0 | 0.500 |",
                     "| 200 | 0.2 | matched | 5 | 0 | 25.0 | 25.0 | 2.0 | 0.500 |"]


@pytest.mark.parametrize("grid", ["emoji_patch", "emoji_minutes"])
def test_a_rejudged_results_file_is_what_rejudge_gives_from_its_source(grid: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """benchmarks/rejudge.py on the committed source gives the verdicts the committed record holds (docs quote it)."""
    record = json.loads((ROOT / "benchmarks" / "results" / f"{grid}_rejudged.json").read_text())
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # rejudge imports provenance as a script does
    rejudge = _load("rejudge")
    out = tmp_path / "again.json"
    monkeypatch.setattr(sys, "argv", ["rejudge.py", str(ROOT / record["source"]), "--also", ",".join(record["also"]),
                                      "--why", record["chosen_after_the_run"], "--out", str(out)])  # fmt: skip
    rejudge.main()
    again = json.loads(out.read_text())
    assert (again["headers"], again["lines"], again["reading"]) == (record["headers"], record["lines"], record["reading"])
