"""The emoji yardstick (issue 24): does the shipped emoji CNN separate real emoji from worse ones, and is it the
same instrument on every CPU?

1. Reference rows at 32x32 RGB, n = the test split (449): the floor (n real training emoji against the test
   split), the same training emoji blurred (shrunk to 16x16 and enlarged back: ``zoo.testing.yardstick.
   blurred_images``) and the ceiling (uniform noise), FID and KID with the ``emoji`` extractor, plus how much
   the floor's FID moves between draws of n training emoji (``zoo.metrics.noise``). Then the floor's glyphs
   with Gaussian pixel noise of sd 8, 16, 32 and 64 (of 255: ``zoo.testing.yardstick.noisy_images``): what a
   sampler that leaves residual noise costs on this yardstick.
2. Cross-ISA: the blurred emoji scored by ``zoo evaluate --dataset emoji`` in fresh processes with empty caches,
   with this CPU's own kernels and capped to AVX2 (``zoo.testing.yardstick.check_same_on_every_cpu``).

    OMP_NUM_THREADS=1 python benchmarks/emoji_features.py      # ~2-4 min on one core (three emoji preparations)

Writes benchmarks/results/emoji_features.json (CPU, commit, torch, date).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

SIZE, BLUR_SIDE = 32, 16
NOISE_SDS = (8, 16, 32, 64)  # pixel noise of the noisy rows, of 255
OUT = Path(__file__).parent / "results" / "emoji_features.json"
ROWS = {"samples": "blurred", "floor: real train vs real test": "floor", "ceiling: uniform noise": "ceiling"}


def floor_subset(train: np.ndarray, n: int) -> np.ndarray:
    """The n training images of the floor row (``zoo.metrics.evaluate.reference_features``' seeded choice), so the
    blurred row differs from the floor by the blur alone."""
    return train[np.sort(np.random.default_rng(0).choice(len(train), n, replace=False))]


def main() -> None:
    import torch
    from zoo_emoji.features import emoji_feature

    from zoo.metrics.evaluate import evaluate
    from zoo.metrics.noise import metric_noise
    from zoo.metrics.shipped import provenance
    from zoo.runtime.cpu import current
    from zoo.runtime.io import atomic_write_text
    from zoo.testing.yardstick import (
        blurred_images,
        check_same_on_every_cpu,
        noisy_images,
        prepared_in_scratch,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work, data = prepared_in_scratch("zoo-emoji-yardstick-", dataset="emoji", size=SIZE, channels=3)
    n = len(data.images("test"))
    blurred = blurred_images(floor_subset(data.images("train"), n), side=BLUR_SIDE)
    _, manifest = emoji_feature.manifest()
    keys = ("identity", "sha256", "recipe_hash", "data_sha256", "test_accuracy", "test_group_accuracy", "val_accuracy",
            "val_group_accuracy", "split_sizes", "train_seconds", "torch", "cpu", "cpu_kind", "threads", "date")  # fmt: skip
    record: dict[str, Any] = {"script": "benchmarks/emoji_features.py", **provenance(1), "cpu_describe": current().describe(),
                              "size": SIZE, "channels": 3, "n": n, "data_hash": data.hash,
                              "blurred": f"the floor's {n} training emoji shrunk to {BLUR_SIDE}x{BLUR_SIDE} (bilinear, "
                                         "antialiased) and enlarged back (bilinear)",
                              "shipped": {k: manifest[k] for k in keys}}  # fmt: skip
    result = evaluate(blurred, data, feature="emoji", metrics=("fid", "kid"))
    record["rows"] = {ROWS[r.name]: {"n_fake": r.n_fake, "n_real": r.n_real, **{k: round(v, 4) for k, v in r.values.items()}}
                      for r in result.rows}  # fmt: skip
    record["feature_identity"] = result.feature_identity
    noise = metric_noise(data, n, feature="emoji", metrics=("fid", "kid"))
    record["floor_over_draws"] = {"draws": noise["draws"], **{f"{stat}_{k}": round(v, 4) for stat in ("mean", "sd")
                                                              for k, v in noise[stat].items()}}  # fmt: skip
    print("rows", json.dumps(record["rows"]), "floor over draws", record["floor_over_draws"], flush=True)
    floor = floor_subset(data.images("train"), n)
    record["noisy"] = {"images": f"the floor's {n} training emoji with seeded Gaussian pixel noise (seed 0), by its sd "
                                 "of 255 (zoo.testing.yardstick.noisy_images)", "rows": {}}
    for sd in NOISE_SDS:
        noisy = noisy_images(floor, n=n, sigma=sd, seed=0)
        row = evaluate(noisy, data, feature="emoji", metrics=("fid", "kid"), references=False).rows[0]
        record["noisy"]["rows"][str(sd)] = {k: round(v, 4) for k, v in row.values.items()}
    print("noisy", json.dumps(record["noisy"]["rows"]), flush=True)

    np.savez(work / "blurred.npz", images=blurred)
    native, capped = check_same_on_every_cpu(work / "blurred.npz", work, dataset="emoji", feature="emoji")
    record["cross_isa"] = {"images": "the blurred emoji above", "native": native, "avx2": capped,
                           "rel_diff": {k: abs(native[k] / capped[k] - 1) for k in ("fid", "kid")}}  # fmt: skip
    print("cross-ISA", json.dumps(record["cross_isa"]), flush=True)
    atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
