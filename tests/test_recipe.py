"""The recipe: validation with field-naming errors, lossless YAML, stable ids."""

import re
import typing
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from optimlab.build import build_data, build_model
from optimlab.errors import InvalidValueError
from optimlab.recipe import Recipe, RecipeError, ScheduleSpec, YamlValueError, field_set_twice, load_yaml
from optimlab.techniques.init import apply

FULL = {
    "data": {"name": "digits", "scaling": "standardize", "val_fraction": 0.1, "data_fraction": 0.5},
    "model": {
        "name": "mlp",
        "width": 64,
        "depth": 3,
        "activation": "tanh",
        "norm": "layer",
        "init": "xavier_normal",
        "dropout": 0.1,
    },
    "optimizer": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.05, "options": {"betas": [0.9, 0.95]}},
    "schedule": {"name": "cosine", "warmup_steps": 10},
    "training": {"epochs": 3, "batch_size": 16, "grad_clip_norm": 1.0, "seed": 7},
}


def test_yaml_round_trip_is_lossless_and_id_stable():
    recipe = Recipe.from_dict(FULL)
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe and again.id == recipe.id
    assert again.optimizer.options["betas"] == [0.9, 0.95]


@pytest.mark.parametrize("column", ["1e5", "2E-3", "+1_000e3"])
def test_a_string_that_yaml_12_reads_as_a_float_round_trips_as_a_string(tmp_path, column):
    """A CSV's target column named '1e5' was saved bare (1e5, a string to PyYAML's YAML 1.1) and read
    back by the recipe loader's YAML 1.2 floats as 100000.0: another recipe, another id on resume."""
    recipe = Recipe.from_dict({"data": {"name": "runs.csv", "options": {"target": column, "noise": 1e-8}}})
    again = Recipe.load(recipe.save(tmp_path / "recipe.yaml"))
    assert again.data.options == {"target": column, "noise": 1e-8}
    assert again == recipe and again.id == recipe.id


def test_file_round_trip(tmp_path):
    recipe = Recipe.from_dict(FULL)
    assert Recipe.load(recipe.save(tmp_path / "r.yaml")) == recipe


def test_id_changes_with_any_field_and_ignores_spelling_of_names():
    recipe = Recipe.from_dict(FULL)
    assert recipe.with_updates({"optimizer.lr": 1e-3}).id != recipe.id
    assert recipe.with_updates({"training.seed": 8}).id != recipe.id
    # Names are canonicalised: aliases and case give the same recipe.
    assert recipe.with_updates({"model.init": "Glorot-Normal"}).id == recipe.id


@pytest.mark.parametrize(
    "signed, unsigned",
    [
        ({"optimizer": {"weight_decay": -0.0}}, {"optimizer": {"weight_decay": 0.0}}),
        ({"optimizer": {"name": "sgd", "momentum": -0.0}}, {"optimizer": {"name": "sgd", "momentum": 0.0}}),
        ({"optimizer": {"betas": [-0.0, 0.99]}}, {"optimizer": {"betas": [0.0, 0.99]}}),
        # an int where a real number is taken: JSON writes 0 and 0.0 apart
        ({"optimizer": {"betas": [0, 0.99]}}, {"optimizer": {"betas": [0.0, 0.99]}}),
        ({"optimizer": {"name": "sgd", "momentum": 0}}, {"optimizer": {"name": "sgd", "momentum": 0.0}}),
        (
            {"data": {"name": "teacher_student", "options": {"noise": 1}}},
            {"data": {"name": "teacher_student", "options": {"noise": 1.0}}},
        ),
        (
            {"model": {"activation": {"name": "leaky_relu", "negative_slope": 0}}},
            {"model": {"activation": {"name": "leaky_relu", "negative_slope": 0.0}}},
        ),
        (
            {"schedule": {"name": "multistep", "milestones": [10.0, 20]}},
            {"schedule": {"name": "multistep", "milestones": [10, 20]}},
        ),
    ],
)
def test_equal_recipes_have_one_id_a_negative_zero_too(signed, unsigned):
    """`--weight-decay -0` made a recipe equal to weight decay 0 (IEEE 754: -0.0 == 0.0) with another
    id, so a study or a run page counted the same recipe twice; so did ``betas: [0, 0.99]`` and ``[0.0,
    0.99]``, equal (Python: 0 == 0.0). The saved recipe is one too, showing 0.0, not -0.0."""
    assert Recipe.from_dict(signed) == Recipe.from_dict(unsigned)
    assert Recipe.from_dict(signed).id == Recipe.from_dict(unsigned).id
    assert Recipe.from_dict(signed).to_yaml() == Recipe.from_dict(unsigned).to_yaml()


def test_known_id_of_the_default_recipe_is_stable_across_processes():
    import subprocess
    import sys

    code = "from optimlab.recipe import Recipe; print(Recipe().id)"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == Recipe().id and len(other) == 12


# Ids computed on main before techniques took hyperparameters and training took a batch order: a study
# stores its trials under these ids, so an old recipe must keep its id for the study to resume.
IDS_BEFORE_TECHNIQUE_OPTIONS = [
    ({}, "a3dba953464b"),
    ({"data": {"name": "digits"}, "optimizer": {"name": "adam", "lr": 3e-3}}, "d131331a1a7b"),
    (FULL, "1b2d2e8583b0"),
    (
        {
            "model": {"name": "mlp", "width": 64, "depth": 30, "init": "kaiming_normal", "activation": "tanh"}
            | {"norm": "batch"},
            "training": {"steps": 100, "batch_size": 64},
        },
        "5e76e4877b21",
    ),
    (
        {
            "model": {"name": "cnn", "init": "xavier_uniform", "activation": "leaky_relu"},
            "data": {"name": "mnist1d"},
            "optimizer": {"name": "sgd", "lr": 0.1, "options": {"momentum": 0.9}},
        },
        "b16c25052f32",
    ),
    (
        {
            "model": {"name": "cnn", "activation": "leaky_relu", "norm": "batch", "init": "lsuv"},
            "training": {"batch_size": 100, "steps": 6000},
        },
        "d54d253865fe",
    ),
]


@pytest.mark.parametrize(("data", "old_id"), IDS_BEFORE_TECHNIQUE_OPTIONS)
def test_recipes_that_set_no_new_field_keep_the_ids_they_had(data, old_id):
    recipe = Recipe.from_dict(data)
    assert recipe.id == old_id
    # Hyperparameters spelled out at their defaults are the same recipe.
    spelled = recipe.with_updates(
        {
            "model.activation": {"name": recipe.model.activation},
            "training.drop_last": False,
            "training.shuffle": True,
            "schedule.cycle_momentum": False,
            "schedule.base_momentum": 0.85,
        }
    )
    assert spelled.id == old_id and spelled.to_dict() == recipe.to_dict()


def test_a_split_seed_left_unset_keeps_every_stored_recipes_id():
    """data.split_seed came after studies and runs were stored under their recipes' ids: unset (None) it
    is left out of the serialised form, so those ids hold; set, even to the training seed, it is a field
    of the recipe. Truth: ids computed before the field existed (4d6e31e7)."""
    assert Recipe().id == "a3dba953464b"
    old = {"data": {"name": "iris", "data_fraction": 0.5}, "training": {"seed": 3}}
    assert Recipe.from_dict(old).id == "26646dcd4fd4"
    assert Recipe.from_dict({**old, "data": {**old["data"], "split_seed": None}}).id == "26646dcd4fd4"
    fixed = Recipe.from_dict({**old, "data": {**old["data"], "split_seed": 3}})
    assert fixed.to_dict()["data"]["split_seed"] == 3 and fixed.id != "26646dcd4fd4"
    assert Recipe.from_yaml(fixed.to_yaml()) == fixed


@pytest.mark.parametrize("value", [-1, 1.5, "x", 2**32])
def test_a_split_seed_out_of_range_is_refused_naming_the_field(value):
    with pytest.raises(
        RecipeError, match=r"data\.split_seed: .* accepted an integer in \[0, 4294967295\], or null"
    ):
        Recipe.from_dict({"data": {"split_seed": value}})


def test_an_interruption_while_a_recipe_is_serialised_stays_an_interruption(monkeypatch):
    """pydantic-core turns what a serializer function raises into PydanticSerializationError: a Ctrl-C
    landing there ended 'gallery run all' with exit 1 and a traceback instead of 130 and its pages kept."""
    from optimlab.recipe import TrainingSpec

    class Interrupting:
        def __iter__(self):
            raise KeyboardInterrupt  # as Python's SIGINT handler raises it, wherever the program stands

    monkeypatch.setattr(TrainingSpec, "OMITTED_AT_DEFAULT", Interrupting())
    with pytest.raises(KeyboardInterrupt):
        Recipe().to_dict()


def test_techniques_carry_their_hyperparameters_through_yaml():
    recipe = Recipe.from_dict(
        {
            "model": {
                "init": {"name": "Glorot-Normal", "gain": 1.5},
                "norm": {"name": "bn", "momentum": 0.01, "eps": 1e-5},
                "activation": {"name": "leaky_relu", "negative_slope": 0.1},
            }
        }
    )
    assert recipe.model.init == {"name": "xavier_normal", "gain": 1.5}
    assert recipe.model.norm == {"name": "batch", "momentum": 0.01}  # eps is at its default
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe and again.id == recipe.id
    assert recipe.with_updates({"model.init": {"name": "xavier_normal", "gain": 2.0}}).id != recipe.id
    assert Recipe.from_dict({"model": {"init": {"name": "xavier_normal", "gain": "auto"}}}).model.init == {
        "name": "xavier_normal",
        "gain": "auto",
    }


def test_data_scaling_carries_its_hyperparameters_through_yaml():
    """data.scaling took a name only: minmax's feature_range could not be set in a recipe
    ({name: minmax, feature_range: [-1, 1]} was 'Input should be a valid string')."""
    recipe = Recipe.from_yaml("data: {scaling: {name: MinMax, feature_range: [-1, 1]}}")
    assert recipe.data.scaling == {"name": "minmax", "feature_range": [-1, 1]}
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe and again.id == recipe.id
    # At its default, the plain name: the id every stored recipe with scaling: minmax has.
    at_default = Recipe.from_yaml("data: {scaling: {name: minmax, feature_range: [0, 1]}}")
    assert at_default.data.scaling == "minmax"
    assert at_default.id == Recipe.from_dict({"data": {"scaling": "minmax"}}).id


@pytest.mark.parametrize(
    ("scaling", "expected"),
    [
        (
            {"name": "minmax", "feature_range": [1, -1]},
            r"data.scaling.*\[1, -1\].*'feature_range'.*low < high",
        ),
        ({"name": "minmaxx"}, r"data.scaling.*'minmaxx'.*Did you mean 'minmax'"),
        ({"name": "standardize", "with_mean": False}, r"data.scaling.*'with_mean'"),
        (3, r"data.scaling.*neither a name nor a mapping.*feature_range"),
    ],
)
def test_bad_scaling_hyperparameters_are_one_line_when_the_recipe_is_made(scaling, expected):
    with pytest.raises(RecipeError, match=expected):
        Recipe.from_dict({"data": {"scaling": scaling}})


@pytest.mark.parametrize(
    ("updates", "field", "expected"),
    [
        ({"model.norm.momentum": 0.01}, "norm", {"name": "batch", "momentum": 0.01}),
        ({"model.init.gain": 2.0, "model.init": "he"}, "init", {"name": "kaiming_normal", "gain": 2.0}),
        (
            {"model.activation.negative_slope": 0.2},
            "activation",
            {"name": "leaky_relu", "negative_slope": 0.2},
        ),
        ({"model.norm.momentum": 0.1}, "norm", "batch"),  # its default: the plain name, the id it had
    ],
)
def test_a_dotted_update_sets_a_techniques_hyperparameter(updates, field, expected):
    """with_updates({"model.norm.momentum": 0.01}), what a search space's dimension applies, said "unknown
    recipe section 'model.norm.momentum'" of a norm stored by name: a technique's hyperparameter could not
    be tuned."""
    recipe = Recipe.from_dict({"model": {"norm": "batch", "activation": "leaky_relu", "init": "xavier"}})
    assert getattr(recipe.with_updates(updates).model, field) == expected
    scaled = Recipe.from_dict({"data": {"scaling": "minmax"}}).with_updates(
        {"data.scaling.feature_range": [-1, 1]}
    )
    assert scaled.data.scaling == {"name": "minmax", "feature_range": [-1, 1]}
    with pytest.raises(RecipeError, match=r"model.norm.*'momentun'.*Did you mean 'momentum'"):
        recipe.with_updates({"model.norm.momentun": 0.1})


def test_a_technique_set_by_the_name_it_holds_keeps_its_hyperparameters():
    """``optimlab train recipe.yaml --act leaky_relu`` over ``{name: leaky_relu, negative_slope: 0.2}``
    built nn.LeakyReLU(0.01): the slope the recipe set was dropped without a word, as --init he dropped
    kaiming_normal's mode and --norm bn batch's momentum, while --optimizer sgd keeps sgd's momentum.
    Another technique by name starts from its own defaults."""
    import optimlab.models

    recipe = Recipe.from_dict(
        {
            "model": {
                "activation": {"name": "leaky_relu", "negative_slope": 0.2},
                "norm": {"name": "batch", "momentum": 0.01},
                "init": {"name": "kaiming_normal", "mode": "fan_out"},
            }
        }
    )
    restated = recipe.with_updates({"model.activation": "Leaky-ReLU", "model.norm": "bn", "model.init": "he"})
    assert restated == recipe and restated.id == recipe.id
    net = optimlab.models.create("mlp", (64,), 10, **restated.model.keywords())
    assert net[3].negative_slope == 0.2 and net[2].inner.momentum == 0.01
    other = recipe.with_updates({"model.activation": "elu", "model.init": "kaiming_uniform"}).model
    assert (other.activation, other.init) == ("elu", "kaiming_uniform")


def test_numpy_scalars_are_the_numbers_they_hold():
    """A sweep over np.arange(...) or float32 arrays gives technique hyperparameters and options as NumPy
    scalars: the recipe validated, then its id and YAML raised PydanticSerializationError ('Unable to
    serialize unknown type: numpy.int64'), a traceback."""
    import numpy as np

    import optimlab.models

    from_numpy = Recipe.from_dict(
        {
            "model": {"norm": {"name": "group", "num_groups": np.int64(2)}, "width": np.int64(8)},
            "optimizer": {"name": "adam", "betas": (np.float32(0.5), 0.99), "amsgrad": np.bool_(True)},
        }
    )
    plain = Recipe.from_dict(
        {
            "model": {"norm": {"name": "group", "num_groups": 2}, "width": 8},
            "optimizer": {"name": "adam", "betas": (0.5, 0.99), "amsgrad": True},
        }
    )
    assert from_numpy == plain and from_numpy.id == plain.id
    assert Recipe.from_yaml(from_numpy.to_yaml()) == plain
    net = optimlab.models.create("mlp", (4,), 2, **from_numpy.model.keywords())
    assert type(net[2].inner.num_groups) is int and net[2].inner.num_groups == 2


def test_a_recipe_with_tuples_from_python_equals_itself_read_back_from_yaml():
    """betas=(0.8, 0.99) from Python came back from YAML as a list: the same id, yet recipe != again."""
    recipe = Recipe.from_dict({"optimizer": {"name": "adam", "betas": (0.8, 0.99)}})
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe and again.optimizer.options == {"betas": [0.8, 0.99]}


@pytest.mark.parametrize(
    ("technique", "expected"),
    [
        ({"init": {"name": "xavier_normal", "gian": 1.0}}, r"model.init.*'gian'.*Did you mean 'gain'"),
        (
            {"norm": {"name": "batch", "momentun": 0.1}},
            r"model.norm.*'momentun'.*Accepted: affine, eps, momentum",
        ),
        ({"activation": {"negative_slope": 0.1}}, r"model.activation.*a mapping of its name"),
        ({"norm": {"name": "batch", "momentum": 2.0}}, r"model.norm.*'momentum'.*\[0, 1\]"),
        ({"init": {"name": "lecun_normal", "gain": 2.0}}, r"model.init.*'gain'"),
        ({"init": {"name": "xavier_normal", "gain": [1.0, 2.0]}}, r"model.init.*\[1.0, 2.0\].*'gain'"),
        ({"norm": {"name": "batch", "eps": float("inf")}}, r"model.norm.*inf.*'eps'"),
    ],
)
def test_bad_technique_hyperparameters_are_named(technique, expected):
    with pytest.raises(RecipeError, match=expected):
        Recipe.from_dict({"model": technique})


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        (
            {"name": "kaiming_normal", "gain": 2.0, "a": 0.1},
            r"model.init.*'gain'.*nonlinearity / a, not both",
        ),
        ({"name": "he", "gain": "auto", "nonlinearity": "tanh"}, r"model.init.*'gain'.*not both"),
        ({"name": "uniform", "a": 0.5, "b": -0.5}, r"model.init.*\(0.5, -0.5\).*a < b"),
        ({"name": "truncated_normal", "a": 0.1}, r"model.init.*\(0.1, 0.04\).*a < b"),  # b: mean + 2 std
    ],
)
def test_init_hyperparameters_wrong_together_are_refused_when_the_recipe_is_made(init, expected):
    """Each value in its range, the pair refused by init.apply (torch's calculate_gain sets kaiming's gain
    from a; U(a, b) needs a < b): the recipe validated, and its run failed when the model was built, in a
    study at every trial."""
    with pytest.raises(RecipeError, match=expected):
        Recipe.from_dict({"model": {"init": init}})
    name, options = init["name"], {k: v for k, v in init.items() if k != "name"}
    with pytest.raises(InvalidValueError):  # the truth: what the build refuses
        apply(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), name, **options)


@pytest.mark.parametrize(
    "section, field, value, expected",
    [
        ("model", "activation", "rleu", r"model.activation.*unknown activation 'rleu'.*Did you mean 'relu'"),
        ("model", "init", "kaiming_norml", r"model.init.*Did you mean 'kaiming_normal'"),
        ("model", "norm", "btach", r"model.norm.*Did you mean 'batch'"),
        ("optimizer", "name", "adamm", r"optimizer.name.*Did you mean 'adam'"),
        ("optimizer", "lr", -1.0, r"optimizer.lr: -1.0 is refused: accepted a number in \(0, inf\)"),
        (
            "model",
            "dropout",
            1,
            r"model.dropout: 1 is refused: accepted a number in \[0, 1\), or own_default",
        ),
        ("data", "name", "digts", r"data.name.*Did you mean 'digits'"),
        ("data", "data_fraction", 0.0, r"data.data_fraction"),
        ("schedule", "name", "cosin", r"schedule.name.*Did you mean 'cosine'"),
        (
            "training",
            "batch_size",
            0,
            r"training.batch_size: 0 is refused: accepted an integer in \[1, 2147483647\]",
        ),
        ("training", "device", "tpu", r"training.device.*'tpu'.*accepted"),
        ("training", "device", "cuda:x", r"training.device.*'cuda:x'.*accepted"),  # torch's RuntimeError
        ("training", "epocs", 3, r"training.*unknown field 'epocs'.*Did you mean 'epochs'"),
    ],
)
def test_bad_fields_are_named_with_value_and_accepted(section, field, value, expected):
    data = {section: {field: value}}
    with pytest.raises(RecipeError, match=expected):
        Recipe.from_dict(data)


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("optimizer", "lr"),
        ("optimizer", "weight_decay"),
        ("training", "grad_clip_norm"),
        ("data", "val_fraction"),
    ],
)
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_numbers_are_refused(section, field, value):
    """lr: .inf was accepted and stored as null: the recipe had the id of the default lr, and a flag
    override (with_updates, as `train recipe.yaml --steps 2` does) trained at the default lr instead."""
    with pytest.raises(RecipeError, match=f"{section}.{field}"):
        Recipe.from_dict({section: {field: value}})


@pytest.mark.parametrize("field", ["init", "activation", "norm"])
def test_a_techniques_name_key_typed_wrong_is_named_with_a_did_you_mean(field):
    """``model: {init: {nmae: he}}`` was refused saying only what a mapping holds, naming no key; a key
    nowhere near ``name`` gets no guess."""
    with pytest.raises(RecipeError) as refused:
        Recipe.from_dict({"model": {field: {"nmae": "he", "gain": 2}}})
    assert str(refused.value).endswith("; the key 'nmae' names nothing (did you mean 'name'?).")
    with pytest.raises(RecipeError) as refused:
        Recipe.from_dict({"model": {field: {"gain": 2}}})
    assert "did you mean" not in str(refused.value) and "({name: ..., " in str(refused.value)


def test_a_run_of_no_length_is_refused():
    """epochs and steps both null (a recipe's, or --set training.epochs=null over no steps) passed, and
    the run ended in a TypeError traceback counting its steps. One of them set is a run."""
    with pytest.raises(RecipeError, match="epochs: null and steps: null give the run no length"):
        Recipe.from_dict({"training": {"epochs": None}})
    assert Recipe.from_dict({"training": {"epochs": None, "steps": 3}}).training.steps == 3


def test_hyperparameters_of_the_named_technique_are_checked():
    with pytest.raises(RecipeError, match=r"optimizer.*'betaz'.*Did you mean 'betas'"):
        Recipe.from_dict({"optimizer": {"name": "adam", "options": {"betaz": [0.9, 0.99]}}})
    with pytest.raises(RecipeError, match=r"model.*'widht'.*Did you mean 'width'"):
        Recipe.from_dict({"model": {"options": {"widht": 3}}})


def test_exponents_without_a_dot_are_numbers_in_yaml():
    """YAML 1.2 reads 1e-5 as a number; PyYAML (YAML 1.1) read the string '1e-5', so norm eps: 1e-5 and
    optimizer options eps: 1e-8 were refused as not numbers while lr: 1e-3 passed (pydantic parsed it)."""
    recipe = Recipe.from_yaml(
        "model: {norm: {name: batch, eps: 1e-3}, init: {name: kaiming_normal, gain: 2E0}}\n"
        "optimizer: {name: adam, lr: 3e-4, options: {eps: 1e-8}}\n"
        "schedule: {name: cosine, options: {final: 1e-2}}"
    )
    assert recipe.model.norm == {"name": "batch", "eps": 1e-3}
    assert recipe.model.init == {"name": "kaiming_normal", "gain": 2.0}
    assert recipe.optimizer.options == {"eps": 1e-8} and recipe.optimizer.lr == 3e-4
    assert recipe.schedule.options == {"final": 0.01}
    assert Recipe.from_yaml(recipe.to_yaml()) == recipe
    with pytest.raises(RecipeError, match=r"model.norm.*'1e-3'.*'eps'"):  # quoted: a string, refused
        Recipe.from_yaml('model: {norm: {name: batch, eps: "1e-3"}}')


def test_data_options_are_checked_when_the_recipe_is_made():
    """They were checked only when the data loaded: Recipe.from_dict took them, and the train verb's
    line named no field and no accepted option ('... 'noise'. Accepted: .')."""
    with pytest.raises(
        RecipeError,
        match=r"data: unknown dataset 'digits' hyperparameter 'noise'. It takes no hyperparameters",
    ):
        Recipe.from_dict({"data": {"name": "digits", "options": {"noise": 0.1}}})
    with pytest.raises(RecipeError, match=r"data: invalid value 'paper'.*'split'.*'original'"):
        Recipe.from_dict({"data": {"name": "mnist1d", "options": {"split": "paper"}}})
    with pytest.raises(RecipeError, match=r"data: invalid value '5' .*'n'"):  # quoted: named as typed
        Recipe.from_yaml("data: {name: mnist1d, options: {n: '5'}}")
    # A file's options are its reader's keywords, checked when it is read.
    assert Recipe.from_dict({"data": {"name": "rows.csv", "options": {"target": "y"}}}).data.options


@pytest.mark.parametrize(
    "model",
    [
        {"name": "mnist1d_baseline_logistic", "activation": "tanh"},
        {"name": "mnist1d_baseline_logistic", "norm": {"name": "batch", "momentum": 0.01}},
        {"name": "mnist1d_baseline_logistic", "dropout": 0.5},
        {"name": "parameter_vector", "init": "xavier_normal"},
    ],
)
def test_a_technique_the_architecture_does_not_take_is_refused(model):
    """It was dropped without a word: the logistic baseline with activation tanh built one Linear layer,
    parameter_vector with init xavier_normal started at ones."""
    field = next(k for k in model if k != "name")
    with pytest.raises(
        RecipeError, match=rf"model: invalid value .* for {field}: .*{model['name']} takes no"
    ):
        Recipe.from_dict({"model": model})


def test_techniques_at_their_defaults_go_with_every_architecture():
    recipe = Recipe.from_dict({"model": {"name": "parameter_vector"}})
    assert Recipe.from_dict(recipe.to_dict()) == recipe  # stored recipes spell the defaults out
    assert Recipe().with_updates({"model.name": "mnist1d_baseline_logistic"}).model.activation == "relu"


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("optimizer", "lr", 0.1),
        ("optimizer", "weight_decay", 0.01),
        ("model", "width", 32),
        ("model", "activation", "tanh"),
    ],
)
def test_options_may_not_contradict_a_field_that_is_set(section, key, value):
    """options won silently: optimizer lr 0.1 with options lr 0.5 trained at 0.5 (the recipe, hence a
    leaderboard, read 0.1); model width 32 with options width 64 built 64 units."""
    other = {"lr": 0.5, "weight_decay": 0.1, "width": 64, "activation": "gelu"}[key]
    with pytest.raises(RecipeError, match=rf"{section}: '{key}' is set twice, as {key}: {value!r}"):
        Recipe.from_dict({section: {key: value, "options": {key: other}}})
    # Left to options alone, the keyword is the field's: the recipe shows what is built.
    moved = Recipe.from_dict({section: {"options": {key: other}}})
    assert getattr(moved, section).model_dump()[key] == other
    assert getattr(moved, section).options == {}
    assert moved == Recipe.from_dict({section: {key: other}})


def test_an_activation_in_options_is_what_is_built_and_shown():
    """model options {activation: tanh} built tanh while the recipe (its id, a leaderboard) read relu;
    on a Transformer, options {activation: relu} was refused as set twice against the GELU it defaults to."""
    mlp = Recipe.from_dict({"model": {"options": {"activation": "tanh"}}})
    assert mlp.model.activation == "tanh"
    assert any(isinstance(m, torch.nn.Tanh) for m in build_model(mlp, build_data(mlp)).modules())
    transformer = Recipe.from_dict({"model": {"name": "transformer", "options": {"activation": "relu"}}})
    assert (transformer.model.activation, transformer.model.norm) == ("relu", "layer")
    # An update in options (--compare model.options.activation=...) is the field's, as validation has it:
    # it does not contradict the activation the recipe spells out.
    updated = Recipe().with_updates({"model.options.activation": "tanh", "optimizer.options.lr": 0.5})
    assert updated == Recipe.from_dict({"model": {"activation": "tanh"}, "optimizer": {"lr": 0.5}})


def test_a_keyword_beside_the_fields_is_the_named_entrys_option():
    """optimizer: {name: sgd, momentum: 0.9} was refused as an unknown field; it is what options hold,
    stored there (the same recipe and id as written in options), and checked as options are."""
    beside = Recipe.from_dict(
        {
            "data": {"name": "two_spirals", "noise": 0.3},
            "model": {"name": "transformer", "heads": 2},
            "optimizer": {"name": "sgd", "momentum": 0.9},
            "schedule": {"name": "cosine", "final": 0.1},
        }
    )
    in_options = Recipe.from_dict(
        {
            "data": {"name": "two_spirals", "options": {"noise": 0.3}},
            "model": {"name": "transformer", "options": {"heads": 2}},
            "optimizer": {"name": "sgd", "options": {"momentum": 0.9}},
            "schedule": {"name": "cosine", "options": {"final": 0.1}},
        }
    )
    assert beside == in_options and beside.id == in_options.id
    # A typo of a keyword is told by the entry; one of a field by the section; both at once are refused.
    with pytest.raises(
        RecipeError, match=r"optimizer 'sgd' hyperparameter 'momentun'. Did you mean 'momentum'"
    ):
        Recipe.from_dict({"optimizer": {"name": "sgd", "momentun": 0.9}})
    with pytest.raises(RecipeError, match=r"data: unknown field 'val_fractoin'. Did you mean 'val_fraction'"):
        Recipe.from_dict({"data": {"val_fractoin": 0.1}})
    with pytest.raises(RecipeError, match=r"'momentum' is set twice, as momentum: 0.9 and in options: 0.5"):
        Recipe.from_dict({"optimizer": {"name": "sgd", "momentum": 0.9, "options": {"momentum": 0.5}}})
    # An update goes where validation keeps it, so it replaces the stored value instead of contradicting it.
    assert beside.with_updates({"optimizer.momentum": 0.5}).optimizer.options == {"momentum": 0.5}
    assert beside.with_updates({"optimizer.weight-decay": 0.1}).optimizer.weight_decay == 0.1


def test_an_error_in_a_recipe_file_names_the_file(tmp_path):
    """train --resume RUN read RUN/recipe.yaml, a file the user never named: 'recipe is not valid YAML'."""
    path = tmp_path / "run" / "recipe.yaml"
    path.parent.mkdir()
    for text, problem in (("training: [\n", "not valid YAML"), ("trainin: {}\n", "unknown field 'trainin'")):
        path.write_text(text)
        with pytest.raises(RecipeError, match=f"(?s)^recipe file {re.escape(repr(str(path)))}: .*{problem}"):
            Recipe.load(path)


def test_unknown_section_and_bad_yaml():
    with pytest.raises(RecipeError, match=r"unknown field 'optimiser'.*Did you mean 'optimizer'"):
        Recipe.from_dict({"optimiser": {"name": "adam"}})
    with pytest.raises(RecipeError, match="not valid YAML"):
        Recipe.from_yaml("data: [unclosed")
    with pytest.raises(RecipeError, match="does not exist"):
        Recipe.load("no/such/recipe.yaml")


def test_a_folder_or_a_file_that_is_no_text_is_named_for_what_it_is(tmp_path):
    """A folder was reported as a file that 'does not exist'; a binary file (a checkpoint given by
    mistake) raised UnicodeDecodeError, naming no file."""
    with pytest.raises(RecipeError, match=r"'.*' is a folder: give the recipe's YAML file"):
        Recipe.load(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04\xf1\x80\x00")
    with pytest.raises(RecipeError, match=r"model.pt' cannot be read: not UTF-8 text"):
        Recipe.load(tmp_path / "model.pt")


@pytest.mark.parametrize("text", ["0", "[]", "false", "''", "- training"])
def test_a_recipe_that_is_no_mapping_is_refused_even_when_yaml_reads_it_as_false(text):
    """0, [] and false were read as an empty recipe, so the default recipe trained without a word."""
    with pytest.raises(RecipeError, match=r"a recipe is a mapping of sections \(data, model"):
        Recipe.from_yaml(text)


def test_a_recipe_or_a_section_left_empty_holds_the_defaults():
    assert Recipe.from_yaml("") == Recipe.from_yaml("# nothing yet\n") == Recipe()
    assert Recipe.from_yaml("training:\n  # epochs: 3\noptimizer: {name: sgd}\n") == Recipe.from_dict(
        {"optimizer": {"name": "sgd"}}
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "optimizer: adam",
            "optimizer: Input should be a mapping of the section's fields, e.g. optimizer: {name: adam} "
            "(got 'adam')",
        ),
        ("training: 3", "training: Input should be a mapping of the section's fields (got 3)"),
        (
            "model: {init: [1]}",
            "model.init: [1] is neither a name nor a mapping of a name and hyperparameters, "
            "e.g. init: {name: xavier_normal, gain: 1.0}",
        ),
        (
            "model: {norm: {name: batch, null: 1}}",
            "model.norm: the key null is refused: accepted the name and hyperparameters as text, "
            "e.g. norm: {name: batch, momentum: 0.01}",
        ),
        (
            "data: {scaling: {name: minmax, true: 2}}",
            "data.scaling: the key true is refused: accepted the name and hyperparameters as text, "
            "e.g. scaling: {name: minmax, feature_range: [-1, 1]}",
        ),
        (
            "model: {init: null}",
            "model.init: null is neither a name nor a mapping of a name and hyperparameters, "
            "e.g. init: {name: xavier_normal, gain: 1.0}",
        ),
    ],
    ids=[
        "section as a name",
        "section as a number",
        "technique as a list",
        "technique key null",
        "technique key true",
        "technique null",
    ],
)
def test_a_value_of_the_wrong_kind_is_one_line_in_the_recipes_words(text, expected):
    """pydantic named our classes ("instance of OptimizerSpec") and gave a line to each kind a union
    takes ("model.init.str", "model.init.dict[str,any]")."""
    with pytest.raises(RecipeError) as raised:
        Recipe.from_yaml(text)
    assert str(raised.value).splitlines() == ["invalid recipe:", f"  {expected}"]


def test_batch_order_fields_are_stored_only_when_set_and_change_the_id():
    sequential = Recipe.from_dict({"training": {"shuffle": False, "drop_last": True}})
    assert Recipe.from_yaml(sequential.to_yaml()) == sequential
    assert sequential.to_dict()["training"]["shuffle"] is False
    assert sequential.to_dict()["training"]["drop_last"] is True
    assert "shuffle" not in Recipe().to_dict()["training"] and sequential.id != Recipe().id
    with pytest.raises(RecipeError, match="training.shuffle"):
        Recipe.from_dict({"training": {"shuffle": "sometimes"}})


def test_an_activation_or_norm_left_out_is_the_architectures_own_as_models_create_builds_it():
    from torch import nn

    from optimlab import models
    from optimlab.build import build_model
    from optimlab.data import load

    def kinds(net):
        return {type(m) for m in net.modules()}

    digits = load("digits")  # 8x8 images: a ResNet sees them as images, a Transformer as 64 pixels
    for name, own, shape in (
        ("resnet", {nn.BatchNorm2d}, (1, 8, 8)),
        ("transformer", {nn.GELU, nn.LayerNorm}, (64,)),
    ):
        recipe = Recipe.from_dict({"model": {"name": name, "width": 8, "depth": 1}})
        built = kinds(build_model(recipe, digits))
        assert own <= built and own <= kinds(models.create(name, shape, 10, width=8, depth=1))
        assert Recipe.from_dict(recipe.to_dict()).id == recipe.id  # stored spelt out: the same recipe
    plain = Recipe.from_dict({"model": {"name": "resnet", "norm": "none"}})
    assert nn.BatchNorm2d not in kinds(build_model(plain, digits))
    assert Recipe.from_dict({"model": {"name": "mlp"}}).id == Recipe().id


def test_changing_the_architecture_moves_techniques_left_at_the_old_ones_own():
    switched = Recipe().with_updates({"model.name": "transformer"})
    assert (switched.model.activation, switched.model.norm) == ("gelu", "layer")
    kept = Recipe.from_dict({"model": {"activation": "tanh"}}).with_updates({"model.name": "transformer"})
    assert (kept.model.activation, kept.model.norm) == ("tanh", "layer")
    asked = Recipe().with_updates({"model.name": "resnet", "model.norm": "layer"})
    assert asked.model.norm == "layer"


@pytest.mark.parametrize("old", ["mnist1d_baseline_logistic", "parameter_vector"])
def test_placeholders_of_a_model_taking_no_activation_or_norm_do_not_follow_to_the_next(old):
    """relu and none, placeholders for a model that takes neither, stayed over --model resnet: a ResNet
    without its batch norm, where the recipe naming resnet has it. The truth: the fresh recipe's model."""
    for new in ("resnet", "transformer"):
        switched = Recipe.from_dict({"model": {"name": old}}).with_updates({"model.name": new})
        assert switched.model == Recipe.from_dict({"model": {"name": new}}).model


def test_changing_the_architecture_drops_sizes_and_keywords_the_new_one_does_not_take(user_package):
    """--compare model.name=mlp,mynets:build on a workload whose MLP has width 128 refused the user's
    factory for 'width', which only the old architecture took; sizes it takes stay, as do those the
    update sets itself (and are refused there)."""
    base = Recipe.from_dict({"model": {"name": "transformer", "width": 64, "depth": 2, "heads": 4}})
    gru = base.with_updates({"model.name": "mnist1d_baseline_gru"}).model
    assert (gru.name, gru.width, gru.depth, gru.options) == ("mnist1d_baseline_gru", 64, None, {})
    mlp = base.with_updates({"model.name": "mlp"}).model
    assert (mlp.width, mlp.depth, mlp.options) == (64, 2, {})
    user = base.with_updates({"model.name": "optimlab_userpkg.nets:fixed"}).model
    assert (user.width, user.depth, user.keywords()) == (None, None, {})
    with pytest.raises(RecipeError, match="'width'"):
        base.with_updates({"model.name": "optimlab_userpkg.nets:fixed", "model.width": 8})


def test_changing_the_optimizer_or_schedule_drops_keywords_the_new_one_does_not_take():
    """`train recipe.yaml --optimizer adam` over the file's sgd with momentum 0.9, and `compare --optimizers
    sgd,adam` on it, were refused as adam's 'momentum'; keywords the new one takes stay, as do those the
    update sets itself (and are refused there)."""
    base = Recipe.from_dict(
        {
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
            "schedule": {"name": "wsd", "decay_fraction": 0.3, "final": 0.1},
        }
    )
    adam = base.with_updates({"optimizer.name": "adam"}).optimizer
    assert (adam.name, adam.lr, adam.options) == ("adam", 0.1, {})
    assert base.with_updates({"optimizer.name": "nag"}).optimizer.options == {
        "momentum": 0.9
    }  # fixed nesterov
    around_sgd = base.with_updates({"optimizer.name": "lookahead", "optimizer.base": "sgd"}).optimizer
    assert around_sgd.options == {"momentum": 0.9, "nesterov": True, "base": "sgd"}  # the base's keywords
    assert base.with_updates({"schedule.name": "cosine"}).schedule.options == {"final": 0.1}
    assert base.with_updates({"schedule.name": "constant"}).schedule.options == {}
    with pytest.raises(RecipeError, match="'momentum'"):
        base.with_updates({"optimizer.name": "adam", "optimizer.momentum": 0.5})
    with pytest.raises(RecipeError, match="unknown optimizer 'adamx'"):
        base.with_updates({"optimizer.name": "adamx"})


def test_an_update_of_an_unknown_section_names_the_close_one():
    """`--compare optimiser.lr=...` said only that 'optimiser.lr' is no section, listing the top sections
    however deep the mistake was."""
    with pytest.raises(RecipeError, match=r"'optimiser' in 'optimiser.lr'\. Did you mean 'optimizer'\?"):
        Recipe().with_updates({"optimiser.lr": 0.1})
    with pytest.raises(
        RecipeError, match=r"'optimizer.option' in .* Did you mean 'options'\? Sections there: options\."
    ):
        Recipe().with_updates({"optimizer.option.momentum": 0.9})


@pytest.mark.parametrize(
    "dotted, said",
    [
        # the model's techniques held by name are sections an update reaches (model.norm.momentum)
        (
            "model.nrom.momentum",
            "'model.nrom' in 'model.nrom.momentum'. Did you mean 'norm'? Sections there: ",
        ),
        ("data.options.x.y", "'data.options.x' in 'data.options.x.y'. 'data.options' holds none."),
        (
            "training.epochs.x",
            "'training.epochs' in 'training.epochs.x' holds a value, not fields: set it whole",
        ),
        # a field holding null is a value too: it was called an unknown section
        ("model.width.x", "'model.width' in 'model.width.x' holds a value, not fields: set it whole"),
        ("optimizer.lr.x", "'optimizer.lr' in 'optimizer.lr.x' holds a value, not fields: set it whole"),
        # a hyperparameter left at its default is a value too: it was an unknown section ('Sections
        # there: options.'), and under options 'optimizer.options' holding none
        (
            "optimizer.betas.x",
            "'optimizer.betas' in 'optimizer.betas.x' holds a value, not fields: set it whole",
        ),
        (
            "model.norm.momentum.x",
            "'model.norm.momentum' in 'model.norm.momentum.x' holds a value, not fields: set it whole",
        ),
        (
            "optimizer.options.betas.x",
            "'optimizer.options.betas' in 'optimizer.options.betas.x' holds a value, not fields: set it whole",
        ),
        # a technique without the hyperparameter: 'unknown recipe section', "'model.init' holds none"
        (
            "model.init.gain.x",
            "'model.init' in 'model.init.gain.x' holds the init default, which takes no 'gain': it takes "
            "no hyperparameters",
        ),
        (
            "model.norm.momentun.x",
            "'model.norm' in 'model.norm.momentun.x' holds the norm batch, which takes no 'momentun' (did you "
            "mean 'momentum'?): its hyperparameters: ",
        ),
    ],
)
def test_an_update_past_a_value_or_into_no_section_says_which(dotted, said):
    """`--set model.nrom.momentum=0.1` offered no 'norm' (held by name, it was no section), `--set
    data.options.x.y=1` said 'Sections there: .' and `--set training.epochs.x=1` called the number of
    epochs an unknown section. Truth: --set model.norm.momentum reaches the norm's hyperparameter."""
    reached = Recipe.from_dict({"model": {"norm": "batch"}}).with_updates({"model.norm.momentum": 0.2})
    assert reached.model.norm == {"name": "batch", "momentum": 0.2}
    with pytest.raises(RecipeError) as refused:
        Recipe.from_dict({"model": {"norm": "batch"}}).with_updates({dotted: 1})
    assert said in str(refused.value) and "Sections there: ." not in str(refused.value), refused.value


@pytest.mark.parametrize(
    "dotted, near",
    [("schedule.warmup_step", "'warmup_steps'"), ("data.nme", "'name'"), ("model.activaton", "'activation'")],
)
def test_an_update_of_a_misspelt_field_names_the_field_as_the_file_does(dotted, near):
    """`--set schedule.warmup_step=5` said "unknown schedule 'constant' hyperparameter 'warmup_step'. It
    takes no hyperparameters." where the file's `schedule: {warmup_step: 5}` says "Did you mean
    'warmup_steps'?": the update went to the options. Truth: the recipe file's own refusal."""
    section, name = dotted.split(".")
    with pytest.raises(RecipeError) as by_file:
        Recipe.from_dict({section: {name: 5}})
    with pytest.raises(RecipeError) as by_update:
        Recipe().with_updates({dotted: 5})
    assert f"Did you mean {near}" in str(by_file.value)
    assert str(by_update.value) == str(by_file.value)
    adagrad = Recipe.from_dict({"optimizer": {"name": "adagrad"}})  # lr_decay is near weight_decay too
    assert adagrad.with_updates({"optimizer.lr_decay": 0.1}).optimizer.options == {"lr_decay": 0.1}


def test_an_update_drops_the_schedule_fields_it_leaves_unread():
    """`--warmup-steps 0` over a file's warmup_start, `--schedule cosine` over its one_cycle momentum cycle
    were refused as fields read only with a warmup, with one_cycle; set by the update itself, they still
    are."""
    warm = Recipe.from_dict({"schedule": {"name": "cosine", "warmup_steps": 5, "warmup_start": 0.1}})
    assert warm.with_updates({"schedule.warmup_steps": 0}).schedule == ScheduleSpec(name="cosine")
    assert warm.with_updates({"schedule.warmup_steps": 3}).schedule.warmup_start == 0.1
    cycle = {"name": "one_cycle", "cycle_momentum": True, "base_momentum": 0.8}
    cycled = Recipe.from_dict({"optimizer": {"name": "sgd"}, "schedule": cycle})
    assert cycled.with_updates({"schedule.name": "cosine"}).schedule == ScheduleSpec(name="cosine")
    assert cycled.with_updates({"schedule.name": "One-Cycle"}).schedule == ScheduleSpec(**cycle)
    with pytest.raises(RecipeError, match="cycle_momentum"):
        cycled.with_updates({"schedule.name": "cosine", "schedule.cycle_momentum": True})


def test_changing_the_data_set_drops_keywords_the_new_one_does_not_take(tmp_path):
    """`--dataset iris` over a recipe's CSV file with its target column was refused as iris's 'target'."""
    rows = tmp_path / "rows.csv"
    rows.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    csv = Recipe.from_dict({"data": {"name": str(rows), "options": {"target": "label"}}})
    assert csv.with_updates({"data.name": "iris"}).data.options == {}
    other = tmp_path / "other.csv"  # a file's keywords are its reader's: another CSV's are kept
    assert csv.with_updates({"data.name": str(other)}).data.options == {"target": "label"}
    sampled = Recipe.from_dict({"data": {"name": "mnist1d", "options": {"n": 500, "split": "original"}}})
    assert sampled.with_updates({"data.name": "two_spirals"}).data.options == {"n": 500}
    # a file over a built-in set: mnist1d's n was refused by the CSV reader ('Accepted: delimiter, ...')
    assert sampled.with_updates({"data.name": str(rows)}).data.options == {}
    assert sampled.with_updates({"data.name": str(rows), "data.options.n": 5}).data.options == {"n": 5}
    delimited = Recipe.from_dict(
        {"data": {"name": str(rows), "options": {"target": "label", "delimiter": ","}}}
    )
    assert delimited.with_updates({"data.name": "x.npy"}).data.options == {
        "target": "label"
    }  # .npy: no delimiter


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("training: {steps: 010}", "'010'"),  # YAML 1.1's octal: 8 steps
        ("optimizer: {name: adam, lr: 1_0e-4}", "'1_0e-4'"),  # float() reads 0.001
        ("optimizer: {name: adam, betas: [0.9, 0_99]}", "'0_99'"),  # YAML 1.1: 99
        ("training: {steps: '1:30'}\nseed: 1:30", "'1:30'"),  # sexagesimal 90
    ],
)
def test_a_recipe_file_number_read_otherwise_than_written_is_refused_naming_it(tmp_path, text, named):
    """The command line refused --set training.steps=010, but a recipe file (and a --space file, a run
    folder) went through recipe.load_yaml unchecked: steps: 010 trained 8 steps. Truth: YAML 1.1 reads
    010 as 8 and 1:30 as 90, Python's float() reads 1_0e-4 as 0.001; no one typing them means those."""
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=f"{re.escape(named)} would read otherwise") as error:
        Recipe.load(path)
    assert "recipe.yaml" in str(error.value)
    with pytest.raises(yaml.YAMLError):  # every caller of load_yaml still catches YAML's error
        load_yaml(text)


def test_a_recipe_holding_itself_is_refused_not_a_recursion_error():
    """betas: &a [0.9, *a] is a list holding itself (PyYAML builds the alias of an enclosing node so): the
    recipe's checks recursed to a RecursionError traceback in optimlab train."""
    with pytest.raises(
        RecipeError,
        match=r"invalid value '&a \[0.9, \*a\]' in the recipe: accepted a value that does not hold",
    ):
        Recipe.from_yaml("optimizer: {name: adam, betas: &a [0.9, *a]}")
    shared = load_yaml("a: &b [1, 2]\nc: *b\nd: {<<: &e {x: 1}, y: 2}\nf: *e")  # an alias used twice is fine
    assert shared == {"a": [1, 2], "c": [1, 2], "d": {"x": 1, "y": 2}, "f": {"x": 1}}


@pytest.mark.parametrize(
    ("typed", "number"), [("+.5", 0.5), ("-.5", -0.5), (".5e-1", 0.05), ("+.25E0", 0.25)]
)
def test_a_number_of_no_leading_digit_reads_as_the_number_anywhere(typed, number):
    """YAML 1.1 reads +.5 (and .5e-1, its exponent wanting a sign) as text; only the command line's top level
    read it as the number, so --set optimizer.betas=[+.9,0.99] and a recipe file's +.5 were refused. Truth:
    Python's float() of the text."""
    assert load_yaml(f"[{typed}]") == [number] and float(typed) == number
    signed = typed.replace("-.", "+.")  # a learning rate is positive
    assert Recipe.from_yaml(f"optimizer: {{name: adam, lr: {signed}}}").optimizer.lr == abs(number)


@pytest.mark.parametrize(
    "text", ["+.5", ".5e-1", "1_0", "010", "09", "-08", "1:30", "0x10", "1e1_0", "\u0661\u0660", "1,000"]
)
def test_yaml_optimlab_writes_never_holds_a_refused_form(tmp_path, text):
    """Run folders keep their recipe as dump_yaml writes it; a resume reads it back through load_yaml's
    checks: each text a recipe may hold (a CSV's column names) is written so that it reads back as that
    text, the recipe and its id unchanged."""
    recipe = Recipe.from_dict({"data": {"name": "runs.csv", "options": {"target": text, "one_hot": [text]}}})
    again = Recipe.load(recipe.save(tmp_path / "recipe.yaml"))
    assert again == recipe and again.id == recipe.id and again.data.options["target"] == text


def test_a_recipe_of_a_large_integer_loads_back(tmp_path):
    """A run folder's recipe holding steps: 99999999999999999999 was refused on resume as a number read
    otherwise: the check compared the int YAML reads with the float of its text (1e20). Truth: Python's
    int of the digits; 2**53 + 1, which no float holds, as numbers past 64 bits are now refused."""
    recipe = Recipe.from_dict({"training": {"steps": 9007199254740993}})
    again = Recipe.load(recipe.save(tmp_path / "recipe.yaml"))
    assert again == recipe and again.id == recipe.id and again.training.steps == int("9007199254740993")


@pytest.mark.parametrize("dotted", ["optimizer..lr", "optimizer.lr.", ".optimizer.lr", ""])
def test_a_dotted_field_with_an_empty_part_is_refused_naming_it(dotted):
    """compare --compare optimizer..lr=0.1,0.2 and --space were told 'unknown recipe section 'optimizer.'
    in 'optimizer..lr'. Sections there: options.', naming a section no one typed."""
    with pytest.raises(RecipeError, match=re.escape(f"{dotted!r} is no recipe field: a part of it is empty")):
        Recipe.from_dict({}).with_updates({dotted: 0.1})


@pytest.mark.parametrize(
    "yaml_text, named",
    [
        ("training: {steps: BIG}", "training.steps: BIG"),
        ("model: {width: BIG}", "model.width: BIG"),  # batch_size: a bound of its own, BATCH_ROWS
        ("training: {eval_every: BIG}", "training.eval_every: BIG"),
        ("training: {accumulate_grad_batches: BIG}", "training.accumulate_grad_batches: BIG"),
    ],
)
def test_a_whole_number_past_64_bits_is_refused_naming_its_field(yaml_text, named):
    """steps: 99999999999999999999 started a run of 2^66 steps never to end; a width that large failed as
    an out-of-memory guess. Truth: torch's int64 holds 2**63 - 1 and refuses the number one past it."""
    big = 2**63
    with pytest.raises((OverflowError, ValueError), match="[Oo]verflow"):
        torch.tensor(big, dtype=torch.int64)
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text.replace("BIG", str(big)))
    bound = f"accepted an integer in [1, {big - 1}] (int64's bound)"
    assert f"{named.replace('BIG', str(big))} is refused: {bound}" in str(refused.value), refused.value
    assert Recipe.from_yaml(f"training: {{steps: {big - 1}}}").training.steps == torch.tensor(big - 1).item()


def test_a_whole_number_past_64_bits_is_taken_where_torch_reads_no_int64(write_modules):
    """The int64 check refused every whole number of a recipe: a user's class option (``tag: 2**64``, a
    plain Python int its Net takes), so that studies stored with one could no longer be read, and an
    integer typed into a float field (``lr: 10**23``, where ``lr: 1e23`` passed). Truth: Python keeps the
    int whole; the float field holds float(10**23)."""
    write_modules(
        tagged_net="""
        import torch.nn as nn
        class Net(nn.Linear):
            def __init__(self, input_shape, num_outputs, tag=0):
                super().__init__(input_shape[-1], num_outputs)
                self.tag = tag
        """
    )
    tag = 2**64
    recipe = Recipe.from_yaml(f"model: {{name: 'tagged_net:Net', options: {{tag: {tag}}}}}")
    assert recipe.model.options == {"tag": tag} and Recipe.from_dict(recipe.to_dict()) == recipe
    digits = "123456789012345678901234"
    assert recipe.with_updates({"model.options.tag": int(digits)}).model.options["tag"] == int(digits)
    lr = Recipe.from_yaml(f"optimizer: {{lr: {10**23}}}").optimizer.lr
    assert isinstance(lr, float) and lr == float(10**23)


def test_a_float_past_64_bits_in_a_whole_number_field_is_refused_in_the_same_words():
    """``steps: 1e20`` said "Input should be a whole number within a 64-bit integer's range" and
    ``steps: 100000000000000000000`` "is past 64 bits: ...": one wording, with int64's exact bound
    (torch's own) above steps' own >= 1."""
    bounds = f"[1, {torch.iinfo(torch.int64).max}] (int64's bound)"
    for given in ("1e20", str(10**20), "'1e20'"):
        with pytest.raises(RecipeError) as refused:
            Recipe.from_yaml(f"training: {{steps: {given}}}")
        assert f"is refused: accepted an integer in {bounds}" in str(refused.value), refused.value


@pytest.mark.parametrize(
    "yaml_text, said",
    [
        (f"training: {{seed: {10**20}}}", "training.seed: 100000000000000000000 is refused"),
        ("training: {seed: 1e20}", "training.seed: 1e+20 is refused"),
        ("training: {seed: 1.5}", "training.seed: 1.5 is refused"),
        ("training: {seed: -1}", "training.seed: -1 is refused"),
        ("training: {seed: 4294967296}", "training.seed: 4294967296 is refused"),
    ],
)
def test_a_seed_out_of_its_range_is_refused_naming_that_range(yaml_text, said):
    """``seed: 1e20`` said "accepted a whole number in [-9223372036854775808, ...]", a range seed does
    not take, and ``seed: 1.5`` "Input should be a valid integer, got a number with a fractional part",
    naming none. Truth: NumPy's legacy RandomState, which a seed also drives, takes [0, 2**32 - 1]."""
    with pytest.raises(ValueError):
        np.random.RandomState(2**32)
    np.random.RandomState(2**32 - 1)
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text)
    assert f"{said}: accepted an integer in [0, {2**32 - 1}]" in str(refused.value), refused.value
    assert "64" not in str(refused.value) and len(str(refused.value).splitlines()) == 2


@pytest.mark.parametrize(
    "field, value, accepted",
    [
        ("training.epochs", 1.5, "[1, inf)"),
        ("training.epochs", 0, "[1, inf)"),
        ("training.batch_size", -1, "[1, 2147483647]"),
        ("model.depth", -1, "[0, inf)"),
        ("training.steps", -(10**20), "[1, inf)"),  # past 64 bits, and its own bound names it
        ("model.width", "1e30", f"[1, {2**63 - 1}] (int64's bound), or null"),  # pydantic: 'Unable to parse'
        (
            "training.batch_size",
            "[3]",
            "[1, 2147483647]",
        ),  # pydantic: 'Input should be a valid integer (got [3])'
        ("training.steps", ".inf", f"[1, {2**63 - 1}] (int64's bound), or null"),  # was [1, inf): holding it
    ],
)
def test_a_whole_number_field_out_of_its_range_is_refused_naming_the_range(field, value, accepted):
    """Every whole-number field refused in one wording that names its accepted range: pydantic said
    "got a number with a fractional part" of 1.5 and "unable to parse string as an integer" of text."""
    section, name = field.split(".")
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(f"{section}: {{{name}: {value}}}")
    assert f"  {field}: " in str(refused.value), refused.value
    assert f" is refused: accepted an integer in {accepted}" in str(refused.value), refused.value
    assert len(str(refused.value).splitlines()) == 2, refused.value


@pytest.mark.parametrize(
    "yaml_text, said",
    [
        (
            "training: {batch_size: [1e30]}",
            "training.batch_size: [1e+30]: a list is refused: accepted an integer in [1, 2147483647]",
        ),
        (
            "training: {steps: {a: 1}}",
            "training.steps: {'a': 1}: a mapping is refused: accepted an integer in [1, inf), or null",
        ),
        (
            "optimizer: {lr: [0.1]}",
            "optimizer.lr: [0.1]: a list is refused: accepted a number in (0, inf), or null",
        ),
        (
            "data: {val_fraction: [.inf]}",
            "data.val_fraction: [inf]: a list is refused: accepted a number in [0, 1)",
        ),
    ],
)
def test_a_list_or_mapping_for_a_number_is_refused_as_one(yaml_text, said):
    """``batch_size: [1e30]`` was refused as past int64's bound, blaming the size inside the list (and
    ``[3]`` as if 3 were out of [1, inf)): the list itself is what the field does not take."""
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text)
    assert str(refused.value).splitlines() == ["invalid recipe:", f"  {said}"]


@pytest.mark.parametrize(
    "yaml_text, field, value",
    [
        ("training: {epochs: '3'}", "epochs", 3),
        ("training: {epochs: 1e3}", "epochs", 1000),
        ("training: {seed: 3.0}", "seed", 3),
        ("training: {steps: '9007199254740993'}", "steps", 2**53 + 1),  # no float holds it
    ],
)
def test_a_whole_number_field_takes_a_whole_number_as_written(yaml_text, field, value):
    """A whole number written as text or a float is taken with its exact value, as an int."""
    held = getattr(Recipe.from_yaml(yaml_text).training, field)
    assert type(held) is int and held == value


@pytest.mark.parametrize("text", ["9007199254740993.0", "9.007199254740993e15", "1e3"])
def test_whole_number_text_with_a_point_or_an_exponent_is_read_exactly(text):
    """``with_updates({"training.steps": "9007199254740993.0"})`` gave 9007199254740992: text other than
    plain digits was read through a float. Truth: Python's Decimal, exact."""
    steps = Recipe.from_dict({}).with_updates({"training.steps": text}).training.steps
    assert type(steps) is int and steps == int(Decimal(text))


@pytest.mark.parametrize("value", [Decimal(3), Fraction(3), Decimal("3.000")])
def test_a_whole_decimal_or_fraction_is_taken_as_the_int_it_equals(value):
    """``seed: Decimal(3)`` and ``Fraction(3)`` were refused, with a range holding 3."""
    seed = Recipe.from_dict({"training": {"seed": value}}).training.seed
    assert type(seed) is int and seed == 3 == value
    with pytest.raises(
        RecipeError, match=r"Fraction\(7, 2\) is refused: accepted an integer in \[0, 4294967295\]"
    ):
        Recipe.from_dict({"training": {"seed": Fraction(7, 2)}})


@pytest.mark.parametrize(
    "field, text, accepted",
    [
        ("training.seed", "0x10", "[0, 4294967295]"),  # Python's int(_, 0) reads 16
        ("model.depth", "two", "[0, inf), or null"),
        ("schedule.warmup_steps", "1_0", "[0, inf)"),  # Python's int() reads 10
    ],
)
def test_text_that_is_no_decimal_whole_number_is_refused_saying_so(field, text, accepted):
    """``seed: '0x10'`` was refused naming the range alone, as if 16 were out of it."""
    section, name = field.split(".")
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(f"{section}: {{{name}: '{text}'}}")
    expected = f"  {field}: '{text}' is no whole number in decimal digits: accepted an integer in {accepted}"
    assert expected in str(refused.value).splitlines(), refused.value


@pytest.mark.parametrize(
    "yaml_text, field, accepted",
    [
        ("training: {batch_size: }", "training.batch_size", "[1, 2147483647]"),
        ("training:\n  seed:\n", "training.seed", "[0, 4294967295]"),
    ],
)
def test_null_in_a_whole_number_field_that_takes_none_is_refused_naming_its_range(yaml_text, field, accepted):
    """``training: {batch_size: }`` said pydantic's "Input should be a valid integer (got None)"."""
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text)
    assert str(refused.value).splitlines()[1:] == [
        f"  {field}: null is refused: accepted an integer in {accepted}"
    ]


@pytest.mark.parametrize(
    "yaml_text, field, given, accepted",
    [
        ("data: {val_fraction: }", "data.val_fraction", "null", "a number in [0, 1)"),
        (
            "data: {val_fraction: 1}",
            "data.val_fraction",
            "1",
            "a number in [0, 1)",
        ),  # 'Input should be less than 1'
        ("optimizer: {lr: -1}", "optimizer.lr", "-1", "a number in (0, inf), or null"),
        ("schedule:\n  warmup_start:\n", "schedule.warmup_start", "null", "a number in [0, 1]"),
        ("optimizer: {lr: .inf}", "optimizer.lr", "inf", "a finite number in (0, inf), or null"),
        ("data: {data_fraction: [1]}", "data.data_fraction", "[1]: a list", "a number in (0, 1]"),
        (
            "optimizer: {weight_decay: abc}",
            "optimizer.weight_decay",
            "'abc'",
            "a number in [0, inf), or null",
        ),
        (
            "training: {grad_clip_norm: {a: 1}}",
            "training.grad_clip_norm",
            "{'a': 1}: a mapping",
            "a number in (0, inf), or null",
        ),
        (
            "optimizer: {lr: '1_0'}",
            "optimizer.lr",
            "'1_0'",
            "a number in (0, inf), or null",
        ),  # float() reads 10
    ],
)
def test_a_real_number_field_given_no_finite_number_is_refused_naming_its_range(
    yaml_text, field, given, accepted
):
    """``data: {val_fraction: }`` said pydantic's "Input should be a valid number (got None)", and
    ``lr: .inf`` "Input should be a finite number", naming no range. Truth: the bounds each field's
    own comment and the papers give (a validation fraction below 1, an lr above 0)."""
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text)
    assert str(refused.value).splitlines()[1:] == [f"  {field}: {given} is refused: accepted {accepted}"]


def test_a_precision_is_read_in_any_case_as_a_device_is():
    """``precision: FP32`` was refused while ``device: CPU`` and ``--precision FP32`` were taken."""
    assert Recipe.from_yaml("training: {precision: BF16, device: CPU}").training.precision == "bf16"
    assert Recipe.from_yaml("training: {precision: FP32}").id == Recipe().id


@pytest.mark.parametrize(
    "yaml_text, said",
    [
        ("model: {name: }", "model.name: null is refused: accepted a model's name (optimlab list model)"),
        ("optimizer: {name: 3}", "optimizer.name: 3 is refused: accepted an optimizer's name (optimlab list"),
        (
            "training: {precision: fp8}",
            "training.precision: 'fp8' is refused: accepted fp32 or bf16",
        ),
        (  # it said 'accepted text', naming no data set
            "data: {name: }",
            "data.name: null is refused: accepted a data set's name (optimlab list dataset), a CSV",
        ),
        ("data: {options: 3}", "data.options: 3 is refused: accepted a mapping, {key: value}"),
        ("training: {metrics: 3}", "training.metrics: 3 is refused: accepted a list, [a, b]"),
        ("training: {device: 3}", "training.device: 3 is refused: accepted auto, cpu, cuda, cuda:N or mps"),
        ("training: {device: }", "training.device: null is refused: accepted auto, cpu, cuda, cuda:N"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_naming_what_the_field_accepts(yaml_text, said):
    """pydantic's words named no accepted value: 'Input should be a valid string (got None)' of a model's
    name left empty, 'a valid dictionary (got 3)' of data options, 'a valid string' of a device 3."""
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text)
    assert said in str(refused.value) and "Input should" not in str(refused.value), refused.value
    assert len(str(refused.value).splitlines()) == 2, refused.value


@pytest.mark.parametrize(
    "yaml_text, said",
    [
        ("optimizer: {null: adam}", "optimizer.options: the key null is refused: accepted text"),
        ("optimizer: {name: sgd, 3: 1}", "optimizer.options: the key 3 is refused: accepted text"),
        ("? [a]\n: 1\n", "recipe is not valid YAML: line 1, column 3: found unhashable key"),
        ("data: {options: {? [a] : 1}}", "recipe is not valid YAML: line 1, column 20: found unhashable key"),
    ],
)
def test_a_key_that_is_no_name_is_refused_in_one_line(yaml_text, said):
    """``optimizer: {null: adam}`` ended in difflib's TypeError ('NoneType' object is not iterable) and a
    list as a key (``? [a]``) in the loader's own ('unhashable type: list'), tracebacks both. Truth:
    PyYAML's safe loader refuses a list as a key itself."""
    with pytest.raises(yaml.constructor.ConstructorError, match="found unhashable key"):
        yaml.safe_load("? [a]\n: 1\n")
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text)
    assert said in str(refused.value) and len(str(refused.value).splitlines()) <= 2, refused.value


def _real_number_fields() -> list[str]:
    """Every dotted recipe field that holds one real number (``float``, ``float | None``)."""
    fields = []
    for section, spec in Recipe.model_fields.items():
        for name, inner in getattr(spec.annotation, "model_fields", {}).items():
            kinds = set(typing.get_args(inner.annotation)) or {inner.annotation}
            if float in kinds and kinds <= {float, type(None)}:
                fields.append(f"{section}.{name}")
    return fields


@pytest.mark.parametrize("field", _real_number_fields())
def test_every_real_number_field_refuses_null_or_text_in_one_line_naming_its_range(field):
    """Every real-number field, as the recipe declares them: text, and null where it takes none, in one
    line naming the value and a range (pydantic's words named neither the range nor null as typed)."""
    section, name = field.split(".")
    nullable = type(None) in typing.get_args(
        Recipe.model_fields[section].annotation.model_fields[name].annotation
    )
    for value, given in [("abc", "'abc'"), *([] if nullable else [(None, "null")])]:
        with pytest.raises(RecipeError) as refused:
            Recipe.from_dict({section: {name: value}})
        (line,) = str(refused.value).splitlines()[1:]
        assert line.startswith(f"  {field}: {given} is refused: accepted a number in "), line


@pytest.mark.parametrize(
    "quoted, plain",
    [
        ("{name: muon, ns_steps: '5'}", "{name: muon, ns_steps: 5}"),
        ("{name: sgd, momentum: '0.9'}", "{name: sgd, momentum: 0.9}"),
        ("{name: adam, betas: ['0.8', '0.99']}", "{name: adam, betas: [0.8, 0.99]}"),
    ],
)
def test_a_quoted_number_in_a_registered_entrys_options_is_read_as_a_fields_is(quoted, plain):
    """``training.steps: '5'`` was read as 5 but ``optimizer: {name: muon, ns_steps: '5'}`` refused: a
    hyperparameter quoted is now the recipe its number unquoted makes (the same id and options)."""
    assert Recipe.from_yaml("training: {steps: '5'}").id == Recipe.from_yaml("training: {steps: 5}").id
    from_quoted, from_plain = (
        Recipe.from_yaml(f"optimizer: {quoted}"),
        Recipe.from_yaml(f"optimizer: {plain}"),
    )
    assert from_quoted.id == from_plain.id
    assert from_quoted.optimizer.keywords() == from_plain.optimizer.keywords()


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ("{name: adam, betas: [0, 1]}", "[0, 1]"),  # was [0.0, 1]: the first read as its range holds it
        ("{name: adam, betas: '0.9'}", "'0.9'"),  # was 0.9, a number never typed
        ("{name: adam, betas: [0, 0.9, 0.9]}", "[0, 0.9, 0.9]"),
    ],
)
def test_a_refused_hyperparameter_is_named_as_typed(options, shown):
    """A refused value was named after the recipe's reading of it (each number as its range holds it, a
    quoted number as the number): 'invalid value [0.0, 1]' of `betas: [0, 1]`. Truth: YAML's own reading
    of the text, written back as the message writes values (repr)."""
    typed = yaml.safe_load(options)["betas"]
    assert repr(typed) == shown
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(f"optimizer: {options}")
    assert f"invalid value {shown} for optimizer 'adam' hyperparameter 'betas'" in str(refused.value)


@pytest.mark.parametrize("step_size", ["1e20", str(2**63)])
def test_an_integer_hyperparameter_past_64_bits_is_refused_by_its_registry_range(step_size):
    """``schedule: {name: step, step_size: 1e20}`` validated (the recipe's own int64 check read ints
    alone); the registry's range now refuses it for the recipe and the Python API alike, naming the
    hyperparameter and int64's bound."""
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(f"schedule: {{name: step, step_size: {step_size}}}")
    expected = f"hyperparameter 'step_size': accepted an integer in [1, {2**63 - 1}] (int64's bound)"
    assert expected in str(refused.value), refused.value


@pytest.mark.parametrize(
    ("section", "said"),
    [
        (
            "optimizer: {name: adam, betas: null}",
            "invalid value null for optimizer 'adam' hyperparameter 'betas'",
        ),
        (
            "optimizer: {name: sgd, nesterov: null}",
            "invalid value null for optimizer 'sgd' hyperparameter 'nesterov': accepted one of true, false",
        ),
        (
            "model: {norm: {name: group, num_groups: true}}",
            "invalid value true for norm 'group' hyperparameter",
        ),
        ("optimizer: {name: adam, betas: [0.9, null]}", "invalid value [0.9, null] for optimizer 'adam'"),
    ],
)
def test_a_registered_entrys_refusal_in_a_recipe_names_values_in_yaml_words(section, said):
    """A hyperparameter refused in a recipe was named in Python's words ('invalid value None', 'accepted
    one of True, False') where the recipe's own fields say null, true and false, as YAML writes them
    (truth: yaml.safe_dump of the value)."""
    assert yaml.safe_dump([0.9, None, True], default_flow_style=True).strip() == "[0.9, null, true]"
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(section)
    assert said in str(refused.value), refused.value
    assert not re.search(r"\b(None|True|False)\b", str(refused.value)), refused.value


@pytest.mark.parametrize(
    "yaml_text, said",
    [
        (
            "training:\n\tepochs: 1\n",
            "line 2, column 1: found character '\\t' that cannot start any token (YAML indents with spaces; "
            "a tab is no indent)",
        ),
        (  # a tab that is no indent: after a key, after a value
            "training:\n  epochs:\t1\n",
            "line 2, column 10: found character '\\t' that cannot start any token (replace the tab with a space)",
        ),
        (
            "training: {epochs: 1}\t\n",
            "line 1, column 22: found character '\\t' that cannot start any token (replace the tab with a space)",
        ),
        (
            "training: {epochs: 1}\n---\nmodel: {name: mlp}\n",
            "line 2, column 1: expected a single document in the stream but found another document",
        ),
    ],
)
def test_a_recipe_of_tabs_or_two_documents_is_told_why_it_is_no_yaml_recipe(yaml_text, said):
    """A recipe indented with a tab was told only "found character '\\t' that cannot start any token", and
    one of two documents "but found another document", PyYAML's problem without its context. Truth: PyYAML
    refuses both (its own error's context and problem)."""
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(yaml_text)
    with pytest.raises(RecipeError) as refused:
        Recipe.from_yaml(yaml_text)
    assert str(refused.value) == f"recipe is not valid YAML: {said}"


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        (
            "schedule: {name: multistep, milestones: [3, 1e-400]}",
            "schedule: invalid value [3, 1e-400] for schedule 'multistep' hyperparameter 'milestones': "
            "accepted a list, each an integer in [0, inf).",
        ),
        (
            "training: {epochs: 1e-400}",
            "training.epochs: 1e-400 is refused: accepted an integer in [1, inf), or null",
        ),
    ],
)
def test_a_whole_number_below_the_smallest_float_is_refused_by_recipe_load_in_its_fields_words(
    tmp_path, fields, refusal
):
    """Recipe.load gave a number below the smallest float in a field of whole numbers a float's words
    ('below the smallest float and would read as 0'), where the CLI (which read the file again) gave the
    field's: one home now, the recipe's. Truth: the words the field gives a number it holds no whole of
    (1.5), its range, the number as typed; a float field keeps the float's words."""
    path = tmp_path / "r.yaml"
    path.write_text(f"data: {{name: iris}}\n{fields}\n")
    with pytest.raises(RecipeError) as refused:
        Recipe.load(path)
    assert str(refused.value) == f"recipe file {str(path)!r}: invalid recipe:\n  {refusal}"
    with pytest.raises(RecipeError) as halves:
        Recipe.from_yaml(f"data: {{name: iris}}\n{fields.replace('1e-400', '1.5')}\n")
    assert str(halves.value) == f"invalid recipe:\n  {refusal.replace('1e-400', '1.5')}"
    path.write_text("data: {name: iris}\noptimizer: {name: adam, betas: [0.9, 1e-400]}\n")
    with pytest.raises(RecipeError, match="'1e-400' is below the smallest float and would read as 0"):
        Recipe.load(path)


@pytest.mark.parametrize(
    "float_field", ["optimizer: {name: adam, lr: 1e-400}", "optimizer: {name: adam, betas: [0.9, 1e-400]}"]
)
def test_numbers_below_the_smallest_float_in_a_whole_and_a_float_field_are_each_refused_in_its_words(
    float_field,
):
    """``model: {width: 1e-400}`` beside ``optimizer: {lr: 1e-400}`` was refused naming model.width alone,
    in the float's words ('below the smallest float'). Truth: the width's line is the one it gets alone
    (its range), the float field's the float's words, naming that field."""
    with pytest.raises(RecipeError) as alone:
        Recipe.from_yaml("model: {width: 1e-400}")
    width_line = str(alone.value).partition("\n")[2]
    with pytest.raises(RecipeError) as both:
        Recipe.from_yaml(f"model: {{width: 1e-400}}\n{float_field}\n")
    field = "optimizer.lr" if "lr" in float_field else "optimizer.betas"
    assert str(both.value).splitlines() == [
        "invalid recipe:",
        width_line,
        f"  {field}: invalid value '1e-400': accepted 0 or a number at least about 5e-324 in size; "
        "'1e-400' is below the smallest float and would read as 0",
    ]


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "OFF"])
def test_yaml_1_1s_yes_and_no_words_are_refused_bare_and_text_quoted(word):
    """PyYAML (YAML 1.1) read ``drop_last: on`` as true and ``off`` as false, where YAML 1.2, whose
    numbers the recipe reads (README), has true and false alone; read as text, ``bias: no`` reached a
    user's factory as the truthy 'no' (a Linear with a bias), no field of theirs checking it. Bare, the
    word is refused wherever it is, naming it and where; quoted, it is text, which a yes/no field refuses
    naming true and false; true and false read as before."""
    for text, where in (
        (f"training: {{drop_last: {word}}}", "training.drop_last"),
        (f"optimizer: {{name: sgd, momentum: 0.9, nesterov: {word}}}", "optimizer.nesterov"),
        (f'model: {{name: "mynets:build", options: {{bias: {word}}}}}', "model.options.bias"),
        (f"data: {{name: iris, options: [{word}]}}", "data.options[0]"),
    ):
        with pytest.raises(
            RecipeError,
            match=rf"invalid value '{word}' in the recipe: accepted true or false, or the word quoted for "
            rf"text \('{word}'\); at {re.escape(where)}, {word} is YAML 1.1's (true|false)",
        ):
            Recipe.from_yaml(text)
    with pytest.raises(YamlValueError, match=f"'{word}' is refused"):
        load_yaml(f"a: {word}")
    assert load_yaml(f"a: '{word}'") == load_yaml(f'a: "{word}"') == {"a": word}
    with pytest.raises(
        RecipeError, match=rf"training.drop_last: '{word}' is not true or false .*: give true or false"
    ):
        Recipe.from_yaml(f"training: {{drop_last: '{word}'}}")
    assert Recipe.from_yaml("training: {drop_last: true, shuffle: False}").training.drop_last is True
    assert Recipe.from_yaml("training: {drop_last: true, shuffle: False}").training.shuffle is False


# per section: a field away from its default, another value of it, and a second field away from its default
_SECTION_FIELDS = [
    ("data", "split_seed", 5, 0, {"val_fraction": 0.3}),
    ("model", "width", 16, 8, {"depth": 3}),
    ("optimizer", "lr", 0.1, 0.01, {"weight_decay": 0.5}),
    ("schedule", "warmup_steps", 3, 1, {"name": "cosine"}),
    ("training", "batch_size", 16, 8, {"seed": 7}),
]


@pytest.mark.parametrize(("section", "field", "held", "other", "second"), _SECTION_FIELDS)
def test_a_section_update_sets_the_fields_it_holds_and_the_later_value_wins(
    section, field, held, other, second
):
    """``with_updates({'data.split_seed': 0, 'data': {...}})`` replaced the data section whole (val_fraction
    0.3 back to 0.2), then set split_seed 0 however the two were ordered: a section's value now updates the
    fields it holds, as the same fields dotted do (the truth: the dotted update), and of a field given
    twice the later value is kept (dict order is the order written)."""
    base = Recipe.from_dict({section: {field: held, **second}})
    dotted = base.with_updates({f"{section}.{field}": other})
    assert getattr(getattr(dotted, section), field) == other
    assert all(getattr(getattr(dotted, section), k) == v for k, v in second.items())
    assert base.with_updates({section: {field: other}}) == dotted
    later_section = base.with_updates({f"{section}.{field}": held, section: {field: other}})
    later_dotted = base.with_updates({section: {field: held}, f"{section}.{field}": other})
    assert later_section == later_dotted == dotted


def test_a_technique_given_whole_after_its_hyperparameter_keeps_its_own_value():
    """A mapping set whole beneath a section is the later value of each key it holds: ``model.init.gain``
    3 then ``model.init`` {name, gain: 2} built gain 3 (deeper keys were applied last, whatever the order)."""
    init = {"name": "kaiming_normal", "gain": 2.0}
    later = Recipe().with_updates({"model.init.gain": 3.0, "model.init": init})
    assert later.model.init == {"name": "kaiming_normal", "gain": 2.0}
    earlier = Recipe().with_updates({"model.init": init, "model.init.gain": 3.0})
    assert earlier.model.init == {"name": "kaiming_normal", "gain": 3.0}


def test_an_update_leaves_the_mappings_it_was_given_as_they_were():
    """``with_updates({'model.init': init, 'model.init.gain': 2.0})`` wrote the gain into the caller's
    ``init`` (the recipe held the caller's mapping and set the hyperparameter in it): a mapping reused for
    the next update (a compared value, a search space's point) carried a value nobody gave it."""
    init = {"name": "kaiming_normal"}
    updated = Recipe().with_updates({"model.init": init, "model.init.gain": 2.0})
    assert updated.model.init == {"name": "kaiming_normal", "gain": 2.0}
    assert init == {"name": "kaiming_normal"}
    assert Recipe().with_updates({"model.init": init}).model.init == "kaiming_normal"


def test_a_section_update_holding_a_keyword_twice_is_refused_as_a_file_is():
    """``with_updates({'optimizer': {'name': 'sgd', 'momentum': 0.9, 'options': {'momentum': 0.5}}})`` kept
    the 0.5 without a word, where the same section in a recipe file is refused ('set twice'): refused too."""
    section = {"name": "sgd", "momentum": 0.9, "options": {"momentum": 0.5}}
    with pytest.raises(RecipeError, match="set twice"):
        Recipe.from_dict({"optimizer": section})
    with pytest.raises(RecipeError, match=r"'momentum' is set twice.*0\.9.*0\.5.*keep one"):
        Recipe().with_updates({"optimizer": section})
    assert Recipe().with_updates({"optimizer": {"name": "sgd", "momentum": 0.9}}).optimizer.options == {
        "momentum": 0.9
    }


@pytest.mark.parametrize(
    "updates",
    [
        {"model": {"init": "he"}, "model.init": {"gain": 3}},
        {"model.init": "he", "model": {"init": {"gain": 3}}},
    ],
)
def test_a_mapping_set_whole_on_a_technique_is_a_second_setting_of_it(updates):
    """A mapping on a technique (``model.init`` = ``{gain: 3}``) replaces it whole, its name given before
    lost, but field_set_twice read the mapping as its keys only (model.init.gain), so the two keys passed
    as one setting each (compare's recipe= then refused the init as its own). Truth: with_updates of both
    refuses the init that lost its name, where the name and the gain given apart make he at gain 3."""
    with pytest.raises(RecipeError, match=r"invalid value \{'gain': 3\} for init"):
        Recipe().with_updates(updates)
    assert Recipe().with_updates({"model.init": "he", "model.init.gain": 3}).model.init == {
        "name": "kaiming_normal",
        "gain": 3,
    }
    assert field_set_twice(updates) == ("model.init", *updates)
