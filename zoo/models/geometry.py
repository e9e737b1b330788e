"""The shape rules every model built from ``dim``, ``dim_mults`` and ``groups`` obeys (the U-Net and the VAE):
one copy, so the two cannot drift apart in what they accept or how they say no."""

from __future__ import annotations

from zoo.config.spec import ModelSpec
from zoo.errors import UserError


def check_geometry(spec: ModelSpec, model: str, patch: int = 1) -> None:
    """Positive sizes, an image side the downsampling (times ``patch``, for a network on patches) divides, and
    GroupNorm groups dividing every width."""
    if not spec.dim_mults or any(m < 1 for m in spec.dim_mults):
        raise UserError(f"model.dim_mults must be a non-empty list of positive integers, got {list(spec.dim_mults)}")
    for name in ("channels", "image_size", "dim", "groups", "patch"):
        if getattr(spec, name) < 1:
            raise UserError(f"model.{name} must be at least 1, got {getattr(spec, name)}")
    down = 2 ** (len(spec.dim_mults) - 1)
    if spec.image_size % down:
        raise UserError(
            f"model.image_size {spec.image_size} is not divisible by {down}, the downsampling of the {model}'s "
            f"{len(spec.dim_mults)} resolutions (dim_mults={list(spec.dim_mults)}); use a size that is a multiple "
            f"of {down} or fewer dim_mults"
        )
    if spec.image_size % (patch * down):
        raise UserError(
            f"model.image_size {spec.image_size} is not divisible by {patch * down}: model.patch={patch} times the "
            f"downsampling of the {model}'s {len(spec.dim_mults)} resolutions; use a patch dividing "
            f"{spec.image_size // down}, fewer dim_mults, or patch 1"
        )
    for width in sorted({spec.dim * m for m in spec.dim_mults}):
        if width % spec.groups:
            raise UserError(
                f"model.groups={spec.groups} does not divide the stage width {width} (dim={spec.dim} x dim_mults); "
                "choose groups dividing every dim * mult"
            )
