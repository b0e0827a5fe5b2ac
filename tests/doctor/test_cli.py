"""The ``doctor`` and ``lr-find`` verbs: recipe flags in, ranked findings (human or JSON) and files out.

The verbs are registered on a local app here, the way ``optimlab.cli.app`` registers them."""

from __future__ import annotations

import json
import re
import time

import pytest
import typer
import yaml

from optimlab.cli import doctor_cmd, lr_find_cmd
from optimlab.errors import OptimlabError

app = typer.Typer(rich_markup_mode=None, add_completion=False)
app.command("doctor", epilog=doctor_cmd.EXAMPLES)(doctor_cmd.doctor)
app.command("lr-find", epilog=lr_find_cmd.EXAMPLES)(lr_find_cmd.lr_find)


def run(capsys, *argv):
    typer.main.get_command(app).main(args=list(argv), prog_name="optimlab", standalone_mode=False)
    return capsys.readouterr().out


def test_doctor_ranks_the_root_cause_first_in_json_and_writes_the_report(capsys, tmp_path):
    out = run(
        capsys,
        "doctor",
        "--dataset",
        "iris",
        "--scaling",
        "none",
        "--optimizer",
        "sgd",
        "--lr",
        "30",
        "--steps",
        "40",
        "--html",
        str(tmp_path / "d.html"),
        "--format",
        "json",
    )
    data = json.loads(out)
    assert data["findings"][0]["rule"] == "lr_too_high" and not data["healthy"]
    assert data["lr_range"]["suggestion"] < 30 and (tmp_path / "d.html").read_text().count("<svg") >= 3
    page = (tmp_path / "d.html").read_text()  # the candidates' metric named, and the loss deciding its ties
    assert data["lr_range"]["candidates"] and "held-out accuracy" in page and "held-out loss" in page
    assert data["steps"] <= 40


def test_the_lr_suggestion_names_the_root_causes_it_was_measured_with(capsys):
    """Wine's raw inputs (proline up to 1,680) give AdamW an lr of about 0.1 that trains to 0.39 where
    1e-3 reaches 0.67: the suggestion is for the setup as it is, and says so beside the finding that
    changes it; the lr's own findings (iris at lr 30, above) it answers itself."""
    raw = json.loads(run(capsys, "doctor", "--dataset", "wine", "--optimizer", "adamw", "--format", "json"))
    assert raw["findings"][0]["rule"] == "input_scale" and raw["lr_range"]["suggestion"] is not None
    # said as the recipe's YAML, not 'data: scaling standardize': YAML reads the words as the change
    said = yaml.safe_load(raw["findings"][0]["recommendation"].split(" (")[0])
    assert said == {"data": {"scaling": "standardize"}} and raw["findings"][0]["recipe_changes"] == {
        "data.scaling": "standardize"
    }
    assert raw["lr_measured_with"] == ["input_scale"]
    out = run(capsys, "doctor", "--dataset", "wine", "--optimizer", "adamw")
    assert "measured with #1 as it is" in out
    scaled = ("doctor", "--dataset", "wine", "--scaling", "standardize", "--optimizer", "adamw")
    assert json.loads(run(capsys, *scaled, "--format", "json"))["lr_measured_with"] == []
    iris = ("doctor", "--dataset", "iris", "--scaling", "none", "--optimizer", "sgd", "--lr", "30")
    data = json.loads(run(capsys, *iris, "--steps", "40", "--format", "json"))
    assert data["findings"][0]["rule"] == "lr_too_high" and "lr_too_high" not in data["lr_measured_with"]


def test_doctor_prints_a_table_for_people(capsys):
    out = run(
        capsys, "doctor", "--dataset", "iris", "--scaling", "standardize", "--steps", "30", "--no-lr-find"
    )
    assert ("Findings after 30 steps" in out or "No findings after 30 steps" in out) and "LR range" not in out


def test_lr_find_suggests_an_lr_and_draws_the_curve(capsys, tmp_path):
    out = run(
        capsys,
        "lr-find",
        "--dataset",
        "iris",
        "--scaling",
        "standardize",
        "--optimizer",
        "sgd",
        "--sweep-steps",
        "60",
        "--check-steps",
        "30",
        "--plot",
        str(tmp_path / "lr.svg"),
        "--format",
        "json",
    )
    data = json.loads(out)
    assert len(data["lrs"]) == len(data["losses"]) > 10 and data["plot"].endswith("lr.svg")
    assert data["suggestion"] is None or 1e-7 <= data["suggestion"] <= 10
    assert "<svg" in (tmp_path / "lr.svg").read_text()
    # The evidence: each candidate's short-run held-out accuracy, the suggestion among them.
    if data["suggestion"] is not None:
        assert data["check"].startswith("30 steps each")
        assert data["suggestion"] in [c["lr"] for c in data["candidates"]]
        assert all(c["score"] is None or 0 <= c["score"] <= 1 for c in data["candidates"])


def test_lr_find_prints_the_candidates_for_people(capsys):
    out = run(capsys, "lr-find", "--dataset", "iris", "--scaling", "standardize", "--check-steps", "20")
    assert "suggested lr" in out and "Candidates, 20 steps each" in out and "<- suggested" in out


def test_lr_find_keeps_to_its_check_budget_and_says_so(capsys):
    """A budget no check fits leaves the curve's reading and says why; 0 is no limit."""
    common = ["lr-find", "--dataset", "iris", "--scaling", "standardize", "--check-steps", "40"]
    none = json.loads(run(capsys, *common, "--check-budget", "1e-9", "--format", "json"))
    whole = json.loads(run(capsys, *common, "--check-budget", "0", "--format", "json"))
    assert none["check"] is None and none["reason"].startswith("not checked within the 1e-09 s budget")
    assert whole["check"].startswith("40 steps each") and "budget" not in whole["check"]


def test_the_doctor_keeps_within_a_minute_of_its_process_start_unless_given_a_check_budget(
    capsys, monkeypatch
):
    """The whole diagnosis gets what the imports left of WHOLE_RUN_SECONDS (a Transformer took 95 s on
    a busy machine), counted from the call in a process that did other work first; an explicit
    --check-budget keeps the run as asked."""
    psutil = pytest.importorskip("psutil")
    import optimlab.doctor

    since_start = time.time() - psutil.Process().create_time()
    assert doctor_cmd._seconds_since_start() == pytest.approx(since_start, abs=1.0)  # boot time in whole s
    budgets = []
    real = optimlab.doctor.diagnose_recipe

    def recorded(recipe, **options):
        budgets.append(options["time_budget"])
        return real(recipe, **{**options, "time_budget": None})

    monkeypatch.setattr(optimlab.doctor, "diagnose_recipe", recorded)
    common = ["doctor", "--dataset", "iris", "--steps", "5", "--no-progress"]
    # the process's age at the call, then as the diagnosis starts
    for ages in ((2.0, 5.0), (100.0, 103.0), (2.0, 5.0)):
        monkeypatch.setattr(doctor_cmd, "_seconds_since_start", iter(ages).__next__)
        run(capsys, *common, *(["--check-budget", "10"] if len(budgets) == 2 else []))
    assert budgets == [doctor_cmd.WHOLE_RUN_SECONDS - 5.0, doctor_cmd.WHOLE_RUN_SECONDS - 3.0, None]
    monkeypatch.setattr(doctor_cmd, "_seconds_since_start", lambda: 60.0)
    assert doctor_cmd._time_left(2.0) == 1.0  # never none at all


def test_bad_flags_name_the_field(capsys):
    with pytest.raises(OptimlabError, match="relu"):
        run(capsys, "doctor", "--act", "rleu", "--steps", "5")
    with pytest.raises(OptimlabError, match="--end-lr"):
        run(capsys, "lr-find", "--dataset", "iris", "--start-lr", "1", "--end-lr", "0.1")


def test_the_doctors_candidates_mark_the_one_suggested_as_lr_find_does(capsys):
    """The doctor listed the candidates' scores without saying which one it picked."""
    out = run(capsys, "doctor", "--dataset", "iris", "--steps", "20", "--no-progress")
    suggested = float(out.split("LR range test: lr ")[1].split()[0])
    line = " ".join(out.split("Candidates (")[1].split())
    marked = re.findall(r"([0-9.e+-]+): [0-9.e+-]+ \(suggested\)", line)
    assert len(marked) == 1 and float(marked[0]) == suggested, line


@pytest.mark.parametrize("verb", ["doctor", "lr-find"])
def test_a_model_without_parameters_is_refused_in_one_line_naming_it(capsys, tmp_path, monkeypatch, verb):
    """A factory's model with nothing to train failed in torch.optim with a traceback and exit 1
    ('optimizer got an empty parameter list'), before the doctor could say what was wrong."""
    (tmp_path / "bare_nets.py").write_text("from torch import nn\n\ndef build():\n    return nn.Flatten()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        OptimlabError, match="without parameters.*a model with parameters to train"
    ) as refused:
        run(capsys, verb, "--dataset", "iris", "--model", "bare_nets:build", "--no-progress")
    assert "unfreeze" not in str(refused.value)  # nothing is frozen: there is nothing


@pytest.mark.parametrize("verb", [doctor_cmd, lr_find_cmd])
def test_every_verb_carries_examples(verb):
    assert verb.EXAMPLES.startswith("Examples:") and "optimlab " in verb.EXAMPLES


def test_a_finding_of_two_causes_names_both_in_one_parenthesis(capsys):
    """'(consequence of #1) (consequence of #2)' read as two remarks; one parenthesis names both."""
    from optimlab.cli._output import Output
    from optimlab.doctor.diagnose import Diagnosis
    from optimlab.doctor.findings import Finding
    from optimlab.doctor.instruments import RunStatistics

    def finding(rule: str, *causes: str) -> Finding:
        return Finding(rule, "warning", f"title {rule}", "", f"fix {rule}", consequence_of=causes)

    found = [finding("a"), finding("b"), finding("c", "a", "b", "gone")]
    stats = RunStatistics(layers=[], param_layer=[], schedule=None)
    doctor_cmd._print_findings(Output("human"), Diagnosis(found, stats))
    printed = " ".join(capsys.readouterr().out.split())
    assert "title c (consequence of #1, #2)" in printed and "title a (" not in printed


def test_the_table_for_people_gives_each_findings_evidence_as_json_does(capsys):
    """The human table showed each finding's title and fix but not the numbers behind it, which JSON
    and the HTML report give (the explanation): a deep sigmoid net at init normal prints, under the
    table, one line per finding, the same text as JSON's; its healthy twin (the defaults, standardized)
    prints no evidence, having no finding."""
    planted = ("doctor", "--dataset", "iris", "--act", "sigmoid", "--depth", "6", "--init", "normal")
    common = ("--steps", "30", "--no-lr-find", "--no-progress")
    findings = json.loads(run(capsys, *planted, *common, "--format", "json"))["findings"]
    assert findings[0]["rule"] == "vanishing_gradients"
    lines = run(capsys, *planted, *common).splitlines()
    evidence = lines[lines.index("Evidence:") + 1 :]
    assert evidence == [f"  #{i + 1} {f['explanation']}" for i, f in enumerate(findings)]
    healthy = run(capsys, "doctor", "--dataset", "iris", "--scaling", "standardize", *common)
    assert "No findings" in healthy and "Evidence:" not in healthy


def test_the_readmes_deep_sigmoid_net_is_told_its_init_not_a_learning_rate_too_high(capsys):
    """README's doctor command (digits, 8 sigmoid layers at std 0.01) ranked 'Learning rate too high:
    0.001' first, its one piece of evidence the last sigmoid saturating during training, and called the
    vanishing gradients its consequence, though they were measured over the first 5 steps, before any lr
    could act (Glorot & Bengio 2010: the init and the sigmoid are the cause). Gradients that vanished from
    the start explain the collapse better: the root is the vanishing gradients, and no lr is blamed."""
    planted = ("doctor", "--dataset", "digits", "--act", "sigmoid", "--depth", "8", "--init", "normal")
    found = json.loads(run(capsys, *planted, "--no-lr-find", "--no-progress", "--format", "json"))["findings"]
    rules = [f["rule"] for f in found]
    assert rules[0] == "vanishing_gradients" and "lr_too_high" not in rules, rules


@pytest.mark.parametrize(
    ("argv", "flag", "writer", "fmt"),
    [
        (("doctor", "--dataset", "iris", "--steps", "3", "--no-lr-find"), "--html", "write_html", "human"),
        (
            ("lr-find", "--dataset", "iris", "--sweep-steps", "12", "--check-steps", "3"),
            "--plot",
            "plot_lr_range",
            "json",
        ),
    ],
    ids=["doctor --html", "lr-find --plot --format json"],
)
def test_a_file_the_disk_refuses_is_said_after_the_results_which_are_kept(
    cli, tmp_path, monkeypatch, argv, flag, writer, fmt
):
    """doctor --html on a full disk printed no findings, only "error: 'fz.html': File too large", exit 2 (a
    bad call); lr-find --plot printed no lr. The writer refusing as a full disk does (ENOSPC, naming the
    file, as optimlab.atomic raises it): the results print as without the flag, then one line names the
    flag, the file and the OS's reason; exit 5."""
    import errno
    import os

    import optimlab.doctor.report

    def full_disk(_, path, **__):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    path = tmp_path / ("page.html" if flag == "--html" else "lr.svg")
    common = (*argv, "--no-progress", "--format", fmt)
    without = cli(*common)
    monkeypatch.setattr(optimlab.doctor.report, writer, full_disk)
    code, out, err = cli(*common, flag, str(path))
    if fmt == "json":  # the document says no file was written
        out, without = (
            json.loads(out),
            {**json.loads(without[1]), "html" if flag == "--html" else "plot": None},
        )
    else:
        without = without[1]
    assert (code, out) == (5, without)
    assert (
        err
        == f"error: cannot write {flag} '{path}': No space left on device; the results printed are whole\n"
    )
