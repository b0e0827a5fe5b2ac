"""Weights drawn far too small before per-example norm layers (LayerNorm): the norms see the biases.

A Linear's output is its bias plus what its weights add for the example; drawn at 0.01x torch's init,
that is a hundredth of it, and a LayerNorm after it rescales what is mostly the bias, the same vector
for every example. Measured on digits (200 steps, 3 seeds, held-out accuracy at 0.01x / at torch's
init): 4 Linear(128) + LayerNorm + ReLU blocks, Adam 1e-3, 0.79 / 0.95; a TransformerEncoder (2 layers,
width 32) over the rows, Adam 3e-3, 0.65 / 0.83; 2 blocks under SGD 0.1 (momentum 0.9), 0.92 / 0.96;
2 blocks under Adam 1e-3, 0.95 / 0.95 (no harm: nothing is told). The doctor told the first a leaky
ReLU or nothing, the Transformer its lr too high.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from doctor.setups import rows_as_sequences, standardized
from optimlab.doctor import Finding, diagnose
from optimlab.doctor.rules._readings import DROWNED_SPREAD
from optimlab.doctor.rules.learning_rate import lr_too_high


def normed_blocks(depth: int, scale: float = 1.0) -> nn.Sequential:
    """``depth`` Linear(16) + LayerNorm + ReLU blocks and a head, each weight ``scale`` x torch's draw."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(64 if i == 0 else 16, 16), nn.LayerNorm(16), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(16, 10))
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                layer.weight.mul_(scale)
    return model


class RowEncoder(nn.Module):
    """Each digit's 8 rows embedded and read by one torch TransformerEncoderLayer, mean-pooled."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(8, 16)
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(16, 10)
        with torch.no_grad():
            for p in self.parameters():
                if p.dim() >= 2:
                    p.mul_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(1))


def norm_spreads(model: nn.Module, x: torch.Tensor, examples_axis: int = 0) -> list[float]:
    """By hand: each LayerNorm's outputs' std across examples (along ``examples_axis``; mean over units
    and positions) over their std, on ``x``."""
    seen: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _, __, out: seen.append(out))
        for m in model.modules()
        if isinstance(m, nn.LayerNorm)
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return [(out.std(examples_axis).mean() / out.std()).item() for out in seen]


def diagnosed(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], optimizer: torch.optim.Optimizer
) -> dict:
    found = diagnose(model, data, nn.CrossEntropyLoss(), optimizer, steps=40, batch_size=32, lr_find=False)
    return {f.rule: f for f in found.problems}


def test_layer_normed_blocks_drawn_at_a_hundredth_are_told_their_init_and_at_torchs_init_nothing():
    x, y = standardized()
    small = normed_blocks(4, 0.01)
    spreads = norm_spreads(small, x)
    assert max(spreads[1:]) < DROWNED_SPREAD < 0.2 < min(norm_spreads(normed_blocks(4), x))  # the truth
    found = diagnosed(small, (x, y), torch.optim.Adam(small.parameters(), lr=1e-3))
    init = found["init_scale"]
    assert init.evidence["init_ratio"] < 0.01 and init.evidence["norm_spread_fraction"], init
    assert init.recommendation.startswith("nn.init.kaiming_normal_(weight) on the weights of 0 (Linear)"), (
        init
    )
    assert "LeakyReLU" not in " ".join(f.recommendation for f in found.values()), found
    healthy = normed_blocks(4)
    found = diagnosed(healthy, (x, y), torch.optim.Adam(healthy.parameters(), lr=1e-3))
    assert "init_scale" not in found and "dead_units" not in found, found


def test_a_transformer_encoder_drawn_at_a_hundredth_is_told_its_init_not_its_lr():
    x, y = rows_as_sequences()
    small = RowEncoder(0.01)
    assert max(norm_spreads(small, x)) < DROWNED_SPREAD < 0.2 < min(norm_spreads(RowEncoder(), x))
    found = diagnosed(small, (x, y), torch.optim.Adam(small.parameters(), lr=1e-3))
    assert "init_scale" in found and "lr_too_high" not in found, found
    healthy = RowEncoder()
    found = diagnosed(healthy, (x, y), torch.optim.Adam(healthy.parameters(), lr=1e-3))
    assert "init_scale" not in found and "lr_too_high" not in found, found


def test_units_dead_from_the_start_behind_a_layer_norm_fed_by_tiny_weights_are_told_the_init():
    """Two blocks under SGD 0.1: half the last ReLU's units dead from the start, on the one vector the
    norm makes of the biases; a leaky ReLU was advised, which leaves the weights a hundredth of their
    scale."""
    x, y = standardized()
    small = normed_blocks(2, 0.01)
    found = diagnosed(small, (x, y), torch.optim.SGD(small.parameters(), lr=0.1, momentum=0.9))
    dead = found["dead_units"]
    assert dead.recommendation.startswith("nn.init.kaiming_normal_(weight) on the weights of 0 (Linear)"), (
        dead
    )
    assert "biases, not its inputs, decide which units fire" in dead.recommendation


class LatentQuery(nn.Module):
    """A Perceiver's read-out (Jaegle et al. 2021, https://arxiv.org/abs/2103.03206): a learned latent, a
    Parameter the same for every example, through a LayerNorm, cross-attends to the embedded rows; its
    Linears drawn N(0, 0.02) with zero biases, as BERT-style code draws them (0.085x their scale)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.latent = nn.Linear(8, width), nn.Parameter(torch.randn(1, width) * 0.02)
        self.norm_latent, self.norm_rows = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, 2, batch_first=True)
        self.norm, self.hidden, self.out = (
            nn.LayerNorm(width),
            nn.Linear(width, 4 * width),
            nn.Linear(4 * width, width),
        )
        self.head = nn.Linear(width, 10)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.norm_rows(self.embed(x))
        query = self.norm_latent(self.latent).expand(x.shape[0], -1, -1)
        h = self.attention(query, rows, rows)[0]
        h = h + self.out(torch.relu(self.hidden(self.norm(h))))
        return self.head(h.mean(1))


def test_a_norm_of_a_learned_latent_the_same_for_every_example_is_not_read_as_drowned():
    """e3400458 read a LayerNorm over a Perceiver's learned latent, whose output is the same for every
    example by design (spread 0), as a norm drowned under its biases: the model was told 'the norm
    layers see the biases, the same for every example' though its biases are 0. Truth: by hand, the
    latent's norm gives one output for two different batches, and the norm of the embedded rows varies
    across examples by over 0.2 of its std. Left to tell: this init does cost accuracy (0.41 against
    xavier_normal_'s 0.62 held out, 200 Adam steps, 3 seeds), not through drowned norms."""
    x, y = rows_as_sequences()
    model, seen = LatentQuery(), {}
    for name in ("norm_latent", "norm_rows"):
        model.get_submodule(name).register_forward_hook(
            lambda m, _, out, name=name: seen.setdefault(name, []).append(out)
        )
    with torch.no_grad():
        model(x[:32]), model(x[32:64])
    assert torch.equal(*seen["norm_latent"])  # the same whatever the batch
    rows = seen["norm_rows"][0]
    assert (rows.std(0).mean() / rows.std()).item() > 0.2  # the norm that reads the examples
    model = LatentQuery()
    found = diagnosed(model, (x, y), torch.optim.Adam(model.parameters(), lr=1e-3))
    assert "norm_spread_fraction" not in getattr(found.get("init_scale"), "evidence", {}), found


class Perceiver(nn.Module):
    """A Perceiver (Jaegle et al. 2021, https://arxiv.org/abs/2103.03206): a learned latent array of 4,
    the same for every example, cross-attends to the embedded rows, then two torch
    TransformerEncoderLayers attend among the latents; ``scale``: every weight matrix but the latents
    ``scale`` x torch's draw; ``batch_first`` False: its sequences (positions, batch, width), torch's
    default layout."""

    def __init__(self, scale: float = 1.0, width: int = 16, batch_first: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.batch_first = batch_first
        self.embed, self.latents = nn.Linear(8, width), nn.Parameter(torch.randn(4, width) * 0.02)
        self.cross = nn.MultiheadAttention(width, 2, batch_first=batch_first)
        self.cross_norm = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, 2, 2 * width, dropout=0.0, batch_first=batch_first)
            for _ in range(2)
        )
        self.head = nn.Linear(width, 10)
        with torch.no_grad():
            for p in self.parameters():
                if p.dim() == 2 and p is not self.latents:
                    p.mul_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.embed(x)
        latents = self.latents.expand(x.shape[0], -1, -1)
        if not self.batch_first:
            rows, latents = rows.transpose(0, 1), latents.transpose(0, 1)
        z = self.cross_norm(latents + self.cross(latents, rows, rows, need_weights=False)[0])
        for block in self.blocks:
            z = block(z)
        return self.head(z.mean(1 if self.batch_first else 0))


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_a_perceiver_drawn_far_off_torchs_init_is_told_its_init_and_at_torchs_init_nothing(
    scale, batch_first
):
    """A Perceiver drawn at 0.01x was told its lr too high (100 AdamW steps: loss 2.06 against 1.52 at
    torch's init), though its norms see the latents alone: the instruments read a norm's spread over
    every row, and a sequence's rows hold the latents, which differ between positions (0.77 of the
    std), where what varies across the examples is 0 to 1e-6 of it; at 40 steps it was told its outputs
    lost (lost_signal: He's init with zero biases), not the init its norms drown. Truth, by hand: each
    norm's spread across examples at each place under DROWNED_SPREAD at 0.01x, over 0.2 at torch's init;
    over the latents' rows over 0.5 all the same. At 100x its scores are too large (told already).
    Sequence-first (``batch_first`` False), the examples are no norm output's dim 0: read across its
    positions, the spread said nothing of the examples, and the 0.01x model was told lost_signal and
    its lr too high as before."""
    x, y = rows_as_sequences()
    planted, healthy = Perceiver(scale, batch_first=batch_first), Perceiver(batch_first=batch_first)
    if scale < 1:
        examples = 0 if batch_first else 1
        spreads, healthy_spreads = norm_spreads(planted, x, examples), norm_spreads(healthy, x, examples)
        assert max(spreads) < DROWNED_SPREAD < 0.2 < min(healthy_spreads)
        rows = planted.cross_norm(planted.latents).detach()  # the latents alone: what the norm sees
        assert (rows.std(0).mean() / rows.std()).item() > 0.5
    found = diagnosed(planted, (x, y), torch.optim.AdamW(planted.parameters(), lr=1e-3))
    assert "init_scale" in found and "lr_too_high" not in found, found
    # what else is told follows from it: one output for every example (lost_signal), exploding gradients
    assert all(f.consequence_of == ("init_scale",) for rule, f in found.items() if rule != "init_scale"), (
        found
    )
    found = diagnosed(healthy, (x, y), torch.optim.AdamW(healthy.parameters(), lr=1e-3))
    assert not found, found


def test_an_init_finding_near_the_weights_scale_leaves_the_update_ratio_told():
    """Only weights drawn far too small (under TINY_WEIGHTS of their scale) account for large steps: an
    init_scale finding at 0.6x (a signal changed) leaves lr_too_high reading the update-to-weight ratio.
    The threshold is lowered so that any step counts; the ratio read is the statistics' own."""
    x, y = standardized()
    model = normed_blocks(2)
    stats = diagnose(model, (x, y), nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3),
                     steps=20, batch_size=32, lr_find=False).statistics  # fmt: skip
    _, ratios = stats.update_to_weight_ratios()
    assert ratios.numel() and ratios.max() > 0  # the truth: steps moved the weights

    def consult_at(init_ratio: float) -> Callable[[str], Finding | None]:
        init = Finding("init_scale", "warning", "", "", "", evidence={"init_ratio": init_ratio})
        return lambda name: init if name == "init_scale" else None

    near = lr_too_high(stats, None, consult_at(0.6), update_ratio=1e-9)
    assert near is not None and "each step moves the weights by" in near.explanation, near
    assert lr_too_high(stats, None, consult_at(0.01), update_ratio=1e-9) is None
