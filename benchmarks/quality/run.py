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
    python benchmarks/quality/run.py --minutes 16 --models "" --prefix old --prefix-every 550   # the study recipe's curve
    python benchmarks/quality/run.py --data emoji:32:3 --samplers "" --out benchmarks/results/quality_emoji.json

``--prefix MODEL`` is for a recipe with a constant learning rate (``old``): a run of the longest
budget is then, step for step, every shorter run too (same streams, an EMA rule of the step), so it
is trained once and scored along the way (``eval.curve_every``, each point with the final cells'
sampler, n and metrics, outside the timed steps); its rows give the minutes each point was reached.
``--data NAME:SIZE:CHANNELS`` trains and scores on another dataset (``emoji:32:3``: the zoo-emoji
plugin's glyphs, scored with the feature network it ships); the recipe is the same, and zoo's rules
that depend on image size and channels (precision, ...) apply as in any run. ``--samplers`` scores the same weights of each diffusion cell with other samplers (same sampling
noise), timed, to choose the default sampler and step count.

Writes ``--out`` (JSON, rewritten after every cell, so an interrupted run keeps what it measured) and
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from provenance import provenance  # noqa: E402

DATA = {"dataset": "digits", "size": 16, "channels": 1}  # --data overrides it
MODELS: dict[str, tuple[str | None, dict]] = {  # name -> (preset, overrides)
    "new": (None, {}),  # zoo's default recipe
    "old": ("study", {"model": {"dim": 16}}),  # quality.toml's U-Net before the fast recipe
    "vae": (None, {"model": {"name": "vae", "latent_dim": 8, "dim": 16}}),  # quality.toml's VAE baseline
    "wide48": (None, {"model": {"dim": 48}}),  # the default recipe at width 48: does width pay per minute on colour?
    "beta099": (None, {"train": {"adam_betas": [0.9, 0.99]}}),  # EDM2's beta2: the recipe's own from 32x32 since 2327a50, so a variant below that only
}
METRICS = ["fid", "kid", "precision", "recall"]
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")  # set: an emulated CPU kind


def machine() -> dict:
    from zoo.runtime.cpu import current

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    info = current()
    return {"model": fields.get("Model name", info.model).strip(), "flags": fields.get("Flags", "").strip(),
            "cpus": fields.get("CPU(s)", "").strip(), "kind": info.kind, "describe": info.describe(),
            "env": {k: os.environ[k] for k in ISA_CAPS if k in os.environ}}  # fmt: skip


def spec_dict(model: str, minutes: float, threads: int, n: int) -> dict:
    from zoo.config.spec import merge, with_recipe

    preset, overrides = MODELS[model]
    user = merge({"data": DATA, "train": {"minutes": minutes, "threads": threads, "log_every": 50},
                  "eval": {"n": n, "metrics": METRICS}}, overrides)  # fmt: skip
    return with_recipe(user, preset)


def run_one(model: str, minutes: float, args: argparse.Namespace, root: Path, curve_every: int | None = None) -> list[dict]:
    """The cell's row, then one row per extra sampler (diffusion models) or per curve point (``curve_every``)."""
    from zoo.bench.cell import run_cell
    from zoo.config.spec import from_dict
    from zoo.runs.load import load_run

    load_before = os.getloadavg()
    spec = spec_dict(model, minutes, args.threads, args.n)
    full = from_dict(spec)
    if curve_every:
        spec["eval"] |= {"curve_every": curve_every, "curve_n": args.n, "curve_metrics": METRICS,
                         "curve_steps": full.eval.steps}  # fmt: skip
    run_dir = root / f"{model}-{minutes:g}"
    out = run_cell(spec, str(run_dir), threads=args.threads)
    if out["status"] != "done":
        raise SystemExit(f"{model} {minutes} min failed: {out['error']}")
    record = out["record"]
    values = record["eval"]["rows"][0]["values"]
    run = load_run(run_dir, weights=full.eval.weights)  # no diffusion: a model that samples itself (the VAE)
    base = {"model": model, "minutes": minutes, "threads": args.threads, "load_before": load_before}
    rows = [{**base, "steps": record["train"]["step"], "train_s": record["train"]["elapsed"],
             "compiled": record["train"].get("compiled", False),
             "sampler": "decoder" if run.diffusion is None else f"{full.eval.sampler}:{full.eval.steps}", "own": True,
             **{k: values[k] for k in METRICS},
             "sample_s_per_1000": record["timings"]["sample"] * 1000 / args.n, "load_after": os.getloadavg()}]  # fmt: skip
    for point in out["curve"] if curve_every else []:
        rows.append({**base, "minutes": round(point["train_seconds"] / 60, 2), "steps": point["step"], "curve": True,
                     "train_s": point["train_seconds"], "sampler": rows[0]["sampler"],
                     **{k: point["values"][k] for k in METRICS}, "sample_s_per_1000": None})  # fmt: skip
    if run.diffusion is not None:
        rows += [{**base, "steps": rows[0]["steps"], "train_s": rows[0]["train_s"], **other}
                 for other in other_samplers(run, full, args)]  # fmt: skip
    return rows


def other_samplers(run, full, args: argparse.Namespace) -> list[dict]:  # noqa: ANN001 - zoo types, imported late
    """The cell's weights sampled with each of ``--samplers`` (the cell's sampling seed), timed and scored."""
    from zoo.data.prepare import prepare

    rows = []
    prepared = prepare(full.data)
    for item in (s for s in args.samplers.split(",") if s and s != f"{full.eval.sampler}:{full.eval.steps}"):
        name, steps = item.split(":")
        values, seconds = sample_and_score(run, full, prepared, name, int(steps), args.n)
        rows.append({"sampler": item, **values, "sample_s_per_1000": seconds * 1000 / args.n,
                     "load_after": os.getloadavg()})  # fmt: skip
    return rows


def sample_and_score(run, full, prepared, sampler: str, steps: int, n: int, seed_offset: int = 0,  # noqa: ANN001
                     options: dict | None = None) -> tuple[dict, float]:
    """``n`` images of ``run`` drawn with ``sampler`` at ``steps`` from the run's own sampling noise
    (its eval seed plus ``seed_offset``), scored on ``METRICS`` against its test split: (scores, seconds
    spent sampling). Rows that differ only in sampler, steps or ``options`` (the sampler's own, over the
    run's) are therefore paired."""
    from zoo.metrics.evaluate import evaluate
    from zoo.runs.sample import generate
    from zoo.runtime.streams import SAMPLING, stream_seed

    seed = stream_seed(full.train.seed, SAMPLING, full.eval.seed + seed_offset)
    options = {**full.eval.options_for(sampler), **(options or {})}
    start = time.perf_counter()
    images = generate(run, n, sampler=sampler, steps=steps, seed=seed, batch_size=full.eval.batch_size, options=options)
    seconds = time.perf_counter() - start
    values = evaluate(images, prepared, metrics=METRICS, references=False, seed=full.eval.seed).rows[0].values
    return {k: values[k] for k in METRICS}, seconds


def floor_row(n: int) -> dict:
    from zoo.config.spec import DataSpec
    from zoo.data.prepare import prepare
    from zoo.metrics.evaluate import reference_rows

    result = reference_rows(prepare(DataSpec(**DATA)), n, metrics=METRICS)
    return {r.name: {k: r.values[k] for k in METRICS} for r in result.rows}


def markdown(rows: list[dict], refs: dict) -> str:
    lines = ["| model | minutes | steps | sampler | FID | KID | precision | recall | sampling s / 1,000 |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in sorted(rows, key=lambda r: (r["model"], r["minutes"], r["sampler"])):
        seconds = "" if r["sample_s_per_1000"] is None else f"{r['sample_s_per_1000']:.1f}"
        lines.append(f"| {r['model']}{' (curve)' if r.get('curve') else ''} | {r['minutes']:g} | {r['steps']:,} | {r['sampler']} | "
                     f"{r['fid']:.1f} | {r['kid']:.1f} | {r['precision']:.3f} | {r['recall']:.3f} | {seconds} |")  # fmt: skip
    for name, v in refs.items():
        lines.append(f"| *{name}* | | | | {v['fid']:.1f} | {v['kid']:.1f} | {v['precision']:.3f} | {v['recall']:.3f} | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", default="2,4,8,16", help="comma-separated budgets")
    p.add_argument("--data", default="digits:16:1", help="dataset:size:channels (emoji:32:3 with the zoo-emoji plugin)")
    p.add_argument("--models", default="new,vae", help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=1000, help="samples scored per cell (and real images in the floor row)")
    p.add_argument("--runs", help="folder for the run folders (default: a temporary folder)")
    p.add_argument("--out", default="benchmarks/results/quality.json")
    p.add_argument("--prefix", default="", help="comma-separated constant-lr models: one run of the longest budget, scored on the way")
    p.add_argument("--prefix-every", type=int, default=1000, help="steps between the --prefix models' points")
    p.add_argument("--samplers", default="ddim:50,dpmpp_2m:20,dpmpp_2m:30",
                   help="sampler:steps pairs scored on each diffusion cell's weights too (empty: none)")  # fmt: skip
    args = p.parse_args()
    name, size, channels = args.data.split(":")
    DATA.update(dataset=name, size=int(size), channels=int(channels))
    from zoo.runtime.allocator import tune_allocator
    from zoo.runtime.io import atomic_write_text

    tune_allocator()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    refs = floor_row(args.n)
    out = Path(args.out)
    history = json.loads(out.read_text()) if out.is_file() else []
    entry = {"started": started, "machine": machine(), **provenance(), "data": dict(DATA), "references": refs, "rows": []}
    history.append(entry)
    budgets = [float(m) for m in args.minutes.split(",")]
    cells = [(model, minutes, None) for minutes in budgets for model in filter(None, args.models.split(","))]
    cells += [(model, max(budgets), args.prefix_every) for model in filter(None, args.prefix.split(","))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.runs or tmp)
        for model, minutes, every in cells:
            for row in run_one(model, minutes, args, root, every):
                entry["rows"].append(row)
                print(json.dumps(row), flush=True)
            atomic_write_text(out, json.dumps(history, indent=1) + "\n")
    print(markdown(entry["rows"], refs))


if __name__ == "__main__":
    main()
