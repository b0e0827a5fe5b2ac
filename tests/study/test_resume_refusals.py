"""What a resume of a stored comparison refuses or takes over: a workload its comparison never planned,
claims on a study without settings, settings that differ from the stored ones."""

from __future__ import annotations

import pytest

from optimlab.errors import OptimlabError
from optimlab.study.compare import compare


def test_a_resume_refuses_a_workload_its_stored_comparison_never_planned(tmp_path, monkeypatch):
    """A resume given the values created any workload's study not stored yet, even one the stored
    comparison never planned: its study's COMPARISON_ATTR named the two, the stored one's itself alone.
    Now it is refused naming the workload, nothing created. Truth: the studies read back."""
    from optimlab.study import compare as comparing
    from optimlab.study.storage import open_storage, optimlab_studies

    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(comparing, "check_trains", lambda spec: None)  # not what is tested
    call = {"values": ["sgd"], "budget": 1, "seeds": 1, "epochs": 1, "on_start": stop}
    with pytest.raises(KeyboardInterrupt):
        compare(**call, workloads=["teacher_student"], out=tmp_path)
    with pytest.raises(
        OptimlabError, match="study 'two_spirals_mlp': the comparison stored .* never planned"
    ):
        compare(**call, workloads=["teacher_student", "two_spirals_mlp"], out=tmp_path, resume=True)
    assert [s.study_name for s in optimlab_studies(open_storage(tmp_path))] == ["teacher_student/sgd"]
