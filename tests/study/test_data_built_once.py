"""A comparison's data loaded once per process: its planning, checks and trials shared the splits."""

from __future__ import annotations

import gc
import weakref

import pytest

import optimlab.data
from optimlab.build import build_data
from optimlab.data.built_once import data_built_once
from optimlab.data.digest import data_digest
from optimlab.errors import OptimlabWarning
from optimlab.study.compare import check_trains, plan_comparison
from optimlab.workloads import get_workload


def counted_loads(monkeypatch) -> list[str]:
    """The names optimlab.data.load is called with from now on (build_data's loader)."""
    calls, load = [], optimlab.data.load

    def counted(name, **options):
        calls.append(name)
        return load(name, **options)

    monkeypatch.setattr(optimlab.data, "load", counted)
    return calls


def test_a_comparison_loads_each_workloads_data_once_and_never_stale_data(monkeypatch):
    """compare's planning and checks loaded digits 5 times before any trial (each trial once more).
    Inside data_built_once: once, the same splits handed again, equal (by digest) to a fresh load;
    a seed of its own (other splits) loads its own; splits changed in place by a caller are loaded
    anew; outside it every call loads (nothing kept)."""
    calls = counted_loads(monkeypatch)
    recipe = get_workload("digits_mlp", epochs=1).recipe
    with data_built_once():
        specs = plan_comparison(["sgd", "adam"], workloads=["digits_mlp"], budget=1, seeds=1, epochs=1)
        for spec in specs:
            check_trains(spec)
        first = build_data(recipe)
        assert build_data(recipe) is first and len(calls) == 1
        built = data_digest(first)
        first.train.x.add_(1.0)  # a caller's change in place
        again = build_data(recipe)
        assert again is not first and data_digest(again) == built and len(calls) == 2
        other_seed = recipe.with_updates({"training.seed": 1})
        assert build_data(other_seed) is not again and len(calls) == 3
    fresh = build_data(recipe)  # outside: loaded, and what was handed out is what a fresh load gives
    assert data_digest(fresh) == built and len(calls) == 4
    build_data(recipe)
    assert len(calls) == 5


def test_kept_splits_are_handed_out_without_hashing_and_a_write_through_a_view_is_seen(monkeypatch):
    """Each hand-out of kept splits hashed them again (7 digests a small comparison, ~1.2 s each at
    CIFAR-10's 614 MB); now none, and a write in place is still seen through torch's version counter:
    by item assignment, or through a view taken before the hand-out (truth: a fresh load's digest)."""
    import optimlab.data.built_once

    calls = counted_loads(monkeypatch)
    recipe = get_workload("teacher_student", epochs=1).recipe
    with data_built_once():
        first = build_data(recipe)
        built = data_digest(first)
        hashed = []
        with monkeypatch.context() as patched:
            patched.setattr(optimlab.data.built_once, "data_digest", lambda s: hashed.append(s))
            assert build_data(recipe) is first and hashed == [] and len(calls) == 1
        view = first.train.x[:1]
        view[0, 0] = 1e6  # a write through a view taken before
        again = build_data(recipe)
        assert again is not first and data_digest(again) == built and len(calls) == 2
        again.val.y[0] = -1  # item assignment on another split
        assert build_data(recipe) is not again and len(calls) == 3


def test_a_kept_build_is_still_said_a_batch_past_the_rows_its_data_fraction_keeps():
    """data.data_fraction 0.1 keeps 109 of digits' 1,079 training rows: fine at batch size 32, said at 1024
    outside data_built_once; inside, the 1024 recipe shares the 32's key (batch size decides no data) and
    its build still says so: the batch size is the recipe's, checked at each build."""
    from optimlab.build import build

    small = get_workload("digits_mlp", epochs=1).recipe.with_updates(
        {"data.data_fraction": 0.1, "training.batch_size": 32}
    )
    big = small.with_updates({"training.batch_size": 1024})
    with data_built_once():
        assert len(build_data(small).train) == 109
        with pytest.warns(
            OptimlabWarning,
            match=r"batch_size 1,024 is more than the 109 training rows data\.data_fraction 0\.1 keeps",
        ):
            build(big)


def test_fresh_seeds_keep_one_copy_of_a_workloads_data(monkeypatch):
    """Each seed's splits were kept until the comparison returned (one copy a seed: 7 GB for CIFAR-10 at
    --seeds 10); now a seed's build replaces the workload's last, which nothing else holds then, and
    another workload's data stay kept beside it."""
    calls = counted_loads(monkeypatch)
    recipe = get_workload("digits_mlp", epochs=1).recipe
    other_workload = get_workload("teacher_student", epochs=1).recipe
    with data_built_once():
        kept = build_data(other_workload)
        seen = []
        for seed in range(3):
            seen.append(weakref.ref(build_data(recipe.with_updates({"training.seed": seed}))))
        gc.collect()
        assert [ref() is None for ref in seen] == [True, True, False]
        assert build_data(other_workload) is kept and len(calls) == 4


def test_a_study_records_the_digest_its_data_were_built_with_hashing_them_once(monkeypatch, tmp_path):
    """open_studies records each method's data digest for a resume's check: inside a comparison it
    hashed the splits build_data had just hashed (CIFAR-10's 614 MB: 1.2 s more). Now once, and the
    digest recorded is the sha256 of a fresh load, taken outside the block."""
    import hashlib
    from types import SimpleNamespace

    import optimlab.data.digest
    from optimlab.study.run import open_studies
    from optimlab.study.storage import DATA_ATTR, open_storage

    hashed = []

    def counted():
        hashed.append(1)
        return hashlib.sha256()

    (spec,) = plan_comparison(["sgd"], workloads=["teacher_student"], budget=1, seeds=1, epochs=1)
    with data_built_once():
        build_data(spec.recipe)  # as planning and checks built them
        monkeypatch.setattr(optimlab.data.digest, "hashlib", SimpleNamespace(sha256=counted))
        open_studies(spec, tmp_path)
        monkeypatch.undo()
    assert len(hashed) == 0  # the kept splits are told unchanged by torch's version counters
    (study,) = open_storage(tmp_path).get_all_studies()
    assert study.user_attrs[DATA_ATTR] == data_digest(build_data(spec.recipe))
