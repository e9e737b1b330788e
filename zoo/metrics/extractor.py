"""The feature-extractor contract: a frozen network mapping uint8 images to the vectors (and class logits)
every score is computed on, and the adapter that makes any plugin ``nn.Module`` one.

Contract (kind ``feature``): a factory ``()`` returns a :class:`Extractor` in eval mode.
``forward(uint8 (N,C,H,W)) -> (N, num_features)`` makes it usable as torchmetrics' ``feature=``
for FID/KID; :meth:`Extractor.as_logits` gives the module torchmetrics' InceptionScore wants;
:meth:`Extractor.extract` returns features and logits together, which is what zoo uses so
the network runs once per image set. A third party may register any ``nn.Module`` with a
``num_features`` attribute; :func:`as_extractor` adapts it (see docs/metrics.md for a timm example).
The built-in extractors live in ``zoo.metrics.features`` (digits) and ``zoo.metrics.inception``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.contract import optional
from zoo.errors import UserError


def to_float_images(images: Tensor, *, size: int | None, channels: int) -> Tensor:
    """uint8 (N,C,H,W) -> float in [0, 255] with ``channels`` channels, resized (bilinear, antialiased).

    Greyscale becomes RGB by repetition; RGB becomes greyscale by ITU-R 601 luma.
    """
    check_images(images)
    x = images.float()
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and channels == 1:
        x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"a feature extractor takes uint8 images (N, 1 or 3, H, W), got {got}")


class Extractor(nn.Module):
    """A frozen network: uint8 images -> features (and class logits when it classifies).

    Subclasses implement :meth:`extract`. The module never leaves eval mode (``.train()`` is a
    no-op, as in torchmetrics' NoTrainInceptionV3): dropout or batch-norm updates would make every
    score depend on what ran before it.
    """

    batch_size: int = 64  # images per forward pass when zoo extracts features

    def __init__(self, name: str, num_features: int, num_classes: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.num_features = num_features  # read by torchmetrics instead of a dummy forward
        self.num_classes = num_classes  # None: no logits, so no Inception Score / class histogram
        self._identity: str | None = None

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """uint8 (N,C,H,W) -> (features (N, num_features), logits (N, num_classes) or None), one pass."""
        raise NotImplementedError

    def forward(self, images: Tensor) -> Tensor:
        return self.extract(images)[0]

    def logits(self, images: Tensor) -> Tensor:
        logits = self.extract(images)[1]
        if logits is None:
            raise UserError(f"feature extractor '{self.name}' does not classify, so it has no logits")
        return logits

    def as_logits(self) -> nn.Module:
        """A module whose forward returns logits: torchmetrics' ``InceptionScore(feature=...)``."""
        return _Logits(self)

    def train(self, mode: bool = True) -> Extractor:
        return super().train(False)

    def identity(self) -> str:
        """Name + class + hash of the weights: the key of every cached statistic computed with it."""
        if self._identity is None:
            digest = hashlib.sha256(type(self).__qualname__.encode())
            for key, tensor in sorted(self.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            self._identity = f"{self.name}-{digest.hexdigest()[:16]}"
        return self._identity

    def info(self) -> dict[str, Any]:
        """What ``zoo features NAME --info`` prints."""
        return {
            "name": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "num_features": self.num_features,
            "num_classes": self.num_classes,
            "parameters": sum(p.numel() for p in self.parameters()),
            "identity": self.identity(),
        }


class RecipeExtractor(Extractor):
    """A small CNN zoo trains and ships (:class:`zoo.metrics.shipped.ShippedFeature`): ``net(x)`` returns
    (penultimate features, class logits) for float images in [0, 255] of ``recipe.size`` and the class's
    ``channels``; ``recipe.hidden`` is the feature width. A subclass sets ``name``, ``channels`` and
    ``classes``; ``stats`` is the shipped JSON, whose accuracies and provenance :meth:`info` reports."""

    name: str
    channels: int
    classes: int

    def __init__(self, net: nn.Module, recipe: Any, stats: dict[str, Any], path: Any) -> None:
        super().__init__(type(self).name, num_features=recipe.hidden, num_classes=self.classes)
        self.net, self.recipe, self.stats, self.path = net, recipe, stats, path
        self.eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.net(to_float_images(images, size=self.recipe.size, channels=self.channels))

    def info(self) -> dict[str, Any]:
        keys = ("sha256", "test_accuracy", "test_group_accuracy", "val_accuracy", "split_sizes")
        return {**super().info(), "recipe_hash": self.recipe.hash(), "weights": str(self.path),
                **{k: self.stats[k] for k in keys if k in self.stats},
                "trained_with": {k: self.stats.get(k) for k in ("torch", "cpu", "cpu_kind", "threads", "date")}}  # fmt: skip


class _Logits(nn.Module):
    def __init__(self, extractor: Extractor) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, images: Tensor) -> Tensor:
        return self.extractor.logits(images)


class ModuleExtractor(Extractor):
    """Adapts a plain ``nn.Module`` (forward -> features, optional ``.logits(x)``) registered by a plugin."""

    def __init__(self, module: nn.Module, name: str) -> None:
        num_features = getattr(module, "num_features", None)
        if not isinstance(num_features, int):
            raise UserError(f"feature extractor '{name}' must have an integer attribute num_features")
        super().__init__(name, num_features, optional("feature", module, "num_classes"))
        self.batch_size = optional("feature", module, "batch_size")
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise UserError(f"feature extractor '{name}' has batch_size {self.batch_size!r}; it must be a positive "
                            f"integer (images per forward pass), or absent for zoo's default of 64")
        self.module = module
        self.module.eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        logits_fn = optional("feature", self.module, "logits")
        return self.module(images), (logits_fn(images) if callable(logits_fn) else None)


def as_extractor(module: nn.Module, name: str) -> Extractor:
    """``module`` as a :class:`Extractor` in eval mode."""
    out = module if isinstance(module, Extractor) else ModuleExtractor(module, name)
    return out.eval()
