"""The walk of a spec from `zoo train` to the first optimisation step (issue 25's "passes through at most 12
modules"): the zoo modules whose functions receive the spec, or one of its sections, as an argument, in call
order, from the command's start until Adam's first step, traced with ``sys.setprofile``. Counts the distinct
modules, the moves between modules, and the moves back to a module already walked through.

    PYTHONPATH=/path/to/old/checkout python benchmarks/spec_walk.py --label before --out benchmarks/results/spec_walk.json
    python benchmarks/spec_walk.py --label after --out benchmarks/results/spec_walk.json

Run it with the zoo to measure on the path (an older checkout: ``PYTHONPATH`` or a venv of its own). The
results file holds one walk per label (a label measured again replaces its walk) and where it ran.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import provenance  # noqa: E402


def spec_types() -> tuple[type, ...]:
    try:
        from zoo.config import spec as s
    except ImportError:  # before the house redesign
        import zoo.spec as s  # type: ignore[no-redef]
    return s.RunSpec, s.ModelSpec, s.DiffusionSpec, s.DataSpec, s.TrainSpec, s.EvalSpec


class FirstStep(Exception):
    """Raised by Adam's first step: the walk ends there."""


def walk(tmp: str) -> list[str]:
    from zoo.cli import main

    types, seq = spec_types(), []

    def profile(frame, event, arg):  # noqa: ANN001, ANN202
        name = frame.f_globals.get("__name__", "")
        if event != "call" or name.split(".")[0] != "zoo":
            return
        code = frame.f_code
        args = [frame.f_locals.get(v) for v in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]]
        if any(isinstance(a, types) for a in args) and (not seq or seq[-1] != name):
            seq.append(name)

    def first_step(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        sys.setprofile(None)
        raise FirstStep

    torch.optim.Adam.step = first_step
    sys.setprofile(profile)
    try:
        main(["train", "--set", "data.size=8", "--set", "model.dim=8", "--set", "model.dim_mults=[1,2]",
              "--set", "train.steps=2", "--set", f"data.prepared={tmp}/prepared", "--out", f"{tmp}/run", "--no-progress"])
    except FirstStep:
        pass
    finally:
        sys.setprofile(None)
    return seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current")
    parser.add_argument("--out", type=Path, default=None, help="results file: this label's walk is added or replaced")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seq = walk(tmp)
    modules = list(dict.fromkeys(seq))
    row = {
        "label": args.label, "modules": len(modules), "moves": len(seq),
        "back": sum(1 for i in range(1, len(seq)) if seq[i] in seq[:i]), "walk": seq,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=Path(__import__("zoo").__file__).parent).stdout.strip(),
    }
    print(json.dumps({k: v for k, v in row.items() if k != "walk"}), "\n", " -> ".join(seq))
    if args.out:
        record = json.loads(args.out.read_text()) if args.out.is_file() else {}
        walks = {**record.get("walks", {}), args.label: row}
        try:
            where = provenance()
        except ImportError:  # an old checkout without zoo.runtime: the file keeps where its other walks ran
            where = {k: v for k, v in record.items() if k != "walks"}
        args.out.write_text(json.dumps({**where, "walks": walks}, indent=1) + "\n")


if __name__ == "__main__":
    main()
