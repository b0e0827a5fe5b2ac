"""UserBatches: every shape of data a PyTorch user has becomes the same batches, and every way of
getting a loss gives the loss computed by hand; what it cannot use is refused with what it accepts."""

from __future__ import annotations

import collections
import doctest
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import optimlab.data.user_batches
from optimlab.data.batches import epoch_permutation
from optimlab.data.user_batches import (
    ColumnRows,
    Forward,
    UserBatches,
    batch_target,
    describe,
    own_pairs,
    target_key,
)
from optimlab.errors import InvalidValueError
from tests.test_nested_tensors import ReadOnlyItems


def pair(n=10):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=generator), torch.randint(0, 2, (n,), generator=generator)


def test_tensors_come_in_fits_order_and_a_dataset_of_them_in_the_same_order():
    x, y = pair()
    order = torch.cat([epoch_permutation(5, 0, 10), epoch_permutation(5, 1, 10)])
    from_tensors = UserBatches((x, y), batch_size=4, seed=5).stream("cpu")
    from_dataset = UserBatches(TensorDataset(x, y), batch_size=4, seed=5).stream("cpu")
    rows = [order[0:4], order[4:8], order[8:10], order[10:14]]  # the short last batch, then epoch 1
    for expected in rows:
        for xb, yb in (next(from_tensors), next(from_dataset)):
            assert torch.equal(xb, x[expected]) and torch.equal(yb, y[expected])


def test_splits_are_read_from_their_training_part():
    x, y = pair()
    splits = type("Splits", (), {"train": type("Split", (), {"x": x, "y": y})()})()
    assert UserBatches(splits).tensors == (x, y)


@pytest.mark.parametrize("kind", ["map", "iterable"])
def test_a_dataset_keeping_its_rows_as_x_and_y_is_read_through_its_items(kind):
    """A Dataset holding ``self.x, self.y`` (a common way to write one) was taken for a pair of tensors:
    its ``__getitem__``/``__iter__`` were never called, so its transform (here +100) was silently
    skipped and the model trained on the raw rows."""
    x, y = pair()

    class Shifted(IterableDataset if kind == "iterable" else torch.utils.data.Dataset):
        def __init__(self):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i] + 100, self.y[i]

        def __iter__(self):
            return ((self.x[i] + 100, self.y[i]) for i in range(len(self.x)))

    if kind == "iterable":
        del Shifted.__len__, Shifted.__getitem__
    data = UserBatches(Shifted(), batch_size=4, shuffle=False)
    assert data.tensors is None
    inputs, targets = next(data.stream("cpu"))
    assert torch.equal(inputs, x[:4] + 100) and torch.equal(targets, y[:4])


def test_a_dataloader_and_a_list_of_batches_are_read_as_they_are_epoch_after_epoch():
    x, y = pair()
    loader = DataLoader(TensorDataset(x, y), batch_size=3)
    for data in (loader, list(loader)):
        stream = UserBatches(data).stream("cpu")
        seen = [next(stream) for _ in range(8)]  # 4 batches an epoch, twice
        assert [len(b[0]) for b in seen] == [3, 3, 3, 1] * 2
        assert torch.equal(torch.cat([b[0] for b in seen[:4]]), x)
        assert all(torch.equal(a[0], b[0]) for a, b in zip(seen[:4], seen[4:]))


def test_an_iterable_dataset_is_batched_in_reading_order():
    x, y = pair()

    class Rows(IterableDataset):
        def __iter__(self):
            return iter(zip(x, y))

    first = next(UserBatches(Rows(), batch_size=4).stream("cpu"))
    assert torch.equal(first[0], x[:4]) and torch.equal(first[1], y[:4])


def test_each_kind_of_loss_equals_the_loss_computed_by_hand():
    x, y = pair()
    model = nn.Linear(3, 2)
    expected = nn.functional.cross_entropy(model(x), y)

    class ReturnsItsLoss(nn.Module):  # Hugging Face style: labels in, an output with .loss out
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, features, labels=None):
            logits = self.inner(features)
            loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
            return {"loss": loss, "logits": logits}

    class TwoInputs(nn.Module):
        def forward(self, a, b):
            return model(a + b)

    cases = [
        (model, (x, y), {"loss_fn": nn.CrossEntropyLoss()}),
        (model, [x, y], {"loss_fn": nn.CrossEntropyLoss()}),
        (TwoInputs(), (x, torch.zeros_like(x), y), {"loss_fn": nn.CrossEntropyLoss()}),
        (ReturnsItsLoss(), {"features": x, "labels": y}, {}),  # the model's own loss
        (ReturnsItsLoss(), {"features": x, "label": y}, {"loss_fn": nn.CrossEntropyLoss()}),  # .logits
        (model, (x, y), {"compute_loss": lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1])}),
    ]
    for net, batch, loss in cases:
        data = UserBatches([batch], **loss)
        assert torch.allclose(data.compute_loss(net, next(data.stream("cpu"))), expected), (batch, loss)


def test_batches_move_to_the_models_device_without_changing():
    x, y = pair()
    batch = next(UserBatches([{"a": x, "b": [y, 3]}], compute_loss=lambda m, b: 0).stream("meta"))
    assert batch["a"].device.type == "meta" and batch["b"][0].device.type == "meta" and batch["b"][1] == 3


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_tensors_already_on_the_device_are_kept_without_a_to_call(monkeypatch, device):
    """_to_device keeps a tensor already on the device without calling its to() (0.3 us against 1.3), but
    compared the tensor's device with the device as given: torch.device("cpu") == "cpu" is False, so
    one_pass("cpu") (the doctor's lr check reads its held-out batches so) and stream("cpu") called to()
    on every tensor of every batch. Truth: torch's device equality; the batches hold the tensors given."""
    x, y = pair()
    calls = []
    to = torch.Tensor.to
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: calls.append(a) or to(self, *a, **k))
    data = UserBatches([{"a": x, "b": [y, 3]}], compute_loss=lambda m, b: 0)
    for batch in (next(data.one_pass(device)), next(data.stream(device))):
        assert batch["a"] is x and batch["b"][0] is y
    assert calls == []


def test_a_named_tuple_batch_moves_as_the_named_tuple_its_loader_gives():
    """A DataLoader of namedtuple rows gives namedtuple batches (torch's default_collate), which
    Lightning hands its training_step as they are: moving one raised TypeError ('missing 1 required
    positional argument'), the namedtuple built from one generator."""
    Row = collections.namedtuple("Row", "x y")
    x, y = pair()
    loader = DataLoader([Row(*row) for row in zip(x, y, strict=True)], batch_size=4)
    given = next(iter(loader))
    batch = next(UserBatches(loader, compute_loss=lambda m, b: 0).stream("meta"))
    assert type(batch) is type(given) is Row
    assert batch.x.device.type == batch.y.device.type == "meta" and batch.x.shape == given.x.shape


def test_a_mapping_batch_moves_as_its_own_type_and_a_read_only_one_as_a_dict():
    """An OrderedDict batch moved came back a dict (Lightning keeps its type); a mutable mapping whose
    __setitem__ refuses writes raised a raw TypeError from its move (a2d4458f), where it had moved as a
    dict. Truth: the tensors given, on the meta device; the OrderedDict's type and order kept."""
    x, y = pair()
    ordered = collections.OrderedDict(y=y, x=x)
    moved = next(UserBatches([ordered], compute_loss=lambda m, b: 0).stream("meta"))
    assert type(moved) is collections.OrderedDict and list(moved) == ["y", "x"]
    assert moved["x"].device.type == "meta" and moved["x"].shape == x.shape
    read_only = next(UserBatches([ReadOnlyItems(x=x, y=y)], compute_loss=lambda m, b: 0).stream("meta"))
    assert type(read_only) is dict and [v.device.type for v in read_only.values()] == ["meta", "meta"]


def test_a_batch_with_a_to_method_moves_itself_and_stays_what_it_is():
    """Hugging Face's BatchEncoding (what a tokenizer and DataCollatorWithPadding return) is a Mapping
    with attributes: moved as a plain dict, a training_step reading batch.input_ids (which Lightning's
    Trainer.fit trains, moving it by its to()) was refused as the first batch ('dict' object has no
    attribute 'input_ids'). The truth is BatchEncoding.to's own move."""
    transformers = pytest.importorskip("transformers")
    x, y = pair()
    encoded = transformers.BatchEncoding({"input_ids": x, "labels": y})
    batch = next(UserBatches([encoded], compute_loss=lambda m, b: 0).stream("meta"))
    assert type(batch) is transformers.BatchEncoding and batch.input_ids.device.type == "meta"
    assert batch.input_ids.shape == x.shape and batch["labels"].device.type == "meta"


def generator_of_batches():
    yield pair()


@pytest.mark.parametrize(
    ("data", "loss", "named"),
    [
        (torch.zeros(8, 4), {}, "tensor of shape (8, 4)"),
        ((torch.zeros(8, 4), torch.zeros(7)), {}, "tuple of 2"),
        ("digits", {}, "'digits'"),
        (42, {}, "value 42 for data"),
        (generator_of_batches(), {}, "one-shot generator"),
        ([], {}, "no batch"),
    ],
)
def test_data_it_cannot_use_is_refused_naming_it_and_what_is_accepted(data, loss, named):
    with pytest.raises(InvalidValueError, match="a pair of tensors") as error:
        next(UserBatches(data, **loss).stream("cpu"))
    assert named in str(error.value) and "DataLoader" in str(error.value)


@pytest.mark.parametrize(
    ("batch", "loss", "message"),
    [
        ({"features": torch.zeros(2, 3)}, {"loss_fn": nn.MSELoss()}, "one of labels, label"),
        ((torch.zeros(2, 3),), {"loss_fn": nn.MSELoss()}, "(inputs..., target)"),
        (7, {"loss_fn": nn.MSELoss()}, "a dict of named inputs"),
    ],
)
def test_a_batch_the_loss_cannot_use_is_refused_at_the_first_batch(batch, loss, message):
    with pytest.raises(InvalidValueError, match="for batch") as error:
        next(UserBatches([batch], **loss).stream("cpu"))
    assert message in str(error.value)


def test_a_dataset_of_unpadded_token_ids_is_refused_naming_the_keys_and_how_to_pad():
    """Items of unequal lengths died in default_collate's traceback ('stack expects each tensor to be
    equal size'), exit 1 on the command line."""
    ragged = [{"input_ids": torch.arange(n), "labels": torch.arange(n), "id": 0} for n in (3, 5, 3)]

    class Ragged(torch.utils.data.Dataset):
        def __len__(self):
            return len(ragged)

        def __getitem__(self, i):
            return ragged[i]

    with pytest.raises(InvalidValueError) as refused:
        next(UserBatches(Ragged(), batch_size=3).stream("cpu"))
    assert str(refused.value).startswith(
        "invalid value \"'input_ids' of shapes (3,), (5,); 'labels' of shapes (3,), (5,)\" for the items "
        "of a batch of a Ragged of 3 examples: accepted items that torch's default_collate stacks"
    )
    assert "DataCollatorWithPadding" in str(refused.value)


def test_a_model_without_a_loss_or_a_loss_that_is_not_scalar_is_named():
    x, y = pair()
    data = UserBatches([(x,)])
    with pytest.raises(InvalidValueError, match=r"model's output on data: accepted a loss") as error:
        data.compute_loss(nn.Linear(3, 2), next(data.stream("cpu")))
    assert "tensor of shape (10, 2)" in str(error.value)
    per_row = UserBatches([(x, y)], nn.CrossEntropyLoss(reduction="none"))
    with pytest.raises(InvalidValueError, match=r"the loss: accepted a tensor with one element"):
        per_row.compute_loss(nn.Linear(3, 2), next(per_row.stream("cpu")))


def test_loss_fn_and_compute_loss_are_exclusive_and_the_batch_size_is_checked():
    with pytest.raises(InvalidValueError, match="both loss_fn and compute_loss"):
        UserBatches(pair(), nn.MSELoss(), compute_loss=lambda m, b: 0)
    with pytest.raises(InvalidValueError, match="batch_size"):
        UserBatches(pair(), batch_size=0)


@pytest.mark.parametrize(
    "seed", ["a", 1.5, 1.0, -1, True], ids=["text", "fraction", "whole_float", "negative", "bool"]
)
def test_a_seed_that_is_no_seed_is_refused_before_any_batch(seed):
    """fit(seed="a") and diagnose(seed="a") raised TypeError ('can only concatenate str') from inside
    the loop at the first batch, seed=1.5 torch's RuntimeError; a recipe's seed was checked, theirs not."""
    with pytest.raises(InvalidValueError, match=r"for seed: accepted an integer in \[0, 4294967295\]"):
        UserBatches(pair(), nn.MSELoss(), seed=seed)


def test_numpy_integers_are_a_seed_and_a_batch_size():
    """A seed drawn with numpy (np.int64) is an integer: the check must not refuse it as it refuses 1.0."""
    import numpy as np

    batches = UserBatches(pair(), nn.MSELoss(), seed=np.int64(3), batch_size=np.int32(4))
    assert (batches.seed, batches.batch_size) == (3, 4) and type(batches.seed) is int


def test_the_module_examples_run():
    assert doctest.testmod(optimlab.data.user_batches).failed == 0


def test_a_models_own_loss_tells_how_its_scores_and_labels_pair():
    torch.manual_seed(0)
    scores, labels = torch.randn(3, 6, 5), torch.randint(0, 5, (3, 6))
    labels[0, 2] = -100  # ignored, as Hugging Face's losses ignore it

    def ce(s, t, **options):
        return nn.functional.cross_entropy(s.reshape(-1, 5), t.reshape(-1), **options)

    as_they_are = own_pairs(Forward(ce(scores, labels), scores, labels))
    assert as_they_are is not None and as_they_are[0] is scores and as_they_are[1] is labels
    shifted = own_pairs(Forward(ce(scores[:, :-1], labels[:, 1:]), scores, labels))
    assert shifted is not None and torch.equal(shifted[1], labels[:, 1:])
    assert torch.equal(shifted[0], scores[:, :-1])
    assert own_pairs(Forward(ce(scores, labels, label_smoothing=0.2), scores, labels)) is None


def test_a_batch_is_described_with_its_tensors_dtypes_and_shapes():
    """A first batch the model or loss cannot take read 'a tuple of 2 (Tensor, Tensor)': the shapes and
    dtypes a mismatch is about were left to torch's own message."""
    pair = (torch.zeros(32, 64), torch.zeros(32, dtype=torch.long))
    assert describe(pair) == "a tuple of 2 (float32 (32, 64), int64 (32,))"
    assert describe(torch.zeros(2, 3, dtype=torch.float64)) == "a float64 tensor of shape (2, 3)"
    assert describe([torch.ones(1), "text", 3]) == "a list of 3 (float32 (1,), str, int)"
    # a factory's list of 100 (x, y) pairs was refused in a line naming 'tuple' 100 times
    pairs = [(torch.ones(2), 1)] * 100
    assert describe(pairs) == "a list of 100 (tuple, tuple, tuple, tuple, ... 96 more)"
    # A dict batch (Hugging Face's) by its keys and what each holds: a GPT-2 given sentence labels.
    batch = {"labels": torch.zeros(32, dtype=torch.long), "input_ids": torch.zeros(32, 10, dtype=torch.long)}
    assert describe(batch) == "a dict of {'input_ids': int64 (32, 10), 'labels': int64 (32,)}"


def test_a_model_without_its_loss_is_told_where_the_batch_keeps_its_labels():
    """Dict batches with their targets under 'label' (as Hugging Face datasets name the column) reach a
    Hugging Face model that takes 'labels', which then returns no loss; the refusal said to put 'the
    labels in the batch', which were there, under another name."""

    class Scorer(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 2)

        def forward(self, features, labels=None, **unused):
            logits = self.linear(features)
            return {"logits": logits} if labels is None else {"logits": logits, "loss": logits.sum()}

    data = UserBatches([{"features": torch.zeros(2, 3), "label": torch.zeros(2).long()}])
    with pytest.raises(
        InvalidValueError,
        match="this batch holds 'label', the target fit reads beside a loss_fn: Hugging Face models take 'labels'",
    ):
        data.compute_loss(Scorer(), next(data.stream("cpu")))


def test_a_checkpoints_draws_of_another_loader_are_left_unused_rather_than_failing_the_resume():
    """A run stopped on DataLoader(shuffle=True) and resumed on one with its own generator raised
    zip()'s ValueError from deep inside the loop: the draws kept hold no state for that generator."""
    x, y = pair()
    stopped = UserBatches(DataLoader(TensorDataset(x, y), batch_size=3, shuffle=True))
    stream = stopped.from_step(0, "cpu")
    next(stream)
    drawn = stopped.drawn
    assert drawn["epoch"] == 0 and drawn["generators"] == []
    resumed = DataLoader(
        TensorDataset(x, y), batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(1)
    )
    epoch, batch = next(UserBatches(resumed).from_step(1, "cpu", drawn=drawn))
    assert epoch == 0 and len(batch[0]) == 3


def test_several_inputs_and_a_target_as_rows_are_read_as_a_tensor_dataset_of_them():
    """fit(model, optimizer, (x1, x2, y), loss_fn=...) read the three tensors as three batches and refused
    the first, 'a float32 tensor of shape (10, 3) for batch', for a model of two inputs."""
    x, y = pair()
    x2 = torch.arange(20.0).reshape(10, 2)
    for data in ((x, x2, y), [x, x2.numpy(), y]):
        batches = UserBatches(data, nn.CrossEntropyLoss(), batch_size=4, seed=5)
        order = epoch_permutation(5, 0, 10)[:4]
        inputs_1, inputs_2, targets = next(batches.stream("cpu"))
        assert batches.steps_per_epoch == 3
        assert (
            torch.equal(inputs_1, x[order])
            and torch.equal(inputs_2, x2[order])
            and torch.equal(targets, y[order])
        )


def test_pandas_inputs_and_targets_are_read_as_their_arrays_and_a_whole_frame_is_refused():
    """A DataFrame given as data was read by index (frame[4] is a column): a bare KeyError 4 at the first
    batch; (features, target) as a DataFrame and a Series were refused as 'a DataFrame for batch'."""
    pd = pytest.importorskip("pandas")
    x, y = pair()
    frame = pd.DataFrame(x.numpy(), columns=["a", "b", "c"]).assign(label=y.numpy())
    batches = UserBatches(
        (frame[["a", "b", "c"]], frame["label"]), nn.CrossEntropyLoss(), batch_size=4, seed=5
    )
    assert torch.equal(batches.tensors[0], x) and torch.equal(batches.tensors[1], y)
    inputs, targets = next(batches.stream("cpu"))
    order = epoch_permutation(5, 0, 10)[:4]
    assert torch.equal(inputs, x[order]) and torch.equal(targets, y[order])
    with pytest.raises(
        InvalidValueError, match="'a DataFrame alone' for data: accepted its inputs and targets"
    ):
        UserBatches(frame, nn.CrossEntropyLoss())


def _one_hot_focal(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A focal loss (Lin et al. 2017, arXiv:1708.02002) written with one_hot: it has no ignore_index."""
    p = outputs.softmax(-1)
    chosen = (p * nn.functional.one_hot(targets, outputs.shape[-1])).sum(-1)
    return (-((1 - chosen) ** 2) * chosen.log()).mean()


@pytest.mark.parametrize("loss_fn", [nn.MultiMarginLoss(), _one_hot_focal], ids=["multi_margin", "one_hot"])
def test_labels_a_loss_cannot_skip_are_refused_naming_the_value(loss_fn):
    """Labels of -100 (the padding cross-entropy skips) under a loss that has no ignore_index were refused
    with torch's 'target out of range' or 'Class values must be non-negative' alone, naming no label.
    The refusal names the label and why; the same labels under nn.CrossEntropyLoss train, its
    accuracy over the labelled rows alone (counted by hand)."""
    from optimlab.train import fit

    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, generator=generator), torch.arange(40) % 4
    y[::5] = -100
    model = nn.Linear(3, 4)
    with pytest.raises(
        InvalidValueError, match=r"a label of -100, which the loss takes as a class id.*no ignore_index"
    ):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=loss_fn, total_steps=1)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
                total_steps=1, batch_size=40, val_data=(x, y))  # fmt: skip
    kept = y != -100
    right = (model(x).argmax(1) == y)[kept].sum().item()
    assert state.last_metrics["val_accuracy"] == pytest.approx(right / kept.sum().item())


def test_batch_target_is_the_target_split_target_splits_off_and_none_where_a_batch_shows_none():
    """Truth: UserBatches.split_target, the loss's own reading, on each shape a batch comes in; a tensor
    alone, a tuple of one (its input, no target) and a dict of inputs alone show none."""
    x, y = torch.randn(4, 3), torch.arange(4)
    batches = UserBatches((x, y), nn.CrossEntropyLoss())
    for batch in ((x, y), [x, x, y], {"x": x, "labels": y}, {"input": x, "target": y}, {"y": y, "label": x}):
        assert batch_target(batch) is batches.split_target(batch)[1]
    assert target_key({"y": y, "label": x}) == "label"  # TARGET_KEYS' order, not the dict's
    for batch in (x, (x,), [x], {"input_ids": x}):
        assert batch_target(batch) is None


@pytest.mark.parametrize("as_array", [False, True])
def test_uint64_targets_are_taken_exactly_as_int64_or_refused_naming_the_label(as_array):
    """uint64 targets (a numpy array or tensor of them) went to the loss as torch.uint64, which torch
    has no arithmetic for: a cross-entropy's check raised NotImplementedError ('"min_all" not
    implemented for 'UInt64''), and a user's own loss got them unchanged, its own .long() wrapping
    2**63 + 1 to a negative id. Truth: Python's int of each label; one past int64's largest is refused
    naming it and the argument."""
    x = torch.zeros(3, 2)
    labels = np.array([0, 2**63 - 1, 2], dtype=np.uint64)
    y = labels if as_array else torch.from_numpy(labels)
    _, targets = UserBatches((x, y), nn.CrossEntropyLoss()).tensors
    assert targets.dtype == torch.int64 and targets.tolist() == [int(v) for v in labels]
    labels[1] = 2**63 + 1
    with pytest.raises(InvalidValueError, match=r"9223372036854775809 for targets of data: .*int64"):
        UserBatches((x, labels if as_array else torch.from_numpy(labels)), nn.CrossEntropyLoss())


class Scores(nn.Module):
    """Class scores of ``x``; given ``labels``, its loss beside them."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 2)

    def forward(self, x, labels=None):
        scores = self.net(x)
        return scores if labels is None else {"loss": nn.functional.cross_entropy(scores, labels)}


@pytest.mark.parametrize("loss_fn", [None, nn.CrossEntropyLoss()])
def test_a_dict_batchs_key_the_forward_does_not_take_is_named_with_how_to_leave_it_out(loss_fn):
    """Dict items with a key beside the forward's arguments ('id') were refused with Python's words alone,
    or told to give a loss_fn, which changes nothing: the refusal names the key and the two ways out.
    Truth: the forward's signature binds every key but 'id' (inspect); the items without it train, the
    loss torch's cross-entropy of the model's scores."""
    import inspect

    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    items = [{"x": x[i], "labels": y[i], "id": i} for i in range(8)]
    model = Scores()
    signature = inspect.signature(model.forward)
    signature.bind(x=x, labels=y)
    with pytest.raises(TypeError, match="'id'"):
        signature.bind(x=x, labels=y, id=0)
    batch = next(UserBatches(DataLoader(items, batch_size=4), loss_fn).stream("cpu"))
    with pytest.raises(InvalidValueError) as refused:
        first_loss(
            lambda: UserBatches(DataLoader(items, batch_size=4), loss_fn).compute_loss(model, batch), batch
        )
    assert str(refused.value).endswith(
        "got an unexpected keyword argument 'id'): the batch's key 'id' is given to the forward as a keyword "
        "argument, which it does not take: leave 'id' out of the items (or of the collate_fn's batches), or "
        "take it in the forward (id=None); no key is dropped unasked (a weight left out would change the loss "
        "unseen)."
    )
    kept = [{k: v for k, v in item.items() if k != "id"} for item in items]
    data = UserBatches(DataLoader(kept, batch_size=4), loss_fn)
    batch = next(data.stream("cpu"))
    torch.testing.assert_close(
        data.compute_loss(model, batch), nn.functional.cross_entropy(model.net(batch["x"]), batch["labels"])
    )


class Masked(nn.Module):
    """Class scores of ``x`` where ``mask`` keeps it: a forward with a keyword it needs."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 2)

    def forward(self, x, *, mask):
        return self.net(x * mask)


def test_a_forward_needing_an_argument_the_batch_lacks_is_told_how_to_give_it():
    """A forward(x, *, mask) given (x, y) batches was refused with Python's 'missing 1 required keyword-only
    argument' alone: the refusal says the batch gives it no mask and how to give one. Truth: the
    signature binds no x alone (inspect); dict items holding the mask train, the loss torch's
    cross-entropy of model(x, mask=mask)."""
    import inspect

    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    model = Masked()
    with pytest.raises(TypeError, match="mask"):
        inspect.signature(model.forward).bind(x)
    data = UserBatches(DataLoader(TensorDataset(x, y), batch_size=4), nn.CrossEntropyLoss())
    batch = next(data.stream("cpu"))
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(model, batch), batch)
    assert str(refused.value).endswith(
        "missing 1 required keyword-only argument: 'mask'): the forward's 'mask' has no default, and the "
        "batch gives the model no value for it: give it in the batch, as dict items {'x': x, 'mask': ..., "
        "'labels': y} (each key an argument of the forward), or a default in the forward."
    )
    items = [{"x": x[i], "mask": torch.ones(3), "labels": y[i]} for i in range(8)]
    given = UserBatches(DataLoader(items, batch_size=4), nn.CrossEntropyLoss())
    batch = next(given.stream("cpu"))
    torch.testing.assert_close(
        given.compute_loss(model, batch),
        nn.functional.cross_entropy(model(batch["x"], mask=batch["mask"]), batch["labels"]),
    )


class NamedInputs(nn.Module):
    """A forward whose input is not named 'x', with a keyword it needs."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 2)

    def forward(self, inputs, *, mask):
        return self.net(inputs * mask)


class WrongInside(nn.Module):
    """A forward that takes the batch's items and calls a layer or a loss wrongly inside: ``fault``
    'attention' calls nn.MultiheadAttention with one argument, 'keyword' passes its id to nn.Linear,
    'loss' calls a loss without the keyword-only weight it needs."""

    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault, self.net = fault, nn.Linear(3, 2)
        self.attention = nn.MultiheadAttention(3, 1, batch_first=True)

    def forward(self, x, id=None, labels=None):
        if self.fault == "attention":
            return self.net(self.attention(x.unsqueeze(1))[0].squeeze(1))
        if self.fault == "keyword":
            return self.net(x, id=id)
        return WeightedLoss()(self.net(x), labels)  # its weight not given


class WeightedLoss(nn.Module):
    """Cross-entropy of rows weighted by a keyword-only ``weight``."""

    def forward(self, scores, target, *, weight):
        return (weight * nn.functional.cross_entropy(scores, target, reduction="none")).mean()


@pytest.mark.parametrize("fault", ["attention", "keyword", "loss"])
def test_a_call_wrong_inside_the_forward_is_not_blamed_on_the_batch(fault):
    """Python's 'forward() missing ... argument' and 'unexpected keyword argument' of a layer or a loss
    called wrongly inside the user's forward were read as the batch's fault: told to give the batch a
    'key' and 'value' (MultiheadAttention's), or to leave out the 'id' the forward does take. Truth: the
    forward's own signature binds the batch's items (inspect), so the error is raised inside it; the
    refusal keeps Python's words alone."""
    import inspect

    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    items = [{"x": x[i], "id": i, "labels": y[i]} for i in range(8)]
    model = WrongInside(fault)
    data = UserBatches(DataLoader(items, batch_size=4), nn.CrossEntropyLoss())
    batch = next(data.stream("cpu"))
    inspect.signature(model.forward).bind(**{k: v for k, v in batch.items() if k != "labels"})
    with pytest.raises(TypeError) as raised:
        model(batch["x"], id=batch["id"], labels=batch["labels"])
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(model, batch), batch)
    assert str(refused.value).endswith(f"(TypeError: {raised.value}).")


def test_a_forward_needing_an_argument_is_told_it_in_the_forwards_own_names():
    """The advice for a forward(self, inputs, *, mask) said dict items {'x': x, 'mask': ...}, and
    following it gave the next error ('unexpected keyword argument 'x''). Truth: the dict items it
    names bind to the forward's signature (inspect) and train, the loss torch's cross-entropy of
    model(inputs, mask=mask); given {'x', 'mask'} items, 'inputs' is named as missing and 'x' as no
    argument."""
    import inspect
    import re

    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    model = NamedInputs()
    data = UserBatches(DataLoader(TensorDataset(x, y), batch_size=4), nn.CrossEntropyLoss())
    batch = next(data.stream("cpu"))
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(model, batch), batch)
    said = re.search(r"as dict items \{(.*)\} \(each key", str(refused.value))[1]
    keys = re.findall(r"'(\w+)': ", said)
    assert keys == ["inputs", "mask", "labels"]
    inspect.signature(model.forward).bind(**dict.fromkeys(keys[:-1]))
    items = [{"inputs": x[i], "mask": torch.ones(3), "labels": y[i]} for i in range(8)]
    given = UserBatches(DataLoader(items, batch_size=4), nn.CrossEntropyLoss())
    batch = next(given.stream("cpu"))
    torch.testing.assert_close(
        given.compute_loss(model, batch),
        nn.functional.cross_entropy(model(batch["inputs"], mask=batch["mask"]), batch["labels"]),
    )
    misnamed = [{"x": x[i], "mask": torch.ones(3), "labels": y[i]} for i in range(8)]
    data = UserBatches(DataLoader(misnamed, batch_size=4), nn.CrossEntropyLoss())
    batch = next(data.stream("cpu"))
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(model, batch), batch)
    assert str(refused.value).endswith(
        "the forward's 'inputs' has no default, and the batch gives the model no value for it: give it in the "
        "batch, as dict items {'inputs': ..., 'mask': mask, 'labels': labels} (each key an argument of the "
        "forward), or a default in the forward; the batch's 'x' is no argument of the forward."
    )


def test_a_model_whose_forward_takes_not_the_batchs_items_is_told_to_give_a_loss_fn():
    """With no loss_fn the model is called on the whole batch and must return its loss: an nn.Sequential
    given (x, y) batches of a DataLoader was refused with torch's words alone ('Sequential.forward()
    takes 2 positional arguments but 3 were given'). Truth: the Sequential's forward binds x, not
    (x, y) (inspect.signature); with loss_fn=nn.CrossEntropyLoss() the same batch gives torch's
    cross-entropy of model(x); a model whose forward takes (x, y) and returns its loss is not refused,
    and a TypeError inside a forward that does take the items keeps torch's words alone."""
    import inspect

    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError):
        inspect.signature(model.forward).bind(x[:4], y[:4])
    data = UserBatches(DataLoader(TensorDataset(x, y), batch_size=4))
    batch = next(data.stream("cpu"))
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(model, batch), batch)
    assert str(refused.value) == (
        "invalid value 'a list of 2 (float32 (4, 3), int64 (4,))' for the first batch: accepted a batch the "
        "model and the loss can use (TypeError: Sequential.forward() takes 2 positional arguments but 3 were "
        "given): with no loss_fn (nor compute_loss) the model is called on the whole batch, model(*batch) "
        "(a dict's as model(**batch)), and must return its loss, but its forward does not take the batch's "
        "items; give a loss (a recipe's training.loss, e.g. cross_entropy; loss_fn in Python, e.g. "
        "nn.CrossEntropyLoss()), which gives the model all but the target."
    )
    with_loss = UserBatches(DataLoader(TensorDataset(x, y), batch_size=4), nn.CrossEntropyLoss())
    torch.testing.assert_close(
        with_loss.compute_loss(model, batch), nn.functional.cross_entropy(model(batch[0]), batch[1])
    )

    class OwnLoss(nn.Module):
        def __init__(self, broken: bool = False) -> None:
            super().__init__()
            self.net, self.broken = nn.Linear(3, 2), broken

        def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(
                self.net(inputs, inputs) if self.broken else self.net(inputs), labels
            )

    own = OwnLoss()
    torch.testing.assert_close(
        data.compute_loss(own, batch), nn.functional.cross_entropy(own.net(batch[0]), batch[1])
    )
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(OwnLoss(broken=True), batch), batch)
    assert "model(*batch)" not in str(refused.value) and "Linear.forward()" in str(refused.value)


def test_arrays_of_negative_strides_are_read_as_the_numbers_numpy_holds():
    """x[::-1] and np.flip(x, axis=1) raised torch's 'At least one stride in the given numpy array is
    negative' from torch.from_numpy. Truth: numpy's values, dtype as the array's."""
    x = np.random.default_rng(0).normal(size=(6, 3))
    y = np.arange(6) % 2
    xs, ys = UserBatches((np.flip(x, axis=1), y[::-1])).tensors
    assert torch.equal(xs, torch.from_numpy(x[:, ::-1].copy()))
    assert torch.equal(ys, torch.from_numpy(y[::-1].copy()))


def test_big_endian_arrays_are_read_as_the_numbers_numpy_holds():
    """Arrays of dtype '>f8' (read from a big-endian file) raised torch's 'byte order different from the
    native byte order' from torch.from_numpy. Truth: numpy's values, dtype as the native array's."""
    x = np.random.default_rng(0).normal(size=(6, 3))
    y = np.arange(6) % 2
    xs, ys = UserBatches((x.astype(">f8"), y.astype(">i8"))).tensors
    assert torch.equal(xs, torch.from_numpy(x)) and torch.equal(ys, torch.from_numpy(y))


class _TakesTheBatch(nn.Module):
    """A forward given the batch dict itself, returning its loss or, ``logits_only``, its scores."""

    def __init__(self, logits_only: bool = False) -> None:
        super().__init__()
        self.net, self.logits_only = nn.Linear(3, 2), logits_only

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.net(batch["pixels"])
        return logits if self.logits_only else nn.functional.cross_entropy(logits, batch["labels"])


@pytest.mark.parametrize("wrap", [lambda model: model, nn.DataParallel], ids=["module", "DataParallel"])
def test_a_forward_that_takes_the_batch_dict_itself_is_given_it_whole(wrap):
    """`def forward(self, batch)` on dict batches was refused: the data layer called model(**batch)
    ('got an unexpected keyword argument'). Its signature says one argument, named by none of the dict's
    keys: it is given the dict, with no loss_fn (the model's loss) and with one (the dict less its target).
    Truth: the hand-written call, model(batch) and loss_fn(model(inputs), labels)."""
    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    batches = [{"pixels": x[:4], "labels": y[:4]}]
    batch = batches[0]
    own, logits = _TakesTheBatch(), _TakesTheBatch(logits_only=True)
    got = first_loss(lambda: UserBatches(batches).compute_loss(wrap(own), batch), batch)
    torch.testing.assert_close(got, own(batch))
    with_loss = UserBatches(batches, nn.CrossEntropyLoss())
    got = first_loss(lambda: with_loss.compute_loss(wrap(logits), batch), batch)
    torch.testing.assert_close(got, nn.functional.cross_entropy(logits({"pixels": x[:4]}), y[:4]))


def test_a_forward_of_one_argument_given_a_dict_it_cannot_use_is_told_how_to_name_it():
    """A forward(self, x) on {'image', 'labels'} batches beside a loss_fn is given the dict whole (x
    names none of its keys) and torch's words say 'must be Tensor, not dict': the refusal says how to be
    given the image instead; where x names a key, the forward is given that item as before. Truth: the
    loss of the hand-written call, model(batch['x'])."""
    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    model = nn.Sequential(nn.Linear(3, 2))
    batch = {"image": x[:4], "labels": y[:4]}
    data = UserBatches([batch], nn.CrossEntropyLoss())
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(model, batch), batch)
    assert "not dict" in str(
        refused.value
    ) and "name its argument as that key (def forward(self, image))" in str(refused.value)

    class Named(nn.Linear):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return super().forward(image)

    named = Named(3, 2)
    torch.testing.assert_close(
        data.compute_loss(named, batch), nn.functional.cross_entropy(named(x[:4]), y[:4])
    )


@pytest.mark.parametrize(
    "loss", [nn.CrossEntropyLoss(), nn.MultiMarginLoss()], ids=["cross_entropy", "multi_margin"]
)
def test_labels_then_weights_taken_by_a_model_of_two_inputs_are_told_which_part_is_the_target(loss):
    """(x, y, weight) batches beside a loss_fn and a model whose forward takes two inputs: the model took
    (x, y) and the loss the float weights as its target, refused with torch's words alone ('expected
    target dtype to be Long'); the hint came only where those words said 'target', so MultiMarginLoss's
    'expected scalar type Long but found Float' had none. Truth: torch's loss refuses float targets of
    one value a row; the refusal says the last part is read as the target, as it does for a model of one
    input."""
    x, y = pair(8)
    weights = torch.rand(8)
    with pytest.raises(RuntimeError):
        loss(torch.randn(8, 2), weights)

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            return self.net(x) * scale.unsqueeze(-1)

    from optimlab.data.user_batches import first_loss

    batch = (x, y, weights)
    data = UserBatches([batch], loss)
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(TwoInputs(), batch), batch)
    assert str(refused.value).endswith(
        ": its last part is read as the target and the other 2 as the model's inputs; for a weight or a mask "
        "beside the target, give compute_loss=lambda model, batch: ... (the batch whole) instead of loss_fn."
    )


def test_a_recipes_model_that_takes_the_batch_dict_itself_trains_on_its_own_loss(tmp_path, monkeypatch):
    """A recipe of the user's dict items and a model of `def forward(self, batch)` returning its loss was
    refused before training: "forward takes no 'labels', so returns no loss of them" (build's check read
    the forward's parameters for the target's name). Truth: the model's own loss of the batch, as a hand
    loop computes it with the trained weights."""
    (tmp_path / "whole_batches.py").write_text(
        "import torch\n"
        "from torch import nn\n"
        "class Items(torch.utils.data.Dataset):\n"
        "    def __len__(self):\n"
        "        return 20\n"
        "    def __getitem__(self, i):\n"
        "        g = torch.Generator().manual_seed(i)\n"
        "        return {'pixels': torch.randn(3, generator=g), 'labels': i % 2}\n"
        "def items():\n"
        "    return Items()\n"
        "class OwnLoss(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.net = nn.Linear(3, 2)\n"
        "    def forward(self, batch):\n"
        "        return nn.functional.cross_entropy(self.net(batch['pixels']), batch['labels'])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from optimlab.recipe import Recipe
    from optimlab.train.run import train

    recipe = Recipe.from_dict(
        {
            "data": {"name": "whole_batches:items", "val_fraction": 0.5, "test_fraction": 0.0},
            "model": {"name": "whole_batches:OwnLoss"},
            "training": {"epochs": 1},
        }
    )
    found = train(recipe, tmp_path / "run").metrics
    import whole_batches

    model = whole_batches.OwnLoss()
    model.load_state_dict(torch.load(tmp_path / "run" / "model.pt", weights_only=True)["model"])
    order = torch.randperm(20, generator=torch.Generator().manual_seed(0)).tolist()
    val = torch.utils.data.default_collate([whole_batches.Items()[i] for i in order[:10]])
    with torch.no_grad():
        assert found["val_loss"] == pytest.approx(model(val).item(), abs=1e-6)


class _OfItsInput(nn.Module):
    """A forward of one argument, ``x``, naming no key of the dict batches it is given."""

    def __init__(self, use: Callable[[Any, nn.Linear], torch.Tensor]) -> None:
        super().__init__()
        self.net, self.use = nn.Linear(3, 2), use

    def forward(self, x: Any) -> torch.Tensor:
        return self.use(x, self.net)


_USES_OF_THE_INPUT = {
    "x * 2.0": lambda x, net: net(x * 2.0),
    "x[:, :3]": lambda x, net: net(x[:, :3]),
    "torch.cat": lambda x, net: net(torch.cat([x, x])[: len(x)]),
    "x @ w": lambda x, net: x @ net.weight.T,
    "net(x)": lambda x, net: net(x),
}


@pytest.mark.parametrize("use", _USES_OF_THE_INPUT.values(), ids=_USES_OF_THE_INPUT.keys())
def test_whatever_a_forward_given_the_dict_whole_raises_is_told_how_to_be_given_its_item(use):
    """The hint came only where torch's words read 'not dict' or "'dict' object": x * 2.0 ('unsupported
    operand type(s)'), x[:, :1] ('unhashable type', a KeyError on 3.12), torch.cat, x @ w were refused in
    Python's words alone. Truth: each forward raises on the dict itself, and runs on the item it names."""
    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    batch = {"image": x[:4], "labels": y[:4]}
    model = _OfItsInput(use)
    with pytest.raises((TypeError, KeyError)):  # the forward's own error: Python's, torch's
        model({"image": x[:4]})
    data = UserBatches([batch], nn.CrossEntropyLoss())
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: data.compute_loss(model, batch), batch)
    assert str(refused.value).endswith(
        ": a forward of one argument that names none of the dict's keys is given the dict whole, "
        "model(batch); to be given one of its items ('image'), name its argument as that key (def "
        "forward(self, image)), or give compute_loss, a function of (model, batch) that calls the model as "
        "it takes them."
    )
    assert isinstance(model(x[:4]), torch.Tensor)  # given the item, it runs


def test_a_forward_of_scores_given_the_dict_whole_with_no_loss_is_told_to_give_a_loss():
    """forward(self, x) returning scores on {'pixels', 'labels'} items with no loss (a recipe's default
    for dict batches) was refused at build naming training.loss; given the dict whole since a4c52c5a, it
    failed at the first batch with a hint to rename the argument, which alone yields no loss. Truth: with
    a loss and the argument named as the key, the loss is cross-entropy of the model's scores."""
    from optimlab.data.user_batches import first_loss

    x, y = pair(8)
    batch = {"pixels": x[:4], "labels": y[:4]}
    with pytest.raises(InvalidValueError) as refused:
        first_loss(lambda: UserBatches([batch]).compute_loss(nn.Sequential(nn.Linear(3, 2)), batch), batch)
    assert str(refused.value).endswith(
        "model(batch), and with no loss is to return its loss; for a model of scores of one of its items "
        "('pixels'), give a loss (a recipe's training.loss, e.g. cross_entropy; loss_fn in Python) and name "
        "its argument as that key (def forward(self, pixels)), or give compute_loss, a function of (model, "
        "batch) that calls the model as it takes them."
    )

    class Named(nn.Linear):
        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return super().forward(pixels)

    named = Named(3, 2)
    got = UserBatches([batch], nn.CrossEntropyLoss()).compute_loss(named, batch)
    torch.testing.assert_close(got, nn.functional.cross_entropy(named(x[:4]), y[:4]))


def test_a_dict_of_columns_is_batched_as_its_rows_collated(monkeypatch):
    """A dict of columns (Hugging Face's ``Dataset.to_dict()``) is sliced a column at a time, not read
    row by row (no row read: ColumnRows.__getitem__, the rows' path, refuses here). Truth: torch's
    default_collate of its rows, each a dict of its columns' values, taken in fit's order
    (epoch_permutation of the seed and epoch), batch for batch, with the same dtypes: tensors of 1 and 2
    dimensions, a numpy column, lists of numbers and of strings."""
    generator = torch.Generator().manual_seed(0)
    columns = {
        "input_ids": torch.randint(0, 50, (23, 5), generator=generator),
        "pixels": np.random.default_rng(0).standard_normal((23, 2, 2)).astype(np.float32),
        "weight": [float(i) / 3 for i in range(23)],
        "text": [f"row {i}" for i in range(23)],
        "label": torch.randint(0, 3, (23,), generator=generator),
    }
    rows = [
        {
            "input_ids": columns["input_ids"][i],
            "pixels": torch.from_numpy(columns["pixels"][i]),
            "weight": torch.tensor(columns["weight"])[i],
            "text": columns["text"][i],
            "label": columns["label"][i],
        }
        for i in range(23)
    ]
    batches = UserBatches(columns, nn.CrossEntropyLoss(), batch_size=8, seed=3)

    def read_by_row(self, index):
        raise AssertionError(f"row {index} read: the columns were not sliced")

    monkeypatch.setattr(ColumnRows, "__getitem__", read_by_row)
    for epoch in (0, 1):
        order = epoch_permutation(3, epoch, 23).tolist()
        made = list(batches.epoch(epoch))
        assert len(made) == 3
        for i, batch in enumerate(made):
            expected = torch.utils.data.default_collate([rows[j] for j in order[i * 8 : (i + 1) * 8]])
            assert list(batch) == list(expected) and batch["text"] == expected["text"]
            for key in ("input_ids", "pixels", "weight", "label"):
                assert batch[key].dtype == expected[key].dtype and torch.equal(batch[key], expected[key])


def test_a_dict_of_columns_of_token_ids_of_unequal_lengths_is_refused_as_its_rows_were():
    """Token ids left unpadded (lists of unequal lengths) cannot be stacked, a column as rows: refused
    naming the batch's items and the two ways to pad them, as default_collate of the rows refused them."""
    columns = {"input_ids": [[1, 2, 3], [4, 5], [6]], "label": [0, 1, 0]}
    batches = UserBatches(columns, nn.CrossEntropyLoss(), batch_size=2, shuffle=False)
    with pytest.raises(
        InvalidValueError, match=r"^invalid value .* for the items of a batch of a dict of 2 "
    ):
        next(iter(batches.epoch(0)))


def _items(kind: str, x: torch.Tensor, y: torch.Tensor) -> list[Any]:
    """The rows of ``(x, y)`` one example each, as users list them."""
    if kind == "pairs":
        return [(x[i], y[i]) for i in range(len(x))]
    if kind == "pairs of int labels":
        return [(x[i], int(y[i])) for i in range(len(x))]
    return [{"x": x[i], "labels": y[i]} for i in range(len(x))]


@pytest.mark.parametrize("kind", ["pairs", "pairs of int labels", "dict items"])
def test_a_list_of_examples_one_each_is_refused_saying_how_to_batch_them(kind):
    """fit(model, opt, [(x[i], y[i]) for i in ...]) read the list as batches: each example a step of its
    own, unbatched (256 steps for 256 rows), without a word; diagnose and lr_range_test read the same
    batch-of-one noise. A target of 0 dimensions (or a number) is no batch's: refused, naming how to batch
    them. Truth: torch's DataLoader(items, batch_size=4), the advice, gives the batches of (x, y)."""
    x, y = pair(12)
    items = _items(kind, x, y)
    batching = "DataLoader\\(items, batch_size=32\\) batches the items"
    with pytest.raises(
        InvalidValueError, match=f"'a list of 12 .*items, one example each' for data: .*{batching}"
    ):
        UserBatches(items, nn.CrossEntropyLoss())
    with pytest.raises(InvalidValueError, match="'a list of 12 .*one example each' for val_data"):
        UserBatches(items, nn.CrossEntropyLoss(), field="val_data")
    batched = list(UserBatches(DataLoader(items, batch_size=4), nn.CrossEntropyLoss()).epoch(0))
    assert len(batched) == 3
    for i, batch in enumerate(batched):
        assert torch.equal(batch_target(batch), y[4 * i : 4 * i + 4])


def test_a_list_of_examples_with_targets_of_one_dimension_is_refused_where_no_batch_has_their_shapes():
    """[(x_i, y_i)] of a regression, x_i of 8 features and y_i of shape (1,), was read as batches: each
    example a step of its own (x_i read as 8 rows of one feature), without a word, where a 0-dim target
    was refused. As a batch, a 1-dim input is rows of one feature each, as many as its targets: 8 inputs
    beside 1 target are no batch's. Refused, saying how to batch them; truth: torch's
    DataLoader(items, batch_size=4), the advice, gives the batches of (x, y). A pair of 1-dim tensors of
    one length (rows of one feature) and flat tokens beside offsets and labels stay batches."""
    x, y = torch.randn(12, 8), torch.randn(12, 1)
    items = [(x[i], y[i]) for i in range(12)]
    with pytest.raises(
        InvalidValueError, match=r"'a list of 12 \(input, target\) items, one example each' for data: "
    ):
        UserBatches(items, nn.MSELoss())
    with pytest.raises(InvalidValueError, match="one example each' for data"):
        UserBatches([(a.numpy(), b.numpy()) for a, b in items], nn.MSELoss())
    batched = list(UserBatches(DataLoader(items, batch_size=4), nn.MSELoss()).epoch(0))
    assert [torch.equal(batch_target(b), y[4 * i : 4 * i + 4]) for i, b in enumerate(batched)] == [True] * 3
    rows = [(x[:6, 0], y[:6, 0])]  # 6 rows of one feature, 6 targets
    tokens = [(torch.arange(10), torch.tensor([0, 4]), torch.tensor([1, 0]))]  # EmbeddingBag's
    for batches in (rows, tokens):
        assert len(list(UserBatches(batches, nn.MSELoss()).epoch(0))) == 1


def test_dict_examples_with_a_target_of_one_row_are_refused_as_pairs_are():
    """[{'x': x_i, 'labels': y_i}] of a regression, y_i of shape (1,), was trained unbatched, each example a
    step of its own, without a word, where a 0-dim target was refused: 8 rows of input beside one target
    are no batch's, in a dict as in a pair. Refused, saying how to batch them; truth: torch's
    DataLoader(items, batch_size=4), the advice, gives the batches of x and y."""
    x, y = torch.randn(12, 8), torch.randn(12, 1)
    items = [{"x": x[i], "labels": y[i]} for i in range(12)]
    with pytest.raises(InvalidValueError, match=r"'a list of 12 dict items, one example each' for data: "):
        UserBatches(items, nn.MSELoss())
    batched = list(UserBatches(DataLoader(items, batch_size=4), nn.MSELoss()).epoch(0))
    assert [torch.equal(b["labels"], y[4 * i : 4 * i + 4]) for i, b in enumerate(batched)] == [True] * 3


def test_flat_inputs_a_model_reshapes_beside_several_targets_stay_batches():
    """Bags of 5 tokens flattened, (tokens of 4 * 5, labels of 4), which the model views as (4, 5) for
    nn.EmbeddingBag, were refused as "one example each" (fb5115da refused any 1-dim pair of two lengths).
    A batch can have them: read as given, one step each; truth: the model's outputs have a row per
    target and torch's cross-entropy takes them. A batch of one bag with its offsets, (tokens, offsets of
    one, label of one), stays a batch too."""

    class Bags(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(50, 3)

        def forward(self, tokens):
            return self.bag(tokens.view(-1, 5))

    generator = torch.Generator().manual_seed(0)
    batches = [
        (torch.randint(0, 50, (20,), generator=generator), torch.randint(0, 3, (4,), generator=generator))
        for _ in range(6)
    ]
    read = list(UserBatches(batches, nn.CrossEntropyLoss()).epoch(0))
    assert [torch.equal(batch_target(got), given[1]) for got, given in zip(read, batches)] == [True] * 6
    model = Bags()
    assert all(nn.functional.cross_entropy(model(t), y).isfinite() for t, y in read)
    one_bag = [(torch.arange(10), torch.tensor([0]), torch.tensor([1]))]
    assert len(list(UserBatches(one_bag, nn.CrossEntropyLoss()).epoch(0))) == 1


def test_a_list_of_real_batches_stays_read_as_batches_whatever_their_sizes_and_layout():
    """The rule that refuses examples one each cannot refuse a batch: a batch of one row (targets of shape
    (1,)), a sequence-first batch whose inputs' first dimension is not the batch's ((T, B, F) beside (B,)
    targets, as an LSTM without batch_first takes them) and per-position targets are read as given."""
    x, y = pair(9)
    sequences = torch.randn(5, 4, 3)  # (time, batch, features)
    lists = [
        [(x[:1], y[:1])],
        [(x[:8], y[:8]), (x[8:], y[8:])],
        [(sequences, y[:4])],
        [{"x": x[:3], "labels": y[:3].reshape(3, 1)}],
    ]
    for batches in lists:
        read = list(UserBatches(batches, nn.CrossEntropyLoss()).epoch(0))
        assert len(read) == len(batches)
        for got, given in zip(read, batches):
            assert torch.equal(batch_target(got), batch_target(given))
