"""Named random streams: common random numbers for paired replicates.

Every random draw of a run that does not depend on the architecture comes from its own generator,
seeded by (run seed, stream name, index) through numpy's SeedSequence mixing. Two runs with the same
seed that differ in anything else (blocks, attention, width, norm, activation) then draw identical
data order, flips, timesteps, training noise and sampling noise, so their difference is paired by
seed (docs/benchmark.md). A stream is never shared with another draw: a model that draws more or
fewer numbers from one stream (a plugin model's own noise) cannot shift the others. Weights init
follows the seed through torch's global generator, which none of these streams touches.
"""

from __future__ import annotations

import numpy as np
import torch

DATA_ORDER = "data order"  # index: epoch; the permutation of the train split
FLIPS = "flips"  # index: epoch; which images of the epoch are mirrored
TIMESTEPS = "timesteps"  # index: rank; the diffusion step t of every training image
TRAINING_NOISE = "training noise"  # index: rank; the Gaussian noise added to every training image
SAMPLING = "sampling noise"  # index: eval.seed (and the step, for a learning-curve point); the sampler's noise
CHECKPOINT_CHECK = "checkpoint check"  # index: rank, step; timesteps and noise of the loss a checkpoint is judged by
STREAMS = (DATA_ORDER, FLIPS, TIMESTEPS, TRAINING_NOISE, SAMPLING, CHECKPOINT_CHECK)


def stream_seed(seed: int, name: str, *index: int) -> int:
    """A 63-bit seed that depends only on (seed, name, index)."""
    if name not in STREAMS:
        raise ValueError(f"unknown random stream '{name}' (streams: {', '.join(STREAMS)})")
    words = [seed & (2**64 - 1), *name.encode(), *(i & (2**64 - 1) for i in index)]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> np.uint64(1))


def stream(seed: int, name: str, *index: int) -> torch.Generator:
    """A CPU torch generator of the stream (seed, name, index)."""
    return torch.Generator().manual_seed(stream_seed(seed, name, *index))
