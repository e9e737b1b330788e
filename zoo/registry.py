"""Kinds -> names -> factories: what every spec string (``block = "convnext"``) resolves through.

Modelled on timm's model registry: names can be listed with shell-style wildcards, and an unknown
name fails with the closest matches and the command that lists them all.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from zoo.contract import DECLARATIONS, declared, with_registry
from zoo.errors import UserError, did_you_mean

#: The kinds zoo itself knows how to use; a plugin may add components to any of them.
KINDS: tuple[str, ...] = (
    "activation",
    "attention",
    "block",
    "command",
    "dataset",
    "feature",
    "metric",
    "model",
    "norm",
    "sampler",
    "schedule",
    "time_embedding",
    "training_hook",
)


class UnknownComponentError(UserError, KeyError):
    """A spec or command named a component that no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(ValueError):
    """Two plugins registered the same (kind, name); the second is refused."""


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    help: str
    plugin: str  # the entry point (or "<runtime>") that registered it
    distribution: str  # the installed distribution that provides the plugin
    declarations: dict[str, Any] = field(default_factory=dict)  # what the factory declared (zoo.contract)

    def declared(self, attr: str) -> Any:
        """A declaration of the factory (:data:`zoo.contract.DECLARATIONS`), or the default zoo assumes."""
        return self.declarations.get(attr, DECLARATIONS[self.kind][attr])


class Registry:
    """Holds every component. Plugins call :meth:`add`; zoo calls :meth:`get` / :meth:`create`."""

    def __init__(self) -> None:
        self._components: dict[tuple[str, str], Component] = {}
        self._plugin = ("<runtime>", "<runtime>")

    # -- writing ------------------------------------------------------------------------------
    def add(self, kind: str, name: str, factory: Callable[..., Any], *, help: str = "",  # noqa: A002
            **declarations: Any) -> None:
        """Register ``factory`` as ``name`` of ``kind``, with what it declares about itself (the kind's
        :data:`zoo.contract.DECLARATIONS`). A (kind, name) taken by another plugin is an error."""
        if kind not in KINDS:
            raise ValueError(f"unknown component kind '{kind}'{did_you_mean(kind, KINDS)} (kinds: {', '.join(KINDS)})")
        if not name or not isinstance(name, str):
            raise ValueError(f"a {kind} needs a non-empty string name, got {name!r}")
        if not callable(factory):
            raise TypeError(f"{kind} '{name}': factory must be callable, got {type(factory).__name__}")
        allowed = DECLARATIONS.get(kind, {})
        unknown = sorted(set(declarations) - set(allowed))
        if unknown:
            raise TypeError(f"{kind} '{name}': unknown declaration {', '.join(unknown)}; {'an' if kind[0] in 'aeiou' else 'a'} {kind} may declare "
                            f"{', '.join(allowed) or 'nothing'} (zoo.contract.DECLARATIONS)")
        key = (kind, name)
        if key in self._components:
            first = self._components[key]
            raise DuplicateComponentError(
                f"{kind} '{name}' is registered twice: by plugin '{first.plugin}' ({first.distribution}) "
                f"and by plugin '{self._plugin[0]}' ({self._plugin[1]})"
            )
        declarations = _normalized(kind, factory, declarations)
        if kind == "model":
            factory = with_registry(factory)
        help_line = (help or (factory.__doc__ or "")).strip().splitlines()
        self._components[key] = Component(kind, name, factory, help_line[0] if help_line else "", *self._plugin,
                                          dict(declarations))

    @contextmanager
    def registering_as(self, plugin: str, distribution: str) -> Iterator[None]:
        """Attribute every :meth:`add` inside the block to ``plugin``; undo them all if the block raises."""
        before = dict(self._components)
        previous, self._plugin = self._plugin, (plugin, distribution)
        try:
            yield
        except BaseException:
            self._components = before
            raise
        finally:
            self._plugin = previous

    # -- reading ------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Component:
        """The component, or an :class:`UnknownComponentError` with the closest names of that kind."""
        if kind not in KINDS:
            raise UnknownComponentError(f"unknown component kind '{kind}'{did_you_mean(kind, KINDS)}; `zoo list` shows all")
        try:
            return self._components[(kind, name)]
        except KeyError:
            names = self.names(kind)
            hint = did_you_mean(str(name), names) or (f" (known: {', '.join(names)})" if len(names) <= 8 else "")
            raise UnknownComponentError(f"unknown {kind} '{name}'{hint}; `zoo list {kind}` shows all") from None

    def create(self, kind: str, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Build component ``name`` of ``kind`` by calling its factory."""
        return self.get(kind, name).factory(*args, **kwargs)

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self._components if k == kind)

    def list(self, kind: str | None = None, pattern: str | None = None) -> list[Component]:
        """Components sorted by kind then name, filtered by kind and a wildcard ``pattern`` (``conv*``)."""
        if kind is not None and kind not in KINDS:
            raise UnknownComponentError(f"unknown component kind '{kind}'{did_you_mean(kind, KINDS)}; `zoo list` shows all")
        out = [
            c
            for (k, n), c in self._components.items()
            if (kind is None or k == kind) and (pattern is None or fnmatch.fnmatchcase(n, pattern))
        ]
        return sorted(out, key=lambda c: (c.kind, c.name))

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._components

    def __len__(self) -> int:
        return len(self._components)


def _normalized(kind: str, factory: Callable[..., Any], given: dict[str, Any]) -> dict[str, Any]:
    """Everything ``factory`` declares, once: what was given at registration, else what a plugin written before
    declarations existed set as attributes of the factory; a model's ``validate`` and ``canonical`` made to take
    ``(spec, registry)`` (:func:`zoo.contract.with_registry`)."""
    out = {key: declared(kind, factory, key, given) for key in DECLARATIONS.get(kind, {})}
    out = {key: value for key, value in out.items() if key in given or hasattr(factory, key)}
    if kind == "model":
        out = {key: with_registry(fn) if callable(fn) else fn for key, fn in out.items()}
    return out

