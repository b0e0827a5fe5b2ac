"""What a user's data factory returns: dict batches are kept as they are (BatchSplits), split by index
when one Dataset of dict items is given; (input, target) data goes on to tensors as before."""

import functools
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from optimlab.data import Examples, load
from optimlab.data import split as split_tensors
from optimlab.data.examples import targets_for
from optimlab.data.torch_dataset import MORE_THAN_PAIRS
from optimlab.data.user_batches import UserBatches
from optimlab.data.user_factory import BatchDataset, BatchSplits, as_data
from optimlab.errors import InvalidValueError, OptimlabWarning


class Items(Dataset):
    def __init__(self, n, labels=None):
        self.labels = torch.arange(n) % 3 if labels is None else labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": torch.full((4,), i), "labels": self.labels[i]}


def ids(split):
    return sorted(int(split[i]["input_ids"][0]) for i in range(len(split)))


def test_a_dataset_of_dict_items_is_split_by_index_from_the_seed():
    whole = as_data(Items(50), "items")
    assert isinstance(whole, BatchDataset)
    splits = whole.split(seed=1, val_fraction=0.2, test_fraction=0.2, data_fraction=1.0)
    parts = [ids(splits.train), ids(splits.val), ids(splits.test)]
    assert [len(p) for p in parts] == [30, 10, 10] and sorted(i for part in parts for i in part) == list(
        range(50)
    )
    again = whole.split(seed=1, val_fraction=0.2, test_fraction=0.2, data_fraction=1.0)
    assert [ids(again.train), ids(again.val), ids(again.test)] == parts  # the seed decides it all
    half = whole.split(seed=1, val_fraction=0.2, test_fraction=0.2, data_fraction=0.5)
    assert set(ids(half.train)) < set(parts[0]) and ids(half.val) == parts[1]  # nested, val unchanged
    assert splits.task == "classification"  # one integer label per item
    assert whole.split(seed=2, val_fraction=0.2, test_fraction=0.0, data_fraction=1.0).test is None


def test_fractions_that_leave_dict_items_no_training_item_are_refused_as_for_tensors():
    """Two items at 0.4 and 0.5 (one to validation, one to test) raised TypeError "argument of type
    'NoneType' is not iterable" looking for the target key in an empty training split."""
    data = Examples.from_arrays(torch.zeros(2, 1), torch.zeros(2), name="items", task="regression")
    refusals = []
    for split in (as_data(Items(2), "items").split, functools.partial(split_tensors, data)):
        with pytest.raises(InvalidValueError) as refused:
            split(seed=0, val_fraction=0.4, test_fraction=0.5, data_fraction=1.0)
        refusals.append(str(refused.value))
    assert (
        refusals[0]
        == refusals[1]
        == (
            "invalid value (0.4, 0.5) for fractions for items (2 examples): accepted values that leave at least "
            "one training example."
        )
    )


def test_a_split_of_dict_items_that_gives_validation_or_test_no_item_says_so_as_for_tensors():
    """Two items at 0.2 and 0.2 gave validation and test none without a word; tensors' splits say it."""
    with pytest.warns(OptimlabWarning, match=r"the split of items's 2 rows gives validation and test no row"):
        parts = as_data(Items(2), "items").split(
            seed=0, val_fraction=0.2, test_fraction=0.2, data_fraction=1.0
        )
    assert (len(parts.train), len(parts.val), parts.test) == (2, 0, None)


def test_splits_of_dict_batches_are_kept_as_given_and_their_task_read_from_the_labels():
    train, val = DataLoader(Items(12), batch_size=4), DataLoader(Items(8), batch_size=4)
    kept = as_data((train, val), "loaders")
    assert isinstance(kept, BatchSplits) and kept.train is train and kept.val is val and kept.test is None
    assert kept.task == "classification"
    soft = as_data((Items(6, torch.rand(6)), Items(4, torch.rand(4))), "soft")
    assert soft.task == "batches"  # float targets: no accuracy, tuned on the loss


def test_a_loader_of_dict_batches_to_split_is_refused_and_tensors_go_on_as_before():
    with pytest.raises(InvalidValueError, match="of dict batches, to split"):
        as_data(DataLoader(Items(8), batch_size=4), "one loader")
    assert isinstance(as_data((torch.randn(6, 2), torch.arange(6) % 2), "pair"), Examples)


def test_load_splits_a_users_dataset_of_dict_items_by_the_recipes_fractions(user_package):

    splits = load("optimlab_userpkg.text:all_sentences", seed=0, val_fraction=0.25, test_fraction=0.25)
    assert isinstance(splits, BatchSplits) and [len(splits.train), len(splits.val), len(splits.test)] == [
        32,
        16,
        16,
    ]
    with pytest.raises(InvalidValueError, match="fixed splits"):
        load("optimlab_userpkg.text:sentences", val_fraction=0.3)


def test_user_batches_given_splits_of_dict_batches_read_their_training_part():
    from optimlab.data.user_batches import UserBatches

    splits = as_data((Items(6), Items(4)), "items")
    batches = UserBatches(splits, batch_size=4, shuffle=False)
    assert batches.steps_per_epoch == 2
    assert [b["input_ids"][:, 0].tolist() for b in batches.epoch(0)] == [[0, 1, 2, 3], [4, 5]]


def test_a_loader_that_drops_its_last_batch_is_read_whole_in_its_own_rows():
    """Read into memory once, drop_last lost a split's last rows for good (a test loader of 50 rows in
    batches of 32 was scored on 32), and a loader without len() raised TypeError; a sampler's rows stay
    the loader's own."""
    from torch.utils.data import IterableDataset, SubsetRandomSampler, TensorDataset

    x = torch.arange(100.0).reshape(100, 1)
    y = torch.arange(100) % 2
    whole = TensorDataset(x, y)

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(zip(x[:50], y[:50]))

    train = DataLoader(whole, batch_size=16, sampler=SubsetRandomSampler(range(60)), drop_last=True)
    val = DataLoader(TensorDataset(x[60:80], y[60:80]), batch_size=7, drop_last=True)
    test = DataLoader(Stream(), batch_size=32, drop_last=True)
    splits = as_data((train, val, test), "mine")
    rows = [sorted(split.x[:, 0].long().tolist()) for split in (splits.train, splits.val, splits.test)]
    assert rows == [list(range(60)), list(range(60, 80)), list(range(50))]
    assert torch.equal(splits.test.y, torch.arange(50) % 2)
    assert len(as_data(DataLoader(Stream(), batch_size=32), "mine").examples.x) == 50  # no len(): read


def test_multi_label_targets_are_refused_saying_what_is_accepted():
    """A (N, K) matrix of 0/1 labels is refused by name and shape, not trained as something else; the
    message names the shape that holds several labels per example (dict batches)."""
    labels = (torch.randn(20, 3) > 0).float()
    with pytest.raises(InvalidValueError) as refused:
        as_data((torch.randn(20, 4), labels), "tags")
    assert str(refused.value) == (
        "invalid value 'shape (20, 3)' for class labels of tags: accepted one label per example, shape (N,) "
        "or (N, 1), in (x, y) rows; several per example (a class per position, multi-label 0/1 columns) "
        "train as dict batches: a Dataset of {'<forward's argument>': x, 'labels': y} items, kept as they "
        "are, with your loss."
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_one_hot_labels_are_refused_as_one_label_each_naming_their_class_ids(dtype):
    """One-hot rows (keras.utils.to_categorical's) were refused as 'several per example (multi-label
    0/1 columns)', pointed to dict batches. They hold one label each: the refusal says so and names
    their class ids, then keeps the way for multi-label data that has one tag in each row (the rows
    alone cannot tell it apart). Truth: argmax(1) of one_hot(ids) is ids, and torch's cross-entropy of
    the one-hot rows (class probabilities) equals that of the ids."""
    ids = torch.tensor([0, 2, 1, 2, 0, 1])
    rows = torch.nn.functional.one_hot(ids, 3).to(dtype)
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rows.argmax(1), ids)
    torch.testing.assert_close(
        torch.nn.functional.cross_entropy(logits, rows.float()),
        torch.nn.functional.cross_entropy(logits, ids),
    )
    with pytest.raises(InvalidValueError) as refused:
        as_data((torch.randn(6, 4), rows), "keras")
    assert str(refused.value) == (
        "invalid value 'shape (6, 3)' for class labels of keras: accepted one label per example, shape (N,) "
        "or (N, 1), in (x, y) rows; these are one-hot rows, one label each (one 1 per row, as "
        "keras.utils.to_categorical writes them); give their class ids, y.argmax(1); several per example "
        "(a class per position, multi-label 0/1 columns) train as dict batches: a Dataset of "
        "{'<forward's argument>': x, 'labels': y} items, kept as they are, with your loss."
    )
    assert len(as_data((torch.randn(6, 4), rows.argmax(1)), "keras").examples.y) == 6


def test_one_float_target_per_example_is_a_regressions_unless_it_is_a_0_1_label():
    """Whole-valued float targets (a count) were read as class ids: a count of 0..10 trained as 11
    classes, and with loss=nn.MSELoss() compare reported an accuracy. Float 0/1 targets, as
    BCEWithLogitsLoss takes them, stay binary labels: two classes, with an accuracy and loss: bce."""
    from torch.utils.data import TensorDataset

    x = torch.randn(30, 4)
    counts = torch.arange(30.0) % 11
    for given in (
        (x, counts),
        (x.numpy(), counts.numpy()),
        (x, counts[:, None]),
        TensorDataset(x, counts),
        DataLoader(TensorDataset(x, counts), batch_size=8),
    ):
        data = as_data(given, "counts")
        assert data.task == "regression" and data.num_classes is None
        assert torch.equal(data.examples.y, counts[:, None])  # the values as given, one column
    splits = as_data(((x[:20], counts[:20]), (x[20:], counts[20:])), "counts")
    assert splits.task == "regression" and torch.equal(splits.val.y, counts[20:, None])
    labels = as_data((x, torch.arange(30) % 3), "labels")  # integers are still classes
    assert labels.task == "classification" and labels.num_classes == 3
    for binary in ((torch.arange(30) % 2).float(), (torch.arange(30) % 2).float()[:, None]):
        for given in ((x, binary), TensorDataset(x, binary)):
            data = as_data(given, "binary")
            assert data.task == "classification" and data.num_classes == 2
            assert torch.equal(data.examples.y, torch.arange(30) % 2)


def test_class_names_in_an_array_are_classes_numbered_as_scikit_learn_numbers_them():
    """(x, np.array(['cat', 'dog', ...])) failed with torch's TypeError "can't convert np.ndarray of type
    numpy.str_"; a CSV's names were read as classes all along. Now they are classes, in sorted order
    (scikit-learn's LabelEncoder), one id each across the user's splits."""
    from sklearn.preprocessing import LabelEncoder

    x = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
    names = np.array(["eel", "cat", "dog", "cat", "eel"] * 6)
    expected = torch.as_tensor(LabelEncoder().fit_transform(names))
    whole = as_data((x, names), "pets")
    assert (whole.task, whole.num_classes) == ("classification", 3)
    assert torch.equal(whole.examples.y, expected)
    splits = as_data(((x[:20], names[:20]), (x[20:], names[20:])), "pets")
    assert torch.equal(torch.cat([splits.train.y, splits.val.y]), expected) and splits.num_classes == 3


def test_a_loader_drawing_rows_with_replacement_is_refused_and_a_shuffled_one_gives_every_row_once():
    """A DataLoader with a WeightedRandomSampler was read into memory as its one draw: 40 rows of which
    25 distinct, split afterwards, so copies of training rows were scored as validation and test."""
    from torch.utils.data import RandomSampler, TensorDataset, WeightedRandomSampler

    x, y = torch.arange(40.0).reshape(40, 1), torch.arange(40) % 2
    rows = TensorDataset(x, y)
    for sampler in (WeightedRandomSampler(torch.ones(40), 40), RandomSampler(rows, replacement=True)):
        with pytest.raises(
            InvalidValueError, match=f"'a {type(sampler).__name__} drawing rows with replacement'"
        ):
            as_data(DataLoader(rows, batch_size=8, sampler=sampler), "rows")
    read = as_data(DataLoader(rows, batch_size=8, shuffle=True, drop_last=True), "rows")
    assert sorted(read.examples.x.flatten().tolist()) == x.flatten().tolist()


@pytest.mark.parametrize("label", [lambda i: i % 2, lambda i: torch.tensor(i % 2)])
def test_a_list_of_dict_items_is_refused_where_a_list_holds_batches(label):
    """(train_items, val_items), lists of one example each: with 0-dim tensor labels each item trained as
    a batch of its own, unbatched, and was scored so, without a word (with int labels, cross-entropy's
    TypeError named the first batch). Refused, saying how to batch them; their DataLoader is taken."""
    items = [{"x": torch.full((6,), float(i)), "labels": label(i)} for i in range(20)]
    with pytest.raises(InvalidValueError, match="'a list of 15 dict items, one example each' for split 0"):
        as_data((items[:15], items[15:]), "mine")
    splits = as_data((DataLoader(items[:15], batch_size=4), DataLoader(items[15:], batch_size=4)), "mine")
    assert isinstance(splits, BatchSplits) and splits.task == "classification"


def test_the_label_cross_entropy_ignores_is_refused_where_the_loss_would_score_it_as_a_class():
    """(x, y) with y = -100 on unlabelled rows, under a loss that does not ignore -100: mapped to classes
    in sorted order, -100 became class 0 of 4 (optimlab's loss), or a label counted as a class (the user's
    loss, labels as given), trained and scored as one. Refused naming the value and the loss's
    ignore_index. Labels of -1 and 1 stay two classes."""
    x, y = torch.randn(30, 4), torch.arange(30) % 3
    y[:5] = -100
    with pytest.raises(
        InvalidValueError,
        match="'-100 in 5 rows' for class labels of mine.*no ignore_index.*a class of its own",
    ):
        as_data((x, y), "mine")
    with (
        targets_for("classification", as_given=True, ignored=-1),
        pytest.raises(InvalidValueError, match="'-100 in 5 rows'.*ignore_index is -1.*reach it as given"),
    ):
        as_data((x, y), "mine")
    signs = as_data((x, torch.where(torch.arange(30) % 2 == 0, -1, 1)), "mine")
    assert signs.num_classes == 2 and torch.equal(signs.examples.y, torch.arange(30) % 2)


@pytest.mark.parametrize("as_given", [False, True])
def test_the_label_the_loss_ignores_stays_in_the_targets_and_in_no_class(as_given):
    """Under a loss that ignores a label (its ignore_index), rows of it keep it as their target and count
    in no class: labels 5, 7, 9 (mapped to 0..2 for optimlab's loss) beside -100 are three classes."""
    x, y = torch.randn(12, 2), torch.tensor([5, 7, 9, -100] * 3)
    with targets_for(None, as_given=as_given, ignored=-100):
        data = as_data((x, y), "mine")
    assert (
        data.num_classes == 3
        and data.examples.y.tolist() == ([5, 7, 9, -100] if as_given else [0, 1, 2, -100]) * 3
    )
    assert data.num_outputs == (10 if as_given else 3)
    assert data.reading.endswith("label -100 in 3 rows ignored by the loss")


def test_a_shuffling_loader_is_read_in_its_datasets_order_whatever_torchs_random_state():
    """A DataLoader(shuffle=True) was read into memory in its sampler's order, drawn from torch's global
    random state at the call: optimlab.compare on the same data and seeds gave other numbers from one
    call to the next (a rerun's val_accuracy 0.967, then 1.0). Its rows, and a SubsetRandomSampler's, now
    come in the dataset's order, which the recipe's seed then shuffles."""
    from torch.utils.data import SubsetRandomSampler, TensorDataset

    x, y = torch.arange(40.0).reshape(40, 1), torch.arange(40) % 2
    rows = TensorDataset(x, y)
    for loader, kept in (
        (DataLoader(rows, batch_size=8, shuffle=True), x),
        (DataLoader(rows, batch_size=8, shuffle=True, drop_last=True), x),
        (DataLoader(rows, batch_size=8, sampler=SubsetRandomSampler([5, 30, 2, 17])), x[[2, 5, 17, 30]]),
    ):
        for seed in (0, 1):
            torch.manual_seed(seed)
            read = as_data(loader, "rows").examples
            assert torch.equal(read.x, kept) and torch.equal(read.y, y[kept.flatten().long()])


def test_bfloat16_rows_are_refused_in_one_line_naming_them():
    """optimlab.compare(data=(x.bfloat16(), y)), or a Dataset of them, failed deep inside numpy with
    'TypeError: Got unsupported ScalarType BFloat16'."""
    from torch.utils.data import TensorDataset

    x, y = torch.randn(12, 3).bfloat16(), torch.arange(12) % 2
    for data in ((x, y), TensorDataset(x, y), DataLoader(TensorDataset(x, y), batch_size=4)):
        with pytest.raises(
            InvalidValueError, match=r"'a bfloat16 tensor of shape \(12, 3\)' for inputs of rows"
        ):
            as_data(data, "rows")


def test_a_factorys_pandas_features_and_target_are_read_as_their_arrays_and_a_whole_frame_refused():
    """A factory returning (frame[features], frame[target]) failed with a bare KeyError 0 (the frame was
    read by index, frame[0] a column), as did a whole frame; splits of such pairs too."""
    pd = pytest.importorskip("pandas")
    x = np.random.default_rng(0).normal(size=(12, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=(x[:, 0] > 0).astype(int))
    features, target = frame[["a", "b", "c"]], frame["label"]
    from_pandas = as_data((features, target), "pair")
    from_numpy = as_data((features.to_numpy(), target.to_numpy()), "pair")
    assert torch.equal(from_pandas.examples.x, from_numpy.examples.x)
    assert torch.equal(from_pandas.examples.y, from_numpy.examples.y)
    splits = as_data(((features[:8], target[:8]), (features[8:], target[8:])), "splits")
    assert torch.equal(splits.val.x, torch.as_tensor(x[8:], dtype=splits.val.x.dtype))
    for whole, said in ((frame, "'a DataFrame alone'"), ((frame[:8], frame[8:]), "the second of 4 columns")):
        with pytest.raises(
            InvalidValueError, match=f"{said}.* returned: accepted its inputs and target apart"
        ):
            as_data(whole, "frames")


def test_a_factorys_pandas_pair_is_read_without_torchs_warning_of_a_read_only_array(tmp_path, forked_parents):
    """pandas' copy-on-write gives read-only arrays, and `--dataset mod:load` returning (frame[features],
    frame[target]) printed torch's 'The given NumPy array is not writable ... undefined behavior' warning
    on the user's terminal. Torch warns once a process: checked in a fresh one, forked from a parent that
    ran no torch op (tests/conftest.py's forked_parents)."""

    pd = pytest.importorskip("pandas")
    x = np.random.default_rng(0).normal(size=(12, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    if frame.to_numpy().flags.writeable:
        pytest.skip("this pandas gives writable arrays (no copy-on-write)")
    script = (
        "import warnings\n"
        "warnings.filterwarnings('error', category=UserWarning)\n"  # python -W error::UserWarning
        "import numpy as np, pandas as pd\n"
        "from optimlab.data.user_factory import as_data\n"
        "x = np.random.default_rng(0).normal(size=(12, 3))\n"
        "frame = pd.DataFrame(x, columns=['a', 'b', 'c']).assign(label=(x[:, 0] > 0).astype(int))\n"
        "data = as_data((frame[['a', 'b', 'c']], frame['label']), 'pair')\n"
        "assert np.allclose(data.examples.x.numpy(), x.astype(np.float32))\n"
    )
    code, _, err = forked_parents().run([], tmp_path, dict(os.environ), tmp_path, 300, source=script)
    assert code == 0, err


def test_what_reading_a_factorys_data_raises_is_said_in_one_line(tmp_path, monkeypatch, cli):
    """A factory's DataLoader whose collate fails (Pillow images), or a Dataset whose __getitem__ raises,
    ended `optimlab train --dataset mod:load` in a 60-line traceback (exit code 1): reading the data runs
    the user's code, and what it raises is said as what the factory raises is, naming where."""
    (tmp_path / "broken_data.py").write_text(
        "import torch\n"
        "from torch.utils.data import DataLoader, Dataset\n"
        "class Items(Dataset):\n"
        "    def __len__(self):\n"
        "        return 10\n"
        "    def __getitem__(self, i):\n"
        "        return torch.zeros(3), [0, 1][i]\n"  # line 7: an IndexError from the third item on
        "def items():\n"
        "    return Items()\n"
        "def loader():\n"
        "    return DataLoader([(object(), 0)] * 10, batch_size=4)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for factory, said in (
        ("items", "IndexError: list index out of range (broken_data.py, line 7)"),
        ("loader", "TypeError: default_collate: batch must contain tensors"),
    ):
        code, _, err = cli(
            "train", "--dataset", f"broken_data:{factory}", "--steps", "1", "--out", str(tmp_path / factory)
        )
        assert code == 2 and "Traceback" not in err, err
        assert f"reading dataset 'broken_data:{factory}' raised {said}" in err


@pytest.mark.parametrize(
    "factory, said",
    [
        ("number", "invalid value 42 for what dataset 'uc_data_pkg:number' returned (loads.py, line 1)"),
        ("named", "for what dataset 'uc_data_pkg:named' returned (loads.py, line 3): accepted the splits"),
        ("listed", "for what dataset 'uc_data_pkg:listed' returned (loads.py, line 5): accepted a Dataset"),
    ],
)
def test_a_dataset_factory_returning_no_data_is_named_with_the_file_and_line_it_is_defined_at(
    tmp_path, monkeypatch, cli, factory, said
):
    """A data set factory returning no data (a number; a dict of named splits; a list of dict batches to
    split) was named by its import path alone, where a model or loss factory's refusal names the file and
    line of its def (24bd740): re-exported by a package (uc_data_pkg/__init__.py), the file to mend was
    never said. Truth: the line of the def in the file written here."""
    (tmp_path / "uc_data_pkg").mkdir()
    (tmp_path / "uc_data_pkg" / "__init__.py").write_text("from .loads import listed, named, number\n")
    (tmp_path / "uc_data_pkg" / "loads.py").write_text(
        "def number():\n"
        "    return 42\n"
        "def named():\n"
        "    return {'train': [], 'test': []}\n"
        "def listed():\n"
        "    return [{'input_ids': [1], 'labels': [0]}]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = cli(
        "train", "--dataset", f"uc_data_pkg:{factory}", "--steps", "1", "--out", str(tmp_path / "run")
    )
    assert (code, out, len(err.strip().splitlines())) == (2, "", 1), err
    assert said in err


def test_a_loader_over_an_endless_stream_is_refused_by_its_rows_not_read_forever(monkeypatch):
    """A DataLoader over an endless IterableDataset hung reading it; it is refused once its batches hold
    over MOST_STREAMED rows (batches of 8 count 8 each), and a loader of exactly that many is read."""
    from torch.utils.data import IterableDataset, TensorDataset

    from optimlab.data import torch_dataset

    monkeypatch.setattr(torch_dataset, "MOST_STREAMED", 40)

    class Endless(IterableDataset):
        def __iter__(self):
            for i in range(400):  # ten times the bound: stops a reader that ignores it
                yield torch.tensor([float(i)]), i % 2
            raise AssertionError("read past the bound")

    for loader in (DataLoader(Endless(), batch_size=8), DataLoader(Endless(), batch_size=None)):
        with pytest.raises(InvalidValueError, match=r"'a stream still yielding after 40 rows \(endless\?\)'"):
            as_data(loader, "stream")
    forty = TensorDataset(torch.arange(40.0)[:, None], torch.arange(40) % 2)
    assert len(as_data(DataLoader(forty, batch_size=8), "rows").examples) == 40


def test_images_kept_channels_last_are_refused_naming_the_transpose_and_channels_first_kept():
    """A factory's Keras-style images (N, H, W, C) were kept so: a CNN took each image's 8 rows for its
    channels (an .npz file of them is read channels first). Returned by a factory, as arrays, tensors, a
    Dataset of such items or splits, they are refused in one line naming the shape and the transpose;
    (N, C, H, W) images are kept exactly as given."""
    from torch.utils.data import TensorDataset

    images = torch.rand(12, 8, 6, 3)
    labels = torch.arange(12) % 2
    for given in (
        (images, labels),
        (images.numpy(), labels.numpy()),
        TensorDataset(images, labels),
        DataLoader(TensorDataset(images, labels), batch_size=5),
        ((images[:8], labels[:8]), (images[8:], labels[8:])),
    ):
        with pytest.raises(InvalidValueError) as refused:
            as_data(given, "keras")
        assert str(refused.value) == (
            "invalid value 'images kept channels last, shape (12, 8, 6, 3)' for inputs of keras: accepted "
            "images channels first (N, C, H, W), as torch's layers take them: return x.permute(0, 3, 1, 2) "
            "(numpy: x.transpose(0, 3, 1, 2)); inputs that are no images (joints x coordinates), kept as they "
            "are: return optimlab.data.Examples.from_arrays(x, y, name=...)."
        )
    first = images.permute(0, 3, 1, 2)
    data = as_data((first, labels), "torch")
    assert data.input_shape == (3, 8, 6) and torch.equal(data.examples.x, first)
    poses = as_data(Examples.from_arrays(images, labels, name="poses"), "poses")  # the way to keep them
    assert poses.input_shape == (8, 6, 3) and torch.equal(poses.examples.x, images)


@pytest.mark.parametrize(("shape", "image_shape"), [((6, 3, 4, 5), (3, 4, 5)), ((6, 2, 4, 5), None)])
def test_a_factorys_images_channels_first_are_images_as_an_npz_of_them_reads(tmp_path, shape, image_shape):
    """(N, C, H, W) tensors from a factory were '6 rows of 3x4x5 values', where the same arrays in an .npz
    are '6 images of 3x4x5'. Truth: load_numpy's image shape of the same arrays, whole or as splits."""
    from optimlab.data import load_numpy

    x, y = np.random.default_rng(0).random(shape, dtype=np.float32), np.arange(6) % 2
    np.savez(tmp_path / "same.npz", x=x, y=y)
    assert load_numpy(tmp_path / "same.npz").image_shape == image_shape
    assert as_data((torch.from_numpy(x), torch.from_numpy(y)), "mine").image_shape == image_shape
    assert as_data(((x[:4], y[:4]), (x[4:], y[4:])), "mine").image_shape == image_shape


def test_class_names_of_dataset_splits_are_one_id_in_every_split():
    """Splits given as Datasets of (input, 'cat') items raised torch's "can't convert np.ndarray of type
    numpy.str_"; their names are classes, mapped over every split at once (sorted), so a validation split
    lacking 'cat' still calls 'emu' 2, as the training split does."""

    class Named(Dataset):
        def __init__(self, names):
            self.names = names

        def __len__(self):
            return len(self.names)

        def __getitem__(self, i):
            return torch.tensor([float(i)]), self.names[i]

    splits = as_data((Named(["cat", "dog", "emu", "cat"]), Named(["emu", "dog", "emu"])), "named")
    assert splits.num_classes == 3
    assert splits.train.y.tolist() == [0, 1, 2, 0] and splits.val.y.tolist() == [2, 1, 2]


def test_a_factorys_inputs_of_text_or_dates_are_refused_naming_the_columns_and_mixed_numbers_read():
    """Inputs of text, dates or categories raised torch's "can't convert np.ndarray of type
    numpy.object_"; they are refused naming the frame's columns (an array's dtype), and numeric columns
    of no common numpy dtype (bool beside float, nullable Int64), which pandas gives as one object array,
    are read as their numbers."""
    pd = pytest.importorskip("pandas")
    target = pd.Series([0, 1, 0, 1])
    frame = pd.DataFrame(
        {
            "price": [1.5, 2.0, 3.0, 4.0],
            "city": ["x", "y", "x", "y"],
            "day": pd.date_range("2020-01-01", periods=4),
            "new": [True, False, True, False],
            "rooms": pd.array([1, 2, 3, 4], dtype="Int64"),
        }
    )
    with pytest.raises(InvalidValueError) as refused:
        as_data((frame, target), "homes")
    assert str(refused.value).startswith("invalid value \"'city' (")
    assert "'day' (datetime64" in str(refused.value)
    assert "for feature columns of homes: accepted numbers (bool, integer or float)" in str(refused.value)
    numbers = as_data((frame[["price", "new", "rooms"]], target), "homes").examples.x
    assert numbers.tolist() == [[1.5, 1, 1], [2, 0, 2], [3, 1, 3], [4, 0, 4]]
    for text in (np.array(["a", "b", "a", "b"]), np.array([1, "b", 2, None], dtype=object)):
        with pytest.raises(InvalidValueError, match=f"'an array of dtype {text.dtype}' for inputs of words"):
            as_data((text, target.to_numpy()), "words")


def test_splits_of_other_shapes_or_target_kinds_are_refused_naming_the_split():
    """Splits whose inputs differ in width raised torch.cat's 'Sizes of tensors must match'; integer
    classes in training beside whole floats in validation were joined as floats and trained as a
    regression; names beside numbers were joined as names ('0', '1'). Each is refused naming the split;
    0/1 labels, binary as integers or floats, still join as two classes."""
    x, classes = torch.randn(10, 4), torch.arange(10) % 3
    cases = (
        (
            torch.randn(10, 5),
            classes,
            "'rows of shape (5,)' for inputs of mine split 1: accepted rows of split 0's shape, (4,)",
        ),
        (
            x,
            classes[:, None],
            "'rows of shape (1,)' for targets of mine split 1: accepted rows of split 0's shape, ()",
        ),
        (
            x,
            classes.float(),
            "'floats (a float32 tensor of shape (10,))' for targets of mine split 1: accepted integers",
        ),
        (
            x,
            np.array(["a", "b"] * 5),
            "'names (<U1)' for targets of mine split 1: accepted integers, as split 0's",
        ),
    )
    for val_x, val_y, said in cases:
        with pytest.raises(InvalidValueError, match=re.escape(said)):
            as_data(((x, classes), (val_x, val_y)), "mine")
    binary = as_data(((x, classes % 2), (x, (classes % 2).float())), "mine")
    assert binary.task == "classification" and torch.equal(binary.val.y, classes % 2)


def test_targets_of_another_length_an_empty_loader_and_an_odd_batch_are_named():
    """(x, y) of 20 and 19 rows were refused as 'targets: accepted one per input row (20)', naming
    neither the data nor a shape, and a 0-d pair raised IndexError; an empty DataLoader was 'invalid value
    None for batches of ...', and a loader's bad batch was described by its first batch, not the bad one."""
    from torch.utils.data import TensorDataset

    with pytest.raises(InvalidValueError) as refused:
        as_data((torch.randn(20, 4), torch.arange(19) % 2), "rows")
    assert str(refused.value) == (
        "invalid value 'shape (19,)' for targets of rows: accepted one target per row of the inputs, whose "
        "shape is (20, 4)."
    )
    with pytest.raises(
        InvalidValueError, match=r"'shape \(\)' for inputs of scalars: accepted one row per example"
    ):
        as_data((torch.tensor(1.0), torch.tensor(1)), "scalars")
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0)), batch_size=4)
    with pytest.raises(
        InvalidValueError, match="'an empty DataLoader' for batches of none: accepted at least one"
    ):
        as_data(empty, "none")
    mixed = DataLoader([(torch.zeros(2), 0), (torch.zeros(2), 1, 0.5)], batch_size=None)
    with pytest.raises(
        InvalidValueError, match=r"'a list of 3 \(float32 \(2,\), int, float\)' for batch 1 of mix"
    ):
        as_data(mixed, "mix")


def test_a_split_of_dict_items_beside_an_empty_or_other_split_is_named():
    """Splits of dict items beside an empty one were read as (x, y) splits and refused as 'item 0 of
    split 0: accepted an (input, target) pair', naming the good split; the empty (or other) split is
    named."""
    with pytest.raises(InvalidValueError) as refused:
        as_data((Items(10), Items(0)), "mine")
    assert str(refused.value) == (
        "invalid value 'an empty Items' for split 1 of mine: accepted dict items or batches, as the other "
        "splits hold, at least one."
    )
    with pytest.raises(
        InvalidValueError, match=r"for split 2 of mine: accepted dict items or batches, as the"
    ):
        as_data((Items(10), Items(4), (torch.zeros(4, 2), torch.arange(4) % 2)), "mine")


def test_inputs_targets_and_weights_as_three_arrays_are_refused_naming_dict_batches():
    """(x, y, weights) of one number of rows was refused with the whole list of accepted returns, as if
    it were three splits; it is refused saying that (x, y) holds inputs and targets alone, and what holds
    more."""
    x, y, weights = torch.randn(20, 4), torch.arange(20) % 2, torch.rand(20)
    with pytest.raises(InvalidValueError) as refused:
        as_data((x, y, weights), "weighted")
    assert str(refused.value) == (
        "invalid value 'a tuple of 3 (float32 (20, 4), int64 (20,), float32 (20,))' for what dataset "
        "'weighted' returned: accepted (x, y): inputs and targets of one row per example; several inputs, or "
        "weights or masks beside the target, train as dict batches: a Dataset of {'<forward's argument>': x, "
        "..., 'labels': y} items, the inputs given by name to a model whose logits and the labels go to the "
        "loss you name (training.loss: cross_entropy, or loss= in Python), or each batch given whole to a "
        "model that returns its own loss."
    )


def test_a_loader_of_several_inputs_is_refused_naming_dict_batches():
    """DataLoader(TensorDataset(x_num, x_cat, y)), which fit takes as (inputs..., target) batches, was
    refused for a comparison's data with 'accepted an (input, target) pair' alone, naming no way forward;
    a batch of more than two parts now names dict batches and the loss to name, as a Dataset's item does."""
    x_num, x_cat, y = torch.randn(8, 4), torch.arange(8) % 7, torch.arange(8) % 2
    several = DataLoader(TensorDataset(x_num, x_cat, y), batch_size=4)
    with pytest.raises(InvalidValueError) as refused:
        as_data((several, several), "mine")
    assert str(refused.value).startswith(
        "invalid value 'a list of 3 (float32 (4, 4), int64 (4,), int64 (4,))' for batch 0 of mine split 0: "
    ) and str(refused.value).endswith(f"accepted an (input, target) pair; {MORE_THAN_PAIRS}.")
    assert "training.loss: cross_entropy" in MORE_THAN_PAIRS


def _unseeded_draws():
    """A factory drawing from torch's, NumPy's and Python's global generators, no seed of its own."""
    import random

    x = torch.randn(40, 3)
    noise = torch.from_numpy(np.random.rand(40)).float() + random.random()
    return x, (x[:, 0] + noise > 1.0).long()


def test_a_factory_drawing_from_the_global_generators_gives_the_data_of_its_seed():
    """Two identical `optimlab train` runs on such a factory trained on other data each time (val
    accuracy 0.875 and 0.775), and a study's seed reruns of two optimizers saw other data. The seed now
    decides them, as for the built-in sets, and the caller's generators come back as they were."""
    from optimlab.data.user_factory import adapt_dataset

    factory = adapt_dataset(f"{__name__}:_unseeded_draws", _unseeded_draws)
    torch.manual_seed(123)
    np.random.seed(5)
    before = torch.get_rng_state(), np.random.get_state()[1].copy()
    first, again, other = factory(seed=0), factory(seed=0), factory(seed=1)
    assert torch.equal(torch.get_rng_state(), before[0]) and np.array_equal(
        np.random.get_state()[1], before[1]
    )
    assert torch.equal(first.examples.x, again.examples.x) and torch.equal(first.examples.y, again.examples.y)
    assert not torch.equal(first.examples.x, other.examples.x)
    torch.manual_seed(0)  # the seed's draws are those the seeded generators give
    np.random.seed(0)
    assert torch.equal(first.examples.x, torch.randn(40, 3))


def test_a_factorys_dataloader_is_said_to_be_trained_in_the_recipes_batches(tmp_path, monkeypatch, cli):
    """`optimlab train --dataset mod:load` of a factory returning DataLoader(batch_size=8, drop_last=True)
    trained in batches of training.batch_size, 32, keeping the last rows, without a word: its rows are read
    into memory and the recipe batches them. The line of what was read says so."""
    from optimlab.recipe import Recipe

    (tmp_path / "loader_data.py").write_text(
        "import torch\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))\n"
        "def load():\n"
        "    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=8, drop_last=True)\n"
        "def splits():\n"
        "    return load(), DataLoader(TensorDataset(x[:20], (x[:20, 0] > 0).long()), batch_size=4)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for factory in ("load", "splits"):
        code, _, err = cli(
            "train", "--dataset", f"loader_data:{factory}", "--steps", "1", "--out", str(tmp_path / factory)
        )
        assert code == 0, err
        training = Recipe.from_yaml((tmp_path / factory / "recipe.yaml").read_text()).training
        assert (training.batch_size, training.drop_last) == (32, False)  # the recipe's
        assert (
            f"data: loader_data:{factory}, 1{'0' if factory == 'load' else '2'}0 rows x 3 features, read as rows "
            "from its DataLoader (batch_size 8, drop_last): trained in the recipe's batches (training.batch_size, "
            "shuffle, drop_last)"
        ) in err, err


def test_a_loaders_reading_keeps_what_the_labels_say():
    """Labels 5, 7 and 1000000 read as classes 0-2 are said in the line of what was read (for a file, and for
    tensors), with the loader's batching first where a DataLoader gave them."""
    from torch.utils.data import TensorDataset

    x, y = torch.randn(60, 3), torch.tensor([5, 1_000_000, 7] * 20)
    labels = "labels 5, 7, 1000000 as classes 0-2"
    assert as_data((x, y), "mine").reading == labels
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    read = "read as rows from its DataLoader (batch_size 8): trained in the recipe's batches"
    assert as_data(loader, "mine").reading.startswith(read) and as_data(loader, "mine").reading.endswith(
        labels
    )
    assert as_data((loader, loader), "mine").reading.endswith(labels)


_IGNORING = """
import torch
from torch import nn

def rows(seed=0):  # labels 0..2 of the inputs' signs, -100 on every 7th row (unlabelled)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(280, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    y[::7] = -100
    return x, y

def ce():
    return nn.CrossEntropyLoss()

def margin():  # no ignore_index: a target of -100 is an index out of range
    return nn.MultiMarginLoss()
"""


@pytest.mark.parametrize("loss", [None, "cross_entropy", "ignoring:ce"])
def test_rows_the_loss_ignores_train_and_are_scored_without_them(write_modules, loss):
    """A factory's (x, y) with -100 on unlabelled rows, as token classification and padded labels use it,
    under optimlab's cross-entropy or the user's nn.CrossEntropyLoss(), both ignoring -100 by default:
    refused ('-100 in 40 rows'). Now each row keeps its label, -100 included, the model gets a score per
    class (3, not 4), and the held-out loss and accuracy are those of the labelled rows, counted by hand."""
    from optimlab.build import build
    from optimlab.recipe import Recipe
    from optimlab.train.run import evaluate

    write_modules(ignoring=_IGNORING)
    training = {"steps": 1} | ({"loss": loss} if loss else {})
    built = build(Recipe.from_dict({"data": {"name": "ignoring:rows"}, "training": training}))
    splits = built.splits
    x, y = __import__("ignoring").rows()
    raw = {tuple(row): label for row, label in zip(x.tolist(), y.tolist())}
    assert splits.num_classes == 3 and splits.num_outputs == 3
    for split in (splits.train, splits.val, splits.test):
        assert split.y.tolist() == [raw[tuple(row)] for row in split.x.tolist()]
    assert int((splits.test.y == -100).sum()) > 0
    found = evaluate(
        built.model, built.loss_fn, splits.test.x, splits.test.y, task="classification", prefix="t"
    )
    with torch.no_grad():
        scores = built.model.eval()(splits.test.x)
    labelled = [(s, t) for s, t in zip(scores, splits.test.y.tolist()) if t != -100]
    right = sum(int(s.argmax()) == t for s, t in labelled)
    assert found["t_accuracy"] == pytest.approx(right / len(labelled))
    mean_loss = sum(float(-s.log_softmax(0)[t]) for s, t in labelled) / len(labelled)
    assert found["t_loss"] == pytest.approx(mean_loss, rel=1e-5)


_MASKS = """
import torch
from torch import nn

def rows(seed=0):  # labels 0..2 of the inputs' signs, 255 on every 7th row (a segmentation mask's void)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(280, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    y[::7] = 255
    return x, y

def ce():
    return nn.CrossEntropyLoss(ignore_index=255)
"""


def test_a_non_negative_label_the_loss_ignores_is_no_class_of_the_models_outputs(write_modules):
    """Labels 0..2 beside 255, a segmentation mask's void, under the user's
    nn.CrossEntropyLoss(ignore_index=255): the model was built with 256 outputs, a score per id up to 255,
    as if 255 were a class. It is in no class, as -100 is: 3 outputs, and the held-out loss is torch's
    cross_entropy(ignore_index=255) of the model's scores."""
    from optimlab.build import build
    from optimlab.recipe import Recipe
    from optimlab.train.run import evaluate

    write_modules(masks=_MASKS)
    built = build(
        Recipe.from_dict({"data": {"name": "masks:rows"}, "training": {"steps": 1, "loss": "masks:ce"}})
    )
    splits = built.splits
    assert splits.num_classes == 3 and splits.num_outputs == 3
    with torch.no_grad():
        scores = built.model.eval()(splits.test.x)
    assert scores.shape == (len(splits.test), 3) and int((splits.test.y == 255).sum()) > 0
    found = evaluate(
        built.model, built.loss_fn, splits.test.x, splits.test.y, task="classification", prefix="t"
    )
    truth = torch.nn.functional.cross_entropy(scores, splits.test.y, ignore_index=255)
    assert found["t_loss"] == pytest.approx(truth.item(), rel=1e-5)


def test_rows_of_minus_100_are_said_and_refused_in_one_line_under_a_loss_that_does_not_ignore_them(
    write_modules, cli, tmp_path
):
    """The data line says the ignored rows, and a held-out split is not said to lack a class for holding
    -100 beside every class ('val lacks -1 of the 3 classes'); under MultiMarginLoss, which has no
    ignore_index, -100 is refused in one line naming it."""
    write_modules(ignoring=_IGNORING)
    code, _, said = cli("train", "--dataset", "ignoring:rows", "--steps", "1", "--out", str(tmp_path / "run"))
    assert code == 0 and "label -100 in 40 rows ignored by the loss (classification, 3 classes)\n" in said
    code, _, err = cli(
        "train", "--dataset", "ignoring:rows", "--set", "training.loss=ignoring:margin", "--steps", "1"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'-100 in 40 rows' for class labels of ignoring:rows" in err and "it has no ignore_index" in err


def test_compare_on_x_y_with_rows_of_minus_100_trains_under_the_users_cross_entropy(tmp_path):
    """optimlab.compare(data=(x, y), loss=nn.CrossEntropyLoss()) with -100 on unlabelled rows was refused
    as the factory's were; it trains, and a loss without ignore_index is still refused naming -100."""
    from torch import nn

    import optimlab

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    y[::6] = -100
    common = {"optimizers": ["sgd"], "budget": 1, "seeds": 1, "epochs": 1}
    found = optimlab.compare(data=(x, y), loss=nn.CrossEntropyLoss(), out=str(tmp_path / "ce"), **common)
    assert [r.status for r in found.results[0].records] == ["completed", "completed"]
    with pytest.raises(InvalidValueError, match="'-100 in 20 rows'.*it has no ignore_index"):
        optimlab.compare(data=(x, y), loss=nn.MultiMarginLoss(), out=str(tmp_path / "margin"), **common)


def test_compare_whose_first_batch_holds_only_ignored_labels_trains(tmp_path):
    """The check before any trial read the first step's loss, NaN where every label of its batch is -100
    (torch's mean cross-entropy 0/0), and refused the study as 'nan for the loss of the first batch'.
    The loop skips such a step (no loss, no update): the check has nothing to judge, and the study runs.
    97% of 1,200 labels are -100; the first batch of 4 holds no other (it does at this seed)."""
    from torch import nn

    import optimlab

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1200, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    y[torch.rand(1200, generator=generator) < 0.97] = -100
    found = optimlab.compare(
        data=(x, y), loss=nn.CrossEntropyLoss(), out=str(tmp_path / "ce"), optimizers=["sgd"], budget=1,
        seeds=1, epochs=1, recipe={"training": {"batch_size": 4}},
    )  # fmt: skip
    assert [r.status for r in found.results[0].records] == ["completed", "completed"]


def test_batched_comparison_on_labels_mostly_ignored_runs_its_trials_one_at_a_time(tmp_path):
    """Stacked members cannot skip a step one of them has no loss at (every label -100): the batched
    backend marked every trial 'diverged at step 7', at lr 1e-5 too. Such data now run one at a time,
    as a single run skips those steps; the trials complete."""
    from torch import nn

    import optimlab

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1200, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    y[torch.rand(1200, generator=generator) < 0.8] = -100
    with pytest.warns(UserWarning, match="one at a time, not batched: targets the loss leaves out"):
        found = optimlab.compare(
            data=(x, y), loss=nn.CrossEntropyLoss(), out=str(tmp_path / "s"), optimizers=["adam"], budget=2,
            seeds=2, epochs=2, backend="batched", recipe={"training": {"batch_size": 8}},
        )  # fmt: skip
    assert {r.status for r in found.results[0].records} == {"completed"}


def big_endian_pairs():
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 3)).astype(">f8"), (np.arange(12) % 3).astype(">i8")


class BigEndianItems(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        x, y = big_endian_pairs()
        return x[i], y[i]


@pytest.mark.parametrize(
    "returned",
    [big_endian_pairs, lambda: (big_endian_pairs(), big_endian_pairs()), BigEndianItems],
    ids=["pair", "splits", "dataset"],
)
def test_a_factorys_big_endian_arrays_are_the_numbers_numpy_holds(returned):
    """A factory returning arrays of dtype '>f8' (read from a big-endian file) was said to have raised
    torch's 'byte order different from the native byte order'. Truth: the numbers numpy holds."""
    data = as_data(returned(), "big_endian")
    x, y = big_endian_pairs()
    train = data.examples if isinstance(data, Examples) else data.train
    assert torch.equal(train.x, torch.tensor(x.astype(np.float32))) and train.y.tolist() == y.tolist()


def test_a_factorys_read_only_arrays_are_read_without_torchs_warning(tmp_path, forked_parents):
    """np.load(mmap_mode='r') gives read-only arrays, and a factory returning them printed torch's 'The
    given NumPy array is not writable ... undefined behavior' warning. Torch warns once a process: checked
    in a fresh one (tests/conftest.py's forked_parents). Truth: the file's numbers, as numpy reads them."""

    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(12, 3)))
    np.save(tmp_path / "y.npy", np.arange(12) % 2)
    script = (
        "import warnings\n"
        "warnings.filterwarnings('error', category=UserWarning)\n"  # python -W error::UserWarning
        "import numpy as np\n"
        "from optimlab.data.user_factory import as_data\n"
        "x, y = (np.load(name, mmap_mode='r') for name in ('x.npy', 'y.npy'))\n"
        "data = as_data((x, y), 'read_only')\n"
        "assert np.array_equal(data.examples.x.numpy(), np.load('x.npy').astype(np.float32))\n"
        "assert data.examples.y.tolist() == np.load('y.npy').tolist()\n"
    )
    code, _, err = forked_parents().run([], tmp_path, dict(os.environ), tmp_path, 300, source=script)
    assert code == 0, err


def _record_field(x: np.ndarray) -> np.ndarray:
    """``x`` (8-byte numbers) as a field of a structured array: strides of 9 bytes, no whole number of them."""
    records = np.zeros(x.shape, dtype=[("x", x.dtype), ("flag", "u1")])
    records["x"] = x
    return records["x"]


@pytest.mark.parametrize(
    "layout",
    [lambda a: np.flip(a, axis=-1), lambda a: a[::-1], _record_field],
    ids=["np.flip", "[::-1]", "record field"],
)
def test_a_factorys_arrays_of_any_strides_are_the_numbers_numpy_holds(layout):
    """A factory returning np.flip(x, axis=1) (BGR to RGB, columns reversed) or x[::-1] was said to have
    raised torch's 'At least one stride in the given numpy array is negative', and a structured array's
    field 'strides not a multiple of the element byte size'. Truth: numpy's values, the same arrays
    copied contiguous."""
    x = np.random.default_rng(0).normal(size=(12, 3))
    y = np.arange(12) % 3
    data = as_data((layout(x), layout(y)), "strides")
    assert torch.equal(data.examples.x, torch.tensor(np.ascontiguousarray(layout(x)), dtype=torch.float32))
    assert data.examples.y.tolist() == np.asarray(layout(y)).tolist()


def _mapping_of(address: int) -> tuple[str, str]:
    """The permissions ('r--s', 'rw-p') and path of the mapping of this process holding ``address``, as
    Linux lists them in /proc/self/maps."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, perms, *rest = line.split(maxsplit=5)
        start, end = (int(bound, 16) for bound in span.split("-"))
        if start <= address < end:
            return perms, rest[3] if len(rest) == 4 else ""
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
@pytest.mark.parametrize(
    "view",
    [lambda x: x, lambda x: x[3:9, 1:], lambda x: x.T, lambda x: np.asarray(x)[1::2]],
    ids=["whole", "slice", "transposed", "every other row"],
)
def test_a_factorys_read_only_memmap_is_mapped_again_copy_on_write(tmp_path, view):
    """np.load(mmap_mode='r') arrays were copied whole into memory (a 390 MB pair: the peak memory 720 ->
    1113 MB), then shared read-only, where a model writing its input in place crashed the process. Truth:
    Linux's map of this process: the tensor's memory is a private (copy-on-write) writable mapping of the
    file, holding numpy's numbers; a write to it changes neither the user's array nor the file."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32))
    x = view(np.load(tmp_path / "x.npy", mmap_mode="r"))
    data = as_data((x, np.arange(len(x)) % 2), "memmap")
    assert _mapping_of(data.examples.x.data_ptr()) == ("rw-p", str(tmp_path / "x.npy"))
    assert np.array_equal(data.examples.x.numpy(), view(np.load(tmp_path / "x.npy")))
    data.examples.x.add_(1)
    assert np.array_equal(x, view(np.load(tmp_path / "x.npy")))


def test_a_read_only_memmap_whose_file_was_replaced_is_read_from_the_users_array(tmp_path):
    """A read-only memmap was mapped again by its file's name: where a new file had taken that name since
    the user mapped it (os.replace, as np.save to a temporary then a rename writes), the data read was
    the new file's. Truth: the numbers of the array the user holds."""
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((6, 2), np.float32))
    x = np.load(path, mmap_mode="r")
    np.save(tmp_path / "new.npy", np.ones((6, 2), np.float32))
    os.replace(tmp_path / "new.npy", path)
    data = as_data((x, np.arange(6) % 2), "memmap")
    assert np.array_equal(data.examples.x.numpy(), x) and not x.any()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
def test_a_read_only_memmap_is_copied_where_the_system_lists_no_maps(tmp_path, monkeypatch):
    """Where /proc/self/maps cannot be read (not Linux, /proc not mounted), whether the file is still the
    one mapped cannot be told: the array is copied, never mapped again by its name. Truth: Linux's map of
    this process (the tensor's memory no mapping of the file), numpy's shares_memory, the user's numbers."""
    import builtins

    from optimlab.data import examples

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc/"):
            raise FileNotFoundError(2, "No such file or directory", str(file))
        return builtins.open(file, *args, **kwargs)

    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32))
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    monkeypatch.setattr(examples, "open", no_proc, raising=False)
    data = as_data((x, np.arange(len(x)) % 2), "memmap")
    monkeypatch.undo()
    copied = data.examples.x.numpy()
    assert _mapping_of(data.examples.x.data_ptr())[1] != str(tmp_path / "x.npy")
    assert not np.shares_memory(copied, x) and np.array_equal(copied, x)


def test_a_model_writing_its_input_in_place_evaluates_a_read_only_memmap(tmp_path, forked_parents):
    """A model whose forward divides its input in place (x.div_(255)) and np.load(mmap_mode='r') inputs:
    optimlab.train's evaluate handed it views of the read-only file mapping, and the process died of
    SIGSEGV. Checked in a forked process (tests/conftest.py's forked_parents). Truth: the loss a hand
    loop computes on a copy of the file's numbers; the file unchanged."""
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import numpy as np, torch\n"
        "from optimlab.data.user_factory import as_data\n"
        "from optimlab.train.run import evaluate\n"
        "class Scaling(torch.nn.Linear):\n"
        "    def forward(self, x):\n"
        "        return super().forward(x.div_(255))\n"
        "torch.manual_seed(0)\n"
        "model, y = Scaling(3, 2), torch.arange(40) % 2\n"
        "data = as_data((np.load('x.npy', mmap_mode='r'), y.numpy()), 'memmap')\n"
        "got = evaluate(model, torch.nn.CrossEntropyLoss(), data.examples.x, data.examples.y,\n"
        "               task='classification', prefix='val')\n"
        "with torch.no_grad():\n"
        "    expected = torch.nn.functional.cross_entropy(model(torch.tensor(np.load('x.npy'))), y)\n"
        "assert abs(got['val_loss'] - expected.item()) < 1e-6, (got, expected)\n"
    )
    code, _, err = forked_parents().run([], tmp_path, dict(os.environ), tmp_path, 300, source=script)
    assert code == 0, f"exit code {code}: {err}"
    assert np.array_equal(np.load(tmp_path / "x.npy"), x)


def test_a_factorys_split_with_a_class_its_training_split_lacks_is_kept_and_said():
    """(train, val, test) whose val or test held a class train lacked was scored without a word on a class
    the model never learns: the splits are kept as given, and the reading names the class. Truth: the
    labels written here."""
    x = torch.randn(10, 2)
    train, val, test = (
        (x[:4], torch.tensor([5, 7] * 2)),
        (x[4:7], torch.tensor([5, 7, 9])),
        (x[7:], torch.tensor([5, 7, 8])),
    )
    data = as_data((train, val, test), "held_out")
    assert data.num_classes == 4 and data.val.y.tolist() == [0, 1, 3] and data.test.y.tolist() == [0, 1, 2]
    assert data.reading.endswith(
        "; split 1 (val) holds class 9, which split 0 (train) lacks: never learnt, still scored; split 2 "
        "(test) holds class 8, which split 0 (train) lacks: never learnt, still scored"
    )


def test_a_dict_of_columns_is_split_as_the_dataset_of_its_rows():
    """A factory returning a Hugging Face dataset's columns ({"input_ids": (N, 4), "labels": (N,)}, its
    to_dict()) was refused ('accepted ...'); a Dataset of the same rows as dict items was split. Truth:
    the columns split as that Dataset does, item for item, and columns of unequal lengths are refused
    naming each."""
    items = Items(50)
    columns = {"input_ids": torch.stack([items[i]["input_ids"] for i in range(50)]), "labels": items.labels}
    options = dict(seed=1, val_fraction=0.2, test_fraction=0.2, data_fraction=1.0)
    got, want = as_data(columns, "columns").split(**options), as_data(items, "items").split(**options)
    for a, b in ((got.train, want.train), (got.val, want.val), (got.test, want.test)):
        assert ids_in_order(a) == ids_in_order(b)
        assert all(torch.equal(a[i]["labels"], b[i]["labels"]) for i in range(len(a)))
    assert got.task == want.task == "classification"
    with pytest.raises(InvalidValueError, match="unequal lengths: 'input_ids' 50, 'labels' 49"):
        as_data({**columns, "labels": items.labels[:49]}, "columns")


def test_a_column_named_train_is_a_column_and_target_columns_leaking_labels_are_refused_as_fit_refuses():
    """as_data took any dict holding 'train' for a dict of splits (a boolean column 'train' beside the
    features was told to return (d['train'], a val split)), and took columns 'label' and 'labels' (one
    of them given to the model as an input, a label leak) that fit refuses. One rule for both readers
    (is_split_dict, ColumnRows). Truth: the column read as the rows' item, and fit's refusal."""
    x, y = torch.randn(20, 3), torch.arange(20) % 2
    flagged = as_data({"x": x, "train": x[:, 0] > 0, "label": y}, "columns").split(
        seed=0, val_fraction=0.2, test_fraction=0.0, data_fraction=1.0
    )
    row = flagged.train[0]
    assert set(row) == {"x", "train", "label"} and bool(row["train"]) == bool(row["x"][0] > 0)
    leak = {"x": x, "label": y, "labels": y}
    with pytest.raises(InvalidValueError) as fit_refuses:
        UserBatches(leak, torch.nn.CrossEntropyLoss())  # fit's reader
    with pytest.raises(InvalidValueError) as refused:
        as_data(leak, "columns")
    said = "a dict of columns with several named as a target: 'label', 'labels'"
    assert said in str(fit_refuses.value) and said in str(refused.value)


def ids_in_order(split):
    return [int(split[i]["input_ids"][0]) for i in range(len(split))]


@pytest.mark.parametrize("splits", [False, True])
def test_a_list_of_input_target_items_is_refused_saying_how_to_batch_them(splits):
    """compare(data=[(x_i, y_i), ...]) (or splits of such lists) got the generic refusal naming every
    shape of data accepted, where a list of dict items was told how to batch them: the same hint now.
    Truth: the same rows as tensors, (torch.stack(xs), torch.stack(ys)), the advice, are read whole."""
    x, y = torch.randn(20, 6), torch.arange(20) % 2
    items = [(x[i], y[i]) for i in range(20)]
    value, field = ((items[:15], items[15:]), "split 0 of mine") if splits else (items, "what it returned")
    with pytest.raises(
        InvalidValueError,
        match=f"'a list of {15 if splits else 20} \\(input, target\\) items, one example each' for {field}: "
        r".*DataLoader\(items, batch_size=32\).*\(torch.stack\(xs\), torch.stack\(ys\)\)",
    ):
        as_data(value, "mine", returned="what it returned")
    stacked = as_data((torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])), "mine")
    assert torch.equal(stacked.examples.x, x) and torch.equal(stacked.examples.y, y)


def test_lists_of_feature_rows_are_not_told_they_are_examples_one_each():
    """as_data(([[0.1, 0.2], ...], [0, 1, ...])), lists of feature rows beside their labels, was refused
    as 'a list of 20 (input, target) items, one example each': a row of numbers read as an (input,
    target) item. A row of numbers is no example: the refusal names the two lists as given (b22aca3b);
    (input, label) items, their inputs arrays or lists, stay refused as examples one each. Truth: the
    value's own types."""
    rows, labels = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]] * 5, [0, 1, 0, 1] * 5
    with pytest.raises(InvalidValueError, match=r"^invalid value '\(list of 20, list of 20\)' for what"):
        as_data((rows, labels), "mine")
    for inputs in (np.asarray, list):
        items = [(inputs(row), label) for row, label in zip(rows, labels)]
        with pytest.raises(
            InvalidValueError, match=r"'a list of 20 \(input, target\) items, one example each'"
        ):
            as_data(items, "mine")


def _lists_made_arrays(pair):
    """``pair`` with each Python list or tuple made an array by np.asarray, the advice."""
    return tuple(np.asarray(part) if isinstance(part, (tuple, list)) else part for part in pair)


@pytest.mark.parametrize(
    "value",
    [
        (np.arange(12.0).reshape(4, 3), [0, 1, 2, 1]),
        (torch.arange(12.0).reshape(4, 3), (0, 1, 0, 1)),
        (np.arange(12.0).reshape(4, 3), [0.5, 1.25, -2.0, 3.0]),
        (np.arange(12.0).reshape(4, 3), [True, False, True, False]),
        ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [0.5, 0.25, 0.125]], np.array([0, 1, 0, 1])),
        [(np.ones((4, 2)), [0, 1, 0, 1]), (np.zeros((2, 2)), [1, 0])],  # train_test_split on lists
    ],
)
def test_an_array_beside_a_list_of_numbers_is_read_as_np_asarray_reads_the_list(value):
    """(X, [0, 1, 0, 1]), which scikit-learn takes (and its train_test_split returns for lists), was refused
    (b22aca3b: make each list an array). It is read as np.asarray reads the list, exactly: truth, the same
    data with np.asarray on each list, the advice given before, read to equal tensors of equal dtypes
    (ints stay ints: classes; floats a regression), splits alike."""
    splits = isinstance(value, list)
    advised = tuple(map(_lists_made_arrays, value)) if splits else _lists_made_arrays(value)
    got, want = as_data(value, "data"), as_data(advised, "data")
    assert type(got) is type(want)
    pairs = (
        [(got.examples, want.examples)]
        if isinstance(got, Examples)
        else [(got.train, want.train), (got.val, want.val)]
    )
    for ours, theirs in pairs:
        for a, b in ((ours.x, theirs.x), (ours.y, theirs.y)):
            assert a.dtype == b.dtype and torch.equal(a, b)
    assert got.task == want.task


def test_an_integer_list_beside_an_array_stays_classes_of_those_integers():
    """ints stay ints: [0, 1, 2, 1] beside an array are classes 0, 1 and 2, as torch.tensor reads them."""
    data = as_data((np.ones((4, 3)), [0, 1, 2, 1]), "data")
    assert data.task == "classification"
    assert torch.equal(data.examples.y, torch.tensor([0, 1, 2, 1]))


@pytest.mark.parametrize(
    "value, field, said, advice",
    [
        (
            ([[1.0, 2.0, 3.0]] * 4, [0, 1, 0, 1]),
            "what dataset 'data' returned",
            "list of 4, list of 4",
            "each list an array (np.asarray)",
        ),
        (
            (np.ones((4, 3)), ["a", "b", "a", "b"]),
            "what dataset 'data' returned",
            "ndarray of shape (4, 3), list of 4",
            "each list an array (np.asarray)",
        ),
        (
            ([np.ones(3)] * 4, np.array([0, 1, 0, 1])),
            "what dataset 'data' returned",
            "list of 4 ndarray, ndarray of shape (4,)",
            "each list an array (np.asarray)",
        ),
        (
            ([torch.ones(3)] * 4, torch.tensor([0, 1, 0, 1])),
            "what dataset 'data' returned",
            "list of 4 Tensor, Tensor of shape (4,)",
            "each list of tensors one tensor (torch.stack)",
        ),
        (
            (([[1.0, 2.0]] * 4, [0, 1, 0, 1]), ([[1.0, 2.0]] * 2, [0, 1])),
            "split 0 of data",
            "list of 4, list of 4",
            "each list an array (np.asarray)",
        ),
        (
            ((np.ones((4, 2)), [0, 1, 0, 1]), (np.ones((2, 2)), [[0], [1, 2]])),
            "split 1 of data",
            "ndarray of shape (2, 2), list of 2",
            "each list an array (np.asarray)",
        ),
    ],
)
def test_a_pair_with_a_list_no_array_reads_is_refused_naming_each_part_and_its_split(
    value, field, said, advice
):
    """A pair with a list np.asarray does not read beside the other part (lists both, text, rows of
    arrays or tensors, rows of several lengths) is refused naming each part as given and, in splits,
    the split (b22aca3b named two splits '(tuple of 2, tuple of 2)'); truth: the advice (np.asarray or
    torch.stack on the list) reads the first four as 4 examples."""
    with pytest.raises(InvalidValueError) as refusal:
        as_data(value, "data")
    assert str(refusal.value) == (
        f"invalid value '({said})' for {field}: accepted (x, y) of tensors or arrays (NumPy, pandas) alike, "
        f"one row per example: make {advice}."
    )
    if field == "what dataset 'data' returned":
        x, y = value
        fixed = torch.stack(x) if isinstance(x[0], torch.Tensor) else np.asarray(x), np.asarray(y)
        assert len(as_data(fixed, "data").examples.x) == 4


def test_rows_of_features_and_a_frame_beside_a_list_are_not_misnamed():
    """Two rows of features, [[0.1, 0.2], [0.3, 0.4]], were called an (x, y) pair with lists to make
    arrays; a DataFrame part was named 'ndarray of shape (4, 1)'. Rows get the list of what is accepted;
    a frame beside a list np.asarray cannot read is named a DataFrame."""
    pd = pytest.importorskip("pandas")
    with pytest.raises(
        InvalidValueError, match=r"^invalid value 'a list of 2 \(list, list\)'.*: accepted \(x, y\)"
    ):
        as_data([[0.1, 0.2], [0.3, 0.4]], "data")
    with pytest.raises(
        InvalidValueError, match=r"^invalid value '\(DataFrame of shape \(4, 1\), list of 4\)'"
    ):
        as_data((pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}), [[0], [1, 2], [0], [1]]), "data")
