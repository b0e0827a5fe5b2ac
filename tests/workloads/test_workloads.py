"""Every registered workload builds, names a metric its run reports, and trains; suites and user files."""

import doctest
import importlib
import math
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from optimlab.bench import SUITES, suite
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import get_registry
from optimlab.train.run import train
from optimlab.workloads import Workload, get_workload, metric_goal, workload_names, workloads_from

REGISTRY = get_registry("workload")
BUILT_IN = [e.name for e in REGISTRY if "user_files" not in e.capabilities]
USER_FILES = [e.name for e in REGISTRY if "user_files" in e.capabilities]


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_workload_trains_and_reports_its_tuned_and_test_metrics(name):
    workload = get_workload(name)
    assert workload.goal in ("max", "min") and workload.metric.startswith("val_")
    assert workload.test_metric == "test_" + workload.metric.removeprefix("val_")
    assert workload.target is None or isinstance(workload.target, float)
    result = train(workload.recipe.with_updates({"training.steps": 3, "training.eval_every": 3}))
    assert result.status == "completed" and result.steps == 3
    assert workload.metric in result.metrics and workload.test_metric in result.metrics


def test_each_suite_lists_registered_workloads_with_valid_options():
    for name, entries in SUITES.items():
        for workload, options in entries.items():
            assert workload in REGISTRY, f"suite {name} names unknown workload {workload}"
            REGISTRY.get(workload).validate(options)
    assert "small" in SUITES and set(SUITES["small"]) <= set(SUITES["full"])
    with pytest.raises(UnknownNameError, match="Did you mean 'small'"):
        suite("smal")


@pytest.mark.parametrize("name", USER_FILES)
def test_user_file_workloads_read_the_folder_given_and_train(name, mnist_folder, cifar_folder):
    folder = cifar_folder if name.startswith("cifar10") else mnist_folder
    workload = get_workload(name, path=str(folder), epochs=1)
    splits_shape = (3, 32, 32) if name.startswith("cifar10") else (28, 28)
    result = train(workload.recipe.with_updates({"training.steps": 2, "training.batch_size": 8}))
    assert result.status == "completed" and "test_accuracy" in result.metrics
    from optimlab.build import build_data

    assert tuple(build_data(workload.recipe).train.x.shape[1:]) == splits_shape
    with pytest.raises(InvalidValueError, match="option 'path'"):
        get_workload(name)
    with pytest.raises(InvalidValueError, match="option 'path'"):
        get_workload(name, path=str(folder / "missing"))


@pytest.mark.parametrize("name", ["optimlab.workloads", "optimlab.workloads.workload"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0


def test_old_spellings_resolve_to_the_canonical_names():
    """``compare --workload digits-mlp`` worked before the names were underscored everywhere."""
    assert [w.name for w in workloads_from("digits-mlp, Two-Spirals-MLP,mnist1d-cnn")] == [
        "digits_mlp",
        "two_spirals_mlp",
        "mnist1d_cnn",
    ]
    assert workloads_from("digits_mlp", epochs=3)[0].recipe.training.epochs == 3
    assert set(workload_names()) == {e.name for e in REGISTRY} and "digits_logistic" in workload_names()
    with pytest.raises(InvalidValueError, match="workloads"):
        workloads_from(" , ")
    with pytest.raises(UnknownNameError, match="digits_mlp"):
        workloads_from("digits_mpl")


@pytest.mark.parametrize("verb", ["compare", "bench"])
def test_a_file_workload_without_its_folder_names_data_dir(verb, cli):
    """`compare --workload mnist_cnn` without --data-dir said "invalid value None for workload 'mnist_cnn'
    option 'path'", naming no flag the command takes."""
    code, _, err = cli(verb, "--workload", "mnist_cnn", "--optimizers", "adam", "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--data-dir" in err and "'mnist_cnn'" in err and "option 'path'" not in err


FILES_HELD = {
    "mnist_cnn": "train-images-idx3-ubyte or train-images-idx3-ubyte.gz or train-images.idx3-ubyte and its "
    "labels file",
    "cifar10_cnn": "one or more of data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch "
    "(CIFAR-10 python version)",
}


@pytest.mark.parametrize("workload", FILES_HELD)
@pytest.mark.parametrize("verb", ["compare", "bench"])
def test_a_folder_without_the_files_names_data_dir(verb, workload, cli, tmp_path):
    """`compare --workload mnist_cnn --data-dir EMPTY` said "invalid value EMPTY for workload option 'path'",
    a name no verb takes; cifar10_cnn's said 'data.options.path', a recipe field the user never wrote.
    get_workload's own keyword is named in Python's words."""
    code, _, err = cli(verb, "--workload", workload, "--optimizers", "adam", "--data-dir", str(tmp_path))
    held = f"accepted a folder holding {FILES_HELD[workload]}."
    assert (code, err) == (2, f"error: invalid value {str(tmp_path)!r} for data_dir (--data-dir): {held}\n")
    with pytest.raises(InvalidValueError) as refused:
        get_workload(workload, path=str(tmp_path))
    assert (
        str(refused.value)
        == f"invalid value {str(tmp_path)!r} for workload {workload!r} option 'path': {held}"
    )


@pytest.mark.parametrize("verb", ["compare", "bench"])
def test_a_folder_of_idx_images_without_their_labels_names_data_dir(verb, cli, tmp_path):
    """A folder holding train-images-idx3-ubyte alone was taken, and its first trial refused in the
    recipe's words ("invalid value None for labels_path ... data.options.labels_path in a recipe"):
    it is refused as the folder given, naming the labels file missing. Truth: the same images with
    train-labels-idx1-ubyte beside them load as MNIST's 3 examples."""
    from optimlab.data import load

    images = np.zeros((3, 28, 28), np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(
        struct.pack(">BBBBIII", 0, 0, 8, 3, 3, 28, 28) + images.tobytes()
    )
    code, _, err = cli(verb, "--workload", "mnist_cnn", "--optimizers", "adam", "--data-dir", str(tmp_path))
    held = "accepted a folder holding train-images-idx3-ubyte and its labels file train-labels-idx1-ubyte."
    assert (code, err) == (2, f"error: invalid value {str(tmp_path)!r} for data_dir (--data-dir): {held}\n")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(
        struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([0, 1, 2])
    )
    recipe = get_workload("mnist_cnn", path=str(tmp_path)).recipe
    splits = load(recipe.data.name)
    assert sorted(torch.cat([splits.train.y, splits.val.y, splits.test.y]).tolist()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("metric", "goal"),
    [("train_loss", "min"), ("val_loss", "min"), ("test_rmse", "min"), ("val_accuracy", "max"),
     ("val_zero_one_loss", "min"), ("lr", None), ("grad_norm", None), ("val_f1", None), ("seconds", None)],
)  # fmt: skip
def test_a_metric_is_better_the_way_its_kind_says_and_unknown_ones_have_no_way(metric, goal):
    assert metric_goal(metric) == goal


def test_a_workload_decides_the_way_of_the_metrics_it_tunes_on_and_reports():
    digits = get_workload("digits_mlp")
    f1 = Workload("f1", digits.recipe, metric="val_f1", goal="max", test_metric="test_f1")
    assert metric_goal("val_f1", f1) == metric_goal("test_f1", f1) == "max"
    assert metric_goal("val_loss", f1) == "min" and metric_goal("val_score", f1) is None
    assert metric_goal(digits.metric, digits) == digits.goal == "max"


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_sizes_a_workload_states_are_those_of_its_data(name):
    """'(1,078 training rows)', '4,000 sequences', '20 epochs of 34 steps', '10 epochs (940 steps)' in a
    summary or docstring (the workload's or its module's): each number is counted again from the
    splits the recipe loads (a count of sequences or rows not said to be training ones: of all splits)."""
    from optimlab.build import build_data

    entry, workload = REGISTRY.get(name), get_workload(name)
    docs = (entry.summary, entry.obj.__doc__, sys.modules[entry.obj.__module__].__doc__)
    text = " ".join(filter(None, docs)).replace("\n", " ")
    training = workload.recipe.training
    if training.steps is not None:  # a budget in steps: the epochs it states are a paper's
        return
    splits = build_data(workload.recipe)
    rows, every = len(splits.train), len(splits.train) + len(splits.val) + len(splits.test)
    steps = math.ceil(rows / training.batch_size)
    for count, training_rows in re.findall(r"([\d,]+) (training )?(?:rows|sequences)\b", text):
        assert int(count.replace(",", "")) in ((rows,) if training_rows else (rows, every)), count
    for epochs, per_epoch in re.findall(r"(\d+) epochs of (\d+) steps", text):
        assert (int(epochs), int(per_epoch)) == (training.epochs, steps)
    for epochs, total in re.findall(r"(\d+) epochs \(([\d,]+) steps\)", text):
        assert (int(epochs), int(total.replace(",", ""))) == (training.epochs, training.epochs * steps)


def test_the_noise_floors_the_quadratics_state_are_those_of_their_hessians():
    """The expected loss at theta = 0, 0.5 noise^2 tr(H): 91.6 for noisy_quadratic's H, 86.0 for
    DeepOBS's; the docstrings said about 89."""
    from optimlab.data.noisy_quadratic import deep_learning_hessian
    from optimlab.data.quadratic_deep import NOISE, deepobs_hessian

    module = sys.modules[REGISTRY.get("noisy_quadratic").obj.__module__]
    text = " ".join((module.__doc__, REGISTRY.get("noisy_quadratic").obj.__doc__))
    for hessian in (deep_learning_hessian().double().numpy(), deepobs_hessian()):
        assert f"{0.5 * NOISE**2 * hessian.trace():.1f}" in text


def test_the_deepobs_budget_noisy_quadratic_states_is_that_of_quadratic_deep():
    """DeepOBS's loader drops the short batch (7 of 128 an epoch, 100 epochs: 700 steps, as the
    quadratic_deep workload trains); the docstring said 800 steps."""
    text = " ".join(REGISTRY.get("noisy_quadratic").obj.__doc__.split())
    steps, batch = map(int, re.search(r"DeepOBS trains (\d+) steps of batch (\d+)", text).groups())
    training = get_workload("quadratic_deep").recipe.training
    assert (steps, batch) == (training.steps, training.batch_size) == (700, 128)


def _reproduction_table() -> dict[str, tuple[list[float], int, int]]:
    """docs/workloads.md's measured reproduction: workload -> (best value per seed, seeds that reached
    the target, median steps to it)."""
    docs = Path(__file__).parents[2] / "docs" / "workloads.md"
    rows = {}
    for line in docs.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 8 and re.fullmatch(r"\d/5", cells[4]):
            rows[cells[0]] = ([float(v) for v in cells[3].split(",")], int(cells[4][0]), int(cells[5]))
    return rows


STATING_SEEDS = [
    name for name in sorted(_reproduction_table()) if "best values are" in REGISTRY.get(name).obj.__doc__
]


@pytest.mark.parametrize("name", STATING_SEEDS)
def test_the_seed_results_a_workload_states_are_the_recorded_ones(name):
    """'best values are 0.953-0.969 (5/5, a median of 136 steps)': the range, the count and the median
    the docstring gives are docs/workloads.md's measured row (digits_logistic said 5/5 and 136 steps,
    measured 4/5 and 204)."""
    values, reached, median = _reproduction_table()[name]
    doc = " ".join(REGISTRY.get(name).obj.__doc__.split())
    low, high, count, steps = re.search(
        r"best values are ([\d.]+)-([\d.]+) \((\d)/5[^)]*?(?:median of|step) (\d+)", doc
    ).groups()
    assert (int(count), int(steps)) == (reached, median)
    decimals = len(low.split(".")[1])
    assert (float(low), float(high)) == (round(min(values), decimals), round(max(values), decimals))


def _workload_table() -> dict[str, dict[str, str]]:
    """docs/workloads.md's first table, built-in workloads only: name -> its cells by column."""
    lines = (Path(__file__).parents[2] / "docs" / "workloads.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| workload | data |"))
    columns = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = dict(zip(columns, (c.strip() for c in line.strip("|").split("|"))))
        name = re.fullmatch(r"`(\w+)`(?: \*)?", cells["workload"])
        if name:
            rows[name.group(1)] = cells
    return rows


WORKLOAD_TABLE = _workload_table()


def test_the_workload_table_lists_every_built_in_workload():
    assert sorted(WORKLOAD_TABLE) == sorted(BUILT_IN)


@pytest.mark.parametrize("name", sorted(WORKLOAD_TABLE))
def test_the_workload_table_says_what_each_workload_builds(name):
    """Read back against the built workload: its budget (epochs x steps of the training split, batch),
    tuned metric and way, target, suites, the MLP widths and the row counts the row states."""
    import torch

    from optimlab.build import build_data, build_model

    cells, workload = WORKLOAD_TABLE[name], get_workload(name)
    training = workload.recipe.training
    splits = build_data(workload.recipe)
    rows = len(splits.train)
    budget = cells["default budget"]
    if training.steps is None:
        epochs, per_epoch, batch = map(
            int, re.match(r"(\d+) (?:epochs )?x (\d+)(?: steps)?, batch (\d+)", budget).groups()
        )
        assert (epochs, per_epoch, batch) == (training.epochs, math.ceil(rows / batch), training.batch_size)
    else:
        steps, batch = map(int, re.match(r"(\d+) steps, batch (\d+)", budget).groups())
        assert (steps, batch) == (training.steps, training.batch_size)
        assert ("drop_last" in budget) == training.drop_last
    way = "max" if "accuracy" in cells["tuned metric"] else "min"
    assert (workload.metric, workload.goal) == ("val_accuracy" if way == "max" else "val_loss", way)
    sign, target = re.fullmatch(r"(>=|<=) ([\d.]+)", cells["target"]).groups()
    assert (sign, float(target)) == (">=" if way == "max" else "<=", workload.target)
    listed = {s for s, members in SUITES.items() if name in members}
    assert listed == set(re.findall(r"small|full", cells["suite"]))
    every = rows + len(splits.val) + len(splits.test)
    for count, kind in re.findall(r"([\d,]+) (train\b|samples|chars)", cells["data"]):
        n = int(count.replace(",", ""))
        if kind == "train":
            assert n == rows
        elif kind == "samples":
            assert n == every
        else:  # characters: windows of the context plus the next character, the last one shared
            context = workload.recipe.data.options["context"]
            assert every * context <= n < (every + 1) * context + 1
    mlp = re.search(r"MLP ((?:\d+-)+\d+)", cells["model"]) or re.search(r"(\d+ -> \d+)", cells["model"])
    if mlp:
        model = build_model(workload.recipe, splits)
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        widths = [linears[0].in_features, *(m.out_features for m in linears)]
        assert widths == [int(w) for w in re.split(r"->|-", mlp.group(1).replace(" ", ""))]


def _seed_paragraph() -> str:
    text = (Path(__file__).parents[2] / "docs" / "workloads.md").read_text()
    return " ".join(re.search(r"What a run's seed .*?\n\n", text, re.S).group(0).split())


@pytest.mark.parametrize("name", sorted(WORKLOAD_TABLE))
def test_what_a_seed_changes_is_what_the_docs_say(name):
    """docs/workloads.md: a seed draws the initial weights and the split (the examples too, for the
    workloads it names), and two builds at one seed are equal. Truth: the tensors of two builds at seed
    0 and one at seed 1."""
    import torch

    from optimlab.build import build_data, build_model

    said = _seed_paragraph()
    drawn = re.search(r"drawn from the seed for (.*?), so", said).group(1)
    recipe = get_workload(name).recipe
    builds = [build_data(recipe.with_updates({"training.seed": s})) for s in (0, 0, 1)]

    def tensors(splits):
        return [getattr(getattr(splits, part), a) for part in ("train", "val", "test") for a in ("x", "y")]

    def equal(a, b):
        return all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(tensors(a), tensors(b)))

    def examples(splits):  # every row of every split, in one order
        return sorted(
            map(tuple, torch.cat([splits.train.x, splits.val.x, splits.test.x]).flatten(1).tolist())
        )

    assert equal(builds[0], builds[1])
    same_split = name == "quadratic_deep"
    assert equal(builds[0], builds[2]) == same_split, "the split is drawn from the seed" + (
        ", but DeepOBS's" if same_split else ""
    )
    assert (examples(builds[0]) == examples(builds[2])) == (f"`{name}`" not in drawn)
    models = [build_model(recipe.with_updates({"training.seed": s}), b) for s, b in zip((0, 0, 1), builds)]
    params = [torch.cat([p.detach().flatten() for p in m.parameters()]) for m in models]
    assert torch.equal(params[0], params[1])
    assert torch.equal(params[0], params[2]) == (recipe.model.name == "parameter_vector")


@pytest.mark.parametrize("epochs", [0, False])
def test_workloads_from_refuses_epochs_it_cannot_train_as_it_refuses_negative_ones(epochs):
    """epochs=0 (optimlab.compare(..., epochs=0) passes it on) was read as "not given": each workload
    trained its own 20 epochs, silently, where epochs=-3 was refused."""
    with pytest.raises(
        InvalidValueError, match=r"invalid value (0|False) for workload 'digits_mlp' hyperparameter 'epochs'"
    ):
        workloads_from("digits_mlp", epochs=epochs)
    assert workloads_from("digits_mlp", epochs=None)[0].recipe.training.epochs == 20


@pytest.mark.parametrize(
    "field, value, accepted",
    [("goal", "maximize", "max or min"), ("target", math.nan, "a number"), ("target", "0.96", "a number")],
)
def test_a_users_workload_with_a_goal_or_target_that_scores_nothing_is_refused(field, value, accepted):
    """Workload(goal='maximize') was kept: time to target and every 'better' read any goal but 'max' as
    'min', so the study tuned for the worst accuracy; a target NaN was never met, '0.96' failed later."""
    recipe = get_workload("two_spirals_mlp").recipe
    with pytest.raises(InvalidValueError, match=rf"{field} of workload 'mine'.*{accepted}"):
        Workload("mine", recipe, **{field: value})
