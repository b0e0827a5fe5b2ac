"""The command line: verbs, flags over recipes, and errors that say how to fix the call."""

import json
import os

import numpy as np
import pytest
import torch

from optimlab.data import load
from optimlab.errors import InvalidValueError
from optimlab.registry import categories, get_registry


def test_list_shows_every_registered_name(cli):
    """Each with its hyperparameters' defaults as a JSON mapping (they were one string of Python's repr,
    'lr=0.001, betas=(0.9, 0.999)'). Truth: every registered name is listed; adam's defaults are
    torch.optim.Adam's own (its signature), betas JSON's list; the text listing writes them as Python
    does, betas=(0.9, 0.999)."""
    import inspect

    code, out, _ = cli("list", "--format", "json")
    assert code == 0
    listed = {(category, row["name"]): row for category, rows in json.loads(out).items() for row in rows}
    assert {(category, entry.name) for category in categories() for entry in get_registry(category)} <= set(
        listed
    )
    torchs = inspect.signature(torch.optim.Adam).parameters
    adam = listed["optimizer", "adam"]["hyperparameters"]
    assert adam["betas"] == [0.9, 0.999] == list(torchs["betas"].default)
    assert adam["lr"] == torchs["lr"].default and adam["eps"] == torchs["eps"].default
    code, out, _ = cli("list", "optimizer", "--filter", "adam")
    assert code == 0 and "betas=(0.9, 0.999)" in out.replace("\n", " "), out


def test_list_writes_a_default_json_has_no_type_for(cli, monkeypatch, tmp_path):
    """A default that is no JSON (a dtype) made the catalog's json.dumps raise TypeError: `optimlab list`
    ended in a traceback. Truth: Python's repr of it, in the text listing and in the JSON one."""
    registry = get_registry("init")
    monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    registry.register(
        "typed_zeros", summary="Zeros of a dtype.", obj=lambda weight, dtype=torch.float64: weight
    )
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path))  # the catalog written and read back
    code, out, err = cli("list", "init", "--filter", "typed_zeros")
    assert (code, err) == (0, "") and "dtype=torch.float64" in out, err
    code, out, err = cli("list", "init", "--filter", "typed_zeros", "--format", "json")
    assert json.loads(out)["init"][0]["hyperparameters"] == {"dtype": "torch.float64"}, err


def test_list_says_what_a_hyperparameter_left_out_gives_where_its_default_is_none(cli):
    """``list schedules`` showed wsd's ``decay_fraction=None``, which reads as no decay, where leaving it
    out decays the run's last 0.2. Truth: the fraction the words give decays that many of a 20-step run's
    steps in the schedule itself (its decay's first step still at 1)."""
    import re

    from optimlab.schedules import create

    code, out, err = cli("list", "schedule", "--filter", "wsd")
    text = " ".join(out.split())
    assert code == 0 and "decay_fraction=None" not in text, err
    (fraction,) = re.findall(r"decay_fraction left out: ([\d.]+) of the run's steps after any warmup", text)
    code, out, _ = cli("list", "schedule", "--filter", "wsd", "--format", "json")
    (wsd,) = json.loads(out)["schedule"]
    assert wsd["hyperparameters"]["decay_fraction"] is None
    assert wsd["left_out"]["decay_fraction"].startswith(f"{fraction} of the run's steps")
    schedule = create("wsd", total_steps=20)
    assert sum(schedule(step) < 1 for step in range(20)) == round(float(fraction) * 20) - 1


def test_list_takes_each_category_by_its_plural(cli):
    """`optimlab list workloads` was refused with a did-you-mean of 'workload'. Truth: the singular's own
    listing; the plural is English's (losses, doctor_rules); one that adds too much is still refused."""
    from optimlab.cli._catalog import listing

    for category in categories():
        plural = category + ("es" if category.endswith("s") else "s")
        assert listing(plural) == listing(category), category
    assert cli("list", "workloads", "--format", "json") == cli("list", "workload", "--format", "json")
    code, _, err = cli("list", "workloadss")
    assert code == 2 and "Did you mean 'workload'" in err, err


def test_the_data_line_counts_one_feature_in_the_singular(cli, tmp_path):
    """A CSV of one feature was read as '40 rows x 1 features'."""
    rows = np.random.default_rng(0).random((40, 1))
    file = tmp_path / "one.csv"
    file.write_text("x,y\n" + "".join(f"{x},{i % 2}\n" for i, (x,) in enumerate(rows)))
    code, _, err = cli(
        "train", "--dataset", str(file), "--steps", "1", "--out", str(tmp_path / "r"), "--no-progress"
    )
    assert code == 0 and err.splitlines()[0] == (
        f"data: {file}, 40 rows x 1 feature, target column 'y' (classification, 2 classes)"
    ), err


def test_list_filters_with_wildcards(cli):
    code, out, _ = cli("list", "init", "--filter", "kaiming*", "--format", "json")
    (listed,) = json.loads(out).values()
    assert code == 0 and {row["name"] for row in listed} == {"kaiming_uniform", "kaiming_normal"}
    # A table per category it matched in; where it matched nothing, one line saying so, not empty tables.
    code, out, _ = cli("list", "--filter", "kaiming*")
    assert code == 0 and out.lstrip().startswith("init (2)") and "optimizer (" not in out
    code, out, _ = cli("list", "optimizer", "--filter", "zzz*")
    assert (code, out.strip()) == (
        0,
        "no optimizer name matches 'zzz*'; optimlab list optimizer shows them all",
    )
    # a name one letter off matched nothing and suggested nothing, where --optimizer adamm says 'adam'
    code, out, _ = cli("list", "optimizer", "--filter", "Adamm")
    assert code == 0 and "matches 'Adamm' (did you mean 'adam' or " in out, out


def test_train_with_flags_writes_metrics_and_model(cli, tmp_path):
    code, out, err = cli(
        "train",
        "--dataset",
        "iris",
        "--model",
        "mlp",
        "--width",
        "16",
        "--steps",
        "20",
        "--scaling",
        "standardize",
        "--out",
        str(tmp_path / "r"),
        "--no-progress",
        "--format",
        "json",
    )
    assert code == 0, err
    assert (tmp_path / "r" / "metrics.jsonl").exists() and (tmp_path / "r" / "model.pt").exists()
    result = json.loads(out)
    assert result["status"] == "completed" and result["steps"] == 20
    assert {"val_accuracy", "test_accuracy"} <= set(result["metrics"])


@pytest.mark.parametrize("scaling", ["none", "standardize"])
def test_train_that_learnt_nothing_says_so_and_names_the_doctor(cli, tmp_path, scaling):
    """Wine unscaled (a feature of 290..1,680 beside ones of 0.1..3) ends 3 epochs of Adam below the
    majority class's share, which the run only showed as numbers; standardized, the same run learns and
    is told nothing. The share is the training split's, counted here from its labels."""
    from optimlab.build import build_data
    from optimlab.recipe import Recipe

    out = tmp_path / "r"
    argv = ["train", "--dataset", "wine", "--scaling", scaling, "--epochs", "3", "--out", str(out)]
    code, _, err = cli(*argv, "--no-progress", "--format", "json")
    assert code == 0, err
    metrics = json.loads((out / "result.json").read_text())["metrics"]
    labels = build_data(Recipe.load(out / "recipe.yaml")).train.y
    majority = labels.bincount().max().item() / len(labels)
    said = [line for line in err.splitlines() if "majority class" in line]
    if scaling == "none":
        assert metrics["val_accuracy"] <= majority
        (line,) = said
        assert f"val_accuracy {metrics['val_accuracy']:.4g}" in line and f"({majority:.4g} " in line
        assert line.endswith(f"optimlab doctor {out / 'recipe.yaml'} finds why")
    else:
        assert metrics["val_accuracy"] > majority and not said


def test_train_accumulating_batches_takes_a_step_per_group_and_records_it(cli, tmp_path):
    """iris: 90 training rows, 6 batches of 16 an epoch; in groups of 4: 2 optimizer steps an epoch."""
    out = tmp_path / "r"
    argv = ["train", "--dataset", "iris", "--epochs", "3", "--batch-size", "16", "--no-progress"]
    code, printed, err = cli(*argv, "--accumulate-grad-batches", "4", "--out", str(out), "--format", "json")
    assert code == 0, err
    assert json.loads(printed)["steps"] == 3 * 2
    assert "accumulate_grad_batches: 4" in (out / "recipe.yaml").read_text()
    code, _, err = cli(*argv, "--accumulate-grad-batches", "0")
    assert code == 2 and "--accumulate-grad-batches" in err and "[1, inf)" in err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--act", "rleu", "--steps", "1"], "Did you mean 'relu'"),
        (["train", "--optimizer", "adamm", "--steps", "1"], "Did you mean 'adam'"),
        (["trian"], "Did you mean 'train'"),
        (["train", "--lr", "-3"], "--lr"),
        (["train", "no-such-recipe.yaml"], "does not exist"),
        (["compare", "--optimizers", "sgd", "--threads", "0"], "Invalid value for '--threads'"),
        (["bench", "--workloads", "digits_mlp", "--threads", "-1"], "Invalid value for '--threads'"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(cli, argv, expected):
    code, out, err = cli(*argv)
    assert code == 2 and expected in err and "Traceback" not in err + out


def test_plot_schedule_writes_an_image(cli, tmp_path):
    path = tmp_path / "s.png"
    code, _, err = cli(
        "plot-schedule",
        "cosine",
        "constant",
        "--steps",
        "100",
        "--warmup-steps",
        "10",
        "--out",
        str(path),
    )
    assert code == 0, err
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_schedule_on_a_full_disk_keeps_the_former_plot_and_names_the_file_and_flag(
    cli, tmp_path, monkeypatch
):
    """On a full disk plot-schedule cut the former plot in place (savefig straight to --out) and said
    "cannot write: No space left on device", naming no file. Now written as every page is (optimlab.atomic):
    a disk refusing mid-write (savefig writes part of the file, then ENOSPC, naming no file as the OS names
    none) leaves the former bytes and no temporary file; one line names --out and the file, exit 5, stdout
    empty."""
    import errno

    from matplotlib.figure import Figure

    def full_disk(self, fname, **_):
        with open(fname, "wb") as file:
            file.write(b"cut")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "small" / "s.png"
    out.parent.mkdir()
    out.write_bytes(b"the former plot")
    monkeypatch.setattr(Figure, "savefig", full_disk)
    code, stdout, err = cli("plot-schedule", "cosine", "--steps", "10", "--out", str(out))
    assert (code, stdout) == (5, "")
    assert err.startswith(f"error: cannot write --out '{out}': No space left on device;"), err
    assert len(err.splitlines()) == 1
    assert [p.name for p in out.parent.iterdir()] == ["s.png"] and out.read_bytes() == b"the former plot"


def test_plot_schedule_replaces_a_symbolic_link_at_out_not_the_file_it_leads_to(cli, tmp_path):
    """--out at a symbolic link wrote the picture into the file the link leads to, as every writer of
    optimlab.atomic does not: the link is replaced by the picture, its target left as it was."""
    target = tmp_path / "elsewhere.png"
    target.write_bytes(b"not a plot")
    out = tmp_path / "s.png"
    out.symlink_to(target)
    code, _, err = cli("plot-schedule", "cosine", "--steps", "10", "--out", str(out))
    assert code == 0, err
    assert target.read_bytes() == b"not a plot" and not out.is_symlink()
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (["cosine", "wsd", "cosine"], "'cosine' named 2 times"),
        (["step", "step_lr"], "'step' and 'step_lr' name one schedule, step"),  # a name and its alias
    ],
)
def test_plot_schedule_refuses_a_schedule_named_twice(cli, tmp_path, names, said):
    """`plot-schedule cosine cosine` drew one curve without a word, where bench refuses `--optimizers
    sgd,sgd`: refused in one line naming the schedule, exit 2, nothing drawn."""
    out = tmp_path / "s.svg"
    code, stdout, err = cli("plot-schedule", *names, "--out", str(out))
    assert (code, stdout) == (2, "") and len(err.splitlines()) == 1
    assert f"for SCHEDULE: accepted each schedule once ({said})" in err and not out.exists()


def test_a_ctrl_c_that_an_import_swallowed_ends_the_verb_as_an_interruption(cli, tmp_path, monkeypatch):
    """Ctrl-C in plot-schedule's import of matplotlib (numpy half imported) ended on a traceback, exit 1:
    the module's code swallowed the KeyboardInterrupt, and the AttributeError that followed read as a bug.
    A signal that reached an import makes such an error the interruption's: "interrupted", exit 130. The
    import here is a real one, of a module that takes the SIGINT sent to this process and swallows it;
    the error after it is the one a half-imported matplotlib raised."""
    import signal
    import sys

    import optimlab.schedules

    (tmp_path / "swallows_ctrl_c.py").write_text(
        "import signal\ntry:\n    signal.raise_signal(signal.SIGINT)\nexcept KeyboardInterrupt:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "swallows_ctrl_c", raising=False)

    def half_imported(*_, **__):
        import swallows_ctrl_c  # noqa: F401

        raise AttributeError("module 'matplotlib' has no attribute 'get_data_path'")

    monkeypatch.setattr(optimlab.schedules, "plot", half_imported)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # as a command starts
    code, out, err = cli("plot-schedule", "cosine", "--out", str(tmp_path / "s.png"))
    assert (code, out, err) == (130, "", "interrupted\n")


def test_plot_schedule_reads_an_exponent_without_a_dot_as_a_number(cli, tmp_path):
    """YAML 1.2's floats, as recipes read them: PyYAML alone made final=1e-3 the string '1e-3'."""
    code, _, err = cli("plot-schedule", "cosine", "--option", "final=1e-3", "--out", str(tmp_path / "s.svg"))
    assert code == 0, err


@pytest.mark.parametrize("value", ["1_00", "010"])
def test_plot_schedule_refuses_a_number_that_would_not_read_as_written(cli, tmp_path, value):
    """YAML 1.1 read step_size=1_00 as 100 and step_size=010 as 8, and the plot showed that schedule."""
    out = tmp_path / "s.svg"
    code, _, err = cli("plot-schedule", "step", "--option", f"step_size={value}", "--out", str(out))
    assert code == 2 and f"'{value}' would read otherwise" in err and "--option" in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    "args, named",
    [
        (["train", "--set", "optimizer.weight_decay=1e-400"], "'optimizer.weight_decay=1e-400' for --set"),
        (["train", "RECIPE"], "recipe file 'RECIPE': invalid value '1e-400' in the recipe"),
        (
            ["compare", "--compare", "optimizer.weight_decay=0.1,1e-400"],
            "'optimizer.weight_decay=0.1,1e-400' for --compare",
        ),
        (["compare", "--optimizers", "sgd", "--space", "optimizer.lr=1e-400:0.1"], "for --space"),  # a bound
    ],
)
def test_a_value_below_the_smallest_float_is_refused_wherever_it_is_typed(cli, tmp_path, args, named):
    """--wd 1e-400 was refused, but --set, a recipe file, --compare and --space read it as 0: no weight decay."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("optimizer: {name: adamw, weight_decay: 1e-400}\n")
    args = [str(recipe) if arg == "RECIPE" else arg for arg in args]
    code, out, err = cli(*args, "--out", str(tmp_path / "out"))
    assert (code, out) == (2, "") and named.replace("RECIPE", str(recipe)) in err, err
    assert "'1e-400' is below the smallest float and would read as 0" in err and len(err.splitlines()) == 1, (
        err
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("field", "accepted"),
    [
        ("training.epochs", "accepted an integer in [1, inf)"),
        ("schedule.step_size", "accepted an integer in [1, inf)"),
    ],
)
def test_a_count_set_below_the_smallest_float_is_refused_naming_its_whole_numbers(
    cli, tmp_path, field, accepted
):
    """`--set training.epochs=1e-400` was told 'accepted 0 or a number at least about 5e-324', a range of
    real numbers, for a count whose 0 is refused too: it names the count's own range, as for 0.001."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("schedule: {name: step, step_size: 3}\n")
    code, out, err = cli("train", str(recipe), "--set", f"{field}=1e-400", "--out", str(tmp_path / "out"))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert "1e-400" in err and "'1e-400'" not in err and accepted in err and "5e-324" not in err, (
        err
    )  # as typed
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("quoted_in", ["--set", "recipe file"])
def test_a_quoted_value_below_the_smallest_float_is_refused_as_a_bare_one(cli, tmp_path, quoted_in):
    """A number may be quoted ("0.3" reads 0.3), and pydantic read a quoted "1e-400" as 0.0: no weight decay."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text('optimizer: {name: adamw, weight_decay: "1e-400"}\n')
    given = ["--set", 'optimizer.weight_decay="1e-400"'] if quoted_in == "--set" else [str(recipe)]
    code, out, err = cli("train", *given, "--out", str(tmp_path / "out"))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert "optimizer.weight_decay: '1e-400' is below the smallest float and would read as 0" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("given", ["absent.csv", "sub/absent", "notes.txt", "pipe.csv"])
def test_a_dataset_path_no_loader_reads_is_refused_in_the_data_layers_words(
    cli, tmp_path, monkeypatch, given
):
    """--dataset absent.csv said 'a built-in data set or an existing CSV/NumPy/IDX file or image folder',
    optimlab.data.load (a recipe's data) 'there is none at' or 'for data file: accepted a file of a known
    kind': two wordings of one refusal. Truth: load's own refusal, its argument named as the flag."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    os.mkfifo(tmp_path / "pipe.csv")  # no writer: its read waited for ever
    with pytest.raises(InvalidValueError) as loaded:
        load(given)
    code, out, err = cli("train", "--dataset", given, "--out", str(tmp_path / "run"))
    assert (code, out) == (2, "") and err == f"error: {loaded.value}\n".replace(
        " for data.name:", " for --dataset:"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag", ["--set", "--option"])
def test_plot_schedule_takes_a_keyword_by_set_as_every_verb_does(cli, tmp_path, monkeypatch, flag):
    """Every verb writes NAME=VALUE as --set, plot-schedule alone as --option: `--set gamma=0.5` was "No
    such option". --set draws it; --option, which scripts hold, still does, one line on stderr saying it
    is deprecated. Truth: a step decay's closed form, gamma ** (t // step_size) (torch's StepLR)."""
    import optimlab.schedules

    drawn = {}
    monkeypatch.setattr(
        optimlab.schedules, "plot", lambda schedules, steps, path, **_: drawn.update(schedules)
    )
    argv = ("plot-schedule", "step", flag, "step_size=2", flag, "gamma=0.5", "--steps", "6")
    code, _, err = cli(*argv, "--out", str(tmp_path / "s.svg"))
    assert code == 0, err
    assert err == (
        ""
        if flag == "--set"
        else "warning: --option is deprecated: write --set NAME=VALUE (the same values)\n"
    )
    assert [drawn["step"](t) for t in range(6)] == [0.5 ** (t // 2) for t in range(6)]


def test_plot_schedule_gives_each_option_to_the_schedules_that_take_it(cli, tmp_path):
    """cosine wsd --option decay_fraction=0.5 was refused as cosine's unknown hyperparameter, so two
    schedules could be drawn side by side only at their defaults."""
    path = tmp_path / "s.svg"
    code, _, err = cli("plot-schedule", "cosine", "wsd", "--option", "decay_fraction=0.5", "--out", str(path))
    assert code == 0, err
    assert path.is_file()


def test_train_on_a_pandas_csv_says_the_target_it_took_and_records_it(cli, tmp_path):
    """--target by header on a file df.to_csv wrote: one line on stderr says what was read (the index
    left out), stdout stays one JSON document, and the recipe keeps the target for resume and report."""
    pd = pytest.importorskip("pandas")
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame.insert(2, "price", 3 * x[:, 0] - x[:, 1])  # column 3 of the file, not a usual target's name
    frame.to_csv(tmp_path / "houses.csv")
    file = str(tmp_path / "houses.csv")
    code, out, err = cli(
        "train",
        "--dataset",
        file,
        "--target",
        "price",
        "--steps",
        "5",
        "--out",
        str(tmp_path / "r"),
        "--no-progress",
        "--format",
        "json",
    )
    assert code == 0, err
    assert err.splitlines()[0] == (
        f"data: {file}, 120 rows x 4 features, target column 'price'; pandas' row index ('') left out, "
        "not a feature (regression)"
    )
    assert {"val_rmse", "test_rmse"} <= set(json.loads(out)["metrics"])
    from optimlab.recipe import Recipe

    assert Recipe.load(tmp_path / "r" / "recipe.yaml").data.options == {"target": "price"}
    code, _, err = cli("train", "--resume", str(tmp_path / "r"), "--steps", "8", "--no-progress")
    assert code == 0 and "target column 'price'" in err.splitlines()[0]
    code, _, err = cli(
        "train",
        "--dataset",
        file,
        "--target",
        "3",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "p"),
        "--no-progress",
    )
    assert code == 0 and "target column 'price'" in err  # by position, the index column counted


def test_train_on_an_image_folder_learns_with_a_cnn_and_the_users_model(cli, tmp_path, write_modules):
    """Two classes of 8x8 gray images, dark and bright: far above chance (0.5) after a short run."""
    Image = pytest.importorskip("PIL.Image")
    import numpy as np

    rng = np.random.default_rng(0)
    for name, low in (("dark", 0), ("bright", 128)):
        (tmp_path / "shapes" / name).mkdir(parents=True)
        for i in range(30):
            pixels = rng.integers(low, low + 128, (8, 8)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "shapes" / name / f"{i}.png")
    write_modules(
        optimlab_image_nets="""
        import math
        from torch import nn

        def build(input_shape, num_outputs):
            assert tuple(input_shape) == (1, 8, 8), input_shape  # the images as images
            return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_outputs))
        """
    )
    folder = str(tmp_path / "shapes")
    for model in ("cnn", "optimlab_image_nets:build"):
        code, out, err = cli(
            "train",
            "--dataset",
            folder,
            "--model",
            model,
            "--steps",
            "60",
            "--lr",
            "0.05",
            "--out",
            str(tmp_path / model.replace(":", "-")),
            "--no-progress",
            "--format",
            "json",
        )
        assert code == 0, err
        assert err.splitlines()[0] == (
            f"data: {folder}, 60 images of 1x8x8, classes from the folders bright, dark (classification, 2 classes)"
        )
        assert json.loads(out)["metrics"]["test_accuracy"] >= 0.9, model


@pytest.mark.parametrize("dataset", ["diabetes.csv", "teacher_student"])
def test_train_of_a_regression_no_better_than_the_mean_says_so(cli, tmp_path, dataset):
    """scikit-learn's diabetes targets unscaled (mean 152, std 77) after 5 epochs of Adam at 1e-3: the
    outputs hardly leave 0, val MSE 2.4e4 where predicting the training mean scores about 5e3. The line
    names that number, computed here with numpy from the split's targets; teacher-student, which trains,
    is told nothing."""
    from sklearn.datasets import load_diabetes

    from optimlab.build import build_data
    from optimlab.recipe import Recipe

    x, y = load_diabetes(return_X_y=True, scaled=False)
    np.savetxt(tmp_path / "diabetes.csv", np.column_stack([x, y]), delimiter=",", header="a,b,c,d,e,f,g,h,i,j,target", comments="")  # fmt: skip
    out = tmp_path / "r"
    data = str(tmp_path / dataset) if dataset.endswith(".csv") else dataset
    argv = ["train", "--dataset", data, "--set", "training.loss=mse", "--epochs", "5", "--out", str(out)]
    code, _, err = cli(*argv, "--scaling", "standardize", "--no-progress")
    assert code == 0, err
    metrics = json.loads((out / "result.json").read_text())["metrics"]
    splits = build_data(Recipe.load(out / "recipe.yaml"))
    train_y, val_y = splits.train.y.double().numpy(), splits.val.y.double().numpy()
    mean_loss = float(np.mean((val_y - train_y.mean(0)) ** 2))
    said = [line for line in err.splitlines() if "training targets' mean" in line]
    if dataset.endswith(".csv"):
        assert metrics["val_loss"] >= mean_loss
        (line,) = said
        assert line.startswith(f"val_loss {metrics['val_loss']:.4g} is no lower than always predicting")
        assert f"({mean_loss:.4g} on the val rows)" in line
    else:
        assert metrics["val_loss"] < mean_loss and not said


class _Run:
    """A tracker's run that records how it ended (optimlab.integrations.Tracker.finish's contract)."""

    def __init__(self, name: str, ended: dict[str, bool]) -> None:
        self.name, self.ended, self.where = name, ended, name

    def finish(self, *, failed: bool = False, interrupted: bool = False) -> None:
        self.ended.setdefault(self.name, failed)


@pytest.mark.parametrize("fails", ["opening mlflow", "writing the html", "sending to mlflow"])
def test_doctors_tracker_runs_end_whatever_fails_after_they_open(tmp_path, monkeypatch, cli, fails):
    """_trackers opened TensorBoard's run outside the try that ended them: with --log tensorboard --log mlflow
    and a store MLflow refuses, TensorBoard's run never ended; a failure in write_html or in sending the
    findings left every run open too. Truth: each run opened ends once, failed where the doctor failed."""
    import optimlab.doctor.report
    import optimlab.integrations
    from optimlab.errors import OptimlabError

    ended: dict[str, bool] = {}

    def open_tracker(name, **_):
        if fails == "opening mlflow" and name == "mlflow":
            raise OptimlabError("MLflow refused the store")
        return _Run(name, ended)

    def log_findings(diagnosis, tracker):
        if fails == "sending to mlflow" and tracker.name == "mlflow":
            raise OptimlabError("MLflow went away")

    def write_html(*_, **__):
        if fails == "writing the html":
            raise OptimlabError("no room for the page")

    monkeypatch.setattr(optimlab.integrations, "open_tracker", open_tracker)
    monkeypatch.setattr(optimlab.integrations, "log_findings", log_findings)
    monkeypatch.setattr(optimlab.doctor.report, "write_html", write_html)
    monkeypatch.chdir(tmp_path)
    args = ("--dataset", "iris", "--steps", "3", "--no-lr-find", "--no-progress", "--html", "d.html")
    code, _, err = cli("doctor", *args, "--log", "tensorboard", "--log", "mlflow")
    said = {
        "opening mlflow": "refused the store",
        "writing the html": "no room",
        "sending to mlflow": "went away",
    }
    assert code == 2 and said[fails] in err and "Traceback" not in err, err
    opened = {"tensorboard": True} if fails == "opening mlflow" else {"tensorboard": True, "mlflow": True}
    if fails == "sending to mlflow":
        opened["tensorboard"] = False  # its findings sent, its run ended as it does
    assert ended == opened


def test_plot_schedule_of_a_short_wsd_at_its_defaults_draws_it(cli, tmp_path):
    """plot-schedule wsd --steps 5 was refused as "Invalid value for '--option'", a flag never given: the
    default decay_fraction 0.2 rounds to 1 of 5 steps. A default decays at least the 2 steps a decay needs."""
    path = tmp_path / "s.svg"
    code, _, err = cli("plot-schedule", "wsd", "--steps", "5", "--out", str(path))
    assert (code, err) == (0, "")
    assert path.is_file()
