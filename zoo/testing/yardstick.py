"""Is a feature extractor the same yardstick on every CPU? Score one fixed image set in fresh processes,
each with its own empty zoo cache, once with this CPU's own kernels and once capped to AVX2, and compare.

A network trained on first use fails this by 5-20 % (each process trains its own; issue 23); a shipped
network passes to float rounding. A plugin that ships a network checks it the same way::

    from zoo.testing.yardstick import check_same_on_every_cpu
    check_same_on_every_cpu(samples_npz, tmp_path, dataset="emoji", feature="emoji")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from zoo.testing.checks import ContractError

#: What makes torch, oneDNN and MKL use AVX2 kernels on a CPU with AVX-512 (an AVX2-only machine, emulated).
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
NATIVE: dict[str, str] = {}
TOLERANCE = 0.005  # relative: what "the same FID and KID on any CPU" means (issue 23)

_CHILD = """import sys, torch
from zoo.cli import main
from zoo.runtime.cpu import current
code = main(sys.argv[1:])
print("\\nZOO-CPU", current().describe(), torch.backends.cpu.get_cpu_capability())
sys.exit(code)
"""


def prepared_in_scratch(prefix: str, **data: Any) -> tuple[Path, Any]:
    """A fresh scratch folder and the data set ``data`` (:class:`zoo.config.spec.DataSpec` fields) prepared in it,
    with ``ZOO_CACHE`` pointed inside it for the rest of the process: a yardstick script must never read or
    fill the user's cache, or a network trained or fetched there earlier would stand in for the one measured."""
    import tempfile

    from zoo.config.spec import DataSpec
    from zoo.data.prepare import prepare

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["ZOO_CACHE"] = str(work / "cache")
    return work, prepare(DataSpec(**data, prepared=str(work / "prepared")))


def noisy_images(images: np.ndarray, *, n: int, sigma: float, seed: int) -> np.ndarray:
    """``n`` of ``images`` (a seeded choice) with seeded Gaussian pixel noise of std ``sigma``: stand-ins for a
    middling generator's samples, the same bytes on every machine."""
    rng = np.random.default_rng(seed)
    chosen = images[np.sort(rng.choice(len(images), n, replace=len(images) < n))].astype(np.float64)
    return np.clip(chosen + rng.normal(0.0, sigma, chosen.shape), 0, 255).round().astype(np.uint8)


def blurred_images(images: np.ndarray, *, side: int) -> np.ndarray:
    """``images`` shrunk to ``side`` x ``side`` (bilinear, antialiased) and enlarged back (bilinear): the real
    images without their fine detail, a generator that got the layout and colours but not the edges. A
    yardstick should put them between the floor (real vs real) and the ceiling (noise)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    small = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    back = F.interpolate(small, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return back.round().clamp(0, 255).to(torch.uint8).numpy()


def score_in_fresh_process(
    samples: Path, workdir: Path, *, caps: dict[str, str], dataset: str = "digits", feature: str | None = None,
    metrics: tuple[str, ...] = ("fid", "kid"), timeout: float = 600,
) -> dict[str, Any]:  # fmt: skip
    """``zoo evaluate SAMPLES --json`` in a new interpreter with ``caps`` (and no other ISA cap) in its
    environment, one torch thread and an empty cache of its own under ``workdir``: the samples row's
    values, the extractor identity and the CPU the child saw (``cpu``)."""
    tag = "-".join(f"{k}={v}" for k, v in sorted(caps.items())) or "native"
    env = {k: v for k, v in os.environ.items() if k not in AVX2}
    env.update(caps, ZOO_CACHE=str(workdir / f"cache-{tag}"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-c", _CHILD, "evaluate", str(samples), "--dataset", dataset, "--prepared",
               str(workdir / f"prepared-{tag}"), "--metrics", ",".join(metrics), "--no-references", "--json"]  # fmt: skip
    if feature:
        command += ["--feature", feature]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise ContractError(f"`zoo evaluate` under {tag} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    body, _, cpu = done.stdout.rpartition("\nZOO-CPU ")
    result = json.loads(body)
    return {**result["rows"][0]["values"], "feature_identity": result["feature_identity"], "cpu": cpu.strip()}


def check_same_on_every_cpu(
    samples: Path, workdir: Path, *, dataset: str = "digits", feature: str | None = None,
    metrics: tuple[str, ...] = ("fid", "kid"), rel: float = TOLERANCE,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Score ``samples`` natively and under :data:`AVX2`; a :class:`ContractError` unless the extractor
    identity is the same and every metric agrees to ``rel``. Returns (native, avx2) results."""
    native = score_in_fresh_process(samples, workdir, caps=NATIVE, dataset=dataset, feature=feature, metrics=metrics)
    capped = score_in_fresh_process(samples, workdir, caps=AVX2, dataset=dataset, feature=feature, metrics=metrics)
    if native["feature_identity"] != capped["feature_identity"]:
        raise ContractError(f"the extractor differs between CPUs: {native['feature_identity']} natively "
                            f"({native['cpu']}), {capped['feature_identity']} under AVX2 ({capped['cpu']})")  # fmt: skip
    for key in metrics:
        a, b = native[key], capped[key]
        if abs(a - b) > rel * max(abs(a), abs(b)):
            raise ContractError(f"{key} differs between CPUs by more than {rel:.1%}: {a:.6g} natively ({native['cpu']}), "
                                f"{b:.6g} under AVX2 ({capped['cpu']})")  # fmt: skip
    return native, capped
