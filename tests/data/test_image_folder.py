"""Image folders: one sub-folder per class, read with Pillow into float32 NCHW in [0, 1], as torchvision's
ImageFolder finds its classes; every refusal names the file or folder."""

import numpy as np
import pytest
import torch

from optimlab.data import load
from optimlab.data.image_folder import load_image_folder
from optimlab.data.sources import noting_files
from optimlab.errors import InvalidValueError

Image = pytest.importorskip("PIL.Image")


def save(path, pixels):
    """Write ``pixels`` (uint8, H x W or H x W x C) as an image at ``path``; the array is the truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return np.asarray(pixels, dtype=np.uint8)


def two_classes(root, n=6, size=8, seed=0):
    """Class 'zebra' dark, class 'ant' bright (sorted: ant = 0, zebra = 1), written zebra first."""
    rng = np.random.default_rng(seed)
    truth = {}
    for name, low in (("zebra", 0), ("ant", 160)):
        for i in range(n):
            truth[(name, i)] = save(root / name / f"{i}.png", rng.integers(low, low + 96, (size, size)))
    return truth


def test_pixels_and_labels_are_what_was_written_in_sorted_class_order(tmp_path):
    truth = two_classes(tmp_path)
    data = load_image_folder(tmp_path)
    assert data.image_shape == (1, 8, 8) and data.examples.x.shape == (12, 1, 8, 8)
    assert data.examples.x.dtype == torch.float32 and data.num_classes == 2
    expected_x = np.stack([truth[("ant", i)] for i in range(6)] + [truth[("zebra", i)] for i in range(6)])
    assert torch.equal(data.examples.x[:, 0], torch.from_numpy(expected_x.astype(np.float32) / 255))
    assert data.examples.y.tolist() == [0] * 6 + [1] * 6  # sorted(["zebra", "ant"]): ant first
    assert data.reading == "classes from the folders ant, zebra"


def test_colour_gray_palette_and_alpha_channels(tmp_path):
    rng = np.random.default_rng(1)
    rgb = save(tmp_path / "rgb" / "a" / "1.png", rng.integers(0, 256, (4, 5, 3)))
    save(tmp_path / "rgb" / "b" / "1.jpg", rng.integers(0, 256, (4, 5, 3)))
    data = load_image_folder(tmp_path / "rgb")
    assert data.image_shape == (3, 4, 5)  # channels, height, width
    assert torch.equal(data.examples.x[0], torch.from_numpy(rgb.transpose(2, 0, 1) / 255).float())
    # gray beside colour: replicated into red, green and blue (no loss); an opaque alpha says nothing
    gray = save(tmp_path / "mixed" / "a" / "1.png", rng.integers(0, 256, (4, 4)))
    opaque = np.concatenate([rng.integers(0, 256, (4, 4, 3)), np.full((4, 4, 1), 255)], axis=2)
    save(tmp_path / "mixed" / "b" / "1.png", opaque)
    mixed = load_image_folder(tmp_path / "mixed")
    assert mixed.image_shape == (3, 4, 4)
    assert torch.equal(mixed.examples.x[0], torch.from_numpy(np.stack([gray] * 3) / 255).float())
    assert torch.equal(
        mixed.examples.x[1], torch.from_numpy(opaque[:, :, :3].transpose(2, 0, 1) / 255).float()
    )
    # a transparent pixel: the alpha is kept as a fourth channel, an opaque one added to the others
    see_through = opaque.copy()
    see_through[0, 0, 3] = 0
    save(tmp_path / "mixed" / "b" / "2.png", see_through)
    with_alpha = load_image_folder(tmp_path / "mixed")
    assert with_alpha.image_shape == (4, 4, 4)
    assert with_alpha.examples.x[0, 3].eq(1).all() and with_alpha.examples.x[2, 3, 0, 0] == 0
    # the reading says which images were read in another mode than their own (a model then takes 4
    # channels where the user's gray image has 1), each file's mode as Pillow opens it: the opaque RGBA
    # file is RGBA to the user, read as RGB beside gray and as itself beside the transparent one
    modes = [Image.open(file).mode for file in sorted((tmp_path / "mixed").glob("*/*.png"))]
    assert modes == ["L", "RGBA", "RGBA"]
    assert mixed.reading.endswith("; 2 of 2 images, of modes L, RGBA, read as RGB")
    assert with_alpha.reading.endswith("; 1 of 3 images, of mode L, read as RGBA")
    assert "read as" not in data.reading
    # a palette image is the colours it shows, as Pillow converts it
    palette = Image.fromarray(rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)).quantize(8)
    (tmp_path / "pal" / "a").mkdir(parents=True)
    palette.save(tmp_path / "pal" / "a" / "1.gif")
    save(tmp_path / "pal" / "b" / "1.bmp", rng.integers(0, 256, (4, 4, 3)))
    shown = np.asarray(palette.convert("RGB")).transpose(2, 0, 1) / 255
    assert torch.equal(load_image_folder(tmp_path / "pal").examples.x[0], torch.from_numpy(shown).float())


def test_train_and_test_folders_are_the_splits(tmp_path):
    for split, n in (("train", 10), ("test", 4)):
        two_classes(tmp_path / split, n=n, seed=len(split))
    splits = load(tmp_path, seed=0, val_fraction=0.2)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 4, 8)
    assert splits.test.y.tolist() == [0] * 4 + [1] * 4  # the test folder as it is
    assert torch.equal(splits.test.x, load_image_folder(tmp_path / "test").examples.x)
    two_classes(tmp_path / "val", n=3, seed=7)
    fixed = load(tmp_path, seed=0)
    assert (len(fixed.train), len(fixed.val), len(fixed.test)) == (20, 6, 8)
    with pytest.raises(InvalidValueError, match="fixed splits"):
        load(tmp_path, seed=0, val_fraction=0.1)
    save(tmp_path / "test" / "bee" / "1.png", np.zeros((8, 8)))
    with pytest.raises(
        InvalidValueError,
        match=r"'bee' for class folders of .*test'?: accepted classes of train/: ant, zebra",
    ):
        load(tmp_path, seed=0)


def test_different_sizes_are_refused_naming_both_files_unless_resized(tmp_path):
    save(tmp_path / "a" / "1.png", np.zeros((8, 8)))
    save(tmp_path / "b" / "1.png", np.full((6, 10), 255))
    with pytest.raises(
        InvalidValueError,
        match=r"'10x6' for image size of '.*b/1.png': accepted 8x8 \(width x height\) as '.*a/1.png'",
    ):
        load_image_folder(tmp_path)
    resized = load_image_folder(tmp_path, size=[4, 5])
    assert resized.image_shape == (1, 4, 5) and resized.reading.endswith("resized to 4x5")
    assert resized.examples.x[1].eq(1).all() and resized.examples.x[0].eq(0).all()
    for given, plain in (([np.int64(4), np.int64(5)], [4, 5]), (np.int64(4), 4)):  # NumPy's ints were refused
        assert torch.equal(
            load_image_folder(tmp_path, size=given).examples.x,
            load_image_folder(tmp_path, size=plain).examples.x,
        )
    with pytest.raises(InvalidValueError) as refused:  # the option named, as a recipe writes it
        load_image_folder(tmp_path, size=[4, 0])
    assert str(refused.value) == (
        f"invalid value [4, 0] for size of {str(tmp_path)!r} (data.options.size): accepted a positive whole "
        "number, or [HEIGHT, WIDTH] of them."
    )


def test_a_size_whose_images_exceed_the_machines_memory_is_refused_before_any_is_resized(tmp_path):
    """size: [2**20, 2**20] (a typo's order of size) resized each image first, for minutes, then failed
    to allocate or swapped: 4 images of 2**40 float32 pixels are 16 TiB, more than any machine's memory,
    refused in one line before any image is read."""
    from optimlab.models.sizing import device_memory

    two_classes(tmp_path, n=2)
    memory = device_memory(torch.device("cpu")) / 2**30
    with pytest.raises(InvalidValueError) as refused:
        load_image_folder(tmp_path, size=2**20)
    assert str(refused.value) == (
        f"invalid value {2**20} for size of {str(tmp_path)!r} (data.options.size): accepted a size whose 4 "
        f"images fit in memory: as float32 they take at least 16,384.0 GiB, more than this machine's "
        f"{memory:,.1f} GiB."
    )


def test_bad_folders_and_files_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidValueError, match=r"'no sub-folder' for image folder .*empty'"):
        load_image_folder(tmp_path / "empty")
    save(tmp_path / "flat" / "1.png", np.zeros((4, 4)))
    with pytest.raises(InvalidValueError, match=r"'1 images and no sub-folder' for image folder"):
        load_image_folder(tmp_path / "flat")
    save(tmp_path / "one" / "cat" / "1.png", np.zeros((4, 4)))
    with pytest.raises(InvalidValueError, match=r"'1 class folder \(cat\)'.*at least two"):
        load_image_folder(tmp_path / "one")
    save(tmp_path / "ok" / "cat" / "1.png", np.zeros((4, 4)))
    (tmp_path / "ok" / "dog").mkdir()
    (tmp_path / "ok" / "dog" / "notes.txt").write_text("to do")
    with pytest.raises(InvalidValueError, match=r"'no images' for class folder '.*ok/dog'"):
        load_image_folder(tmp_path / "ok")
    (tmp_path / "ok" / "dog" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    with pytest.raises(InvalidValueError, match=r"image file '.*ok/dog/2.png'.*accepted a whole image file"):
        load_image_folder(tmp_path / "ok")
    save(tmp_path / "ok" / "dog" / "2.png", np.full((4, 4), 9))
    (tmp_path / "ok" / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "ok" / ".ipynb_checkpoints").mkdir()
    save(tmp_path / "ok" / "dog" / ".thumbnails" / "2.png", np.full((4, 4), 255))  # read as a third image
    save(tmp_path / "ok" / "dog" / "kept" / ".hidden.png", np.full((4, 4), 255))
    data = load_image_folder(tmp_path / "ok")  # hidden entries are no data; the notes are said skipped
    assert data.num_classes == 2 and data.reading.endswith("; 1 other file skipped, not images (notes.txt)")
    for name in ("a.csv", "b.json"):  # sorted by path: cat/a.csv, cat/b.json, dog/notes.txt
        (tmp_path / "ok" / "cat" / name).write_text("{}")
    three = load_image_folder(tmp_path / "ok").reading
    assert three.endswith("; 3 other files skipped, not images (a.csv, b.json and 1 more)")
    for name in ("a.csv", "b.json"):
        (tmp_path / "ok" / "cat" / name).unlink()
    assert len(data.examples) == 2 and data.examples.x.amax() == torch.tensor(9 / 255)
    sixteen_bits = Image.fromarray(np.full((4, 4), 4000, dtype=np.uint16))
    sixteen_bits.save(tmp_path / "ok" / "dog" / "3.png")
    with pytest.raises(InvalidValueError, match=r"'I;16' for image mode of '.*3.png'"):
        load_image_folder(tmp_path / "ok")
    (tmp_path / "ok" / "dog" / "3.png").unlink()
    frames = [Image.new("L", (4, 4), value) for value in (0, 255)]
    frames[0].save(tmp_path / "ok" / "dog" / "4.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidValueError, match=r"'2 frames' for image '.*4.gif': accepted one frame"):
        load_image_folder(tmp_path / "ok")


def test_a_folder_is_loaded_by_path_and_described(tmp_path):
    two_classes(tmp_path / "shapes", n=5)
    seen = []
    with noting_files(seen.append):
        splits = load(tmp_path / "shapes", seed=0)
    assert splits.image_shape == (1, 8, 8) and len(splits.train) + len(splits.val) + len(splits.test) == 10
    assert seen == [
        f"{tmp_path / 'shapes'}, 10 images of 1x8x8, classes from the folders ant, zebra (classification, 2 classes)"
    ]
    load(tmp_path / "shapes", seed=0)  # nobody listens: nothing said
    assert len(seen) == 1


@pytest.mark.parametrize("val", ["valid", "validation", "Valid"])
def test_a_validation_folder_of_another_usual_name_is_the_validation_split(tmp_path, val):
    """train/, valid/, test/ (Kaggle's layout) was read as three classes 'test', 'train', 'valid', their
    class folders merged into each: the model learnt which split an image came from. An .npz's x_valid or
    x_validation was already its validation split; the two readers share the names now."""
    for split, n in (("train", 5), (val, 3), ("test", 2)):
        two_classes(tmp_path / split, n=n, seed=len(split))
    splits = load(tmp_path, seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 6, 4) and splits.num_classes == 2
    assert torch.equal(splits.val.x, load_image_folder(tmp_path / val).examples.x)
    assert splits.reading.endswith(f"split by its train/, {val}/, test/ folders")
    two_classes(tmp_path / "val", n=1)
    with pytest.raises(InvalidValueError) as refused:
        load(tmp_path, seed=0)
    assert str(refused.value) == (
        f"invalid value 'val/ and {val}/' for validation folders of {str(tmp_path)!r}: accepted one of val/, "
        "valid/, validation/."
    )


def test_train_and_val_folders_without_test_say_there_is_no_test_split_and_a_missing_class(tmp_path):
    """Test metrics were missing without a word: the reading says no test split, and names a class that
    a split lacks."""
    two_classes(tmp_path / "train", n=4)
    save(tmp_path / "val" / "ant" / "0.png", np.zeros((8, 8)))
    data = load_image_folder(tmp_path)
    assert len(data.test) == 0
    assert data.reading.endswith(
        "split by its train/, val/ folders, no test split (no test/ folder); val/ has no zebra"
    )


def test_a_comparison_on_a_folder_without_test_reports_the_validation_metric_of_the_fresh_seeds(tmp_path):
    """It ranked on test_accuracy, which no seed had: nothing ranked. As for the user's splits without a
    test split, the tuned validation metric is reported."""
    from optimlab.study.compare import DEFAULT_WORKLOAD, measured_on_its_data, on_user_code
    from optimlab.workloads import workloads_from

    for split in ("train", "val"):
        two_classes(tmp_path / split, n=3)
    (workload,) = on_user_code(workloads_from(DEFAULT_WORKLOAD), dataset=str(tmp_path))
    measured = measured_on_its_data(workload)
    assert (measured.metric, measured.test_metric) == ("val_accuracy", "val_accuracy")


def test_training_on_a_folder_without_test_says_there_is_no_test_split(cli, tmp_path):
    for split in ("train", "val"):
        two_classes(tmp_path / "shapes" / split, n=3)
    folder, out = str(tmp_path / "shapes"), str(tmp_path / "run")
    code, _, err = cli("train", "--dataset", folder, "--steps", "2", "--out", out, "--no-progress")
    assert code == 0, err
    assert "no test split (no test/ folder)" in err and "no test split: no test metrics" in err


def test_split_folders_beside_another_folder_are_refused_not_read_as_classes(tmp_path):
    """train/ and test/ beside notes/ were read as three classes 'notes', 'test', 'train', the class
    folders of each merged into one: the model learnt which folder an image came from. A train/ class
    among others (trains, cars) stays a class."""
    for folder in ("train", "test", "notes"):
        two_classes(tmp_path / "data" / folder, n=2)
    with pytest.raises(InvalidValueError) as refused:
        load(tmp_path / "data", seed=0)
    assert str(refused.value) == (
        f"invalid value 'notes/' for folders of {str(tmp_path / 'data')!r}: accepted train/ and test/ (and "
        "val/) alone, each of class folders, or class folders alone: move the others out."
    )
    for folder in ("train", "car"):
        save(tmp_path / "vehicles" / folder / "0.png", np.zeros((8, 8)))
    assert load_image_folder(tmp_path / "vehicles").reading == "classes from the folders car, train"


@pytest.mark.parametrize("folders", [("train", "test", "car"), ("train", "valid", "invalid")], ids=str)
def test_split_named_folders_of_images_beside_another_are_classes(tmp_path, folders):
    """train/, test/ and car/ each holding images (a train, a test rig, a car) were refused as split
    folders beside another ('car/': move the others out). A folder of images is a class's, whatever its
    name. Truth: the pixels written, in sorted class order."""
    truth = {name: save(tmp_path / name / "0.png", np.full((8, 8), 40 * i)) for i, name in enumerate(folders)}
    data = load_image_folder(tmp_path)
    classes = sorted(folders)
    assert data.reading == f"classes from the folders {', '.join(classes)}"
    assert data.examples.y.tolist() == [0, 1, 2]
    expected = np.stack([truth[name] for name in classes]).astype(np.float32) / 255
    assert torch.equal(data.examples.x[:, 0], torch.from_numpy(expected))


def test_class_names_holding_a_comma_are_quoted_where_classes_are_listed(tmp_path):
    """Siblings of the CSV note's quoting (06cc16b1): a folder of class 'cat, big' read 'classes from the
    folders cat, big, dog' (three names for two classes), and a factory's val split holding it 'holds
    class cat, big, which split 0 (train) lacks'. Truth: the folders on disk and the split's own labels
    name two classes; each is listed as one, the comma inside quoted as Python writes it."""
    from optimlab.data.user_factory import as_data

    names = ["cat, big", "dog"]
    for name in names:
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / name / f"{i}.png")
    assert sorted(path.name for path in tmp_path.iterdir()) == names
    read = load_image_folder(tmp_path).reading
    assert read.startswith(f"classes from the folders {names[0]!r}, {names[1]}")
    x = np.zeros((2, 2), np.float32)
    splits = as_data(((x, np.array(["dog", "dog"])), (x, np.array(names))), "mine")
    assert f"split 1 (val) holds class {names[0]!r}, which split 0 (train) lacks" in splits.reading
