"""One component of every zoo kind, written from zoo/contract/ alone (nothing else of zoo is used
but ``zoo.hookimpl``, ``zoo.errors.UserError`` and ``zoo.contract``'s ``MetricColumn`` and ``TrainingHook``).
Small and deliberately plain: they exist to show that a plugin of each kind runs through ``zoo benchmark``,
``zoo train`` and the ``zoo`` command line exactly like a built-in. What a factory declares about itself is
given at registration, in :func:`zoo_register`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.contract import MetricColumn, TrainingHook
from zoo.errors import UserError


# -- network parts -------------------------------------------------------------------------------
class TinyConvBlock(nn.Module):
    """conv3x3 -> GroupNorm -> (+ time) -> activation, with a 1x1 residual projection; its own activation is
    SiLU (declared at registration)."""

    def __init__(self, dim_in, dim_out, *, time_emb_dim=None, act=None, groups=8):  # noqa: ANN001
        super().__init__()
        self.conv = nn.Conv2d(dim_in, dim_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, dim_out)
        self.time = nn.Linear(time_emb_dim, dim_out) if time_emb_dim else None
        self.act = act() if act else nn.SiLU()
        self.skip = nn.Conv2d(dim_in, dim_out, 1)

    def forward(self, x, t_emb):  # noqa: ANN001, ANN201
        h = self.norm(self.conv(x))
        if self.time is not None and t_emb is not None:
            h = h + self.time(t_emb)[:, :, None, None]
        return self.act(h) + self.skip(x)


class GateAttention(nn.Module):
    """A per-pixel sigmoid gate from a 1x1 conv: the cheapest thing that keeps the shape."""

    def __init__(self, dim, *, heads=4, dim_head=32):  # noqa: ANN001
        super().__init__()
        self.gate = nn.Conv2d(dim, dim, 1)

    def forward(self, x):  # noqa: ANN001, ANN201
        return x * torch.sigmoid(self.gate(x))


class HalfResidual(nn.Module):
    """x + fn(GroupNorm(x)) / 2"""

    def __init__(self, dim, fn):  # noqa: ANN001
        super().__init__()
        self.norm, self.fn = nn.GroupNorm(1, dim), fn

    def forward(self, x):  # noqa: ANN001, ANN201
        return x + 0.5 * self.fn(self.norm(x))


class FourierEmbedding(nn.Module):
    """t/T on fixed log-spaced frequencies, plus t/T itself: out_dim = dim + 1 (not dim, on purpose)."""

    def __init__(self, dim):  # noqa: ANN001
        super().__init__()
        if dim % 2:
            raise ValueError(f"fourier embedding needs an even dim, got {dim}")
        self.out_dim = dim + 1
        self.register_buffer("freqs", torch.logspace(0, 3, dim // 2), persistent=False)

    def forward(self, t):  # noqa: ANN001, ANN201
        s = t.float()[:, None] / 1000
        return torch.cat([(s * self.freqs).sin(), (s * self.freqs).cos(), s], dim=1)


# -- models and the diffusion process ------------------------------------------------------------
class TinyNet(nn.Module):
    """A two-conv noise predictor; t/1000 enters as an extra input channel. Option ``width``; its
    activation is the spec's, built from the registry it is handed ("default": SiLU)."""

    def __init__(self, spec, registry):  # noqa: ANN001
        super().__init__()
        width = int(spec.options.get("width", 16))
        act = nn.SiLU() if spec.activation == "default" else registry.create("activation", spec.activation)
        self.net = nn.Sequential(nn.Conv2d(spec.channels + 1, width, 3, padding=1), act,
                                 nn.Conv2d(width, spec.channels, 3, padding=1))

    def forward(self, x, t):  # noqa: ANN001, ANN201
        level = (t.float() / 1000)[:, None, None, None].expand(x.shape[0], 1, *x.shape[2:])
        return self.net(torch.cat([x, level.to(x.dtype)], dim=1))


def validate_tinynet(spec, registry):  # noqa: ANN001, ANN201
    """Refuse what TinyNet cannot build, before any tensor is made."""
    width = spec.options.get("width", 16)
    if not isinstance(width, int) or width < 1:
        raise UserError(f"model.options.width of tinynet must be a positive integer, got {width!r}")
    if spec.activation != "default":
        registry.get("activation", spec.activation)  # an unknown name fails here, with the closest matches


def geometric(timesteps):  # noqa: ANN001, ANN201
    """Betas growing geometrically from 1e-4 to 0.1, whatever T."""
    return torch.logspace(math.log10(1e-4), -1, timesteps, dtype=torch.float64)


def euler(model, diffusion, shape, *, steps, generator=None, progress=False, **options):  # noqa: ANN001, ANN201
    """Deterministic DDIM (eta = 0) on ``steps`` evenly spaced timesteps, from the documented diffusion only."""
    if options:
        raise UserError(f"sampler 'euler' has no option '{next(iter(options))}'; it takes none")
    device = next(iter(model.parameters())).device
    diffusion = diffusion.to(device)
    T = diffusion.num_timesteps
    ts = sorted({round((T - 1) * i / max(steps - 1, 1)) for i in range(steps)}, reverse=True)
    x = torch.randn(tuple(shape), generator=generator).to(device)
    with torch.inference_mode():
        for i, t in enumerate(ts):
            eps, x0 = diffusion.model_predictions(model, x, torch.full((x.shape[0],), t, dtype=torch.long, device=device))
            nxt = ts[i + 1] if i + 1 < len(ts) else None
            alpha = diffusion.sqrt_alphas_cumprod[nxt] if nxt is not None else 1.0
            sigma = diffusion.sqrt_one_minus_alphas_cumprod[nxt] if nxt is not None else 0.0
            x = alpha * x0 + sigma * eps
    return x.clamp(-1, 1)


# -- data and evaluation -------------------------------------------------------------------------
class Stripes:
    """200 greyscale 16x16 images of sloped stripes. No labels and no default_feature: by the
    contract it has no classes and its metrics default to "inception" unless a spec names one."""

    def __init__(self, root, *, download=False):  # noqa: ANN001
        self.root = root

    def __len__(self) -> int:
        return 200

    def load(self, i):  # noqa: ANN001, ANN201
        from PIL import Image

        rng = np.random.default_rng(i)
        y, x = np.mgrid[0:16, 0:16]
        wave = np.sin((x + rng.uniform(-1, 1) * y) * rng.uniform(0.3, 1.2) + rng.uniform(0, 6.3))
        return Image.fromarray(((wave + 1) * 127.5).astype(np.uint8), mode="L"), None

    def item_name(self, i):  # noqa: ANN001, ANN201
        return f"stripes-{i:03d}"


class PixelStats(nn.Module):
    """4x4 average-pooled greyscale pixels, their mean and std: 18 features, no classifier."""

    num_features = 18

    def forward(self, images):  # noqa: ANN001, ANN201
        grey = images.float().mean(dim=1, keepdim=True) / 255
        pooled = F.adaptive_avg_pool2d(grey, 4).flatten(1)
        return torch.cat([pooled, pooled.mean(1, keepdim=True), pooled.std(1, keepdim=True)], dim=1)


class MeanDistance:
    """Distance between the feature means of real and generated images (lower is better)."""

    columns = (MetricColumn("meandist", "mean distance", "low"),)

    def compute(self, real, fake):  # noqa: ANN001, ANN201
        return {"meandist": float(np.linalg.norm(real.features.mean(0) - fake.features.mean(0)))}


# -- extending zoo itself -----------------------------------------------------------------------
def add_census(subparsers):  # noqa: ANN001, ANN201
    """``zoo census [--kind KIND]``: how many components of each kind the loaded registry holds."""
    p = subparsers.add_parser("census", help="count the registered components of each kind (test plugin)")
    p.add_argument("--kind", help="only this kind")
    p.set_defaults(run=census)


def census(args):  # noqa: ANN001, ANN201
    components = args.registry.list(args.kind)  # an unknown kind is zoo's UserError, naming the closest
    counts: dict[str, int] = {}
    for c in components:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    for kind, n in sorted(counts.items()):
        print(f"{kind}: {n}")
    return 0


class Tally(TrainingHook):
    """Counts the calls of every hook point and the steps ``after_step`` saw; rank 0 writes them to
    ``tally.json`` in the run folder when training ends."""

    def __init__(self, spec):  # noqa: ANN001
        self.calls = {"on_start": 0, "before_step": 0, "after_step": 0, "before_checkpoint": 0, "on_end": 0}
        self.steps: list[int] = []
        self.losses_finite = True

    def on_start(self, run, state):  # noqa: ANN001, ANN201
        self.calls["on_start"] += 1

    def before_step(self, run, state):  # noqa: ANN001, ANN201
        self.calls["before_step"] += 1

    def after_step(self, run, state, loss):  # noqa: ANN001, ANN201
        self.calls["after_step"] += 1
        self.steps.append(state.step)
        self.losses_finite = self.losses_finite and math.isfinite(loss)

    def before_checkpoint(self, run, state):  # noqa: ANN001, ANN201
        self.calls["before_checkpoint"] += 1

    def on_end(self, run, state):  # noqa: ANN001, ANN201
        self.calls["on_end"] += 1
        if run.writer:
            path = Path(run.run_dir) / "tally.json"
            tmp = path.with_name(path.name + ".tmp")  # written whole, then renamed: never half a file
            tally = {"calls": self.calls, "steps": self.steps, "losses_finite": self.losses_finite}
            tmp.write_text(json.dumps(tally))
            tmp.replace(path)


@zoo.hookimpl
def zoo_register(registry):  # noqa: ANN001, ANN201
    registry.add("block", "tinyconv", TinyConvBlock, help="conv-norm-act block with a 1x1 skip (test plugin)",
                 default_activation="silu")
    registry.add("attention", "gate", GateAttention, help="per-pixel sigmoid gate (test plugin)")
    registry.add("norm", "halfres", HalfResidual, help="x + fn(norm(x)) / 2 (test plugin)")
    registry.add("activation", "softsign", nn.Softsign, help="x / (1 + |x|) (test plugin)")
    registry.add("time_embedding", "fourier", FourierEmbedding, help="log-spaced Fourier features of t/T (test plugin)")
    registry.add("model", "tinynet", TinyNet, help="two-conv noise predictor (test plugin)",
                 validate=validate_tinynet)
    registry.add("schedule", "geometric", geometric, help="betas from 1e-4 to 0.1, geometric (test plugin)")
    registry.add("sampler", "euler", euler, help="deterministic DDIM from the documented diffusion (test plugin)")
    registry.add("dataset", "stripes", Stripes, help="200 16x16 stripe images, no labels (test plugin)")
    registry.add("feature", "pixelstats", PixelStats, help="pooled pixels, mean and std (test plugin)")
    registry.add("metric", "meandist", MeanDistance, help="distance of feature means (test plugin)")
    registry.add("command", "census", add_census,
                 help="count the registered components of each kind (test plugin)")
    registry.add("training_hook", "tally", Tally, help="count the hook calls, to tally.json (test plugin)")
