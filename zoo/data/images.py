"""One source image to the uint8 array ``zoo prepare`` stores, or the reason it is rejected.

The transform: transparent pixels composited on white, converted to L or RGB, the shorter side resized
(bicubic, antialiased) and centre-cropped (PIL ``ImageOps.fit``); float images with NaN/inf and broken
files are rejected with a short stable reason code (:data:`REASONS`), recorded in the manifest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from zoo.data.sources import EmptyImageError

if TYPE_CHECKING:
    from PIL import Image

BACKGROUND = (255, 255, 255)  # what transparent pixels become
REASONS = {
    "empty": "the file has zero bytes",
    "undecodable": "not an image PIL can decode (wrong extension, corrupt header or data)",
    "truncated": "the image data ends early",
    "non-finite": "float pixels that are NaN or infinite",
    "too-large": "more pixels than PIL's decompression-bomb limit",
    "missing": "the file listed by the dataset is not there",
    "unreadable": "the file cannot be opened (permissions, a folder, an I/O error)",
    "error": "any other error while reading (see the manifest for the text)",
}


class NonFiniteImageError(ValueError):
    """A float image holding NaN or infinite values (the study's cleaning criterion)."""


def reject_reason(err: BaseException) -> str:
    """The short, stable reason code recorded for a rejected file."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(err, EmptyImageError):
        return "empty"
    if isinstance(err, NonFiniteImageError):
        return "non-finite"
    if isinstance(err, FileNotFoundError):
        return "missing"
    if isinstance(err, Image.DecompressionBombError):
        return "too-large"
    if isinstance(err, UnidentifiedImageError):  # before the text check: its message holds the file name
        return "undecodable"
    if isinstance(err, OSError) and err.filename is not None:  # the OS refused (permissions, a folder)
        return "unreadable"
    if "truncated" in str(err).lower():  # PIL's messages: "image file is truncated", "truncated PNG file"
        return "truncated"
    if isinstance(err, (OSError, SyntaxError, ValueError, EOFError)):
        return "undecodable"
    return "error"


def _to_8bit(img: Image.Image) -> Image.Image:
    """Float images are checked for NaN/inf; 16-bit greyscale is scaled (PIL's convert would clip it)."""
    from PIL import Image

    if img.mode == "F":
        values = np.asarray(img)
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise NonFiniteImageError(f"{bad} of {values.size} pixel values are NaN or infinite")
    if img.mode.startswith("I;16"):
        return Image.fromarray(np.round(np.asarray(img, dtype=np.float32) / 257).astype(np.uint8), mode="L")
    return img


def to_array(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """Decode ``img`` and return it as uint8 ``(channels, size, size)``: composite, convert, fit."""
    from PIL import Image, ImageOps

    img.load()  # force decoding: truncated data raises here
    img = _to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba)
    img = img.convert("L" if channels == 1 else "RGB")
    img = ImageOps.fit(img, (size, size), method=Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8).reshape(size, size, channels).transpose(2, 0, 1)


@contextlib.contextmanager
def strict_decoding() -> Iterator[None]:
    """Make PIL raise on truncated files for the duration (a library may have relaxed it globally)."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
