"""The examples of docs/benchmark.md's verdicts, produced by real commands on a tiny grid
(``benchmarks/grids/verdicts_example.toml``, seconds per cell): the plain table with verdicts at every
curve point and still-learning marks and its ``--table --json``, then ``--until-resolved`` with its
rounds on stderr and its ``--table --json``. Writes ``benchmarks/results/verdicts_example.json`` (machine, commit, torch, date,
each command with its stdout, stderr and duration).

    python benchmarks/verdicts_example.py [--results DIR]   # DIR: a fresh results folder (default: a temporary one)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "benchmarks" / "grids" / "verdicts_example.toml"


def zoo(args: list[str], results: Path) -> dict:
    """Run ``zoo benchmark`` on the example grid; its outputs and duration."""
    command = ["zoo", "benchmark", "--grid", str(GRID.relative_to(ROOT)), "--results", str(results), "--no-progress", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return {"command": " ".join(command).replace(str(results), "RESULTS"), "seconds": round(time.perf_counter() - start, 1),
            "stdout": done.stdout, "stderr": done.stderr}


def main() -> int:
    import torch

    from zoo.runtime.cpu import current
    from zoo.runtime.io import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=None, help="a fresh results folder (default: a temporary one)")
    args = parser.parse_args()
    results = Path(args.results or tempfile.mkdtemp(prefix="zoo-verdicts-example-"))
    runs = [zoo([], results), zoo(["--table", "--json"], results),  # the plain grid, then its numbers
            zoo(["--until-resolved", "--max-seeds", "7"], results), zoo(["--table", "--json"], results)]
    info = current()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False).stdout.strip()
    record = {"cpu": info.model, "cpu_kind": info.kind, "commit": commit, "torch": torch.__version__, "threads": 1,
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "grid": str(GRID.relative_to(ROOT)),
              "runs": runs}
    out = ROOT / "benchmarks" / "results" / "verdicts_example.json"
    atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
