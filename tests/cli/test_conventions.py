"""The command line's conventions: --version, -h, examples one per line, names whole at 80 columns, the
README's commands accepted as written, doctor --fail-on, the one error path, the cached catalog."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import pickle
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer

from optimlab.cli import _catalog, _errors
from optimlab.cli.app import app
from optimlab.errors import InvalidValueError, UnknownNameError

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "catalog-cache"))


def test_version_and_short_help(cli):
    from optimlab import __version__

    assert cli("--version") == (0, f"optimlab {__version__}\n", "")
    code, out, _ = cli("train", "-h")
    assert code == 0 and out.startswith("Usage: optimlab train")
    code, out, _ = cli()
    assert code == 0 and "Commands" in out and "compare" in out


def test_shell_completion_is_offered(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize(
    "verb", ["list", "train", "doctor", "lr-find", "compare", "worker", "bench", "plot-schedule"]
)
def test_each_example_is_printed_on_its_own_line(cli, monkeypatch, verb):
    monkeypatch.setenv("COLUMNS", "80")
    module = {"lr-find": "lr_find_cmd", "plot-schedule": "plot_schedule"}.get(verb, f"{verb}_cmd")
    examples = __import__(f"optimlab.cli.{module}", fromlist=["EXAMPLES"]).EXAMPLES
    _, out, _ = cli(verb, "--help")
    printed = [line.strip() for line in out.splitlines()]
    for example in examples.strip().splitlines()[1:]:
        assert example.strip() in printed, example


@pytest.mark.parametrize(
    "verb", ["list", "train", "doctor", "lr-find", "compare", "worker", "bench", "plot-schedule", "report"]
)
def test_no_option_or_argument_shows_a_python_type_for_its_value(cli, verb):
    """--space <list[str]>, --option <list[str]>: a repeatable option's value is named in the user's words
    (FIELD=RANGE, NAME=VALUE), not by its Python type. A repeatable argument too: report's read
    `PATH <list[str]>`, plot-schedule's `SCHEDULE <list[str]>`; each now reads as the usage line writes it,
    with its values' type as every other argument shows its own (`RECIPE <Path>`)."""
    _, out, _ = cli(verb, "--help")
    usage = out.splitlines()[0].split()
    arguments = out.partition("Arguments:\n")[2].partition("\n\n")[0].splitlines()
    options = [line for line in out.splitlines() if line.lstrip().startswith("--")]
    assert not [line for line in options + arguments if "<list[" in line]
    for line in arguments:  # each named as in the usage line, PATH..., [RECIPE]
        if not line.startswith("    "):  # not a wrapped line of help
            assert {line.split()[0], f"[{line.split()[0]}]"} & set(usage), (line, usage)


@pytest.mark.parametrize("verb", ["train", "compare", "bench"])
def test_resume_names_its_value_folder_as_the_readme_does(cli, verb):
    """The README says `--resume FOLDER` for train, compare and bench; train's help said `--resume <Path>`."""
    _, out, _ = cli(verb, "--help")
    assert [line.split()[:2] for line in out.splitlines() if line.lstrip().startswith("--resume")] == [
        ["--resume", "FOLDER"]
    ]


@pytest.mark.parametrize("verb", ["compare", "bench"])
def test_resume_s_help_names_only_flags_and_verbs_of_its_own_verb(verb):
    """bench's --resume help was compare's: "compare also takes the command that started it ... with
    --storage", a flag bench has not. Truth: the verb's own options, as click holds them."""
    command = typer.main.get_command(app).commands[verb]
    flags = {name for param in command.params for name in param.opts}
    (said,) = [param.help for param in command.params if "--resume" in param.opts]
    assert set(re.findall(r"--[a-z-]+", said)) <= flags, said
    other = {"compare": "bench", "bench": "compare"}[verb]
    assert other not in said


def test_list_at_80_columns_keeps_every_name_whole(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli("list")
    words = set(re.findall(r"[\w.-]+", out))
    assert code == 0
    for row in _catalog.live_rows():
        assert row["name"] in words, row["name"]


def _readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [
        shlex.split(line, comments=True)[1:] for line in joined.splitlines() if line.startswith("optimlab ")
    ]


def test_the_readmes_commands_are_accepted_as_written(tmp_path, monkeypatch):
    """Parsed (every flag and value checked) but not run: the verbs themselves are tested elsewhere."""
    recipe = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)[0]
    (tmp_path / "recipe.yaml").write_text(recipe)
    monkeypatch.chdir(tmp_path)
    group = typer.main.get_command(app)
    parsed: list[dict] = []

    def keep_values(command) -> None:  # every verb records its parsed values instead of running
        for sub in getattr(command, "commands", {}).values():
            keep_values(sub)
        if not hasattr(command, "commands"):
            command.callback = lambda **values: parsed.append(values)

    keep_values(group)
    commands = _readme_commands()
    assert len(commands) >= 8
    for args in commands:  # each folder a --resume continues, as the earlier run left it
        for flag, value in itertools.pairwise(args):
            if flag == "--resume":
                (tmp_path / value).mkdir(parents=True, exist_ok=True)
    for args in commands:
        assert group.main(args=args, prog_name="optimlab", standalone_mode=False) is None, args
    assert len(parsed) == len(commands)


def test_doctor_fail_on_exits_1_when_findings_that_severe_exist(cli):
    diverging = ["doctor", "--dataset", "iris", "--optimizer", "sgd", "--lr", "100", "--steps", "20"]
    code, out, _ = cli(*diverging, "--no-lr-find", "--format", "json")
    assert code == 0 and '"severity": "error"' in out
    assert cli(*diverging, "--no-lr-find", "--fail-on", "error", "--format", "json")[0] == 1
    healthy = ["doctor", "--dataset", "iris", "--scaling", "standardize", "--steps", "20", "--no-lr-find"]
    code, out, _ = cli(*healthy, "--fail-on", "error", "--format", "json")
    assert code == 0 and '"severity": "error"' not in out


def test_doctor_fail_on_wins_over_a_page_the_disk_refuses_which_is_still_said(cli, tmp_path, monkeypatch):
    """Both hold: findings --fail-on asked about, and --html refused (ENOSPC, as optimlab.atomic raises it):
    exit 1, --fail-on's verdict, and the line naming the page and the OS's reason all the same."""
    import errno
    import os

    import optimlab.doctor.report

    def full_disk(_, path, **__):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(optimlab.doctor.report, "write_html", full_disk)
    page = tmp_path / "page.html"
    diverging = ["doctor", "--dataset", "iris", "--optimizer", "sgd", "--lr", "100", "--steps", "20"]
    code, out, err = cli(
        *diverging, "--no-lr-find", "--no-progress", "--fail-on", "error", "--html", str(page)
    )
    assert (code, err) == (
        1,
        f"error: cannot write --html '{page}': No space left on device; the results printed are whole\n",
    )
    assert "Evidence:" in out and not page.exists()


@pytest.mark.parametrize(
    "error, expected",
    [
        (InvalidValueError("--lr", float("inf"), "a number in (0, inf)"), "invalid value inf for --lr"),
        (PermissionError(13, "Permission denied", "/root/x"), "'/root/x': Permission denied"),
        (FileNotFoundError(2, "No such file or directory", "data.csv"), "'data.csv': No such file"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "binary"),
        (pickle.UnpicklingError("invalid load key, 'x'."), "not one"),
        (EOFError("Ran out of input"), "truncated"),
        (UnknownNameError("optimizer", "adam[beta]", ["adam"]), "'adam[beta]'"),
    ],
)
def test_every_expected_failure_is_one_plain_line_with_exit_2(capsys, monkeypatch, error, expected):
    monkeypatch.delenv(_errors.DEBUG_VARIABLE, raising=False)
    assert _errors.report(error) == _errors.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err


def test_a_bug_keeps_its_traceback_and_the_debug_variable_shows_every_one(monkeypatch):
    with pytest.raises(ZeroDivisionError):
        _errors.report(ZeroDivisionError("a bug"))
    monkeypatch.setenv(_errors.DEBUG_VARIABLE, "1")
    with pytest.raises(InvalidValueError):
        _errors.report(InvalidValueError("--lr", -1, "a number in (0, inf)"))


def test_the_cached_catalog_is_the_registries(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    live = _catalog.live_rows()
    assert _catalog.rows() == live  # built
    assert list(tmp_path.glob("optimlab/catalog-*.json"))
    assert _catalog.rows() == live  # read back
    stale = tmp_path / "optimlab" / "catalog-0000000000000000.json"
    stale.write_text("[]")
    assert _catalog.rows() == live  # another tree's catalog is never read


def test_a_name_is_checked_against_the_catalog_naming_the_flag():
    with pytest.raises(UnknownNameError, match=r"--optimizer.*Did you mean 'adam'"):
        _catalog.check_name("optimizer", "adamm", "--optimizer")
    _catalog.check_name("optimizer", "Adam", "--optimizer")  # names normalised as the registry does
    _catalog.check_name("init", "he", "--init")  # aliases accepted


def test_starting_the_cli_loads_no_heavy_library():
    import subprocess
    import sys

    probe = "import sys; import optimlab.cli.app; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    for heavy in ("torch", "optuna", "matplotlib", "sklearn", "pydantic", "rich"):
        assert f"'{heavy}'" not in loaded, heavy


def test_a_study_whose_every_trial_failed_says_why_and_exits_1(capsys):
    from types import SimpleNamespace

    from optimlab.cli._output import Output
    from optimlab.cli._progress import ALL_FAILED, exit_if_all_failed

    def study(*states, phase="tune"):
        records = [
            SimpleNamespace(state=s, phase=phase, message="data file is garbage" if s == "fail" else None)
            for s in states
        ]
        return SimpleNamespace(spec=SimpleNamespace(name="w"), records=records)

    exit_if_all_failed(Output(), [study("fail", "complete"), study("pruned", "fail")])
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit) as stopped:
        exit_if_all_failed(Output(), [study("complete"), study("fail", "fail")])
    assert stopped.value.code == ALL_FAILED
    assert (
        capsys.readouterr().err == "error: every trial of study 'w' failed; the first: data file is garbage\n"
    )


def test_a_study_whose_every_seed_rerun_failed_says_why_and_exits_1(capsys):
    """Tuning completed, then every method's seed reruns failed (the batched backend's stack of seeds
    whose splits differ in size: 'stack expects each tensor to be equal size'): every leaderboard row
    read 'no result', and compare exited 0 with nothing on stderr. The comparison has no result: said,
    exit 1. One method's reruns failing beside another's that completed is a result (exit 0)."""
    from types import SimpleNamespace

    from optimlab.cli._output import Output
    from optimlab.cli._progress import ALL_FAILED, exit_if_all_failed

    def record(state, phase):
        return SimpleNamespace(state=state, phase=phase, message="stacked" if state == "fail" else None)

    def study(*records):
        return SimpleNamespace(spec=SimpleNamespace(name="w"), records=list(records))

    some = study(record("complete", "tune"), record("fail", "seeds"), record("complete", "seeds"))
    exit_if_all_failed(Output(), [some, study(record("complete", "tune"))])
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit) as stopped:
        exit_if_all_failed(
            Output(), [study(record("complete", "tune"), record("fail", "seeds"), record("fail", "seeds"))]
        )
    assert stopped.value.code == ALL_FAILED
    assert capsys.readouterr().err == "error: every seed rerun of study 'w' failed; the first: stacked\n"


def test_bench_offers_every_suite_and_only_those():
    from optimlab.bench import SUITES
    from optimlab.cli.bench_cmd import SUITE_NAMES

    assert set(SUITE_NAMES) == set(SUITES)


def test_a_repaired_checkpoint_is_one_warning_line_and_the_run_goes_on(tmp_path, cli, forked_parents):
    """A damaged latest checkpoint gives way to the previous one: said on one line, as errors are."""
    out = tmp_path / "run"
    # the run to damage trained here: only the resume's own stderr is read, from its own (forked) process
    assert cli("train", "--dataset", "iris", "--epochs", "2", "--out", str(out), "--no-progress")[0] == 0
    latest = out / "checkpoint.pt"
    raw = bytearray(latest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped byte inside the tensors
    latest.write_bytes(bytes(raw))
    resume = ["train", "--resume", str(out), "--epochs", "3", "--no-progress"]
    code, _, err = forked_parents().run(resume, Path.cwd(), dict(os.environ), tmp_path, 300)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "previous checkpoint" in lines[0], lines


def test_the_doctor_says_which_phase_runs_once_a_phase_off_a_terminal(cli):
    """Off a terminal (a log), each phase is one line on stderr with its length; stdout keeps the JSON."""
    code, out, err = cli("doctor", "--dataset", "iris", "--steps", "20", "--format", "json")
    assert code == 0 and json.loads(out)["lr_range"]["suggestion"] is not None
    lines = err.splitlines()
    checks = [line for line in lines if ": lr check: " in line]
    assert lines[:2] == ["examining mlp on iris", "examining mlp on iris: LR range test (100 steps)"]
    assert lines[-1] == "examining mlp on iris: watching the run (20 steps)"
    # iris: 30 held-out rows, so 4 cross-fitted checks; each trains over the recipe's run, 30 steps
    assert checks == [
        f"examining mlp on iris: lr check: 18 candidates at once, check {k} of 4 (30 steps)"
        for k in (1, 2, 3, 4)
    ]
    assert len(lines) == 7


def _terminate_this_process(*args: object, **kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_ends_a_verb_as_ctrl_c_does(cli, monkeypatch):
    """SIGTERM (kill, a scheduler) was Python's default: the process gone at once, no line, no code 130."""
    import optimlab.doctor

    def unhandled(number: int, frame: object) -> None:  # not the default, which would end pytest too
        raise AssertionError("SIGTERM reached the test's handler: main handled it not")

    before = signal.signal(signal.SIGTERM, unhandled)
    try:
        monkeypatch.setattr(optimlab.doctor, "diagnose_recipe", _terminate_this_process)
        code, out, err = cli("doctor", "--dataset", "iris", "--no-lr-find")
        assert (code, out, err.splitlines()[-1]) == (_errors.INTERRUPTED, "", "interrupted")
        assert signal.getsignal(signal.SIGTERM) is unhandled  # main leaves the handler as it found it
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_stopped_run_says_how_to_resume_on_stderr(cli, monkeypatch, tmp_path):
    """The resume command goes where compare's and bench's go, stderr: it was on stdout, so a run whose
    output went to a file stopped without a word on the terminal."""
    import optimlab.train
    from optimlab.train.loop import Callback

    class StopAtFirstStep(Callback):
        def __init__(self, *args: object) -> None:
            pass

        def on_step_end(self, state: object) -> None:
            _terminate_this_process()

    monkeypatch.setattr(optimlab.train, "ProgressBar", StopAtFirstStep)
    run = tmp_path / "run"
    code, out, err = cli("train", "--dataset", "iris", "--steps", "50", "--out", str(run))
    assert code == _errors.INTERRUPTED
    assert err.strip().endswith(f"checkpoint saved. Resume with: optimlab train --resume {run}")
    assert "Resume with" not in out and out.startswith("interrupted after 1 step in")


def test_a_signal_after_the_last_step_still_prints_the_document_and_the_resume(cli, monkeypatch, tmp_path):
    """A SIGTERM after training (its final writes, the --html page) escaped the run's own handler: exit
    130 with stdout empty under --format json and stderr only 'interrupted', no word of the kept run."""
    import optimlab.report.run_page

    flags = ("--dataset", "iris", "--steps", "20", "--format", "json", "--no-progress")
    code, whole, _ = cli("train", *flags, "--out", str(tmp_path / "whole"))
    assert code == 0
    written = optimlab.report.run_page.write_run_report
    monkeypatch.setattr(optimlab.report.run_page, "write_run_report", _terminate_this_process)
    run = tmp_path / "run"
    code, out, err = cli("train", *flags, "--html", "--out", str(run))
    again = f"optimlab train --resume {run} --html"
    assert code == _errors.INTERRUPTED
    assert json.loads(out) == {"status": "interrupted", "resume": again}
    assert err.splitlines()[-1] == f"interrupted: the run is kept; continue with `{again}`"
    monkeypatch.setattr(optimlab.report.run_page, "write_run_report", written)
    code, out, _ = cli(*shlex.split(again)[1:], "--format", "json")
    assert code == 0 and (run / "report.html").is_file()
    resumed = json.loads(out)
    assert (resumed["status"], resumed["steps"], resumed["metrics"]) == (
        "completed",
        20,
        json.loads(whole)["metrics"],
    )


def test_a_second_signal_while_the_verb_reports_its_stop_is_ignored(cli, monkeypatch, tmp_path):
    """Ctrl-C pressed twice: the second, while the verb printed what it keeps, raised KeyboardInterrupt
    there (a traceback at exit, or stdout empty and stderr only 'interrupted'); it is ignored now, and
    main hands the handlers back as it found them."""
    import optimlab.report.run_page
    from optimlab.cli._output import Output

    printed = Output.result

    def printed_after_a_second_signal(self: Output, *args: Any) -> None:
        _terminate_this_process()
        os.kill(os.getpid(), signal.SIGINT)
        printed(self, *args)

    monkeypatch.setattr(optimlab.report.run_page, "write_run_report", _terminate_this_process)
    monkeypatch.setattr(Output, "result", printed_after_a_second_signal)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    run = tmp_path / "run"
    code, out, err = cli(
        "train", "--dataset", "iris", "--steps", "5", "--html", "--out", str(run), "--format", "json"
    )
    again = f"optimlab train --resume {run} --html"
    assert code == _errors.INTERRUPTED
    assert json.loads(out) == {"status": "interrupted", "resume": again}
    assert err.splitlines()[-1] == f"interrupted: the run is kept; continue with `{again}`"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_signal_during_the_interpreters_exit_ends_with_the_verbs_code_and_no_traceback(tmp_path):
    """A Ctrl-C once a verb had succeeded, while the interpreter's exit handlers ran (torch's), printed
    'Exception ignored in atexit callback' and a KeyboardInterrupt traceback under the whole output."""
    script = (
        "import atexit, os, signal, sys\n"
        "atexit.register(os.kill, os.getpid(), signal.SIGINT)  # runs last: after main's own\n"
        "sys.argv = ['optimlab', 'list', 'optimizer']\n"
        "from optimlab.cli.app import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert "adam" in done.stdout


@pytest.mark.parametrize(
    "verb, reading, flags, methods",
    [
        (
            "bench",
            "_print_scores",
            ("--workloads", "digits_mlp", "--optimizers", "sgd", "--seeds", "1", "--budget", "1"),
            lambda document: [row["method"] for row in document["workloads"]],
        ),
        (
            "compare",
            "_study_document",
            ("--dataset", "digits", "--epochs", "1", "--optimizers", "sgd", "--seeds", "1", "--budget", "1"),
            lambda document: [row["method"] for row in document["studies"][0]["leaderboard"]],
        ),
    ],
)
def test_a_study_stopped_as_its_results_are_read_says_how_to_resume(
    cli, monkeypatch, tmp_path, verb, reading, flags, methods
):
    """A signal after bench's or compare's report was written, as its scores or leaderboards were read,
    ended it with stdout empty under --format json and stderr only 'interrupted'; resuming then prints the
    whole study."""
    import importlib

    module = importlib.import_module(f"optimlab.cli.{verb}_cmd")
    read = getattr(module, reading)
    monkeypatch.setattr(module, reading, _terminate_this_process)
    folder = tmp_path / "study"
    code, out, err = cli(verb, *flags, "--out", str(folder), "--format", "json", "--no-progress")
    again, shows = f"optimlab {verb} --resume {folder}", f"optimlab report {folder}"
    assert code == _errors.INTERRUPTED
    assert json.loads(out) == {"status": "interrupted", "resume": again, "report": shows}
    kept = f"the finished trials are kept; `{shows}` shows them so far"
    assert err.splitlines()[-1] == f"interrupted: {kept}; continue with `{again}`"
    code, _, err = cli(*shlex.split(shows)[1:], "--out", str(tmp_path / "so-far.html"))
    assert code == 0 and (tmp_path / "so-far.html").is_file(), err  # the command it gave works
    monkeypatch.setattr(module, reading, read)
    code, out, _ = cli(*shlex.split(again)[1:], "--format", "json", "--no-progress")
    assert code == 0 and methods(json.loads(out)) == ["sgd"]


def test_a_stopped_comparison_still_prints_its_one_json_document(cli, monkeypatch, tmp_path):
    """compare --format json stopped by Ctrl-C left stdout empty, which no JSON reader takes; train's
    stopped run prints its document with its status."""
    import optimlab.study.compare

    spec = SimpleNamespace(
        name="digits_mlp",
        methods=["sgd"],
        seeds=1,
        budget=1,
        protocol="grid",
        tune_plan=lambda method: [{}],
        space_for=lambda method: SimpleNamespace(dimensions=[], fields=[]),
    )

    def stopped(values: object, *, on_start: Any, out: Path, **_: object) -> None:
        on_start([spec], str(out), out)  # the study is stored: the comparison can be resumed
        raise KeyboardInterrupt

    monkeypatch.setattr(optimlab.study.compare, "compare", stopped)
    folder = tmp_path / "study"
    code, out, err = cli("compare", "--optimizers", "sgd", "--out", str(folder), "--format", "json")
    again, shows = f"optimlab compare --resume {folder}", f"optimlab report {folder}"
    assert code == _errors.INTERRUPTED
    assert json.loads(out) == {"status": "interrupted", "resume": again, "report": shows}
    kept = f"the finished trials are kept; `{shows}` shows them so far"
    assert err.splitlines()[-1] == f"interrupted: {kept}; continue with `{again}`"


@pytest.mark.parametrize("stored", [True, False], ids=["a-study-stored", "nothing-stored"])
def test_a_compare_stopped_before_it_starts_says_how_to_continue_what_it_stored(
    cli, monkeypatch, tmp_path, stored
):
    """Ctrl-C as compare stored its studies, before its first trial, printed only 'interrupted' though the
    folder was kept and `optimlab compare --resume FOLDER` continued it. Truth: the study stored there
    by compare's own open_studies, stopped right after it (or right before: nothing to continue). The
    storage is read once for both commands said (it was read for each)."""
    import optimlab.study.compare as comparing

    def stopping(spec: Any, location: Any, **options: Any) -> None:
        if stored:
            opening(spec, location, **options)
        raise KeyboardInterrupt

    def counted(location: Any) -> list[dict[str, Any]]:
        read.append(location)
        return reading(location)

    opening, reading, read = comparing.open_studies, comparing.stored_settings, []
    monkeypatch.setattr(comparing, "check_trains", lambda spec: None)  # not what is tested
    monkeypatch.setattr(comparing, "open_studies", stopping)
    monkeypatch.setattr(comparing, "stored_settings", counted)
    folder = tmp_path / "study"
    code, _, err = cli("compare", "--optimizers", "sgd", "--epochs", "1", "--out", str(folder))
    assert code == _errors.INTERRUPTED and read == [str(folder)]
    if stored:
        again, shows = f"optimlab compare --resume {folder}", f"optimlab report {folder}"
        kept = f"the finished trials are kept; `{shows}` shows them so far"
        assert err.splitlines()[-1] == f"interrupted: {kept}; continue with `{again}`"
    else:
        assert err.splitlines()[-1] == "interrupted"


def test_a_stopped_gallery_prints_the_experiments_it_finished_as_json(cli, monkeypatch, tmp_path):
    """gallery run all --format json stopped by Ctrl-C left stdout empty, though its finished pages are kept."""
    import optimlab.gallery

    outcome = SimpleNamespace(name="he_init", verdict=SimpleNamespace(label="confirmed"), seconds=2.0)

    def stopped(*, on_done: Any, out: Path, **_: object) -> None:
        on_done(outcome, out / "he_init.html")
        raise KeyboardInterrupt

    monkeypatch.setattr(optimlab.gallery, "run_gallery", stopped)
    code, out, _ = cli("gallery", "run", "all", "--size", "tiny", "--out", str(tmp_path), "--format", "json")
    page = {"name": "he_init", "verdict": "confirmed", "seconds": 2.0, "page": str(tmp_path / "he_init.html")}
    again = f"optimlab gallery run all --size tiny --out {tmp_path} --resume"
    assert code == _errors.INTERRUPTED
    assert json.loads(out) == {"experiments": [page], "status": "interrupted", "resume": again}


@pytest.mark.parametrize("verb", ["train", "doctor", "lr-find", "compare", "worker", "bench", "gallery run"])
def test_every_verb_that_works_for_long_takes_no_progress(cli, verb):
    """--no-progress, which train, compare and bench took, was 'No such option' in the others."""
    _, out, _ = cli(*verb.split(), "--help")
    assert "--progress / --no-progress" in out


def test_no_progress_leaves_stderr_empty(cli):
    code, out, err = cli("doctor", "--dataset", "iris", "--no-lr-find", "--steps", "3", "--no-progress")
    assert (code, err) == (0, "") and "3 steps" in out


DIVERGING = [
    "train",
    "--dataset",
    "iris",
    "--optimizer",
    "sgd",
    "--lr",
    "1e6",
    "--steps",
    "9",
    "--out",
    "run",
]


def _read_by_nobody(args: list[str], cwd: Path, stderr: int = subprocess.PIPE) -> tuple[int, str]:
    """The command with its stdout read by nobody (``| head -0``): its exit code and stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "optimlab.cli.app", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd, env=env) as verb:
        verb.stdout.close()  # the reader gone before the verb writes
        err = verb.stderr.read().decode() if verb.stderr else ""
    return verb.returncode, err


@pytest.mark.parametrize(
    "args, code",
    [
        (["list"], 0),  # rich's table
        (["list", "optimizer", "--format", "json"], 0),  # print
        (["train", "-h"], 0),  # click's help
        (["--version"], 0),
        (["bogus"], 2),  # the one error line, on stderr
        ([*DIVERGING, "--no-progress"], 3),  # the verb's own code, not 1 for every verb cut short
    ],
)
def test_a_reader_that_leaves_early_changes_no_exit_code_and_prints_nothing(
    tmp_path, args, code, forked_parents
):
    """`optimlab list | head -1`: rich and click turned the BrokenPipeError into exit 1, and Python's exit
    printed 'Exception ignored ... BrokenPipeError' (exit 120). The verb now ends as it would have. Each
    runs in a child forked by forked_parents() (its exit flushes stdout as the interpreter's does); the
    test below runs a real interpreter."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done, _, err = forked_parents().run(args, tmp_path, env, tmp_path, 300, unread=(1,))
    assert done == code, err
    assert "Traceback" not in err and "Exception ignored" not in err and err.count("\n") <= 1, err


def test_a_reader_of_both_streams_that_leaves_early_changes_no_exit_code(tmp_path):
    """``2>&1 | head -1``: the progress bar and the error line go nowhere, the code stays the run's."""
    assert _read_by_nobody(DIVERGING, tmp_path, stderr=subprocess.STDOUT) == (3, "")


RUNS_TORCH = {  # every verb that trains in its own process, as a short run
    "train": ["--dataset", "iris", "--steps", "2", "--no-progress", "--out", "{tmp}/run"],
    "doctor": ["--dataset", "iris", "--steps", "3", "--no-lr-find", "--no-progress"],
    "lr-find": ["--dataset", "iris", "--sweep-steps", "10", "--check-steps", "5", "--no-progress"],
    "compare": None,
    "bench": None,
    "worker": None,
}


def test_every_verb_that_trains_takes_threads_declared_once(cli):
    """--threads was compare's, bench's and worker's (the worker's own declaration, its own help); train,
    doctor and lr-find, which train too, had none: 'No such option'. One declaration, its default said
    as each verb sets it: a study's trials (and a worker's) on 1, the others on torch's own (train's help
    spoke of --backend batched, a flag it has none of)."""
    for verb in RUNS_TORCH:
        help_ = _option_help(cli(verb, "-h")[1], "--threads")
        assert ("[default: 1 a trial" in help_) == (verb in ("compare", "bench", "worker")), verb
        assert "--backend" not in help_
    for verb in RUNS_TORCH:
        code, out, err = cli(verb, "--threads", "0")
        assert (code, out) == (2, "") and "Invalid value for '--threads': '0' is not accepted" in err, verb


@pytest.mark.parametrize("verb", [verb for verb, run in RUNS_TORCH.items() if run])
def test_train_doctor_and_lr_find_run_on_the_threads_given(cli, tmp_path, verb):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        args = [arg.format(tmp=tmp_path) for arg in RUNS_TORCH[verb]]
        code, _, err = cli(verb, *args, "--threads", "1", "--format", "json")
        assert (code, torch.get_num_threads()) == (0, 1), err
    finally:
        torch.set_num_threads(before)


def test_a_signal_as_the_json_document_is_written_leaves_it_whole(cli, monkeypatch):
    """A SIGTERM (or Ctrl-C) while the document went out through a pipe to a slow reader cut it: half a
    document on stdout, which jq and json.load refuse. The signal now waits for the document's end."""
    whole = cli("list", "optimizer", "--format", "json")[1]  # the document, uninterrupted
    written = sys.stdout.write

    def write_in_two(text: str) -> int:
        if len(text) < 2:
            return written(text)
        written(text[: len(text) // 2])
        _terminate_this_process()
        return written(text[len(text) // 2 :])

    monkeypatch.setattr(sys.stdout, "write", write_in_two)
    code, out, err = cli("list", "optimizer", "--format", "json")
    assert (code, err) == (_errors.INTERRUPTED, "interrupted\n")
    assert json.loads(out) == json.loads(whole) and len(json.loads(out)["optimizer"]) > 10


def _leaf_verbs(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every verb as typed (``("gallery", "run")``), groups included where they run on their own."""
    found = [path] if path else []
    for name, sub in getattr(command, "commands", {}).items():
        found += _leaf_verbs(sub, (*path, name))
    return found


@pytest.mark.parametrize("verb", _leaf_verbs(typer.main.get_command(app)), ids=" ".join)
def test_every_usage_line_names_its_arguments_in_capitals_once(cli, verb):
    """``optimlab gallery run [OPTIONS] {name}``, ``report {paths}...``, ``plot-schedule {SCHEDULE...}...``:
    the usage line spoke in the function's parameter names, or said '...' twice."""
    code, out, _ = cli(*verb, "-h")
    usage = out.splitlines()[0]
    arguments = re.findall(r"[\[{]([^\]}]+)[\]}]", usage.partition("[OPTIONS]")[2])
    assert code == 0 and all(a.isupper() and "..." not in a for a in arguments), usage


@pytest.mark.parametrize("group", [(), ("gallery",)], ids=["optimlab", "gallery"])
def test_each_verb_is_summed_up_whole_in_the_list_of_commands(cli, monkeypatch, group):
    """`optimlab -h` at 80 columns cut most summaries short: 'Diagnose a training setup:
    vanishing/exploding...', 'List techniques by category: name, aliases, summary,...'."""
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = cli(*group, "-h")
    commands = out.partition("Commands:\n")[2].split("\n\n")[0].splitlines()
    assert commands and not [line for line in commands if line.endswith("...")], commands


def test_the_help_lists_every_exit_status_a_verb_uses(cli):
    """Only --fail-on's 1 was written down (README); train's 3 for a diverged run, and 130, were not."""
    from optimlab.cli._progress import ALL_FAILED
    from optimlab.cli.doctor_cmd import FINDINGS_FOUND
    from optimlab.cli.train_cmd import DIVERGED, TRACKER_FAILED

    _, out, _ = cli("-h")
    listed = re.findall(r"^\s+(\d+)\s+\S", out.partition("Exit status")[2], flags=re.M)
    used = {0, FINDINGS_FOUND, ALL_FAILED, _errors.USAGE_ERROR, DIVERGED, TRACKER_FAILED}
    used |= {_errors.FILE_NOT_WRITTEN, _errors.INTERRUPTED}
    assert sorted(map(int, listed)) == sorted(used)


def _verb_functions(group: typer.Typer) -> list[Any]:
    """The function of every verb and group that ``group`` registers, as written."""
    found = [info.callback for info in group.registered_commands]
    found += [group.registered_callback.callback] if group.registered_callback else []
    for sub in group.registered_groups:
        found += _verb_functions(sub.typer_instance)
    return found


@pytest.mark.parametrize("function", _verb_functions(app), ids=lambda function: function.__name__)
def test_every_option_of_a_few_values_shows_them(function):
    """``--protocol <str>``, ``--backend <str>``, ``--precision <str>``: the values an option takes, beside
    it in the help, as ``--format human|json`` showed them."""
    from typing import get_type_hints

    for hint in get_type_hints(function, include_extras=True).values():
        for info in getattr(hint, "__metadata__", ()):
            accepted = getattr(info.parser, "accepted", None)
            if accepted is not None:
                assert info.metavar == "|".join(accepted), info.default


@pytest.mark.parametrize(
    "verb, shown",
    [
        (["train", "--dataset", "iris", "--steps", "3", "--out", "{tmp}/run"], "mlp on iris"),
        (["compare", "--dataset", "iris", "--epochs", "1", *["--optimizers", "sgd", "--budget", "1"]], "sgd"),
    ],
)
def test_json_on_stdout_keeps_the_progress_on_stderr(cli, tmp_path, verb, shown):
    """train, compare and bench with --format json showed no progress at all (doctor, lr-find, worker and
    gallery did, on stderr): an hour's comparison said nothing till its end, --progress given or not."""
    args = [arg.format(tmp=tmp_path) for arg in verb]
    if verb[0] == "compare":
        args += ["--seeds", "1", "--out", str(tmp_path / "study")]
    code, out, err = cli(*args, "--format", "json")
    assert code == 0 and json.loads(out) and shown in err, err
    if verb[0] == "compare":  # its plan, as it starts
        assert (  # a budget of 1 over the lr's range: nothing tuned, as the page says
            "mlp-on-iris: 1 tuning trial a method (nothing tuned: each method ran the middle of its range), "
            "then its best on 1 fresh seed\n" in err
        )
    code, out, err = cli(*args[:-1], str(tmp_path / "again"), "--format", "json", "--no-progress")
    assert (code, err) == (0, "") and json.loads(out)


def test_a_resumed_run_refusing_a_change_names_the_flags_that_may_change(cli, tmp_path):
    """It named recipe fields the command line never shows: 'Only training.epochs, training.steps,
    training.checkpoint_every may change on resume'."""
    run = str(tmp_path / "run")
    assert cli("train", "--dataset", "iris", "--steps", "2", "--no-progress", "--out", run)[0] == 0
    code, _, err = cli("train", "--resume", run, "--lr", "0.5")
    assert code == 2 and "--lr" in err and "--epochs, --steps, --checkpoint-every may change" in err, err
    assert "training." not in err


def test_help_as_a_verb_shows_what_minus_h_shows(cli):
    """`optimlab help train`, as git, gh, uv and cargo take it, was 'No such command'."""
    assert cli("help") == cli("-h")
    assert cli("help", "train") == cli("train", "-h")
    assert cli("help", "gallery", "run") == cli("gallery", "run", "-h")
    code, out, err = cli("help", "trian")
    assert (code, out) == (2, "") and "Did you mean 'train'?" in err


@pytest.mark.parametrize(
    ("words", "under"), [(("train", "doctor"), "train"), (("gallery", "run", "run"), "gallery run")]
)
def test_help_of_a_verb_followed_by_more_names_is_refused_in_one_line(cli, words, under):
    """`optimlab help train doctor` printed train's help and dropped doctor without a word (train read it
    as its RECIPE). Now refused naming what was typed and the verb that has none under it, exit 2, stdout
    empty; `help gallery run` (a group and its verb) still shows what -h shows."""
    code, out, err = cli("help", *words)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert f"'{' '.join(words)}' for VERB" in err and f"'{under}' has none under it" in err
    assert cli("help", *words[:-1]) == cli(*words[:-1], "-h")


@pytest.mark.parametrize(
    "category, pattern, names",
    [
        ("optimizer", "ADAM*", {"adam", "adamw"}),  # any case, as every name is read
        ("init", "glorot*", {"xavier_uniform", "xavier_normal"}),  # an alias finds its entry
        ("schedule", "one-cycle", {"one_cycle"}),  # a dash for an underscore
    ],
)
def test_list_filters_names_as_they_are_read_everywhere(cli, category, pattern, names):
    """'no init name matches glorot*', though --init glorot is accepted and listed as xavier_normal's alias."""
    code, out, _ = cli("list", category, "--filter", pattern, "--format", "json")
    assert code == 0 and names <= {row["name"] for row in json.loads(out)[category]}


def _option_help(help_: str, option: str) -> str:
    """The help ``option`` (its first flag) has in a verb's -h output, its lines joined; empty if none."""
    records, record = [], []
    for line in help_.splitlines():
        if re.match(r"  -", line) or not line.startswith("   "):  # an option's first line, or no option's
            records.append(" ".join(record))
            record = []
        record += line.split()
    records.append(" ".join(record))
    return next((r for r in records if re.match(rf"{re.escape(option)}\b(?!-)", r)), "")


def test_every_option_shows_its_default(cli):
    """--backend, --pruner, bench's --cost and --optimizers, the recipe flags, left out, take a default
    (the recipe's, the study's, the verb's) that their help never said: every option of every verb that
    is neither required nor an on/off switch says '[default: ...]', as --format's did, unless left out it
    does nothing (_options.NO_DEFAULT), and those say none. Truth: click's own options of each command."""
    from optimlab.cli import _options

    root = typer.main.get_command(app)
    for verb in [(), *_leaf_verbs(root)]:
        command, said = root, cli(*verb, "-h")[1]
        for word in verb:
            command = command.commands[word]
        for param in command.params:
            switch = getattr(param, "is_flag", False) and not param.secondary_opts
            if param.param_type_name != "option" or param.required or switch or param.hidden:
                continue
            option, help_ = param.opts[0], _option_help(said, param.opts[0])
            nothing = {option, " ".join((*verb, option))} & _options.NO_DEFAULT
            assert help_ and ("[default: " in help_) != bool(nothing), (verb, option, help_)
            words = help_.split("[default: ")[0].lower()  # the default said once, in its brackets
            assert "default " not in words and "default:" not in words, (verb, option, help_)


def test_a_study_s_out_says_its_own_verb_s_folder(cli):
    """compare -h and bench -h said '--out [default: runs/VERB-NAME-TIME]', VERB as typed. Truth: the
    stems compare_methods and bench give runs_folder.fresh_path ('compare-NAME', 'bench-NAME')."""
    for verb in ("compare", "bench"):
        code, out, _ = cli(verb, "-h")
        assert code == 0 and f"[default: runs/{verb}-NAME-TIME]" in _option_help(out, "--out"), verb


def test_the_defaults_said_are_the_recipes_and_the_studys(cli):
    """The defaults --help says (_options.DEFAULTS_SAID, read before pydantic or optuna loads) are a
    second copy of the recipe's and the study's. Truth: Recipe()'s fields, StudySpec's and BackendOptions'
    field defaults, bench's settings' defaults."""
    from optimlab.cli import _options
    from optimlab.cli.bench_cmd import DEFAULTS
    from optimlab.recipe import Recipe
    from optimlab.study.backends import BackendOptions
    from optimlab.study.protocols import StudySpec

    recipe = Recipe().to_dict()
    for parameter, field in _options.RECIPE_FLAGS.items():
        section, _, name = field.partition(".")
        value = recipe[section].get(name)
        if value is not None and parameter != "target":
            said = _options.DEFAULTS_SAID[_options.flag(parameter)]
            assert said in (f"the recipe's, else {value}", f"the recipe's, else {value} (PyTorch's own)"), (
                said
            )
    spec = {field.name: field.default for field in dataclasses.fields(StudySpec)}
    options = {field.name: field.default for field in dataclasses.fields(BackendOptions)}
    for name, value in {**spec, **options}.items():
        said = value not in (None, dataclasses.MISSING) and name not in ("metric", "goal")  # the workload's
        if said and _options.flag(name) in _options.DEFAULTS_SAID:
            assert _options.DEFAULTS_SAID[_options.flag(name)] == str(value), name
    for name, value in DEFAULTS.items():
        assert _options.said_default("bench", _options.flag(name)) == str(value), name
    code, out, _ = cli("compare", "-h")
    assert code == 0 and f"[default: {spec['budget']}]" in _option_help(out, "--budget")


def test_the_defaults_said_are_the_constants_the_verbs_take():
    """DEFAULTS_SAID wrote out defaults that have a home elsewhere (300 doctor steps, 1000 check steps,
    digits_mlp, 5 minutes between checkpoints, the local backend): changed there, -h would go on saying
    the old one. Truth: the constants and signature defaults the verbs run with."""
    import inspect

    from optimlab.cli import _options
    from optimlab.doctor import diagnose_recipe
    from optimlab.doctor.check_plan import MAX_CHECK_STEPS
    from optimlab.study.compare import DEFAULT_WORKLOAD, compare
    from optimlab.train.callbacks import CHECKPOINT_SECONDS

    doctor_steps = inspect.signature(diagnose_recipe).parameters["max_steps"].default
    every = f"the recipe's, else once an epoch and every {CHECKPOINT_SECONDS / 60:g} minutes"
    assert (doctor_steps, MAX_CHECK_STEPS) == (_options.DOCTOR_STEPS, _options.CHECK_STEPS)
    assert (_options.STUDY_WORKLOAD, _options.CHECKPOINT_MINUTES * 60) == (
        DEFAULT_WORKLOAD,
        CHECKPOINT_SECONDS,
    )
    assert _options.said_default("doctor", "--steps") == f"the recipe's run, at most {doctor_steps}"
    assert _options.said_default("lr-find", "--check-steps") == f"the recipe's run, at most {MAX_CHECK_STEPS}"
    assert _options.said_default("train", "--checkpoint-every") == every
    assert _options.said_default("compare", "--workload") == DEFAULT_WORKLOAD
    assert (
        _options.said_default("compare", "--backend")
        == inspect.signature(compare).parameters["backend"].default
    )


def test_the_clis_study_defaults_and_protocols_are_the_studys():
    """The CLI names StudySpec's defaults, the protocols, pruners and goals before torch loads (-h, bench's
    settings): a second copy, which nothing tied to the first. Truth: StudySpec's own field defaults,
    optimlab.study.protocols.PROTOCOLS and PRUNERS, optimlab.workloads.GOALS."""
    from optimlab.cli import _options, compare_cmd
    from optimlab.cli.bench_cmd import DEFAULTS
    from optimlab.study.protocols import PROTOCOLS, PRUNERS, StudySpec
    from optimlab.workloads import GOALS

    defaults = {field.name: field.default for field in dataclasses.fields(StudySpec)}
    assert {name: defaults[name] for name in _options.STUDY_DEFAULTS} == _options.STUDY_DEFAULTS
    assert DEFAULTS.items() >= _options.STUDY_DEFAULTS.items()
    assert _options.PROTOCOLS == PROTOCOLS
    assert (compare_cmd.PRUNERS, compare_cmd.GOALS) == (PRUNERS, GOALS)
