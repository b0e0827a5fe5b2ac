"""A tracker: a :func:`~optimlab.train.fit` callback that sends each run's metrics to an experiment tracker.

It sees what ``metrics.jsonl`` holds (:class:`~optimlab.train.MetricsLog`): the training loss and the
learning rate of each logged step, and every metric of each evaluation, each with its step and wall time.
Records are kept in memory and sent at evaluations (or every ``flush_seconds``, where a tracker sets it)
and at the end, so the loop pays a list append per step, not a write (``benchmarks/tracker_overhead.py``).
Finished runs and study trials are sent after the fact by :func:`log_run` and :func:`log_study`.

>>> from optimlab.integrations import TRACKERS
>>> TRACKERS
('tensorboard', 'mlflow')
"""

from __future__ import annotations

import contextlib
import math
import posixpath
import shlex
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimlab.atomic import can_write_into
from optimlab.errors import (
    InvalidValueError,
    OptimlabError,
    OptimlabWarning,
    UnknownNameError,
    user_stacklevel,
)
from optimlab.integrations.store_failure import failure_reason, lost_from
from optimlab.recipe import Recipe
from optimlab.registry import NON_NEGATIVE, POSITIVE_INT
from optimlab.report.recipes import default_values, flat_fields
from optimlab.report.run_folder import RunFolder, read_run
from optimlab.runs_folder import RECIPE_NAME, TENSORBOARD_FOLDER, is_run_folder
from optimlab.train.loop import Callback, TrainState

if TYPE_CHECKING:
    from optimlab.doctor.diagnose import Diagnosis

__all__ = [
    "TRACKERS",
    "Record",
    "Tracker",
    "TrackerStopped",
    "check_trackers",
    "ended_sessions",
    "log_findings",
    "log_run",
    "log_study",
    "markdown_cell",
    "open_tracker",
    "plain_values",
    "resumed_records",
    "run_records",
    "trackers_of",
]

TRACKERS = ("tensorboard", "mlflow")
STUDY_MLFLOW_RUNS = "mlflow-runs"  # in a study's folder: a folder per trial keeping its MLflow run's id
Record = tuple[int, float, dict[str, float]]  # (step, wall time as Unix seconds, metrics)


class TrackerStopped(OptimlabWarning):
    """A tracker stopped sending while training went on: any exception from its own writing during a fit
    (a full disk, a folder made unwritable, MLflow refusing a call) stops it, not the training, whose own
    record is its metrics.jsonl. Said in this warning, kept in :attr:`Tracker.failure` (which
    :meth:`Tracker.wait` raises) and in the ``tracker_failures`` of the state fit returns."""


class Tracker(Callback):
    """Buffers ``(step, wall time, metrics)`` records and hands them to :meth:`write` in batches.

    Subclasses implement :meth:`write`, :meth:`close` (ending the run in the tracker's store; a close that
    calls ``super().close(...)`` first sends what is left and ends once, as :class:`io.IOBase` does) and,
    where the tracker keeps files, :meth:`log_artifact`. ``every`` logs one step in that many, as :class:`~optimlab.train.MetricsLog`.
    Records are handed over at each evaluation or, with ``flush_seconds``, once that many seconds have
    passed (a tracker whose writer works beside training, each hand-over a transaction of its store).
    A hand-over that raises while training stops the tracker, not the training (:class:`TrackerStopped`).
    """

    writes_checkpoints = False
    run_folder: Path | None = None  # the training run's folder, whose metrics.jsonl can be sent again

    kind = "tracker"  # its name in messages: TensorBoard, MLflow
    run_name: str

    def __init__(self, *, every: int = 1, flush_seconds: float | None = None) -> None:
        if not POSITIVE_INT.contains(every):  # 0 raised ZeroDivisionError at the first step
            raise InvalidValueError(f"{type(self).__name__} every", every, POSITIVE_INT.accepted_for(every))
        if flush_seconds is not None and not NON_NEGATIVE.contains(flush_seconds):
            raise InvalidValueError(
                f"{type(self).__name__} flush_seconds", flush_seconds, f"{NON_NEGATIVE}, or None"
            )
        self.every, self.flush_seconds = every, flush_seconds
        self._pending: list[Record] = []
        self._flushed = time.time()
        self.closed = False
        self.failure: OptimlabError | None = None  # why it stopped sending, while training went on
        self._unwritten: list[Record] = []  # the batch being written: lost where its write fails

    @property
    def where(self) -> str:
        """Where the run went, in words: its event folder, its MLflow run."""
        raise NotImplementedError

    def on_train_start(self, state: TrainState) -> None:
        """A fit from step 0 once the run has ended (a second fit of an lr sweep given the same tracker) is
        a new run, refused: its steps 1, 2, ... went into the ended run after its own (TensorBoard's reader
        showed 1..4, 1..4). A fit that trains on (``fit(state=...)``, past step 0) goes on in the run; where
        the tracker stopped sending, it says so in this fit's ``tracker_failures`` too."""
        if self.closed and state.step == 0:
            raise OptimlabError(
                f"{self.kind} run {self.run_name!r} ended at its last fit; a fit from step 0 is a new run: "
                "open another tracker"
            )
        if self.failure is not None:
            state.tracker_failures.append(str(self.failure))

    def on_step_end(self, state: TrainState) -> None:
        if state.skipped:  # no loss to log (its batches held no target the loss scores), as MetricsLog
            return
        if state.step % self.every == 0 or state.diverged:
            self._add(state, {"train_loss": state.train_loss, "lr": state.lr}, evaluation=False)

    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None:
        self._add(state, dict(metrics), evaluation=True)

    def _add(self, state: TrainState, metrics: dict[str, float], *, evaluation: bool) -> None:
        if self.failure is not None:  # stopped: records kept would only grow
            return
        now = time.time()
        self._pending.append((state.step, now, metrics))
        if evaluation if self.flush_seconds is None else now - self._flushed >= self.flush_seconds:
            self._kept_going(self.flush, state)

    def _kept_going(
        self, hand_over: Callable[[], None], state: TrainState, *, lost: str | None = None
    ) -> None:
        """``hand_over`` (a write to the tracker's store by a training hook); where it raises, the tracker
        stops and training goes on (:class:`TrackerStopped`): a full disk under the event folder stopped
        training with a bare OSError at the step it filled, the run lost past its last checkpoint. ``lost``:
        what the store then lacks, where no record's write failed (a session's start)."""
        try:
            hand_over()
        except Exception as error:  # the tracker's own failure, whatever its kind: not the training's
            self._pending = []
            if self.failure is None:
                reason = failure_reason(error)
                lost = lost or lost_from(self._unwritten)
                self.failure = OptimlabError(self._stopped(reason, lost))
                self.failure.__cause__ = error  # its traceback, shown by wait() (OPTIMLAB_DEBUG on the CLI)
                state.tracker_failures.append(str(self.failure))
                warnings.warn(str(self.failure), TrackerStopped, stacklevel=user_stacklevel())
                with contextlib.suppress(Exception):  # best effort: the store may refuse this too
                    self.mark_incomplete(f"{lost}: {reason}")

    def _stopped(self, reason: str, lost: str) -> str:
        """Why the tracker stopped, what its store lacks, and how to send the rest again."""
        resent = (
            f"; optimlab report {shlex.quote(str(self.run_folder))} --log {self.kind.lower()} sends the "
            "run's metrics.jsonl again"
            if self.run_folder is not None
            else ""
        )
        # a subclass written as this class's docstring says (write and close) names no run nor place
        run_name = getattr(self, "run_name", type(self).__name__)
        try:
            where = self.where
        except NotImplementedError:
            where = "its store"
        return (
            f"{self.kind} stopped logging run {run_name!r}: {where} cannot be written ({reason}); "
            f"{lost}, and training went on without it{resent}"
        )

    def mark_incomplete(self, lost: str) -> None:
        """Mark the run in the tracker's store as lacking what ``lost`` says, where the store can say it
        (MLflow's tag ``optimlab.incomplete``); called once, best effort, as the tracker stops."""

    def on_final_scores(self, state: TrainState, metrics: dict[str, float]) -> None:
        """The scores of a run by :func:`optimlab.train.train` after its last step that its last
        evaluation did not hold (``test_*``), logged at that step."""
        self._add(state, dict(metrics), evaluation=True)

    def on_train_end(self, state: TrainState) -> None:
        self._kept_going(lambda: self.finish(failed=state.diverged, interrupted=state.interrupted), state)

    def on_exception(self, state: TrainState, error: BaseException) -> None:
        """The fit stopped by ``error`` (a refusal by another callback as it started, Ctrl-C without
        :class:`~optimlab.train.callbacks.StopOnSignal`): the run is closed, failed or interrupted, not
        left open with its file."""
        interrupted = isinstance(error, KeyboardInterrupt)
        self._kept_going(lambda: self.finish(failed=not interrupted, interrupted=interrupted), state)

    def log(self, step: int, wall_time: float, metrics: Mapping[str, float]) -> None:
        """Add one record by hand (runs and trials sent after the fact)."""
        self._pending.append((step, wall_time, dict(metrics)))

    def flush(self) -> None:
        # a batch whose write failed is not sent again; it stays _unwritten, what the failure names as
        # lost, through close's flush of nothing after it
        if self._pending:
            self._unwritten, self._pending = self._pending, []
            self.write(self._unwritten)
            self._unwritten = []
        self._flushed = time.time()

    def finish(self, *, failed: bool = False, interrupted: bool = False) -> None:
        """Send what is left and end the run by :meth:`close` (``failed``: it diverged; ``interrupted``: a
        signal stopped it, to resume); later calls do nothing."""
        if self.closed:
            return
        try:
            self.flush()
        finally:  # ended (its file closed) even where its last records could not be written
            try:
                self.close(failed=failed, interrupted=interrupted)
            finally:
                self.closed = True  # once: a run whose end failed is not ended again

    def close(self, *, failed: bool = False, interrupted: bool = False) -> None:
        """Send what is left and mark the tracker closed, once (later calls do nothing), as a file or a
        ``SummaryWriter`` is closed; a subclass ends its run in the tracker's store after calling this
        where :attr:`closed` was False (:meth:`finish` calls it once; a subclass's close that does not
        call this one is called once by :meth:`finish`, after what was left is sent)."""
        if not self.closed:
            self.closed = True
            self.flush()

    def wait(self) -> None:
        """Return once the tracker's store holds everything sent so far (at once for a tracker that
        writes as it goes; MLflow's writer process works beside training); raise :attr:`failure`."""
        if self.failure is not None:
            raise self.failure

    def write(self, records: list[Record]) -> None:
        raise NotImplementedError

    def log_artifact(self, path: str | Path) -> None:
        """Attach a file (the run's report) to the run, where the tracker keeps files."""

    def log_text(self, name: str, text: str, *, step: int = 0) -> None:
        """Attach ``text`` (markdown) to the run as ``name``: TensorBoard's TEXT tab at ``step``, MLflow's
        artifact ``name.md``."""
        raise NotImplementedError

    def send(self, records: list[Record]) -> None:
        """Send a finished run's ``records`` (:func:`log_run`), in step order: they replace what earlier
        sessions sent from the first of them on."""
        if records:
            self.restart(records[0][0])
        for record in records:
            self.log(*record)

    def restart(self, step: int) -> None:
        """What is sent from now on replaces what earlier sessions of the run sent from ``step`` on (a
        resumed run's steps past its checkpoint, a finished run sent again), where the tracker's runs
        outlive a session: each MLflow tracker sent after the fact is a run of its own (a training run's
        MLflow tracker resumes its run as it opens: :class:`~.mlflow.MLflowTracker`)."""


# What markdown reads in a table's cell (TensorBoard's text plugin renders markdown): a pipe ends the cell,
# asterisks and underscores emphasize (a path's __init__ shows as a bold "init"), backticks and brackets
# start code and links.
_MARKUP = str.maketrans({c: "\\" + c for c in "\\`*_|[]"})


def markdown_cell(value: Any) -> str:
    """``value`` as a cell of the markdown table (the recipe's, the doctor's findings), shown as it is:
    its markup escaped, its line breaks kept in the cell."""
    return str(value).translate(_MARKUP).replace("\r\n", "\n").replace("\n", "<br>")


def trackers_of(folder: str | Path) -> list[str]:
    """The trackers a training run's ``folder`` was logged to (:func:`open_tracker` with ``resumable``):
    its TensorBoard event files, the id of its MLflow run; what ``train --resume`` goes on logging to."""
    from optimlab.integrations.mlflow_writer import RUN_FILE

    marks = {"tensorboard": Path(folder) / TENSORBOARD_FOLDER, "mlflow": Path(folder) / RUN_FILE}
    return [name for name, mark in marks.items() if mark.exists()]


def open_tracker(
    name: str,
    *,
    folder: str | Path,
    run_name: str,
    params: Mapping[str, Any] | None = None,
    background: bool = True,
    resumable: bool = False,
) -> Tracker:
    """The tracker ``name`` for one run: TensorBoard event files in ``folder/tensorboard/run_name``; an
    MLflow run named ``run_name`` at MLflow's tracking URI (``MLFLOW_TRACKING_URI``, else MLflow's own
    default: a local database file, ``mlflow.db`` in the working folder). ``params``: the recipe,
    nested or flat, recorded as the run's parameters (a null field whose default is known as that
    default). ``background``: MLflow's calls are made by a writer process beside training; False makes
    them in this process (for a run sent after the fact).
    ``resumable``: ``folder`` is the training run's own, and a resumed run (``train --resume``) goes on in
    the MLflow run that logged it (its id kept in ``folder/mlflow.json``), as TensorBoard's does in its
    event files (the one run in ``folder/tensorboard``, named as the folder was, though it has since been
    renamed); either adds what it lacks of the folder's metrics.jsonl up to the checkpoint. A TensorBoard
    run whose name ``folder`` holds already is the same run where ``folder`` holds a training run (whose
    later sessions resume it: :func:`~optimlab.train.train` refuses a new run there); elsewhere (a script
    run twice) it is a run of its own, ``run_name-2`` (the first name free as it starts), with a warning:
    TensorBoard showed the two as one run, their steps interleaved (an MLflow run of one name is another
    run); unless its training starts from a checkpoint (``fit(state=...)``): one saved with the tracker among
    ``save_checkpoint``'s callbacks goes on in its own run (``run_name`` or ``run_name-k``, kept in it), one
    saved without it in the last run of the name (of ``run_name``, ``run_name-2``, ... those holding events;
    said in a warning where there are several). Its texts are written at once, but where a run of the name is
    there already: then as its run starts, or as it finishes (a tracker dropped before either warns that they
    were not written). A TensorBoard tracker that never starts nor finishes (nor logs a text) leaves no
    run."""
    return _open(
        name, folder=folder, run_name=run_name, params=params, background=background, resumable=resumable
    )


def _open(
    name: str,
    *,
    folder: str | Path,
    run_name: str,
    params: Mapping[str, Any] | None,
    background: bool,
    resumable: bool,
    replacing: bool = False,
) -> Tracker:
    """:func:`open_tracker`; ``replacing``: TensorBoard's run ``run_name`` is this one, what is sent
    replacing what it holds from its first step on (a study's trial sent again)."""
    if params is not None and not isinstance(params, Mapping):
        raise InvalidValueError(
            "params", type(params).__name__, "a mapping of field -> value (a recipe's to_dict())"
        )
    params = plain_values(params or {})
    flat = dict(flat_fields(params))
    flat.update(_defaults_trained(params, flat))
    if name == "tensorboard":
        from optimlab.integrations.tensorboard import TensorBoardTracker

        run_name = _tensorboard_run_name(run_name)
        log_dir = Path(folder) / TENSORBOARD_FOLDER / run_name
        tracker = TensorBoardTracker(
            _event_folder(Path(folder), run_name) if resumable else log_dir,
            params=flat,
            run_folder=folder if resumable else None,
        )
        # Outside a training run's folder (where a later session resumes it), a run of the name may be
        # another's: its run is chosen as it starts, a run of its own unless it trains on from a checkpoint.
        tracker.apart = not (resumable or replacing or is_run_folder(folder))
        return tracker
    if name == "mlflow":
        from optimlab.integrations.mlflow import MLflowTracker

        return MLflowTracker(
            run_name=run_name, params=flat, background=background, run_folder=folder if resumable else None
        )
    check_trackers([name])
    raise AssertionError(name)  # unreachable: every name in TRACKERS is opened above


def _tensorboard_run_name(run_name: Any) -> str:
    """``run_name`` as the folder of its TensorBoard run under ``folder/tensorboard``, a ``//`` or a
    trailing ``/`` tidied (``exp/`` is ``exp``); a name that leaves that folder is refused: '' or '.'
    wrote into it itself (the name of an --out '.'), '/abs' and '../x' outside it. MLflow's run names
    are its own labels, taken as given."""
    tidy = posixpath.normpath(run_name) if isinstance(run_name, str) and run_name else "."
    if tidy == "." or tidy == ".." or tidy.startswith(("../", "/")):
        raise InvalidValueError(
            "run_name",
            run_name,
            "a folder's name under the tensorboard folder: not empty, '.', absolute, or leaving it by '..'",
        )
    return tidy


def plain_values(value: Any) -> Any:
    """``value`` (a run's parameters) with each NumPy or torch scalar or array as the Python number or
    list it holds, in mappings, lists and tuples too: ``np.float32(0.1)`` and ``torch.tensor(0.1)`` are
    the number 0.1 (not the text ``tensor(0.1000)``), ``[np.float64(0.9), 0.99]`` a list YAML writes.
    Any other value but text, a number, a boolean or None (a ``Path``, an enum, a named tuple) is its
    text, as MLflow's ``log_param`` logs it: in a list, YAML refused it (``RepresenterError``)."""
    if isinstance(value, Mapping):
        return {key: plain_values(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(plain_values(item) for item in value)
    if type(value).__module__.split(".")[0] in ("numpy", "torch") and hasattr(value, "tolist"):
        return value.tolist()
    return value if value is None or type(value) in (str, int, float, bool) else str(value)


def _event_folder(folder: Path, run_name: str) -> Path:
    """The TensorBoard run of training run ``folder``: ``tensorboard/run_name``, or the one run its
    tensorboard folder holds, named after the folder as it was first logged (since renamed or moved: a
    resumed session began a second run beside it, the first session's steps in both)."""
    own = folder / TENSORBOARD_FOLDER / run_name
    runs = [path for path in own.parent.iterdir() if path.is_dir()] if own.parent.is_dir() else []
    return runs[0] if not own.exists() and len(runs) == 1 else own


def _defaults_trained(params: Mapping[str, Any], flat: Mapping[str, Any]) -> dict[str, Any]:
    """The values that trained of the null fields in ``flat`` (a recipe's ``params``, flattened) whose
    component states its default (:func:`~optimlab.report.recipes.default_values`: ``optimizer.lr``
    0.001 for Adam, as the run's page says), where the recipe in ``params`` loads here."""
    sections = {key: value for key, value in params.items() if key in Recipe.model_fields}
    if not sections:
        return {}
    try:
        values = default_values(Recipe.from_dict(sections))
    except OptimlabError:  # a recipe of another version, or of a model whose code is not on the path
        return {}
    return {field: value for field, value in values.items() if field in flat and flat[field] is None}


def check_trackers(names: Sequence[str]) -> None:
    """Raise, naming it and the accepted ones, on a tracker name that is not known."""
    for name in names:
        if name not in TRACKERS:
            raise UnknownNameError("tracker", name, TRACKERS)


def log_run(
    run: RunFolder | str | Path, tracker: Tracker, *, artifacts: Sequence[str | Path] = ()
) -> Tracker:
    """Send a finished run (its folder, or :func:`~optimlab.report.run_folder.read_run` of it): its
    metrics (every line of its metrics.jsonl) and ``artifacts`` (its report) to ``tracker``, and close it.

    Wall times are the run's start (when recipe.yaml was written) plus each line's ``seconds``.
    """
    if not isinstance(run, RunFolder):
        run = read_run(run)
    if not isinstance(tracker, Tracker):
        raise InvalidValueError(
            "tracker", type(tracker).__name__, "a Tracker, e.g. open_tracker('mlflow', ...)"
        )
    records = run_records(run, (run.path / RECIPE_NAME).stat().st_mtime)
    tracker.send(_with_final_scores(records, _sessions(run)))
    for artifact in artifacts:
        tracker.log_artifact(artifact)
    status = run.result.get("status")
    tracker.finish(failed=status == "diverged", interrupted=status == "interrupted")
    return tracker


def _with_final_scores(records: list[Record], sessions: Sequence[Mapping[str, Any]]) -> list[Record]:
    """``records`` (in step order) with the final scores of each of a run's or a trial's ``sessions``
    (result.json's: ``steps`` and ``metrics``; a trial's stored ones) that they do not hold at its last
    step (``test_*``), after the last record of that step, as training sent them
    (:meth:`Tracker.on_final_scores`). A session whose last step ``records`` lack (past a resumed run's
    checkpoint) adds nothing; of two ended at one step, the first's scores are the ones sent."""
    scored = list(records)
    for session in sessions:
        steps, scores = session.get("steps"), session.get("metrics") or {}
        at = [i for i, (step, _, _) in enumerate(scored) if step == steps]
        held = {name for i in at for name in scored[i][2]}
        new = {name: value for name, value in scores.items() if name not in held}
        if at and new:
            scored.insert(at[-1] + 1, (steps, scored[at[-1]][1], new))
    return scored


def run_records(run: RunFolder, started: float) -> list[Record]:
    """The lines of a run's metrics.jsonl as records in step order, each at ``started`` plus its
    ``seconds`` (Unix time)."""
    lines: dict[tuple[int, float], dict[str, float]] = {}
    for metric, (steps, seconds, values) in run.series.items():
        for step, second, value in zip(steps, seconds, values):
            lines.setdefault((step, second), {})[metric] = value
    return [
        (step, started + (second if math.isfinite(second) else 0.0), metrics)
        for (step, second), metrics in sorted(lines.items(), key=lambda item: item[0][0])
    ]


def ended_sessions(folder: str | Path) -> list[dict[str, Any]]:
    """The results of the sessions that ended in run folder ``folder``, oldest first (its sessions.jsonl,
    then its result.json; none where it holds no run), read as a tracker of a resumed run opens: the
    resumed session deletes result.json as it starts (keeping it in sessions.jsonl), and their final
    scores (``test_*``) are nowhere else in the folder."""
    if not is_run_folder(folder):
        return []
    return _sessions(read_run(folder))


def _sessions(run: RunFolder) -> list[dict[str, Any]]:
    """The results of ``run``'s ended sessions, oldest first."""
    return [*run.sessions, *([run.result] if run.result else [])]


def resumed_records(
    folder: str | Path, step: int, ended: Sequence[Mapping[str, Any]] | None = None
) -> list[Record]:
    """The lines of run folder ``folder``'s metrics.jsonl up to ``step`` (a resumed run's checkpoint) as
    records, with the final scores of each session ``ended`` there (:func:`ended_sessions`, by default
    read now) that its lines do not hold, as those sessions sent them (:meth:`Tracker.on_final_scores`);
    the last record now, the others as long before as the run's clock says: a session resumed now goes on
    after them (none where ``folder`` holds no run)."""
    if not is_run_folder(folder):
        return []
    run = read_run(folder)
    ended = _sessions(run) if ended is None else ended
    records = _with_final_scores([record for record in run_records(run, 0.0) if record[0] <= step], ended)
    shift = time.time() - max((wall for _, wall, _ in records), default=0.0)
    return [(step, wall + shift, metrics) for step, wall, metrics in records]


def log_findings(diagnosis: Diagnosis, tracker: Tracker, *, step: int = 0) -> None:
    """Send a doctor's ``diagnosis`` (:func:`optimlab.doctor.diagnose`) to ``tracker``'s run as the text
    ``doctor`` (TensorBoard's TEXT tab at ``step``, MLflow's artifact ``doctor.md``): what ``optimlab
    doctor`` prints of it (:func:`optimlab.doctor.findings.summary`) as markdown: its findings ranked, root
    cause first, as a table of severity, finding and fix, then each one's evidence and the notes (the LR
    range test's suggestion and candidates). The run stays open for more; ``tracker.finish()`` ends it
    (an MLflow run is RUNNING until then), as a training's end does.

    >>> import torch
    >>> from optimlab.doctor import diagnose
    >>> from optimlab.integrations.tensorboard import TensorBoardTracker
    >>> x, y = torch.randn(256, 8), torch.randint(0, 2, (256,))
    >>> diagnosis = diagnose(torch.nn.Linear(8, 2), (x, y), torch.nn.functional.cross_entropy)  # doctest: +SKIP
    >>> tracker = TensorBoardTracker("runs/doctor")  # doctest: +SKIP
    >>> log_findings(diagnosis, tracker)  # doctest: +SKIP
    >>> tracker.finish()  # doctest: +SKIP
    """
    from optimlab.doctor.findings import summary

    said = summary(diagnosis)
    lines = [said.heading]
    if said.rows:
        lines += [
            "",
            "| # | severity | finding | fix |",
            "| --- | --- | --- | --- |",
            *("| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in said.rows),
            "",
            "Evidence:",
            "",
            *(f"{i}. {markdown_cell(explanation)}" for i, explanation in said.evidence),
        ]
    lines += [line for note in said.notes for line in ("", markdown_cell(note.strip()))]
    tracker.log_text("doctor", "\n".join(lines) + "\n", step=step)


def log_study(location: str | Path, tracker_name: str, *, folder: str | Path) -> int:
    """Send every finished trial of the studies at ``location`` to a tracker: one run per trial, named
    ``study/key``, with the trial's recipe (or searched fields) as parameters and its curve (one record
    per evaluation) as metrics; in MLflow, each the child of a run of its study, named as the study (tag
    ``mlflow.parentRunId``, as ``mlflow.start_run(nested=True)`` marks a child; itself the child of the
    run active in this process, if any). Sent again (after ``compare --resume``), each trial's run is
    the one it had, holding its curve once, under its study's run of before: TensorBoard's event files
    in ``folder/tensorboard``, MLflow's runs kept in ``folder/mlflow-runs/<run name>/mlflow.json``.
    Returns the number of trials sent."""
    from optimlab.study.run import load_specs, stored_study_names
    from optimlab.study.storage import load_records, open_storage

    storage = open_storage(location, create=False)  # a read: a folder without a journal gets none
    sent = 0
    now = time.time()
    for spec in load_specs(location, reading=True):  # sends what is stored, builds nothing
        records = [
            record for record in load_records(storage, stored_study_names(storage, spec)) if record.finished
        ]
        if not records:
            continue
        with _study_run(spec.name, tracker_name, folder) as parent:
            for record in records:
                params = dict(record.recipe or record.params)
                tracker = _sent_run(
                    tracker_name,
                    folder,
                    f"{record.study}/{record.key}",
                    {**params, "method": record.method, "phase": record.phase, "seed": record.seed},
                    parent=parent,
                )
                curve = record.curve
                metrics = [k for k in curve if k not in ("step", "seconds")]
                sent_records = [
                    (
                        int(step),
                        now + float(curve["seconds"][i]),
                        {k: curve[k][i] for k in metrics if i < len(curve[k]) and curve[k][i] is not None},
                    )
                    for i, step in enumerate(curve.get("step", []))
                ]
                sent_records.sort(key=lambda sent_record: sent_record[0])
                scores = [{"steps": record.steps, "metrics": record.metrics}]
                tracker.send(_with_final_scores(sent_records, scores))
                tracker.finish(failed=record.state != "complete")
                sent += 1
    return sent


def _sent_run(
    tracker_name: str,
    folder: str | Path,
    name: str,
    params: Mapping[str, Any],
    *,
    parent: Tracker | None = None,
) -> Tracker:
    """The tracker of run ``name`` (``/`` as ``-``) of a study sent after the fact from ``folder``: its
    MLflow run kept in ``folder/mlflow-runs/<run name>``, as a training run's, where that can be written;
    the child of ``parent``'s MLflow run (a study's, :func:`_study_run`), in its experiment."""
    run_name = name.replace("/", "-")
    kept = Path(folder, STUDY_MLFLOW_RUNS, run_name)
    if tracker_name == "mlflow":  # each call made new runs of the trials sent before
        with contextlib.suppress(OSError):  # a study that cannot be written: a new run each time
            kept.mkdir(parents=True, exist_ok=True)
    resumable = tracker_name == "mlflow" and can_write_into(kept)  # os.access says yes to root
    tracker = _open(
        tracker_name,
        folder=kept if resumable else folder,
        run_name=run_name,
        params=params,
        background=False,
        resumable=resumable,
        replacing=True,  # the run sent before, holding its curve once
    )
    if parent is not None:  # given, not an active run's: mlflow.start_run(run_id=...) refuses a parent
        tracker._nest_in(parent)  # type: ignore[attr-defined]  # kept in another experiment than the active
    return tracker


@contextlib.contextmanager
def _study_run(name: str, tracker_name: str, folder: str | Path) -> Iterator[Tracker | None]:
    """MLflow's run of study ``name`` (kept as a trial's, a child of the run active in this process, if
    any), the parent of its trials' runs (:func:`_sent_run`) while they are sent; None for TensorBoard,
    whose runs do not nest."""
    if tracker_name != "mlflow":
        yield None
        return
    parent = _sent_run(tracker_name, folder, name, {})
    parent.send([])  # opened: a new run, or the one kept
    try:
        yield parent
    except BaseException:
        parent.finish(failed=True)
        raise
    parent.finish()
