"""The user's own model of ``batched_user_model.py``, written as a user writes one and named there by
import path (``user_cnn:BatchNormCNN``): optimlab knows nothing of it beyond what it builds."""

from __future__ import annotations

import torch
from torch import nn


class BatchNormCNN(nn.Module):
    """Two 3x3 convolution blocks with batch norm (Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167),
    a max-pool between them, global average pooling and a linear head; rows of features are viewed
    as images of ``input_shape`` (digits: 64 features, 1x8x8). No bias before a batch norm, as usual: it
    would get a zero gradient, only rounding noise, which Adam amplifies (docs/architecture.md)."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, width: int = 8) -> None:
        super().__init__()
        self.shape = tuple(input_shape)
        self.features = nn.Sequential(
            nn.Conv2d(self.shape[0], width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
        )
        self.head = nn.Linear(2 * width, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, *self.shape)).mean((2, 3)))
