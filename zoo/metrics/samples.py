"""Generated images as zoo scores them: uint8 (N, C, H, W) arrays, checked, and read from a samples ``.npz``
(what ``zoo sample`` writes), with an error that says how to fix a file that is not one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import UserError


def check_samples(images: Any, *, what: str = "the samples") -> np.ndarray:
    """``images`` as uint8 (N, C, H, W) with C in (1, 3), or a UserError saying what is wrong."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise UserError(
            f"{what} must be uint8 images shaped (N, C, H, W) with C = 1 or 3 (as `zoo sample` writes), got {got}; "
            f"convert with (x.clip(-1, 1) + 1) * 127.5 rounded to uint8, channels first"
        )
    if len(images) < 2:
        raise UserError(f"{what} hold {len(images)} image(s); scores need at least 2 (better 1,000+)")
    return images


def load_samples(path: str | Path) -> np.ndarray:
    """``images`` of a samples ``.npz`` (uint8 (N,C,H,W)), or a UserError saying what to do."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no samples file '{path}'; write one with `zoo sample RUN_DIR` (it holds 'images', uint8 N,C,H,W)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "images" not in archive.files:
                raise UserError(
                    f"'{path}' has no array 'images' (it has: {', '.join(archive.files) or 'nothing'}); "
                    f"save samples with np.savez(path, images=uint8_array_NCHW)"
                )
            images = archive["images"]
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file
        raise UserError(f"'{path}' is not a readable .npz of samples ({type(err).__name__}: {err})") from None
    return check_samples(images, what=f"the images in '{path}'")
