"""Regenerate every generated block of README.md and docs/*.md from the results file it names.

A number in the docs comes from a committed file under ``benchmarks/results/`` that says where it was
measured (``provenance.py``: CPU model and flags, zoo's commit, torch, date). A block names its file
and what to render from it, and holds the rendered text:

    <!-- generated: benchmarks/results/default_grid.json grid_table -->
    | cell | overrides | ... |
    <!-- /generated -->

or inline, inside a sentence: ``took <!-- generated: benchmarks/results/default_grid.json wall -->14 min 2 s<!-- /generated -->``.
A block whose marker is followed by a line break is rendered between line breaks; an inline one stays
on its line. ``tests/test_docs_tables.py`` renders every block in memory and fails when one differs
from its file (no training, under a second).

    python benchmarks/docs_tables.py           # rewrite every stale block
    python benchmarks/docs_tables.py --check   # list the stale blocks, exit 1 if any
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import missing  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- generated: (?P<file>\S+) (?P<what>\w+)(?P<args>(?: [^ >]+)*) -->(?P<body>.*?)<!-- /generated -->", re.S)


def documents(root: Path = ROOT) -> list[Path]:
    """The files whose generated blocks this script keeps: the README and every page of docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


# -- what a results file renders to ---------------------------------------------------------------
def _grid(record: dict[str, Any]) -> tuple[Any, Any]:
    """(the report in memory, its comparison) of a grid's results file: the rows rebuilt from the per-seed
    values it recorded, the comparison from its ``--json``, so the text is the table's own (zoo report)."""
    from zoo.bench.report.build import Report
    from zoo.bench.row import Column, Row
    from zoo.bench.verdicts import comparison_from_dict

    table = record["table"]
    columns = tuple(Column(**c) for c in table["columns"])
    rows = []
    for r in table["rows"]:
        per_seed = {int(seed): values for seed, values in record["per_seed"][r["name"]].items()}
        row = Row(r["name"], r["overrides"], r["seeds"], r["status"], n=r["n"], per_seed=per_seed,
                  feature_identity=r.get("feature_identity"), error=r["error"])
        for values in per_seed.values():
            for key, value in values.items():
                row.values.setdefault(key, []).append(value)
        rows.append(row)
    refs = [Row(r["name"], {}, [], "reference", n=r["n"], values={c.key: [r[c.key]] for c in columns if r.get(c.key) is not None})
            for r in table["references"]]
    comparison = comparison_from_dict(table["comparison"], columns)
    grid = {"grid": table["grid"], "path": record["grid"], "description": "", "timings": record.get("timings")}
    return Report(grid, Path("results/zoo.db"), rows, refs, columns, comparison), comparison


def grid_table(record: dict[str, Any]) -> str:
    """The comparison table, how to read it and the verdicts over training, as ``zoo report`` writes them."""
    from zoo.bench.report.markdown import comparison_markdown

    return comparison_markdown(_grid(record)[0]).strip()


def grid_verdicts(record: dict[str, Any]) -> str:
    """One line per contrast: its difference, 95% CI and verdict (the table's ``vs`` column)."""
    from zoo.bench.verdicts import contrast_text

    report, comparison = _grid(record)
    return "\n".join(f"- `{row.name}`: {contrast_text(comparison, row)}" for row in report.rows
                     if row.name in comparison.contrasts)


def grid_timings(record: dict[str, Any]) -> str:
    """Where the grid's wall clock went (the report's timings), then the whole command's."""
    from zoo.bench.report.build import seconds, timing_rows

    out = ["| phase | time | share |", "|---|---:|---:|"]
    out += [f"| {label.replace('&nbsp;', '')} | {seconds(s)} | {share:.1%} |" for _, label, s, share in timing_rows(record["timings"])]
    return "\n".join(out)


def minutes(s: float) -> str:
    """A wall-clock duration as people say it: ``14 min 2 s``."""
    whole = round(s)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def wall(record: dict[str, Any]) -> str:
    """The whole command's wall clock, install included."""
    return minutes(record["wall_seconds"])


def machine(record: dict[str, Any]) -> str:
    """Where and when: CPU, zoo's kind (and the caps that emulate it), threads, load, torch, commit, date."""
    caps = " ".join(f"{k}={v}" for k, v in record.get("isa_caps", {}).items())
    load = record.get("load_average_during") or record.get("load_average")
    return (f"{record['cpu']} ({record['cpus']} CPUs, zoo kind `{record['cpu_kind']}`" + (f", capped: `{caps}`" if caps else "")
            + f"), torch {record['torch']}, zoo commit `{record['commit'][:10]}`, {record['date'][:16].replace('T', ' ')}, "
            f"load average {load_text(load)}")


def load_text(load: Any) -> str:
    if isinstance(load, dict):  # sampled during the run
        return f"{load['mean']:.1f} (from {load['min']:.1f} to {load['max']:.1f}, {load['samples']} samples of the 1-minute average)"
    return f"{load[0]:.1f} (1 min)"


def repro_table(record: dict[str, Any]) -> str:
    """The reproducibility check: per variant, both seed sets' differences and verdicts."""
    a, b = (",".join(map(str, s)) for s in record["seeds"])
    out = [f"| variant | seeds {a}: {record['primary'].upper()} vs base | seeds {b}: {record['primary'].upper()} vs base |",
           "|---|---|---|"]
    for v in record["variants"]:
        cells = [f"{v[k + '_diff']:+.3g}, **{v[k]}**" if v[k] != "no evidence" else f"{v[k + '_diff']:+.3g}, no evidence"
                 for k in ("a", "b")]
        out.append(f"| {v['variant']} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def repro_summary(record: dict[str, Any]) -> str:
    kinds = [sum(v[k] != "no evidence" for v in record["variants"]) for k in ("a", "b")]
    agree = sum(v["a"] == v["b"] for v in record["variants"])
    return (f"{record['contradictions']} contradictions; {agree} of {len(record['variants'])} verdicts identical; "
            f"resolved {kinds[0]} and {kinds[1]} of {len(record['variants'])}")


RENDERERS: dict[str, Callable[..., str]] = {f.__name__: f for f in (grid_table, grid_verdicts, grid_timings, wall, machine,
                                                                    repro_table, repro_summary)}


# -- the blocks ---------------------------------------------------------------------------------------
def load_record(path: Path) -> dict[str, Any]:
    record = json.loads(path.read_text())
    if lacks := missing(record):
        raise ValueError(f"{path}: lacks {', '.join(lacks)} (benchmarks/provenance.py): the docs may not quote it")
    return record


def render(match: re.Match, root: Path = ROOT) -> str:
    """The block of ``match`` with its text rendered from its file now."""
    if match["what"] not in RENDERERS:
        raise ValueError(f"unknown renderer '{match['what']}'; known: {', '.join(RENDERERS)}")
    text = RENDERERS[match["what"]](load_record(root / match["file"]), *match["args"].split())
    inline = not match["body"].startswith("\n")
    if inline and "\n" in text:
        raise ValueError(f"{match['what']} renders several lines: put its marker on a line of its own")
    body = text if inline else f"\n{text}\n"
    return f"<!-- generated: {match['file']} {match['what']}{match['args']} -->{body}<!-- /generated -->"


def regenerate(text: str, root: Path = ROOT) -> str:
    return MARKER.sub(lambda m: render(m, root), text)


def stale(root: Path = ROOT) -> list[str]:
    """``doc: file renderer`` of every block that differs from what its file renders."""
    out = []
    for doc in documents(root):
        for m in MARKER.finditer(doc.read_text()):
            if render(m, root) != m[0]:
                out.append(f"{doc.relative_to(root)}: {m['file']} {m['what']}{m['args']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the stale blocks (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        for line in (found := stale()):
            print(line)
        return 1 if found else 0
    for doc in documents():
        text = doc.read_text()
        if (new := regenerate(text)) != text:
            doc.write_text(new)
            print(f"rewrote {doc.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
