"""Batches for training, streamed from a prepared split (``zoo.data.prepare``).

The study held its images in memory, scaled to [-1, 1] and randomly flipped horizontally (as Ho et
al. 2020 did for CIFAR-10). Here the arrays stay memory-mapped and each batch is read with one
fancy-index over sorted indices, so only the pages of the batch are touched.

Determinism (what makes exact mid-epoch resume possible):

- The order of an epoch is ``torch.randperm`` from a generator seeded by (seed, epoch), and whether
  sample ``i`` is flipped in that epoch comes from another generator seeded by (seed, epoch). Both
  are pure functions of (seed, epoch): they do not depend on ``workers``, on ``start_batch`` or on
  how many batches were drawn before, and no global RNG is read or advanced.
- ``start_batch=k`` yields exactly the batches ``k, k+1, ...`` of the full epoch without reading the
  skipped ones.
- With ``world_size`` W > 1, ``batch_size`` is per rank (the torch/DDP convention) and global batch
  ``k`` is ``order[k*B*W:(k+1)*B*W]``; rank r takes its r-th slice of B. The ranks' shares are
  disjoint and together equal the single-process batch of size B*W. Without ``drop_last`` the last
  global batch is padded from the start of the order (as ``DistributedSampler`` pads) so every rank
  sees the same number of batches.

Batches are ``(images, labels)``: float32 ``(B, C, H, W)`` in [-1, 1] and int64 ``(B,)`` (-1 where the
dataset has no labels).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo.data.prepare import PreparedData
from zoo.errors import UserError
from zoo.runtime.streams import DATA_ORDER, FLIPS, stream


def batches_per_epoch(n: int, batch_size: int, world_size: int = 1, drop_last: bool = True) -> int:
    """Batches each rank draws in one epoch over ``n`` images (``batch_size`` per rank)."""
    global_batch = batch_size * world_size
    return n // global_batch if drop_last else math.ceil(n / global_batch)


class PreparedSplit(Dataset):
    """One split of a prepared dataset as uint8 ``(C, H, W)`` tensors and int64 labels.

    ``flips`` (bool, one per image) mirrors the chosen images horizontally. The memory map is opened
    lazily in each process and never pickled, so DataLoader workers share the page cache.
    """

    def __init__(self, prepared: PreparedData, split: str, flips: Tensor | None = None) -> None:
        self.prepared, self.split, self.flips = prepared, split, flips
        self._length = prepared.manifest["split_sizes"][split]
        self._images: np.ndarray | None = None
        self._labels: Tensor | None = None

    def __len__(self) -> int:
        return self._length

    def _open(self) -> tuple[np.ndarray, Tensor]:
        if self._images is None or self._labels is None:
            self._images = self.prepared.images(self.split)
            self._labels = torch.from_numpy(self.prepared.labels(self.split))
        return self._images, self._labels

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_images": None, "_labels": None}

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Tensor, Tensor]]:
        """The samples at ``indices`` read with one fancy-index over the sorted unique indices."""
        images, labels = self._open()
        wanted = np.asarray(indices, dtype=np.int64)
        unique, inverse = np.unique(wanted, return_inverse=True)
        batch = torch.from_numpy(np.asarray(images[unique]))[torch.from_numpy(inverse)]
        if self.flips is not None:
            flip = self.flips[torch.from_numpy(wanted)]
            batch[flip] = batch[flip].flip(-1)
        return list(zip(batch.unbind(0), labels[torch.from_numpy(wanted)].unbind(0), strict=True))


def collate(samples: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Stack uint8 samples and scale them to float32 in [-1, 1] (x / 127.5 - 1: 0 -> -1, 255 -> 1)."""
    images = torch.stack([s[0] for s in samples]).to(torch.float32).div_(127.5).sub_(1)
    return images, torch.stack([s[1] for s in samples])


class EpochBatchSampler(Sampler[list[int]]):
    """The batches of one epoch for one rank: a pure function of (seed, epoch), resumable mid-epoch."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int,
        epoch: int = 0,
        start_batch: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size or start_batch < 0:
            raise ValueError(f"need batch_size, world_size >= 1, 0 <= rank < world_size, start_batch >= 0; got "
                             f"{batch_size=}, {world_size=}, {rank=}, {start_batch=}")
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.start_batch, self.shuffle, self.drop_last = start_batch, shuffle, drop_last
        self.rank, self.world_size = rank, world_size

    def order(self) -> np.ndarray:
        """The epoch's order of all ``n`` indices (shared by every rank)."""
        if not self.shuffle:
            return np.arange(self.n)
        return torch.randperm(self.n, generator=stream(self.seed, DATA_ORDER, self.epoch)).numpy()

    def __len__(self) -> int:
        return max(0, batches_per_epoch(self.n, self.batch_size, self.world_size, self.drop_last) - self.start_batch)

    def __iter__(self) -> Iterator[list[int]]:
        order, per_rank = self.order(), self.batch_size
        global_batch = per_rank * self.world_size
        total = batches_per_epoch(self.n, self.batch_size, self.world_size, self.drop_last)
        for k in range(self.start_batch, total):
            chunk = order[k * global_batch : (k + 1) * global_batch]
            if len(chunk) < global_batch and self.world_size > 1:  # the last, partial batch: pad it
                per_rank = math.ceil(len(chunk) / self.world_size)
                chunk = np.concatenate([chunk, np.resize(order, per_rank * self.world_size - len(chunk))])
            yield chunk[self.rank * per_rank : (self.rank + 1) * per_rank].tolist()


def make_loader(
    prepared: PreparedData,
    split: str,
    *,
    batch_size: int,
    seed: int,
    epoch: int = 0,
    start_batch: int = 0,
    shuffle: bool = True,
    flip: bool = True,
    drop_last: bool = True,
    workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader over one epoch of ``split`` yielding ``(images in [-1, 1], labels)`` batches.

    Build one per epoch. ``start_batch`` resumes mid-epoch; ``batch_size`` is per rank.
    """
    n = len(PreparedSplit(prepared, split))
    if drop_last and batches_per_epoch(n, batch_size, world_size, drop_last) == 0:
        raise UserError(
            f"split '{split}' of {prepared.path} has {n} images, fewer than one batch of "
            f"{batch_size * world_size}; lower train.batch_size or prepare more images"
        )
    flips = torch.rand(n, generator=stream(seed, FLIPS, epoch)) < 0.5 if flip else None
    sampler = EpochBatchSampler(
        n, batch_size, seed=seed, epoch=epoch, start_batch=start_batch, shuffle=shuffle,
        drop_last=drop_last, rank=rank, world_size=world_size,
    )
    return DataLoader(
        PreparedSplit(prepared, split, flips),
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),  # DataLoader draws a base seed: not from the global RNG
    )
