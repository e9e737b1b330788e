"""A spec against a registry: the one place where the names in a :mod:`zoo.spec` meet the components.

:mod:`zoo.spec` is data and parsing; everything that needs to know what is registered is here, and takes
the registry as an argument (``zoo.spec`` passes the installed plugins' registry). This module never
imports :mod:`zoo.spec` at run time, so the two cannot form an import cycle.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zoo.errors import UserError, did_you_mean
from zoo.hookspecs import optional
from zoo.registry import Registry

if TYPE_CHECKING:
    from zoo.spec import ModelSpec, RunSpec

OBJECTIVES = ("eps", "x0", "v")
LOSSES = ("smooth_l1", "mse", "l1")


def resolve(spec: RunSpec, registry: Registry) -> RunSpec:
    """A copy whose model matches the data (channels, image size), in the model's canonical form
    (two specs that build the same network resolve to the same spec, hence the same hash)."""
    model = dataclasses.replace(spec.model, channels=spec.data.channels, image_size=spec.data.size)
    canonical = optional("model", registry.get("model", model.name).factory, "canonical")
    data = spec.data
    if data.flip is None:  # the dataset factory's declaration (zoo.hookspecs: flip_invariant), default True
        flip = bool(optional("dataset", registry.get("dataset", data.dataset).factory, "flip_invariant"))
        data = dataclasses.replace(data, flip=flip)
    return dataclasses.replace(spec, model=canonical(model) if canonical else model, data=data)


def validate_model(m: ModelSpec, registry: Registry) -> None:
    """Component names of a model spec; the model factory checks the shapes itself."""
    check = optional("model", registry.get("model", m.name).factory, "validate")
    if check is not None:
        check(m)


def validate(spec: RunSpec, registry: Registry) -> None:
    """Fail before anything starts: unknown component names and impossible numbers."""
    d, e = spec.diffusion, spec.eval
    registry.get("model", spec.model.name)
    registry.get("schedule", d.schedule)
    registry.get("dataset", spec.data.dataset)
    registry.get("sampler", e.sampler)
    if e.feature is not None:
        registry.get("feature", e.feature)
    for metric in (*e.metrics, *e.curve_metrics):
        registry.get("metric", metric)
    validate_model(resolve(spec, registry).model, registry)
    if d.timesteps < 2:
        raise UserError(f"diffusion.timesteps must be at least 2, got {d.timesteps}")
    if d.objective not in OBJECTIVES:
        raise UserError(f"unknown diffusion.objective '{d.objective}'{did_you_mean(d.objective, OBJECTIVES)}; use eps, x0 or v")
    if d.loss not in LOSSES:
        raise UserError(f"unknown diffusion.loss '{d.loss}'{did_you_mean(d.loss, LOSSES)}; use smooth_l1, mse or l1")
    spec.data.check()
    spec.train.check()
    spec.eval.check()
    check_sampler_options(spec, registry)


def check_sampler_options(spec: RunSpec, registry: Registry) -> None:
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

    diffusion = GaussianDiffusion.from_spec(spec.diffusion, registry)
    sampler = registry.get("sampler", e.sampler).factory
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
