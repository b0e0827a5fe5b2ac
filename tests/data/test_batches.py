"""Mini-batches: each row once per epoch, reproducible from the generator's seed."""

import numpy as np
import pytest
import torch

from optimlab.data import TensorPair, batches
from optimlab.errors import InvalidValueError

PAIR = TensorPair(torch.arange(10.0).unsqueeze(1), torch.arange(10) * 10)


def test_an_unshuffled_epoch_keeps_the_order_and_a_smaller_last_batch():
    got = list(batches(PAIR, 4, shuffle=False))
    assert [len(x) for x, _ in got] == [4, 4, 2]
    assert torch.equal(torch.cat([x for x, _ in got]), PAIR.x)


def test_a_shuffled_epoch_is_a_permutation_that_keeps_pairs_together():
    got = list(batches(PAIR, 3, shuffle=True, generator=torch.Generator().manual_seed(0)))
    x, y = torch.cat([b[0] for b in got]), torch.cat([b[1] for b in got])
    assert sorted(x[:, 0].tolist()) == list(range(10)) and not torch.equal(x, PAIR.x)
    assert torch.equal(y, x[:, 0].long() * 10)


def test_the_same_seed_gives_the_same_batches_and_epochs_differ():
    generator = torch.Generator().manual_seed(5)
    first, second = (
        torch.cat([y for _, y in batches(PAIR, 4, shuffle=True, generator=generator)]) for _ in range(2)
    )
    again = torch.cat(
        [y for _, y in batches(PAIR, 4, shuffle=True, generator=torch.Generator().manual_seed(5))]
    )
    assert torch.equal(first, again) and not torch.equal(first, second)


def test_drop_last_drops_the_incomplete_batch():
    assert [len(y) for _, y in batches(PAIR, 4, shuffle=False, drop_last=True)] == [4, 4]


def test_shuffling_needs_a_seeded_generator_and_batch_size_must_be_positive():
    with pytest.raises(InvalidValueError, match="generator"):
        next(batches(PAIR, 4, shuffle=True))
    with pytest.raises(InvalidValueError, match="batch_size"):
        next(batches(PAIR, 0, shuffle=False))


@pytest.mark.parametrize("size", [np.int64(4), np.int32(4), np.uint8(4)])
def test_a_numpy_integer_batch_size_is_the_count_it_holds(size):
    """A batch size read from numpy (np.int64 out of an array, a sweep's grid) is a whole number as
    Python's int is (operator.index), as UserBatches and fit take it; batches() refused it."""
    got = [y.tolist() for _, y in batches(PAIR, size, shuffle=False)]
    expected = [[0, 10, 20, 30], [40, 50, 60, 70], [80, 90]]
    assert got == [y.tolist() for _, y in batches(PAIR, 4, shuffle=False)] == expected


@pytest.mark.parametrize("size", [2.0, np.float64(2.0), True, "2", np.int64(0)])
def test_a_batch_size_that_is_no_whole_count_is_refused_in_one_line(size):
    with pytest.raises(InvalidValueError) as refused:
        next(batches(PAIR, size, shuffle=False))
    assert (
        str(refused.value)
        == f"invalid value {size!r} for batch_size: accepted an integer in [1, 2147483647]."
    )
