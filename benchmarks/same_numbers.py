"""Did a refactor change any number? Two results folders of the same grid, cell by cell, bit for bit.

The house redesign (issue 25) promised the same numbers before and after. A grid run is deterministic
for a given machine and thread count (seeded data order, timesteps, noise), so two runs of one grid
file, one per commit, must hold the same cells (the same resolved-spec hashes) with byte-identical
trained weights (``checkpoint/model.safetensors`` and ``ema.safetensors``), byte-identical samples
(``samples.npz``), the same training losses (``log.jsonl``), learning-curve points (``curve.jsonl``)
and scores (the results database). It also names the feature network each run scored with: a changed
yardstick changes every score without changing a single sample.

    zoo benchmark --grid benchmarks/grids/study_recipe.toml --results OLD/results   # at the old commit
    zoo benchmark --grid benchmarks/grids/study_recipe.toml --results NEW/results   # at the new one
    python benchmarks/same_numbers.py OLD/results NEW/results --old-commit b98fe0a --new-checkout NEW \\
        --out benchmarks/results/same_numbers.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import provenance  # noqa: E402


def records(results: Path) -> dict[str, dict[str, Any]]:
    """The finished cells of a results folder, by resolved-spec hash."""
    with sqlite3.connect(results / "zoo.db") as db:
        rows = db.execute("select hash, record from results where status = 'done'").fetchall()
    return {h: json.loads(r) for h, r in rows}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def jsonl(path: Path, key: str) -> list[Any]:
    """``key`` of every line of a JSON-lines file that has it, in order (timings left out)."""
    lines = (json.loads(line) for line in path.read_text().splitlines() if line.strip()) if path.exists() else ()
    return [e[key] for e in lines if key in e]


def scores(record: dict[str, Any]) -> list[Any]:
    """Every score of a cell's evaluation: (row, values) for the samples and any reference row."""
    return [(row.get("name"), row.get("values")) for row in record["eval"].get("rows", [])]


def compare_cell(old: Path, new: Path, old_record: dict[str, Any], new_record: dict[str, Any]) -> dict[str, Any]:
    """What is and is not bit-identical between one cell's two run folders and records."""
    out: dict[str, Any] = {}
    for name in ("model", "ema"):
        a, b = old / "checkpoint" / f"{name}.safetensors", new / "checkpoint" / f"{name}.safetensors"
        out[f"{name}_weights"] = same_arrays(load_file(a), load_file(b)) if a.exists() and b.exists() else None
    with np.load(old / "samples.npz") as a, np.load(new / "samples.npz") as b:
        out["samples"] = same_arrays(dict(a), dict(b))
        out["samples_sha256"] = digest(new / "samples.npz") if out["samples"] else None
    out["losses"] = jsonl(old / "log.jsonl", "loss") == jsonl(new / "log.jsonl", "loss")
    out["final_loss"] = old_record["train"].get("final_loss") == new_record["train"].get("final_loss")
    out["curve"] = jsonl(old / "curve.jsonl", "values") == jsonl(new / "curve.jsonl", "values")
    out["scores"] = scores(old_record) == scores(new_record)
    out["identical"] = all(v is not False for k, v in out.items() if k != "samples_sha256")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, help="results folder of the old commit's run")
    parser.add_argument("new", type=Path, help="results folder of the new commit's run")
    parser.add_argument("--old-commit", required=True, help="the commit the old run was made at")
    parser.add_argument("--new-checkout", type=Path, default=None,
                        help="the checkout the new run was made in (its commit is recorded; default: this repository)")
    parser.add_argument("--grid", default="benchmarks/grids/study_recipe.toml", help="the grid both ran (for the record)")
    parser.add_argument("--note", default="", help="how the runs were made (threads, load, ...)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    old, new = records(args.old), records(args.new)
    cells = {}
    for h in sorted(set(old) | set(new)):
        if h not in old or h not in new:
            cells[h] = {"identical": False, "missing_in": "old" if h not in old else "new"}
            continue
        cell = compare_cell(args.old / "runs" / h, args.new / "runs" / h, old[h], new[h])
        cell["extractor_old"], cell["extractor_new"] = (r["eval"].get("feature_identity") for r in (old[h], new[h]))
        cells[h] = cell
    same = sum(c["identical"] for c in cells.values())
    summary = {"cells": len(cells), "identical": same, "different": len(cells) - same}
    where = provenance(args.new_checkout) if args.new_checkout else provenance()
    record = {"benchmark": "same_numbers", **where, "old_commit": args.old_commit, "grid": args.grid,
              "note": args.note, "summary": summary, "cells": cells}
    print(json.dumps(summary))
    for h, c in cells.items():
        if not c["identical"]:
            print("different:", h, {k: v for k, v in c.items() if v is False or k == "missing_in"})
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0 if same == len(cells) else 1


if __name__ == "__main__":
    sys.exit(main())
