"""optimlab.compare: the user's objects in, the CLI's comparison out (same studies, same numbers)."""

import csv
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import optimlab
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.recipe import Recipe, RecipeError
from optimlab.study.compare import compare as cli_compare
from optimlab.study.space import Dimension, SearchSpace
from optimlab.workloads import get_workload
from tests.cli.forked_command import ForkedCommand

SMALL = {"budget": 2, "seeds": 2, "epochs": 2}


def test_objects_in_this_process_give_the_numbers_of_the_same_code_by_import_path(user_package, tmp_path):
    from optimlab_userpkg import data, nets

    # A lambda and two loaders: nothing another process could import.
    done = optimlab.compare(
        ["sgd", "adam"],
        model=lambda input_shape, num_outputs: nets.build(input_shape, num_outputs),
        data=data.loaders(),
        out=tmp_path / "objects",
        **SMALL,
    )
    by_path = optimlab.compare(
        ["sgd", "adam"], model="optimlab_userpkg.nets:build", data="optimlab_userpkg.data:loaders",
        out=tmp_path / "paths", **SMALL,
    )  # fmt: skip
    assert (tmp_path / "objects" / "report.html").is_file()
    rows, expected = done.leaderboard, by_path.leaderboard
    assert [r.method for r in rows] == [r.method for r in expected] and len(rows) == 2
    for row, other in zip(rows, expected):
        assert row.params == other.params and row.test.n == 2
        assert row.test.mean == pytest.approx(other.test.mean, abs=1e-6)
        assert row.test.low <= row.test.mean <= row.test.high  # the 95% interval over the seeds
    (spec,) = [result.spec for result in done.results]
    # Fixed splits without a test split: tuned and reported on validation accuracy (fresh seeds).
    assert (spec.metric, spec.test_metric, spec.goal) == ("val_accuracy", "val_accuracy", "max")
    assert spec.recipe.model.name.startswith("<lambda") and spec.recipe.data.name.startswith("<data")


def test_it_is_the_clis_comparison_and_any_field_can_be_compared(user_package, tmp_path):
    mine = optimlab.compare(
        compare={"model.width": [4, 16]}, model="optimlab_userpkg.nets:build",
        workload="digits_mlp", epochs=1, budget=1, seeds=1, out=tmp_path / "api",
    )  # fmt: skip
    theirs = cli_compare(
        ["4", "16"], field="model.width", model="optimlab_userpkg.nets:build", epochs=1,
        budget=1, seeds=1, out=tmp_path / "cli",
    )  # fmt: skip
    (a,), (b,) = mine.results, theirs.results
    # The CLI's --model keeps the workload's other fields; so does the API.
    assert a.spec.recipe == b.spec.recipe and (a.spec.metric, a.spec.target) == (b.spec.metric, b.spec.target)
    assert [(r.key, r.value) for r in a.records] == [(r.key, r.value) for r in b.records]


def test_a_module_class_and_a_loss_object_are_taken(user_package, tmp_path):
    from optimlab_userpkg import nets

    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(1))
    y = x[:, :2].sum(1, keepdim=True)  # regression: tuned on validation loss, lower is better
    done = optimlab.compare(["adam"], model=nets.Wide, data=(x, y), loss=nn.SmoothL1Loss(),
                            epochs=1, budget=1, seeds=1, out=tmp_path)  # fmt: skip
    (result,) = done.results
    assert result.spec.recipe.model.name == "optimlab_userpkg.nets:Wide"  # importable: named by its path
    assert (result.spec.metric, result.spec.goal, result.spec.test_metric) == ("val_loss", "min", "test_loss")
    assert result.spec.recipe.training.loss.startswith("<smoothl1loss")
    assert all(r.state == "complete" for r in result.records)


def test_an_optimizer_class_gives_the_numbers_of_its_import_path(tmp_path):
    """A class in optimizers= was refused by the recipe ('optimizer.name: Input should be a valid
    string'), where model= and loss= take objects."""
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    common = {"model": "mlp", "data": (x, y), "budget": 2, "seeds": 1, "epochs": 1}
    done = optimlab.compare([torch.optim.AdamW], out=tmp_path / "class", **common)
    by_path = optimlab.compare(["torch.optim.adamw:AdamW"], out=tmp_path / "path", **common)
    (row,), (other,) = done.leaderboard, by_path.leaderboard
    assert row.method == other.method == "torch.optim.adamw:AdamW"
    assert row.params == other.params and row.test.mean == pytest.approx(other.test.mean, abs=1e-6)

    class Local(torch.optim.SGD):  # only this process knows it
        def __init__(self, params, lr=0.1):
            super().__init__(params, lr=lr)

    with pytest.raises(OptimlabError, match="optimizers.*'local' or 'batched'"):
        optimlab.compare([Local], backend="workers", out=tmp_path / "workers", **common)
    with pytest.raises(InvalidValueError, match="'an SGD' for optimizers.*subclasses"):
        optimlab.compare([torch.optim.SGD([torch.zeros(1)])], out=tmp_path / "instance", **common)


def test_objects_and_a_backend_in_other_processes_are_refused_in_one_line(tmp_path):
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    for backend in ("workers", "ray"):
        with pytest.raises(OptimlabError, match="pass data='mypkg.module:name'") as error:
            optimlab.compare(["sgd"], data=(x, y), backend=backend, out=tmp_path / backend)
        assert "\n" not in str(error.value) and "'local' or 'batched'" in str(error.value)
    with pytest.raises(InvalidValueError, match="that builds it"):
        optimlab.compare(["sgd"], model=nn.Linear(3, 2), data=(x, y), out=tmp_path / "instance")
    with pytest.raises(OptimlabError, match="one of them"):
        optimlab.compare(["sgd"], compare={"model.width": [1, 2]}, out=tmp_path / "both")
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_a_comparison_resumes_from_python_with_the_same_objects(tmp_path):
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    loader = DataLoader(TensorDataset(x, y), batch_size=8)

    def build(input_shape, num_outputs):
        return nn.Linear(input_shape[0], num_outputs)

    first = optimlab.compare(["sgd"], model=build, data=loader, out=tmp_path, budget=1, seeds=1, epochs=1)
    again = optimlab.compare(model=build, data=loader, out=tmp_path, resume=True, optimizers=None)
    assert [(r.key, r.value) for r in again.results[0].records] == [
        (r.key, r.value) for r in first.results[0].records
    ]


def test_a_comparison_killed_as_it_began_is_taken_over_by_its_call_resuming(tmp_path, monkeypatch):
    """A comparison killed between creating its Optuna study and storing its settings: the call that
    started it, resume=True added, said 'no optimlab study at ...' (it read stored settings, which that
    study lacks), and without out= it raised a TypeError. Now the call takes the study over (its
    arguments give the settings), as compare --resume does given its flags, also beside another optimlab
    comparison in the storage (which refused it: 'nothing to resume'); no out= is one line. Truth:
    the Optuna study read back from the journal, holding the call's settings. (Stopped by a Ctrl-C as
    its first trial would start: what runs next is any resume's.)"""
    import optuna

    from optimlab.study import StudySpec, compare, methods_from
    from optimlab.study.storage import SPEC_ATTR, open_storage
    from optimlab.workloads import get_workload

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_study", ctrl_c)
    x, y = torch.randn(32, 3, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    beside = StudySpec.for_workload(
        "beside", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd"])
    )
    optuna.create_study(storage=open_storage(tmp_path), study_name="beside/sgd").set_user_attr(
        SPEC_ATTR, beside.to_dict()
    )  # another optimlab comparison in the same storage: not this one's
    optuna.create_study(storage=open_storage(tmp_path), study_name="your_code/adam")  # killed here
    with pytest.raises(KeyboardInterrupt):
        optimlab.compare(["adam"], data=(x, y), out=tmp_path, resume=True, budget=1, seeds=1, epochs=1)
    (study,) = [s for s in open_storage(tmp_path).get_all_studies() if s.study_name == "your_code/adam"]
    spec = study.user_attrs[SPEC_ATTR]
    assert (spec["name"], [m["name"] for m in spec["methods"]], spec["budget"], spec["seeds"]) == (
        "your_code",
        ["adam"],
        1,
        1,
    )
    with pytest.raises(
        OptimlabError, match=r"^resuming needs the comparison's folder out= \(or its storage URL storage=\)$"
    ):
        optimlab.compare(["adam"], data=(x, y), resume=True)


def test_a_resumed_comparison_refuses_a_new_plan_and_takes_more_seeds(tmp_path):
    """optimizers=, budget= and epochs= beside resume=True were dropped without a word: the stored study
    ran as it was, the lion asked for missing from its leaderboard. Now refused in one line; more seeds
    extend it, and its page and tables count every rerun."""
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    optimlab.compare(["sgd"], model="mlp", data=(x, y), out=tmp_path, budget=1, seeds=1, epochs=1)
    with pytest.raises(
        OptimlabError, match="its budget, methods, recipe would change from the stored study's"
    ):
        optimlab.compare(["sgd", "lion"], data=(x, y), out=tmp_path, resume=True, budget=2, epochs=3)
    with pytest.raises(
        OptimlabError, match="keeps its stored settings.*: drop budget, or give the call that"
    ):
        optimlab.compare(data=(x, y), out=tmp_path, resume=True, budget=2)  # a plan without its methods
    more = optimlab.compare(data=(x, y), out=tmp_path, resume=True, seeds=3)
    [row] = more.leaderboard
    assert row.test.n == 3 and more.results[0].spec.seeds == 3
    with open(tmp_path / "leaderboard.csv", newline="") as table:
        assert [row["seeds"] for row in csv.DictReader(table)] == ["3"]


def test_a_resume_compares_the_settings_given_and_takes_those_left_out_as_stored(tmp_path):
    """compare(["adam"], resume=True) on a study run with budget=1, epochs=1 was refused for 'its budget,
    methods, recipe', though only the optimizers were given (budget 7 and the workload's epochs were
    defaults), and its own call with those left out for 'its budget, recipe'. Truth: the stored study's
    settings: the methods alone are named; its optimizers again, more seeds, extend it as it ran."""
    from optimlab.study.protocols import SEEDS, TUNE

    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    optimlab.compare(["sgd"], model="mlp", data=(x, y), out=tmp_path, budget=1, seeds=1, epochs=1)
    with pytest.raises(OptimlabError, match="its methods would change from the stored study's;"):
        optimlab.compare(["adam"], model="mlp", data=(x, y), out=tmp_path, resume=True)
    more = optimlab.compare(["sgd"], model="mlp", data=(x, y), out=tmp_path, resume=True, seeds=2)
    (result,) = more.results
    assert (result.spec.budget, result.spec.recipe.training.epochs, result.spec.seeds) == (1, 1, 2)
    assert [sum(r.phase == phase for r in result.records) for phase in (TUNE, SEEDS)] == [1, 2]


def test_a_resumed_comparison_refuses_data_this_session_named_otherwise(tmp_path):
    """Objects are named in the order a session first sees them: in a session that had compared other
    data first, the data given to resume a study got '<data_2>' while the study trains on '<data>',
    the other data set, and its new seeds trained on that without a word. Now refused in one line."""
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    first = (x, (x[:, 0] > 0).long())
    done = optimlab.compare(["sgd"], data=first, budget=1, seeds=1, epochs=1, out=tmp_path / "a")
    stored = done.results[0].spec.recipe.data.name
    other = (x.clone(), (x[:, 1] > 0).long())  # a new object, as a new session's: named anew
    with pytest.raises(
        InvalidValueError, match=f"for data: accepted the data study 'your_code' was run on, '{stored}'"
    ):
        optimlab.compare(data=other, out=tmp_path / "a", resume=True, seeds=2)
    again = optimlab.compare(data=first, out=tmp_path / "a", resume=True, seeds=2)  # the same object
    assert again.leaderboard[0].test.n == 2
    rewritten = (x, first[1])  # a notebook's data=(x, y) run again: a new tuple of the same tensors
    more = optimlab.compare(data=rewritten, out=tmp_path / "a", resume=True, seeds=3)
    assert more.leaderboard[0].test.n == 3


def test_objects_train_on_the_batched_backend_as_on_local(tmp_path):
    x, y = torch.randn(96, 4, generator=torch.Generator().manual_seed(2)), torch.arange(96) % 3

    def build(input_shape, num_outputs):
        return nn.Sequential(nn.Linear(input_shape[0], 8), nn.Tanh(), nn.Linear(8, num_outputs))

    runs = {
        backend: optimlab.compare(
            ["sgd", "adam"],
            model=build,
            data=(x, y),
            backend=backend,
            out=tmp_path / backend,
            budget=2,
            seeds=1,
            epochs=2,
        )
        for backend in ("local", "batched")
    }
    local, batched = (runs[b].results[0].records for b in ("local", "batched"))
    assert [(r.key, r.params) for r in batched] == [(r.key, r.params) for r in local]
    assert all(r.state == "complete" for r in batched)
    assert [r.value for r in batched] == pytest.approx([r.value for r in local], abs=1e-5)


def test_a_metric_by_import_path_is_tuned_on_and_reported(user_package, tmp_path):
    from sklearn.metrics import f1_score

    from optimlab.recipe import Recipe, RecipeError
    from optimlab.train.run import evaluate, user_metrics

    done = optimlab.compare(
        ["sgd"], model="optimlab_userpkg.nets:build", data="optimlab_userpkg.data:blobs",
        metric="optimlab_userpkg.metrics:f1", epochs=1, budget=2, seeds=1, out=tmp_path,
    )  # fmt: skip
    (result,) = done.results
    assert (result.spec.metric, result.spec.test_metric, result.spec.goal) == ("val_f1", "test_f1", "max")
    assert all(r.value == r.metrics["val_f1"] and 0 <= r.metrics["test_f1"] <= 1 for r in result.records)
    assert done.leaderboard[0].test.mean == result.records[-1].metrics["test_f1"]
    # The value is scikit-learn's F1 of the model's predictions on the whole split.
    recipe = Recipe.from_dict({"training": {"metrics": ["optimlab_userpkg.metrics:f1"]}})
    x, y = torch.randn(50, 3, generator=torch.Generator().manual_seed(4)), torch.arange(50) % 2
    model = nn.Linear(3, 2)
    found = evaluate(model, nn.CrossEntropyLoss(), x, y, task="classification", prefix="val",
                     metrics=user_metrics(recipe))  # fmt: skip
    with torch.no_grad():
        expected = f1_score(y.numpy(), model(x).argmax(1).numpy())
    assert found["val_f1"] == pytest.approx(expected)
    with pytest.raises(RecipeError, match="has no 'f2'"):
        Recipe.from_dict({"training": {"metrics": ["optimlab_userpkg.metrics:f2"]}})


def test_a_metric_of_the_users_script_is_taken_where_trials_run_in_this_process(
    user_package, tmp_path, monkeypatch
):
    """compare(metric=f1), f1 defined in the user's script (__main__), was refused ('not __main__') while
    model= of the same script was taken on the local backend. Truth: the same function imported by path
    gives every trial the same val_f1 and test_f1; a backend of other processes refuses it in one line
    naming it; another process reads the study (optimlab report), without the script's function."""
    import subprocess
    import sys

    from optimlab_userpkg.metrics import f1 as by_path

    def f1(outputs, targets):
        return by_path(outputs, targets)

    f1.__module__, f1.__qualname__ = "__main__", "f1"  # as a script defines it
    monkeypatch.setattr(sys.modules["__main__"], "f1", f1, raising=False)
    call = {"model": "optimlab_userpkg.nets:build", "data": "optimlab_userpkg.data:blobs", "epochs": 1,
            "budget": 1, "seeds": 1, "goal": "max"}  # fmt: skip
    ours = optimlab.compare(["sgd"], metric=f1, out=tmp_path / "script", **call)
    theirs = optimlab.compare(["sgd"], metric="optimlab_userpkg.metrics:f1", out=tmp_path / "path", **call)
    scores = [
        [(r.key, r.metrics["val_f1"], r.metrics["test_f1"]) for r in done.results[0].records]
        for done in (ours, theirs)
    ]
    assert scores[0] == scores[1] and len(scores[0]) == 2
    with pytest.raises(OptimlabError, match="the metric given as objects live in this process") as error:
        optimlab.compare(["sgd"], metric=f1, backend="workers", out=tmp_path / "workers", **call)
    assert "\n" not in str(error.value) and not (tmp_path / "workers").exists()
    report = subprocess.run(
        [sys.executable, "-m", "optimlab", "report", str(tmp_path / "script"), "--out", str(tmp_path / "r.html")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "test_f1" in (tmp_path / "r.html").read_text()


def test_a_dataloaders_batch_size_order_and_drop_last_are_the_trials_own(tmp_path):
    """A DataLoader(batch_size=7, shuffle=False, drop_last=True) was read into memory and trained in
    the recipe's default batches of 32, shuffled: the loader's batching was lost without a word. Now
    it is the recipe's (its numbers those of the same recipe given by hand); a recipe field given
    keeps its value, and a loader of unsized batches is refused in one line naming the field to set."""
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    common = {"model": "mlp", "budget": 1, "seeds": 1, "epochs": 1}
    loader = DataLoader(TensorDataset(x, y), batch_size=7, drop_last=True)
    done = optimlab.compare(["sgd"], data=loader, out=tmp_path / "loader", **common)
    by_hand = {"training.batch_size": 7, "training.shuffle": False, "training.drop_last": True}
    expected = optimlab.compare(["sgd"], data=(x, y), recipe=by_hand, out=tmp_path / "recipe", **common)
    (result,), (other,) = done.results, expected.results
    training = result.spec.recipe.training
    assert (training.batch_size, training.shuffle, training.drop_last) == (7, False, True)
    assert [r.metrics for r in result.records] == [r.metrics for r in other.records]

    shuffled = (DataLoader(TensorDataset(x[:48], y[:48]), batch_size=5, shuffle=True), (x[48:], y[48:]))
    done = optimlab.compare(
        ["sgd"], data=shuffled, recipe={"training.batch_size": 16}, out=tmp_path / "s", **common
    )
    training = done.results[0].spec.recipe.training
    assert (training.batch_size, training.shuffle, training.drop_last) == (16, True, False)

    with pytest.raises(InvalidValueError, match="no size.*'training.batch_size'") as error:
        optimlab.compare(
            ["sgd"], data=DataLoader(TensorDataset(x, y), batch_size=None), out=tmp_path / "n", **common
        )
    assert "\n" not in str(error.value)


def linear(input_shape, num_outputs):
    return nn.Linear(input_shape[0], num_outputs)


def explodes(input_shape, num_outputs):
    raise RuntimeError("no such layer")


class NotANumber(nn.Module):
    """Scores that are NaN from the start, whatever the weights: a bug no learning rate fixes."""

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.linear = nn.Linear(input_shape[0], num_outputs)

    def forward(self, x):
        return self.linear(x) * float("nan")


BAD_INPUTS = [
    ({"optimizers": "adam"}, "'adam' for optimizers: accepted a list of them"),
    ({"optimizers": torch.optim.AdamW}, "'the class AdamW' for optimizers: accepted a list"),
    ({"optimizers": []}, "nothing to compare"),
    ({"optimizers": ["adam", "Adam"]}, "'adam' and 'Adam' are both 'adam'"),
    ({"optimizers": ["adamm"]}, "'adamm' for optimizers: accepted a registered name \\(did you mean 'adam'"),
    ({"optimizers": ["torch.optim:Adamw"]}, "'torch.optim:Adamw' for optimizers: .*has no 'Adamw'"),
    ({"model": "mpl"}, "'mpl' for model: accepted a registered name \\(did you mean 'mlp'"),
    (
        {"loss": "crossentropy"},
        "'crossentropy' for loss: accepted a registered name \\(did you mean 'cross_entropy'",
    ),
    ({"target": "0.9"}, "'0.9' for target: accepted a finite number"),  # was a TypeError of '>='
    (  # a bare TypeError: 'int' object is not iterable
        {"optimizers": None, "compare": {"training.batch_size": 16}},
        "16 for compare\\['training.batch_size'\\]: accepted a list of values, even of one",
    ),
    (  # compared letter by letter: "unknown activation 'r'"
        {"optimizers": None, "compare": {"model.activation": "relu"}},
        "'relu' for compare\\['model.activation'\\]: accepted a list of values, even of one",
    ),
    ({"target": float("nan")}, "nan for target: accepted a finite number"),  # was 'cannot resume'
    ({"recipe": {"training.batchsize": 8}}, "for recipe: accepted .*unknown field 'batchsize'. Did you mean"),
    (
        {"recipe": ["training.batch_size", 8]},
        "'a list of 2 \\(str, int\\)' for recipe: accepted dotted fields",
    ),
    (
        {"space": {"optimizer.learning_rate": [0.1]}},
        "for space: accepted .*unknown .* hyperparameter 'learning_rate'",
    ),
    ({"optimizers": None, "compare": {"optimizer.nme": ["sgd"]}}, "for compare: accepted .*'nme'"),
    ({"members": 4}, "4 for members: accepted only with backend='batched', not 'local'"),  # was unused
    ({"seeds": 0}, "0 for seeds: accepted an integer in \\[1, 5000\\]"),
    ({"seeds": 2.0}, "2.0 for seeds: accepted an integer in \\[1, 5000\\]"),
    (
        {"budget": 0},
        "0 for budget: accepted an integer in \\[1, 5000\\]: the tuning trials each method gets",
    ),
    ({"budget": 2.0}, "2.0 for budget: accepted an integer in \\[1, 5000\\]"),
    ({"epochs": 0}, "0 for epochs: accepted an integer in \\[1, inf\\): the passes"),
    ({"space": {"optimizer.lr": {"low": -1.0, "high": 1.0, "log": True}}}, "-1.0 for log-scaled range"),
    (
        {"space": {"optimizer.lr": [0.0, 0.1]}},
        "optimizer.lr: 0.0 is refused: accepted a number in \\(0, inf\\)",
    ),
    ({"space": {"optimizer.lr": [0.1, 0.1, 0.01]}}, r"distinct values \(0.1 is given twice\)"),
    (
        {"space": SearchSpace((Dimension("optimizer.lr", choices=(0.1, 0.1)),))},
        r"distinct values \(0.1 is given twice\)",
    ),
    ({"loss": nn.CrossEntropyLoss(reduction="none")}, "for the loss: accepted a tensor with one element"),
    ({"model": NotANumber}, "nan for the loss of the first batch: .*check the model's forward"),
    ({"model": explodes}, "model '.*explodes' raised RuntimeError: no such layer"),
    (
        {"target": 2.0},
        "2.0 for target: accepted a value val_accuracy can take, in \\[0, 1\\]",
    ),  # ran, never met
    ({"space": [("optimizer.lr", [0.1])]}, "for space: accepted a SearchSpace, or"),  # was an AttributeError
    (  # a list was refused as a 'name', its whole repr for the value
        {"workload": ["teacher_student"]},
        "for workload: accepted a registered workload's name or get_workload's object: digits_mlp",
    ),
    # beside data, ran on the data with the default MLP, as if no workload was named
    ({"workload": "teacher_student"}, "'teacher_student' for workload: accepted None beside data="),
    (  # the second choice was refused by the study's checks, in the recipe's lines
        {"model": f"{__name__}:linear", "space": {"optimizer.weight_decay": [0.0, -1.0]}},
        "for space: accepted fields a recipe takes \\(optimizer.weight_decay: .*-1.0",
    ),
    # the second contender's error was each of its trials', and it ranked last with 'no result'
    (
        {"optimizers": None, "compare": {"model.name": ["mlp", f"{__name__}:explodes"]}},
        f"the compared model.name={__name__}:explodes does not train: model .* raised RuntimeError: no such",
    ),
]


def _case(given: dict) -> str:
    """A case's id, the same in every process (an object's default repr holds its address)."""
    return ", ".join(
        f"{k}={getattr(v, '__name__', None) or type(v).__name__ if callable(v) else v}"
        if not hasattr(v, "recipe")  # a Workload: its name, not its whole recipe
        else f"{k}={type(v).__name__}({v.name})"
        for k, v in given.items()
    )


@pytest.mark.parametrize(("given", "match"), BAD_INPUTS, ids=[_case(g) for g, _ in BAD_INPUTS])
def test_bad_input_is_one_optimlab_error_naming_it(given, match, tmp_path):
    """Each refused before any trial, in one line naming the argument and what it accepts: a string
    of optimizers was read letter by letter (['a', 'd', 'a', 'm'] for values compared), and seeds=0,
    which --seeds refuses, gave a leaderboard of no test metric (nan for every method)."""
    x, y = torch.randn(32, 3, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    call = {
        "optimizers": ["sgd"],
        "model": "mlp",
        "data": (x, y),
        "budget": 1,
        "seeds": 1,
        "epochs": 1,
        **given,
    }
    with pytest.raises(OptimlabError, match=match) as error:
        optimlab.compare(call.pop("optimizers"), out=tmp_path / "run", **call)
    # Not the recipe's lines ('invalid recipe:\n  optimizer.name: ...'), naming a field the call never wrote.
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_numpys_integers_are_taken_as_the_counts_they_hold(tmp_path):
    """seeds=np.int64(2) (a count from NumPy, a loop over np.arange) was refused as 'not an integer in
    [1, inf)', and budget=np.int64(1) too. Truth: NumPy's integers are integers (operator.index, PEP 357),
    as bench.run and the recipe's fields take them: the same study as the plain ints'."""
    x, y = torch.randn(32, 3, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    counts = {"budget": np.int64(1), "seeds": np.int32(2), "epochs": np.int64(1)}
    done = optimlab.compare(["sgd"], model="mlp", data=(x, y), out=tmp_path / "numpy", **counts)
    plain = optimlab.compare(
        ["sgd"], model="mlp", data=(x, y), out=tmp_path / "int", budget=1, seeds=2, epochs=1
    )
    spec, expected = done.results[0].spec, plain.results[0].spec
    assert (spec.budget, spec.seeds, spec.recipe.training.epochs) == (1, 2, 1)
    assert type(spec.seeds) is int and spec.to_dict()["seeds"] == expected.to_dict()["seeds"]
    assert done.leaderboard[0].test == plain.leaderboard[0].test


def test_a_first_loss_of_nan_is_left_to_the_trials_where_the_compared_field_may_change_it(tmp_path):
    """Refused where only optimizers differ (the table above); a compared field outside the optimizer
    and its schedule may give another first loss, so each trial runs and fails on its own. Every trial
    failed: said in one warning with the first's reason, as the command line says it (exit 1); the call
    returned a leaderboard of 'no result' rows without a word, its first row read as the best method."""
    x, y = torch.randn(32, 3, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    with pytest.warns(OptimlabWarning) as said:
        done = optimlab.compare(
            compare={"training.batch_size": [8, 16]}, model=NotANumber, data=(x, y), budget=1, seeds=1,
            epochs=1, out=tmp_path,
        )  # fmt: skip
    records = done.results[0].records
    assert {r.method for r in records} == {"8", "16"}  # each method's tuning trial ran (none to rerun)
    assert all(r.state == "fail" and r.status == "diverged" for r in records)
    assert [str(w.message) for w in said if "failed" in str(w.message)] == [
        f"every trial of study 'your_code' failed; the first: {records[0].message}"
    ]
    assert done.report.is_file()  # the comparison is still returned and written
    with pytest.warns(OptimlabWarning, match="every trial of study 'your_code' failed"):
        optimlab.compare(out=tmp_path, resume=True)  # resumed: said again


def test_a_loss_function_trains_as_torchs_loss_module_does(tmp_path):
    """loss=nn.functional.cross_entropy (or a lambda) was refused: 'a function for loss', where fit takes
    one. Each trains the numbers of torch's own nn.CrossEntropyLoss."""
    x, y = torch.randn(48, 3, generator=torch.Generator().manual_seed(0)), torch.arange(48) % 3
    common = {"model": "mlp", "data": (x, y), "budget": 1, "seeds": 1, "epochs": 1}
    losses = {
        "module": nn.CrossEntropyLoss(),
        "function": nn.functional.cross_entropy,
        "lambda": lambda outputs, targets: nn.functional.cross_entropy(outputs, targets),
    }
    runs = {
        name: optimlab.compare(["sgd"], loss=loss, out=tmp_path / name, **common)
        for name, loss in losses.items()
    }
    expected = [r.metrics for r in runs["module"].results[0].records]
    assert expected and all(0 <= m["test_accuracy"] <= 1 for m in expected)
    for name in ("function", "lambda"):
        assert [r.metrics for r in runs[name].results[0].records] == expected
    assert runs["function"].results[0].spec.recipe.training.loss == "torch.nn.functional:cross_entropy"


class FixedTagger(nn.Module):
    """Scores of 5 classes at each of 5 positions, (N, C, L) as CrossEntropyLoss takes them, from fixed
    weights that training leaves as they are (the one trainable parameter has no effect)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 5, 1).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(5, 3, 1, generator=torch.Generator().manual_seed(7)))
            self.conv.bias.zero_()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.conv(x) + 0 * self.unused


def test_a_class_per_position_is_refused_as_rows_and_scored_by_hand_as_dict_batches(tmp_path):
    """(x, y) tensors with a class per position are refused, naming dict batches; as dict batches
    (train, val, test) of padded sequences, the test accuracy and loss are those computed by hand:
    positions labelled -100 skipped, the classes read in dimension 1 where positions are as many."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 3, 5, generator=generator), torch.randint(0, 5, (60, 5), generator=generator)
    y[torch.arange(5) >= torch.randint(1, 6, (60, 1), generator=generator)] = -100  # padded past each end
    common = {"model": FixedTagger, "loss": nn.CrossEntropyLoss(), "budget": 1, "seeds": 1, "epochs": 1}
    with pytest.raises(InvalidValueError, match=r"shape \(60, 5\)' for class labels.*train as dict batches"):
        optimlab.compare(["sgd"], data=(x, y), out=tmp_path / "rows", **common)

    def items(rows):
        return [{"x": x[i], "labels": y[i]} for i in rows]

    splits = (items(range(36)), items(range(36, 48)), items(range(48, 60)))
    done = optimlab.compare(
        ["sgd"], data=tuple(DataLoader(s, batch_size=5) for s in splits), out=tmp_path / "d", **common
    )
    with torch.no_grad():
        scores = FixedTagger()(x[48:])
    counted = y[48:] != -100
    accuracy = (scores.argmax(1)[counted] == y[48:][counted]).float().mean().item()
    assert accuracy != pytest.approx((scores.argmax(2)[counted] == y[48:][counted]).float().mean().item())
    (rerun,) = [r for r in done.results[0].records if r.phase == "seeds"]
    loss = nn.functional.cross_entropy(scores, y[48:]).item()
    assert rerun.metrics["test_accuracy"] == pytest.approx(accuracy)
    assert rerun.metrics["test_loss"] == pytest.approx(loss, rel=1e-6)
    assert done.leaderboard[0].test.mean == pytest.approx(loss, rel=1e-6)  # not one class each: tuned on loss
    # Asked for, accuracy is tuned on and reported: it was silently replaced by val_loss.
    loaders = tuple(DataLoader(s, batch_size=5) for s in splits)
    done = optimlab.compare(["sgd"], data=loaders, metric="val_accuracy", out=tmp_path / "a", **common)
    (result,) = done.results
    assert (result.spec.metric, result.spec.test_metric) == ("val_accuracy", "test_accuracy")
    assert done.leaderboard[0].test.mean == pytest.approx(accuracy)


def test_a_metric_the_data_does_not_measure_is_refused_before_any_trial(tmp_path):
    """Multi-label 0/1 targets under BCEWithLogitsLoss measure no RMSE: metric='val_rmse' failed every
    trial ("no finite 'val_rmse' at the end"). It is refused in one line naming what the data measure,
    their loss and their subset accuracy (scikit-learn's accuracy_score of a 0/1 label matrix)."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=generator), (torch.rand(40, 3, generator=generator) > 0.5).float()
    items = [{"x": x[i], "labels": y[i]} for i in range(40)]

    class Tags(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(6, 3)

        def forward(self, x):
            return self.linear(x)

    data = (DataLoader(items[:30], batch_size=8), DataLoader(items[30:], batch_size=8))
    with pytest.raises(
        InvalidValueError,
        match="'val_rmse' for metric.*measures with this model and loss: val_accuracy, val_loss.",
    ):
        optimlab.compare(["sgd"], model=Tags, data=data, loss=nn.BCEWithLogitsLoss(),
                         metric="val_rmse", budget=1, seeds=1, epochs=1, out=tmp_path / "rmse")  # fmt: skip
    assert not (tmp_path / "rmse").exists()


def test_a_metric_and_its_target_given_are_the_ones_tuned_and_reported(tmp_path):
    """metric='val_accuracy', target=0.5 on dict batches of a class per position without a test split
    (whose default is val_loss) dropped the target and reported val_loss; on (train, val) tensors,
    metric='val_loss' was tuned on while val_accuracy was reported. Each is now the one tuned, reported
    (the fresh seeds' value of it, computed here by hand) and targeted."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 3, 5, generator=generator), torch.randint(0, 5, (48, 5), generator=generator)
    items = [{"x": x[i], "labels": y[i]} for i in range(48)]
    data = (DataLoader(items[:36], batch_size=6), DataLoader(items[36:], batch_size=6))
    common = {"model": FixedTagger, "loss": nn.CrossEntropyLoss(), "budget": 1, "seeds": 1, "epochs": 1}
    done = optimlab.compare(
        ["sgd"], data=data, metric="val_accuracy", target=0.5, out=tmp_path / "d", **common
    )
    (result,) = done.results
    assert (result.spec.metric, result.spec.test_metric, result.spec.target) == ("val_accuracy",) * 2 + (0.5,)
    with torch.no_grad():
        accuracy = (FixedTagger()(x[36:]).argmax(1) == y[36:]).float().mean().item()
    assert done.leaderboard[0].test.mean == pytest.approx(accuracy)

    x, y = torch.randn(60, 3, generator=generator), torch.arange(60) % 2
    done = optimlab.compare(
        ["sgd"], model=lambda: nn.Linear(3, 2), data=((x[:40], y[:40]), (x[40:], y[40:])), metric="val_loss",
        target=0.6, budget=1, seeds=1, epochs=1, out=tmp_path / "t",
    )  # fmt: skip
    (result,) = done.results
    assert (result.spec.metric, result.spec.test_metric, result.spec.target) == ("val_loss", "val_loss", 0.6)
    (rerun,) = [r for r in result.records if r.phase == "seeds"]
    assert done.leaderboard[0].test.mean == rerun.metrics["val_loss"]


def test_outputs_the_loss_broadcasts_against_their_targets_are_refused_before_any_trial(tmp_path):
    """nn.MSELoss() of dict batches' float labels (N,) and a model's (N, 1) outputs trained and scored
    every output against every target of its batch ((N, N)), with torch's warning alone. Now refused in
    one line naming both shapes; outputs shaped as their targets train. Integer labels (N,) under it are
    regression targets (N, 1), as the loss says: they were classes, with a val_accuracy (an output above
    0 counted as class 1) that meant nothing."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(48, 3, generator=generator)
    labels = (x[:, 0] > 0).long()
    items = [{"x": x[i], "labels": x[i, 0]} for i in range(48)]
    common = {"loss": nn.MSELoss(), "budget": 1, "seeds": 1, "epochs": 1}

    class Named(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)

        def forward(self, x):
            return self.linear(x)

    batches = (DataLoader(items[:32], batch_size=8), DataLoader(items[32:], batch_size=8))
    with pytest.raises(
        InvalidValueError, match=r"'outputs \(\d+, 1\) against targets \(\d+,\)' for the loss"
    ):
        optimlab.compare(["sgd"], model=Named, data=batches, out=tmp_path / "b", **common)
    assert not (tmp_path / "b").exists()
    for i, data in enumerate(((x, x[:, 0]), (x, labels))):  # float targets (N,) are read as (N, 1)
        done = optimlab.compare(
            ["sgd"], model=lambda: nn.Linear(3, 1), data=data, out=tmp_path / f"r{i}", **common
        )
        metrics = done.results[0].records[0].metrics
        assert done.results[0].spec.metric == "val_loss" and "val_accuracy" not in metrics

    # A model's own loss, or a function's, that pairs (N, 1) with (N,) itself (as Hugging Face's
    # regression head does) trains.
    class OwnLoss(Named):
        def forward(self, x, labels):
            logits = self.linear(x)
            return {"logits": logits, "loss": nn.functional.mse_loss(logits.squeeze(-1), labels)}

    data = (DataLoader(items[:32], batch_size=8), DataLoader(items[32:], batch_size=8))
    done = optimlab.compare(
        ["sgd"], model=OwnLoss, data=data, budget=1, seeds=1, epochs=1, out=tmp_path / "o"
    )
    assert done.results[0].spec.recipe.training.loss == "model"
    squeezed = lambda outputs, targets: nn.functional.mse_loss(outputs.squeeze(-1), targets)  # noqa: E731
    optimlab.compare(
        ["sgd"], model=Named, data=data, loss=squeezed, budget=1, seeds=1, epochs=1, out=tmp_path / "f"
    )


class FixedRegressor(nn.Module):
    """Three outputs from fixed weights that training leaves as they are."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3).requires_grad_(False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(3, 4, generator=torch.Generator().manual_seed(3)))
            self.linear.bias.zero_()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.linear(x) + 0 * self.unused


def test_several_regression_targets_score_their_rmse_over_every_value_in_their_units(tmp_path):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=generator)
    y = x @ torch.randn(4, 3, generator=generator) * 10 + 5  # far from unit scale: nothing rescaled
    splits = ((x[:36], y[:36]), (x[36:48], y[36:48]), (x[48:], y[48:]))
    done = optimlab.compare(
        ["sgd"], model=FixedRegressor, data=splits, budget=1, seeds=1, epochs=1, out=tmp_path
    )
    (rerun,) = [r for r in done.results[0].records if r.phase == "seeds"]
    with torch.no_grad():
        squared = (FixedRegressor()(x[48:]) - y[48:]).pow(2)
    assert rerun.metrics["test_rmse"] == pytest.approx(squared.mean().sqrt().item(), rel=1e-6)
    assert rerun.metrics["test_loss"] == pytest.approx(squared.mean().item(), rel=1e-6)  # torch's MSELoss
    assert (
        done.results[0].spec.metric == "val_loss"
        and done.leaderboard[0].test.mean == rerun.metrics["test_loss"]
    )


def test_each_trial_starts_from_its_seeds_init_and_a_shared_model_is_refused(tmp_path):
    """A factory returning one module built outside it handed every trial the weights the trial before
    had trained (trial 2 started 0.0007 away from trial 1's start, Adam's trials 0.24 away), without a
    word. Now it is refused before any trial, the shared model left untouched, and so is a model around
    a trainable layer built outside (a frozen one may be shared); a factory that builds its own gives
    every tuning trial (one seed) the same start, the one torch makes from that seed."""
    x, y = torch.randn(48, 5, generator=torch.Generator().manual_seed(0)), torch.arange(48) % 2
    common = {"data": (x, y), "budget": 2, "seeds": 1, "epochs": 1}
    shared = nn.Linear(5, 2)
    untouched = shared.weight.detach().clone()
    for name, build in {
        "one model": lambda: shared,
        "one layer": lambda: nn.Sequential(shared, nn.Tanh(), nn.Linear(2, 2)),
    }.items():
        with pytest.raises(
            InvalidValueError, match=r"sharing trainable weights \(.*weight, .*bias\)"
        ) as error:
            optimlab.compare(["sgd", "adam"], model=build, out=tmp_path / name, **common)
        assert "\n" not in str(error.value) and torch.equal(shared.weight, untouched)
    frozen = nn.Linear(5, 2).requires_grad_(False)  # nothing trains it: it may be shared
    done = optimlab.compare(
        ["sgd"], model=lambda: nn.Sequential(frozen, nn.Linear(2, 2)), out=tmp_path / "f", **common
    )
    assert all(r.state == "complete" for r in done.results[0].records)
    # Wholly frozen: named as the user's Linear, not as the Sequential around it that scales its inputs.
    with pytest.raises(
        InvalidValueError, match=r"^invalid value 'a Linear with no parameter that requires grad'"
    ):
        optimlab.compare(
            ["sgd"], model=lambda: nn.Linear(5, 2).requires_grad_(False), out=tmp_path / "z", **common
        )

    starts = []

    def build():
        model = nn.Linear(5, 2)
        starts.append(model.weight.detach().clone())
        return model

    done = optimlab.compare(["sgd", "adam"], model=build, out=tmp_path / "own", **common)
    tuning = [r for r in done.results[0].records if r.phase == "tune"]
    assert len(tuning) == 4 and len({r.seed for r in tuning}) == 1
    torch.manual_seed(tuning[0].seed)
    expected = nn.Linear(5, 2).weight.detach()
    # The check before the trials builds two of each method, then 4 tuning trials and 2 reruns on fresh seeds.
    same = [torch.equal(start, expected) for start in starts]
    assert len(same) == 10 and sum(same) == 8 and not any(torch.equal(s, expected) for s in starts[-1:])


def test_a_validation_split_without_rows_is_refused_before_any_trial(tmp_path):
    """(train, val) with an empty val, or 2 rows split 60/20/20, ran every trial and ranked them on a
    validation metric of nan. Now refused in one line, nothing written."""
    x, y = torch.randn(40, 3, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 2
    for data in (((x, y), (x[:0], y[:0])), (x[:2], y[:2])):
        with pytest.raises(InvalidValueError, match="'no rows' for the validation split of"):
            optimlab.compare(["sgd"], model=lambda: nn.Linear(3, 2), data=data, budget=1, seeds=1, epochs=1,
                             out=tmp_path / "v")  # fmt: skip
        assert not (tmp_path / "v").exists()


def test_resuming_a_folder_that_holds_no_study_leaves_nothing_behind(tmp_path):
    """resume=True of a mistyped folder said 'no optimlab study at ...' and left the folder behind, holding
    an empty study.journal; a report of a folder without one wrote one into it."""
    from optimlab.report.study_history import write_history_report

    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    for given in ({"data": (x, y)}, {}):
        with pytest.raises(OptimlabError, match="no study at .*: it holds no study.journal; give the folder"):
            optimlab.compare(out=tmp_path / "typo", resume=True, **given)
        assert not (tmp_path / "typo").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptimlabError, match="it holds no study.journal"):
        write_history_report([tmp_path / "empty"], tmp_path / "page.html")
    assert not any((tmp_path / "empty").iterdir())


@pytest.fixture
def fresh_sessions(forked_parents) -> ForkedCommand:
    """A parent that imported torch and optimlab once and forks each session's process from it: a fresh
    process per session (nothing of another session in it), without an interpreter and torch start each."""
    return forked_parents()


def _sessions(tmp_path, fresh_sessions):
    """A study of ``optimlab.compare`` on tensors ``first`` at tmp_path/a, and ``session(which,
    **options)`` that runs it in a process of its own, as a new session does, on ``first``, ``same`` (its
    values in new tensors) or ``other`` (its labels flipped)."""
    import subprocess

    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    torch.save({"first": (x, y), "same": (x.clone(), y.clone()), "other": (x, 1 - y)}, tmp_path / "data.pt")
    (tmp_path / "session-output").mkdir()

    def session(which: str, **options: object) -> subprocess.CompletedProcess[str]:
        """optimlab.compare in a process of its own, as a new session runs it."""
        code = (
            "import sys, torch, optimlab\n"
            f"data = torch.load({str(tmp_path / 'data.pt')!r})[{which!r}]\n"
            "try:\n"
            f"    done = optimlab.compare(data=data, out={str(tmp_path / 'a')!r}, **{options!r})\n"
            "except optimlab.errors.OptimlabError as error:\n"
            "    sys.exit(str(error))\n"
            "print(done.leaderboard[0].test.n)\n"
        )
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        returncode, out, err = fresh_sessions.run([], tmp_path, env, tmp_path / "session-output", 300, code)
        return subprocess.CompletedProcess(code, returncode, out, err)

    first = session("first", optimizers=["sgd"], model="mlp", budget=1, seeds=1, epochs=1)
    assert first.returncode == 0, first.stderr
    return session


def test_a_comparison_resumed_in_a_fresh_session_refuses_other_data_under_its_name(tmp_path, fresh_sessions):
    """A fresh session names its data '<data>' as the first did: resumed with other tensors, the new seed
    runs trained on them beside the old ones' results (test accuracy 0.96 and 0.99 averaged with 0.5 and
    0.6), without a word. The study keeps the sha256 of the data's values, and refuses others."""
    session = _sessions(tmp_path, fresh_sessions)
    other = session("other", resume=True, seeds=2)
    assert other.returncode == 1 and other.stderr.startswith(
        "cannot resume study 'your_code': method 'sgd' reads its data '<data>' as other values than its "
        "trials trained on (another sha256 of their tensors)"
    ), other.stderr
    same = session("same", resume=True, seeds=2)  # equal values in new tensors: the same data
    assert same.returncode == 0 and same.stdout.split() == ["2"], same.stderr


def test_a_comparison_stored_with_only_its_objects_digest_is_checked_by_it(tmp_path, fresh_sessions):
    """Studies of optimlab.compare stored on 2026-12-05 before the one digest of every study's data hold
    only the sha256 of the user's object as held (OBJECT_DATA_ATTR): resumed with other tensors they are
    refused as a study of today is. The stored digest is computed here as that version did: sha256 of
    each tensor's dtype, shape and bytes."""
    import hashlib

    from optimlab.study.storage import DATA_ATTR, OBJECT_DATA_ATTR, open_storage, optimlab_studies

    session = _sessions(tmp_path, fresh_sessions)
    x, y = torch.load(tmp_path / "data.pt")["first"]
    old = hashlib.sha256()
    for tensor in (x, y):
        old.update(f"{tensor.dtype}{tuple(tensor.shape)};".encode())
        old.update(tensor.contiguous().numpy().tobytes())
    storage = open_storage(str(tmp_path / "a"))
    (study_id,) = [storage.get_study_id_from_name(s.study_name) for s in optimlab_studies(storage)]
    storage.set_study_user_attr(study_id, DATA_ATTR, None)  # as the older version stored it
    storage.set_study_user_attr(study_id, OBJECT_DATA_ATTR, {"<data>": old.hexdigest()})
    other = session("other", resume=True, seeds=3)
    assert other.returncode == 1 and "reads its data '<data>' as other values" in other.stderr, other.stderr
    same = session("same", resume=True, seeds=3)
    assert same.returncode == 0 and same.stdout.split() == ["3"], same.stderr
    storage.set_study_user_attr(study_id, OBJECT_DATA_ATTR, None)
    unknown = session("other", resume=True, seeds=3)  # an optimlab that recorded no digest: said
    assert unknown.returncode == 0 and "data are not checked" in unknown.stderr, unknown.stderr


def test_the_call_that_started_a_comparison_resumes_it_when_run_again(tmp_path):
    """A script killed mid-way and run again with resume=True added was refused: 'drop optimizers, budget,
    seeds, epochs', though nothing had changed. The same call resumes it; a changed setting is named."""
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    call = {"model": "mlp", "data": (x, y), "out": tmp_path, "budget": 2, "seeds": 1, "epochs": 1}
    first = optimlab.compare(["sgd", "adam"], **call)
    again = optimlab.compare(["sgd", "adam"], resume=True, **call)
    assert [(r.key, r.value) for r in again.results[0].records] == [
        (r.key, r.value) for r in first.results[0].records
    ]
    more = optimlab.compare(["sgd", "adam"], resume=True, **(call | {"seeds": 2}))
    assert [row.test.n for row in more.leaderboard] == [2, 2]
    with pytest.raises(OptimlabError, match="^cannot resume study 'your_code': its budget would change"):
        optimlab.compare(["sgd", "adam"], resume=True, **(call | {"budget": 3}))


def test_resume_that_is_no_bool_is_refused(tmp_path):
    """``resume="yes"`` failed deep in the study's storage with a bare TypeError."""
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    with pytest.raises(InvalidValueError, match="invalid value 'yes' for resume: accepted True or False"):
        optimlab.compare(["sgd"], model=lambda: nn.Linear(3, 2), data=(x, y), out=tmp_path, resume="yes")


def test_two_comparisons_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    """The default folder, runs/compare-NAME-TIME, is named to the second: a script's second
    compare() call within it was refused ('the storage already holds study your_code')."""
    import optimlab.runs_folder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(optimlab.runs_folder.time, "strftime", lambda fmt, *args: "20260101-120000")
    x, y = torch.randn(48, 3), torch.randint(0, 2, (48,))
    for build in (lambda: nn.Linear(3, 2), lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))):
        optimlab.compare(["sgd"], model=build, data=(x, y), budget=1, seeds=1, epochs=1)
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders == ["compare-your_code-20260101-120000", "compare-your_code-20260101-120000-2"]
    assert all((tmp_path / "runs" / f / "leaderboard.csv").is_file() for f in folders)


def hits(outputs, targets):
    """A metric of this importable module: the share of rows whose top class is the label."""
    return (outputs.argmax(1) == targets).float().mean()


def test_a_metric_given_as_a_function_is_tuned_on_by_its_path(tmp_path):
    """``compare(metric=f1)``, the function itself as ``model`` and ``loss`` are taken, raised a bare
    AttributeError ('function' object has no attribute 'strip'). A function of an importable module is
    its path; one that no backend can import (a lambda) is refused in one line."""
    x, y = torch.randn(48, 3), torch.randint(0, 2, (48,))
    run = {"model": lambda: nn.Linear(3, 2), "data": (x, y), "budget": 1, "seeds": 1, "epochs": 1}
    found = optimlab.compare(["sgd"], metric=hits, out=tmp_path / "by_function", **run)
    by_path = optimlab.compare(["sgd"], metric=f"{__name__}:hits", out=tmp_path / "by_path", **run)
    assert found.results[0].spec.metric == "val_hits"
    assert found.leaderboard[0].tuned == by_path.leaderboard[0].tuned
    with pytest.raises(InvalidValueError, match="for metric: accepted an import path 'mypkg.metrics:f1'"):
        optimlab.compare(["sgd"], metric=lambda outputs, targets: 0.5, out=tmp_path / "lambda", **run)


def test_labels_reach_the_users_loss_as_given_and_a_mapping_for_optimlabs_loss_is_said(tmp_path):
    """compare with the user's -1/+1 labels handed them to the user's SoftMarginLoss as 0/1 (each -1 row a
    constant log 2) without a word; the command line says the mapping in its data line. Now the user's
    loss gets every label as given, and optimlab's cross-entropy, which needs ids 0..K-1, maps them and
    says so in a warning."""
    x = torch.randn(80, 4, generator=torch.Generator().manual_seed(2))
    y = torch.where(x[:, 0] > 0, 1, -1)
    seen = []

    class SoftMargin(nn.SoftMarginLoss):
        def forward(self, outputs, targets):
            seen.append(targets.detach().clone())
            return super().forward(outputs.squeeze(-1), targets.float())

    def net(input_shape, num_outputs):
        return nn.Linear(input_shape[0], 1)

    run = {"budget": 1, "seeds": 1, "epochs": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)
        optimlab.compare(["sgd"], model=net, data=(x, y), loss=SoftMargin(), out=tmp_path / "own", **run)
    assert set(torch.cat(seen).tolist()) == {-1, 1}
    with pytest.warns(
        OptimlabWarning, match=r"^data: labels -1, 1 as classes 0-1, the class ids a cross-entropy"
    ):
        optimlab.compare(["sgd"], data=(x, y), out=tmp_path / "ids", **run)


def test_the_default_metric_follows_what_a_model_s_own_loss_makes_of_integer_labels(tmp_path):
    """Hugging Face's sequence classification with num_labels=1 is a regression (its own loss the MSE
    of one score, integer labels too), which the evaluation scores with a val_loss alone: compare chose
    val_accuracy from the labels and stopped before any trial ("invalid value 'val_accuracy' for metric
    (--metric)") though no metric was given. Truth: the real transformers model; num_labels=2, a
    cross-entropy of two scores, keeps val_accuracy; so does a user's module whose own loss is the MSE of
    one score, which gets val_loss."""
    transformers = pytest.importorskip("transformers")
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 30, (48, 8), generator=generator)
    counts = (ids < 10).sum(1)  # int64 labels
    items = [{"input_ids": ids[i], "labels": counts[i] % 2} for i in range(48)]
    data = (DataLoader(items[:32], batch_size=8), DataLoader(items[32:], batch_size=8))
    for num_labels, metric in ((1, "val_loss"), (2, "val_accuracy")):
        config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32, max_position_embeddings=16, num_labels=num_labels)  # fmt: skip
        model = lambda config=config: transformers.AutoModelForSequenceClassification.from_config(config)  # noqa: E731
        done = optimlab.compare(["sgd"], model=model, data=data, budget=1, seeds=1, epochs=1,
                                out=tmp_path / str(num_labels))  # fmt: skip
        (result,) = done.results
        assert (result.spec.metric, result.spec.goal) == (metric, "min" if metric == "val_loss" else "max")
        assert metric in result.records[0].metrics

    class OwnMSE(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)

        def forward(self, x, labels):
            logits = self.linear(x)
            return {"logits": logits, "loss": nn.functional.mse_loss(logits.squeeze(-1), labels.float())}

    x = torch.randn(48, 3, generator=generator)
    items = [{"x": x[i], "labels": (x[i, 0] > 0).long()} for i in range(48)]
    data = (DataLoader(items[:32], batch_size=8), DataLoader(items[32:], batch_size=8))
    done = optimlab.compare(["sgd"], model=OwnMSE, data=data, budget=1, seeds=1, epochs=1, out=tmp_path / "m")
    assert done.results[0].spec.metric == "val_loss"


def test_the_same_data_object_under_another_loss_is_read_for_that_loss(tmp_path):
    """Data are read as the loss reads targets (mse: numbers; cross-entropy: classes 0..K-1), and were
    named once per object: labels 2/5 compared under mse, then the same tuple under the default
    cross-entropy, trained the second study on the mse reading (its metric val_loss, a test value of
    12.8) without a word. The same object under another loss is read again: the numbers of a new tuple
    of the same tensors, read for cross-entropy alone."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 4, generator=generator)
    data = (x, (x[:, 0] > 0).long() * 3 + 2)
    options = {"model": lambda input_shape, num_outputs: nn.Linear(4, num_outputs), "budget": 1, "seeds": 1,
               "epochs": 1}  # fmt: skip
    as_numbers = optimlab.compare(["sgd"], data=data, loss="mse", out=tmp_path / "mse", **options)
    assert as_numbers.results[0].spec.metric == "val_loss"
    with pytest.warns(OptimlabWarning, match="labels 2, 5 as classes 0-1"):
        as_classes = optimlab.compare(["sgd"], data=data, out=tmp_path / "ce", **options)
    with pytest.warns(OptimlabWarning, match="labels 2, 5 as classes 0-1"):
        fresh = optimlab.compare(
            ["sgd"], data=tuple(t.clone() for t in data), out=tmp_path / "new", **options
        )
    (mine,), (truth,) = as_classes.leaderboard, fresh.leaderboard
    assert as_classes.results[0].spec.metric == "val_accuracy"
    assert mine.test.mean == truth.test.mean and 0 <= mine.test.mean <= 1


def test_a_loss_given_in_recipe_reads_the_data_as_the_loss_argument_does(tmp_path):
    """recipe={'training.loss': 'mse'} read the targets as classes (the default loss's reading), then
    refused mse as 'no classification loss for data': the data are read for the recipe's loss as for
    loss='mse', and the comparison is that one's (same metric, same numbers)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 4, generator=generator)
    y = (x[:, 0] > 0).long() * 3 + 2
    options = {"model": lambda input_shape, num_outputs: nn.Linear(4, num_outputs), "budget": 1, "seeds": 1,
               "epochs": 1}  # fmt: skip
    by_argument = optimlab.compare(["sgd"], data=(x, y), loss="mse", out=tmp_path / "a", **options)
    in_recipe = optimlab.compare(
        ["sgd"], data=(x.clone(), y.clone()), recipe={"training.loss": "mse"}, out=tmp_path / "r", **options
    )
    nested = optimlab.compare(
        ["sgd"],
        data=(x.clone(), y.clone()),
        recipe={"training": {"loss": "mse"}},
        out=tmp_path / "n",
        **options,
    )
    (mine,), (truth,), (also,) = in_recipe.leaderboard, by_argument.leaderboard, nested.leaderboard
    assert in_recipe.results[0].spec.metric == by_argument.results[0].spec.metric == "val_loss"
    assert mine.test.mean == truth.test.mean == also.test.mean
    with pytest.raises(InvalidValueError, match="invalid value 'mes' for recipe: .*did you mean 'mse'"):
        optimlab.compare(["sgd"], data=(x, y), recipe={"training.loss": "mes"}, out=tmp_path / "b", **options)


class Buggy(nn.Module):
    """A model whose own forward raises from the ``calls``-th call of its class on: a bug of the user's
    code, not of the data it is given."""

    calls, called = 1, 0

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.linear = nn.Linear(input_shape[0], num_outputs)

    def forward(self, x):
        type(self).called += 1
        if self.called >= self.calls:
            raise self.error("the model's own bug")  # the line each refusal names
        return self.linear(x)


def _line(mark: str) -> int:
    """The line of this file marked ``mark``: the truth a refusal names."""
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.endswith(f"# {mark}"))


@pytest.mark.parametrize("error", [RuntimeError, ZeroDivisionError])
def test_an_exception_of_the_users_model_is_named_with_its_line(error, tmp_path):
    """A forward that raised was told as bad data alone: 'invalid value <a tuple of 2 ...> for the first
    batch: accepted a batch the model and the loss can use (RuntimeError: ...)', in a trial's record and,
    raised on the first step, as the whole comparison's refusal (a ZeroDivisionError there: a traceback).
    Truth: the exception the model raised and the line of this file that raised it. A trial raising is
    recorded as failed, and the study goes on; a first step raising stops it in one line before any
    trial. The batch's shapes stay beside it where the batch was refused: a forward raising and a batch
    it cannot take both raise in the user's lines."""
    x, y = torch.randn(48, 3, generator=torch.Generator().manual_seed(0)), torch.arange(48) % 2
    said = f"{error.__name__}: the model's own bug"
    line = f" (test_user_compare.py, line {_line('the line each refusal names')})"
    batch = r"invalid value 'a tuple of 2 \(float32 \(\d+, 3\), int64 \(\d+,\)\)' for the first batch"
    told = (
        f"InvalidValueError: {batch}: .*\\({re.escape(said)}\\)" if error is RuntimeError else re.escape(said)
    )
    # past the check before any trial (4 calls: its step, evaluations): from the first trial's first step on
    late = type("Late", (Buggy,), {"calls": 5, "error": error})
    result = optimlab.compare(["sgd"], model=late, data=(x, y), out=tmp_path / "late", **SMALL)
    records = result.results[0].records
    assert len(records) == SMALL["budget"]  # each tuning trial ran (none to rerun on fresh seeds): failed
    assert {(r.state, r.status) for r in records} == {("fail", "error")}
    for record in records:
        assert re.fullmatch(told + re.escape(line), record.message), record.message
    first = type("First", (Buggy,), {"calls": 1, "error": error})
    with pytest.raises(
        OptimlabError, match=f"first training step raised {told}{re.escape(line)}, a line of the user's code"
    ) as refused:
        optimlab.compare(["sgd"], model=first, data=(x, y), out=tmp_path / "first", **SMALL)
    assert "\n" not in str(refused.value)
    # Torch refusing what the model was given, with no line of the user's code: the batch's refusal alone.
    with pytest.raises(
        InvalidValueError, match="for the first batch: accepted a batch the model and the loss"
    ) as refused:
        optimlab.compare(
            ["sgd"],
            model=lambda input_shape, num_outputs: nn.Linear(4, num_outputs),
            data=(x, y),
            out=tmp_path / "mismatch",
            **SMALL,
        )
    assert "test_user_compare.py" not in str(refused.value)


class Misspelt(nn.Module):
    """A typo in the user's forward: torch's ``Module.__getattr__`` raises it, in torch's lines."""

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.linear = nn.Linear(input_shape[0], num_outputs)

    def forward(self, x):
        return self.lienar(x)  # the misspelt line


class Four(nn.Module):
    """A forward taking 4 features, given a batch of 3: the matrix product raises in the user's line."""

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4, num_outputs))

    def forward(self, x):
        return x @ self.w  # the product's line


@pytest.mark.parametrize(
    ("model", "mark", "reason"),
    [
        (Misspelt, "the misspelt line", "'Misspelt' object has no attribute 'lienar'"),
        (Four, "the product's line", "mat1 and mat2 shapes cannot be multiplied"),
    ],
)
def test_a_first_step_refused_names_the_batch_and_the_users_line_alike(model, mark, reason, tmp_path):
    """Where the traceback stopped chose a side, wrong both ways: a typo in the user's forward (raised in
    torch's Module.__getattr__) was the batch's refusal with no line of the user's, a wrong-shaped batch
    in the user's ``x @ self.w`` was 'RuntimeError: mat1 and mat2 ... (file, line)', the batch's shapes
    gone. Truth: the batch as given (3 features) and the line of this file it went through, both said."""
    x, y = torch.randn(48, 3, generator=torch.Generator().manual_seed(0)), torch.arange(48) % 2
    with pytest.raises(OptimlabError) as refused:
        optimlab.compare(["sgd"], model=model, data=(x, y), out=tmp_path, **SMALL)
    said = str(refused.value)
    assert re.search(
        r"for the first batch: .*float32 \(\d+, 3\)|float32 \(\d+, 3\).* for the first batch", said
    ), said
    assert reason in said and said.endswith(
        f"(test_user_compare.py, line {_line(mark)}), a line of the user's code (its model, loss, data or "
        "optimizer); every trial would fail alike: mend that line or the batches it is given, and run again"
    ), said


def test_an_empty_workload_name_is_refused_and_get_workloads_object_is_taken(monkeypatch):
    """workload="" ran digits_mlp without a word (``workload or DEFAULT_WORKLOAD``) where "  " was refused;
    get_workload("teacher_student", epochs=3) was refused though study.compare takes it: it now plans
    that workload with its 3 epochs (truth: the object given), run_comparison patched out."""
    import optimlab.study.user_compare as user_compare

    planned = {}
    monkeypatch.setattr(user_compare, "run_comparison", lambda values, **plan: planned.update(plan))
    monkeypatch.setattr(user_compare, "_failures_said", lambda done: done)
    with pytest.raises(OptimlabError, match="unknown workload ''"):
        optimlab.compare(["sgd"], workload="", budget=1, seeds=1)
    given = get_workload("teacher_student", epochs=3)
    optimlab.compare(["sgd"], workload=given, budget=1, seeds=1)
    (chosen,) = planned["workloads"]
    assert (chosen.name, chosen.recipe.training.epochs) == ("teacher_student", 3)
    assert chosen.recipe.model == given.recipe.model


def test_a_comparison_stored_before_fixed_splits_resumes_from_python(tmp_path):
    """A comparison stored by optimlab.compare(out=...) before every trial split at the tuning seed (its
    spec without ``fixed_split``) was refused by resume=True, 'its fixed_split would change', where
    optimlab compare --resume took it: the API kept its own copy of the resume rule. It resumes now as it
    ran: its trials kept, the new seed rerun split by its own seed. Truth: the keys and numbers stored
    before, and the spec the CLI's rule (StudySpec.resumes) resumes."""
    import dataclasses

    from optimlab.study.protocols import StudySpec
    from optimlab.study.storage import SPEC_ATTR, open_storage

    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    call = {"data": (x, y), "out": tmp_path, "budget": 1, "epochs": 1}
    planned = StudySpec.for_workload.__func__

    def split_by_seed(cls, *args, **kwargs):  # planned as before: each trial split by its own seed
        return dataclasses.replace(planned(cls, *args, **kwargs), fixed_split=False)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StudySpec, "for_workload", classmethod(split_by_seed))
        before = optimlab.compare(["sgd"], seeds=1, **call)
    storage = open_storage(tmp_path, create=False)
    for study in storage.get_all_studies():
        stored = {k: v for k, v in study.user_attrs[SPEC_ATTR].items() if k != "fixed_split"}
        storage.set_study_user_attr(study._study_id, SPEC_ATTR, stored)
    assert before.results[0].spec.resumes(stored)
    more = optimlab.compare(["sgd"], seeds=2, resume=True, **call)
    (result,) = more.results
    assert not result.spec.fixed_split
    kept = {r.key: (r.seed, r.value, r.metrics) for r in before.results[0].records}
    now = {r.key: (r.seed, r.value, r.metrics) for r in result.records}
    assert sorted(now) == ["seeds/0", "seeds/1", "tune/0"] and {k: now[k] for k in kept} == kept
    rerun = next(r for r in result.records if r.key == "seeds/1")
    assert all(r.recipe["data"].get("split_seed") is None for r in result.records)
    assert rerun.seed == 2


@pytest.mark.parametrize(("argument", "control"), [("name", "\n"), ("name", "\x1b"), ("out", "\r")])
def test_a_name_or_folder_of_a_control_character_is_refused_in_one_line(tmp_path, argument, control):
    """``optimlab.compare(..., name='a\\nb')`` stored the study's name with its newline (its leaderboard.csv's
    rows and the resume command broke in two), which ``compare --name`` refuses since ffc0dcc4: the same
    refusal, one line naming the argument and the character, before any study is made."""
    given = {"out": tmp_path / "run", "name": f"a{control}b"}
    if argument == "out":
        given = {"out": str(tmp_path / f"run{control}2")}
    with pytest.raises(OptimlabError) as refused:
        optimlab.compare(["sgd"], workload="noisy_quadratic", **SMALL, **given)
    said = str(refused.value)
    assert "\n" not in said and "\r" not in said
    assert f"for {argument}:" in said and f"control character ({repr(control)[1:-1]})" in said
    assert list(tmp_path.iterdir()) == []  # no folder made


def test_a_storage_url_of_a_control_character_is_refused_without_its_password(tmp_path):
    """The refusal of a storage URL holding a control character quoted it whole, its password too, where
    every other line naming a storage hides it (study.storage.without_passwords)."""
    with pytest.raises(OptimlabError) as refused:
        optimlab.compare(
            ["sgd"], workload="noisy_quadratic", storage="postgresql://me:hunter2@db/x\x1b", **SMALL
        )
    said = str(refused.value)
    assert "hunter2" not in said and "for storage:" in said and "control character (\\x1b)" in said
    assert "postgresql://me:***@db/x" in said, said


@pytest.mark.parametrize(
    ("call", "argument", "field"),
    [
        ({"compare": {"model.width": [8, 16]}, "recipe": {"model.width": 32}}, "compare", "model.width"),
        (
            {"optimizers": ["sgd"], "epochs": 2, "recipe": {"training": {"epochs": 5}}},
            "epochs",
            "training.epochs",
        ),
        (
            {"optimizers": ["sgd"], "space": {"optimizer.lr": [0.1, 0.01]}, "recipe": {"optimizer.lr": 0.5}},
            "space",
            "optimizer.lr",
        ),
        ({"optimizers": ["sgd"], "recipe": {"optimizer.options.lr": 0.5}}, "space", "optimizer.lr"),
        (
            {"optimizers": ["sgd", "adam"], "recipe": {"optimizer": {"name": "sgd"}}},
            "optimizers",
            "optimizer.name",
        ),
    ],
)
def test_a_recipe_field_another_argument_sets_is_refused_in_one_line(tmp_path, call, argument, field):
    """``compare={'model.width': [8, 16]}, recipe={'model.width': 32}`` ran both methods without a word
    that the width held constant was never trained (the compared one, the tuned lr, epochs= lost to the
    recipe's, ... set it over it): each such field is refused naming both arguments, before any folder is
    made."""
    with pytest.raises(InvalidValueError) as refused:
        optimlab.compare(budget=2, seeds=1, out=tmp_path / "run", **{"epochs": 1, **call})
    said = str(refused.value)
    assert "\n" not in said and said.startswith("invalid value") and "for recipe:" in said
    assert f"{argument} sets {field}" in said
    assert list(tmp_path.iterdir()) == []


def test_a_recipe_section_beside_the_users_model_and_data_keeps_them(tmp_path):
    """``recipe={'data': {'val_fraction': 0.3}}`` beside ``data=data`` trained on digits: the recipe's
    section replaced the one naming the user's data (as ``{'model': {...}}`` did the user's model). The
    recipe's fields now update those sections: the study's recipe names the user's model and data and holds
    the fields given (truth: the same call with the fields dotted)."""
    torch.manual_seed(0)
    data = (torch.randn(60, 4), torch.randint(0, 2, (60,)))
    model = lambda: nn.Linear(4, 2)  # noqa: E731 (a factory, as a user passes one)
    options = {"budget": 1, "seeds": 1, "epochs": 1, "space": {"optimizer.lr": [0.1]}}
    sections = {"data": {"val_fraction": 0.3}, "model": {"dropout": "own_default"}}
    done = optimlab.compare(["sgd"], model=model, data=data, recipe=sections, out=tmp_path / "s", **options)
    dotted = {"data.val_fraction": 0.3, "model.dropout": "own_default"}
    again = optimlab.compare(["sgd"], model=model, data=data, recipe=dotted, out=tmp_path / "d", **options)
    recipe = done.results[0].spec.recipe
    assert recipe.to_dict() == again.results[0].spec.recipe.to_dict()
    assert recipe.data.name.startswith("<data") and recipe.model.name.startswith("<")
    assert recipe.data.val_fraction == 0.3


def test_torchs_mse_function_as_the_loss_reads_the_targets_as_its_module_does(tmp_path):
    """compare(loss=F.mse_loss) of targets (N,) trained a Linear(3, 1)'s (N, 1) outputs against them
    broadcast to (N, N) (test loss 3.14 where loss=nn.MSELoss() gave 1.54), while the module's data were
    read as a regression's column. The function is read as its module (build.task_of_loss). Truth: the
    same runs, the same test loss, as nn.MSELoss()."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(120, 3, generator=generator)
    y = x.sum(1)
    tested = {}
    for name, loss in (("module", nn.MSELoss()), ("function", nn.functional.mse_loss)):
        found = optimlab.compare(
            ["sgd"], model=lambda: nn.Linear(3, 1), data=(x, y), loss=loss, epochs=2, budget=1, seeds=1,
            out=tmp_path / name, metric="val_loss",
        )  # fmt: skip
        tested[name] = found.leaderboard[0].test.mean
    assert tested["function"] == tested["module"]


def test_a_metric_refused_lists_the_built_in_metrics_its_data_give(tmp_path):
    """compare(metric='val_f1x') of classes listed val_rmse among the accepted names, which no
    classification's evaluation gives (and val_accuracy of a regression's). Truth: what fit's evaluation
    of the same data reports, val_loss and val_accuracy for labels, val_loss and val_rmse for values."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=generator)
    for y, outputs, other in (
        ((x.sum(1) > 0).long(), 2, "val_rmse"),
        (x.sum(1, keepdim=True), 1, "val_accuracy"),
    ):
        model = nn.Linear(4, outputs)
        given = optimlab.fit(model, torch.optim.SGD(model.parameters(), lr=0.0), (x, y), total_steps=1,
                             loss_fn=nn.CrossEntropyLoss() if outputs == 2 else nn.MSELoss(), val_data=(x, y))  # fmt: skip
        named = ", ".join(sorted(given.last_metrics, key=lambda m: m != "val_loss"))
        with pytest.raises(InvalidValueError) as refused:
            optimlab.compare(["sgd"], model=lambda o=outputs: nn.Linear(4, o), data=(x, y), metric="val_f1x",
                             epochs=1, budget=1, seeds=1, out=tmp_path / str(outputs))  # fmt: skip
        assert f"accepted one of {named}, or a metric of yours" in str(refused.value)
        assert other not in str(refused.value)


def test_a_comparison_whose_recipe_sets_its_epochs_resumes_by_the_call_that_started_it(tmp_path):
    """recipe={'training.epochs': 1} ran, and the same call with resume=True was refused ('epochs sets
    training.epochs'): the epochs read from the stored study were taken as given beside the recipe's. A
    space left out reads as stored alike, the recipe's lr beside it kept. Truth: the first call's records."""
    x, y = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 2
    call = {"model": "mlp", "data": (x, y), "out": tmp_path, "budget": 1, "seeds": 1}
    call |= {"recipe": {"training.epochs": 1, "optimizer.lr": 0.05}, "space": {"training.batch_size": [16]}}
    first = optimlab.compare(["sgd", "adam"], **call)
    again = optimlab.compare(["sgd", "adam"], resume=True, **call)
    space_as_stored = optimlab.compare(
        ["sgd", "adam"], resume=True, **{k: call[k] for k in call if k != "space"}
    )
    for resumed in (again, space_as_stored):
        assert [(r.key, r.value) for r in resumed.results[0].records] == [
            (r.key, r.value) for r in first.results[0].records
        ]
    with pytest.raises(InvalidValueError, match="epochs sets training.epochs"):  # given twice, still refused
        optimlab.compare(["sgd", "adam"], resume=True, epochs=1, **call)


@pytest.mark.parametrize(
    ("recipe", "field"),
    [
        ({"optimizer.weight_decay": 0.1, "optimizer.options.weight_decay": 0.2}, "optimizer.weight_decay"),
        ({"optimizer.lr": 0.1, "optimizer": {"options": {"lr": 0.2}}}, "optimizer.lr"),
        ({"model.init.gain": 3, "model.init": {"name": "he", "gain": 2}}, "model.init.gain"),
    ],
)
def test_a_recipe_setting_one_field_by_two_keys_is_refused_naming_both(tmp_path, recipe, field):
    """recipe={'optimizer.weight_decay': 0.1, 'optimizer.options.weight_decay': 0.2} trained at 0.2 without a
    word (with_updates keeps the later), where a recipe file holding both is refused. Truth: each key alone
    sets the same field (Recipe.with_updates), and the file's own refusal."""
    first, second = recipe
    sgd = Recipe().with_updates({"optimizer.name": "sgd", "model.init": "he"})
    alone = [sgd.with_updates({key: recipe[key]}) for key in (first, second)]
    assert alone[0] != alone[1] and alone[1] == sgd.with_updates(recipe)  # the later won
    with pytest.raises(RecipeError, match="set twice"):
        Recipe.from_dict({"optimizer": {"name": "sgd", "momentum": 0.9, "options": {"momentum": 0.5}}})
    said = f"for recipe: accepted fields each set once, but both keys set {field}."
    with pytest.raises(InvalidValueError, match=re.escape(said)) as refused:
        optimlab.compare(["sgd"], recipe=recipe, budget=1, seeds=1, out=tmp_path)
    assert str(refused.value).startswith(f"invalid value {recipe!r} for recipe")
    assert not list(tmp_path.iterdir())  # nothing trained or stored


@pytest.mark.parametrize("recipe", [{1: 2}, {"training.epochs": 1, ("model", "width"): 8}, {None: 2}])
def test_a_recipe_keyed_by_other_than_field_names_is_refused_in_one_line(tmp_path, recipe):
    """recipe={1: 2} ended in an AttributeError ('int' object has no attribute 'split') where the fields
    were read. Truth: a recipe's keys are dotted field names or its sections (Recipe.with_updates); the
    refusal names the key and the recipe argument, in one line, nothing stored."""
    key = next(k for k in recipe if not isinstance(k, str))
    said = f"invalid value {{{key!r}: {recipe[key]!r}}} for recipe: accepted dotted field names or sections"
    with pytest.raises(InvalidValueError, match=re.escape(said)):
        optimlab.compare(["sgd"], recipe=recipe, budget=1, seeds=1, out=tmp_path)
    assert not list(tmp_path.iterdir())
