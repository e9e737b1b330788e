"""Shared test setup: one torch thread per process (tests may run side by side on 2 cores), no
network, and a zoo cache of the session's own (the user's cache is never read or written)."""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
_CACHE = tempfile.mkdtemp(prefix="zoo-test-cache-")
os.environ["ZOO_CACHE"] = _CACHE  # reference features are cached once per session, here

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def registry():
    """The registry of every installed plugin."""
    from zoo.plugins import get_registry

    return get_registry()


@pytest.fixture(scope="session")
def prepared_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One folder of prepared data for the session's tiny training runs (digits are prepared into it once)."""
    return str(tmp_path_factory.mktemp("prepared"))
