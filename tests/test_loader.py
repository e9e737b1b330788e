"""Training batches from a prepared split: range, shapes, determinism per (seed, epoch), resume, DDP shares."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.config.spec import DataSpec
from zoo.data.loader import EpochBatchSampler, PreparedSplit, batches_per_epoch, make_loader
from zoo.data.prepare import PreparedData, prepare
from zoo.errors import UserError


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> PreparedData:
    """The 1,797 digits at 8x8x1 (1,438 train images)."""
    return prepare(DataSpec(dataset="digits", size=8, channels=1, prepared=str(tmp_path_factory.mktemp("prepared"))))


def epoch(prepared: PreparedData, **kw: object) -> list[tuple[torch.Tensor, torch.Tensor]]:
    options = {"batch_size": 64, "seed": 7, **kw}
    return list(make_loader(prepared, "train", **options))


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


def test_batches_are_float_in_minus_one_one_with_labels(digits: PreparedData) -> None:
    batches = epoch(digits)
    assert len(batches) == batches_per_epoch(1438, 64) == 22
    images, labels = batches[0]
    assert images.shape == (64, 1, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (64,) and labels.dtype == torch.int64 and 0 <= labels.min() and labels.max() <= 9
    assert images.min() == -1 and images.max() == 1


def test_unshuffled_unflipped_batches_are_the_stored_images_rescaled(digits: PreparedData) -> None:
    images, labels = epoch(digits, shuffle=False, flip=False, batch_size=32)[1]
    stored = torch.from_numpy(np.array(digits.images("train")[32:64]))
    torch.testing.assert_close(images, stored.float() / 127.5 - 1)
    assert torch.equal(labels, torch.from_numpy(digits.labels("train")[32:64]))


def test_order_and_flips_are_a_function_of_seed_and_epoch(digits: PreparedData) -> None:
    assert same(epoch(digits, epoch=3), epoch(digits, epoch=3))
    assert not same(epoch(digits, epoch=3), epoch(digits, epoch=4))
    assert not same(epoch(digits, seed=1), epoch(digits, seed=2))
    # the sampler's order is shared by both flip settings, so labels match batch for batch
    flipped, plain = epoch(digits, epoch=3), epoch(digits, epoch=3, flip=False)
    assert all(torch.equal(f[1], p[1]) for f, p in zip(flipped, plain, strict=True))
    x, y = torch.cat([f[0] for f in flipped]), torch.cat([p[0] for p in plain])
    is_flip = (x == y.flip(-1)).flatten(1).all(1)
    assert ((x == y).flatten(1).all(1) | is_flip).all()  # each image as stored or mirrored
    changed = ~(x == y).flatten(1).all(1)
    assert 0.3 < changed.float().mean() < 0.7  # about half are flipped (few digits are symmetric)


def test_resume_mid_epoch_gives_the_remaining_batches(digits: PreparedData) -> None:
    full = epoch(digits, epoch=2)
    resumed = epoch(digits, epoch=2, start_batch=5)
    assert same(resumed, full[5:])
    assert epoch(digits, epoch=2, start_batch=len(full)) == []


def test_results_do_not_depend_on_workers(digits: PreparedData) -> None:
    assert same(epoch(digits, workers=2, epoch=1), epoch(digits, workers=0, epoch=1))


def test_the_global_rng_is_left_alone(digits: PreparedData) -> None:
    state = torch.get_rng_state()
    epoch(digits)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize(("n", "drop_last"), [(100, True), (100, False), (101, False)])
def test_ddp_ranks_share_each_global_batch_disjointly(n: int, drop_last: bool) -> None:
    def batches(**kw: int) -> list[list[int]]:
        return list(EpochBatchSampler(n, seed=5, epoch=1, drop_last=drop_last, **kw))

    world = [batches(batch_size=8, rank=r, world_size=3) for r in range(3)]
    single = batches(batch_size=24, rank=0, world_size=1)
    assert len(world[0]) == len(world[1]) == len(world[2]) == batches_per_epoch(n, 8, 3, drop_last)
    for k, shares in enumerate(zip(*world, strict=True)):
        joined = [i for share in shares for i in share]
        if drop_last or k < len(single) - 1:
            assert all(len(s) == 8 for s in shares) and joined == single[k]
            assert len(set(joined)) == 24  # disjoint
        else:  # the last, padded batch: equal shares that still contain every remaining index
            assert len({len(s) for s in shares}) == 1 and set(single[k]) <= set(joined)
    covered = {i for rank in world for batch in rank for i in batch}
    assert len(covered) == (96 if drop_last else n)


def test_make_loader_gives_each_rank_its_share(digits: PreparedData) -> None:
    ranks = [epoch(digits, batch_size=16, rank=r, world_size=2, flip=False) for r in range(2)]
    single = epoch(digits, batch_size=32, flip=False)
    for (a, la), (b, lb), (both, lboth) in zip(ranks[0], ranks[1], single, strict=True):
        assert torch.equal(torch.cat([a, b]), both) and torch.equal(torch.cat([la, lb]), lboth)


def test_batches_per_epoch() -> None:
    assert batches_per_epoch(10, 3) == 3 and batches_per_epoch(10, 3, drop_last=False) == 4
    assert batches_per_epoch(10, 3, world_size=2) == 1 and batches_per_epoch(10, 3, 2, drop_last=False) == 2


def test_too_few_images_for_one_batch_is_a_user_error(digits: PreparedData) -> None:
    with pytest.raises(UserError, match="fewer than one batch"):
        make_loader(digits, "val", batch_size=200, seed=0)


def test_dataset_items_are_uint8_and_pickle_without_the_array(digits: PreparedData, tmp_path: Path) -> None:
    dataset = PreparedSplit(digits, "train")
    image, label = dataset[3]
    assert image.dtype == torch.uint8 and image.shape == (1, 8, 8) and label.dtype == torch.int64
    assert torch.equal(image, torch.from_numpy(np.array(digits.images("train")[3])))
    assert len(pickle.dumps(dataset)) < 4096  # workers reopen the memory map instead of copying it
