"""Plugin discovery through real entry points: built-ins, broken plugins and commands, collisions, blocking,
and plugins written before zoo.contract."""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import torch

from zoo.plugins import ZooPluginWarning, load_registry


def _install_fake_distribution(root: Path, name: str, module_source: str, entry: str = "plugin") -> None:
    """A real (if minimal) installed distribution on sys.path: dist-info + entry_points.txt + module."""
    module = f"{name.replace('-', '_')}_mod"
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{entry} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [m for m in sys.modules if m.endswith("_mod") and m.startswith("fake")]:
        del sys.modules[mod]


def test_builtins_register_through_entry_points() -> None:
    registry, infos = load_registry()
    assert {i.distribution for i in infos if i.status == "loaded"} >= {"zoo"}
    for kind, name in [("block", "resnet"), ("block", "convnext"), ("attention", "linear"), ("attention", "full"),
                       ("attention", "none"), ("norm", "pre"), ("norm", "post"), ("activation", "relu"),
                       ("activation", "silu"), ("activation", "gelu"), ("activation", "mish"),
                       ("time_embedding", "sinusoidal"), ("time_embedding", "none"), ("model", "unet"),
                       ("model", "vae")]:
        component = registry.get(kind, name)
        assert component.distribution == "zoo"
        assert component.help


def test_broken_plugins_warn_and_everything_else_works(site: Path) -> None:
    _install_fake_distribution(site, "fake-import", "raise ImportError('missing dependency xyz')\n")
    _install_fake_distribution(site, "fake-hook", """
        import zoo
        @zoo.hookimpl
        def zoo_register(registry):
            registry.add("activation", "half_done", object)
            raise RuntimeError("hook exploded")
    """)
    with pytest.warns(ZooPluginWarning) as caught:
        registry, infos = load_registry()
    messages = " ".join(str(w.message) for w in caught)
    assert "fake-import" in messages and "missing dependency xyz" in messages
    assert "fake-hook" in messages and "hook exploded" in messages
    assert ("activation", "half_done") not in registry  # rolled back
    assert ("block", "convnext") in registry
    status = {i.distribution: i.status for i in infos}
    assert status["fake-import"].startswith("failed") and status["fake-hook"].startswith("failed")


def test_name_collision_is_an_error_naming_both_plugins(site: Path) -> None:
    _install_fake_distribution(site, "fake-collide", """
        import zoo
        @zoo.hookimpl
        def zoo_register(registry):
            registry.add("block", "resnet", object)
    """)
    with pytest.warns(ZooPluginWarning, match=r"block 'resnet' is registered twice: by plugin 'blocks' \(zoo\) "
                                              r"and by plugin 'plugin' \(fake-collide\)"):
        registry, _ = load_registry()
    assert registry.get("block", "resnet").distribution == "zoo"


def test_disable_by_entry_point_or_distribution(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_distribution(site, "fake-good", """
        import zoo
        @zoo.hookimpl
        def zoo_register(registry):
            registry.add("activation", "fake_act", object, help="fake")
    """, entry="goodplugin")
    registry, _ = load_registry()
    assert registry.get("activation", "fake_act").distribution == "fake-good"
    for blocked in ("goodplugin", "fake-good"):
        monkeypatch.setenv("ZOO_DISABLE_PLUGINS", f"something, {blocked}")
        registry, infos = load_registry()
        assert ("activation", "fake_act") not in registry
        assert {i.distribution: i.status for i in infos}["fake-good"] == "disabled"


def test_entry_point_group_is_zoo() -> None:
    names = {ep.name for ep in metadata.entry_points(group="zoo") if ep.dist and ep.dist.name == "zoo"}
    assert {"blocks", "attention", "norms", "activations", "embeddings", "unet"} <= names


def test_a_plugin_written_before_the_contract_module_still_works(site: Path) -> None:
    """Declarations as factory attributes, a model factory of one parameter, names imported from zoo.hookspecs."""
    _install_fake_distribution(site, "fake-old", """
        from torch import nn

        import zoo
        from zoo.errors import UserError
        from zoo.hookspecs import MetricColumn, TrainingHook

        class OldNet(nn.Module):
            def __init__(self, spec):
                super().__init__()
                self.conv = nn.Conv2d(spec.channels, spec.channels, 3, padding=1)

            def forward(self, x, t):
                return self.conv(x)

        def validate(spec):
            if spec.options.get("width", 1) < 1:
                raise UserError("oldnet needs a positive width")

        OldNet.validate = validate

        @zoo.hookimpl
        def zoo_register(registry):
            registry.add("model", "oldnet", OldNet, help="old-style model")
    """)
    import zoo.contract
    import zoo.hookspecs
    from zoo.config.resolve import resolve
    from zoo.config.spec import from_dict
    from zoo.errors import UserError

    registry, infos = load_registry()
    assert {i.distribution: i.status for i in infos}["fake-old"] == "loaded"
    spec = {"data": {"dataset": "digits", "size": 8, "channels": 1}, "model": {"name": "oldnet"}}
    model = resolve(from_dict(spec), registry).build_model()  # called with the spec alone
    assert model(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)).shape == (2, 1, 8, 8)
    with pytest.raises(UserError, match="oldnet needs a positive width"):  # the attribute is read as the declaration
        resolve(from_dict({**spec, "model": {"name": "oldnet", "options": {"width": 0}}}), registry)
    assert sys.modules["fake_old_mod"].TrainingHook is zoo.contract.TrainingHook
    with pytest.raises(AttributeError, match="module 'zoo.hookspecs' has no attribute 'NoSuchThing'"):
        zoo.hookspecs.NoSuchThing  # noqa: B018


def test_a_command_that_fails_to_add_its_parser_is_skipped_and_zoo_still_works() -> None:
    from zoo.cli import build_parser

    def broken(subparsers):  # noqa: ANN001, ANN202
        raise RuntimeError("no parser today")

    registry, _ = load_registry()
    with registry.registering_as("plugin", "fake-cmd"):
        registry.add("command", "broken", broken, help="fails")
    with pytest.warns(UserWarning, match=r"command 'broken' \(plugin plugin, fake-cmd\) failed to add its parser: "
                                         r"RuntimeError: no parser today; it was skipped"):
        parser = build_parser(registry)
    args = parser.parse_args(["list", "command"])
    assert args.run is not None and args.kind == "command"
    with pytest.raises(SystemExit):
        parser.parse_args(["broken"])
