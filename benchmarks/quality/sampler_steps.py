"""How many sampler steps a trained run needs: the same weights and the same start noise, sampled with
``--sampler`` at each of ``--steps``, for each ``--seeds`` offset of the run's sampling seed, timed and
scored with the run's metric against its test split (paired rows: only the step count differs).

    python benchmarks/quality/sampler_steps.py RUN_DIR[,RUN_DIR...] --steps 8,10,12,15 --seeds 0,1 [--spacings trailing,linspace]
    python benchmarks/quality/sampler_steps.py RUN_DIR --sampler ddim --steps 40,100 --option eta=1.0 --option spacing=trailing
    python benchmarks/quality/sampler_steps.py RUN_DIR --steps 40 --seeds 0,1 --weights raw   # the raw weights, not the EMA's

Runs come from ``benchmarks/quality/run.py --runs DIR``. Prints and appends JSON lines to ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from run import sample_and_score  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", help="comma-separated run folders")
    p.add_argument("--sampler", default="dpmpp_2m")
    p.add_argument("--steps", default="10,15")
    p.add_argument("--spacings", default="", help="comma-separated timestep spacings to compare (the sampler's "
                   "`spacing` option, zoo.diffusion.samplers); default: the run's own")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a sampler option, e.g. eta=1.0 for ddim (repeatable; as `zoo sample --option`)")
    p.add_argument("--seeds", default="0,1", help="offsets added to the run's eval.seed")
    p.add_argument("--weights", choices=("ema", "raw"), default=None, help="which weights to sample (default: the run's eval.weights)")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/sampler_steps.jsonl")
    args = p.parse_args()

    import torch

    import zoo
    from zoo.commands.sample import parse_options
    from zoo.config.spec import from_dict, read_spec_json
    from zoo.data.prepare import prepare
    from zoo.errors import UserError
    from zoo.runs.load import load_run
    from zoo.runtime.cpu import current

    zoo.tune_allocator()
    torch.set_num_threads(args.threads)
    cpu = current().describe()
    spacings = args.spacings.split(",") if args.spacings else [""]
    try:
        extra = parse_options(args.option)
    except UserError as e:
        sys.exit(str(e))
    with Path(args.out).open("a") as log:
        for run_dir in args.runs.split(","):
            spec = from_dict(read_spec_json(Path(run_dir) / "spec.json"))
            weights = args.weights or spec.eval.weights
            run = load_run(run_dir, weights=weights)
            prepared = prepare(spec.data)
            for offset in map(int, args.seeds.split(",")):
                for steps, spacing in itertools.product(map(int, args.steps.split(",")), spacings):
                    options = {**extra, **({"spacing": spacing} if spacing else {})} or None
                    values, seconds = sample_and_score(run, spec, prepared, args.sampler, steps, args.n, offset, options)
                    row = {"run": str(run_dir), "cpu": cpu, "sampler": args.sampler, "steps": steps,
                           **({"spacing": spacing} if spacing else {}), **({"options": extra} if extra else {}),
                           "seed_offset": offset, **({"weights": weights} if args.weights else {}),
                           "s_per_1000": round(seconds * 1000 / args.n, 2), **{k: round(v, 3) for k, v in values.items()}}  # fmt: skip
                    print(json.dumps(row), flush=True)
                    log.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
