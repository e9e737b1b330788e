"""Models: a noise predictor, or a model with its own loss and sampler; and their factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from zoo.config.spec import ModelSpec


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
    impossible spec before any tensor is made, ``canonical(spec, registry) -> spec`` mapping
    equivalent specs to one, so a grid trains them once, and ``self_sampling=True`` when the factory
    always builds a :class:`SelfSamplingModel`: the diffusion section and the sampler settings then
    mean nothing to the run, and resolving resets them, so that a VAE crossed with a schedule axis is
    trained once, not once per schedule. A factory of one parameter ``(spec)``, the
    contract before the registry was handed over, is still called with the spec alone."""

    def __call__(self, spec: ModelSpec, registry: Any) -> DenoisingModel | SelfSamplingModel: ...
