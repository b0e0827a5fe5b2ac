"""The robust scaler's partial selection: the values a full sort puts at the ranks asked, bit for bit."""

from unittest import mock

import torch

from optimlab.techniques import scaling


def awkward_data() -> torch.Tensor:
    """(300, 4, 2) float64 values with ties, a different count of NaNs in each feature, one feature all
    NaN and one constant."""
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(300, 4, 2, generator=generator, dtype=torch.float64) * 4).round() / 4  # ties
    x[torch.rand(x.shape, generator=generator) < torch.linspace(0, 0.5, 8).reshape(4, 2)] = torch.nan
    x[:, 1, 0] = torch.nan
    x[:, 2, 1] = 3.0
    return x


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two float64 tensors hold the same bits (NaNs included), but for the sign of a zero: where
    -0.0 and 0.0 tie, which one a rank holds is the sort's choice (torch promises none), numpy's another."""
    return torch.equal((a + 0.0).view(torch.int64), (b + 0.0).view(torch.int64))


def test_the_order_statistics_are_those_of_the_full_sort():
    """The robust fit sorted every row of each feature (3.5 s at 2^24 rows) to read six of them. Truth:
    torch's sort (NaNs last), gathered at the same ranks, equal bit for bit (a tied zero's sign aside)."""
    x = awkward_data()
    ranks = torch.randint(0, len(x), (6, 4, 2), generator=torch.Generator().manual_seed(1))
    ranks[:, 3, 0] = torch.tensor([0, 0, len(x) - 1, 5, 5, 7])  # repeated ranks, the first and the last
    sorted_then_gathered = x.sort(dim=0).values.gather(0, ranks)
    selected = scaling._order_statistics(x, ranks)
    assert same_bits(selected, sorted_then_gathered)
    column = x[:, 0, 0]  # (N,) values: a target's statistics
    picked = ranks[:, 0, 0]
    assert same_bits(scaling._order_statistics(column, picked), column.sort().values[picked])


def test_the_robust_fit_is_the_one_the_sort_gave_bit_for_bit():
    """Truth: the same fit through the full sort it replaced (swapped in), equal bit for bit."""
    x = awkward_data()
    fitted = scaling.create("robust", quantile_range=(10.0, 90.0)).fit(x)
    by_sort = lambda x, ranks: x.sort(dim=0).values.gather(0, ranks)  # noqa: E731
    with mock.patch.object(scaling, "_order_statistics", by_sort):
        sorted_fit = scaling.create("robust", quantile_range=(10.0, 90.0)).fit(x)
    for buffer in ("shift", "scale"):
        assert same_bits(getattr(fitted, buffer).double(), getattr(sorted_fit, buffer).double())
