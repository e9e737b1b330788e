"""Fault injection: kill ``zoo train`` and ``zoo benchmark`` at random moments, then recover and compare.

Each trial starts the command in a fresh folder, kills its process group with SIGKILL, runs the command
again until it finishes, and checks what docs/reliability.md promises:

- ``train-random``      kill at a uniform random time; ``zoo train --resume`` ends with weights bit-identical
                        to an uninterrupted run (same spec, one thread).
- ``train-checkpoint``  kill the moment a checkpoint's temporary folder appears (during its write).
- ``grid-random``       kill ``zoo benchmark`` at a random time; rerunning it ends with the same scores per
                        cell as an uninterrupted grid and a database that passes ``PRAGMA integrity_check``.
- ``grid-twice``        two ``zoo benchmark`` on one results folder at once: one runs, the other stops with
                        the one-line message, no cell is trained twice.

A trial fails when recovery exits non-zero, results differ, or temporaries (``.checkpoint.*``, ``*.tmp``,
lock files, ``checkpoint.old``) remain after recovery. Leftovers right after the kill are counted too:
they are expected (a kill can always strand a temporary) and must be gone after recovery.

    python benchmarks/fault_injection.py                 # 20 trials, seed 0, under $TMPDIR
    python benchmarks/fault_injection.py --trials 8 --json out.json

Not a test: it takes minutes (one thread; timings under load vary), and the kill moments are random.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("train-random", "train-checkpoint", "grid-random", "grid-twice")
TRAIN_SETS = ["data.size=8", "model.dim=8", "model.dim_mults=[1,2]", "model.heads=2", "model.dim_head=8",
              "model.groups=4", "diffusion.timesteps=50", "train.batch_size=16", "train.steps=30",
              "train.checkpoint_every=1", "train.log_every=5"]  # fmt: skip
GRID = """name = "faults"
[budget]
steps = 12
[base.data]
size = 8
prepared = "{prepared}"
[base.model]
dim = 8
dim_mults = [1, 2]
heads = 2
dim_head = 8
groups = 4
[base.diffusion]
timesteps = 50
[base.train]
batch_size = 16
checkpoint_every = 2
[base.eval]
n = 20
steps = 4
metrics = ["fid", "kid"]
[variants]
base = {{}}
resnet = {{ "model.block" = "resnet" }}
"""


def is_leftover(path: Path) -> bool:
    """A temporary or lock a finished command must not leave behind."""
    name = path.name
    return (name.startswith(".checkpoint.") or name.endswith(".tmp") or name.endswith(".lock")
            or name == "checkpoint.old" or ".tmp-" in name or ".old-" in name)  # fmt: skip


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if is_leftover(p)) if folder.exists() else []


class Lab:
    """The work folder, the environment every command runs in, and the uninterrupted references."""

    def __init__(self, work: Path) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.prepared = work / "prepared"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "ZOO_CACHE": str(work / "cache"),
                    "HF_HUB_OFFLINE": "1"}  # fmt: skip
        self.grid = work / "grid.toml"
        self.grid.write_text(GRID.format(prepared=self.prepared))

    def command(self, kind: str, out: Path, *extra: str) -> list[str]:
        if kind == "train":
            sets = sum((["--set", s] for s in [*TRAIN_SETS, f"data.prepared={self.prepared}"]), [])
            return [sys.executable, "-m", "zoo", "train", *sets, "--out", str(out), "--no-progress", *extra]
        return [sys.executable, "-m", "zoo", "benchmark", "--grid", str(self.grid), "--results", str(out),
                "--no-progress", "--json", *extra]  # fmt: skip

    def start(self, argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True)

    def references(self) -> None:
        """The uninterrupted run and grid (which also prepare the data)."""
        tick = time.perf_counter()
        done = self.run(self.command("train", self.work / "ref-run"))
        self.train_seconds = time.perf_counter() - tick
        assert done.returncode == 0, done.stderr
        self.weights = weights_digest(self.work / "ref-run")
        self.run([sys.executable, "-m", "zoo", "features", "digits", "--info"])  # load the digits CNN before timing
        tick = time.perf_counter()
        done = self.run(self.command("grid", self.work / "ref-results"))
        self.grid_seconds = time.perf_counter() - tick
        assert done.returncode == 0, done.stderr
        self.scores = grid_scores(self.work / "ref-results")


def weights_digest(run: Path) -> str:
    from safetensors.torch import load_file

    digest = hashlib.sha256()
    for which in ("model", "ema"):
        for key, tensor in sorted(load_file(run / "checkpoint" / f"{which}.safetensors").items()):
            digest.update(key.encode() + tensor.numpy().tobytes())
    return digest.hexdigest()


def grid_scores(results: Path) -> dict[str, Any]:
    """Per cell: status and the samples' scores; plus the database's own integrity verdict."""
    with sqlite3.connect(results / "zoo.db") as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT hash, status, record FROM results ORDER BY hash").fetchall()
    cells = {h: (s, json.loads(r)["eval"]["rows"] if r else None) for h, s, r in rows}
    return {"integrity": integrity, "cells": cells}


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def kill_at(proc: subprocess.Popen, seconds: float) -> bool:
    """Kill at ``seconds``; False if the process had already finished by then."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        kill(proc)
        return True
    proc.communicate()
    return False


def kill_in_checkpoint(proc: subprocess.Popen, run: Path, after: int) -> bool:
    """Kill when the ``after``-th checkpoint temporary is seen; False if the process ended first."""
    seen: set[str] = set()
    while proc.poll() is None:
        if run.is_dir():
            with os.scandir(run) as entries:
                seen |= {e.name for e in entries if e.name.startswith(".checkpoint.")}
            if len(seen) >= after:
                kill(proc)
                return True
        time.sleep(0.0005)
    proc.communicate()
    return False


def recover(lab: Lab, kind: str, out: Path) -> subprocess.CompletedProcess:
    """Run the command again until it finishes (train resumes only once a checkpoint exists)."""
    if kind == "train":
        resume = (out / "checkpoint").exists() or (out / "checkpoint.old").exists()
        return lab.run(lab.command("train", out, *(["--resume"] if resume else [])))
    return lab.run(lab.command("grid", out))


def trial(lab: Lab, kind: str, index: int, rng: random.Random) -> dict[str, Any]:
    out = lab.work / f"trial-{index:02d}"
    result: dict[str, Any] = {"trial": index, "kind": kind, "problems": []}
    target = "train" if kind.startswith("train") else "grid"
    if kind == "grid-twice":
        return twice(lab, out, result)
    proc = lab.start(lab.command(target, out))
    if kind == "train-checkpoint":
        result["killed"] = kill_in_checkpoint(proc, out, after=rng.randint(1, 28))
    else:
        result["kill_at_s"] = round(rng.uniform(0.5, lab.train_seconds if target == "train" else lab.grid_seconds), 2)
        result["killed"] = kill_at(proc, result["kill_at_s"])
    result["left_by_kill"] = leftovers(out)
    done = recover(lab, target, out)
    if done.returncode != 0:
        result["problems"].append(f"recovery exited {done.returncode}: {done.stderr.strip()[-300:]}")
    elif target == "train" and weights_digest(out) != lab.weights:
        result["problems"].append("weights differ from the uninterrupted run")
    elif target == "grid" and grid_scores(out) != lab.scores:
        result["problems"].append("scores or database differ from the uninterrupted grid")
    result["left_after_recovery"] = leftovers(out)
    if result["left_after_recovery"]:
        result["problems"].append(f"left after recovery: {result['left_after_recovery']}")
    return result


def twice(lab: Lab, out: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Two grids at once on one results folder: exactly one runs; every log has each step once."""
    first, second = lab.start(lab.command("grid", out)), lab.start(lab.command("grid", out))
    outcomes = [(p.wait(), p.communicate()[1]) for p in (first, second)]
    codes = sorted(code for code, _ in outcomes)
    busy = [err for code, err in outcomes if code == 2 and "another `zoo benchmark` is running" in err]
    if codes != [0, 2] or len(busy) != 1:
        result["problems"].append(f"exit codes {codes}, expected one 0 and one 2 with the busy message")
    for log in out.glob("runs/*/log.jsonl"):
        steps = [json.loads(line)["step"] for line in log.read_text().splitlines() if line.strip()]
        if len(steps) != len(set(steps)):
            result["problems"].append(f"{log.parent.name}: steps logged twice")
    if grid_scores(out) != lab.scores:
        result["problems"].append("scores or database differ from the uninterrupted grid")
    result["left_after_recovery"] = leftovers(out)
    if result["left_after_recovery"]:
        result["problems"].append(f"left after recovery: {result['left_after_recovery']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a new one under $TMPDIR)")
    parser.add_argument("--json", type=Path, default=None, help="write every trial's record here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="zoo-faults-"))
    lab = Lab(work)
    started = time.perf_counter()
    lab.references()
    print(f"references: train {lab.train_seconds:.1f} s, grid {lab.grid_seconds:.1f} s (work folder {work})", flush=True)
    rng = random.Random(args.seed)
    records = []
    for i in range(args.trials):
        record = trial(lab, KINDS[i % len(KINDS)], i, rng)
        records.append(record)
        verdict = "ok" if not record["problems"] else "FAIL: " + "; ".join(record["problems"])
        print(f"{i:2d} {record['kind']:<17} left by kill {len(record.get('left_by_kill', [])):2d}  {verdict}", flush=True)
    summary = {
        "trials": len(records),
        "failures": sum(1 for r in records if r["problems"]),
        "by_kind": dict(Counter(r["kind"] for r in records)),
        "kills_that_landed": sum(1 for r in records if r.get("killed")),
        "trials_with_leftovers_after_kill": sum(1 for r in records if r.get("left_by_kill")),
        "leftover_files_after_kill": sum(len(r.get("left_by_kill", [])) for r in records),
        "leftover_files_after_recovery": sum(len(r["left_after_recovery"]) for r in records),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "trials": records}, indent=2) + "\n")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
