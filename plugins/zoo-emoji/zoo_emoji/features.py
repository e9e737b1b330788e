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
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from zoo.metrics.extractor import RecipeExtractor
from zoo.metrics.features import FeatureRecipe, accuracy, shift_and_zoom, train_on_split
from zoo.metrics.shipped import ShippedFeature
from zoo_emoji.groups import GROUPS, TABLE
from zoo_emoji.source import FONT, OPENMOJI_VERSION, RENDER_SIZE

WHITE = 255.0  # the glyphs' background: what a shift or a zoom-out brings in


@dataclass(frozen=True)
class EmojiRecipe(FeatureRecipe):
    """The emoji CNN: three conv stages (minutes to train on one thread) at 32x32; its hash (with the data's
    identity) names the shipped files. The training fields are the digits' (zoo.metrics.features.FeatureRecipe)."""

    size: int = 32
    widths: tuple[int, ...] = (16, 32, 64)

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


class EmojiExtractor(RecipeExtractor):
    """The emoji CNN: penultimate layer as features (``hidden`` dims), 11 group logits."""

    name, channels, classes = "emoji", 3, len(GROUPS)
    batch_size = 256


def group_accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    """Mean over the groups present in ``y`` of the share of that group classified right (balanced accuracy)."""
    with torch.inference_mode():
        right = net(x)[1].argmax(1) == y
    return float(np.mean([right[y == g].double().mean().item() for g in torch.unique(y)]))


def train_emoji(recipe: EmojiRecipe) -> tuple[EmojiNet, dict[str, Any]]:
    """Train the emoji CNN on the train split only; report plain and per-group accuracy on the untouched val/test
    splits, and the data's sha256 (the arrays are rendered, not stored: the hash says they are the same)."""
    data = emoji_data(recipe.size, recipe.split, recipe.split_seed)
    net, stats = train_on_split(lambda: EmojiNet(recipe), *data, recipe,
                                lambda batch, generator: shift_and_zoom(batch, recipe, generator, background=WHITE),
                                scores={"accuracy": accuracy, "group_accuracy": group_accuracy})  # fmt: skip
    return net, {**stats, "data_sha256": data_sha256(*data)}


#: Factory of the ``emoji`` extractor: the shipped CNN of today's recipe (``zoo features build emoji`` rebuilds it).
emoji_feature = ShippedFeature.of_recipe("emoji", "zoo_emoji", "weights", recipe=EmojiRecipe, network=EmojiNet,
                                         extractor=EmojiExtractor, train=train_emoji)
