"""Does sizing inference chunks by the network's feature maps (``zoo.models.unet.inference_chunks``) rather
than by the image pay on a network that runs on 2x2 patches?

    python benchmarks/perf/inference_chunks_patch.py RUN_DIR [--n 1000] [--rounds 2] [--threads 2]
        [--json benchmarks/results/inference_chunks_patch.json]

RUN_DIR: a trained 32x32 run of zoo's recipe (2x2 patches; ``zoo train --set data.size=32 ...``). Each round
samples ``--n`` images with the run's own sampler and steps (``zoo sample``, ``--compile off``) twice: chunks
sized by the image (what zoo did before: 32 images at 32x32) and by the feature maps (128 on 2x2 patches),
the order flipping every round. Appends the seconds per 1,000 images with the CPU, commit, torch and date.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from rounds import alternate  # benchmarks/perf/rounds.py, beside this script


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="benchmarks/results/inference_chunks_patch.json")
    args = p.parse_args(argv)
    import torch

    import zoo
    from zoo.cli import main as zoo_main
    from zoo.metrics.shipped import provenance
    from zoo.models import unet
    from zoo.runtime.cpu import current
    from zoo.runtime.io import append_to_json_list

    zoo.tune_allocator()
    torch.set_num_threads(args.threads)
    by_feature_maps = unet.inference_chunks
    modes = {"by image": lambda x, t, patch=1: by_feature_maps(x, t), "by feature maps": by_feature_maps}
    out = tempfile.mkdtemp(prefix="zoo-chunks-")

    def sample(mode: str) -> float:
        unet.inference_chunks = modes[mode]
        start = time.perf_counter()
        zoo_main(["sample", args.run_dir, "--n", str(args.n), "--compile", "off", "--no-progress", "--out",
                  os.path.join(out, "samples.npz")])
        return (time.perf_counter() - start) * 1000 / args.n

    load_before = os.getloadavg()
    times = alternate(args.rounds, {mode: lambda mode=mode: sample(mode) for mode in modes})
    unet.inference_chunks = by_feature_maps
    row = {mode: {"s_per_1000": statistics.median(v), "rounds": v} for mode, v in times.items()}
    ratio = row["by image"]["s_per_1000"] / row["by feature maps"]["s_per_1000"]
    print(f"s per {args.n:,} images: by image {row['by image']['s_per_1000']:.1f}, by feature maps "
          f"{row['by feature maps']['s_per_1000']:.1f} ({ratio:.2f}x)", flush=True)
    append_to_json_list(args.json, {"script": "benchmarks/perf/inference_chunks_patch.py", **provenance(args.threads),
                                    "cpu": current().describe(), "run_dir": args.run_dir, "n": args.n,
                                    "load_before": load_before, "load_after": os.getloadavg(), "rows": row,
                                    "speedup": ratio})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
