"""Steps a second of fit over a dict of columns (Hugging Face's ``Dataset.to_dict()``: lists of token ids,
attention masks and labels) of 10,000 rows, this tree against an older checkout's ``src`` (``--before``,
``git archive <commit> src | tar -x -C DIR``), which read each batch row by row and collated the rows
(forty-fifth session: the columns are sliced a batch at a time).

Each round runs both in fresh interpreters, side by side: after one untimed epoch, one epoch of 157 steps
(batches of 64) of a bag-of-embeddings classifier; the table gives median steps/s and the median
within-round ratio.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/column_batches.py --before /tmp/base/src --rounds 5
"""

from __future__ import annotations

import argparse
import statistics

from paired import paired_ratio, round_count, source_tree, tree_rounds

PROGRAM = """
import time, torch
from torch import nn
from optimlab.train import fit
generator = torch.Generator().manual_seed(0)
columns = {
    "input_ids": torch.randint(1, 1000, (10_000, 32), generator=generator).tolist(),
    "attention_mask": torch.ones(10_000, 32, dtype=torch.long).tolist(),
    "label": torch.randint(0, 2, (10_000,), generator=generator).tolist(),
}

class Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding, self.out = nn.Embedding(1000, 16), nn.Linear(16, 2)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        return self.out((self.embedding(input_ids) * mask).sum(1) / mask.sum(1))

model = Bag()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
fit(model, optimizer, columns, loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=64)
start = time.perf_counter()
state = fit(model, optimizer, columns, loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=64)
print(state.step / (time.perf_counter() - start))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=source_tree, required=True)
    parser.add_argument("--rounds", type=round_count, default=5)
    args = parser.parse_args()
    now, before = tree_rounds(PROGRAM, args.before, args.rounds)
    ratio, low, high = paired_ratio(now, before)
    print(
        f"dict of 10,000 rows: {statistics.median(now):.1f} steps/s sliced, {statistics.median(before):.1f} "
        f"steps/s row by row; ratio {ratio:.2f} [{low:.2f}, {high:.2f}] (median of {args.rounds} paired rounds)"
    )


if __name__ == "__main__":
    main()
