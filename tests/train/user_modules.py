"""The user's code that tests of dict batches write out (the ``write_modules`` fixture) and name by
import path, as ``optimlab train --model optimlab_dict_net:build`` does."""

# A model of dict batches {"x": (N, 4), "labels": (N,)} that returns its own loss, as Hugging Face's do.
DICT_NET = """
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x, labels=None):
        logits = self.lin(x)
        return {"logits": logits, "loss": nn.functional.cross_entropy(logits, labels)}


def build(*args, **kwargs):
    return Net()
"""
