"""The ``emoji`` feature extractor: a small CNN trained on the emoji train split, shipped with this plugin.

Why not Inception: its ImageNet features read a 32x32 glyph blown up to 299x299, and it costs 0.1-0.2 s
an image on a CPU. A CNN that learnt to tell the Unicode groups of these very glyphs apart reads what a
generator must get right here (outlines, colours, skin tones, flags' stripes), at a small fraction of
Inception's cost. Why shipped, never trained on first use: a network trained on each machine is a
different yardstick on each machine (``zoo.metrics.shipped``); ``zoo features build emoji`` is the only
thing that trains it (docs/metrics.md, "emoji").

The labels are the 11 groups of ``zoo_emoji.groups``: the wheel carries no finer metadata (no subgroups),
and the groups' sizes are uneven (People & Body is over half), so the JSON records the mean per-group
accuracy beside the plain one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from zoo.metrics.extractor import Extractor, to_float_images
from zoo.metrics.features import accuracy, fit_classifier, shift_and_zoom
from zoo.metrics.shipped import ShippedFeature
from zoo_emoji.groups import GROUPS, TABLE
from zoo_emoji.source import FONT, OPENMOJI_VERSION, RENDER_SIZE

WHITE = 255.0  # the glyphs' background: what a shift or a zoom-out brings in


@dataclass(frozen=True)
class EmojiRecipe:
    """Everything that determines the emoji CNN; its hash (with the data's identity) names the shipped files."""

    version: int = 1  # bump when the code below changes meaning without changing a field
    size: int = 32  # native input side: other sizes are resized (bilinear, antialiased)
    widths: tuple[int, int, int] = (16, 32, 64)  # channels of the three stages: minutes to train on one thread
    hidden: int = 128  # penultimate layer = the feature vector
    dropout: float = 0.3  # before the classifier only; never active at evaluation
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3  # peak of a one-cycle schedule, AdamW
    weight_decay: float = 1e-4
    shift: float = 2.0  # random translation, in pixels of the 32x32 input
    scale: float = 0.1  # random zoom in [1 - scale, 1 + scale]
    seed: int = 0  # weights init, batch order, augmentation
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train/val/test, as zoo.config.spec.DataSpec's defaults
    split_seed: int = 0

    def hash(self) -> str:
        """Recipe + what fixes the images and labels: the OpenMoji release (pinned, checked on load), the
        rendering and the group table. Rendering all glyphs takes seconds, so the arrays themselves are not
        hashed here; the JSON records their sha256 (``data_sha256``) and a slow test compares."""
        data = {"openmoji": OPENMOJI_VERSION, "font": FONT, "render_size": RENDER_SIZE,
                "groups": hashlib.sha256(files("zoo_emoji").joinpath(TABLE).read_bytes()).hexdigest()}  # fmt: skip
        text = json.dumps({"recipe": dataclasses.asdict(self), "data": data}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@functools.cache
def emoji_data(size: int = 32, split: tuple[float, ...] = (0.8, 0.1, 0.1), split_seed: int = 0,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Every glyph as ``zoo prepare emoji --size SIZE --channels 3`` stores it, its group, and its split (0/1/2).

    The same transform (``zoo.data.images.to_array``) and seeded split as a prepared copy with the default
    seed and fractions, so the CNN never trains on that copy's val/test images. Arrays are read-only.
    """
    from zoo.data.images import to_array
    from zoo.data.prepare import split_assignment
    from zoo_emoji.source import emoji

    source = emoji()  # the plugin's source itself, not whatever the registry holds under the name
    images = np.empty((len(source), 3, size, size), dtype=np.uint8)
    labels = np.empty(len(source), dtype=np.int64)
    for i in range(len(source)):  # a glyph that fails raises: the network must see exactly the prepared set
        image, labels[i] = source.load(i)
        images[i] = to_array(image, size, 3)
    assignment = split_assignment(len(source), split, split_seed)
    for array in (images, labels, assignment):
        array.setflags(write=False)
    return images, labels, assignment


def data_sha256(images: np.ndarray, labels: np.ndarray, assignment: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (images, labels, assignment):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class EmojiNet(nn.Module):
    """Three VGG-style stages (two 3x3 conv + batch norm + ReLU, then a 2x2 max-pool) and an MLP head; the input
    is 32x32 RGB in [0, 255]. Batch norm because, in a trial of this recipe without it, the same epochs reached a
    few points less held-out accuracy."""

    def __init__(self, recipe: EmojiRecipe) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        before = 3
        for width in recipe.widths:
            for _ in range(2):
                layers += [nn.Conv2d(before, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                before = width
            layers.append(nn.MaxPool2d(2))
        side = recipe.size // 2 ** len(recipe.widths)
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(before * side * side, recipe.hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(recipe.dropout), nn.Linear(recipe.hidden, len(GROUPS)))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(x / 127.5 - 1.0)
        return features, self.head(features)


class EmojiExtractor(Extractor):
    """The emoji CNN: penultimate layer as features (``hidden`` dims), 11 group logits."""

    batch_size = 256

    def __init__(self, net: EmojiNet, recipe: EmojiRecipe, stats: dict[str, Any], path: Path) -> None:
        super().__init__("emoji", num_features=recipe.hidden, num_classes=len(GROUPS))
        self.net, self.recipe, self.stats, self.path = net, recipe, stats, path
        self.eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.net(to_float_images(images, size=self.recipe.size, channels=3))

    def info(self) -> dict[str, Any]:
        keys = ("recipe_hash", "sha256", "test_accuracy", "test_group_accuracy", "val_accuracy", "split_sizes")
        return {**super().info(), **{k: self.stats.get(k) for k in keys}, "weights": str(self.path),
                "trained_with": {k: self.stats.get(k) for k in ("torch", "cpu", "cpu_kind", "threads", "date")}}  # fmt: skip


def group_accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    """Mean over the groups present in ``y`` of the share of that group classified right (balanced accuracy)."""
    with torch.inference_mode():
        right = net(x)[1].argmax(1) == y
    return float(np.mean([right[y == g].double().mean().item() for g in torch.unique(y)]))


def train_emoji(recipe: EmojiRecipe) -> tuple[EmojiNet, dict[str, Any]]:
    """Train the emoji CNN on the train split only; report accuracy on the untouched val/test splits."""
    images, labels, assignment = emoji_data(recipe.size, recipe.split, recipe.split_seed)
    x, y = torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels.copy())
    split = {name: torch.from_numpy(np.flatnonzero(assignment == k)) for k, name in enumerate(("train", "val", "test"))}
    start = time.perf_counter()
    net = fit_classifier(lambda: EmojiNet(recipe), x[split["train"]], y[split["train"]], recipe,
                         lambda batch, generator: shift_and_zoom(batch, recipe, generator, background=WHITE))  # fmt: skip
    held_out = {name: (x[split[name]], y[split[name]]) for name in ("val", "test")}
    stats = {
        "recipe": dataclasses.asdict(recipe),
        "recipe_hash": recipe.hash(),
        "data_sha256": data_sha256(images, labels, assignment),
        **{f"{name}_accuracy": accuracy(net, *xy) for name, xy in held_out.items()},
        **{f"{name}_group_accuracy": group_accuracy(net, *xy) for name, xy in held_out.items()},
        "split_sizes": {k: len(v) for k, v in split.items()},
        "train_seconds": round(time.perf_counter() - start, 2),
        "torch": torch.__version__,
    }
    return net, stats


def _stem() -> str:
    return f"emoji-cnn-{EmojiRecipe().hash()}"


def _train() -> tuple[EmojiNet, dict[str, Any]]:
    return train_emoji(EmojiRecipe())


def _load(state: dict[str, Tensor], manifest: dict[str, Any], path: Path) -> EmojiExtractor:
    recipe = EmojiRecipe()
    net = EmojiNet(recipe)
    net.load_state_dict(state)
    return EmojiExtractor(net.eval(), recipe, manifest, path)


#: Factory of the ``emoji`` extractor: the shipped CNN of today's recipe (``zoo features build emoji`` rebuilds it).
emoji_feature = ShippedFeature("emoji", "zoo_emoji", "weights", _stem, _train, _load)
