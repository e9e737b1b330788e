"""``zoo prepare``: transform, cleaning with reasons, seeded splits, reuse, atomicity, the CLI."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from sklearn.datasets import load_digits

import zoo.data.prepare as prep
from zoo.cli import main
from zoo.config.spec import DataSpec
from zoo.data.prepare import PreparedData, folder_name, prepare, split_sizes, to_array
from zoo.data.sources import Digits, ImageFolder
from zoo.errors import UserError

SPLITS = ("train", "val", "test")


def all_images(prepared: PreparedData) -> np.ndarray:
    return np.concatenate([prepared.images(s) for s in SPLITS])


def messy_folder(root: Path) -> Path:
    """Four good images (RGB png and jpg, RGBA, greyscale) and four bad files, one of each reason."""
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), (10, 20, 30)).save(root / "good_a.png")
    Image.new("RGB", (10, 20), (200, 100, 50)).save(root / "good_b.jpg", quality=95)
    Image.new("RGBA", (12, 12), (255, 0, 0, 0)).save(root / "rgba.png")  # fully transparent red
    Image.new("L", (9, 9), 77).save(root / "grey.png")
    noise = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    data = io.BytesIO()
    Image.fromarray(noise).save(data, "PNG")
    (root / "cut.png").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("this is not a JPEG\n")
    Image.fromarray(np.array([[1.0, np.nan], [np.inf, 4.0]], dtype=np.float32), mode="F").save(root / "nan.tiff")
    return root


def distinct_folder(root: Path, n: int = 40) -> Path:
    """``n`` greyscale images of distinct constant values 0, 6, 12, ... (each image identifies itself)."""
    root.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.new("L", (6, 5), 6 * k).save(root / f"{k:03d}.png")
    return root


def spec_for(root: Path, out: Path, **kw: object) -> DataSpec:
    values = {"dataset": "imagefolder", "root": str(root), "size": 4, "channels": 1, "prepared": str(out), **kw}
    return DataSpec(**values)


def members(prepared: PreparedData) -> dict[str, set[int]]:
    return {s: {int(v) // 6 for v in prepared.images(s)[:, 0, 0, 0]} for s in SPLITS}


# -- one image ---------------------------------------------------------------------------------
def test_to_array_centre_crops_the_shorter_side() -> None:
    wide = np.zeros((10, 30, 3), dtype=np.uint8)
    wide[:, :10], wide[:, 10:20], wide[:, 20:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    out = to_array(Image.fromarray(wide), 8, 3)
    assert out.shape == (3, 8, 8) and out.dtype == np.uint8
    assert (out[1] > 200).all() and (out[0] < 40).all() and (out[2] < 40).all()  # only the green middle


def test_to_array_converts_modes() -> None:
    assert (to_array(Image.new("RGBA", (5, 5), (0, 0, 255, 0)), 4, 3) == 255).all()  # transparent -> white
    assert (to_array(Image.new("L", (5, 5), 77), 4, 3) == 77).all()  # grey -> RGB replicates
    assert to_array(Image.new("RGB", (5, 5), (255, 0, 0)), 4, 1).max() == 76  # ITU-R 601 luma of red
    wide16 = Image.fromarray(np.full((6, 6), 257 * 100, dtype=np.uint16))
    assert wide16.mode.startswith("I;16") and (to_array(wide16, 4, 1) == 100).all()  # scaled, not clipped


def test_split_sizes_round_cumulative_bounds() -> None:
    assert split_sizes(1797, (0.8, 0.1, 0.1)) == [1438, 179, 180]
    assert split_sizes(4, (0.5, 0.25, 0.25)) == [2, 1, 1]
    assert split_sizes(7, (1.0, 0.0, 0.0)) == [7, 0, 0]


# -- cleaning ----------------------------------------------------------------------------------
def test_bad_files_are_rejected_with_their_reason(tmp_path: Path) -> None:
    root = messy_folder(tmp_path / "raw")
    prepared = prepare(spec_for(root, tmp_path / "out", size=8, channels=3, split=(0.5, 0.25, 0.25)))
    m = prepared.manifest
    assert m["source_items"] == 8 and m["kept"] == 4 and m["split_sizes"] == {"train": 2, "val": 1, "test": 1}
    assert m["rejected_counts"] == {"empty": 1, "non-finite": 1, "truncated": 1, "undecodable": 1}
    reasons = {r["item"]: r["reason"] for r in m["rejected"]}
    assert reasons == {"cut.png": "truncated", "zero.png": "empty", "text.jpg": "undecodable", "nan.tiff": "non-finite"}
    assert all(r["error"] for r in m["rejected"])  # the exception text is kept
    means = sorted(tuple(round(float(c)) for c in img.reshape(3, -1).mean(1)) for img in all_images(prepared))
    expected = [(10, 20, 30), (77, 77, 77), (200, 100, 50), (255, 255, 255)]
    assert all(max(abs(a - b) for a, b in zip(g, e, strict=True)) <= 3 for g, e in zip(means, expected, strict=True))


def test_truncated_files_are_rejected_even_if_pil_was_relaxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    prepared = prepare(spec_for(messy_folder(tmp_path / "raw"), tmp_path / "out", split=(0.5, 0.25, 0.25)))
    assert prepared.manifest["rejected_counts"]["truncated"] == 1
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored afterwards


def test_nothing_readable_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.png").write_bytes(b"")
    with pytest.raises(UserError, match="none of the 1 images"):
        prepare(spec_for(tmp_path / "raw", tmp_path / "out"))
    assert [p.name for p in (tmp_path / "out").iterdir() if not p.name.endswith(".lock")] == []


# -- splits ------------------------------------------------------------------------------------
def test_splits_are_disjoint_cover_everything_and_follow_the_seed(tmp_path: Path) -> None:
    root = distinct_folder(tmp_path / "raw", 40)
    first = prepare(spec_for(root, tmp_path / "a", seed=3))
    again = prepare(spec_for(root, tmp_path / "b", seed=3))
    other = prepare(spec_for(root, tmp_path / "c", seed=4))
    groups = members(first)
    assert [len(groups[s]) for s in SPLITS] == [32, 4, 4] == [len(first.images(s)) for s in SPLITS]
    assert set().union(*groups.values()) == set(range(40))
    assert sum(len(g) for g in groups.values()) == 40  # disjoint
    assert groups == members(again) and first.hash == again.hash
    for s in SPLITS:
        np.testing.assert_array_equal(first.images(s), again.images(s))
    assert groups != members(other) and first.hash != other.hash
    assert sorted(first.images("train")[:, 0, 0, 0]) == list(first.images("train")[:, 0, 0, 0])  # source order


def test_folder_name_carries_seed_and_split_only_when_not_default() -> None:
    assert folder_name(DataSpec(dataset="digits", size=8, channels=1)) == "digits-8-1"
    assert folder_name(DataSpec(dataset="digits", size=8, channels=3, seed=2)) == "digits-8-3-seed2"
    spec = DataSpec(dataset="celeba", size=64, channels=3, split=(0.7, 0.2, 0.1))
    assert folder_name(spec) == "celeba-64-3-split0.7_0.2_0.1"


def test_digits_round_trip_exactly(tmp_path: Path) -> None:
    prepared = prepare(DataSpec(dataset="digits", size=8, channels=1, prepared=str(tmp_path)))
    images = all_images(prepared)[:, 0]
    labels = np.concatenate([prepared.labels(s) for s in SPLITS])
    source = Digits()
    assert images.shape == (1797, 8, 8) and prepared.num_classes == 10 and prepared.default_feature == "digits"

    def rows(imgs: np.ndarray, labs: np.ndarray) -> list[bytes]:
        return sorted(img.tobytes() + bytes([lab]) for img, lab in zip(imgs, labs, strict=True))

    assert rows(images, labels) == rows(source.images, source.labels)
    decoded = np.round(images * (16 / 255)).astype(np.uint8)  # back to load_digits()' 0..16 counts
    reference = load_digits()
    assert rows(decoded, labels) == rows(reference.images.astype(np.uint8), reference.target)


# -- reuse, rebuild, atomicity -----------------------------------------------------------------
def test_second_run_reuses_and_force_rebuilds(tmp_path: Path) -> None:
    spec = spec_for(distinct_folder(tmp_path / "raw", 10), tmp_path / "out")
    first = prepare(spec)
    manifest = first.path / "manifest.json"
    stamp = (manifest.stat().st_ino, manifest.stat().st_mtime_ns)
    reused = prepare(spec)
    assert reused.reused and not first.reused and reused.hash == first.hash
    assert (manifest.stat().st_ino, manifest.stat().st_mtime_ns) == stamp
    rebuilt = prepare(spec, force=True)
    assert not rebuilt.reused and (manifest.stat().st_ino, manifest.stat().st_mtime_ns) != stamp
    assert rebuilt.hash == first.hash and rebuilt.verify()


def test_a_copy_from_another_root_is_refused(tmp_path: Path) -> None:
    prepare(spec_for(distinct_folder(tmp_path / "one", 5), tmp_path / "out"))
    other = spec_for(distinct_folder(tmp_path / "two", 6), tmp_path / "out")
    with pytest.raises(UserError, match="--force"):
        prepare(other)
    assert prepare(other, force=True).manifest["kept"] == 6


def test_a_foreign_folder_is_not_overwritten_without_force(tmp_path: Path) -> None:
    spec = spec_for(distinct_folder(tmp_path / "raw", 5), tmp_path / "out")
    foreign = tmp_path / "out" / folder_name(spec)
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("mine")
    with pytest.raises(UserError, match="no manifest.json"):
        prepare(spec)
    assert (foreign / "precious.txt").exists()
    assert prepare(spec, force=True).manifest["kept"] == 5 and not (foreign / "precious.txt").exists()


def test_interrupted_prepare_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for(distinct_folder(tmp_path / "raw", 10), tmp_path / "out")

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "_write_splits", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare(spec)
    assert list((tmp_path / "out").iterdir()) == []  # no half-built copy, and no lock file (issue 15)
    monkeypatch.undo()
    assert prepare(spec).manifest["kept"] == 10


def test_failed_force_rebuild_keeps_the_old_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for(distinct_folder(tmp_path / "raw", 10), tmp_path / "out")
    first = prepare(spec)
    monkeypatch.setattr(prep, "to_array", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        prepare(spec, force=True)
    assert PreparedData.open(first.path).verify()


def test_leftovers_of_a_crashed_run_are_cleaned(tmp_path: Path) -> None:
    spec = spec_for(distinct_folder(tmp_path / "raw", 5), tmp_path / "out")
    leftover = tmp_path / "out" / f".{folder_name(spec)}.tmp-99999"
    leftover.mkdir(parents=True)
    (leftover / "train_images.npy").write_bytes(b"half")
    prepare(spec)
    assert not leftover.exists()


def test_manifest_records_the_attribution_the_source_declares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for(distinct_folder(tmp_path / "raw", 10), tmp_path / "out")
    assert prepare(spec).manifest["attribution"] is None  # the contract's default
    monkeypatch.setattr(ImageFolder, "attribution", "Photos by A. Person, CC BY 4.0", raising=False)
    assert prepare(spec, force=True).manifest["attribution"] == "Photos by A. Person, CC BY 4.0"


def test_manifest_records_the_identity_and_verify_detects_tampering(tmp_path: Path) -> None:
    prepared = prepare(spec_for(distinct_folder(tmp_path / "raw", 10), tmp_path / "out"))
    m = json.loads((prepared.path / "manifest.json").read_text())
    for key in ("dataset", "root", "source_items", "size", "channels", "seed", "split", "split_sizes",
                "rejected", "num_classes", "default_feature", "hash", "created", "zoo_version"):
        assert key in m
    assert m["root"] == str((tmp_path / "raw").resolve()) and prepared.labels("train").dtype == np.int64
    assert prepared.images("train").dtype == np.uint8 and isinstance(prepared.images("train"), np.memmap)
    assert prepared.verify()
    path = prepared.path / "train_images.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert not prepared.verify()
    with pytest.raises(UserError, match="did you mean 'train'"):
        prepared.images("trian")


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_prepares_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "digits", "--size", "8", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "digits-8-1" / "manifest.json").is_file()
    out = capsys.readouterr().out
    assert str(tmp_path / "digits-8-1") in out and "1,797" in out
    assert main(["prepare", "digits", "--size", "8", "--out", str(tmp_path)]) == 0
    assert "reused" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channels", "2"], "must be 1 or 3"),
        (["--split", "0.5,0.5,0.5"], "summing to 1"),
        (["--split", "0.8,x,0.1"], "must be a number"),
        (["--size", "2"], "at least 4"),
    ],
)
def test_cli_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["prepare", "digits", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_cli_unknown_dataset_suggests_the_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "digts", "--out", str(tmp_path)]) == 2
    assert "did you mean 'digits'" in capsys.readouterr().err


def test_api_refuses_impossible_specs(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="channels"):
        prepare(DataSpec(channels=2, prepared=str(tmp_path)))
    assert not os.listdir(tmp_path)
