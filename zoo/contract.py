"""The contract every component honours: what a factory of each kind is called with, what it returns
(a :class:`typing.Protocol` per kind), and what a component may declare about itself.

zoo reads nothing else from a component. A factory's declarations (a model's ``validate``, a block's
``default_activation``, ...) are given when it is registered, ``registry.add(kind, name, factory, help=...,
**declarations)``, and listed with their defaults in :data:`DECLARATIONS`; every attribute zoo reads from a
built object is either required by its Protocol or listed with its default in :data:`OPTIONAL` and read
through :func:`optional`. ``zoo.testing`` checks a component against this contract
(``zoo.testing.check_block(MyBlock)`` and so on). The pluggy hook itself is in :mod:`zoo.hookspecs`.

=============== ======================================================== =====================
kind            factory                                                  returns
=============== ======================================================== =====================
block           ``(dim_in, dim_out, *, time_emb_dim, act, groups)``      :class:`Block`
attention       ``(dim, *, heads, dim_head)``                            :class:`Attention` or None
norm            ``(dim, fn)``                                            :class:`Norm`
activation      ``()``                                                   :class:`Activation`
time_embedding  ``(dim)``                                                :class:`TimeEmbedding` or None
model           ``(spec: zoo.config.spec.ModelSpec, registry)``          :class:`DenoisingModel` or
                                                                         :class:`SelfSamplingModel`
schedule        ``(timesteps)``                                          betas (:class:`ScheduleFactory`)
sampler         ``(model, diffusion, shape, *, steps, generator,         images (:class:`SamplerFactory`)
                progress, **options)``
dataset         ``(root, *, download)``                                  :class:`DatasetSource`
feature         ``()``                                                   :class:`FeatureExtractor`
metric          ``(**options)``                                          :class:`Metric`
command         ``(subparsers)``                                         None (:class:`CommandFactory`)
training_hook   ``(spec: zoo.config.spec.RunSpec)``                      :class:`TrainingHook`
=============== ======================================================== =====================

A registered name keeps its meaning forever: components may be added, never changed or removed.
"""

from __future__ import annotations

import argparse
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image
    from torch import Tensor

    from zoo.config.spec import ModelSpec


# -- network parts (the U-Net is assembled from these) ---------------------------------------------
@runtime_checkable
class Block(Protocol):
    """A residual stage of the U-Net: (B, dim_in, H, W) -> (B, dim_out, H, W), an ``nn.Module``.

    Factory ``(dim_in, dim_out, *, time_emb_dim, act, groups)``: ``time_emb_dim`` is the width of
    ``t_emb`` (None: the network has no time embedding and ``t_emb`` is None); ``act`` is a
    zero-argument callable building the activation the spec chose, or None for the block's own;
    ``groups`` is the GroupNorm group count (it divides dim_out). Declaration
    ``default_activation``: the registered activation name the block uses by itself.
    """

    def forward(self, x: Tensor, t_emb: Tensor | None) -> Tensor: ...


@runtime_checkable
class Attention(Protocol):
    """Attention over the pixels, an ``nn.Module`` keeping the shape (B, dim, H, W).

    Factory ``(dim, *, heads, dim_head)``. Returning None means "no attention here": the U-Net then
    leaves out the layer together with its norm and residual (the built-in ``none`` does this).
    Declaration ``validate(dim, *, size, heads, dim_head)``: raise :class:`zoo.errors.UserError` (one
    line naming the constraint) when the layer cannot serve ``dim`` channels on ``size`` x ``size``
    feature maps; the U-Net asks it for every place it would put the layer, when the spec is loaded.
    """

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Norm(Protocol):
    """Wraps an attention module ``fn`` with a normalisation and the residual, keeping the shape.

    Factory ``(dim, fn)``: pre-norm is ``x + fn(norm(x))``, post-norm ``norm(x + fn(x))``.
    """

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Activation(Protocol):
    """An elementwise ``nn.Module`` keeping the shape. Factory ``()``."""

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class TimeEmbedding(Protocol):
    """Embeds timesteps: long (B,) -> float (B, out_dim), an ``nn.Module``.

    Factory ``(dim)`` (the U-Net's base width; ``out_dim`` need not equal it). The U-Net puts its MLP
    (Linear, activation, Linear to 4 * dim) on top. Returning None means "no time embedding": the
    network infers the noise level itself and blocks get ``t_emb=None``. A factory that cannot embed
    at this ``dim`` raises ValueError (zoo reports it as a spec error).
    """

    out_dim: int

    def forward(self, t: Tensor) -> Tensor: ...


# -- models --------------------------------------------------------------------------------------
@runtime_checkable
class DenoisingModel(Protocol):
    """A noise predictor, an ``nn.Module``: ``forward(x_t, t) -> same shape as x_t`` predicts what
    ``diffusion.objective`` names (eps, x0 or v). zoo trains it with :class:`Diffusion` and samples it
    with a registered sampler. Factory ``(spec: zoo.config.spec.ModelSpec, registry)``; settings a third-party model
    needs beyond the spec's fields go in ``spec.options`` (a free-form table)."""

    def forward(self, x: Tensor, t: Tensor) -> Tensor: ...


@runtime_checkable
class SelfSamplingModel(Protocol):
    """A model with its own loss and sampler (the VAE), an ``nn.Module``. zoo's training loop calls
    ``training_loss`` instead of the diffusion loss, and ``zoo sample`` calls ``sample`` instead of a
    sampler; no diffusion process is built. Recognised by having both methods."""

    def training_loss(self, x0: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The scalar loss of a batch ``x0`` in [-1, 1], (B, C, H, W); randomness from ``generator``."""
        ...

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images (n, C, H, W) in [-1, 1]."""
        ...


def owns_sampling(model: object) -> bool:
    """True for a :class:`SelfSamplingModel`: zoo then builds no diffusion process for it."""
    return isinstance(model, SelfSamplingModel)


class ModelFactory(Protocol):
    """``(spec, registry) -> model``: ``registry`` is the :class:`zoo.registry.Registry` the spec was
    resolved against; build the parts the spec names from it, never from a global one. Declarations
    (:data:`DECLARATIONS`): ``validate(spec, registry)`` raising :class:`zoo.errors.UserError` for an
    impossible spec before any tensor is made, and ``canonical(spec, registry) -> spec`` mapping
    equivalent specs to one, so a grid trains them once. A factory of one parameter ``(spec)``, the
    contract before the registry was handed over, is still called with the spec alone."""

    def __call__(self, spec: ModelSpec, registry: Any) -> DenoisingModel | SelfSamplingModel: ...


# -- the diffusion process -------------------------------------------------------------------------
class ScheduleFactory(Protocol):
    """``(timesteps) -> betas``: a float64 tensor (T,) with every value in (0, 1)."""

    def __call__(self, timesteps: int) -> Tensor: ...


@runtime_checkable
class Diffusion(Protocol):
    """What a sampler may use of the diffusion process (``zoo.diffusion.gaussian.GaussianDiffusion``).

    Schedule tensors: float32, shape (T,), indexed by timestep t = 0..T-1 (alpha_bar = alphas_cumprod).
    Nothing else of the object is part of the contract.
    """

    num_timesteps: int  # T
    objective: str  # what the network predicts: "eps", "x0" or "v"
    betas: Tensor
    alphas_cumprod: Tensor  # alpha_bar_t
    alphas_cumprod_prev: Tensor  # alpha_bar_{t-1}, 1 at t = 0
    sqrt_alphas_cumprod: Tensor  # x_t = sqrt_alphas_cumprod x0 + sqrt_one_minus_alphas_cumprod eps
    sqrt_one_minus_alphas_cumprod: Tensor
    sqrt_recip_alphas_cumprod: Tensor
    sqrt_recipm1_alphas_cumprod: Tensor
    posterior_variance: Tensor  # beta tilde (Ho et al. eq. 7)
    posterior_log_variance_clipped: Tensor
    posterior_mean_coef1: Tensor
    posterior_mean_coef2: Tensor
    snr: Tensor  # alpha_bar / (1 - alpha_bar)

    def to(self, device: torch.device) -> Diffusion:
        """Move the schedule tensors (do it to the model's device before indexing them)."""
        ...

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t from x0 in one step; ``t`` a long tensor (B,)."""
        ...

    def q_posterior(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x0), each broadcastable to x."""
        ...

    def predict_x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor: ...

    def predict_eps_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor: ...

    def predict_x0_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor: ...

    def predict_eps_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor: ...

    def model_predictions(self, model: Any, x_t: Tensor, t: Tensor, *, clip_x0: bool = True) -> tuple[Tensor, Tensor]:
        """Call ``model(x_t, t)`` and return (eps, x0) whatever the objective; x0 clamped to [-1, 1]."""
        ...


class SamplerFactory(Protocol):
    """A sampler is the factory itself: it runs the reverse process and returns float images
    ``shape`` = (B, C, H, W) in [-1, 1].

    ``model`` is a :class:`DenoisingModel` in eval mode; call it only under ``torch.inference_mode()``.
    ``diffusion`` is a :class:`Diffusion`; ``steps`` the number of model calls asked for (a sampler
    with a fixed count may ignore it); every random number comes from ``generator`` (drawn on
    ``generator.device``, then moved to the model's device), so a seed fixes the images; ``progress``
    asks for a progress bar. Unknown ``**options`` (from the spec's sampler options) must raise
    :class:`zoo.errors.UserError` naming the option.
    """

    def __call__(
        self, model: Any, diffusion: Diffusion, shape: Sequence[int], *, steps: int,
        generator: torch.Generator | None = None, progress: bool = False, **options: Any,
    ) -> Tensor: ...  # fmt: skip


# -- data and evaluation ---------------------------------------------------------------------------
@runtime_checkable
class DatasetSource(Protocol):
    """Every image of a dataset, in a fixed order (``zoo prepare`` makes its own splits).

    Factory ``(root, *, download)``: ``root`` is a folder or None (the source's default);
    ``download`` is True only when the user asked for it. Optional attributes: ``num_classes``
    (None: no labels) and ``default_feature`` (the extractor metrics use unless the spec names one,
    ``"inception"``), ``root`` (recorded in the manifest), ``attribution`` (the credit line the
    images' licence asks for, e.g. CC BY: recorded in the manifest, shown by ``zoo prepare`` and the report).
    """

    def __len__(self) -> int: ...

    def load(self, i: int) -> tuple[Image.Image, int | None]:
        """Image ``i`` (PIL, any mode) and its label (None without labels). May raise on a bad file:
        ``zoo prepare`` records the reason and carries on."""
        ...

    def item_name(self, i: int) -> str:
        """A short name of item ``i`` for reports (e.g. its file name)."""
        ...


@runtime_checkable
class FeatureExtractor(Protocol):
    """A frozen ``nn.Module``: ``forward(images)`` maps uint8 (N, C, H, W), C = 1 or 3, any size, to
    float features (N, num_features), the same for the same images. Factory ``()``; no downloads.

    Optional: ``num_classes`` and a method ``logits(images) -> (N, num_classes)`` (the Inception
    Score and class histograms need them), ``batch_size`` (images per forward pass when zoo extracts
    features: lower it for a large network) and ``name`` (the label of the scores when a built module,
    not a registered name, is passed to ``zoo.metrics.evaluate``; default its class name).
    """

    num_features: int

    def forward(self, images: Tensor) -> Tensor: ...


class FeatureSet(Protocol):
    """What a metric is given of one image set (zoo passes ``zoo.metrics.scores.Features``)."""

    features: np.ndarray  # (N, D) float64
    logits: np.ndarray | None  # (N, K) class logits, or None when the extractor does not classify


# -- how a metric describes itself -------------------------------------------------------------------
@dataclass(frozen=True)
class MetricColumn:
    """One value a metric reports (``compute`` returns it under ``key``) and how tables show and rank it.

    A metric object lists its values in a ``columns`` attribute (a tuple of these): FID has one, KID
    one with its spread over subsets, precision/recall are two metrics of one column each. Without
    ``columns`` a metric is shown as one unranked column named after it. zoo's table, ``--sort``, the
    report and ``--json`` read only these descriptions, so a plugin metric appears like a built-in one.
    """

    key: str  # the name of the value in compute()'s dict
    title: str = ""  # table header (default: the key); the direction mark is added by zoo
    better: Literal["low", "high", "real", ""] = ""  # "real": closest to the real data's value; "": not ranked
    digits: int = 3  # significant digits shown; 0: a whole number
    spread: str | None = None  # key of the value's own spread within one run (KID over subsets), if any
    real: str | None = None  # better="real": key of the same quantity measured on the real images

    @property
    def header(self) -> str:
        mark = {"low": " ↓", "high": " ↑", "real": " (≈ real)"}.get(self.better, "")
        return (self.title or self.key) + mark


@runtime_checkable
class Metric(Protocol):
    """Scores generated images against real ones from their features, extracted once per set.

    Factory ``(**options)``. ``compute(real, fake)`` takes two :class:`FeatureSet`
    (``.features`` (N, D) float64, ``.logits`` (N, K) or None) and returns named floats, e.g.
    ``{"kid": ..., "kid_std": ...}``. Optional: ``columns`` (a tuple of :class:`MetricColumn`: how
    tables show and rank the values), ``needs_real``, ``needs_logits``, ``min_samples``
    (zoo skips the metric, saying why, when a set is too small or logits are missing).
    Subclassing ``zoo.metrics.scores.BaseMetric`` provides these.
    """

    def compute(self, real: FeatureSet | None, fake: FeatureSet) -> dict[str, float]: ...




# -- extending the command line and the training loop ----------------------------------------------
class CommandFactory(Protocol):
    """``(subparsers) -> None``: adds one sub-command with ``subparsers.add_parser(name, help=...)`` and
    ``set_defaults(run=fn)``, where ``fn(args) -> int`` is the exit code. Keep heavy imports inside ``fn``.
    Raise :class:`zoo.errors.UserError` for a user's mistake: ``zoo`` prints it as one line. The
    sub-command's name is the registered name. Declaration ``order`` places it in ``zoo --help``."""

    def __call__(self, subparsers: argparse._SubParsersAction) -> None: ...


class TrainingHook:
    """Code that runs inside the training loop, at the points below, in this order; subclass it and
    override what you need (every point is a no-op here). Hooks run on every rank, after zoo's own
    (lr schedule, logger, finite-weights check, learning curve); only ``run.writer`` (rank 0) may
    write files. A registered hook runs in the runs whose ``train.hooks`` name it; its factory is
    ``(spec: RunSpec) -> TrainingHook``. ``run`` is a ``zoo.train.setup.TrainingRun``
    (spec, run_dir, rank, device, ...), ``state`` a ``zoo.train.state.TrainState`` (step, epoch,
    model, ema, optimizer)."""

    def on_start(self, run: Any, state: Any) -> None:
        """Once before the first step of this process (``state.step`` > 0 when resuming)."""

    def before_step(self, run: Any, state: Any) -> None:
        """Before step ``state.step + 1``."""

    def after_step(self, run: Any, state: Any, loss: float) -> None:
        """After step ``state.step`` (counters already advanced); ``loss`` is this step's loss."""

    def before_checkpoint(self, run: Any, state: Any) -> None:
        """Before ``state`` is saved; raise to keep the previous checkpoint."""

    def on_end(self, run: Any, state: Any) -> None:
        """After the final checkpoint of this process (not on an exception)."""


#: The points of :class:`TrainingHook`, in the order the loop reaches them.
HOOK_POINTS = ("on_start", "before_step", "after_step", "before_checkpoint", "on_end")


# -- what a component declares, and what zoo assumes without it ----------------------------------
#: What a factory may declare when it is registered (``registry.add(..., name=value)``), per kind, and the
#: value zoo assumes when it does not. They are read before anything is built.
DECLARATIONS: dict[str, dict[str, Any]] = {
    "block": {"default_activation": None},  # registered name of the block's own activation
    "attention": {"validate": None},  # see Attention
    "model": {"validate": None, "canonical": None},  # see ModelFactory
    "dataset": {"flip_invariant": True},  # False: a mirrored image means something else (digits); flips default off
    "command": {"order": 100},  # place in `zoo --help` (zoo's own: 10 to 90)
}

#: Every optional attribute zoo reads from a built object, per kind, and the value it assumes when absent.
OPTIONAL: dict[str, dict[str, Any]] = {
    "dataset": {"num_classes": None, "default_feature": "inception", "root": None, "attribution": None},
    "feature": {"num_classes": None, "logits": None, "batch_size": 64, "name": None},  # name None: the class name
    "metric": {"columns": None, "needs_real": True, "needs_logits": False, "min_samples": 2},
}


def optional(kind: str, obj: object, attr: str) -> Any:
    """``obj.attr`` of a built component, or the default :data:`OPTIONAL` documents for ``kind``."""
    return getattr(obj, attr, OPTIONAL[kind][attr])


def declared(kind: str, factory: object, attr: str, declarations: Mapping[str, Any] | None = None) -> Any:
    """What ``factory`` declared at registration (``declarations``), else the same name as an attribute of
    the factory (how plugins written before declarations existed said it), else the default."""
    if declarations is not None and attr in declarations:
        return declarations[attr]
    return getattr(factory, attr, DECLARATIONS[kind][attr])


def takes_registry(fn: Callable[..., Any]) -> bool:
    """Whether a model factory (or its ``validate``/``canonical``) takes ``(spec, registry)``, the current
    contract, rather than ``(spec)`` alone, the one before it."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: assume the current contract
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def with_registry(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called as ``(spec, registry)``: itself under the current contract, else a wrapper that drops the
    registry (see :func:`takes_registry`). The registry applies it once, when a model is registered."""
    if takes_registry(fn):
        return fn

    @functools.wraps(fn)
    def spec_only(spec: Any, registry: Any) -> Any:
        return fn(spec)

    return spec_only
