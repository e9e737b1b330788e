"""The training loop: set up, restore, then steps until the budget is spent or Ctrl-C, with hook points.

Read top to bottom, :func:`train` is the whole story; each name it calls is one step of it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.config.resolve import resolve
from zoo.config.spec import RunSpec
from zoo.contract import TrainingHook as Hook
from zoo.curves.hook import curve_hooks
from zoo.data import loader
from zoo.runs.checkpoint import find_checkpoint, remove_stale_temporaries
from zoo.runtime.io import atomic_write_text, exclusive
from zoo.runtime.precision import describe_device, use_bf16
from zoo.train.distributed import any_rank
from zoo.train.guide import KeepGuide
from zoo.train.interrupt import StopFlag
from zoo.train.log import Logger
from zoo.train.setup import TrainingRun, setup_run
from zoo.train.state import TrainState, build_state
from zoo.train.step import FiniteWeights, LrSchedule, Step


@dataclass
class Summary:
    run_dir: str
    step: int
    epoch: int
    samples_seen: int
    elapsed: float  # seconds spent in training steps (this process and the runs it resumed)
    images_per_s: float
    final_loss: float
    parameters: int
    flops_per_image: int  # forward FLOPs of one image
    interrupted: bool
    world_size: int
    precision: str = "fp32"  # the network's, in this process: "bf16" (autocast) or "fp32" (zoo.runtime.precision)
    device: str = ""  # where this process trained: the CPU's model and zoo kind (zoo.runtime.cpu), or the GPU's name
    compiled: bool = False  # the network trained under torch.compile (train.compile, zoo.train.compiled)


def train(spec: RunSpec, run_dir: str | Path, *, resume: bool = False, progress: bool | Any = True,
          hooks: Sequence[Hook] = (), saved: dict[str, Any] | None = None) -> Summary:
    """Train the model ``spec`` describes into ``run_dir`` (see :mod:`zoo.runs.load` for the files).

    ``progress``: True for a progress bar of its own, or a live ``rich.progress.Progress`` to add the
    training task to (the benchmark's overall display). ``hooks`` (:class:`zoo.contract.TrainingHook`) run after
    zoo's own (lr schedule, logger, finite weights, the autoguidance guide of :mod:`zoo.train.guide`, the
    learning curve of :mod:`zoo.curves.hook`) and the
    registered hooks ``train.hooks`` names, in that order. ``saved``: when resuming, the run's spec.json as the
    caller read it already.
    """
    run = setup_run(resolve(spec), run_dir, resume=resume, progress=progress is True, saved=saved)
    state = build_state(run)
    if resume:
        state.restore(find_checkpoint(run.run_dir), run)
    step = Step(run, state)
    logger = Logger(run, progress)
    registered = [run.spec.registry.create("training_hook", name, run.spec) for name in run.spec.train.hooks]
    hooks = [LrSchedule(), logger, FiniteWeights(step), KeepGuide(), *curve_hooks(run.spec), *registered, *hooks]
    stop = StopFlag()
    state.model.train()
    with _owned(run), stop.installed(), logger.shown():
        _open_folder(run)
        for hook in hooks:
            hook.on_start(run, state)
        _loop(run, state, step, hooks, stop)
        _checkpoint(run, state, hooks)
        for hook in hooks:
            hook.on_end(run, state)
        return _summarize(run, state, logger, interrupted=stop.requested, compiled=step.compiled)


def _loop(run: TrainingRun, state: TrainState, step: Step, hooks: Sequence[Hook], stop: StopFlag) -> None:
    """Steps until :func:`_should_stop`, a checkpoint every ``train.checkpoint_every`` steps."""
    while not _should_stop(run, state, stop):
        for images, _labels in _batches(run, state):
            for hook in hooks:
                hook.before_step(run, state)
            loss = step(images)
            for hook in hooks:
                hook.after_step(run, state, loss)
            if _should_stop(run, state, stop):
                break
            if state.step % run.spec.train.checkpoint_every == 0:
                _checkpoint(run, state, hooks)
        else:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0


def _should_stop(run: TrainingRun, state: TrainState, stop: StopFlag) -> bool:
    """The budget is spent or Ctrl-C was pressed, on any rank (so all ranks stop at the same step)."""
    return any_rank(run.budget_spent(state.step, state.elapsed) or stop.requested, run.world_size)


def _batches(run: TrainingRun, state: TrainState) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The rest of the current epoch, from the batch the state has reached (this rank's share)."""
    t = run.spec.train
    return loader.make_loader(run.prepared, "train", batch_size=t.batch_size, seed=t.seed, epoch=state.epoch,
                              start_batch=state.batch_in_epoch, flip=run.spec.data.flip, workers=run.spec.data.workers,
                              rank=run.rank, world_size=run.world_size)


def _checkpoint(run: TrainingRun, state: TrainState, hooks: Sequence[Hook]) -> None:
    for hook in hooks:
        hook.before_checkpoint(run, state)
    state.save(run)


def _owned(run: TrainingRun) -> Any:
    """One process trains a run folder at a time: a second ``zoo train`` on it stops in one line instead of
    overwriting the first one's checkpoints (an OS lock on ``.train.lock``: it dies with its process)."""
    if not run.writer:
        return contextlib.nullcontext()
    return exclusive(run.run_dir / ".train.lock", f"another process is training the run '{run.run_dir}' (it holds "
                     f"{run.run_dir / '.train.lock'}); wait for it to finish, or pass another --out")


def _open_folder(run: TrainingRun) -> None:
    """Create the run folder, remove what a killed earlier process left half-written, and save the resolved
    spec beside everything it will produce (rank 0)."""
    if run.writer:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run.run_dir)
        run.spec.save(run.run_dir / "spec.json")


def _summarize(run: TrainingRun, state: TrainState, logger: Logger, *, interrupted: bool, compiled: bool) -> Summary:
    """The run's summary, also written to ``train.json`` (rank 0)."""
    samples = state.step * run.images_per_step
    bf16, _ = use_bf16(run.spec, run.device)
    summary = Summary(
        run_dir=str(run.run_dir), step=state.step, epoch=state.epoch, samples_seen=samples, elapsed=state.elapsed,
        images_per_s=logger.throughput(samples, state.elapsed), final_loss=state.last_loss,
        parameters=state.parameters, flops_per_image=state.flops_per_image, interrupted=interrupted,
        world_size=run.world_size, precision="bf16" if bf16 else "fp32", device=describe_device(run.device),
        compiled=compiled,
    )
    if run.writer:
        atomic_write_text(run.run_dir / "train.json", json.dumps(summary.__dict__, indent=2) + "\n")
    return summary
