"""What a training run is fixed to before its first step: spec, folder, process, device, data, budget."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.config.resolve import ResolvedSpec, resolve
from zoo.config.spec import RunSpec, from_dict, read_spec_json
from zoo.data.loader import batches_per_epoch
from zoo.data.prepare import PreparedData, prepare
from zoo.errors import UserError
from zoo.runs.checkpoint import find_checkpoint
from zoo.runs.load import pick_device
from zoo.train.distributed import barrier, init_distributed

DEFAULT_EPOCHS = 40  # the study: 20 much worse, 80 slightly better but not worth double the time
BUDGET_FIELDS = ("steps", "epochs", "minutes")


@dataclass(frozen=True)
class TrainingRun:
    """The fixed facts of one training process; the loop reads them, never changes them."""

    spec: ResolvedSpec
    run_dir: Path
    rank: int
    world_size: int
    device: torch.device
    prepared: PreparedData
    steps_per_epoch: int
    limit: int | None  # steps to train; None when a minutes budget alone is given
    deadline: float | None  # seconds of training steps, from train.minutes

    @property
    def writer(self) -> bool:
        """Only rank 0 writes files."""
        return self.rank == 0

    @property
    def images_per_step(self) -> int:
        return self.spec.train.batch_size * self.world_size

    def budget_spent(self, step: int, elapsed: float) -> bool:
        """The one stop condition of the budget: steps (or epochs) done, or the minutes used up."""
        return (self.limit is not None and step >= self.limit) or (self.deadline is not None and elapsed >= self.deadline)


def total_steps(spec: RunSpec, steps_per_epoch: int) -> int | None:
    """Steps to train: ``steps``, else ``epochs`` (default 40 unless a minutes budget alone is given)."""
    t = spec.train
    if t.steps is not None:
        return t.steps
    if t.epochs is not None:
        return t.epochs * steps_per_epoch
    return None if t.minutes is not None else DEFAULT_EPOCHS * steps_per_epoch


def setup_run(spec: ResolvedSpec, run_dir: str | Path, *, resume: bool, progress: bool,
              saved: dict[str, Any] | None = None) -> TrainingRun:
    """Check the folder against ``resume``, join the process group, pick the device, prepare the data."""
    run_dir = Path(run_dir)
    rank, world_size = init_distributed()
    spec = resolve_resume(spec, run_dir, resume, saved)
    t = spec.train
    if t.threads:
        torch.set_num_threads(t.threads)
    device = pick_device()
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    prepared = _prepare_once(spec, rank, world_size, progress)
    n_train = len(prepared.images("train"))
    steps_per_epoch = batches_per_epoch(n_train, t.batch_size, world_size)
    if steps_per_epoch == 0:
        raise UserError(f"the train split has {n_train} images, fewer than one batch of {t.batch_size * world_size}; "
                        "lower train.batch_size")
    deadline = None if t.minutes is None else t.minutes * 60.0
    return TrainingRun(spec, run_dir, rank, world_size, device, prepared, steps_per_epoch,
               total_steps(spec, steps_per_epoch), deadline)


def _prepare_once(spec: ResolvedSpec, rank: int, world_size: int, progress: bool) -> PreparedData:
    """Rank 0 prepares (or reuses) the data; the other ranks wait, then open the same copy."""
    prepared = prepare(spec.data, spec.registry, progress=progress) if rank == 0 else None
    barrier(world_size)
    return prepared if prepared is not None else prepare(spec.data, spec.registry, progress=False)


def resolve_resume(spec: ResolvedSpec, run_dir: Path, resume: bool,
                   saved: dict[str, Any] | None = None) -> ResolvedSpec:
    """``spec``, checked against the folder. When resuming, ``spec`` is the run's saved spec with the user's
    settings applied (see ``zoo.commands.train``); only the budget (steps, epochs, minutes) may differ.
    ``saved``: the run's spec.json as the caller read it already (it is not read again)."""
    saved_path = run_dir / "spec.json"
    has_run = saved_path.is_file() and find_checkpoint(run_dir) is not None
    if not resume:
        if has_run:
            raise UserError(f"'{run_dir}' already holds a trained run; pass --resume to continue it or choose another --out")
        return spec
    if not has_run:
        raise UserError(f"nothing to resume in '{run_dir}' (no spec.json and checkpoint); drop --resume to start a run")
    mine = spec.to_dict()
    # the saved spec in today's canonical form: a run saved before a setting became canonical (the VAE's
    # unused U-Net and diffusion settings, reset since 71f1aeb) is the same run
    theirs = resolve(from_dict(saved if saved is not None else read_spec_json(saved_path)), spec.registry).to_dict()
    for name in BUDGET_FIELDS:  # a resumed run may be given a new budget; nothing else may change
        mine["train"][name] = theirs["train"][name] = None
    if mine != theirs:
        diff = sorted(f"{s}.{k}" for s in mine for k in mine[s] if mine[s][k] != theirs[s][k])
        raise UserError(f"--resume: the spec differs from the run's spec.json in {', '.join(diff)}; "
                        "resume with the run's own settings (only train.steps/epochs/minutes may change)")
    return spec
