"""Dataset sources: the raw images of a dataset, before zoo resizes, cleans and splits them.

A source is a sequence over *all* images of a dataset (``zoo prepare`` makes its own train/val/test
split, so the official splits are concatenated). The datasets of the study:

- ``digits``: the 1,797 real 8x8 greyscale handwritten digits shipped inside scikit-learn (Alpaydin &
  Kaynak 1998, UCI "Optical Recognition of Handwritten Digits"); no files, no download. Values 0..16
  are scaled to 0..255.
- ``flowers102``: Oxford 102 Flowers (Nilsback & Zisserman 2008) through ``torchvision.datasets``.
- ``celeba``: CelebA aligned faces (Liu et al. 2015) through ``torchvision.datasets``.
- ``imagefolder``: any folder of images; first-level sub-folders are classes (as torchvision's
  ``ImageFolder``).

``load(i)`` may raise on a bad file: ``zoo prepare`` catches it, records why and carries on.
torchvision datasets never download unless asked (``zoo prepare --download``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import UserError
from zoo.hookspecs import hookimpl

if TYPE_CHECKING:
    from PIL import Image

    from zoo.registry import Registry

DEFAULT_ROOT = "data/raw"  # where flowers102 and celeba look when no root is given
IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
DIGITS_MAX = 16  # load_digits() pixel values run 0..16 (4x4 blocks of a 32x32 bitmap, counted)


class EmptyImageError(OSError):
    """The file has zero bytes (a failed copy or download)."""


def check_not_empty(path: str | Path) -> None:
    """Name a zero-byte file for what it is (PIL would only say it cannot identify it)."""
    if os.path.getsize(path) == 0:
        raise EmptyImageError(f"{path} is empty (0 bytes)")


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode ``path``: decoding errors surface here, not later."""
    from PIL import Image

    check_not_empty(path)
    img = Image.open(path)
    img.load()
    return img


# -- digits ------------------------------------------------------------------------------------
class Digits:
    """scikit-learn's 1,797 8x8 digits as 0..255 greyscale images, labels 0-9."""

    name = "digits"
    num_classes = 10
    default_feature = "digits"
    root = None

    def __init__(self) -> None:
        from sklearn.datasets import load_digits

        data = load_digits()
        self.images = np.round(data.images * (255 / DIGITS_MAX)).astype(np.uint8)  # (N, 8, 8)
        self.labels = data.target.astype(np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def load(self, i: int) -> tuple[Image.Image, int | None]:
        from PIL import Image

        return Image.fromarray(self.images[i], mode="L"), int(self.labels[i])

    def item_name(self, i: int) -> str:
        return f"digits[{i}]"


def digits(root: str | None = None, *, download: bool = False) -> Digits:
    """The 1,797 8x8 digits inside scikit-learn (``root`` and ``download`` are not needed)."""
    return Digits()


# -- torchvision datasets ----------------------------------------------------------------------
def _require(name: str, root: Path, expected: list[Path], url: str) -> None:
    """Raise a UserError listing every expected file or folder that is not there."""
    missing = [p for p in expected if not p.exists()]
    if missing:
        shown = ", ".join(f"{p}/" if p.suffix == "" else str(p) for p in missing)
        wanted = ", ".join(f"{p.name}/" if p.suffix == "" else p.name for p in expected)
        raise UserError(
            f"{name}: missing {shown}; expected {wanted} in {expected[0].parent}/ (from {url}); "
            f"put the files there, point --root (data.root) at the folder holding "
            f"'{expected[0].parent.name}/' (now {root}), or pass --download"
        )


def _torchvision(name: str, cls: type, folder: Path, **kwargs: Any) -> Any:
    """Build a torchvision dataset, turning its errors into instructions."""
    try:
        return cls(**kwargs)
    except RuntimeError as err:
        if "not found or corrupted" not in str(err):
            raise
        raise UserError(
            f"{name}: the files in {folder}/ fail torchvision's MD5 check (a partial download or a "
            f"different release); replace them with the originals or pass --download"
        ) from None
    except (OSError, ImportError) as err:  # --download without network, or CelebA without gdown
        if not kwargs.get("download"):
            raise
        raise UserError(
            f"{name}: download into {folder}/ failed ({type(err).__name__}: {err}); fetch the files "
            f"by hand and put them there"
        ) from None


class Flowers102:
    """Oxford 102 Flowers: torchvision's train, val and test splits concatenated (8,189 images)."""

    name = "flowers102"
    num_classes = 102
    default_feature = "inception"

    def __init__(self, root: str | None, *, download: bool = False) -> None:
        from torchvision.datasets import Flowers102 as TVFlowers102

        base = Path(root or DEFAULT_ROOT)
        folder = base / "flowers-102"
        self.root = str(base)
        if not download:
            files = [TVFlowers102._file_dict[k][0] for k in ("label", "setid")]  # imagelabels.mat, setid.mat
            _require(self.name, base, [folder / "jpg", *(folder / f for f in files)], TVFlowers102._download_url_prefix)
        self._parts = [
            _torchvision(self.name, TVFlowers102, folder, root=base, split=split, download=download)
            for split in ("train", "val", "test")
        ]
        self._index = [(p, j) for p, part in enumerate(self._parts) for j in range(len(part))]

    def __len__(self) -> int:
        return len(self._index)

    def load(self, i: int) -> tuple[Image.Image, int | None]:
        part, j = self._index[i]
        check_not_empty(self._parts[part]._image_files[j])
        image, label = self._parts[part][j]
        return image, int(label)

    def item_name(self, i: int) -> str:
        part, j = self._index[i]
        return self._parts[part]._image_files[j].name


def flowers102(root: str | None = None, *, download: bool = False) -> Flowers102:
    """Oxford 102 Flowers from ``<root>/flowers-102/`` (default root ``data/raw``)."""
    return Flowers102(root, download=download)


class CelebA:
    """CelebA's 202,599 aligned and cropped faces (split "all"); no labels (identities are not classes)."""

    name = "celeba"
    num_classes = None
    default_feature = "inception"

    def __init__(self, root: str | None, *, download: bool = False) -> None:
        from torchvision.datasets import CelebA as TVCelebA

        base = Path(root or DEFAULT_ROOT)
        folder = base / TVCelebA.base_folder
        self.root = str(base)
        if not download:
            texts = [f for _id, _md5, f in TVCelebA.file_list if f.endswith(".txt")]
            url = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
            _require(self.name, base, [folder / "img_align_celeba", *(folder / f for f in texts)], url)
        self._dataset = _torchvision(
            self.name, TVCelebA, folder, root=base, split="all", target_type=[], download=download
        )

    def __len__(self) -> int:
        return len(self._dataset)

    def load(self, i: int) -> tuple[Image.Image, int | None]:
        ds = self._dataset
        check_not_empty(os.path.join(ds.root, ds.base_folder, "img_align_celeba", ds.filename[i]))
        image, _ = ds[i]  # opened lazily by torchvision; zoo prepare decodes it
        return image, None

    def item_name(self, i: int) -> str:
        return self._dataset.filename[i]


def celeba(root: str | None = None, *, download: bool = False) -> CelebA:
    """CelebA aligned faces from ``<root>/celeba/`` (default root ``data/raw``)."""
    return CelebA(root, download=download)


# -- any folder --------------------------------------------------------------------------------
def _image_files(root: Path) -> list[str]:
    """Image files under ``root`` as sorted relative POSIX paths (str: a tenth of a Path's memory);
    hidden entries skipped, symlinked folders followed once."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            dirs.clear()
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        found += [prefix + f for f in files if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


class ImageFolder:
    """Every image under a folder (recursive, sorted); first-level sub-folders are the classes."""

    name = "imagefolder"
    default_feature = "inception"

    def __init__(self, root: str | None) -> None:
        if root is None:
            raise UserError("imagefolder needs a folder of images: pass --root PATH (data.root)")
        self.root = str(root)
        self._root = Path(root)
        if not self._root.is_dir():
            raise UserError(f"imagefolder: '{root}' is not a folder; pass --root a folder of images")
        self.files = _image_files(self._root)
        if not self.files:
            raise UserError(
                f"imagefolder: no images in '{root}' (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)"
            )
        if all("/" in f for f in self.files):  # every image inside a class folder
            first = [f.partition("/")[0] for f in self.files]
            self.classes: list[str] = sorted(set(first))
            index = {c: k for k, c in enumerate(self.classes)}
            self.labels: np.ndarray | None = np.array([index[c] for c in first], dtype=np.int64)
        else:
            self.classes, self.labels = [], None
        self.num_classes = len(self.classes) or None

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> tuple[Image.Image, int | None]:
        return open_image(self._root / self.files[i]), None if self.labels is None else int(self.labels[i])

    def item_name(self, i: int) -> str:
        return self.files[i]


def imagefolder(root: str | None = None, *, download: bool = False) -> ImageFolder:
    """Any folder of images; labels from first-level sub-folders when every image is in one."""
    return ImageFolder(root)


@hookimpl
def zoo_register(registry: Registry) -> None:
    registry.add("dataset", "digits", digits, help="1,797 real 8x8 greyscale digits shipped in scikit-learn",
                 flip_invariant=False)  # a mirrored digit is not a digit (2, 3, 7 ...): flips default to off
    registry.add("dataset", "flowers102", flowers102, help="Oxford 102 Flowers, 8,189 photos (torchvision)")
    registry.add("dataset", "celeba", celeba, help="CelebA, 202,599 aligned celebrity faces (torchvision)")
    registry.add("dataset", "imagefolder", imagefolder, help="any folder of images; sub-folders are classes")
