"""zoo.testing's conformance kit: every registered component (installed plugins included) passes the
check of its kind, and a component breaking a clause fails with the component and the clause named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo.contract
import zoo.testing
from tests.test_data_sources import colour_of, exists_only, make_celeba, make_flowers, solid
from zoo.data.sources import Digits
from zoo.errors import UserError
from zoo.models.unet import build_unet
from zoo.models.vae import build_vae
from zoo.plugins import get_registry
from zoo.testing import ContractError

COMPONENTS = [(c.kind, c.name) for c in get_registry().list()]


def dataset_root(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """A tiny copy of the files a built-in dataset reads (None: it needs none, or it is a plugin's)."""
    if name == "imagefolder":
        for k in range(4):
            solid(tmp_path / f"class{k % 2}" / f"{k}.png", colour_of(k))
    elif name == "flowers102":
        monkeypatch.setattr("torchvision.datasets.flowers102.check_integrity", exists_only)
        make_flowers(tmp_path)
    elif name == "celeba":
        monkeypatch.setattr("torchvision.datasets.celeba.check_integrity", exists_only)
        make_celeba(tmp_path)
    else:
        return None
    return str(tmp_path)


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[f"{k}-{n}" for k, n in COMPONENTS])
def test_every_registered_component_honours_its_contract(
    kind: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    component = get_registry().get(kind, name)
    try:
        if kind == "dataset":
            zoo.testing.check_component(component, root=dataset_root(name, tmp_path, monkeypatch))
        else:
            zoo.testing.check_component(component)
    except UserError as err:  # files or weights zoo never downloads, e.g. the Inception weights
        pytest.skip(f"{kind} '{name}' needs files not on this machine: {err}")


# -- the kit catches broken components -----------------------------------------------------------
class WrongWidthBlock(nn.Module):
    def __init__(self, dim_in, dim_out, *, time_emb_dim=None, act=None, groups=8):  # noqa: ANN001
        super().__init__()
        self.conv = nn.Conv2d(dim_in, dim_in, 3, padding=1)
        self.act = act() if act else nn.SiLU()

    def forward(self, x, t_emb):  # noqa: ANN001, ANN201
        return self.act(self.conv(x))


def unseeded_sampler(model, diffusion, shape, *, steps, generator=None, progress=False, **options):  # noqa: ANN001, ANN201
    return torch.rand(shape) * 2 - 1


def sampler_reading_internals(model, diffusion, shape, *, steps, generator=None, progress=False, **options):  # noqa: ANN001, ANN201
    diffusion.loss_type  # noqa: B018 - not part of the Diffusion contract
    return torch.zeros(shape)


class MiscreditedDigits(Digits):
    attribution = 42  # the credit line must be text


class NamelessSource:
    def __len__(self) -> int:
        return 1

    def load(self, i: int):  # noqa: ANN201
        from PIL import Image

        return Image.new("L", (8, 8)), None


class IntMetric:
    def compute(self, real, fake):  # noqa: ANN001, ANN201
        return {"score": "high"}


def two_commands(subparsers):  # noqa: ANN001, ANN201
    subparsers.add_parser("hello").set_defaults(run=lambda args: 0)
    subparsers.add_parser("hi").set_defaults(run=lambda args: 0)


def command_without_run(subparsers):  # noqa: ANN001, ANN201
    subparsers.add_parser("norun")  # `zoo norun` would only print the help


class HookWithoutCheckpointPoint:
    """A hook written without subclassing zoo.contract.TrainingHook, forgetting before_checkpoint."""

    def __init__(self, spec) -> None:  # noqa: ANN001
        pass

    def on_start(self, run, state) -> None:  # noqa: ANN001
        pass

    def before_step(self, run, state) -> None:  # noqa: ANN001
        pass

    def after_step(self, run, state, loss) -> None:  # noqa: ANN001
        pass

    def on_end(self, run, state) -> None:  # noqa: ANN001
        pass


@pytest.mark.parametrize(
    ("check", "factory", "message"),
    [
        (zoo.testing.check_block, WrongWidthBlock, r"block 'WrongWidthBlock' breaks Block .*output has shape \(2, 8, 8, 6\), expected \(2, 12, 8, 6\)"),
        (zoo.testing.check_attention, lambda dim, **kw: nn.Conv2d(dim, 1, 1), r"attention '.*' breaks Attention.forward .*shape"),
        (zoo.testing.check_norm, lambda dim, fn: nn.GroupNorm(1, dim), r"breaks Norm: the wrapped fn must be a sub-module"),
        (zoo.testing.check_activation, lambda: nn.Softmax(dim=-1), r"breaks Activation.forward: it must act elementwise"),
        (zoo.testing.check_time_embedding, lambda dim: nn.Linear(1, dim), r"breaks TimeEmbedding.out_dim|breaks TimeEmbedding"),
        (zoo.testing.check_schedule, lambda t: torch.linspace(1e-4, 0.02, t), r"breaks ScheduleFactory\(50\): betas must be float64"),
        (zoo.testing.check_sampler, unseeded_sampler, r"breaks SamplerFactory: the same generator seed must give the same images"),
        (zoo.testing.check_sampler, sampler_reading_internals, r"used diffusion.loss_type, which Diffusion does not offer"),
        (zoo.testing.check_dataset, lambda root, download: NamelessSource(), r"NamelessSource lacks __len__, load or item_name"),
        (zoo.testing.check_dataset, lambda root, download: MiscreditedDigits(), r"breaks DatasetSource.attribution: must be a non-empty str or None, got 42"),
        (zoo.testing.check_feature, lambda: nn.Flatten(), r"breaks FeatureExtractor: Flatten lacks a member of FeatureExtractor"),
        (zoo.testing.check_feature, lambda: BareExtractor(batch_size=0), r"breaks FeatureExtractor.batch_size: must be a positive int, got 0"),
        (zoo.testing.check_metric, IntMetric, r"metric 'IntMetric' breaks Metric.compute: must map names to finite floats"),
        (zoo.testing.check_command, two_commands,
         r"command 'two_commands' breaks CommandFactory\(subparsers\): must add exactly one sub-command, added \['hello', 'hi'\]"),
        (zoo.testing.check_command, command_without_run,
         r"command 'command_without_run' breaks CommandFactory\(subparsers\): must call set_defaults\(run=fn\)"),
        (zoo.testing.check_training_hook, HookWithoutCheckpointPoint,
         r"training_hook 'HookWithoutCheckpointPoint' breaks TrainingHook.before_checkpoint: must be a method"),
        (zoo.testing.check_training_hook, lambda spec: object(), r"breaks TrainingHook.on_start: must be a method \(subclass zoo.contract.TrainingHook"),
    ],
)
def test_a_broken_component_fails_naming_component_and_clause(check, factory, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ContractError, match=message):
        check(factory)


def one_command(subparsers):  # noqa: ANN001, ANN201
    subparsers.add_parser("hi").set_defaults(run=lambda args: 0)


class FailingHook(zoo.contract.TrainingHook):
    def __init__(self, spec) -> None:  # noqa: ANN001
        pass

    def after_step(self, run, state, loss) -> None:  # noqa: ANN001
        raise RuntimeError(f"no step {state.step}")


def test_what_a_command_or_hook_declares_or_does_is_checked_against_its_registration() -> None:
    zoo.testing.check_command(one_command, name="hi", declarations={"order": 95})
    with pytest.raises(ContractError, match=r"command 'hello' breaks CommandFactory\(subparsers\): must add the sub-command 'hello' it is registered as, added \['hi'\]"):
        zoo.testing.check_command(one_command, name="hello")
    with pytest.raises(ContractError, match=r"command 'hello' breaks CommandFactory\(subparsers\): must add exactly one sub-command, added \['hello', 'hi'\]"):
        zoo.testing.check_command(two_commands, name="hello")  # the message docs/plugins.md quotes
    with pytest.raises(ContractError, match=r"command 'hi' breaks the declaration order: must be a number, got 'first'"):
        zoo.testing.check_command(one_command, name="hi", declarations={"order": "first"})
    with pytest.raises(ContractError, match=r"training_hook 'failing' breaks TrainingHook in a two-step run: .*RuntimeError: no step 1"):
        zoo.testing.check_training_hook(FailingHook, name="failing")
    with pytest.raises(ContractError, match=r"block 'WrongWidthBlock' breaks .*default_activation: must be a registered activation name, got 3"):
        zoo.testing.check_block(WrongWidthBlock, declarations={"default_activation": 3})


class TwoChannelNet(nn.Module):
    def __init__(self, spec) -> None:  # noqa: ANN001
        super().__init__()
        self.conv = nn.Conv2d(spec.channels, 2, 1)

    def forward(self, x, t):  # noqa: ANN001, ANN201
        return self.conv(x)


def test_a_model_ignoring_its_spec_fails() -> None:
    with pytest.raises(ContractError, match=r"model 'mine' breaks DenoisingModel.forward\(x, t\): output has shape \(3, 2, 8, 8\)"):
        zoo.testing.check_model(TwoChannelNet, name="mine")
    with pytest.raises(ContractError, match=r"model 'conv' breaks DenoisingModel.forward\(x, t\): calling it with .* raised TypeError"):
        zoo.testing.check_model(lambda spec: nn.Conv2d(spec.channels, 1, 1), name="conv")


def test_a_denoiser_declared_self_sampling_fails() -> None:
    """Declared self-sampling, its runs would drop the diffusion settings it trains with: caught before that."""
    with pytest.raises(ContractError, match=r"model 'unet' breaks ModelFactory self_sampling=True: declared self-sampling.*built a Unet without"):
        zoo.testing.check_model(build_unet, name="unet", declarations={"self_sampling": True})
    zoo.testing.check_model(build_vae, name="vae", declarations={"self_sampling": True})


# -- a feature extractor with nothing but the required members -------------------------------------
class BareExtractor(nn.Module):
    """The least a feature extractor may be: ``num_features`` and ``forward``; no ``batch_size``, ``name``,
    ``num_classes`` or ``logits`` unless given. Records the size of every batch it sees."""

    num_features = 4

    def __init__(self, **optional_attributes: object) -> None:
        super().__init__()
        self.__dict__.update(optional_attributes)
        self.batches: list[int] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(images))
        return nn.functional.adaptive_avg_pool2d(images.float().mean(1, keepdim=True), 2).flatten(1)


def test_an_extractor_with_only_the_required_members_scores_with_the_documented_defaults() -> None:
    from tests.test_evaluate import random_images, stand_in
    from zoo.contract import OPTIONAL
    from zoo.metrics.evaluate import SAMPLES, evaluate

    zoo.testing.check_feature(BareExtractor)
    bare = BareExtractor()
    result = evaluate(random_images(70, 0), stand_in(6), feature=bare, metrics=("fid", "is"), references=False)
    assert result.feature == "BareExtractor"  # no name: the class name
    assert bare.batches[-2:] == [OPTIONAL["feature"]["batch_size"], 70 - OPTIONAL["feature"]["batch_size"]]  # the samples
    assert result.skipped["is"] and "is" not in result.row(SAMPLES).values  # no logits: IS skipped, saying why
    assert math.isfinite(result.row(SAMPLES).values["fid"])

    zoo.testing.check_feature(lambda: BareExtractor(batch_size=32, name="mine"))
    declared = BareExtractor(batch_size=32, name="mine")
    assert evaluate(random_images(70, 0), stand_in(6), feature=declared, metrics=("fid",), references=False).feature == "mine"
    assert declared.batches[-3:] == [32, 32, 6]


def test_an_extractor_with_a_broken_batch_size_is_one_line() -> None:
    from zoo.metrics.extractor import as_extractor

    with pytest.raises(UserError, match=r"feature extractor 'odd' has batch_size 'many'; it must be a positive integer"):
        as_extractor(BareExtractor(batch_size="many"), "odd")
