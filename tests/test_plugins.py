"""Plugin discovery through real entry points: built-ins, broken plugins, collisions, blocking."""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

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
