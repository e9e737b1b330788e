"""The network compiled with ``torch.compile`` (inductor) for sampling jobs long enough to repay it.

Compiling fuses the U-Net's memory-bound remainder (GroupNorm, FiLM, SiLU, the softmaxes). For the
default digits network at batch 250 (``benchmarks/perf/compile_sampling.py``, docs/performance.md) it
samples 1.31x faster on the AMX Xeon but only 1.08x under AVX2, where the convolutions, which it leaves
as they are, take most of the time; a cold compile costs 90-100 s on both. At 32x32 the convolutions
weigh more and the compile takes longer: on AMX 1.07x after 216 s in fp32, 1.30x after 302 s in bf16;
under AVX2 1.09x after 218 s. A training run or a grid cell's 1,000 images at 10 steps never repays
that; a ``zoo sample`` of many thousands does.

``auto`` decides from the job's size alone, counted in network evaluations (images x calls per image),
never from a timing, so the same command on the same kind of CPU always makes the same choice and draws
the same images. The calls per image are counted while the first batch is drawn eagerly, so any
registered sampler (one call per step, two, or all T) is judged by what it does. The break-even depends
on the CPU kind, the image side and the precision, and it moves by up to 10x between the configurations
measured, so ``auto`` compiles only at a side and precision measured (an unmeasured CPU kind takes the
most cautious kind's figure there); elsewhere it samples eagerly, with a note when the job is large
enough that ``--compile on`` might pay. Compiled and eager networks agree to float rounding: images may
differ by a level here and there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from zoo.errors import UserError
from zoo.runtime.cpu import KINDS, current

CHOICES = ("auto", "on", "off")
# Network evaluations (images x calls per image) after which a cold compile has paid for itself, per
# (CPU kind, image side, precision): compile time / time saved per evaluation, for the default recipe's
# network at batch 250 (benchmarks/results/compile_sampling.json): AMX 16x16 fp32 102 s / 0.41 ms,
# AVX2 (emulated) 16x16 fp32 90 s / 0.25 ms, AMX 32x32 bf16 302 s / 0.58 ms, AMX 32x32 fp32 216 s / 0.18 ms,
# AVX2 32x32 fp32 218 s / 0.63 ms (8 rounds; a 4-round run gave 125,000: the more cautious figure is kept).
PAYS_AFTER: dict[tuple[str, int, str], int] = {
    ("amx", 16, "fp32"): 250_000,
    ("avx2", 16, "fp32"): 370_000,
    ("amx", 32, "bf16"): 520_000,
    ("amx", 32, "fp32"): 1_230_000,
    ("avx2", 32, "fp32"): 350_000,
}
WORTH_A_NOTE = 1_000_000  # evaluations: an unmeasured configuration this large is told about --compile on


def break_even(kind: str, side: int, precision: str) -> int | None:
    """The evaluations after which compiling pays, or None where nothing measured says so. A CPU kind not
    measured borrows the most cautious CPU figure at the same side and precision (the kinds measured differ
    by 1.5x at 16x16 and 3.5x at 32x32); a GPU borrows nothing."""
    if (kind, side, precision) in PAYS_AFTER:
        return PAYS_AFTER[kind, side, precision]
    cpus = [v for (k, s, p), v in PAYS_AFTER.items() if (s, p) == (side, precision)]
    return max(cpus) if cpus and kind in KINDS else None


def pays_off(evaluations: int, kind: str, side: int, precision: str) -> bool:
    """Will compiling repay itself over ``evaluations`` network calls in this configuration?"""
    threshold = break_even(kind, side, precision)
    return threshold is not None and evaluations >= threshold


@contextmanager
def counting_calls(model: nn.Module) -> Iterator[list[int]]:
    """Counts ``model``'s forward calls inside the block: ``with counting_calls(m) as calls: ...; calls[0]``."""
    calls = [0]

    def count(module: nn.Module, args: tuple) -> None:  # noqa: ARG001
        calls[0] += 1

    handle = model.register_forward_pre_hook(count)
    try:
        yield calls
    finally:
        handle.remove()


def kind_of(device: torch.device) -> str:
    """The CPU's zoo kind (:mod:`zoo.runtime.cpu`), or the device type of anything else ("cuda")."""
    return current().kind if device.type == "cpu" else device.type


class SamplingNetworks:
    """Which network draws each batch of a sampling job of ``n`` images in batches of ``shape[0]``.

    ``off``: the model. ``on``: the model compiled for full batches, from the first. ``auto``: the
    first batch eagerly, counting the sampler's calls; then the compiled model if the remaining full
    batches' evaluations repay the compile. A last, smaller batch is always eager: compiling for a
    second shape would cost another compile for a fraction of a batch.
    """

    def __init__(
        self,
        model: nn.Module,
        choice: str,
        *,
        n: int,
        shape: Sequence[int],
        device: torch.device,
        precision: str = "fp32",
        note: Callable[[str], None] = print,
    ) -> None:
        if choice not in CHOICES:
            raise UserError(f"compile must be one of {', '.join(CHOICES)}, got '{choice}'")
        self.model, self.choice, self.shape, self.device, self.note = model, choice, tuple(shape), device, note
        self.config = (kind_of(device), self.shape[-1], precision)
        self.full_images = n // self.shape[0] * self.shape[0]
        self.network = model
        self.calls_per_image: int | None = None
        if choice == "on" and self.full_images:
            self.network = self._compiled(f"{self.full_images:,} images")

    @contextmanager
    def batch(self, start: int, size: int) -> Iterator[nn.Module]:
        """The network to draw images ``start`` to ``start + size`` with. The first batch's calls are
        counted (``calls_per_image``): what the sampler really did, whatever steps it was asked for."""
        deciding = start == 0 and self.choice == "auto" and size == self.shape[0]
        network = self.model if size < self.shape[0] or deciding else self.network
        with counting_calls(network) as calls:  # on a compiled module the hook runs outside its graph
            yield network
        if start == 0:
            self.calls_per_image = calls[0]
        evaluations = calls[0] * (self.full_images - size)
        if not deciding or not evaluations:
            return
        if pays_off(evaluations, *self.config):
            self.network = self._compiled(f"{evaluations:,} network evaluations")
        elif break_even(*self.config) is None and evaluations >= WORTH_A_NOTE:
            kind, side, precision = self.config
            where = f"a {kind} CPU" if kind in KINDS else kind
            self.note(f"--compile auto: compiling was not measured for {side}x{side} {precision} on {where}, so the "
                      f"remaining {evaluations:,} network evaluations run eagerly; --compile on may pay this long")

    def _compiled(self, job: str) -> nn.Module:
        self.note(f"compiling the network for {job} (torch.compile: 1-2 minutes when this network and batch are new "
                  "to inductor's cache, seconds after; --compile off to skip)")
        network = compile_for_sampling(self.model, self.shape, self.device, self.note)
        return self.model if network is None else network


def compiled(model: nn.Module) -> nn.Module:
    """``model`` wrapped by ``torch.compile`` for fixed shapes; it compiles at its first call."""
    return torch.compile(model, dynamic=False)


@contextmanager
def compiler_quiet() -> Iterator[None]:
    """While inductor compiles: silence torch's "No CUDA runtime is found", logged on every CPU machine."""
    quiet = logging.getLogger("torch.utils.cpp_extension")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quiet.setLevel(level)


def failure_note(error: Exception, instead: str) -> str:
    """The one line that says the compiler failed here (the error's first line) and what runs ``instead``."""
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"torch.compile failed here ({type(error).__name__}: {first_line[:200]}); {instead}"


def compile_for_sampling(
    model: nn.Module, shape: Sequence[int], device: torch.device, note: Callable[[str], None] = print
) -> nn.Module | None:
    """``model`` compiled for batches of ``shape`` on ``device`` (compiled now, by one call on zeros), or None
    with a note when inductor cannot compile here (no C++ compiler, an unsupported op): the caller samples eagerly."""
    network = compiled(model)
    try:
        with compiler_quiet(), torch.inference_mode():  # inputs made in it, as the samplers': dynamo guards on it
            network(torch.zeros(*shape, device=device), torch.zeros(shape[0], dtype=torch.long, device=device))
    except Exception as error:  # noqa: BLE001 - any failure of the compiler means: sample eagerly
        note(failure_note(error, "sampling without it"))
        return None
    return network
