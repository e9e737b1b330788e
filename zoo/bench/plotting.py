"""What every chart of the benchmark shares: user text drawn literally, and the figure as PNG bytes."""

from __future__ import annotations

import io
from typing import Any


def literal(text: str) -> str:
    """``text`` as matplotlib draws it literally: a ``$`` would start math text, and an invalid formula in a
    variant name would fail the whole report."""
    return text.replace("$", r"\$")


def png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (no timestamp or software tag, so equal charts are equal bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()
