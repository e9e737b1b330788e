"""docs/plugins.md's worked examples run: each block tagged ``python example`` defines a component,
registers it through its ``zoo_register`` hook and passes the conformance kit; together they cover
every kind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import zoo.testing
from zoo.registry import KINDS, Registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FENCE = re.compile(r"^```python example\n(.*?)^```", re.DOTALL | re.MULTILINE)


def examples() -> list[tuple[int, str]]:
    text = DOC.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def run(line: int, code: str) -> Registry:
    """Execute one example as its own module; the registry its hook fills."""
    namespace: dict = {"__name__": f"plugins_md_line_{line}"}
    exec(compile(code, f"{DOC}:{line}", "exec"), namespace)  # noqa: S102 - our own documentation
    registry = Registry()
    namespace["zoo_register"](registry=registry)
    return registry


@pytest.mark.parametrize(("line", "code"), examples(), ids=[f"line{line}" for line, _ in examples()])
def test_example_registers_one_component_that_passes_the_kit(line: int, code: str) -> None:
    (component,) = run(line, code).list()
    zoo.testing.CHECKS[component.kind](component.factory, name=component.name)


def test_there_is_an_example_of_every_kind() -> None:
    kinds = [c.kind for line, code in examples() for c in run(line, code).list()]
    assert sorted(kinds) == sorted(KINDS)
