"""The few DDP collectives the loop needs; each is a no-op for a single process."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def init_distributed() -> tuple[int, int]:
    """(rank, world_size), initialising the process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world_size) if world_size > 1 else (0, 1)


def barrier(world_size: int) -> None:
    if world_size > 1:
        dist.barrier()


def any_rank(flag: bool, world_size: int) -> bool:
    """True when ``flag`` is true on any rank, so every rank takes the same branch."""
    if world_size == 1:
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather(value: Any, world_size: int) -> list[Any]:
    """Every rank's ``value`` (a picklable object), in rank order."""
    if world_size == 1:
        return [value]
    values: list[Any] = [None] * world_size
    dist.all_gather_object(values, value)
    return values
