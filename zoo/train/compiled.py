"""The training step's network compiled with ``torch.compile`` (inductor) for runs long enough to repay it.

Compiling fuses what the convolutions leave (GroupNorm, FiLM, SiLU, the residual adds) in the forward and
the backward pass. For the 32x32 recipe's network (2x2 patches, batch 16) on the AVX512-BF16 EPYC it trains
1.09-1.14x faster after a cold compile of 64-76 s (``benchmarks/perf/compile_training.py``,
``benchmarks/results/compile_training.json``, docs/performance.md): a run of half an hour gains a few
percent more steps, a 4,000-step grid cell would lose time. The gain is a few percent either side of the
compile's cost and moves with the CPU kind (1.05x under an AVX2 emulation and 1.09x on the AMX Xeon for
the 16x16 recipe, docs/performance.md), so, unlike sampling (:mod:`zoo.runtime.compiled`), a configuration
nobody measured never borrows another's figure: ``auto`` trains it eagerly.

``auto`` decides from the run's budget, never from a timing: the images still to train (a steps or epochs
budget) or the seconds (a minutes budget) against the break-even measured for this CPU kind, image side and
precision, so the same command on the same kind of CPU makes the same choice. Only the network's forward
(and so its backward) is compiled; the checkpoints, the EMA and the loss checks use the model as it is.
Compiled and eager steps agree to float rounding, so a compiled run does not reproduce an eager run's
weights bit for bit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from zoo.errors import UserError
from zoo.runtime.compiled import compiler_quiet, failure_note, kind_of

# (images, seconds of eager training) after which a cold compile has paid for itself, per (CPU kind, image
# side, precision), for the recipe's network at that side and batch, one process of 2 threads: compile time
# / time saved per image, and compile time / fraction of a step saved (benchmarks/results/compile_training.json,
# the most cautious of its records for each: 32x32 RGB 1.09x, 1.14x and 1.12x after 68, 76 and 64 s, 16x16
# greyscale 1.13x, 1.08x and 1.10x after 66, 71 and 62 s).
PAYS_AFTER: dict[tuple[str, int, str], tuple[int, float]] = {
    ("avx512_bf16", 32, "fp32"): (183_000, 843.0),
    ("avx512_bf16", 16, "fp32"): (212_500, 829.0),
}


def pays_off(config: tuple[str, int, str], images: int | None, seconds: float | None) -> bool:
    """Will compiling repay itself over what is left of the budget (``images`` to train and/or ``seconds``
    of training; None: that limit is not set)? Training stops at whichever limit comes first, so each one
    given must be past the break-even. False where this configuration was not measured."""
    if config not in PAYS_AFTER or (images is None and seconds is None):
        return False
    need_images, need_seconds = PAYS_AFTER[config]
    return (images is None or images >= need_images) and (seconds is None or seconds >= need_seconds)


def decide(choice: str, config: tuple[str, int, str], *, images: int | None, seconds: float | None,
           own_loss: bool) -> bool:
    """Compile the training network? ``choice``: ``train.compile`` (checked with the spec). ``own_loss``: the
    model computes its own loss (the VAE), whose network is not what zoo compiles."""
    if choice == "off" or own_loss:
        return False
    return choice == "on" or pays_off(config, images, seconds)


def config_of(device: torch.device, image_size: int, bf16: bool) -> tuple[str, int, str]:
    """The key of :data:`PAYS_AFTER` for a run: CPU kind (or device type), image side, precision."""
    return kind_of(device), image_size, "bf16" if bf16 else "fp32"


def say(message: str, writer: bool) -> None:
    """Print ``message`` on stderr from the process that writes the run (rank 0)."""
    if writer:
        print(message, file=sys.stderr, flush=True)


def first_call_or_eager(call: Callable[[], float], generators: list[torch.Generator], fall_back: Callable[[], None],
                        writer: bool) -> float:
    """Run the first compiled step (``call``), where the compiler runs; if it fails (no C++ compiler, an op
    inductor cannot take), put the random streams back as they were, ``fall_back`` to the eager network and
    run the same step again, so the run is the eager run it would have been. (Under DDP every rank meets the
    same failure, one machine and one compiler, and falls back alike.)"""
    states = [g.get_state() for g in generators]
    try:
        with compiler_quiet():
            return call()
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the compiler means: train eagerly
        say(failure_note(error, "training without it"), writer)
        for g, state in zip(generators, states):
            g.set_state(state)
        fall_back()
        return call()
