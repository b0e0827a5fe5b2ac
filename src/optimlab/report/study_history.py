"""Studies over time: the leaderboards of one workload from several studies side by side (last week's
and this week's), and which differences are significant.

Each method's test metric over its seed reruns in a later study is compared with the first study's by
Welch's t-test, Holm-adjusted over the workload's table (:mod:`.significance`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from optimlab.bench import REPORT_FILE, planned_workloads, read_settings
from optimlab.bench import resume_command as folder_resume_command
from optimlab.number_text import count_of
from optimlab.report import figures
from optimlab.report.environment import machine_and_versions
from optimlab.report.html import Page
from optimlab.report.intervals import means_and_intervals
from optimlab.report.metric_labels import axis_label, metric_bounds
from optimlab.report.path_names import names_apart
from optimlab.report.recipes import DEFAULT, differing_fields
from optimlab.study.analysis import Summary, confidence_interval, seed_results
from optimlab.study.protocols import SEEDS, TUNE
from optimlab.study.report import searched
from optimlab.study.run import Progress, StudyResult, counted, load_specs, progress, stored_study_names
from optimlab.study.significance import ALPHA, Comparison, compare_seeds, holm
from optimlab.study.storage import is_url, load_records, open_storage, without_passwords

__all__ = [
    "load_results",
    "resume_command",
    "write_history_report",
]


def load_results(location: str | Path) -> list[tuple[StudyResult, Progress]]:
    """Every optimlab study kept at ``location`` (a folder or an RDB URL), with its counted trials and
    how far it got."""
    storage = open_storage(location, create=False)  # a report writes no journal into a folder without one
    results = []
    for spec in load_specs(location, reading=True):
        names = stored_study_names(storage, spec)
        result = StudyResult(spec, str(location), counted(load_records(storage, names)))
        results.append((result, progress(spec, storage)))
    return results


def resume_command(location: str | Path, name: str) -> str:
    """The command that continues study ``name`` kept at ``location``, as the verb that ran it prints it on
    Ctrl-C: a bench's folder (its settings file) is continued by bench, which also runs the workloads it
    had not started and writes its report; any other study by compare."""
    if not is_url(location):
        return folder_resume_command(location)
    # the folder only receives the report and tables (a bench keeps a folder)
    words = ["compare", "--resume", f"runs/{name}", "--storage", without_passwords(str(location))]
    words += ["--name", name]
    return shlex.join(["optimlab", *words])


@dataclasses.dataclass(frozen=True)
class _Study:
    """One study on the page: its label, trials, how far it got, and where it is kept."""

    label: str
    result: StudyResult
    progress: Progress
    location: str

    def so_far(self, method: str | None = None) -> str:
        """``tuning 3/6, seed reruns 0/2`` of ``method``; of each method, and in all, without one."""
        if method is not None:
            done = self.progress.finished
            planned = self.progress.planned
            return ", ".join(
                f"{what} {done.get((method, phase), 0)}/{planned[(method, phase)]}"
                for what, phase in (("tuning", TUNE), ("seed reruns", SEEDS))
            )
        finished, planned = self.progress.count()
        each = "; ".join(f"{m.name}: {self.so_far(m.name)}" for m in self.result.spec.methods)
        return f"{finished} of {count_of(planned, 'trial')} finished ({each})"

    def status(self) -> str | None:
        """What a study that did not reach its end holds, and how to continue it; None for one that did."""
        if self.progress.ended:
            return None
        if self.progress.interrupted:
            command = resume_command(self.location, self.result.spec.name)
            return f"{self.label} was interrupted: {self.so_far()}. Continue it with `{command}`."
        running = count_of(self.progress.running, "trial")
        return f"{self.label} is still running ({running} now): {self.so_far()}."


def _bench_status(location: str | Path, studies: Sequence[_Study]) -> str | None:
    """Where ``location`` is a bench's folder that did not reach its end, what finished of what its
    settings plan (each workload's study, then the bench's report) and how to continue it; None for any
    other location, and for a bench that ended. A bench stopped between two workloads or while writing
    its report keeps only finished studies: they alone do not show that it stopped."""
    settings = None if is_url(location) else read_settings(location)
    if settings is None:
        return None
    progress = {s.result.spec.name: s.progress for s in studies}
    planned = [w.name for w in planned_workloads(settings)]
    finished = [n for n in planned if n in progress and progress[n].ended]
    begun = [n for n in planned if n in progress and not progress[n].ended]
    not_started = [n for n in planned if n not in progress]
    has_report = (Path(location) / REPORT_FILE).is_file()
    if has_report and len(finished) == len(planned):
        return None
    so_far = f"{len(finished)} of its {count_of(len(planned), 'planned workload')} finished"
    so_far += f" ({', '.join(finished)})" if finished else ""
    for what, names in (("begun", begun), ("not started", not_started)):
        so_far += f"; {what}: {', '.join(names)}" if names else ""
    so_far += "" if has_report else f"; no report ({REPORT_FILE}) yet"
    if running := sum(progress[n].running for n in begun):
        return f"The bench in {location} is still running ({count_of(running, 'trial')} now): {so_far}."
    command = resume_command(location, planned[0])
    return (
        f"The bench in {location} was interrupted: {so_far}. Continue it with `{command}`, which runs what "
        "is left and writes the report."
    )


def _workload(result: StudyResult) -> str:
    recipe = result.spec.recipe
    return f"{recipe.data.name} / {recipe.model.name} ({result.spec.test_metric})"


def _cell(study: _Study, method: str, summary: Summary, text: str) -> str:
    """``text`` (the mean [95% CI] of ``summary``) with its number of seeds and of seed runs that failed
    (the mean leaves them out), or how far a study without a result got, or that ``method`` is not in it."""
    unfinished = "" if study.progress.ended else "interrupted" if study.progress.interrupted else "running"
    if method not in {m.name for m in study.result.spec.methods}:
        return "not in this study"
    if not summary.n:
        return f"{unfinished}: {study.so_far(method)}" if unfinished else _no_result(study, method)
    of = f" of {study.result.spec.seeds}, {unfinished}" if unfinished else ""
    runs = _seed_runs(study, method)
    failed = f", {runs - summary.n} failed" if runs > summary.n else ""  # the mean is of the others
    return f"{text} (n={summary.n}{of}{failed})"


def _unsaid(study: _Study, method: str, summary: Summary) -> str:
    """What the figure's marker of ``method`` in ``study`` does not show (:func:`.figures.unsaid`: failed
    seed runs, a lone seed's missing interval), or why it has none."""
    if runs := _seed_runs(study, method):
        return figures.unsaid(runs, summary.n)
    return "no result" if study.progress.ended else "no seed result yet"


def _seed_runs(study: _Study, method: str) -> int:
    """How many seed reruns of ``method`` the study counted, failed ones too (its summary leaves them out)."""
    return sum(r.method == method and r.phase == SEEDS for r in study.result.records)


def _no_result(study: _Study, method: str) -> str:
    """``no result: its 3 trials failed (diverged, errored or pruned)``: why a study that ended has no seed
    result of a method it compared."""
    trials = [r for r in study.result.records if r.method == method]
    failed = sum(r.state != "complete" for r in trials)
    return f"no result: {failed} of its {count_of(len(trials), 'trial')} failed (diverged, errored or pruned)"


def _change(comparison: Comparison, unfinished: bool, fewest: int) -> str:
    """The cell of a later study's change against the first; ``fewest``: the seed results of the side
    with fewer (two a side, each of one value, read 'too few seeds to test')."""
    if math.isnan(comparison.difference):
        return "no seed reruns to compare yet" if unfinished else "no result"
    if math.isnan(comparison.p_value):
        why = "too few seeds to test" if fewest < 2 else "no spread to test: each side's seeds gave one value"
        return f"{comparison.difference:+.4g} ({why})"
    verdict = "significant" if comparison.significant else "not significant"
    return f"{comparison.difference:+.4g}, p={comparison.adjusted:.3g} ({verdict})"


def _add_workload(page: Page, label: str, studies: Sequence[_Study]) -> None:
    first, later = studies[0], studies[1:]
    first_name = first.label
    methods = list(dict.fromkeys(m.name for s in studies for m in s.result.spec.methods))
    values = {
        (s.label, m): seed_results(s.result.spec, s.result.records, m) for s in studies for m in methods
    }
    comparisons = {
        (s.label, m): compare_seeds(values[(first_name, m)], values[(s.label, m)])
        for s in later
        for m in methods
    }
    adjusted = holm([c.p_value for c in comparisons.values()])
    comparisons = {
        key: dataclasses.replace(c, adjusted=a) for (key, c), a in zip(comparisons.items(), adjusted)
    }
    metric = first.result.spec.test_metric
    bounds = metric_bounds(metric)  # an accuracy's interval stays within [0, 1], as on the leaderboard
    page.section(
        label,
        f"{metric}: mean [95% CI] over the seed reruns of each method's best configuration, in each study; "
        f"then each later study against {first_name}."
        if later
        else f"Only {first_name} ran this workload: nothing to compare it with. {metric}: mean [95% CI] over "
        "the seed reruns of each method's best configuration.",
    )
    for status in filter(None, (s.status() for s in studies)):
        page.paragraph(status)
    unfinished = not first.progress.ended
    summaries = {key: confidence_interval(v, bounds) for key, v in values.items()}
    # each study's column of methods to the decimals its narrowest interval supports, all rows alike
    # (means_and_intervals), as its own page's leaderboard writes it
    # (study.report.mean_cis), so that a number reads alike on both and the column in the order of its
    # means: a row across studies to its own place wrote adam 0.767 [0.617, 0.916] as 0.77 [0.62, 0.92]
    texts = {}
    for keys in [[(s.label, m) for m in methods] for s in studies]:
        texts.update(
            zip(
                keys,
                means_and_intervals([(summaries[k].mean, summaries[k].low, summaries[k].high) for k in keys]),
            )
        )
    rows = [
        (
            m,
            *(_cell(s, m, summaries[(s.label, m)], texts[(s.label, m)]) for s in studies),
            *(
                _change(
                    comparisons[(s.label, m)],
                    unfinished or not s.progress.ended,
                    min(len(values[(first_name, m)]), len(values[(s.label, m)])),
                )
                for s in later
            ),
        )
        for m in methods
    ]
    page.table(
        (
            "method",
            *(f"{s.label}: {metric}" for s in studies),
            *(f"{s.label} - {first_name}" for s in later),
        ),
        rows,
        caption="Leaderboards side by side" if later else "Results",
    )
    if later:
        _significance(page, comparisons, studies)
    # each method of a study keeps its place, and says there what its marker does not show
    groups = {
        m: {s.label: summaries[(s.label, m)] for s in studies if m in {x.name for x in s.result.spec.methods}}
        for m in methods
    }
    notes = {m: {s.label: _unsaid(s, m, summaries[(s.label, m)]) for s in studies} for m in methods}
    if not any(s.n for s in summaries.values()):  # axes of no marker: the table says why
        page.paragraph("No figure: no method has a seed result.")
        return
    page.figure(
        figures.intervals(
            {m: {name: (s.mean, s.low, s.high) for name, s in per.items()} for m, per in groups.items()},
            title=f"{label}: each study's result per method",
            xlabel="method",
            ylabel=f"{axis_label(metric)}: mean, 95% CI",
            notes=notes,
        ),
        "Markers: the mean over seeds; bars: its 95% Student-t confidence interval (none with one seed).",
        name=f"{label}-intervals",
    )


def _significance(
    page: Page, comparisons: dict[tuple[str, str], Comparison], studies: Sequence[_Study]
) -> None:
    """Which changes are significant, or that none could be tested, and what differs between the setups."""
    tested = sum(math.isfinite(c.p_value) for c in comparisons.values())
    significant = [f"{m} in {name}" for (name, m), c in comparisons.items() if c.significant]
    specs = [s.result.spec for s in studies]
    differing = differing_fields([spec.recipe.to_dict() for spec in specs], null=DEFAULT)
    settings = {
        "budget": [spec.budget for spec in specs],
        "seeds": [spec.seeds for spec in specs],
        "protocol": [spec.protocol for spec in specs],
        "search space": [searched(spec) for spec in specs],
    }
    differing.update({k: v for k, v in settings.items() if any(x != v[0] for x in v)})
    verdict = (
        "Significant changes: " + ", ".join(significant) + "."
        if significant
        else "No significant change."
        if tested
        else "Nothing tested: no method has two seed results or more, with a spread, in the first study and a "
        "later one."
    )
    page.paragraph(
        verdict
        + (
            f" Welch's t-test, two-sided, Holm-adjusted over the {count_of(tested, 'test')} of this table, "
            f"at {ALPHA:g}."
            if tested
            else ""
        )
        + (
            f" Not like for like: the studies' setups differ in {', '.join(differing)} (below); a change may "
            "come from these rather than from the methods."
            if differing
            else ""
        ),
    )
    if differing:
        page.table(
            ("field", *(s.label for s in studies)),
            [(k, *v) for k, v in differing.items()],
            caption="What differs between the studies' setups (a change may explain a difference)",
        )
    else:
        page.paragraph(
            "The studies share the same base recipe, budget, seeds, protocol and search space.", note=True
        )


def write_history_report(
    locations: Sequence[str | Path], path: str | Path, *, command: str | None = None
) -> Path:
    """Write the page comparing the studies kept at ``locations`` (oldest first), workload by workload."""
    studies: dict[str, list[_Study]] = {}
    benches = []  # what each bench's folder says of its plan, where it did not reach its end
    # a study is labelled by its folder's name, or its last parts where two folders share a name (a/week,
    # b/week): the page keys its columns and comparisons by label; a URL's password is no part of it
    names = names_apart([without_passwords(str(x)) if is_url(x) else os.path.abspath(x) for x in locations])
    for location, name in zip(locations, names):
        kept = [
            _Study(f"{name}/{result.spec.name}", result, got, str(location))
            for result, got in load_results(location)
        ]
        for study in kept:
            studies.setdefault(_workload(study.result), []).append(study)
        benches.append(_bench_status(location, kept))
    page = Page(
        "optimlab report: studies over time",
        f"{count_of(len(locations), 'storage')}; the first study of each workload is the baseline.",
    )
    for status in filter(None, benches):
        page.paragraph(status)
    for label, group in studies.items():
        _add_workload(page, label, group)
    page.section("How this was run")
    page.table(
        ("setting", "value"),
        [
            *((("command that wrote this page", without_passwords(command)),) if command else ()),
            *(("storage", without_passwords(str(location))) for location in locations),
        ],
    )
    page.table(("machine and libraries (of this report)", "value"), machine_and_versions())
    return page.write(path)
