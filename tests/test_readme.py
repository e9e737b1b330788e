"""The README's two commands stay true: CI runs exactly its test command, and its main command names
a grid that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [line.strip() for block in blocks[:2] for line in block.strip().splitlines()]


def test_readme_has_exactly_two_newcomer_commands() -> None:
    main, tests = readme_commands()
    assert main.startswith("pip install") and main.endswith("zoo benchmark --grid")
    assert tests.startswith("pip install") and "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()
    assert "set -euo pipefail" in ci  # any failure, and pytest's exit 5 (no tests), fails CI


def test_the_default_grid_exists() -> None:
    from zoo.bench.grid import default_grid_path

    assert default_grid_path() == ROOT / "benchmarks" / "grids" / "default.toml"
