"""One optimisation step: forward (bf16 autocast where chosen), a finite-loss check, backward, clip, Adam,
EMA; the built-in hook that sets each step's learning rate; and the check before every checkpoint (finite
weights, and a finite loss computed with the very weights being saved), so the last checkpoint is always
one worth resuming and sampling."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import torch
from torch import nn

from zoo.contract import TrainingHook as Hook
from zoo.errors import UserError
from zoo.runs.checkpoint import find_checkpoint, load_state
from zoo.runtime.compiled import compiled
from zoo.runtime.precision import autocast, use_bf16
from zoo.runtime.streams import CHECKPOINT_CHECK, TIMESTEPS, TRAINING_NOISE, stream
from zoo.train.compiled import config_of, decide, first_call_or_eager, say
from zoo.train.distributed import any_rank
from zoo.train.lr import lr_factor, progress
from zoo.train.setup import TrainingRun
from zoo.train.state import TrainState, memory_format


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


class LossModule(nn.Module):
    """The loss of one batch as a module, so DDP sees (and synchronises) every model the same way."""

    def __init__(self, model: nn.Module, diffusion: nn.Module | None) -> None:
        super().__init__()
        self.model, self.diffusion = model, diffusion

    def forward(self, x0: torch.Tensor, noise: torch.Generator, timesteps: torch.Generator) -> torch.Tensor:
        if self.diffusion is None:  # a model with its own loss draws only noise
            return self.model.training_loss(x0, generator=noise)
        return self.diffusion.training_loss(self.model, x0, generator=noise, timestep_generator=timesteps)


def loss_module(run: TrainingRun, state: TrainState, *, compile_network: bool = False) -> nn.Module:
    """The module a step calls: the loss (of the network compiled, when ``compile_network``), wrapped in DDP
    when there are several processes. The state keeps the model itself: checkpoints and the EMA see no wrapper."""
    module: nn.Module = LossModule(compiled(state.model) if compile_network else state.model, state.diffusion)
    if run.world_size > 1:
        device_ids = [run.device.index] if run.device.type == "cuda" else None
        module = nn.parallel.DistributedDataParallel(module, device_ids=device_ids)
    return module


def compile_training(run: TrainingRun, state: TrainState) -> bool:
    """``train.compile`` decided for this run (:mod:`zoo.train.compiled`), from what is left of its budget;
    says so on rank 0 when it compiles."""
    t = run.spec.train
    bf16, _ = use_bf16(run.spec, run.device)
    images = None if run.limit is None else max(0, run.limit - state.step) * run.images_per_step
    seconds = None if run.deadline is None else max(0.0, run.deadline - state.elapsed)
    config = config_of(run.device, run.spec.model.image_size, bf16)
    if not decide(t.compile, config, images=images, seconds=seconds, own_loss=state.diffusion is None):
        return False
    say("compiling the training step (torch.compile: about a minute when this network and batch are new to "
         "inductor's cache, seconds after; train.compile=off to skip)", run.writer)
    return True


def _autocast(run: TrainingRun) -> Any:
    """bf16 autocast as :mod:`zoo.runtime.precision` decides; an explicit ``true`` on a CPU where bf16 is slow is kept,
    with a warning."""
    bf16, note = use_bf16(run.spec, run.device)
    if note and run.writer:
        warnings.warn(note, stacklevel=2)
    return autocast(bf16, run.device)


class LrSchedule(Hook):
    """``train.lr`` after warm-up and decay (:mod:`zoo.train.lr`) at the step and budget progress; the first
    hook, so a user's ``before_step`` can still override the rate."""

    def before_step(self, run: TrainingRun, state: TrainState) -> None:
        t = run.spec.train
        done = progress(state.step, run.limit, state.elapsed, run.deadline)
        lr = t.lr * lr_factor(state.step, done, warmup=t.lr_warmup, decay=t.lr_decay)
        for group in state.optimizer.param_groups:
            group["lr"] = lr


class Step:
    """Call with a batch of images to train one step; advances ``state``'s counters and returns the loss."""

    def __init__(self, run: TrainingRun, state: TrainState) -> None:
        self.run, self.state = run, state
        self.compiled = compile_training(run, state)
        self.loss_module = loss_module(run, state, compile_network=self.compiled)
        self.autocast = _autocast(run)
        self.memory_format = memory_format(run)
        self.last_x0: torch.Tensor | None = None  # this process's last batch: what a checkpoint is checked on
        self._compile_pending = self.compiled

    def __call__(self, images: torch.Tensor) -> float:
        if not self._compile_pending:
            return self._step(images)
        self._compile_pending = False
        return first_call_or_eager(lambda: self._step(images), [self.state.generators[TRAINING_NOISE],
                                   self.state.generators[TIMESTEPS]], self._train_eagerly, self.run.writer)  # fmt: skip

    def _train_eagerly(self) -> None:
        self.compiled = False
        self.loss_module = loss_module(self.run, self.state)

    def _step(self, images: torch.Tensor) -> float:
        run, state, t = self.run, self.state, self.run.spec.train
        tick = time.perf_counter()
        x0 = images.to(run.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        with self.autocast:
            loss = self.loss_module(x0, state.generators[TRAINING_NOISE], state.generators[TIMESTEPS])
        value = float(loss.detach())
        if not math.isfinite(value):
            raise diverged(run, f"the loss became {value} at step {state.step + 1}")
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(state.model.parameters(), t.grad_clip)
        state.optimizer.step()
        if state.ema is not None:
            state.ema.update(state.model)
        if state.guide_ema is not None:  # the guide's own average, until zoo.train.guide keeps the guide from it
            state.guide_ema.update(state.model)
        state.step += 1
        state.batch_in_epoch += 1
        state.elapsed += time.perf_counter() - tick
        state.last_loss = value
        self.last_x0 = x0
        return value

    @torch.no_grad()
    def check_loss(self, weights: dict[str, torch.Tensor] | None = None) -> float | None:
        """The loss of the current weights (or of ``weights``, e.g. the EMA's, in their place) on the last batch,
        in eval mode as sampling uses them, with timesteps and noise of a stream of its own (the training
        streams, and so an exact resume, are untouched). None before this process's first step.

        A step's loss is computed with the weights *before* its update: a checkpoint written after a finite
        step may hold weights whose own loss is already NaN (an overflowing update), and only this says so."""
        if self.last_x0 is None:
            return None
        run, state = self.run, self.state
        module = LossModule(state.model, state.diffusion)
        generator = stream(run.spec.train.seed, CHECKPOINT_CHECK, run.rank, state.step)
        training = state.model.training
        state.model.eval()
        try:
            with self.autocast:
                if weights is None:
                    loss = module(self.last_x0, generator, generator)
                else:
                    swapped = {f"model.{k}": v for k, v in weights.items()}
                    loss = torch.func.functional_call(module, swapped, (self.last_x0, generator, generator))
        finally:
            state.model.train(training)
        return float(loss)


class FiniteWeights(Hook):
    """Refuse to checkpoint weights, EMA weights or optimizer moments holding NaN/inf, or weights (raw or EMA)
    whose own loss on the last batch is NaN/inf (given the :class:`Step`, see :meth:`Step.check_loss`).

    A finite loss can still be followed by an update that overflows, to NaN or to finite weights too large
    to compute with (lr 1e6 does it in one step); the loss check of the next step would come too late,
    after those weights had replaced the last good checkpoint.
    """

    def __init__(self, step: Step | None = None) -> None:
        self.step = step

    def before_checkpoint(self, run: TrainingRun, state: TrainState) -> None:
        broken = [name for name, tensors in _checkpointed(state) if not all(torch.isfinite(t).all() for t in tensors)]
        if any_rank(bool(broken), run.world_size):
            what = " and ".join(broken) or "weights (on another rank)"
            raise diverged(run, f"the {what} became NaN or infinite at step {state.step}")
        if self.step is None:
            return
        losses = {"weights": self.step.check_loss()}
        if state.ema is not None and losses["weights"] is not None:
            losses["EMA weights"] = self.step.check_loss(state.ema.state_dict())
        bad = {name: str(value) for name, value in losses.items() if value is not None and not math.isfinite(value)}
        if any_rank(bool(bad), run.world_size):
            whose = f"the {' and the '.join(bad) or 'weights (on another rank)'} of step {state.step}"
            raise diverged(run, f"{whose} give a loss of {' and '.join(dict.fromkeys(bad.values())) or 'NaN or inf'} "
                           f"(checked before saving them)")


def _checkpointed(state: TrainState) -> list[tuple[str, list[torch.Tensor]]]:
    moments = [v for s in state.optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    out = [("weights", [p.detach() for p in state.model.parameters()]), ("optimizer moments", moments)]
    if state.ema is not None:
        out.insert(1, ("EMA weights", list(state.ema.state_dict().values())))
    return out


def diverged(run: TrainingRun, what: str) -> TrainingDiverged:
    """The error that stops a run which went non-finite, naming the checkpoint it keeps."""
    last = find_checkpoint(run.run_dir) if run.writer else None
    kept = (f"the last good checkpoint (step {load_state(last)['step']}) is kept in {last} (its weights gave a finite "
            f"loss when it was saved)") if last else "there is no good checkpoint to keep (none had been written yet)"
    return TrainingDiverged(f"{what}; training stopped and {kept}. Try a lower train.lr, train.grad_clip, or check the data")
