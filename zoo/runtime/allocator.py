"""The C allocator setting zoo's processes run with on Linux (glibc).

A U-Net step allocates and frees dozens of activation tensors of 0.1-32 MB. glibc serves blocks
above its mmap threshold (128 KB, raised on the fly only up to the sizes it has seen freed) with
fresh ``mmap`` pages and gives freed heap tops back to the kernel, so the next step pays a page
fault and a page of zeroing for every 4 KB it writes. On the 2-core Xeon of docs/performance.md
that made a 16x16 DDIM step 1.2-1.3x slower (zoo and the reference packages alike) and a linear
attention layer 2.5x slower than with the memory kept; it was also why splitting 16x16 sampling
batches into small chunks had looked faster.

:func:`tune_allocator` raises the mmap threshold to glibc's maximum (32 MiB on 64-bit) and the
trim threshold to 1 GiB: freed activation memory stays in the process for the next step. The
price is a resident size that stays near its peak instead of shrinking between steps, which a
training or sampling process reaches again at once anyway. zoo's commands and benchmark cells call
it; library users can call it themselves (it is what ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` in the environment do for a whole process, or an LD_PRELOADed
jemalloc/tcmalloc, as PyTorch's CPU launcher suggests).
"""

from __future__ import annotations

import os
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # the largest value glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2**30

_tuned: bool | None = None


def tune_allocator() -> bool:
    """Keep freed tensor memory in this process (glibc only; once per process). Returns whether the
    setting is in force. Left alone when ``ZOO_TUNE_MALLOC=0`` or when the environment already sets
    any ``MALLOC_*`` variable (the user chose), on other platforms and C libraries."""
    global _tuned
    if _tuned is None:
        _tuned = _apply()
    return _tuned


def _apply() -> bool:
    if not sys.platform.startswith("linux") or os.environ.get("ZOO_TUNE_MALLOC", "1") == "0":
        return False
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False
    import ctypes  # when the setting is applied, not at every `import zoo`

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 -- glibc only: musl's mallopt is a stub
    except (OSError, AttributeError):
        return False
    # mallopt returns 1 on success; the mmap threshold first, so a refused value changes nothing
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
