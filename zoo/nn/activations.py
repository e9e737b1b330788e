"""Activation functions. A spec's ``activation = "relu"`` swaps every activation of the network
(blocks and time MLP), which is how the study's ReLU-, SiLU- and GELU-only variants are built."""

from __future__ import annotations

from torch import nn

from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register(registry) -> None:  # noqa: ANN001
    registry.add("activation", "relu", nn.ReLU, help="ReLU, max(0, x)")
    registry.add("activation", "silu", nn.SiLU, help="SiLU / swish, x * sigmoid(x) (Elfwing et al. 2017)")
    registry.add("activation", "gelu", nn.GELU, help="GELU, x * Phi(x) (Hendrycks & Gimpel 2016)")
    registry.add("activation", "mish", nn.Mish, help="Mish, x * tanh(softplus(x)) (Misra 2019)")
