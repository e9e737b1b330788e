"""docs/plugins.md's worked examples run: each block tagged ``python example`` defines a component,
registers it through its ``zoo_register`` hook and passes the conformance kit; together they cover
every kind. The sub-command runs through ``zoo``'s own entry and the training hook in a run whose spec
names it, beside zoo's components, as they would once installed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import zoo.cli
import zoo.testing
from zoo.config.resolve import resolve
from zoo.config.spec import from_dict
from zoo.plugins import load_registry
from zoo.registry import KINDS, Registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FENCE = re.compile(r"^```python example\n(.*?)^```", re.DOTALL | re.MULTILINE)


def examples() -> list[tuple[int, str]]:
    text = DOC.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def run(line: int, code: str, registry: Registry | None = None) -> Registry:
    """Execute one example as its own module; ``registry`` (a new one when None) filled by its hook."""
    namespace: dict = {"__name__": f"plugins_md_line_{line}"}
    exec(compile(code, f"{DOC}:{line}", "exec"), namespace)  # noqa: S102 - our own documentation
    registry = Registry() if registry is None else registry
    with registry.registering_as(f"plugins_md_line_{line}", "docs/plugins.md"):
        namespace["zoo_register"](registry=registry)
    return registry


def installed_with_example_of(kind: str) -> Registry:
    """zoo's own components (and the installed plugins') plus the example of ``kind``, as if it were installed."""
    (line, code), *others = [(line, code) for line, code in examples() if f'registry.add("{kind}"' in code]
    assert not others, f"more than one example of {kind}"
    return run(line, code, load_registry()[0])


@pytest.mark.parametrize(("line", "code"), examples(), ids=[f"line{line}" for line, _ in examples()])
def test_example_registers_one_component_that_passes_the_kit(line: int, code: str) -> None:
    (component,) = run(line, code).list()
    zoo.testing.check_component(component)


def test_there_is_an_example_of_every_kind() -> None:
    kinds = [c.kind for line, code in examples() for c in run(line, code).list()]
    assert sorted(kinds) == sorted(KINDS)


def test_the_command_example_runs_as_zoo_hello(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    registry = installed_with_example_of("command")
    monkeypatch.setattr(zoo.cli, "get_registry", lambda: registry)
    assert zoo.cli.main(["hello", "Ada", "--kind", "block"]) == 0
    assert capsys.readouterr().out == f"hello Ada: zoo has {len(registry.list('block'))} block components\n"
    assert zoo.cli.main(["hello", " "]) == 2  # its UserError: one line, exit code 2
    assert "error: zoo hello needs a name to greet, e.g. `zoo hello Ada`" in capsys.readouterr().err
    assert zoo.cli.main(["list", "command", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["hello"]["help"] == "greet, and count the registered components"
    with pytest.raises(SystemExit):
        zoo.cli.main(["--help"])
    usage = capsys.readouterr().out
    assert usage.index("report") < usage.index("hello")  # order=95: after zoo's own (90 the last)


def test_the_training_hook_example_writes_its_file_in_a_run_that_names_it(tmp_path: Path) -> None:
    from zoo.train import train

    spec = resolve(from_dict({
        "data": {"dataset": "digits", "size": 8, "channels": 1, "prepared": str(tmp_path / "prepared")},
        "model": {"dim": 8, "dim_mults": [1, 2], "groups": 4, "heads": 2, "dim_head": 8},
        "train": {"steps": 4, "batch_size": 8, "log_every": 2, "checkpoint_every": 2, "hooks": ["weight_norm"]},
    }), installed_with_example_of("training_hook"))  # fmt: skip
    train(spec, tmp_path / "run", progress=False)
    rows = json.loads((tmp_path / "run" / "weight_norm.json").read_text())
    assert [row["step"] for row in rows] == [2, 4]
    assert all(row["weight_norm"] > 0 and row["loss"] > 0 for row in rows)
    longer = from_dict({**spec.to_dict(), "train": {**spec.to_dict()["train"], "steps": 6}})
    train(resolve(longer, spec.registry), tmp_path / "run", resume=True, progress=False)  # the rows up to step 4 kept
    assert [row["step"] for row in json.loads((tmp_path / "run" / "weight_norm.json").read_text())] == [2, 4, 6]
