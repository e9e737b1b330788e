"""Record a candidate grid's run for the choice of the default grid (docs/benchmark.md, "The default grid").

Each candidate is a grid file run with ``zoo benchmark --grid FILE --results DIR`` (timed by the
caller, e.g. ``/usr/bin/time``); this script reads the finished grid back (``--table --json``) and adds
it, with the grid file's text, its per-seed values and timings (so docs_tables.py renders its table
as it renders the default grid's: ``grid_table NAME``), the wall clock, the threads and the load
average the caller measured, and where it ran (``provenance.py``), to ``benchmarks/results/default_grid_candidates.json``. Adding a
name again replaces its entry.

    python benchmarks/grid_candidates.py NAME GRID.toml RESULTS_DIR --wall-seconds 1032 --load 6.1 --threads 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from default_grid import grid_record  # noqa: E402
from provenance import ROOT, provenance  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "default_grid_candidates.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("grid", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--wall-seconds", type=float, required=True, help="the grid's wall clock, as measured")
    parser.add_argument("--load", type=float, nargs="+", required=True, help="the load average during the run (samples)")
    parser.add_argument("--threads", type=int, required=True, help="the torch threads it ran with")
    parser.add_argument("--note", default="", help="what the candidate tried")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "zoo", "benchmark", "--grid", str(args.grid), "--results", str(args.results), "--table", "--json"]
    table = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    record = json.loads(args.out.read_text()) if args.out.is_file() else {"candidates": []}
    entry = {"name": args.name, "note": args.note, "grid_toml": args.grid.read_text(), "wall_seconds": args.wall_seconds,
             "threads": args.threads, "load_average": {"mean": round(sum(args.load) / len(args.load), 2), "min": min(args.load),
                                                       "max": max(args.load), "samples": len(args.load)},
             **grid_record(table, args.results)}
    record["candidates"] = [c for c in record["candidates"] if c["name"] != args.name] + [entry]
    record.update(provenance())  # the machine and code of the latest entry (every entry ran on this machine)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{args.name}: added to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
