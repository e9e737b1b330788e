"""How zoo's cost grows: training step time and peak memory against image size and batch size, and
full against linear attention against the number of pixels.

    python benchmarks/perf/scaling.py [--threads 2] [--blocks convnext,resnet] [--quick]

Each (model, image size, batch) cell runs in a fresh subprocess, so its peak resident memory
(``ru_maxrss``) is its own: the figure reported is the growth of the peak over the process's
resident size just before the first step (weights, optimiser state, activations, autograd buffers,
allocator slack). A step is the benchmark's training step (``run.py``: channels_last, fp32, Adam,
clipping), with zoo's allocator setting as a ``zoo train`` process has it. Attention layers are timed alone (forward + backward, 64 channels, 4 heads of 32,
batch 8) for 8x8 .. 64x64 pixels and the exponent of time ~ pixels^k is fitted on log-log axes over
the three largest sizes, where fixed per-call costs no longer dominate.

Writes benchmarks/results/scaling.json and docs/img/scaling_{size,batch,attention}.png, and prints
the Markdown tables used in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "scaling.json"
IMG = ROOT / "docs" / "img"


# -- one training cell, in its own process ------------------------------------------------------
def cell(block: str, size: int, batch: int, steps: int, threads: int) -> dict[str, Any]:
    """Median step time and peak-memory growth of one configuration (run inside a subprocess)."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from references import SAME_ARCHITECTURE
    from run import make_candidate

    from zoo.config.spec import ModelSpec
    from zoo.diffusion.gaussian import GaussianDiffusion
    from zoo.models.unet import Unet
    from zoo.plugins import get_registry
    from zoo.runtime.allocator import tune_allocator

    tune_allocator()  # as a `zoo train` process runs
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(get_registry().create("schedule", "linear", 1000), objective="eps", loss="mse")
    x0 = torch.rand(batch, 3, size, size) * 2 - 1
    model = Unet(ModelSpec(channels=3, image_size=size, block=block, **SAME_ARCHITECTURE), get_registry())
    c = make_candidate(block, "zoo", model, diffusion, x0, channels_last=True, bf16=False, sampler=None)
    before = _rss_mb()
    c.train_step()  # warm-up (allocates Adam's state)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        c.train_step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"block": block, "image_size": size, "batch": batch, "step_s": statistics.median(times),
            "step_s_all": times, "peak_rss_mb": peak, "rss_before_mb": before, "peak_growth_mb": peak - before,
            "train_gflop_per_step": c.train_flops / 1e9}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_cell(block: str, size: int, batch: int, steps: int, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--cell", f"{block},{size},{batch},{steps},{threads}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- attention layers ---------------------------------------------------------------------------
def attention_times(sizes: list[int], threads: int, reps: int) -> list[dict[str, Any]]:
    """Forward+backward seconds of the full and linear attention layers (pre-norm residual, as in
    the U-Net) on (8, 64, s, s) channels_last inputs, interleaved per repetition."""
    import torch

    from zoo.plugins import get_registry
    from zoo.runtime.allocator import tune_allocator

    tune_allocator()
    torch.set_num_threads(threads)
    registry = get_registry()
    rows = []
    for s in sizes:
        tasks = {}
        for name in ("full", "linear"):
            torch.manual_seed(0)
            layer = registry.create("norm", "pre", 64, registry.create("attention", name, 64, heads=4, dim_head=32))
            layer.to(memory_format=torch.channels_last)
            x = torch.randn(8, 64, s, s).contiguous(memory_format=torch.channels_last).requires_grad_()

            def step(layer=layer, x=x) -> None:
                layer(x).sum().backward()

            step()
            tasks[name] = step
        times: dict[str, list[float]] = {k: [] for k in tasks}
        for _ in range(reps):
            for name, fn in tasks.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        rows.append({"side": s, "pixels": s * s, **{f"{k}_s": statistics.median(v) for k, v in times.items()}})
    return rows


def fit_exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) against log(x)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


# -- figures and tables -----------------------------------------------------------------------------
def plot(result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.runtime.io import atomic_path

    def save(fig: Any, name: str) -> None:
        with atomic_path(IMG / name) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)

    for axis, key, label in (("size", "image_size", "image side (pixels), batch 32"), ("batch", "batch", "batch, 32x32")):
        fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 3.8))
        for block in result["blocks"]:
            rows = [r for r in result[f"by_{axis}"] if r["block"] == block]
            xs = [r[key] for r in rows]
            ax_t.plot(xs, [r["step_s"] * 1e3 for r in rows], "o-", label=f"zoo {block}")
            ax_m.plot(xs, [r["peak_growth_mb"] for r in rows], "o-", label=f"zoo {block}")
        for ax, ylabel in ((ax_t, "training step (ms)"), (ax_m, "peak memory growth (MB)")):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.suptitle(f"training step cost vs {axis} ({result['machine']})", fontsize=9)
        save(fig, f"scaling_{axis}.png")

    att = result["attention"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name in ("full", "linear"):
        k = result["attention_exponent"][name]
        ax.plot([r["pixels"] for r in att], [r[f"{name}_s"] * 1e3 for r in att], "o-", label=f"{name}: ~pixels^{k:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pixels (H*W)")
    ax.set_ylabel("attention layer fwd+bwd (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("attention layer, 64 ch, 4x32 heads, batch 8", fontsize=9)
    save(fig, "scaling_attention.png")


def markdown(result: dict[str, Any]) -> str:
    lines = []
    for axis, key, head in (("size", "image_size", "image size"), ("batch", "batch", "batch")):
        lines += [f"| block | {head} | GFLOP/step | step (ms) | images/s | peak memory growth (MB) |", "|---|---|---|---|---|---|"]
        for r in result[f"by_{axis}"]:
            lines.append(f"| {r['block']} | {r[key]} | {r['train_gflop_per_step']:.1f} | {r['step_s'] * 1e3:.0f} | "
                         f"{r['batch'] / r['step_s']:.1f} | {r['peak_growth_mb']:.0f} |")
        lines.append("")
    lines += ["| pixels | full attention (ms) | linear attention (ms) |", "|---|---|---|"]
    for r in result["attention"]:
        lines.append(f"| {r['side']}x{r['side']} = {r['pixels']} | {r['full_s'] * 1e3:.1f} | {r['linear_s'] * 1e3:.1f} |")
    e = result["attention_exponent"]
    lines.append(f"\nFitted exponent k in time ~ pixels^k (largest three sizes): full {e['full']:.2f}, linear {e['linear']:.2f}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--blocks", default="convnext,resnet")
    p.add_argument("--steps", type=int, default=3, help="timed steps per cell after one warm-up (default 3)")
    p.add_argument("--sizes", default="16,32,64")
    p.add_argument("--batches", default="8,16,32,64")
    p.add_argument("--attention-sizes", default="8,16,32,64")
    p.add_argument("--quick", action="store_true", help="tiny settings, nothing written: checks the script runs")
    p.add_argument("--cell", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cell:
        block, size, batch, steps, threads = args.cell.split(",")
        print(json.dumps(cell(block, int(size), int(batch), int(steps), int(threads))))
        return 0
    if args.quick:
        args.blocks, args.sizes, args.batches, args.attention_sizes, args.steps = "resnet", "16", "8", "8,16,32", 1

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import machine

    info = machine()
    blocks = args.blocks.split(",")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    result: dict[str, Any] = {"machine": f"{info['cpu']}, {args.threads} threads, torch {info['torch']}",
                              "machine_info": info, "blocks": blocks, "by_size": [], "by_batch": []}
    for block in blocks:
        for size in (int(s) for s in args.sizes.split(",")):
            log(f"{block} {size}x{size} batch 32")
            result["by_size"].append(run_cell(block, size, 32, args.steps, args.threads))
        for batch in (int(b) for b in args.batches.split(",")):
            log(f"{block} 32x32 batch {batch}")
            result["by_batch"].append(run_cell(block, 32, batch, args.steps, args.threads))
    log("attention layers")
    att = attention_times([int(s) for s in args.attention_sizes.split(",")], args.threads, reps=3 if args.quick else 5)
    result["attention"] = att
    tail = att[-3:]
    result["attention_exponent"] = {k: fit_exponent([r["pixels"] for r in tail], [r[f"{k}_s"] for r in tail])
                                    for k in ("full", "linear")}
    print(markdown(result))
    if args.quick:  # a smoke run does not overwrite the measured results
        return 0
    from zoo.runtime.io import atomic_write_text

    atomic_write_text(RESULTS, json.dumps(result, indent=1) + "\n")
    plot(result)
    log(f"wrote {RESULTS} and {IMG}/scaling_*.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
