"""Acceptance (issue 12): ``optimlab compare`` on a user model given by import path gives the same
leaderboard with ``--backend batched``, ``workers`` and ``ray`` as with ``local``: the same trials,
their curves within 1e-5 on a stable model (optimlab_userpkg.nets:build, linear layers and tanh)."""

import json
import math

import pytest

from optimlab.study import load_specs
from optimlab.study.storage import load_records, open_storage

COMPARE = [
    "compare", "--optimizers", "sgd,adam", "--model", "optimlab_userpkg.nets:build",
    "--dataset", "optimlab_userpkg.data:blobs", "--budget", "2", "--seeds", "1", "--epochs", "2",
    "--no-progress", "--format", "json",
]  # fmt: skip


def run(cli, folder, *flags):
    code, out, err = cli(*COMPARE, *flags, "--out", str(folder))
    assert code == 0, err
    (spec,) = load_specs(str(folder))
    assert spec.recipe.model.name == "optimlab_userpkg.nets:build"  # the path, stored with the study
    names = [spec.study_name(m) for m in spec.methods]
    records = {(r.study, r.key): r for r in load_records(open_storage(str(folder)), names)}
    (study,) = json.loads(out)["studies"]
    board = study["leaderboard"]
    return records, board


def same_curves(a, b):
    assert set(a) == set(b)
    for name in set(a) - {"seconds"}:
        for x, y in zip(a[name], b[name], strict=True):
            assert (x is None and y is None) or math.isclose(x, y, rel_tol=0, abs_tol=1e-5), name


@pytest.fixture(scope="module")
def local_runs() -> dict:
    """The local comparison, run by the first backend's test and read by the others: one truth for all."""
    return {}


@pytest.mark.parametrize("backend", ["batched", "workers", "ray"])
def test_every_backend_gives_the_leaderboard_of_local(cli, user_package, tmp_path, backend, local_runs):
    flags = ["--backend", backend] + (["--workers", "2"] if backend in ("workers", "ray") else [])
    if backend == "ray":
        ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'optimlab[ray]'")
        try:
            theirs, their_board = run(cli, tmp_path / backend, *flags)
        finally:
            ray.shutdown()
    else:
        theirs, their_board = run(cli, tmp_path / backend, *flags)
    if "local" not in local_runs:
        local_runs["local"] = run(cli, tmp_path / "local")
    ours, our_board = local_runs["local"]
    assert set(theirs) == set(ours) and len(ours) == 2 * (2 + 1)
    for key, mine in ours.items():
        other = theirs[key]
        assert (other.state, other.params, other.seed, other.steps) == (
            mine.state,
            mine.params,
            mine.seed,
            mine.steps,
        )
        assert mine.state == "complete" and other.value == pytest.approx(mine.value, abs=1e-5)
        same_curves(other.curve, mine.curve)
    assert [row["method"] for row in their_board] == [row["method"] for row in our_board]
    for theirs_row, ours_row in zip(their_board, our_board):
        assert theirs_row["test_mean"] == pytest.approx(ours_row["test_mean"], abs=1e-5)
