"""Callbacks for :func:`optimlab.train.loop.fit`: metrics log, early stopping, checkpoints, progress."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from optimlab import terminal
from optimlab.atomic import named_after, write_atomically
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.registry import NON_NEGATIVE, POSITIVE_INT, real_number, whole_number
from optimlab.train.loop import Callback, TrainState, evaluates_after
from optimlab.workloads.workload import metric_goal

__all__ = [
    "CHECKPOINT_SECONDS",
    "Checkpointing",
    "EarlyStopping",
    "MetricsLog",
    "ProgressBar",
    "StopOnSignal",
]

# A kill loses at most this much training, on top of the epoch's steps; a save costs a fraction of a
# second for the models optimlab trains in memory.
CHECKPOINT_SECONDS = 300.0


class MetricsLog(Callback):
    """Appends one JSON line per logged step and per evaluation to ``path``.

    Lines are buffered and flushed at evaluations and before checkpoints; on resume the file is cut
    back to the checkpoint's step, so an interrupted run leaves no duplicate or missing line. A run
    started afresh (step 0) refuses a file that holds lines, another run's it would have cut away. Each line
    carries ``seconds``, the run's wall time at its step (:attr:`TrainState.seconds <optimlab.train.loop.
    TrainState>`, summed over resumed segments), so that a report can plot a run by wall time. A run's
    result (result.json) ends on the same clock, at its last line or later by what the last step's
    callbacks took after it (its checkpoint).
    """

    writes_checkpoints = False

    def __init__(self, path: str | Path, *, every: int = 1) -> None:
        every = whole_number(every, "MetricsLog every", POSITIVE_INT)  # 0 raised ZeroDivisionError at step 1
        self.path, self.every = Path(path), every
        self._handle: TextIO | None = None
        self._ahead = 0.0  # how far the kept lines' clock ran ahead of the checkpoint's

    def on_train_start(self, state: TrainState) -> None:
        self._ahead = 0.0
        if not state.step:
            self._check_unwritten()
        elif self.path.exists():  # resuming: keep only what the checkpoint knows about
            kept = _lines_up_to(self.path, state.step)
            write_atomically(self.path, "".join(line + "\n" for line in kept))  # a kill leaves the old whole
            if kept:  # a log by an earlier version ran ahead of the checkpoint: its time must not go back
                # against the checkpoint's clock as a line rounds it: its rounding up (< 5e-5 s) was taken
                # for a lead, and every line of the resumed run was 1e-4 s later than its step's clock
                last = json.loads(kept[-1]).get("seconds") or 0.0
                self._ahead = max(0.0, last - round(state.seconds, 4))
        self._handle = open(self.path, "a")  # noqa: SIM115  (held across callbacks, closed at train end)

    def _check_unwritten(self) -> None:
        """Refuse, for a run started afresh, a log that holds lines: another run's (a first phase logged
        to the same file), which cutting it back to step 0 deleted."""
        try:
            held = self.path.stat().st_size
        except FileNotFoundError:
            return
        except OSError as error:
            raise named_after(error, self.path) from None
        if held:
            raise InvalidValueError(
                "MetricsLog path",
                str(self.path),
                "a new or empty file for a run started at step 0: this one holds another run's lines "
                "(give another path, or remove the file; a run continued with fit(state=...) appends)",
            )

    def on_step_end(self, state: TrainState) -> None:
        if state.skipped:  # no loss to log: its batches held no target the loss scores
            return
        if state.step % self.every == 0 or state.diverged:
            # The line json.dumps writes for this record, formatted directly: a step's line is on the
            # loop's hot path, where json.dumps and the dict around it cost 3.4 us of 23 a step.
            assert self._handle is not None, "MetricsLog used outside fit"
            try:  # not a with block around each write: a try costs nothing until it raises (Python 3.11)
                self._handle.write(
                    f'{{"step": {state.step:d}, "epoch": {state.epoch:d}, "train_loss": {_number(state.train_loss)}, '
                    f'"lr": {_number(state.lr)}, "seconds": {_number(self._seconds(state))}}}\n'
                )
            except OSError as error:  # a full buffer is written out here
                raise named_after(error, self.path) from None

    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None:
        self._write({"step": state.step, "epoch": state.epoch, **metrics, "seconds": self._seconds(state)})
        self.flush()

    def on_train_end(self, state: TrainState) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                handle.close()  # closed even where its last lines cannot be written
            except OSError as error:
                raise named_after(error, self.path) from None

    def on_exception(self, state: TrainState, error: BaseException) -> None:
        # the lines of the steps taken reach the file, which is closed; a full disk that refuses them
        # too is said by ``error`` (it was raised in its place, naming no file)
        with contextlib.suppress(OSError):
            self.on_train_end(state)

    def flush(self, *, sync: bool = False) -> None:
        """Hand the buffered lines to the OS; ``sync`` also puts them on disk (before a checkpoint)."""
        if self._handle is not None:
            try:
                self._handle.flush()
                if sync:
                    os.fsync(self._handle.fileno())
            except OSError as error:
                raise named_after(error, self.path) from None

    def _seconds(self, state: TrainState) -> float:
        return round(state.seconds + self._ahead, 4)

    def _write(self, record: dict[str, Any]) -> None:
        assert self._handle is not None, "MetricsLog used outside fit"
        # NaN and inf are not JSON, and null read as a value missing (a diverged loss as no loss): they
        # go as the strings "nan", "inf" and "-inf", which every JSON reader parses and float() reads back.
        clean = {
            k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
        }
        try:
            self._handle.write(json.dumps(clean) + "\n")
        except OSError as error:
            raise named_after(error, self.path) from None


def _number(value: float) -> str:
    """``value`` as json.dumps writes a float; NaN and inf as ``MetricsLog._write`` writes them: the
    strings ``"nan"``, ``"inf"`` and ``"-inf"``."""
    value = float(value)
    return repr(value) if math.isfinite(value) else f'"{value!r}"'


def _lines_up_to(path: Path, step: int) -> list[str]:
    """The lines of the log at ``path`` up to ``step``. A line cut by a kill can only follow the last
    checkpoint (the log is flushed before each), so reading stops at the first that does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:  # said naming no file: 'a file expected to be text is binary'
        raise OptimlabError(
            f"cannot resume: the metrics log {str(path)!r} is damaged: byte {error.start} is not UTF-8 text; "
            "restore the file, or cut it before that line to resume with the lines before it"
        ) from None
    kept = []
    for line in text.splitlines():
        try:
            record_step = json.loads(line)["step"]
        except (json.JSONDecodeError, TypeError, KeyError):
            break
        if record_step > step:
            break
        kept.append(line)
    return kept


class EarlyStopping(Callback):
    """Stops when ``metric`` has not improved by ``min_delta`` for ``patience`` evaluations; ``mode``
    (``"min"`` or ``"max"``) by default the way its name says is better (``val_loss`` min,
    ``val_accuracy`` max; :func:`~optimlab.workloads.workload.metric_goal`), to be given for any other."""

    writes_checkpoints = False

    def __init__(
        self,
        metric: str = "val_loss",
        *,
        patience: int = 5,
        mode: str | None = None,
        min_delta: float = 0.0,
    ) -> None:
        if mode is None:  # was "min" for every metric: a rising val_accuracy stopped the run
            mode = metric_goal(metric)
            if mode is None:
                raise InvalidValueError(
                    "EarlyStopping mode",
                    None,
                    f"'min' or 'max' for {metric!r}, whose name does not say which way is better",
                )
        if mode not in ("min", "max"):
            raise InvalidValueError("EarlyStopping mode", mode, "'min' or 'max'")
        patience = whole_number(patience, "EarlyStopping patience", POSITIVE_INT)
        min_delta = real_number(min_delta, "EarlyStopping min_delta", NON_NEGATIVE)
        self.metric, self.patience, self.mode, self.min_delta = metric, patience, mode, min_delta
        self.metrics_read = (("EarlyStopping metric", metric),)
        self.best: float | None = None
        self.bad_evaluations = 0

    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None:
        if self.metric not in metrics:  # a KeyError once the first epoch had trained
            given = ", ".join(sorted(metrics)) or "none (its validation data hold no rows)"
            raise InvalidValueError(
                "EarlyStopping metric", self.metric, f"a metric the evaluation gives: {given}"
            )
        value = metrics[self.metric]
        sign = 1.0 if self.mode == "min" else -1.0
        # a NaN is no improvement, nor ever the best: no later value would compare better than it
        if not math.isnan(value) and (self.best is None or sign * (self.best - value) > self.min_delta):
            self.best, self.bad_evaluations = value, 0
            return
        self.bad_evaluations += 1
        self._stop_if_patience_spent(state)

    def on_train_start(self, state: TrainState) -> None:
        self._stop_if_patience_spent(state)  # a run it stopped, resumed: it trains no further epoch

    def _stop_if_patience_spent(self, state: TrainState) -> None:
        if self.bad_evaluations >= self.patience:
            state.stop_reason = (
                f"early stop: {self.metric} has not improved on {self.best:.4g} "
                f"for {self.patience} evaluations"
                if self.best is not None
                else f"early stop: {self.metric} was NaN at each of its first {self.patience} evaluations"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad_evaluations = state["best"], state["bad_evaluations"]


class Checkpointing(Callback):
    """Calls ``save()`` every ``every`` steps (default: once an epoch), whenever ``max_seconds`` have
    passed since the last save, and at the end of training (unless it diverged). In :func:`fit
    <optimlab.train.loop.fit>`, the weights are checked first: an update that left one not finite (a
    finite loss, a NaN gradient) is no checkpoint, and stops the run as diverged."""

    def __init__(
        self,
        save: Callable[[TrainState], None],
        *,
        every: int | None = None,
        max_seconds: float = CHECKPOINT_SECONDS,
        before_save: Sequence[MetricsLog] = (),
    ) -> None:
        if every is not None:
            every = whole_number(every, "Checkpointing every", POSITIVE_INT, also=", or None (once an epoch)")
        if max_seconds != math.inf:  # "300" raised TypeError at the first step; NaN never saved by time
            max_seconds = real_number(
                max_seconds, "Checkpointing max_seconds", NON_NEGATIVE, also=", or math.inf (by steps alone)"
            )
        self.save, self.every, self.max_seconds, self.before_save = save, every, max_seconds, before_save
        self._saved_at, self._saved_step = time.monotonic(), -1
        # set by fit: stops the run as diverged where the weights are not finite
        self.check_weights: Callable[[TrainState], None] | None = None

    def on_train_start(self, state: TrainState) -> None:
        self._saved_at = time.monotonic()

    def on_step_end(self, state: TrainState) -> None:
        # as an evaluation is due: every N steps, else once an epoch, at its end however long its pass (fit's
        # epoch_ended), or by its count (another loop's)
        counted_end = bool(state.steps_per_epoch) and state.step % state.steps_per_epoch == 0
        due = evaluates_after(
            state.step,
            eval_every=self.every,
            epoch_ended=state.epoch_ended or counted_end,
            total_steps=math.inf,
        )
        overdue = time.monotonic() - self._saved_at >= self.max_seconds
        if (due or overdue) and not state.diverged:
            self._save(state)

    def on_train_end(self, state: TrainState) -> None:
        self.save_last(state)

    def save_last(self, state: TrainState) -> None:
        """The end of training's save, unless it diverged or this step is saved already. :func:`fit
        <optimlab.train.loop.fit>` calls it before leaving the training point (schedule-free's), where
        ``on_train_end`` comes after; another loop has ``on_train_end`` call it."""
        if not state.diverged and state.step != self._saved_step:  # the last step's save would repeat it
            self._save(state)

    def _save(self, state: TrainState) -> None:
        if self.check_weights is not None:
            self.check_weights(state)
            if state.diverged:
                return
        for log in self.before_save:  # the log must hold every line up to the checkpoint's step
            log.flush(sync=True)
        self.save(state)
        self._saved_at, self._saved_step = time.monotonic(), state.step


class StopOnSignal(Callback):
    """Turns SIGINT and SIGTERM into a clean stop: the current step finishes, then the loop ends.

    Given to :func:`~optimlab.train.loop.fit` among its ``callbacks``, it installs the handlers (main
    thread only) as training starts and restores the previous ones as it ends; as a context manager
    around ``fit`` (or several), it holds them from entering to leaving, a signal stopping every fit
    left in the block. A signal the process started with ignored stays ignored (a shell's background
    job ``cmd &`` ignores SIGINT, so that a Ctrl-C meant for the foreground job leaves it running). A
    second signal acts as it would without this callback (Ctrl-C twice raises ``KeyboardInterrupt`` at
    once), except that a checkpoint being saved is finished first
    (:func:`~optimlab.train.checkpoint.save_checkpoint`).
    """

    writes_checkpoints = False

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: str | None = None  # the name of the signal that stopped the run
        self._previous: dict[int, Any] = {}
        self._entered = False  # handlers held by a with block, not by a fit

    def __enter__(self) -> StopOnSignal:
        self.received = None  # a signal of an earlier block stopped its own fits, not this block's
        self._install()
        self._entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._entered = False
        self._restore()

    def on_train_start(self, state: TrainState) -> None:
        # given in callbacks= alone, it installed nothing and a Ctrl-C raised mid-step (documented only)
        if not self._entered:
            self.received = None
            self._install()

    def on_train_end(self, state: TrainState) -> None:
        if not self._entered:
            self._restore()

    def on_exception(self, state: TrainState, error: BaseException) -> None:
        self.on_train_end(state)

    def _install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = {
                number: signal.signal(number, self._handle)
                for number in self.SIGNALS
                if signal.getsignal(number) is not signal.SIG_IGN
            }

    def _handle(self, number: int, frame: Any) -> None:
        self.received = signal.Signals(number).name
        self._restore()

    def _restore(self) -> None:
        previous, self._previous = self._previous, {}
        for number, handler in previous.items():
            signal.signal(number, handler)

    def on_step_end(self, state: TrainState) -> None:
        # At the last step the run is trained: it ends as completed, with nothing left to resume.
        # total_steps 0: epochs over a stream whose first pass has not told its length yet
        if (
            self.received is not None
            and state.stop_reason is None
            and not 0 < state.total_steps <= state.step
        ):
            of = state.total_steps or "a total not known yet"
            state.stop_reason = f"interrupted by {self.received} at step {state.step} of {of}"
            state.interrupted = True


WIDE_LOG = 200  # columns of the progress bar's line written to a file or a pipe (a CI log)


class ProgressBar(Callback):
    """A rich progress bar with the latest loss and validation metrics (for the CLI), on stderr: stdout
    holds the results alone (the bar's last frame was the first line of a run's output sent to a file)."""

    writes_checkpoints = False

    def __init__(self, description: str = "training") -> None:
        self.description = description
        self._progress: Any = None
        self._task: Any = None
        self._first_step = 0  # the step it started at: a run refused before its first step shows no bar

    def on_train_start(self, state: TrainState) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = terminal.console(stderr=True)
        if not console.is_terminal:  # its one frame, the last, was cut to 80 columns: '600/… 0:00:…'
            console.width = max(console.width, WIDE_LOG)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            transient=False,
            console=console,
        )
        self._first_step = state.step
        self._task = self._progress.add_task(
            self.description, total=state.total_steps or None, completed=state.step, status=""
        )
        if console.is_terminal:  # a log gets the one frame at the end, once a step was done
            self._progress.start()

    def on_step_end(self, state: TrainState) -> None:
        if not self._progress.live.is_started:
            self._progress.start()
        metrics = " ".join(f"{k} {v:.4g}" for k, v in state.last_metrics.items())
        loss = "no loss (targets ignored)" if state.skipped else f"loss {state.train_loss:.4g}"
        self._progress.update(  # total_steps 0 until a stream's first pass tells its length
            self._task, total=state.total_steps or None, completed=state.step, status=f"{loss} {metrics}"
        )

    def on_train_end(self, state: TrainState) -> None:
        if self._progress is not None and self._progress.live.is_started:  # stop writes a log a newline
            self._progress.stop()

    def on_exception(self, state: TrainState, error: BaseException) -> None:
        if self._progress is not None and state.step == self._first_step:
            # a bar of no step done, left above a refused first batch's one-line error: gone
            self._progress.live.transient = True
        self.on_train_end(state)  # else its thread went on redrawing, the cursor hidden
