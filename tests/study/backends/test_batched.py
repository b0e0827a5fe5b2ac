"""The batched backend: which trials train together, and a study on it records the local backend's trials."""

import math

import pytest

from optimlab.recipe import Recipe
from optimlab.study import Dimension, SearchSpace, StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.study.backends.batched import batch_key, not_batchable
from optimlab.workloads import get_workload

BASE = Recipe.from_dict(
    {
        "data": {"name": "digits", "scaling": "standardize"},
        "model": {"name": "mlp", "width": 32},
        "training": {"epochs": 2, "batch_size": 32, "eval_every": 17},
    }
)


def test_what_cannot_be_batched_says_why():
    assert "not elementwise" in not_batchable(BASE.with_updates({"optimizer.name": "muon"}))
    assert "dropout" in not_batchable(BASE.with_updates({"model.dropout": 0.1}))
    assert "bf16" in not_batchable(BASE.with_updates({"training.precision": "bf16"}))
    assert "batch norm" in not_batchable(BASE.with_updates({"model.norm": {"name": "bn", "momentum": 0.3}}))
    assert "sequential" in not_batchable(BASE.with_updates({"training.shuffle": False}))
    assert "drop_last" in not_batchable(BASE.with_updates({"training.drop_last": True}))
    assert batch_key(BASE.with_updates({"optimizer.lr": 0.1})) != batch_key(
        BASE.with_updates({"training.batch_size": 16})
    )


def test_a_study_on_the_batched_backend_records_the_local_backends_trials(tmp_path):
    # Stable learning rates: in a chaotic run (Adam at lr 0.1) rounding differences between a batched
    # and a plain matmul grow like any perturbation (4e-5 in loss after 34 steps), as between two BLAS.
    space = SearchSpace((Dimension("optimizer.lr", low=1e-3, high=3e-2, log=True),))
    spec = StudySpec.for_workload(
        "b",
        get_workload("digits_mlp", epochs=1),
        methods_from("optimizer.name", ["sgd", "adam"]),
        budget=4,
        seeds=2,
        space=space,
    )
    batched = run_study(spec, tmp_path / "batched", backend="batched", options=BackendOptions(members=8))
    local = run_study(spec, tmp_path / "local")
    assert [(r.study, r.key, r.params, r.seed) for r in batched.records] == [
        (r.study, r.key, r.params, r.seed) for r in local.records
    ]
    for b, s in zip(batched.records, local.records):
        assert b.state == s.state and (
            (math.isnan(b.value) and math.isnan(s.value)) or b.value == pytest.approx(s.value, abs=1e-5)
        )
        assert b.metrics == pytest.approx(s.metrics, abs=1e-5)


def test_a_batch_that_raises_fails_its_trials_with_the_reason_and_the_study_goes_on(tmp_path, monkeypatch):
    import optimlab.train.members as members

    def broken(template, members, *, shared_input):
        raise RuntimeError("no memory for 8 members")

    monkeypatch.setattr(members, "stacked_forward", broken)
    space = SearchSpace((Dimension("optimizer.lr", low=1e-3, high=3e-2, log=True),))
    spec = StudySpec.for_workload(
        "b", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd"]),
        budget=4, seeds=0, space=space,
    )  # fmt: skip
    result = run_study(spec, tmp_path, backend="batched", options=BackendOptions(members=8))
    assert len(result.records) == 4
    for record in result.records:
        assert record.state == "fail"
        assert record.status == "error" and "RuntimeError in a batch of 4 trials: no memory" in record.message
