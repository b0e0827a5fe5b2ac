"""A study's trial counts: every entry point (the CLI, optimlab.compare, study.compare, StudySpec) accepts
the same seeds and budget, within one bound on what a study plans, refused before any plan is built."""

import re

import pytest

import optimlab
from optimlab.errors import InvalidValueError
from optimlab.registry import STUDY_TRIALS, TRIALS_PLANNED_WHY
from optimlab.study import compare as study_compare
from optimlab.study import run_study
from optimlab.study.compare import stored_settings
from optimlab.study.protocols import TRIALS_PLANNED, StudySpec, methods_from
from optimlab.workloads import get_workload

BOUND = int(STUDY_TRIALS.high)
ACCEPTED = f"an integer in [1, {BOUND}]"
RECIPE = get_workload("digits_mlp", epochs=1).recipe


@pytest.fixture
def nothing_planned(monkeypatch):
    """A refusal must come before any trial is planned: reaching the plan fails the test at once (a huge
    count there built lists until memory ran out)."""

    def planned(*args, **kwargs):
        pytest.fail("a plan was built")

    monkeypatch.setattr(StudySpec, "tune_plan", planned)
    monkeypatch.setattr(StudySpec, "seed_plan", planned)
    monkeypatch.setattr(study_compare, "check_trains", planned)


def _spec(**counts):
    return StudySpec("t", RECIPE, methods_from("optimizer.name", ["sgd", "adam"]), **counts)


@pytest.mark.parametrize(
    ("field", "value"), [("seeds", 0), ("seeds", 10**12), ("budget", BOUND + 1), ("budget", 2**63 - 1)]
)
def test_every_entry_point_refuses_a_count_out_of_the_same_bound(
    field, value, cli, nothing_planned, tmp_path
):
    """seeds=0 was refused by the CLI and optimlab.compare but taken by StudySpec and study.compare (a
    leaderboard of no test metric); --seeds 1e12 and --budget near 2**63 were taken by all of them, and
    built plan lists until memory ran out. Each entry point now names the value and the same range."""
    code, out, err = cli(
        "compare", "--optimizers", "sgd", f"--{field}", str(value), "--out", str(tmp_path / "c")
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert f"'--{field}'" in err and f"'{value}' is not accepted: {ACCEPTED}" in err
    refused = re.escape(f"invalid value {value} for {field}: accepted {ACCEPTED}")
    with pytest.raises(InvalidValueError, match=refused):
        _spec(**{field: value})
    with pytest.raises(InvalidValueError, match=refused):
        study_compare.compare(
            ["sgd"], out=tmp_path / "s", workloads=[get_workload("digits_mlp")], **{field: value}
        )
    with pytest.raises(InvalidValueError, match=refused):
        optimlab.compare(optimizers=["sgd"], workload="digits_mlp", out=tmp_path / "o", **{field: value})


def test_the_trials_a_study_plans_are_bounded_over_its_methods(nothing_planned):
    """Each count within the bound, the trials planned, methods x (budget + seeds), past TRIALS_PLANNED:
    refused naming the product and what to lower. At the bound, accepted."""
    half = TRIALS_PLANNED // 4
    with pytest.raises(
        InvalidValueError, match=re.escape(f"'1 x 2 x ({half} + {half + 1}) = {TRIALS_PLANNED + 2}'")
    ):
        _spec(budget=half, seeds=half + 1)
    assert _spec(budget=half, seeds=half).budget == half


def test_the_most_of_each_count_is_accepted_for_one_method(nothing_planned):
    """--budget 100000 (the bound of each count then) was never accepted: beside the fewest seeds, 1, its
    study planned 100001 trials, past the same 10^5 bounding their sum. One method plans each count at its
    bound; the counts' bound is the one the CLI's flags check (STUDY_TRIALS)."""
    sgd = methods_from("optimizer.name", ["sgd"])
    spec = StudySpec("t", RECIPE, sgd, protocol="random", budget=BOUND, seeds=BOUND)
    assert (spec.budget, spec.seeds) == (BOUND, BOUND) and BOUND * 2 <= TRIALS_PLANNED


def test_a_refusal_of_the_trials_planned_says_why_in_the_callers_words(cli, nothing_planned, tmp_path):
    """The refusal named the CLI's flags (--budget, --seeds) to optimlab.compare, study.compare and StudySpec,
    and no reason for the bound. Python callers read their keywords, the CLI its flags; both the cost."""
    too_many = {"budget": BOUND, "seeds": 3}
    why = f"as {TRIALS_PLANNED_WHY}"
    python_words = re.escape(why) + ".*" + re.escape("a smaller budget=, fewer seeds=, methods or workloads")
    with pytest.raises(InvalidValueError, match=python_words):
        _spec(**too_many)
    with pytest.raises(InvalidValueError, match=python_words):
        optimlab.compare(optimizers=["sgd", "adam"], workload="digits_mlp", out=tmp_path / "o", **too_many)
    code, out, err = cli(
        "compare", "--optimizers", "sgd,adam", "--budget", str(BOUND), "--out", str(tmp_path / "c")
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert why in err and "a smaller --budget, fewer --seeds, methods or workloads" in err
    assert "budget=" not in err


def test_a_count_past_its_bound_is_refused_with_the_reason_of_the_journals_bound(
    cli, nothing_planned, tmp_path
):
    """--budget 6000 was refused as 'an integer in [1, 5000]' with no reason, while the trials planned in
    all were refused with the journal's measured one. Each count's refusal, at every entry point, now
    says the total's reason and the bound it halves; a count below the range (seeds 0) is told its range."""
    total = _refusal(lambda: _spec(budget=BOUND, seeds=3))
    reason = re.search(r"accepted at most \d+, as (.*): a smaller budget=", total)[1]
    halved = f"(half the {TRIALS_PLANNED} trials one journal may plan, as {reason})"
    code, out, err = cli(
        "compare", "--optimizers", "sgd", "--budget", str(BOUND + 1000), "--out", str(tmp_path)
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert f"'--budget': '{BOUND + 1000}' is not accepted: {ACCEPTED} {halved}" in err
    for refused in (
        lambda: _spec(seeds=BOUND + 1),
        lambda: optimlab.compare(optimizers=["sgd"], workload="digits_mlp", out=tmp_path, budget=BOUND + 1),
    ):
        assert f"accepted {ACCEPTED} {halved}" in _refusal(refused)
    assert _refusal(lambda: _spec(seeds=0)).endswith(f"accepted {ACCEPTED}.")


def _refusal(call) -> str:
    with pytest.raises(InvalidValueError) as refused:
        call()
    return str(refused.value)


def test_the_trials_of_every_workloads_study_are_bounded_together(cli, nothing_planned, tmp_path):
    """One journal holds every workload's study of a comparison, but the bound counted one study's trials:
    two workloads of one method at 3000 + 2500 trials each (11,000 in the journal) were taken. Refused in
    the caller's words, nothing written; one workload of the same counts is taken."""
    two = [get_workload("digits_mlp", epochs=1), get_workload("two_spirals_mlp", epochs=1)]
    counts = {"budget": 3000, "seeds": 2500, "protocol": "random"}
    planned = re.escape("'2 x 1 x (3000 + 2500) = 11000' for the trials planned in one journal")
    with pytest.raises(InvalidValueError, match=planned + ".*a smaller budget=, fewer seeds="):
        study_compare.compare(["sgd"], out=tmp_path / "s", workloads=two, **counts)
    code, out, err = cli(
        "compare", "--optimizers", "sgd", "--workload", "digits_mlp,two_spirals_mlp", "--budget", "3000",
        "--seeds", "2500", "--protocol", "random", "--out", str(tmp_path / "c"),
    )  # fmt: skip
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "'2 x 1 x (3000 + 2500) = 11000'" in err and "a smaller --budget, fewer --seeds," in err
    assert not (tmp_path / "s").exists() and not (tmp_path / "c").exists()
    assert len(study_compare.plan_comparison(["sgd"], workloads=two[:1], **counts)) == 1


def test_a_study_stored_before_the_bound_resumes_extends_and_reports(tmp_path, cli):
    """A study stored with seeds 0 (StudySpec took it before the bound) could be neither resumed, nor
    extended by its own way out (--seeds 1), nor reported: 'the stored study cannot be read: invalid value
    0 for seeds'. It loads as it ran; the bound holds the trials a resume plans anew."""

    def spec(seeds: int) -> StudySpec:
        digits, sgd = get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd"])
        return StudySpec.for_workload(
            "t", digits, sgd, budget=1, seeds=seeds, stored=stored_settings(tmp_path)
        )

    old = StudySpec.from_dict({**spec(1).to_dict(), "seeds": 0})  # as StudySpec stored it then
    run_study(old, tmp_path)
    assert len(run_study(old, tmp_path, resume=True).records) == 1  # resumed: nothing left to run
    code, _, err = cli("report", str(tmp_path), "--format", "json")
    assert code == 0, err
    extended = run_study(spec(1), tmp_path, resume=True)  # compare --resume FOLDER --seeds 1
    assert sorted(r.phase for r in extended.records) == ["seeds", "tune"]
    with pytest.raises(InvalidValueError, match=re.escape(f"invalid value {BOUND + 1} for seeds")):
        spec(BOUND + 1)


def test_a_resume_adding_seeds_past_the_bound_is_refused_before_planning(tmp_path, cli, nothing_planned):
    """compare --resume FOLDER --seeds 100000 over two methods (2 x (1 + 100000) trials) was taken: the stored
    spec skipped the bound, and the resume enqueued seed reruns (18,518 in two minutes) until killed. More
    seeds are a new plan, bounded as one: refused in the caller's words; nothing planned or stored."""
    from optimlab.study.run import open_studies

    spec = StudySpec.for_workload(
        "t",
        get_workload("digits_mlp", epochs=1),
        methods_from("optimizer.name", ["sgd", "adam"]),
        budget=1,
        seeds=1,
    )
    open_studies(spec, tmp_path)  # stored, then stopped before its first trial
    journal = (tmp_path / "study.journal").read_bytes()
    planned = f"'1 x 2 x (1 + {BOUND}) = {2 * BOUND + 2}' for the trials planned"
    with pytest.raises(InvalidValueError, match=re.escape(planned) + ".*a smaller budget=, fewer seeds="):
        study_compare.compare([], out=tmp_path, resume=True, seeds=BOUND)
    code, out, err = cli("compare", "--resume", str(tmp_path), "--seeds", str(BOUND))
    assert (
        code == 2
        and out == ""
        and len(err.strip().splitlines()) == 1
        and planned in err
        and "fewer --seeds" in err
    ), err
    assert (tmp_path / "study.journal").read_bytes() == journal
