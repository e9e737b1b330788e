"""Typed run configuration: what a run is, validated once at the edge and saved beside every artifact.

A run spec has five sections (model, diffusion, data, train, eval). It is read from a TOML file
and/or ``--set section.key=value`` overrides; the value of an override is parsed as a TOML value
(``--set model.dim_mults=[1,2,4]``), falling back to a bare string (``--set model.block=resnet``).
Defaults are the fast recipe measured in docs/diffusion.md ("The default recipe"); the parts that
depend on the data (width and depth for the image size) come from ``zoo.config.recipe`` when a spec is
loaded, and ``--preset study`` gives the study's settings (ConvNeXt, linear schedule, eps, SmoothL1,
constant lr 1e-3, DDIM-50).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.config.coerce import coerce
from zoo.config.recipe import PRESETS, recipe_for
from zoo.errors import UserError, did_you_mean
from zoo.runtime.io import atomic_write_text

#: learning-rate decays ``train.lr_decay`` accepts (:mod:`zoo.train.lr` computes them)
DECAYS = ("none", "cosine", "linear")
#: what the network may be trained to predict, and the losses (:mod:`zoo.diffusion.gaussian` implements them)
OBJECTIVES = ("eps", "x0", "v")
LOSSES = ("smooth_l1", "mse", "l1")


@dataclass
class ModelSpec:
    """Which network, assembled from which registered parts."""

    name: str = "unet"  # registered model: "unet" or "vae"
    channels: int = 3  # image channels (in a run: taken from the data section)
    image_size: int = 32  # square side (in a run: taken from the data section)
    dim: int = 32  # channels after the init conv; stage i has dim * dim_mults[i] (recipe: by image size)
    dim_mults: tuple[int, ...] = (1, 2, 4)  # one entry per resolution; all but the last downsample (recipe: by size)
    patch: int = 1  # U-Net only: run on patch x patch blocks folded into channels (space-to-depth); 1: on pixels; keep patch² x channels <= dim
    block: str = "resnet"  # conv block of every stage (the study's: ConvNeXt; ResNet learns faster per second)
    attention: str = "none"  # attention in the down/up stages (residual, norm-wrapped; the study's: linear)
    mid_attention: str = "full"  # attention in the bottleneck
    norm: str = "pre"  # where the GroupNorm sits around attention: "pre" or "post"
    activation: str = "default"  # "default" keeps each block's own; any other replaces every activation
    time_embedding: str = "sinusoidal"  # "none" trains an unconditional-in-t denoiser (the study's option)
    groups: int = 8  # GroupNorm groups inside blocks
    heads: int = 4  # attention heads
    dim_head: int = 32  # channels per attention head
    latent_dim: int = 16  # vae only: channels of the Gaussian latent
    kl_weight: float = 1.0  # vae only: weight of the KL term (1.0 = the ELBO)
    options: dict[str, Any] = field(default_factory=dict)  # free-form, for third-party models


@dataclass
class DiffusionSpec:
    """The forward process and what the network is trained to predict (Ho et al. 2020)."""

    schedule: str = "cosine"  # registered beta schedule (the study's: linear, which loses 16x16 images early)
    timesteps: int = 1000  # T
    objective: str = "v"  # "eps" (Ho et al., the study), "x0", or "v" (Salimans & Ho 2022)
    loss: str = "mse"  # "smooth_l1" (the study), "mse", "l1"
    min_snr_gamma: float | None = 5.0  # Hang et al. 2023 loss weighting (their 5); None (or "none") disables it

    def check(self) -> None:
        """Impossible settings, named (the schedule's name is the registry's to check)."""
        if self.timesteps < 2:
            raise UserError(f"diffusion.timesteps must be at least 2, got {self.timesteps}")
        if self.objective not in OBJECTIVES:
            raise UserError(f"unknown diffusion.objective '{self.objective}'{did_you_mean(self.objective, OBJECTIVES)}; "
                            f"use {', '.join(OBJECTIVES)}")
        if self.loss not in LOSSES:
            raise UserError(f"unknown diffusion.loss '{self.loss}'{did_you_mean(self.loss, LOSSES)}; use {', '.join(LOSSES)}")


@dataclass
class DataSpec:
    """Which images, prepared how (see ``zoo prepare``)."""

    dataset: str = "digits"  # registered dataset; digits ships inside scikit-learn
    root: str | None = None  # where the raw files are (flowers102, celeba, imagefolder)
    size: int = 16  # images are resized (shorter side) and centre-cropped to size x size
    channels: int = 1  # 1 (greyscale) or 3 (RGB)
    split: tuple[float, ...] = (0.8, 0.1, 0.1)  # train/val/test fractions
    seed: int = 0  # seed of the split
    prepared: str = "data/prepared"  # folder holding prepared datasets
    flip: bool | None = None  # random horizontal flip; None: on unless the dataset declares flip_invariant = False
    download: bool = False  # let torchvision download (never in tests or default runs)
    workers: int = 0  # DataLoader worker processes

    def check(self) -> None:
        """Refuse a data spec that cannot be prepared, saying which setting to change."""
        if self.channels not in (1, 3):
            raise UserError(f"channels (data.channels, --channels) must be 1 or 3, got {self.channels}")
        if self.size < 4:
            raise UserError(f"size (data.size, --size) must be at least 4, got {self.size}")
        if len(self.split) != 3 or any(f < 0 for f in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise UserError(
                f"split (data.split, --split) must be three non-negative fractions train,val,test summing "
                f"to 1 (e.g. 0.8,0.1,0.1), got {','.join(f'{f:g}' for f in self.split)}"
            )


@dataclass
class TrainSpec:
    """How the network is optimised."""

    batch_size: int = 32  # the study: 32 beat 64 and 128
    lr: float = 2e-3  # Adam peak rate (the study's 1e-3, constant: 3x and 5x did not converge without warm-up)
    lr_warmup: int = 200  # steps of linear warm-up from 0 (zoo.train.lr)
    lr_decay: str = "cosine"  # "cosine", "linear" (to 0 at the end of the budget) or "none" (zoo.train.lr)
    adam_betas: tuple[float, ...] = (0.9, 0.999)  # Adam's (beta1, beta2): torch's default; from 32x32 the recipe's is EDM2's 0.99
    epochs: int | None = None  # default 40 (the study) when neither epochs, steps nor minutes is given
    steps: int | None = None  # optimisation steps; overrides epochs
    minutes: float | None = None  # wall-clock budget; training stops at whichever limit comes first
    ema: bool = True  # keep an exponential moving average of the weights
    ema_std: float | None = 0.1  # power-function EMA (EDM2) averaging this fraction of the run; None: the warm-up rule; the recipe's 0.15 from 32x32
    ema_max_decay: float = 0.9999  # warm-up rule only: EMA decay ceiling
    ema_power: float = 0.75  # warm-up rule only: decay 1 - (1 + step) ** -power (as diffusers' EMAModel)
    grad_clip: float | None = 1.0  # max gradient norm; None disables clipping
    bf16: bool | None = None  # bf16 autocast; None: where this CPU runs it faster (zoo.runtime.cpu: AMX or AVX512-BF16, feature maps >= 32x32)
    channels_last: bool = True  # memory format for convolutions (faster with oneDNN)
    compile: str = "auto"  # torch.compile the network: "on", "off", or "auto" where measured to repay it (zoo.train.compiled)
    checkpoint_every: int = 1000  # steps between checkpoints (and one at the end)
    log_every: int = 25  # steps between log.jsonl lines
    seed: int = 0  # weights init, noise and data order
    threads: int | None = None  # torch threads; None: torch's default
    hooks: tuple[str, ...] = ()  # registered training hooks to run (zoo list training_hook), after zoo's own
    guide_at: float | None = None  # keep the EMA weights at this fraction of the budget as the autoguidance guide (zoo.train.guide); None: none
    guide_ema_std: float | None = None  # the guide's own power-function EMA of this length (zoo.train.guide); None: the guide is the sampled average (ema_std)

    def check(self) -> None:
        """Impossible numbers, named."""
        for name in ("batch_size", "epochs", "steps", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"train.{name} must be at least 1, got {value}")
        if self.lr <= 0:
            raise UserError(f"train.lr must be positive, got {self.lr}")
        if self.minutes is not None and self.minutes <= 0:
            raise UserError(f"train.minutes must be positive, got {self.minutes}")
        if self.lr_decay not in DECAYS:
            raise UserError(f"unknown train.lr_decay '{self.lr_decay}'{did_you_mean(self.lr_decay, DECAYS)}; use {', '.join(DECAYS)}")
        if self.lr_warmup < 0:
            raise UserError(f"train.lr_warmup must be 0 or more steps, got {self.lr_warmup}")
        if len(self.adam_betas) != 2 or not all(0 <= b < 1 for b in self.adam_betas):
            raise UserError(f"train.adam_betas must be two numbers in [0, 1), (beta1, beta2), e.g. [0.9, 0.99]; "
                            f"got {list(self.adam_betas)}")
        if self.compile not in ("auto", "on", "off"):
            raise UserError(f"train.compile must be one of auto, on, off, got '{self.compile}'")
        if self.guide_at is not None and not 0 < self.guide_at < 1:
            raise UserError(f"train.guide_at must be a fraction of the budget between 0 and 1 (e.g. 0.05), got {self.guide_at}; "
                            "'none' for no guide")
        _check_ema_std("ema_std", self.ema_std, "EDM2 uses 0.05-0.15", "for the warm-up rule")
        _check_ema_std("guide_ema_std", self.guide_ema_std, "e.g. 0.25, longer than train.ema_std",
                       "to guide with the sampled average (train.ema_std) at train.guide_at")


def _check_ema_std(setting: str, std: float | None, example: str, none_means: str) -> None:
    """A power-function EMA's length is below 1/sqrt(12), the uniform average's (zoo.train.ema.std_to_gamma)."""
    if std is not None and not 0 < std < 0.288:
        raise UserError(f"train.{setting} must be in (0, 0.288) ({example}), got {std}; 'none' {none_means}")


@dataclass
class EvalSpec:
    """How samples are drawn and scored."""

    sampler: str = "dpmpp_2m"  # registered sampler (the study's: ddim)
    sampler_options: dict[str, Any] = field(default_factory=dict)  # the sampler's own, e.g. {spacing = "linspace"}
    steps: int = 10  # sampler steps (ddpm always uses all T; dpmpp_2m's "trailing" 10 ~ DDIM-50; the study's: 50)
    n: int = 1000  # number of samples scored
    batch_size: int = 250  # sampling batch size
    feature: str | None = None  # feature extractor; None: the dataset's default
    metrics: tuple[str, ...] = ("fid", "kid", "is", "diversity", "precision", "recall")
    seed: int = 0  # sampling noise
    weights: str = "ema"  # "ema" or "raw"
    guidance: float = 1.0  # autoguidance weight w (zoo.diffusion.guidance): 1 is off; above 1 needs the run's guide (train.guide_at)
    guidance_interval: tuple[float, ...] | None = None  # [low, high]: guide only where sigma (noise/signal) is in (low, high]; None: everywhere
    eps_scale: float = 1.0  # epsilon scaling (zoo.diffusion.eps_scaling): the noise prediction is divided by it; 1 is off
    curve_every: int | None = None  # steps between learning-curve points (EMA weights scored in training); None: off
    curve_n: int = 200  # samples per curve point: a cheap budget, the curve's shape matters, not its last digit
    curve_steps: int = 10  # sampler steps per curve point
    curve_metrics: tuple[str, ...] = ("kid",)  # KID: unbiased at small n, unlike FID (docs/metrics.md)

    def options_for(self, sampler: str) -> dict[str, Any]:
        """The options to draw with ``sampler``: this spec's when it is the spec's own sampler, else none."""
        return dict(self.sampler_options) if sampler == self.sampler else {}

    def check(self) -> None:
        """Impossible numbers, named."""
        if self.weights not in ("ema", "raw"):
            raise UserError(f"eval.weights must be 'ema' or 'raw', got '{self.weights}'")
        if not self.guidance >= 1:
            raise UserError(f"eval.guidance must be 1 (off) or more, got {self.guidance}")
        interval = self.guidance_interval
        if interval is not None and (len(interval) != 2 or not math.isfinite(interval[0]) or not 0 <= interval[0] < interval[1]):
            raise UserError(f"eval.guidance_interval must be two noise levels sigma [low, high] with 0 <= low < high "
                            f"(e.g. [1, inf]: where x_t holds more noise than signal), got {list(interval)}; 'none' to "
                            "guide at every noise level")
        check_eps_scale(self.eps_scale, "eval.eps_scale")
        if self.n < 2 or self.steps < 1 or self.batch_size < 1:
            raise UserError("eval.n must be at least 2, eval.steps and eval.batch_size at least 1")
        if (self.curve_every is not None and self.curve_every < 1) or self.curve_n < 2 or self.curve_steps < 1:
            raise UserError("eval.curve_every and eval.curve_steps must be at least 1, eval.curve_n at least 2 "
                            "(or leave eval.curve_every unset: no learning curve)")


def check_eps_scale(value: float, name: str) -> None:
    """Refuse a scale outside 0.9-1.1: the scales that helped were 0.96-0.995 (:mod:`zoo.diffusion.eps_scaling`), Ning et
    al.'s 1.001-1.02, and one 10% off moves every x0 estimate by a tenth of the noise in it."""
    if not 0.9 <= value <= 1.1:
        raise UserError(f"{name} must be a number from 0.9 to 1.1 (1: off; above 1 shrinks the predicted noise, "
                        f"below 1 enlarges it), got {value!r}")


@dataclass
class RunSpec:
    """Everything that determines a run's result."""

    model: ModelSpec = field(default_factory=ModelSpec)
    diffusion: DiffusionSpec = field(default_factory=DiffusionSpec)
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)

    def to_dict(self) -> dict[str, Any]:
        return {name: _plain(dataclasses.asdict(getattr(self, name))) for name in SECTIONS}

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RunSpec:
        return from_dict(read_spec_json(path))


def read_spec_json(path: str | Path) -> dict[str, Any]:
    """A saved ``spec.json`` as nested mappings; a damaged one is a one-line error, not a traceback. A
    setting added after the run was saved takes its old behaviour (:data:`LATE_DEFAULTS`), not today's
    default, so an old run resumes, samples and scores as it was trained."""
    from zoo.runtime.io import load_json

    data = load_json(path, what="a run spec", fix="zoo train wrote it beside the run's weights: restore it from a "
                     "copy of the run, or train the run again")
    for (section, key), old in LATE_DEFAULTS.items():
        if isinstance(data.get(section), dict):
            data[section].setdefault(key, _plain(old))
    return data


SECTIONS: dict[str, type] = {
    "model": ModelSpec,
    "diffusion": DiffusionSpec,
    "data": DataSpec,
    "train": TrainSpec,
    "eval": EvalSpec,
}


# (section, key) -> the value that reproduces the old behaviour, for settings added after results
# databases existed (see ResolvedSpec.hash); the recipe's at the study's values: --preset study keeps hashes
LATE_DEFAULTS: dict[tuple[str, str], Any] = {
    ("eval", "curve_every"): EvalSpec.curve_every, ("eval", "curve_n"): EvalSpec.curve_n,
    ("eval", "curve_steps"): EvalSpec.curve_steps, ("eval", "curve_metrics"): EvalSpec.curve_metrics,
    ("eval", "sampler_options"): {}, ("train", "hooks"): (),
    ("train", "lr_warmup"): 0, ("train", "lr_decay"): "none", ("train", "ema_std"): None,
    ("model", "patch"): 1,
    # how the network runs, not what it computes (float rounding apart, as train.threads): "auto" keeps every
    # stored cell's identity; no grid stored before it has a cell that auto compiles (long enough, in a
    # configuration measured): emoji_minutes.toml's 16-minute cells train pixels in bf16, the rest are shorter
    ("train", "compile"): "auto",
    ("train", "guide_at"): None, ("train", "guide_ema_std"): None, ("eval", "guidance"): 1.0, ("eval", "guidance_interval"): None,
    ("eval", "eps_scale"): 1.0, ("train", "adam_betas"): (0.9, 0.999),
}


def _plain(value: Any) -> Any:
    """Tuples become lists and infinities the strings TOML and float() read back ("inf"), so a spec survives a
    strict JSON round trip unchanged."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- parsing ------------------------------------------------------------------------------------
def section_from_dict(cls: type, data: dict[str, Any], section: str) -> Any:
    """Build one section dataclass from a mapping, naming any unknown key and its closest match."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            raise UserError(f"unknown setting '{section}.{key}'{did_you_mean(key, names)}; settings of [{section}]: {', '.join(names)}")
        kwargs[key] = coerce(value, hints[key], f"{section}.{key}")
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> RunSpec:
    """A :class:`RunSpec` from nested mappings (a parsed TOML file or a saved ``spec.json``)."""
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise UserError(f"unknown spec section '{name}'{did_you_mean(name, SECTIONS)}; sections: {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise UserError(f"spec section '{name}' must be a table of settings, got {values!r}")
        sections[name] = section_from_dict(SECTIONS[name], values, name)
    return RunSpec(**sections)


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax where it parses (``[1,2,4]``, ``1e-3``, ``true``), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``["model.block=resnet", ...]`` -> ``{"model": {"block": "resnet"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise UserError(f"--set expects section.key=value (e.g. model.block=resnet), got '{pair}'")
        out.setdefault(section, {})[name] = parse_value(value.strip())
    return out


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Nested-dict update returning a new dict (overrides win)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"config file '{path}' is not valid TOML: {err}") from None


def with_recipe(spec: dict[str, Any], preset: str | None = None) -> dict[str, Any]:
    """``spec`` (nested mappings, the user's settings) over the named preset or the data's recipe
    (:mod:`zoo.config.recipe`)."""
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(f"unknown preset '{preset}'{did_you_mean(preset, PRESETS)}; presets: {', '.join(PRESETS)}")
        return merge(PRESETS[preset], spec)
    data = spec.get("data", {}) if isinstance(spec.get("data"), dict) else {}
    size, channels = data.get("size", DataSpec.size), data.get("channels", DataSpec.channels)
    if not isinstance(size, int) or not isinstance(channels, int):
        return spec  # a wrong type: left to the spec's own validation, which names it
    recipe = recipe_for(size, channels)
    chosen = spec.get("eval", {}).get("sampler", EvalSpec.sampler) if isinstance(spec.get("eval"), dict) else EvalSpec.sampler
    if chosen != EvalSpec.sampler and "eval" in recipe:  # the recipe's sampler options are the default sampler's
        recipe["eval"] = {k: v for k, v in recipe["eval"].items() if k != "sampler_options"}
    return merge(recipe, spec)
