"""Feature extractors: frozen networks that map uint8 images to the vectors every score is computed on.

FID, KID and precision/recall compare distributions of *features*, and the Inception Score reads the
*class predictions* of a classifier, so an extractor provides both from one forward pass:

* ``inception`` -- the Inception-v3 of the original FID paper (Heusel et al. 2017), TF-compatible
  port of torch-fidelity: 2048-d pool3 features and 1008 unbiased logits; see ``zoo.metrics.inception``.
* ``digits`` -- a small CNN that zoo trains itself on the sklearn digits, because ImageNet features say
  little about 8x8 digits. Its weights ship with zoo (``zoo/metrics/weights/``, named by a hash of its
  recipe: architecture, hyperparameters, data) so every machine scores with the same network; only
  ``zoo features build digits`` trains one (``zoo.metrics.shipped``).

The contract every extractor honours (and the adapter for plugin modules) is in ``zoo.metrics.extractor``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.hookspecs import hookimpl
from zoo.metrics.extractor import RecipeExtractor
from zoo.metrics.inception import inception
from zoo.metrics.shipped import ShippedFeature

if TYPE_CHECKING:
    from zoo.registry import Registry

CACHE_ENV = "ZOO_CACHE"
Net = TypeVar("Net", bound=nn.Module)


def cache_dir() -> Path:
    """zoo's cache folder: ``$ZOO_CACHE``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "zoo"


@dataclass(frozen=True)
class FeatureRecipe:
    """What determines a shipped feature CNN: its input side, conv widths, feature size and training.

    A plugin's yardstick subclasses it, sets its own ``size`` and ``widths`` defaults and defines
    ``hash()`` (the recipe and what fixes its data), which names the shipped weights; a new field
    changes every hash, so add one only with a rebuild of the networks it names.
    """

    version: int = 1  # bump when the code that uses the recipe changes meaning without changing a field
    size: int = 16  # native input side: other sizes are resized (bilinear, antialiased)
    widths: tuple[int, ...] = (16, 32)  # channels of the conv stages (two 3x3 convs + 2x2 max-pool each)
    hidden: int = 128  # penultimate layer = the feature vector
    dropout: float = 0.3  # before the classifier only; never active at evaluation
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3  # peak of a one-cycle schedule, AdamW
    weight_decay: float = 1e-4
    shift: float = 2.0  # random translation, in pixels of the native input (robust to generated samples)
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]
    seed: int = 0  # weights init, batch order, augmentation
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train/val/test, as zoo.config.spec.DataSpec's defaults
    split_seed: int = 0  # the split's seed, also DataSpec's default: the CNN never trains on a prepared copy's val/test


# -- digits ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DigitsRecipe(FeatureRecipe):
    """The digits CNN: two conv stages at sklearn's 1,797 digits resized to 16x16; its hash names the shipped weights."""

    size: int = 16
    widths: tuple[int, ...] = (16, 32)

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
    from zoo.data.sources import digits

    source = digits()  # the built-in source itself: the yardstick must not depend on what a plugin registers
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


class DigitsExtractor(RecipeExtractor):
    """The digits CNN: penultimate layer as features (``hidden`` dims), 10 logits."""

    name, channels, classes = "digits", 1, 10
    batch_size = 512


def shift_and_zoom(x: Tensor, recipe: Any, generator: torch.Generator, *, background: float = 0.0) -> Tensor:
    """Small random shifts and zooms (one affine grid per image, no Python loop over the batch); what moves in
    from outside the image is ``background`` (0: the digits' black, 255: the emoji's white). ``recipe`` has
    ``scale``, ``shift`` (pixels) and ``size``."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3)
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * recipe.scale
    theta[:, 0, 0] = theta[:, 1, 1] = zoom
    theta[:, :, 2] = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * recipe.shift / recipe.size)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    moved = F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (moved + background).round()


def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    """Share of ``y`` the argmax of ``net``'s logits gets right (``net`` returns (features, logits))."""
    with torch.inference_mode():
        return float((net(x)[1].argmax(1) == y).double().mean())


def fit_classifier(
    make_net: Callable[[], Net], x: Tensor, y: Tensor, recipe: Any, augment: Callable[[Tensor, torch.Generator], Tensor]
) -> Net:
    """Train ``make_net()`` (a module returning (features, logits)) on (x, y) with the shared recipe of zoo's
    shipped networks: AdamW, a one-cycle learning rate, seeded init, batch order and ``augment``.

    ``recipe`` has ``seed``, ``lr``, ``weight_decay``, ``epochs`` and ``batch_size``. Everything random draws
    from ``recipe.seed`` inside a forked RNG, so the same recipe, CPU kernels and thread count give the
    same bytes, and the caller's random state is untouched. A plugin's shipped network uses it too.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        generator = torch.Generator().manual_seed(recipe.seed)
        net = make_net()
        opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        steps_per_epoch = -(-len(y) // recipe.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
        net.train()
        for _ in range(recipe.epochs):
            order = torch.randperm(len(y), generator=generator)
            for batch in order.split(recipe.batch_size):
                loss = F.cross_entropy(net(augment(x[batch], generator))[1], y[batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return net.eval()


Score = Callable[[nn.Module, Tensor, Tensor], float]


def train_on_split(make_net: Callable[[], Net], images: np.ndarray, labels: np.ndarray, assignment: np.ndarray,
                   recipe: Any, augment: Callable[[Tensor, torch.Generator], Tensor],
                   scores: dict[str, Score] | None = None) -> tuple[Net, dict[str, Any]]:  # fmt: skip
    """:func:`fit_classifier` on the train split only (``assignment`` 0/1/2: train/val/test), then every score of
    ``scores`` (default: ``accuracy``) on the untouched val and test splits, as ``<split>_<score>`` stats beside
    the recipe, its hash, the split sizes and the training time: the JSON a shipped network records."""
    x, y = torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels.copy())
    split = {name: torch.from_numpy(np.flatnonzero(assignment == k)) for k, name in enumerate(("train", "val", "test"))}
    start = time.perf_counter()
    net = fit_classifier(make_net, x[split["train"]], y[split["train"]], recipe, augment)
    held_out = {f"{name}_{score}": fn(net, x[split[name]], y[split[name]])
                for score, fn in (scores or {"accuracy": accuracy}).items() for name in ("val", "test")}  # fmt: skip
    stats = {"recipe": dataclasses.asdict(recipe), "recipe_hash": recipe.hash(), **held_out,
             "split_sizes": {k: len(v) for k, v in split.items()},
             "train_seconds": round(time.perf_counter() - start, 2), "torch": torch.__version__}  # fmt: skip
    return net, stats


def train_digits(recipe: DigitsRecipe) -> tuple[DigitsNet, dict[str, Any]]:
    """Train the digits CNN on the train split only; report accuracy on the untouched val/test splits."""
    return train_on_split(lambda: DigitsNet(recipe), *digits_data(recipe), recipe,
                          lambda batch, generator: shift_and_zoom(batch, recipe, generator))  # fmt: skip


#: Factory of the ``digits`` extractor: the shipped CNN of today's recipe (``zoo features build digits`` rebuilds it).
digits = ShippedFeature.of_recipe("digits", "zoo.metrics", "weights", recipe=DigitsRecipe, network=DigitsNet,
                                  extractor=DigitsExtractor, train=train_digits)


@hookimpl
def zoo_register(registry: Registry) -> None:
    registry.add(
        "feature", "inception", inception,
        help="FID Inception-v3 (Heusel et al. 2017): 2048-d pool3 + 1008 logits; local weights (`zoo features fetch inception` gets them)",
    )  # fmt: skip
    registry.add(
        "feature", "digits", digits,
        help="small CNN trained on the sklearn digits train split, shipped with zoo: 128-d features + 10 logits",
    )  # fmt: skip
