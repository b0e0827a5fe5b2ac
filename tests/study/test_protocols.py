"""Protocols: every method gets the same budget; seeds are fresh; the lr range follows the optimizer."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.recipe import RecipeError
from optimlab.registry import get_registry
from optimlab.study.compare import plan_comparison
from optimlab.study.protocols import MIN_EVALUATIONS, StudySpec, evaluated_often, lr_range, methods_from
from optimlab.study.report import tuning_trials
from optimlab.study.space import SearchSpace
from optimlab.workloads import get_workload

WORKLOAD = get_workload("digits_mlp", epochs=1)


def spec(**options):
    return StudySpec.for_workload("t", WORKLOAD, methods_from("optimizer.name", ["sgd", "adam"]), **options)


@pytest.mark.parametrize("protocol", ["grid", "random", "tpe"])
def test_every_method_gets_the_same_budget(protocol):
    s = spec(protocol=protocol, budget=5)
    plans = [s.tune_plan(m) for m in s.methods]
    assert [len(p) for p in plans] == [5, 5]
    assert [t.key for t in plans[0]] == [f"tune/{i}" for i in range(5)]
    assert all(t.seed == WORKLOAD.recipe.training.seed for p in plans for t in p)
    if protocol == "tpe":  # slots the sampler fills when each trial starts
        assert all(t.params is None for t in plans[0])
    else:
        lrs = [t.params["optimizer.lr"] for t in plans[0]]
        assert len(set(lrs)) == 5 and all(1e-4 <= lr <= 1.0 for lr in lrs)


def test_a_grid_never_plans_more_trials_than_the_budget():
    space = SearchSpace.from_flags(
        ["model.activation=relu,tanh,gelu", "model.norm=none,batch,layer", "optimizer.lr=1e-3:1e-1:log"]
    )
    for budget in (9, 10, 17, 18, 30):
        s = spec(space=space, budget=budget)
        assert [len(s.tune_plan(m)) for m in s.methods] == [9 * (budget // 9)] * 2
    with pytest.raises(
        InvalidValueError,
        match=r"4 for budget \(--budget\): accepted a budget >= 9, .* over "
        r"model.activation x model.norm; or protocol random or tpe",
    ):
        spec(space=space, budget=4)
    assert [
        len(spec(space=space, budget=4, protocol=p).tune_plan(m))
        for p in ("random", "tpe")
        for m in spec(space=space, budget=4, protocol=p).methods
    ] == [4] * 4
    # A study stored before the check (its grid over its budget) still loads, so it resumes as planned.
    stored = dataclasses.replace(spec(space=space, budget=9), budget=4).to_dict()
    resumed = StudySpec.from_dict(stored)
    assert [len(resumed.tune_plan(m)) for m in resumed.methods] == [9, 9]


def test_default_grid_spans_four_decades_around_the_optimizer_scale():
    s = spec(budget=7)
    sgd, adam = (s.tune_plan(m) for m in s.methods)
    assert [t.params["optimizer.lr"] for t in sgd] == pytest.approx(
        [10 ** (-4 + 2 * i / 3) for i in range(7)], rel=1e-3
    )
    assert adam[0].params["optimizer.lr"] == 1e-5 and adam[-1].params["optimizer.lr"] == 1e-1


@pytest.mark.parametrize("entry", list(get_registry("optimizer")), ids=lambda e: e.name)
def test_lr_range_holds_the_default_lr_or_the_sgd_base_grid(entry):
    low, high = lr_range(entry.name)
    if "wrapper" in entry.capabilities:  # the lr is the base optimizer's
        assert (low, high) == lr_range(entry.obj.default_base)
        return
    default = next(h.default for h in entry.hyperparameters if h.name == "lr")
    assert high / low == pytest.approx(1e4)
    assert low <= default <= high or (low, high) == pytest.approx((1e-4, 1.0))


def test_sgd_family_is_detected_by_its_step_growing_with_the_gradient():
    assert lr_range("sgd") == pytest.approx((1e-4, 1.0)) and lr_range("momentum") == pytest.approx(
        (1e-4, 1.0)
    )
    assert lr_range("adam") == pytest.approx((1e-5, 1e-1)) and lr_range("adagrad") == pytest.approx(
        (1e-4, 1.0)
    )


def test_seed_plan_reruns_the_best_config_on_fresh_seeds():
    plan = spec(seeds=3).seed_plan({"optimizer.lr": 3e-3})
    assert [(t.key, t.seed, dict(t.params)) for t in plan] == [
        (f"seeds/{i}", i + 1, {"optimizer.lr": 3e-3}) for i in range(3)
    ]
    # From the largest seed a recipe takes, the reruns go on from 0 (2^32 was refused: a failed rerun).
    last = dataclasses.replace(WORKLOAD, recipe=WORKLOAD.recipe.with_updates({"training.seed": 2**32 - 1}))
    top = StudySpec.for_workload("t", last, methods_from("optimizer.name", ["sgd"]), seeds=2)
    assert [t.seed for t in top.seed_plan({})] == [0, 1]


def test_spec_round_trips_through_its_stored_form():
    s = spec(
        space=SearchSpace.from_flags(["optimizer.lr=1e-3:1e-1:log", "model.activation=relu,tanh"]),
        protocol="random",
        budget=4,
        seeds=2,
        pruner="median",
    )
    assert StudySpec.from_dict(s.to_dict()) == s


@pytest.mark.parametrize(
    "options, match",
    [
        ({"protocol": "bayes"}, "protocol"),
        ({"pruner": "hyperband"}, "pruner"),
        ({"budget": 0}, "budget"),
        ({"seeds": -1}, "seeds"),
    ],
)
def test_bad_settings_name_the_accepted_values(options, match):
    with pytest.raises(InvalidValueError, match=match):
        spec(**options)


@pytest.mark.parametrize(
    "field, value, accepted",
    [("goal", "maximize", "max or min"), ("target", math.nan, "a number"), ("target", "0.96", "a number")],
)
def test_a_spec_with_a_goal_or_target_that_scores_nothing_is_refused(field, value, accepted):
    """A spec made without a Workload (StudySpec(...), a stored dict) kept goal 'maximize', read as 'min'
    by every 'better', and target NaN, never met: refused as Workload refuses them."""
    with pytest.raises(
        InvalidValueError, match=rf"^invalid value {value!r} for {field}: accepted {accepted}"
    ):
        dataclasses.replace(spec(), **{field: value})
    given = dataclasses.replace(spec(), goal="min", target=np.float32(0.5))
    assert given.target == 0.5 and type(given.target) is float


def test_bad_method_or_field_fails_before_any_trial():
    with pytest.raises(RecipeError, match="optimizer.name.*adamm"):
        StudySpec.for_workload("t", WORKLOAD, methods_from("optimizer.name", ["adamm"]))
    with pytest.raises(RecipeError, match="model"):
        spec(space=SearchSpace.from_flags(["model.widht=8,16"]))
    with pytest.raises(InvalidValueError, match="distinct"):
        methods_from("optimizer.name", ["adam", "adam"])


@pytest.mark.parametrize("names", [["adam", "Adam"], ["sgd", "momentum", "heavy_ball"]])
def test_two_names_of_one_optimizer_are_refused_naming_both(names):
    """["adam", "Adam"] ran Adam twice, a comparison of one optimizer with itself under two names; so did
    an alias (heavy_ball is momentum)."""
    first, second = names[-2:]
    meant = get_registry("optimizer").resolve(second)
    assert get_registry("optimizer").resolve(first) == meant
    with pytest.raises(InvalidValueError, match=f"'{first}' and '{second}' are both '{meant}'"):
        methods_from("optimizer.name", names)


def test_two_writings_of_one_number_are_refused_naming_both():
    """--compare optimizer.weight_decay=0,0.0,0.1 ran weight decay 0 twice, as methods '0' and '0.0', tied
    to the last digit (one recipe, the same seeds)."""
    with pytest.raises(InvalidValueError, match="0 and 0.0 are both"):
        methods_from("optimizer.weight_decay", [0, 0.0, 0.1])
    assert len(methods_from("optimizer.weight_decay", [0, 0.01, 0.1])) == 3


def test_a_whole_number_written_twice_is_named_as_its_method_is():
    """--compare training.batch_size=10,1e1 was refused as '10 and 10.0 are both '10.0'' though the method
    and its recipe say 10: the number both write is named as the method is."""
    (batch,) = plan_comparison([1e1], field="training.batch_size", workloads=[WORKLOAD])
    with pytest.raises(InvalidValueError, match=f"10 and 10.0 are both '{batch.methods[0].name}'"):
        methods_from("training.batch_size", [10, 1e1])


@pytest.mark.parametrize(
    "flag, match",
    [
        (
            "optimizer.lr=0.1,-1",
            r"optimizer.lr: -1 is refused: accepted a number in \(0, inf\)",
        ),  # a later choice
        ("optimizer.weight_decay=-1:1", r"optimizer.weight_decay: .*-1"),  # a range's low end
        ("model.activation=relu,nope", r"model.activation: unknown activation 'nope'"),
    ],
)
def test_every_value_a_space_may_try_fails_before_any_trial(flag, match):
    """Only the space's first grid point was checked: --space optimizer.lr=0.1,-1 ran, spent a trial of
    the budget on lr -1 (failed: RecipeError) and exited 0; a range's ends were never checked."""
    with pytest.raises(RecipeError, match=match):
        spec(space=SearchSpace.from_flags([flag]))


def test_a_dropout_rate_out_of_its_bounds_in_the_space_is_refused_before_any_trial():
    """--space model.dropout=0:1.5 was refused (1.5 fits no point) until dropout's bound moved into a
    validator (1ba6c0cf), whose ValueError the space check reads as one other fields may change: the
    study ran, its trials failed, exit 0. The bound is pydantic's again (exactly as the recipe's own
    refusal of 1.5), own_default still a value."""
    with pytest.raises(
        RecipeError,
        match=r"(?s)model.dropout = 1.5 fits no point of the space.*1.5 is refused: accepted a number in \[0, 1\)",
    ):
        spec(space=SearchSpace.from_flags(["model.dropout=0:1.5"]))
    spec(space=SearchSpace.from_flags(["model.dropout=0:0.5"]))


def test_a_compared_value_a_section_refuses_names_the_compared_field():
    """--compare optimizer.betas=0.9,0.99 said 'invalid recipe: optimizer: invalid value 0.9 for
    optimizer 'adam' hyperparameter 'betas'', naming neither the field nor --compare (the CLI names the
    field as typed: 'optimizer.betas (--compare)')."""
    with pytest.raises(
        RecipeError, match=r"^the compared optimizer.betas=0.9: invalid recipe:\s+optimizer: "
    ):
        StudySpec.for_workload("t", WORKLOAD, methods_from("optimizer.betas", [0.9, 0.99]))
    with pytest.raises(RecipeError, match=r"^invalid recipe:\s+optimizer.lr: -1 is refused"):
        StudySpec.for_workload("t", WORKLOAD, methods_from("optimizer.lr", [-1, 0.1]))  # named already


def test_a_value_of_the_space_the_recipe_refuses_names_the_space():
    """--space optimizer.lr=-1:0.1 said 'invalid recipe: optimizer.lr: Input should be greater than 0', not
    that the value came from the search space the user gave; a field one method lacks names that method."""
    with pytest.raises(
        RecipeError, match=r"(?s)^the search space \(--space.*does not fit sgd: .*optimizer.lr"
    ):
        spec(space=SearchSpace.from_flags(["optimizer.lr=-1:0.1"]))
    with pytest.raises(
        RecipeError, match=r"(?s)does not fit adam: .*unknown optimizer 'adam' hyperparameter 'momentum'"
    ):
        spec(space=SearchSpace.from_flags(["optimizer.options.momentum=0:0.9"]))


def test_the_space_check_builds_a_recipe_per_value_not_per_point(monkeypatch):
    """The check built every point of the grid: 7 fields x 4 values with weight_decay -1 (refused at every
    point) took 8.4 s before its line, a valid 8 x 4 space 2.3 s per method. Now a value refused by its own
    bound stops at its first point, and a value refused beside another (nesterov beside momentum 0) is
    accepted where a point fits; the line says the value fits no point of the space."""
    from optimlab.recipe import Recipe
    from optimlab.study.space import Dimension

    builds = []
    with_updates = Recipe.with_updates
    monkeypatch.setattr(Recipe, "with_updates", lambda self, u: builds.append(u) or with_updates(self, u))
    choices = {
        "optimizer.lr": (0.01, 0.03, 0.1),
        "optimizer.options.momentum": (0.0, 0.5, 0.9),
        "training.batch_size": (16, 32, 64),
        "model.width": (16, 32, 64),
        "model.dropout": (0.0, 0.1, 0.2),
    }  # 3^5 = 243 points
    axes = tuple(Dimension(field, choices=values) for field, values in choices.items())
    sgd = methods_from("optimizer.name", ["sgd"])
    refused = Dimension("optimizer.weight_decay", choices=(-1.0, 0.0, 1e-4))
    with pytest.raises(
        RecipeError,
        match=r"(?s)does not fit sgd: optimizer.weight_decay = -1.0 fits no point of the space: .*-1.0 is refused: accepted a number in \[0, inf\)",
    ):
        StudySpec.for_workload("t", WORKLOAD, sgd, space=SearchSpace((*axes, refused)), protocol="random")
    assert len(builds) <= 1 + 18  # the method's own recipe, then at most one build per value
    builds.clear()
    nesterov = Dimension("optimizer.options.nesterov", choices=(False, True))  # True fits beside momentum 0.9
    StudySpec.for_workload("t", WORKLOAD, sgd, space=SearchSpace((*axes, nesterov)), protocol="random")
    assert len(builds) <= 2 * (1 + 17 + 15)  # built twice (for_workload, then as planned)
    together = Dimension("optimizer.options.nesterov", choices=(True,))  # refused with momentum 0 alone
    with pytest.raises(
        RecipeError, match=r"does not fit sgd: optimizer.options.momentum = 0.0 fits no point of the space;"
    ):
        StudySpec.for_workload("t", WORKLOAD, sgd, space=SearchSpace((*axes, together)), protocol="random")


def test_a_range_whose_end_is_refused_beside_the_rest_is_searched_within():
    """--space optimizer.options.momentum=0:0.9 with Nesterov on was refused whole ('momentum = 0.0 fits
    no point of the space'): its low end was checked as a grid point, though every momentum above 0
    fits. A range is now refused only where neither end fits (or one breaks the field's own bound).
    Truth: torch's rule, Nesterov needs momentum > 0 (torch.optim.SGD raises for 0): random draws never
    meet the end; a grid, which would train it as a trial failing there, refuses it (the test below)."""
    recipe = WORKLOAD.recipe.with_updates(
        {"optimizer": {"name": "sgd", "options": {"momentum": 0.9, "nesterov": True}}}
    )
    nesterov, sgd = dataclasses.replace(WORKLOAD, recipe=recipe), methods_from("optimizer.name", ["sgd"])
    space = SearchSpace.from_flags(["optimizer.options.momentum=0:0.9"])
    drawn = StudySpec.for_workload("t", nesterov, sgd, space=space, protocol="random", budget=20)
    momenta = [trial.params["optimizer.options.momentum"] for trial in drawn.tune_plan(drawn.methods[0])]
    assert len(momenta) == 20 and all(0 < momentum <= 0.9 for momentum in momenta)
    with pytest.raises(
        RecipeError, match="momentum = 0.0, an end of its range 0.0:0.9, is a point of the grid"
    ):
        StudySpec.for_workload("t", nesterov, sgd, space=space, budget=3)  # a grid plans 0 (test below)
    single = SearchSpace.from_flags(["optimizer.options.momentum=0:0"])  # no point within fits
    with pytest.raises(
        RecipeError, match=r"(?s)does not fit sgd: no point of the space fits; the first: .*momentum 0\.0"
    ):
        StudySpec.for_workload("t", nesterov, sgd, space=single)


def test_a_range_only_one_end_of_which_fits_is_refused():
    """--space optimizer.options.dampening=0:0.5 with Nesterov on was accepted (its end 0 fits), and every
    drawn trial failed. Truth: torch's rule, Nesterov needs dampening 0 (torch.optim.SGD raises for any
    other): the range is refused before any trial, naming a value inside it."""
    recipe = WORKLOAD.recipe.with_updates(
        {"optimizer": {"name": "sgd", "options": {"momentum": 0.9, "nesterov": True}}}
    )
    nesterov, sgd = dataclasses.replace(WORKLOAD, recipe=recipe), methods_from("optimizer.name", ["sgd"])
    with pytest.raises(ValueError, match="zero dampening"):  # torch's own rule, inside the range
        torch.optim.SGD([torch.zeros(1)], lr=0.1, momentum=0.9, nesterov=True, dampening=0.25)
    space = SearchSpace.from_flags(["optimizer.options.dampening=0:0.5"])
    with pytest.raises(
        RecipeError,
        match=r"does not fit sgd: optimizer\.options\.dampening = 0\.25 fits no point of the space",
    ):
        StudySpec.for_workload("t", nesterov, sgd, space=space, protocol="random")


def test_a_budget_of_few_epochs_evaluates_often_enough_for_a_curve():
    short = evaluated_often(get_workload("digits_mlp", epochs=1).recipe).training  # 1 epoch of 34 steps
    assert short.eval_every == 34 // MIN_EVALUATIONS
    assert evaluated_often(get_workload("digits_mlp").recipe).training.eval_every is None  # 20 epochs
    (planned,) = plan_comparison(["sgd", "adam"], epochs=1)  # `optimlab compare sgd,adam --epochs 1`
    assert planned.recipe.training.eval_every == 3


def test_tpe_draws_away_from_learning_rates_that_diverged():
    """TPE ignores failed trials: after 4 completed lrs (the best the highest, 0.1) and 5 that diverged
    (1 to 1000), it drew most of its next lrs where they diverge, and sgd spent 4 of 6 trials there. A
    diverged trial is told as pruned (worse than any completed one), and stays a failure to optimlab."""
    import math

    import optuna

    from optimlab.study.storage import TrialRecord
    from optimlab.study.trial import record_outcome

    s = spec(protocol="tpe")
    lr = optuna.distributions.FloatDistribution(1e-4, 1e3, log=True)
    study = optuna.create_study(direction="maximize")
    outcomes = [(1e-4, 0.2), (1e-3, 0.5), (1e-2, 0.8), (1e-1, 0.9)] + [
        (v, None) for v in (1, 3, 10, 100, 1000)
    ]
    for value, accuracy in outcomes:
        study.enqueue_trial({"lr": value})
        trial = study.ask({"lr": lr})
        metrics = {} if accuracy is None else {s.metric: accuracy}
        status = "diverged" if accuracy is None else "completed"
        record_outcome(
            study,
            trial,
            s,
            recipe=None,
            status=status,
            message=None,
            metrics=metrics,
            steps=1,
            seconds=0.0,
            curve={},
        )
    records = [TrialRecord.from_frozen("t", t) for t in study.trials]
    assert [r.state for r in records] == ["complete"] * 4 + ["fail"] * 5
    assert all(math.isnan(r.value) for r in records[4:])
    drawn = []
    for seed in range(20):
        study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=2)
        trial = study.ask({"lr": lr})
        drawn.append(trial.params["lr"])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not seen by the next draws
    assert sum(v >= 1 for v in drawn) <= 2, sorted(drawn)  # 20 of 20, all above 26, before


def test_a_compared_field_the_space_searches_too_is_refused():
    """--compare optimizer.lr=0.1,0.001 over the default lr search ran: tuning set the lr in every trial,
    and the method 0.001 reran at lr 0.1, its name the only difference from the method 0.1."""
    lrs = methods_from("optimizer.lr", [0.1, 0.001])
    with pytest.raises(
        OptimlabError, match=r"compared for 'optimizer.lr' is searched too, .*not at 0.1; search"
    ):
        StudySpec.for_workload("t", WORKLOAD, lrs)
    with pytest.raises(OptimlabError, match="the field compared for 'model.width' is searched too, by"):
        StudySpec.for_workload(
            "t",
            WORKLOAD,
            methods_from("model.width", [8, 16]),
            space=SearchSpace.from_flags(["model.width=8,32"]),
        )
    searched = StudySpec.for_workload(
        "t", WORKLOAD, lrs, space=SearchSpace.from_flags(["optimizer.weight_decay=0,0.1"])
    )
    assert {searched.method_recipe(m).optimizer.lr for m in searched.methods} == {0.1, 0.001}
    sections = [{"name": "sgd", "momentum": 0.9}, {"name": "adam"}]  # the lr tuned, the rest compared
    assert len(StudySpec.for_workload("t", WORKLOAD, methods_from("optimizer", sections)).methods) == 2


@pytest.mark.parametrize(
    "field, values",
    [
        ("optimizer.options.lr", [0.1, 0.001]),  # read as optimizer.lr
        ("optimizer", [{"name": "sgd", "lr": 0.1}, {"name": "adam", "lr": 0.001}]),
        ("optimizer", [{"name": "sgd", "options": {"lr": 0.1}}, {"name": "adam"}]),
    ],
)
def test_a_searched_field_compared_under_another_spelling_is_refused(field, values):
    """--compare optimizer.options.lr=0.1,0.001 over the default lr search ran: the recipe reads
    options.lr as optimizer.lr, which tuning set in every trial, so the rows 0.1 and 0.001 were one setup,
    equal to the last digit. So did a compared section holding the lr."""
    with pytest.raises(
        OptimlabError, match=r"is searched too as optimizer.lr, by .*tuning sets it in every trial"
    ):
        StudySpec.for_workload("t", WORKLOAD, methods_from(field, values))


def test_the_seed_compared_or_searched_is_refused():
    """--compare training.seed=0,5 ran two methods that were one: each trial's seed is the protocol's (the
    tuning seed, then the fresh ones), so the seed 5 never trained and the two rows were equal to the
    last digit. Searched (--space training.seed=0,1), every tuning trial trained at the tuning seed."""
    with pytest.raises(InvalidValueError, match=r"'training.seed' for compare: .*the protocol sets"):
        StudySpec.for_workload("t", WORKLOAD, methods_from("training.seed", [0, 5]))
    sections = [{"seed": 0, "epochs": 1}, {"seed": 5, "epochs": 1}]
    with pytest.raises(InvalidValueError, match=r"'training.seed' for compare"):
        StudySpec.for_workload("t", WORKLOAD, methods_from("training", sections))
    with pytest.raises(
        InvalidValueError, match=r"'training.seed' for search space \(--space, .*the protocol sets"
    ):
        StudySpec.for_workload(
            "t",
            WORKLOAD,
            methods_from("optimizer.name", ["sgd"]),
            space=SearchSpace.from_flags(["optimizer.lr=0.01,0.1", "training.seed=0,1"]),
        )


def test_an_lr_searched_as_options_lr_is_tuned():
    """--space optimizer.options.lr=1e-3:1e-1:log tuned the lr (the recipe reads options.lr as optimizer.lr),
    and the study warned 'optimizer.lr is neither searched nor set: each optimizer trains at its default'."""
    space = SearchSpace.from_flags(["optimizer.options.lr=1e-3:1e-1:log"])
    spec = StudySpec.for_workload("t", WORKLOAD, methods_from("optimizer.name", ["sgd", "adam"]), space=space)
    assert spec.untuned_lr() is None
    decay = SearchSpace.from_flags(["optimizer.options.weight_decay=0,0.1"])
    assert (
        "neither searched nor set"
        in StudySpec.for_workload(
            "t", WORKLOAD, methods_from("optimizer.name", ["sgd", "adam"]), space=decay
        ).untuned_lr()
    )


@pytest.mark.parametrize(
    "field, values, said",
    [
        ("model.name", ["mlp", "./uc_nets.py:build"], "names a module, not its file: uc_nets:build"),
        ("data.name", ["iris", "./uc_data.py:load"], "names a module, not its file: uc_data:load"),
    ],
)
def test_a_compared_files_path_is_told_the_import_path(field, values, said):
    """--compare model.name=mlp,./nets.py:build (or data.name=iris,./mydata.py:load) was refused as
    "invalid value [...] for method names: accepted distinct names without '/'", where --model
    ./nets.py:build is told the import path to write."""
    with pytest.raises(OptimlabError) as refused:
        StudySpec.for_workload(
            "w", get_workload("digits_mlp", epochs=1), methods_from(field, values), budget=1
        )
    assert str(refused.value).endswith(said) and "method names" not in str(refused.value)


def test_numpys_integers_are_a_budget_and_seeds_and_stored_as_ints():
    """optimlab.bench.run(budget=np.int64(3)) and StudySpec(seeds=np.int32(2)) were refused as 'an integer
    >= 1' (seeds=np.int64 was taken by bench.run itself). Truth: NumPy's integers are integers
    (operator.index, PEP 357): the plan of the plain ints, stored as JSON."""
    given = spec(budget=np.int64(3), seeds=np.int32(2))
    assert given == spec(budget=3, seeds=2) and type(given.budget) is type(given.seeds) is int
    assert json.loads(json.dumps(given.to_dict()))["budget"] == 3
    for bad in (2.0, 0, True):
        with pytest.raises(InvalidValueError, match=f"{bad} for budget: accepted an integer in"):
            spec(budget=bad)


@pytest.mark.parametrize("protocol", ["grid", "random", "tpe"])
def test_each_distinct_configuration_is_tuned_once_whatever_the_protocol(protocol):
    """Random and TPE search over a space of one point ran that one configuration `budget` times at the
    tuning seed (7 identical trials); over a few points, they repeated some. Truth: the space's
    configurations, listed by hand, each planned once; a larger space gets `budget` distinct ones."""
    one = SearchSpace.from_flags(["model.activation=tanh"])
    few = SearchSpace.from_flags(["model.activation=relu,tanh", "training.batch_size=16:18:int"])
    every = [
        {"model.activation": a, "training.batch_size": b} for a in ("relu", "tanh") for b in (16, 17, 18)
    ]
    for space, configurations in ((one, [{"model.activation": "tanh"}]), (few, every)):
        s = spec(space=space, budget=7, protocol=protocol)
        for method in s.methods:
            planned = [t.params for t in s.tune_plan(method)]
            assert sorted(planned, key=json.dumps) == sorted(configurations, key=json.dumps)
            assert [t.key for t in s.tune_plan(method)] == [f"tune/{i}" for i in range(len(configurations))]
    said = {"grid": "the largest grid within", "random": "each configuration of the space once, within"}
    assert tuning_trials(spec(space=one, budget=7, protocol=protocol)) == (
        f"1 tuning trial ({said.get(protocol, said['random'])} the budget of 7)"
    )
    if protocol != "tpe":  # TPE's slots over a larger space are the sampler's, drawn as each trial starts
        for method in spec(space=few, budget=4, protocol=protocol).methods:
            planned = [t.params for t in spec(space=few, budget=4, protocol=protocol).tune_plan(method)]
            assert len(planned) == 4 and len({json.dumps(p, sort_keys=True) for p in planned}) == 4


def test_two_compared_values_resolving_to_one_recipe_are_refused():
    """--compare model.activation=relu,own_default on the MLP (whose own activation is relu) ranked two
    methods training one recipe, tied but for noise, as two contestants."""
    with pytest.raises(InvalidValueError, match=r"'relu' and 'own_default' resolve to one recipe"):
        StudySpec.for_workload("t", WORKLOAD, methods_from("model.activation", ["relu", "own_default"]))
    tanh = StudySpec.for_workload("t", WORKLOAD, methods_from("model.activation", ["tanh", "own_default"]))
    assert len(tanh.methods) == 2


def test_a_grid_refuses_a_range_whose_end_it_would_train_and_the_field_refuses(cli, tmp_path):
    """--space optimizer.options.momentum=0.5:1 under the grid (its default) was accepted, its middle fitting:
    the grid's point 1.0 then ran as a trial failing on sgd's check (momentum in [0, 1)), a failed row of
    trials.csv and the report. It is refused at planning, in one line naming the field, the end and the
    values accepted; a random search, which meets the end with probability 0, and a grid of one point (the
    middle) are planned. Truth: the registry's range of sgd's momentum, [0, 1)."""
    sgd, space = (
        methods_from("optimizer.name", ["sgd"]),
        SearchSpace.from_flags(["optimizer.options.momentum=0.5:1"]),
    )
    said = "optimizer.options.momentum = 1.0, an end of its range 0.5:1.0, is a point of the grid"
    with pytest.raises(RecipeError, match=f"{said} .*accepted a number in \\[0, 1\\)"):
        StudySpec.for_workload("t", WORKLOAD, sgd, space=space, budget=3)
    StudySpec.for_workload("t", WORKLOAD, sgd, space=space, budget=3, protocol="random")
    stored = StudySpec("t", WORKLOAD.recipe, tuple(sgd), space=space, budget=3)  # planned before the check
    assert StudySpec.from_dict(stored.to_dict()) == stored  # it resumes and reports as it ran
    (middle,) = StudySpec.for_workload("t", WORKLOAD, sgd, space=space, budget=1).tune_plan(sgd[0])
    assert middle.params == {"optimizer.options.momentum": 0.75}
    code, _, err = cli(
        "compare",
        "--optimizers",
        "sgd",
        "--space",
        "optimizer.options.momentum=0.5:1",
        "--out",
        str(tmp_path),
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and said in err, err
    # an integer range's ends are drawn (about half as often as its other values): lookahead's k >= 1
    lookahead, k = methods_from("optimizer.name", ["lookahead"]), "optimizer.options.k"
    with pytest.raises(RecipeError, match=f"{k} = 0, an end of its range 0:6, is a value its trials draw"):
        StudySpec.for_workload(
            "t", WORKLOAD, lookahead, space=SearchSpace.from_flags([f"{k}=0:6:int"]), protocol="random"
        )
    within = StudySpec.for_workload(
        "t", WORKLOAD, lookahead, space=SearchSpace.from_flags([f"{k}=1:6:int"]), protocol="random", budget=6
    )
    assert {trial.params[k] for trial in within.tune_plan(lookahead[0])} <= set(range(1, 7))


def test_two_choices_of_a_searched_field_resolving_to_one_recipe_are_refused():
    """--space model.activation=relu,RELU trained the one recipe twice (tune/0 and tune/1, one result
    under two names) where --compare model.activation=relu,RELU was refused. Truth: the recipe itself
    resolves the two to one id; relu,gelu, two ids, is planned."""
    sgd = methods_from("optimizer.name", ["sgd"])
    relu, upper = (WORKLOAD.recipe.with_updates({"model.activation": a}).id for a in ("relu", "RELU"))
    assert relu == upper
    space = SearchSpace.from_flags(["model.activation=relu,RELU"])
    with pytest.raises(
        InvalidValueError, match=r"choices of 'model.activation' .*'relu' and 'RELU' resolve to one"
    ):
        StudySpec.for_workload("t", WORKLOAD, sgd, space=space)
    space = SearchSpace.from_flags(["model.activation=relu,gelu"])
    assert len(StudySpec.for_workload("t", WORKLOAD, sgd, space=space, budget=2).tune_plan(sgd[0])) == 2


def test_compared_whole_numbers_are_named_and_set_as_the_recipe_holds_them():
    """--compare training.batch_size=1e1,2e1 (YAML reads 10.0, 20.0) labelled its methods 10.0 and 20.0 on
    every table, though the recipe holds 10 and 20. A whole field's values are now the recipe's ints, named
    by them; a real field's whole value (a clip norm of 1.0) stays a float."""
    (batch,) = plan_comparison([1e1, 2e1], field="training.batch_size", workloads=[WORKLOAD])
    held = [batch.method_recipe(m).training.batch_size for m in batch.methods]
    assert [m.name for m in batch.methods] == [str(b) for b in held] == ["10", "20"]
    assert [type(m.updates["training.batch_size"]) for m in batch.methods] == [int, int]
    (clip,) = plan_comparison([0.5, 1.0], field="training.grad_clip_norm", workloads=[WORKLOAD])
    assert [m.name for m in clip.methods] == ["0.5", "1.0"]


def test_a_methods_whole_hyperparameter_is_the_int_its_own_optimizer_holds():
    """Method("la", {optimizer.name: lookahead, optimizer.k: 5.0}) kept k = 5.0 on a workload of Adam: the
    fields holding whole numbers were asked of the workload's recipe, not of the method's, whose lookahead
    takes k as an integer (its registry entry). Its whole float is the int, as a recipe field's is."""
    from optimlab.study.protocols import Method

    (k,) = [h for h in get_registry("optimizer").get("lookahead").hyperparameters if h.name == "k"]
    assert k.accepts.integer  # the truth: lookahead's k is a count
    spec = StudySpec.for_workload(
        "t", WORKLOAD, [Method("la", {"optimizer.name": "lookahead", "optimizer.k": 5.0})], budget=1, seeds=1
    )
    assert [(v, type(v)) for v in spec.methods[0].updates.values()] == [("lookahead", str), (5, int)]


def test_a_study_stored_with_methods_named_by_floats_resumes_with_them(tmp_path):
    """A study compared on training.batch_size=1e1 before 83d380d8 stored its method as '10.0' setting
    10.0; resumed, its methods are kept as stored (made 10 they would plan another study)."""
    from optimlab.study.compare import stored_settings
    from optimlab.study.run import open_studies

    (new,) = plan_comparison([1e1], field="training.batch_size", workloads=[WORKLOAD], budget=1, seeds=1)
    as_then = [{"name": "10.0", "updates": {"training.batch_size": 10.0}}]
    open_studies(StudySpec.from_dict({**new.to_dict(), "methods": as_then}), tmp_path)
    stored = stored_settings(tmp_path)
    assert [m["name"] for m in stored[0]["methods"]] == ["10.0"]  # the truth: the study as stored
    (resumed,) = plan_comparison(
        [1e1], field="training.batch_size", workloads=[WORKLOAD], budget=1, seeds=1, stored=stored
    )
    assert [(m.name, m.updates) for m in resumed.methods] == [("10.0", {"training.batch_size": 10.0})]
    assert resumed.resumes(stored[0]) and new.methods[0].name == "10"


def _row_ids(splits):
    """Each split's row ids (a row's one input is its index in the file)."""
    return {
        part: frozenset(getattr(splits, part).x[:, 0].long().tolist()) for part in ("train", "val", "test")
    }


@pytest.mark.parametrize("tuning_seed", [0, 4])
def test_every_trial_of_a_new_study_splits_the_data_at_the_tuning_seed(tmp_path, tuning_seed):
    """Each seed rerun split the data anew by its own seed, so about val_fraction of its test rows were
    validation rows at the tuning seed, where the configuration was chosen, and its test metric partly
    scored the selection's own rows. A new study fixes every trial's split at the tuning seed; a study
    stored without ``fixed_split`` keeps splitting each trial by its seed. Truth: the row ids of the
    splits each planned trial's recipe builds (each row's input is its index in the file)."""
    from optimlab.build import build_data
    from optimlab.recipe import Recipe

    path = tmp_path / "rows.npz"
    np.savez(path, x=np.arange(300, dtype=np.float32).reshape(-1, 1), y=np.arange(300) % 3)
    recipe = Recipe.from_dict({"data": {"name": str(path)}, "training": {"seed": tuning_seed}})
    new = StudySpec("t", recipe, methods_from("optimizer.name", ["sgd", "adam"]), budget=2, seeds=3)
    old = StudySpec.from_dict({k: v for k, v in new.to_dict().items() if k != "fixed_split"})
    assert new.fixed_split and not old.fixed_split
    for method in new.methods:
        tuned = [new.trial_recipe(method, p.params, p.seed) for p in new.tune_plan(method)]
        at_tuning = _row_ids(build_data(tuned[0]))
        assert all(_row_ids(build_data(r)) == at_tuning for r in tuned[1:])
        best = dict(new.tune_plan(method)[1].params)
        reruns = new.seed_plan(best)
        assert [p.seed for p in reruns] == [tuning_seed + 1, tuning_seed + 2, tuning_seed + 3]
        for planned in reruns:
            rows = _row_ids(build_data(new.trial_recipe(method, planned.params, planned.seed)))
            assert rows["test"] == at_tuning["test"]
            assert not rows["test"] & (at_tuning["train"] | at_tuning["val"])
            assert rows == at_tuning  # the same training rows too: the seed moves weights and batches
            stored_way = _row_ids(build_data(old.trial_recipe(method, planned.params, planned.seed)))
            assert stored_way["test"] & at_tuning["val"]  # split anew by the rerun's seed, as it ran
        assert new.method_recipe(method).data.split_seed == tuning_seed
        assert old.method_recipe(method).data.split_seed is None


def test_a_split_seed_the_recipe_or_a_method_sets_is_kept_by_every_trial():
    """A recipe that fixes data.split_seed itself keeps it (the study fixes nothing over it), and a method
    comparing split seeds keeps its own (a study stored before such methods were refused,
    test_the_split_seed_compared_or_searched_is_refused): the protocol fixes the split only where nothing
    else does."""
    from optimlab.recipe import Recipe

    recipe = Recipe.from_dict({"data": {"name": "iris", "split_seed": 7}})
    spec = StudySpec("t", recipe, methods_from("optimizer.name", ["sgd"]), budget=1, seeds=2)
    (method,) = spec.methods
    assert {spec.trial_recipe(method, {}, p.seed).data.split_seed for p in spec.seed_plan({})} == {7}
    compared = StudySpec(
        "t", Recipe.from_dict({"data": {"name": "iris"}}), methods_from("data.split_seed", [3, 5])
    )
    assert [compared.trial_recipe(m, {}, 1).data.split_seed for m in compared.methods] == [3, 5]


def test_the_split_seed_compared_or_searched_is_refused(tmp_path):
    """--compare data.split_seed=3,7 scored each method on test rows of its own, and --space
    data.split_seed=3,7 let tuning pick the split whose validation rows scored best, its reruns scored on
    rows other tuning trials trained on, while the page said every trial split at the tuning seed and the
    test metric was free of the selection. Both are refused as a new study is planned, naming the field,
    the flag and why. Truth: the row ids of the test splits the two methods' recipes build differ."""
    from optimlab.build import build_data
    from optimlab.recipe import Recipe

    path = tmp_path / "rows.npz"
    np.savez(path, x=np.arange(300, dtype=np.float32).reshape(-1, 1), y=np.arange(300) % 3)
    recipe = Recipe.from_dict({"data": {"name": str(path)}})
    as_stored = StudySpec("t", recipe, methods_from("data.split_seed", [3, 7]), budget=1, seeds=1)
    tests = [_row_ids(build_data(as_stored.method_recipe(m)))["test"] for m in as_stored.methods]
    assert tests[0] != tests[1]
    with pytest.raises(InvalidValueError, match=r"'data.split_seed' for compare: .*same test rows"):
        StudySpec.for_workload("t", WORKLOAD, methods_from("data.split_seed", [3, 7]))
    with pytest.raises(InvalidValueError, match=r"'data.split_seed' for compare"):
        StudySpec.for_workload(
            "t",
            WORKLOAD,
            methods_from("data", [{"split_seed": 3}, {"split_seed": 7, "scaling": "standardize"}]),
        )
    with pytest.raises(
        InvalidValueError, match=r"'data.split_seed' for search space \(--space, .*same test rows"
    ):
        StudySpec.for_workload(
            "t",
            WORKLOAD,
            methods_from("optimizer.name", ["sgd"]),
            space=SearchSpace.from_flags(["optimizer.lr=0.01,0.1", "data.split_seed=3,7"]),
        )


def test_a_compared_section_updates_only_the_fields_it_holds():
    """``compare={'data': [{'name': 'iris'}, {'name': 'wine'}]}`` trained each on a data section reset to its
    defaults (the workload's val_fraction 0.3 back to 0.2; its fixed split_seed kept only because the dotted
    key won, written into the caller's mapping, which the study then refused as compared): a section's value
    now updates the fields it holds. Truth: the same fields updated dotted."""
    workload = dataclasses.replace(
        WORKLOAD, recipe=WORKLOAD.recipe.with_updates({"data.val_fraction": 0.3, "training.batch_size": 16})
    )
    sections = [{"name": "iris"}, {"name": "wine", "test_fraction": 0.1}]
    spec = StudySpec.for_workload("t", workload, methods_from("data", sections))
    for method, section in zip(spec.methods, sections):
        dotted = {f"data.{field}": value for field, value in section.items()}
        expected = workload.recipe.with_updates({"data.split_seed": workload.recipe.training.seed, **dotted})
        assert spec.trial_recipe(method, {}, 3) == expected.with_updates({"training.seed": 3})
        assert spec.method_recipe(method).data.val_fraction == 0.3
    assert sections == [{"name": "iris"}, {"name": "wine", "test_fraction": 0.1}]  # the caller's, as given
