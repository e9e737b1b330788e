"""What every results file under ``benchmarks/results/`` records about where its numbers came from.

A number in the docs is only as good as what can be said about the run that produced it: which CPU
(``/proc/cpuinfo``'s model and flags, zoo's CPU kind and whether the ISA was capped to emulate
another kind), which code (the git commit, and whether the tree had uncommitted changes), which
torch, when, and how busy the machine was (the load average: a wall-clock number measured on a
machine shared with other jobs is slower than the same run alone). ``docs_tables.py`` refuses to
render a docs block from a file without the :data:`REQUIRED` keys.

    from provenance import provenance   # in a benchmarks/ script (it is put on sys.path by python)
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: the keys a results file must carry for the docs to quote it
REQUIRED = ("cpu", "cpu_flags", "cpu_kind", "commit", "torch", "date")
#: the variables that cap the ISA torch, oneDNN and MKL use (set: an emulated CPU kind, docs/performance.md)
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
#: the flags that decide zoo's CPU kind and its kernels' speed; the rest of /proc/cpuinfo's list is noise here
ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_bf16",
             "amx_tile", "amx_int8")  # fmt: skip


def git(*args: str, root: Path = ROOT) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=root, check=False).stdout.strip()


def provenance(root: Path = ROOT) -> dict[str, Any]:
    """CPU (model, ISA flags, zoo's kind, caps), code (commit, dirty), torch, Python, date and load average."""
    import torch

    from zoo.runtime.cpu import cpuinfo_flags, current

    model, flags = cpuinfo_flags()
    info = current()
    return {"cpu": model, "cpu_flags": sorted(f for f in flags if f in ISA_FLAGS), "cpu_kind": info.kind,
            "cpus": len(os.sched_getaffinity(0)), "isa_caps": {k: os.environ[k] for k in ISA_CAPS if k in os.environ},
            "commit": git("rev-parse", "HEAD", root=root), "dirty": bool(git("status", "--porcelain", "--", "zoo", root=root)),
            "torch": torch.__version__, "python": platform.python_version(),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_average": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def missing(record: dict[str, Any]) -> list[str]:
    """The :data:`REQUIRED` keys a results record lacks (empty: the docs may quote it)."""
    return [k for k in REQUIRED if not record.get(k)]


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Add ``record`` to the JSON list of runs in ``path`` (created when missing), written atomically."""
    import json

    from zoo.runtime.io import atomic_write_text

    path = Path(path)
    entries = json.loads(path.read_text()) if path.exists() else []
    atomic_write_text(path, json.dumps([*entries, record], indent=1) + "\n")
