"""optuna-dashboard reads an optimlab study: its API lists the study, the trials, their curves."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.storage import open_storage
from optimlab.workloads import get_workload

optuna_dashboard = pytest.importorskip("optuna_dashboard", reason="pip install optuna-dashboard")


def get(app, path):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0].startswith("200"), (status, body[:300])
    return json.loads(body)


def test_the_dashboard_api_serves_the_study(tmp_path):
    spec = StudySpec.for_workload(
        "t", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["adam"]), budget=2, seeds=1
    )
    run_study(spec, tmp_path)
    app = optuna_dashboard.wsgi(open_storage(tmp_path))
    (study,) = get(app, "/api/studies")["study_summaries"]
    assert study["study_name"] == "t/adam"
    detail = get(app, f"/api/studies/{study['study_id']}")
    trials = detail["trials"]
    assert len(trials) == 3 and [t["params"][0]["name"] for t in trials] == ["optimizer.lr"] * 3
    attrs = {a["key"]: a["value"] for a in trials[0]["user_attrs"]}
    curve = json.loads(attrs["curve"])  # the dashboard shows user attributes as JSON text
    assert curve["step"] == [34] and curve["val_accuracy"] == [trials[0]["values"][0]]
    assert attrs["key"] == "tune/0" and trials[0]["intermediate_values"][0]["step"] == 34
