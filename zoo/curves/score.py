"""Learning curves: the EMA weights scored every ``eval.curve_every`` steps while a run trains.

A final score says which variant ended ahead; a curve says whether it was still improving, and lets
variants be compared at equal training time rather than at equal steps (``zoo report --at minutes=M``).
Each point is cheap on purpose (``eval.curve_n`` samples, ``eval.curve_steps`` sampler steps, KID by
default, which is unbiased at small n where FID is not; Bińkowski et al. 2018): its job is the shape
of the curve, the full evaluation at the end gives the last digit.

What the points guarantee, and how:

- Scoring is invisible to training. It runs on a copy of the model holding the EMA weights (the raw
  weights when the run keeps no EMA), under a forked global RNG, outside the timed part of a step:
  the trained weights are bit-identical with or without a curve, ``train.minutes`` counts only
  optimisation, and each point records its scoring time separately.
- Resume keeps the points. The sampling noise of a point is a pure function of (train.seed,
  eval.seed, step), so a point scored again after a resume is identical to the one the interrupted run
  scored; on resume the points past the checkpoint are dropped (they will be scored again) and the
  ones before it are kept, so a curve never loses or repeats a step.

Points go to ``curve.jsonl`` in the run folder, one JSON line each: ``step``, ``train_seconds``
(optimisation time up to the step), ``score_seconds``, ``n`` and ``values`` (metric -> value).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo.runtime.io import append_log, atomic_write_text, read_log
from zoo.runtime.streams import SAMPLING, stream_seed

if TYPE_CHECKING:
    from zoo.config.resolve import ResolvedSpec
    from zoo.data.prepare import PreparedData
    from zoo.train.ema import EMA

CURVE_FILE = "curve.jsonl"


def noise_seed(train_seed: int, eval_seed: int, step: int) -> int:
    """The sampling-noise seed of the point at ``step``: the run's sampling stream (:mod:`zoo.runtime.streams`)
    indexed by (eval.seed, step), so variants with the same seeds share it (paired comparisons) and a
    point scored again is identical."""
    return stream_seed(train_seed, SAMPLING, eval_seed, step)


def read_curve(run_dir: str | Path) -> list[dict[str, Any]]:
    """The points of a run folder in step order (none when the run has no curve)."""
    path = Path(run_dir) / CURVE_FILE
    return sorted(read_log(path), key=lambda p: p["step"]) if path.is_file() else []


def trim_curve(run_dir: str | Path, step: int) -> None:
    """On resume, drop the points past the checkpoint's ``step``: the resumed run scores them again."""
    path = Path(run_dir) / CURVE_FILE
    if path.is_file():
        keep = [p for p in read_curve(run_dir) if p["step"] <= step]
        atomic_write_text(path, "".join(json.dumps(p) + "\n" for p in keep))


class CurveScorer:
    """Scores a training run's weights and appends the points (the training loop says when, see
    :mod:`zoo.curves.hook`).

    Built once per training process: the extractor, the metrics and the real test features are
    set up here, so a point costs only sampling, extracting ``curve_n`` fakes and the metrics."""

    def __init__(self, spec: ResolvedSpec, run_dir: Path, prepared: PreparedData, model: nn.Module,
                 diffusion: nn.Module | None, ema: EMA | None) -> None:  # fmt: skip
        from zoo.metrics.evaluate import build_extractor, build_metrics, reference_features

        self.spec, self.path, self.ema, self.source = spec, Path(run_dir) / CURVE_FILE, ema, model
        self.copy = copy.deepcopy(model).eval()  # the scored weights live here, never in the trained model
        self.guide_copy: nn.Module | None = None  # the guide's, once the run keeps one
        self.diffusion = diffusion
        self.metrics = build_metrics(spec.eval.curve_metrics, spec.registry)
        self.extractor = build_extractor(spec.eval.feature or prepared.default_feature, spec.registry)
        self.real = reference_features(prepared, self.extractor, "test")
        self.scored = {p["step"] for p in read_curve(run_dir)}

    def has(self, step: int) -> bool:
        """Whether ``curve.jsonl`` already holds the point of ``step`` (a step is never scored twice)."""
        return step in self.scored

    def score(self, step: int, train_seconds: float, guide: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
        """Score the current weights, append the point to ``curve.jsonl`` and return it. ``guide``: the run's
        autoguidance guide once kept (``state.guide``); the points before it are sampled unguided, and a
        guided point says so with its ``guidance``."""
        from zoo.metrics.evaluate import extract_features, score
        from zoo.runs.load import LoadedRun
        from zoo.runs.sample import generate

        start = time.perf_counter()
        e, t = self.spec.eval, self.spec.train
        weights = self.ema.state_dict() if self.ema is not None else self.source.state_dict()
        self.copy.load_state_dict(weights)
        guidance = e.guidance if guide is not None else 1.0
        if guidance != 1:
            if self.guide_copy is None:
                self.guide_copy = copy.deepcopy(self.copy)
            self.guide_copy.load_state_dict(guide)
        run = LoadedRun(self.spec, self.copy, self.diffusion, step, "ema" if self.ema is not None else "raw",
                        self.guide_copy if guidance != 1 else None)
        with torch.random.fork_rng(devices=[]):  # nothing here may move the global RNG training could read
            images = generate(run, e.curve_n, sampler=e.sampler, steps=e.curve_steps, guidance=guidance,
                              seed=noise_seed(t.seed, e.seed, step), batch_size=e.batch_size, options=e.sampler_options)
            fake = extract_features(self.extractor, images)
            row = score("samples", self.metrics, self.real, fake, self.extractor.num_classes, {})
        point = {"step": step, "train_seconds": train_seconds, "score_seconds": time.perf_counter() - start,
                 "n": e.curve_n, **({"guidance": guidance} if guidance != 1 else {}), "values": row.to_dict()["values"]}
        append_log(self.path, point)
        self.scored.add(step)
        return point
