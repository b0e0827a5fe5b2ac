"""``optimlab.study.compare``: the comparison behind ``optimlab compare``, planned without training."""

import dataclasses
import errno
import os
import re
import warnings

import pytest

import optimlab.data
import optimlab.study.report as study_report
from optimlab.bench.settings import planned_workloads
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.recipe import Recipe
from optimlab.report.chance import chance_levels
from optimlab.study.compare import compare, plan_comparison
from optimlab.study.space import SearchSpace
from optimlab.workloads import get_workload
from optimlab.workloads.teacher_student import teacher_student


def test_a_plan_has_one_study_per_workload_with_the_given_budget():
    specs = plan_comparison(
        ["sgd", "adam"], workloads=["digits-mlp", "two-spirals-mlp"], epochs=1, budget=2, seeds=1, name="s"
    )
    assert [s.name for s in specs] == ["s-digits_mlp", "s-two_spirals_mlp"]
    assert all(s.budget == 2 and s.seeds == 1 and s.recipe.training.epochs == 1 for s in specs)
    assert [m.name for m in specs[0].methods] == ["sgd", "adam"]
    one = plan_comparison(["relu", "tanh"], field="model.activation", name="acts")
    assert [s.name for s in one] == ["acts"] and one[0].method_recipe(
        one[0].methods[1]
    ).model.activation == "tanh"


def test_epochs_reach_a_workload_given_as_an_object_as_they_reach_a_named_one():
    """``epochs`` went to named workloads only: a :class:`Workload` object (the user's, from
    ``optimlab.compare``) kept its own 20 epochs, silently. Truth: the named workload's plan at the same
    epochs; a workload counting steps refuses epochs, which it would not read, naming them."""
    named = get_workload("digits_mlp")
    (own,) = plan_comparison(["sgd"], workloads=[dataclasses.replace(named, name="mine")], epochs=2)
    (by_name,) = plan_comparison(["sgd"], workloads=["digits_mlp"], epochs=2)
    assert own.recipe.training.epochs == by_name.recipe.training.epochs == 2
    assert own.recipe.model_dump() == by_name.recipe.model_dump()
    stepped = dataclasses.replace(
        named, name="mine", recipe=named.recipe.with_updates({"training.steps": 50})
    )
    with pytest.raises(InvalidValueError, match=r"invalid value 2 for epochs: .*'mine' trains 50 steps"):
        plan_comparison(["sgd"], workloads=[stepped], epochs=2)
    with pytest.raises(InvalidValueError, match="invalid value 0 for epochs"):
        plan_comparison(["sgd"], workloads=[named], epochs=0)


def test_a_workload_on_another_model_or_data_is_named_for_them_and_keeps_no_target(user_package, tmp_path):
    """The study says what it trains: the user's model, rows.csv, python_source; on other data the
    workload's target (a level of its own data) is dropped, and token ids stay unscaled."""
    (own,) = plan_comparison(["sgd"], epochs=1)
    assert (own.name, own.target, own.recipe.data.scaling) == ("digits_mlp", 0.96, "standardize")
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    (csv,) = plan_comparison(["sgd"], dataset=str(rows), epochs=1)
    assert (csv.name, csv.target, csv.recipe.data.name) == ("mlp-on-rows", None, str(rows))
    assert csv.recipe.data.scaling == "standardize"  # numbers: the workload's scaling
    (user,) = plan_comparison(["sgd"], model="optimlab_userpkg.nets:build", epochs=1)
    assert user.name == "optimlab_userpkg.nets.build-on-digits" and user.target == 0.96  # same data
    assert user.recipe.data.scaling == "standardize"
    # The user's data set as its code gives it, as optimlab.compare(data=...) takes it.
    (theirs,) = plan_comparison(["sgd"], dataset="optimlab_userpkg.data:blobs", epochs=1)
    assert theirs.recipe.data.scaling == Recipe().data.scaling == "none"
    (text,) = plan_comparison(["sgd"], dataset="python_source", model="transformer", epochs=1)
    assert (text.name, text.recipe.data.scaling) == ("transformer-on-python_source", "none")
    several = plan_comparison(["sgd"], workloads=["digits_mlp", "two_spirals_mlp"], dataset="wine", epochs=1)
    assert [s.name for s in several] == ["digits_mlp-mlp-on-wine", "two_spirals_mlp-mlp-on-wine"]


def test_other_data_is_tuned_on_a_metric_it_measures_unless_one_is_asked_for(tmp_path):
    """'compare --dataset prices.csv' on the default workload (digits_mlp, tuned on the accuracy of
    classes) was refused, 'val_accuracy' being the workload's choice, not the user's: a regression now
    tunes on val_loss and reports test_loss; classes keep their accuracy; --metric decides."""
    prices = tmp_path / "prices.csv"
    prices.write_text("a,b,price\n" + "".join(f"{i},{i % 7},{i * 0.37:.2f}\n" for i in range(40)))
    (regression,) = plan_comparison(["sgd"], dataset=str(prices), epochs=1)
    assert (regression.metric, regression.goal, regression.test_metric) == ("val_loss", "min", "test_loss")
    (built_in,) = plan_comparison(["sgd"], dataset="teacher_student", epochs=1)
    assert built_in.metric == "val_loss"
    (classes,) = plan_comparison(["sgd"], dataset="wine", epochs=1)
    assert (classes.metric, classes.goal) == ("val_accuracy", "max")
    (asked,) = plan_comparison(["sgd"], dataset=str(prices), metric="val_rmse", epochs=1)
    assert asked.metric == "val_rmse"
    (tuned_student,) = plan_comparison(["sgd"], workloads=["teacher_student"], dataset="wine", epochs=1)
    assert tuned_student.metric == "val_loss"  # teacher-student's loss is measured on classes too
    settings = {"suite": None, "workloads": "digits_mlp", "data_dir": None, "dataset": str(prices)}
    (benched,) = planned_workloads(settings)  # bench --dataset prices.csv: the same rule
    assert benched.metric == "val_loss"


def test_a_resumed_comparison_takes_no_new_plan_and_needs_its_place(tmp_path):
    with pytest.raises(
        OptimlabError, match="takes more seeds only\\); drop budget, or give the values compared too"
    ):
        compare(resume=True, out=tmp_path, budget=3, seeds=5)
    with pytest.raises(OptimlabError, match="folder"):
        compare(resume=True)
    with pytest.raises(OptimlabError, match="nothing to compare"):
        compare([], out=tmp_path)


def test_a_plan_tunes_on_the_metric_asked_for_in_its_direction(user_package):
    (loss,) = plan_comparison(["sgd"], metric="val_loss", epochs=1)
    assert (loss.metric, loss.goal, loss.test_metric, loss.target) == ("val_loss", "min", "test_loss", None)
    (f1,) = plan_comparison(["sgd"], metric="optimlab_userpkg.metrics:f1", epochs=1)
    assert (f1.metric, f1.goal, f1.test_metric) == ("val_f1", "max", "test_f1")
    assert f1.recipe.training.metrics == ["optimlab_userpkg.metrics:f1"]  # computed at each evaluation
    (error,) = plan_comparison(["sgd"], metric="optimlab_userpkg.metrics:zero_one_loss", epochs=1)
    assert (error.metric, error.goal) == ("val_zero_one_loss", "min")  # was tuned to the most errors
    with pytest.warns(OptimlabWarning, match="val_accuracy is tuned and ranked towards its smallest value"):
        (chosen,) = plan_comparison(["sgd"], metric="val_accuracy", goal="min", epochs=1)
    assert (chosen.metric, chosen.goal) == ("val_accuracy", "min")  # asked for, and warned of
    (kept,) = plan_comparison(["sgd"], epochs=1)
    assert (kept.metric, kept.goal, kept.target) == ("val_accuracy", "max", 0.96)  # the workload's own


def test_a_goal_against_a_built_in_metrics_direction_warns(user_package):
    """--metric val_loss --goal max ranked the highest loss first without a word."""
    with pytest.warns(
        OptimlabWarning, match=r"val_loss .* largest value \(goal max\), while lower is better"
    ):
        (loss,) = plan_comparison(["sgd"], metric="val_loss", goal="max", epochs=1)
    assert loss.goal == "max"
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)
        plan_comparison(["sgd"], metric="val_loss", goal="min", epochs=1)


def test_a_metric_whose_name_says_no_direction_warns_that_it_is_maximised(user_package):
    """metric='mylab:mae' was maximised without a word: the tuning picked the worst learning rate of each
    optimizer (1e-5, mae 1.65) and the leaderboard ranked the worst method first."""
    with pytest.warns(
        OptimlabWarning, match="val_f1 is tuned and ranked towards its largest value .*goal='min'"
    ):
        (f1,) = plan_comparison(["sgd"], metric="optimlab_userpkg.metrics:f1", epochs=1)
    assert f1.goal == "max"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a direction given, or one the name says: nothing to warn of
        plan_comparison(["sgd"], metric="optimlab_userpkg.metrics:f1", goal="min", epochs=1)
        plan_comparison(["sgd"], metric="optimlab_userpkg.metrics:zero_one_loss", epochs=1)
        plan_comparison(["sgd"], metric="val_loss", epochs=1)


def test_a_plan_of_optimizers_whose_lr_nothing_tunes_warns_of_it():
    """compare --optimizers sgd,adam --space optimizer.weight_decay=0,1e-4 trained each at its default lr
    (SGD's 1e-3 a placeholder) without a word."""
    decay = SearchSpace.from_dict({"optimizer.weight_decay": [0.0, 1e-4]})
    with pytest.warns(OptimlabWarning, match="study 'digits_mlp': optimizer.lr is neither searched nor set"):
        plan_comparison(["sgd", "adam"], space=decay, epochs=1)


def test_metric_on_the_cli_tunes_each_trial_on_it_and_a_bad_one_is_one_line(cli, tmp_path):
    code, _, err = cli("compare", "--optimizers", "sgd", "--metric", "val_f2", "--no-progress",
                       "--out", str(tmp_path / "bad"))  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert (
        "'val_f2'" in lines[0] and "--metric" in lines[0] and "val_loss, val_accuracy," in lines[0]
    )  # digits are classes: no val_rmse among the names accepted
    code, _, err = cli("compare", "--optimizers", "sgd", "--metric", "val_loss", "--budget", "2", "--seeds",
                       "1", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "loss"))  # fmt: skip
    assert code == 0, err
    from optimlab.study import load_specs
    from optimlab.study.storage import load_records, open_storage

    (spec,) = load_specs(str(tmp_path / "loss"))
    assert (spec.metric, spec.goal) == ("val_loss", "min")
    records = [
        r for r in load_records(open_storage(str(tmp_path / "loss")), [spec.study_name(spec.methods[0])])
    ]
    tuning = [r for r in records if r.phase != "seeds"]
    assert len(records) == 3 and all(r.value == r.metrics["val_loss"] for r in records)
    best = min(tuning, key=lambda r: r.value)  # the lower loss is the better: its lr is rerun
    assert [r.params for r in records if r.phase == "seeds"] == [best.params]


def test_a_model_that_does_not_fit_the_data_stops_the_comparison_before_any_trial(cli, tmp_path):
    """Built-in pieces that do not fit together (an MLP on next-character targets) are one line and exit
    2 before anything is written, not a study whose every trial failed alike."""
    code, _, err = cli("compare", "--optimizers", "adam,sgd", "--dataset", "python_source", "--model", "mlp",
                       "--epochs", "1", "--no-progress", "--out", str(tmp_path / "study"))  # fmt: skip
    assert code == 2 and err.strip().splitlines()[-1].startswith(
        "error: invalid value 'mlp' for --model: accepted"
    )
    assert "output per position" in err and "Traceback" not in err
    assert not (tmp_path / "study").exists()


@pytest.mark.parametrize(
    "flags, metric, task",
    [
        (["--metric", "val_rmse"], "val_rmse", "classification"),  # digits' classes have no RMSE
        (["--workload", "teacher_student", "--metric", "val_accuracy"], "val_accuracy", "regression"),
    ],
)
def test_a_metric_the_task_never_measures_stops_the_comparison_before_any_trial(
    cli, tmp_path, flags, metric, task
):
    """'compare --optimizers sgd --metric val_rmse' on digits trained every trial to its end, each failed
    ("no finite 'val_rmse' at the end"), and the verb exited 1: now one line, exit 2, nothing written."""
    code, _, err = cli("compare", "--optimizers", "sgd", *flags, "--budget", "2", "--seeds", "1",
                       "--epochs", "1", "--no-progress", "--out", str(tmp_path / "study"))  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert f"'{metric}'" in lines[0] and "--metric" in lines[0] and task in lines[0]
    assert not (tmp_path / "study").exists()


def test_a_data_dir_no_workload_reads_is_refused(tmp_path, cli):
    """compare --data-dir ~/mydata (digits_mlp, the default, reads no files) compared on digits, the folder
    silently unread: the user took the leaderboard for one of their data. So did a recipe file's study and
    bench --suite small, whose workloads read none either."""
    with pytest.raises(OptimlabError, match=r"for data_dir \(--data-dir\): accepted only beside a workload"):
        plan_comparison(["sgd"], workloads=["digits_mlp", "two_spirals_mlp"], data_dir=tmp_path)
    code, out, err = cli("compare", "--optimizers", "sgd", "--data-dir", str(tmp_path), "--no-progress")
    assert code == 2 and out == "" and "--data-dir" in err and "digits_mlp" in err, err
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data: {name: iris}\n")
    code, _, err = cli("compare", str(recipe), "--optimizers", "sgd", "--data-dir", str(tmp_path))
    assert code == 2 and "--data-dir" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = cli("bench", "--suite", "small", "--data-dir", str(tmp_path), "--out", str(tmp_path / "b"))
    assert code == 2 and "--data-dir" in err and "small" in err, err
    assert not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["recipe.yaml"]  # nothing run, nothing written


def test_a_workload_named_twice_is_refused_before_anything_is_stored_naming_the_argument(tmp_path):
    """The Python caller typed ``workloads=``, no ``--workload``: the refusal names the argument as
    every other workloads refusal does (it said 'for workloads (--workload)'), one study per name."""
    with pytest.raises(OptimlabError) as refused:
        compare(["sgd"], workloads=["digits_mlp", "Digits-MLP"], out=tmp_path / "out", budget=2, seeds=1)
    assert str(refused.value) == (
        "invalid value 'digits_mlp,digits_mlp' for workloads: accepted each workload once (digits_mlp twice)."
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argument", ["out", "storage", "name"])
def test_an_empty_out_storage_or_name_is_refused_as_the_command_line_refuses_it(
    argument, tmp_path, monkeypatch
):
    """optimlab.compare(out='') wrote its study, tables and report into the current folder (Path('') is
    '.'), storage='' fell back to out and name='' to the default, where `optimlab compare --out ''` is
    refused ('is empty: give a path'). Each is one InvalidValueError naming the argument, before any
    trial; nothing is written."""
    import torch
    from torch import nn

    import optimlab
    from optimlab.errors import InvalidValueError

    monkeypatch.chdir(tmp_path)
    x = torch.randn(60, 4, generator=torch.Generator().manual_seed(0))
    options = {"out": str(tmp_path / "kept"), argument: ""}
    with pytest.raises(InvalidValueError, match=f"invalid value '' for {argument}: accepted"):
        optimlab.compare(["sgd"], model=lambda: nn.Linear(4, 2), data=(x, (x[:, 0] > 0).long()), epochs=1,
                         budget=1, seeds=1, **options)  # fmt: skip
    with pytest.raises(InvalidValueError, match=f"for {argument}: accepted"):
        compare(["sgd"], epochs=1, budget=1, seeds=1, **options)
    assert list(tmp_path.iterdir()) == []


def test_two_studies_of_one_folder_keep_their_rows_in_its_tables_and_report(
    tmp_path, page_reader, monkeypatch
):
    """A second comparison into a folder, under another name (as the refusal of a name taken offers),
    wrote the folder's leaderboard, trials and report of its own study alone: the first one's rows were
    gone from them, though its trials stay in the journal. Truth: the first study's rows as its own run
    wrote them, and the second's, in the tables written after the second; both studies on the page."""
    import csv

    def rows(name):
        with open(tmp_path / name, newline="") as table:
            return list(csv.DictReader(table))

    small = {"budget": 1, "seeds": 1, "epochs": 1}
    loads, load, drawn = [], optimlab.data.load, []
    monkeypatch.setattr(optimlab.data, "load", lambda *a, **k: loads.append(a) or load(*a, **k))
    curves = study_report.curves_figure
    monkeypatch.setattr(
        study_report, "curves_figure", lambda r, chance: drawn.append(chance) or curves(r, chance)
    )
    compare(["sgd"], out=tmp_path, name="a", **small)
    # once: every trial splits at the tuning seed (StudySpec.fixed_split), so the tuning and the rerun share
    # one data key (it was once a seed, and the report's chance level read the tuning seed's data a third
    # time); still drawn, as a fresh load gives it
    assert len(loads) == 1
    assert drawn == [chance_levels(plan_comparison(["sgd"], epochs=1)[0].recipe)]
    monkeypatch.undo()
    first = {table: rows(table) for table in ("leaderboard.csv", "trials.csv")}
    second = compare(["adam"], out=tmp_path, name="b", **small)
    assert [r.spec.name for r in second.results] == ["b"]  # what ran: the second study alone
    for table, alone in first.items():
        together = rows(table)
        assert [r for r in together if r["study"].split("/")[0] == "a"] == alone, table
        assert {r["method"] for r in together if r["study"].split("/")[0] == "b"} == {"adam"}, table
    headings = page_reader((tmp_path / "report.html").read_text()).headings
    assert headings[:2] == ["a", "b"], headings
    # run apart, their methods never side by side: no performance profile across them, as across the
    # workloads of one comparison; each leaderboard row names the metric of its test_mean
    assert "Across workloads" not in headings, headings
    assert {(r["study"], r["metric"]) for r in rows("leaderboard.csv")} == {
        ("a", "test_accuracy"),
        ("b", "test_accuracy"),
    }
    # resumed without --name, both studies are loaded and run again: still no profile across them
    compare(resume=True, out=tmp_path)
    assert "Across workloads" not in page_reader((tmp_path / "report.html").read_text()).headings


def test_a_study_of_the_folder_that_no_longer_reads_leaves_out_itself_alone(tmp_path):
    """with_stored read the folder's studies together: one of them no longer reading (its optimizer's
    class renamed in the code since) left every other out of the tables and the page written after, the
    last comparison's rows alone, without a word. Truth: the readable study's rows as its own run wrote
    them, beside the new study's; the unreadable one named in a warning."""
    import csv

    from optimlab.errors import OptimlabWarning
    from optimlab.study.storage import JOURNAL_NAME

    def rows():
        with open(tmp_path / "leaderboard.csv", newline="") as table:
            return list(csv.DictReader(table))

    small = {"budget": 1, "seeds": 1, "epochs": 1}
    compare(["torch.optim:SGD"], out=tmp_path, name="a", **small)
    compare(["adam"], out=tmp_path, name="b", **small)
    kept = [row for row in rows() if row["study"] == "b"]
    journal = tmp_path / JOURNAL_NAME
    journal.write_text(journal.read_text().replace("torch.optim:SGD", "torch.optim:SGDOld"))
    with pytest.warns(
        OptimlabWarning, match="(?s)study 'a' is left out of the tables and the page: .*'SGDOld'"
    ) as said:
        compare(["adam"], out=tmp_path, name="c", **small)
    # named at the user's call, not in contextlib (compare runs under a context manager as a decorator)
    assert [w.filename for w in said if w.category is OptimlabWarning] == [__file__]
    together = rows()
    assert [row for row in together if row["study"] == "b"] == kept
    assert [row["study"] for row in together] == ["b", "c"]


def test_a_comparison_of_two_workloads_killed_between_their_studies_resumes_both(tmp_path, monkeypatch):
    """Killed after creating its first workload's study, a comparison's resume by the call that started it
    was refused ('nothing to resume: no study 'two_spirals_mlp''), and the plain resume ran the first
    workload alone, the second lost without a word. Now the call creates the missing study beside the
    one it resumes, and the plain resume names the study never stored. Truth: the studies read back
    before any trial (the run stopped as it would start)."""
    from optimlab.study import compare as comparing
    from optimlab.study.storage import open_storage, optimlab_studies

    call = {"values": ["sgd"], "workloads": ["teacher_student", "two_spirals_mlp"], "budget": 1, "seeds": 1}
    opened, open_studies = [], comparing.open_studies

    def killed_at_the_second(spec, location, **options):
        if opened:
            raise KeyboardInterrupt
        opened.append(spec.name)
        return open_studies(spec, location, **options)

    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(comparing, "check_trains", lambda spec: None)  # not what is tested: 1 s saved
    monkeypatch.setattr(comparing, "open_studies", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        compare(**call, out=tmp_path, epochs=1)
    monkeypatch.setattr(comparing, "open_studies", open_studies)
    with pytest.raises(OptimlabError, match="its 'two_spirals_mlp' was never stored .*--resume"):
        compare(out=tmp_path, resume=True)
    with pytest.raises(KeyboardInterrupt):
        compare(**call, out=tmp_path, epochs=1, resume=True, on_start=stop)
    stored = [s.study_name for s in optimlab_studies(open_storage(tmp_path))]
    assert sorted(stored) == ["teacher_student/sgd", "two_spirals_mlp/sgd"]


@pytest.mark.parametrize("given", ["by name", "as the object"])
def test_a_registered_workloads_model_is_replaced_whole_by_model(given):
    """--workload teacher_student --model cnn: the workload's recipe is no file of the user's, so its
    MLP's tanh and width 64 do not follow to the CNN, which comes at its own defaults (relu, its width),
    where the user's recipe keeps its model's choices (test_user_code). The same workload passed as
    get_workload's object plans the same (it kept its tanh, taken for the user's recipe)."""
    own = get_workload("teacher_student")
    workload = "teacher_student" if given == "by name" else own
    (spec,) = plan_comparison(["sgd"], workloads=[workload], model="cnn", epochs=1)
    assert (own.recipe.model.activation, own.recipe.model.width) == ("tanh", 64)  # a kept choice's
    assert (spec.recipe.model.name, spec.recipe.model.activation, spec.recipe.model.width) == (
        "cnn",
        "relu",
        None,
    )
    user = dataclasses.replace(own, registry_recipe=None)  # the same recipe, as the user's
    (kept,) = plan_comparison(["sgd"], workloads=[user], model="mlp", epochs=1)
    assert (kept.recipe.model.activation, kept.recipe.model.width) == ("tanh", 64)


def test_a_registered_workload_copied_with_the_users_recipe_keeps_the_users_model_choices():
    """dataclasses.replace(get_workload(...), recipe=<the user's>) is the user's workload: --model mlp
    keeps its gelu and width 32 (it dropped them while the registry's mark went with every copy); a copy
    that changes only the name stays the registry's, and the registry's object equals its factory's."""
    own = get_workload("teacher_student")
    recipe = own.recipe.with_updates({"model.activation": "gelu", "model.width": 32})
    mine = dataclasses.replace(own, name="mine", recipe=recipe)
    (kept,) = plan_comparison(["sgd"], workloads=[mine], model="mlp", epochs=1)
    assert (kept.recipe.model.activation, kept.recipe.model.width) == ("gelu", 32)
    renamed = dataclasses.replace(own, name="renamed")
    (replaced,) = plan_comparison(["sgd"], workloads=[renamed], model="mlp", epochs=1)
    assert (replaced.recipe.model.activation, replaced.recipe.model.width) == ("relu", None)
    assert own == teacher_student() and not teacher_student().registered


def test_a_study_stored_with_other_settings_is_told_the_plain_resume_that_reads_them(tmp_path):
    """A study stored by `compare r.yaml --model m:Net` before --model kept the file's choices (tanh,
    Net's own, where the same flags now give gelu) was refused on resume saying 'resume with the stored
    settings', which compare's flags cannot give: the line names the plain `compare --resume DIR`, and
    that (the stored settings read back, as it does) resumes."""
    from optimlab.study.run import load_specs, open_studies

    (spec,) = plan_comparison(["sgd"], workloads=["digits_mlp"], epochs=1)
    open_studies(spec, tmp_path)  # stored, no trial run
    moved = dataclasses.replace(spec, recipe=spec.recipe.with_updates({"model.activation": "gelu"}))
    plain = f"stored settings with `optimlab compare --resume {tmp_path}` alone"
    with pytest.raises(OptimlabError, match=re.escape(plain)):
        open_studies(moved, tmp_path, resume=True)
    (stored,) = load_specs(str(tmp_path), None)
    open_studies(stored, tmp_path, resume=True)  # what the plain resume opens


def test_a_page_the_os_refuses_says_room_only_for_a_full_disk(tmp_path, monkeypatch):
    """compare's report.html refused for a permission (or a folder of that name) said "once there is
    room", which no room gives: the line now waits for room only where the OS's errno is a full disk's.
    Through compare itself (the page's writer refused), first run and resumes: the trials are kept, a
    resume runs none again. Truth: the trials stored, counted before and after."""
    import optuna

    import optimlab.study.report
    from optimlab.study.storage import open_storage

    refusals = [
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "once it can be written"),
        (IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), "once it can be written"),
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "once there is room"),
    ]
    page = tmp_path / "report.html"
    trials = []
    for number, (refusal, once) in enumerate(refusals):

        def refused(results, path, refusal=refusal, **_):
            raise refusal

        monkeypatch.setattr(optimlab.study.report, "write_report", refused)
        with pytest.raises(OptimlabError) as raised:
            compare(["sgd"], out=tmp_path, resume=number > 0, budget=1, seeds=1, epochs=1)
        said = str(raised.value)
        assert said.startswith(f"cannot write {str(page)!r}: {refusal.strerror}; the studies and trials.csv")
        assert "leaderboard.csv" in said and said.endswith(
            f" are kept: {once}, `optimlab report {tmp_path} --out {page}` writes the page"
        ), said
        stored = optuna.load_study(study_name="digits_mlp/sgd", storage=open_storage(tmp_path))
        trials.append(len(stored.trials))
    assert trials == [2, 2, 2] and not page.exists()


def _stopped_at_its_first_trial(monkeypatch):
    """Patch compare's checks out and stop it as its first trial would run: what it stored is read after."""
    from optimlab.study import compare as comparing

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(comparing, "check_trains", lambda spec: None)  # not what is tested: 1 s saved
    monkeypatch.setattr(comparing, "run_study", ctrl_c)


def test_the_command_stored_in_a_comparisons_studies_hides_a_database_password(tmp_path, monkeypatch):
    """compare stored the command line that started it in its studies as typed, a database URL's password
    and all, where every terminal, log and page hides it. Truth: SQLAlchemy's own rendering of the URL
    with its password hidden; the rest of the command as typed."""
    import sqlalchemy.engine

    from optimlab.study.compare import stored_command

    url = "postgresql://me:s3cret@db/x"
    typed = f"optimlab compare --optimizers sgd --storage {url} --budget 1"
    _stopped_at_its_first_trial(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        compare(
            ["sgd"], workloads=["two_spirals_mlp"], budget=1, seeds=1, epochs=1, out=tmp_path, command=typed
        )
    hidden = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    assert "s3cret" not in hidden
    assert stored_command(tmp_path) == typed.replace(url, hidden)


def test_the_command_stored_in_a_comparisons_studies_is_the_one_that_created_them(tmp_path, monkeypatch):
    """A resume of studies that held no command (made before commands were stored, or stopped between
    their creation and the command's) stored the resume's, which gave none of their settings. Now only
    the call that creates a study stores its command; a resume stores nothing. Truth: the studies stored
    by open_studies alone hold no command after a resume, and a comparison's resumed with another command
    keeps the first."""
    from optimlab.study.compare import stored_command
    from optimlab.study.run import open_studies

    _stopped_at_its_first_trial(monkeypatch)
    (made_before,) = plan_comparison(["sgd"], workloads=["two_spirals_mlp"], budget=1, seeds=1, epochs=1)
    open_studies(made_before, tmp_path / "old")
    with pytest.raises(KeyboardInterrupt):
        compare(out=tmp_path / "old", resume=True, command="optimlab compare --resume old")
    assert stored_command(tmp_path / "old") is None
    call = {"values": ["sgd"], "workloads": ["two_spirals_mlp"], "budget": 1, "seeds": 1, "epochs": 1}
    with pytest.raises(KeyboardInterrupt):
        compare(**call, out=tmp_path / "new", command="optimlab compare --optimizers sgd --out new")
    with pytest.raises(KeyboardInterrupt):
        compare(out=tmp_path / "new", resume=True, command="optimlab compare --resume new")
    assert stored_command(tmp_path / "new") == "optimlab compare --optimizers sgd --out new"


def test_a_split_of_too_few_rows_to_rank_by_is_said_naming_the_split_sizes(tmp_path, monkeypatch, cli):
    """optimlab.compare(data=(x[:3], y[:3])) ranked methods on a test split of one row without a word: test
    accuracy 1.00 [1.00, 1.00], the page blaming a setup that ignores the seed. A validation or test
    split of under 10 rows is now said, naming the split sizes, in Python and on the command line.
    Truth: the split's arithmetic, each share of a class's rows rounded half up: 3 rows of one class at
    0.2 give 1 test, 1 validation and 1 training row; 12 rows of two classes, 1 and 1 of each class's 6;
    50 rows of two classes, 5 and 5 of each 25, 10 rows a split: not said (the stop at the first trial
    is not what is tested)."""
    import torch
    from torch import nn

    import optimlab

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("optimlab.study.compare.run_study", ctrl_c)  # after the checks, which say it
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(50) % 2
    run = {"model": lambda: nn.Linear(4, 2), "epochs": 1, "budget": 1, "seeds": 2}
    said_of_three = (
        "study 'your_code': its data split into 1 training, 1 validation and 1 test row: validation and "
        "test scores of under 10 rows are too coarse to rank"
    )
    with pytest.warns(OptimlabWarning, match=re.escape(said_of_three)), pytest.raises(KeyboardInterrupt):
        optimlab.compare(["sgd", "adam"], data=(x[:3], y[:1].repeat(3)), out=tmp_path / "three", **run)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            optimlab.compare(["sgd", "adam"], data=(x, y), out=tmp_path / "fifty", **run)
    assert not [w for w in said if "too coarse to rank" in str(w.message)], [str(w.message) for w in said]
    rows = "\n".join(f"{a:.3f},{b:.3f},{i % 2}" for i, (a, b) in enumerate(x[:12, :2].tolist()))
    (tmp_path / "tiny.csv").write_text(f"a,b,label\n{rows}\n")
    flags = [
        "--optimizers",
        "sgd",
        "--dataset",
        str(tmp_path / "tiny.csv"),
        "--model",
        "mlp",
        "--epochs",
        "1",
    ]
    flags += ["--budget", "1", "--seeds", "2", "--out", str(tmp_path / "c"), "--no-progress"]
    code, _, err = cli("compare", *flags)
    assert code == 130, err
    (line,) = [line for line in err.splitlines() if "too coarse to rank" in line]
    assert "its data split into 8 training, 2 validation and 2 test rows: validation and test scores" in line


def test_seeds_that_tie_on_a_test_split_too_small_to_score_are_told_its_size_on_the_page(tmp_path):
    """optimlab.compare(data=(x[:3], y[:3])) ranked on a test split of one row, 1.00 [1.00, 1.00], and the
    page blamed 'the setup ignores the seed, or the metric is too coarse', never naming the split. Truth:
    3 rows of one class at test_fraction 0.2 leave 1 test row (rounded half up), and the seed reruns'
    own test accuracies as stored: a method whose seeds gave one value is told the 1-row split."""
    import torch
    from torch import nn

    import optimlab

    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))[:3]  # the examiner's rows
    run = {"model": lambda: nn.Linear(4, 2), "epochs": 1, "budget": 1, "seeds": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimlabWarning)  # the split's sizes: said (the test above)
        done = optimlab.compare(
            ["sgd", "adam"], data=(x, torch.zeros(3, dtype=torch.long)), out=tmp_path, **run
        )
    (result,) = done.results
    reruns = {}
    for record in result.records:
        if record.phase == "seeds":
            reruns.setdefault(record.method, set()).add(record.metrics["test_accuracy"])
    tied = [method for method, values in reruns.items() if len(values) == 1]
    assert tied, reruns  # these seeds tie: what the page is to explain
    page = " ".join(done.report.read_text().split())
    assert page.count("(its 2 seeds gave one value: a test split of 1 row is too coarse") == len(tied)
    assert "ignores the seed" not in page
