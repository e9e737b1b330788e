"""Errors a user can fix. The CLI prints them as one line and exits with code 2, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input: the message says what is wrong and what to do next."""

    exit_code = 2


class DiskFullError(UserError):
    """The disk (or the user's quota) filled up while zoo wrote a file; nothing half-written is left."""


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``"; did you mean 'x' or 'y'?"`` for the closest choices, or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
