"""zoo-timm: timm's attention/excitation modules and activations as zoo components, added from outside
through the public plugin contract only (``zoo_register``), as any third-party package would.

- attention ``timm_<name>`` (zoo_timm.attention): se, ese, eca, ceca, ge, gc, cbam, lcbam, coord, sk,
  splat, nl, lambda, halo, attention2d, mqa; usable as ``model.attention`` and ``model.mid_attention``.
  Size and width limits are declared (``validate``), BatchNorm is replaced by GroupNorm(1).
- activation ``timm_<name>`` (zoo_timm.activations): mish, hard_swish, hard_sigmoid, hard_mish, gelu_tanh,
  quick_gelu, selu, celu, elu, prelu.

No ``norm``: zoo's norm kind is where the normalisation sits around the attention residual (pre/post),
not a normalisation layer; timm offers layers, not placements (docs/plugins.md, "zoo-timm").

timm itself is imported only when a component is built, never here: ``zoo list`` stays as fast.
"""

from __future__ import annotations

import zoo
from zoo_timm import activations, attention


@zoo.hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    for entry in attention.CATALOGUE:
        registry.add("attention", f"timm_{entry.name}", entry, help=f"timm: {entry.help}", **entry.declarations)
    for name, factory in activations.factories().items():
        registry.add("activation", f"timm_{name}", factory, help=f"timm: {activations.CATALOGUE[name]}")
