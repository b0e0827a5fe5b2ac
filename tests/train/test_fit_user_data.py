"""fit on the user's data as it comes: each shape trains exactly as a hand-written loop over the same
batches does; validation data of any shape gives the loss and accuracy computed by hand."""

import collections
import copy
import doctest
import functools
import itertools
import math
import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, TensorDataset

import optimlab.train.loop
from optimlab.data.batches import epoch_permutation
from optimlab.doctor import lr_range_test
from optimlab.errors import InvalidValueError
from optimlab.techniques.losses import LossFunction
from optimlab.train import Callback, EarlyStopping, TrainState, fit

from .user_modules import DICT_NET


def problem(n=40):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=generator)
    return x, (x[:, 0] > 0).long()


def network():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))


def by_hand_by_epoch(loader, set_epoch, epochs=3):
    """network()'s weights after a hand-written loop of SGD (lr 0.1, cross-entropy) over ``loader`` for
    ``epochs``, calling ``set_epoch(epoch)`` as each epoch starts: what fit must match bit for bit."""
    model, ce = network(), nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(epochs):
        set_epoch(epoch)
        for inputs, targets in loader:
            optimizer.zero_grad()
            ce(model(inputs), targets).backward()
            optimizer.step()
    return [p.detach() for p in model.parameters()]


class Named(nn.Module):
    """Hugging Face style: named inputs in, .logits out, and .loss when the labels come in too."""

    def __init__(self):
        super().__init__()
        self.net = network()

    def forward(self, features, labels=None):
        logits = self.net(features)
        return {
            "logits": logits,
            "loss": None if labels is None else nn.functional.cross_entropy(logits, labels),
        }


def by_hand(model, batches, steps, lr=0.1):
    """SGD over ``batches`` (cycled) for ``steps`` steps: the independent truth."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    taken = 0
    while taken < steps:
        for x, y in batches:
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            taken += 1
            if taken == steps:
                break
    return [p.detach() for p in model.parameters()]


def trained(model, data, steps, **options):
    fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), data, total_steps=steps, **options
    )  # steps None: epochs=
    return [p.detach() for p in model.parameters()]


def same(a, b):
    return all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a, b))


def test_a_dataloader_a_list_of_batches_and_dict_batches_train_as_a_hand_written_loop():
    x, y = problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)  # 3 batches: 16, 16, 8
    expected = by_hand(network(), list(loader), 7)
    ce = nn.CrossEntropyLoss()
    assert same(trained(network(), loader, 7, loss_fn=ce), expected)
    assert same(trained(network(), list(loader), 7, loss_fn=ce), expected)
    dicts = [{"features": a, "labels": b} for a, b in loader]
    assert same(trained(Named(), dicts, 7, loss_fn=ce), expected)  # the target under "labels"
    assert same(trained(Named(), dicts, 7), expected)  # no loss_fn: the model's own
    custom = {
        "compute_loss": lambda m, b: nn.functional.cross_entropy(m(b["features"])["logits"], b["labels"])
    }
    assert same(trained(Named(), dicts, 7, **custom), expected)


InceptionOutputs = collections.namedtuple("InceptionOutputs", ["logits", "aux_logits"])  # torchvision's


class TwoHeads(nn.Module):
    """A main and an auxiliary head, returned as torchvision's Inception returns them in training, or as a
    dict of heads."""

    def __init__(self, as_dict: bool):
        super().__init__()
        torch.manual_seed(0)
        self.body, self.main, self.aux = nn.Linear(3, 8), nn.Linear(8, 2), nn.Linear(8, 2)
        self.as_dict = as_dict

    def forward(self, x):
        h = torch.tanh(self.body(x))
        heads = InceptionOutputs(self.main(h), self.aux(h))
        return heads._asdict() if self.as_dict else heads


def two_losses(outputs, y):
    """torchvision's reference loss for Inception v3: the main head's plus 0.4 the auxiliary's."""
    logits, aux = (outputs["logits"], outputs["aux_logits"]) if isinstance(outputs, dict) else outputs
    return nn.functional.cross_entropy(logits, y) + 0.4 * nn.functional.cross_entropy(aux, y)


@pytest.mark.parametrize("as_dict", [False, True])
def test_a_loss_of_a_models_heads_gets_its_outputs_whole_as_a_hand_written_loop_does(as_dict):
    """A model whose outputs hold logits beside other heads (torchvision's Inception: .logits and
    .aux_logits; a dict of them) gave the user's loss_fn its logits alone, so a loss summing the two
    heads was refused as the batch's fault ('Tensor' object has no attribute ...). Truth: the hand-written
    loop loss_fn(model(x), y), SGD, torch.equal on the weights; a Hugging Face style output still gives
    nn.CrossEntropyLoss its logits (the test above)."""
    x, y = problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    model = TwoHeads(as_dict)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for xb, yb in itertools.islice(itertools.cycle(loader), 7):
        optimizer.zero_grad()
        two_losses(model(xb), yb).backward()
        optimizer.step()
    for data in (loader, (x, y)):  # a DataLoader's batches, and two tensors' fast path in order
        options = {"shuffle": False, "batch_size": 16} if isinstance(data, tuple) else {}
        got = trained(TwoHeads(as_dict), data, 7, loss_fn=two_losses, **options)
        assert all(torch.equal(a, b) for a, b in zip(got, model.parameters()))


class LogitsOnly(nn.Module):
    """Hugging Face style outputs: a dict holding the logits, which nn.CrossEntropyLoss cannot take whole."""

    def __init__(self):
        super().__init__()
        self.net = network()

    def forward(self, x):
        return {"logits": self.net(x)}


@pytest.mark.parametrize(
    "model, loss_fn",
    [
        (lambda: TwoHeads(False), two_losses),
        (lambda: TwoHeads(True), two_losses),
        (LogitsOnly, nn.CrossEntropyLoss()),
    ],
    ids=["namedtuple heads", "dict of heads", "logits alone"],
)
@pytest.mark.parametrize("tensors", [False, True], ids=["loader", "tensors"])
def test_a_bad_label_at_the_first_batch_is_named_whatever_form_of_the_outputs_the_loss_takes(
    model, loss_fn, tensors
):
    """A label past the model's classes (2, of classes 0-1) at the first batch, beside a loss of a model's
    heads (04a2d4d: the outputs whole, else their logits): both forms failed, and the refusal named the
    second, the logits' ('too many values to unpack', of a tensor), not the label. Truth: torch's own
    cross-entropy of those logits and labels ('Target 2 is out of bounds'); a Hugging Face style output
    given to nn.CrossEntropyLoss is still refused by its label."""
    x, y = problem()
    y[3] = 2
    data = (x, y) if tensors else DataLoader(TensorDataset(x, y), batch_size=16)
    options = {"batch_size": 16, "shuffle": False} if tensors else {}
    with pytest.raises(IndexError, match="Target 2 is out of bounds"):
        nn.functional.cross_entropy(network()(x[:16]), y[:16])
    with pytest.raises(InvalidValueError) as refused:
        trained(model(), data, 1, loss_fn=loss_fn, **options)
    said = str(refused.value)
    assert "IndexError: Target 2 is out of bounds" in said and "needs 3 or more class scores" in said, said
    assert len(said.splitlines()) == 1


def test_a_dataset_and_tensors_are_drawn_in_the_same_seeded_order():
    x, y = problem()
    order = [epoch_permutation(3, e, 40) for e in range(2)]
    batches = [(x[rows], y[rows]) for perm in order for rows in perm.split(16)]
    expected = by_hand(network(), batches, 6)
    ce = nn.CrossEntropyLoss()
    common = {"loss_fn": ce, "batch_size": 16, "seed": 3}
    assert same(trained(network(), TensorDataset(x, y), 6, **common), expected)
    assert same(trained(network(), (x, y), 6, **common), expected)
    assert same(trained(network(), x, 6, **common, y=y), expected)  # the tensors' own call: fit(m, o, x, y)


def test_numpy_arrays_train_as_the_tensors_torch_makes_of_them():
    """A pair of arrays was read as a list of two batches, each refused as 'a ndarray for batch'."""
    x, y = problem()
    ce = nn.CrossEntropyLoss()
    common = {"loss_fn": ce, "batch_size": 16, "seed": 3}
    expected = trained(network(), (x, y), 6, **common)
    assert same(trained(network(), (x.numpy(), y.numpy()), 6, **common), expected)
    assert same(trained(network(), x.numpy(), 6, **common, y=y.numpy()), expected)
    with pytest.raises(InvalidValueError, match="dtype <U.*for data.*arrays of numbers"):
        trained(network(), (x.numpy(), y.numpy().astype(str)), 6, **common)


def test_a_run_continued_from_its_state_sees_the_batches_of_an_uninterrupted_one():
    x, y = problem()
    data, ce = TensorDataset(x, y), nn.CrossEntropyLoss()
    whole = trained(network(), data, 8, loss_fn=ce, batch_size=16)
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = fit(model, optimizer, data, loss_fn=ce, total_steps=4, batch_size=16)
    fit(model, optimizer, data, loss_fn=ce, total_steps=8, batch_size=16, state=state)
    assert same([p.detach() for p in model.parameters()], whole)


def test_a_samplers_epoch_is_set_as_each_epoch_starts_as_a_hand_written_loop_sets_it():
    """A DistributedSampler (one replica of two, shuffled) draws its order from (seed, epoch): fit never
    called its set_epoch, and each epoch repeated the first one's order. fit now trains as a hand-written
    loop calling set_epoch at each epoch does, bit for bit, and so does a run continued from its state
    in its second epoch."""
    x, y = problem()
    data, ce = TensorDataset(x, y), nn.CrossEntropyLoss()

    def loader():  # 20 rows of the 40 for this replica: 5 batches an epoch
        return DataLoader(
            data, batch_size=4, sampler=DistributedSampler(data, num_replicas=2, rank=0, seed=3)
        )

    by_hand_loader = loader()
    expected = by_hand_by_epoch(by_hand_loader, by_hand_loader.sampler.set_epoch)
    assert all(map(torch.equal, trained(network(), loader(), None, epochs=3, loss_fn=ce), expected))
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = fit(model, optimizer, loader(), loss_fn=ce, total_steps=7)
    fit(model, optimizer, loader(), loss_fn=ce, total_steps=15, state=state)
    assert all(map(torch.equal, [p.detach() for p in model.parameters()], expected))


class ShuffledByEpoch(IterableDataset):
    """A stream reshuffled by its epoch (Hugging Face datasets' IterableDataset.set_epoch, webdataset):
    its order is (seed, epoch)'s."""

    def __init__(self):
        self.rows = problem(8)
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return 8  # rows: 4 batches of 2

    def __iter__(self):
        order = torch.randperm(8, generator=torch.Generator().manual_seed(100 + self.epoch))
        return iter(zip(self.rows[0][order], self.rows[1][order], strict=True))


@pytest.mark.parametrize("given", ["DataLoader(dataset)", "the dataset"])
def test_a_streaming_datasets_epoch_is_set_as_each_epoch_starts_as_a_hand_written_loop_sets_it(given):
    """Only the loader's samplers were told the epoch (57b0b634), never the dataset's own set_epoch: an
    IterableDataset reshuffled by it (Hugging Face datasets streaming, as HF's Trainer calls it) streamed
    its first epoch's order every epoch. fit now trains as a hand-written loop calling dataset.set_epoch at
    each epoch does, bit for bit, and so does a run continued from its state in its second epoch."""
    ce = nn.CrossEntropyLoss()

    def data():
        dataset = ShuffledByEpoch()
        return (
            (DataLoader(dataset, batch_size=2), {})
            if given.startswith("DataLoader")
            else (dataset, {"batch_size": 2})
        )

    by_hand_loader = DataLoader(ShuffledByEpoch(), batch_size=2)
    expected = by_hand_by_epoch(by_hand_loader, by_hand_loader.dataset.set_epoch)
    stream, options = data()
    assert all(map(torch.equal, trained(network(), stream, None, epochs=3, loss_fn=ce, **options), expected))
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = fit(model, optimizer, stream, loss_fn=ce, total_steps=6, **options)
    fit(model, optimizer, data()[0], loss_fn=ce, total_steps=12, state=state, **options)
    assert all(map(torch.equal, [p.detach() for p in model.parameters()], expected))


class ScaledByEpoch(torch.utils.data.Dataset):
    """Items that depend on the epoch its set_epoch was last told (an epoch-seeded augmentation)."""

    def __init__(self):
        self.x, self.calls = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), []

    def set_epoch(self, epoch):
        self.calls.append(epoch)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        scale = 1.0 + (self.calls[-1] if self.calls else 0)
        return self.x[i] * scale, self.x[i, :1] * scale


def test_an_evaluation_does_not_set_the_epoch_of_data_sharing_the_training_datasets():
    """Every evaluation told its data's dataset set_epoch(0): with torch's random_split the validation
    Subset shares its dataset with the training one, and the training steps after an evaluation in epoch 1
    read items under epoch 0. fit now trains as a hand-written loop (and Hugging Face's Trainer) does,
    announcing training epochs only: the same weights, set_epoch told 0 then 1."""
    split = torch.Generator().manual_seed(0)
    mse = nn.functional.mse_loss
    by_hand = ScaledByEpoch()
    train_part, _ = torch.utils.data.random_split(by_hand, [8, 8], generator=split.clone_state())
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(2):
        by_hand.set_epoch(epoch)
        for start in range(0, 8, 2):
            inputs, targets = map(torch.stack, zip(*(train_part[i] for i in range(start, start + 2))))
            optimizer.zero_grad()
            mse(model(inputs), targets).backward()
            optimizer.step()
    dataset = ScaledByEpoch()
    train_part, val_part = torch.utils.data.random_split(dataset, [8, 8], generator=split)
    torch.manual_seed(0)
    fitted = nn.Linear(3, 1)
    fit(
        fitted,
        torch.optim.SGD(fitted.parameters(), lr=0.01),
        train_part,
        loss_fn=mse,
        batch_size=2,
        shuffle=False,
        total_steps=8,
        val_data=val_part,
        eval_every=2,
    )
    assert dataset.calls == [0, 1]
    assert all(map(torch.equal, fitted.parameters(), model.parameters()))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"eval_every": 5},
            "invalid value 5 for eval_every: accepted None without val_data or evaluate, the evaluation it "
            "schedules.",
        ),
        (
            {"callbacks": [EarlyStopping(patience=1)]},
            "invalid value 'val_loss' for EarlyStopping metric: accepted a metric of an evaluation: val_data "
            "or evaluate beside it.",
        ),
    ],
    ids=["eval_every", "EarlyStopping"],
)
def test_an_evaluation_schedule_or_reader_without_an_evaluation_is_refused_not_ignored(options, message):
    """eval_every, or an EarlyStopping, beside neither val_data nor evaluate: fit trained its 50 steps
    without one evaluation, the early stop never coming, without a word. Refused before any step, naming
    the argument; given evaluate, the same EarlyStopping stops the run once its patience is spent."""
    x, y = problem()
    model = network()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InvalidValueError) as error:
        fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=50, **options)
    assert str(error.value) == message
    assert all(map(torch.equal, model.parameters(), before))
    state = fit(
        model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=50, evaluate=lambda: {"val_loss": 1.0},
        **options,
    )  # fmt: skip
    assert state.step == (50 if "eval_every" in options else 4)  # evaluated once an epoch of 2 steps


class Evaluations(Callback):
    def __init__(self):
        self.seen = []

    def on_evaluate(self, state, metrics):
        self.seen.append((state.step, metrics))


def test_validation_data_in_any_shape_gives_the_loss_and_accuracy_by_hand():
    x, y = problem()
    model = network()
    for val in ((x, y), DataLoader(TensorDataset(x, y), batch_size=7), [(x[:25], y[:25]), (x[25:], y[25:])]):
        recorder = Evaluations()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the model stays as it is
        fit(model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=3, batch_size=20,
            val_data=val, callbacks=[recorder])  # fmt: skip
        with torch.no_grad():
            logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
        assert [step for step, _ in recorder.seen] == [2, 3]  # once an epoch of 2 batches, and at the end
        metrics = recorder.seen[-1][1]
        assert metrics["val_loss"] == pytest.approx(loss, rel=1e-6)
        assert metrics["val_accuracy"] == pytest.approx(accuracy)


def test_dict_batches_holding_text_are_weighted_by_their_rows():
    """default_collate makes a list of a batch's strings; read as one row, each of 16, 16 and 8 rows
    counted alike, and val_loss was 0.9486 where the mean over the 40 rows is 0.9609."""
    x, y = problem()
    items = [{"text": f"row {i}", "features": x[i], "labels": y[i]} for i in range(len(x))]

    class Captioned(Named):
        def forward(self, text, features, labels=None):
            return super().forward(features, labels)

    model = Captioned()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), DataLoader(items, batch_size=16), total_steps=1,
        val_data=DataLoader(items, batch_size=16), callbacks=[recorder := Evaluations()])  # fmt: skip
    with torch.no_grad():
        logits = model.net(x)
    metrics = recorder.seen[-1][1]
    assert metrics["val_loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert metrics["val_accuracy"] == pytest.approx((logits.argmax(1) == y).float().mean().item())


class Tagger(nn.Module):
    """Scores 3 classes at each of a sequence's positions: ``(N, T, C)``, or torch's losses'
    ``(N, C, T)`` layout where ``classes_second``."""

    def __init__(self, classes_second):
        super().__init__()
        torch.manual_seed(0)
        self.net, self.classes_second = nn.Linear(4, 3), classes_second

    def forward(self, x):
        scores = self.net(x)
        return scores.transpose(1, 2) if self.classes_second else scores


def flat_cross_entropy(scores, targets):
    return nn.functional.cross_entropy(scores.flatten(0, -2), targets.flatten())


@pytest.mark.parametrize(
    ("classes_second", "loss_fn"), [(True, nn.CrossEntropyLoss()), (False, flat_cross_entropy)]
)
def test_per_position_accuracy_reads_the_class_dimension_and_skips_ignored_targets(classes_second, loss_fn):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(24, 5, 4, generator=generator)
    y = torch.randint(0, 3, (24, 5), generator=generator)
    y[:, -2:] = -100  # padding: cross-entropy's ignore_index
    model = Tagger(classes_second)
    with torch.no_grad():
        predicted = model.net(x).argmax(-1)
    counted = y >= 0
    accuracy = ((predicted == y) & counted).sum().item() / counted.sum().item()
    for val in ((x, y), DataLoader(TensorDataset(x, y), batch_size=10)):
        recorder = Evaluations()
        fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=loss_fn, total_steps=1,
            batch_size=24, val_data=val, callbacks=[recorder])  # fmt: skip
        assert recorder.seen[-1][1]["val_accuracy"] == pytest.approx(accuracy)


def test_as_many_positions_as_classes_are_read_as_the_loss_reads_them():
    """Scores (N, 5, 5) of (N, 5) positions: CrossEntropyLoss reads the classes in dimension 1, and the
    accuracy took the last (0.21 where the loss's own predictions were right at 0.24). A loss that says
    nothing of its layout gets no accuracy, where the shapes cannot tell classes from positions; a
    CrossEntropyLoss(ignore_index=2) skips the positions labelled 2 in the accuracy as in the loss, and
    so do torch's functions, given as they are, partially applied or as a recipe's loss."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, 5, generator=generator), torch.randint(0, 5, (40, 5), generator=generator)
    torch.manual_seed(0)
    model = nn.Conv1d(3, 5, 1)  # (N, 3, L) to (N, C, L), L = C = 5
    with torch.no_grad():
        predicted = model(x).argmax(1)
    assert (predicted == y).float().mean() != (model(x).argmax(2) == y).float().mean()
    kept = y != 2

    def cross_entropy(scores, targets):
        return nn.functional.cross_entropy(scores, targets)

    expected = {
        nn.CrossEntropyLoss(): (predicted == y).float().mean().item(),
        nn.CrossEntropyLoss(ignore_index=2): (predicted[kept] == y[kept]).float().mean().item(),
        # torch's own functions read as their modules (as does a recipe's loss: torch.nn.functional:...)
        nn.functional.cross_entropy: (predicted == y).float().mean().item(),
        functools.partial(nn.functional.cross_entropy, ignore_index=2): (predicted[kept] == y[kept])
        .float()
        .mean()
        .item(),
        LossFunction(nn.functional.cross_entropy, ignore_index=2): (predicted[kept] == y[kept])
        .float()
        .mean()
        .item(),
        cross_entropy: None,
    }
    for loss_fn, accuracy in expected.items():
        recorder = Evaluations()
        fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=loss_fn, total_steps=1,
            batch_size=40, val_data=DataLoader(TensorDataset(x, y), batch_size=16), callbacks=[recorder])  # fmt: skip
        metrics = recorder.seen[-1][1]
        with torch.no_grad():
            assert metrics["val_loss"] == pytest.approx(loss_fn(model(x), y).item(), rel=1e-6)
        assert metrics.get("val_accuracy") == (None if accuracy is None else pytest.approx(accuracy))


class _FocalIgnoring(nn.Module):
    """The user's own loss (no torch cross-entropy) that leaves out the targets equal to its ignore_index."""

    ignore_index = 0

    def forward(self, scores, targets):
        kept = targets != self.ignore_index
        log_p = scores.log_softmax(1)[kept].gather(1, targets[kept, None]).squeeze(1)
        return (-((1 - log_p.exp()) ** 2) * log_p).mean()  # focal, gamma 2 (Lin et al. 2017)


def test_the_users_own_loss_with_an_ignore_index_leaves_those_labels_out_of_the_accuracy():
    """A loss of the user's own with ``ignore_index = 0`` (label 0: unlabelled): the accuracy counted the
    rows of 0 it never trains on, as only torch's cross-entropies' ignore_index was read. Now it is the
    hand count over the other rows."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 4, generator=generator), torch.randint(0, 3, (60,), generator=generator)
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    recorder = Evaluations()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=_FocalIgnoring(), total_steps=1,
        batch_size=60, val_data=DataLoader(TensorDataset(x, y), batch_size=16), callbacks=[recorder])  # fmt: skip
    with torch.no_grad():
        predicted = model(x).argmax(1).tolist()
    labelled = [(p, t) for p, t in zip(predicted, y.tolist()) if t != 0]
    right = sum(p == t for p, t in labelled)
    assert 0 < len(labelled) < len(y)
    assert recorder.seen[-1][1]["val_accuracy"] == pytest.approx(right / len(labelled))


@pytest.mark.parametrize("weight", [None, torch.tensor([1.0, 2.0, 0.5, 3.0, 1.0])])
def test_sequences_padded_to_unequal_lengths_score_as_torch_scores_the_whole_split(weight):
    """Batches of padded sequences hold unequal numbers of real tokens: each batch's mean weighted by its
    rows gave val_loss 1.8845 where cross-entropy over the split's tokens is 1.8862. Weighted by the
    tokens each mean divided by (by their class weights, for a weighted loss), it is torch's own."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, 6, generator=generator), torch.randint(0, 5, (40, 6), generator=generator)
    lengths = torch.randint(1, 7, (40,), generator=generator)
    y[torch.arange(6) >= lengths[:, None]] = -100  # padding past each sequence's end
    y[:16, 1:] = -100  # the first batch mostly padding: its mean counts for fewer tokens
    torch.manual_seed(0)
    model = nn.Conv1d(3, 5, 1)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    recorder = Evaluations()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=loss_fn, total_steps=1,
        batch_size=40, val_data=DataLoader(TensorDataset(x, y), batch_size=16), callbacks=[recorder])  # fmt: skip
    with torch.no_grad():
        scores = model(x)
    counted = y != -100
    metrics = recorder.seen[-1][1]
    assert metrics["val_loss"] == pytest.approx(loss_fn(scores, y).item(), rel=1e-6)
    accuracy = (scores.argmax(1)[counted] == y[counted]).float().mean().item()
    assert metrics["val_accuracy"] == pytest.approx(accuracy)


def test_several_labels_per_example_get_their_loss_and_their_subset_accuracy():
    """Multi-label 0/1 targets under BCEWithLogitsLoss: val_loss is torch's, and val_accuracy scikit-learn's
    accuracy_score of the 0/1 matrix (every label of a row right, a label predicted where its logit is
    positive), over batches of 16; not an argmax over the labels, as if each example had one class."""
    from sklearn.metrics import accuracy_score

    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, generator=generator), (torch.rand(40, 4, generator=generator) > 0.5).float()
    torch.manual_seed(0)
    model, loss_fn = nn.Linear(3, 4), nn.BCEWithLogitsLoss()
    recorder = Evaluations()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=loss_fn, total_steps=1,
        batch_size=40, val_data=DataLoader(TensorDataset(x, y), batch_size=16), callbacks=[recorder])  # fmt: skip
    with torch.no_grad():
        outputs = model(x)
    assert recorder.seen[-1][1] == {
        "val_loss": pytest.approx(loss_fn(outputs, y).item(), rel=1e-6),
        "val_accuracy": pytest.approx(
            accuracy_score(y.int().numpy(), (outputs > 0).int().numpy()), abs=1e-12
        ),
    }


@pytest.mark.parametrize("loss_fn", [nn.MSELoss(), nn.L1Loss()])
def test_several_regression_targets_get_their_rmse_over_every_value(loss_fn):
    """Three targets per example: val_loss is torch's loss over the split, and val_rmse (fit gave none)
    the root of the mean squared error over all of its values, computed by hand."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=generator)
    y = x @ torch.randn(4, 3, generator=generator) * 5 + 2
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    recorder = Evaluations()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=loss_fn, total_steps=1,
        batch_size=40, val_data=DataLoader(TensorDataset(x, y), batch_size=16), callbacks=[recorder])  # fmt: skip
    with torch.no_grad():
        outputs = model(x)
    assert recorder.seen[-1][1] == {
        "val_loss": pytest.approx(loss_fn(outputs, y).item(), rel=1e-6),
        "val_rmse": pytest.approx((outputs - y).pow(2).mean().sqrt().item(), rel=1e-6),
    }


def binary_logit_loss(logit, label):
    return nn.functional.binary_cross_entropy_with_logits(logit.squeeze(1), label.float())


def test_a_single_logit_of_integer_labels_is_right_where_its_sign_is():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 4, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    model = nn.Linear(4, 1)
    with torch.no_grad():
        accuracy = ((model(x).squeeze(1) > 0).long() == y).float().mean().item()
    assert accuracy not in (y.eq(0).float().mean().item(), 0.0)  # not argmax over one column
    recorder = Evaluations()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=binary_logit_loss,
        total_steps=1, batch_size=40, val_data=DataLoader(TensorDataset(x, y), batch_size=16),
        callbacks=[recorder])  # fmt: skip
    assert recorder.seen[-1][1]["val_accuracy"] == pytest.approx(accuracy)


def test_an_iterable_of_unknown_length_is_evaluated_once_its_first_epoch_has_ended():
    x, y = problem(n=30)

    class Rows(IterableDataset):  # no __len__: the epoch's length is learnt by reading it
        def __iter__(self):
            return iter(zip(x, y))

    recorder = Evaluations()
    model = network()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), Rows(), loss_fn=nn.CrossEntropyLoss(),
                total_steps=7, batch_size=10, evaluate=lambda: {"val_loss": 0.0}, callbacks=[recorder])  # fmt: skip
    assert [step for step, _ in recorder.seen] == [3, 6, 7] and state.steps_per_epoch == 3
    assert state.epoch == 2


def test_epochs_train_as_many_passes_as_a_hand_written_loop():
    """``epochs=2`` over a DataLoader of 3 batches is the hand loop's 6 steps; over 40 rows in
    batches of 16 (drop_last: 2 a pass) the 4 steps of ``total_steps=4``."""
    x, y = problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    ce = nn.CrossEntropyLoss()
    assert same(trained(network(), loader, None, epochs=2, loss_fn=ce), by_hand(network(), list(loader), 6))
    common = {"loss_fn": ce, "batch_size": 16, "drop_last": True}
    assert same(trained(network(), (x, y), None, epochs=2, **common), trained(network(), (x, y), 4, **common))

    # epochs over a stream of no length train: test_epochs_over_a_stream_of_no_length_iterate_it_again_...
    for data, options, message in [
        (loader, {"epochs": 1, "total_steps": 3}, "for total_steps and epochs: accepted one of them"),
        (loader, {}, "invalid value 'None and None' for total_steps and epochs"),
        (loader, {"epochs": -1}, "invalid value -1 for epochs"),
    ]:
        model = network()
        with pytest.raises(InvalidValueError, match=message):
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=ce, **options)


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        ([{"features": torch.zeros(4, 3)}], {"loss_fn": nn.CrossEntropyLoss()}, "one of labels, label"),
        ([(torch.zeros(4, 5), torch.zeros(4).long())], {"loss_fn": nn.CrossEntropyLoss()}, "the first batch"),
        # (x, y, weight) items: the model was given (x, y) and the refusal told only torch's 'takes 2
        # positional arguments but 3 were given'
        (
            [(torch.zeros(4, 3), torch.zeros(4).long(), torch.ones(4))],
            {"loss_fn": nn.CrossEntropyLoss()},
            "compute_loss=",
        ),
        # uint64 labels: the refusal's own look at the lowest label raised NotImplementedError ('"min_all"
        # not implemented for 'UInt64''), a traceback
        (
            [(torch.zeros(4, 3), torch.zeros(4, dtype=torch.uint64))],
            {"loss_fn": nn.CrossEntropyLoss()},
            "uint64 (4,)",
        ),
        (DataLoader(TensorDataset(*problem())), {"y": torch.zeros(40)}, "targets beside input tensors"),
        # Two tensors take the fast path, which named the batch ('grad can be implicitly created only for
        # scalar outputs'), not the loss of one value per row:
        (
            problem(),
            {"loss_fn": nn.CrossEntropyLoss(reduction="none")},
            "(32,)' for the loss: accepted a tensor",
        ),
        (
            [problem(n=20)] * 2,
            {"loss_fn": nn.CrossEntropyLoss(reduction="none")},
            "(20,)' for the loss: accepted",
        ),
        # The class, not an instance: called with the outputs, it made a module of them, and the batch
        # was blamed ('Boolean value of Tensor with more than one value is ambiguous').
        (problem(), {"loss_fn": nn.CrossEntropyLoss}, "'the class CrossEntropyLoss' for loss_fn"),
    ],
)
def test_a_batch_the_model_or_loss_cannot_use_is_named_in_one_error(data, options, message):
    model = network()
    with pytest.raises(InvalidValueError, match="invalid value") as error:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, total_steps=2, **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_validation_data_the_model_cannot_take_is_named_in_one_error():
    x, y = problem()
    model = network()
    for val_data in [
        (torch.zeros(8, x.shape[1] + 1), y[:8]),
        (x[:8], y[:8] + 10),
    ]:  # a feature more; bad labels
        with pytest.raises(InvalidValueError, match="the first batch of the val data") as error:
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), loss_fn=nn.CrossEntropyLoss(),
                total_steps=2, val_data=val_data)  # fmt: skip
        assert "\n" not in str(error.value)


def _empty(rows, batch_size=4, drop_last=False):
    x, y = problem()
    return DataLoader(TensorDataset(x[:rows], y[:rows]), batch_size=batch_size, drop_last=drop_last)


EMPTY = {  # data that hold no batch, each refused naming the argument that gave it
    "empty Dataset, epochs": ({"data": TensorDataset(*problem(0)), "epochs": 1}, "'a TensorDataset of 0"),
    "empty DataLoader, epochs": ({"data": _empty(0), "epochs": 1}, "'a DataLoader with no batch' for data"),
    "one short batch dropped": (
        {"data": _empty(3, drop_last=True), "epochs": 2},
        "'a DataLoader with no batch'",
    ),
    "empty tensors": ({"data": problem(0), "total_steps": 2}, "(0,)), no rows' for data"),
    "empty val tensors": ({"val_data": problem(0), "total_steps": 2}, "no rows' for val_data"),
    "empty val DataLoader": ({"val_data": _empty(0), "total_steps": 2}, "with no batch' for val_data"),
    "val_data not data": ({"val_data": "val.csv", "total_steps": 2}, "'val.csv' for val_data"),
}


@pytest.mark.parametrize(("given", "message"), EMPTY.values(), ids=EMPTY)
def test_data_without_a_batch_is_refused_naming_the_argument_that_gave_it(given, message):
    """Empty data or data whose one short batch drop_last drops, with epochs, were said to have 'a length
    not known' (it was 0); validation data that could not be read were named 'data', the argument that
    was fine; an empty validation loader gave no metric at all, without a word."""
    model = network()
    given = {"data": problem(), **given}
    with pytest.raises(InvalidValueError, match=re.escape(message)) as error:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), given.pop("data"), loss_fn=nn.CrossEntropyLoss(),
            **given)  # fmt: skip
    assert "\n" not in str(error.value) and "not known" not in str(error.value)


@pytest.mark.parametrize(
    ("optimizer", "steps", "message"),
    [
        (torch.optim.SGD, 2, "invalid value 'the class SGD' for optimizer"),
        ("adam", 2, "invalid value 'adam' for optimizer"),
        (None, -1, "invalid value -1 for total_steps"),
        # built over another model: the run would train nothing, and say nothing
        (lambda: torch.optim.SGD(network().parameters(), lr=0.1), 2, "over none of the model's trainable"),
    ],
)
def test_an_optimizer_that_is_not_one_or_negative_steps_are_refused(optimizer, steps, message):
    model = network()
    if callable(optimizer) and not isinstance(optimizer, type):
        optimizer = optimizer()
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InvalidValueError, match=message):
        fit(model, optimizer, problem(), loss_fn=nn.CrossEntropyLoss(), total_steps=steps)


def test_the_users_own_metric_of_val_data_is_sklearns_on_the_whole_split_and_can_stop_early():
    """fit took no metric of the user's: their F1 needed an evaluate() of their own, which lost
    val_loss and val_accuracy, and EarlyStopping could not watch it."""
    from sklearn.metrics import f1_score

    x, y = problem()
    val = DataLoader(TensorDataset(x, y), batch_size=16)  # three batches: the metric sees them joined
    seen = []

    def f1(outputs, targets):
        seen.append(len(targets))
        return f1_score(targets.numpy(), outputs.argmax(1).numpy(), average="macro")

    model = network()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), loss_fn=nn.CrossEntropyLoss(),
                epochs=2, batch_size=8, val_data=val, metrics={"f1": f1})  # fmt: skip
    with torch.no_grad():
        expected = f1_score(y.numpy(), model(x).argmax(1).numpy(), average="macro")
    assert sorted(state.last_metrics) == ["val_accuracy", "val_f1", "val_loss"]
    # first the check before training (try_metrics) on the first batch alone, then each epoch's whole split
    assert state.last_metrics["val_f1"] == pytest.approx(expected, abs=1e-12) and seen == [16, 40, 40]
    stop = EarlyStopping("val_f1", mode="max", patience=1)
    model = network()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=nn.CrossEntropyLoss(),
                epochs=10, batch_size=8, val_data=val, metrics={"f1": f1}, callbacks=[stop])  # fmt: skip
    assert state.step == 10 and state.stop_reason.startswith(
        "early stop: val_f1"
    )  # lr 0: no better after epoch 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metrics": {"f1": 0.5}}, "for metrics: accepted a dict of name -> metric"),
        ({"metrics": [len]}, "for metrics: accepted a dict of name -> metric"),
        ({"metrics": {"f1": len}, "val_data": None}, "'f1 without val_data' for metrics"),
        (
            {"metrics": {"loss": len}},
            "a metric named 'loss'\" for metrics: accepted names other than",
        ),  # would replace val_loss
    ],
)
def test_metrics_that_are_no_functions_by_name_or_have_no_val_data_are_refused(options, message):
    model = network()
    with pytest.raises(InvalidValueError, match=message):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), problem(), loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, **{"val_data": problem(), **options})  # fmt: skip


@pytest.mark.parametrize(
    "loss_fn",
    [
        nn.MSELoss(),
        nn.L1Loss(),
        nn.HuberLoss(),
        nn.functional.mse_loss,
        nn.functional.l1_loss,
        nn.functional.smooth_l1_loss,
        nn.functional.huber_loss,
        functools.partial(nn.functional.mse_loss, reduction="sum"),
    ],
)
def test_a_regression_whose_outputs_broadcast_against_its_targets_is_refused_at_the_first_batch(loss_fn):
    """A model's (N, 1) outputs against targets (N,) under MSELoss trained on (N, N) pairs, every output
    against every target of its batch, with nothing but torch's UserWarning: a regression that cannot
    fit, silently (optimlab.compare refused it; fit did not). torch's functions of these losses are
    read as their modules: F.mse_loss trained on (N, N) pairs on (val_loss 3.13 where the rows' MSE was
    2.95, the model learning the mean). Truth: torch's (16, 1) - (16,) broadcasts to (16, 16)."""
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    model = nn.Linear(3, 1)
    assert (torch.zeros(16, 1) - torch.zeros(16)).shape == (16, 16)
    with pytest.raises(
        InvalidValueError, match=r"'outputs \(16, 1\) against targets \(16,\)' for the loss.*to \(16, 16\)"
    ):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, x.sum(1), loss_fn=loss_fn, total_steps=2,
            batch_size=16)  # fmt: skip
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, x.sum(1, keepdim=True), loss_fn=loss_fn,
                total_steps=2, batch_size=16)  # fmt: skip
    assert state.step == 2


@pytest.mark.parametrize("loss_fn", [nn.MSELoss(), nn.functional.mse_loss, nn.L1Loss()])
def test_integer_targets_under_a_regression_loss_get_an_rmse_and_no_accuracy(loss_fn):
    """int64 prices, y = round(100 x.sum + 500), regressed under MSELoss: fit reported val_accuracy 0.0
    (the one output column read as a binary logit) and no RMSE (float targets required). Under a
    regression loss the task is a regression whatever the targets' dtype. Truth: torch's loss and the
    RMSE by hand of the same outputs against the targets as floats."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(48, 3, generator=generator)
    y = (x.sum(1, keepdim=True) * 100 + 500).round().long()
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), loss_fn=loss_fn, total_steps=1,
                batch_size=16, val_data=(x, y))  # fmt: skip
    with torch.no_grad():
        outputs = model(x)
    assert state.last_metrics == {
        "val_loss": pytest.approx(loss_fn(outputs, y.float()).item(), rel=1e-5),
        "val_rmse": pytest.approx((outputs - y.float()).pow(2).mean().sqrt().item(), rel=1e-6),
    }


@pytest.mark.parametrize("loss_fn", [nn.HuberLoss(), nn.functional.huber_loss])
def test_integer_targets_that_torchs_huber_loss_cannot_take_are_refused_saying_to_cast_them(loss_fn):
    """Huber's backward refuses integer targets: fit ended in torch's traceback 'Found dtype Long but
    expected Float' at its first step. It is said in one line, with the cast that fixes it. Truth:
    torch's own backward of those targets raises; of the same targets as floats, fit trains."""
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    y = (x.sum(1, keepdim=True) * 10).round().long()
    model = nn.Linear(3, 1)
    with pytest.raises(RuntimeError, match="Found dtype Long"):
        loss_fn(model(x), y).backward()
    with pytest.raises(
        InvalidValueError, match=r"'targets of dtype torch.int64'.*cast them with \.float\(\)"
    ):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), loss_fn=loss_fn, total_steps=1)
    state = fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y.float()), loss_fn=loss_fn, total_steps=1
    )
    assert state.step == 1


@pytest.mark.parametrize("form", ["tensors", "dataset", "loader"])
def test_an_epoch_ending_in_a_batch_of_one_row_under_batch_norm_is_refused_before_training(form):
    """65 rows in batches of 32 end each epoch in a batch of one, which batch norm cannot normalize in
    training: torch's ValueError ('Expected more than 1 value per channel') came after the first epoch
    had trained, as a traceback, in fit and in a recipe run alike."""
    x = torch.randn(65, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    data = {
        "tensors": (x, y),
        "dataset": TensorDataset(x, y),
        "loader": DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True),
    }[form]
    batching = {} if form == "loader" else {"batch_size": 32}
    field = "the DataLoader's batch_size" if form == "loader" else "batch_size"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(
        InvalidValueError,
        match=f"invalid value 32 for {field}: .*last batch holds one, which the model.s BatchNorm1d",
    ):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=nn.CrossEntropyLoss(), epochs=2,
            **batching)  # fmt: skip
    assert same([p.detach() for p in model.parameters()], before)
    model[1].eval()  # a frozen batch norm, normalizing by its running statistics: one row is fine
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=nn.CrossEntropyLoss(), epochs=2,
                **batching)  # fmt: skip
    assert state.step == 6


def test_a_batch_of_one_row_under_batch_norm_that_no_check_sees_beforehand_is_refused_at_its_step():
    """A stream of 33 rows in batches of 32 (or a list of batches ending in one of a row) cannot be
    checked before training: torch's ValueError ('Expected more than 1 value per channel') surfaced at
    step 2 as a traceback; refused in one line naming the step and the batch, the step before it
    trained as by hand."""
    x = torch.randn(33, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()

    class Rows(IterableDataset):
        def __iter__(self):
            return iter(zip(x, y))

    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    reference = net()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    nn.functional.cross_entropy(reference(x[:32]), y[:32]).backward()
    optimizer.step()
    for data in (DataLoader(Rows(), batch_size=32), [(x[:32], y[:32]), (x[32:], y[32:])]):
        model = net()
        with pytest.raises(InvalidValueError) as refused:
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=nn.CrossEntropyLoss(),
                total_steps=4)  # fmt: skip
        kind = "list" if isinstance(data, DataLoader) else "tuple"
        assert str(refused.value) == (
            f"invalid value 'a {kind} of 2 (float32 (1, 3), int64 (1,))' for the batch of step 2: accepted "
            "batches of more than one row, which the model's BatchNorm1d normalizes by their statistics in "
            "training (drop the last, short batch: drop_last=True)."
        )
        assert same(list(model.parameters()), list(reference.parameters()))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_a_model_of_another_dtype_than_its_data_is_refused_saying_which_and_how_to_cast(dtype):
    """A float64 (or float16) model on float32 data was refused with torch's 'mat1 and mat2 must have the
    same dtype, but got Float and Double' alone: the refusal names both dtypes and the two casts, and the
    model cast as it says trains as the float32 model does."""
    x, y = problem()
    model = network().to(dtype)
    with pytest.raises(InvalidValueError) as refused:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), DataLoader(TensorDataset(x, y), batch_size=8),
            loss_fn=nn.CrossEntropyLoss(), total_steps=2)  # fmt: skip
    assert "must have the same dtype" in str(refused.value)
    assert str(refused.value).endswith(
        f"the model's parameters are {dtype}, the batch's tensors torch.float32; cast one to the other "
        f"(model.to(torch.float32), or the data's tensors .to({dtype}))."
    )
    model, reference = model.to(torch.float32), network()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), DataLoader(TensorDataset(x, y), batch_size=8),
        loss_fn=nn.CrossEntropyLoss(), total_steps=2)  # fmt: skip
    by_hand(reference, DataLoader(TensorDataset(x, y), batch_size=8), 2)
    if dtype == torch.float64:  # float16's round trip moved the initial weights
        assert same(list(model.parameters()), list(reference.parameters()))


def test_a_one_cycle_schedule_shorter_than_the_run_is_refused_before_training_and_one_as_long_runs_out():
    """OneCycleLR(total_steps=5) under a 12-step run raised torch's ValueError ('Tried to step 6
    times') in the middle of training, after 5 steps had changed the model."""
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    short = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=5)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(InvalidValueError, match="total_steps=5 with 12 steps to take' for scheduler: accepted a "
                       "OneCycleLR of total_steps=12 or more"):  # fmt: skip
        fit(
            model,
            optimizer,
            problem(),
            loss_fn=nn.CrossEntropyLoss(),
            epochs=3,
            batch_size=10,
            scheduler=short,
        )
    assert same([p.detach() for p in model.parameters()], before)
    exact = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=12)
    state = fit(model, optimizer, problem(), loss_fn=nn.CrossEntropyLoss(), total_steps=5, batch_size=10,
                scheduler=exact)  # fmt: skip
    state = fit(
        model,
        optimizer,
        problem(),
        loss_fn=nn.CrossEntropyLoss(),
        epochs=3,
        batch_size=10,
        scheduler=exact,
        state=state,
    )  # fmt: skip  (continued: 7 steps left, 7 in the schedule)
    assert state.step == 12 and exact.last_epoch == 12


def test_features_and_a_target_from_pandas_train_as_their_arrays_do():
    """fit(model, optimizer, frame[features], frame[target]) refused the Series 'for y: accepted targets
    beside input tensors or arrays'."""
    pd = pytest.importorskip("pandas")
    x, y = problem()
    frame = pd.DataFrame(x.numpy(), columns=["a", "b", "c"]).assign(label=y.numpy())
    trained = []
    for data in ((frame[["a", "b", "c"]], frame["label"]), (x, y)):
        model = network()
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            *data,
            loss_fn=nn.CrossEntropyLoss(),
            total_steps=4,
        )
        trained.append([p.detach() for p in model.parameters()])
    assert same(*trained)


def test_a_model_with_nothing_to_train_is_refused_naming_the_model():
    """A wholly frozen model was refused by fit as 'the first batch' ('element 0 of tensors does not
    require grad'), blaming data that were fine; the LR range test raised torch's RuntimeError."""
    frozen = network().requires_grad_(False)
    with pytest.raises(
        InvalidValueError, match="'a Sequential with no parameter that requires grad' for model"
    ):
        fit(frozen, torch.optim.SGD(frozen.parameters(), lr=0.1), problem(), loss_fn=nn.CrossEntropyLoss(),
            total_steps=2)  # fmt: skip
    with pytest.raises(InvalidValueError, match="'a function' for model: accepted an nn.Module"):
        fit(lambda x: x, torch.optim.SGD(network().parameters(), lr=0.1), problem(), total_steps=2)
    # The LR range test failed with torch's RuntimeError and its traceback.
    with pytest.raises(InvalidValueError, match="'a Sequential with no parameter that requires grad'"):
        lr_range_test(frozen, nn.CrossEntropyLoss(), *problem(), torch.optim.SGD(frozen.parameters(), lr=0.1))


def test_a_model_on_the_meta_device_is_refused_before_training_and_trains_once_materialized():
    """A model built on the meta device (shapes without values, as large models are first built)
    passed the checks and failed after its first step with torch's 'Tensor.item() cannot be called on
    meta tensors' traceback."""
    with torch.device("meta"):
        model = network()
    with pytest.raises(
        InvalidValueError, match=r"on the meta device \(0\.weight, 0\.bias.*\)' for model.*to_empty"
    ):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), problem(), loss_fn=nn.CrossEntropyLoss(),
            total_steps=2)  # fmt: skip
    model.to_empty(device="cpu").load_state_dict(network().state_dict())
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), problem(), loss_fn=nn.CrossEntropyLoss(),
                total_steps=2)  # fmt: skip
    assert state.step == 2 and math.isfinite(state.train_loss)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # -1 scaled every gradient by -1/norm: 60 steps of gradient ascent (val_loss 0.69 -> 26)
        ({"grad_clip_norm": -1.0}, "invalid value -1.0 for grad_clip_norm"),
        ({"grad_clip_norm": 0.0}, "invalid value 0.0 for grad_clip_norm"),  # zeroed every gradient
        ({"eval_every": -1}, "invalid value -1 for eval_every"),  # evaluated after every step
        ({"eval_every": 0}, "invalid value 0 for eval_every"),  # read as once an epoch
        # torch warned 'not supported. Disabling autocast' and trained in float32 as if asked
        ({"autocast_dtype": torch.float32}, "invalid value torch.float32 for autocast_dtype"),
        ({"autocast_dtype": torch.int8}, "invalid value torch.int8 for autocast_dtype"),
        ({"autocast_dtype": "bf16"}, "invalid value 'bf16' for autocast_dtype"),  # blamed the first batch
    ],
)
def test_a_clipping_norm_evaluation_interval_or_autocast_dtype_out_of_range_is_refused(options, message):
    model = network()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(InvalidValueError, match=message) as error:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), problem(), loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, val_data=problem(), **options)  # fmt: skip
    assert "\n" not in str(error.value) and same([p.detach() for p in model.parameters()], before)


def test_the_module_examples_run():
    assert doctest.testmod(optimlab.train.loop).failed == 0


def test_a_fresh_state_is_filled_in():
    x, y = problem()
    model = network()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), loss_fn=nn.CrossEntropyLoss(),
                total_steps=3, batch_size=16)  # fmt: skip
    assert isinstance(state, TrainState) and (state.step, state.steps_per_epoch, state.epoch) == (3, 3, 0)


class TokenTagger(nn.Module):
    """Hugging Face style: a tag for each token, its own loss (cross-entropy, padding labelled -100)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 4)

    def forward(self, input_ids, labels=None):
        logits = self.embed(input_ids)  # (B, T, 4)
        loss = None if labels is None else nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())
        return {"logits": logits, "loss": loss}


def test_the_models_own_loss_over_padded_tokens_scores_as_torch_scores_the_whole_split():
    """The model's own mean over each batch's real tokens, weighted by the batch's rows: val_loss was not
    the split's mean over its tokens when batches hold unequal numbers of them. Weighted by the labels
    the loss counted (not -100), it is; the accuracy skips the padding too."""
    generator = torch.Generator().manual_seed(0)
    ids, tags = (
        torch.randint(0, 20, (30, 6), generator=generator),
        torch.randint(0, 4, (30, 6), generator=generator),
    )
    tags[torch.arange(6) >= torch.randint(1, 7, (30, 1), generator=generator)] = -100
    tags[:8, 1:] = -100  # the first batch mostly padding
    items = [{"input_ids": ids[i], "labels": tags[i]} for i in range(30)]
    model = TokenTagger()
    recorder = Evaluations()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), DataLoader(items, batch_size=8), total_steps=1,
        val_data=DataLoader(items, batch_size=8), callbacks=[recorder])  # fmt: skip
    with torch.no_grad():
        logits = model.embed(ids)
    counted = tags != -100
    metrics = recorder.seen[-1][1]
    assert metrics["val_loss"] == pytest.approx(
        nn.functional.cross_entropy(logits.flatten(0, 1), tags.flatten()).item(), rel=1e-6
    )
    assert metrics["val_accuracy"] == pytest.approx(
        (logits.argmax(-1)[counted] == tags[counted]).float().mean().item()
    )


@pytest.mark.parametrize(("setting", "value"), [("batch_size", 16), ("shuffle", False), ("drop_last", True)])
def test_batch_settings_beside_a_dataloader_are_refused_not_dropped(setting, value):
    """fit(model, opt, DataLoader(ds, batch_size=8), batch_size=16) trained on batches of 8 without a
    word: the loader batches its data itself. A setting beside one is refused, naming it; without one,
    the loader's own batches train."""
    loader = DataLoader(TensorDataset(*problem()), batch_size=8)
    model = network()
    with pytest.raises(
        InvalidValueError, match=f"invalid value {value!r} for {setting}.*DataLoader"
    ) as error:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), loader, loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, **{setting: value})  # fmt: skip
    assert "\n" not in str(error.value)
    state = fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), loader, loss_fn=nn.CrossEntropyLoss(), epochs=1
    )
    assert state.step == state.steps_per_epoch == len(loader) == 5


class Stream(IterableDataset):
    """Rows in reading order, without a length."""

    def __iter__(self):
        return iter(zip(*problem()))


def test_a_batch_setting_the_data_does_not_read_is_refused_not_dropped():
    """fit(model, opt, [batches], batch_size=16) trained on the list's own batches, and
    fit(model, opt, an IterableDataset, shuffle=True) in its reading order, without a word; the
    settings it reads (an IterableDataset's batch_size and drop_last) still batch it."""
    model = network()
    batches = [tuple(t[:8] for t in problem())] * 3
    for data, setting, says in (
        (batches, {"batch_size": 16}, "16 for batch_size: accepted left unset beside a list, which batches"),
        (
            Stream(),
            {"shuffle": True},
            "True for shuffle: accepted left unset beside an iterable Stream, which reads",
        ),
    ):
        with pytest.raises(InvalidValueError, match=re.escape(says)):
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=nn.CrossEntropyLoss(),
                total_steps=2, **setting)  # fmt: skip
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), Stream(), loss_fn=nn.CrossEntropyLoss(),
                total_steps=6, batch_size=16, drop_last=True)  # fmt: skip
    assert state.steps_per_epoch == 2  # 40 rows: two batches of 16, the last 8 dropped


def test_a_seed_beside_data_that_orders_itself_is_refused_not_ignored():
    """fit(model, opt, DataLoader(..., shuffle=True), seed=3) trained on the loader's own order, which its
    generator draws, and the seed drew nothing, without a word: two seeds, one run. Refused before any
    step (the weights left as they were), beside an iterable Dataset too. A seed beside tensors still
    orders them: the truth that it is read there is that its run differs from seed 0's."""
    x, y = problem()
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    for data, source in ((loader, "a DataLoader"), (Stream(), "an iterable Stream")):
        model = network()
        before = [p.clone() for p in model.parameters()]
        with pytest.raises(
            InvalidValueError, match=re.escape(f"3 for seed: accepted left unset beside {source}")
        ):
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=nn.CrossEntropyLoss(),
                total_steps=2, seed=3)  # fmt: skip
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    trained = []
    for seed in (0, 3):
        model = network()
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, batch_size=8, seed=seed)  # fmt: skip
        trained.append(model[0].weight.detach().clone())
    assert not torch.equal(*trained)


def test_a_loss_or_targets_beside_batches_already_made_are_refused_naming_the_argument():
    """fit(model, opt, UserBatches(...), loss_fn=...) was refused as 'invalid value 'UserBatches with y,
    loss_fn or compute_loss' for data', naming an argument given right and none of the three. The line
    names the one given, its value, and that the batches hold their own loss; the weights untouched."""
    from optimlab.data.user_batches import UserBatches

    x, y = problem()
    batches = UserBatches((x, y), nn.CrossEntropyLoss(), batch_size=8)
    model = network()
    before = [p.clone() for p in model.parameters()]
    for given, name, value in (
        ({"y": y}, "y", "an int64 tensor of shape (40,)"),
        ({"loss_fn": nn.MultiMarginLoss()}, "loss_fn", "a MultiMarginLoss"),
        ({"compute_loss": lambda m, batch: m(batch[0]).sum()}, "compute_loss", "a function"),
    ):
        with pytest.raises(
            InvalidValueError,
            match=re.escape(f"invalid value '{value}' for {name}: accepted None beside batches already made "
                            "(a pair of tensors (40 rows)), which hold their own targets and loss"),
        ):  # fmt: skip
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), batches, total_steps=2, **given)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_a_scheduler_fit_cannot_step_or_that_moves_another_optimizer_is_refused():
    """A schedule function failed after the first step with AttributeError ('function' object has no
    attribute 'step'), a scheduler class with TypeError, and a StepLR over another optimizer trained at
    a constant lr, without a word."""
    from optimlab import schedules

    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for scheduler, says in (
        (schedules.create("cosine", total_steps=10), "'a function' for scheduler: accepted a torch LR scheduler"),
        (torch.optim.lr_scheduler.StepLR, "'the class StepLR' for scheduler"),
        (torch.optim.lr_scheduler.StepLR(torch.optim.SGD(network().parameters(), lr=0.1), 1),
         "'a StepLR over another optimizer' for scheduler"),
    ):  # fmt: skip
        with pytest.raises(InvalidValueError, match=re.escape(says)):
            fit(
                model, optimizer, problem(), loss_fn=nn.CrossEntropyLoss(), total_steps=2, scheduler=scheduler
            )
    assert optimizer.state == {}  # refused before any step


def test_a_loss_without_a_graph_to_the_model_is_named_as_the_loss():
    """A loss through .item(), or fit called under torch.no_grad(), was refused as 'the first batch'
    (RuntimeError: element 0 of tensors does not require grad): data that were fine."""
    model = network()
    detached = lambda outputs, targets: torch.tensor(nn.functional.cross_entropy(outputs, targets).item())  # noqa: E731
    for loss_fn, context in ((detached, torch.enable_grad()), (nn.CrossEntropyLoss(), torch.no_grad())):
        with (
            context,
            pytest.raises(InvalidValueError, match=r"shape \(\) that does not require grad' for the loss"),
        ):
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), problem(), loss_fn=loss_fn, total_steps=2)


def test_callbacks_that_are_not_a_list_of_callbacks_are_refused_before_any_step():
    """callbacks=MetricsLog(...) alone failed with "'MetricsLog' object is not iterable", and
    callbacks=[print] with AttributeError at the first hook; an object with the four hooks is taken."""

    class Hooks:  # not a Callback subclass: the hooks are what fit calls
        steps = 0

        def on_train_start(self, state): ...
        def on_step_end(self, state):
            self.steps += 1

        def on_evaluate(self, state, metrics): ...
        def on_train_end(self, state): ...

    model = network()
    for callbacks, says in (
        (Callback(), "'a Callback' for callbacks: accepted a list"),
        ([print], "without on_train_start"),
    ):
        with pytest.raises(InvalidValueError, match=says):
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), problem(), loss_fn=nn.CrossEntropyLoss(),
                total_steps=2, callbacks=callbacks)  # fmt: skip
    hooks = Hooks()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), problem(), loss_fn=nn.CrossEntropyLoss(), total_steps=2,
        callbacks=[hooks])  # fmt: skip
    assert hooks.steps == 2


def test_a_classes_last_loss_of_next_token_scores_is_scored_per_position():
    """Scores (N, T, V) under ClassesLast (a recipe's cross_entropy on next tokens) with T == V: accuracy
    took dim 1, the positions, for the classes (or, T != V, was missing)."""
    from optimlab.techniques.losses import ClassesLast

    torch.manual_seed(0)
    vocab = 6
    model = nn.Sequential(nn.Embedding(vocab, 8), nn.Linear(8, vocab))  # (N, T) ids -> (N, T, V) scores
    x, y = torch.randint(0, vocab, (40, vocab)), torch.randint(0, vocab, (40, vocab))
    recorder = Evaluations()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss_fn = ClassesLast(nn.CrossEntropyLoss())
    fit(model, optimizer, (x, y), loss_fn=loss_fn, total_steps=1, val_data=(x, y), callbacks=[recorder])
    with torch.no_grad():
        scores = model(x)
    accuracy = (scores.argmax(-1) == y).float().mean().item()
    assert recorder.seen[-1][1]["val_accuracy"] == pytest.approx(accuracy)
    assert accuracy != pytest.approx((scores.argmax(1) == y).float().mean().item())


class Endless(IterableDataset):
    """Rows of ``problem()`` over and over, without end (a stream of augmented or generated data); a
    reader past 25 passes fails the test rather than hang it."""

    def __iter__(self):
        x, y = problem()
        for _ in range(25):
            yield from zip(x, y)
        raise AssertionError("read an endless stream to its end")


def test_an_endless_validation_stream_is_read_for_val_steps_batches_or_refused_in_one_line():
    """fit(val_data=<a DataLoader over an endless IterableDataset>) hung at its first evaluation. With
    val_steps=N each evaluation reads its first N batches, scored as by hand over those rows; without
    it, val data whose length is not known is refused before training, naming val_steps."""
    x, y = problem()
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    endless = DataLoader(Endless(), batch_size=8)
    with pytest.raises(InvalidValueError, match=r"whose length is not known, without val_steps.*val_steps=N"):
        fit(model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=2, val_data=endless)
    state = fit(model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=2, val_data=endless,
                val_steps=3)  # fmt: skip
    with torch.no_grad():  # the first 3 batches of 8: rows 0..23, which is what the stream yields first
        outputs = model(x[:24])
    assert state.last_metrics["val_loss"] == pytest.approx(
        nn.functional.cross_entropy(outputs, y[:24]).item()
    )
    assert state.last_metrics["val_accuracy"] == pytest.approx(
        (outputs.argmax(1) == y[:24]).float().mean().item()
    )
    # a split shorter than val_steps is read whole; val_steps without val_data is refused
    state = fit(
        model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=1, val_data=(x, y), val_steps=50
    )
    with torch.no_grad():
        assert state.last_metrics["val_loss"] == pytest.approx(
            nn.functional.cross_entropy(model(x), y).item()
        )
    for bad in (0, 1.5):
        with pytest.raises(InvalidValueError, match="val_steps"):
            fit(
                model,
                optimizer,
                (x, y),
                loss_fn=nn.CrossEntropyLoss(),
                total_steps=1,
                val_data=endless,
                val_steps=bad,
            )
    with pytest.raises(InvalidValueError, match="None without val_data"):
        fit(model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=1, val_steps=2)


class Declared(Endless):
    """The stream of :class:`Endless` (its first ``rows``, where given) under a ``__len__`` of ``declared``
    rows, true or not."""

    def __init__(self, declared, rows=None):
        self.declared, self.rows = declared, rows

    def __len__(self):
        return self.declared

    def __iter__(self):
        stream = super().__iter__()
        return stream if self.rows is None else itertools.islice(stream, self.rows)


@pytest.mark.filterwarnings("ignore:Length of IterableDataset")  # torch's own, for each row past __len__
def test_a_validation_stream_yielding_more_than_its_len_is_refused_in_one_line_not_read_on():
    """fit(val_data=<a DataLoader over an IterableDataset whose __len__ says 3 batches>) read an endless
    one without end (a hang; here the stream's guard) and scored a finite one on all it yielded. An
    evaluation reads the batches the length says; one more is refused, naming both counts and
    val_steps, with which the first N batches are read. A stream that yields what it says, or fewer,
    is scored whole, as by hand."""
    x, y = problem()
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    refusal = (
        "invalid value 'a DataLoader whose __len__ says 3 batches, but which yielded at least 4' for the "
        "val data: accepted a __len__ that counts the batches it yields, or val_steps=N beside fit's "
        "val_data, the batches each evaluation reads."
    )
    for rows in (None, 40):  # endless, and finite past its length
        with pytest.raises(InvalidValueError) as refused:
            fit(model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=1,
                val_data=DataLoader(Declared(24, rows), batch_size=8))  # fmt: skip
        assert str(refused.value) == refusal
    for declared, rows, val_steps, scored in ((24, None, 2, 16), (24, 24, None, 24), (40, 24, None, 24)):
        state = fit(model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=1,
                    val_data=DataLoader(Declared(declared, rows), batch_size=8), val_steps=val_steps)  # fmt: skip
        with torch.no_grad():  # the stream's first rows, as many as the evaluation read
            outputs = model(x[:scored])
        assert state.last_metrics["val_loss"] == pytest.approx(
            nn.functional.cross_entropy(outputs, y[:scored]).item()
        )
        assert state.last_metrics["val_accuracy"] == pytest.approx(
            (outputs.argmax(1) == y[:scored]).float().mean().item()
        )


def training_refusal(data) -> str:
    """The one line in which fit refuses to train ``network()`` on ``data`` for 12 steps."""
    model = network()
    with pytest.raises(InvalidValueError) as refused:
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            data,
            loss_fn=nn.CrossEntropyLoss(),
            total_steps=12,
        )
    return str(refused.value)


@pytest.mark.filterwarnings("ignore:Length of IterableDataset")
@pytest.mark.parametrize(
    ("declared", "rows", "said"),
    [(20, 28, "5 batches, but which yielded at least 6"), (28, 20, "7 batches, but which yielded only 5"),
     (20, None, "5 batches, but which yielded at least 6"), (4, 8, "1 batch, but which yielded at least 2")],
)  # fmt: skip
def test_training_data_yielding_another_number_of_batches_than_its_len_is_refused(declared, rows, said):
    """A training DataLoader whose __len__ says 5 batches an epoch and yields 7 (or says 7 and yields 5)
    trained, but a run resumed after 6 steps took other batches than an uninterrupted one (weights 0.05
    and 0.04 apart after 12 steps), as the count decides where an epoch ends and a resumed run starts;
    ``epochs`` took the said count's steps. Refused in one line naming both counts; a true __len__
    trains as before."""
    x, y = problem()
    assert training_refusal(DataLoader(Declared(declared, rows), batch_size=4)) == (
        f"invalid value 'a DataLoader whose __len__ says {said}' for "
        "data: accepted a __len__ that counts the batches it yields, or no __len__ (then total_steps, not epochs)."
    )
    true = DataLoader(Declared(20, 20), batch_size=4)
    whole = trained(network(), true, 12, loss_fn=nn.CrossEntropyLoss())
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = fit(model, optimizer, true, loss_fn=nn.CrossEntropyLoss(), total_steps=6)
    fit(model, optimizer, true, loss_fn=nn.CrossEntropyLoss(), total_steps=12, state=state)
    assert same([p.detach() for p in model.parameters()], whole)
    assert same(whole, by_hand(network(), [(x[i : i + 4], y[i : i + 4]) for i in range(0, 20, 4)], 12))


class Sharded(IterableDataset):
    """The 40 rows of ``problem()``, each of a DataLoader's workers yielding its share (every n-th row),
    under a __len__ of all 40: as torch's docs shard an IterableDataset."""

    def __len__(self):
        return 40

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        x, y = problem()
        yield from zip(x[worker::workers], y[worker::workers])


def test_a_loader_whose_workers_batch_their_shares_apart_is_refused_saying_so():
    """Two workers batch their 20 rows each by 8: 8, 8, 4 apiece, 6 batches where the loader's __len__
    says 5 (40 rows by 8); the refusal says why the count differs."""
    loader = DataLoader(Sharded(), batch_size=8, num_workers=2)
    assert (len(loader), [len(batch[0]) for batch in loader]) == (5, [8, 8, 8, 8, 4, 4])  # torch's own
    assert training_refusal(loader) == (
        "invalid value 'a DataLoader whose __len__ says 5 batches, but which yielded at least 6' for data: "
        "accepted a __len__ that counts the batches it yields (the DataLoader's 2 workers each read the "
        "IterableDataset and batch what they read apart, where its __len__ counts the batches of one reader), "
        "or no __len__ (then total_steps, not epochs)."
    )


RAGGED = """
import torch
from torch.utils.data import DataLoader, Dataset


class Items(Dataset):
    def __init__(self, n, ragged_at=None):
        self.n, self.ragged_at = n, ragged_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        width = 5 if i == self.ragged_at else 4  # one item a feature longer, left unpadded
        return {"x": torch.full((width,), float(i % 7)), "labels": i % 2}


def train_ragged():
    return DataLoader(Items(40, ragged_at=13), batch_size=4), DataLoader(Items(16), batch_size=4)


def val_ragged():
    return DataLoader(Items(40), batch_size=4), DataLoader(Items(16, ragged_at=5), batch_size=4)
"""

UNSTACKED = (
    "invalid value 'RuntimeError: stack expects each tensor to be equal size, but got [4] at entry 0 and "
    "[5] at entry 1' for a batch of {field} (a DataLoader){at}: accepted items that torch's default_collate "
    "stacks, each tensor of one shape: pad them in the Dataset, or give the DataLoader a collate_fn that "
    "pads them (transformers' DataCollatorWithPadding)."
)


def test_a_loader_whose_collate_fails_mid_training_is_refused_in_one_line_naming_the_shapes(
    write_modules, cli, tmp_path
):
    """A DataLoader of items of unequal shapes (its 4th batch: torch's default_collate cannot stack
    them) raised torch's RuntimeError from inside its iterator after 3 steps, a traceback through fit
    and `optimlab train`; refused in one line naming the data, where, and the shapes (CLI: exit 2), the
    steps before it trained as by hand. The same of the validation data."""
    write_modules(optimlab_dict_net=DICT_NET, optimlab_ragged=RAGGED)
    import optimlab_dict_net
    import optimlab_ragged

    train_loader, val_loader = optimlab_ragged.train_ragged()
    model, reference = optimlab_dict_net.Net(), optimlab_dict_net.Net()
    reference.load_state_dict(model.state_dict())
    with pytest.raises(InvalidValueError) as refused:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), train_loader, total_steps=8)
    # the 4th batch (rows 12..15) holds item 13, read ahead as step 3's batch is handed over
    assert str(refused.value) == UNSTACKED.format(field="data", at=", read after 2 steps")
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for batch in DataLoader(optimlab_ragged.Items(8), batch_size=4):  # steps 1 and 2: rows 0..7
        optimizer.zero_grad()
        reference(**batch)["loss"].backward()
        optimizer.step()
    for trained, by_hand in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(trained, by_hand)  # the two steps it took before the refusal, as by hand
    train_loader, val_loader = optimlab_ragged.val_ragged()
    with pytest.raises(InvalidValueError) as refused:
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            train_loader,
            total_steps=2,
            val_data=val_loader,
        )
    assert str(refused.value) == UNSTACKED.format(field="the val data", at="")
    for factory, field, at in (
        ("train_ragged", "data", ", read after 2 steps"),
        ("val_ragged", "the val data", ""),
    ):
        code, _, err = cli("train", "--model", "optimlab_dict_net:build", "--dataset", f"optimlab_ragged:{factory}",
                           "--steps", "6", "--out", str(tmp_path / factory))  # fmt: skip
        assert code == 2 and "Traceback" not in err, err
        assert UNSTACKED.format(field=field, at=at) in " ".join(err.split()), err


@pytest.mark.parametrize(
    ("label", "needs"),
    [
        (5, "a label of 5 is class 5, which needs 6 or more class scores a row: the model gives fewer (its last "
            "layer's outputs), or the labels are no class ids 0..C-1 (remap them)."),
        (-1, "a label of -1: class ids count from 0 (cross-entropy skips -100 alone, its ignore_index)."),
    ],
)  # fmt: skip
def test_a_label_the_model_has_no_class_score_for_is_refused_saying_what_it_needs(label, needs):
    """A label of 5 under a model of 2 class scores (or a label of -1) was refused with torch's
    'IndexError: Target 5 is out of bounds.' alone, which names neither the model nor a fix, in the first
    batch; in a later one, training's or validation's, it was that IndexError's traceback."""
    x, y = problem()
    model = network()
    with pytest.raises(IndexError) as torch_says:  # torch's own words, in the refusal
        nn.functional.cross_entropy(model(x[:2]), torch.tensor([0, label]))
    wrong = y.clone()
    wrong[35] = label  # in the third batch of 16
    loss = nn.CrossEntropyLoss()
    for field, data, val in (
        ("the first batch", (x[32:], wrong[32:]), None),
        ("the batch of step 3", (x, wrong), None),
        ("batch 3 of the val data", (x, y), DataLoader(TensorDataset(x, wrong), batch_size=16)),
    ):
        with pytest.raises(InvalidValueError) as refused:
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=loss, total_steps=3,
                batch_size=16, shuffle=False, val_data=val)  # fmt: skip
        assert str(refused.value).endswith(
            f"for {field}: accepted a batch the model and the loss can use (IndexError: {torch_says.value}): "
            + needs
        )


def test_a_later_batch_of_another_shape_is_refused_in_one_line_naming_its_step():
    """A batch of 4 features after batches of 3 (training's second, or validation's second) failed deep in
    the model with torch's RuntimeError traceback, where the first batch's failure was one line."""
    x, y = problem(32)
    wide = torch.cat([x[16:], x[16:, :1]], 1)  # a feature more
    model = network()
    with pytest.raises(RuntimeError) as torch_says:  # torch's own words, in the refusal
        model(wide)
    batches = [(x[:16], y[:16]), (wide, y[16:])]
    for field, data, val in (
        ("the batch of step 2", batches, None),
        ("batch 2 of the val data", (x, y), batches),
    ):
        with pytest.raises(InvalidValueError) as refused:
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), data, loss_fn=nn.CrossEntropyLoss(), total_steps=2,
                val_data=val)  # fmt: skip
        assert str(refused.value) == (
            f"invalid value 'a tuple of 2 (float32 (16, 4), int64 (16,))' for {field}: accepted a batch the model "
            f"and the loss can use (RuntimeError: {torch_says.value})."
        )


class RunsOutOfMemory(nn.Module):
    """``network()`` whose forward raises torch's GPU out-of-memory error from its ``at``-th call on."""

    def __init__(self, at):
        super().__init__()
        self.net, self.at, self.calls = network(), at, 0

    def forward(self, x):
        self.calls += 1
        if self.calls >= self.at:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


@pytest.mark.parametrize("at", [1, 2])
def test_running_out_of_memory_is_no_refusal_of_the_batch(at):
    """A GPU out of memory at the first step, or a later one, is torch's OutOfMemoryError, which the
    command line reads as such ('out of memory (2.00 GiB asked for): make the model ... smaller'), not
    a batch the model cannot take (the first batch's was one)."""
    from optimlab.cli._errors import expected_message

    x, y = problem()
    model = RunsOutOfMemory(at)
    with pytest.raises(torch.OutOfMemoryError) as raised:
        trained(model, (x, y), 2, loss_fn=nn.CrossEntropyLoss())
    assert expected_message(raised.value).startswith("out of memory (2.00 GiB asked for)")


def test_a_model_returning_class_ids_to_cross_entropy_is_told_it_needs_a_score_per_class():
    """A forward ending in argmax (class ids, int64) met torch's 'Expected floating point type for target
    with class probabilities, got Long', which names neither the model's outputs nor a fix."""

    class Ids(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scores = network()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scores(x).argmax(1)

    x, y = problem()
    model = Ids()
    with pytest.raises(RuntimeError, match="target with class probabilities") as torch_says:
        nn.functional.cross_entropy(model(x[:2]), y[:2])
    with pytest.raises(InvalidValueError) as refused:
        trained(model, (x, y), 1, loss_fn=nn.CrossEntropyLoss())
    said = str(refused.value)
    assert f"(RuntimeError: {torch_says.value.args[0].splitlines()[0]})" in said
    assert said.endswith("it takes a float score per class and row, (N, C) logits, not class ids (an argmax in "
                         "forward) nor one score a row.")  # fmt: skip


class OwnBinaryLogit(nn.Module):
    """One logit a row, its own loss the binary cross-entropy of it: a binary classifier."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x, labels):
        logits = self.linear(x)
        return {
            "logits": logits,
            "loss": nn.functional.binary_cross_entropy_with_logits(logits[:, 0], labels.float()),
        }


def test_a_regression_head_of_integer_labels_gets_no_accuracy_and_a_binary_logit_keeps_its_own():
    """Hugging Face's sequence classification with num_labels=1 is a regression (its loss the mean
    squared error of the one score, integer labels too): its score > 0 was read as class 1 and scored
    against the labels as a val_accuracy (0.14 on counts of a token). Truth: the model's own loss, by
    hand, is that MSE, and no accuracy; a model whose own loss is the binary cross-entropy of its one
    logit keeps the accuracy of its sign."""
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=1)  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 30, (16, 8), generator=generator)
    counts = (ids < 10).sum(1)  # int64 labels: how many ids under 10
    batches = [{"input_ids": ids[i : i + 8], "labels": counts[i : i + 8]} for i in (0, 8)]
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.0), batches, total_steps=1, val_data=batches)
    model.eval()
    with torch.no_grad():
        scores = model(input_ids=ids).logits
    assert model.config.problem_type == "regression"
    mse = (scores[:, 0] - counts.float()).pow(2).mean().item()
    assert state.last_metrics == {"val_loss": pytest.approx(mse, rel=1e-5)}

    x, y = torch.randn(40, 4, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    model = OwnBinaryLogit()
    items = [{"x": x[i : i + 10], "labels": y[i : i + 10]} for i in range(0, 40, 10)]
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.0), items, total_steps=1, val_data=items)
    with torch.no_grad():
        accuracy = ((model.linear(x)[:, 0] > 0).long() == y).float().mean().item()
    assert state.last_metrics["val_accuracy"] == pytest.approx(accuracy)


def test_token_ids_past_the_models_vocabulary_are_refused_naming_their_range():
    """Token ids of a tokenizer larger than the model's config.vocab_size were refused with torch's
    'IndexError: index out of range in self' alone, which names neither the embedding nor the ids. Truth:
    torch's own message, and the ids' range read from the batch by hand."""
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)  # fmt: skip
    model = transformers.BertForSequenceClassification(config)
    ids = torch.randint(0, 30, (8, 6), generator=torch.Generator().manual_seed(0))
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": torch.zeros(8, dtype=torch.long),
    }
    with pytest.raises(IndexError) as torch_says:
        model(**batch)
    with pytest.raises(InvalidValueError) as refused:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), [batch], total_steps=1)
    assert str(refused.value).endswith(
        f"(IndexError: {torch_says.value}): an embedding (nn.Embedding) was given an id outside its rows, which "
        "count from 0 to its num_embeddings - 1 (a Hugging Face model's config.vocab_size - 1); the batch's ids "
        f"run 'input_ids' from {int(ids.min())} to {int(ids.max())}; 'attention_mask' from 1 to 1."
    )


@pytest.mark.parametrize("target", ["label", "Label", "CLASS"])
def test_ids_past_an_embedding_are_refused_naming_the_inputs_not_the_target_under_a_name_in_any_case(target):
    """The target of a dict batch is read under its name in any case (target_key), but the ids' ranges
    left out only the lowercase names: {'ids': ..., 'Label': y} was told "the batch's ids run 'ids' from
    0 to 8; 'Label' from 1 to 1", its target named as an embedding's input. Truth: the ids' range alone,
    read from the batch by hand."""

    class Embedded(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(5, 2)

        def forward(self, ids):
            return self.embedding(ids).mean(1)

    ids = torch.arange(12).reshape(4, 3) % 9
    batch = {"ids": ids, target: torch.ones(4, dtype=torch.long)}
    model = Embedded()
    with pytest.raises(InvalidValueError) as refused:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), [batch], loss_fn=nn.CrossEntropyLoss(),
            total_steps=1)  # fmt: skip
    assert str(refused.value).endswith(
        f"the batch's ids run 'ids' from {int(ids.min())} to {int(ids.max())}."
    )


def test_the_users_metric_gets_batches_padded_to_unequal_lengths_as_the_hugging_face_trainer_joins_them():
    """Validation batches padded each to its longest sequence (a padding collate) hold scores and labels
    of unequal lengths: fit's evaluation stopped at torch.cat's 'Sizes of tensors must match' traceback
    before the user's metric. Truth: transformers' own torch_pad_and_concatenate (the Trainer's join for
    compute_metrics, padding with -100) of a causal LM's shifted logits and labels, batch by batch."""
    transformers = pytest.importorskip("transformers")
    from transformers.trainer_pt_utils import torch_pad_and_concatenate

    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(vocab_size=20, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    )
    generator = torch.Generator().manual_seed(0)
    batches = []
    for length in (5, 8, 6):
        ids = torch.randint(1, 20, (3, length), generator=generator)
        mask = torch.ones_like(ids)
        mask[0, length - 2 :] = 0  # a row padded inside its batch too
        batches.append(
            {"input_ids": ids * mask, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
        )
    seen = {}

    def kept(outputs, targets):
        seen["outputs"], seen["targets"] = outputs, targets
        return 0.0

    fit(model, torch.optim.SGD(model.parameters(), lr=0.0), batches, total_steps=1, val_data=batches,
        metrics={"kept": kept})  # fmt: skip
    model.eval()
    with torch.no_grad():
        logits = [model(**batch).logits[:, :-1] for batch in batches]
    labels = [batch["labels"][:, 1:] for batch in batches]
    assert torch.allclose(seen["outputs"], functools.reduce(torch_pad_and_concatenate, logits), atol=1e-6)
    assert torch.equal(seen["targets"], functools.reduce(torch_pad_and_concatenate, labels))


def test_examples_labelled_minus_100_are_left_out_of_the_models_own_validation_loss_as_its_loss_leaves_them():
    """Hugging Face's sequence classification skips an example labelled -100 (its cross-entropy's
    ignore_index), so its mean over a batch divides by the labelled examples: batches holding unequal
    numbers of them were weighted by their rows, and val_loss was not the split's mean (0.6899 against
    0.6962 on a tiny BERT with 1 labelled example of 16 in the first batch). Truth: the model's own loss
    over the whole split as one batch."""
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 30, (32, 8), generator=generator)
    labels = (ids[:, 0] > 15).long()
    labels[1:16] = -100  # the first batch: one labelled example of 16
    batches = [{"input_ids": ids[i : i + 16], "labels": labels[i : i + 16]} for i in (0, 16)]
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.0), batches, total_steps=1, val_data=batches)
    model.eval()
    with torch.no_grad():
        whole = model(input_ids=ids, labels=labels)
    counted = labels != -100
    assert state.last_metrics["val_loss"] == pytest.approx(whole.loss.item(), rel=1e-5)
    assert state.last_metrics["val_accuracy"] == pytest.approx(
        (whole.logits.argmax(-1)[counted] == labels[counted]).float().mean().item()
    )


def test_token_ids_past_the_vocabulary_of_a_recipes_model_are_refused_naming_their_range(write_modules):
    """A recipe's data hold token ids as float32, cast to int64 for the model's embedding: the refusal
    of ids past config.vocab_size gave no range for them. Truth: the ids' range, 0 to 29 by construction."""
    pytest.importorskip("transformers")
    from optimlab.recipe import Recipe
    from optimlab.train import train

    write_modules(
        optimlab_vocab_case="""
        import torch
        import transformers

        def bert():
            config = transformers.BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=32,
                                             max_position_embeddings=16, num_labels=2)
            return transformers.BertForSequenceClassification(config)

        def ids():  # every row: id 0 first, 29 last (past the 20 rows of the embedding)
            x = torch.randint(1, 20, (40, 6), generator=torch.Generator().manual_seed(0))
            x[:, 0], x[:, -1] = 0, 29
            return x, (x[:, 1] > 10).long()
        """
    )
    recipe = Recipe.from_dict(
        {"data": {"name": "optimlab_vocab_case:ids"}, "model": {"name": "optimlab_vocab_case:bert"},
         "training": {"epochs": 1, "checkpoint_every": None}}
    )  # fmt: skip
    with pytest.raises(InvalidValueError) as refused:
        train(recipe)
    assert "an embedding (nn.Embedding) was given an id outside its rows" in str(refused.value)
    assert str(refused.value).endswith("the batch's ids run input 0 from 0 to 29.")


@pytest.mark.parametrize("column", [False, True])
@pytest.mark.parametrize("negative", [-1, 0])
def test_the_accuracy_of_one_score_is_its_sign_against_labels_of_minus_one_or_zero(negative, column):
    """A model of one score under torch's SoftMarginLoss, with -1/+1 labels: the accuracy counted the +1
    rows alone (a -1 was skipped as an ignored target) and compared 0 with them. Now, in fit's evaluation
    and in a recipe's (the tensor path), it is the share of rows whose score's sign is their label, by
    hand; so too under BCE with 0/1 labels, and for labels in a column (N, 1), which had none."""
    from optimlab.train.run import evaluate

    x, y = problem(64)
    labels = torch.where(y == 1, 1, negative)
    labels = labels.unsqueeze(1) if column else labels
    torch.manual_seed(1)
    model = nn.Linear(3, 1)
    with torch.no_grad():
        score = model(x).squeeze(-1)
    expected = ((score > 0) == (labels.reshape(-1) == 1)).double().mean().item()
    assert 0.2 < expected < 0.8  # right and wrong rows of both labels

    def loss_fn(out, t):
        if negative == -1:
            return nn.functional.soft_margin_loss(out.reshape(t.shape), t.float())
        return nn.functional.binary_cross_entropy_with_logits(out.reshape(t.shape), t.float())

    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    state = fit(model, optimizer, (x, labels), loss_fn=loss_fn, total_steps=1, val_data=(x, labels))
    assert state.last_metrics["val_accuracy"] == pytest.approx(expected)
    found = evaluate(model, loss_fn, x, labels, task="classification", prefix="val")
    assert found["val_accuracy"] == pytest.approx(expected)


def test_labels_past_the_two_classes_of_one_score_count_as_wrong():
    """One score read as the logit of class 1 cannot answer class 2: its rows were skipped, and the
    accuracy of a 1-output model on three classes counted the rows of 0 and 1 alone. They count, wrong."""
    from optimlab.train.evaluation import hits

    scores = torch.tensor([[1.0], [-1.0], [1.0], [-1.0], [2.0]])
    correct, counted = hits(scores, torch.tensor([1, 0, 2, 2, -1]))
    assert correct.tolist() == [True, True, False, False, False] and counted.all()


def test_a_matrix_of_0_1_targets_regressed_under_mse_gets_no_accuracy():
    """The subset accuracy of multi-label 0/1 targets is read only under BCEWithLogitsLoss: the same
    targets regressed under nn.MSELoss get their loss and RMSE, computed by hand, and no accuracy."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=generator)
    y = (x[:, :4] + 0.5 * torch.randn(64, 4, generator=generator) > 0).float()
    torch.manual_seed(0)
    model = nn.Linear(5, 4)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.5), (x, y), loss_fn=nn.MSELoss(),
                total_steps=5, batch_size=16, val_data=(x, y))  # fmt: skip
    with torch.no_grad():
        outputs = model(x)
    assert state.last_metrics == {
        "val_loss": pytest.approx(nn.functional.mse_loss(outputs, y).item(), rel=1e-5),
        "val_rmse": pytest.approx((outputs - y).pow(2).mean().sqrt().item(), rel=1e-5),
    }


def test_subset_hits_refuses_another_loss_before_scanning_the_targets(monkeypatch):
    """subset_hits read every target (zero_one, a host sync a batch) before it looked at the loss, so an
    MSE regression of 0/1 matrices paid the scan at each evaluation batch to get None. Truth: None under
    MSELoss with no scan; under BCEWithLogitsLoss the rows whose every label is right, as by hand."""
    import optimlab.train.evaluation as evaluation

    scores = torch.tensor([[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    scanned = []
    real = evaluation.zero_one
    monkeypatch.setattr(evaluation, "zero_one", lambda t: scanned.append(t) or real(t))
    assert evaluation.subset_hits(nn.MSELoss(), torch.tensor(0.3), scores, targets) is None
    assert scanned == []
    hit, counted = evaluation.subset_hits(nn.BCEWithLogitsLoss(), torch.tensor(0.3), scores, targets)
    assert hit.tolist() == [True, False, True] and counted.all() and len(scanned) == 1


def test_a_scheduler_stepped_per_epoch_follows_torchs_epoch_loop_and_resumes_mid_epoch():
    """fit stepped every scheduler each optimizer step, so a StepLR(step_size=1) written for epochs, as
    torch's examples step it, decayed the lr five times an epoch. Under scheduler_interval='epoch' it
    steps once at each epoch's end, as torch's documented loop: weights equal that loop's, a run cut
    mid-epoch and resumed included."""
    x, y = problem()  # 40 rows, batches of 8 in order: 5 steps an epoch

    def loader():
        return DataLoader(TensorDataset(x, y), batch_size=8)

    def decayed(model):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.4)
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    reference = network()
    optimizer, scheduler = decayed(reference)
    for _ in range(3):
        for xb, yb in loader():
            optimizer.zero_grad()
            nn.functional.cross_entropy(reference(xb), yb).backward()
            optimizer.step()
        scheduler.step()
    for cut in (None, 7):
        model = network()
        optimizer, scheduler = decayed(model)
        common = {"loss_fn": nn.CrossEntropyLoss(), "scheduler": scheduler, "scheduler_interval": "epoch"}
        state = None if cut is None else fit(model, optimizer, loader(), total_steps=cut, **common)
        fit(model, optimizer, loader(), epochs=3, state=state, **common)
        assert scheduler.last_epoch == 3 and optimizer.param_groups[0]["lr"] == 0.4 * 0.5**3
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), reference.parameters()))


def test_a_scheduler_interval_fit_cannot_keep_is_refused_by_name():
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(zip(*problem()))

    with pytest.raises(
        InvalidValueError, match="'epochs' for scheduler_interval: accepted 'step' or 'epoch'"
    ):
        fit(model, optimizer, problem(), loss_fn=nn.CrossEntropyLoss(), total_steps=2, scheduler=scheduler,
            scheduler_interval="epochs")  # fmt: skip
    with pytest.raises(
        InvalidValueError, match="whose length is not known' for scheduler_interval: accepted 'step', or data"
    ):
        fit(model, optimizer, DataLoader(Stream(), batch_size=8), loss_fn=nn.CrossEntropyLoss(), total_steps=2,
            scheduler=scheduler, scheduler_interval="epoch")  # fmt: skip
    assert scheduler.last_epoch == 0


class Unsized(IterableDataset):
    """A stream of problem(10)'s rows without __len__, counting the passes made over it."""

    def __init__(self):
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        return iter(zip(*problem(10), strict=True))


class StopAt(Callback):
    def __init__(self, step):
        self.at = step

    def on_step_end(self, state):
        if state.step == self.at:
            state.stop_reason = "stopped"


def test_epochs_over_a_stream_of_no_length_iterate_it_again_each_epoch_as_a_torch_loop_does():
    """fit(IterableDataset without __len__, epochs=2) was refused ('epochs: None ... total_steps'): a torch
    loop iterates it again each epoch. The first pass tells the steps an epoch; the run, a per-epoch
    StepLR and a run stopped in the first pass then continued from its state train as a hand-written loop
    does, bit for bit. A OneCycleLR, whose total must be known before its first step, is refused by name."""
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    for _ in range(2):
        for inputs, targets in DataLoader(Unsized(), batch_size=4):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
        scheduler.step()
    expected = [p.detach() for p in model.parameters()]
    for stop_at in (None, 2):
        model, stream = network(), Unsized()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        common = {"loss_fn": nn.CrossEntropyLoss(), "epochs": 2, "scheduler": scheduler}
        state = None
        if stop_at is not None:
            loader = DataLoader(stream, batch_size=4)
            state = fit(
                model, optimizer, loader, callbacks=[StopAt(stop_at)], scheduler_interval="epoch", **common
            )
            assert (state.step, state.total_steps) == (2, 0)  # the length not known yet
        state = fit(
            model,
            optimizer,
            DataLoader(stream, batch_size=4),
            state=state,
            scheduler_interval="epoch",
            **common,
        )
        assert (state.step, state.total_steps, state.steps_per_epoch) == (6, 6, 3)
        assert stream.passes == 2 + (stop_at is not None) and optimizer.param_groups[0]["lr"] == 0.1 * 0.5**2
        assert all(map(torch.equal, [p.detach() for p in model.parameters()], expected))
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=6)
    with pytest.raises(InvalidValueError, match="whose length is not known, beside a OneCycleLR' for epochs"):
        fit(model, optimizer, DataLoader(Unsized(), batch_size=4), **{**common, "scheduler": one_cycle})


class Passes(IterableDataset):
    """A stream of no __len__ whose k-th pass yields ``lengths[k]`` rows (a stream filtered at random, a
    shard reader): 4 rows a batch."""

    def __init__(self, x, y, lengths):
        self.x, self.y, self.lengths, self.passes = x, y, lengths, 0

    def __iter__(self):
        n = self.lengths[self.passes]
        self.passes += 1
        return iter(zip(self.x[:n], self.y[:n]))


def test_an_lr_sweep_reads_a_stream_whose_passes_differ_in_length_as_it_comes():
    """lr_range_test, which counts no epochs, refused a stream of passes of 3, 2 and 4 batches (one fit
    trains) with advice of epochs and total_steps that it has neither. Truth: the same sweep over those
    batches in a list, one after the other: the same losses."""
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    lengths = [12, 8, 16]
    batches = [(x[i : i + 4], y[i : i + 4]) for n in lengths for i in range(0, n, 4)]
    losses = []
    for data in (DataLoader(Passes(x, y, lengths), batch_size=4), batches):
        torch.manual_seed(0)
        model = nn.Linear(3, 2)
        swept = lr_range_test(model, nn.CrossEntropyLoss(), data, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                              steps=len(batches) - 1)  # fmt: skip
        losses.append(swept.losses)
    assert losses[0] == losses[1] and len(losses[0]) == len(batches) - 1


# stopped inside pass 2 (its count the first's, or not; after it was seen longer), at its end, and inside
# pass 3 after pass 2 was seen shorter
@pytest.mark.parametrize(
    ("rows", "stop"), [(12, None), (16, None), (8, None), (12, 4), (8, 4), (8, 5), (4, 4), (16, 7), (8, 6)]
)
def test_a_stream_whose_passes_differ_in_length_trains_each_pass_as_a_torch_loop(rows, stop, tmp_path):
    """An IterableDataset of 3 batches, then of 4, 2 or 1, then of 2, under epochs=3 and a scheduler
    stepped each epoch was refused at its second pass (its first pass's count ended each epoch). Truth: a
    hand-written torch loop over the same batches, each pass trained as it comes and one scheduler step
    a pass: the same weights, bit for bit; a run stopped at a step past the first pass (inside the
    second, or at its end) and resumed from its checkpoint ends with them too."""
    from optimlab.train.checkpoint import load_checkpoint, read_checkpoint

    from .stops import CheckpointAt

    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    by_hand = copy.deepcopy(model)
    lengths = [12, rows, 8]
    hand_opt = torch.optim.SGD(by_hand.parameters(), lr=0.1)
    for n in lengths:
        for i in range(0, n, 4):
            hand_opt.zero_grad()
            nn.functional.cross_entropy(by_hand(x[i : i + 4]), y[i : i + 4]).backward()
            hand_opt.step()
        for group in hand_opt.param_groups:
            group["lr"] *= 0.5

    def run(stop=None, resume=False):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        state = None
        if resume:  # as a new process: the checkpoint's weights, optimizer and scheduler, the stream anew
            state = load_checkpoint(
                read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=scheduler
            )
        stream = Passes(x, y, lengths)
        stream.passes = 0 if state is None else state.epoch + state.epoch_ended
        stops = [] if stop is None else [CheckpointAt(stop, tmp_path, model, optimizer, scheduler)]
        return fit(model, optimizer, DataLoader(stream, batch_size=4), loss_fn=nn.CrossEntropyLoss(), epochs=3,
                   scheduler=scheduler, scheduler_interval="epoch", state=state, callbacks=stops)  # fmt: skip

    steps = 3 + rows // 4 + 2
    if stop is None or stop >= steps:
        state = run()
    else:
        assert run(stop).step == stop
        state = run(resume=True)
    assert (state.step, state.epoch, state.epoch_ended) == (steps, 2, True)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), by_hand.parameters()))


def test_a_stream_whose_passes_differ_in_length_is_checkpointed_and_evaluated_at_each_pass_end():
    """Checkpointing's and the evaluation's once-an-epoch counted the first pass's steps (or, once
    passes differed, saved by time alone). Truth: the ends of the passes as a torch loop meets them,
    passes of 3, 5, 2 and 4 batches ending at steps 3, 8, 10 and 14."""
    from optimlab.train.callbacks import Checkpointing

    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    saved, evaluated = [], []
    model = nn.Linear(3, 2)
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), Passes(x, y, [12, 20, 8, 16]), batch_size=4, epochs=4,
        loss_fn=nn.CrossEntropyLoss(), evaluate=lambda: {"m": 0.0},
        callbacks=[Checkpointing(lambda state: saved.append(state.step)), EveryEvaluation(evaluated)])  # fmt: skip
    assert saved == evaluated == [3, 8, 10, 14]


class EveryEvaluation(Callback):
    """Keeps the step of each evaluation in ``steps``."""

    def __init__(self, steps):
        self.steps = steps

    def on_evaluate(self, state, metrics):
        self.steps.append(state.step)


class NamedInputs(nn.Module):
    """A model whose forward names its inputs, as a Hugging Face model's: ``forward(pixels, mask)``."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, pixels, mask):
        return self.linear(pixels * mask)


@pytest.mark.parametrize(
    "as_column",
    [lambda t: t, lambda t: t.numpy(), lambda t: t.tolist()],
    ids=["tensors", "numpy", "lists"],
)
@pytest.mark.parametrize("target", ["label", "Class"])
def test_a_dict_of_columns_trains_as_its_rows(as_column, target):
    """{"pixels": (N, 3), "mask": (N, 3), "label": (N,)}, a Hugging Face dataset's columns, was refused as
    data ('accepted a pair of tensors...'). Truth: a hand-written torch loop over its rows in order, 4 a
    batch, the model given the inputs by name and the loss the target column (named as a CSV file's
    target is, in any case): the same weights, bit for bit."""
    x, mask, y = torch.randn(10, 3), (torch.rand(10, 3) > 0.2).float(), torch.randint(0, 2, (10,))
    torch.manual_seed(0)
    model = NamedInputs()
    by_hand = copy.deepcopy(model)
    hand_opt = torch.optim.SGD(by_hand.parameters(), lr=0.1)
    for i in range(0, 10, 4):
        hand_opt.zero_grad()
        nn.functional.cross_entropy(
            by_hand(pixels=x[i : i + 4], mask=mask[i : i + 4]), y[i : i + 4]
        ).backward()
        hand_opt.step()
    columns = {"pixels": as_column(x), target: as_column(y), "mask": as_column(mask)}
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), columns, loss_fn=nn.CrossEntropyLoss(),
                epochs=1, batch_size=4, shuffle=False, val_data=columns)  # fmt: skip
    assert state.step == 3 and 0 <= state.last_metrics["val_accuracy"] <= 1
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), by_hand.parameters()))


ONE_TARGET = (
    "one column named 'labels' or 'label' or 'targets' or 'target' or 'y' or 'class' (any case), the targets "
    "the loss_fn compares with"
)


@pytest.mark.parametrize(
    ("columns", "value", "accepted"),
    [
        (
            {"x": torch.zeros(6, 3), "label": torch.zeros(4, dtype=torch.long)},
            "a dict of columns of unequal lengths: 'x' 6, 'label' 4",
            "columns of one length each, a row of each column an example",
        ),
        (
            {"x": torch.zeros(6, 3), "y": torch.zeros(6, dtype=torch.long), "Label": torch.zeros(6)},
            "a dict of columns with several named as a target: 'y', 'Label'",
            ONE_TARGET + ": drop or rename the others, or they are read as inputs",
        ),
        (
            {"x": torch.zeros(6, 3), "answer": torch.zeros(6, dtype=torch.long)},
            "a dict of columns with no target column: 'x', 'answer'",
            ONE_TARGET,
        ),
        (
            {
                "train": (torch.zeros(6, 3), torch.zeros(6).long()),
                "val": (torch.zeros(2, 3), torch.zeros(2).long()),
            },
            "a dict of the splits 'train', 'val'",
            "the training split as data and the val split as val_data: "
            "fit(model, optimizer, d['train'], val_data=d['val'], ...)",
        ),
        (
            {"x": torch.zeros(6, 3), "label": ["cat", "dog", "cat", "emu", "fox", "gnu"]},
            "a dict of columns whose target column 'label' holds names, not numbers ('cat', 'dog', 'emu', ...)",
            "targets of numbers: class names mapped to ids 0..K-1, one map for every split (e.g. classes = "
            "sorted(set(labels)); [classes.index(c) for c in labels]), as a CSV file's are",
        ),
    ],
    ids=["ragged", "two targets", "no target", "splits", "class names"],
)
def test_a_dict_of_columns_without_one_target_or_of_unequal_lengths_is_refused_naming_them(
    columns, value, accepted
):
    """Columns of unequal lengths have no rows; several target-named columns leave one a feature holding
    the target (a label leak, refused as a CSV file's); none leaves the loss_fn nothing to compare with.
    Each is said in one line naming the columns, before any step; so are a dict of splits, whose val
    split goes in val_data (it was told it had no target column 'train', 'val'), and class names as
    targets (they reached the loss: 'argument target must be Tensor, not list')."""
    model = nn.Linear(3, 2)
    with pytest.raises(InvalidValueError) as refused:
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            columns,
            loss_fn=nn.CrossEntropyLoss(),
            epochs=1,
        )
    assert str(refused.value) == f"invalid value {value!r} for data: accepted {accepted}."


@pytest.mark.parametrize(
    ("loss_fn", "dtype", "fixed", "said"),
    [
        (
            nn.CrossEntropyLoss(),
            torch.float32,
            torch.long,
            "the targets are float32, where the loss takes class ids as int64 (y.long())",
        ),
        (
            nn.CrossEntropyLoss(),
            torch.int32,
            torch.long,
            "the targets are int32, where the loss takes class ids as int64 (y.long())",
        ),
        (
            nn.NLLLoss(),
            torch.bool,
            torch.long,
            "the targets are bool, where the loss takes class ids as int64 (y.long())",
        ),
        (
            nn.BCEWithLogitsLoss(),
            torch.long,
            torch.float32,
            "the targets are int64, where the loss takes them as floats (0/1 or probabilities: y.float())",
        ),
        (
            nn.MultiMarginLoss(),
            torch.float32,
            torch.long,
            "the targets are float32, where the loss takes class ids as int64 (y.long())",
        ),
        (
            nn.BCEWithLogitsLoss(),
            torch.bool,
            torch.float32,
            "the targets are bool, where the loss takes them as floats (0/1 or probabilities: y.float())",
        ),
    ],
    ids=[
        "float for cross-entropy",
        "int32 for cross-entropy",
        "bool for nll",
        "int64 for bce",
        "float for multi-margin",
        "bool for bce",
    ],
)
def test_targets_of_a_dtype_the_loss_cannot_take_are_refused_naming_the_dtype_and_the_cast(
    loss_fn, dtype, fixed, said
):
    """Labels 0/1 as float32 (a CSV read by pandas), int32 or bool beside a cross-entropy, or int64 beside
    BCEWithLogitsLoss, were refused with torch's words alone ('expected target dtype to be Long or Byte,
    but got Float'), naming neither the targets nor a fix. Truth: the refusal names their dtype and the
    cast, and that cast of the same data trains, as torch's loss takes it."""
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    outputs = 1 if isinstance(loss_fn, nn.BCEWithLogitsLoss) else 2
    shaped = y.unsqueeze(1) if outputs == 1 else y
    model = nn.Linear(3, outputs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InvalidValueError) as refused:
        fit(model, optimizer, (x, shaped.to(dtype)), loss_fn=loss_fn, total_steps=1)
    assert str(refused.value).endswith(f": {said}.")
    assert fit(model, optimizer, (x, shaped.to(fixed)), loss_fn=loss_fn, total_steps=1).step == 1


def test_float_targets_that_are_not_whole_numbers_are_refused_as_no_class_ids():
    """Float targets of halves beside a cross-entropy are no class ids a cast would make (y.long() floors
    0.5 to 0): the refusal says they are not whole numbers and names a regression loss, not the cast
    alone."""
    model = nn.Linear(3, 2)
    halves = torch.tensor([0.0, 0.5, 1.0, 1.5])
    with pytest.raises(InvalidValueError) as refused:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (torch.randn(4, 3), halves),
            loss_fn=nn.CrossEntropyLoss(), total_steps=1)  # fmt: skip
    assert str(refused.value).endswith(
        ": the targets are float32, where the loss takes class ids as int64 (y.long()), but they are not whole "
        "numbers: no class ids; for values, a regression loss (nn.MSELoss)."
    )


@pytest.mark.parametrize(
    ("val_y", "said"),
    [
        (lambda y: y + 4, "a label of 5 is class 5"),
        (lambda y: y.float(), "the targets are float32, where the loss takes class ids as int64"),
    ],
    ids=["label past the classes", "float labels"],
)
def test_val_data_the_loss_cannot_take_is_refused_before_any_step(val_y, said):
    """Val labels past the model's classes (or of a dtype the loss cannot take) were refused only at the
    first evaluation, after an epoch of training (hours, on a real data set). Truth: refused naming the
    val data's first batch, before any step: the weights are still the initial ones."""
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    model = nn.Linear(3, 2)
    initial = copy.deepcopy(model.state_dict())
    with pytest.raises(InvalidValueError, match=f"for the first batch of the val data: .*{re.escape(said)}"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), val_data=(x, val_y(y)),
            loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=4)  # fmt: skip
    assert all(torch.equal(initial[k], v) for k, v in model.state_dict().items())


def test_a_fault_the_training_data_share_with_the_val_data_is_named_in_the_training_data():
    """Float targets into CrossEntropyLoss, in the training and the val data alike: the refusal named
    "the first batch of the val data" alone (it is checked before training), sending the user to fix the
    val data and meet the same refusal of the training data next. Truth: torch's cross-entropy refuses
    the training targets themselves; the val data alone at fault are still named so."""
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    model = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="expected target dtype to be Long"):
        nn.CrossEntropyLoss()(model(x[:4]), y[:4].float())
    initial = copy.deepcopy(model.state_dict())
    said = "the targets are float32, where the loss takes class ids as int64"
    for train_y, named in ((y.float(), "the training data"), (y, "the val data")):
        with pytest.raises(InvalidValueError, match=f"for the first batch of {named}: .*{re.escape(said)}"):
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, train_y), val_data=(x, y.float()),
                loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=4)  # fmt: skip
    assert all(torch.equal(initial[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("generator", ["numpy", "python"])
def test_the_check_of_the_val_data_before_training_leaves_numpy_and_python_generators_as_they_were(generator):
    """The val data's first batch, evaluated before any step (3aa0f523), drew from NumPy's and Python's
    global generators, which only torch's was kept for: training on data drawing from them then went
    otherwise than without val data. Truth: the same weights with and without val data (one epoch,
    evaluated after its steps), the noise drawn, as an augmentation draws it, from one generator."""
    import random

    import numpy as np

    draw = {"numpy": lambda: float(np.random.randn()), "python": random.random}[generator]

    class Noisy(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(x)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return x[i] + draw(), y[i]

    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    weights = []
    for val_data in (None, Noisy()):
        torch.manual_seed(0), np.random.seed(0), random.seed(0)
        model = nn.Linear(3, 2)
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), Noisy(), val_data=val_data,
            loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=4, shuffle=False)  # fmt: skip
        weights.append(model.weight.detach().clone())
    assert torch.equal(*weights)


class ScoresAndAttention(nn.Module):
    """Scores beside attention weights, returned as a tuple (as many attention models do) or as a dict
    naming the scores 'logits'."""

    def __init__(self, as_dict: bool):
        super().__init__()
        torch.manual_seed(0)
        self.scores, self.attention = nn.Linear(3, 2), nn.Linear(3, 4)
        self.as_dict = as_dict

    def forward(self, x):
        scores, weights = self.scores(x), self.attention(x).softmax(-1)
        return {"logits": scores, "attn": weights} if self.as_dict else (scores, weights)


def test_a_model_returning_scores_and_attention_is_told_how_to_keep_its_val_accuracy():
    """A model returning (logits, attn) was refused with 'give compute_loss=...', which reports val_loss
    alone (val_accuracy lost), 'for the model's output' showing the val batch's shape though the run
    named its val data elsewhere. The refusal names the data it meets the model's output in (the
    training data, which the val data's check reads too where it fails: both hold the fault) and the
    dict that keeps the accuracy; a tuple does not say which part is the scores (features first would
    train as logits). Truth: following it, val_accuracy is the accuracy computed by hand on the tuple
    model's element 0, same weights."""
    x, y = problem(60)
    val = (x[40:], y[40:])
    with pytest.raises(
        InvalidValueError,
        match=r"'a tuple of 2 \(float32 \(32, 2\), float32 \(32, 4\)\)' for the model's output on "
        r"data: .*a dict naming them 'logits', \{'logits': logits, 'aux': aux\}.* val_accuracy reads",
    ):
        trained(ScoresAndAttention(False), (x[:40], y[:40]), 3, loss_fn=nn.CrossEntropyLoss(), val_data=val)
    model = ScoresAndAttention(True)
    state = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        (x[:40], y[:40]),
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=3,
        val_data=val,
    )
    as_tuple = ScoresAndAttention(False)
    as_tuple.load_state_dict(model.state_dict())
    with torch.no_grad():
        scores = as_tuple(val[0])[0]
    assert state.last_metrics["val_accuracy"] == pytest.approx(
        (scores.argmax(1) == val[1]).float().mean().item()
    )
    assert state.last_metrics["val_loss"] == pytest.approx(nn.functional.cross_entropy(scores, val[1]).item())
