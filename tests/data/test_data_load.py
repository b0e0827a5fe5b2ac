"""optimlab.data.load: one entry point for names and paths, with clear errors."""

from pathlib import Path

import numpy as np
import pytest

import optimlab.data
import optimlab.data.sources
from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.workloads import get_workload


def test_names_ignore_case_and_dashes_and_accept_aliases():
    a = optimlab.data.load("Two-Spirals", n=100)
    b = optimlab.data.load("spirals", n=100)
    assert a.name == "two_spirals" and (a.train.x == b.train.x).all()


def test_hyperparameters_reach_the_data_set():
    s = optimlab.data.load("two_spirals", n=100, val_fraction=0.0, test_fraction=0.0)
    assert len(s.train) == 100


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="unknown dataset 'mnist_1dd'. Did you mean 'mnist_1d'"):
        optimlab.data.load("mnist_1dd")


def test_unknown_hyperparameter_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean 'noise'"):
        optimlab.data.load("two_spirals", nosie=0.1)


def test_out_of_range_hyperparameter_names_the_range():
    with pytest.raises(InvalidValueError, match="'noise'.*accepted a number in \\[0, inf\\)"):
        optimlab.data.load("two_spirals", noise=-1.0)


def test_bad_fractions_fail_before_loading():
    with pytest.raises(InvalidValueError, match="data_fraction"):
        optimlab.data.load("mnist1d", data_fraction=0)


def test_a_bad_seed_fails_before_reading_a_file(tmp_path):
    """The whole file was read before torch's generator raised RuntimeError on seed=1.5."""
    path = tmp_path / "rows.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(InvalidValueError, match=r"invalid value 1\.5 for seed: accepted an integer in \[0, "):
        optimlab.data.load(path, seed=1.5)


@pytest.mark.parametrize("name", ["rows.csv.gz", "rows.tsv.gz"])
def test_a_gzipped_table_is_read_as_pandas_reads_it(tmp_path, name):
    """pandas writes and reads rows.csv.gz; optimlab took it for an IDX file by its .gz and asked for 'the IDX
    labels file that goes with rows.csv.gz'."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, 3)).round(4), columns=["a", "b", "c"]).assign(
        label=rng.integers(0, 2, 30)
    )
    frame.to_csv(tmp_path / name, index=False, sep="," if name.startswith("rows.csv") else "\t")
    truth = pd.read_csv(tmp_path / name, sep=None, engine="python")
    assert optimlab.data.sources.takes_target(tmp_path / name)
    s = optimlab.data.load(tmp_path / name, target="label", val_fraction=0.0, test_fraction=0.0)
    assert len(s.train) == 30 and s.num_classes == 2
    rows, expected = np.c_[s.train.x.numpy(), s.train.y.numpy()], truth.to_numpy()
    np.testing.assert_allclose(rows[rows[:, 0].argsort()], expected[expected[:, 0].argsort()], rtol=1e-6)


def test_files_are_dispatched_by_suffix_and_take_their_loaders_options(tmp_path):
    (tmp_path / "d.csv").write_text("y,a\n0,1\n1,2\n0,3\n1,4\n0,5\n")
    s = optimlab.data.load(tmp_path / "d.csv", target="y", val_fraction=0.0, test_fraction=0.0)
    assert s.task == "classification" and sorted(s.train.x[:, 0].tolist()) == [1, 2, 3, 4, 5]
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.array([0.5, 1, 2, 3]))
    assert (
        optimlab.data.load(str(tmp_path / "d.npz"), test_fraction=0.0, val_fraction=0.0).task == "regression"
    )


def test_unknown_loader_option_lists_the_accepted_ones(tmp_path):
    (tmp_path / "d.csv").write_text("1,0\n2,1\n")
    with pytest.raises(UnknownNameError, match="option for d.csv 'targte'.*Did you mean 'target'"):
        optimlab.data.load(tmp_path / "d.csv", targte=0)


def test_missing_file_and_unknown_kind_of_file(tmp_path):
    with pytest.raises(InvalidValueError, match="there is none at"):
        optimlab.data.load(tmp_path / "absent.csv")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(
        InvalidValueError, match=r"a file of a known kind: .csv, .tsv \(optionally .gz\), .npy, .npz, IDX"
    ):
        optimlab.data.load(tmp_path / "notes.txt")


def test_a_data_factory_named_by_its_file_gets_the_import_path_to_write(tmp_path, monkeypatch):
    """'./mydata.py:load' (a recipe's data.name, load()'s argument) was refused as 'a file of a known
    kind', where the CLI's --dataset and --model say the import path to write (371a123, 67d28ac)."""
    (tmp_path / "mydata.py").write_text("def load(seed):\n    return None\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OptimlabError, match="import path names a module, not its file: mydata:load$"):
        optimlab.data.load("./mydata.py:load")


def test_a_path_from_the_home_folder_is_read_as_pandas_and_the_cli_read_it(tmp_path, monkeypatch):
    """'~/rows.csv' (a recipe's data.name, a quoted --dataset, which the CLI's checks expand) was refused as
    'there is none at <cwd>/~/rows.csv', and '~/pets', a folder of class folders, as 'a file of a known
    kind'; pandas.read_csv reads '~/rows.csv', and the image folder and cifar10 readers expand '~'."""
    from PIL import Image

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "rows.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    splits = optimlab.data.load("~/rows.csv", val_fraction=0.0, test_fraction=0.0)
    assert sorted(splits.train.x[:, 0].tolist()) == [1.0, 3.0, 5.0, 7.0]
    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        Image.new("L", (2, 2), 9).save(tmp_path / "pets" / name / "1.png")
    assert optimlab.data.sources.file_options("~/pets") == ["size"]
    assert optimlab.data.load("~/pets", val_fraction=0.0, test_fraction=0.0).num_classes == 2


def test_a_file_of_one_class_is_refused_naming_the_way_to_regress(tmp_path):
    """One class gives a loss of 0 from the first step: nothing would be learnt, silently."""
    (tmp_path / "one.csv").write_text("a,b,label\n1,2,7\n3,4,7\n5,6,7\n")
    with pytest.raises(
        InvalidValueError, match=r"'one class in all 3 rows' for targets of one.csv: .*task='regression'"
    ):
        optimlab.data.load(tmp_path / "one.csv")
    regression = optimlab.data.load(
        tmp_path / "one.csv", task="regression", val_fraction=0.0, test_fraction=0.0
    )
    assert sorted(regression.train.y.flatten().tolist()) == [7.0, 7.0, 7.0]


def test_what_a_users_factory_returned_is_said_as_a_files_reading_is(write_modules):
    """A factory's (x, y) data was read without a word, so integer targets of 40 values (amounts, meant
    to regress) trained as 40 classes unseen; its reading is said as a file's is: rows, features, task and
    classes; a factory's own splits too, and dict batches (kept as they are), which were said nothing of,
    by their keys, each split's length and their target (truth: the splits load returns)."""
    write_modules(
        said_factories="""
        import torch

        def amounts():
            return torch.arange(80.0)[:, None], torch.arange(80) % 40

        def own_splits():
            x, y = torch.randn(30, 2), torch.arange(30) % 2
            return (x[:20], y[:20]), (x[20:], y[20:])

        def items():  # batches of 2 rows (one row of 2 features beside a (1,) label is one example)
            return [{"x": torch.zeros(2, 3), "labels": torch.tensor([i % 2, 1])} for i in range(4)], [
                {"x": torch.zeros(2, 3), "labels": torch.tensor([1, 0])}
            ]

        class Rows(torch.utils.data.Dataset):
            def __len__(self):
                return 10

            def __getitem__(self, i):
                return {"ids": torch.zeros(3, dtype=torch.long), "y": torch.zeros(3)}

        def dataset():
            return Rows()
        """
    )
    seen = []
    with optimlab.data.sources.noting_files(seen.append):
        optimlab.data.load("said_factories:amounts", seed=0)
        optimlab.data.load("said_factories:own_splits", seed=0)
        batches = optimlab.data.load("said_factories:items", seed=0)
        items = optimlab.data.load("said_factories:dataset", seed=0)
    assert [len(batches.train), len(batches.val)] == [4, 1] and batches.test is None
    assert [len(items.train), len(items.val), len(items.test)] == [6, 2, 2]
    assert seen == [
        "said_factories:amounts, 80 rows x 1 feature (classification, 40 classes)",
        "said_factories:own_splits, 30 rows x 2 features (classification, 2 classes)",
        "said_factories:items, dict batches of labels, x: train 4 batches, val 1 batch (classification on "
        "'labels')",
        "said_factories:dataset, dict items of ids, y: train 6 items, val 2 items, test 2 items (target 'y')",
    ]


@pytest.mark.parametrize("held", [[], ["batches.meta", "readme.html"], [".hidden/"]])
def test_a_folder_holding_no_class_folder_and_no_cifar10_batch_is_refused_by_the_early_check(tmp_path, held):
    """An empty folder, or CIFAR-10's folder without its batch files (batches.meta and readme.html left),
    passed check_data_path, the CLI's check before any work, and was refused later in the image folder
    reader's words ('no sub-folder' for 'image folder'). Truth: check_data_path's one wording, load's too."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in held:
        (folder / name).mkdir() if name.endswith("/") else (folder / name).write_text("x")
    with pytest.raises(InvalidValueError) as early:
        optimlab.data.sources.check_data_path(str(folder), "--dataset")
    assert (early.value.field, early.value.value) == ("--dataset", str(folder))
    assert (
        "class folders of images or of CIFAR-10 python-version batches (data_batch_1" in early.value.accepted
    )
    with pytest.raises(InvalidValueError) as loaded:
        optimlab.data.load(str(folder))
    assert (loaded.value.field, loaded.value.accepted) == ("data.name", early.value.accepted)


def test_a_path_from_the_home_folder_is_named_as_typed_in_every_refusal(tmp_path, monkeypatch):
    """'~/rows.csv' missing was named '~/rows.csv' by the CLI's check and '/home/me/rows.csv' by load (a
    recipe's data), and a class folder without images '/home/me/pets/dog': two spellings of one path.
    Truth: the path as typed, the CLI's spelling; where it was looked for is still said in full."""
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(InvalidValueError) as missing:
        optimlab.data.load("~/rows.csv")
    assert missing.value.value == "~/rows.csv"
    assert f"there is none at {str(tmp_path / 'rows.csv')!r}" in missing.value.accepted
    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
    with pytest.raises(InvalidValueError) as no_images:
        optimlab.data.load("~/pets")
    assert no_images.value.field == "class folder '~/pets/cat'" and str(tmp_path) not in str(no_images.value)


def test_a_home_folder_path_is_respelt_only_where_it_begins_a_path():
    """With HOME=/ and '~', every '/' of a refusal became '~': "class folder '/dog'" read "'~dog'" and
    "PPM/PGM" "PPM~PGM". Truth: the expanded path is respelt only where a path begins with it whole."""
    refusal = InvalidValueError("class folder '/dog'", None, "PNG or PPM/PGM files")
    with pytest.raises(InvalidValueError) as named, optimlab.data.sources._named_as_typed("~", Path("/")):
        raise refusal
    assert named.value is refusal
    home = "/home/me/pets"
    typed = optimlab.data.sources._named_as_typed("~/pets", Path(home))
    with pytest.raises(InvalidValueError) as named, typed:
        raise InvalidValueError(f"class folder '{home}/cat'", f"{home}shop", f"not {home}")
    assert (named.value.field, named.value.value, named.value.accepted) == (
        "class folder '~/pets/cat'",
        f"{home}shop",
        "not ~/pets",
    )


def test_a_missing_labels_file_is_named_as_typed(tmp_path, monkeypatch):
    """labels_path='~/labels-idx1-ubyte' missing was named by its expanded path ('/home/me/...'), where
    the data's own path is named as typed. Truth: the text given."""
    monkeypatch.setenv("HOME", str(tmp_path))
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(b"")
    with pytest.raises(InvalidValueError) as missing:
        optimlab.data.load(str(images), labels_path="~/labels-idx1-ubyte")
    assert (missing.value.field, missing.value.value) == ("labels_path", "~/labels-idx1-ubyte")


_IDX_IMAGES = "train-images-idx3-ubyte"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda path: optimlab.data.load(path), "data.name"),
        (lambda path: optimlab.data.load(_IDX_IMAGES, labels_path=path), "labels_path"),
        (lambda path: optimlab.data.sources.check_data_path(path, "--dataset"), "--dataset"),
        (lambda path: optimlab.data.sources.file_options(path), "data.name"),
        (lambda path: optimlab.data.load_image_folder(path), "image folder"),
        (lambda path: optimlab.data.load("cifar10", path=path), "data.options.path"),
        (lambda path: get_workload("mnist_mlp", path=path), "workload 'mnist_mlp' option 'path'"),
    ],
)
def test_a_home_of_no_user_is_refused_naming_the_field(call, field, tmp_path, monkeypatch):
    """load('~nosuchuser/x.csv') (a recipe's data.name) and check_data_path('~nosuchuser') ended in
    pathlib's RuntimeError 'Could not determine home directory.'. Truth: the password database knows no
    such user."""
    import pwd

    user = "optimlab-no-such-user"
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    monkeypatch.chdir(tmp_path)
    Path(_IDX_IMAGES).write_bytes(b"")
    path = f"~{user}/x.csv"
    with pytest.raises(InvalidValueError) as refused:
        call(path)
    assert (refused.value.value, refused.value.field) == (path, field)
    assert f"~{user} names no user of this machine" in refused.value.accepted
