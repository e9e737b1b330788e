"""Autoguidance on a trained run: the same weights and start noise sampled unguided and guided by each of
``--guides`` at each of ``--weights`` over each of ``--intervals`` of noise levels, scored with the run's
metric against its test split (paired rows: only the guide, the weight, the interval, the epsilon scaling and the sampler options differ). A guide is
a run folder (its EMA weights), a ``.safetensors`` file of weights for the run's network
(``NAME_STEP.safetensors``: STEP is recorded), or ``own``: the guide the run kept itself (``train.guide_at``,
zoo.train.guide).

    python benchmarks/quality/autoguidance.py RUN --guides own,OTHER_RUN --weights 1,1.5,2 --intervals all,0.3:5 \\
        --steps 40 --seeds 0 --out benchmarks/results/autoguidance.json --what "why these rows"

Appends one entry (provenance, the command, the rows) to ``--out``, a JSON list.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
from itertools import product
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from provenance import append_record, provenance  # noqa: E402
from run import sample_and_score  # noqa: E402


def guide_of(run, source: str):  # noqa: ANN001, ANN201
    """(guide network, its training step or None, how it was made) for one ``--guides`` entry."""
    from safetensors.torch import load_file

    from zoo.runs.load import load_run

    if source == "own":
        if run.guide is None:
            sys.exit(f"{source}: the run kept no guide (train.guide_at)")
        return run.guide, run.guide_step, f"the run's own EMA weights at train.guide_at={run.spec.train.guide_at:g}"
    if source.endswith(".safetensors"):
        network = copy.deepcopy(run.model)
        network.load_state_dict(load_file(source))
        step = re.search(r"_(\d+)\.safetensors$", source)
        return network.eval(), int(step.group(1)) if step else None, f"weights file {source}"
    other = load_run(source, weights="ema")
    return other.model, other.step, f"EMA weights of run {source}"


def interval_of(text: str, spec: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """One ``--intervals`` entry as ``eval.guidance_interval`` takes it."""
    if text in ("spec", "all"):
        return spec if text == "spec" else None
    return tuple(float(v) for v in text.split(":"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("--guides", default="own", help="comma-separated: own, run folders or .safetensors files")
    p.add_argument("--weights", default="1,2", help="guidance weights (1: unguided, scored once)")
    p.add_argument("--intervals", default="spec", help="comma-separated noise intervals to guide in: LOW:HIGH (sigma), "
                   "all (every noise level) or spec (the run's eval.guidance_interval)")
    p.add_argument("--sampler", default=None, help="default: the run's eval.sampler")
    p.add_argument("--options", default="[{}]", help='JSON list of sampler option sets, each drawn, e.g. \'[{}, {"spacing": "logsnr"}]\'')
    p.add_argument("--eps-scales", default="spec", help="comma-separated eval.eps_scale values (1: off), each drawn; "
                   "spec: the run's")
    p.add_argument("--eps-max-sigma", type=float, default=None, help="scale the noise prediction only where sigma is at most "
                   "this (default: zoo.diffusion.eps_scaling.MAX_SIGMA); recorded in each row")
    p.add_argument("--steps", default=None, help="comma-separated sampler steps (default: the run's eval.steps)")
    p.add_argument("--seeds", default="0", help="offsets added to the run's eval.seed")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--what", default="", help="what the rows answer, for the record")
    p.add_argument("--out", required=True)
    args = p.parse_args()

    import dataclasses

    import torch

    import zoo
    from zoo.config.spec import from_dict, read_spec_json
    from zoo.data.prepare import prepare
    from zoo.runs.load import load_run

    zoo.tune_allocator()
    if args.eps_max_sigma is not None:  # a probe of where the scaling pays, not a setting: zoo's wrapper reads the constant
        import zoo.diffusion.eps_scaling

        zoo.diffusion.eps_scaling.MAX_SIGMA = args.eps_max_sigma
    torch.set_num_threads(args.threads)
    record = {**provenance(), "what": args.what, "command": " ".join(sys.argv), "run": args.run, "rows": []}
    spec = from_dict(read_spec_json(Path(args.run) / "spec.json"))
    run = load_run(args.run)
    prepared = prepare(spec.data)
    sampler = args.sampler or spec.eval.sampler
    steps_list = [int(s) for s in args.steps.split(",")] if args.steps else [spec.eval.steps]
    weights = [float(w) for w in args.weights.split(",")]
    guides = [guide_of(run, g) for g in args.guides.split(",")]
    intervals = [interval_of(i, run.spec.eval.guidance_interval) for i in args.intervals.split(",")]
    option_sets = json.loads(args.options)
    scales = [run.spec.eval.eps_scale] if args.eps_scales == "spec" else [float(v) for v in args.eps_scales.split(",")]
    for offset, options, scale in product(map(int, args.seeds.split(",")), option_sets, scales):
        for steps in steps_list:
            for weight in weights:
                for (guide, guide_step, how), interval in product(*(([guides[0]], [None]) if weight == 1 else (guides, intervals))):
                    guided = run if weight == 1 else dataclasses.replace(run, guide=guide, guide_step=guide_step)
                    guided = dataclasses.replace(guided, spec=dataclasses.replace(run.spec, eval=dataclasses.replace(
                        run.spec.eval, guidance=weight, guidance_interval=interval, eps_scale=scale)))
                    values, seconds = sample_and_score(guided, spec, prepared, sampler, steps, args.n, offset, options)
                    row = {"run_step": run.step, "weight": weight, "sampler": sampler, "steps": steps, "seed_offset": offset,
                           **({"options": options} if options else {}), **({"eps_scale": scale} if scale != 1 else {}),
                           **({"eps_max_sigma": args.eps_max_sigma} if args.eps_max_sigma is not None and scale != 1 else {}),
                           **({} if weight == 1 else {"guide": how, "guide_step": guide_step,
                                                      **({} if interval is None else {"interval": [v if math.isfinite(v) else "inf" for v in interval]})}),
                           "s_per_1000": round(seconds * 1000 / args.n, 2), **{k: round(v, 3) for k, v in values.items()}}
                    print(json.dumps(row), flush=True)
                    record["rows"].append(row)
    append_record(args.out, record)


if __name__ == "__main__":
    main()
