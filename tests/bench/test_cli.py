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
    lines = [json.loads(line) for line in again.output.splitlines()]
    assert {line["method"] for line in lines if "area score" in line} == {"sgd", "adam"}
    assert lines[-1]["report"].endswith("report.html")


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
