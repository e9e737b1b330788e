"""Two zoo checkouts, old and new, timed in one run on the default recipe: training images/s and sampling
ms/image, alternating rounds (the order flips every round), each side in its own Python environment.

The house redesign (issue 25) must not slow training or sampling beyond run-to-run noise. Each round runs,
for each side, ``zoo train`` on 16x16 digits for ``--steps`` steps (its ``train.json`` gives the median
images/s over the logged intervals) and then ``zoo sample`` of ``--n`` images from that run (its closing
line gives ms/image). Both sides use the same prepared data folder layout, seed and threads.

    python benchmarks/perf/old_new.py --old /path/to/old/venv/bin/python --new /path/to/new/venv/bin/python \\
        --rounds 8 --out benchmarks/results/old_new.json

Each interpreter must import the zoo checkout it stands for (an editable install in its own venv).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from provenance import provenance  # noqa: E402
from rounds import per_round  # noqa: E402


def zoo(python: str, *args: str, cwd: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    done = subprocess.run([python, "-m", "zoo", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{python} -m zoo {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stderr + done.stdout


def one_side(python: str, steps: int, n: int) -> tuple[float, float]:
    """(training images/s, sampling ms/image) of one fresh run."""
    with tempfile.TemporaryDirectory() as tmp:
        zoo(python, "train", "--set", f"train.steps={steps}", "--set", "train.log_every=10", "--set",
            f"data.prepared={tmp}/prepared", "--out", f"{tmp}/run", "--no-progress", cwd=tmp)
        ips = json.loads((Path(tmp) / "run" / "train.json").read_text())["images_per_s"]
        out = zoo(python, "sample", f"{tmp}/run", "--n", str(n), "--batch-size", str(n), "--compile", "off",
                  "--no-progress", cwd=tmp)
        ms = float(re.search(r"([\d.]+) ms/image", out).group(1))
    return ips, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="Python of the old checkout's environment")
    parser.add_argument("--new", required=True, help="Python of the new checkout's environment")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--n", type=int, default=250)
    parser.add_argument("--out", type=Path, default=None, help="results file (rewritten)")
    args = parser.parse_args()
    sides = {"old": args.old, "new": args.new}
    load_before = os.getloadavg()
    ips: dict[str, list[float]] = {k: [] for k in sides}
    ms: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.rounds):
        for name in (list(sides) if r % 2 == 0 else list(reversed(sides))):
            a, b = one_side(sides[name], args.steps, args.n)
            ips[name].append(a)
            ms[name].append(b)
            print(f"round {r + 1} {name}: train {a:.0f} img/s, sample {b:.2f} ms/image", flush=True)
    result = {
        "what": "default recipe, digits 16x16: zoo train images/s and zoo sample ms/image, old vs new, alternating",
        **provenance(), "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "load_average_before": [round(x, 2) for x in load_before], "threads": os.environ.get("OMP_NUM_THREADS", "2"),
        "torch": subprocess.run([args.new, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                                text=True).stdout.strip(),
        "commits": {k: commit(v) for k, v in sides.items()}, "rounds": args.rounds, "steps": args.steps, "n": args.n,
        "train_images_per_s": ips, "sample_ms_per_image": ms,
        "train_speedup_new_over_old": per_round(ips["new"], ips["old"]),  # images/s: new / old
        "sample_speedup_new_over_old": per_round(ms["old"], ms["new"]),  # ms/image: old / new
        "median": {k: {"train": statistics.median(ips[k]), "sample": statistics.median(ms[k])} for k in sides},
    }
    print(json.dumps({k: result[k] for k in ("train_speedup_new_over_old", "sample_speedup_new_over_old", "median")},
                     indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


def commit(python: str) -> str:
    """The commit of the checkout ``python`` imports zoo from (run from /, so a zoo folder in the current
    directory cannot stand in for the environment's own)."""
    folder = subprocess.run([python, "-c", "import zoo, os; print(os.path.dirname(zoo.__file__))"],
                            capture_output=True, text=True, cwd="/").stdout.strip()
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
