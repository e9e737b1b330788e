"""zoo: a plugin-based U-Net architecture zoo for denoising diffusion (DDPM) image models.

The notebook API mirrors the CLI, as timm's ``create_model`` / ``list_models`` do::

    import zoo
    zoo.list_components("block")                    # [Component(kind='block', name='convnext', ...), ...]
    net = zoo.create_model("unet", channels=1, image_size=16, block="resnet", dim_mults=(1, 2))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.errors import UserError
from zoo.hookspecs import hookimpl
from zoo.runtime.allocator import tune_allocator

if TYPE_CHECKING:
    import torch

    from zoo.registry import Component, Registry

__version__ = "0.1.0"
__all__ = ["UserError", "create_model", "get_registry", "hookimpl", "list_components", "tune_allocator"]


def get_registry() -> Registry:
    """The registry filled by every installed plugin (loaded once per process)."""
    from zoo.plugins import get_registry as _get

    return _get()


def list_components(kind: str | None = None, pattern: str | None = None) -> list[Component]:
    """Registered components, optionally of one ``kind`` and matching a wildcard ``pattern`` (``"conv*"``)."""
    return get_registry().list(kind, pattern)


def create_model(name: str = "unet", **spec_fields: Any) -> torch.nn.Module:
    """Build a registered model from :class:`zoo.config.spec.ModelSpec` fields (validated before any tensor is made)."""
    from zoo.config.spec import ModelSpec, section_from_dict

    spec = section_from_dict(ModelSpec, {"name": name, **spec_fields}, "model")
    registry = get_registry()
    component = registry.get("model", spec.name)
    validate = component.declared("validate")
    if validate is not None:
        validate(spec, registry)
    return component.factory(spec, registry)
