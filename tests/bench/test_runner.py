"""run_bench end to end on a tiny budget: every method on every workload, scored; resume; user optimizers."""

import dataclasses
import json
import re

import numpy as np
import pytest

from optimlab.bench import resolve_methods, run_bench
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.study.backends import BackendOptions
from optimlab.workloads import get_workload

TINY = {"budget": 2, "seeds": 2}


def tiny_workloads():
    return [
        dataclasses.replace(get_workload("digits_mlp", epochs=2), target=0.8),
        dataclasses.replace(get_workload("two_spirals_mlp", epochs=2), target=0.6),
    ]


@pytest.mark.slow
def test_every_method_runs_on_every_workload_and_an_imported_torch_sgd_equals_the_built_in(tmp_path):
    result = run_bench(tiny_workloads(), ["sgd", "torch.optim:SGD"], tmp_path, **TINY)
    assert [r.spec.name for r in result.results] == ["digits_mlp", "two_spirals_mlp"]
    assert result.settings["methods"] == ["sgd", "torch.optim:SGD"] and result.seconds > 0
    for study in result.results:  # 2 methods x (2 tuning trials + 2 seeds), all finished
        assert len(study.records) == 8 and all(r.state == "complete" for r in study.records)
    for rows in result.scores.workloads.values():
        ours, theirs = sorted(rows, key=lambda row: row.method)
        # The same math through the torch class and through optimlab's chain: the same numbers.
        assert ours.board.params == theirs.board.params
        assert ours.board.test.mean == pytest.approx(theirs.board.test.mean, abs=1e-6)
        assert ours.costs == theirs.costs
    assert set(result.scores.area) == {"sgd", "torch.optim:SGD"}

    again = run_bench(tiny_workloads(), ["sgd", "torch.optim:SGD"], tmp_path, resume=True, **TINY)
    assert [len(r.records) for r in again.results] == [8, 8]  # nothing rerun
    assert again.scores.area == result.scores.area


def test_bad_methods_backends_and_workload_lists_are_refused_before_any_trial(tmp_path):
    assert resolve_methods(["Adam", "heavy_ball"]) == ["adam", "momentum"]
    with pytest.raises(UnknownNameError, match="Did you mean .*'adam'"):
        resolve_methods(["adma"])
    with pytest.raises(InvalidValueError, match="each workload once"):
        run_bench(tiny_workloads() * 2, ["sgd"], tmp_path)
    assert not (tmp_path / "study.journal").exists()


@pytest.mark.parametrize(
    ("setting", "value", "accepted"),
    [
        ("cost", "minutes", "one of steps, seconds"),
        ("cost", None, "one of steps, seconds"),
        ("backend", "gpu", "one of local, batched"),
        ("seeds", 0, r"an integer in \[1, 5000\]"),
    ],
)
def test_a_bad_cost_backend_or_seeds_is_refused_before_any_study_runs(
    setting, value, accepted, tmp_path, monkeypatch
):
    """cost was read only by the scores after the last study (a whole bench trained, then refused); the
    backend only once the storage was open; seeds=0 tuned every method and scored each "never reached
    the target" (area 0 for all, no seed run to score). Each is now refused before a study runs or a
    file is written."""
    monkeypatch.setattr("optimlab.bench.runner.run_study", lambda *a, **k: pytest.fail("a study ran"))
    with pytest.raises(InvalidValueError, match=rf"for {setting}: accepted {accepted}"):
        run_bench(tiny_workloads(), ["sgd"], tmp_path, **{**TINY, setting: value})
    assert list(tmp_path.iterdir()) == []


def test_worker_processes_import_the_users_optimizer_by_its_path(user_package, tmp_path):
    # optimlab_userpkg.optim:Signum exists only in the user's package: worker processes import it from the
    # path stored in each trial's recipe, and train the trials local training trains.
    # two spirals: made up in the process, not read through scikit-learn (any workload shows the import)
    workload = [dataclasses.replace(get_workload("two_spirals_mlp", epochs=1), target=0.5)]
    options = {"budget": 2, "seeds": 1}
    elsewhere = run_bench(
        workload,
        ["optimlab_userpkg.optim:Signum"],
        tmp_path / "w",
        backend="workers",
        options=BackendOptions(workers=1),
        **options,
    )  # one worker: one more process start is all the test needs
    here = run_bench(workload, ["optimlab_userpkg.optim:Signum"], tmp_path / "l", backend="local", **options)
    (theirs,), (ours,) = elsewhere.results, here.results
    assert len(ours.records) == 3 and all(r.state == "complete" for r in theirs.records)
    assert [(r.key, r.params, r.value) for r in theirs.records] == [
        (r.key, r.params, r.value) for r in ours.records
    ]


def test_a_numpy_budget_is_stored_in_the_settings_as_the_int_it_holds(tmp_path):
    """run_bench kept budget as given in its settings: np.int64(1) stayed there, and json.dumps of the
    settings (what a caller writes beside the results) raised 'Object of type int64 is not JSON
    serializable'. Truth: NumPy's integers are integers (operator.index), stored as the plain int."""
    workload = dataclasses.replace(get_workload("two_spirals_mlp", epochs=1), target=0.6)
    result = run_bench([workload], ["sgd"], tmp_path, budget=np.int64(1), seeds=np.int64(1))
    assert type(result.settings["budget"]) is int and type(result.settings["seeds"]) is int
    assert json.loads(json.dumps(result.settings))["budget"] == 1 == result.results[0].spec.budget


def test_a_bench_stored_past_the_trial_bound_resumes_as_it_ran(tmp_path, monkeypatch):
    """A bench whose studies plan more trials than TRIALS_PLANNED bounds (stored before the bound, here
    lowered to 3 after a bench of 4 trials) had no way out: bench --resume refused it ('a smaller budget
    (--budget)'), and --budget on a resume is refused. It resumes as it ran; a new bench is still bounded."""
    from optimlab.study import protocols

    workloads = [get_workload("digits_mlp", epochs=1)]
    first = run_bench(workloads, ["sgd", "adam"], tmp_path, budget=1, seeds=1)
    monkeypatch.setattr(protocols, "TRIALS_PLANNED", 3)
    again = run_bench(workloads, ["sgd", "adam"], tmp_path, budget=1, seeds=1, resume=True)
    assert [len(r.records) for r in again.results] == [len(r.records) for r in first.results] == [4]
    with pytest.raises(InvalidValueError, match=re.escape("1 x 2 x (1 + 1) = 4")):
        run_bench(workloads, ["sgd", "adam"], tmp_path / "new", budget=1, seeds=1, checked=True)
