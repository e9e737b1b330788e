"""BatchNorm out of timm's modules: it must not sit inside a diffusion network.

A diffusion batch holds images at every noise level at once (t is drawn per image), so BatchNorm's
batch statistics mix a nearly clean image with pure noise: each image's output depends on which other
noise levels happened to share its batch, and at sampling time (all images at one t, eval-mode running
statistics gathered over mixed t) the network sees statistics it never trained on. zoo's own layers
use GroupNorm for this reason.

Every BatchNorm2d becomes GroupNorm with one group (timm's ``GroupNorm1``: mean and variance over the
channels and pixels of one image), keeping the learnt per-channel scale and shift, so the module keeps
what the norm was there for (q/v of the lambda layer and the spatial gate of CBAM stay standardised;
NonLocal's zero-initialised output scale stays zero, so the block starts as the identity) without ever
looking at another image. One group rather than one per channel (instance norm): the pooled vectors
of SE-like gates and the 1x1 bottom of a small U-Net are single pixels, where a per-channel norm over
pixels would erase the signal. Not Identity: the lambda layer's content lambda sums softmax-weighted
values over every pixel and relies on normalised values to keep its scale.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def is_batch_norm(module: nn.Module) -> bool:
    """Any batch-statistics norm: torch's BatchNorm1d/2d/3d and SyncBatchNorm and every timm subclass of
    them (BatchNormAct2d, SplitBatchNorm2d, ...), and anything else named like one (timm's frozen ones)."""
    return isinstance(module, _BatchNorm) or "batchnorm" in type(module).__name__.lower()


def without_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm2d replaced in place by a GroupNorm of one group (keeping a fused
    activation of timm's BatchNormAct2d); any other batch norm left is a TypeError, never a silent pass."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if is_batch_norm(child):
                setattr(parent, name, _group_norm_for(child))
    if is_batch_norm(module):
        return _group_norm_for(module)
    return module


def _group_norm_for(bn: nn.Module) -> nn.Module:
    if not isinstance(bn, nn.BatchNorm2d):
        raise TypeError(f"{type(bn).__name__} has no batch-independent replacement here; refuse this module")
    if hasattr(bn, "act") and hasattr(bn, "drop"):  # timm's BatchNormAct2d: norm, dropout, activation
        from timm.layers import GroupNorm1Act

        norm = GroupNorm1Act(bn.num_features, eps=bn.eps, affine=bn.affine, apply_act=False)
        norm.drop, norm.act = bn.drop, bn.act
    else:
        norm = nn.GroupNorm(1, bn.num_features, eps=bn.eps, affine=bn.affine)
    if bn.affine:
        norm.weight.data.copy_(bn.weight.data)
        norm.bias.data.copy_(bn.bias.data)
    return norm
