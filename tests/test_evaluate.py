"""``evaluate``: scores with floor and ceiling rows, cached references, run folders, ``zoo evaluate``."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch

from tests.test_features import PlainModule, zoo_cache  # noqa: F401 - the session's shared zoo cache
from zoo import cli
from zoo.config.spec import DataSpec, RunSpec
from zoo.data.prepare import PreparedData, prepare
from zoo.errors import UserError
from zoo.metrics.evaluate import CEILING, FLOOR, SAMPLES, EvalResult, evaluate, evaluate_run
from zoo.metrics.features import DigitsExtractor
from zoo.metrics.inception import INCEPTION_ENV, INCEPTION_WEIGHTS
from zoo.metrics.render import render_result


@dataclass
class StandIn:
    """A few-image stand-in for :class:`PreparedData` (the end-to-end tests use the real one)."""

    splits: dict[str, np.ndarray]
    path: Path = Path("stand-in")
    num_classes: int | None = None
    default_feature: str = "digits"
    manifest: dict[str, Any] = field(default_factory=lambda: {"dataset": "stand-in"})

    @property
    def hash(self) -> str:
        return hashlib.sha256(b"".join(self.splits[s].tobytes() for s in sorted(self.splits))).hexdigest()

    def images(self, split: str) -> np.ndarray:
        return self.splits[split]


def random_images(n: int, seed: int, shape: tuple[int, int, int] = (1, 8, 8)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def stand_in(n: int = 6) -> StandIn:
    return StandIn({"train": random_images(n, 1), "val": random_images(n, 2), "test": random_images(n, 3)})


# -- end to end on the real digits -------------------------------------------------------------
@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> PreparedData:
    return prepare(DataSpec(prepared=str(tmp_path_factory.mktemp("prepared"))))


@pytest.fixture(scope="module")
def val_result(digits: PreparedData) -> EvalResult:
    """Real held-out val digits scored as if they were samples: they should score like the floor."""
    return evaluate(np.array(digits.images("val")), digits)


def test_real_digits_score_near_the_floor_and_far_below_the_noise_ceiling(val_result: EvalResult) -> None:
    samples, floor, ceiling = (val_result.row(name) for name in (SAMPLES, FLOOR, CEILING))
    assert [row.name for row in val_result.rows] == [SAMPLES, FLOOR, CEILING]
    assert val_result.feature == "digits" and val_result.skipped == {}
    for row in (samples, floor, ceiling):
        assert (row.n_fake, row.n_real) == (179, 180)
    assert 0.5 * floor.values["fid"] < samples.values["fid"] < 2 * floor.values["fid"]
    assert ceiling.values["fid"] > 8 * floor.values["fid"]
    assert abs(samples.values["kid"]) < 0.1 * ceiling.values["kid"]
    assert samples.values["recall"] > 0.7 and ceiling.values["recall"] < 0.1
    assert samples.values["is"] > 5 and ceiling.values["is"] < 3
    assert samples.values["diversity"] == pytest.approx(samples.values["diversity_real"], rel=0.2)
    assert sum(samples.class_counts or []) == 179 and min(samples.class_counts or [0]) > 5


def test_result_serialises_to_strict_json_and_renders(val_result: EvalResult) -> None:
    from rich.console import Console

    data = json.loads(json.dumps(val_result.to_dict(), allow_nan=False))
    assert data["rows"][0]["values"]["fid"] == val_result.row(SAMPLES).values["fid"]
    assert data["feature_identity"] == val_result.feature_identity and len(data["data_hash"]) == 64
    console = Console(record=True, width=100)
    render_result(val_result, console)
    text = console.export_text()
    assert FLOOR in text and CEILING in text and "179 / 180" in text and "images per predicted class" in text


def test_references_are_extracted_once_and_cached(digits: PreparedData, val_result: EvalResult, zoo_cache: Path) -> None:  # noqa: F811
    seen: list[int] = []
    extract = DigitsExtractor.extract

    def counting(self: DigitsExtractor, images: torch.Tensor) -> Any:
        seen.append(len(images))
        return extract(self, images)

    samples = np.array(digits.images("val"))
    with mock.patch.object(DigitsExtractor, "extract", counting):
        again = evaluate(samples, digits)
    assert sum(seen) == len(samples)  # only the samples went through the network
    assert again.to_dict() == val_result.to_dict()
    assert len(list((zoo_cache / "references").glob(f"*{digits.hash[:16]}*"))) == 2  # test split, train subset


def test_n_scores_the_first_n_images_and_references_use_the_same_n(digits: PreparedData) -> None:
    result = evaluate(np.array(digits.images("test")), digits, metrics=("fid",), n=40)
    assert [(row.n_fake, row.n_real) for row in result.rows] == [(40, 180)] * 3
    assert set(result.row(SAMPLES).values) == {"fid"}


# -- inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("images", "message"),
    [
        (random_images(5, 0, (3, 8, 8)), "3 channel"),
        (random_images(5, 0, (1, 16, 16)), "16x16 but the real data is 8x8"),
        (random_images(5, 0).astype(np.float32), "must be uint8"),
        (random_images(1, 0), "at least 2"),
    ],
)
def test_bad_samples_are_refused_with_what_to_do(images: np.ndarray, message: str) -> None:
    with pytest.raises(UserError, match=message):
        evaluate(images, stand_in(), feature=PlainModule())


def test_n_beyond_the_samples_is_refused() -> None:
    with pytest.raises(UserError, match="n must be between 2 and the 5"):
        evaluate(random_images(5, 0), stand_in(), feature=PlainModule(), n=6)


def test_evaluate_forces_eval_mode_and_skips_what_the_extractor_cannot_do() -> None:
    module = PlainModule().train()
    result = evaluate(random_images(5, 0), stand_in(), feature=module, metrics=("fid", "is", "diversity"))
    assert not module.training
    assert "is" in result.skipped and "logits" in result.skipped["is"]
    assert all(row.class_counts is None and "is" not in row.values for row in result.rows)
    assert math.isfinite(result.row(SAMPLES).values["fid"])


# -- inception, with random weights: the real loading and scoring path, meaningless numbers ---
@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised state dict of torch-fidelity's FID Inception-v3 (the real file is not here)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    folder = tmp_path_factory.mktemp("inception")
    torch.save({}, folder / "empty.pth")
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"):  # build without any weights
        fresh = FeatureExtractorInceptionV3("fresh", ["2048"], feature_extractor_weights_path=str(folder / "empty.pth"))
    path = folder / INCEPTION_WEIGHTS
    torch.save(fresh.state_dict(), path)
    return path


def test_inception_scores_tiny_images_through_the_real_path(
    random_inception_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INCEPTION_ENV, str(random_inception_weights))
    # One row only: torchmetrics' FID takes seconds per row at 2048 dimensions (an eigendecomposition).
    result = evaluate(random_images(3, 9), stand_in(4), feature="inception", metrics=("fid", "kid", "is", "diversity"),
                      references=False)  # fmt: skip
    assert result.feature == "inception" and result.feature_identity.startswith("inception-")
    (row,) = result.rows
    assert (row.n_fake, row.n_real) == (3, 4)
    assert set(row.values) == {"fid", "kid", "kid_std", "is", "is_std", "diversity", "diversity_real"}
    assert all(math.isfinite(v) for k, v in row.values.items() if k != "is_std")
    assert 1.0 - 1e-9 <= row.values["is"] <= 1008
    assert len(row.class_counts or []) == 1008 and sum(row.class_counts or []) == 3


# -- run folders and the command ---------------------------------------------------------------
@pytest.fixture
def run_dir(tmp_path: Path, digits: PreparedData) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    spec = RunSpec()
    spec.data.prepared = str(digits.path.parent)
    spec.eval.metrics = ("fid", "is")
    spec.save(run / "spec.json")
    np.savez(run / "samples.npz", images=np.array(digits.images("val"))[:60])
    return run


def test_evaluate_run_writes_metrics_json(run_dir: Path) -> None:
    result = evaluate_run(run_dir)
    written = json.loads((run_dir / "metrics.json").read_text())
    assert written == json.loads(json.dumps(result.to_dict()))
    assert written["metrics"] == ["fid", "is"] and written["rows"][0]["n_fake"] == 60


def test_evaluate_run_without_samples_says_to_sample_first(run_dir: Path) -> None:
    (run_dir / "samples.npz").unlink()
    with pytest.raises(UserError, match=f"run `zoo sample {run_dir}` first"):
        evaluate_run(run_dir)


def test_zoo_evaluate_prints_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evaluate", str(run_dir), "--json", "--metrics", "fid", "--no-references"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in data["rows"]] == [SAMPLES] and set(data["rows"][0]["values"]) == {"fid"}


def test_zoo_evaluate_scores_a_bare_samples_file(digits: PreparedData, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "s.npz", images=np.array(digits.images("val"))[:30])
    argv = ["evaluate", str(tmp_path / "s.npz"), "--dataset", "digits", "--prepared", str(digits.path.parent)]
    assert cli.main([*argv, "--metrics", "fid,precision"]) == 0
    out = capsys.readouterr().out
    assert "floor:" in out and "ceiling:" in out and "30 / 180" in out and "precision" in out


def test_zoo_evaluate_refuses_bad_files_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "floats.npz", images=np.zeros((4, 1, 8, 8), dtype=np.float32))
    np.savez(tmp_path / "nameless.npz", np.zeros((4, 1, 8, 8), dtype=np.uint8))
    np.savez(tmp_path / "rgb.npz", images=random_images(4, 0, (3, 8, 8)))
    cases = {
        (str(tmp_path / "missing.npz"),): "zoo sample",
        (str(tmp_path / "floats.npz"),): "must be uint8",
        (str(tmp_path / "nameless.npz"),): "no array 'images'",
        (str(tmp_path / "rgb.npz"), "--channels", "1"): "3 channel",
    }
    for argv, message in cases.items():
        assert cli.main(["evaluate", *argv]) == 2
        assert message in capsys.readouterr().err


def test_zoo_evaluate_without_inception_weights_exits_2_before_preparing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    np.savez(tmp_path / "s.npz", images=random_images(4, 0))
    prepared = tmp_path / "prepared"
    assert cli.main(["evaluate", str(tmp_path / "s.npz"), "--feature", "inception", "--prepared", str(prepared)]) == 2
    assert INCEPTION_WEIGHTS in capsys.readouterr().err
    assert not prepared.exists()
