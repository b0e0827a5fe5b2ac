"""An output folder that already holds work: refused before anything in it is written over; a folder the
disk has no room for: what is kept is said, exit 5."""

import errno
import functools
import json
import shlex
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from optimlab.cli import _errors

TINY = ["--epochs", "1", "--budget", "1", "--seeds", "1", "--no-progress", "--format", "json"]


def test_a_comparison_into_a_folder_that_holds_another_is_refused_with_its_files_kept(cli, tmp_path):
    """A second compare --out on the folder of a first (another workload, so another study) wrote its
    report and tables over the first's, while --resume on the folder continued both studies."""
    out = tmp_path / "my comparison"
    first = ["compare", "--workload", "two_spirals_mlp", "--optimizers", "sgd", "--out", str(out), *TINY]
    code, doc, err = cli(*first)
    assert code == 0, err
    assert [s["study"] for s in json.loads(doc)["studies"]] == ["two_spirals_mlp"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, doc, err = cli(
        "compare", "--workload", "digits_logistic", "--optimizers", "adam", "--out", str(out), *TINY
    )
    assert (code, doc) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert "'--out'" in err and f"continue it with `optimlab compare --resume '{out}'`" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize(
    "verb",
    [
        ["train", "--dataset", "iris", "--steps", "2", "--html"],
        ["compare", "--workload", "two_spirals_mlp", "--optimizers", "sgd", *TINY],
        ["bench", "--workloads", "two_spirals_mlp", "--optimizers", "sgd", "--budget", "1", "--seeds", "1"],
    ],
)
def test_an_out_folder_of_other_files_is_refused_with_its_files_kept(cli, tmp_path, verb):
    """train --out on a folder holding the user's own model.pt and report.html (no run in it) wrote its
    weights and page over them without a word; compare and bench likewise wrote report.html over theirs."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.pt").write_text("my weights")
    (out / "report.html").write_text("my page")
    code, doc, err = cli(*verb, "--out", str(out))
    assert (code, doc) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert f"'--out': {str(out)!r} holds other files (model.pt, report.html): give a new or empty" in err
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "model.pt": "my weights",
        "report.html": "my page",
    }


def test_an_out_folder_holding_only_hidden_files_is_taken_as_empty(cli, tmp_path):
    """A results/ folder kept in git by an empty .gitkeep (or a .DS_Store beside it) was refused as
    holding 'other files (.gitkeep)'. The truth: hidden files are no one's work; the run is written beside
    them and they are kept."""
    out = tmp_path / "results"
    out.mkdir()
    (out / ".gitkeep").write_text("")
    code, _, err = cli("train", "--dataset", "iris", "--steps", "2", "--out", str(out), "--no-progress")
    assert code == 0, err
    assert (out / ".gitkeep").read_text() == "" and (out / "model.pt").is_file()


def test_a_gallery_stopped_midway_prints_a_resume_command_that_pastes_back_whole(cli, tmp_path, monkeypatch):
    """The command that continues `gallery run all --out 'my gallery'` split the folder at its space."""
    import optimlab.gallery

    def first_then_ctrl_c(*, size, out, resume, kept, on_start, on_done, on_unshown):
        on_start("he_init", 0, 2)
        verdict = types.SimpleNamespace(label="holds")
        on_done(types.SimpleNamespace(name="he_init", verdict=verdict, seconds=1.0), out / "he_init.html")
        raise KeyboardInterrupt

    monkeypatch.setattr(optimlab.gallery, "run_gallery", first_then_ctrl_c)
    out = tmp_path / "my gallery"
    code, doc, err = cli("gallery", "run", "all", "--size", "tiny", "--out", str(out), "--format", "json")
    assert code == 130, err
    command = shlex.split(json.loads(doc)["resume"])
    assert command == ["optimlab", "gallery", "run", "all", "--size", "tiny", "--out", str(out), "--resume"]


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--dataset", "iris", "--no-progress", "--out", "NAME"],
        ["gallery", "run", "all", "--size", "tiny", "--no-progress", "--out", "NAME"],
        ["doctor", "--dataset", "iris", "--no-progress", "--html", "NAME.html"],
        ["plot-schedule", "cosine", "--out", "NAME.svg"],
    ],
)
@pytest.mark.parametrize("control", ["\n", "\x1b"])
def test_an_output_path_of_a_control_character_is_refused_in_one_line(cli, tmp_path, args, control):
    """`train --out $'run\\n2'` made the folder, and every line naming it broke in two: 'results in run'
    then '2', and the command that resumes it, which a paste runs as two commands. Refused before any
    work, naming the flag and the character; nothing is made (truth: the folder's listing)."""
    name = str(tmp_path / f"run{control}2")
    code, out, err = cli(*[a.replace("NAME", name) for a in args])
    flag = args[-2]
    assert (code, out, len(err.splitlines())) == (2, "", 1), err
    assert (
        f"Invalid value for '{flag}'" in err and f"holds a control character ({repr(control)[1:-1]})" in err
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["compare", "--optimizers", "sgd", "--name", "a\nb", "--out", "OUT/c"], "--name"),
        (["worker", "OUT", "--name", "a\x1bb"], "--name"),
        (["train", "--resume", "OUT/a\nb"], "--resume"),
        (["compare", "--resume", "OUT/a\nb"], "--resume"),
    ],
)
def test_a_name_or_a_resumed_folder_of_a_control_character_is_refused_in_one_line(cli, tmp_path, args, flag):
    """`compare --name $'a\\nb'` stored the study's name with its newline (leaderboard.csv's rows broke in
    two), and `--resume` of a folder `$'a\\nb'` (made before output paths refused them) printed a resume
    command broken in two. Refused as an output path's control character is, before any work: nothing
    made (truth: the folder's listing)."""
    (tmp_path / "a\nb").mkdir()
    code, out, err = cli(*[a.replace("OUT", str(tmp_path)) for a in args])
    control = next(c for c in args[args.index(flag) + 1] if not c.isprintable())
    assert (code, out, len(err.splitlines())) == (2, "", 1), err
    assert (
        f"Invalid value for '{flag}'" in err and f"holds a control character ({repr(control)[1:-1]})" in err
    )
    assert [p.name for p in tmp_path.iterdir()] == ["a\nb"] and not any((tmp_path / "a\nb").iterdir())


def test_a_benchs_rerun_command_pastes_back_whole():
    """The report's command that reruns a bench split a --dataset path or a --target header at its space."""
    from optimlab.cli.bench_cmd import _command

    settings = {"workloads": "digits_mlp", "optimizers": "sgd,adam", "seeds": 3, "suite": None}
    settings |= {"dataset": "my data/rows.csv", "target": "sale price", "optimizer_path": ["torch.optim:SGD"]}
    assert shlex.split(_command(settings)) == [
        *("optimlab", "bench", "--workloads", "digits_mlp", "--optimizers", "sgd,adam", "--seeds", "3"),
        *("--dataset", "my data/rows.csv", "--target", "sale price", "--optimizer-path", "torch.optim:SGD"),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--out", "NAME"],
        ["plot-schedule", "cosine", "--out", "NAME.png"],
        ["compare", "--out", "NAME"],
        ["train", "--dataset", "NAME.csv"],  # --dataset and --storage went past the check
        ["compare", "--optimizers", "sgd", "--storage", "sqlite:///NAME.db"],
    ],
)
def test_a_name_past_the_file_systems_limit_is_refused_naming_the_flag_and_the_limit(cli, tmp_path, args):
    """`train --out <300 letters>` failed on the OS's own 'File name too long', past the checks and
    naming no flag. Truth: the OS refuses to make a folder of that name, and makes one at its limit."""
    import errno
    import os

    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    os.mkdir(tmp_path / ("a" * limit))
    with pytest.raises(OSError) as refused:
        os.mkdir(tmp_path / ("a" * (limit + 1)))
    assert refused.value.errno == errno.ENAMETOOLONG
    name = str(tmp_path / ("b" * (limit + 1)))
    code, out, err = cli(*[a.replace("NAME", name) for a in args])
    flag = args[-2]
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert f"Invalid value for '{flag}'" in err and f"accepted names of at most {limit} bytes" in err, err


def test_a_name_at_the_file_systems_limit_is_accepted(tmp_path):
    """The length checks refuse only what the OS refuses: each path flag's check takes a name of NAME_MAX
    bytes, the longest the OS makes (a run's training would take seconds here: the checks are asked)."""
    import os

    from optimlab.cli import _checks

    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    folder, file = tmp_path / ("a" * limit), tmp_path / ("b" * (limit - 4) + ".csv")
    os.mkdir(folder)
    file.write_text("x,y\n1,0\n")
    assert _checks.run_folder(str(folder)) == folder and _checks.readable_file(str(file)) == file
    assert (
        _checks.writable_file(".png")(f"{tmp_path / ('c' * (limit - 4))}.png").name
        == "c" * (limit - 4) + ".png"
    )
    assert _checks.dataset(str(file)) == str(file)
    url = f"sqlite:///{tmp_path / ('d' * (limit - 3))}.db"
    assert _checks.storage_url(url) == url


def test_a_path_past_the_file_systems_limit_is_refused_naming_the_flag_and_the_limit(cli, tmp_path):
    """`train --out` of 25 names of 200 bytes, each name within NAME_MAX, failed on the OS's 'File name
    too long', naming no flag. Truth: the OS refuses to make a folder at a path of PATH_MAX bytes."""
    import errno
    import os

    path_max = os.pathconf(tmp_path, "PC_PATH_MAX")
    deep = tmp_path.joinpath(*["c" * 200] * (path_max // 200 + 1))
    with pytest.raises(OSError) as refused:
        os.makedirs(deep)
    assert refused.value.errno == errno.ENAMETOOLONG
    from optimlab.runs_folder import room_below  # a folder written into keeps room for the paths below

    for args, most in (
        (["train", "--out", str(deep)], path_max - 1 - room_below(deep)),
        (["plot-schedule", "cosine", "--out", f"{deep}.png"], path_max - 1),
    ):
        code, out, err = cli(*args)
        assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
        assert "Invalid value for '--out'" in err and f"accepted paths of at most {most} bytes" in err


def test_an_output_folder_leaves_room_for_the_names_written_inside_it(cli, tmp_path):
    """`train --out` right at PATH_MAX passed its check, trained, and failed at the end on 'File name too
    long' writing checkpoint.pt into it; then room for a name of NAME_MAX (255 bytes) refused a 3939-byte
    --out that trained and wrote its files; then room for one name passed a folder whose TensorBoard
    event file, at <out>/tensorboard/<out's name>/, was too long. Truth: the OS refuses the deepest path
    optimlab writes (runs_folder.room_below) below the folder a byte longer than the bound named, and
    makes it below the folder at the bound; the folder at the bound resumes."""
    import errno
    import os

    from optimlab.runs_folder import EVENT_NAME_BYTES, LONGEST_NAME_INSIDE, TENSORBOARD_FOLDER, room_below

    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    assert len(".workload_dependence.html.0123abcd.partial") <= LONGEST_NAME_INSIDE < name_max
    path_max = os.pathconf(tmp_path, "PC_PATH_MAX")
    longest = path_max - 1 - room_below(Path("run"))  # the bound: the deepest path, then C's closing NUL

    def run_folder(length: int) -> Path:  # a folder "run" of a path of ``length`` bytes, names of 200 or less
        folder = tmp_path
        while (left := length - len(os.fsencode(folder)) - len("/run") - 1) > 0:
            folder = folder / ("m" * (min(200, left) if left - min(200, left) != 1 else 100))
        return folder / "run"

    at_bound, past = run_folder(longest), run_folder(longest + 1)
    assert [len(os.fsencode(folder)) for folder in (at_bound, past)] == [longest, longest + 1]
    for folder in (at_bound, past):
        os.makedirs(folder / TENSORBOARD_FOLDER / "run")
    (at_bound / TENSORBOARD_FOLDER / "run" / ("f" * EVENT_NAME_BYTES)).write_text("")
    with pytest.raises(OSError) as refused:
        (past / TENSORBOARD_FOLDER / "run" / ("f" * EVENT_NAME_BYTES)).write_text("")
    assert refused.value.errno == errno.ENAMETOOLONG
    code, out, err = cli("train", "--dataset", "iris", "--steps", "1", "--out", str(past))
    assert (code, out) == (2, "") and f"accepted paths of at most {longest} bytes" in err, err
    from optimlab.cli import _checks

    assert _checks.writable_folder(str(at_bound)) == at_bound
    assert _checks.resumed_folder(str(at_bound)) == at_bound


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--out", "~USER/run"],
        ["train", "--dataset", "~USER/rows.csv"],
        ["compare", "--optimizers", "sgd", "--storage", "sqlite:///~USER/studies.db"],
        ["compare", "--storage", "sqlite:///studies.db", "--resume", "~USER/report"],
    ],
)
def test_a_home_of_no_user_is_refused_naming_the_flag(cli, args):
    """`train --out '~nosuchuser/x'` ended in pathlib's RuntimeError traceback. Truth: the password
    database knows no such user."""
    import pwd

    user = "optimlab-no-such-user"
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    code, out, err = cli(*[a.replace("USER", user) for a in args])
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert f"Invalid value for '{args[-2]}'" in err and f"~{user} names no user of this machine" in err, err


def test_a_recipes_data_in_the_home_of_no_user_is_refused_naming_data_name(cli, tmp_path):
    """A recipe of `data: {name: ~nosuchuser/a.csv}` (`train tu.yaml`) ended in pathlib's RuntimeError
    traceback from the look for the file beside the recipe. Truth: the password database knows no such
    user."""
    import pwd

    user = "optimlab-no-such-user"
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    recipe = tmp_path / "tu.yaml"
    recipe.write_text(f"data:\n  name: ~{user}/a.csv\n")
    code, out, err = cli("train", str(recipe), "--out", str(tmp_path / "run"))
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert "data.name" in err and f"~{user} names no user of this machine" in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "verb",
    [["train", "--dataset", "iris"], ["compare", "--optimizers", "sgd"], ["gallery", "run", "he_init"]],
)
@pytest.mark.parametrize("link", ["loop", "dangling"])
def test_an_out_that_is_a_symbolic_link_leading_nowhere_is_refused_naming_it(cli, tmp_path, verb, link):
    """A symbolic link in a loop, or to a path that does not exist, as --out: 'cannot write to the output
    folder 'loop1': File exists', without the flag, and misleading; named as the link it is, nothing made."""
    out = tmp_path / link
    out.symlink_to(out if link == "loop" else tmp_path / "gone")
    code, doc, err = cli(*verb, "--out", str(out))
    said = (
        "a symbolic link in a loop (Too many levels of symbolic links)"
        if link == "loop"
        else (f"a symbolic link to {str(tmp_path / 'gone')!r}, which does not exist")
    )
    command = " ".join(verb[: 2 if verb[0] == "gallery" else 1])
    assert (code, doc) == (2, "")
    assert (
        err
        == f"error: Invalid value for '--out': '{out}' is {said}; give a folder (see 'optimlab {command} -h')\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == [link]


@functools.cache
def _tiny_outcome(name: str, run: Callable[..., Any]) -> Any:
    """``name``'s outcome at size tiny (``run``: the gallery's own runner), run once for the tests that
    write its page."""
    from optimlab.gallery import get_experiment

    return run(get_experiment(name), "tiny")


@pytest.mark.parametrize(("name", "fmt"), [("no_nonlinearity", "json"), ("all", "human")])
def test_a_gallery_page_the_disk_refuses_is_said_after_its_verdict_which_is_kept(
    cli, tmp_path, monkeypatch, name, fmt
):
    """gallery run on a full disk ended on "error: '.../no_nonlinearity.html': No space left on device",
    exit 2, a bad call's code, its verdict (the minutes of its runs) thrown away. The page's write refusing
    as a full disk does (ENOSPC naming the file, as optimlab.atomic raises it): the verdict prints as
    without the refusal (truth: the same run on a disk that takes it), then one line names the file and
    the OS's reason; exit 5, as doctor --html's; no page left, whole or cut."""
    import errno
    import os

    import optimlab.gallery.publish
    import optimlab.report.html

    monkeypatch.setattr(optimlab.gallery.publish, "experiment_names", lambda: ["no_nonlinearity"])
    run = optimlab.gallery.publish._outcome
    monkeypatch.setattr(
        optimlab.gallery.publish, "_outcome", lambda experiment, _: _tiny_outcome(experiment.name, run)
    )
    argv = ("gallery", "run", name, "--size", "tiny", "--no-progress", "--format", fmt)
    code, taken, err = cli(*argv, "--out", str(tmp_path / "taken"))
    assert (code, err) == (0, "")

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(optimlab.report.html, "write_atomically", full_disk)
    out = tmp_path / "full"
    code, refused, err = cli(*argv, "--out", str(out))
    page = out / "no_nonlinearity.html"
    assert (code, err) == (
        5,
        f"error: cannot write the page '{page}': No space left on device; the results printed are whole\n",
    )
    if fmt == "json":
        taken, refused = json.loads(taken), json.loads(refused)
        ran, said = (
            (taken, refused) if name != "all" else (taken["experiments"][0], refused["experiments"][0])
        )
        assert (said["name"], said["verdict"], said["page"]) == (ran["name"], ran["verdict"], None)
    else:
        assert refused.splitlines()[0].rpartition(" in ")[0] == taken.splitlines()[0].rpartition(" in ")[0]
        assert refused.splitlines()[0].endswith(": its page not written")
    assert not page.exists()


def _full_disk(*_: Any, **__: Any) -> None:
    """A write refused as a full disk refuses it, naming the file as optimlab.atomic raises it."""
    import os

    path = next((a for a in [*_, *__.values()] if isinstance(a, Path)), None)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), None if path is None else str(path))


def test_a_comparisons_page_the_disk_refuses_says_what_is_kept_and_which_command_writes_it(
    cli, tmp_path, monkeypatch
):
    """compare on a full disk as it wrote report.html ended on the bare OS line, exit 2 (a bad call's),
    with no word that the studies and leaderboard.csv were kept nor how to get the page. Now one line
    names the page, the reason, the tables kept and `optimlab report DIR --out PAGE`, exit 5 (as doctor --html's);
    truth: that command, the disk freed, writes the page from what was kept."""
    import optimlab.study.report

    folder = tmp_path / "compared"
    with monkeypatch.context() as patched:
        patched.setattr(optimlab.study.report, "write_report", _full_disk)
        code, _, err = cli(
            "compare", "--workload", "digits_mlp", "--optimizers", "sgd", "--epochs", "1", "--budget", "1",
            "--seeds", "1", "--no-progress", "--out", str(folder),
        )  # fmt: skip
    page = folder / "report.html"
    later = f"optimlab report {folder} --out {page}"
    kept = [f"{stem}{suffix}" for stem in ("trials", "leaderboard") for suffix in (".csv", ".parquet")]
    kept = [name for name in kept if (folder / name).is_file()]
    assert "leaderboard.csv" in kept
    assert (code, err) == (
        _errors.FILE_NOT_WRITTEN,
        f"error: cannot write '{page}': No space left on device; the studies and {', '.join(kept)} are "
        f"kept: once there is room, `{later}` writes the page\n",
    )
    assert not page.exists()
    assert cli(*shlex.split(later)[1:])[0] == 0 and "digits_mlp" in page.read_text()


def test_a_run_file_the_disk_refuses_exits_as_a_file_not_written(cli, tmp_path, monkeypatch):
    """train on a full disk exited 2, the code `optimlab -h` keeps for a bad call, where doctor --html,
    lr-find --plot and gallery exit 5 for a file not written; its line, which names the file, the reason
    and the resume, is kept. Truth: the resume it names, the disk freed, ends the run."""
    import optimlab.train.run

    out = tmp_path / "run"
    with monkeypatch.context() as patched:
        patched.setattr(optimlab.train.run, "torch_save_file", _full_disk)
        code, stdout, err = cli(
            "train", "--dataset", "iris", "--epochs", "1", "--no-progress", "--out", str(out)
        )
    assert (code, stdout) == (_errors.FILE_NOT_WRITTEN, "")
    assert err.startswith("error: cannot write ") and f"optimlab train --resume {out} " in err
    assert cli("train", "--resume", str(out), "--no-progress")[0] == 0 and (out / "model.pt").is_file()


@pytest.mark.parametrize(
    ("refusal", "code", "said"),
    [
        (
            (errno.ENOSPC, "No space left on device", "p.csv"),
            5,
            "cannot write 'p.csv': No space left on device; once",
        ),
        (
            (errno.EDQUOT, "Disk quota exceeded", "p.csv"),
            5,
            "cannot write 'p.csv': Disk quota exceeded; once",
        ),
        ((errno.ENOENT, "No such file or directory", "p.csv"), 2, "'p.csv': No such file or directory"),
    ],
)
def test_a_write_the_disk_has_no_room_for_exits_5_and_says_how_to_go_on(refusal, code, said, capsys):
    """Any verb's OSError for want of room (a full disk, a quota) exited 2, a bad call's code; a file not
    found stays 2."""
    assert _errors.report(OSError(*refusal)) == code
    assert capsys.readouterr().err.startswith(f"error: {said}")


def test_a_refusal_that_is_no_write_loads_no_torch_to_say_its_code():
    """Asking whether a failure is a write the disk had no room for reads train's errno list, which loads
    torch: only a refusal of the OS's needs it; a bad call's line (exit 2) stays quick. Truth: sys.modules
    in a fresh interpreter after the bad call's report."""
    import subprocess
    import sys

    code = (
        "import sys, typer\nfrom optimlab.cli import _errors\n"
        "print(_errors.report(typer.BadParameter('bad')), 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stderr


@pytest.mark.parametrize(
    ("argv", "default"),
    [(["plot-schedule", "cosine"], "schedule.png"), (["gallery", "run", "all"], "gallery")],
)
def test_a_default_output_path_refused_is_named_as_the_user_would_type_it(cli, monkeypatch, argv, default):
    """In a folder no file can be made in, `plot-schedule cosine` (its --out left at its default) said
    "cannot create PosixPath('schedule.png')": click passes the default, a Path, through the check, whose
    message wrote it as Python's repr. Truth: the path as typed, quoted as any --out given is. /proc: no
    file can be made in it, root or not."""
    monkeypatch.chdir("/proc")
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert f"cannot create '{default}':" in err and "Path(" not in err
