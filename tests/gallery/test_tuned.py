"""Tuned comparisons: the methods' seed reruns pair up by seed, a method whose every tuning trial failed too."""

import dataclasses
import math

import pytest

from optimlab.gallery.claims.adam_logistic import curve_mean_losses
from optimlab.gallery.tuned import at_edge, run_tuned, seed_values
from optimlab.gallery.verdict import paired_difference
from optimlab.recipe import Recipe
from optimlab.study import Dimension, SearchSpace, StudySpec, methods_from, run_study


@pytest.fixture(scope="module")
def sgd_never_reran():
    """Adam and SGD at lr 30 on the digits: SGD's only tuning trial diverges, so it has no seed reruns."""
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "depth": 1, "width": 16},
            "training": {"epochs": 1, "batch_size": 32},
        }
    )
    return run_tuned(
        StudySpec(
            name="pairing",
            recipe=recipe,
            methods=methods_from("optimizer.name", ["adam", "sgd"]),
            space=SearchSpace((Dimension("optimizer.lr", low=30.0, high=30.0001, log=True),)),
            budget=1,
            seeds=2,
        )
    )


def test_a_method_that_never_reran_counts_a_failure_for_every_seed(sgd_never_reran):
    result = sgd_never_reran
    assert [(r.method, r.phase, r.status) for r in result.records if r.method == "sgd"] == [
        ("sgd", "tune", "diverged")
    ]
    adam, sgd = seed_values(result, "adam"), seed_values(result, "sgd")
    assert len(adam) == 2 and all(0 < v <= 1 for v in adam)
    assert len(sgd) == 2 and all(math.isnan(v) for v in sgd)
    assert paired_difference(adam, sgd).n == 0  # paired by seed: no pair has both runs
    losses = curve_mean_losses(result, "sgd")
    assert len(losses) == 2 and all(math.isnan(v) for v in losses)


def test_a_study_in_memory_records_what_its_journal_would(tmp_path):
    """run_tuned keeps its study in memory: every trial, in order, as the same spec run in a journal file
    records it (through the journal's JSON), but for the wall times."""
    recipe = Recipe.from_dict(
        {"data": {"name": "two_spirals"}, "model": {"name": "mlp", "depth": 0}, "training": {"steps": 2}}
    )
    spec = StudySpec(
        name="in_memory",
        recipe=recipe,
        methods=methods_from("optimizer.name", ["adam"]),
        space=SearchSpace((Dimension("optimizer.lr", low=1e-3, high=1.0, log=True),)),
        budget=1,
        seeds=1,
    )

    def untimed(records):
        return [
            dataclasses.replace(r, seconds=0.0, curve={k: v for k, v in r.curve.items() if k != "seconds"})
            for r in records
        ]

    in_memory, in_journal = run_tuned(spec), run_study(spec, tmp_path)
    assert [(r.method, r.key, r.state) for r in in_memory.records] == [
        ("adam", "tune/0", "complete"),
        ("adam", "seeds/0", "complete"),
    ]
    assert untimed(in_memory.records) == untimed(in_journal.records)
    assert in_memory.location is None


def test_a_method_tuned_to_the_edge_of_its_grid_is_named():
    """One epoch of plain SGD on the digits wants the largest step of 1e-4, 1e-3, 1e-2: its best is the edge
    of the grid, where the range and not the method decides (adam_best's sgd at lr 1 on MNIST-1D)."""
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "depth": 0},
            "training": {"epochs": 1, "batch_size": 32},
        }
    )
    result = run_tuned(
        StudySpec(
            name="edge",
            recipe=recipe,
            methods=methods_from("optimizer.name", ["sgd"]),
            space=SearchSpace((Dimension("optimizer.lr", low=1e-4, high=1e-2, log=True),)),
            budget=3,
            seeds=1,
        )
    )
    tuned = sorted((r.value, r.params["optimizer.lr"]) for r in result.records if r.phase == "tune")
    assert tuned[-1][1] == pytest.approx(1e-2)  # the best validation accuracy: the largest lr
    assert at_edge(result) == ["sgd (optimizer.lr 0.01)"]


def test_the_ranking_pages_say_which_optimizer_was_tuned_to_the_edge(monkeypatch):
    from optimlab.gallery.claims import optimizer_ranking

    edge = "sgd (optimizer.lr 1) on MNIST-1D, MLP"
    monkeypatch.setattr(optimizer_ranking, "tuned_table", lambda size: ({}, [], [edge]))
    setup = optimizer_ranking._evidence("small", "adam_best").setup
    assert f"Best learning rate at the edge of the grid: {edge};" in setup


def test_a_tiny_gallery_page_counts_in_the_singular(monkeypatch):
    """At --size tiny (1 epoch, a budget of 1) the ranking page's setup read '1 epochs' and '1 learning
    rates'. Truth: English agreement, one home for it (number_text.count_of)."""
    from optimlab.gallery.claims import optimizer_ranking

    monkeypatch.setattr(optimizer_ranking, "tuned_table", lambda size: ({}, [], []))
    setup = optimizer_ranking._evidence("tiny", "adam_best").setup
    assert "1 epoch of" in setup and "1 learning rate on" in setup, setup
    assert "1 epochs" not in setup and "1 learning rates" not in setup
