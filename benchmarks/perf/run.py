"""zoo's U-Net against denoising-diffusion-pytorch and diffusers on this CPU, side by side in one process.

    python benchmarks/perf/run.py [--sizes 32,16] [--batch 32] [--threads 2] [--json out.json]

For every image size it builds zoo's base U-Net (ConvNeXt blocks, the study's default, and ResNet
blocks, the closest match to lucidrains' ``Unet``), the same architecture from
denoising-diffusion-pytorch and diffusers' ``UNet2DModel`` (see ``references.py``), then measures,
alternating the models round-robin within each repetition so that machine drift hits all alike:

- a training step (forward + backward + gradient clipping + Adam), mirroring ``zoo/train/step.py``: zoo in
  channels_last, bf16 autocast only in the rows marked bf16; the references as they ship (fp32,
  NCHW), and with ``--ref-channels-last`` also in channels_last. Every network gets the same loss
  (zoo's ``GaussianDiffusion.training_loss``, eps objective, MSE) and the same data;
- inference (one forward pass under ``torch.inference_mode``) at the same batch;
- DDIM sampling, 50 steps, of ``--sample-images`` images (per size: ``16:1000,32:100``) drawn in
  batches of ``--sample-batch`` by every model: zoo's registered ``ddim`` sampler, lucidrains' own
  ``ddim_sample`` and diffusers' ``DDIMScheduler``; fewer than 1,000 are extrapolated linearly;
- the machine's peaks in the same run: a 3x3 convolution at 64 channels (this size and batch,
  channels_last) and a 1024^2 matmul, in fp32 and bf16.

FLOPs per step come from ``torch.utils.flop_counter`` over forward + backward (matmuls, convolutions
and attention; elementwise work is not counted). Step, inference and peak timings are medians over
the repetitions, DDIM runs the best of theirs; ratios are taken within this one run. The speed
targets also give the ratio round by round (``paired``: median and quartiles of the per-round ratios),
whose spread is the host's noise: a target whose quartiles straddle its threshold is not settled.

The whole process runs with zoo's allocator setting (``zoo.tune_allocator``, which zoo's commands
apply), so the references get it too: it speeds them up as much as zoo, and a comparison without it
would credit zoo with a process setting. ``--default-allocator`` keeps glibc's defaults for everyone.
Results go to ``benchmarks/results/perf.json``, or to ``--json`` instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import references  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "perf.json"
TARGETS = {"train_vs_lucidrains": 1.5, "gflops_vs_diffusers": 1.2, "conv_peak_fraction": 0.6, "ddim_vs_lucidrains": 2.0}


# -- what is measured ---------------------------------------------------------------------------
@dataclass
class Candidate:
    """One network, set up the way its row says, with the closures the benchmark times."""

    name: str
    family: str  # "zoo", "lucidrains" or "diffusers"
    precision: str  # "fp32" or "bf16" (autocast)
    channels_last: bool
    model: nn.Module
    train_step: Callable[[], Any]
    infer: Callable[[], Any]
    sample: Callable[[int], torch.Tensor] | None
    params: int = 0
    train_flops: int = 0
    infer_flops: int = 0
    times: dict[str, list[float]] = field(default_factory=dict)


def _autocast(bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def make_candidate(
    name: str, family: str, model: nn.Module, diffusion: nn.Module, x0: torch.Tensor, *,
    channels_last: bool, bf16: bool, sampler: Callable[[nn.Module], Callable[[int], torch.Tensor]] | None,
    grad_clip: float | None = 1.0, lr: float = 1e-3,
) -> Candidate:
    """The training step of ``zoo/train/step.py`` (channels_last model and batch, optional bf16 autocast,
    zero_grad(set_to_none), backward, clip_grad_norm_, Adam) and a forward pass for inference."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    # zoo/train/state.py's fused Adam for zoo; the references' own training scripts use the default one
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=family == "zoo")
    generator = torch.Generator().manual_seed(0)
    t_infer = torch.full((x0.shape[0],), diffusion.num_timesteps // 2, dtype=torch.long)

    def train_step() -> torch.Tensor:
        model.train()
        x = x0.contiguous(memory_format=fmt)
        with _autocast(bf16):
            loss = diffusion.training_loss(model, x, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        return loss.detach()

    def infer() -> torch.Tensor:
        model.eval()
        with torch.inference_mode(), _autocast(bf16):
            return model(x0.contiguous(memory_format=fmt), t_infer)

    c = Candidate(name, family, "bf16" if bf16 else "fp32", channels_last, model, train_step, infer,
                  sampler(model) if sampler else None)
    c.params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter:
        with _autocast(bf16):
            loss = diffusion.training_loss(model, x0.contiguous(memory_format=fmt), generator=torch.Generator().manual_seed(1))
        loss.backward()
    model.zero_grad(set_to_none=True)
    c.train_flops = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        infer()
    c.infer_flops = counter.get_total_flops()
    return c


def zoo_sampler(diffusion: nn.Module, image_size: int, channels: int, steps: int):
    """zoo's registered ``ddim`` sampler: ``build(model) -> sample(n)``, one batch of ``n`` images."""
    from zoo.plugins import get_registry

    ddim = get_registry().get("sampler", "ddim").factory

    def build(model: nn.Module) -> Callable[[int], torch.Tensor]:
        generator = torch.Generator().manual_seed(0)

        def sample(n: int) -> torch.Tensor:
            model.eval()
            return ddim(model, diffusion, (n, channels, image_size, image_size), steps=steps, generator=generator)
        return sample

    return build


def in_batches(sample: Callable[[int], torch.Tensor], batch: int) -> Callable[[int], torch.Tensor]:
    """``sample(n)`` for any ``n``, drawn in batches of at most ``batch``: every model samples the same way."""
    return lambda n: torch.cat([sample(min(batch, n - i)) for i in range(0, n, batch)])


def sample_images(spec: str, size: int) -> int:
    """``--sample-images``: one number for every size, or ``SIZE:N`` pairs (``16:1000,32:100``)."""
    if ":" not in spec:
        return int(spec)
    pairs = dict(item.split(":") for item in spec.split(","))
    if str(size) not in pairs:
        raise SystemExit(f"--sample-images {spec!r} names no count for size {size}")
    return int(pairs[str(size)])


def build_candidates(args: argparse.Namespace, size: int) -> list[Candidate]:
    from zoo.config.spec import ModelSpec
    from zoo.diffusion.gaussian import GaussianDiffusion
    from zoo.models.unet import Unet
    from zoo.plugins import get_registry

    channels = 3
    betas = get_registry().create("schedule", "linear", 1000)
    diffusion = GaussianDiffusion(betas, objective="eps", loss="mse")
    x0 = torch.rand(args.batch, channels, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    zoo_ddim = zoo_sampler(diffusion, size, channels, args.sample_steps)
    lucid_ddim = lambda m: references.lucidrains_ddim(m, image_size=size, steps=args.sample_steps)  # noqa: E731
    diff_ddim = lambda m: references.diffusers_ddim(m, image_size=size, steps=args.sample_steps)  # noqa: E731

    plan: list[tuple[str, str, Callable[[], nn.Module], bool, bool, Any]] = []
    for block in ("convnext", "resnet"):
        build = lambda block=block: Unet(ModelSpec(channels=channels, image_size=size, block=block, **references.SAME_ARCHITECTURE), get_registry())  # noqa: E731
        plan.append((f"zoo {block}", "zoo", build, True, False, zoo_ddim))
        if args.zoo_nchw:
            plan.append((f"zoo {block} nchw", "zoo", build, False, False, zoo_ddim))
        if args.bf16:
            plan.append((f"zoo {block} bf16", "zoo", build, True, True, None))
    have = references.available()
    if have["denoising-diffusion-pytorch"]:
        plan.append(("lucidrains", "lucidrains", references.lucidrains_unet, False, False, lucid_ddim))
        if args.ref_channels_last:
            plan.append(("lucidrains channels_last", "lucidrains", references.lucidrains_unet, True, False, None))
    if have["diffusers"]:
        build = lambda: references.diffusers_unet(image_size=size)  # noqa: E731
        plan.append(("diffusers", "diffusers", build, False, False, diff_ddim))
        if args.ref_channels_last:
            plan.append(("diffusers channels_last", "diffusers", build, True, False, None))
    only = set(args.only.split(",")) if args.only else None
    out = []
    for name, family, build, channels_last, bf16, sampler in plan:
        if only and name not in only:
            continue
        torch.manual_seed(0)
        if args.no_sample or sampler is None:
            sampler = None
        else:  # every model draws in batches of the same size
            sampler = lambda m, draw=sampler: in_batches(draw(m), args.sample_batch)  # noqa: E731
        out.append(make_candidate(name, family, build(), diffusion, x0, channels_last=channels_last, bf16=bf16,
                                  sampler=sampler))
    return out


# -- the machine's peaks ------------------------------------------------------------------------
def peak_probes(size: int, batch: int) -> dict[str, tuple[Callable[[], Any], float]]:
    """name -> (a few repetitions of one op, FLOPs of those repetitions)."""
    probes = {}
    for dtype, tag in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        x = torch.randn(batch, 64, size, size, dtype=dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(64, 64, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
        a = torch.randn(1024, 1024, dtype=dtype)
        conv_reps = max(1, 4 * (32 // size) ** 2)
        probes[f"conv3x3 {tag}"] = (
            lambda x=x, w=w, n=conv_reps: [F.conv2d(x, w, padding=1) for _ in range(n)],
            2.0 * batch * size * size * 64 * 64 * 9 * conv_reps,
        )
        probes[f"matmul {tag}"] = (lambda a=a: [a @ a for _ in range(4)], 2.0 * 1024**3 * 4)
    return probes


# -- timing ---------------------------------------------------------------------------------------
def round_robin(tasks: dict[str, Callable[[], Any]], reps: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of every task, interleaved: each repetition runs every task once, starting
    one further along the list, so slow phases of a shared machine are spread over all of them."""
    for fn in tasks.values():
        for _ in range(warmup):
            fn()
    names = list(tasks)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            tasks[name]()
            times[name].append(time.perf_counter() - start)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# -- one image size -----------------------------------------------------------------------------
def run_size(args: argparse.Namespace, size: int, log: Callable[[str], None]) -> dict[str, Any]:
    log(f"[{size}x{size}] building models")
    candidates = build_candidates(args, size)
    probes = peak_probes(size, args.batch)

    log(f"[{size}x{size}] training steps and peaks, {args.reps} round-robin repetitions")
    tasks: dict[str, Callable[[], Any]] = {f"train:{c.name}": c.train_step for c in candidates}
    tasks.update({f"peak:{name}": fn for name, (fn, _) in probes.items()})
    times = round_robin(tasks, args.reps, warmup=2)
    log(f"[{size}x{size}] inference, {args.reps} round-robin repetitions")
    times.update(round_robin({f"infer:{c.name}": c.infer for c in candidates}, args.reps, warmup=1))
    samplers = {f"sample:{c.name}": c for c in candidates if c.sample is not None}
    n_sample = sample_images(args.sample_images, size)
    if samplers:
        log(f"[{size}x{size}] DDIM {args.sample_steps} steps of {n_sample} images in batches of {args.sample_batch}, "
            f"{args.sample_reps} round-robin repetitions")
        for c in samplers.values():  # a small warm-up draw
            c.sample(2)
        times.update(round_robin({k: (lambda c=c: c.sample(n_sample)) for k, c in samplers.items()},
                                 args.sample_reps, warmup=0))

    peaks = {name: flops / median(times[f"peak:{name}"]) / 1e9 for name, (_, flops) in probes.items()}
    # The peak probes double as a contention detector: on a quiet machine their repetitions agree.
    conv = times["peak:conv3x3 fp32"]
    spread = max(conv) / min(conv)
    rows = {}
    for c in candidates:
        step = median(times[f"train:{c.name}"])
        infer = median(times[f"infer:{c.name}"])
        gflops = c.train_flops / step / 1e9
        conv_peak, mm_peak = peaks[f"conv3x3 {c.precision}"], peaks[f"matmul {c.precision}"]
        row = {
            "family": c.family, "precision": c.precision, "channels_last": c.channels_last,
            "params": c.params, "train_gflop_per_step": c.train_flops / 1e9, "infer_gflop": c.infer_flops / 1e9,
            "train_step_ms": step * 1e3, "train_images_per_s": args.batch / step, "train_gflops_per_s": gflops,
            "conv_peak_fraction": gflops / conv_peak, "matmul_peak_fraction": gflops / mm_peak,
            "infer_ms": infer * 1e3, "infer_images_per_s": args.batch / infer,
            "train_step_s_all": times[f"train:{c.name}"], "infer_s_all": times[f"infer:{c.name}"],
        }
        if f"sample:{c.name}" in times:
            s = min(times[f"sample:{c.name}"])  # best of the runs: one takes tens of seconds, and a
            # busy neighbour during a single run would otherwise decide the result
            row.update(sample_s=s, sample_images=n_sample, sample_batch=args.sample_batch,
                       sample_steps=args.sample_steps, sample_s_per_1000=s * 1000 / n_sample,
                       sample_extrapolated=n_sample != 1000, sample_s_all=times[f"sample:{c.name}"])
        rows[c.name] = row
    return {"image_size": size, "batch": args.batch, "peaks_gflops_per_s": peaks, "conv_peak_spread": spread,
            "peak_s_all": {k: times[f"peak:{k}"] for k in probes}, "models": rows, "targets": targets(rows)}


def targets(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's four targets, as ratios within this run (None when a reference is missing)."""
    out = []

    def ratio(a: str, b: str, key: str, invert: bool = False) -> float | None:
        if a not in rows or b not in rows or key not in rows[a] or key not in rows[b]:
            return None
        x, y = rows[a][key], rows[b][key]
        return y / x if invert else x / y

    for zoo_row in ("zoo resnet", "zoo convnext"):
        out.append({"target": "training images/s vs lucidrains (same architecture)", "zoo": zoo_row,
                    "ratio": ratio(zoo_row, "lucidrains", "train_images_per_s"), "need": TARGETS["train_vs_lucidrains"],
                    "paired": paired(rows, zoo_row, "lucidrains", "train_step_s_all")})
    if "lucidrains channels_last" in rows:  # the reference at its best memory format, for honesty
        out.append({"target": "training images/s vs lucidrains in channels_last", "zoo": "zoo resnet",
                    "ratio": ratio("zoo resnet", "lucidrains channels_last", "train_images_per_s"),
                    "need": TARGETS["train_vs_lucidrains"]})
    for zoo_row in ("zoo convnext", "zoo resnet"):
        out.append({"target": "achieved GFLOP/s vs diffusers", "zoo": zoo_row,
                    "ratio": ratio(zoo_row, "diffusers", "train_gflops_per_s"), "need": TARGETS["gflops_vs_diffusers"]})
    for zoo_row in ("zoo convnext", "zoo resnet", "zoo convnext bf16", "zoo resnet bf16"):
        if zoo_row in rows:
            out.append({"target": "training step / 3x3-conv peak (same precision)", "zoo": zoo_row,
                        "ratio": rows[zoo_row]["conv_peak_fraction"], "need": TARGETS["conv_peak_fraction"]})
    for zoo_row in ("zoo resnet", "zoo convnext"):
        out.append({"target": "DDIM-50 sampling speed vs lucidrains", "zoo": zoo_row,
                    "ratio": ratio(zoo_row, "lucidrains", "sample_s", invert=True), "need": TARGETS["ddim_vs_lucidrains"],
                    "paired": paired(rows, zoo_row, "lucidrains", "sample_s_all")})
    for t in out:
        t["met"] = None if t["ratio"] is None else t["ratio"] >= t["need"]
    return out


def paired(rows: dict[str, dict[str, Any]], a: str, b: str, series: str) -> dict[str, float] | None:
    """Seconds of ``b`` over seconds of ``a``, round by round: a round times every model once, back to back,
    so a slow phase of a shared host slows both sides of a pair, and the spread of these ratios is the
    measurement's own noise. Their median and quartiles (None without both series)."""
    xs, ys = rows.get(a, {}).get(series), rows.get(b, {}).get(series)
    if not xs or not ys or len(xs) != len(ys):
        return None
    r = [y / x for x, y in zip(xs, ys)]
    q1, _, q3 = statistics.quantiles(r, n=4, method="inclusive") if len(r) > 1 else (r[0],) * 3
    return {"median": statistics.median(r), "q1": q1, "q3": q3, "rounds": len(r)}


# -- reporting ------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = platform.processor()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    return {
        "cpu": model, "logical_cpus": os.cpu_count(), "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
        "python": platform.python_version(), "references": references.available(),
    }


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 170)
    m = result["machine"]
    console.print(f"[bold]{m['cpu']}[/], {m['logical_cpus']} logical CPUs, {m['threads']} torch threads, "
                  f"torch {m['torch']} ({m['cpu_capability']}); allocator: {result.get('allocator', '?')}; "
                  f"load average {result['load_before']} -> {result['load_after']}")
    for size in result["sizes"]:
        s = result["sizes"][size]
        peaks = ", ".join(f"{k} {v:.0f}" for k, v in s["peaks_gflops_per_s"].items())
        table = Table(title=f"{size}x{size}x3, batch {s['batch']}: training step (fwd+bwd+clip+Adam), inference, DDIM "
                            f"| peaks GFLOP/s: {peaks}")
        for col in ("model", "prec", "CL", "params M", "GFLOP/step", "ms/step", "train img/s", "GFLOP/s",
                    "% conv pk", "% mm pk", "infer img/s", "DDIM s/1k img"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for name, r in s["models"].items():
            ddim = f"{r['sample_s_per_1000']:.0f}{' (x)' if r['sample_extrapolated'] else ''}" if "sample_s" in r else "-"
            table.add_row(name, r["precision"], "y" if r["channels_last"] else "n", f"{r['params'] / 1e6:.2f}",
                          f"{r['train_gflop_per_step']:.1f}", f"{r['train_step_ms']:.0f}", f"{r['train_images_per_s']:.1f}",
                          f"{r['train_gflops_per_s']:.0f}", f"{100 * r['conv_peak_fraction']:.0f}",
                          f"{100 * r['matmul_peak_fraction']:.0f}", f"{r['infer_images_per_s']:.0f}", ddim)
        console.print(table)
        goals = Table(title=f"{size}x{size}: targets (ratios within this run)")
        for col in ("target", "zoo row", "measured", "needed", "met", "paired rounds: median (quartiles)"):
            goals.add_column(col)
        for t in s["targets"]:
            measured = "n/a" if t["ratio"] is None else f"{t['ratio']:.2f}"
            met = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[t["met"]]
            p = t.get("paired")
            rounds = f"{p['median']:.2f} ({p['q1']:.2f}-{p['q3']:.2f}), {p['rounds']} rounds" if p else "-"
            goals.add_row(t["target"], t["zoo"], measured, f">= {t['need']}", met, rounds)
        console.print(goals)
        if any(r.get("sample_extrapolated") for r in s["models"].values()):
            console.print("(x): DDIM time extrapolated linearly to 1,000 images from the number drawn")
        if s["conv_peak_spread"] > 1.5:
            console.print(f"[red]warning[/]: the conv3x3 probe varied {s['conv_peak_spread']:.1f}x between repetitions: "
                          "another process was competing for the cores; re-run when `uptime` shows a load below ~0.5")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="32,16", help="image sizes, comma-separated (default 32,16)")
    p.add_argument("--batch", type=int, default=32, help="training and inference batch (default 32)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--reps", type=int, default=10, help="round-robin repetitions of steps and peaks (default 10)")
    p.add_argument("--sample-images", default="16:1000,32:100",
                   help="images per DDIM run, one count or SIZE:N pairs; below 1000 extrapolated (default 16:1000,32:100)")
    p.add_argument("--sample-batch", type=int, default=100, help="DDIM batch, the same for every model (default 100)")
    p.add_argument("--sample-steps", type=int, default=50, help="DDIM steps (default 50)")
    p.add_argument("--sample-reps", type=int, default=2, help="round-robin repetitions of the DDIM runs (default 2)")
    p.add_argument("--no-sample", action="store_true", help="skip DDIM sampling")
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip zoo's opt-in bf16 rows")
    p.add_argument("--ref-channels-last", action="store_true", help="also time the references in channels_last")
    p.add_argument("--zoo-nchw", action="store_true", help="also time zoo's networks in NCHW (train.channels_last = false)")
    p.add_argument("--default-allocator", action="store_true", help="keep glibc's malloc defaults (see above)")
    p.add_argument("--only", default="", help="comma-separated row names to keep (e.g. 'zoo resnet,lucidrains')")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS.relative_to(ROOT)})")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    from zoo.runtime.allocator import tune_allocator

    allocator = "glibc defaults" if args.default_allocator else ("zoo.tune_allocator" if tune_allocator() else "unchanged")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    result: dict[str, Any] = {
        "command": "python benchmarks/perf/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(), "load_before": [round(x, 2) for x in os.getloadavg()],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "allocator": allocator, "targets_needed": TARGETS, "sizes": {},
    }
    for size in (int(s) for s in args.sizes.split(",")):
        result["sizes"][str(size)] = run_size(args, size, log)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print_report(result)
    from zoo.runtime.io import atomic_write_text

    text = json.dumps(result, indent=1) + "\n"
    atomic_write_text(args.json, text)
    log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
