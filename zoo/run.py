"""A run folder and the objects a spec builds, shared by training, sampling, evaluation and the benchmark.

Layout of a run folder::

    spec.json       the resolved RunSpec that produced everything below
    checkpoint/     model/ema/optimizer .safetensors + state.json (see zoo.checkpoint)
    log.jsonl       one line per logging interval: step, loss, lr, images_per_s, elapsed
    curve.jsonl     learning-curve points when eval.curve_every is set (zoo.curve)
    train.json      summary of the training (steps, images/s, parameters, FLOPs)
    samples.npz     uint8 images (N, C, H, W) under key "images"; samples.png, a grid of them
    metrics.json    scores (zoo evaluate)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zoo.checkpoint import find_checkpoint, load_state, load_weights
from zoo.errors import UserError
from zoo.hookspecs import owns_sampling
from zoo.spec import RunSpec


@dataclass
class LoadedRun:
    spec: RunSpec
    model: nn.Module
    diffusion: nn.Module | None  # None for models that own their sampling (the VAE)
    step: int
    weights: str  # "ema" or "raw": what was loaded


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build(spec: RunSpec) -> tuple[nn.Module, nn.Module | None]:
    """The model and (for noise predictors) the diffusion process a resolved spec describes."""
    from zoo.diffusion.gaussian import GaussianDiffusion
    from zoo.plugins import get_registry

    model = get_registry().create("model", spec.model.name, spec.model)
    return model, None if owns_sampling(model) else GaussianDiffusion.from_spec(spec.diffusion)


def load_run(run_dir: str | Path, *, weights: str = "ema", device: torch.device | None = None) -> LoadedRun:
    """A trained run ready to sample: EMA weights by default (raw when asked, or when the run kept no EMA)."""
    run_dir = Path(run_dir)
    if not (run_dir / "spec.json").is_file():
        raise UserError(f"'{run_dir}' is not a run folder (no spec.json); train one with `zoo train --out {run_dir}`")
    checkpoint = find_checkpoint(run_dir)
    if checkpoint is None:
        raise UserError(f"run '{run_dir}' has no checkpoint yet; train it with `zoo train --resume --out {run_dir}`")
    if weights not in ("ema", "raw"):
        raise UserError(f"--weights must be 'ema' or 'raw', got '{weights}'")
    spec = RunSpec.load(run_dir / "spec.json")
    model, diffusion = build(spec)
    which = "ema" if weights == "ema" and (checkpoint / "ema.safetensors").is_file() else "model"
    model.load_state_dict(load_weights(checkpoint, which))
    device = device or pick_device()
    memory_format = torch.channels_last if spec.train.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format).eval()  # sample in the layout the run trained in
    if diffusion is not None:
        diffusion.to(device)
    return LoadedRun(spec, model, diffusion, load_state(checkpoint)["step"], "ema" if which == "ema" else "raw")
