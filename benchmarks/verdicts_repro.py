"""Are the default grid's verdicts reproducible? Runs a grid twice with disjoint seed sets (by default
seeds 0-3, then 4-7: the default grid's count) and reports, variant by variant, both verdicts against the reference and whether
any contradicts (one run says ``better``, the other ``worse``). With Holm at 5% per run, a
contradiction should essentially never happen; ``no evidence`` in one run and a verdict in the other
is a power question, not a contradiction.

    python benchmarks/verdicts_repro.py [--grid benchmarks/grids/default.toml] [--results results-repro]
    python benchmarks/verdicts_repro.py --from benchmarks/results/default_grid.json \
        benchmarks/results/default_grid_seeds4-7.json --out benchmarks/results/verdicts_repro.json

Not a unit test: it trains every cell twice (about 2x the grid's duration). The grid's step budget
makes its numbers independent of the machine's load. Writes ``RESULTS/verdicts_repro.json``. With
``--from``, compares two runs already recorded by ``default_grid.py`` (two seed sets, or one grid on
two CPU kinds) and writes ``--out`` with both runs' provenance, for the docs (``docs_tables.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grid_with_seeds(grid: Path, seeds: list[int], out: Path) -> Path:
    """A copy of ``grid`` with other seeds (same name: one grid per seed set in its own results folder)."""
    text = grid.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("seeds")]
    data = tomllib.loads(text)
    assert "seeds" in data, f"{grid} has no top-level seeds line"
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    lines.insert(first_table, f"seeds = {seeds}")
    out.write_text("\n".join(lines) + "\n")
    return out


def start(grid: Path, results: Path, jobs: int) -> subprocess.Popen:
    """``zoo benchmark --json`` of the grid, started (its output is read by :func:`finish`)."""
    command = [sys.executable, "-m", "zoo", "benchmark", "--grid", str(grid), "--results", str(results), "--json",
               "--no-progress", "--jobs", str(jobs)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate()
    if process.returncode not in (0, 1):
        sys.exit(f"zoo benchmark failed:\n{err}")
    return json.loads(out)


def contradictions(a: dict, b: dict) -> tuple[list[dict], int]:
    """One line per variant with both verdicts, and how many contradict."""
    verdicts_b = {c["name"]: c for c in b["comparison"]["contrasts"]}
    lines, count = [], 0
    for c in a["comparison"]["contrasts"]:
        other = verdicts_b.get(c["name"], {"verdict": "-"})
        clash = {c["verdict"], other["verdict"]} == {"better", "worse"}
        count += clash
        lines.append({"variant": c["name"], "a": c["verdict"], "a_diff": c["difference"], "a_ci": [c["ci_low"], c["ci_high"]],
                      "b": other["verdict"], "b_diff": other.get("difference"),
                      "b_ci": [other.get("ci_low"), other.get("ci_high")], "contradiction": clash})
    return lines, count


def from_records(paths: list[Path], out: Path) -> int:
    """Compare two runs recorded by ``default_grid.py``; the record keeps the first run's provenance
    (and both runs' CPU kind, caps, commit and date)."""
    records = [json.loads(p.read_text()) for p in paths]
    lines, count = contradictions(*(r["table"] for r in records))
    runs = [{"file": str(p.relative_to(ROOT)) if p.is_absolute() and ROOT in p.parents else str(p),
             **{k: r.get(k) for k in ("cpu_kind", "isa_caps", "commit", "date", "seeds")}} for p, r in zip(paths, records)]
    record = {**{k: v for k, v in records[0].items() if k in ("cpu", "cpu_flags", "cpu_kind", "cpus", "commit", "torch", "date")},
              "runs": runs, "seeds": [r.get("seeds") or sorted({s for row in r["table"]["rows"] for s in row["seeds"]}) for r in records],
              "primary": records[0]["table"]["comparison"]["primary"], "variants": lines, "contradictions": count,
              "resolved": [sum(line[k] != "no evidence" for line in lines) for k in ("a", "b")]}
    out.write_text(json.dumps(record, indent=1) + "\n")
    for line in lines:
        print(f"{line['variant']:<20} {line['a_diff']:+.3g} {line['a']:<12} {line['b_diff']:+.3g} {line['b']}")
    print(f"contradictions: {count}; wrote {out}")
    return 1 if count else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=Path, default=ROOT / "benchmarks" / "grids" / "default.toml")
    parser.add_argument("--from", dest="records", type=Path, nargs=2, metavar="RECORD",
                        help="compare two runs recorded by default_grid.py instead of running the grid")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "verdicts_repro.json",
                        help="with --from: the results file to write")
    parser.add_argument("--results", type=Path, default=Path("results-repro"))
    parser.add_argument("--seeds", default="0,1,2,3/4,5,6,7", help="the two disjoint seed sets, 'a,b,c,d/e,f,g,h'")
    parser.add_argument("--jobs", type=int, default=1, help="cells in parallel within each run")
    parser.add_argument("--parallel", action="store_true", help="run the two seed sets at the same time")
    args = parser.parse_args()
    if args.records:
        return from_records([p.resolve() for p in args.records], args.out)
    sets = [[int(s) for s in part.split(",")] for part in args.seeds.split("/")]
    if len(sets) != 2 or set(sets[0]) & set(sets[1]):
        sys.exit("--seeds takes two disjoint comma-separated sets, e.g. 0,1,2,3/4,5,6,7")
    args.results.mkdir(parents=True, exist_ok=True)
    began, outputs = time.perf_counter(), []
    grids = [grid_with_seeds(args.grid, seeds, args.results / f"grid-{i}.toml") for i, seeds in enumerate(sets)]
    if args.parallel:
        processes = [start(grid, args.results / f"seeds-{i}", args.jobs) for i, grid in enumerate(grids)]
        outputs = [finish(p) for p in processes]
    else:
        outputs = [finish(start(grid, args.results / f"seeds-{i}", args.jobs)) for i, grid in enumerate(grids)]
    print(f"both runs: {(time.perf_counter() - began) / 60:.1f} min (wall clock, this machine's load)", flush=True)
    lines, count = contradictions(*outputs)
    primary = outputs[0]["comparison"]["primary"]
    print(f"\n{'variant':<20} {'seeds ' + ','.join(map(str, sets[0])):>34} {'seeds ' + ','.join(map(str, sets[1])):>34}")
    for line in lines:
        a = f"{line['a_diff']:+.3g} {line['a']}" if line["a_diff"] is not None else line["a"]
        b = f"{line['b_diff']:+.3g} {line['b']}" if line["b_diff"] is not None else line["b"]
        print(f"{line['variant']:<20} {a:>34} {b:>34}{'   CONTRADICTION' if line['contradiction'] else ''}")
    resolved = [sum(line[k] in ("better", "worse") for line in lines) for k in ("a", "b")]
    print(f"\nprimary metric {primary}; resolved verdicts: {resolved[0]} and {resolved[1]} of {len(lines)}; "
          f"contradictions: {count}")
    (args.results / "verdicts_repro.json").write_text(json.dumps(
        {"grid": str(args.grid), "seeds": sets, "primary": primary, "variants": lines, "contradictions": count,
         "resolved": resolved}, indent=2) + "\n")
    return 1 if count else 0


if __name__ == "__main__":
    raise SystemExit(main())
