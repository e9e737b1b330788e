"""Dataset sources: digits, image folders, and miniature Flowers102 / CelebA through torchvision's loaders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from zoo.config.spec import DataSpec
from zoo.data.prepare import prepare
from zoo.data.sources import CelebA, Digits, Flowers102, ImageFolder, celeba, flowers102, imagefolder
from zoo.errors import UserError


def solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (12, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def colour_of(k: int) -> tuple[int, int, int]:
    return (30 * k, 255 - 30 * k, 60 + 20 * k)


def exists_only(fpath: str, md5: str | None = None) -> bool:
    """torchvision's check_integrity without the MD5: the test files are not the originals."""
    return os.path.isfile(fpath)


def make_flowers(root: Path, n: int = 6) -> list[int]:
    """``<root>/flowers-102/`` as torchvision expects it: jpg/image_%05d.jpg, imagelabels.mat, setid.mat."""
    base = root / "flowers-102"
    for k in range(1, n + 1):
        solid(base / "jpg" / f"image_{k:05d}.jpg", colour_of(k))
    labels = np.array([[(k * 7) % 102 + 1 for k in range(1, n + 1)]])  # 1-based, shape (1, N) as the original
    scipy.io.savemat(base / "imagelabels.mat", {"labels": labels})
    ids = np.arange(1, n + 1)
    scipy.io.savemat(base / "setid.mat", {"trnid": ids[0::3], "valid": ids[1::3], "tstid": ids[2::3]})
    return [(k * 7) % 102 for k in range(1, n + 1)]  # 0-based labels by image id


def make_celeba(root: Path, n: int = 5) -> None:
    """``<root>/celeba/`` as torchvision expects it: img_align_celeba/ and the five annotation files."""
    base = root / "celeba"
    names = [f"{k:06d}.jpg" for k in range(1, n + 1)]
    for k, name in enumerate(names, 1):
        solid(base / "img_align_celeba" / name, colour_of(k), (18, 22))
    def rows(values):  # noqa: ANN001, ANN202
        return "\n".join(f"{name} {values(k)}" for k, name in enumerate(names, 1)) + "\n"

    (base / "list_eval_partition.txt").write_text(rows(lambda k: k % 3))
    (base / "identity_CelebA.txt").write_text(rows(lambda k: 100 + k))
    def header(cols):  # noqa: ANN001, ANN202
        return f"{n}\n{' '.join(cols)}\n"

    (base / "list_bbox_celeba.txt").write_text(header(["image_id", "x_1", "y_1", "width", "height"]) + rows(lambda k: "1 2 3 4"))
    (base / "list_landmarks_align_celeba.txt").write_text(header([f"p{j}" for j in range(10)]) + rows(lambda k: " ".join(["5"] * 10)))
    (base / "list_attr_celeba.txt").write_text(header(["Smiling", "Young"]) + rows(lambda k: f"{(-1) ** k}  1"))


def all_images(prepared) -> tuple[np.ndarray, np.ndarray]:
    images = np.concatenate([prepared.images(s) for s in ("train", "val", "test")])
    labels = np.concatenate([prepared.labels(s) for s in ("train", "val", "test")])
    return images, labels


def find(images: np.ndarray, colour: tuple[int, int, int]) -> int:
    """Index of the (solid) prepared image closest to ``colour``; JPEG is within a few levels."""
    means = images.reshape(len(images), 3, -1).mean(-1)
    distance = np.abs(means - np.array(colour)).max(1)
    assert distance.min() < 6
    return int(distance.argmin())


# -- registration ------------------------------------------------------------------------------
def test_every_dataset_is_registered_with_help(registry) -> None:
    for name in ("digits", "flowers102", "celeba", "imagefolder"):
        component = registry.get("dataset", name)
        assert component.help and component.plugin == "datasets"


# -- digits ------------------------------------------------------------------------------------
def test_digits_are_sklearn_digits_scaled_to_0_255() -> None:
    from sklearn.datasets import load_digits

    source = digits_source = Digits()
    reference = load_digits()
    assert len(source) == 1797 and source.num_classes == 10 and source.default_feature == "digits"
    image, label = digits_source.load(5)
    assert image.mode == "L" and image.size == (8, 8) and label == reference.target[5]
    np.testing.assert_array_equal(np.asarray(image), np.round(reference.images[5] * 255 / 16).astype(np.uint8))
    assert source.images.max() == 255 and source.images.min() == 0


# -- imagefolder -------------------------------------------------------------------------------
def test_imagefolder_labels_from_sub_folders_sorted(tmp_path: Path) -> None:
    solid(tmp_path / "dogs" / "b.png", (1, 2, 3))
    solid(tmp_path / "cats" / "z.PNG", (1, 2, 3))  # extensions are case-insensitive
    solid(tmp_path / "cats" / "deep" / "a.jpg", (1, 2, 3))  # deeper files belong to the first-level class
    solid(tmp_path / "dogs" / ".hidden.png", (1, 2, 3))
    solid(tmp_path / ".ipynb_checkpoints" / "x.png", (1, 2, 3))
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    source = imagefolder(str(tmp_path))
    assert [source.item_name(i) for i in range(len(source))] == ["cats/deep/a.jpg", "cats/z.PNG", "dogs/b.png"]
    assert source.classes == ["cats", "dogs"] and source.num_classes == 2
    assert [source.load(i)[1] for i in range(3)] == [0, 0, 1]
    assert source.load(0)[0].size == (12, 10)


def test_imagefolder_without_class_folders_has_no_labels(tmp_path: Path) -> None:
    solid(tmp_path / "top.png", (1, 2, 3))
    solid(tmp_path / "sub" / "inner.png", (1, 2, 3))
    source = imagefolder(str(tmp_path))
    assert len(source) == 2 and source.num_classes is None and source.load(0)[1] is None


def test_imagefolder_follows_a_symlinked_class_folder(tmp_path: Path) -> None:
    solid(tmp_path / "elsewhere" / "a.png", (1, 2, 3))
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "loop").symlink_to(tmp_path / "root")  # a cycle must not hang
    assert ImageFolder(str(tmp_path / "root")).files == ["linked/a.png"]


@pytest.mark.parametrize("make", ["none", "missing", "file", "empty"])
def test_imagefolder_needs_a_folder_with_images(tmp_path: Path, make: str) -> None:
    root = {"none": None, "missing": str(tmp_path / "nope"), "file": str(tmp_path / "f.png"), "empty": str(tmp_path)}
    solid(tmp_path / "f.png", (1, 2, 3)) if make == "file" else None
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(UserError, match="--root" if make != "empty" else "no images"):
        imagefolder(root[make])


# -- flowers102 --------------------------------------------------------------------------------
def test_flowers102_missing_files_name_the_expected_paths(tmp_path: Path) -> None:
    (tmp_path / "flowers-102" / "jpg").mkdir(parents=True)
    with pytest.raises(UserError) as err:
        flowers102(str(tmp_path))
    message = str(err.value)
    assert f"{tmp_path}/flowers-102/imagelabels.mat" in message and f"{tmp_path}/flowers-102/setid.mat" in message
    assert "missing" in message and "jpg/" in message and "--download" in message


def test_flowers102_default_root_is_data_raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="data/raw/flowers-102/jpg/"):
        flowers102(None)


def test_flowers102_files_failing_md5_are_reported(tmp_path: Path) -> None:
    make_flowers(tmp_path)
    with pytest.raises(UserError, match="MD5"):
        flowers102(str(tmp_path))


def test_mini_flowers102_loads_through_torchvision_and_prepares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torchvision.datasets.flowers102.check_integrity", exists_only)
    labels = make_flowers(tmp_path / "raw", n=6)
    source = flowers102(str(tmp_path / "raw"))
    assert isinstance(source, Flowers102) and len(source) == 6 and source.num_classes == 102
    # torchvision's train, val, test splits one after another
    assert [source.item_name(i) for i in range(6)] == [f"image_{k:05d}.jpg" for k in (1, 4, 2, 5, 3, 6)]
    assert source.load(1)[1] == labels[4 - 1]
    spec = DataSpec(dataset="flowers102", root=str(tmp_path / "raw"), size=8, channels=3, prepared=str(tmp_path / "out"))
    prepared = prepare(spec)
    assert prepared.manifest["kept"] == 6 and prepared.num_classes == 102 and prepared.default_feature == "inception"
    images, got = all_images(prepared)
    for k in range(1, 7):
        assert got[find(images, colour_of(k))] == labels[k - 1]


# -- celeba ------------------------------------------------------------------------------------
def test_celeba_missing_files_name_the_expected_paths(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        celeba(str(tmp_path))
    message = str(err.value)
    for name in ("img_align_celeba/", "list_eval_partition.txt", "identity_CelebA.txt", "list_attr_celeba.txt"):
        assert f"{tmp_path}/celeba/{name}" in message


def test_mini_celeba_loads_through_torchvision_and_prepares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torchvision.datasets.celeba.check_integrity", exists_only)
    make_celeba(tmp_path / "raw", n=5)
    (tmp_path / "raw" / "celeba" / "img_align_celeba" / "000003.jpg").write_bytes(b"")  # one broken face
    source = celeba(str(tmp_path / "raw"))
    assert isinstance(source, CelebA) and len(source) == 5 and source.num_classes is None
    assert source.item_name(0) == "000001.jpg" and source.load(0)[1] is None
    spec = DataSpec(dataset="celeba", root=str(tmp_path / "raw"), size=8, channels=3, prepared=str(tmp_path / "out"))
    prepared = prepare(spec)
    m = prepared.manifest
    assert m["source_items"] == 5 and m["kept"] == 4
    assert [(r["item"], r["reason"]) for r in m["rejected"]] == [("000003.jpg", "empty")]
    images, labels = all_images(prepared)
    assert images.shape == (4, 3, 8, 8) and (labels == -1).all()
    assert sorted(find(images, colour_of(k)) for k in (1, 2, 4, 5)) == [0, 1, 2, 3]
