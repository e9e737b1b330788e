"""A spec against a registry, once: the one place where the names in a :mod:`zoo.config.spec` meet the
components, and the only way to a :class:`ResolvedSpec`.

Everything after the edge (training, sampling, scoring, the benchmark) takes a :class:`ResolvedSpec`: a
:class:`~zoo.config.spec.RunSpec` whose model matches the data and is in its canonical form, checked
against the registry it was resolved with, and carrying that registry so factories are handed it instead
of fetching a global one. Resolving is done by :func:`resolve` (or :func:`load_spec` from files and
``--set`` overrides), at the CLI or the Python API; resolving a ResolvedSpec again with its own registry
returns it unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.config.spec import (
    LATE_DEFAULTS,
    SECTIONS,
    DiffusionSpec,
    EvalSpec,
    RunSpec,
    TrainSpec,
    _plain,
    from_dict,
    merge,
    parse_overrides,
    read_toml,
    with_recipe,
)
from zoo.errors import UserError
from zoo.registry import Registry

if TYPE_CHECKING:
    from torch import nn


@dataclass
class ResolvedSpec(RunSpec):
    """A run spec resolved against ``registry`` (see the module docstring). Its sections are a RunSpec's;
    ``registry`` is not part of the spec (not saved, hashed or compared)."""

    registry: Registry = field(default_factory=Registry, repr=False, compare=False)

    def hash(self) -> str:
        """A short content hash: the identity of a benchmark cell. Settings added after cells were first
        stored (:data:`zoo.config.spec.LATE_DEFAULTS`) count only when changed from their old behaviour, so
        adding a setting does not make every stored result look like a different cell."""
        data = self.to_dict()
        for (section, key), default in LATE_DEFAULTS.items():
            if data[section].get(key) == _plain(default):
                del data[section][key]
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def build_model(self) -> nn.Module:
        """The network the model section describes, built by its registered factory with this registry."""
        factory = self.registry.get("model", self.model.name).factory
        return factory(self.model, self.registry)


def resolve(spec: RunSpec, registry: Registry | None = None, *, model_only: bool = False) -> ResolvedSpec:
    """``spec`` checked against ``registry`` (unknown names, impossible numbers, the model's own
    ``validate``, the sampler's options), its model matched to the data (channels, image size) and made
    canonical (two specs that build the same network resolve to the same spec, hence the same hash),
    and ``data.flip`` decided by the dataset's declaration. ``model_only`` checks only the model, for
    commands that build nothing else. ``registry``: the installed plugins' (``zoo.get_registry()``) when
    None, for scripts and notebooks; zoo's own code always hands one over."""
    if isinstance(spec, ResolvedSpec) and registry in (None, spec.registry):
        return spec
    if registry is None:
        from zoo.plugins import installed

        registry = installed(registry)
    if not model_only:
        _check(spec, registry)
    model = dataclasses.replace(spec.model, channels=spec.data.channels, image_size=spec.data.size)
    component = registry.get("model", model.name)
    validate, canonical = component.declared("validate"), component.declared("canonical")
    if validate is not None:
        validate(model, registry)
    if canonical is not None:
        model = canonical(model, registry)
    data = spec.data
    if data.flip is None:
        flip = bool(registry.get("dataset", data.dataset).declared("flip_invariant"))
        data = dataclasses.replace(data, flip=flip)
    sections = {name: getattr(spec, name) for name in SECTIONS}
    if spec.train.guide_at is None and spec.train.guide_ema_std is not None:  # no guide: nothing for its average to keep
        sections["train"] = dataclasses.replace(spec.train, guide_ema_std=None)
    if component.declared("self_sampling"):
        sections.update(without_diffusion(spec))
    resolved = ResolvedSpec(**{**sections, "model": model, "data": data}, registry=registry)
    if not model_only:
        _check_guidance(resolved)
        check_sampler_options(resolved)
    return resolved


def without_diffusion(spec: RunSpec) -> dict[str, Any]:
    """The sections of ``spec`` with what a self-sampling model (the VAE) never reads put back to the defaults:
    the diffusion process, the sampler, its steps, its guidance (weight and interval) and epsilon scaling, the guide (and its average) and the compile switch (zoo
    compiles only the network inside its diffusion loss). The spec then says what runs, and a VAE crossed with a schedule or sampler axis
    is one cell, trained once."""
    plain = EvalSpec()
    evaluation = dataclasses.replace(spec.eval, sampler=plain.sampler, sampler_options=dict(plain.sampler_options),
                                     steps=plain.steps, curve_steps=plain.curve_steps, guidance=plain.guidance,
                                     guidance_interval=plain.guidance_interval, eps_scale=plain.eps_scale)  # fmt: skip
    plain_train = TrainSpec()
    return {"diffusion": DiffusionSpec(), "eval": evaluation,
            "train": dataclasses.replace(spec.train, compile=plain_train.compile, guide_at=plain_train.guide_at,
                                         guide_ema_std=plain_train.guide_ema_std)}


def _check(spec: RunSpec, registry: Registry) -> None:
    """Unknown component names and impossible numbers, before anything is built."""
    e = spec.eval
    registry.get("model", spec.model.name)
    registry.get("schedule", spec.diffusion.schedule)
    registry.get("dataset", spec.data.dataset)
    registry.get("sampler", e.sampler)
    if e.feature is not None:
        registry.get("feature", e.feature)
    for metric in (*e.metrics, *e.curve_metrics):
        registry.get("metric", metric)
    for hook in spec.train.hooks:
        registry.get("training_hook", hook)
    spec.diffusion.check()
    spec.data.check()
    spec.train.check()
    e.check()


def load_spec(
    config: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    registry: Registry | None = None,
    model_only: bool = False,
    base: dict[str, Any] | None = None,
    preset: str | None = None,
) -> ResolvedSpec:
    """The resolved run spec of a TOML file (optional) with ``--set`` overrides applied (only its model
    section checked when ``model_only``). ``base`` (a saved spec.json) sits under the file and the
    overrides; under them all, the named ``preset`` (also a top-level ``preset = "study"`` in the file) or
    the recipe for the data (:func:`zoo.config.spec.with_recipe`). ``registry``: as for :func:`resolve`."""
    data = read_toml(config) if config else {}
    preset = data.pop("preset", None) if preset is None else preset
    data.pop("preset", None)
    data = merge(base or {}, merge(data, parse_overrides(overrides)))
    return resolve(from_dict(with_recipe(data, preset) if base is None else data), registry, model_only=model_only)


def _check_guidance(spec: ResolvedSpec) -> None:
    """Guidance needs a guide to steer away from: refuse a run that would train without one, before it trains."""
    if spec.eval.guidance != 1 and spec.train.guide_at is None:
        raise UserError(f"eval.guidance={spec.eval.guidance:g} needs a guide: set train.guide_at (the fraction of the budget "
                        "at which the run keeps its EMA weights as the guide, e.g. 0.05), or eval.guidance=1 for none")


def check_sampler_options(spec: ResolvedSpec) -> None:
    """``eval.sampler_options`` are the sampler's to judge (plugins take theirs through ``**options``), and a
    wrong one must fail now, not after the training it would be sampled from: so the sampler draws one
    image of the run's shape, on its schedule and steps, from a stand-in model that predicts zeros. Only
    a sampler that runs without the options and fails with them is refused: one that cannot run on the
    stand-in at all has its options checked when it samples."""
    e = spec.eval
    if not e.sampler_options:
        return
    import torch

    from zoo.diffusion.gaussian import GaussianDiffusion

    class PredictsZeros(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(()))  # samplers find the device from a parameter

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(x)

    diffusion = GaussianDiffusion.from_spec(spec.diffusion, spec.registry)
    sampler = spec.registry.get("sampler", e.sampler).factory
    shape = (1, spec.data.channels, spec.data.size, spec.data.size)

    def draw(options: dict) -> None:
        # forked: a sampler that breaks the contract and draws from the global generator must not shift what
        # training draws from it later
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            sampler(PredictsZeros().eval(), diffusion, shape, steps=e.steps, generator=torch.Generator().manual_seed(0),
                    progress=False, **options)

    try:
        draw(e.sampler_options)
    except Exception as exc:  # a plugin's own check may raise anything: name the setting either way
        try:
            draw({})
        except Exception:
            return
        raise UserError(f"eval.sampler_options {e.sampler_options} do not suit sampler '{e.sampler}': {exc}; "
                        "see `zoo list samplers` for each sampler's options") from exc
