"""Attention in a stacked model: the K members folded into one call of torch's kernel, the same bits."""

import copy
from collections import Counter

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.utils._python_dispatch import TorchDispatchMode

from optimlab.models.stacked import stacked_forward


class TinyTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(20, 16)
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embedding(x)).mean(1))


class CountingKernels(TorchDispatchMode):
    """How many times each of torch's kernels runs (under vmap: once a member where it has no batched form)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # torch's own vmap, the truth
def test_stacked_attention_runs_once_for_all_members_with_each_members_own_bits():
    """A stack of 5 small Transformers ran CPU flash attention member by member (torch has no vmap
    batching rule for it), forward and backward: a call a member a layer, and a backward that
    zero-filled all 5 members' gradient for each. Now one call a layer, each way (and once again in the
    backward, which recomputes it). Truth: torch's own vmap of the model, the same bits."""
    torch.manual_seed(0)
    members = [TinyTransformer() for _ in range(5)]
    x, y = torch.randint(0, 20, (6, 7)), torch.randint(0, 3, (6,))
    stacked, buffers = stack_module_state(members)

    def outputs_and_grads(forward):
        params = {name: p.detach().clone().requires_grad_() for name, p in stacked.items()}
        outputs = forward(params, buffers, x)
        losses = torch.stack([nn.functional.cross_entropy(out, y) for out in outputs])
        return outputs, torch.autograd.grad(losses.sum(), list(params.values()))

    template = copy.deepcopy(members[0])
    with CountingKernels() as counted:
        outputs, grads = outputs_and_grads(stacked_forward(template, len(members), shared_input=True))
    flash = "aten._scaled_dot_product_flash_attention_for_cpu"
    assert counted.calls[flash] == 4 and counted.calls[f"{flash}_backward"] == 2, counted.calls
    torch_own = vmap(lambda p, b, x: functional_call(template, (p, b), (x,)), in_dims=(0, 0, None))
    want_outputs, want_grads = outputs_and_grads(torch_own)
    assert torch.equal(outputs, want_outputs)
    for grad, want in zip(grads, want_grads, strict=True):
        assert torch.equal(grad, want)
