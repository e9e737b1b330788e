"""zoo report: the Markdown + self-contained HTML report of a grid, from a small fake results database."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image as PILImage

from zoo import get_registry
from zoo.bench.grid import Cell
from zoo.bench.report import build_report, chart_rows, default_out, timing_rows, write_report
from zoo.bench.runner import DB_NAME, reference_key
from zoo.bench.store import Store
from zoo.bench.table import COST_COLUMNS
from zoo.cli import main
from zoo.errors import UserError

METRICS = ["fid", "kid", "is", "diversity", "precision", "recall"]
EVAL = {"n": 40, "metrics": METRICS, "seed": 0}
DATA_HASH, FEATURE = "d" * 64, "digits"
DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
# label -> (name, seed, duplicate_of, fid or None for a failed cell)
CELLS = {
    "base [seed 0]": ("base", 0, None, 900.0),
    "base [seed 1]": ("base", 1, None, 910.0),
    "resnet [seed 0]": ("resnet", 0, None, 800.0),
    "resnet [seed 1]": ("resnet", 1, None, 820.0),
    "gelu [seed 0]": ("gelu", 0, "base [seed 0]", None),
    "gelu [seed 1]": ("gelu", 1, "base [seed 1]", None),
    "broken [seed 0]": ("broken", 0, None, None),
    "broken [seed 1]": ("broken", 1, None, None),
}
FINISHED = 4  # distinct runs that finished (the gelu cells are the base runs)
CHARTS = len(METRICS) + 1  # one bar chart per metric + the loss curves


def _scores(fid: float) -> dict[str, float]:
    return {"fid": fid, "kid": fid / 3, "kid_std": 5.0, "is": 2.0 + 100 / fid, "is_std": 0.1, "diversity": 30.0,
            "diversity_real": 50.0, "precision": 0.3, "recall": 0.2}


def _record(fid: float) -> dict:
    return {
        "train": {"parameters": 78_537, "flops_per_image": 4_120_576, "images_per_s": 300.0},
        "eval": {"data_hash": DATA_HASH, "feature": FEATURE,
                 "rows": [{"name": "samples", "n_fake": 40, "n_real": 180, "values": _scores(fid)}]},
        "sample_seconds_per_image": 0.01,
        "timings": {"train": 2.0, "train_steps": 1.5, "sample": 0.5, "evaluate": 0.2},
    }


def _write_run(run_dir: Path, shade: int, final_loss: float) -> None:
    run_dir.mkdir(parents=True)
    PILImage.new("L", (24, 16), color=shade).save(run_dir / "samples.png")
    lines = [{"step": s, "epoch": 0, "loss": final_loss * 4 / s, "lr": 1e-3, "images_per_s": 300.0, "elapsed": s / 10}
             for s in (1, 2, 4)]
    (run_dir / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def make_results(root: Path, *, grid: str = "tiny", finished: bool = True) -> Path:
    """A results folder as `zoo benchmark` leaves it: zoo.db, runs/<hash>/{samples.png, log.jsonl}, references."""
    results = root / "results"
    store = Store(results / DB_NAME)
    hashes = {label: f"{i:016x}" for i, label in enumerate(CELLS)}
    for label, (_, _, dup, _) in CELLS.items():
        if dup:
            hashes[label] = hashes[dup]
    cells = [Cell(name, name, {} if name == "base" else {"model.block": name}, seed, label, None, hashes[label], dup)
             for label, (name, seed, dup, _) in CELLS.items()]
    store.register_grid(SimpleNamespace(name=grid, path=f"grids/{grid}.toml", description="a tiny test grid", cells=cells))
    for i, (label, (name, _, dup, fid)) in enumerate(CELLS.items()):
        if dup:
            continue
        # the benchmark records run folders as it saw them; the report must find them under results/runs/
        run_dir = f"elsewhere/runs/{hashes[label]}"
        spec = {"eval": EVAL, "model": {"block": name}}
        if fid is None or not finished:
            store.save_result(hashes[label], spec, status="failed", run_dir=run_dir, error="RuntimeError: loss is NaN")
            continue
        _write_run(results / "runs" / hashes[label], shade=40 * i, final_loss=0.1 * (i + 1))
        store.save_result(hashes[label], spec, status="done", run_dir=run_dir, record=_record(fid))
    key = reference_key(DATA_HASH, FEATURE, EVAL["n"], METRICS, EVAL["seed"])
    store.save_references(key, grid, [
        {"name": "floor: real train vs real test", "n_fake": 40, "values": _scores(300.0)},
        {"name": "ceiling: uniform noise", "n_fake": 40, "values": _scores(1000.0)},
    ])
    store.set_timings(grid, {"prepare": 1.0, "references": 1.0, "train": 5.0, "train_steps": 4.0, "sample": 2.0,
                             "evaluate": 1.0, "total": 10.0})
    return results


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    results = make_results(tmp_path)
    out = tmp_path / "out"
    write_report(build_report(results, get_registry()), out)
    return out


def _rows(html: str) -> dict[str, list[tuple[str, str]]]:
    """HTML table row name -> [(td class, td inner html)]."""
    rows = {}
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S):
        tds = re.findall(r'<td class="([^"]*)">(.*?)</td>', tr, flags=re.S)
        if tds:
            rows[re.sub(r"<[^>]+>", "", tds[0][1])] = tds
    return rows


def test_report_writes_markdown_html_and_images(report_dir: Path) -> None:
    assert (report_dir / "report.md").is_file() and (report_dir / "report.html").is_file()
    images = sorted(p.name for p in (report_dir / "img").iterdir())
    assert len(images) == CHARTS + FINISHED
    assert {"fid.png", "kid.png", "is.png", "diversity.png", "precision.png", "recall.png", "loss.png"} <= set(images)
    assert all((report_dir / "img" / name).read_bytes().startswith(b"\x89PNG") for name in images)


def test_html_embeds_every_image_and_references_nothing_outside(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    embedded = [base64.b64decode(data) for data in DATA_URI.findall(html)]
    assert len(embedded) == CHARTS + FINISHED
    assert sorted(embedded) == sorted(p.read_bytes() for p in (report_dir / "img").iterdir())
    rest = DATA_URI.sub("", html)
    for external in ("http:", "https:", "//", "url(", "@import", "<script", "<link", 'src="img/'):
        assert external not in rest, external
    assert "a tiny test grid" in html and "grids/tiny.toml" in html  # the grid's description and path


def test_markdown_links_resolve_to_files_in_the_folder(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == CHARTS + FINISHED
    assert all(not Path(link).is_absolute() and (report_dir / link).is_file() for link in links)
    assert {Path(link).name for link in links} == {p.name for p in (report_dir / "img").iterdir()}


def test_failed_cells_and_duplicates_show_their_status(report_dir: Path) -> None:
    html, md = (report_dir / "report.html").read_text(), (report_dir / "report.md").read_text()
    rows = _rows(html)
    broken, gelu = rows["broken"][-1][1], rows["gelu"][-1][1]
    assert 'class="badge failed"' in broken and "RuntimeError: loss is NaN" in broken
    assert 'class="badge same"' in gelu and "base" in gelu
    # a row stands for all its seeds: its status says so
    assert "| failed (2 of 2 seeds): RuntimeError: loss is NaN |" in md and "| same as base |" in md
    assert "broken [seed 0]" in html.split("Failed cells", 1)[1]  # the full error of each failed cell


def test_best_fid_is_highlighted(report_dir: Path) -> None:
    fid = 2 + len(COST_COLUMNS) + METRICS.index("fid")
    rows = _rows((report_dir / "report.html").read_text())
    assert "best" in rows["resnet"][fid][0] and rows["resnet"][fid][1].startswith("810")
    assert "best" not in rows["base"][fid][0]
    assert "best" not in rows["floor: real train vs real test"][fid][0]  # references are not ranked
    md_resnet = next(line for line in (report_dir / "report.md").read_text().splitlines() if line.startswith("| resnet"))
    assert "**810 ± 127**" in md_resnet  # ± the 95% CI over 2 seeds (800, 820): t(0.975, 1) x 14.1 / sqrt(2)
    assert "-31.7 [-52.8, -10.5] no evidence" in md_resnet  # vs base: KID differences -100/3, -90/3; Holm over 2


def test_reference_rows_and_timings_are_shown(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert "floor: real train vs real test" in html and "ceiling: uniform noise" in html
    assert "n = 40 generated samples per score" in html
    assert "overhead" in html and "40.0%" in html  # 10 s total - 4 s of steps - 2 s of sampling


def test_the_dataset_and_the_credit_its_licence_asks_for_are_named(tmp_path: Path) -> None:
    results = make_results(tmp_path)
    credit = "All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0"
    record = _record(900.0)
    record["eval"].update(dataset="emoji", attribution=credit)  # what zoo.metrics.evaluate records
    Store(results / DB_NAME).save_result(f"{0:016x}", {"eval": EVAL, "model": {"block": "base"}}, status="done",
                                         run_dir="elsewhere", record=record)
    out = tmp_path / "out"
    write_report(build_report(results, get_registry()), out)
    assert f"Data: emoji ({credit})" in (out / "report.md").read_text()
    assert f'<div class="meta">data: emoji ({credit})</div>' in (out / "report.html").read_text()


def test_timing_rows_overhead_is_what_is_not_steps_or_sampling() -> None:
    rows = {k: (s, share) for k, _, s, share in timing_rows({"train_steps": 3.0, "sample": 1.0, "total": 8.0})}
    assert rows["overhead"] == (4.0, 0.5) and rows["total"] == (8.0, 1.0)
    assert timing_rows(None) == []


def test_timing_rows_of_cells_in_parallel_are_shares_of_the_work() -> None:
    """Two cells at a time: the phases summed over cells exceed the wall clock; no share passes 100%."""
    timings = {"prepare": 1.0, "train": 14.0, "train_steps": 12.0, "sample": 2.0, "evaluate": 3.0, "total": 10.0}
    rows = {k: (label, s, share) for k, label, s, share in timing_rows(timings)}
    assert max(share for _, _, share in rows.values()) <= 1.0
    assert rows["overhead"][1:] == (6.0, 0.3)  # 20 s of work, 12 of steps and 2 of sampling
    assert rows["total"][1:] == (10.0, 0.5) and "2.00 cells' work at a time" in rows["total"][0]


def test_charts_skip_duplicates_and_failures(tmp_path: Path) -> None:
    report = build_report(make_results(tmp_path), get_registry())
    assert [r.name for r in chart_rows(report.rows, "fid")] == ["base", "resnet"]
    assert build_report(tmp_path / "results", get_registry(), sort="fid").rows[0].name == "resnet"


def test_writing_again_replaces_the_report_and_never_a_foreign_folder(tmp_path: Path) -> None:
    results = make_results(tmp_path)
    out = tmp_path / "out"
    write_report(build_report(results, get_registry()), out)
    (out / "img" / "stale.png").write_bytes(b"old")
    write_report(build_report(results, get_registry()), out)
    assert not (out / "img" / "stale.png").exists() and (out / "report.html").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
    with pytest.raises(UserError, match="not a zoo report folder"):
        write_report(build_report(results, get_registry()), results)
    assert (results / DB_NAME).is_file()


def test_cli_default_grid_and_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = make_results(tmp_path)
    assert main(["report", "--results", str(results)]) == 0
    out = default_out(results, "tiny")
    assert out == results / "report" / "tiny" and (out / "report.html").is_file()
    assert str(out / "report.md") in capsys.readouterr().out


def test_cli_unknown_grid_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = make_results(tmp_path)
    assert main(["report", "--results", str(results), "--grid", "tinny"]) == 2
    assert "did you mean 'tiny'" in capsys.readouterr().err


def test_cli_missing_database_exits_2_without_creating_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--results", str(tmp_path / "nowhere")]) == 2
    assert "zoo benchmark --grid FILE" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_grid_without_finished_cell_says_what_to_do(tmp_path: Path) -> None:
    results = make_results(tmp_path, finished=False)
    with pytest.raises(UserError, match=r"no finished cell.*zoo benchmark --grid grids/tiny.toml"):
        build_report(results, get_registry())
