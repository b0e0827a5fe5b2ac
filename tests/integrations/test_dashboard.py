"""optuna-dashboard opens an optimlab journal as its own command line does: ``optuna-dashboard study.journal``
goes through ``get_storage`` (a JournalFileBackend with the dashboard's own lock), and its pages through
``get_studies`` / ``get_trials``; the served API then lists the study, its trials and their curves."""

import pytest
from study.test_dashboard import get  # the dashboard's API, called as a WSGI app

from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.storage import JOURNAL_NAME
from optimlab.workloads import get_workload

optuna_dashboard = pytest.importorskip("optuna_dashboard", reason="pip install 'optimlab[dashboard]'")
from optuna_dashboard._inmemory_cache import InMemoryCache  # noqa: E402
from optuna_dashboard._storage import get_studies, get_trials  # noqa: E402
from optuna_dashboard._storage_url import get_storage  # noqa: E402


def test_the_dashboard_loads_the_journal_as_its_command_line_does(tmp_path):
    spec = StudySpec.for_workload(
        "w", get_workload("digits-mlp", epochs=1), methods_from("optimizer.name", ["sgd"]), budget=2, seeds=1
    )
    result = run_study(spec, tmp_path)
    storage = get_storage(str(tmp_path / JOURNAL_NAME))  # what `optuna-dashboard PATH` calls
    (study,) = get_studies(storage)
    assert study.study_name == "w/sgd"
    trials = get_trials(InMemoryCache(), storage, study._study_id)
    assert sorted(t.user_attrs["key"] for t in trials) == sorted(r.key for r in result.records)
    by_key = {r.key: r for r in result.records}
    for trial in trials:
        assert trial.params == by_key[trial.user_attrs["key"]].params
        assert trial.user_attrs["curve"] == by_key[trial.user_attrs["key"]].curve
    app = optuna_dashboard.wsgi(storage)
    (summary,) = get(app, "/api/studies")["study_summaries"]
    detail = get(app, f"/api/studies/{summary['study_id']}")
    assert len(detail["trials"]) == 3
