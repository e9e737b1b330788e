"""Discovers plugins through the ``zoo`` entry-point group and lets each fill the registry.

Built-ins and third parties take the same path (as in simonw/llm and tox), so the third-party path
runs on every invocation. A broken plugin is reported as a warning and dropped, never fatal:
one bad ``pip install`` must not take the whole zoo down.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import metadata

import pluggy

from zoo import hookspecs
from zoo.registry import Registry

DISABLE_ENV = "ZOO_DISABLE_PLUGINS"
GROUP = hookspecs.PROJECT


class ZooPluginWarning(UserWarning):
    """A plugin failed to import or to register; it was dropped and zoo carried on."""


@dataclass(frozen=True)
class PluginInfo:
    name: str  # entry-point name
    distribution: str
    version: str
    module: str
    status: str  # "loaded", "disabled" or "failed: <error>"


def _disabled() -> set[str]:
    return {p.strip() for p in os.environ.get(DISABLE_ENV, "").split(",") if p.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    # Walk distributions ourselves: ``metadata.entry_points(group=...)`` keeps one entry point per
    # name, so two plugins that both chose a common name ("plugin") would silently shadow each other.
    seen: set[str] = set()
    eps = []
    for dist in metadata.distributions():
        key = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if key in seen:  # the first on sys.path wins, as for imports
            continue
        seen.add(key)
        eps.extend(ep for ep in dist.entry_points if ep.group == GROUP)
    # zoo's own plugins first, so a third-party name collision is blamed on the newcomer.
    return sorted(eps, key=lambda ep: (_dist_name(ep) != "zoo", _dist_name(ep), ep.name))


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "<unknown>"


def _dist_version(ep: metadata.EntryPoint) -> str:
    return ep.dist.version if ep.dist is not None else "?"


def _report(plugin: str, dist: str, what: str, err: BaseException) -> str:
    """Warn about a dropped plugin; return the short error for ``zoo list --plugins``."""
    error = f"{type(err).__name__}: {err}"
    warnings.warn(f"plugin '{plugin}' ({dist}) {what}: {error}; it was skipped", ZooPluginWarning, stacklevel=3)
    return error


def load_registry(entry_points: list[metadata.EntryPoint] | None = None) -> tuple[Registry, list[PluginInfo]]:
    """A fresh registry filled by every enabled plugin, and a report on each plugin."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    disabled = _disabled()
    infos: list[PluginInfo] = []
    for ep in _entry_points() if entry_points is None else entry_points:
        dist, version = _dist_name(ep), _dist_version(ep)
        if ep.name in disabled or dist in disabled:
            infos.append(PluginInfo(ep.name, dist, version, ep.value, "disabled"))
            continue
        stage = "failed to load"
        try:
            module = ep.load()
            stage = "failed to register"
            pm.register(module, name=f"{dist}:{ep.name}")
            with registry.registering_as(ep.name, dist):
                for impl in pm.hook.zoo_register.get_hookimpls():
                    if impl.plugin is module:
                        impl.function(registry=registry)
        except Exception as err:  # noqa: BLE001 - any plugin failure is reported, never fatal
            infos.append(PluginInfo(ep.name, dist, version, ep.value, f"failed: {_report(ep.name, dist, stage, err)}"))
            continue
        infos.append(PluginInfo(ep.name, dist, version, ep.value, "loaded"))
    return registry, infos


_cache: tuple[Registry, list[PluginInfo]] | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    return _loaded()[0]


def installed(registry: Registry | None) -> Registry:
    """``registry``, or the installed plugins' when None: the default of the public Python functions that take
    a registry (for scripts and notebooks). zoo's own code paths always hand theirs over."""
    return registry if registry is not None else _loaded()[0]


def plugin_infos() -> list[PluginInfo]:
    return _loaded()[1]


def _loaded() -> tuple[Registry, list[PluginInfo]]:
    global _cache
    if _cache is None:
        _cache = load_registry()
    return _cache


def reset() -> None:
    """Forget the loaded registry (after installing a plugin or changing ``ZOO_DISABLE_PLUGINS``)."""
    global _cache
    _cache = None
