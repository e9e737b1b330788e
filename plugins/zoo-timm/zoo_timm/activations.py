"""timm's activations as zoo activations, factory ``()``.

Built through ``timm.layers.create_act_layer(name, inplace=False)``, the name -> module table timm's
own models use, imported when a network is built. ``inplace=False``: zoo hands the factory to every
block, and an in-place activation would overwrite a tensor autograd still needs. Where torch has the
function natively timm returns torch's module (``timm_mish`` is ``nn.Mish``, the same function as zoo's
``mish``); the rest are timm's own (``gelu_tanh``, ``quick_gelu``, ``hard_mish``, ``prelu``).
"""

from __future__ import annotations

from functools import partial

from torch import nn


def build(name: str) -> nn.Module:
    from timm.layers import create_act_layer

    return create_act_layer(name, inplace=False)


#: timm's name -> help line; each is registered as timm_<name>.
CATALOGUE: dict[str, str] = {
    "mish": "Mish, x * tanh(softplus(x)) (Misra 2019), timm's table -> torch's nn.Mish",
    "hard_swish": "hard swish, x * relu6(x + 3) / 6 (Howard et al. 2019, MobileNetV3)",
    "hard_sigmoid": "hard sigmoid, relu6(x + 3) / 6: bounded to [0, 1] (MobileNetV3's gate)",
    "hard_mish": "hard Mish, 0.5 x clamp(x + 2, 0, 2) (timm)",
    "gelu_tanh": "GELU, tanh approximation (Hendrycks & Gimpel 2016)",
    "quick_gelu": "quick GELU, x * sigmoid(1.702 x) (CLIP)",
    "selu": "SELU, self-normalising scaled ELU (Klambauer et al. 2017)",
    "celu": "CELU, continuously differentiable ELU (Barron 2017)",
    "elu": "ELU (Clevert et al. 2016)",
    "prelu": "PReLU, one learnt negative slope per layer (He et al. 2015)",
}


def factories() -> dict[str, partial[nn.Module]]:
    """timm's name -> zero-argument factory (a partial: picklable, unlike a lambda)."""
    return {name: partial(build, name) for name in CATALOGUE}
