"""Two processes of one thread (DDP) against one process of two threads: images a second of the 32x32 recipe.

    python benchmarks/perf/ddp_throughput.py [--steps 1500] [--skip 500] [--rounds 2] [--compile off,on]
        [--json benchmarks/results/ddp_throughput.json]

Two single-thread runs side by side train more images a second together than one run on both threads
(the small 16x16 feature maps of the 32x32 recipe split poorly between threads), so one run split over two
processes with DDP (``torchrun --nproc_per_node=2 -m zoo train``, zoo's own launch) might train faster. Each
round trains, in alternating order, one ``zoo train`` per way: ``single`` (one process, ``train.threads=2``,
batch 16) and ``ddp`` (two processes of one thread, batch 8 each: the same global batch of 16), with
``train.compile`` off and/or on, on emoji 32x32 RGB for ``--steps`` steps. The rate is read from the run's
``log.jsonl`` after its first ``--skip`` steps (past the compile and the warm-up): images over the seconds
of training steps between those log lines. Appends one record with the CPU, commit, torch and date.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for provenance.py
from provenance import provenance  # noqa: E402

DATA = ["data.dataset=emoji", "data.size=32", "data.channels=3"]


def command(way: str, compile_: str, steps: int, prepared: str, out: Path) -> tuple[list[str], dict[str, str]]:
    sets = [*DATA, f"data.prepared={prepared}", f"train.steps={steps}", f"train.compile={compile_}",
            "train.checkpoint_every=100000", "train.log_every=50"]  # fmt: skip
    env = dict(os.environ)
    if way == "single":
        launch, sets = [sys.executable, "-m", "zoo"], [*sets, "train.threads=2"]
    else:
        launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "zoo"]
        sets, env["OMP_NUM_THREADS"] = [*sets, "train.batch_size=8", "train.threads=1"], "1"
    return [*launch, "train", *(a for s in sets for a in ("--set", s)), "--no-progress", "--out", str(out)], env


def rate(run_dir: Path, skip: int) -> float:
    """Images a second over the logged steps after ``skip``."""
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    first = next(r for r in rows if r["step"] >= skip)
    last = rows[-1]
    return (last["step"] - first["step"]) * 16 / (last["elapsed"] - first["elapsed"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--skip", type=int, default=500, help="steps left out of the rate (compile, warm-up)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--compile", default="off,on", help="train.compile values to try (default off,on)")
    p.add_argument("--json", default="benchmarks/results/ddp_throughput.json")
    args = p.parse_args(argv)
    from zoo.runtime.io import append_to_json_list

    record = {"script": "benchmarks/perf/ddp_throughput.py", **provenance(), "steps": args.steps, "skip": args.skip}
    ways = [(way, c) for c in args.compile.split(",") for way in ("single", "ddp")]
    rates: dict[str, list[float]] = {f"{w} compile={c}": [] for w, c in ways}
    with tempfile.TemporaryDirectory(prefix="zoo-ddp-") as tmp:
        for r in range(args.rounds):
            for i, (way, compile_) in enumerate(ways if r % 2 == 0 else reversed(ways)):
                out = Path(tmp) / f"r{r}-{i}"
                cmd, env = command(way, compile_, args.steps, str(Path(tmp) / "prepared"), out)
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                rates[f"{way} compile={compile_}"].append(rate(out, args.skip))
                print(f"round {r}: {way} compile={compile_}: {rates[f'{way} compile={compile_}'][-1]:.1f} images/s", flush=True)
    record |= {"images_per_s": rates, "load_after": os.getloadavg()}
    append_to_json_list(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
