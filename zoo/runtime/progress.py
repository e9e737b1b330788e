"""The one progress bar of every long loop (prepare, train, sample, evaluate, benchmark).

Always a real ``rich.progress.Progress`` (disabled when not wanted: its methods then cost nothing), so
callers never test for a stand-in. Columns: description, bar, done/total, details, elapsed, remaining.
A task shows in "details" its ``info`` field (``bar.update(task, info="loss 0.12")``) and, when added
with a ``unit`` field (``bar.add_task("preparing", total=n, unit="img")``), its speed in units/s.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class Details(ProgressColumn):
    """A task's speed in ``unit``/s (when it has a ``unit`` field) and its ``info`` field."""

    def render(self, task: Task) -> Text:
        parts = []
        if unit := task.fields.get("unit"):
            parts.append(f"{task.speed:,.0f} {unit}/s" if task.speed else f"- {unit}/s")
        if info := task.fields.get("info"):
            parts.append(info)
        return Text("  ".join(parts))


def progress_bar(enabled: bool = True, *, transient: bool = False, console: Any = None) -> Progress:
    """A progress bar on ``console`` (default: stderr, so it never mixes with a command's output).
    ``transient``: erased when done (for the sub-steps of a larger command)."""
    return Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(), Details(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console or Console(stderr=True),
                    disable=not enabled, transient=transient)
