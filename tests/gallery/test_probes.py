"""The gallery's probes: log10 of gradient norms and output scales."""

import math

import torch
from torch import nn

from optimlab.gallery.probes import layer_gradients, log10
from optimlab.gallery.verdict import paired_check


def test_log10_of_zero_is_below_every_float32_and_of_nan_is_nan():
    """A NaN norm (a network gone NaN) read as -inf, 'the gradient vanished entirely': the opposite. And a
    vanished gradient's -inf was read as a failed run by the verdicts (every non-finite value is), so the
    strongest evidence of vanishing counted against it: 0 is now log10 of the least float32, below it."""
    least = torch.tensor(2.0**-149, dtype=torch.float32)
    assert least.item() > 0 and (least / 2).item() == 0  # the least positive float32, halved, is 0
    assert log10(100.0) == 2.0 and log10(math.inf) == math.inf and math.isnan(log10(math.nan))
    assert log10(0.0) == math.log10(least.item()) and math.isfinite(log10(0.0))
    vanished = paired_check(
        "tiny init's gradient vanishes",
        [log10(0.0)] * 3,
        [log10(1e-3)] * 3,
        names=("tiny", "proper"),
        measure="log10 gradient norm",
        below=-5,
    )
    assert vanished.holds and "failed" not in vanished.evidence


def test_a_network_gone_nan_gives_nan_not_a_vanished_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight[0, 0] = math.nan
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    profile = layer_gradients(net, nn.functional.cross_entropy, x, y)
    assert math.isnan(log10(profile.backprop[0])) and math.isnan(log10(profile.output_std[-1]))
