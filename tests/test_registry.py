"""The registry: adding, looking up, listing with wildcards, and the errors a user sees."""

from __future__ import annotations

import pytest
from torch import nn

from zoo.errors import UserError
from zoo.registry import DuplicateComponentError, Registry, UnknownComponentError


def test_add_get_create_and_help_defaults_to_docstring() -> None:
    reg = Registry()
    reg.add("activation", "relu", nn.ReLU, help="ReLU")

    def mish() -> nn.Module:
        """Mish activation.

        More text."""
        return nn.Mish()

    reg.add("activation", "mish", mish)
    assert reg.get("activation", "mish").help == "Mish activation."
    assert isinstance(reg.create("activation", "relu"), nn.ReLU)
    assert reg.names("activation") == ["mish", "relu"]


def test_unknown_name_suggests_closest_and_the_listing_command() -> None:
    reg = Registry()
    reg.add("block", "convnext", object)
    reg.add("block", "resnet", object)
    with pytest.raises(UnknownComponentError) as info:
        reg.get("block", "convnxt")
    message = str(info.value)
    assert "unknown block 'convnxt'" in message
    assert "did you mean 'convnext'" in message
    assert "`zoo list block`" in message
    assert isinstance(info.value, UserError)


def test_duplicate_name_names_both_plugins() -> None:
    reg = Registry()
    with reg.registering_as("first", "dist-a"):
        reg.add("block", "resnet", object)
    with pytest.raises(DuplicateComponentError, match=r"'first' \(dist-a\).*'second' \(dist-b\)"):
        with reg.registering_as("second", "dist-b"):
            reg.add("block", "resnet", object)


def test_failing_plugin_registration_is_rolled_back() -> None:
    reg = Registry()
    with pytest.raises(RuntimeError):
        with reg.registering_as("half", "dist"):
            reg.add("activation", "a", nn.ReLU)
            raise RuntimeError("boom")
    assert ("activation", "a") not in reg


def test_list_filters_by_kind_and_wildcard() -> None:
    reg = Registry()
    for name in ("convnext", "conv_small", "resnet"):
        reg.add("block", name, object)
    reg.add("activation", "relu", object)
    assert [c.name for c in reg.list("block", "conv*")] == ["conv_small", "convnext"]
    assert [c.name for c in reg.list(pattern="*e*")] == ["relu", "convnext", "resnet"]
    with pytest.raises(UnknownComponentError, match="did you mean 'block'"):
        reg.list("blocks")


def test_bad_kind_and_factory_are_rejected() -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="unknown component kind 'blok'"):
        reg.add("blok", "x", object)
    with pytest.raises(TypeError, match="must be callable"):
        reg.add("block", "x", 3)


def test_declarations_are_given_at_registration_and_default_to_the_contract() -> None:
    reg = Registry()
    reg.add("block", "declared", object, default_activation="gelu")
    reg.add("block", "silent", object)
    reg.add("dataset", "mirror_means_something", object, flip_invariant=False)
    reg.add("command", "hello", lambda subparsers: None, order=95)
    assert reg.get("block", "declared").declared("default_activation") == "gelu"
    assert reg.get("block", "silent").declared("default_activation") is None  # DECLARATIONS' default
    assert reg.get("dataset", "mirror_means_something").declared("flip_invariant") is False
    assert reg.get("command", "hello").declared("order") == 95
    assert reg.get("block", "declared").declarations == {"default_activation": "gelu"}


def test_a_declaration_on_the_factory_is_read_when_none_is_registered() -> None:
    """How plugins written before declarations existed said it; a registered declaration wins."""

    class OldBlock(nn.Module):
        default_activation = "mish"

    reg = Registry()
    reg.add("block", "old", OldBlock)
    reg.add("block", "both", OldBlock, default_activation="relu")
    assert reg.get("block", "old").declared("default_activation") == "mish"
    assert reg.get("block", "both").declared("default_activation") == "relu"


def test_an_unknown_declaration_is_refused_naming_what_the_kind_may_declare() -> None:
    reg = Registry()
    with pytest.raises(TypeError, match=r"block 'plain': unknown declaration validate; a block may declare "
                                        r"default_activation \(zoo.contract.DECLARATIONS\)"):
        reg.add("block", "plain", object, validate=print)
    with pytest.raises(TypeError, match=r"activation 'x': unknown declaration order; an? activation may declare nothing"):
        reg.add("activation", "x", nn.ReLU, order=1)
    assert ("block", "plain") not in reg and ("activation", "x") not in reg
