"""Feature extractors (zoo.metrics.features): eval mode, torchmetrics use, Inception lookup, the digits CNN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zoo import cli
from zoo.errors import UserError
from zoo.metrics.evaluate import extract_features
from zoo.metrics.extractor import as_extractor, to_float_images
from zoo.metrics.features import DigitsExtractor, DigitsRecipe, digits, digits_data
from zoo.metrics.inception import INCEPTION_ENV, INCEPTION_URL, INCEPTION_WEIGHTS
from zoo.metrics.scores import FID, InceptionScore


@pytest.fixture(scope="module", autouse=True)
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One zoo cache per test module, never the user's (reference features are cached there)."""
    path = tmp_path_factory.getbasetemp() / "zoo-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def digits_extractor(zoo_cache: Path) -> DigitsExtractor:
    return digits()


def split_images(extractor: DigitsExtractor, k: int) -> np.ndarray:
    """The digits of split ``k`` (0 train, 1 val, 2 test) as the CNN sees them: uint8 (N, 1, 16, 16)."""
    images, _, assignment = digits_data(extractor.recipe)
    return images[assignment == k]


# -- digits ------------------------------------------------------------------------------------
def test_digits_extractor_reaches_97_percent_on_held_out_test_digits(digits_extractor: DigitsExtractor) -> None:
    images, labels, assignment = digits_data(digits_extractor.recipe)
    test = assignment == 2
    with torch.inference_mode():
        predicted = digits_extractor.logits(torch.from_numpy(images[test].copy())).argmax(1).numpy()
    accuracy = float((predicted == labels[test]).mean())
    assert accuracy >= 0.97
    assert digits_extractor.stats["test_accuracy"] == pytest.approx(accuracy)
    assert digits_extractor.stats["split_sizes"] == {"train": 1438, "val": 179, "test": 180}


def test_digits_cnn_never_trained_on_the_prepared_test_split(digits_extractor: DigitsExtractor, tmp_path: Path) -> None:
    from zoo.config.spec import DataSpec
    from zoo.data.prepare import prepare

    prepared = prepare(DataSpec(prepared=str(tmp_path)))  # the defaults the recipe copies: 16x16, grey, 0.8/0.1/0.1, seed 0
    for k, split in enumerate(("train", "val", "test")):
        np.testing.assert_array_equal(prepared.images(split), split_images(digits_extractor, k))


def test_digits_extractor_takes_any_size_and_rgb(digits_extractor: DigitsExtractor) -> None:
    grey = torch.from_numpy(split_images(digits_extractor, 2)[:64].copy())
    rgb32 = to_float_images(grey, size=32, channels=3).round().to(torch.uint8)
    with torch.inference_mode():
        f_grey, logits_grey = digits_extractor.extract(grey)
        f_rgb, logits_rgb = digits_extractor.extract(rgb32)
    assert f_grey.shape == f_rgb.shape == (64, digits_extractor.num_features) and logits_rgb.shape == (64, 10)
    assert (logits_grey.argmax(1) == logits_rgb.argmax(1)).float().mean() >= 0.9


def test_to_float_images_converts_channels_and_size() -> None:
    rgb = torch.tensor([[[[255]], [[0]], [[0]]]], dtype=torch.uint8)  # one red pixel
    assert to_float_images(rgb, size=None, channels=1).item() == pytest.approx(0.299 * 255)
    grey = torch.full((2, 1, 8, 8), 7, dtype=torch.uint8)
    out = to_float_images(grey, size=16, channels=3)
    assert out.shape == (2, 3, 16, 16) and torch.allclose(out, torch.full_like(out, 7.0))
    with pytest.raises(ValueError, match="uint8"):
        to_float_images(grey.float(), size=None, channels=1)


# -- eval mode and torchmetrics ----------------------------------------------------------------
def test_extractor_stays_in_eval_mode(digits_extractor: DigitsExtractor) -> None:
    assert not digits_extractor.training
    digits_extractor.train()  # refused: dropout would make scores depend on luck
    assert not any(m.training for m in digits_extractor.modules())
    x = torch.from_numpy(split_images(digits_extractor, 1)[:8].copy())
    with torch.inference_mode():
        assert torch.equal(digits_extractor(x), digits_extractor(x))


class PlainModule(nn.Module):
    """What a plugin may register: a bare module with ``num_features``, in train mode, with dropout."""

    num_features = 4

    def __init__(self) -> None:
        super().__init__()
        self.drop, self.linear = nn.Dropout(0.5), nn.Linear(64, 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(self.drop(images.float().flatten(1) / 255))


def test_a_plain_module_is_adapted_and_put_in_eval_mode() -> None:
    module = PlainModule().train()
    extractor = as_extractor(module, "plain")
    assert not module.training and extractor.num_classes is None and extractor.name == "plain"
    features, logits = extractor.extract(torch.zeros(3, 1, 8, 8, dtype=torch.uint8))
    assert features.shape == (3, 4) and logits is None
    with pytest.raises(UserError, match="does not classify"):
        extractor.logits(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))


def test_torchmetrics_takes_the_extractor_for_fid_and_its_logits_for_is(digits_extractor: DigitsExtractor) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore as TorchmetricsIS

    real, fake = split_images(digits_extractor, 2), split_images(digits_extractor, 1)
    fid = FrechetInceptionDistance(feature=digits_extractor)
    fid.update(torch.from_numpy(real.copy()), real=True)
    fid.update(torch.from_numpy(fake.copy()), real=False)
    real_f, fake_f = extract_features(digits_extractor, real), extract_features(digits_extractor, fake)
    assert FID().compute(real_f, fake_f)["fid"] == pytest.approx(float(fid.compute()), rel=1e-4)

    with pytest.warns(UserWarning, match="save all extracted features"):
        inception_score = TorchmetricsIS(feature=digits_extractor.as_logits())
    inception_score.update(torch.from_numpy(fake.copy()))
    torch.manual_seed(0)
    mean, _ = inception_score.compute()
    assert InceptionScore(seed=0).compute(None, fake_f)["is"] == pytest.approx(float(mean), rel=1e-4)


# -- inception ---------------------------------------------------------------------------------
def test_missing_inception_weights_say_where_to_put_them(
    registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UserError) as err:
        registry.create("feature", "inception")
    message = str(err.value)
    assert INCEPTION_WEIGHTS in message and f"${INCEPTION_ENV}" in message and INCEPTION_URL in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / INCEPTION_WEIGHTS) in message
    assert cli.main(["features", "inception", "--info"]) == 2
    assert INCEPTION_WEIGHTS in capsys.readouterr().err


def test_inception_weights_variable_pointing_nowhere_is_named(registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(UserError, match="no such file"):
        registry.create("feature", "inception")


def test_a_file_that_is_not_inception_weights_is_refused(registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    monkeypatch.setenv(INCEPTION_ENV, str(wrong))
    with pytest.raises(UserError, match="is not the FID Inception-v3 weights"):
        registry.create("feature", "inception")


def test_zoo_features_lists_the_extractors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["features"]) == 0
    out = capsys.readouterr().out
    assert "inception" in out and "digits" in out


def test_zoo_features_info_prints_recipe_and_accuracy(digits_extractor: DigitsExtractor, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert cli.main(["features", "digits", "--info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["recipe_hash"] == DigitsRecipe().hash() and info["weights"] == str(digits_extractor.path)
    assert info["sha256"] == digits_extractor.stats["sha256"] and info["trained_with"]["threads"] >= 1
    assert info["parameters"] == sum(p.numel() for p in digits_extractor.parameters()) and info["test_accuracy"] >= 0.97
