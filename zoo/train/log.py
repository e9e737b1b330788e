"""``log.jsonl`` (one line per ``train.log_every`` steps) and the progress bar: the loop's built-in hook."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.contract import TrainingHook as Hook
from zoo.runtime.io import append_log, atomic_write_text, read_log
from zoo.runtime.progress import progress_bar
from zoo.train.setup import TrainingRun
from zoo.train.state import TrainState


class Logger(Hook):
    """Mean loss and images/s over each logging interval, to ``log.jsonl`` (rank 0) and the progress bar.

    ``progress``: True for a bar of its own, False for none, or a live ``rich.progress.Progress`` to
    add the training task to (the benchmark's overall display).
    """

    def __init__(self, run: TrainingRun, progress: bool | Any) -> None:
        self.external = not isinstance(progress, bool)
        self.bar = progress if self.external else progress_bar(progress and run.writer)
        self.task: Any = None
        self.loss, self.steps, self.start, self.paused = 0.0, 0, 0.0, 0.0
        self.rates: list[float] = []  # images/s of every logged interval of the run, earlier processes' included

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        """The bar on screen while inside (an external bar is its owner's to show)."""
        with contextlib.nullcontext() if self.external else self.bar:
            yield

    def on_start(self, run: TrainingRun, state: TrainState) -> None:
        if run.writer:
            self.rates = [r["images_per_s"] for r in _trim_log(run.run_dir / "log.jsonl", state.step)]
        self.task = self.bar.add_task("train", total=run.limit, completed=state.step, info="")
        self.start, self.paused = time.perf_counter(), state.paused

    def after_step(self, run: TrainingRun, state: TrainState, loss: float) -> None:
        self.loss += loss
        self.steps += 1
        if state.step % run.spec.train.log_every != 0 and state.step != run.limit:
            return
        now = time.perf_counter()
        busy = now - self.start - (state.paused - self.paused)  # learning-curve scoring is not training
        ips = self.steps * run.images_per_step / max(busy, 1e-9)
        mean = self.loss / self.steps
        self.rates.append(ips)
        if run.writer:
            append_log(run.run_dir / "log.jsonl", {"step": state.step, "epoch": state.epoch, "loss": mean,
                                                    "lr": state.optimizer.param_groups[0]["lr"], "images_per_s": ips,
                                                    "elapsed": state.elapsed})
        self.bar.update(self.task, completed=state.step, info=f"loss {mean:.4f}  {ips:.0f} img/s")
        self.loss, self.steps, self.start, self.paused = 0.0, 0, now, state.paused

    def on_end(self, run: TrainingRun, state: TrainState) -> None:
        if self.external:
            self.bar.remove_task(self.task)

    def throughput(self, samples: int, elapsed: float) -> float:
        """Images/s of steady training: the median of the logged intervals (the first one, with warm-up,
        dropped), kept as they were logged rather than read back; with fewer than two, the mean over the run."""
        rates = sorted(self.rates[1:])
        return rates[len(rates) // 2] if rates else samples / max(elapsed, 1e-9)


def _trim_log(path: Path, step: int) -> list[dict[str, Any]]:
    """On resume, drop log lines past the checkpoint (they will be logged again); the lines kept."""
    if not path.is_file():
        return []
    keep = [r for r in read_log(path) if r["step"] <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))
    return keep

