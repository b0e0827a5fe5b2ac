"""The bench verb: a tiny benchmark prints its scores and writes the report (and figures); bad calls."""

import json

import typer
from typer.testing import CliRunner

from optimlab.cli import bench_cmd

app = typer.Typer()
app.command("bench", epilog=bench_cmd.EXAMPLES)(bench_cmd.bench)
app.command("other")(lambda: None)  # two verbs: typer keeps "bench" as a subcommand
runner = CliRunner()
TINY = [
    "--workloads",
    "two_spirals_mlp",
    "--optimizers",
    "sgd,adam",
    "--budget",
    "2",
    "--seeds",
    "2",
    "--no-progress",
]


def test_bench_prints_scores_and_writes_the_report_and_png_figures(tmp_path):
    result = runner.invoke(
        app, ["bench", *TINY, "--out", str(tmp_path), "--figure-format", "png"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "area score" in result.output and "two_spirals_mlp" in result.output and "report:" in result.output
    page = (tmp_path / "report.html").read_text()
    assert "<h2>two_spirals_mlp</h2>" in page and "optimlab bench --workloads two_spirals_mlp" in page
    assert sorted(p.suffix for p in (tmp_path / "figures").iterdir()) == [".png"] * 3

    again = runner.invoke(app, ["bench", "--resume", str(tmp_path), "--no-progress", "--format", "json"])
    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert {row["method"] for row in document["scores"]} == {"sgd", "adam"}
    assert document["report"].endswith("report.html")


def test_bench_refuses_calls_it_cannot_run_and_says_how_to_fix_them(tmp_path):
    cases = [
        ([], "--suite small|full or --workloads"),
        (["--suite", "small", "--workloads", "digits_mlp"], "one of them"),
        (["--workloads", "digits_mlp", "--figure-format", "jpg"], "html, png, svg"),
        (["--workloads", "digits_mlp", "--resume", str(tmp_path)], "drop --workloads"),
        (["--suite", "smal"], "did you mean 'small'"),
    ]
    for flags, message in cases:
        out = [] if "--resume" in flags else ["--out", str(tmp_path / "x")]
        result = runner.invoke(app, ["bench", *flags, *out], env={"COLUMNS": "300"})  # no wrapped message
        said = str(result.exception) + result.output  # a value refused while parsing is a usage error
        assert result.exit_code != 0 and message in said, (flags, said)
    assert "optimlab bench --suite small" in runner.invoke(app, ["bench", "--help"]).output


def test_ctrl_c_says_how_to_resume_and_the_resumed_bench_runs_each_trial_once(tmp_path):
    """Ctrl-C on a bench exited 130 in silence (typer turns KeyboardInterrupt into that code)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import optuna
    from optuna.storages.journal import JournalFileBackend

    command = [sys.executable, "-c", "from optimlab.cli.app import main; main()"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "b"
    flags = [*TINY, "--backend", "local", "--threads", "1", "--out", str(out)]
    bench = subprocess.Popen(
        [*command, "bench", *flags],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C finds it
    )
    deadline = time.monotonic() + 60
    while not (out / "study.journal").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    bench.send_signal(signal.SIGINT)
    _, err = bench.communicate(timeout=60)
    assert bench.returncode == 130 and not (out / "report.html").exists()
    assert err.startswith("interrupted") and f"optimlab bench --resume {out}" in err, err
    again = subprocess.run(
        [*command, "bench", "--resume", str(out), "--no-progress"], env=env, capture_output=True
    )
    assert again.returncode == 0, again.stderr
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(out / "study.journal")))
    keys = sorted(
        (s.study_name, t.user_attrs["key"])
        for s in optuna.get_all_study_summaries(storage)
        for t in optuna.load_study(study_name=s.study_name, storage=storage).get_trials()
        if t.state == optuna.trial.TrialState.COMPLETE
    )  # each key once: none lost, none run twice
    assert keys == sorted(
        (f"two_spirals_mlp/{m}", k)
        for m in ("sgd", "adam")
        for k in ("tune/0", "tune/1", "seeds/0", "seeds/1")
    )


def _strict(text):
    """``text`` as a strict JSON parser (JavaScript's, RFC 8259) reads it: no NaN, no Infinity."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_json_a_missed_target_null(tmp_path):
    """A method that never reached the target printed "time to target (steps)": Infinity, which
    JavaScript's JSON.parse refuses and jq reads as 1.7976931348623157e+308 steps."""
    args = ["bench", *TINY[:-3], "--seeds", "1", "--no-progress", "--out", str(tmp_path), "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    per_workload = _strict(result.stdout)["workloads"]
    assert {row["method"] for row in per_workload} == {"sgd", "adam"}
    assert any(row["reached"] == "0/1" for row in per_workload)  # sgd misses at this budget
    for row in per_workload:
        assert (row["time to target (steps)"] is None) == (row["reached"] == "0/1")


def test_each_verb_refuses_to_resume_the_others_folder_and_names_the_verb_that_does(cli, tmp_path):
    """compare --resume on a bench's folder resumed the workloads begun alone and wrote its report over the
    bench's, so the folder looked finished; bench --resume on a comparison's said only 'no bench.json'."""
    tiny = ["--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--backend", "local", "--no-progress"]
    bench, comparison = tmp_path / "bench", tmp_path / "compare"
    assert cli("bench", "--workloads", "two_spirals_mlp", *tiny, "--out", str(bench))[0] == 0
    assert cli("compare", "--workload", "two_spirals_mlp", *tiny, "--out", str(comparison))[0] == 0
    before = {p.name: p.read_bytes() for p in bench.iterdir()}

    code, out, err = cli("compare", "--resume", str(bench), "--no-progress")
    assert (code, out) == (2, "") and err == (
        f"error: --resume '{bench}' is a bench's folder: resume it with `optimlab bench --resume {bench}`\n"
    )
    assert {p.name: p.read_bytes() for p in bench.iterdir()} == before  # no compare report over the bench's
    code, out, err = cli("bench", "--resume", str(comparison), "--no-progress")
    assert (code, out) == (2, "") and err == (
        f"error: --resume '{comparison}' is a comparison's folder (no bench.json): "
        f"resume it with `optimlab compare --resume {comparison}`\n"
    )
