"""Search spaces: grids against closed forms, draws in range and reproducible, YAML and flag parsing."""

import dataclasses
import itertools
import math
import shlex
from collections import Counter

import optuna
import pytest
import yaml

from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.recipe import Recipe, RecipeError, load_yaml
from optimlab.study.space import FLAG_FORMS, Dimension, SearchSpace


def test_log_grid_is_evenly_spaced_in_log_space():
    grid = Dimension("optimizer.lr", low=1e-4, high=1.0, log=True).grid(7)
    assert grid == pytest.approx([10 ** (-4 + 4 * i / 6) for i in range(7)], rel=1e-3)
    assert grid[0] == 1e-4 and grid[-1] == 1.0


def test_linear_and_integer_grids():
    assert Dimension("optimizer.weight_decay", low=0.0, high=1e-3).grid(3) == [0.0, 5e-4, 1e-3]
    assert Dimension("training.batch_size", low=16, high=128, log=True, integer=True).grid(4) == [
        16,
        32,
        64,
        128,
    ]
    assert Dimension("training.batch_size", low=1, high=2, integer=True).grid(5) == [1, 2]  # rounded together
    assert Dimension("optimizer.lr", low=1e-4, high=1e-2, log=True).grid(1) == [1e-3]  # the geometric middle


def test_grid_is_the_cartesian_product_within_the_budget():
    space = SearchSpace.from_flags(["optimizer.lr=1e-4:1e-1:log", "model.activation=relu,gelu"])
    assert space.grid_shape(8) == (4, 2) and space.grid_shape(7) == (3, 2)
    grid = space.grid(space.grid_shape(8))
    assert len(grid) == 8 and {g["model.activation"] for g in grid} == {"relu", "gelu"}
    assert sorted({g["optimizer.lr"] for g in grid}) == [1e-4, 1e-3, 1e-2, 1e-1]


@pytest.mark.parametrize(
    "budget, shape",
    [
        (8, (4, 2)),  # 8 = 4 x 2: the whole budget; a square grid of 2 x 2 ran 4 trials of the 8 asked
        (9, (3, 3)),
        (10, (5, 2)),
        (7, (3, 2)),  # 7 is prime: a grid with both ranges searched holds 6 at most
        (3, (3, 1)),  # 2 x 2 > 3: only one range can be searched
    ],
)
def test_a_grid_over_two_ranges_fills_its_budget(budget, shape):
    space = SearchSpace.from_flags(["optimizer.lr=1e-4:1e-1:log", "optimizer.weight_decay=0:1e-2"])
    assert space.grid_shape(budget) == shape
    grid = space.grid(shape)
    assert len(grid) == math.prod(shape) == len({tuple(g.values()) for g in grid})
    assert sorted({g["optimizer.lr"] for g in grid}) == space.dimensions[0].grid(shape[0])


def test_a_grid_counts_only_the_values_an_integer_range_holds():
    """batch_size 1..3 holds 3 values: 12 = 3 x 4, not 6 x 2 with 6 batch sizes rounded to 3."""
    space = SearchSpace.from_flags(["training.batch_size=1:3:int", "optimizer.lr=1e-4:1e-1:log"])
    assert space.grid_shape(12) == (3, 4) and len(space.grid(space.grid_shape(12))) == 12
    three = SearchSpace.from_flags(
        ["optimizer.lr=1e-4:1e-1:log", "optimizer.weight_decay=0:1e-2", "model.activation=relu,gelu,silu"]
    )
    assert three.grid_shape(24) == (4, 2, 3) and len(three.grid(three.grid_shape(24))) == 24


def test_draws_are_in_range_and_reproducible():
    space = SearchSpace.from_dict(
        {
            "optimizer.lr": {"low": 1e-4, "high": 1e-1, "log": True},
            "training.batch_size": {"low": 16, "high": 64, "integer": True},
            "model.activation": ["relu", "tanh"],
        }
    )
    draws = space.sample(200, seed=3)
    assert draws == space.sample(200, seed=3) and draws != space.sample(200, seed=4)
    lrs = [d["optimizer.lr"] for d in draws]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    below_1e3 = sum(lr < 1e-3 for lr in lrs) / len(lrs)
    assert 0.2 < below_1e3 < 0.47  # log-uniform: a third of the draws in the first of three decades
    assert all(
        isinstance(d["training.batch_size"], int) and 16 <= d["training.batch_size"] <= 64 for d in draws
    )
    assert {d["model.activation"] for d in draws} == {"relu", "tanh"}


def test_distinct_draws_are_the_first_of_each_configuration_the_draws_meet():
    """sample keeps each draw's key in a set (where it scanned the list of those kept, O(budget^2)): the
    configurations kept are still the first of each the raw draws meet, in order, choices that are lists
    (no set's key) included, and the space is drawn whole where it holds no more than asked."""
    space = SearchSpace.from_dict(
        {"model.width": {"low": 1, "high": 6, "integer": True}, "x.y": [[1, 2], [3]]}
    )
    raw = space.sample(200, seed=5, distinct=False)
    first = [c for i, c in enumerate(raw) if c not in raw[:i]]
    assert space.sample(12, seed=5) == first[:12] and len(first) == 12
    assert space.sample(7, seed=5) == first[:7]


def test_suggest_uses_enqueued_values_then_the_sampler():
    space = SearchSpace.from_flags(["optimizer.lr=1e-4:1e-1:log", "model.activation=relu,gelu"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"optimizer.lr": 3e-3, "model.activation": "gelu"})
    assert space.suggest(study.ask()) == {"optimizer.lr": 3e-3, "model.activation": "gelu"}
    drawn = space.suggest(study.ask())
    assert 1e-4 <= drawn["optimizer.lr"] <= 1e-1 and drawn["model.activation"] in ("relu", "gelu")
    assert isinstance(space.dimensions[0].distribution(), optuna.distributions.FloatDistribution)


def test_round_trip_through_a_dict():
    space = SearchSpace.from_flags(
        ["optimizer.lr=1e-4:1e-1:log", "training.batch_size=16:64:int", "model.norm=none,batch"]
    )
    assert SearchSpace.from_dict(space.to_dict()) == space


@pytest.mark.parametrize(
    "bad, error",
    [
        ({"optimizer.lr": {"low": 1e-1, "high": 1e-4}}, InvalidValueError),
        ({"optimizer.lr": {"low": 0, "high": 1, "log": True}}, InvalidValueError),
        ({"optimizer.lr": {"low": 1e-4, "hi": 1}}, UnknownNameError),
        ({"optimizer.lr": {"low": "small", "high": 1}}, InvalidValueError),
        ({"model.activation": []}, InvalidValueError),
        ({"optimizer.lr": 0.1}, InvalidValueError),
        ({}, OptimlabError),
        ({"training.batch_size": {"low": 8.5, "high": 64, "integer": True}}, InvalidValueError),
    ],
)
def test_bad_spaces_name_the_field(bad, error):
    with pytest.raises(error, match=next(iter(bad), "search space")):
        SearchSpace.from_dict(bad)


def test_bad_flag_says_the_accepted_forms():
    with pytest.raises(InvalidValueError, match="FIELD=a,b,c or FIELD=LOW:HIGH"):
        SearchSpace.from_flags(["optimizer.lr"])


@pytest.mark.parametrize(
    "flag, accepted",
    [
        ("optimizer.weight_decay=[0, 1e-400]", "FIELD=a,b,c of numbers or words, or FIELD=LOW:HIGH"),
        ("optimizer.weight_decay=0,1e-400", "0 or a number at least about 5e-324 in size; '1e-400' is below"),
        ("model.width=8,1_6", "numbers in plain digits with a sign, a decimal point or an exponent"),
    ],
)
def test_a_choice_yaml_does_not_read_as_written_is_refused_naming_the_flag(flag, accepted):
    """SearchSpace.from_flags (the Python API) raised YAML's ParserError ('[0' of a list split at its
    comma) or a YamlValueError, where compare's --space said one line naming the flag, as here."""
    with pytest.raises(InvalidValueError) as refused:
        SearchSpace.from_flags([flag])
    assert str(refused.value).startswith(f"invalid value {flag!r} for --space: accepted {accepted}")


@pytest.mark.parametrize(
    "flag",
    [
        "optimizer.weight_decay=0.1,",
        "optimizer.weight_decay=0.1,,0.2",
        "model.width=,",
        "optimizer.weight_decay=0.1,#x",
        "model.width= #x",
    ],
)
def test_a_choice_flag_refuses_an_empty_choice(flag):
    """A stray comma was a choice of null, the field's default: optimizer.weight_decay=0.1, searched
    (0.1, None), a grid point and its trial more than typed, shown as 'None' in the report; so was a
    comment alone (``#x``), which YAML reads as an empty document, null."""
    with pytest.raises(InvalidValueError, match=f"invalid value '{flag}' for --space: .*no empty choice"):
        SearchSpace.from_flags([flag])
    assert SearchSpace.from_flags(["optimizer.weight_decay=0.1,null"]).dimensions[0].choices == (0.1, None)


@pytest.mark.parametrize(
    "flag", ["optimizer.lr=null", "optimizer.lr=1e-3,~", "optimizer.options.lr=0.1,null"]
)
def test_a_null_learning_rate_choice_is_refused_where_the_space_is_read(flag):
    """compare --space optimizer.lr=null ran every trial, then raised a TypeError from the analysis,
    which plots the tuned metric against each trial's lr as a number (float(None)). Refused when the
    flag or the file is read, naming the flag; another field's null (its default) is still a choice,
    and a stored study's space is read as it was."""
    with pytest.raises(
        InvalidValueError, match=f"invalid value '{flag}' for --space: accepted learning rates"
    ):
        SearchSpace.from_flags([flag])
    field, _, values = flag.partition("=")
    data = {field: [load_yaml(value) for value in values.split(",")]}
    with pytest.raises(InvalidValueError, match=f"choices of '{field}'.*accepted learning rates"):
        SearchSpace.from_dict(data)
    assert SearchSpace.from_dict(data, stored=True).dimensions[0].choices == tuple(data[field])
    assert SearchSpace.from_flags(["training.grad_clip_norm=null,1"]).dimensions[0].choices == (None, 1)


@pytest.mark.parametrize(
    "choices, repeated",
    [((0.1, 0.1, 0.01), 0.1), ((32, 64, 32.0), 32.0), (("relu", "gelu", "relu"), "relu")],
)
def test_a_choice_given_twice_is_refused(choices, repeated, tmp_path):
    """optimizer.lr=0.1,0.1,0.01 trained lr 0.1 twice at the tuning seed (grid: tune/0 and tune/1, one
    result twice, a third of the budget spent again) and drew it twice as often at random. Truth: a set
    of choices (a categorical distribution's support) holds each value once, as the compared values do
    (methods_from). Refused where a user's space is read (a stored study loads as it ran: test_run)."""
    with pytest.raises(
        InvalidValueError, match=rf"choices of .f.*distinct values \({repeated!r} is given twice\)"
    ):
        SearchSpace((Dimension("f", choices=choices),)).distinct()
    flag = "optimizer.lr=0.1,0.1,0.01"
    with pytest.raises(InvalidValueError, match=r"distinct values \(0.1 is given twice\)"):
        SearchSpace.from_flags([flag])
    path = tmp_path / "space.yaml"
    path.write_text("optimizer.lr: [0.1, 0.1, 0.01]\n")
    with pytest.raises(InvalidValueError, match=r"distinct values \(0.1 is given twice\)"):
        SearchSpace.load(path)
    assert SearchSpace.from_dict({"f": list(choices)}).dimensions[0].choices == choices  # a stored spec
    assert Dimension("f", choices=(0.1, 0.01)).grid(1) == [0.1, 0.01]


def test_yaml_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("optimizer.lr: {low: 1.0e-4, high: 1.0e-1, log: true}\nmodel.activation: [relu, gelu]\n")
    space = SearchSpace.load(path)
    assert space.fields == ("optimizer.lr", "model.activation")
    assert math.isclose(space.dimensions[0].low, 1e-4)
    with pytest.raises(OptimlabError, match="does not exist"):
        SearchSpace.load(tmp_path / "missing.yaml")


def test_exponents_without_a_dot_are_numbers_in_flags_and_files(tmp_path):
    """YAML 1.2's floats, as recipes read them: PyYAML's 1.1 rules made '1e-8' a string choice."""
    space = SearchSpace.from_flags(["optimizer.options.eps=1e-8,1e-6"])
    assert space.dimensions[0].choices == (1e-8, 1e-6)
    path = tmp_path / "space.yaml"
    path.write_text("optimizer.weight_decay: [0, 1e-4]\n")
    assert SearchSpace.load(path).dimensions[0].choices == (0, 1e-4)


@pytest.mark.parametrize("flag", ["optimizer.lr=0.1:1:lg", "training.batch_size=8:64:integer"])
def test_a_range_flag_refuses_a_word_it_does_not_know(flag):
    """It was ignored: ``:lg`` searched a linear range where a log one was meant."""
    with pytest.raises(InvalidValueError, match="followed by log and/or int"):
        SearchSpace.from_flags([flag])


@pytest.mark.parametrize(
    ("flag", "twice"), [("optimizer.lr=0.1:1:log:log", "log"), ("model.width=1:8:int:int", "int")]
)
def test_a_range_flag_refuses_a_word_given_twice(flag, twice):
    """``0.1:1:log:log`` was read as one ``:log``, the typo unsaid."""
    with pytest.raises(InvalidValueError) as refused:
        SearchSpace.from_flags([flag])
    assert str(refused.value) == (
        f"invalid value {flag!r} for --space: accepted LOW:HIGH followed by log and/or int, each once, "
        f"not {twice!r} twice."
    )


@pytest.mark.parametrize("field", ["model.width", "training.batch_size"])
def test_a_range_of_a_whole_number_field_without_int_is_refused_naming_the_flag(field):
    """``--space model.width=1:8`` passed, then planning refused its midpoint 4.5 as 'fits no point of
    the space; beside its first: ...', a value no one typed. Refused as typed, naming the forms that
    search it: ``:int``, whose grid then holds whole numbers only (truth: the recipe's own check of the
    field, which refuses 4.5)."""
    with pytest.raises(RecipeError, match="4.5 is refused"):  # the midpoint a plain range planned
        Recipe().with_updates({field: 4.5})
    flag = f"{field}=1:8"
    with pytest.raises(InvalidValueError) as refused:
        SearchSpace.from_flags([flag])
    assert str(refused.value).startswith(
        f"invalid value {flag!r} for --space: accepted {field}=LOW:HIGH:int "
    )
    (dimension,) = SearchSpace.from_flags([f"{flag}:int"]).dimensions
    assert all(isinstance(v, int) for v in dimension.grid(3)) and dimension.grid(3) == [1, 4, 8]
    assert SearchSpace.from_flags(["optimizer.lr=0.1:1"]).dimensions[0].grid(3)[1] == 0.55  # a real field


@pytest.mark.parametrize("key", ["log", "integer"])
def test_a_range_takes_only_true_or_false_for_its_scale(key):
    """log: maybe was read as true (bool of a string): the space was searched in log space without a word."""
    with pytest.raises(
        InvalidValueError, match=f"invalid value 'maybe' for {key} of the range of 'model.width'"
    ):
        SearchSpace.from_dict({"model.width": {"low": 8, "high": 64, key: "maybe"}})


@pytest.mark.parametrize("bounds", ["nan:1", "1:inf", "inf:inf"])
def test_a_range_takes_finite_bounds_alone(bounds):
    """nan:1 was refused as 'low <= high', which says nothing of nan; 1:inf and inf:inf were accepted."""
    with pytest.raises(InvalidValueError, match="accepted finite bounds"):
        SearchSpace.from_flags([f"optimizer.lr={bounds}"])


def test_one_field_under_two_spellings_is_refused():
    """--space optimizer.lr=0.1,0.01 --space optimizer.options.lr=0.5 ran: the recipe reads options.lr as
    optimizer.lr, so every trial trained at 0.5 and the lr 'searched' was no search (its two points scored
    the same to the last digit)."""
    with pytest.raises(
        InvalidValueError, match=r"optimizer.lr.*optimizer.options.lr.*each field at most once"
    ):
        SearchSpace.from_flags(["optimizer.lr=0.1,0.01", "optimizer.options.lr=0.5"])
    assert (
        len(SearchSpace.from_flags(["optimizer.lr=0.1,0.01", "optimizer.options.momentum=0,0.9"]).fields) == 2
    )


def test_a_range_bound_is_read_as_typed():
    """float() read --space optimizer.lr=1_0:20 as low=10.0 and Arabic-Indic digits as theirs. Truth:
    number_text.read_number, as every other number on the command line is read."""
    for low in ("1_0", "\u0661"):
        with pytest.raises(InvalidValueError, match=f"invalid value '{low}' for bound of the range"):
            SearchSpace.from_flags([f"optimizer.lr={low}:20"])
    assert SearchSpace.from_flags(["optimizer.lr=+.5:2e1"]).dimensions[0].low == 0.5


def test_a_choice_of_no_leading_digit_is_the_number():
    """+.5 (YAML 1.1's text) was kept as the choice '+.5'. Truth: float('+.5')."""
    (dimension,) = SearchSpace.from_flags(["model.activation.negative_slope=+.5,0.2"]).dimensions
    assert dimension.choices == (0.5, 0.2)


def test_a_space_file_number_read_otherwise_is_refused(tmp_path):
    """A --space file's lr: [010] went through YAML 1.1 as 8. Truth: YAML 1.1's octal."""
    path = tmp_path / "space.yaml"
    path.write_text("training.steps: [010, 20]\n")
    with pytest.raises(yaml.YAMLError, match="'010' would read otherwise"):
        SearchSpace.load(path)


def test_a_space_written_in_the_recipes_nested_sections_is_the_dotted_one(tmp_path):
    """A --space-file written as a recipe is, optimizer: {lr: {low, high, log}}, was refused with
    "unknown key of the range of 'optimizer' 'lr'". Truth: the same space as its dotted fields, the same
    dimensions in the same order; a field given nested and dotted is refused, and a bad value is named
    by its whole field."""
    nested = tmp_path / "nested.yaml"
    nested.write_text(
        "optimizer:\n  lr: {low: 1.0e-4, high: 0.1, log: true}\n  momentum: [0.0, 0.9]\n"
        "model: {activation: [relu, tanh]}\n"
    )
    dotted = tmp_path / "dotted.yaml"
    dotted.write_text(
        "optimizer.lr: {low: 1.0e-4, high: 0.1, log: true}\noptimizer.momentum: [0.0, 0.9]\n"
        "model.activation: [relu, tanh]\n"
    )
    assert SearchSpace.load(nested) == SearchSpace.load(dotted)
    assert SearchSpace.load(nested).fields == ("optimizer.lr", "optimizer.momentum", "model.activation")
    with pytest.raises(InvalidValueError, match="'optimizer.lr' for search space field: accepted each"):
        SearchSpace.from_dict({"optimizer": {"lr": [0.1]}, "optimizer.lr": [0.2]})
    with pytest.raises(InvalidValueError, match="invalid value 3 for search dimension 'optimizer.lr'"):
        SearchSpace.from_dict({"optimizer": {"lr": 3}})


@pytest.mark.parametrize("low, high", [(0.0012345, 0.0012345), (0.00012345, 0.12345678)])
def test_grid_points_and_draws_lie_within_a_range_of_bounds_of_many_digits(low, high):
    """Values are rounded to 4 significant digits, which took a bound of more outside its range: the
    one-point range 0.0012345:0.0012345 trained every trial (grid, random, TPE) at 0.001234, and
    0.00012345:0.12345678's grid started at 0.0001234, below its low. Truth: every value in [low, high],
    a one-point range's value its point."""
    space = SearchSpace.from_flags([f"optimizer.lr={low!r}:{high!r}:log"])
    values = [c["optimizer.lr"] for c in space.grid(5) + space.sample(50, seed=0)]
    assert all(low <= v <= high for v in values), values
    if low == high:
        assert set(values) == {low} and space.size == 1


def test_an_untried_draw_keeps_a_log_range_log_uniform():
    """The configuration put in place of a repeat is a random draw by each dimension's own law: a log
    integer range 16..1024 is log-uniform, P(value <= 64) = ln(64.5 / 16) / ln(1024 / 16) = 0.335 (the
    draw rounded to the nearest integer), where a uniform pick among its 1009 values gives 49 / 1009."""
    import random

    space = SearchSpace((Dimension("training.batch_size", low=16, high=1024, log=True, integer=True),))
    rng = random.Random(0)
    draws = [space.untried([], rng)["training.batch_size"] for _ in range(4000)]
    assert all(16 <= d <= 1024 for d in draws)
    assert abs(sum(d <= 64 for d in draws) / len(draws) - math.log(64.5 / 16) / math.log(1024 / 16)) < 0.03


@pytest.mark.parametrize(
    ("flag", "dimension"),
    [
        ("optimizer.betas=[0.9,0.99],[0.8,0.9]", Dimension("optimizer.betas", ([0.9, 0.99], [0.8, 0.9]))),
        # no bracket, yet YAML reads a mapping choice (f4af3b48 refused it as a range's bound 'relu,name')
        ("model.activation=relu,name: gelu", Dimension("model.activation", ("relu", {"name": "gelu"}))),
    ],
)
def test_a_list_choice_flag_is_refused_with_the_space_file_line_that_gives_it(tmp_path, flag, dimension):
    """``--space optimizer.betas=[0.9,0.99],[0.8,0.9]``, split at its commas, was refused saying only the
    flag's forms (or, for one list, '[0.9' and '0.99]'): no word that a list choice goes in a space file.
    Now the refusal names the --space-file line. Truth: that line, loaded, is the space of the two
    choices; a flag whose text YAML reads as no list (a bracket left open) is refused by its forms."""
    with pytest.raises(InvalidValueError, match=r"goes in a --space-file, as the YAML line ") as refused:
        SearchSpace.from_flags([flag])
    path = tmp_path / "space.yaml"
    path.write_text(str(refused.value).rpartition("YAML line ")[2].removesuffix("."))
    assert SearchSpace.load(path).dimensions == (dimension,)
    with pytest.raises(InvalidValueError) as refused:
        SearchSpace.from_flags(["optimizer.lr=[1,2"])
    assert str(refused.value).endswith(f"accepted {FLAG_FORMS}.")


@pytest.mark.parametrize("flag", ["optimizer.lr=1e-4:", "optimizer.lr=1e-4:,1"])
def test_a_range_cut_short_is_refused_as_a_range_not_as_a_mapping_choice(flag):
    """--space optimizer.lr=1e-4: (its high bound left out) was refused as a choice that is a mapping, to
    go in a --space-file as 'optimizer.lr: [1e-4:]' (YAML's {1e-4: null}), a space nobody meant. It is
    refused as the range it is, naming the bound missing, as 'optimizer.lr=:1' is."""
    with pytest.raises(InvalidValueError) as refused:
        SearchSpace.from_flags([flag])
    high = flag.partition(":")[2]
    assert "--space-file" not in str(refused.value)
    assert f"invalid value {high!r} for bound of the range of 'optimizer.lr'" in str(refused.value)


@pytest.mark.parametrize(
    ("flag", "choices"),
    [
        ("data.name=rows[1].csv,rows[2].csv", ("rows[1].csv", "rows[2].csv")),
        ("model.activation=f{x},relu", ("f{x}", "relu")),
    ],
)
def test_choices_holding_brackets_that_yaml_reads_as_words_are_taken(flag, choices):
    """51957208 refused every --space value holding '[' or '{' as a list or mapping choice, with a
    suggested line of another space ('data.name: [[1, 2], [3, 4]]'): file names such as rows[1].csv,
    taken before, were refused. Now only a choice YAML reads as a list or a mapping is. Truth: YAML's
    own reading of each choice."""
    assert [yaml.safe_load(choice) for choice in choices] == list(choices)
    assert SearchSpace.from_flags([flag]).dimensions == (Dimension(flag.partition("=")[0], choices),)


@pytest.mark.parametrize(
    "data",
    [
        {"optimizer.betas": [[0.9, 0.99], [0.8, 0.9]]},
        {"model.activation": ["relu", {"name": "leaky_relu", "negative_slope": 0.1}]},
        {"model.norm": ["true", "none"]},  # a word YAML reads as true (YAML 1.2's: 'yes' is a word)
        {"model.activation": ["relu", "gelu"], "optimizer.lr": {"low": 1e-4, "high": 0.1, "log": True}},
    ],
)
def test_a_space_is_given_as_flags_that_read_it_back_or_else_as_its_file(data, tmp_path):
    """A stored space was said as --space flags in a resume's refusal even where they do not read back:
    ``optimizer.betas=[0.9, 0.99],[0.8, 0.9]`` (refused), ``model.activation=relu,{'name': ...}``
    (Python's repr), ``model.norm=true,none`` (read as true). Truth: what given_as says, as a shell
    splits it and from_flags reads it, or as a --space-file loads it, is the space itself."""
    space = SearchSpace.from_dict(data)
    said = space.given_as()
    if said.startswith("--space "):
        words = shlex.split(said)
        assert SearchSpace.from_flags(words[1::2]) == space and set(words[::2]) == {"--space"}
    else:
        path = tmp_path / "space.yaml"
        path.write_text(said.removeprefix("a --space-file holding "))
        assert SearchSpace.load(path) == space
    assert said.startswith("--space ") == (len(data) == 2)


@pytest.mark.parametrize(
    "flag, value",
    [
        ("model.width=1:99999999999999999999:int", "'99999999999999999999'"),
        ("model.width=1:1e20:int", "'1e20'"),
        ("model.width=-99999999999999999999:8:int", "'-99999999999999999999'"),
        ("model.width=1:9007199254740993:int", "'9007199254740993'"),
        ("model.width=1:9007199254740993.0:int", "'9007199254740993.0'"),  # read exactly, not as ...992
        (f"model.width=1:{2**63 - 1}:int", f"'{2**63 - 1}'"),  # int64's top, which a float rounds up
        ("model.width=1:99999999999999999999", "'99999999999999999999'"),  # no :int, a whole-number field
        ("training.steps=1:1e20", "'1e20'"),
    ],
)
def test_a_whole_number_range_past_what_its_bounds_hold_is_refused_naming_the_bound(flag, value):
    """--space model.width=1:99999999999999999999 (with :int or not) was read, then refused at its first
    trial as 'model.width = 50000000000000000000 fits no point of the space; beside its first: ...', a
    midpoint no one typed; 9007199254740993 was read as ...992; the int64 top a refusal named was refused
    again. The range's bounds are floats: truth, a float holds every integer up to 2**53 and not 2**53 + 1."""
    assert all(float(n) == n for n in (2**53 - 1, 2**53, -(2**53))) and float(2**53 + 1) != 2**53 + 1
    field = flag.partition("=")[0]
    with pytest.raises(InvalidValueError) as refused:
        SearchSpace.from_flags([flag])
    accepted = f"an integer in [{-(2**53)}, {2**53}], which a float holds each exactly"
    assert (
        str(refused.value)
        == f"invalid value {value} for bound of the range of {field!r}: accepted {accepted}."
    )
    top = f"{field}=1:{2**53}:int"  # the top named, pasted, is read exactly
    assert SearchSpace.from_flags([top]).dimensions[0].high == 2**53


def test_a_range_of_a_real_field_keeps_bounds_past_2_to_the_53():
    assert SearchSpace.from_flags(["optimizer.lr=1e-30:1e30:log"]).dimensions[0].high == 1e30


def test_an_integer_bound_no_float_holds_in_a_space_file_is_refused_not_a_traceback():
    """A --space-file's bound of 10**400 (YAML reads it as an int) raised OverflowError out of float()."""
    for integer in (True, False):
        with pytest.raises(InvalidValueError, match="bound of the range of 'model.width'"):
            SearchSpace.from_dict({"model.width": {"low": 1, "high": 10**400, "integer": integer}})


@pytest.mark.parametrize(
    "flag",
    [
        "optimizer.lr=1e-4:1e-1:log",
        "training.batch_size=1:100:log:int",
        "model.width=3:70:int",
        "optimizer.lr=0.1:0.1003",  # four significant digits round a fine grid's points together
        "optimizer.lr=0.001:0.001",
        "optimizer.momentum=-1:1",
    ],
)
def test_a_grid_shape_counts_the_most_points_a_range_holds_distinct(flag):
    """grid_shape found the counts a range holds distinct by building its grid at every count up to the
    budget (a budget of 10**4 planned for minutes); it bisects now. Truth: that exhaustive count."""
    space = SearchSpace.from_flags([flag])
    (dimension,) = space.dimensions
    for budget in (1, 2, 7, 60, 150):
        distinct = [n for n in range(1, budget + 1) if len(dimension.grid(n)) == n]
        assert space.grid_shape(budget) == (max(distinct),)


@pytest.mark.parametrize(
    ("given", "optimizer", "schedule"),
    [
        (SearchSpace((Dimension("model.width", low=1, high=8),)), "sgd", None),  # an object of the API
        ({"training.batch_size": {"low": 32, "high": 64}}, "sgd", None),  # space= or a --space-file
        ({"optimizer.options.k": {"low": 2, "high": 10}}, "lookahead", None),  # a registered entry's
        ({"schedule.options.step_size": {"low": 1, "high": 10}}, "sgd", "step"),
    ],
)
def test_a_plain_range_of_a_whole_number_field_given_to_the_api_is_refused_before_anything_is_stored(
    tmp_path, given, optimizer, schedule
):
    """optimlab.compare(space=SearchSpace((Dimension('training.batch_size', low=32, high=64),))) wrote
    its study, then refused its own stored space on reading it back: the folder held a study no command
    could resume or report. lookahead's k=2:10 (step's step_size=1:10) ran, half its trials failing on
    k=4.667. Each is refused as a new study is planned, naming the forms that search it, every one of
    them (:int, integer: true, the whole numbers as choices); nothing written. Truth: the recipe's own
    check refuses the range's midpoint."""
    import optimlab

    space = given if isinstance(given, SearchSpace) else SearchSpace.from_dict(given)
    (dimension,) = space.dimensions
    base = {"optimizer": {"name": optimizer}, **({"schedule": {"name": schedule}} if schedule else {})}
    with pytest.raises(RecipeError, match="accepted an integer"):  # a plain range's points between
        Recipe.from_dict(base).with_updates({dimension.field: dimension.low + 0.5})
    out = tmp_path / "study"
    with pytest.raises(InvalidValueError) as refused:
        optimlab.compare(
            **({"compare": {"schedule.name": [schedule]}} if schedule else {"optimizers": [optimizer]}),
            workload="teacher_student", space=given, budget=4, seeds=1, epochs=1, out=out,
        )  # fmt: skip
    field = dimension.field
    assert f"for range of {field!r} (--space, --space-file, space=)" in str(refused.value)
    for form in (f"{field}=LOW:HIGH:int", "integer: true", f"{field}=a,b,c", f"{field}: [a, b, c]"):
        assert form in str(refused.value)
    assert not out.exists()
    integer = SearchSpace((dataclasses.replace(dimension, integer=True),))
    assert integer.integer_where_whole(Recipe.from_dict(base)) == integer


@pytest.mark.parametrize(
    "flags",
    [
        ["optimizer.lr=1e-4:1e-1:log"],
        ["optimizer.lr=1e-4:1e-1:log", "training.batch_size=1:100:log:int"],
        ["optimizer.lr=0.1:0.1003", "model.width=3:70:int", "optimizer.momentum=-1:1"],
    ],
)
def test_a_grid_shape_is_planned_in_few_grids_of_each_range(flags, monkeypatch):
    """Planning built each range's grid at every count up to the budget (quadratic: 10**4 took minutes);
    its bisection builds about 2 log2(budget) of them per range. Truth: Dimension.grid's calls counted."""
    space = SearchSpace.from_flags(flags)
    built = Counter()
    grid = Dimension.grid

    def counted(dimension, points):
        built[dimension.field] += 1
        return grid(dimension, points)

    monkeypatch.setattr(Dimension, "grid", counted)
    budget = 300  # each count tried in turn: 300 grids of a range
    space.grid_shape(budget)
    assert built and max(built.values()) <= 2 * math.ceil(math.log2(budget)) + 2, built


@pytest.mark.parametrize(
    "flags",
    [
        ["optimizer.lr=1e-4:1e-1:log", "training.batch_size=1:100:log:int"],
        ["optimizer.lr=0.1:0.1003", "model.width=3:5:int"],
        [
            "optimizer.momentum=-1:1",
            "model.width=2:2:int",
            "optimizer.lr=1e-3:1e-2",
            "model.activation=relu,gelu",
        ],
    ],
)
def test_a_grid_shape_of_several_ranges_is_the_best_of_every_shape(flags):
    """grid_shape's counts over several ranges against every shape of the budget: the most ranges at 2
    points or more, then the largest product within the room the choices leave, then the most even;
    each range at a count its grid holds distinct. Truth: that exhaustive search."""
    space = SearchSpace.from_flags(flags)
    ranges = [d for d in space.dimensions if not d.categorical]
    for budget in (1, 3, 8, 20, 40):
        room = max(1, budget // space.choice_combinations)
        holds = [[n for n in range(1, room + 1) if len(d.grid(n)) == n] for d in ranges]
        shapes = [s for s in itertools.product(*holds) if math.prod(s) <= room]

        def key(shape):
            return sum(n >= 2 for n in shape), math.prod(shape), min(shape) - max(shape)

        best = max(shapes, key=key)
        planned = tuple(n for n, d in zip(space.grid_shape(budget), space.dimensions) if not d.categorical)
        assert key(planned) == key(best) and planned in shapes, (budget, planned, best)


def test_a_whole_number_fields_choices_are_the_ints_the_recipe_holds():
    """--space training.batch_size=1e1,2e1 (YAML reads 10.0, 20.0) searched 10.0 and 20.0: each best
    configuration and trial was named so, though the recipe holds 10 and 20. A whole-number field's
    choices are the recipe's ints, from a flag or a file; a real field's whole choice (lr 1.0) stays a float."""
    for space in (
        SearchSpace.from_flags(["training.batch_size=1e1,2e1", "optimizer.lr=1e-1,1e0"]),
        SearchSpace.from_dict({"training": {"batch_size": [1e1, 2e1]}, "optimizer.lr": [1e-1, 1e0]}),
    ):
        batch, lr = space.dimensions
        held = [Recipe().with_updates({"training.batch_size": c}).training.batch_size for c in batch.choices]
        assert list(batch.choices) == held == [10, 20] and all(type(c) is int for c in batch.choices)
        assert lr.choices == (0.1, 1.0) and type(lr.choices[1]) is float


@pytest.mark.parametrize(
    ("field", "optimizer", "schedule"),
    [("optimizer.options.k", "lookahead", None), ("schedule.options.step_size", "sgd", "step")],
)
def test_a_registered_entrys_whole_number_choices_are_planned_as_the_ints_the_recipe_holds(
    field, optimizer, schedule
):
    """--space optimizer.options.k=4.0,5.0 of lookahead (an int hyperparameter of the registry, not a recipe
    field) was searched, stored and named 5.0 (leaderboard.csv's best_config optimizer.options.k=5.0); then
    only StudySpec.for_workload planned ints, a StudySpec made directly (run_study's) still 4.0 and 5.0.
    Every study plans the ints the recipe holds; the lr's whole choice 1.0 stays a float. Truth: the recipe."""
    from optimlab.study.protocols import StudySpec, methods_from
    from optimlab.workloads import get_workload

    base = {"optimizer": {"name": optimizer}, **({"schedule": {"name": schedule}} if schedule else {})}
    recipe = Recipe.from_dict(base)
    workload = dataclasses.replace(get_workload("teacher_student", epochs=1), recipe=recipe)
    space = SearchSpace.from_flags([f"{field}=4.0,5.0", "optimizer.lr=1e-1,1e0"])
    methods = methods_from("optimizer.name", [optimizer])
    held = [recipe.with_updates({field: value}) for value in (4.0, 5.0)]
    held_values = [
        r.optimizer.options["k"] if schedule is None else r.schedule.options["step_size"] for r in held
    ]
    for spec in (
        StudySpec.for_workload("t", workload, methods, space=space, budget=4, seeds=1),
        StudySpec("t", recipe, methods, space=space, budget=4, seeds=1),
    ):
        planned = [trial.params for trial in spec.tune_plan(spec.methods[0])]
        assert sorted({p[field] for p in planned}) == held_values == [4, 5]
        assert all(type(p[field]) is int and type(p["optimizer.lr"]) is float for p in planned)
