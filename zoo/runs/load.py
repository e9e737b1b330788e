"""A run folder and the objects a spec builds, shared by training, sampling, evaluation and the benchmark.

Layout of a run folder::

    spec.json       the resolved RunSpec that produced everything below
    checkpoint/     model/ema/guide/optimizer .safetensors + state.json (see zoo.runs.checkpoint)
    log.jsonl       one line per logging interval: step, loss, lr, images_per_s, elapsed
    curve.jsonl     learning-curve points when eval.curve_every is set (zoo.curves.score)
    train.json      summary of the training (steps, images/s, parameters, FLOPs)
    samples.npz     uint8 images (N, C, H, W) under key "images"; samples.png, a grid of them
    metrics.json    scores (zoo evaluate)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zoo.config.resolve import ResolvedSpec, resolve
from zoo.config.spec import RunSpec, check_eps_scale
from zoo.contract import owns_sampling
from zoo.errors import UserError
from zoo.registry import Registry
from zoo.runs.checkpoint import find_checkpoint, load_state, load_weights
from zoo.runtime.layout import to_layout


@dataclass
class LoadedRun:
    spec: ResolvedSpec
    model: nn.Module
    diffusion: nn.Module | None  # None for models that own their sampling (the VAE)
    step: int
    weights: str  # "ema" or "raw": what was loaded
    guide: nn.Module | None = None  # the autoguidance guide (zoo.train.guide), when the run has kept one
    guide_step: int | None = None  # the training step whose EMA weights the guide is

    def network(self, guidance: float | None = None, eps_scale: float | None = None) -> nn.Module:
        """What the sampler calls: the model, guided by the run's guide with weight ``guidance`` over the spec's
        ``eval.guidance_interval`` (:mod:`zoo.diffusion.guidance`), its noise prediction divided by ``eps_scale``
        (:mod:`zoo.diffusion.eps_scaling`). None takes the spec's ``eval.guidance`` and ``eval.eps_scale``; 1 is off."""
        weight = self.spec.eval.guidance if guidance is None else guidance
        scale = self.spec.eval.eps_scale if eps_scale is None else eps_scale
        check_eps_scale(scale, "eps_scale")
        network = self.model if weight == 1 else self._guided(weight)
        if scale == 1:
            return network
        from zoo.diffusion.eps_scaling import EpsScaled

        return EpsScaled(network, self.diffusion, scale)

    def _guided(self, weight: float) -> nn.Module:
        if not weight > 1:
            raise UserError(f"guidance must be 1 (off) or more, got {weight}")
        if self.guide is None:
            at = self.spec.train.guide_at
            kept = (f"it keeps one at train.guide_at={at:g} of its budget and stopped before" if at is not None
                    else "it was trained without train.guide_at")
            raise UserError(f"this run has no autoguidance guide ({kept}); sample it with guidance 1 (--guidance 1), "
                            "or train a run with train.guide_at set")
        from zoo.diffusion.guidance import Guided, guided_timesteps

        return Guided(self.model, self.guide, weight,
                      guided_timesteps(self.diffusion.alphas_cumprod, self.spec.eval.guidance_interval))


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build(spec: ResolvedSpec) -> tuple[nn.Module, nn.Module | None]:
    """The model and (for noise predictors) the diffusion process a resolved spec describes."""
    from zoo.diffusion.gaussian import GaussianDiffusion

    model = spec.build_model()
    return model, None if owns_sampling(model) else GaussianDiffusion.from_spec(spec.diffusion, spec.registry)


def load_run(run_dir: str | Path, registry: Registry | None = None, *, weights: str = "ema", device: torch.device | None = None,
             spec: ResolvedSpec | None = None) -> LoadedRun:
    """A trained run ready to sample: EMA weights by default (raw when asked, or when the run kept no EMA),
    built by ``registry`` (None: as :func:`zoo.config.resolve.resolve` says). ``spec``: the run's spec when the
    caller holds it already (it is not read again)."""
    run_dir = Path(run_dir)
    if not (run_dir / "spec.json").is_file():
        raise UserError(f"'{run_dir}' is not a run folder (no spec.json); train one with `zoo train --out {run_dir}`")
    checkpoint = find_checkpoint(run_dir)
    if checkpoint is None:
        raise UserError(f"run '{run_dir}' has no checkpoint yet; train it with `zoo train --resume --out {run_dir}`")
    if weights not in ("ema", "raw"):
        raise UserError(f"--weights must be 'ema' or 'raw', got '{weights}'")
    spec = spec or resolve(RunSpec.load(run_dir / "spec.json"), registry)
    model, diffusion = build(spec)
    which = "ema" if weights == "ema" and (checkpoint / "ema.safetensors").is_file() else "model"
    model.load_state_dict(load_weights(checkpoint, which))
    device = device or pick_device()
    memory_format = torch.channels_last if spec.train.channels_last else torch.contiguous_format
    to_layout(model, device, memory_format).eval()  # sample in the layout the run trained in
    guide, state = None, load_state(checkpoint)
    if diffusion is not None:
        diffusion.to(device)
        if (checkpoint / "guide.safetensors").is_file():
            guide = spec.build_model()  # the network only: the diffusion process is the model's
            guide.load_state_dict(load_weights(checkpoint, "guide"))
            to_layout(guide, device, memory_format).eval()
    return LoadedRun(spec, model, diffusion, state["step"], "ema" if which == "ema" else "raw", guide,
                     state.get("guide_step") if guide is not None else None)
