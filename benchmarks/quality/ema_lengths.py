"""How long should the EMA be? One run of the recipe keeps power-function EMAs of several lengths
(``train.ema_std``, Karras et al. 2024) side by side, then each is sampled the recipe's way from the same noise
and scored (paired rows: only the averaging differs, so run-to-run spread does not enter the comparison).

    python benchmarks/quality/ema_lengths.py train RUN --data emoji:32:3 --minutes 32 --stds 0.05,0.15,0.2,0.25
    python benchmarks/quality/ema_lengths.py train RUN --model beta099 --stds 0.15,0.2   # a variant of run.py's
    python benchmarks/quality/ema_lengths.py draw RUN --seeds 0,1,2 --out benchmarks/results/ema_lengths.json --what "..."
    python benchmarks/quality/ema_lengths.py train RUN --stds 0.2 --guides-at 0.035,0.07,0.1   # other guides' places
    python benchmarks/quality/ema_lengths.py draw RUN --stds 0.15 --guides own,at0.035,at0.07,0.2 --out ...
    python benchmarks/quality/ema_lengths.py draw RUN --guidance 1 --out ...   # the averages unguided

``train`` trains the recipe in ``RUN`` (a fresh folder) and writes ``RUN/ema_lengths/std<S>.safetensors``
beside the run's own EMA (its spec's ``train.ema_std``). The extra averages are updated outside the training
steps, so they cost the run no steps of its time budget (the loop counts only step time). ``draw`` samples the run's
own EMA and each extra one (and ``raw``, the last weights, with ``--raw``), each guided by the same average
at ``train.guide_at`` (the hook keeps those too: what the recipe would do with that ``ema_std``) or, with
``--guides own``, by the run's own guide (``--guides 0.05``: by that average's; ``--guides at0.1``: by the run's own
EMA at 0.1 of the budget, kept by ``train --guides-at``; a list draws each average with each guide).
``--guidance 1`` draws them unguided.
Appends one entry (provenance, the command, the rows) to ``--out``, a JSON list.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from provenance import append_record, provenance  # noqa: E402
from run import DATA, MODELS, sample_and_score, spec_dict  # noqa: E402

FOLDER = "ema_lengths"


def extra_emas(stds: list[float], guides_at: list[float]):  # noqa: ANN201 - a zoo TrainingHook, imported late
    """A training hook keeping one power-function EMA per ``std`` (each with its guide, kept when the run keeps
    its own), and the run's own EMA at each fraction of ``guides_at`` of the budget (other guides than the
    recipe's ``train.guide_at``), saving them all at the end."""
    from safetensors.torch import save_file

    from zoo.contract import TrainingHook
    from zoo.runtime.io import atomic_path, atomic_write_text
    from zoo.train.ema import EMA
    from zoo.train.guide import cpu_copy as on_cpu
    from zoo.train.lr import progress

    def save(tensors: dict, path: Path) -> None:
        with atomic_path(path) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp)

    class ExtraEMAs(TrainingHook):
        def on_start(self, run, state) -> None:  # noqa: ANN001
            if state.step:
                sys.exit("ema_lengths.py trains fresh runs only: the extra averages are not checkpointed")
            self.emas = {std: EMA(state.model, std=std) for std in stds}
            self.guides: dict[float, dict] = {}
            self.at: dict[float, tuple[int, dict]] = {}  # fraction: (step, the run's own EMA weights then)

        def after_step(self, run, state, loss: float) -> None:  # noqa: ANN001, ARG002
            start = time.perf_counter()
            for ema in self.emas.values():
                ema.update(state.model)
            if state.guide is not None and not self.guides:  # zoo's KeepGuide (it runs first) kept the guide now
                self.guides = {std: on_cpu(ema.state_dict()) for std, ema in self.emas.items()}
            done = progress(state.step, run.limit, state.elapsed, run.deadline)
            for at in guides_at:
                if at not in self.at and done >= at:
                    self.at[at] = state.step, on_cpu(state.ema.state_dict())
            state.paused += time.perf_counter() - start  # not training: the logger's images/s leaves it out

        def on_end(self, run, state) -> None:  # noqa: ANN001
            for std, ema in self.emas.items():
                save(ema.state_dict(), Path(run.run_dir) / FOLDER / f"std{std:g}.safetensors")
                if std in self.guides:
                    save(self.guides[std], Path(run.run_dir) / FOLDER / f"guide_std{std:g}.safetensors")
            for at, (_, tensors) in self.at.items():
                save(tensors, Path(run.run_dir) / FOLDER / f"guide_at{at:g}.safetensors")
            steps = {f"at{at:g}": step for at, (step, _) in self.at.items()}
            atomic_write_text(Path(run.run_dir) / FOLDER / "guide_steps.json", json.dumps(steps, indent=1))

    return ExtraEMAs()


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def train(args: argparse.Namespace) -> None:
    import torch

    from zoo.config.resolve import resolve
    from zoo.config.spec import from_dict
    from zoo.train import train as train_run

    if Path(args.run).exists():
        sys.exit(f"{args.run} exists: train needs a fresh folder")
    torch.set_num_threads(args.threads)
    name, size, channels = args.data.split(":")
    DATA.update(dataset=name, size=int(size), channels=int(channels))
    spec = resolve(from_dict(spec_dict(args.model, args.minutes, args.threads, 1000)))
    summary = train_run(spec, args.run, progress=False, hooks=[extra_emas(floats(args.stds), floats(args.guides_at))])
    print(json.dumps({"step": summary.step, "elapsed": summary.elapsed}))


def draw(args: argparse.Namespace) -> None:
    import copy

    import torch
    from safetensors.torch import load_file

    from zoo.config.spec import from_dict, read_spec_json
    from zoo.data.prepare import prepare
    from zoo.runs.checkpoint import find_checkpoint, load_weights
    from zoo.runs.load import load_run

    torch.set_num_threads(args.threads)
    spec = from_dict(read_spec_json(Path(args.run) / "spec.json"))
    run = load_run(args.run)
    prepared = prepare(spec.data)

    def weights(tensors: dict):  # noqa: ANN202
        network = copy.deepcopy(run.model)
        network.load_state_dict(tensors)
        return network.eval()

    folder = Path(args.run) / FOLDER
    own = f"{spec.train.ema_std:g}"
    own_guide = f"{spec.train.guide_ema_std or spec.train.ema_std:g}"  # the average the run's own guide was kept from
    kept = [own] + [f.stem.removeprefix("std") for f in sorted(folder.glob("std*.safetensors"))]
    at_steps = json.loads((folder / "guide_steps.json").read_text()) if (folder / "guide_steps.json").is_file() else {}
    stds = kept if args.stds is None else args.stds.split(",")
    guides = args.guides.split(",")
    if unknown := [s for s in stds if s not in kept] + [g for g in guides if g not in ("matched", "own", *kept, *at_steps)]:
        sys.exit(f"{args.run} kept no average or guide {', '.join(unknown)}; it kept the averages {', '.join(kept)} "
                 f"and the guides {', '.join(at_steps) or 'of those averages'}")
    if args.raw:
        stds.append("raw")
    drawn = run.spec if args.guidance is None else dataclasses.replace(
        run.spec, eval=dataclasses.replace(run.spec.eval, guidance=args.guidance))
    variants = {}  # per (std, guide): the run with that average and guide, the guide's label and step (loaded once, drawn per seed)
    for std in stds:
        if std == own:
            network = run.model
        elif std == "raw":
            network = weights(load_weights(find_checkpoint(args.run), "model"))
        else:
            network = weights(load_file(folder / f"std{std}.safetensors"))
        for choice in guides:
            if choice in at_steps:  # the run's own EMA at another fraction of the budget
                guide, label, step = (weights(load_file(folder / f"guide_{choice}.safetensors")),
                                      f"the run's own EMA (std {own}) at {choice[2:]} of the budget", at_steps[choice])
            else:
                guide_std = std if choice == "matched" else choice
                guide_file = folder / f"guide_std{guide_std}.safetensors"  # none for the run's own average: its guide is the run's
                guide, label = ((weights(load_file(guide_file)), f"the EMA of std {guide_std}") if guide_file.is_file()
                                else (run.guide, f"the run's own (EMA std {own_guide})"))
                step = run.guide_step
            if args.guidance is not None:  # another weight than the spec's (1: unguided, what the averages alone give)
                label = "none" if args.guidance == 1 else f"{label}, weight {args.guidance:g}"
            variants[std, choice] = dataclasses.replace(run, model=network, guide=guide, spec=drawn), label, step
    record = {**provenance(), "what": args.what, "command": " ".join(sys.argv), "run": args.run, "rows": []}
    for offset in map(int, args.seeds.split(",")):
        for (std, _), (variant, label, guide_step) in variants.items():
            values, seconds = sample_and_score(variant, spec, prepared, spec.eval.sampler, spec.eval.steps, args.n, offset)
            row = {"run_step": run.step, "ema_std": std, "own": std == own, "seed_offset": offset,
                   "guide": label, "guidance": drawn.eval.guidance, "guide_step": guide_step, "s_per_1000": round(seconds * 1000 / args.n, 2),
                   **{k: round(v, 3) for k, v in values.items()}}
            print(json.dumps(row), flush=True)
            record["rows"].append(row)
    append_record(args.out, record)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the recipe keeping extra EMAs")
    t.add_argument("run")
    t.add_argument("--data", default="emoji:32:3", help="dataset:size:channels")
    t.add_argument("--minutes", type=float, default=32)
    t.add_argument("--model", default="new", help="run.py's model: the recipe (new) or one of its variants",
                   choices=[k for k, (preset, o) in MODELS.items() if preset is None and "name" not in o.get("model", {})])
    t.add_argument("--stds", default="0.05,0.15,0.2,0.25", help="comma-separated EMA lengths kept besides the spec's")
    t.add_argument("--guides-at", default="", help="comma-separated fractions of the budget: the run's own EMA kept at "
                                                   "each, as a guide besides the spec's train.guide_at")
    d = sub.add_parser("draw", help="sample and score each EMA from the same noise")
    d.add_argument("run")
    d.add_argument("--seeds", default="0", help="offsets added to the run's eval.seed")
    d.add_argument("--raw", action="store_true", help="the last raw weights too")
    d.add_argument("--stds", default=None, help="comma-separated: only these EMAs (default: all kept)")
    d.add_argument("--guides", default="matched",
                   help="comma-separated, each EMA drawn with each: matched: guided by the same EMA at train.guide_at (what "
                        "the recipe would do with that ema_std); own: by the run's own guide; a kept std (0.05): by that "
                        "average's guide; at<F> (at0.1, kept by train --guides-at): by the run's own EMA at F of the budget")
    d.add_argument("--guidance", type=float, default=None, help="the guidance weight (default: the spec's; 1: unguided)")
    d.add_argument("--n", type=int, default=1000)
    d.add_argument("--what", default="", help="what the rows answer, for the record")
    d.add_argument("--out", required=True)
    for q in (t, d):
        q.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    from zoo.runtime.allocator import tune_allocator

    tune_allocator()
    train(args) if args.command == "train" else draw(args)


if __name__ == "__main__":
    main()
