"""The third-party plugin in plugins/zoo-extras, installed for real by the README's test command."""

from __future__ import annotations

from importlib import metadata

import pytest
import torch

import zoo
from tests.test_cli_foundation import zoo_cli


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    try:
        metadata.distribution("zoo-extras")
    except metadata.PackageNotFoundError:
        pytest.fail("zoo-extras is not installed: run `pip install -e plugins/zoo-extras` (the README's test command does)")


def test_extras_appear_in_zoo_list() -> None:
    result = zoo_cli("list", "--json")
    assert result.returncode == 0
    assert '"name": "nafnet"' in result.stdout and '"distribution": "zoo-extras"' in result.stdout
    assert '"name": "squareplus"' in result.stdout


def test_extras_block_and_activation_build_inside_the_unet() -> None:
    model = zoo.create_model("unet", channels=3, image_size=8, dim=8, dim_mults=(1, 2), block="nafnet",
                             activation="squareplus", groups=4)
    assert any(type(m).__name__ == "NAFBlock" for m in model.modules())
    x = torch.randn(2, 3, 8, 8)
    out = model(x, torch.tensor([1, 2]))
    out.mean().backward()
    assert out.shape == x.shape


def test_extras_disappear_when_blocked() -> None:
    result = zoo_cli("list", "block", "--json", env={"ZOO_DISABLE_PLUGINS": "extras"})
    assert result.returncode == 0 and "nafnet" not in result.stdout and "convnext" in result.stdout
    result = zoo_cli("describe", "--set", "model.block=nafnet", env={"ZOO_DISABLE_PLUGINS": "zoo-extras"})
    assert result.returncode == 2 and "unknown block 'nafnet'" in result.stderr
