"""Losses: each equals its closed form, and says whether it is a classification or a regression loss."""

import warnings

import pytest
import torch
from torch.nn import functional

from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import Capability, get_registry
from optimlab.techniques import losses


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_cross_entropy_with_label_smoothing():
    logits, labels, smoothing = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 5, (8,)), 0.1
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    target = torch.full_like(log_p, smoothing / 5).scatter_add(
        1, labels[:, None], torch.full((8, 1), 1 - smoothing, dtype=torch.float64)
    )
    expected = -(target * log_p).sum(dim=1).mean()
    loss = losses.create("cross_entropy", label_smoothing=smoothing)
    torch.testing.assert_close(loss(logits, labels), expected)


def test_mse_compares_n_targets_with_n_by_1_outputs_elementwise():
    prediction, target = torch.randn(6, 1), torch.randn(6)
    expected = (prediction[:, 0] - target).square().mean()
    torch.testing.assert_close(losses.create("mse")(prediction, target), expected)


TORCH_POINTWISE = {
    "mse": torch.nn.MSELoss(),
    "huber": torch.nn.HuberLoss(),
    "bce": torch.nn.BCEWithLogitsLoss(),
}


@pytest.mark.parametrize("name", sorted(TORCH_POINTWISE))
def test_a_target_of_other_dimensions_is_refused_though_of_as_many_elements(name):
    """mse of outputs (3, 2) against targets (2, 3) reshaped the targets to (3, 2), pairing outputs with
    other examples' targets, and returned a number; torch's loss refuses those shapes (the truth). Now
    refused in one line naming both shapes; targets differing by size-1 dimensions still equal torch's
    loss on the prediction's shape."""
    prediction, target, loss = torch.randn(3, 2), torch.rand(2, 3), losses.create(name)
    with warnings.catch_warnings(), pytest.raises((RuntimeError, ValueError)):
        warnings.simplefilter("ignore")  # torch's broadcasting warning, before its refusal
        TORCH_POINTWISE[name](prediction, target)
    refused = r"invalid value \(2, 3\) for target shape: accepted the shape of the prediction \(3, 2\)"
    with pytest.raises(InvalidValueError, match=refused):
        loss(prediction, target)
    column, labels = torch.randn(4, 1, 1), torch.rand(4)
    torch.testing.assert_close(loss(column, labels), TORCH_POINTWISE[name](column, labels.reshape(4, 1, 1)))


def test_huber_is_quadratic_below_delta_linear_above():
    prediction, target, delta = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([0.2, -1.0, 3.0]), 0.5
    expected = torch.tensor([0.5 * 0.2**2, delta * (1.0 - 0.5 * delta), delta * (3.0 - 0.5 * delta)]).mean()
    torch.testing.assert_close(losses.create("huber", delta=delta)(prediction, target), expected)


@pytest.mark.parametrize("target", [torch.tensor([0, 1, 1, 0]), torch.tensor([0.1, 0.9, 0.5, 0.0])])
def test_bce_with_logits_takes_labels_or_soft_targets(target):
    logits = torch.randn(4, 1)
    p, t = torch.sigmoid(logits[:, 0]), target.float()
    expected = -(t * p.log() + (1 - t) * (1 - p).log()).mean()
    torch.testing.assert_close(losses.create("bce")(logits, target), expected)


# Every name or alias that torch.nn.functional also has, with the loss it names.
TORCH_NAMED = [
    (entry.name, alias)
    for entry in get_registry("loss")
    for alias in (entry.name, *entry.aliases)
    if hasattr(functional, alias)
]


def test_torch_named_losses_are_found():
    assert {alias for _, alias in TORCH_NAMED} >= {"cross_entropy", "binary_cross_entropy_with_logits"}


@pytest.mark.parametrize(("name", "alias"), TORCH_NAMED)
def test_a_name_torch_has_means_torchs_loss(name, alias):
    if Capability.BINARY in get_registry("loss").get(name).capabilities:
        # Values in (0, 1): torch's binary_cross_entropy would take them as probabilities.
        prediction, target = torch.rand(8, dtype=torch.float64), torch.randint(0, 2, (8,)).double()
    else:
        prediction, target = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 5, (8,))
    torch.testing.assert_close(
        losses.create(alias)(prediction, target), getattr(functional, alias)(prediction, target)
    )


@pytest.mark.parametrize("name", get_registry("loss").names())
def test_every_loss_names_its_task(name):
    entry = get_registry("loss").get(name)
    assert len(entry.capabilities & {"classification", "regression"}) == 1
    losses.create(name)  # creatable with its defaults


def test_bad_input_is_explained():
    with pytest.raises(InvalidValueError, match="target shape"):
        losses.create("mse")(torch.randn(4, 2), torch.randn(4))
    with pytest.raises(InvalidValueError, match="'delta'"):
        losses.create("huber", delta=0.0)
    with pytest.raises(InvalidValueError, match="label_smoothing"):
        losses.create("cross_entropy", label_smoothing=1.0)
    with pytest.raises(
        InvalidValueError, match="hyperparameter 'label_smoothing'.*accepted a number in \\[0, 1\\)"
    ):
        losses.create("cross_entropy", label_smoothing=-0.1)
    with pytest.raises(UnknownNameError, match="Did you mean 'cross_entropy'"):
        losses.create("cross_entrpy")


def test_a_label_smoothing_of_1_is_refused_saying_the_labels_would_go_unused():
    """The refusal said only 'accepted a number in [0, 1)'. Truth: torch's loss at smoothing 1 is the same
    for every label."""
    scores = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    by_label = [
        torch.nn.functional.cross_entropy(scores, torch.full((3,), c), label_smoothing=1.0) for c in range(4)
    ]
    assert all(torch.equal(by_label[0], other) for other in by_label)
    with pytest.raises(
        InvalidValueError,
        match=r"1\.0 for loss 'cross_entropy' hyperparameter 'label_smoothing': accepted a number in \[0, 1\): "
        "at 1 every target is the uniform distribution, so the labels go unused",
    ):
        losses.create("cross_entropy", label_smoothing=1.0)


def test_leaves_out_some_is_whether_a_batch_of_such_targets_only_would_average_over_nothing():
    """Truth: torch's own mean over a batch of just those targets is 0/0 (NaN) exactly where the answer is
    True; the reading is checked against that loss on each target alone."""
    from torch import nn

    scores = torch.zeros(1, 3)
    cases = [
        (nn.CrossEntropyLoss(), torch.tensor([0, 1, 2])),
        (nn.CrossEntropyLoss(), torch.tensor([0, -100, 2])),
        (nn.CrossEntropyLoss(ignore_index=1), torch.tensor([0, 1, 2])),
        (nn.CrossEntropyLoss(weight=torch.tensor([1.0, 0.0, 1.0])), torch.tensor([0, 1, 2])),
        (nn.CrossEntropyLoss(weight=torch.tensor([1.0, 0.0, 1.0])), torch.tensor([0, 2, 2])),
        (nn.CrossEntropyLoss(reduction="sum"), torch.tensor([0, -100, 2])),
        (nn.NLLLoss(), torch.tensor([-100, 1])),
        (losses.ClassesLast(nn.CrossEntropyLoss()), torch.tensor([0, -100, 2])),  # per position
        (losses.ClassesLast(nn.CrossEntropyLoss()), torch.tensor([0, 1, 2])),
    ]
    for loss, targets in cases:
        nan_alone = any(bool(loss(scores, t.view(1)).isnan()) for t in targets)
        assert losses.leaves_out_some(loss, targets) is nan_alone, (loss, targets)
    assert losses.leaves_out_some(nn.MSELoss(), torch.tensor([-100.0])) is False


def test_a_partial_of_torchs_loss_given_as_the_users_loss_function_is_read_as_torchs_module():
    """compare(loss=functools.partial(F.mse_loss, reduction='sum')) made a LossFunction of the partial,
    which was read through one wrapper alone: no regression (its (N, 1) outputs trained against targets
    (N,) broadcast), and a partial of F.cross_entropy lost its ignore_index. Truth: torch's modules of
    the same keywords, and the value each computes."""
    import functools

    outputs, targets = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 1, 0])
    entropy = losses.adapt_loss("mine", functools.partial(functional.cross_entropy, ignore_index=3))()
    module = torch.nn.CrossEntropyLoss(ignore_index=3)
    assert losses.cross_entropy_reading(entropy) == losses.cross_entropy_reading(module)
    assert torch.equal(entropy(outputs, targets), module(outputs, targets))
    summed = losses.adapt_loss("mine", functools.partial(functional.mse_loss, reduction="sum"))()
    assert losses.regression_loss(summed) and losses.loss_name(summed) == "mse_loss(reduction='sum')"
    values = torch.randn(6)
    assert torch.equal(
        summed(outputs[:, 0], values), torch.nn.MSELoss(reduction="sum")(outputs[:, 0], values)
    )


def test_a_loss_object_whose_equality_answers_anything_is_no_regression_loss():
    """regression_loss read torch's functions by tuple membership, which falls back to ``__eq__``:
    torchmetrics' Metric answers ``==`` with a new metric (truthy), so a hinge loss was read as a
    regression (fit reported val_rmse for 0/1 labels), and an ``__eq__`` answering an array raised
    'truth value ... ambiguous'. Truth: neither is one of torch's regression losses."""
    import numpy as np

    class Composes(torch.nn.Module):  # as torchmetrics' Metric: == builds another metric
        def forward(self, outputs, targets):
            return (1 - outputs * (2 * targets - 1)).clamp_min(0).mean()

        def __eq__(self, other):
            return Composes()

        __hash__ = torch.nn.Module.__hash__

    class Elementwise:
        def __call__(self, outputs, targets):
            return (outputs - targets).abs().mean()

        def __eq__(self, other):
            return np.array([True, False])

    assert not losses.regression_loss(Composes()) and not losses.regression_loss(Elementwise())
    assert losses.regression_loss(functional.l1_loss) and losses.regression_loss(torch.nn.L1Loss())
