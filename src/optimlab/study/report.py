"""The study's HTML report: leaderboard, curves with seed bands, LR sensitivity, performance profiles.

One self-contained :class:`~optimlab.report.Page` (inline SVG, no script, no network). With several
studies (one per workload), the report adds AlgoPerf-style performance profiles over time to target.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from optimlab.data.examples import TensorPair
from optimlab.errors import OptimlabError, OptimlabWarning
from optimlab.number_text import count_of
from optimlab.report import Page, figures, machine_and_versions
from optimlab.report.chance import chance_levels
from optimlab.report.intervals import means_and_intervals
from optimlab.report.line_chart import COLOURS
from optimlab.report.metric_labels import axis_label, log_axis, metric_bounds
from optimlab.report.recipes import DEFAULT, defaults_named, flat_fields, not_taken
from optimlab.study.analysis import (
    LeaderboardRow,
    Summary,
    interval_words,
    leaderboard,
    performance_profiles,
    ranks,
    scored,
    seed_band,
    sensitivity,
)
from optimlab.study.compare import FEWEST_SCORED_ROWS
from optimlab.study.protocols import SEEDS, StudySpec
from optimlab.study.run import StudyResult
from optimlab.study.significance import board_ranking_note
from optimlab.study.space import Dimension
from optimlab.study.storage import TrialRecord, location_shown, without_passwords

__all__ = [
    "PROFILE_TAUS",
    "curves_figure",
    "few_tried_note",
    "fresh_seeds",
    "leaderboard_table",
    "mean_cis",
    "nothing_tuned",
    "profiles_figure",
    "searched",
    "sensitivity_figure",
    "steps_to_target_cells",
    "tuning_trials",
    "write_report",
]

PROFILE_TAUS = [1 + 0.05 * i for i in range(61)]  # ratios 1..4, AlgoPerf's range of interest
_LR = "optimizer.lr"


def config_text(params: Mapping[str, Any]) -> str:
    """``lr=0.004642 activation=gelu``: the last part of each field keeps a table narrow."""
    return " ".join(
        f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
        for k, v in params.items()
    )


def mean_cis(board: Sequence[LeaderboardRow], test_rows: int | None = None) -> list[str]:
    """``0.951 [0.940, 0.962]`` of each row: the mean test metric and its 95% interval, every row to the
    decimals the narrowest interval supports, so the column reads in the order of the ranking
    (:func:`optimlab.report.intervals.means_and_intervals`); "no result" without one. ``test_rows``, the
    test split's size where known, is named where it explains seeds that tie."""
    texts = means_and_intervals([(row.test.mean, row.test.low, row.test.high) for row in board])
    return [text + _seeds_note(row.test, test_rows) for row, text in zip(board, texts)]


def _seeds_tie(test: Summary) -> bool:
    return test.n > 1 and test.std == 0


def _seeds_note(test: Summary, test_rows: int | None) -> str:
    """What a mean's interval cannot say: one seed has none; seeds that all gave one value make an interval
    of no width, no spread measured: a test split too small to score (:data:`FEWEST_SCORED_ROWS`: one row
    scores 0 or 1, which the page blamed on the setup), a model and data that ignore the seed, or an
    accuracy of few test rows that two seeds of other splits both put at 59 of 60 (the page said 'the
    setup ignores the seed' of those)."""
    if test.n == 1:
        return " (one seed: no interval)"
    if _seeds_tie(test) and test_rows is not None and test_rows < FEWEST_SCORED_ROWS:
        return (
            f" (its {test.n} seeds gave one value: a test split of {count_of(test_rows, 'row')} is too coarse "
            "to tell them apart)"
        )
    if _seeds_tie(test):
        return (
            f" (its {test.n} seeds gave one value: the setup ignores the seed, or the metric is too "
            "coarse to tell them apart)"
        )
    return ""


def _test_rows(spec: StudySpec) -> int | None:
    """The rows of ``spec``'s test split; None where it has none of its own or they are not rows (the
    user's batches), or its data can no longer be built (a user file moved since the run)."""
    from optimlab.build import build_data

    if spec.test_metric == spec.metric:  # scored on the validation split: no test split
        return None
    try:
        with warnings.catch_warnings():  # the data's notes were said when the run built it
            warnings.simplefilter("ignore", OptimlabWarning)
            test = getattr(build_data(spec.recipe), "test", None)
    except (OptimlabError, OSError):
        return None
    return len(test) if isinstance(test, TensorPair) else None


def leaderboard_table(
    spec: StudySpec, board: Sequence[LeaderboardRow], last: tuple[str, Sequence[Any]] | None
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """The leaderboard's columns and rows, best first; ``last`` is the heading and cells of a last column
    (the time to target, as each report counts it), None for none."""
    heading, cells = last or ("", [None] * len(board))
    tie_rows = _test_rows(spec) if any(_seeds_tie(row.test) for row in board) else None
    # "failed" beside "seeds" read as failed seed runs; it counts the failed tuning trials too
    columns = (
        "rank",
        "method",
        f"{spec.test_metric} mean [95% CI]",
        "std",
        "seeds",
        "failed trials",
        "best config",
    )
    rows = [
        (
            "" if rank is None else rank,  # no seed result: no place in the ranking; a tie: one place
            row.method,
            mean_ci,
            row.test.std if row.test.n > 1 else "",  # of one value: none, not 0
            # the mean's seeds, of those run where some failed: what ranks a method below (failed_share)
            row.test.n if row.seed_runs == row.test.n else f"{row.test.n} of {row.seed_runs}",
            row.tuning_failed + row.seeds_failed,
            config_text(row.params) + (" (edge)" if row.at_edge else _few_tried_cell(row)),
            cell,
        )
        for rank, row, mean_ci, cell in zip(ranks(board), board, mean_cis(board, tie_rows), cells)
    ]
    if last is None:
        return columns, [row[:-1] for row in rows]
    return (*columns, heading), rows


def steps_to_target_cells(spec: StudySpec, board: Sequence[LeaderboardRow]) -> list[str] | None:
    """Each row's steps to target, ``120 (2/3 reached)``: the median over its seed runs, a miss or a
    failure counting as never; ``not reached (1/3)`` where most missed. None for a study without a
    target (the user's data), whose column read "no target" on every row."""
    if spec.target is None:
        return None
    return [
        f"{row.steps_to_target:.0f} ({row.reached}/{row.seed_runs} reached)"
        if math.isfinite(row.steps_to_target)
        else f"not reached ({row.reached}/{row.seed_runs})"
        for row in board
    ]


def searched(spec: StudySpec) -> str:
    """What each method's tuning searched, ``sgd: optimizer.lr 0.0001 to 1 (log)``: the same budget, but a
    range around each optimizer's own scale, which the reader must see to judge the comparison."""

    def words(d: Dimension) -> str:
        if d.choices is not None:
            return f"{d.field} in {', '.join(map(str, d.choices))}"
        return f"{d.field} {d.low:g} to {d.high:g}{' (log)' if d.log else ''}"

    return "; ".join(
        f"{m.name}: {', '.join(words(d) for d in spec.space_for(m).dimensions)}" for m in spec.methods
    )


def fresh_seeds(spec: StudySpec) -> str:
    """``3 fresh seeds``, ``1 fresh seed``: the seed reruns of each method's best configuration."""
    return count_of(spec.seeds, "fresh seed")


def tuning_trials(spec: StudySpec) -> str:
    """``8 tuning trials (a grid of 4 x 2 over optimizer.lr x optimizer.weight_decay)``: those each method's
    plan holds, and the grid they form where it spans several fields; a grid that cannot fill the budget
    (7 over two ranges: 3 x 2) says it is the largest within it."""
    planned = sorted({len(spec.tune_plan(m)) for m in spec.methods})
    counts = str(planned[0]) if len(planned) == 1 else f"{planned[0]} to {planned[-1]}"
    space = spec.space_for(spec.methods[0])
    notes = []
    if spec.protocol == "grid" and len(space.dimensions) > 1:
        shape = " x ".join(map(str, space.grid_shape(spec.budget)))
        notes.append(f"a grid of {shape} over {' x '.join(space.fields)}")
    if planned != [spec.budget]:
        notes.append(
            f"the largest grid within the budget of {spec.budget}"
            if spec.protocol == "grid"
            else f"each configuration of the space once, within the budget of {spec.budget}"
        )
    return f"{counts} tuning trial{'' if counts == '1' else 's'}" + (
        f" ({', '.join(notes)})" if notes else ""
    )


def base_recipe_rows(spec: StudySpec) -> list[tuple[str, Any]]:
    """The base recipe as ``(field, value)`` rows; a field a method sets, or tuning searches, says so in
    place of its base value, which no trial keeps; so does a model field the model does not take
    (``model.activation: relu`` beside the user's model of tanh units read as if it trained with relu)."""
    per_method: dict[str, list[str]] = {}
    for method in spec.methods:
        for field, value in method.updates.items():
            per_method.setdefault(field, []).append(f"{method.name}: {value}")
    tuned = {field for method in spec.methods for field in spec.space_for(method).fields}
    unused = {} if "model.name" in per_method else not_taken(spec.recipe)
    # a section whose component each method sets has no one default
    named = defaults_named(spec.recipe, [s for s in ("model", "optimizer") if f"{s}.name" not in per_method])
    # what a method's own recipe left out (adam's betas beside sgd): the row read as if sgd had them too
    trained = {m.name: dict(flat_fields(spec.method_recipe(m).to_dict(), null=DEFAULT)) for m in spec.methods}
    rows = []
    for field, value in flat_fields(spec.recipe.to_dict(), null=DEFAULT):
        if field in per_method:
            rows.append((field, "set by each method (" + ", ".join(per_method[field]) + ")"))
        elif field in tuned:
            rows.append((field, "tuned (best value per method in the leaderboard)"))
        else:
            shown = unused.get(field, named.get(field, value))
            apart = [name for name, fields in trained.items() if fields.get(field, DEFAULT) != value]
            rows.append((field, f"{shown} (not taken by {', '.join(apart)})" if apart else shown))
    return rows


_LINESTYLES = ("-", "--", ":", "-.")  # each round of the colours in turn: the 11th method is the 1st's dashed


def method_styles(spec: StudySpec) -> dict[str, tuple[str, str]]:
    """Each method's colour and line style, by its place in the study: the same in every figure of the
    page, also where a method has no line (every trial failed). Past the 10 colours the styles change: the
    11th method was drawn as the 1st, in its colour and its solid line."""
    return {
        method.name: (COLOURS[i % len(COLOURS)], _LINESTYLES[i // len(COLOURS) % len(_LINESTYLES)])
        for i, method in enumerate(spec.methods)
    }


def curves_figure(result: StudyResult, chance: Mapping[str, float] | None = None) -> Figure:
    """The tuned metric during training, mean +- std over the seed runs of each method's best
    configuration, with the target line (and the chance level of an accuracy, when known)."""
    spec = result.spec
    x, means, stds = {}, {}, {}
    styles = {}
    for method, style in method_styles(spec).items():
        steps, mean, std = seed_band(result.records, method, spec.metric)
        runs = [r for r in result.records if r.method == method and r.phase == SEEDS]
        failed = sum(not scored(spec, r) for r in runs)
        # the band is of the completed runs: the legend says how many others diverged or failed
        label = f"{method} ({failed} of {count_of(len(runs), 'seed run')} failed)" if failed else method
        if steps or failed:  # every run failed: no line, but a legend entry that says so
            x[label], means[label], stds[label], styles[label] = steps, mean, std, style
    levels = {f"target {spec.target:g}": spec.target} if spec.target is not None else {}
    kind = spec.metric.rpartition("_")[2]
    if chance and kind in chance:
        levels[f"chance {chance[kind]:.3g}"] = chance[kind]
    values = [v for series in means.values() for v in series]
    return figures.lines(
        x,
        means,
        bands=stds,
        bounds=metric_bounds(spec.metric),  # an accuracy's spread stops at 1
        levels=levels or None,
        log_y=log_axis(spec.metric, values),
        xlabel="step (optimizer steps)",
        ylabel=axis_label(spec.metric),
        colours={label: colour for label, (colour, _) in styles.items()},
        linestyles={label: linestyle for label, (_, linestyle) in styles.items()},
        title=f"{spec.name}: best configuration of each method, mean +- std over seeds",
    )


def sensitivity_figure(result: StudyResult, field: str = _LR) -> Figure:
    """The tuned metric against ``field`` in tuning, one line per method: at each value of ``field`` the
    best over the other searched fields (a grid of lr x weight decay drew a line zigzagging through both
    decays at each lr); a NaN, every trial there failed: a gap, its value named in the legend (a gap at a
    line's end does not show)."""
    spec = result.spec

    def best_at_each(p: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        best: dict[float, float] = {}
        for x, y in p:
            if x not in best or spec.better(y, best[x]):
                best[x] = y
        return sorted(best.items())

    points = {m.name: best_at_each(sensitivity(result.records, m.name, field)) for m in spec.methods}

    def failed_at(n: str, p: Sequence[tuple[float, float]]) -> str:
        failed = [f"{x:g}" for x, y in p if not math.isfinite(y)]
        if len(failed) == len(p):  # no point at all: its legend entry says so, not an empty line
            return f"{n} (every trial failed)"
        return f"{n} (failed at {', '.join(failed)})" if failed else n

    label = {n: failed_at(n, p) for n, p in points.items()}
    points = {label[n]: p for n, p in points.items() if p}
    styles = method_styles(result.spec)
    return figures.lines(
        {n: [x for x, _ in p] for n, p in points.items()},
        {n: [y for _, y in p] for n, p in points.items()},
        log_x=True,
        points=True,
        colours={label[n]: colour for n, (colour, _) in styles.items() if n in label},
        linestyles={label[n]: linestyle for n, (_, linestyle) in styles.items() if n in label},
        xlabel="learning rate" if field == _LR else field,
        ylabel=axis_label(result.spec.metric),
        title=f"{result.spec.name}: tuning, {result.spec.metric} against {'the learning rate' if field == _LR else field}",
    )


def profiles_figure(taus: Sequence[float], profiles: Mapping[str, Sequence[float]], unit: str) -> Figure:
    """Performance profiles: the fraction of workloads solved within tau times the fastest method's time.
    Methods of one profile share a line labelled with them all (drawn apart, the last hid the others)."""
    sharing: dict[tuple[float, ...], list[str]] = {}
    for method, profile in profiles.items():
        sharing.setdefault(tuple(profile), []).append(method)
    lines = {
        ", ".join(methods) + (" (the same profile)" if len(methods) > 1 else ""): list(profile)
        for profile, methods in sharing.items()
    }
    return figures.lines(
        taus,
        lines,
        linestyles={m: _LINESTYLES[i // len(COLOURS) % len(_LINESTYLES)] for i, m in enumerate(lines)},
        steps=True,
        ylim=(-0.02, 1.02),
        title=f"Performance profiles (time to target in {unit})",
        xlabel="tau: time to target / fastest method's",
        ylabel="fraction of workloads",
        legend=True,  # one line may stand for every method (none reached the target): it is named
    )


def model_sizes(records: Sequence[TrialRecord]) -> str:
    """Each method's parameters, ``"adam: 1,234 parameters; wide: 5,678"``, where the methods' models
    differ in size (a comparison of widths, of norms); '' where they are one size or unrecorded."""
    sizes: dict[str, set[int]] = {}
    for record in records:
        if record.model is not None:
            sizes.setdefault(record.method, set()).add(record.model["parameters"])
    if len({n for counts in sizes.values() for n in counts}) < 2:
        return ""
    return "; ".join(
        f"{method}: {' or '.join(f'{n:,}' for n in sorted(counts))} parameters"
        for method, counts in sizes.items()
    )


def _few_tried_cell(row: LeaderboardRow) -> str:
    """What the best config's cell says of the fields tuning tried fewer than 3 values of."""
    if 1 in row.few_tried.values():
        return " (no tuning: one value tried)"
    return " (of 2 tried)" if row.few_tried else ""


def few_tried_note(board: Sequence[LeaderboardRow]) -> str:
    """What a page, the terminal and a JSON document say of the fields of which tuning tried fewer than 3
    values (``few_tried``): of one value, the best config is no tuned one; of two, the best is one of them,
    so at an edge whatever the method, and no edge note can tell."""

    def tried(count: int) -> str:
        return "; ".join(
            f"{row.method}: {', '.join(f for f, n in row.few_tried.items() if n == count)}"
            for row in board
            if count in row.few_tried.values()
        )

    notes = []
    if one := tried(1):
        notes.append(
            f"No tuning: one value tried ({one}): the best config is the one value run, not a tuned one; a "
            "budget of 3 or more searches the range."
        )
    if two := tried(2):
        notes.append(
            f"Two values tried of the tuned range ({two}): two points cannot locate an optimum, the best is "
            "one of them wherever the optimum lies; a budget of 3 or more tries a point between them."
        )
    return " ".join(notes)


def split_note(spec: StudySpec) -> str:
    """What the seed reruns' test rows share with the tuning. A study that fixes its split
    (:attr:`~optimlab.study.protocols.StudySpec.fixed_split`, every study since 2026-12-07) shares none: each
    trial splits the data at the tuning seed. One stored before splits each rerun anew by its seed
    (:func:`resplit_overlap`), which its page keeps saying, as its numbers are kept."""
    if not spec.fixed_split:
        return resplit_overlap(spec)
    seed = spec.recipe.data.split_seed
    at = f"the tuning seed ({spec.recipe.training.seed})" if seed is None else f"data.split_seed {seed}"
    return (
        f"Every trial splits the data at {at}: the seed reruns are scored on the test rows the tuning "
        f"never trained or chose on, so {spec.test_metric} is free of the selection; a fresh seed changes "
        "the initial weights and the batch order, not the rows."
    )


def resplit_overlap(spec: StudySpec) -> str:
    """What a study stored before 2026-12-07 says of its reruns' test rows: data split by the seed (a data
    set without a test set of its own) are split anew by each rerun's seed, so about ``val_fraction`` of its
    test rows were validation rows at the tuning seed, where each method's configuration was chosen
    (measured on digits: 64, 62 and 77 of 359 at seeds 1 to 3). The protocol is kept, as stored studies'
    numbers are."""
    share = spec.recipe.data.val_fraction
    return (
        f"Where the data set has no test set of its own, each seed rerun splits it anew by its seed: about "
        f"{share:.0%} (val_fraction) of a rerun's test rows were validation rows at the tuning seed, where "
        f"the configuration was chosen, so {spec.test_metric} may flatter each method a little, the more "
        "the fewer the rows (data with a test set of their own, which no seed splits, share none)."
    )


def nothing_tuned(spec: StudySpec) -> str:
    """Where each method's plan is one trial over a range: that it tuned nothing (the page said '1 tuning
    trial per method over sgd: optimizer.lr 0.0001 to 1', as if the lr were tuned over four decades)."""
    planned = {len(spec.tune_plan(m)) for m in spec.methods}
    ranges = any(
        d.choices is None or len(d.choices) > 1 for m in spec.methods for d in spec.space_for(m).dimensions
    )
    if planned != {1} or not ranges:
        return ""
    point = "the middle" if spec.protocol == "grid" else "one random draw"
    return f" (nothing tuned: each method ran {point} of its range)"


def _add_study(
    page: Page, result: StudyResult, board: Sequence[LeaderboardRow], chance: Mapping[str, float]
) -> None:
    spec = result.spec
    tuned_on = {r.seed for r in result.records if r.phase != SEEDS}
    reruns = sorted({r.seed for r in result.records if r.phase == SEEDS})
    page.section(
        spec.name,
        f"Protocol {spec.protocol}: {tuning_trials(spec)} per method"
        + (f" (seed {', '.join(map(str, sorted(tuned_on)))})" if tuned_on else "")
        + f" over {searched(spec)}{nothing_tuned(spec)}, then the best configuration on {fresh_seeds(spec)}"
        + (f" ({', '.join(map(str, reruns))})" if reruns else "")
        + f"; tuned on {spec.metric} ({spec.goal}), reported on {spec.test_metric} with its "
        f"{interval_words(spec.test_metric)}.",
    )
    cells = steps_to_target_cells(spec, board)
    heading = "steps to target (median over seed runs; a miss or a failure counts as never)"
    page.table(
        *leaderboard_table(spec, board, None if cells is None else (heading, cells)), caption="Leaderboard"
    )
    if spec.test_metric == spec.metric:  # no test split (the user's (train, val), an image folder's)
        page.paragraph(
            f"No test split: {spec.metric} is of the validation split that chose each method's "
            "configuration, on fresh seeds; the choice favours it there, so the numbers may flatter every "
            "method (a test split of your own, which no seed splits anew, gives an unbiased estimate)."
        )
    else:
        page.paragraph(split_note(spec))
    if sizes := model_sizes(result.records):
        page.paragraph(f"The methods train models of different sizes: {sizes}.")
    if untuned := spec.untuned_lr():
        page.paragraph(f"Not a comparison of tuned optimizers: {untuned}.")
    if note := board_ranking_note(spec, result.records, board):
        page.paragraph(note)
    edges = [f"{row.method}: {', '.join(row.at_edge)}" for row in board if row.at_edge]
    if edges:
        page.paragraph(
            f"Best value at the edge of the tuned range ({'; '.join(edges)}): widen the range to be sure "
            "the method, not the range, decided."
        )
    if note := few_tried_note(board):
        page.paragraph(note)
    if any(row.test.n for row in board):
        page.figure(
            curves_figure(result, chance),
            f"{spec.metric} during training, best configuration of each method "
            "(band, or bars at few evaluations: +- one std over the seeds).",
        )
    else:
        page.paragraph(
            f"No seed rerun finished: no result to rank, no curve to draw ({len(result.records)} trials)."
        )
    if any(_LR in r.params for r in result.records):
        others = sorted({f for m in spec.methods for f in spec.space_for(m).fields} - {_LR})
        page.figure(
            sensitivity_figure(result),
            "Learning-rate sensitivity in tuning (a gap: the trial failed)"
            + (f"; at each learning rate, the best over {', '.join(others)}." if others else "."),
        )
    # a seed rerun that completed without a finite test metric is failed too (the leaderboard counts it)
    unscored = f"no finite {spec.test_metric} on the test split"
    failed = [
        (r.method, r.key, r.status, r.message or "")
        if r.state != "complete"
        else (r.method, r.key, r.status, unscored)
        for r in result.records
        if r.state != "complete" or (r.phase == SEEDS and not scored(spec, r))
    ]
    if failed:
        page.table(
            ("method", "trial", "status", "reason"),
            failed,
            caption=f"Failed, diverged or pruned trials ({len(failed)})",
        )
    page.table(("field", "value"), base_recipe_rows(spec), caption="Base recipe (what every trial shares)")
    read_by = "" if result.location is None else " (an Optuna storage: optuna-dashboard reads it)"
    page.paragraph(f"Storage: {location_shown(result.location)}{read_by}.", note=True)


def _of_one_method_set(results: Sequence[StudyResult]) -> set[str]:
    """The names of the studies whose methods are the most common set among ``results`` (the first on a
    tie): the workloads a performance profile compares those methods on."""
    sets = [tuple(m.name for m in r.spec.methods) for r in results]
    common = max(dict.fromkeys(sets), key=sets.count, default=())
    return {r.spec.name for r, methods in zip(results, sets) if methods == common}


def write_report(
    results: Sequence[StudyResult],
    path: str | Path,
    *,
    command: str | None = None,
    chance: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Write the HTML report of one study, or of several (one per workload, with profiles); ``command``
    is the command line that ran them, shown with the machine and library versions; ``chance``, the
    :func:`~optimlab.report.chance.chance_levels` of studies by name, read while their data were held
    (those of any other study are read here, which loads its data). The profiles are
    drawn over the studies of one set of methods (the most of them share; the first such set on a tie):
    a profile compares methods on every workload, so studies of one folder run apart with other
    methods (compare --name a, then --name b) are not drawn as its workloads."""
    boards = [leaderboard(r.spec, r.records) for r in results]
    together = _of_one_method_set(results)
    page = Page(
        "optimlab compare: " + ", ".join(r.spec.name for r in results),
        "Each method gets the same tuning budget; its best configuration reruns on fresh seeds.",
    )
    for result, board in zip(results, boards):
        levels = (chance or {}).get(result.spec.name)
        _add_study(page, result, board, chance_levels(result.spec.recipe) if levels is None else levels)
    if len(together) > 1:
        costs = {
            r.spec.name: {row.method: row.seconds_to_target for row in board}
            for r, board in zip(results, boards)
            if r.spec.name in together
        }
        page.section("Across workloads")
        if not any(math.isfinite(cost) for per in costs.values() for cost in per.values()):
            # every profile 0 at every tau: flat lines on the axis, a figure that says nothing
            page.paragraph(
                "No method reached the target on any workload (in the median of its seed runs): no "
                "performance profile to draw."
                if any(r.spec.target is not None for r in results if r.spec.name in together)
                else "The workloads set no target: no time to target, no performance profile to draw."
            )
        else:
            page.figure(
                profiles_figure(PROFILE_TAUS, performance_profiles(costs, PROFILE_TAUS), "seconds"),
                "Fraction of workloads on which each method reaches the target within "
                "tau times the fastest method's time.",
            )
    page.section("How this was run")
    page.table(
        ("setting", "value"),
        [
            ("command", without_passwords(command or "")),
            *(("storage", location_shown(r.location)) for r in results[:1]),
        ],
    )
    page.table(("machine and libraries", "value"), machine_and_versions())
    return page.write(path)
