"""Studies over time: the page."""

import html
import json
import re

import pytest
import torch

from optimlab.report.study_history import load_results, write_history_report
from optimlab.study import StudySpec, methods_from, run_study
from optimlab.workloads import get_workload


def _text(page):
    """The page's words, tags dropped."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())))


def test_an_interrupted_study_shows_what_finished_and_how_to_continue(tmp_path):
    """An interrupted study read 'no result' in every cell; its finished trials and the command that
    continues it are now on the page."""
    spec = StudySpec.for_workload(
        "digits", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"]),
        budget=2, seeds=2,
    )  # fmt: skip
    run_study(spec, tmp_path / "week-1")

    def ctrl_c_after_three(records):
        if sum(r.finished for r in records) >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, tmp_path / "week-2", on_progress=ctrl_c_after_three)
    stopped = tmp_path / "week-2"
    alone = _text(write_history_report([stopped], tmp_path / "alone.html"))
    side_by_side = _text(write_history_report([tmp_path / "week-1", stopped], tmp_path / "both.html"))
    resume = f"Continue it with `optimlab compare --resume {stopped}`"
    for text in (alone, side_by_side):
        assert "week-2/digits was interrupted: 3 of 8 trials finished (sgd: tuning 2/2, seed reruns 0/2; " \
            "adam: tuning 1/2, seed reruns 0/2)." in text and resume in text  # fmt: skip
    assert "interrupted: tuning 2/2, seed reruns 0/2" in side_by_side
    assert "no seed reruns to compare yet" in side_by_side and "no result" not in side_by_side

    run_study(spec, stopped, resume=True)
    finished = _text(write_history_report([tmp_path / "week-1", stopped], tmp_path / "after.html"))
    assert "was interrupted" not in finished and "(n=2)" in finished


def test_an_interrupted_bench_is_continued_by_bench_which_runs_the_workloads_not_started(cli, tmp_path):
    """A bench stopped in its first workload read `optimlab compare --resume FOLDER`, which continued that
    study alone: the second workload never ran and no bench report was written."""
    import shlex

    import optimlab.bench.runner as runner

    folder = tmp_path / "bench"
    flags = ["--workloads", "two_spirals_mlp,digits_mlp", "--optimizers", "sgd", "--budget", "2", "--seeds", "1",
             "--backend", "local", "--no-progress"]  # fmt: skip
    run_study_until_ctrl_c = runner.run_study

    def ctrl_c_after_one_trial(spec, location, **options):
        def stop(records):
            if any(r.finished for r in records):
                raise KeyboardInterrupt

        return run_study_until_ctrl_c(spec, location, **(options | {"on_progress": stop}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "run_study", ctrl_c_after_one_trial)
        code, _, err = cli("bench", *flags, "--out", str(folder))
    assert code == 130 and f"optimlab bench --resume {folder}" in err, err

    stopped = _text(write_history_report([folder], tmp_path / "stopped.html"))
    assert "bench/two_spirals_mlp was interrupted" in stopped and "bench/digits_mlp" not in stopped
    assert "0 of its 2 planned workloads finished; begun: two_spirals_mlp; not started: digits_mlp" in stopped
    (command,) = set(re.findall(r"Continue it with `([^`]+)`", stopped))  # the study's and the bench's
    assert command == f"optimlab bench --resume {folder}"

    code, _, err = cli(*shlex.split(command)[1:], "--no-progress")
    assert code == 0, err
    done = _text(write_history_report([folder], tmp_path / "done.html"))
    assert "bench/digits_mlp" in done and "was interrupted" not in done
    assert (folder / "report.html").is_file()


def test_a_bench_stopped_between_workloads_or_before_its_report_shows_what_is_left(cli, tmp_path):
    """A bench stopped after one workload's studies finished and before the next began, or while writing
    its report, kept only finished studies: the page showed no interruption and no command."""
    folder = tmp_path / "bench"
    flags = ["--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--backend", "local", "--no-progress"]
    code, out, _ = cli("bench", "--workloads", "two_spirals_mlp", *flags, "--out", str(folder))
    assert (
        code == 0
        and "(grid, 1 trial over its learning rate), then its best on the same 1 fresh seed\n" in out
    )
    assert "interrupted" not in _text(write_history_report([folder], tmp_path / "done.html"))
    resume = f"Continue it with `optimlab bench --resume {folder}`, which runs what is left"

    (folder / "report.html").unlink()  # stopped while writing the report
    no_report = _text(write_history_report([folder], tmp_path / "no-report.html"))
    assert "1 storage; the first study of each workload is the baseline" in no_report  # not 'storage(s)'
    assert (
        f"The bench in {folder} was interrupted: 1 of its 1 planned workload finished (two_spirals_mlp); "
        "no report (report.html) yet."
        in no_report
        and resume in no_report
    )
    settings = folder / "bench.json"
    planned = json.loads(settings.read_text()) | {"workloads": "two_spirals_mlp,digits_mlp"}
    settings.write_text(json.dumps(planned))  # stopped before the second workload began
    between = _text(write_history_report([folder], tmp_path / "between.html"))
    assert (
        f"The bench in {folder} was interrupted: 1 of its 2 planned workloads finished (two_spirals_mlp); "
        "not started: digits_mlp; no report (report.html) yet."
        in between
        and resume in between
    )

    assert cli("bench", "--resume", str(folder), "--no-progress")[0] == 0
    resumed = _text(write_history_report([folder], tmp_path / "resumed.html"))
    assert "interrupted" not in resumed and "bench/digits_mlp" in resumed


def test_studies_of_other_budgets_or_seeds_are_said_to_be_no_like_for_like_where_changes_are_judged(
    tmp_path, page_reader
):
    """The verdict 'No significant change' (or a significant one) read as the methods' doing while the
    studies trained 1 and 2 epochs on 2 and 3 seeds: only a table below the figure said so."""
    for week, epochs, seeds in (("week-1", 1, 2), ("week-2", 2, 3), ("week-3", 1, 2)):
        spec = StudySpec.for_workload(
            "digits", get_workload("digits_mlp", epochs=epochs), methods_from("optimizer.name", ["sgd"]),
            budget=1, seeds=seeds,
        )  # fmt: skip
        run_study(spec, tmp_path / week)

    def verdict(*weeks):
        page = write_history_report([tmp_path / w for w in weeks], tmp_path / "page.html").read_text()
        (said,) = [p for p in page_reader(page).paragraphs if "Welch's t-test" in p]
        return said

    assert verdict("week-1", "week-2").endswith(
        "Not like for like: the studies' setups differ in training.epochs, seeds (below); "
        "a change may come from these rather than from the methods."
    )
    assert "like for like" not in verdict("week-1", "week-3")


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory):
    """Two studies of one workload, a seed each: week-1 compares sgd and adam, week-2 only sgd, over lr in
    1e4..1e6, where every trial diverges."""
    from optimlab.study.space import Dimension, SearchSpace

    folder = tmp_path_factory.mktemp("history")
    workload = get_workload("digits_mlp", epochs=1)
    first = StudySpec.for_workload(
        "digits", workload, methods_from("optimizer.name", ["sgd", "adam"]), budget=1, seeds=1
    )
    diverging = SearchSpace((Dimension("optimizer.lr", low=1e4, high=1e6, log=True),))
    later = StudySpec.for_workload(
        "digits", workload, methods_from("optimizer.name", ["sgd"]), budget=1, seeds=1, space=diverging
    )
    run_study(first, folder / "week-1")
    run_study(later, folder / "week-2")
    return folder


def test_a_method_left_out_or_failed_says_which_and_a_changed_search_space_is_no_like_for_like(two_weeks):
    """'no result' stood both for lion, not in the later study, and for sgd, all of whose trials diverged;
    a later study searching lr in 1e4..1e6 was called like for like but for its budget and seeds; with
    one seed a side, 'No significant change ... over the 0 tests' though nothing was tested."""
    text = _text(write_history_report([two_weeks / "week-1", two_weeks / "week-2"], two_weeks / "page.html"))
    assert "no result: 1 of its 1 trial failed (diverged, errored or pruned)" in text  # sgd in week-2
    assert "not in this study" in text  # adam in week-2
    assert "the studies' setups differ in search space" in text
    assert "sgd: optimizer.lr 10000 to 1e+06 (log)" in text
    assert "Nothing tested: no method has two seed results or more" in text and "No significant" not in text


def test_a_study_alone_shows_its_results(two_weeks, page_reader):
    """`optimlab report runs/compare-x` of one study wrote a page of 'nothing to compare it with' and no
    result at all."""
    page = write_history_report([two_weeks / "week-1"], two_weeks / "alone.html")
    (table,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Results"]
    cells = {r["method"]: r["week-1/digits: test_accuracy"] for r in table.records()}
    assert set(cells) == {"sgd", "adam"} and all(cell.endswith("(n=1)") for cell in cells.values()), cells


class DivergesOnSeed2(torch.nn.Module):
    """A linear model whose outputs turn NaN after its first training step in a run seeded 2."""

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.linear, self.doomed, self.steps = torch.nn.Linear(input_shape[0], num_outputs), False, 0
        self.doomed = torch.initial_seed() == 2

    def forward(self, x):
        self.steps += self.training
        return self.linear(x) * (float("nan") if self.doomed and self.steps > 1 else 1.0)


def test_a_seed_run_that_failed_is_counted_beside_the_mean_of_the_others(tmp_path, page_reader):
    """A method whose seed run diverged read '0.9 [...] (n=2)', as if it had been run on 2 seeds: the mean
    of its survivors, its failure nowhere on the page."""
    import optimlab

    x = torch.randn(90, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    optimlab.compare(["sgd"], model=DivergesOnSeed2, data=(x, y), budget=1, seeds=3, epochs=1, out=tmp_path)
    page = write_history_report([tmp_path], tmp_path / "alone.html")
    (table,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Results"]
    [cell] = [r[f"{tmp_path.name}/your_code: test_accuracy"] for r in table.records()]
    assert cell.endswith("(n=2, 1 failed)"), cell


# Another Python session on the study: `optimlab compare --resume` (its one line of refusal this process's
# stderr), `optimlab report` of its folder, and the search spaces it reads from the store, in one process:
# one interpreter start where three cost 2 s each. The resume first, as a fresh process runs it: after
# load_specs in the same process its refusal is worded otherwise.
ANOTHER_SESSION = """
import json, sys
from optimlab.cli.app import main
from optimlab.study.run import load_specs
folder, page = sys.argv[1:]
codes = {}
for verb, argv in (("resume", ["compare", "--resume", folder]), ("report", ["report", folder, "--out", page])):
    try:
        main(argv)
    except SystemExit as ended:
        codes[verb] = ended.code
[spec] = load_specs(folder, reading=True)
print(json.dumps({**codes, "spaces": {m.name: spec.space_for(m).to_dict() for m in spec.methods}}))
"""


@pytest.fixture(scope="module")
def study_of_session_objects(tmp_path_factory, forked_parents):
    """A comparison of an optimizer class of this session and adam on tensors of this session; the spaces
    each method searched, read in this process; and another session's reading of it (its stdout's last
    line, its stderr): a process forked by a parent that imported optimlab and ran nothing."""
    import os
    import subprocess
    from pathlib import Path

    import optimlab
    from optimlab.study.run import load_specs

    class MomentumSGD(torch.optim.SGD):  # of this call: no other process can import it
        def __init__(self, params, lr=0.1):
            super().__init__(params, lr=lr, momentum=0.9)

    folder = tmp_path_factory.mktemp("session-objects")
    x = torch.randn(90, 3, generator=torch.Generator().manual_seed(0))
    done = optimlab.compare(
        [MomentumSGD, "adam"], data=(x, (x[:, 0] > 0).long()), budget=1, seeds=2, epochs=1, out=folder
    )
    [spec] = load_specs(folder)  # in this process: the spaces measured on the optimizers
    searched = {m.name: spec.space_for(m).to_dict() for m in spec.methods}
    args, output = [str(folder), str(folder / "again.html")], tmp_path_factory.mktemp("another-session")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code, out, err = forked_parents().run(args, Path.cwd(), env, output, 300, source=ANOTHER_SESSION)
    other = subprocess.CompletedProcess(args, code, out, err)
    assert other.returncode == 0, other.stderr  # a crash there read as an IndexError on its empty stdout
    return done, folder, searched, other


def test_a_study_of_the_users_objects_is_reported_by_another_session_and_resumed_by_none(
    study_of_session_objects,
):
    """optimlab.compare(data=(x, y)) names the data '<data>', an object of its session: `optimlab report`
    of the folder, in another process, refused the whole study ('unknown dataset <data>'), and so did
    `optimlab compare --resume`, saying nothing of the objects. The report is written from the stored
    trials now; the resume is refused naming the objects and how to continue."""
    done, folder, _, other = study_of_session_objects
    said = json.loads(other.stdout.strip().splitlines()[-1])
    assert said["report"] == 0, other.stderr
    assert _leaderboard(folder / "again.html") == _leaderboard(folder / "report.html")  # compare's page
    assert {row[1]: float(row[2].split()[0]) for row in _leaderboard(folder / "again.html")} == pytest.approx(
        {row.method: row.test.mean for row in done.leaderboard}, abs=0.005
    )
    [line] = other.stderr.strip().splitlines()
    assert said["resume"] == 2 and re.fullmatch(
        r"error: study 'your_code' was run on objects of the Python session that ran it \(dataset "
        r"<data(_\d+)?>, optimizer <momentumsgd(_\d+)?>\): continue it from Python with the same objects, "
        r"optimlab.compare\(model=\.\.\., data=\.\.\., out=\.\.\., resume=True\)",
        line,
    ), line


def test_a_study_of_the_users_optimizer_class_is_reported_by_another_session(study_of_session_objects):
    """optimlab.compare(optimizers=[MyOpt]) with a class of the session: `optimlab report` of the folder, in
    another process, refused the study, since the default search space is measured on the optimizer. The
    space each method's study stored is read instead: the one the study searched."""
    done, folder, searched, other = study_of_session_objects
    said = json.loads(other.stdout.strip().splitlines()[-1])
    assert said["spaces"] == searched and said["report"] == 0, other.stderr
    assert searched[done.leaderboard[0].method] != searched[done.leaderboard[1].method]  # sgd's, adam's
    shown = {row[1]: row[2] for row in _leaderboard(folder / "again.html")}  # 'mean [low, high]'
    for row in done.leaderboard:
        numbers = [float(x) for x in re.findall(r"[-\d.]+", shown[row.method])[:3]]
        assert numbers == pytest.approx([row.test.mean, row.test.low, row.test.high], abs=0.005), shown


def _leaderboard(page):
    """The rows of the page's leaderboard (rank, method, mean [95% CI], ...), as cell texts."""
    from conftest import read_page

    return next(t.rows for t in read_page(page.read_text()).tables if t.header[:2] == ["rank", "method"])


def _seeded_alike(input_shape, num_outputs):
    """A linear model that draws its weights from a seed of its own: every seed run trains it alike."""
    torch.manual_seed(0)
    return torch.nn.Linear(input_shape[0], num_outputs)


def test_seeds_that_gave_one_value_a_side_are_said_to_have_no_spread_not_too_few(tmp_path, page_reader):
    """Two studies of 2 seeds a side, each side one value: the change read '+0 (too few seeds to test)'."""
    import optimlab

    x = torch.randn(60, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    splits = ((x[:40], y[:40]), (x[40:50], y[40:50]), (x[50:], y[50:]))  # fixed: no split by the seed
    for week in ("week-1", "week-2"):
        optimlab.compare(
            ["sgd"], model=_seeded_alike, data=splits, budget=1, seeds=2, epochs=1, out=tmp_path / week,
            recipe={"training.batch_size": 40},  # one batch an epoch: the seed's shuffle changes nothing
        )  # fmt: skip
    page = write_history_report([tmp_path / "week-1", tmp_path / "week-2"], tmp_path / "page.html")
    (table,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboards side by side"]
    [row] = table.records()
    assert (
        row["week-2/your_code - week-1/your_code"]
        == "+0 (no spread to test: each side's seeds gave one value)"
    )


def _figure_notes(page):
    """The words written inside the page's interval figure (matplotlib's SVG keeps its text as text)."""
    (svg,) = re.findall(r"<svg.*?</svg>", page.read_text(), flags=re.S)
    return {html.unescape(t).strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}


def test_the_interval_figure_says_a_method_without_a_result_or_an_interval_beside_its_place(two_weeks):
    """week-2's sgd (every trial diverged) left an empty place in the figure beside week-1's marker, as if
    not run, and week-1's one-seed markers drew bars of no width, as seeds that agree: the table beside
    said 'no result' and 'n=1', the figure neither (the gallery's figures say both, 0108a2d)."""
    page = write_history_report([two_weeks / "week-1", two_weeks / "week-2"], two_weeks / "notes.html")
    notes = _figure_notes(page)
    assert "no result" in notes, notes  # sgd in week-2
    assert "1 run: no interval" in notes, notes  # each method's one seed in week-1


def test_the_interval_figure_names_a_methods_failed_seed_runs_beside_its_marker(tmp_path):
    """A method whose seed run 2 of 3 diverged drew the mean and interval of the other two in the figure
    without a word, as if over three seeds (the table says 'n=2, 1 failed')."""
    import optimlab

    x = torch.randn(90, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    optimlab.compare(["sgd"], model=DivergesOnSeed2, data=(x, y), budget=1, seeds=3, epochs=1, out=tmp_path)
    assert "1 of 3 runs failed" in _figure_notes(write_history_report([tmp_path], tmp_path / "alone.html"))


def test_studies_kept_in_folders_of_one_name_are_each_reported_with_their_own_numbers(two_weeks, page_reader):
    """`optimlab report a/week b/week`, two studies of one name in folders of one name, labelled both
    'week/digits': the second's numbers replaced the first's, so both columns showed the later study's
    (sgd 'no result' in the first, where it has a result) and the change was the later study against
    itself, '+0, p=1'. Truth: each folder's own trials (week-1: sgd and adam each one seed; week-2: sgd
    diverged on every trial, adam not in it)."""
    import shutil

    shutil.copytree(two_weeks / "week-1", two_weeks / "a" / "week")
    shutil.copytree(two_weeks / "week-2", two_weeks / "b" / "week")
    page = write_history_report([two_weeks / "a" / "week", two_weeks / "b" / "week"], two_weeks / "same.html")
    (table,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboards side by side"]
    assert table.header == [
        "method",
        "a/week/digits: test_accuracy",
        "b/week/digits: test_accuracy",
        "b/week/digits - a/week/digits",
    ]
    cells = {r["method"]: r for r in table.records()}
    assert cells["sgd"]["a/week/digits: test_accuracy"].endswith("(n=1)")
    assert cells["sgd"]["b/week/digits: test_accuracy"].startswith("no result: 1 of its 1 trial failed")
    assert cells["adam"]["b/week/digits: test_accuracy"] == "not in this study"


def test_a_study_whose_every_trial_failed_draws_no_empty_axes(two_weeks, page_reader):
    """week-2 alone (its one method diverged on every trial) drew an interval figure of no marker, an
    accuracy axis from -0.04 to 0.04 under 'no result'. Truth: there is no seed result to draw; the table
    says why."""
    page = write_history_report([two_weeks / "week-2"], two_weeks / "failed.html")
    assert "<svg" not in page.read_text()
    assert "No figure: no method has a seed result." in page_reader(page.read_text()).paragraphs


def test_studies_kept_in_databases_of_one_name_are_told_apart_without_their_passwords(two_weeks, monkeypatch):
    """Two RDB storages whose databases share a name (postgresql://u:pw@h1/optimlab, ...@h2/optimlab) were
    told apart by `u:pw@h1`: the password stood in the headings, the table columns and the figure. Truth:
    a page shows a storage as errors do, its password hidden (the storage row already did)."""
    import optimlab.report.study_history as study_history

    urls = {
        "postgresql://u:s3cret-pw@h1/optimlab": "week-1",
        "postgresql://u:s3cret-pw@h2/optimlab": "week-2",
    }
    read = study_history.load_results
    monkeypatch.setattr(study_history, "load_results", lambda location: read(two_weeks / urls[str(location)]))
    page = write_history_report(list(urls), two_weeks / "databases.html").read_text()
    assert "s3cret" not in page
    assert "h1/optimlab/digits" in page and "h2/optimlab/digits" in page


def test_a_studys_numbers_read_as_on_its_own_page(tmp_path, page_reader):
    """`optimlab report s1 s2` wrote adam 0.77 [0.62, 0.92] where s1's own page wrote 0.767 [0.617, 0.916]:
    a method's row across studies took one decimal place, the study's leaderboard its column's. Truth:
    each study's page as compare writes it (study.report.write_report), cell by cell."""
    from optimlab.study.report import write_report

    workload = get_workload("two_spirals_mlp", epochs=2)
    methods = methods_from("optimizer.name", ["sgd", "adam"])
    for name, seeds in (("s1", 3), ("s2", 2)):
        run_study(
            StudySpec.for_workload("spirals", workload, methods, budget=3, seeds=seeds), tmp_path / name
        )
    page = write_history_report([tmp_path / "s1", tmp_path / "s2"], tmp_path / "over.html")
    (table,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboards side by side"]
    for name in ("s1", "s2"):
        own = write_report([r for r, _ in load_results(tmp_path / name)], tmp_path / f"{name}.html")
        board = next(t for t in page_reader(own.read_text()).tables if t.header[:2] == ["rank", "method"])
        shown = {row[1]: row[2].partition("]")[0] for row in board.rows}  # mean [low, high], no note
        cells = {r["method"]: r[f"{name}/spirals: test_accuracy"].partition("]")[0] for r in table.records()}
        assert cells == shown and all("[" in cell for cell in cells.values()), (cells, shown)
