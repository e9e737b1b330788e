"""When does ``torch.compile`` repay itself for sampling? Eager against compiled, compile time counted.

    python benchmarks/perf/compile_sampling.py [--preset study] [--set model.dim=16] [--sampler ddim --steps 50]
        [--rounds 6] [--batch 250] [--threads 2] [--json benchmarks/results/compile_sampling.json]

The network is the spec's (default: the default digits recipe, 16x16 greyscale), untrained: its
weights do not change its speed; it runs in the precision `zoo sample` would give it here (bf16 on AMX
from 32x32, ``zoo.runtime.precision``). One process: an eager warm-up batch, the compile (into an empty
inductor cache, so a cold compile, as on a user's first ``zoo sample --compile`` of a network; a warm
cache compiles in seconds; ``--warm`` keeps inductor's usual cache), then ``--rounds`` rounds that
each draw one batch eagerly and one compiled, in alternating order, so a slow phase of the host hits
both. The break-even, compile time / time saved per network evaluation (from the medians), is the
figure behind ``zoo.runtime.compiled.PAYS_AFTER``; the result is appended to ``--json`` with the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rounds import alternate, per_round  # benchmarks/perf/rounds.py, beside this script


@contextmanager
def inductor_cache(warm: bool) -> Iterator[None]:
    """Inductor's usual cache when ``warm``, else an empty one for the block (a cold compile), removed after.
    Enter before torch is imported: inductor reads the variable then."""
    with tempfile.TemporaryDirectory(prefix="inductor-cold-") as cache:
        if not warm:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        yield


def measure(args: argparse.Namespace) -> dict:
    import torch

    import zoo
    from zoo.config.resolve import load_spec
    from zoo.diffusion.samplers import model_device
    from zoo.plugins import get_registry
    from zoo.runs.load import build
    from zoo.runtime.compiled import compile_for_sampling, counting_calls
    from zoo.runtime.cpu import current
    from zoo.runtime.precision import autocast, use_bf16

    zoo.tune_allocator()
    torch.set_num_threads(args.threads)
    spec = load_spec(None, args.set, preset=args.preset)
    model, diffusion = build(spec)
    model.to(memory_format=torch.channels_last if spec.train.channels_last else torch.contiguous_format).eval()
    shape = (args.batch, spec.model.channels, spec.model.image_size, spec.model.image_size)

    sample = get_registry().get("sampler", args.sampler).factory
    networks = {"off": model}

    def batch(mode: str) -> float:
        start = time.perf_counter()
        sample(networks[mode], diffusion, shape, steps=args.steps, generator=torch.Generator().manual_seed(0))
        return time.perf_counter() - start

    device = model_device(model, diffusion)
    bf16, _ = use_bf16(spec, device)
    with autocast(bf16, device):  # the precision `zoo sample` would use for this spec here
        with counting_calls(model) as calls:
            batch("off")  # warm-up; counts the calls per batch
        start = time.perf_counter()
        networks["on"] = compile_for_sampling(model, shape, device)  # compiles, into the cache
        compile_s = time.perf_counter() - start
        times = alternate(args.rounds, {mode: lambda mode=mode: batch(mode) for mode in ("off", "on")})
    per_image = {mode: statistics.median(t) / args.batch for mode, t in times.items()}
    saved_per_eval = (per_image["off"] - per_image["on"]) / calls[0]  # calls per batch = calls per image
    return {"when": time.strftime("%Y-%m-%d %H:%M"), "cpu": current().describe(), "threads": args.threads,
            "preset": args.preset, "set": args.set, "precision": "bf16" if bf16 else "fp32", "sampler": args.sampler,
            "steps": args.steps, "batch": args.batch, "rounds": args.rounds, "cold_cache": not args.warm, "calls_per_image": calls[0],
            "eager_s_per_1000": per_image["off"] * 1000, "compiled_s_per_1000": per_image["on"] * 1000,
            "speedup_per_round": per_round(times["off"], times["on"]),
            "compile_s": compile_s, "times_s": times,
            "pays_after_evaluations": compile_s / saved_per_eval if saved_per_eval > 0 else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None)
    p.add_argument("--set", action="append", default=[], help="spec override (repeatable)")
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--rounds", type=int, default=6, help="rounds of one eager and one compiled batch (default 6)")
    p.add_argument("--batch", type=int, default=250, help="sampling batch, as `zoo sample` (default 250)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warm", action="store_true", help="use inductor's usual cache (default: an empty one)")
    p.add_argument("--json", default="benchmarks/results/compile_sampling.json")
    args = p.parse_args(argv)
    with inductor_cache(args.warm):
        result = measure(args)
    print(json.dumps(result, indent=1))
    from zoo.runtime.io import append_to_json_list

    append_to_json_list(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
