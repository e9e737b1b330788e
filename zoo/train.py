"""One training loop for every model in the zoo (DDPM noise predictors and models with their own loss).

What it guarantees, and how:

- Exact resume. Everything random is drawn from seeded sources whose state is checkpointed: the
  data order and flips are pure functions of (seed, epoch) (``zoo.data.loader``), the timesteps and
  noise come from one ``torch.Generator`` saved with the checkpoint. A run interrupted and resumed
  ends with bit-identical weights to one that ran straight through (same machine, same threads).
- Crash safety. Checkpoints are swapped in atomically (``zoo.checkpoint``); Ctrl-C finishes the
  current step, saves and exits; a non-finite loss stops the run naming the step and keeps the last
  good checkpoint.
- DDP. Under ``torchrun`` each rank trains on its share of every batch (gloo on CPU, NCCL on CUDA);
  only rank 0 writes files.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from zoo.checkpoint import find_checkpoint, load_state, load_weights, optimizer_from_tensors, save_checkpoint
from zoo.ema import EMA
from zoo.errors import UserError
from zoo.io import append_log, atomic_write_text, read_log
from zoo.modelinfo import count_parameters, forward_flops
from zoo.run import build, pick_device
from zoo.spec import RunSpec

DEFAULT_EPOCHS = 40  # the study: 20 much worse, 80 slightly better but not worth double the time
BUDGET_FIELDS = ("steps", "epochs", "minutes")


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


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


class LossModule(nn.Module):
    """The loss of one batch as a module, so DDP sees (and synchronises) every model the same way."""

    def __init__(self, model: nn.Module, diffusion: nn.Module | None) -> None:
        super().__init__()
        self.model, self.diffusion = model, diffusion

    def forward(self, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.diffusion is None:
            return self.model.training_loss(x0, generator=generator)
        return self.diffusion.training_loss(self.model, x0, generator=generator)


# -- small helpers --------------------------------------------------------------------------------
def _distributed() -> tuple[int, int]:
    """(rank, world_size), initialising the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world_size) if world_size > 1 else (0, 1)


def _barrier(world_size: int) -> None:
    if world_size > 1:
        dist.barrier()


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimizer moments their parameter's memory layout. Checkpoints store them
    contiguous, and fused Adam walks a parameter and its moments as flat arrays: a channels_last
    weight with NCHW moments would be updated with the wrong moments (torch 2.14, measured)."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param).copy_(value)


def _bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _encode_rng(state: torch.Tensor) -> str:
    return base64.b64encode(state.numpy().tobytes()).decode()


def _decode_rng(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def total_steps(spec: RunSpec, steps_per_epoch: int) -> int | None:
    """Steps to train: ``steps``, else ``epochs`` (default 40 unless a minutes budget alone is given)."""
    t = spec.train
    if t.steps is not None:
        return t.steps
    if t.epochs is not None:
        return t.epochs * steps_per_epoch
    return None if t.minutes is not None else DEFAULT_EPOCHS * steps_per_epoch


class _StopFlag:
    """First Ctrl-C: finish the step, save, exit cleanly. Second Ctrl-C: stop at once."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if not _in_main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):  # noqa: ANN001
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# -- the run folder -------------------------------------------------------------------------------
def _resolve_resume(spec: RunSpec, run_dir: Path, resume: bool) -> RunSpec:
    """The spec to train. When resuming, ``spec`` is the run's saved spec with the user's settings
    applied (see ``zoo.commands.train``); only the budget (steps, epochs, minutes) may differ."""
    saved_path = run_dir / "spec.json"
    has_run = saved_path.is_file() and find_checkpoint(run_dir) is not None
    if not resume:
        if has_run:
            raise UserError(f"'{run_dir}' already holds a trained run; pass --resume to continue it or choose another --out")
        return spec.resolved()
    if not has_run:
        raise UserError(f"nothing to resume in '{run_dir}' (no spec.json and checkpoint); drop --resume to start a run")
    saved = RunSpec.load(saved_path)
    mine = spec.resolved().to_dict()
    theirs = saved.to_dict()
    for name in BUDGET_FIELDS:  # a resumed run may be given a new budget; nothing else may change
        mine["train"][name] = theirs["train"][name] = None
    if mine != theirs:
        diff = sorted(f"{s}.{k}" for s in mine for k in mine[s] if mine[s][k] != theirs[s][k])
        raise UserError(f"--resume: the spec differs from the run's spec.json in {', '.join(diff)}; "
                        "resume with the run's own settings (only train.steps/epochs/minutes may change)")
    return spec.resolved()


def train(spec: RunSpec, run_dir: str | Path, *, resume: bool = False, progress: bool | Any = True) -> Summary:
    """Train the model ``spec`` describes into ``run_dir`` (see :mod:`zoo.run` for the files).

    ``progress``: True for a progress bar of its own, or a live ``rich.progress.Progress`` to add the
    training task to (the benchmark's overall display).
    """
    from zoo.data.loader import batches_per_epoch, make_loader
    from zoo.data.prepare import prepare

    run_dir = Path(run_dir)
    rank, world_size = _distributed()
    spec = _resolve_resume(spec, run_dir, resume)
    t = spec.train
    if t.threads:
        torch.set_num_threads(t.threads)
    device = pick_device()
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))

    # data: rank 0 prepares (or reuses), the others wait and open the same copy
    if rank == 0:
        prepared = prepare(spec.data, progress=progress is True)
    _barrier(world_size)
    if rank != 0:
        prepared = prepare(spec.data, progress=False)
    n_train = len(prepared.images("train"))
    steps_per_epoch = batches_per_epoch(n_train, t.batch_size, world_size)
    if steps_per_epoch == 0:
        raise UserError(f"the train split has {n_train} images, fewer than one batch of {t.batch_size * world_size}; "
                        "lower train.batch_size")
    limit = total_steps(spec, steps_per_epoch)
    deadline = None if t.minutes is None else t.minutes * 60.0

    torch.manual_seed(t.seed)
    model, diffusion = build(spec)
    parameters = count_parameters(model)
    flops = forward_flops(model, spec.model, 1)
    memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    if diffusion is not None:
        diffusion.to(device)
    ema = EMA(model, max_decay=t.ema_max_decay, power=t.ema_power) if t.ema else None
    # fused: one kernel over all parameters instead of a Python loop of small ops; 2-6% of a CPU
    # step, the same updates to float rounding (docs/performance.md)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, fused=device.type in ("cpu", "cuda"))
    generator = torch.Generator().manual_seed(t.seed * 1_000_003 + rank)
    step = epoch = batch_in_epoch = 0
    elapsed = 0.0
    if resume:
        checkpoint = find_checkpoint(run_dir)
        state = load_state(checkpoint)
        model.load_state_dict(load_weights(checkpoint, "model"))
        if ema is not None:
            ema.load_state_dict(load_weights(checkpoint, "ema"), state["ema_updates"])
        optimizer.load_state_dict(optimizer_from_tensors(load_weights(checkpoint, "optimizer"), state["optimizer"]))
        _match_parameter_layouts(optimizer)
        if str(rank) not in state["generator"] or state.get("world_size", 1) != world_size:
            raise UserError(f"this run was trained with {state.get('world_size', 1)} process(es); resume it with as many")
        generator.set_state(_decode_rng(state["generator"][str(rank)]))
        step, epoch, batch_in_epoch, elapsed = state["step"], state["epoch"], state["batch_in_epoch"], state["elapsed"]

    loss_module: nn.Module = LossModule(model, diffusion)
    if world_size > 1:
        loss_module = nn.parallel.DistributedDataParallel(loss_module, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if t.bf16 and _bf16_supported(device) else contextlib.nullcontext()
    )
    writer = rank == 0
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        spec.save(run_dir / "spec.json")
        _trim_log(run_dir / "log.jsonl", step)

    def checkpoint_now() -> None:
        generators = _gather_generators(generator, world_size)
        if writer:
            save_checkpoint(
                run_dir,
                model=model.state_dict(),
                ema=ema.state_dict() if ema is not None else None,
                optimizer=optimizer.state_dict(),
                state={"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "elapsed": elapsed,
                       "samples_seen": step * t.batch_size * world_size, "world_size": world_size,
                       "ema_updates": ema.num_updates if ema is not None else 0, "generator": generators},
            )
        _barrier(world_size)

    stop = _StopFlag()
    interval_loss, interval_steps, interval_start = 0.0, 0, time.perf_counter()
    last_loss = math.nan
    external = not isinstance(progress, bool)
    bar = progress if external else _progress(progress and writer)
    model.train()
    with stop.installed(), contextlib.nullcontext() if external else bar:
        task = bar.add_task("train", total=limit, completed=step, info="")
        done = (limit is not None and step >= limit) or (deadline is not None and elapsed >= deadline)
        while not done:
            loader = make_loader(prepared, "train", batch_size=t.batch_size, seed=t.seed, epoch=epoch,
                                 start_batch=batch_in_epoch, flip=spec.data.flip, workers=spec.data.workers,
                                 rank=rank, world_size=world_size)
            for images, _labels in loader:
                tick = time.perf_counter()
                x0 = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
                with autocast:
                    loss = loss_module(x0, generator)
                value = float(loss.detach())
                if not math.isfinite(value):
                    last = find_checkpoint(run_dir) if writer else None
                    kept = f"the last good checkpoint (step {load_state(last)['step']}) is kept in {last}" if last else \
                        "no checkpoint had been written yet"
                    raise TrainingDiverged(
                        f"the loss became {value} at step {step + 1}; training stopped and {kept}. "
                        "Try a lower train.lr, train.grad_clip, or check the data"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if t.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                optimizer.step()
                if ema is not None:
                    ema.update(model)
                step += 1
                batch_in_epoch += 1
                elapsed += time.perf_counter() - tick
                interval_loss += value
                interval_steps += 1
                last_loss = value
                if step % t.log_every == 0 or step == limit:
                    now = time.perf_counter()
                    ips = interval_steps * t.batch_size * world_size / max(now - interval_start, 1e-9)
                    if writer:
                        append_log(run_dir / "log.jsonl", {"step": step, "epoch": epoch, "loss": interval_loss / interval_steps,
                                                            "lr": optimizer.param_groups[0]["lr"], "images_per_s": ips,
                                                            "elapsed": elapsed})
                    bar.update(task, completed=step, info=f"loss {interval_loss / interval_steps:.4f}  {ips:.0f} img/s")
                    interval_loss, interval_steps, interval_start = 0.0, 0, now
                done = (limit is not None and step >= limit) or (deadline is not None and elapsed >= deadline)
                stopping = _any_rank(stop.requested, world_size)
                if step % t.checkpoint_every == 0 and not done and not stopping:
                    checkpoint_now()
                if done or stopping:
                    break
            else:
                epoch, batch_in_epoch = epoch + 1, 0
            if stop.requested or _any_rank(stop.requested, world_size):
                break
        checkpoint_now()
        if external:
            bar.remove_task(task)

    summary = Summary(
        run_dir=str(run_dir), step=step, epoch=epoch, samples_seen=step * t.batch_size * world_size, elapsed=elapsed,
        images_per_s=_throughput(run_dir, step * t.batch_size * world_size, elapsed),
        final_loss=last_loss, parameters=parameters, flops_per_image=flops, interrupted=stop.requested,
        world_size=world_size,
    )
    if writer:
        atomic_write_text(run_dir / "train.json", json.dumps(summary.__dict__, indent=2) + "\n")
    return summary


def _any_rank(flag: bool, world_size: int) -> bool:
    if world_size == 1:
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _gather_generators(generator: torch.Generator, world_size: int) -> dict[str, str]:
    state = _encode_rng(generator.get_state())
    if world_size == 1:
        return {"0": state}
    states: list[Any] = [None] * world_size
    dist.all_gather_object(states, state)
    return {str(r): s for r, s in enumerate(states)}


def _throughput(run_dir: Path, samples: int, elapsed: float) -> float:
    """Images/s of steady training: the median of the logged intervals (the first one, with warm-up, dropped)."""
    path = run_dir / "log.jsonl"
    rates = []
    if path.is_file():
        rates = [r["images_per_s"] for r in read_log(path)][1:]
    if rates:
        rates.sort()
        return rates[len(rates) // 2]
    return samples / max(elapsed, 1e-9)


def _trim_log(path: Path, step: int) -> None:
    """On resume, drop log lines past the checkpoint (they will be logged again)."""
    if path.is_file():
        keep = [r for r in read_log(path) if r["step"] <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def _progress(enabled: bool):  # noqa: ANN202
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled, transient=False,
    )
