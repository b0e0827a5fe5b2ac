"""The trackers' shared door: a bad value given to open_tracker or log_run is named in one line."""

import warnings
from pathlib import Path

import pytest

from integrations import store_copy, train_with_tracker
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.integrations import log_run, open_tracker
from optimlab.integrations.tracking import markdown_cell


def test_params_must_be_a_mapping_and_log_run_takes_a_run_folder_and_a_tracker(tmp_path):
    with pytest.raises(InvalidValueError, match="'list' for params: accepted a mapping"):
        open_tracker("tensorboard", folder=tmp_path, run_name="r", params=[("lr", 0.1)])
    with pytest.raises(OptimlabError, match="is not a run folder"):
        log_run(tmp_path, open_tracker("tensorboard", folder=tmp_path, run_name="r"))
    out = tmp_path / "run"
    train_with_tracker(out, "tensorboard")
    with pytest.raises(InvalidValueError, match="'str' for tracker: accepted a Tracker"):
        log_run(out, "tensorboard")
    assert log_run(str(out), open_tracker("tensorboard", folder=tmp_path, run_name="again")).closed


@pytest.mark.parametrize("every", [0, -2, 1.5])
def test_a_tracker_logging_every_zero_or_a_fraction_of_steps_is_refused_in_one_line(tmp_path, every):
    """TensorBoardTracker(every=0) raised ZeroDivisionError at the first step of training."""
    from optimlab.integrations.tensorboard import TensorBoardTracker

    with pytest.raises(InvalidValueError, match=f"invalid value {every} for TensorBoardTracker every"):
        TensorBoardTracker(tmp_path / "tb", every=every)


@pytest.fixture(scope="module")
def diagnosis():
    """The doctor's diagnosis of a small net on raw inputs in the thousands: its input_scale error."""
    import torch
    from torch import nn

    from optimlab.doctor import diagnose

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=generator) * 1000 + 500
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    return diagnose(model, (x, (x[:, 0] > 500).long()), nn.CrossEntropyLoss(), steps=30, lr_find=False)


@pytest.mark.parametrize("where", ["tensorboard", "mlflow", "mlflow's writer process"])
def test_a_doctors_findings_read_back_from_the_trackers_run(
    tmp_path, monkeypatch, diagnosis, where, made_store
):
    """A doctor's findings reached no tracker: a user following runs in TensorBoard or MLflow never saw
    them. log_findings sends them as the text `doctor`, also once the run has ended (TensorBoard's
    tracker raised 'I/O operation on closed file' there), read back here with TensorBoard's EventAccumulator
    and MLflow's client: each finding's row (severity, rule, title, fix) and its evidence, as diagnosed."""
    from optimlab.integrations import log_findings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy(made_store, tmp_path))  # MLflow's tables made once
    name = where.split("'")[0]
    tracker = open_tracker(name, folder=tmp_path, run_name="doctor", background=where != "mlflow")
    tracker.finish()  # as a run logged by fit has, once the doctor looks at it
    log_findings(diagnosis, tracker)
    tracker.wait()
    if name == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        board = EventAccumulator(str(tmp_path / "tensorboard" / "doctor"))
        board.Reload()
        (event,) = board.Tensors("doctor")
        text = event.tensor_proto.string_val[0].decode()
    else:
        from mlflow.tracking import MlflowClient

        text = Path(MlflowClient().download_artifacts(tracker.run_id, "doctor.md", str(tmp_path))).read_text()
    finding = diagnosis.findings[0]
    assert finding.rule == "input_scale" and finding.severity == "error"
    cells = [finding.severity, finding.title, finding.recommendation]
    assert f"| 1 | {' | '.join(map(markdown_cell, cells))} |" in text.splitlines()
    assert f"1. {markdown_cell(finding.explanation)}" in text.splitlines()
    assert text.startswith(f"Findings after {len(diagnosis.statistics.steps)} steps")


def test_the_findings_text_says_what_optimlab_doctor_prints(diagnosis, capsys):
    """log_findings' text was a copy of the doctor's printed output that had drifted: a finding explained
    by another listed raw rule names (one with no finding among them) where the CLI names the finding
    present by number, and the LR range test's 'measured with' note and its candidates' scores were
    missing; the Lightning and Hugging Face callbacks' printed report (trainer_doctor.summary) was a third
    copy, missing the same. Truth: the lines `optimlab doctor` prints of the same diagnosis
    (_print_findings), each in the tracker's text as markdown and in the callbacks' report."""
    import dataclasses

    from optimlab.cli._output import Output
    from optimlab.cli.doctor_cmd import _print_findings
    from optimlab.doctor.lr_find import Candidate, LRRangeResult
    from optimlab.integrations import log_findings
    from optimlab.integrations.trainer_doctor import summary

    cause = diagnosis.findings[0]
    effect = dataclasses.replace(
        cause, rule="exploding_gradients", severity="warning", title="Exploding gradients",
        explanation="norm 1e4 at step 3", recommendation="grad_clip_norm 1.0",
        consequence_of=("input_scale", "init_scale"),  # init_scale: no finding of it here
    )  # fmt: skip
    candidates = [Candidate(lr=0.01, source="steepest", score=0.91), Candidate(lr=0.1, source="min")]
    lr_range = LRRangeResult(
        lrs=[0.01, 0.1], losses=[1.0, 2.0], smoothed=[1.0, 2.0], suggestion=0.01, min_loss_lr=0.01,
        steepest_lr=0.01, stopped_at=None, reason="the checked candidate", candidates=candidates,
        check="20 steps, held-out accuracy",
    )  # fmt: skip
    both = dataclasses.replace(diagnosis, findings=[cause, effect], lr_range=lr_range)
    assert both.lr_measured_with == [cause]

    class Text:
        def log_text(self, name, text, *, step=0):
            self.text = text

    tracker = Text()
    log_findings(both, tracker)
    lines = tracker.text.splitlines()
    _print_findings(Output(), both)
    said = capsys.readouterr().out.splitlines()
    assert "Exploding gradients (consequence of #1)" in tracker.text and "init_scale" not in tracker.text
    notes = ("measured with #1 as it is", "Candidates (20 steps, held-out accuracy): 0.01: 0.91 (suggested)")
    printed = summary(both)  # what the Lightning and Hugging Face DoctorCallbacks print at the run's end
    assert "Exploding gradients (consequence of #1)" in printed and "init_scale" not in printed
    for note in notes:
        assert any(note in line for line in said)
        assert any(markdown_cell(note) in line for line in lines)
        assert note in printed


@pytest.mark.parametrize(
    ("verb", "where"),
    [
        ("doctor", "./tensorboard/doctor-<recipe id>"),
        ("train", "the run folder's tensorboard/"),
        ("report", "each run's or study's folder's tensorboard/"),
    ],
)
def test_each_verbs_log_help_says_where_its_event_files_go(monkeypatch, capsys, verb, where):
    """The shared --log help said 'event files in the run folder's tensorboard/' for doctor too, which
    writes them in ./tensorboard (its JSON's trackers.tensorboard, tested below)."""
    from optimlab.cli.app import main

    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # its lines as wrapped, joined
    assert (
        f"--log tensorboard|mlflow Also send the {'findings' if verb == 'doctor' else 'metrics'} to a tracker: tensorboard (event files in {where}) or mlflow"
        in text
    )


def test_optimlab_doctor_log_sends_its_findings_to_each_tracker(tmp_path, monkeypatch, capsys, made_store):
    """`optimlab doctor --log tensorboard --log mlflow` on raw iris: the findings it prints are the text `doctor` of
    a run doctor-<recipe id> in each, the recipe its parameters, read back with TensorBoard's reader and
    MLflow's client; its JSON says where each went."""
    import json

    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from optimlab.cli.app import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy(made_store, tmp_path))  # MLflow's tables made once
    with pytest.raises(SystemExit) as done:
        main(["doctor", "--dataset", "iris", "--scaling", "none", "--width", "8", "--steps", "20",
              "--no-lr-find", "--log", "tensorboard", "--log", "mlflow", "--format", "json",
              "--no-progress"])  # fmt: skip
    assert done.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    titles = [finding["title"] for finding in printed["findings"]]
    run_name = f"doctor-{printed['recipe_id']}"
    board = EventAccumulator(printed["trackers"]["tensorboard"])
    board.Reload()
    assert printed["trackers"]["tensorboard"] == str(Path("tensorboard", run_name))
    (event,) = board.Tensors("doctor")
    texts = {"tensorboard": event.tensor_proto.string_val[0].decode()}
    client = MlflowClient()
    (run,) = client.search_runs(
        [client.get_experiment_by_name("optimlab").experiment_id], f"attributes.run_name = '{run_name}'"
    )
    assert printed["trackers"]["mlflow"] == f"MLflow run {run.info.run_id}"
    assert run.info.status == "FINISHED" and run.data.params["data.name"] == "iris"
    texts["mlflow"] = Path(client.download_artifacts(run.info.run_id, "doctor.md", str(tmp_path))).read_text()
    assert titles  # raw iris: its inputs' scale, at least
    for text in texts.values():
        assert text.startswith("Findings after 20 steps")
        assert all(markdown_cell(title) in text for title in titles)


@pytest.mark.parametrize("name", ["tensorboard", "mlflow"])
def test_a_fit_from_step_0_on_an_ended_trackers_run_is_refused(tmp_path, monkeypatch, name, made_store):
    """An lr sweep giving one tracker to two fits of 4 steps each: TensorBoard's tracker opened the first
    fit's event file again and appended, its reader showing run 'r' at steps 1, 2, 3, 4, 1, 2, 3, 4 (and
    MLflow's run held both fits' histories as one). The second fit is refused in one line before it
    trains, naming the run; the first fit's steps are the run's, once, read back with TensorBoard's
    EventAccumulator and MLflow's client. A tracker started before the refusal in the same fit was left
    open (no on_exception): its run ends, FAILED in MLflow's client."""
    import torch

    from optimlab.train import fit

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy(made_store, tmp_path))  # MLflow's tables made once
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    tracker = open_tracker(name, folder=tmp_path, run_name="r", background=False)
    for lr in (0.1, 0.01):
        model = torch.nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        args = (model, optimizer, x, x.sum(1, keepdim=True))
        common = {"total_steps": 4, "loss_fn": torch.nn.functional.mse_loss, "batch_size": 16}
        if lr == 0.1:
            fit(*args, callbacks=[tracker], **common)
            continue
        kind = {"tensorboard": "TensorBoard", "mlflow": "MLflow"}[name]
        before = open_tracker(name, folder=tmp_path, run_name="s", background=False)  # started, then refused
        with pytest.raises(
            OptimlabError,
            match=f"^{kind} run 'r' ended at its last fit; a fit from step 0 is a new run: open another tracker$",
        ):
            fit(*args, callbacks=[before, tracker], **common)
        assert before.closed  # its run ended, not left open with its file, as any fit stopped by an error
        if name == "mlflow":
            from mlflow.tracking import MlflowClient

            assert MlflowClient().get_run(before.run_id).info.status == "FAILED"
    if name == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

        board = EventAccumulator(str(tmp_path / "tensorboard" / "r"), size_guidance={SCALARS: 0})
        board.Reload()
        steps = [e.step for e in board.Scalars("train_loss")]
    else:
        from mlflow.tracking import MlflowClient

        steps = [m.step for m in MlflowClient().get_metric_history(tracker.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3, 4]


def test_a_study_killed_between_two_creations_sends_what_is_stored(tmp_path):
    """A comparison killed after creating t/adam and before t/sgd: log_study (`optimlab report OUT --log
    tensorboard`) looked up t/sgd's study, not there: a KeyError traceback. Now it reads the stored studies.
    Truth: the studies as stored, which hold no finished trial to send."""
    import optuna

    from optimlab.integrations import log_study
    from optimlab.study import StudySpec, methods_from
    from optimlab.study.run import open_studies
    from optimlab.study.storage import open_storage
    from optimlab.workloads import get_workload

    spec = StudySpec.for_workload(
        "t", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"])
    )
    open_studies(spec, tmp_path)
    optuna.delete_study(study_name="t/sgd", storage=open_storage(tmp_path))
    assert log_study(tmp_path, "tensorboard", folder=tmp_path) == 0
    assert not (tmp_path / "tensorboard").exists()


@pytest.mark.parametrize("name", ["tensorboard", "mlflow"])
def test_close_ends_the_run_as_finish_does_read_back_by_the_trackers_own_reader(
    tmp_path, monkeypatch, name, made_store
):
    """A user ending a tracker as a file or a SummaryWriter ends, ``tracker.close()``: a TypeError
    (``close() missing 1 required keyword-only argument: 'failed'``), the run left open. It now ends the
    run as finish() does, a second call doing nothing: the records read back by TensorBoard's
    EventAccumulator and MLflow's client, the MLflow run FINISHED."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy(made_store, tmp_path))  # MLflow's tables made once
    tracker = open_tracker(name, folder=tmp_path, run_name="closed", background=False)
    for step in (1, 2, 3):
        tracker.log(step, 1.7e9 + step, {"train_loss": 1.0 / step})
    tracker.close()
    tracker.close()
    assert tracker.closed
    if name == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

        board = EventAccumulator(str(tmp_path / "tensorboard" / "closed"), size_guidance={SCALARS: 0})
        board.Reload()
        points = [(e.step, e.value) for e in board.Scalars("train_loss")]
    else:
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        assert client.get_run(tracker.run_id).info.status == "FINISHED"
        points = [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, "train_loss")]
    assert [step for step, _ in sorted(points)] == [1, 2, 3]
    assert [value for _, value in sorted(points)] == pytest.approx(
        [1.0, 0.5, 1 / 3]
    )  # float32 in TensorBoard


@pytest.mark.parametrize("name", ["tensorboard", "mlflow"])
def test_a_step_skipped_for_want_of_a_scored_target_is_logged_by_no_tracker(
    tmp_path, monkeypatch, name, made_store
):
    """Batches whose targets are all a cross-entropy's ignore_index make skipped steps (no loss, no
    update), which metrics.jsonl leaves out: the trackers logged them with a NaN train_loss, TensorBoard
    and MLflow showing NaN at steps 2 and 6. What their own readers read back now equals metrics.jsonl's
    lines (MetricsLog beside them)."""
    import json

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from optimlab.train import MetricsLog, fit

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy(made_store, tmp_path))  # MLflow's tables made once
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 4, generator=generator), torch.randint(0, 3, (32,), generator=generator)
    y[8:16] = -100  # the second batch of each epoch: nothing to score
    model = torch.nn.Linear(4, 3)
    tracker = open_tracker(name, folder=tmp_path, run_name="skips", background=False)
    state = fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), DataLoader(TensorDataset(x, y), batch_size=8),
        loss_fn=torch.nn.CrossEntropyLoss(ignore_index=-100), total_steps=8,
        callbacks=[MetricsLog(tmp_path / "metrics.jsonl"), tracker],
    )  # fmt: skip
    assert state.skipped_steps == 2
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    expected = [(line["step"], line["train_loss"]) for line in logged]
    assert [step for step, _ in expected] == [1, 3, 4, 5, 7, 8]
    if name == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

        board = EventAccumulator(str(tmp_path / "tensorboard" / "skips"), size_guidance={SCALARS: 0})
        board.Reload()
        points = [(e.step, e.value) for e in board.Scalars("train_loss")]
    else:
        from mlflow.tracking import MlflowClient

        history = MlflowClient().get_metric_history(tracker.run_id, "train_loss")
        points = sorted((m.step, m.value) for m in history)
    assert [step for step, _ in points] == [step for step, _ in expected]
    assert [value for _, value in points] == pytest.approx([value for _, value in expected])  # float32 in TB


def test_a_tracker_subclass_written_as_documented_with_write_and_close_ends_its_run_once():
    """Tracker's docstring said "Subclasses implement write, close"; d3634355 renamed the hook to a private
    _end, and a subclass written that way ended fit with a bare NotImplementedError after its last step.
    Its close (its own signature, no call to the base) is again called once, after every record was sent
    to its write; one calling ``super().close()`` as io's classes do, closed by hand twice, sends what is
    left and ends once. Truth: the steps fit took, the calls counted."""

    from optimlab.integrations import Tracker

    class AsDocumented(Tracker):
        run_name, where = "mine", "a list"

        def __init__(self):
            super().__init__()
            self.rows, self.ends = [], []

        def write(self, records):
            self.rows += records

        def close(self, *, failed, interrupted=False):
            self.ends.append((failed, interrupted))

    class CallingTheBase(AsDocumented):
        def close(self, *, failed=False, interrupted=False):
            if not self.closed:
                super(AsDocumented, self).close(failed=failed, interrupted=interrupted)
                self.ends.append((failed, interrupted))

    tracker = AsDocumented()
    state = _fit_logging(tracker, total_steps=4)
    tracker.finish()
    assert state.step == 4
    assert [step for step, _, _ in tracker.rows] == [1, 2, 3, 4]
    assert tracker.ends == [(False, False)] and tracker.closed

    by_hand = CallingTheBase()
    by_hand.log(1, 1.7e9, {"train_loss": 1.0})
    by_hand.close()
    by_hand.close()
    assert [step for step, _, _ in by_hand.rows] == [1] and by_hand.ends == [(False, False)]


def test_any_failure_of_a_trackers_own_writing_stops_the_tracker_not_fit_and_is_kept_on_the_state():
    """Only an OSError stopped a tracker while training went on: a foreground MLflow tracker's refusal
    (MlflowException) ended fit, while requests' ConnectionError (an OSError) was swallowed. Any exception
    from the tracker's own writing now stops it, not the training, whose own record is metrics.jsonl:
    fit trains every step, its state's tracker_failures says why (a warning filtered out says nothing),
    naming the first record the tracker's write lost; no run folder, so no command to send them again."""

    from optimlab.integrations import Tracker, TrackerStopped

    class RefusingFromStep3(Tracker):
        kind, run_name, where = "Listed", "mine", "a list"

        def __init__(self):
            super().__init__(flush_seconds=0)  # a hand-over at each step
            self.rows = []

        def write(self, records):
            if records[0][0] >= 3:
                raise ValueError("the server refused the batch")
            self.rows += records

        def close(self, *, failed=False, interrupted=False): ...

    tracker = RefusingFromStep3()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrackerStopped)
        state = _fit_logging(tracker, total_steps=6)
    said = (
        "Listed stopped logging run 'mine': a list cannot be written (ValueError: the server refused the batch); "
        "records from the one of step 3 (train_loss, lr) on not written, and training went on without it"
    )
    assert state.step == 6 and [step for step, _, _ in tracker.rows] == [1, 2]
    assert state.tracker_failures == [said] and str(tracker.failure) == said
    with pytest.raises(OptimlabError) as raised:
        tracker.wait()
    assert str(raised.value) == said
    assert isinstance(raised.value.__cause__, ValueError)  # the tracker's own error, its traceback kept


def test_a_bug_in_a_tracker_written_as_documented_is_named_by_its_type_with_its_traceback_kept():
    """A subclass written as Tracker's docstring says (write and close, no run_name nor where): the
    handler itself raised AttributeError ('run_name') out of fit. A bug in its write (an AttributeError)
    read as the store's refusal, its traceback lost: the message names the error's type and wait()
    raises with the error as __cause__, as raise ... from does (OPTIMLAB_DEBUG shows the chain)."""

    from optimlab.integrations import Tracker, TrackerStopped

    class Mine(Tracker):
        def write(self, records):
            return records.nosuch

        def close(self, *, failed=False, interrupted=False): ...

    tracker = Mine()
    with pytest.warns(TrackerStopped):
        state = _fit_logging(tracker, rows=16, total_steps=4, eval_every=2)
    assert state.step == 4
    assert state.tracker_failures == [
        "tracker stopped logging run 'Mine': its store cannot be written (AttributeError: 'list' object has "
        "no attribute 'nosuch'); records from the one of step 1 (train_loss, lr) on not written, and "
        "training went on without it"
    ]
    with pytest.raises(OptimlabError) as raised:
        tracker.wait()
    assert isinstance(raised.value.__cause__, AttributeError)


def test_a_resumed_fits_tracker_failures_are_its_own_trackers():
    """A fit resumed from a state whose session had a tracker stop (its checkpoint keeps the state)
    returned that session's message in tracker_failures, though its own tracker sent every record. Truth:
    the trackers of each fit: none failed in the resumed one ([]); one that stopped and goes on into a
    fit that trains on is still stopped there, said once."""
    from optimlab.integrations import Tracker, TrackerStopped
    from optimlab.train.loop import TrainState

    class Listed(Tracker):
        kind, run_name, where = "Listed", "mine", "a list"

        def __init__(self, refusing):
            super().__init__(flush_seconds=0)
            self.refusing, self.steps = refusing, []

        def write(self, records):
            if self.refusing:
                raise ValueError("refused")
            self.steps += [step for step, _, _ in records]

        def close(self, *, failed=False, interrupted=False): ...

    stopped = Listed(refusing=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrackerStopped)
        first = _fit_logging(stopped, total_steps=2)
    (said,) = first.tracker_failures
    kept = TrainState(**first.to_dict())  # as a checkpoint keeps it
    healthy = Listed(refusing=False)
    resumed = _fit_logging(healthy, total_steps=4, state=kept)
    assert resumed.step == 4 and healthy.steps == [3, 4] and resumed.tracker_failures == []
    trained_on = _fit_logging(stopped, total_steps=6, state=resumed)
    assert trained_on.tracker_failures == [said] == [str(stopped.failure)]


def _fit_logging(tracker, *, rows=32, total_steps, eval_every=None, state=None):
    """``fit`` of a linear regression on ``rows`` random rows (the sum of 3 features), ``total_steps`` steps
    of 8, logging to ``tracker``; evaluated on its training rows every ``eval_every`` steps where given;
    continuing ``state`` where given."""
    import torch

    from optimlab.train import fit

    x = torch.randn(rows, 3, generator=torch.Generator().manual_seed(0))
    model, y = torch.nn.Linear(3, 1), x.sum(1, keepdim=True)
    evaluation = {} if eval_every is None else {"val_data": (x, y), "eval_every": eval_every}
    return fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        x,
        y,
        loss_fn=torch.nn.functional.mse_loss,
        batch_size=8,
        total_steps=total_steps,
        callbacks=[tracker],
        state=state,
        **evaluation,
    )
