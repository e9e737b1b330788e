"""Throughput and peak memory of ``zoo prepare`` on image folders of 5k, 10k and 20k small PNGs.

The claim under test: preparation streams, so peak RSS does not grow with the number of images (the
study could hold only 80k of CelebA's 200k faces in memory). Each size runs in its own subprocess so
``ru_maxrss`` (the peak resident set) belongs to that run alone; the RSS right before ``prepare`` is
reported too, so the growth is peak minus that baseline (interpreter, torch and plugins).

    python benchmarks/prepare_bench.py            # generates the images once under $TMPDIR, reuses them
    python benchmarks/prepare_bench.py --sizes 1000 2000

Writes ``benchmarks/results/prepare.json``. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "prepare.json"
DEFAULT_DIR = Path(tempfile.gettempdir()) / "zoo-prepare-bench"
SIZES = (5_000, 10_000, 20_000)


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_pool(pool: Path, count: int) -> None:
    """``count`` PNGs of 40..64 x 32..56 pixels: a random colour gradient plus noise (reused if present)."""
    pool.mkdir(parents=True, exist_ok=True)
    have = len(list(pool.glob("*.png")))
    if have >= count:
        return
    from PIL import Image

    rng = np.random.default_rng(have)
    started = time.perf_counter()
    for k in range(have, count):
        w, h = int(rng.integers(40, 65)), int(rng.integers(32, 57))
        ramp = np.linspace(0, 1, w)[None, :, None] * rng.uniform(0, 255, 3) + rng.uniform(0, 128, 3)
        image = np.clip(ramp + rng.normal(0, 24, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(pool / f"{k:06d}.png", compress_level=1)
    print(f"generated {count - have} PNGs in {time.perf_counter() - started:.1f} s under {pool}")


def make_set(base: Path, n: int) -> Path:
    """A folder of the first ``n`` pool images, as hard links (no copy)."""
    folder = base / "sets" / str(n)
    if folder.is_dir() and len(os.listdir(folder)) == n:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in sorted(os.listdir(base / "pool"))[:n]:
        os.link(base / "pool" / name, folder / name)
    return folder


def run_one(root: str, out: str) -> dict[str, float]:
    """In a fresh process: prepare ``root`` at 32x32x3 and measure it."""
    from zoo.config.spec import DataSpec
    from zoo.data.prepare import prepare
    from zoo.plugins import get_registry

    get_registry()  # load every plugin (torch) before the baseline
    before_peak, before = rss_mb(), current_rss_mb()
    spec = DataSpec(dataset="imagefolder", root=root, size=32, channels=3, prepared=out)
    started = time.perf_counter()
    prepared = prepare(spec, force=True)
    seconds = time.perf_counter() - started
    return {
        "images": prepared.manifest["source_items"],
        "kept": prepared.manifest["kept"],
        "seconds": round(seconds, 3),
        "images_per_s": round(prepared.manifest["source_items"] / seconds, 1),
        "rss_before_mib": round(before, 1),
        "peak_rss_before_mib": round(before_peak, 1),
        "peak_rss_mib": round(rss_mb(), 1),
        "growth_mib": round(rss_mb() - before, 1),
        "output_mib": round(sum(f.stat().st_size for f in prepared.path.iterdir()) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the generated images live")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--one", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return

    from rich.console import Console
    from rich.table import Table

    make_pool(args.dir / "pool", max(args.sizes))
    rows = []
    for n in args.sizes:
        folder = make_set(args.dir, n)
        with tempfile.TemporaryDirectory() as out:
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            done = subprocess.run([sys.executable, __file__, "--one", str(folder), out], env=env,
                                  capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1])

    table = Table(title="zoo prepare: imagefolder of PNGs -> 32x32x3 (one process per size)")
    for column in ("images", "seconds", "images/s", "RSS before (MiB)", "peak RSS (MiB)", "growth (MiB)", "output (MiB)"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(f"{r['images']:,}", f"{r['seconds']:.1f}", f"{r['images_per_s']:,.0f}", f"{r['rss_before_mib']:.0f}",
                      f"{r['peak_rss_mib']:.0f}", f"{r['growth_mib']:.1f}", f"{r['output_mib']:.1f}")
    Console().print(table)

    import PIL

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "prepare",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "pillow": PIL.__version__, "platform": platform.platform()},
        "setup": "imagefolder of random-gradient PNGs 40..64 x 32..56 px; size 32, channels 3; force rebuild",
        "runs": rows,
    }
    from zoo.runtime.io import atomic_write_text

    atomic_write_text(RESULTS, json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
