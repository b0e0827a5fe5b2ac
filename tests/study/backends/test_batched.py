"""Batched execution: K trials trained as one vectorized model give the one-at-a-time curves (1e-5)."""

import math

import pytest

from optimlab.recipe import Recipe
from optimlab.study import Dimension, SearchSpace, StudySpec, get_workload, methods_from, run_study
from optimlab.study.backends.batched import batch_key, not_batchable, train_members
from optimlab.study.trial import CurveRecorder
from optimlab.train import train

BASE = Recipe.from_dict(
    {
        "data": {"name": "digits", "scaling": "standardize"},
        "model": {"name": "mlp", "width": 32},
        "training": {"epochs": 2, "batch_size": 32, "eval_every": 17},
    }
)


def one_at_a_time(recipe):
    recorder = CurveRecorder(None, "val_accuracy")
    return train(recipe, callbacks=[recorder]), recorder.curve


def assert_same_run(batched, sequential, tolerance=1e-5):
    (b_result, b_curve), (s_result, s_curve) = batched, sequential
    assert (b_result.status, b_result.steps) == (s_result.status, s_result.steps)
    assert b_curve["step"] == s_curve["step"]
    for name in ("val_loss", "val_accuracy", "train_loss"):
        assert b_curve[name] == pytest.approx(s_curve[name], abs=tolerance), name
    assert b_result.metrics == pytest.approx(s_result.metrics, abs=tolerance)


@pytest.mark.parametrize(
    "optimizer, updates",
    [
        ("adam", [{"optimizer.lr": lr} for lr in (3e-4, 1e-3, 3e-3, 1e-2)]),
        (
            "momentum",
            [
                {"optimizer.lr": 0.05, "optimizer.weight_decay": wd, "training.seed": seed}
                for wd, seed in ((0.0, 1), (1e-3, 2), (1e-2, 3))
            ],
        ),  # own splits, inits and batch orders
        (
            "rmsprop",
            [
                {
                    "optimizer.lr": lr,
                    "schedule.name": "cosine",
                    "schedule.warmup_steps": 10,
                    "training.grad_clip_norm": 1.0,
                }
                for lr in (1e-3, 3e-3)
            ],
        ),
        (
            "adamw",
            [{"optimizer.lr": 1e-3, "optimizer.options.betas": (b1, 0.999)} for b1 in (0.8, 0.9, 0.95)],
        ),
    ],
)
def test_batched_members_follow_their_one_at_a_time_curves(optimizer, updates):
    recipes = [BASE.with_updates({"optimizer.name": optimizer, **u}) for u in updates]
    assert len({batch_key(r) for r in recipes}) == 1 and not_batchable(recipes[0]) is None
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    results = train_members(recipes, recorders)
    for recipe, result, recorder in zip(recipes, results, recorders):
        assert_same_run((result, recorder.curve), one_at_a_time(recipe))


def test_a_diverging_member_is_recorded_at_its_step_and_the_others_go_on():
    recipes = [BASE.with_updates({"optimizer.name": "sgd", "optimizer.lr": lr}) for lr in (0.1, 1e6)]
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    good, bad = train_members(recipes, recorders)
    sequential_bad, _ = one_at_a_time(recipes[1])
    assert bad.status == "diverged" and bad.steps == sequential_bad.steps and "diverged" in bad.message
    assert bad.metrics == {} and good.status == "completed" and good.steps == 68
    assert_same_run((good, recorders[0].curve), one_at_a_time(recipes[0]))


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
        get_workload("digits-mlp", epochs=1),
        methods_from("optimizer.name", ["sgd", "adam"]),
        budget=4,
        seeds=2,
        space=space,
    )
    batched = run_study(spec, tmp_path / "batched", backend="batched", members=8)
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
    import optimlab.study.backends.batched as batched

    def broken(template, members, *, shared_input):
        raise RuntimeError("no memory for 8 members")

    monkeypatch.setattr(batched, "stacked_forward", broken)
    space = SearchSpace((Dimension("optimizer.lr", low=1e-3, high=3e-2, log=True),))
    spec = StudySpec.for_workload(
        "b", get_workload("digits-mlp", epochs=1), methods_from("optimizer.name", ["sgd"]),
        budget=4, seeds=0, space=space,
    )  # fmt: skip
    result = run_study(spec, tmp_path, backend="batched", members=8)
    assert len(result.records) == 4
    for record in result.records:
        assert record.state == "fail"
        assert record.status == "error" and "RuntimeError in a batch of 4 trials: no memory" in record.message


def test_members_trained_as_two_stacks_on_two_threads_follow_the_same_curves():
    recipes = [BASE.with_updates({"optimizer.name": "adam", "optimizer.lr": lr, "training.epochs": 1})
               for lr in (1e-3, 2e-3, 3e-3, 5e-3)]  # fmt: skip
    curves = []
    for stacks in (1, 2):
        recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
        results = train_members(recipes, recorders, stacks=stacks)
        curves.append(([r.metrics for r in results], [rec.curve for rec in recorders]))
    (one_metrics, one_curves), (two_metrics, two_curves) = curves
    for a, b in zip(one_metrics, two_metrics):
        assert a == pytest.approx(b, abs=1e-6)
    for a, b in zip(one_curves, two_curves):
        assert a["step"] == b["step"] and a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
