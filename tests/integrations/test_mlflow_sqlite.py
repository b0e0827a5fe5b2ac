"""Runs written straight into MLflow's SQLite store read back by MLflow's client exactly as runs MLflow's
client wrote itself; any store this writer does not know is left to MLflow's client."""

import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="pip install 'optimlab[trackers]'")
from mlflow.tracking import MlflowClient

from integrations import store_copy
from optimlab.integrations.mlflow_sqlite import SqliteRun, sqlite_store
from optimlab.integrations.mlflow_writer import EXPERIMENT, MLflowRun, open_run

PARAMS = {"optimizer.name": "adam", "optimizer.lr": 0.001, "model.depth": None}
T0 = 1_790_000_000.0
RECORDS = [
    (1, T0 + 0.1, {"train_loss": 2.3, "lr": 1e-3}),
    (2, T0 + 0.2, {"train_loss": math.nan, "lr": 1e-3}),
    (3, T0 + 0.3, {"train_loss": math.inf, "val_accuracy": 0.5}),
    (3, T0 + 0.3, {"train_loss": -math.inf}),  # the same step twice: latest by (step, time, value)
    (4, T0 + 0.25, {"train_loss": 1.5, "val_loss": None}),
]


@pytest.fixture
def store(tmp_path, monkeypatch, made_store):
    """A SQLite store and its experiment, both created by MLflow's client (as a first run makes them:
    conftest's made_store, copied)."""
    monkeypatch.chdir(tmp_path)
    return store_copy(made_store, tmp_path)


def _written(run, page):
    run.log_records(RECORDS[:2])
    run.log_records(RECORDS[2:])
    run.end("FINISHED")
    run.log_artifact(page)
    return run.run_id


def _written_by_mlflow(store, page):
    """The run of PARAMS and RECORDS (a None as NaN) as MLflow's own client logs it, through log_batch:
    the truth a run written here is read against (MLflowRun inserts its points with metric_rows too)."""
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    run_id = client.create_run(experiment, run_name="run").info.run_id
    client.log_batch(run_id, params=[Param(key, str(value)) for key, value in PARAMS.items()])
    for records in (RECORDS[:2], RECORDS[2:]):
        metrics = [
            Metric(key, math.nan if value is None else value, int(wall * 1000), step)
            for step, wall, values in records
            for key, value in values.items()
        ]
        client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id, "FINISHED")
    client.log_artifact(run_id, str(page))
    return run_id


def _seen(client, run_id):
    """Everything MLflow's client shows of a run, but its id and times."""
    run = client.get_run(run_id)
    info = run.info
    histories = {
        key: sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))
        for key in run.data.metrics
    }
    return {
        "info": (info.run_name, info.status, info.user_id, info.lifecycle_stage, info.experiment_id),
        "artifact_uri": info.artifact_uri.replace(run_id, "RUN"),
        "ended": info.end_time >= info.start_time > 0,
        "params": run.data.params,
        "tags": run.data.tags,
        "latest": {k: str(v) for k, v in run.data.metrics.items()},  # NaN == NaN as text
        "histories": {k: [(s, t, str(v)) for s, t, v in h] for k, h in histories.items()},
        "artifacts": [(a.path, a.file_size) for a in client.list_artifacts(run_id)],
        "searched": [r.info.run_id for r in client.search_runs([info.experiment_id], f"attributes.run_name = '{info.run_name}'")],
    }  # fmt: skip


def test_a_run_written_straight_reads_back_as_one_mlflow_wrote(store, tmp_path):
    page = tmp_path / "report.html"
    page.write_text("<html>page</html>")
    direct = SqliteRun.open(run_name="run", params=PARAMS, tracking_uri=store, experiment=EXPERIMENT)
    assert isinstance(direct, SqliteRun)
    by_client = MLflowRun(run_name="run", params=PARAMS, tracking_uri=store)
    ours, client_s = _written(direct, page), _written(by_client, page)
    theirs = _written_by_mlflow(store, page)
    client = MlflowClient(tracking_uri=store)
    seen, through, expected = _seen(client, ours), _seen(client, client_s), _seen(client, theirs)
    runs = {ours, client_s, theirs}  # all named "run"
    assert set(seen.pop("searched")) == set(through.pop("searched")) == set(expected.pop("searched")) == runs
    assert seen == expected and through == expected
    assert seen["latest"]["train_loss"] == "1.5" and seen["histories"]["train_loss"][1][2] == "nan"
    back = client.download_artifacts(ours, "report.html", str(tmp_path / "back"))
    assert Path(back).read_text() == "<html>page</html>"


def test_open_run_writes_straight_only_where_the_store_is_known(store, tmp_path, monkeypatch):
    def opened(**settings):
        return type(open_run(run_name="r", experiment=EXPERIMENT, **settings)).__name__

    assert opened(tracking_uri=store) == "SqliteRun"
    # MLflow's default here: ./mlflow.db (its artifacts in ./mlruns), unless ./mlruns holds a file store.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "mlruns" / "1").mkdir(parents=True)  # a SQLite store's artifacts of experiment 1
    assert sqlite_store(None) == tmp_path / "mlflow.db"
    (tmp_path / "mlruns" / "0").mkdir()
    (tmp_path / "mlruns" / "0" / "meta.yaml").write_text("name: Default\n")
    assert sqlite_store(None) is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert opened() == "SqliteRun"
    assert opened(tracking_uri=store, params={}) == "SqliteRun"
    # An experiment not there yet: MLflow's client creates it.
    assert type(open_run(run_name="r", experiment="other", tracking_uri=store)).__name__ == "MLflowRun"
    # A store whose runs need a column not written here, and a store that is not SQLite.
    path = str(tmp_path / "mlflow.db")
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT 'x'")
    assert opened(tracking_uri=store) == "SqliteRun"  # a column with a default fills itself
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE tags RENAME COLUMN value TO text")
    assert SqliteRun.open(run_name="r", tracking_uri=store, experiment=EXPERIMENT) is None
    assert SqliteRun.open(run_name="r", tracking_uri=store + "?mode=ro", experiment=EXPERIMENT) is None
    assert SqliteRun.open(run_name="r", tracking_uri="http://localhost:5000", experiment=EXPERIMENT) is None
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert SqliteRun.open(run_name="r", tracking_uri=missing, experiment=EXPERIMENT) is None


def test_a_run_written_straight_in_a_process_without_mlflow_reads_back_as_one_mlflow_wrote(store, tmp_path):
    """A trainer's process writes its run straight, never importing MLflow (4 s of CPU): what it wrote
    there reads back through MLflow's client as the run MLflow's own client writes of the same records."""
    page = tmp_path / "report.html"
    page.write_text("<html>page</html>")
    code = (
        "import sys; from math import nan, inf; from optimlab.integrations.mlflow_writer import open_run; "
        f"run = open_run(run_name='run', params={PARAMS!r}, tracking_uri={store!r}, experiment='optimlab'); "
        f"run.log_records({RECORDS[:2]!r}); run.log_records({RECORDS[2:]!r}); run.end('FINISHED'); "
        f"run.log_artifact({str(page)!r}); print(type(run).__name__, run.run_id, 'mlflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    kind, ours, imported = done.stdout.split()
    assert (kind, imported) == ("SqliteRun", "False")
    theirs = _written_by_mlflow(store, page)
    client = MlflowClient(tracking_uri=store)
    seen, expected = _seen(client, ours), _seen(client, theirs)
    assert set(seen.pop("searched")) == set(expected.pop("searched")) == {ours, theirs}
    assert seen == expected and seen["histories"]["train_loss"][1][2] == "nan"
