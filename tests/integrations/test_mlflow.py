"""`optimlab train --log mlflow` read back with MLflow's client: the metrics of metrics.jsonl at their steps,
the recipe as parameters, the run's page as an artifact; a run is complete after `wait()`, or once the
process that trained it has exited."""

import enum
import inspect
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from integrations import (
    exit_code,
    forked,
    logged_metrics,
    store_copy,
    train_three_sessions,
    train_with_tracker,
)
from optimlab.errors import InvalidValueError, OptimlabWarning
from optimlab.integrations.mlflow_sqlite import mlflow_name
from optimlab.recipe import Recipe
from optimlab.report.recipes import default_values, flat_fields

pytest.importorskip("mlflow", reason="pip install 'optimlab[trackers]'")
from mlflow.tracking import MlflowClient


def _same_as_metrics_jsonl(client, run, out: Path, *earlier: dict) -> None:
    """Each metric's history and latest value in ``run`` are those ``out`` holds (:func:`logged_metrics`:
    its metrics.jsonl, and its final test scores at the last step of each session, ``earlier`` ones too)."""
    logged = logged_metrics(out, *earlier)
    assert set(run.data.metrics) == set(logged)
    for key, expected in logged.items():
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == pytest.approx(expected), key
        assert run.data.metrics[key] == pytest.approx(expected[-1][1]), key  # latest_metrics


@pytest.mark.slow
def test_train_log_mlflow_holds_metrics_recipe_and_report(tmp_path, monkeypatch, made_store):
    # through MLflow's client, as on a new store, whose tables made_store made once (1.7 s of CPU)
    uri = store_copy(made_store, tmp_path) + "?timeout=20"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts folder, ./mlruns, lands here
    out = tmp_path / "iris-run"
    train_with_tracker(out, "mlflow")
    client = MlflowClient(tracking_uri=uri)
    # The command returned with the run whole: its records, its end and its page.
    runs = client.search_runs([client.get_experiment_by_name("optimlab").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["first", "iris-run"]  # made_store's, and its own
    (run,) = (r for r in runs if r.info.run_name == "iris-run")
    assert run.info.status == "FINISHED"
    _same_as_metrics_jsonl(client, run, out)
    recipe = Recipe.load(out / "recipe.yaml")
    # A null field is the default that trained: Adam's lr as torch's Adam takes it, as the lr metric and
    # the run's page (defaults_named) say; it was 'None'.
    adam_lr = inspect.signature(torch.optim.Adam).parameters["lr"].default
    assert recipe.optimizer.lr is None and run.data.params["optimizer.lr"] == str(adam_lr)
    assert [m.value for m in client.get_metric_history(run.info.run_id, "lr")] == [adam_lr] * 12
    recipe_params = {**dict(flat_fields(recipe.to_dict())), **default_values(recipe)}
    assert run.data.params == {k: str(v) for k, v in recipe_params.items()}
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["report.html"]
    page = client.download_artifacts(run.info.run_id, "report.html", str(tmp_path / "back"))
    assert Path(page).read_text() == (out / "report.html").read_text()


def _finished(client, run_id, seconds=120.0):
    """The run once its writer has ended it (a trainer that died leaves the writer to finish alone)."""
    deadline = time.monotonic() + seconds
    while (run := client.get_run(run_id)).info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    return run


@pytest.mark.slow
def test_a_trainer_that_dies_leaves_its_run_killed_with_every_record_it_sent(tmp_path, made_store):
    from optimlab.integrations.mlflow import MLflowTracker

    uri = store_copy(made_store, tmp_path) + "?timeout=20"  # through MLflow's client, as on a new store

    def trainer() -> None:
        tracker = MLflowTracker(run_name="dies", tracking_uri=uri)
        for step in range(1, 51):
            tracker.log(step, 1.7e9 + step, {"train_loss": 1.0 / step})
        tracker.flush()
        (tmp_path / "run_id").write_text(tracker.run_id)
        os._exit(3)  # no close, no clean-up: as if killed

    assert exit_code(forked(trainer, tmp_path)) == 3
    client = MlflowClient(tracking_uri=uri)
    run = _finished(client, (tmp_path / "run_id").read_text())
    assert run.info.status == "KILLED"
    history = sorted(client.get_metric_history(run.info.run_id, "train_loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == pytest.approx([(s, 1.0 / s) for s in range(1, 51)])


@pytest.fixture
def refusing_uri():
    """The URI of a server that answers, but not as MLflow's (404 to every request): it passes the
    tracker's check as it opens (a scheme MLflow has no store for is refused there), and MLflow's client
    refuses it at its first call."""
    import http.server
    import threading

    class NotMLflow(http.server.BaseHTTPRequestHandler):
        def answer(self):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotMLflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.slow
def test_a_tracking_uri_mlflow_refuses_is_an_error_naming_the_run(refusing_uri):
    from optimlab.errors import OptimlabError
    from optimlab.integrations.mlflow import MLflowTracker

    tracker = MLflowTracker(run_name="lost", tracking_uri=refusing_uri)
    tracker.log(1, 1.7e9, {"train_loss": 1.0})
    with pytest.raises(OptimlabError, match="MLflow did not record run 'lost'.*404"):
        tracker.finish()  # raises here if the refusal has come back already, else:
        tracker.wait()


@pytest.mark.slow
def test_a_run_is_complete_after_wait(tmp_path, monkeypatch):
    from optimlab.integrations.mlflow import MLflowTracker

    monkeypatch.chdir(tmp_path)  # the artifacts folder
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a new store, as users type it (its migrations on the way)
    (tmp_path / "notes.txt").write_text("kept with the run")
    tracker = MLflowTracker(run_name="waited", tracking_uri=uri)
    for step in range(1, 31):
        tracker.log(step, 1.7e9 + step, {"train_loss": 1.0 / step})
    tracker.finish()
    tracker.log_artifact("notes.txt")
    tracker.wait()
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(tracker.run_id)  # read at once: no polling
    assert run.info.status == "FINISHED"
    history = sorted(client.get_metric_history(run.info.run_id, "train_loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == pytest.approx([(s, 1.0 / s) for s in range(1, 31)])
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["notes.txt"]


@pytest.mark.slow
def test_a_script_that_exits_without_waiting_leaves_its_run_complete_and_says_what_mlflow_refused(
    tmp_path, refusing_uri, made_store
):
    uri = store_copy(made_store, tmp_path) + "?timeout=20"  # through MLflow's client, as on a new store
    trainer = f"""
from optimlab.integrations.mlflow import MLflowTracker
lost = MLflowTracker(run_name="lost", tracking_uri={refusing_uri!r})
lost.log(1, 1.7e9, {{"train_loss": 1.0}})
tracker = MLflowTracker(run_name="exits", tracking_uri={uri!r})
for step in range(1, 51):
    tracker.log(step, 1.7e9 + step, {{"train_loss": 1.0 / step}})
tracker.finish()
lost.flush()
print(tracker.run_id, flush=True)
"""  # neither wait() nor lost.finish(): the interpreter's exit waits for the writer
    done = subprocess.run([sys.executable, "-c", trainer], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MLflow did not record run 'lost'" in done.stderr
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(done.stdout.split()[-1])  # read at once: no polling
    assert run.info.status == "FINISHED"
    history = sorted(client.get_metric_history(run.info.run_id, "train_loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == pytest.approx([(s, 1.0 / s) for s in range(1, 51)])


def test_the_writers_rows_read_back_as_mlflows_own_log_batch(sqlite_uri):
    """The writer's multi-row insert against MLflow's log_batch: the same history and latest values,
    NaN and infinities included; a point sent twice falls back to log_batch, which deduplicates it.
    (A copy of the made store: its tables are not what is compared, and making them costs 1.7 s.)"""
    from mlflow.entities import Metric

    from optimlab.integrations.mlflow_sqlite import metric_rows
    from optimlab.integrations.mlflow_writer import MLflowRun

    uri = sqlite_uri
    records = [(step, 1000.0 + step, {"loss": 1.0 / (step + 1), "lr": 0.1}) for step in range(1500)]
    records += [(1500, 2600.0, {"loss": math.nan, "lr": math.inf}), (1501, 2601.0, {"loss": None})]
    ours = MLflowRun(run_name="ours", tracking_uri=uri)
    assert ours.log_records(records) == 3003
    assert ours.log_records(records[:2]) == 4  # already there: log_batch's deduplication
    records.append((1502, 5000.0, {"loss": 0.5}))
    assert ours._insert_rows(*metric_rows(ours.run_id, records[-1:]))  # a new point takes the fast path
    client = MlflowClient(tracking_uri=uri)
    theirs = client.create_run(ours._experiment_id("optimlab")).info.run_id
    points = [
        Metric(k, math.nan if v is None else float(v), int(t * 1000), s)
        for s, t, m in records
        for k, v in m.items()
    ]
    for start in range(0, len(points), 1000):
        client.log_batch(theirs, metrics=points[start : start + 1000])

    def history(run_id, key):
        return [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]

    for key in ("loss", "lr"):
        assert repr(sorted(history(ours.run_id, key), key=repr)) == repr(
            sorted(history(theirs, key), key=repr)
        )
    assert repr(client.get_run(ours.run_id).data.metrics) == repr(client.get_run(theirs).data.metrics)


@pytest.mark.slow
def test_train_html_log_mlflow_attaches_the_page_the_command_wrote(tmp_path, monkeypatch, made_store, capsys):
    import json

    from optimlab.cli.app import main
    from optimlab.integrations.mlflow_writer import end_writer

    uri = store_copy(made_store, tmp_path) + "?timeout=20"  # through MLflow's client, as on a new store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "html-run"
    with pytest.raises(SystemExit) as done:
        main(
            ["train", "--dataset", "iris", "--width", "8", "--steps", "6", "--out", str(out), "--no-progress",
             "--html", "--log", "mlflow", "--format", "json"]
        )  # fmt: skip
    assert done.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    written = (out / "report.html").read_text()  # by the command itself, before it returned
    end_writer(wait=True)
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("optimlab").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["first", "html-run"]  # made_store's, and its own
    (run,) = (r for r in runs if r.info.run_name == "html-run")
    assert run.info.status == "FINISHED"
    # where the run went, as doctor's and report's "trackers" say; no failure
    assert printed["trackers"] == {"mlflow": f"MLflow run {run.info.run_id}"}
    assert printed["tracker_failures"] == {}
    page = client.download_artifacts(run.info.run_id, "report.html", str(tmp_path / "back"))
    assert Path(page).read_text() == written


def _run_names(uri: str) -> list[str]:
    """The names of the runs at ``uri``, by MLflow's own client."""
    client = MlflowClient(tracking_uri=uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    return [run.info.run_name for run in client.search_runs(experiments)]


def _train_refused(cli, tmp_path) -> str:
    """`optimlab train --log mlflow` at the MLFLOW_TRACKING_URI set: its one line on stderr, checked to
    exit 2 before any training (no model.pt)."""
    out = tmp_path / "run"
    code, _, err = cli(
        "train", "--dataset", "iris", "--steps", "3", "--out", str(out), "--no-progress", "--log", "mlflow"
    )
    (line,) = err.splitlines()
    assert code == 2 and not (out / "model.pt").exists()
    return line


EMPTY_NAME_REFUSAL = (
    "invalid value '' for MLFLOW_EXPERIMENT_NAME: accepted an experiment's name (MLflow refuses an empty "
    "one), or the variable unset."
)


@pytest.mark.parametrize("experiment_id", [None, "0"])
@pytest.mark.parametrize("store", ["sqlite", "file"])
def test_an_empty_experiment_name_is_refused_as_mlflow_refuses_it_in_one_line_before_training(
    tmp_path, monkeypatch, cli, capsys, store, experiment_id, made_store
):
    """MLFLOW_EXPERIMENT_NAME set to '' was read as unset: the run went to experiment 'optimlab' (or
    MLFLOW_EXPERIMENT_ID's), where mlflow.start_run() refuses it ("Invalid experiment name: ''": MLflow
    reads a variable that is set, empty or not, and refuses an empty name). Refused alike, in one line
    naming the value and the variable, as the tracker opens, at any store, before any training."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from optimlab.integrations.mlflow import MLflowTracker

    # a SQLite store as a first run made it (made_store, copied: MLflow's tables cost 1.7 s a store)
    uri = store_copy(made_store, tmp_path) if store == "sqlite" else (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.7+ refuses a file store without it
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "")
    if experiment_id is not None:
        monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    with pytest.raises(MlflowException, match="Invalid experiment name: ''"), mlflow.start_run():
        pass  # MLflow's own refusal
    capsys.readouterr()  # MLflow's own log lines, before the command's
    assert _train_refused(cli, tmp_path) == f"error: {EMPTY_NAME_REFUSAL}"
    for background in (False, True):
        with pytest.raises(InvalidValueError) as raised:
            MLflowTracker(run_name="r", background=background)
        assert str(raised.value) == EMPTY_NAME_REFUSAL


def test_an_experiment_the_store_lacks_or_deleted_is_one_line_exit_2_before_training(
    tmp_path, monkeypatch, cli, capsys, sqlite_uri
):
    """MLFLOW_EXPERIMENT_ID=999 at a store that has no such experiment, or MLFLOW_EXPERIMENT_NAME naming
    one it has deleted: `train --log mlflow` trained to its end, then exited 2 with MLflow's refusal, the
    run lost (its writer opened it after training had begun). Refused as the tracker opens, naming the
    value, the variable and the ids the store has (or the restore command), on either path, where MLflow's
    own client refuses it too; an id it has is taken."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from optimlab.integrations.mlflow import MLflowTracker

    client = MlflowClient(tracking_uri=sqlite_uri)
    with pytest.raises(MlflowException, match="No Experiment with id=999 exists"):
        client.create_run("999")  # MLflow's own refusal
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "999")
    capsys.readouterr()  # MLflow's own log lines, before the command's
    refusal = "invalid value '999' for MLFLOW_EXPERIMENT_ID: accepted the id of an active experiment at"
    assert _train_refused(cli, tmp_path).startswith(f"error: {refusal}")
    for background in (False, True):
        with pytest.raises(InvalidValueError, match=f"^{refusal} .*: 0 \\(Default\\), 1 \\(optimlab\\);"):
            MLflowTracker(run_name="r", background=background)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "")  # refused as MLflow refuses it, not read as unset
    assert _train_refused(cli, tmp_path).startswith(f"error: {EMPTY_NAME_REFUSAL}")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
    kept = mlflow.MlflowClient(sqlite_uri).create_experiment("kept")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", kept)
    tracker = MLflowTracker(run_name="r", background=False)
    tracker.finish()
    assert client.get_run(tracker.run_id).info.experiment_id == kept
    # an experiment name the store has deleted: MLflow's client refuses a run in it, as it did id 999
    client.delete_experiment(kept)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        client.create_run(kept)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "kept")
    deleted = (
        "invalid value 'kept' for MLFLOW_EXPERIMENT_NAME: accepted an active experiment, or a new name: "
    )
    assert _train_refused(cli, tmp_path).startswith(f"error: {deleted}")
    for background in (False, True):
        with pytest.raises(
            InvalidValueError, match=f"^{deleted}'kept' is deleted at .*--experiment-id {kept},"
        ):
            MLflowTracker(run_name="r", background=background)


def test_a_tracking_server_that_does_not_answer_is_one_line_exit_2_before_training(
    tmp_path, monkeypatch, cli
):
    """MLFLOW_TRACKING_URI at a port nobody listens on: MLflow's client retried for minutes, the command
    waited 120 s, then exited 0 saying its writer would end the run, and the writer went on beside the
    shell. Now refused as the tracker opens, before any training, where MLflow's own client fails too."""
    import socket

    from optimlab.errors import OptimlabError
    from optimlab.integrations.mlflow import MLflowTracker

    with socket.socket() as closed:  # a port free on this machine: nothing listens there
        closed.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own verdict, without its retries
    with pytest.raises(Exception, match="Connection refused|Max retries"):
        MlflowClient(tracking_uri=uri).search_experiments()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    line = _train_refused(cli, tmp_path)  # exit 2, no model: refused before training, not after retries
    assert line.startswith("error: ") and uri in line and "MLFLOW_TRACKING_URI" in line
    with pytest.raises(OptimlabError, match=f"tracking URI '{uri}' cannot be reached"):
        MLflowTracker(run_name="lost", tracking_uri=uri, background=False)
    new = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"  # MLflow makes the folder and the file
    MLflowTracker(run_name="kept", tracking_uri=new, background=False).finish()
    assert _run_names(new) == ["kept"]


@pytest.mark.parametrize(
    "store, reason",
    [
        ("not-a-database.txt", "not a database"),
        ("a-folder", "a folder"),
        ("not-a-database.txt/mlflow.db", "not-a-database.txt is a file, not a folder"),
        (
            "gone-link/mlflow.db",
            "gone-link is a symbolic link to",
        ),  # to nothing: no file, as atomic.Blocked says
    ],
)
def test_a_sqlite_store_mlflow_cannot_open_is_one_line_exit_2_before_training(
    tmp_path, monkeypatch, cli, store, reason
):
    """MLFLOW_TRACKING_URI at a text file, at a folder, or under a file: MLflow refused it after training (a
    folder: its client retried for minutes); now refused as the tracker opens, where MLflow's own client
    fails too, naming what is in the way."""
    (tmp_path / "not-a-database.txt").write_text("hello\n")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "gone-link").symlink_to(tmp_path / "gone")
    uri = f"sqlite:///{tmp_path / store}"
    if store == "not-a-database.txt":  # MLflow's own verdict (on a folder it retries for a minute and more)
        with pytest.raises(Exception, match="not a database"):
            MlflowClient(tracking_uri=uri).search_experiments()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    line = _train_refused(cli, tmp_path)
    assert line.startswith(f"error: MLflow's tracking URI '{uri}' cannot be opened (")
    assert reason in line


def _os_refusal(folder) -> str:
    """The OS's own reason a folder cannot be made in ``folder``, as MLflow makes the store's (strerror)."""
    with pytest.raises(OSError) as refused:
        os.mkdir(folder / "sub")
    return refused.value.strerror


@pytest.mark.parametrize("blocked", ["under a file", "read-only folder"])
def test_a_sqlite_store_in_a_place_no_file_can_be_made_says_the_os_reason_in_its_one_line(
    tmp_path, monkeypatch, cli, blocked
):
    """MLFLOW_TRACKING_URI=sqlite:///... in a folder no file can be made in said 'no file can be made in
    ...' (or '... is a file') without the OS's reason ('Permission denied', 'Not a directory'), which
    tells a user what to fix. Truth: the OS's own refusal to make a folder there (os.mkdir's strerror),
    in the one line of `optimlab train --log mlflow`, exit 2."""
    if blocked == "under a file":
        place = tmp_path / "notes.txt"
        place.write_text("hello\n")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only folder")
        place = tmp_path / "read-only"
        place.mkdir()
        place.chmod(0o555)
    reason = _os_refusal(place)
    uri = f"sqlite:///{place / 'runs' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    line = _train_refused(cli, tmp_path)
    assert line.startswith(f"error: MLflow's tracking URI '{uri}' cannot be opened (") and f"{place}" in line
    assert f": {reason})" in line


@pytest.mark.parametrize(
    "uri, reason",
    [("sqlite://mlflow.db", "Invalid SQLite URL"), ("mysql+nosuchdriver://host/db", "Can't load plugin")],
)
def test_a_database_uri_sqlalchemy_refuses_is_one_line_exit_2_before_training(
    tmp_path, monkeypatch, cli, uri, reason
):
    """MLFLOW_TRACKING_URI a database URI SQLAlchemy cannot read (two slashes) or whose driver is not
    installed: `train --log mlflow` trained the whole run, then exited 2 saying MLflow did not record it.
    Now refused as the tracker opens, before training, where SQLAlchemy (MLflow's database store) refuses
    it itself."""
    import sqlalchemy

    with pytest.raises(Exception, match=reason):
        sqlalchemy.create_engine(uri)  # what MLflow's SqlAlchemyStore opens it with
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    line = _train_refused(cli, tmp_path)
    assert line.startswith(f"error: MLflow's tracking URI '{uri}' cannot be opened (") and reason in line


def test_a_sqlite_file_is_opened_once_not_asked_of_sqlalchemy_too(tmp_path):
    """A sqlite:/// file the check opens itself was then handed to SQLAlchemy as well (its import and an
    engine built: a second check of the same URI). Now only other database URIs (a sqlite:/// one with a
    query, which the writer leaves to MLflow) are: SQLAlchemy is imported for those alone. One fresh
    process checks the plain URI, then the one with a query (its own process each cost 3 s of CPU)."""
    code = "import sys; from optimlab.integrations.mlflow import _check_store\n"
    for name, query in (("plain", ""), ("query", "?timeout=20")):
        uri = f"sqlite:///{tmp_path / f'{name}.db'}{query}"
        code += f"_check_store({uri!r}); print('sqlalchemy' in sys.modules)\n"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("allowed", [False, True])
def test_a_file_store_mlflow_refuses_is_one_line_exit_2_before_training(tmp_path, monkeypatch, cli, allowed):
    """MLFLOW_TRACKING_URI a file:// folder (MLflow 3 refuses its file store unless
    MLFLOW_ALLOW_FILE_STORE=true), or one under a file: `train --log mlflow` trained the whole run, then
    exited 2 saying MLflow did not record it; now refused as the tracker opens, where MLflow's own
    FileStore refuses it too."""
    from mlflow.store.tracking.file_store import FileStore

    (tmp_path / "a-file").write_text("hello\n")
    uri = (tmp_path / "a-file" / "mlruns" if allowed else tmp_path / "mlruns").as_uri()
    if allowed:
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    else:
        monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(Exception, match="Not a directory" if allowed else "MLFLOW_ALLOW_FILE_STORE"):
        FileStore(uri, uri)  # MLflow's own verdict
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    line = _train_refused(cli, tmp_path)
    assert line.startswith(f"error: MLflow's tracking URI '{uri}' cannot be opened (")
    assert ("Not a directory" if allowed else "unless MLFLOW_ALLOW_FILE_STORE=true") in line


@pytest.mark.slow
def test_two_trainers_starting_on_a_new_sqlite_store_both_keep_their_runs(tmp_path):
    """Two processes opening runs at once on a SQLite file not yet made: both ran MLflow's migrations,
    and one or both failed (alembic's 'expected to match one row', 'duplicate column name: step'), in 3
    races of 3; `optimlab train --log mlflow` twice in parallel lost a run."""
    from optimlab.integrations.mlflow_writer import MLflowRun

    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    racers = [
        forked(lambda name=name: MLflowRun(run_name=name, tracking_uri=uri).end("FINISHED"), tmp_path)
        for name in ("one", "two")
    ]  # each a process of its own (its failure's traceback on the test's stderr)
    assert [exit_code(racer) for racer in racers] == [0, 0]
    client = MlflowClient(tracking_uri=uri)
    found = client.search_runs([client.get_experiment_by_name("optimlab").experiment_id])
    assert sorted(run.info.run_name for run in found) == ["one", "two"]
    assert all(run.info.status == "FINISHED" for run in found)


@pytest.mark.slow
@pytest.mark.parametrize(
    "store", ["new", "made"]
)  # made by MLflow's client as the run opens; written straight
def test_a_run_s_start_and_end_hold_its_metrics_time_stamps(tmp_path, monkeypatch, store, made_store):
    """A run trained live, and one sent from its folder an hour after it trained (`optimlab report RUN --log
    mlflow`), start no later than their first metric's time stamp and end no earlier than their last.
    The live run on a new store started 9.9 s after its first metric (MLflow's import and tables); the one
    sent started and ended as it was sent, its metrics an hour before its start."""
    from optimlab.cli.app import main
    from optimlab.integrations import log_run, open_tracker
    from optimlab.integrations.mlflow_writer import end_writer

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    if store == "made":  # made by MLflowRun(run_name="first", tracking_uri=uri): made_store, copied to uri
        assert store_copy(made_store, tmp_path) == uri
    train_with_tracker(tmp_path / "live", "mlflow")
    end_writer(wait=True)
    sent = tmp_path / "sent"
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "iris", "--steps", "12", "--out", str(sent), "--no-progress"])
    an_hour_ago = time.time() - 3600
    os.utime(sent / "recipe.yaml", (an_hour_ago, an_hour_ago))  # the run's start, for its records
    tracker = open_tracker(
        "mlflow", folder=sent, run_name="sent", params={}, background=False, resumable=True
    )
    log_run(sent, tracker)
    client = MlflowClient(tracking_uri=uri)
    for name in ("live", "sent"):
        (run,) = client.search_runs(
            [client.get_experiment_by_name("optimlab").experiment_id], f"attributes.run_name = '{name}'"
        )
        stamps = [
            m.timestamp for key in run.data.metrics for m in client.get_metric_history(run.info.run_id, key)
        ]
        assert run.info.start_time <= min(stamps) and max(stamps) <= run.info.end_time, name
        assert run.info.end_time - run.info.start_time < 60_000, name  # seconds of training, not an hour


@pytest.mark.slow
def test_a_refusal_known_while_training_does_not_stop_the_run_and_wait_raises_it(tmp_path, refusing_uri):
    from optimlab.errors import OptimlabError
    from optimlab.integrations.mlflow import MLflowTracker
    from optimlab.train import train

    tracker = MLflowTracker(run_name="refused", tracking_uri=refusing_uri)
    with pytest.raises(OptimlabError, match="MLflow did not record run 'refused'"):
        assert tracker.run_id  # the writer's answer: the refusal, known before training starts
    recipe = Recipe.from_dict({"data": {"name": "iris"}, "model": {"width": 8}, "training": {"steps": 12}})
    result = train(recipe, tmp_path / "run", callbacks=[tracker])
    assert result.status == "completed" and result.steps == 12 and (tmp_path / "run" / "model.pt").is_file()
    with pytest.raises(OptimlabError, match="MLflow did not record run 'refused'"):
        tracker.wait()


RESUMED = Recipe.from_dict(
    {
        "data": {"name": "iris"},
        "model": {"width": 8},
        "training": {"steps": 12, "batch_size": 32, "checkpoint_every": 5},
    }
)  # fmt: skip  (evaluated at steps 3, 6, 9 and 12; checkpoints at 5 and 10)


@pytest.fixture
def sqlite_uri(tmp_path, monkeypatch, made_store):
    """MLflow's SQLite store, created by its client as a first run makes it (:func:`made_store`), as the
    tracking URI, in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)  # the artifacts folder
    uri = store_copy(made_store, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_an_mlflow_run_name_is_taken_as_given_slashes_and_all(sqlite_uri):
    """169ee9d6 applied TensorBoard's folder rule to MLflow's run names, refusing 'a//b', 'exp/' and
    'https://x/y' (an empty part), which named runs before: MLflow's names are labels, not folders.
    Truth: MLflow's own client reads each run's name back as given."""
    from optimlab.integrations import open_tracker

    names = ["a//b", "exp/", "https://x/y"]
    ids = []
    for name in names:
        tracker = open_tracker("mlflow", folder=".", run_name=name, background=False)
        tracker.finish()
        ids.append(tracker.run_id)
    client = MlflowClient(tracking_uri=sqlite_uri)
    assert [client.get_run(run_id).info.run_name for run_id in ids] == names


def _stop_at_step_8(out: Path, how: str) -> None:
    """Train RESUMED into ``out`` as `optimlab train --log mlflow` does, in a forked child stopped at step 8
    (its checkpoint at step 5): by SIGKILL once its tracker has sent steps 1 to 8, by SIGKILL before it
    has sent any, or by SIGINT (Ctrl-C)."""
    import os
    import signal

    from optimlab.integrations import open_tracker
    from optimlab.train import Callback, train

    class Stop(Callback):
        def on_step_end(self, state):
            if state.step == 8:
                if how == "sent":
                    tracker.flush()
                os.kill(os.getpid(), signal.SIGINT if how == "sigint" else signal.SIGKILL)

    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        tracker = open_tracker("mlflow", folder=out, run_name=out.name, params={}, resumable=True)
        train(RESUMED, out, callbacks=[tracker, Stop()])
        tracker.wait()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == (0 if how == "sigint" else signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sent", "unsent", "sigint"])
def test_a_run_stopped_and_resumed_is_one_mlflow_run_holding_its_metrics_jsonl(tmp_path, sqlite_uri, how):
    """Stopped at step 8 past its checkpoint at 5 (SIGKILL with steps 6 to 8 sent, SIGKILL with nothing
    sent, Ctrl-C), the run is KILLED; `train --resume` continues that MLflow run, which ends FINISHED with
    every step of metrics.jsonl once."""
    from optimlab.cli.app import main

    out = tmp_path / "stopped"
    _stop_at_step_8(out, how)
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("optimlab").experiment_id
    deadline = time.monotonic() + 60  # a killed trainer's writer goes on alone: the run once it exists
    while not client.search_runs([experiment], f"attributes.run_name = '{out.name}'"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (run,) = client.search_runs([experiment], f"attributes.run_name = '{out.name}'")
    run_id = run.info.run_id
    assert _finished(client, run_id).info.status == "KILLED"
    with pytest.raises(SystemExit) as done:
        main(["train", "--resume", str(out), "--no-progress", "--log", "mlflow"])
    assert done.value.code == 0
    runs = client.search_runs([experiment], f"attributes.run_name = '{out.name}'")
    assert [r.info.run_id for r in runs] == [run_id] and runs[0].info.status == "FINISHED"
    _same_as_metrics_jsonl(client, runs[0], out)


def test_a_run_reopened_through_mlflows_client_warns_of_the_steps_shown_twice(
    tmp_path, monkeypatch, made_store
):
    """Any store but a SQLite file written straight (here one with URL options) deletes no point: the
    steps past the checkpoint are named, and the lines of metrics.jsonl the run lacks are added."""
    from optimlab.integrations.mlflow_writer import EXPERIMENT, RUN_FILE, MLflowRun, end_run, open_run

    monkeypatch.chdir(tmp_path)
    uri = store_copy(made_store, tmp_path) + "?timeout=20"  # MLflow's tables made once (made_store)
    settings = {"run_name": "run", "tracking_uri": uri, "experiment": EXPERIMENT}
    first = open_run(run_folder=tmp_path, **settings)
    assert isinstance(first, MLflowRun)
    first.log_records([(step, 1.7e9 + step, {"train_loss": 1.0 / step}) for step in range(3, 9)])
    end_run(first, "KILLED")  # as the writer of a trainer that died: the run file unlocked
    lines = [(step, 1.7e9 + step, {"train_loss": 1.0 / step}) for step in range(1, 6)]
    with pytest.warns(OptimlabWarning, match=f"run {first.run_id} at .* holds steps 6 to 8 .* show twice"):
        again = open_run(run_folder=tmp_path, step=5, records=lines, seen=first.run_id, **settings)
    assert again.run_id == first.run_id == json.loads((tmp_path / RUN_FILE).read_text())["run_id"]
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(first.run_id).info.status == "RUNNING"
    history = sorted(m.step for m in client.get_metric_history(first.run_id, "train_loss"))
    assert history == [1, 2, 3, 4, 5, 6, 7, 8]
    end_run(again, "FINISHED")


def test_a_run_resumed_before_the_dead_trainers_writer_named_its_run_goes_on_in_that_run(
    tmp_path, sqlite_uri
):
    """Killed, and resumed at once: the resumed trainer read the run folder's mlflow.json before the dead
    trainer's writer (still opening its run) wrote it, and its own writer was refused ('a later session
    logs there'): MLflow never recorded the resumed session. Sessions are ordered by when their trainer
    read the file: an earlier session's run is continued, a later one's still refuses a lagging writer."""
    from optimlab.errors import OptimlabError
    from optimlab.integrations.mlflow_writer import EXPERIMENT, end_run, open_run

    settings = {"run_name": "run", "tracking_uri": sqlite_uri, "experiment": EXPERIMENT}
    killed_read, resumed_read = 1.7e9, 1.7e9 + 5  # neither trainer found a file to read

    def points(steps):
        return [(step, 1.7e9 + step, {"train_loss": 1.0 / step}) for step in steps]

    killed = open_run(run_folder=tmp_path, seen=None, seen_at=killed_read, **settings)  # its writer lagged
    killed.log_records(points(range(1, 9)))
    end_run(killed, "KILLED")
    resumed = open_run(
        run_folder=tmp_path, step=5, records=points(range(1, 6)), seen=None, seen_at=resumed_read, **settings
    )
    resumed.log_records(points(range(6, 13)))
    end_run(resumed, "FINISHED")
    client = MlflowClient(tracking_uri=sqlite_uri)
    assert resumed.run_id == killed.run_id and client.get_run(killed.run_id).info.status == "FINISHED"
    history = sorted(m.step for m in client.get_metric_history(killed.run_id, "train_loss"))
    assert history == list(range(1, 13))
    with pytest.raises(OptimlabError, match="a later session logs there"):  # a writer lagging behind both
        open_run(run_folder=tmp_path, seen=None, seen_at=killed_read - 1, **settings)


@pytest.mark.parametrize("store", ["direct", "client", "file"])
def test_a_run_resumed_with_a_changed_recipe_holds_that_recipe_as_its_parameters(
    tmp_path, monkeypatch, store, made_store
):
    """`train --resume --epochs N` trains by the changed recipe (the folder's recipe.yaml), but its reopened
    MLflow run kept the parameters it started with: MLflow showed the old epochs. A changed value is
    rewritten in a SQLite store, written straight or through MLflow's client, and a new one added; a
    file store, where MLflow's client changes no parameter, keeps the old value and a warning names it."""
    from optimlab.integrations.mlflow_writer import EXPERIMENT, MLflowRun, end_run, open_run

    monkeypatch.chdir(tmp_path)
    if store == "file":
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = (tmp_path / "mlruns").as_uri()
        MLflowRun(run_name="first", tracking_uri=uri).end("FINISHED")  # the store and its experiment
    else:  # the same run "first" made the SQLite store: made once (made_store), copied (1.7 s a store)
        uri = store_copy(made_store, tmp_path) + ("" if store == "direct" else "?timeout=20")
    settings = {"run_name": "run", "tracking_uri": uri, "experiment": EXPERIMENT}
    first = open_run(run_folder=tmp_path, params={"training.epochs": 10, "optimizer.lr": 0.1}, **settings)
    end_run(first, "KILLED")
    params = {"training.epochs": 30, "optimizer.lr": 0.1, "training.seed": 3}
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", OptimlabWarning)
        again = open_run(run_folder=tmp_path, step=5, params=params, seen=first.run_id, **settings)
    end_run(again, "FINISHED")
    logged = MlflowClient(tracking_uri=uri).get_run(first.run_id).data.params
    told = [str(w.message) for w in said if issubclass(w.category, OptimlabWarning)]
    assert again.run_id == first.run_id
    if store == "file":
        assert logged == {"training.epochs": "10", "optimizer.lr": "0.1", "training.seed": "3"}
        assert len(told) == 1 and "training.epochs 10 (resumed with 30)" in told[0]
    else:
        assert logged == {k: str(v) for k, v in params.items()} and not told


@pytest.mark.slow
def test_a_tracker_added_on_resume_holds_the_whole_run_and_the_earlier_one_each_point_once(
    tmp_path, sqlite_uri
):
    """`train --log mlflow`, then `train --resume --log mlflow --log tensorboard`: the TensorBoard run
    added lacked the test scores the first session ended with (result.json's, at step 12). Now each
    tracker holds the whole run: metrics.jsonl and both sessions' test scores, each point once (MLflow's
    run, there from the start, is not sent step 12's scores again)."""
    from integrations.test_tensorboard import same_as_metrics_jsonl
    from optimlab.cli.app import main

    out = tmp_path / "iris-run"
    train_with_tracker(out, "mlflow")
    first = json.loads((out / "result.json").read_text())
    with pytest.raises(SystemExit) as done:
        main(["train", "--resume", str(out), "--steps", "20", "--no-progress",
              "--log", "mlflow", "--log", "tensorboard"])  # fmt: skip
    assert done.value.code == 0
    client = MlflowClient(tracking_uri=sqlite_uri)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("optimlab").experiment_id], "attributes.run_name = 'iris-run'"
    )
    _same_as_metrics_jsonl(client, run, out, first)
    board = same_as_metrics_jsonl(out, first)
    assert [e.step for e in board.Scalars("test_loss")] == [12, 20]


@pytest.mark.slow
def test_mlflow_added_on_a_third_session_holds_every_sessions_test_scores_once(tmp_path, sqlite_uri):
    """Trained to 12, resumed to 20, both without a tracker, then resumed to 28 with `--log mlflow`: the
    second session's start deleted the first's result.json, and the MLflow run lacked the test scores at
    step 12. Now it holds the whole run, each session's test scores at its last step, each point once, as
    MLflow's client reads them; `report --log mlflow` sent after it adds none twice."""
    from optimlab.cli.app import main

    out = tmp_path / "iris-run"
    ended = train_three_sessions(out, "mlflow")
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("optimlab").experiment_id
    (run,) = client.search_runs([experiment], "attributes.run_name = 'iris-run'")
    _same_as_metrics_jsonl(client, run, out, *ended[:-1])
    for key in ("test_loss", "test_accuracy"):
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [12, 20, 28]
        assert [m.value for m in history] == pytest.approx([e["metrics"][key] for e in ended])
    with pytest.raises(SystemExit) as done:
        main(["report", str(out), "--log", "mlflow"])
    assert done.value.code == 0
    for key in ("test_loss", "test_accuracy"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [12, 20, 28]


@pytest.mark.slow
def test_train_resumed_with_more_steps_shows_them_in_its_mlflow_runs_parameters(tmp_path, sqlite_uri):
    from optimlab.cli.app import main

    out = tmp_path / "iris-run"
    train_with_tracker(out, "mlflow")
    first = json.loads((out / "result.json").read_text())  # its test scores at step 12 stay in the run
    with pytest.raises(SystemExit) as done:
        main(["train", "--resume", str(out), "--steps", "15", "--no-progress", "--log", "mlflow"])
    assert done.value.code == 0
    client = MlflowClient(tracking_uri=sqlite_uri)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("optimlab").experiment_id], "attributes.run_name = 'iris-run'"
    )
    recipe = Recipe.load(out / "recipe.yaml")
    assert recipe.training.steps == 15
    recipe_params = {**dict(flat_fields(recipe.to_dict())), **default_values(recipe)}
    assert run.data.params == {k: str(v) for k, v in recipe_params.items()}
    _same_as_metrics_jsonl(client, run, out, first)


@pytest.mark.parametrize("direct", [True, False])
def test_a_kept_run_the_tracking_uri_does_not_have_gives_way_to_a_new_run_with_a_warning(
    tmp_path, monkeypatch, direct, made_store
):
    """A run folder's MLflow run kept at another URI (or deleted): a new run there, the warning naming
    the run, where it was kept, and the URI that lacks it; the new run holds the folder's lines."""
    from optimlab.integrations.mlflow_writer import EXPERIMENT, RUN_FILE, end_run, open_run

    monkeypatch.chdir(tmp_path)
    # the store and its experiment, as a run "first" made them: made once (made_store), copied
    uri = store_copy(made_store, tmp_path) + ("" if direct else "?timeout=20")
    (tmp_path / RUN_FILE).write_text(json.dumps({"run_id": "f" * 32, "tracking_uri": "sqlite:///old.db"}))
    lines = [(step, 1.7e9 + step, {"train_loss": 1.0 / step}) for step in range(1, 6)]
    settings = {"run_name": "run", "tracking_uri": uri, "experiment": EXPERIMENT}
    with pytest.warns(
        OptimlabWarning, match=f"run {'f' * 32} .* at sqlite:///old.db\\) is not at sqlite:///"
    ):
        run = open_run(run_folder=tmp_path, step=5, records=lines, seen="f" * 32, **settings)
    end_run(run, "FINISHED")
    assert run.run_id != "f" * 32 and json.loads((tmp_path / RUN_FILE).read_text())["run_id"] == run.run_id
    client = MlflowClient(tracking_uri=uri)
    assert sorted(m.step for m in client.get_metric_history(run.run_id, "train_loss")) == [1, 2, 3, 4, 5]


@pytest.mark.slow
@pytest.mark.parametrize("logged", [True, False])
def test_report_log_mlflow_sends_a_run_into_the_mlflow_run_its_folder_keeps(tmp_path, sqlite_uri, logged):
    """`optimlab report RUN --log mlflow` opened a new MLflow run each time, after `train --log mlflow`
    too: now the run its folder keeps (or one it then keeps) gets the lines it lacks and the page."""
    from optimlab.cli.app import main

    out = tmp_path / "iris-run"
    if logged:
        train_with_tracker(out, "mlflow")
    else:
        with pytest.raises(SystemExit):
            main(["train", "--dataset", "iris", "--steps", "12", "--out", str(out), "--no-progress"])
    for _ in range(2):
        with pytest.raises(SystemExit) as done:
            main(["report", str(out), "--log", "mlflow", "--out", str(tmp_path / "page.html")])
        assert done.value.code == 0
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("optimlab").experiment_id
    (run,) = client.search_runs([experiment], f"attributes.run_name = '{out.name}'")
    assert run.info.status == "FINISHED" and "page.html" in [
        a.path for a in client.list_artifacts(run.info.run_id)
    ]
    _same_as_metrics_jsonl(client, run, out)


@pytest.mark.parametrize("by", ["send", "fit"])
def test_a_torn_kept_run_file_is_said_and_a_new_run_takes_over(tmp_path, sqlite_uri, by):
    """A run folder's mlflow.json cut short by a kill was read as no file at all, silently. Said from
    fit(...) its warning named optimlab's loop (a fixed stacklevel=3), not the user's line. Truth: the
    warning's file is this one, the caller's, whichever call found the file."""
    from optimlab.integrations.mlflow import MLflowTracker
    from optimlab.integrations.mlflow_writer import RUN_FILE
    from optimlab.train import fit

    (tmp_path / RUN_FILE).write_bytes(b'{"run_id": "ab')
    tracker = MLflowTracker(run_name="torn", background=False, run_folder=tmp_path)
    with pytest.warns(OptimlabWarning, match=r"mlflow.json names no MLflow run \(torn by a kill\?\)") as said:
        if by == "send":
            tracker.send([(1, 1.7e9, {"train_loss": 1.0})])
        else:
            model = torch.nn.Linear(3, 1)
            fit(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.randn(8, 3), torch.randn(8, 1),
                loss_fn=torch.nn.MSELoss(), batch_size=4, total_steps=1, callbacks=[tracker])  # fmt: skip
    assert {w.filename for w in said if "names no MLflow run" in str(w.message)} == {__file__}
    tracker.finish()
    assert json.loads((tmp_path / RUN_FILE).read_text())["run_id"] == tracker.run_id


@pytest.mark.parametrize("direct", [True, False])
def test_parameters_over_mlflows_limits_are_logged_alike_on_both_paths_and_said(
    tmp_path, monkeypatch, direct, made_store
):
    """A key over MLflow's 250 characters, which MLflow's client refuses, was written as it was into a
    SQLite store and lost the run's parameters through the client; now both log it under its start and
    a hash, and cut a value over 6,000 characters as MLflow's client does, with a warning naming each."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from optimlab.integrations.mlflow_sqlite import SqliteRun
    from optimlab.integrations.mlflow_writer import EXPERIMENT, MLflowRun, open_run

    monkeypatch.chdir(tmp_path)
    uri = store_copy(made_store, tmp_path) + ("" if direct else "?timeout=20")  # MLflow's tables made once
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow_own = MLflowRun(run_name="first", tracking_uri=uri)  # a run of MLflow's own client
    client = mlflow.MlflowClient(uri)
    long_key, other_long_key = "model.kwargs." + "k" * 300, "model.kwargs." + "k" * 299 + "j"
    long_value = "v" * 6500
    with pytest.raises(MlflowException, match="exceeds the maximum length of 250"):
        client.log_param(mlflow_own.run_id, long_key, 1)  # MLflow's own refusal of the key
    client.log_param(mlflow_own.run_id, "value", long_value)  # and its own cut of the value
    params = {long_key: 1, other_long_key: 2, "value": long_value, "optimizer.lr": 0.1}
    with pytest.warns(OptimlabWarning) as said:
        run = open_run(run_name="run", params=params, tracking_uri=uri, experiment=EXPERIMENT)
    assert isinstance(run, SqliteRun if direct else MLflowRun)
    run.end("FINISHED")
    logged = mlflow.get_run(run.run_id).data.params
    shortened = {k: v for k, v in logged.items() if k.startswith("model.kwargs.")}
    assert sorted(shortened.values()) == ["1", "2"] and all(len(k) == 250 for k in shortened)
    assert logged["value"] == mlflow.get_run(mlflow_own.run_id).data.params["value"] == long_value[:6000]
    assert logged["optimizer.lr"] == "0.1"
    text = " ".join(str(w.message) for w in said)
    assert all(repr(k) in text for k in (long_key, other_long_key, *shortened, "value"))
    assert {w.filename for w in said} == {__file__}  # the caller's line, not optimlab's
    with pytest.warns(OptimlabWarning):
        again = open_run(run_name="again", params=params, tracking_uri=uri, experiment=EXPERIMENT)
    again.end("FINISHED")
    assert set(mlflow.get_run(again.run_id).data.params) == set(logged)  # the same names in every run


@pytest.mark.parametrize("store, background", [("sqlite", True), ("file", False)])
def test_a_tracker_opened_inside_an_active_run_is_its_child_in_its_experiment(
    tmp_path, monkeypatch, request, store, background
):
    """Opened inside `with mlflow.start_run():` (a sweep's parent run), the tracker's run went to
    experiment 'optimlab', unrelated to the active run: the user's experiment showed an empty run."""
    import mlflow

    from optimlab.integrations.mlflow import MLflowTracker

    monkeypatch.chdir(tmp_path)  # the artifacts folder
    if store == "sqlite":
        uri = request.getfixturevalue("sqlite_uri")  # a store written straight
    else:
        uri = (tmp_path / "mlruns").as_uri()
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri)
    with mlflow.start_run(experiment_id=client.create_experiment("sweep"), run_name="parent") as parent:
        tracker = MLflowTracker(run_name="lr-0.1", params={"lr": 0.1}, background=background)
        tracker.log(1, 1.7e9, {"train_loss": 0.5})
        tracker.finish()
        tracker.wait()
    run = client.get_run(tracker.run_id)
    assert run.info.run_name == "lr-0.1" and run.info.experiment_id == parent.info.experiment_id
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert run.data.metrics == {"train_loss": 0.5} and run.data.params == {"lr": "0.1"}


@pytest.mark.parametrize("variable", ["MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"])
@pytest.mark.parametrize("direct", [True, False])
def test_a_tracker_goes_to_the_experiment_mlflows_environment_names(
    tmp_path, sqlite_uri, monkeypatch, variable, direct
):
    """MLFLOW_EXPERIMENT_NAME and MLFLOW_EXPERIMENT_ID, which mlflow.start_run() honours, were ignored:
    the run went to experiment 'optimlab'; now it goes where mlflow.start_run() would put it."""
    import mlflow

    from optimlab.integrations.mlflow import MLflowTracker

    uri = sqlite_uri + ("" if direct else "?timeout=20")
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("mine")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv(variable, "mine" if variable == "MLFLOW_EXPERIMENT_NAME" else experiment_id)
    tracker = MLflowTracker(run_name="run")
    tracker.log(1, 1.7e9, {"train_loss": 0.5})
    tracker.finish()
    tracker.wait()
    with mlflow.start_run() as own:  # where MLflow itself puts a run
        pass
    assert client.get_run(tracker.run_id).info.experiment_id == own.info.experiment_id == experiment_id


@pytest.mark.parametrize(
    "key",
    [
        "f1@5",
        "top@1/acc",
        "/a",
        "a/",
        "a//b",
        "./a",
        "..a",
        "a/../b",
        ".",
        pytest.param("", id="empty"),
        "é:1",
        pytest.param("m" * 300, id="long"),
    ],
)
def test_metric_key_gives_a_name_mlflow_takes(key):
    from mlflow.utils.validation import _validate_metric_name

    from optimlab.integrations.mlflow_sqlite import metric_key

    for name in (metric_key(key), mlflow_name(key)):
        _validate_metric_name(name)  # MLflow's own check of a metric's name
        assert len(name) <= 250


@pytest.mark.parametrize("direct", [True, False])
def test_a_metric_name_mlflow_refuses_is_renamed_alike_on_both_paths_and_said(tmp_path, sqlite_uri, direct):
    """A metric `f1@5` (a user's evaluate) stopped the run's metrics through MLflow's client (wait() then
    raised) and was stored as it was in a SQLite store; now both log it as `f1_5-<hash>` (mlflow_name), with
    a warning."""
    from mlflow.exceptions import MlflowException

    from optimlab.integrations.mlflow import MLflowTracker

    uri = sqlite_uri + ("" if direct else "?timeout=20")
    client = MlflowClient(tracking_uri=uri)
    tracker = MLflowTracker(run_name="run", tracking_uri=uri)
    with pytest.raises(MlflowException):
        client.log_metric(tracker.run_id, "f1@5", 0.5)  # MLflow's own refusal of the name
    with pytest.warns(OptimlabWarning, match="'f1@5' as 'f1_5-") as warned:
        tracker.log(1, 1.7e9, {"train_loss": 0.5, "f1@5": 0.7})
        tracker.flush()
    assert warned[0].filename == __file__  # the user's call, not optimlab's line inside it
    tracker.log(2, 1.7e9 + 1, {"train_loss": 0.4, "f1@5": 0.8})
    tracker.finish()
    tracker.wait()
    run = client.get_run(tracker.run_id)
    name = mlflow_name("f1@5")
    assert run.data.metrics == {"train_loss": 0.4, name: 0.8} and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(tracker.run_id, name)] == [1, 2]


def test_a_renamed_metric_of_fit_is_warned_at_the_users_fit_call(sqlite_uri):
    """The warning of a metric MLflow refuses (a user's val metric `f1@5`) named optimlab's tracking.py line
    'hand_over()' as its place (stacklevel 4 counted from one path of calls), not the user's fit(...)."""
    from torch import nn

    from optimlab.integrations.mlflow import MLflowTracker
    from optimlab.train import fit

    x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    model = nn.Linear(3, 2)
    tracker = MLflowTracker(run_name="run", tracking_uri=sqlite_uri)
    with pytest.warns(OptimlabWarning, match="'val_f1@5' as 'val_f1_5-") as warned:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=1, val_data=(x, y), metrics={"f1@5": lambda outputs, targets: 0.5},
            callbacks=[tracker])  # fmt: skip
        tracker.wait()
    assert [w.filename for w in warned if "f1@5" in str(w.message)] == [__file__]


@pytest.mark.parametrize("direct", [True, False])
def test_a_metric_renamed_to_another_metrics_name_keeps_its_own_values(tmp_path, sqlite_uri, direct):
    """A metric `f1@5` beside a metric `f1_5` (or `acc_1` first sent after `acc@1`) was renamed onto it:
    one of the two lost its values (the other's overwrote them at each step), said only as 'f1@5' as
    'f1_5'. Now each renamed one is told apart by a hash; each keeps its own values, read back by MLflow."""
    from mlflow.utils.validation import _validate_metric_name

    from optimlab.integrations.mlflow import MLflowTracker

    uri = sqlite_uri + ("" if direct else "?timeout=20")
    client = MlflowClient(tracking_uri=uri)
    tracker = MLflowTracker(run_name="run", tracking_uri=uri, background=False)
    with pytest.warns(OptimlabWarning, match="'f1@5' as 'f1_5-"):
        tracker.log(1, 1.7e9, {"f1@5": 0.1, "f1_5": 0.2, "acc@1": 0.5})
        tracker.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # acc_1, a name MLflow takes, is kept as it is
        tracker.log(2, 1.7e9 + 1, {"f1@5": 0.3, "f1_5": 0.4, "acc@1": 0.6, "acc_1": 0.9})
        tracker.finish()
    series = {
        key: [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, key)]
        for key in client.get_run(tracker.run_id).data.metrics
    }
    assert sorted(series.values()) == sorted(
        [[(1, 0.1), (2, 0.3)], [(1, 0.2), (2, 0.4)], [(1, 0.5), (2, 0.6)], [(2, 0.9)]]
    )
    assert series["f1_5"] == [(1, 0.2), (2, 0.4)] and series["acc_1"] == [(2, 0.9)]
    for key in series:
        _validate_metric_name(key)


_SESSION = """
import json, sys, warnings
from pathlib import Path
from optimlab.integrations.mlflow import MLflowTracker

warnings.simplefilter("ignore")
tracker = MLflowTracker(run_name="run", background=False, run_folder=Path(sys.argv[1]))
tracker.send(json.loads(sys.argv[2]))
tracker.finish()
"""


def test_a_renamed_metrics_name_is_the_same_in_every_process_and_resume(tmp_path, sqlite_uri):
    """`f1@5` and `f1#5` (both `f1_5` to MLflow) took `f1_5` and `f1_5-<hash>` in set order, which differs
    by PYTHONHASHSEED; `acc@1` became `acc_1` in a first session, then `acc_1-<hash>` on resume in a new
    process that saw `acc_1` too: two series swapped names, each mixing both metrics' values. Two
    sessions of one run, at hash seeds 1 and 2, now keep each metric's values under one name of its own."""
    first = [[1, 1.7e9, {"acc@1": 0.5, "f1@5": 0.1, "f1#5": 0.2}]]
    second = [*first, [2, 1.7e9 + 1, {"acc@1": 0.6, "acc_1": 0.9, "f1@5": 0.3, "f1#5": 0.4}]]
    for seed, records in (("1", first), ("2", second)):
        env = {**os.environ, "PYTHONHASHSEED": seed, "MLFLOW_TRACKING_URI": sqlite_uri}
        subprocess.run(
            [sys.executable, "-c", _SESSION, str(tmp_path), json.dumps(records)], env=env, check=True
        )
    client = MlflowClient(tracking_uri=sqlite_uri)
    run_id = json.loads((tmp_path / "mlflow.json").read_text())["run_id"]
    series = {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        for key in client.get_run(run_id).data.metrics
    }
    assert sorted(series.values()) == sorted(
        [[(1, 0.5), (2, 0.6)], [(2, 0.9)], [(1, 0.1), (2, 0.3)], [(1, 0.2), (2, 0.4)]]
    ), series
    assert series["acc_1"] == [(2, 0.9)]


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("background", [False, True])
def test_a_parameter_key_mlflow_refuses_is_renamed_alike_on_both_paths_and_said(
    tmp_path, sqlite_uri, direct, background
):
    """A parameter `f1@5` or `/a` (a user's own params) lost the whole run through MLflow's client (its
    log_batch refused the key: the tracker raised, or a background run was dropped) and was stored as it
    was in a SQLite store; now both log it under mlflow_name's name, which MLflow's own check takes (a
    hash of the key beside metric_key's name: `f1@5` and `f1_5` in one run were refused as one key twice).
    A tracker whose writer process logs them (background, the default) said nothing: the writer's warning
    stayed in that process. Each renaming and cut value is said as the tracker opens, on every path."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_param_name

    from optimlab.integrations.mlflow import MLflowTracker

    uri = sqlite_uri + ("" if direct else "?timeout=20")
    client = MlflowClient(tracking_uri=uri)
    params = {"f1@5": 1, "/a": 2, "optimizer.lr": 0.1, "f1_5": 4, "notes": "n" * 6500}
    with pytest.raises(MlflowException):
        _validate_param_name("f1@5")  # MLflow's own refusal of the key
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", OptimlabWarning)
        tracker = MLflowTracker(run_name="run", params=params, tracking_uri=uri, background=background)
    text = [str(w.message) for w in said if issubclass(w.category, OptimlabWarning)]
    assert len(text) == 2 and "'f1@5' as 'f1_5-" in text[0] and "'notes' (6500 characters)" in text[1]
    tracker.log(1, 1.7e9, {"train_loss": 0.5})
    tracker.finish()
    tracker.wait()
    run = client.get_run(tracker.run_id)
    renamed, slash = mlflow_name("f1@5"), mlflow_name("/a")
    notes = {"notes": "n" * 6000}  # MLflow's client cuts a value there too
    assert run.data.params == {renamed: "1", slash: "2", "optimizer.lr": "0.1", "f1_5": "4", **notes}
    assert renamed.startswith("f1_5-") and slash.startswith("_a-") and run.info.status == "FINISHED"
    for key in run.data.params:
        _validate_param_name(key)


@pytest.mark.parametrize("opened", ["open_tracker", "constructor"])
def test_numpy_and_torch_values_of_the_params_are_logged_as_the_numbers_they_hold(
    tmp_path, sqlite_uri, opened
):
    """A user's lr torch.tensor(0.1) was logged as the text 'tensor(0.1000)', and betas
    [np.float64(0.9), 0.99] raised yaml's RepresenterError as the tracker opened; each is now logged as
    MLflow's own log_param logs the Python value it holds (tracking.plain_values), through open_tracker
    and in a tracker built directly by a user's own loop alike."""
    import numpy as np

    from optimlab.integrations import open_tracker
    from optimlab.integrations.mlflow import MLflowTracker

    lr, betas, seed = torch.tensor(0.1), [np.float64(0.9), 0.99], np.int64(3)
    if opened == "open_tracker":  # a recipe's to_dict(), nested
        params = {"optimizer": {"lr": lr, "betas": betas}, "seed": seed}
        tracker = open_tracker("mlflow", folder=tmp_path, run_name="run", params=params, background=False)
    else:
        params = {"optimizer.lr": lr, "optimizer.betas": betas, "seed": seed}
        tracker = MLflowTracker(run_name="run", params=params, tracking_uri=sqlite_uri)
    tracker.finish()
    client = MlflowClient(tracking_uri=sqlite_uri)
    own = client.create_run(client.get_run(tracker.run_id).info.experiment_id).info.run_id
    for key, value in {
        "optimizer.lr": torch.tensor(0.1).item(),
        "optimizer.betas": [0.9, 0.99],
        "seed": 3,
    }.items():
        client.log_param(own, key, value)
    assert client.get_run(tracker.run_id).data.params == client.get_run(own).data.params


@pytest.mark.slow
def test_a_study_sent_twice_is_one_mlflow_run_per_trial_holding_its_curve_once(tmp_path, sqlite_uri):
    """`optimlab report STUDY --log mlflow` made a new MLflow run of every trial each time it was called (4
    runs of 2 trials after two calls; after compare --resume, every trial again): each trial's run is now
    kept as a training run's is, and sending again adds only what it lacks. The trials' runs were flat,
    no run of the study: they are the children of the study's run (named as the study; tag
    mlflow.parentRunId, as mlflow.start_run(nested=True) marks a child), one parent however often sent,
    found by MLflow's own search on that tag."""
    from optimlab.integrations import log_study
    from optimlab.study import StudySpec, methods_from, run_study
    from optimlab.workloads import get_workload

    spec = StudySpec.for_workload(
        "s", get_workload("digits-mlp", epochs=1), methods_from("optimizer.name", ["adam"]), budget=1, seeds=1
    )
    result = run_study(spec, tmp_path / "study")
    for _ in range(2):
        assert log_study(tmp_path / "study", "mlflow", folder=tmp_path / "study") == len(result.records) == 2
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("optimlab").experiment_id
    (parent,) = client.search_runs([experiment], "attributes.run_name = 's'")
    assert "mlflow.parentRunId" not in parent.data.tags and parent.info.status == "FINISHED"
    found = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    runs = {r.info.run_name: r for r in found}
    assert sorted(r.info.run_name for r in found) == sorted(
        f"{r.study}-{r.key}".replace("/", "-") for r in result.records
    )
    assert len(client.search_runs([experiment], "attributes.run_name != 'first'")) == 3  # no other run
    for record in result.records:
        run = runs[f"{record.study}-{record.key}".replace("/", "-")]
        history = sorted(client.get_metric_history(run.info.run_id, "val_accuracy"), key=lambda m: m.step)
        assert [m.step for m in history] == record.curve["step"] and run.info.status == "FINISHED"
        assert [m.value for m in history] == pytest.approx(record.curve["val_accuracy"], rel=1e-6)
        tested = {k: v for k, v in record.metrics.items() if k.startswith("test_")}  # the leaderboard's
        assert tested and {k: run.data.metrics.get(k) for k in tested} == pytest.approx(tested)
        for name in tested:  # once, at the trial's last step, though sent twice
            assert [m.step for m in client.get_metric_history(run.info.run_id, name)] == [record.steps]
    (tmp_path / "not-a-folder").write_text("")  # where no run can be kept: sent, as new runs
    assert log_study(tmp_path / "study", "mlflow", folder=tmp_path / "not-a-folder") == 2
    assert len(client.search_runs([experiment], "attributes.run_name != 'first'")) == 6
    parents = client.search_runs([experiment], "attributes.run_name = 's'")
    assert len(parents) == 2 and all(
        len(client.search_runs([experiment], f"tags.mlflow.parentRunId = '{p.info.run_id}'")) == 2
        for p in parents
    )


def test_a_tracking_uri_of_a_scheme_mlflow_has_no_store_for_is_one_line_exit_2_before_training(
    tmp_path, monkeypatch, cli
):
    """MLFLOW_TRACKING_URI=bogus://x trained, then lost the run to MLflow's refusal of the scheme; now
    refused as the tracker opens, naming the schemes MLflow's own registry has. Schemes MLflow takes
    (a database with its driver, a file URI, a plain path) are let through."""
    from optimlab.errors import OptimlabError
    from optimlab.integrations.mlflow import MLflowTracker

    uri = "bogus://somewhere/x"
    with pytest.raises(Exception, match="unsupported URI"):  # MLflow's own verdict
        MlflowClient(tracking_uri=uri).search_experiments()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    line = _train_refused(cli, tmp_path)
    assert line.startswith(f"error: MLflow's tracking URI '{uri}' has scheme 'bogus'")
    assert "'sqlite'" in line and "'http'" in line
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 takes a file store only so
    for taken in (f"file://{tmp_path}/store", "mlflow.db"):  # the run made where MLflow's client finds it
        MLflowTracker(run_name=taken, tracking_uri=taken, background=False).finish()
        assert _run_names(taken) == [taken]
    # MLflow retries a database it cannot reach 9 times, 0.1 s to 51 s apart (101 s in all): once is MLflow's
    # verdict all the same
    monkeypatch.setattr("mlflow.store.db.utils.MAX_RETRY_COUNT", 1)
    with pytest.raises(Exception) as database:  # no server there: MLflow's own failure, not the check's
        MLflowTracker(
            run_name="db", tracking_uri="postgresql+psycopg2://user@127.0.0.1:1/db", background=False
        )
    assert "has scheme" not in str(database.value)
    with pytest.raises(OptimlabError, match="scheme 'ftp'"):
        MLflowTracker(run_name="ftp", tracking_uri="ftp://host/store", background=False)


class _Activation(enum.Enum):
    RELU = "relu"


def test_params_yaml_cannot_write_are_logged_as_their_text_as_mlflows_own_log_param_does(sqlite_uri):
    """A user's data files [Path('a.csv'), ...] (or a list of enums) raised yaml's RepresenterError as
    the tracker opened, a named tuple a TypeError: the run was never made. Each value is its text, as
    MLflow's own log_param logs it; a list of them as the recipe's YAML writes their texts."""
    import collections

    from optimlab.integrations import open_tracker

    shape = collections.namedtuple("Shape", "width depth")(8, 2)
    path = Path("/data/train.csv")
    params = {"data": {"path": path, "files": [path, Path("/data/val.csv")]}, "act": _Activation.RELU}
    params["shape"] = shape
    tracker = open_tracker("mlflow", folder=".", run_name="run", params=params, background=False)
    tracker.finish()
    client = MlflowClient(tracking_uri=sqlite_uri)
    own = client.create_run(client.get_run(tracker.run_id).info.experiment_id).info.run_id
    for key, value in {"data.path": path, "act": _Activation.RELU, "shape": shape}.items():
        client.log_param(own, key, value)
    logged = client.get_run(tracker.run_id).data.params
    assert logged == {**client.get_run(own).data.params, "data.files": "[/data/train.csv, /data/val.csv]"}


def test_a_run_refused_at_its_first_batch_leaves_no_kept_run_a_rerun_trips_on(
    tmp_path, monkeypatch, cli, capsys, sqlite_uri
):
    """train --log mlflow whose model's forward raised at the first batch (the loop's check of it): train
    removed its own files, but MLflow's writer, opening the run as the trainer failed, made OUT/mlflow.json
    (the corrected command into the same --out refused: "'OUT' holds other files (mlflow.json)"), or,
    the folder removed first, warned "MLflow did not record run 'run': FileNotFoundError". A run that
    failed before its first step leaves nothing there (its MLflow run ends FAILED, as MLflow's own
    start_run context ends a run that raised); the corrected command trains into a run of its own."""
    out = tmp_path / "run"
    (tmp_path / "nets_first_batch.py").write_text(
        "import torch\n"
        "class Broken(torch.nn.Linear):\n"
        "    def forward(self, x):\n        raise RuntimeError('no such layer')\n"
        "def broken(**kwargs):\n    return Broken(4, 3)\n"
        "def fixed(**kwargs):\n    return torch.nn.Linear(4, 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    command = ["train", "--dataset", "iris", "--steps", "3", "--out", str(out), "--no-progress", "--log", "mlflow"]  # fmt: skip
    capsys.readouterr()
    code, _, err = cli(*command, "--model", "nets_first_batch:broken")
    (line,) = err.splitlines()
    assert code == 2 and "no such layer" in line
    assert not out.exists() or not any(out.iterdir())
    code, _, err = cli(*command, "--model", "nets_first_batch:fixed")
    assert code == 0, err
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("optimlab").experiment_id
    runs = client.search_runs([experiment], "attributes.run_name = 'run'")
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    (trained,) = [r for r in runs if r.info.status == "FINISHED"]
    assert json.loads((out / "mlflow.json").read_text())["run_id"] == trained.info.run_id


def test_a_resumed_session_failing_at_its_first_batch_keeps_the_run_its_folder_names(
    tmp_path, cli, sqlite_uri
):
    """A folder trained without --log mlflow, resumed with --resume --log mlflow: its resumed records open
    the run (not a record written), so the run read as the folder's first session that sent nothing, and a
    failure at the resumed first batch removed mlflow.json while the MLflow run held the folder's steps 1
    to 3 (the next resume made a duplicate). Only a session training from step 0 with no run kept there
    removes it. Ctrl-C at a first session's start leaves it without waiting for the writer (up to 120 s)."""
    from optimlab.integrations.mlflow import MLflowTracker
    from optimlab.integrations.mlflow_writer import RUN_FILE
    from optimlab.train.loop import TrainState

    out = tmp_path / "run"
    code, _, err = cli("train", "--dataset", "iris", "--steps", "3", "--out", str(out), "--no-progress")
    assert code == 0, err
    tracker = MLflowTracker(run_name="run", run_folder=out)
    tracker.on_train_start(TrainState(step=3))
    tracker.on_exception(TrainState(step=3), RuntimeError("no such layer"))
    tracker.wait()
    kept = json.loads((out / RUN_FILE).read_text())["run_id"]
    client = MlflowClient(tracking_uri=sqlite_uri)
    assert client.get_run(kept).info.status == "FAILED"
    assert [m.step for m in client.get_metric_history(kept, "train_loss")] == [1, 2, 3]

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    tracker = MLflowTracker(run_name="fresh", run_folder=fresh)
    tracker.on_train_start(TrainState(step=0))
    tracker.wait = lambda: pytest.fail("Ctrl-C waited for the writer")
    tracker.on_exception(TrainState(step=0), KeyboardInterrupt())


def test_a_study_sent_again_under_another_active_experiment_keeps_its_runs_and_their_parent(
    tmp_path, sqlite_uri, monkeypatch
):
    """A study sent once (its run and its trials' in 'optimlab'), sent again from Python after
    mlflow.set_experiment('mine'): the study's run was made active with mlflow.start_run(run_id=...), which
    MLflow refuses where the run is not in the active experiment (a raw MlflowException 'active experiment
    ID does not match'). The parent is now given to its trials, not made active: sent again, the runs are
    those of before, still in 'optimlab'; trials kept without the tag (sent by an earlier version: a
    reopened run was never given it) are given it, so search_runs on tags.mlflow.parentRunId finds both."""
    import mlflow
    from mlflow.tracking import fluent

    from optimlab.integrations import log_study
    from optimlab.study import StudySpec, methods_from, run_study
    from optimlab.workloads import get_workload

    spec = StudySpec.for_workload(
        "s", get_workload("digits-mlp", epochs=1), methods_from("optimizer.name", ["adam"]), budget=1, seeds=1
    )
    run_study(spec, tmp_path / "study")
    assert log_study(tmp_path / "study", "mlflow", folder=tmp_path / "study") == 2
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("optimlab").experiment_id
    (parent,) = client.search_runs([experiment], "attributes.run_name = 's'")
    trials = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(trials) == 2
    for trial in trials:  # as an earlier version kept them: no parent
        client.delete_tag(trial.info.run_id, "mlflow.parentRunId")

    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # restored after the test
    # set_experiment sets MLFLOW_EXPERIMENT_ID too: setenv records its absence, so teardown removes it
    # (a delenv of an unset variable records nothing, and 'mine's id leaked into the next tests' stores)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    mine = mlflow.set_experiment("mine").experiment_id
    assert log_study(tmp_path / "study", "mlflow", folder=tmp_path / "study") == 2
    assert client.search_runs([mine], "") == []
    again = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.info.run_id for r in again) == sorted(r.info.run_id for r in trials)
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    assert len(client.search_runs([experiment], "attributes.run_name != 'first'")) == 3  # no other run


@pytest.mark.parametrize("store", ["direct", "client"])
def test_a_kept_run_resumed_inside_another_active_run_keeps_its_parent(
    tmp_path, monkeypatch, store, made_store
):
    """A run trained inside mlflow.start_run() of run A, resumed from its folder inside run B's: every
    reopened run was given the parent of its tracker (meant for a study's trials kept without one), so the
    run moved under B and A lost its child. A kept run keeps its parent; one kept without is given it. On
    a SQLite store written straight and through MLflow's client, read back with MlflowClient."""
    from optimlab.integrations.mlflow_sqlite import PARENT_TAG, SqliteRun
    from optimlab.integrations.mlflow_writer import EXPERIMENT, MLflowRun, end_run, open_run

    monkeypatch.chdir(tmp_path)
    uri = store_copy(made_store, tmp_path) + ("" if store == "direct" else "?timeout=20")  # tables made once
    a, b = MLflowRun(run_name="A", tracking_uri=uri), MLflowRun(run_name="B", tracking_uri=uri)
    settings = {"run_name": "run", "tracking_uri": uri, "experiment": EXPERIMENT}
    nested, alone = tmp_path / "nested", tmp_path / "alone"
    nested.mkdir()
    alone.mkdir()
    kept = {
        nested: open_run(run_folder=nested, parent_run_id=a.run_id, **settings),
        alone: open_run(run_folder=alone, **settings),  # a trial sent by an earlier version: no parent
    }
    for folder, run in kept.items():
        assert isinstance(run, SqliteRun if store == "direct" else MLflowRun)
        end_run(run, "KILLED")
        again = open_run(run_folder=folder, step=5, parent_run_id=b.run_id, seen=run.run_id, **settings)
        assert again.run_id == run.run_id
        end_run(again, "FINISHED")
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(kept[nested].run_id).data.tags[PARENT_TAG] == a.run_id
    assert client.get_run(kept[alone].run_id).data.tags[PARENT_TAG] == b.run_id
    children = client.search_runs([a.experiment_id], f"tags.mlflow.parentRunId = '{a.run_id}'")
    assert [run.info.run_id for run in children] == [kept[nested].run_id]


@pytest.mark.parametrize("path", ["written straight", "through MLflow's client"])
def test_a_run_whose_writes_failed_while_training_is_tagged_incomplete(
    tmp_path, monkeypatch, made_store, path
):
    """A foreground MLflow run whose records could not be written from its second batch on (ENOSPC) ended
    FINISHED, holding train_loss for steps 1-3 of 20 and no sign of the rest. It is now tagged
    optimlab.incomplete with the first record lost and why; its status stays FINISHED, the training's (it
    trained to its end). Truth: MLflow's client reading the run back, each SQLite path of the tracker."""
    import errno

    from optimlab.integrations import open_tracker
    from optimlab.integrations.mlflow import INCOMPLETE_TAG
    from optimlab.train import fit

    monkeypatch.chdir(tmp_path)
    uri = store_copy(made_store, tmp_path) + ("?timeout=20" if path.startswith("through") else "")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracker = open_tracker("mlflow", folder=tmp_path, run_name="r", background=False)
    written, calls = tracker._run.log_records, []

    def full_from_the_second_batch(records):
        calls.append(records)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return written(records)

    monkeypatch.setattr(tracker._run, "log_records", full_from_the_second_batch)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    model = torch.nn.Linear(3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = fit(
            model, torch.optim.SGD(model.parameters(), lr=0.05), x, x.sum(1, keepdim=True),
            loss_fn=torch.nn.functional.mse_loss, batch_size=16, total_steps=20, val_data=(x, x.sum(1, keepdim=True)),
            eval_every=4, callbacks=[tracker],
        )  # fmt: skip
    client = MlflowClient(uri)
    run = client.get_run(tracker.run_id)
    stored = [m.step for m in client.get_metric_history(tracker.run_id, "train_loss")]
    assert state.step == 20 and run.info.status == "FINISHED" and sorted(stored) == [1, 2, 3]
    assert run.data.tags[INCOMPLETE_TAG] == (
        "records from the one of step 4 (train_loss, lr) on not written: No space left on device"
    )  # its evaluation at step 4 went in the first batch
    assert f"MLflow stopped logging run 'r': MLflow run {tracker.run_id}" in state.tracker_failures[0]


def test_a_run_whose_writer_mlflow_refused_is_tagged_incomplete_and_ended(sqlite_uri):
    """A background run whose records MLflow's store refused (a trigger that aborts every metric insert,
    as a store does that takes no more) stayed RUNNING, untagged, though wait() said it was refused. Its
    writer now tags it optimlab.incomplete and ends it with the training's status, as a run written by
    its trainer is. Truth: MLflow's client reading the run back."""
    import sqlite3

    from optimlab.errors import OptimlabError
    from optimlab.integrations.mlflow import INCOMPLETE_TAG, MLflowTracker
    from optimlab.integrations.mlflow_writer import end_writer

    database = sqlite3.connect(sqlite_uri.removeprefix("sqlite:///"))
    with database:
        database.execute(
            "CREATE TRIGGER refused BEFORE INSERT ON metrics BEGIN SELECT RAISE(ABORT, 'no more'); END"
        )
    database.close()
    tracker = MLflowTracker(run_name="refused")
    for step in range(1, 4):
        tracker.log(step, 1.7e9 + step, {"train_loss": 1.0 / step})
    tracker.finish()
    with pytest.raises(OptimlabError, match="MLflow did not record run 'refused'.*no more"):
        tracker.wait()
    end_writer(wait=True)  # the writer has done all it was sent, the run's end included
    client = MlflowClient(tracking_uri=sqlite_uri)
    experiment = client.get_experiment_by_name("optimlab").experiment_id
    (run,) = client.search_runs([experiment], "attributes.run_name = 'refused'")
    assert run.info.status == "FINISHED"
    assert run.data.tags[INCOMPLETE_TAG].startswith(
        "records from the one of step 1 (train_loss) on not written: IntegrityError: no more"
    )


@pytest.mark.parametrize("refused", ["the first call", "the second call"])
def test_a_run_log_batch_refused_part_way_is_tagged_from_the_first_point_lost(tmp_path, monkeypatch, refused):
    """On a store that is not SQL, records are logged by log_batch calls of 1000 points: a refusal of the
    second call tagged the run 'records from the one of step 1 ... on not written', though the first
    1000 points were logged; and a refusal as the run ended said 'every record written' (the tracker's
    close flushed nothing after it, forgetting the batch). The tag names the first point really lost.
    Truth: MLflow's client reading back each metric's history."""
    import errno

    from optimlab.integrations import TrackerStopped, mlflow_writer, open_tracker
    from optimlab.integrations.mlflow import INCOMPLETE_TAG
    from optimlab.train import TrainState

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracker = open_tracker("mlflow", folder=tmp_path, run_name="r", background=False)
    logged, calls = tracker._run.client.log_batch, []

    def full_from(*args, **kwargs):
        calls.append(args)
        if len(calls) == (1 if refused == "the first call" else 2):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return logged(*args, **kwargs)

    monkeypatch.setattr(tracker._run.client, "log_batch", full_from)
    monkeypatch.setattr(mlflow_writer, "BATCH", 10)  # MLflow's 1000, fewer points to the same end
    for step in range(1, 21):  # 60 points: 3 records and the first metric of step 4 in the first call
        tracker.log(step, 1.7e9 + step, {"a": 1.0, "b": 2.0, "c": 3.0})
    with pytest.warns(TrackerStopped):
        tracker.on_train_end(TrainState(step=20, total_steps=20))
    client = MlflowClient(uri)
    stored = {key: [m.step for m in client.get_metric_history(tracker.run_id, key)] for key in "abc"}
    lost = "step 1 (a, b, c)" if refused == "the first call" else "step 4 (b, c)"
    assert client.get_run(tracker.run_id).data.tags[INCOMPLETE_TAG] == (
        f"records from the one of {lost} on not written: No space left on device"
    )
    first = {"a": 0, "b": 0, "c": 0} if refused == "the first call" else {"a": 4, "b": 3, "c": 3}
    assert {key: max(steps, default=0) for key, steps in stored.items()} == first
