"""The members' loop: K recipes trained as one stacked model give the one-at-a-time curves (1e-5)."""

import pytest

from optimlab.recipe import Recipe
from optimlab.study.backends.batched import batch_key, not_batchable
from optimlab.study.trial import CurveRecorder
from optimlab.train import train
from optimlab.train.members import Unstackable, train_members

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
        # Learning rates where a rounding difference stays a rounding difference. At lr 1e-2 one weight
        # of this MLP has a first gradient of -9.5e-9, below Adam's eps 1e-8: the update lr g/(|g|+eps)
        # turns the two paths' float32 roundings of it (-9.49e-9 one at a time, -8.91e-9 stacked, both
        # as near the float64 value as the other gradients are) into weights 1.6e-4 apart, and the
        # curves part by 7e-4 from step 39 on. Given the stacked path's value for that one gradient, the
        # one-at-a-time curve meets the stacked one within 5e-8 (measured on an AMD EPYC, 2026-12-02).
        ("adam", [{"optimizer.lr": lr} for lr in (1e-4, 3e-4, 1e-3, 3e-3)]),
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
        *(  # one_cycle's momentum cycle: one schedule for all members (and beta2 per member)
            (
                name,
                [
                    {
                        "optimizer.lr": lr,
                        "optimizer.options": options,
                        "schedule.name": "one_cycle",
                        "schedule.cycle_momentum": True,
                        "schedule.warmup_steps": 5,
                    }
                    for lr, options in runs
                ],
            )
            for name, runs in (
                ("sgd", [(0.02, {}), (0.05, {})]),
                ("adam", [(1e-3, {"betas": (0.9, 0.99)}), (3e-3, {"betas": (0.9, 0.999)})]),
            )
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
    assert bad.status == "diverged" and bad.steps == sequential_bad.steps
    assert bad.message == sequential_bad.message and "diverged" in bad.message
    assert bad.metrics == {} and good.status == "completed" and good.steps == 68
    assert_same_run((good, recorders[0].curve), one_at_a_time(recipes[0]))


def test_a_member_whose_last_update_leaves_weights_not_finite_is_diverged_as_alone():
    """One step whose update overflows float32 (lr 1e12 times a weight decay of 1e30 times the weights:
    past float32's largest, 3.4e38; an lr past it is refused as torch refuses it): the loss was finite,
    read before the update, and no later loss tells. One at a time the run is diverged, naming the update
    (ff5fcb1); the member was 'completed' with val_loss NaN, a metric a study would rank. Its neighbour is
    untouched."""
    recipes = [
        BASE.with_updates(
            {
                "optimizer.name": "sgd",
                "optimizer.lr": lr,
                "optimizer.weight_decay": decay,
                "training.steps": 1,
            }
        )
        for lr, decay in ((0.1, 0.0), (1e12, 1e30))
    ]
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    good, bad = train_members(recipes, recorders)
    alone, _ = one_at_a_time(recipes[1])
    assert alone.status == "diverged" and "left weights that are not finite" in alone.message
    assert (bad.status, bad.steps, bad.metrics) == ("diverged", 1, {})
    assert "update of step 1" in bad.message and "left weights that are not finite" in bad.message
    assert recorders[1].curve["step"] == []  # never evaluated, as fit does not evaluate it
    assert_same_run((good, recorders[0].curve), one_at_a_time(recipes[0]))


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


USER_CNN = """
from torch import nn


class BatchNormCNN(nn.Module):
    '''A user's CNN with batch norm: digits' 64 features viewed as 8x8 images. No bias before a batch
    norm, as usual: it would get a zero gradient, only rounding noise, which Adam (g / (|g| + eps))
    amplifies, and curves that differ by 1e-3 between any two ways of rounding (docs/architecture.md).'''

    def __init__(self, input_shape, num_outputs, width=4):
        super().__init__()
        self.shape = tuple(input_shape)
        self.features = nn.Sequential(
            nn.Conv2d(self.shape[0], width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
        )
        self.head = nn.Linear(2 * width, num_outputs)

    def forward(self, x):
        return self.head(self.features(x.view(-1, *self.shape)).mean((2, 3)))
"""


@pytest.mark.parametrize("seeds", [(0, 0), (1, 2)], ids=["one seed, one batch", "a seed each"])
def test_members_of_a_users_cnn_with_batch_norm_follow_their_one_at_a_time_curves(write_modules, seeds):
    """Every evaluation is in eval mode, so it reads each member's own running statistics: curves that
    agree within 1e-5 at each evaluation mean statistics that were updated as the member's own."""
    write_modules(optimlab_members_nets=USER_CNN)
    model = {"name": "optimlab_members_nets:BatchNormCNN", "options": {"width": 3}}
    recipes = [
        BASE.with_updates(
            {"model": model, "optimizer.name": "momentum", "optimizer.lr": lr, "training.seed": seed}
        )
        for lr, seed in zip((0.01, 0.03), seeds)
    ]
    assert not_batchable(recipes[0]) is None
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    results = train_members(recipes, recorders)
    for recipe, result, recorder in zip(recipes, results, recorders):
        assert_same_run((result, recorder.curve), one_at_a_time(recipe))


def test_a_model_that_cannot_stack_raises_before_training(write_modules):
    write_modules(optimlab_members_dropout="from torch import nn\n\n"
                  "def build(input_shape, num_outputs):\n"
                  "    return nn.Sequential(nn.Linear(input_shape[0], 8), nn.Dropout(0.3), nn.Linear(8, num_outputs))\n")  # fmt: skip
    recipes = [BASE.with_updates({"model": {"name": "optimlab_members_dropout:build"}, "optimizer.lr": lr})
               for lr in (1e-3, 3e-3)]  # fmt: skip
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    with pytest.raises(Unstackable, match=r"dropout in 'net.1' \(Dropout, p=0.3\)") as refused:
        train_members(recipes, recorders)
    assert refused.value.reason.startswith("dropout in 'net.1'")
    assert all(recorder.curve["step"] == [] for recorder in recorders)


def test_seeds_whose_splits_differ_in_shape_are_unstackable(write_modules):
    """The user's data drawn from the seed (120 rows for seed 0, 121 for seed 1) ended every batched
    seed run in torch.stack's 'stack expects each tensor to be equal size'; they cannot share a stack,
    and the batched backend trains such trials one at a time on Unstackable."""
    write_modules(
        optimlab_seeded_rows="""
import torch

def rows(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(120 + seed, 4, generator=g)
    return x, (x[:, 0] > 0).long()
"""
    )
    base = Recipe.from_dict(
        {"data": {"name": "optimlab_seeded_rows:rows"}, "model": {"name": "mlp", "width": 8, "depth": 1},
         "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": 1}}
    )  # fmt: skip
    seeds = [base.with_updates({"training.seed": seed}) for seed in (0, 1)]
    with pytest.raises(
        Unstackable, match=r"splits differ in shape \(train x of seed 0: \(72, 4\), of seed 1: \(73, 4\)\)"
    ):
        train_members(seeds, [CurveRecorder(None, "val_accuracy") for _ in seeds])
    assert all(train(recipe).status == "completed" for recipe in seeds)  # each trains alone


@pytest.mark.parametrize(
    "optimizer, options",
    [("lookahead", {"base": "momentum", "k": 5}), ("sam", {"base": "momentum", "rho": 0.05})],
)
def test_a_wrapped_optimizer_is_unstackable_before_training(optimizer, options):
    """lookahead and sam ended train_members in a KeyError ('base', 'lr': their registry entries hold
    the wrapper's keywords, not the base's): their step is not elementwise (slow weights synced every
    k steps, a second gradient at the perturbed weights), which the batched shell cannot take. They
    are refused as the docstring says, before anything trains, for the caller to run them one at a
    time: the batched backend's fallback, whose runs are the one-at-a-time ones."""
    recipes = [
        BASE.with_updates({"optimizer.name": optimizer, "optimizer.lr": lr, "optimizer.options": options})
        for lr in (0.01, 0.03)
    ]
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    with pytest.raises(Unstackable, match=rf"optimizer '{optimizer}' is not elementwise") as refused:
        train_members(recipes, recorders)
    assert refused.value.reason == not_batchable(recipes[0])  # the batched backend's own words
    assert all(recorder.curve["step"] == [] for recorder in recorders)


def test_a_loop_drawing_from_numpy_and_python_draws_on_after_train_members():
    """As train's (f9b669e): train_members builds each seed's model, which seeds NumPy's and Python's
    global generators from training.seed, and left them so: a caller's loop drawing its next lrs from
    np.random after it drew the same numbers each time. Truth: the loop's draws without train_members."""
    import random

    import numpy as np

    def draws(run):
        np.random.seed(1), random.seed(1)
        drawn = []
        for _ in range(2):
            drawn.append((10 ** np.random.uniform(-4, -1), random.random()))
            run(drawn[-1][0])
        return drawn

    short = BASE.with_updates({"training.epochs": 1, "optimizer.name": "sgd"})

    def members(lr):
        recipes = [short.with_updates({"optimizer.lr": lr, "training.seed": seed}) for seed in (0, 1)]
        train_members(recipes, [CurveRecorder(None, "val_accuracy") for _ in recipes])

    assert draws(members) == draws(lambda lr: None)


SCALED_NET = """
import math

import torch
from torch import nn


class ScaledNet(nn.Module):
    '''A user's net with a learnt 0-d temperature beside its Linear, as in CLIP's logit scale.'''

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.linear = nn.Linear(math.prod(input_shape), num_outputs)
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return self.linear(x.flatten(1)) * self.scale
"""


@pytest.mark.parametrize("clip", [None, 0.5], ids=["no clip", "clipped"])
def test_members_of_a_model_with_a_scalar_parameter_follow_their_one_at_a_time_curves(write_modules, clip):
    """A 0-d parameter stacks to shape (K,): the weights check and the per-member clip read it as one
    value per member (flatten(1) raised 'Dimension out of range' on it)."""
    write_modules(optimlab_members_scaled=SCALED_NET)
    recipes = [
        BASE.with_updates(
            {"model": {"name": "optimlab_members_scaled:ScaledNet"}, "optimizer.name": "sgd",
             "optimizer.lr": lr, "training.grad_clip_norm": clip}
        )
        for lr in (0.05, 0.1)
    ]  # fmt: skip
    assert not_batchable(recipes[0]) is None
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    results = train_members(recipes, recorders)
    for recipe, result, recorder in zip(recipes, results, recorders):
        assert result.status == "completed"
        assert_same_run((result, recorder.curve), one_at_a_time(recipe))
