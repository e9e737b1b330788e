"""Where cells run: in this process, in a few local processes, or on a Ray cluster.

Every executor takes (key, spec dict, run folder) jobs and yields (key, outcome) as cells finish;
the grid runner alone writes results. No home-made scheduler: local parallelism is a process pool,
scale-out is Ray.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, Protocol

from zoo.bench.cell import run_cell
from zoo.errors import UserError

if TYPE_CHECKING:
    from zoo.registry import Registry

Job = tuple[str, dict[str, Any], str]  # (key, spec dict, run folder)


class Executor(Protocol):
    def run(self, jobs: list[Job], progress: Any = None) -> Iterator[tuple[str, dict[str, Any]]]: ...


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class LocalExecutor:
    """``jobs=1``: cells one after another in this process (with live per-cell progress).
    ``jobs=N``: N worker processes, the cores split between them (N processes x all threads each
    would oversubscribe the cores: measured 30x slower on 2 cores)."""

    def __init__(self, jobs: int = 1, threads: int | None = None, registry: Registry | None = None) -> None:
        if jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self.registry = registry  # cells in this process are built by it; a worker process loads its own
        # one job in this process keeps the process's thread setting unless told otherwise
        self.threads = threads if threads is not None else (None if jobs == 1 else max(1, cpu_count() // jobs))

    def run(self, jobs: list[Job], progress: Any = None) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.jobs == 1:
            for key, spec, run_dir in jobs:
                yield key, run_cell(spec, run_dir, registry=self.registry, threads=self.threads,
                                    progress=progress if progress is not None else False)
            return
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn")) as pool:
            pending = {pool.submit(run_cell, spec, run_dir, threads=self.threads): key for key, spec, run_dir in jobs}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield pending.pop(future), future.result()


class RayExecutor:
    """Cells as Ray tasks, each reserving ``threads`` CPUs. ``address=None`` starts a local Ray
    instance; ``auto`` or ``ray://host:port`` joins a cluster. Run folders must be on storage every
    node sees (a shared file system), since each cell writes its checkpoints there."""

    def __init__(self, address: str | None = None, threads: int = 1, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("the Ray executor needs Ray: pip install 'zoo[ray]'") from None
        self.ray = ray
        self.threads = threads
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = num_cpus or cpu_count()
            ray.init(**kwargs)

    def run(self, jobs: list[Job], progress: Any = None) -> Iterator[tuple[str, dict[str, Any]]]:
        remote = self.ray.remote(num_cpus=self.threads)(run_cell)
        pending = {remote.remote(spec, run_dir, threads=self.threads): key for key, spec, run_dir in jobs}
        while pending:
            finished, _ = self.ray.wait(list(pending), num_returns=1)
            for ref in finished:
                yield pending.pop(ref), self.ray.get(ref)
