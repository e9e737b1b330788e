"""Common random numbers: seed k of every variant draws the same batches, timesteps, training noise
and sampling noise, whatever the architecture (zoo.runtime.streams, docs/benchmark.md)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import zoo.metrics.evaluate
from zoo.bench.cell import run_cell
from zoo.config.spec import from_dict
from zoo.diffusion.gaussian import GaussianDiffusion
from zoo.diffusion.samplers import Noise
from zoo.runtime.streams import STREAMS, stream, stream_seed

BASE = {
    "data": {"size": 8, "flip": True},
    "model": {"dim": 8, "dim_mults": [1, 2], "heads": 2, "dim_head": 8, "groups": 4},
    "diffusion": {"timesteps": 50},
    "train": {"steps": 3, "batch_size": 8},
    "eval": {"n": 6, "steps": 3, "batch_size": 6, "metrics": ["fid"]},
}
Q_SAMPLE, NOISE = GaussianDiffusion.q_sample, Noise.__call__  # unwrapped, whatever a test patched before
OTHER = {"model": {"block": "resnet", "attention": "none", "mid_attention": "none", "dim": 12}}


def _draws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, overrides: dict) -> dict[str, list[torch.Tensor]]:
    """What one benchmark cell drew: every training batch, timestep and noise, and the sampler's noise."""
    seen: dict[str, list[torch.Tensor]] = {"batch": [], "t": [], "noise": [], "sampling": []}

    def record_q(self, x0, t, noise):  # noqa: ANN001, ANN202
        seen["batch"].append(x0.clone())
        seen["t"].append(t.clone())
        seen["noise"].append(noise.clone())
        return Q_SAMPLE(self, x0, t, noise)

    def record_noise(self, shape):  # noqa: ANN001, ANN202
        out = NOISE(self, shape)
        seen["sampling"].append(out.clone())
        return out

    monkeypatch.setattr(GaussianDiffusion, "q_sample", record_q)
    monkeypatch.setattr(Noise, "__call__", record_noise)
    monkeypatch.setattr(zoo.metrics.evaluate, "evaluate", lambda *a, **k: SimpleNamespace(to_dict=dict))  # scores: not this test
    spec = from_dict({**BASE, **{k: {**BASE.get(k, {}), **v} for k, v in overrides.items()}, "train": {**BASE["train"], "seed": seed}})
    spec.data.prepared = str(tmp_path.parent / "prepared")
    outcome = run_cell(spec.to_dict(), str(tmp_path / f"run-{seed}-{len(overrides)}"))
    assert outcome["status"] == "done", outcome.get("traceback")
    return seen


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) > 0 and all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.slow
def test_two_variants_with_one_seed_share_every_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = _draws(tmp_path, monkeypatch, 1, {})
    other = _draws(tmp_path, monkeypatch, 1, OTHER)  # other blocks, no attention, other width: other weights
    for stream_name in ("batch", "t", "noise", "sampling"):
        assert _same(base[stream_name], other[stream_name]), stream_name
    next_seed = _draws(tmp_path, monkeypatch, 2, {})
    for stream_name in ("batch", "t", "noise", "sampling"):
        assert not _same(base[stream_name], next_seed[stream_name]), stream_name


def test_streams_are_independent_and_named() -> None:
    seeds = {stream_seed(0, name, 0) for name in STREAMS} | {stream_seed(1, name, 0) for name in STREAMS}
    assert len(seeds) == 2 * len(STREAMS)
    assert stream_seed(3, "timesteps", 1) != stream_seed(3, "timesteps", 0)
    assert torch.equal(torch.rand(4, generator=stream(3, "flips", 2)), torch.rand(4, generator=stream(3, "flips", 2)))
    with pytest.raises(ValueError, match="unknown random stream 'flip'"):
        stream_seed(0, "flip")
