"""Data whose one short batch drop_last drops, n rows under the batch size: one line naming them."""

import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, SubsetRandomSampler, TensorDataset

from optimlab.errors import InvalidValueError
from optimlab.train import fit


@pytest.mark.parametrize(
    ("loader", "said"),
    [
        (
            lambda rows: DataLoader(rows, batch_size=32, drop_last=True),
            "here 10 rows sampled, batch_size=32)",
        ),
        (
            lambda rows: DataLoader(
                rows, batch_size=4, sampler=SubsetRandomSampler(range(3)), drop_last=True
            ),
            "here 3 rows sampled, batch_size=4)",
        ),
    ],
)
def test_a_dataloader_whose_only_batch_drop_last_drops_says_its_rows_and_batch_size(loader, said):
    """torch's own DataLoader yields no batch here (len 0); the refusal said 'a DataLoader with no batch'
    and not why: its rows against its batch size."""
    rows = TensorDataset(torch.randn(10, 3), torch.randint(0, 2, (10,)))
    data = loader(rows)
    assert len(data) == 0 and list(data) == []
    model = nn.Linear(3, 2)
    with pytest.raises(
        InvalidValueError, match=rf"'a DataLoader with no batch' for data: .*{re.escape(said)}"
    ) as refused:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=nn.CrossEntropyLoss(), epochs=1)
    assert "\n" not in str(refused.value)
