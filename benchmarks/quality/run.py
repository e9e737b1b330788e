"""Time to quality: the default digits recipe and the VAE baseline trained for 2, 4, 8 and 16 minutes.

Every (model, budget) cell is a fresh ``zoo train`` run of that many minutes of optimisation steps
(the learning rate decays over the budget, so a 4-minute run is not the first half of an 8-minute
one), then 1,000 samples with the spec's own sampler, scored with the digits metric (FID, KID,
precision, recall) against the 180 test digits, beside the floor row (1,000 real training digits
against the same test digits) at the same n. Sampling time per 1,000 images is measured in the same
process. Every result records the CPU (``lscpu`` model and flags, zoo's CPU kind) and the load average
before and after, because a shared machine makes a minutes budget worth fewer steps.

    python benchmarks/quality/run.py                       # 2,4,8,16 min x {new, vae}: ~60 min on 2 cores
    python benchmarks/quality/run.py --minutes 2 --models new,old,vae   # the reduced version

Writes ``--out`` (JSON, one record per cell, appended) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

DATA = {"dataset": "digits", "size": 16, "channels": 1}
MODELS: dict[str, tuple[str | None, dict]] = {  # name -> (preset, overrides)
    "new": (None, {}),  # zoo's default recipe
    "old": ("study", {"model": {"dim": 16}}),  # quality.toml's U-Net before the fast recipe
    "vae": (None, {"model": {"name": "vae", "latent_dim": 8, "dim": 16}}),  # quality.toml's VAE baseline
}
METRICS = ["fid", "kid", "precision", "recall"]


def machine() -> dict:
    from zoo.cpu import current

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    info = current()
    return {"model": fields.get("Model name", info.model).strip(), "flags": fields.get("Flags", "").strip(),
            "cpus": fields.get("CPU(s)", "").strip(), "kind": info.kind, "describe": info.describe(),
            "env": {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if k in os.environ}}  # fmt: skip


def spec_dict(model: str, minutes: float, threads: int, n: int) -> dict:
    from zoo.spec import merge, with_recipe

    preset, overrides = MODELS[model]
    user = merge({"data": DATA, "train": {"minutes": minutes, "threads": threads, "log_every": 50},
                  "eval": {"n": n, "metrics": METRICS}}, overrides)  # fmt: skip
    return with_recipe(user, preset)


def run_one(model: str, minutes: float, args: argparse.Namespace, root: Path) -> dict:
    from zoo.bench.cell import run_cell

    load_before = os.getloadavg()
    out = run_cell(spec_dict(model, minutes, args.threads, args.n), str(root / f"{model}-{minutes:g}"), threads=args.threads)
    if out["status"] != "done":
        raise SystemExit(f"{model} {minutes} min failed: {out['error']}")
    record = out["record"]
    values = record["eval"]["rows"][0]["values"]
    return {"model": model, "minutes": minutes, "threads": args.threads, "steps": record["train"]["step"],
            "train_s": record["train"]["elapsed"], **{k: values[k] for k in METRICS},
            "sample_s_per_1000": record["timings"]["sample"] * 1000 / args.n,
            "load_before": load_before, "load_after": os.getloadavg()}  # fmt: skip


def floor_row(n: int) -> dict:
    from zoo.data.prepare import prepare
    from zoo.metrics.evaluate import reference_rows
    from zoo.spec import DataSpec

    result = reference_rows(prepare(DataSpec(**DATA)), n, metrics=METRICS)
    return {r.name: {k: r.values[k] for k in METRICS} for r in result.rows}


def markdown(rows: list[dict], refs: dict) -> str:
    lines = ["| model | minutes | steps | FID | KID | precision | recall | sampling s / 1,000 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['minutes']:g} | {r['steps']:,} | {r['fid']:.1f} | {r['kid']:.1f} | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | {r['sample_s_per_1000']:.1f} |")  # fmt: skip
    for name, v in refs.items():
        lines.append(f"| *{name}* | | | {v['fid']:.1f} | {v['kid']:.1f} | {v['precision']:.3f} | {v['recall']:.3f} | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", default="2,4,8,16", help="comma-separated budgets")
    p.add_argument("--models", default="new,vae", help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=1000, help="samples scored per cell (and real images in the floor row)")
    p.add_argument("--runs", help="folder for the run folders (default: a temporary folder)")
    p.add_argument("--out", default="benchmarks/results/quality.json")
    args = p.parse_args()
    from zoo.allocator import tune_allocator

    tune_allocator()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    refs = floor_row(args.n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.runs or tmp)
        for minutes in (float(m) for m in args.minutes.split(",")):
            for model in args.models.split(","):
                rows.append(run_one(model, minutes, args, root))
                print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    history = json.loads(out.read_text()) if out.is_file() else []
    history.append({"started": started, "machine": machine(), "references": refs, "rows": rows})
    out.write_text(json.dumps(history, indent=1) + "\n")
    print(markdown(rows, refs))


if __name__ == "__main__":
    main()
