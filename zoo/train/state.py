"""Everything a run needs to continue exactly where it stopped, with save and restore.

A checkpoint holds the raw and EMA weights (and the autoguidance guide's: its own average while it is pending, the
guide once kept), the optimizer moments, the step/epoch/batch counters,
the training time so far and every rank's timestep and noise generators (zoo.runtime.streams): together with
the data order being a pure function of (seed, epoch), that makes a resumed run bit-identical to a
straight one.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zoo.errors import UserError
from zoo.models.info import count_parameters, forward_flops
from zoo.runs.checkpoint import load_state, load_weights, optimizer_from_tensors, save_checkpoint
from zoo.runs.load import build
from zoo.runtime.layout import to_layout
from zoo.runtime.streams import TIMESTEPS, TRAINING_NOISE, stream
from zoo.train.distributed import barrier, gather
from zoo.train.ema import EMA
from zoo.train.setup import TrainingRun


@dataclass(eq=False)
class TrainState:
    """The objects a step changes and the counters that say where the run is."""

    model: nn.Module
    diffusion: nn.Module | None  # None for models with their own loss (the VAE)
    ema: EMA | None
    optimizer: torch.optim.Optimizer
    generators: dict[str, torch.Generator]  # the TIMESTEPS and TRAINING_NOISE streams of this rank
    parameters: int  # size and cost of the model, measured once at build
    flops_per_image: int
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of ``epoch`` already trained on
    elapsed: float = 0.0  # seconds spent in training steps (this process and the runs it resumed)
    last_loss: float = math.nan  # not checkpointed: the loss of this process's last step
    paused: float = 0.0  # not checkpointed: seconds this process spent between steps on measuring (curves)
    guide: dict[str, torch.Tensor] | None = None  # the autoguidance guide's weights, once kept (zoo.train.guide)
    guide_step: int | None = None  # the step they were kept at
    guide_ema: EMA | None = None  # the guide's own average (train.guide_ema_std) until the guide is kept from it

    def save(self, run: TrainingRun) -> None:
        """Checkpoint (a collective under DDP: every rank's generators are gathered; rank 0 writes)."""
        mine = {name: _encode_rng(g.get_state()) for name, g in self.generators.items()}
        generators = {str(r): s for r, s in enumerate(gather(mine, run.world_size))}
        if run.writer:
            save_checkpoint(
                run.run_dir,
                model=self.model.state_dict(),
                ema=self.ema.state_dict() if self.ema is not None else None,
                guide=self.guide,
                guide_ema=self.guide_ema.state_dict() if self.guide_ema is not None else None,
                optimizer=self.optimizer.state_dict(),
                state={"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                       "elapsed": self.elapsed, "samples_seen": self.step * run.images_per_step,
                       "world_size": run.world_size, "ema_updates": self.ema.num_updates if self.ema is not None else 0,
                       "guide_step": self.guide_step, "generator": generators,
                       "guide_ema_updates": self.guide_ema.num_updates if self.guide_ema is not None else 0},
            )
        barrier(run.world_size)

    def restore(self, checkpoint: Path, run: TrainingRun) -> None:
        """Load a checkpoint written by :meth:`save` with as many processes as now."""
        state = load_state(checkpoint)
        self.model.load_state_dict(load_weights(checkpoint, "model"))
        if self.ema is not None:
            self.ema.load_state_dict(load_weights(checkpoint, "ema"), state["ema_updates"])
        if (checkpoint / "guide.safetensors").is_file():
            self.guide, self.guide_step = load_weights(checkpoint, "guide"), state.get("guide_step")
            self.guide_ema = None  # kept already: its average has nothing more to do
        elif self.guide_ema is not None:
            self.guide_ema.load_state_dict(load_weights(checkpoint, "guide_ema"), state["guide_ema_updates"])
        self.optimizer.load_state_dict(optimizer_from_tensors(load_weights(checkpoint, "optimizer"), state["optimizer"]))
        _match_parameter_layouts(self.optimizer)
        if str(run.rank) not in state["generator"] or state.get("world_size", 1) != run.world_size:
            raise UserError(f"this run was trained with {state.get('world_size', 1)} process(es); resume it with as many")
        saved = state["generator"][str(run.rank)]
        if not isinstance(saved, dict) or set(saved) != set(self.generators):
            raise UserError(f"{checkpoint} was written by an older zoo (one random stream for timesteps and noise); "
                            "delete the run folder to train it again")
        for name, generator in self.generators.items():
            generator.set_state(_decode_rng(saved[name]))
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.elapsed = state["elapsed"]


def memory_format(run: TrainingRun) -> torch.memory_format:
    return torch.channels_last if run.spec.train.channels_last else torch.contiguous_format


def build_state(run: TrainingRun) -> TrainState:
    """A fresh state: the model the spec describes (seeded), its EMA (and the guide's), Adam and the random streams."""
    t = run.spec.train
    torch.manual_seed(t.seed)
    model, diffusion = build(run.spec)
    parameters, flops = count_parameters(model), forward_flops(model, run.spec.model, 1)
    to_layout(model, run.device, memory_format(run))
    if diffusion is not None:
        diffusion.to(run.device)
    ema = EMA(model, max_decay=t.ema_max_decay, power=t.ema_power, std=t.ema_std) if t.ema else None
    # the VAE keeps no guide (zoo.config.resolve puts guide_at back to none for it)
    guide_ema = EMA(model, std=t.guide_ema_std) if t.guide_at is not None and t.guide_ema_std is not None else None
    # fused: one kernel over all parameters instead of a Python loop of small ops; 2-6% of a CPU
    # step, the same updates to float rounding (docs/performance.md)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, betas=tuple(t.adam_betas), fused=run.device.type in ("cpu", "cuda"))
    generators = {name: stream(t.seed, name, run.rank) for name in (TIMESTEPS, TRAINING_NOISE)}
    return TrainState(model, diffusion, ema, optimizer, generators, parameters, flops, guide_ema=guide_ema)


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimizer moments their parameter's memory layout. Checkpoints store them
    contiguous, and fused Adam walks a parameter and its moments as flat arrays: a channels_last
    weight with NCHW moments would be updated with the wrong moments (torch 2.14, measured)."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param).copy_(value)


def _encode_rng(state: torch.Tensor) -> str:
    return base64.b64encode(state.numpy().tobytes()).decode()


def _decode_rng(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)
