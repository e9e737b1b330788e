"""Feature extractors: frozen networks that map uint8 images to the vectors every score is computed on.

FID, KID and precision/recall compare distributions of *features*, and the Inception Score reads the
*class predictions* of a classifier, so an extractor provides both from one forward pass:

* ``inception`` -- the Inception-v3 of the original FID paper (Heusel et al. 2017), TF-compatible
  port of torch-fidelity: 2048-d pool3 features and 1008 unbiased logits; see ``zoo.metrics.inception``.
* ``digits`` -- a small CNN that zoo trains itself on the sklearn digits (a minute at most on one CPU
  thread), because ImageNet features say little about 8x8 digits. Its weights are cached under a
  hash of its recipe (architecture, hyperparameters, data), so a changed recipe retrains.

Contract (kind ``feature``): a factory ``()`` returns a :class:`FeatureExtractor` in eval mode.
``forward(uint8 (N,C,H,W)) -> (N, num_features)`` makes it usable as torchmetrics' ``feature=``
for FID/KID; :meth:`FeatureExtractor.as_logits` gives the module torchmetrics' InceptionScore wants;
:meth:`FeatureExtractor.extract` returns features and logits together, which is what zoo uses so
the network runs once per image set. A third party may register any ``nn.Module`` with a
``num_features`` attribute; :func:`as_extractor` adapts it (see docs/metrics.md for a timm example).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.errors import UserError
from zoo.hookspecs import hookimpl, optional

if TYPE_CHECKING:
    from zoo.registry import Registry
from zoo.io import atomic_path, atomic_write_text, file_lock

CACHE_ENV = "ZOO_CACHE"


def cache_dir() -> Path:
    """zoo's cache folder: ``$ZOO_CACHE``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "zoo"


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


class FeatureExtractor(nn.Module):
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

    def train(self, mode: bool = True) -> FeatureExtractor:
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


class _Logits(nn.Module):
    def __init__(self, extractor: FeatureExtractor) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, images: Tensor) -> Tensor:
        return self.extractor.logits(images)


class ModuleExtractor(FeatureExtractor):
    """Adapts a plain ``nn.Module`` (forward -> features, optional ``.logits(x)``) registered by a plugin."""

    def __init__(self, module: nn.Module, name: str) -> None:
        num_features = getattr(module, "num_features", None)
        if not isinstance(num_features, int):
            raise UserError(f"feature extractor '{name}' must have an integer attribute num_features")
        super().__init__(name, num_features, optional("feature", module, "num_classes"))
        self.module = module
        self.module.eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        logits_fn = optional("feature", self.module, "logits")
        return self.module(images), (logits_fn(images) if callable(logits_fn) else None)


def as_extractor(module: nn.Module, name: str) -> FeatureExtractor:
    """``module`` as a :class:`FeatureExtractor` in eval mode."""
    out = module if isinstance(module, FeatureExtractor) else ModuleExtractor(module, name)
    return out.eval()


# -- digits ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DigitsRecipe:
    """Everything that determines the digits CNN; its hash names the cached weights."""

    version: int = 1  # bump when the code below changes meaning without changing a field
    size: int = 16  # native input side: every image is resized to 16x16 (bilinear, antialiased)
    widths: tuple[int, int] = (16, 32)  # channels of the two conv stages (two 3x3 convs + 2x2 max-pool each)
    hidden: int = 128  # penultimate layer = the feature vector
    dropout: float = 0.3  # before the classifier only; never active at evaluation
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3  # peak of a one-cycle schedule, AdamW
    weight_decay: float = 1e-4
    shift: float = 2.0  # random translation, in pixels of the 16x16 input (robust to generated samples)
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]
    seed: int = 0  # weights init, batch order, augmentation
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train/val/test fractions of sklearn's 1,797 digits
    split_seed: int = 0  # the same fractions and seed as zoo.spec.DataSpec's defaults (see digits_data)

    def hash(self) -> str:
        images, labels, assignment = digits_data(self)
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode())
        for array in (images, labels, assignment):
            digest.update(array.tobytes())
        return digest.hexdigest()[:12]


@functools.cache
def digits_data(recipe: DigitsRecipe) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digits exactly as ``zoo prepare`` stores them at the native size, labels, and split (0/1/2).

    The same transform (``zoo.data.prepare.to_array``) and the same seeded split as a prepared digits
    copy with the default seed and fractions, so the CNN never trains on that copy's val/test images.
    Arrays are read-only (cached).
    """
    from zoo.data.prepare import split_assignment, to_array
    from zoo.plugins import get_registry

    source = get_registry().create("dataset", "digits", None)
    items = [source.load(i) for i in range(len(source))]
    images = np.stack([to_array(image, recipe.size, 1) for image, _ in items])
    labels = np.array([label for _, label in items], dtype=np.int64)
    assignment = split_assignment(len(items), recipe.split, recipe.split_seed)
    for array in (images, labels, assignment):
        array.setflags(write=False)
    return images, labels, assignment


class DigitsNet(nn.Module):
    """Two VGG-style conv stages and an MLP head; the input is 16x16 greyscale in [0, 255]."""

    def __init__(self, recipe: DigitsRecipe) -> None:
        super().__init__()
        w1, w2 = recipe.widths
        side = recipe.size // 4
        self.body = nn.Sequential(
            nn.Conv2d(1, w1, 3, padding=1), nn.ReLU(), nn.Conv2d(w1, w1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1), nn.ReLU(), nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(w2 * side * side, recipe.hidden), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(recipe.dropout), nn.Linear(recipe.hidden, 10))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x / 127.5 - 1.0)
        return features, self.head(features)


class DigitsExtractor(FeatureExtractor):
    """The digits CNN: penultimate layer as features (``hidden`` dims), 10 logits."""

    batch_size = 512

    def __init__(self, net: DigitsNet, recipe: DigitsRecipe, stats: dict[str, Any], path: Path) -> None:
        super().__init__("digits", num_features=recipe.hidden, num_classes=10)
        self.net, self.recipe, self.stats, self.path = net, recipe, stats, path
        self.eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.net(to_float_images(images, size=self.recipe.size, channels=1))

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "recipe_hash": self.recipe.hash(),
            "weights": str(self.path),
            "test_accuracy": self.stats.get("test_accuracy"),
            "val_accuracy": self.stats.get("val_accuracy"),
            "split_sizes": self.stats.get("split_sizes"),
            "train_seconds": self.stats.get("train_seconds"),
        }


def _augment(x: Tensor, recipe: DigitsRecipe, generator: torch.Generator) -> Tensor:
    """Small random shifts and zooms (one affine grid per image, no Python loop over the batch)."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3)
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * recipe.scale
    theta[:, 0, 0] = theta[:, 1, 1] = zoom
    theta[:, :, 2] = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * recipe.shift / recipe.size)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).round()


def _accuracy(net: DigitsNet, x: Tensor, y: Tensor) -> float:
    with torch.inference_mode():
        return float((net(x)[1].argmax(1) == y).double().mean())


def train_digits(recipe: DigitsRecipe) -> tuple[DigitsNet, dict[str, Any]]:
    """Train the digits CNN on the train split only; report accuracy on the untouched val/test splits."""
    images, labels, assignment = digits_data(recipe)
    x, y = torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels.copy())
    split = {name: torch.from_numpy(np.flatnonzero(assignment == k)) for k, name in enumerate(("train", "val", "test"))}
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        generator = torch.Generator().manual_seed(recipe.seed)
        net = DigitsNet(recipe)
        opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        x_train, y_train = x[split["train"]], y[split["train"]]
        steps_per_epoch = -(-len(y_train) // recipe.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
        net.train()
        for _ in range(recipe.epochs):
            order = torch.randperm(len(y_train), generator=generator)
            for batch in order.split(recipe.batch_size):
                loss = F.cross_entropy(net(_augment(x_train[batch], recipe, generator))[1], y_train[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
    stats = {
        "recipe": dataclasses.asdict(recipe),
        "recipe_hash": recipe.hash(),
        "val_accuracy": _accuracy(net, x[split["val"]], y[split["val"]]),
        "test_accuracy": _accuracy(net, x[split["test"]], y[split["test"]]),
        "split_sizes": {k: len(v) for k, v in split.items()},
        "train_seconds": round(time.perf_counter() - start, 2),
        "torch": torch.__version__,
    }
    return net, stats


def digits_weights_path(recipe: DigitsRecipe) -> Path:
    return cache_dir() / "features" / f"digits-cnn-{recipe.hash()}.safetensors"


def load_or_train_digits(recipe: DigitsRecipe | None = None) -> DigitsExtractor:
    """The cached digits CNN of ``recipe``, training it first (once, under a file lock) when absent."""
    from safetensors.torch import load_file, save_file

    recipe = recipe or DigitsRecipe()
    path = digits_weights_path(recipe)
    stats_path = path.with_suffix(".json")
    if not path.is_file():
        with file_lock(path.with_suffix(".lock")):
            if not path.is_file():  # another process may have trained it while we waited
                print(f"zoo: training the digits feature extractor once (~20 s), cached at {path}", file=sys.stderr)
                net, stats = train_digits(recipe)
                atomic_write_text(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
                with atomic_path(path) as tmp:  # the weights last: their presence means "complete"
                    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    net = DigitsNet(recipe)
    net.load_state_dict(load_file(str(path)))
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    return DigitsExtractor(net.eval(), recipe, stats, path)


def digits() -> DigitsExtractor:
    """Factory of the ``digits`` extractor."""
    return load_or_train_digits()


@hookimpl
def zoo_register(registry: Registry) -> None:
    from zoo.metrics.inception import inception

    registry.add(
        "feature", "inception", inception,
        help="FID Inception-v3 (Heusel et al. 2017): 2048-d pool3 + 1008 logits; local weights, never downloads",
    )  # fmt: skip
    registry.add(
        "feature", "digits", digits,
        help="small CNN zoo trains on the sklearn digits train split (cached): 128-d features + 10 logits",
    )  # fmt: skip
