"""The registry: names normalised once, hyperparameters read from signatures, clear errors."""

import sys
from collections.abc import Callable

import pytest
import torch

import optimlab.models
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import (
    CAPABILITIES,
    POSITIVE,
    REAL,
    UNIT,
    Capability,
    Each,
    Interval,
    Registry,
    categories,
    get_registry,
    import_submodules,
)


def make_registry() -> Registry:
    registry = Registry("widget")

    @registry.register(
        "spring_coil",
        summary="A coil.",
        paper="Hooke 1678",
        aliases=("coil",),
        accepts={
            "stiffness": POSITIVE,
            "damping": UNIT,
            "shape": ("round", "square"),
            "hollow": (True, False),
        },
    )
    def spring_coil(
        length: float,
        stiffness: float = 1.0,
        damping: float = 0.1,
        shape: str = "round",
        hollow: bool = False,
    ):
        return (length, stiffness, damping, shape)

    return registry


def test_lookup_normalises_case_dashes_and_aliases():
    registry = make_registry()
    assert registry.resolve("Spring-Coil") == "spring_coil"
    assert registry.resolve("COIL") == "spring_coil"
    assert "spring coil" in registry and "nothing" not in registry


def test_hyperparameters_and_defaults_come_from_the_signature():
    entry = make_registry().get("spring_coil")
    assert entry.hyperparameter_names == ("stiffness", "damping", "shape", "hollow")
    assert [h.default for h in entry.hyperparameters] == [1.0, 0.1, "round", False]
    assert entry.create(2.0, damping=0.5) == (2.0, 1.0, 0.5, "round")


def test_a_whole_float_for_an_integer_hyperparameter_builds_as_the_int():
    """heads: 2.0 (YAML, a search space) passed the integer range and reached the model as a float: the
    transformer built, then its first forward raised torch's TypeError from view()."""
    torch.manual_seed(0)
    given = optimlab.models.create("transformer", (8,), 3, width=16.0, heads=2.0, mlp_ratio=2.0)
    torch.manual_seed(0)
    expected = optimlab.models.create("transformer", (8,), 3, width=16, heads=2, mlp_ratio=2)
    x = torch.randn(4, 8)
    torch.testing.assert_close(given(x), expected(x), rtol=0, atol=0)
    with pytest.raises(InvalidValueError, match="heads"):
        optimlab.models.create("transformer", (8,), 3, width=16, heads=2.5)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match=r"unknown widget 'sprng_coil'. Did you mean 'spring_coil'\?"):
        make_registry().get("sprng_coil")


def test_unknown_keyword_suggests_close_matches_and_lists_accepted():
    with pytest.raises(
        UnknownNameError, match=r"'stifness'.*Did you mean 'stiffness'.*Accepted: damping, hollow, shape"
    ):
        make_registry().create("coil", 1.0, stifness=2.0)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"stiffness": 0.0}, "stiffness"),
        ({"damping": 1.5}, "damping"),
        ({"shape": "oval"}, "shape"),
        ({"stiffness": float("nan")}, "stiffness"),
        ({"damping": "high"}, "damping"),
        ({"hollow": 1}, "hollow"),  # 1 == True in Python; a recipe's 1 is not the flag's true
        ({"hollow": 0.0}, "hollow"),
    ],
)
def test_out_of_range_values_name_field_value_and_range(kwargs, field):
    with pytest.raises(InvalidValueError) as caught:
        make_registry().create("coil", 1.0, **kwargs)
    message = str(caught.value)
    assert repr(field) in message and repr(next(iter(kwargs.values()))) in message and "accepted" in message


def test_interval_bounds_are_exact():
    positive_int = Interval(1, 10, integer=True, open_high=True)
    assert [positive_int.contains(v) for v in (0, 1, 9, 10, 2.5, True)] == [
        False,
        True,
        True,
        False,
        False,
        False,
    ]
    assert UNIT.contains((0.9, 0.999)) and not UNIT.contains((0.9, 1.2))
    assert str(positive_int) == "an integer in [1, 10)"


def test_a_real_range_holds_no_int_past_every_float():
    """``init: {name: xavier_normal, gain: 10**400}`` passed the range (0, inf) and ended in torch's
    OverflowError. Truth: Python converts no such int to a float; one just below the largest float it does."""
    past, within = 10**400, int(sys.float_info.max)
    with pytest.raises(OverflowError):
        float(past)
    assert float(within) == sys.float_info.max
    assert [POSITIVE.contains(v) for v in (past, -past, within)] == [False, False, True]
    assert not REAL.contains(-past) and not REAL.contains([1.0, past])


def test_duplicate_registration_is_refused():
    registry = make_registry()
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("coil", summary="again", obj=lambda: None)


def test_ranges_for_parameters_that_do_not_exist_are_refused():
    with pytest.raises(TypeError, match="does not take"):
        Registry("x").register("f", summary="s", accepts={"nope": POSITIVE}, obj=lambda a=1: a)


def test_words_for_a_left_out_keyword_are_refused_where_its_default_says_itself():
    """left_out words say what a keyword of default None is worked out to; beside a default of its own
    (or for a keyword the entry does not take) they would contradict what the listing shows."""
    with pytest.raises(TypeError, match=r"left_out words given for \['a'\]"):
        Registry("x").register("f", summary="s", left_out={"a": "a third"}, obj=lambda a=1: a)
    with pytest.raises(TypeError, match=r"left_out words given for \['b'\]"):
        Registry("x").register("f", summary="s", left_out={"b": "a third"}, obj=lambda a=None: a)
    registry = Registry("x")
    registry.register("f", summary="s", left_out={"a": "a third"}, obj=lambda a=None, b=2: a)
    assert [(h.name, h.left_out) for h in registry.get("f").hyperparameters] == [("a", "a third"), ("b", "")]


def test_ranges_for_each_entry_of_a_sequence_need_its_length():
    with pytest.raises(TypeError, match="1 ranges given for 'betas' of 2 entries"):
        Registry("x").register(
            "f", summary="s", accepts={"betas": Each(UNIT)}, obj=lambda betas=(0.9, 0.99): 0
        )


def test_unknown_category():
    with pytest.raises(UnknownNameError, match="Did you mean 'optimizer'"):
        get_registry("optimiser")


@pytest.mark.parametrize("category", categories())
def test_every_category_is_populated_with_documented_entries(category):
    registry = get_registry(category)
    assert len(registry) > 0
    for entry in registry:
        assert entry.summary.strip(), f"{category} {entry.name} has no summary"
        assert entry.summary.rstrip().endswith((".", "?")), f"{category} {entry.name}: summary is a sentence"


@pytest.mark.parametrize("category", categories())
def test_every_hyperparameter_of_default_none_says_what_leaving_it_out_gives(category):
    """``optimlab list`` showed ``decay_fraction=None`` for wsd, which reads as no decay, where leaving it
    out decays 0.2 of the run (e125e407, schedules alone), and still muon's ``adamw_lr=None`` (Muon's lr),
    group's ``num_groups=None`` (32, lowered to divide the width), a files workload's ``epochs=None``:
    None stands for a value worked out elsewhere. Every such hyperparameter of every registry carries the
    words of that value (a new entry's fail here until said)."""
    unworded = {
        entry.name: names
        for entry in get_registry(category)
        if (names := [h.name for h in entry.hyperparameters if h.default is None and not h.left_out])
    }
    assert unworded == {}


def test_capabilities_are_a_declared_vocabulary_checked_at_registration():
    registry = make_registry()
    with pytest.raises(
        UnknownNameError, match=r"capability of widget 'gear' 'elemntwise'\. Did you mean 'elementwise'"
    ):
        registry.register(
            "gear", summary="A gear.", capabilities=("elementwise", "elemntwise"), obj=lambda: 0
        )
    assert "gear" not in registry  # nothing half-registered
    registry.register("gear", summary="A gear.", capabilities=(Capability.ELEMENTWISE,), obj=lambda: 0)
    assert registry.get("gear").capabilities == {"elementwise"}


@pytest.mark.parametrize("category", categories())
def test_every_registered_capability_is_in_the_vocabulary(category):
    assert all(entry.capabilities <= CAPABILITIES for entry in get_registry(category))


def test_import_submodules_registers_every_module_of_a_package_without_a_list(tmp_path, monkeypatch):
    """What the optimizer, doctor-rule and experiment packages rely on: a new file registers by existing."""
    package = tmp_path / "widgets_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    body = "from optimlab.registry import new_registry\nnew_registry('widget_test').register({!r}, summary='.', obj=len)\n"
    for name in ("b_gear", "a_spring"):
        (package / f"{name}.py").write_text(body.format(name))
    (package / "_shared.py").write_text("raise AssertionError('modules named _* are not imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = import_submodules("widgets_pkg")
    assert list(modules) == ["a_spring", "b_gear"]  # name order, whatever the file system's
    assert get_registry("widget_test").names() == ["a_spring", "b_gear"]


def test_an_unknown_name_where_none_is_accepted_does_not_read_as_the_name_none():
    """A norm 'none' given eps said 'Accepted: none.', which reads as the norm named none."""
    from optimlab.techniques import norms

    with pytest.raises(UnknownNameError) as refused:
        norms.create("none", 4, eps=1e-3)
    assert str(refused.value) == "unknown norm 'none' hyperparameter 'eps'. It takes no hyperparameters."
    assert str(UnknownNameError("tracker", "wandb", ["mlflow"])).endswith("Accepted: mlflow.")


def test_a_refusal_names_the_alias_the_user_typed_beside_the_canonical_name():
    """``init: {name: he, gain: -1}`` was refused as "init 'kaiming_normal'", a name not typed anywhere."""
    from optimlab.techniques import init, norms

    with pytest.raises(InvalidValueError, match=r"for init 'he' \(kaiming_normal\) hyperparameter 'gain'"):
        init.create("he", gain=-1)
    with pytest.raises(UnknownNameError, match=r"^unknown norm 'bn' \(batch\) hyperparameter 'epsilon'"):
        norms.create("bn", 4, epsilon=1e-3)
    with pytest.raises(InvalidValueError, match=r"for init 'kaiming_normal' hyperparameter 'gain'"):
        init.create("Kaiming-Normal", gain=-1)  # the canonical name, however spelled: no alias to name
    assert get_registry("init").get("he") == get_registry("init").get("kaiming_normal")


def test_the_users_factory_taking_kwargs_gets_the_options_it_is_given(tmp_path, monkeypatch):
    """build(input_shape, num_outputs, **kw) given model.options width was refused: 'unknown model ...
    hyperparameter 'width'. It takes no hyperparameters.' Python passes any keyword to **kw, so the factory
    gets it, as a call build(shape, 3, width=5) would; a named keyword's range is still checked, and
    optimlab's own entries still refuse what they do not name."""
    from optimlab.build import build
    from optimlab.recipe import Recipe, RecipeError

    (tmp_path / "uc_kwargs.py").write_text(
        "from torch import nn\n\n"
        "def build(input_shape, num_outputs, **kw):\n"
        "    width = kw.pop('width', 8)\n"
        "    assert not kw, kw\n"
        "    return nn.Sequential(nn.Linear(input_shape[0], width), nn.Linear(width, num_outputs))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = {"data": {"name": "iris"}, "model": {"name": "uc_kwargs:build", "options": {"width": 5}}}
    model = build(Recipe.from_dict(recipe)).model.net  # iris: 4 features, 3 classes
    assert [tuple(layer.weight.shape) for layer in model] == [(5, 4), (3, 5)]
    with pytest.raises(RecipeError, match="unknown model 'mlp' hyperparameter 'widht'. Did you mean 'width'"):
        Recipe.from_dict({"model": {"name": "mlp", "options": {"widht": 5}}})


@pytest.mark.parametrize(
    "step_size, accepted",
    [
        (2**70, f"an integer in [1, {2**63 - 1}] (int64's bound)"),
        (1e20, f"an integer in [1, {2**63 - 1}] (int64's bound)"),  # whole, built as the int 10**20
        (10**400, f"an integer in [1, {2**63 - 1}] (int64's bound)"),  # float() of it raises OverflowError
        (-(10**20), "an integer in [1, inf)"),  # past 64 bits below, where step_size's own bound is
    ],
    ids=["2**70", "1e20", "10**400", "-10**20"],
)
def test_an_integer_hyperparameter_past_64_bits_is_refused_naming_its_range(step_size, accepted):
    """An integer hyperparameter unbounded above (the step schedule's ``step_size``) holds only what
    torch's int64 holds, no more than 2**63 - 1 (truth: torch's own overflow), and says so."""
    import optimlab.schedules

    with pytest.raises((OverflowError, ValueError), match="[Oo]verflow"):
        torch.tensor(2**63, dtype=torch.int64)
    with pytest.raises(InvalidValueError) as refused:
        optimlab.schedules.create("step", total_steps=10, step_size=step_size)
    expected = (
        f"invalid value {step_size!r} for schedule 'step' hyperparameter 'step_size': accepted {accepted}."
    )
    assert str(refused.value) == expected
    assert optimlab.schedules.create("step", total_steps=10, step_size=2**63 - 1)(5) == 1.0


def test_muons_newton_schulz_steps_are_bounded_as_torchs():
    """``optimlab.optim.create("muon", [p], ns_steps=10**18)`` was built (int64 holds it) and its first
    step never returned. Truth: torch.optim.Muon, which refuses 100 Newton-Schulz steps or more."""
    import optimlab.optim

    weight = torch.nn.Parameter(torch.eye(2))
    weight.grad = torch.ones(2, 2)
    torch.optim.Muon([weight], ns_steps=99).step()
    with pytest.raises(ValueError, match="less than 100"):
        torch.optim.Muon([weight], ns_steps=100).step()
    for too_many in (100, 10**18):
        with pytest.raises(InvalidValueError, match=r"'ns_steps': accepted an integer in \[0, 99\]\."):
            optimlab.optim.create("muon", [weight], ns_steps=too_many)
    assert optimlab.optim.create("muon", [weight], ns_steps=99).param_groups[0]["ns_steps"] == 99


def _refusal(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidValueError) as refused:
        call()
    return str(refused.value)


def test_every_refusal_of_a_count_past_64_bits_names_int64s_bound():
    """A count past 64 bits was refused naming "an integer in [0, inf)", a range that holds it
    (``create("cosine", total_steps=100, warmup_steps=2**70)``, ``milestones: [10, 2**70]``). Each site
    names int64's bound instead, which torch's own int64 refuses past (truth: its overflow)."""
    import optimlab.schedules
    from optimlab.doctor.instruments import InstrumentSchedule
    from optimlab.integrations.tracking import Tracker
    from optimlab.schedules.plot import plot

    with pytest.raises((OverflowError, ValueError), match="[Oo]verflow"):
        torch.tensor([10, 2**70], dtype=torch.int64)
    huge, int64_high = 2**70, f"{2**63 - 1}] (int64's bound)"
    calls = [
        lambda: optimlab.schedules.create("cosine", total_steps=100, warmup_steps=huge),
        lambda: optimlab.schedules.create("cosine", total_steps=huge),
        lambda: optimlab.schedules.linear_warmup(lambda step: 1.0, huge),
        lambda: optimlab.schedules.create("multistep", total_steps=100, milestones=[10, huge]),
        lambda: InstrumentSchedule(every=huge),
        lambda: Tracker(every=huge),
        lambda: plot(lambda step: 1.0, huge, "unused.png"),
    ]
    wrong = [message for message in map(_refusal, calls) if int64_high not in message or "inf)" in message]
    assert not wrong


@pytest.mark.parametrize(
    ("category", "name", "given"),
    [("schedule", "step", {"step_size": [3]}), ("norm", "group", {"num_groups": [2]})],
)
def test_a_list_for_a_single_number_hyperparameter_whose_default_is_none_is_refused(category, name, given):
    """`schedule: {name: step, step_size: [3]}` loaded (a range checked each item of a list where the
    default, None, was no number), then training raised TypeError (int // list). A list is refused where
    the hyperparameter holds one number; multistep's milestones, a list of any length, still take one, and
    a number there is refused. Truth: torch's StepLR takes an int step_size, MultiStepLR a list."""
    entry = get_registry(category).get(name)
    with pytest.raises(
        InvalidValueError, match=r"^invalid value \[.\] for .* accepted an integer in \[1, inf\)"
    ):
        entry.checked(given)
    milestones = get_registry("schedule").get("multistep")
    assert milestones.checked({"milestones": [2, 5]}) == {"milestones": [2, 5]}
    with pytest.raises(InvalidValueError, match=r"accepted a list, each an integer in \[0, inf\)"):
        milestones.checked({"milestones": 3})


def test_a_recipes_list_for_a_single_number_hyperparameter_is_refused_at_load():
    """The recipe refuses it at load, not at the run, naming the list as one (4e2ba27a's wording)."""
    from optimlab.recipe import Recipe

    refused = r"invalid value \[3\] for schedule 'step' hyperparameter 'step_size': accepted an integer in \[1, inf\) \(a list is refused\)"
    with pytest.raises(ValueError, match=refused):
        Recipe.model_validate({"schedule": {"name": "step", "step_size": [3]}})


def test_a_batch_is_bounded_by_one_range_in_the_library_and_the_recipe_alike():
    """The recipe and --batch-size refused 1e18 rows while the library took them (optimlab.fit(...,
    batch_size=10**18) trained: data.batches and UserBatches checked only >= 1). Truth: the edge of
    BATCH_ROWS, int32's largest: 2^31 - 1 rows taken (one batch of the whole split), 2^31 refused in one
    line naming the field and the range."""
    import torch
    from torch import nn

    from optimlab.data.batches import TensorPair, batches
    from optimlab.data.user_batches import UserBatches
    from optimlab.errors import OptimlabError
    from optimlab.recipe import Recipe
    from optimlab.registry import BATCH_ROWS

    pair = TensorPair(torch.arange(5.0).unsqueeze(1), torch.arange(5))
    assert [y.tolist() for _, y in batches(pair, 2**31 - 1, shuffle=False)] == [[0, 1, 2, 3, 4]]
    UserBatches((pair.x, pair.y), nn.MSELoss(), batch_size=2**31 - 1)
    assert Recipe.from_dict({"training": {"batch_size": 2**31 - 1}}).training.batch_size == 2**31 - 1
    refusal = f"invalid value 2147483648 for batch_size: accepted {BATCH_ROWS}."
    assert str(BATCH_ROWS) == "an integer in [1, 2147483647]"
    with pytest.raises(InvalidValueError) as refused:
        list(batches(pair, 2**31, shuffle=False))
    assert str(refused.value) == refusal
    with pytest.raises(InvalidValueError) as refused:
        UserBatches((pair.x, pair.y), nn.MSELoss(), batch_size=2**31)
    assert str(refused.value) == refusal
    with pytest.raises(
        OptimlabError,
        match=r"training.batch_size: 2147483648 is refused: accepted an integer in \[1, 2147483647\]",
    ):
        Recipe.from_dict({"training": {"batch_size": 2**31}})
