"""The third-party plugin in plugins/zoo-timm: timm's attention and activations as zoo components.

What a user of it relies on: every component honours zoo's contract, none mixes the images of a
batch (no BatchNorm: a diffusion batch holds every noise level), a spec asking a module for a width
or feature side it cannot serve fails when it loads, in one line, every attention trains inside a
tiny U-Net, and ``zoo list`` never imports timm.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("timm", reason="zoo-timm needs timm: pip install -e plugins/zoo-timm")
try:
    metadata.distribution("zoo-timm")
except metadata.PackageNotFoundError:
    pytest.skip("zoo-timm is not installed: run `pip install -e plugins/zoo-timm`", allow_module_level=True)

import zoo  # noqa: E402
import zoo.testing  # noqa: E402
from tests.test_cli_foundation import zoo_cli  # noqa: E402
from tests.test_train import tiny  # noqa: E402 (prepared_root, a fixture, comes from conftest)
from zoo.cli import main  # noqa: E402
from zoo.config.resolve import load_spec  # noqa: E402
from zoo.diffusion.gaussian import GaussianDiffusion  # noqa: E402
from zoo.errors import UserError  # noqa: E402
from zoo.plugins import get_registry  # noqa: E402
from zoo.train import train  # noqa: E402

REGISTRY = get_registry()
TIMM = [(c.kind, c.name) for c in REGISTRY.list() if c.distribution == "zoo-timm"]
ATTENTION = [name for kind, name in TIMM if kind == "attention"]
TINY = dict(channels=1, image_size=8, dim=8, dim_mults=(1, 2), heads=2, dim_head=8, groups=4)


def is_batch_norm(module: nn.Module) -> bool:
    """Written here, not imported from the plugin: the test must not trust the code it checks."""
    return isinstance(module, nn.modules.batchnorm._BatchNorm) or "batchnorm" in type(module).__name__.lower()


def test_the_promised_components_are_registered() -> None:
    promised = {"se", "eca", "gc", "cbam", "coord", "ge", "lambda", "attention2d"}
    assert {f"timm_{n}" for n in promised} <= set(ATTENTION)
    activations = {name for kind, name in TIMM if kind == "activation"}
    assert {f"timm_{n}" for n in ("mish", "hard_swish", "gelu_tanh", "quick_gelu", "selu", "celu")} <= activations
    assert all(name.startswith("timm_") for _, name in TIMM)
    assert not [name for kind, name in TIMM if kind not in ("attention", "activation")]  # no norm: see docs/plugins.md


@pytest.mark.parametrize(("kind", "name"), TIMM, ids=[f"{k}-{n}" for k, n in TIMM])
def test_every_timm_component_passes_the_conformance_kit(kind: str, name: str) -> None:
    zoo.testing.check_component(REGISTRY.get(kind, name))


@pytest.mark.parametrize("name", ATTENTION)
@pytest.mark.parametrize(("dim", "heads", "dim_head"), [(16, 2, 8), (32, 4, 32)])
def test_no_batch_norm_inside_and_no_image_sees_another(name: str, dim: int, heads: int, dim_head: int) -> None:
    layer = REGISTRY.create("attention", name, dim, heads=heads, dim_head=dim_head).train()
    assert not [type(m).__name__ for m in layer.modules() if is_batch_norm(m)]
    x = torch.randn(4, dim, 8, 8)
    together = layer(x)
    alone = torch.cat([layer(x[i : i + 1]) for i in range(len(x))])  # in training mode, where BatchNorm would mix
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_batch_norm_is_replaced_keeping_scale_shift_and_activation() -> None:
    from timm.layers import ConvNormAct
    from zoo_timm.batchnorm import without_batch_norm

    block = ConvNormAct(4, 6, 3, act_layer=nn.ReLU)
    with torch.no_grad():
        block.bn.weight.fill_(2.0)
        block.bn.bias.fill_(0.5)
    out = without_batch_norm(block)
    assert isinstance(out.bn, nn.GroupNorm) and out.bn.num_groups == 1
    assert torch.equal(out.bn.weight, torch.full((6,), 2.0)) and isinstance(out.bn.act, nn.ReLU)
    assert (out(torch.randn(2, 4, 5, 5)) >= 0).all()  # the fused ReLU still runs
    with pytest.raises(TypeError, match="BatchNorm1d"):
        without_batch_norm(nn.Sequential(nn.BatchNorm1d(4)))  # no silent pass for a norm it cannot replace


def test_modules_that_had_batch_norm_now_have_group_norm() -> None:
    for name in ("timm_cbam", "timm_coord", "timm_lambda", "timm_nl", "timm_sk"):
        layer = REGISTRY.create("attention", name, 16, heads=2, dim_head=8)
        assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in layer.modules()), name
    nl = REGISTRY.create("attention", "timm_nl", 16, heads=2, dim_head=8)
    x = torch.randn(2, 16, 4, 4)
    torch.testing.assert_close(nl(x), x)  # timm zero-initialises the non-local output scale; the copy keeps it


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["model.attention=timm_lambda", "model.heads=3"], ["timm_lambda", "model.heads=3", "LambdaLayer"]),
        (["model.mid_attention=timm_attention2d", "model.heads=5"], ["mid_attention", "timm_attention2d"]),
        (["model.attention=timm_halo", "model.dim_mults=[1,2,4,8]"], ["timm_halo", "at 1x1", "2x2 blocks"]),
        (["model.attention=timm_sk", "model.dim=9", "model.groups=3"], ["timm_sk", "9 channels", "kernel paths"]),
    ],
)
def test_a_size_or_width_a_module_cannot_serve_fails_at_load_in_one_line(overrides: list[str], words: list[str]) -> None:
    with pytest.raises(UserError) as err:
        load_spec(None, ["data.size=8", *overrides])
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_the_cli_refuses_it_with_exit_code_2_and_no_traceback() -> None:
    result = zoo_cli("describe", "--set", "data.size=8", "--set", "model.attention=timm_halo",
                     "--set", "model.dim_mults=[1,2,4,8]")  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "timm_halo" in result.stderr and "2x2 blocks" in result.stderr


def test_sizes_a_module_can_serve_load() -> None:
    spec = load_spec(None, ["data.size=8", "model.attention=timm_halo", "model.mid_attention=timm_lambda",
                            "model.heads=4"])  # fmt: skip
    assert spec.model.attention == "timm_halo"


@pytest.mark.parametrize("name", ATTENTION)
def test_a_tiny_unet_with_each_timm_attention_trains_one_step_on_8x8(name: str) -> None:
    model = zoo.create_model("unet", attention=name, mid_attention=name, **TINY)
    diffusion = GaussianDiffusion(torch.linspace(1e-4, 0.02, 50), objective="eps")
    layers = [m for m in model.modules() if type(m).__module__.startswith("timm.")]
    assert layers, f"no timm module inside the U-Net built with {name}"
    before = [p.detach().clone() for m in layers for p in m.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = diffusion.training_loss(model, torch.rand(8, 1, 8, 8) * 2 - 1, generator=torch.Generator().manual_seed(0))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    after = [p.detach() for m in layers for p in m.parameters()]
    assert not before or any(not torch.equal(a, b) for a, b in zip(after, before)), "the timm layers did not train"
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_run_trains_through_zoo_with_timm_parts_named_in_the_spec(tmp_path, prepared_root: str) -> None:  # noqa: ANN001, F811
    spec = load_spec(None, tiny(prepared_root, "model.attention=timm_cbam", "model.mid_attention=timm_lambda",
                                "model.activation=timm_hard_swish", "train.steps=2"))  # fmt: skip
    assert train(spec, tmp_path / "run", progress=False).step == 2
    assert main(["sample", str(tmp_path / "run"), "--n", "4", "--no-progress"]) == 0  # eval mode, through the sampler
    assert np.load(tmp_path / "run" / "samples.npz")["images"].shape == (4, 1, 8, 8)


def test_zoo_list_never_imports_timm() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo", "list", "attention"],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert result.returncode == 0 and "timm_se" in result.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "zoo_timm.attention" in imported and "torch" in imported  # the trace sees the plugin's imports
    assert not [name for name in imported if name == "timm" or name.startswith("timm.")]


def test_blocking_the_plugin_hides_it() -> None:
    result = zoo_cli("describe", "--set", "model.attention=timm_se", env={"ZOO_DISABLE_PLUGINS": "timm"})
    assert result.returncode == 2 and "unknown attention 'timm_se'" in result.stderr
