"""Any torch Dataset, map-style or iterable, materialized into two tensors."""

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from optimlab.data import from_torch_dataset, split
from optimlab.errors import InvalidValueError


def test_tensor_dataset_round_trips():
    x, y = torch.randn(8, 2, 3), torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
    data = from_torch_dataset(TensorDataset(x, y), name="mine")
    assert torch.equal(data.examples.x, x) and torch.equal(data.examples.y, y)
    assert (data.name, data.input_shape, data.num_classes) == ("mine", (2, 3), 2)
    assert len(split(data, val_fraction=0.25, test_fraction=0.25).train) == 4


class Squares(Dataset):
    """Map-style, NumPy inputs and float targets: a regression."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, 1.0]), float(i * i) + 0.5


class Counting(IterableDataset):
    def __iter__(self):
        return iter([(torch.tensor([float(i)]), i % 2) for i in range(4)])


def test_map_style_numpy_items_with_float_targets_are_a_regression():
    data = from_torch_dataset(Squares())
    assert data.task == "regression" and data.examples.y[:, 0].tolist() == [0.5, 1.5, 4.5, 9.5, 16.5]
    assert data.examples.x[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_iterable_datasets_are_read_by_iteration():
    data = from_torch_dataset(Counting())
    assert data.examples.x[:, 0].tolist() == [0, 1, 2, 3] and data.examples.y.tolist() == [0, 1, 0, 1]


def test_items_must_be_pairs_and_the_dataset_not_empty():
    with pytest.raises(InvalidValueError, match="item 0 of torch_dataset.*an \\(input, target\\) pair"):
        from_torch_dataset(TensorDataset(torch.zeros(3, 2)))
    with pytest.raises(InvalidValueError, match="at least one"):
        from_torch_dataset(TensorDataset(torch.zeros(0, 2), torch.zeros(0)))


class Pictures(Dataset):
    """Pillow images and their classes, as a torchvision data set without transforms gives them."""

    def __init__(self, arrays, modes):
        self.arrays, self.modes = arrays, modes

    def __len__(self):
        return len(self.arrays)

    def __getitem__(self, i):
        from PIL import Image

        return Image.fromarray(self.arrays[i]).convert(self.modes[i % len(self.modes)]), i % 2


def test_pillow_images_are_read_as_torchvisions_to_tensor_reads_them():
    """Read as arrays, a Dataset's Pillow images were (H, W, C) of 0..255, so a CNN took their 12 rows for
    channels; they are (C, H, W) in [0, 1] (ToTensor's layout, as a folder of images reads), gray
    replicated where colour images are mixed in; images of two sizes are refused, naming both items."""
    pytest.importorskip("PIL")
    arrays = np.random.default_rng(0).integers(0, 256, (6, 12, 10, 3), dtype=np.uint8)
    to_tensor = arrays.transpose(0, 3, 1, 2).astype(np.float32) / 255  # torchvision's ToTensor
    data = from_torch_dataset(Pictures(arrays, ["RGB"]))
    assert data.image_shape == data.input_shape == (3, 12, 10)
    np.testing.assert_allclose(data.examples.x.numpy(), to_tensor, rtol=1e-6)
    mixed = from_torch_dataset(Pictures(arrays, ["RGB", "L"])).examples.x.numpy()
    from PIL import Image

    gray = np.asarray(Image.fromarray(arrays[1]).convert("L"), dtype=np.float32) / 255
    np.testing.assert_allclose(mixed[1], np.broadcast_to(gray, (3, 12, 10)), rtol=1e-6)
    np.testing.assert_allclose(mixed[0], to_tensor[0], rtol=1e-6)
    sizes = [arrays[0], arrays[1, :8]]
    with pytest.raises(
        InvalidValueError, match=r"'10x8' for image size of item 1 of torch_dataset: accepted 10x12 .* item 0"
    ):
        from_torch_dataset(Pictures(sizes, ["RGB"]))


def test_pillow_images_of_mixed_modes_get_the_note_a_folder_of_them_gets(tmp_path):
    """A folder of images in mixed modes said which were read in another mode than their own; the same
    images from a Dataset, by from_torch_dataset or returned by a factory (as_data), said nothing. Truth:
    the folder's reading of the same images saved as files, and their count by mode."""
    pytest.importorskip("PIL")
    from optimlab.data import load_image_folder
    from optimlab.data.user_factory import as_data

    arrays = np.random.default_rng(0).integers(0, 256, (6, 4, 5, 3), dtype=np.uint8)
    pictures = Pictures(arrays, ["RGB", "L", "L"])
    for i in range(len(pictures)):
        image, label = pictures[i]
        (tmp_path / str(label)).mkdir(exist_ok=True)
        image.save(tmp_path / str(label) / f"{i}.png")
    folder = load_image_folder(tmp_path).reading
    note = f"{sum(pictures[i][0].mode == 'L' for i in range(6))} of 6 images, of mode L, read as RGB"
    assert note == "4 of 6 images, of mode L, read as RGB" and folder.endswith(f"; {note}")
    assert from_torch_dataset(pictures).reading == note
    read = as_data(pictures, "pictures")
    assert read.reading == note and read.image_shape == (3, 4, 5)  # images, channels first, as the folder's
    assert as_data((pictures, Pictures(arrays, ["RGB"])), "pictures").reading == (
        "4 of 12 images, of mode L, read as RGB"  # the note over every split, as a folder's
    )
    tensors = (torch.rand(6, 3, 4, 5), torch.arange(6) % 2)  # a split of no images: the note names its split
    assert as_data((pictures, tensors), "pictures").reading == f"split 0 (train): {note}"
    assert from_torch_dataset(Pictures(arrays, ["L"])).reading is None  # one mode: nothing converted


def test_splits_of_gray_and_colour_images_are_read_as_a_folders_train_and_val_are(tmp_path):
    """A factory returning a Dataset of L images and one of RGB images was refused ('rows of split 0's
    shape, (1, 4, 5)'), each split read in its own richest mode, where a folder of train/ (L) and val/
    (RGB) reads. Truth: load_image_folder of the same images saved so: its pixels and its note."""
    pytest.importorskip("PIL")
    from optimlab.data import load_image_folder
    from optimlab.data.user_factory import as_data

    arrays = np.random.default_rng(0).integers(0, 256, (4, 4, 5, 3), dtype=np.uint8)
    gray, colour = Pictures(arrays, ["L"]), Pictures(arrays, ["RGB"])
    for part, pictures in (("train", gray), ("val", colour)):
        for i in range(len(pictures)):
            image, label = pictures[i]
            (tmp_path / part / str(label)).mkdir(parents=True, exist_ok=True)
            image.save(tmp_path / part / str(label) / f"{i}.png")
    folder = load_image_folder(tmp_path)
    read = as_data((gray, colour), "pictures")
    assert read.image_shape == folder.image_shape == (3, 4, 5)
    assert f"; {read.reading};" in folder.reading and read.reading == "4 of 8 images, of mode L, read as RGB"
    order = [np.argsort(split.y.numpy(), kind="stable") for split in (read.train, folder.train)]
    torch.testing.assert_close(read.train.x[order[0]], folder.train.x[order[1]])
    order = [np.argsort(split.y.numpy(), kind="stable") for split in (read.val, folder.val)]
    torch.testing.assert_close(read.val.x[order[0]], folder.val.x[order[1]])


class Endless(IterableDataset):
    """A stream that never ends, as a generator of fresh samples is; it stops the test only past ten
    times the bound (a reader that ignored the bound hung the verb)."""

    def __init__(self, bound):
        self.bound = bound

    def __iter__(self):
        for i in range(10 * self.bound):
            yield torch.tensor([float(i)]), i % 2
        raise AssertionError("read past the bound")


def test_an_endless_iterable_dataset_is_refused_past_the_bound_not_read_forever(monkeypatch):
    """Read into memory, an endless IterableDataset hung `--dataset mydata:load`; past MOST_STREAMED rows
    it is refused in one line saying the bound and how to end it, and a stream of exactly that many is read."""
    from optimlab.data import torch_dataset

    monkeypatch.setattr(torch_dataset, "MOST_STREAMED", 50)
    with pytest.raises(InvalidValueError) as refused:
        from_torch_dataset(Endless(50), name="stream")
    assert str(refused.value) == (
        "invalid value 'a stream still yielding after 50 rows (endless?)' for stream: accepted a finite "
        "stream of at most 50 rows, read into memory once: end its __iter__ where the data ends "
        "(itertools.islice(rows, n)), or give a map-style Dataset."
    )

    class Fifty(IterableDataset):
        def __iter__(self):
            return iter([(torch.tensor([float(i)]), i % 2) for i in range(50)])

    assert from_torch_dataset(Fifty()).examples.x[:, 0].tolist() == list(range(50))


class Named(Dataset):
    """Items whose targets are class names, as a Dataset over a CSV's label column gives them."""

    def __init__(self, names):
        self.names = names

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        return torch.tensor([float(i)]), self.names[i]


def test_class_names_as_targets_are_classes_in_sorted_order_and_mixed_kinds_refused():
    """A Dataset of (input, 'cat') items raised torch's "can't convert np.ndarray of type numpy.str_";
    class names are classes, ids in sorted order as for an (x, y) pair of them; a number among the names
    is refused naming its item."""
    names = ["dog", "cat", "emu", "cat", "dog", "emu"]
    data = from_torch_dataset(Named(names))
    assert data.task == "classification" and data.num_classes == 3
    assert data.examples.y.tolist() == [sorted(set(names)).index(n) for n in names]
    with pytest.raises(
        InvalidValueError, match=r"'3 among class names' for target of item 2 of torch_dataset"
    ):
        from_torch_dataset(Named(["dog", "cat", 3]))


class Sequences(Dataset):
    """Items of several lengths, or of three parts (input, target, weight)."""

    def __init__(self, lengths, parts=2):
        self.lengths, self.parts = lengths, parts

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i):
        return (torch.ones(self.lengths[i]), i % 2, 0.5)[: self.parts]


def test_inputs_of_several_shapes_and_items_of_three_parts_are_refused_naming_the_item():
    """Inputs of several lengths raised torch.stack's 'stack expects each tensor to be equal size'; items
    (input, target, weight) were named only 'tuple'. Each is refused naming the item, its shape or
    parts, and what holds them: one shape, or dict batches."""
    with pytest.raises(InvalidValueError) as refused:
        from_torch_dataset(Sequences([3, 3, 5, 3]), name="seqs")
    assert str(refused.value).startswith(
        "invalid value 'shape (5,)' for input of item 2 of seqs: accepted the shape of every input, item 0's (3,)"
    )
    with pytest.raises(InvalidValueError) as refused:
        from_torch_dataset(Sequences([3, 3], parts=3), name="weighted")
    assert str(refused.value).startswith(
        "invalid value 'a tuple of 3 (float32 (3,), int, float)' for item 0 of weighted: accepted an "
        "(input, target) pair; several inputs, or weights or masks beside the target, train as dict batches"
    )


class Items(Dataset):
    """Six items, each ``item(i)``."""

    def __init__(self, item):
        self.item = item

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return self.item(i)


def test_targets_of_another_shape_or_kind_and_values_without_numbers_are_refused_naming_the_item():
    """Targets of two shapes raised torch.stack's 'stack expects each tensor to be equal size'; a None
    target or input, torch's "can't convert np.ndarray of type numpy.object_"; a float among integer class
    ids was promoted by torch.stack, every label read as a regression target. Each is refused naming the
    item; integer targets of two dtypes (NumPy's int32 beside Python's int) stay class ids."""
    with pytest.raises(InvalidValueError) as refused:
        from_torch_dataset(Items(lambda i: (torch.ones(3), torch.tensor([0]) if i == 0 else torch.tensor(1))))
    assert str(refused.value).startswith(
        "invalid value 'an int64 tensor of shape ()' for target of item 1 of torch_dataset: accepted a target "
        "of item 0's shape (1,) and kind (integer)"
    )
    with pytest.raises(InvalidValueError, match=r"float64 tensor of shape \(\)' for target of item 3 of"):
        from_torch_dataset(Items(lambda i: (torch.ones(3), 0.0 if i == 3 else i % 3)))
    with pytest.raises(
        InvalidValueError, match="^invalid value None for target of item 2 of torch_dataset: "
    ):
        from_torch_dataset(Items(lambda i: (torch.ones(3), None if i == 2 else 1)))
    with pytest.raises(InvalidValueError, match="^invalid value None for input of item 0 of torch_dataset: "):
        from_torch_dataset(Items(lambda i: (None, 1)))
    data = from_torch_dataset(Items(lambda i: (torch.ones(3), np.int32(i % 3) if i % 2 else i % 3)))
    assert data.task == "classification" and data.examples.y.tolist() == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize(("shape", "image_shape"), [((6, 3, 4, 5), (3, 4, 5)), ((6, 2, 4, 5), None)])
def test_a_datasets_images_channels_first_are_images_as_an_npz_of_them_reads(tmp_path, shape, image_shape):
    """from_torch_dataset(TensorDataset(rand(6, 3, 4, 5), y)) read '6 rows of 3x4x5 values' (image shape
    None) where as_data of the same Dataset read images of 3x4x5. Truth: load_numpy's image shape of
    the same arrays; 2 channels are no images for both."""
    from optimlab.data import load_numpy
    from optimlab.data.user_factory import as_data

    x, y = np.random.default_rng(0).random(shape, dtype=np.float32), np.arange(6) % 2
    np.savez(tmp_path / "same.npz", x=x, y=y)
    assert load_numpy(tmp_path / "same.npz").image_shape == image_shape
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert from_torch_dataset(dataset).image_shape == as_data(dataset, "mine").image_shape == image_shape
