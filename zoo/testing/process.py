"""Checks of what trains and samples: model, schedule, sampler. A sampler receives a diffusion object
exposing only the documented :class:`zoo.contract.Diffusion` members, so relying on anything else fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from zoo.config.spec import ModelSpec
from zoo.contract import (
    DenoisingModel,
    Diffusion,
    SelfSamplingModel,
    declared,
    owns_sampling,
    with_registry,
)
from zoo.errors import UserError
from zoo.plugins import installed
from zoo.registry import Registry
from zoo.testing.checks import Checker

Factory = Callable[..., Any]
Declarations = Mapping[str, Any] | None  # what the factory declared at registration (zoo.contract.DECLARATIONS)
TINY_MODEL = ModelSpec(channels=1, image_size=8, dim=8, dim_mults=(1, 2), heads=2, dim_head=8, groups=4, latent_dim=4)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_model(factory: Factory, *, name: str | None = None, declarations: Declarations = None,
                spec: ModelSpec | None = None, registry: Registry | None = None) -> None:
    """(spec, registry) -> a DenoisingModel (forward(x, t) keeps the shape) or a SelfSamplingModel (training_loss,
    sample); the optional validate accepts a valid spec, canonical is idempotent, and a factory declared
    ``self_sampling`` builds a SelfSamplingModel. ``spec``: a valid
    tiny spec of your model (default: 1x8x8 images, dim 8, dim_mults (1, 2)); ``registry``: what the factory
    builds its parts from (default: the installed plugins')."""
    c = Checker("model", factory, name)
    spec = spec or (dataclasses.replace(TINY_MODEL, name=name) if name else TINY_MODEL)
    registry = installed(registry)
    validate = declared("model", factory, "validate", declarations)
    canonical = declared("model", factory, "canonical", declarations)
    if validate is not None:
        c.call("ModelFactory.validate (a valid spec passes)", with_registry(validate), spec, registry)
    if canonical is not None:
        once = c.call("ModelFactory.canonical", with_registry(canonical), spec, registry)
        c.expect(isinstance(once, ModelSpec), "ModelFactory.canonical", f"must return a ModelSpec, got {type(once).__name__}")
        c.expect(with_registry(canonical)(once, registry) == once, "ModelFactory.canonical", "must be idempotent: canonical(canonical(s)) == canonical(s)")
    model = c.call("ModelFactory", with_registry(factory), spec, registry)
    x = torch.rand(3, spec.channels, spec.image_size, spec.image_size) * 2 - 1
    if declared("model", factory, "self_sampling", declarations):
        c.expect(owns_sampling(model), "ModelFactory self_sampling=True",
                 f"declared self-sampling, so zoo ignores the diffusion settings of its runs, but it built a "
                 f"{type(model).__name__} without training_loss and sample")  # fmt: skip
    if owns_sampling(model):
        c.module(model, SelfSamplingModel, "SelfSamplingModel")
        clause = "SelfSamplingModel.training_loss"
        loss = c.tensor(c.call(clause, model.training_loss, x, generator=_generator()), (), clause, "the loss")
        c.trains(model, loss, "SelfSamplingModel.training_loss")
        model.eval()
        with torch.no_grad():
            first, again = (c.call("SelfSamplingModel.sample(n)", model.sample, 2, generator=_generator(1)) for _ in range(2))
        c.tensor(first, (2, *x.shape[1:]), "SelfSamplingModel.sample(n)", "the images")
        c.expect(bool((first.abs() <= 1).all()), "SelfSamplingModel.sample(n)", "images must lie in [-1, 1]")
        c.expect(torch.equal(first, again), "SelfSamplingModel.sample(n)", "the same generator seed must give the same images")
        return
    c.module(model, DenoisingModel, "DenoisingModel")
    clause = "DenoisingModel.forward(x, t)"
    out = c.tensor(c.call(clause, model, x, torch.tensor([0, 5, 999])), x.shape, clause)
    c.trains(model, out, clause)


def check_schedule(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(timesteps) -> betas: float64 (T,), every value in (0, 1), for T = 50 and the default 1000."""
    from zoo.diffusion.gaussian import GaussianDiffusion

    c = Checker("schedule", factory, name)
    for timesteps in (50, 1000):
        clause = f"ScheduleFactory({timesteps})"
        betas = c.call(clause, factory, timesteps)
        c.expect(isinstance(betas, Tensor), clause, f"must return a tensor, got {type(betas).__name__}")
        c.expect(betas.dtype == torch.float64, clause, f"betas must be float64, got {betas.dtype}")
        c.expect(tuple(betas.shape) == (timesteps,), clause, f"betas have shape {tuple(betas.shape)}, expected ({timesteps},)")
        c.expect(bool(((betas > 0) & (betas < 1)).all()), clause, "every beta must lie in (0, 1)")
        GaussianDiffusion(betas)


class ContractDiffusion:
    """A GaussianDiffusion showing only the members the :class:`~zoo.contract.Diffusion` Protocol lists."""

    MEMBERS = frozenset(Diffusion.__annotations__) | {
        n for n, v in vars(Diffusion).items() if callable(v) and not n.startswith("_")
    }

    def __init__(self, diffusion: Any, checker: Checker) -> None:
        self._diffusion, self._checker = diffusion, checker

    def __getattr__(self, attr: str) -> Any:
        if attr not in self.MEMBERS:
            raise self._checker.fail("SamplerFactory's diffusion", f"used diffusion.{attr}, which Diffusion does not offer")
        return getattr(self._diffusion, attr)

    def to(self, device: torch.device) -> ContractDiffusion:
        self._diffusion.to(device)
        return self


class _TinyDenoiser(nn.Module):
    """A fixed eps predictor, so samples are a deterministic function of the start noise."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.tanh(self.conv(x)) + t.float()[:, None, None, None] / 1000


def check_sampler(factory: Factory, *, name: str | None = None, declarations: Declarations = None) -> None:
    """(model, diffusion, shape, *, steps, generator, progress, **options) -> images in [-1, 1] of ``shape``,
    fixed by the generator's seed, using only the documented diffusion members; unknown options are UserErrors."""
    from zoo.diffusion.gaussian import GaussianDiffusion

    c = Checker("sampler", factory, name)
    model = _TinyDenoiser().eval()
    diffusion = ContractDiffusion(GaussianDiffusion(torch.linspace(1e-3, 0.2, 20, dtype=torch.float64)), c)
    shape = (2, 1, 8, 8)

    def run(seed: int, **options: Any) -> Any:
        return factory(model, diffusion, shape, steps=4, generator=_generator(seed), progress=False, **options)

    images = c.tensor(c.call("SamplerFactory", run, 0), shape, "SamplerFactory", "the images")
    c.expect(bool((images.abs() <= 1).all()), "SamplerFactory", "images must lie in [-1, 1]")
    c.expect(torch.equal(images, run(0)), "SamplerFactory", "the same generator seed must give the same images")
    c.expect(not torch.equal(images, run(1)), "SamplerFactory", "another seed must give other images")
    try:
        run(0, no_such_option=1)
    except UserError as err:
        c.expect("no_such_option" in str(err), "SamplerFactory's **options", f"the UserError must name the option: {err}")
    else:
        raise c.fail("SamplerFactory's **options", "an unknown option must raise zoo.errors.UserError")
