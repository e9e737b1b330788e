"""The digits yardstick (issue 23): is the shipped digits CNN the same instrument on every CPU, and how far
does a rebuilt one move the numbers?

1. Cross-ISA: 500 noisy digits (seeded) scored by ``zoo evaluate --dataset digits --size 8`` in a fresh process
   with this CPU's own kernels and in one capped to AVX2, each with an empty cache (``zoo.testing.yardstick``).
2. Reproduction: ``zoo features build digits --threads 2`` natively, compared byte for byte with the shipped file.
3. Rebuilds: ``zoo features build digits`` (1 thread) natively and under the AVX2 caps, and the recipe with
   seeds 1-3 (what a rebuild's chaos can do), each scored in this process on the study grid's reference rows
   (digits 8x8, n = 450: floor and ceiling) and on the noisy digits, beside the shipped network; the largest
   relative FID change sets ``REBUILD_FID_TOLERANCE`` in tests/test_yardstick.py.

    OMP_NUM_THREADS=1 python benchmarks/digits_features.py     # ~3-6 min on one idle core

Writes benchmarks/results/digits_features.json (CPU, commit, torch, date on every record).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

N, SIZE, SEEDS = 450, 8, (1, 2, 3)  # the study grid's n and size (benchmarks/grids/study_recipe.toml)
OUT = Path(__file__).parent / "results" / "digits_features.json"


def build(out: Path, caps: dict[str, str], threads: int) -> dict[str, Any]:
    """``zoo features build digits`` in a fresh process under ``caps``: the JSON it wrote."""
    from zoo.testing.yardstick import AVX2

    env = {k: v for k, v in os.environ.items() if k not in AVX2} | caps | {"OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-m", "zoo", "features", "build", "digits", "--out", str(out), "--threads",
                           str(threads), "--json"], env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


def scores(extractor: Any, data: Any, noisy: np.ndarray) -> dict[str, dict[str, float]]:
    """FID and KID of the floor, ceiling and noisy-digit rows with ``extractor``."""
    from zoo.metrics.evaluate import evaluate

    result = evaluate(noisy[:N], data, feature=extractor, metrics=("fid", "kid"))
    names = {"samples": "noisy digits", "floor: real train vs real test": "floor", "ceiling: uniform noise": "ceiling"}
    return {names[r.name]: {k: round(v, 4) for k, v in r.values.items() if k in ("fid", "kid")} for r in result.rows}


def relative(ours: dict[str, dict[str, float]], shipped: dict[str, dict[str, float]]) -> dict[str, float]:
    """Relative FID change of each row, and of the ceiling/floor ratio (the yardstick's range in floor units)."""
    out = {row: round(ours[row]["fid"] / shipped[row]["fid"] - 1, 4) for row in shipped}
    ratio = [x["ceiling"]["fid"] / x["floor"]["fid"] for x in (ours, shipped)]
    return {**out, "ceiling/floor": round(ratio[0] / ratio[1] - 1, 4)}


def rebuild_scores(work: Path, data: Any, noisy: np.ndarray) -> list[dict[str, Any]]:
    """Five rebuilt networks (AVX-512 and AVX2 kernels, seeds 1-3; 1 thread), each with its scores."""
    from zoo.metrics.features import DigitsRecipe, digits, train_digits
    from zoo.testing.yardstick import AVX2, NATIVE

    rebuilds = []
    for tag, caps in (("native, 1 thread", NATIVE), ("avx2, 1 thread", AVX2)):
        folder = work / tag.split(",")[0]
        built = build(folder, caps, threads=1)
        rebuilds.append({"build": tag, "identity": built["identity"], "test_accuracy": built["test_accuracy"],
                         "scores": scores(digits.open(folder), data, noisy)})  # fmt: skip
    for seed in SEEDS:  # another seed: as different a network as another CPU's rounding makes it
        recipe = DigitsRecipe(seed=seed)
        variant = dataclasses.replace(digits, stem=lambda r=recipe: f"digits-cnn-{r.hash()}",
                                      train=lambda r=recipe: train_digits(r))  # fmt: skip
        _, built = variant.build(work / f"seed{seed}", threads=1)
        rebuilds.append({"build": f"seed {seed}, native, 1 thread", "identity": built["identity"],
                         "test_accuracy": built["test_accuracy"], "scores": scores(variant.open(work / f"seed{seed}"), data, noisy)})  # fmt: skip
    return rebuilds


def main() -> None:
    import torch

    from zoo.metrics.features import digits
    from zoo.metrics.noise import metric_noise
    from zoo.metrics.shipped import provenance
    from zoo.runtime.cpu import current
    from zoo.runtime.io import atomic_write_text
    from zoo.testing.yardstick import AVX2, NATIVE, noisy_images, prepared_in_scratch, score_in_fresh_process

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work, data = prepared_in_scratch("zoo-yardstick-", size=SIZE)
    noisy = noisy_images(data.images("train"), n=500, sigma=48, seed=0)
    np.savez(work / "s.npz", images=noisy)
    _, manifest = digits.manifest()
    record: dict[str, Any] = {"script": "benchmarks/digits_features.py", **provenance(1),
                              "cpu_describe": current().describe(), "n": N, "size": SIZE,
                              "samples": "500 training digits (seeded choice) + Gaussian pixel noise sd 48, seed 0 "
                                         "(zoo.testing.yardstick.noisy_images)",
                              "shipped": {k: manifest[k] for k in ("identity", "sha256", "recipe_hash", "test_accuracy",
                                                                   "val_accuracy", "split_sizes", "torch", "cpu",
                                                                   "cpu_kind", "threads", "date")}}  # fmt: skip
    runs = {tag: score_in_fresh_process(work / "s.npz", work, caps=caps) for tag, caps in (("native", NATIVE), ("avx2", AVX2))}
    record["cross_isa"] = {**runs, "rel_diff": {k: abs(runs["native"][k] / runs["avx2"][k] - 1) for k in ("fid", "kid")}}
    print("cross-ISA", json.dumps(record["cross_isa"]), flush=True)

    again = build(work / "threads2", NATIVE, threads=2)
    record["reproduction"] = {"threads": 2, "sha256": again["sha256"], "identical": again["sha256"] == manifest["sha256"]}
    print("reproduction", json.dumps(record["reproduction"]), flush=True)

    reference = scores(digits(), data, noisy)
    record["shipped"]["scores"] = reference
    noise = metric_noise(data, N, feature="digits", metrics=("fid",))
    record["shipped"]["floor_fid_sd_over_draws"] = round(noise["sd"]["fid"], 3)
    rebuilds = rebuild_scores(work, data, noisy)
    for r in rebuilds:
        r["fid_rel_to_shipped"] = relative(r["scores"], reference)
        print("rebuild", json.dumps(r), flush=True)
    record["rebuilds"] = rebuilds
    changes = [(row, abs(v)) for r in rebuilds for row, v in r["fid_rel_to_shipped"].items()]
    record["max_abs_rel_fid_change"] = {"floor and ceiling": max(v for row, v in changes if row in ("floor", "ceiling")),
                                        "noisy digits": max(v for row, v in changes if row == "noisy digits"),
                                        "ceiling/floor": max(v for row, v in changes if row == "ceiling/floor")}  # fmt: skip
    atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
