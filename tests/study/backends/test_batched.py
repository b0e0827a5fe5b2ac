"""The batched backend: which trials train together, and a study on it records the local backend's trials."""

import dataclasses
import math
import warnings

import pytest

from optimlab.errors import OptimlabWarning
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
    assert "bf16" in not_batchable(BASE.with_updates({"training.precision": "bf16"}))
    # Batch norm (running statistics per member) and dropout are judged on the built model, when a
    # group trains (tests/models/test_stacked.py, tests/train/test_members.py).
    assert not_batchable(BASE.with_updates({"model.norm": {"name": "bn", "momentum": 0.3}})) is None
    # The members draw fit's batches, in order and without the short one too (tests/train/test_members_order.py).
    assert not_batchable(BASE.with_updates({"training.shuffle": False, "training.drop_last": True})) is None
    assert batch_key(BASE.with_updates({"optimizer.lr": 0.1})) != batch_key(
        BASE.with_updates({"training.batch_size": 16})
    )


@pytest.mark.parametrize(
    "order",
    [{}, {"training.shuffle": False, "training.drop_last": True, "training.batch_size": 100}],
    ids=["shuffled", "sequential_drop_last"],
)
def test_a_study_on_the_batched_backend_records_the_local_backends_trials(tmp_path, order):
    """Sequential batches and drop_last (quadratic_deep's, MNIST-1D's protocols) trained one trial at a
    time, with a warning, until the members drew fit's batches (7751cd0): now stacked, as alone."""
    # Stable learning rates: in a chaotic run (Adam at lr 0.1) rounding differences between a batched
    # and a plain matmul grow like any perturbation (4e-5 in loss after 34 steps), as between two BLAS.
    space = SearchSpace((Dimension("optimizer.lr", low=1e-3, high=3e-2, log=True),))
    workload = get_workload("digits_mlp", epochs=1)
    spec = StudySpec.for_workload(
        "b",
        dataclasses.replace(workload, recipe=workload.recipe.with_updates(order)),
        methods_from("optimizer.name", ["sgd", "adam"]),
        budget=4,
        seeds=2,
        space=space,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)  # 'trials run one at a time, not batched: ...'
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
        budget=4, seeds=1, space=space,
    )  # fmt: skip
    result = run_study(spec, tmp_path, backend="batched", options=BackendOptions(members=8))
    assert len(result.records) == 4
    for record in result.records:
        assert record.state == "fail"
        assert record.status == "error" and "RuntimeError in a batch of 4 trials: no memory" in record.message


USER_NETS = """
import math

from torch import nn


def batch_norm_cnn(input_shape, num_outputs, width=3):
    '''A user's CNN with batch norm as one Sequential: digits' 64 features unflattened to 8x8 images.
    No bias before a batch norm, as usual: it would get a zero gradient, only rounding noise, which
    Adam (g / (|g| + eps)) amplifies into curves 1e-3 apart between any two roundings
    (docs/architecture.md).'''
    return nn.Sequential(
        nn.Unflatten(1, input_shape),
        nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_outputs),
    )


def with_dropout(input_shape, num_outputs):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, num_outputs)
    )
"""


@pytest.fixture(scope="module")
def user_nets(write_modules):
    return write_modules(optimlab_batched_nets=USER_NETS)


def comparisons(tmp_path, model, backends):
    """``compare`` of sgd and adam on digits with the user's ``model``, once per backend."""
    from optimlab.study.compare import compare

    space = SearchSpace((Dimension("optimizer.lr", low=1e-3, high=1e-2, log=True),))
    return [
        compare(
            ["sgd", "adam"],
            model=model,
            epochs=1,
            budget=2,
            seeds=2,
            space=space,
            backend=backend,
            options=BackendOptions(members=8),
            out=tmp_path / backend,
        )
        for backend in backends
    ]


def assert_same_leaderboard(batched, local):
    from optimlab.study.analysis import leaderboard

    [b], [s] = batched.results, local.results
    assert all(r.state == "complete" for r in s.records), [r.message for r in s.records]
    assert [(r.key, r.params, r.seed, r.state, r.steps) for r in b.records] == [
        (r.key, r.params, r.seed, r.state, r.steps) for r in s.records
    ]
    for one, other in zip(b.records, s.records):
        assert one.metrics == pytest.approx(other.metrics, abs=1e-5)
        assert one.curve["step"] == other.curve["step"]
        for name in ("val_loss", "val_accuracy", "train_loss"):
            assert one.curve[name] == pytest.approx(other.curve[name], abs=1e-5), name
    rows = [leaderboard(r.spec, r.records) for r in (b, s)]
    assert [(row.method, row.params) for row in rows[0]] == [(row.method, row.params) for row in rows[1]]
    for one, other in zip(*rows):
        assert (one.tuned, one.test.mean) == pytest.approx((other.tuned, other.test.mean), abs=1e-5)


def test_compare_on_a_users_cnn_with_batch_norm_by_import_path_batched_gives_locals_leaderboard(
    tmp_path, user_nets, recwarn
):
    batched, local = comparisons(tmp_path, "optimlab_batched_nets:batch_norm_cnn", ["batched", "local"])
    [result] = batched.results
    assert {r.phase for r in result.records} == {"tune", "seeds"}
    # every trial trained in a stack of its method's trials of the phase: none fell back
    assert not [w for w in recwarn if issubclass(w.category, OptimlabWarning)]
    assert_same_leaderboard(batched, local)


def test_a_model_that_cannot_stack_falls_back_to_one_at_a_time_with_the_reason_said_once(tmp_path, user_nets):
    with pytest.warns(OptimlabWarning) as said:
        batched, local = comparisons(tmp_path, "optimlab_batched_nets:with_dropout", ["batched", "local"])
    warned = [str(w.message) for w in said if issubclass(w.category, OptimlabWarning)]
    assert len(warned) == 1, warned  # 2 methods x (2 tuning + 2 seed) trials, one line
    assert "trials run one at a time, not batched: dropout in 'net.3' (Dropout, p=0.2)" in warned[0]
    assert_same_leaderboard(batched, local)  # the same runs: each trial's dropout draws are its own
