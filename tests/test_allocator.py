"""zoo's allocator setting: applied on glibc Linux, left alone when the user chose (no timings here;
the speed it buys is measured in benchmarks/perf and docs/performance.md)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from zoo.runtime import allocator

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("MALLOC_") or n == "ZOO_TUNE_MALLOC"]:
        monkeypatch.delenv(name)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_applies_on_glibc() -> None:
    assert allocator._apply() is True


def test_opt_out_and_user_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_TUNE_MALLOC", "0")
    assert allocator._apply() is False
    monkeypatch.delenv("ZOO_TUNE_MALLOC")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")  # the user configures glibc malloc: zoo keeps out
    assert allocator._apply() is False


def test_the_command_line_applies_it_once_per_process() -> None:
    code = (
        "import zoo.runtime.allocator as a, zoo.cli as c; calls = []; real = a._apply;"
        "a._apply = lambda: calls.append(1) or real(); c.main(['list', 'block']); c.main(['list', 'norm']);"
        "print(calls, a.tune_allocator())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == f"[1] {GLIBC}"
