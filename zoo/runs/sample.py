"""Drawing images from a trained run and saving them: ``samples.npz`` (uint8 (N, C, H, W) under
``images``) and a PNG grid. The same path serves noise predictors (through a registered sampler)
and models that sample themselves (the VAE)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import UserError
from zoo.runs.load import LoadedRun
from zoo.runtime.io import atomic_path
from zoo.runtime.precision import autocast, use_bf16


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] floats -> uint8 (N, C, H, W)."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def check_finite(images: torch.Tensor, run: LoadedRun) -> None:
    """Refuse NaN/inf images: cast to uint8 they would become plausible-looking black pictures."""
    bad = int((~torch.isfinite(images)).sum())
    if bad:
        raise UserError(
            f"the {run.weights} weights of the run (step {run.step}) produced {bad} NaN or infinite pixel values, so no "
            "images were written; the weights are broken (training diverged?): try the other weights (--weights "
            f"{'raw' if run.weights == 'ema' else 'ema'}), or resume/retrain the run with a lower train.lr"
        )


def generate(
    run: LoadedRun,
    n: int,
    *,
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    batch_size: int = 250,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
    compile: str = "off",
    note: Callable[[str], None] = print,
    return_calls: bool = False,
    guidance: float | None = None,
    eps_scale: float | None = None,
) -> np.ndarray | tuple[np.ndarray, int | None]:
    """``n`` images as uint8 (N, C, H, W), deterministic given ``seed`` (and ``compile``). ``sampler``, ``steps``
    and ``options`` default to the run's ``[eval]`` (its sampler, steps and, for that sampler, its
    ``sampler_options``); a model that samples itself has no sampler to take them.

    ``compile`` (auto, on, off): whether full batches are drawn by the network compiled with
    ``torch.compile``, see :class:`zoo.runtime.compiled.SamplingNetworks`. ``return_calls``: also return the network
    calls the sampler made per image (None for a model that samples itself); ddpm, for one, makes T whatever
    ``steps`` says, and a second-order sampler may make two a step. The network runs in the precision the
    run's ``train.bf16`` gives on this device, the one it trained in (:func:`zoo.runtime.precision.use_bf16`).
    ``guidance`` and ``eps_scale``: as :meth:`zoo.runs.load.LoadedRun.network` takes them (None: the run's ``[eval]``).
    """
    e = run.spec.eval
    sampler = sampler or e.sampler
    steps = steps or e.steps
    options = e.options_for(sampler) if options is None else options
    from zoo.diffusion.samplers import model_device
    from zoo.runtime.compiled import SamplingNetworks

    m = run.spec.model
    generator = torch.Generator().manual_seed(seed)
    out = []
    sample = None if run.diffusion is None else run.spec.registry.get("sampler", sampler).factory
    shape = (batch_size, m.channels, m.image_size, m.image_size)
    networks = None
    device = model_device(run.model, run.diffusion)
    bf16, _ = use_bf16(run.spec, device)
    with autocast(bf16, device):  # around the compile too: dynamo guards on autocast
        if sample is not None:
            networks = SamplingNetworks(run.network(guidance, eps_scale), compile, n=n, shape=shape, device=device,
                                        precision="bf16" if bf16 else "fp32", note=note)
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            if sample is None:
                images = run.model.sample(b, generator=generator)
            else:
                with networks.batch(start, b) as network:
                    images = sample(network, run.diffusion, (b, *shape[1:]), steps=steps, generator=generator,
                                    progress=progress, **(options or {}))
            check_finite(images, run)
            out.append(to_uint8(images))
    images = np.concatenate(out)
    if return_calls:
        return images, None if networks is None else networks.calls_per_image
    return images


def save_npz(images: np.ndarray, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images)


def save_grid(images: np.ndarray, path: str | Path, *, max_images: int = 64, min_cell: int = 48) -> None:
    """A square-ish grid of the first ``max_images`` images, upscaled (nearest) so small images stay visible."""
    from PIL import Image

    images = images[:max_images]
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad = 2
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        canvas[y:y + h, x:x + w] = img.transpose(1, 2, 0)
    picture = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    scale = max(1, math.ceil(min_cell / h))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
