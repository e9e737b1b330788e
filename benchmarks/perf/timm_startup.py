"""What zoo-timm costs a user who never builds a timm part: ``python -m zoo list`` with the plugin not
installed and installed, and what an eager ``import timm`` in its hook would have added.

The plugin is really uninstalled and reinstalled (``pip``, editable, no build isolation) around each
timing, in alternating rounds (benchmarks/perf/rounds.py), so a slow phase of a shared host hits both
sides; each timed run's output is checked to list the plugin's components exactly when it is installed.
One torch thread, one process at a time. The plugin is left installed when the script ends.

    python benchmarks/perf/timm_startup.py --rounds 5 --out benchmarks/results/timm_startup.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks.perf.rounds import alternate, per_round  # noqa: E402
from benchmarks.quality.run import machine  # noqa: E402

PLUGIN = ROOT / "plugins" / "zoo-timm"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, env=ENV, capture_output=True)


def set_installed(yes: bool) -> None:
    if yes:
        pip("install", "--no-deps", "--no-build-isolation", "-e", str(PLUGIN))
    else:
        pip("uninstall", "-y", "zoo-timm")


def wall(*command: str, expect_timm: bool | None = None) -> float:
    """Seconds of one run of ``python command``; with ``expect_timm``, check zoo list saw the plugin or not."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *command], check=True, env=ENV, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    if expect_timm is not None and ("timm_se" in out) != expect_timm:
        raise RuntimeError(f"zoo list {'lacks' if expect_timm else 'shows'} zoo-timm's components: the install step failed")
    return seconds


def zoo_list(installed: bool) -> float:
    set_installed(installed)
    return wall("-m", "zoo", "list", expect_timm=installed)


def summary(times: dict[str, list[float]], slow: str, fast: str) -> dict[str, object]:
    return {"seconds": times, "median": {k: round(statistics.median(v), 3) for k, v in times.items()},
            f"ratio_{slow}_over_{fast}": per_round(times[slow], times[fast])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()
    wall("-m", "zoo", "list")  # warm the file cache once, untimed
    startup = alternate(args.rounds, {"without_plugin": lambda: zoo_list(False), "with_plugin": lambda: zoo_list(True)})
    set_installed(True)
    imports = alternate(args.rounds, {"torch": lambda: wall("-c", "import torch"),
                                      "torch_and_timm_layers": lambda: wall("-c", "import torch, timm.layers")})  # fmt: skip
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {
        "benchmark": "timm_startup", "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit, "machine": machine(), "torch": metadata.version("torch"), "timm": metadata.version("timm"),
        "python": sys.version.split()[0], "threads": 1, "rounds": args.rounds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "zoo_list": {"command": "python -m zoo list", **summary(startup, "with_plugin", "without_plugin")},
        "eager_timm_import": {"commands": ["python -c 'import torch'", "python -c 'import torch, timm.layers'"],
                              **summary(imports, "torch_and_timm_layers", "torch")},
    }  # fmt: skip
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        from zoo.runtime.io import atomic_write_text

        atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
