"""TensorBoard: a run's metrics as scalars in an event file, its recipe as a text summary and hparams.

Written with the ``tensorboard`` package's protocol buffers (no TensorFlow, no torch SummaryWriter), each
event framed as a TFRecord (a little-endian uint64 length, its masked CRC-32C, the event, the event's masked
CRC-32C: the format TensorBoard reads): ``tensorboard --logdir runs/NAME/tensorboard`` shows the curves, with
steps and wall times as logged. ``pip install 'optimlab[trackers]'``.

Only the protocol buffers are imported (about 25 ms): tensorboard's own record writer and text summary
import its TensorFlow stub, which imports boto3 and fsspec, 0.2-0.6 s of a command's start
(``benchmarks/tracker_cli_overhead.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import re
import socket
import struct
import time
import warnings
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.types_pb2 import DT_FLOAT, DT_STRING
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionStartInfo
from tensorboard.plugins.text.metadata import create_summary_metadata

from optimlab.atomic import blocker, write_atomically
from optimlab.errors import OptimlabError, OptimlabWarning, user_stacklevel
from optimlab.integrations.tracking import (
    Record,
    Tracker,
    ended_sessions,
    markdown_cell,
    plain_values,
    resumed_records,
)
from optimlab.runs_folder import EVENT_NAME_BYTES
from optimlab.train.loop import TrainState

__all__ = ["TensorBoardTracker", "holds_events", "masked_crc32c"]


def _crc32c_table() -> tuple[int, ...]:
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; RFC 3720, appendix B.4) of each byte."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """A TFRecord's checksum: the CRC-32C of ``data``, rotated right by 15 bits plus 0xA282EAD8."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_EVENTS = "events.out.tfevents."


def holds_events(log_dir: Path) -> bool:
    """Whether ``log_dir`` holds event files (a run TensorBoard shows)."""
    return any(log_dir.glob(_EVENTS + "*"))


_TRACKERS = itertools.count(1)  # this process's trackers, each file's own (two may start in one second)


def _event_file_name(seconds: int, tracker: int) -> str:
    """An event file's name as TensorBoard's writer makes it, ``events.out.tfevents.<seconds>.<host>.<pid>``
    (and this process's ``tracker`` number), within :data:`~optimlab.runs_folder.EVENT_NAME_BYTES`: a host
    name too long for the room (a cluster node's 63 letters) is cut, with a hash of the whole kept, so
    hosts that share a prefix keep files apart."""
    head, tail, host = f"{_EVENTS}{seconds:010d}.", f".{os.getpid()}.{tracker}", socket.gethostname()
    room = EVENT_NAME_BYTES - len(head) - len(tail)
    if len(host.encode()) > room:
        digest = hashlib.sha256(host.encode()).hexdigest()[:8]
        kept = host.encode()[: max(room - len(digest) - 1, 0)].decode("ascii", "ignore")
        host = f"{kept}-{digest}" if kept else digest
    return f"{head}{host}{tail}"


def _seconds_after(log_dir: Path) -> int:
    """The time stamp of a new event file in ``log_dir``: now, or later than every file there. TensorBoard
    reads a run's event files in the order of their names; a resumed run's must follow the ones it
    continues, even within the second they were written."""
    stamps = [
        name[len(_EVENTS) :].partition(".")[0] for name in os.listdir(log_dir) if name.startswith(_EVENTS)
    ]
    return max([int(time.time()), *(int(s) + 1 for s in stamps if s.isdigit())])


def _shown(log_dir: Path) -> dict[tuple[str, int], Summary.Value]:
    """What TensorBoard's reader shows of the event files in ``log_dir``: ``(tag, step) -> value``, read
    in the order of the files' names, each session's start dropping what was written from its step on
    (a record cut by a kill ends its file, as it ends the reader's); of the hyperparameters, the first
    written, which no session's start drops (what the HPARAMS tab reads: :data:`_HPARAMS_FILE`)."""
    shown: dict[tuple[str, int], Summary.Value] = {}
    for path in sorted(log_dir.glob(_EVENTS + "*")):
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):  # a record: length, its checksum, the event, its checksum
            (length,) = struct.unpack_from("<Q", data, offset)
            if offset + 16 + length > len(data):
                break
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 16 + length
            if event.session_log.status == SessionLog.START:
                shown = {k: v for k, v in shown.items() if k[1] < event.step or k[0] == _HPARAMS_TAG}
            for value in event.summary.value:
                if value.tag == _HPARAMS_TAG:
                    shown.setdefault((value.tag, 0), value)
                else:
                    shown[value.tag, event.step] = value
    return shown


def _record(event: Event) -> bytes:
    """``event`` framed as a TFRecord: its length, the length's checksum, the event, its checksum."""
    data = event.SerializeToString()
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _text(tag: str, text: str) -> Summary:
    """``text`` (markdown) as TensorBoard's TEXT tab reads it under ``tag``: a scalar string tensor."""
    tensor = TensorProto(dtype=DT_STRING, string_val=[text.encode()])
    metadata = create_summary_metadata(display_name=None, description=None)
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])


# The tag and plugin TensorBoard's HPARAMS tab reads a run's hyperparameters from, as
# tensorboard.plugins.hparams.summary_v2.hparams_pb writes them (its module imports boto3 and fsspec, 0.25 s).
_HPARAMS_TAG, _HPARAMS_PLUGIN = "_hparams_/session_start_info", "hparams"
# The tab reads a run's hyperparameters from the summary metadata of that tag, and TensorBoard's readers
# (plugin_event_accumulator, the Rust data server) keep a tag's first metadata in the order of the files'
# names: a resumed session's own (--steps 20) went unseen behind the first session's (12). A run whose
# recipe changed on resume has its hyperparameters in this file, named to be read first; the first
# session's stay in its own file, and its recipe in the text at step 0. A TensorBoard serving the run
# since before keeps what it read first (its readers hold a tag's metadata): it shows the change restarted.
_HPARAMS_FILE = _EVENTS + "0000000000.hparams"


def _session_start(params: Mapping[str, Any], started: float) -> SessionStartInfo:
    """``params`` as the HPARAMS tab reads them, to filter and sort runs by: numbers as numbers, booleans,
    anything else as its text; a null field (no value) left out. ``started``: the run's start."""
    info = SessionStartInfo(start_time_secs=started)
    for name, value in params.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[name].number_value = value
        elif value is not None:
            info.hparams[name].string_value = str(value)
    return info


def _hparams(info: SessionStartInfo) -> Summary:
    """The summary of a session's start ``info``, as tensorboard.plugins.hparams.summary_v2.hparams_pb
    writes it."""
    content = HParamsPluginData(version=0, session_start_info=info).SerializeToString()
    plugin = SummaryMetadata.PluginData(plugin_name=_HPARAMS_PLUGIN, content=content)
    empty = TensorProto(dtype=DT_FLOAT, tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=0)]))
    return Summary(
        value=[Summary.Value(tag=_HPARAMS_TAG, metadata=SummaryMetadata(plugin_data=plugin), tensor=empty)]
    )


def _started(value: Summary.Value) -> SessionStartInfo:
    """The session's start an hparams summary ``value`` holds."""
    return HParamsPluginData.FromString(value.metadata.plugin_data.content).session_start_info


class TensorBoardTracker(Tracker):
    """Scalars (one tag per metric) in an event file in ``log_dir``; ``params`` as a text table and as the
    run's hyperparameters in TensorBoard's HPARAMS tab (those of its last session).

    ``run_folder`` (a training run's output folder): a run resumed there (``train --resume``) adds what
    its event files lack of the folder's metrics.jsonl up to the checkpoint (the records a killed session
    had not yet written, or a session run without this tracker), so that they hold it step for step; one
    resumed at step 0 (killed before its first checkpoint) shows only the steps it trains again.
    The recipe is a text at step 0; one changed on resume (``--epochs``) is another at the first step the
    resumed session trains, so each step shows the recipe it was trained by.
    """

    kind = "TensorBoard"

    def __init__(
        self,
        log_dir: str | Path,
        *,
        params: Mapping[str, Any] | None = None,
        every: int = 1,
        run_folder: str | Path | None = None,
    ) -> None:
        super().__init__(every=every)
        # Set by open_tracker outside a training run's folder, where a run of log_dir's name may be another's
        # (a script run twice): chosen at the first event (:meth:`_events`), this one is the run its
        # checkpoint names (NAME or NAME-k: load_state_dict) where its training starts from one saved with
        # the tracker, the last run of the name where it starts past step 0 from one saved without it
        # (fit(state=...)), else a run of its own.
        self.apart = False
        self._resumed_run: str | None = None  # the run a checkpoint's tracker logged to (load_state_dict)
        self.run_folder = None if run_folder is None else Path(run_folder)
        self._ended = ended_sessions(run_folder) if run_folder is not None else []  # before a resume's start
        self._params = plain_values(params or {})
        # made at the first event, as the event file is: a start that failed before it (the model raised as
        # it was built) left OUT/tensorboard/NAME, and the corrected command was refused that --out
        self.log_dir, self.path = _makeable(Path(log_dir)), None
        self._file: BinaryIO | None = None
        self._held: list[tuple[str, str, int]] = []  # texts logged before the first event: (name, text, step)
        weakref.finalize(self, _warn_unwritten, self._held, self.log_dir)  # dropped before its run was chosen
        self._recipe: Summary | None = None
        self._earlier = False  # whether earlier sessions of the run wrote here
        self._made_here: list[Path] = []  # the folders its first event made, deepest first
        self._started_at: int | None = None  # the step this session's training started at
        self._wrote = False  # whether it wrote a record or a text (more than its start)

    @property
    def run_name(self) -> str:
        return self.log_dir.name

    @property
    def where(self) -> str:
        return str(self.log_dir)

    def _events(self, step: int = 0) -> BinaryIO:
        """The event file, open. At the first event (a training start at ``step``, a record, a text once the
        run is on or ends) the run's folder is chosen (:attr:`apart`), the file named, and its header, the
        run's first session start, the recipe and hyperparameters written; once closed (a run's end), it
        is opened again to append. A tracker never started nor finished (dropped, its process ended or
        killed before) leaves no file: a later one keeps the name."""
        if self._file is None:
            if self.apart and _run_of_name(self._resumed_run, self.log_dir.name):  # its checkpoint's run
                self.log_dir = self.log_dir.with_name(self._resumed_run)
            elif self.apart:
                self.log_dir = _event_folder(self.log_dir, going_on=step > 0)
            self._made_here = [
                folder for folder in (self.log_dir, *self.log_dir.parents) if not folder.exists()
            ]
            self.log_dir = _made(self.log_dir)
            # The file name TensorBoard's reader expects of an event file. Events are written here, a batch
            # at each evaluation (about 30 us an event, its CRC in pure Python), rather than by tensorboard's
            # writer thread, whose queue and GIL hand-offs cost 4x that (benchmarks/tracker_overhead.py).
            # Unbuffered: each batch is one write of its own, cut off again where the OS refuses it midway.
            self.path = self.log_dir / _event_file_name(_seconds_after(self.log_dir), next(_TRACKERS))
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115  (closed by close())
            self._begin()
        elif self._file.closed:
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115  (closed by close())
        return self._file

    def _begin(self) -> None:
        """The events an event file starts with."""
        shown = _shown(self.log_dir)
        first = not any(path != self.path for path in self.log_dir.glob(_EVENTS + "*"))  # its first session
        self._write_event(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if first:
            # TensorBoard's server (plugin_event_accumulator) takes a run's first session start for its
            # beginning and purges only at later ones: without this one, the steps a resumed session
            # trained again showed twice there (the older EventAccumulator purged at the first).
            self._write_event(
                Event(wall_time=time.time(), step=0, session_log=SessionLog(status=SessionLog.START))
            )
        params = self._params
        table = "| field | value |\n| --- | --- |\n" + "".join(
            f"| {markdown_cell(k)} | {markdown_cell(v)} |\n" for k, v in params.items()
        )
        # The recipe the run shows last; a changed one (a resumed run's --epochs) waits for its first step.
        kept = max(((step, v) for (tag, step), v in shown.items() if tag == "recipe"), default=None)
        if params and (kept is None or list(kept[1].tensor.string_val) != [table.encode()]):  # not twice
            self._recipe = _text("recipe", table)
            if kept is None:
                self._write_recipe(0)
        if params:  # the HPARAMS tab shows the recipe the run goes on with
            held = shown.get((_HPARAMS_TAG, 0))
            info = None if held is None else _started(held)
            start = _session_start(params, time.time() if info is None else info.start_time_secs)
            if info is None and kept is None:  # the run's first session: in its own file
                self._write_event(Event(wall_time=time.time(), step=0, summary=_hparams(start)))
            elif start != info:
                file_version = Event(wall_time=time.time(), file_version="brain.Event:2")
                event = Event(wall_time=time.time(), step=0, summary=_hparams(start))
                write_atomically(self.log_dir / _HPARAMS_FILE, _record(file_version) + _record(event))
        self._earlier = bool(shown)
        self._file.flush()

    def _write_recipe(self, step: int) -> None:
        self._write_event(Event(wall_time=time.time(), step=step, summary=self._recipe))
        self._recipe = None

    def state_dict(self) -> dict[str, Any]:
        """The name of the run it logs to, once chosen, kept in a checkpoint
        (:func:`~optimlab.train.checkpoint.save_checkpoint` given the tracker among its callbacks)."""
        return {} if self.path is None else {"run": self.log_dir.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A tracker :attr:`apart` given a checkpoint's state goes on in the run of the name it keeps, not
        in the last run of its name (another script's, where two ran at once); one of a checkpoint written
        before the name was kept (``{}``) still takes the last."""
        self._resumed_run = state.get("run")

    def on_train_start(self, state: TrainState) -> None:
        super().on_train_start(state)  # a fit from step 0 once the run ended is refused
        self._started_at = state.step
        self.closed = False  # a second fit of the run (trained on in the same process) ends it again
        # a start the store refused (its folder blocked since the tracker opened) stops the tracker, not fit:
        # it raised AttributeError out of fit, given the step where the state was due
        lost = f"every record from step {state.step + 1} on not written"
        self._kept_going(lambda: self._start_session(state), state, lost=lost)

    def _start_session(self, state: TrainState) -> None:
        """The session's start in the event file, with what earlier sessions' files lack."""
        self._events(state.step)  # a resume (fit(state=...)) of the run of its name goes on in it
        records = []
        if state.step > 0 or (self.run_folder is not None and self._earlier):
            # Resumed at its checkpoint: a killed session may have written the steps after it, and lacked
            # steps before it (records not yet written); the run folder's lines up to it are written again
            # from the first one the event files lack. Resumed at step 0 (killed before its first
            # checkpoint), the steps it had written showed twice: TensorBoard's reader drops a run's
            # earlier steps only at a session's start (file_version 2), not at a step seen again.
            if self.run_folder is not None:
                records = resumed_records(self.run_folder, state.step, self._ended)
                shown = _shown(self.log_dir)
                lacking = [
                    i
                    for i, (step, _, metrics) in enumerate(records)
                    if any((k, step) not in shown for k in metrics)
                ]
                records = records[lacking[0] :] if lacking else []
            self.restart(records[0][0] if records else state.step + 1)
        self.write(records)  # and the texts logged before, after the session's start
        if self._recipe is not None:  # changed on resume (--epochs): shown from the first step it trains
            self._write_recipe(state.step + 1)
            self._file.flush()

    def restart(self, step: int) -> None:
        """A session starts at ``step``: TensorBoard's reader drops what the run's earlier sessions wrote
        from that step on, as it does after a TensorFlow restart."""
        file = self._events()
        start = SessionLog(status=SessionLog.START)
        self._write_event(Event(wall_time=time.time(), step=step, session_log=start))
        file.flush()

    def log_text(self, name: str, text: str, *, step: int = 0) -> None:
        """Written at once, also once the run has ended (a doctor's findings after training); by a tracker
        :attr:`apart` before its first event where a run of its name is there already, held until it (its
        run is chosen as training starts: a resumed one's) and written after the session's start, or as it
        finishes; a tracker dropped holding texts warns that they were never written."""
        self._held.append((name, text, step))
        if self._file is not None or not (self.apart and holds_events(self.log_dir)):
            self.write([])
            if self.closed:
                self._file.close()

    def on_exception(self, state: TrainState, error: BaseException) -> None:
        """The run closed (:meth:`Tracker.on_exception`); one that failed before its first step (the loop's
        check of the first batch refused it), having written no record nor text, leaves nothing: its event
        file and the folders it made are removed, as :func:`~optimlab.train.train` removes its own files,
        so the corrected command into the same ``--out`` is not refused as holding other files."""
        super().on_exception(state, error)
        if self.path is not None and not self._wrote and state.step == self._started_at:
            self.path.unlink(missing_ok=True)
            for folder in self._made_here:
                with contextlib.suppress(OSError):  # one holding another's files stays
                    folder.rmdir()
            self.path, self._file = None, None  # a later start begins the run anew

    def _write_event(self, event: Event) -> None:
        self._append(_record(event))

    def _append(self, data: bytes) -> None:
        """Append ``data`` to the event file whole or not at all: where the OS refuses it midway (a full
        disk, a file size limit) the file is cut back to where it ended, so it holds whole batches, up to
        the last step the tracker says it holds (:class:`~.tracking.TrackerStopped`)."""
        end = os.lseek(self._file.fileno(), 0, os.SEEK_END)
        left = memoryview(data)
        try:
            while left:
                left = left[self._file.write(left) :]  # a short write: the rest again, refused if it must be
        except OSError:
            os.ftruncate(self._file.fileno(), end)
            raise

    def write(self, records: list[Record]) -> None:
        """Write the texts held and ``records`` as one batch, seen by readers (TensorBoard itself) as it is
        written."""
        self._events()
        self._wrote = self._wrote or bool(records or self._held)
        events = [
            Event(wall_time=time.time(), step=step, summary=_text(name, text))
            for name, text, step in self._held
        ]
        for step, wall_time, metrics in records:
            values = [
                Summary.Value(tag=name, simple_value=value if value is not None else math.nan)
                for name, value in metrics.items()
            ]
            events.append(Event(wall_time=wall_time, step=step, summary=Summary(value=values)))
        self._append(b"".join(_record(event) for event in events))
        self._held.clear()

    def close(self, *, failed: bool = False, interrupted: bool = False) -> None:
        if self.closed:
            return
        try:
            super().close(failed=failed, interrupted=interrupted)
            self.write([])  # the texts held; a run given nothing still shows its recipe
        finally:
            if self._file is not None:  # None: its first event could not be written
                self._file.close()


def _makeable(log_dir: Path) -> Path:
    """``log_dir``, where it can be made (as a tracker opens, before training): a file in its way, or a
    folder this user cannot write, is named, with the fix."""
    blocked = blocker(log_dir)  # refused as it opens, not at its first event
    if blocked is None:
        return log_dir
    existing = str(blocked.path)
    if not blocked.path.is_dir():  # the bare OSError ('t1/tensorboard/t1': Not a directory) named no fix
        raise _unmade(log_dir, f"{existing!r} is {blocked.what}; move it, or log to another folder")
    # the OS's reason ('Permission denied')
    raise _unmade(log_dir, f"{existing!r} cannot be written ({blocked.reason}); log to another folder")


def _made(log_dir: Path) -> Path:
    """``log_dir``, made where it is not."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _makeable(log_dir)  # a file put in its way since the tracker opened
        raise _unmade(log_dir, error.strerror) from None
    return log_dir


def _unmade(log_dir: Path, why: str) -> OptimlabError:
    return OptimlabError(f"TensorBoard's event folder {str(log_dir)!r} cannot be made: {why}")


def _event_folder(log_dir: Path, *, going_on: bool) -> Path:
    """The run of ``log_dir``'s name a tracker logs to: of ``NAME``, ``NAME-2``, ``NAME-3``, ... beside it,
    the first that holds no event files (a run of its own), with a warning where it is not ``NAME``; or,
    ``going_on`` (a fit from a checkpoint), the last that holds some (the latest run of the name, which
    a checkpoint of a script run again comes from), with a warning where it is not ``NAME``."""
    names = itertools.chain([log_dir.name], (f"{log_dir.name}-{n}" for n in itertools.count(2)))
    held = list(itertools.takewhile(holds_events, (log_dir.with_name(name) for name in names)))
    where = f"TensorBoard run {log_dir.name!r} in {str(log_dir.parent)!r}"
    if going_on and held:
        if len(held) > 1:
            warnings.warn(
                f"{where} has {len(held)} runs ({', '.join(repr(p.name) for p in held)}): this fit from a "
                f"checkpoint goes on in the last, {held[-1].name!r}",
                OptimlabWarning,
                stacklevel=user_stacklevel(),
            )
        return held[-1]
    free = log_dir.with_name(log_dir.name if not held else f"{log_dir.name}-{len(held) + 1}")
    if held:
        warnings.warn(
            f"{where} holds another run already: this run is {free.name!r} (TensorBoard showed the two as "
            f"one, their steps interleaved); a fit from a checkpoint saved with the tracker goes on in its "
            "own run, one saved without it in the last run of the name",
            OptimlabWarning,
            stacklevel=user_stacklevel(),
        )
    return free


def _run_of_name(run: str | None, name: str) -> bool:
    """Whether ``run`` (a checkpoint's) is one of the runs :func:`_event_folder` gives ``name``: ``NAME`` or
    ``NAME-k``. A checkpoint of another run (a fine-tune loading run 'r' under the name 'ft') starts a run
    of its own name, leaving that run's steps as they were."""
    return run is not None and re.fullmatch(rf"{re.escape(name)}(-[0-9]+)?", run) is not None


def _warn_unwritten(held: list[tuple[str, str, int]], log_dir: Path) -> None:
    """Warn of the texts ``held`` for ``log_dir``'s run by a tracker dropped before it chose its run."""
    if held:
        warnings.warn(
            f"TensorBoard texts {', '.join(repr(name) for name, _, _ in held)} for run {log_dir.name!r} in "
            f"{str(log_dir.parent)!r} were never written: the tracker was dropped before its run started; "
            "fit with it, or call its finish()",
            OptimlabWarning,
            stacklevel=1,  # called by the garbage collector or at exit: no user's line to name
        )
