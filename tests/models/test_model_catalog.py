"""Contracts every registered architecture meets, parametrized from the registry."""

import pytest
import torch

import optimlab.models
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import get_registry
from optimlab.techniques.activations import activation_name

MODELS = get_registry("model")
NORMS = get_registry("norm").names()
ACTIVATIONS = ("relu", "tanh", "gelu")
NUM_OUTPUTS = 7

# An input for each kind of data an architecture declares (its capabilities): shape, batch, keywords.
INPUT_KINDS = {
    "features": ((12,), lambda n: torch.randn(n, 12), {}),
    "images": ((3, 8, 8), lambda n: torch.randn(n, 3, 8, 8), {}),
    "sequences": ((16,), lambda n: torch.randn(n, 16), {}),
    "tokens": ((16,), lambda n: torch.randint(0, 20, (n, 16)), {"vocab_size": 20}),
}
CASES = [(entry.name, kind) for entry in MODELS for kind in sorted(entry.capabilities & INPUT_KINDS.keys())]
LAYERED = [entry.name for entry in MODELS if "activation" in entry.hyperparameter_names]
SMALL = {"width": 8, "depth": 1}


def build(name, kind, **hyperparameters):
    shape, make_batch, keywords = INPUT_KINDS[kind]
    sizes = SMALL if name in LAYERED else {}
    torch.manual_seed(0)
    return optimlab.models.create(
        name, shape, NUM_OUTPUTS, **sizes, **keywords, **hyperparameters
    ), make_batch(4)


def test_every_model_declares_an_input_kind_the_contracts_know():
    assert {entry.name for entry in MODELS} == {name for name, _ in CASES}


@pytest.mark.parametrize("name, kind", CASES)
def test_output_has_one_row_of_outputs_per_example(name, kind):
    model, x = build(name, kind)
    out = model(x)
    assert out.shape == (4, NUM_OUTPUTS) and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("name, kind", CASES)
def test_gradients_reach_every_parameter(name, kind):
    model, x = build(name, kind)
    weights = torch.randn(4, NUM_OUTPUTS, generator=torch.Generator().manual_seed(1))
    (model(x) * weights).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", LAYERED)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_norm_and_activation_builds_and_runs(name, norm, activation):
    kind = sorted(MODELS.get(name).capabilities & INPUT_KINDS.keys())[-1]
    if norm == "instance" and name in ("mlp", "mnist1d_baseline_mlp"):  # (N, C) features: no positions
        with pytest.raises(InvalidValueError, match="instance"):
            build(name, kind, norm=norm, activation=activation)
        return
    model, x = build(name, kind, norm=norm, activation=activation)
    assert activation in {activation_name(m) for m in model.modules()}
    if norm != "none":
        assert any(getattr(m, "kind", None) == norm for m in model.modules())
    assert model(x).shape[-1] == NUM_OUTPUTS


@pytest.mark.parametrize("name", LAYERED)
def test_dropout_is_random_in_training_and_off_in_eval(name):
    kind = sorted(MODELS.get(name).capabilities & INPUT_KINDS.keys())[-1]
    model, x = build(name, kind, dropout=0.5)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", LAYERED)
def test_bad_technique_names_fail_early_with_close_matches(name):
    kind = sorted(MODELS.get(name).capabilities & INPUT_KINDS.keys())[-1]
    for field, typo, suggestion in (
        ("activation", "rellu", "relu"),
        ("norm", "batchnrm", "batchnorm"),
        ("init", "kaiming_normall", "kaiming_normal"),
    ):
        with pytest.raises(UnknownNameError, match=f"Did you mean '{suggestion}'"):
            build(name, kind, **{field: typo})


@pytest.mark.parametrize("name", LAYERED)
@pytest.mark.parametrize("field, value", [("width", 0), ("depth", 2.5), ("dropout", 1.0), ("dropout", -0.1)])
def test_out_of_range_hyperparameters_name_field_and_range(name, field, value):
    kind = sorted(MODELS.get(name).capabilities & INPUT_KINDS.keys())[-1]
    shape, _, keywords = INPUT_KINDS[kind]
    with pytest.raises(InvalidValueError, match=f"'{field}'.*accepted"):
        optimlab.models.create(name, shape, NUM_OUTPUTS, **keywords, **{field: value})


def test_unknown_model_and_keyword_suggest_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet'"):
        optimlab.models.create("resnt", (3, 8, 8), 10)
    with pytest.raises(UnknownNameError, match="Did you mean 'width'"):
        optimlab.models.create("mlp", (3,), 10, widht=8)


@pytest.mark.parametrize("name", [entry.name for entry in MODELS])
@pytest.mark.parametrize("input_shape, num_outputs", [((0,), 3), ((4, -1), 3), ((4,), 0), ("64", 3)])
def test_bad_shapes_are_rejected_with_the_accepted_form(name, input_shape, num_outputs):
    with pytest.raises(InvalidValueError, match="accepted"):
        optimlab.models.create(name, input_shape, num_outputs)


def test_data_dependent_init_says_how_to_apply_it():
    with pytest.raises(InvalidValueError, match=r"init\.apply\(model, 'lsuv', data="):
        optimlab.models.create("mlp", (4,), 2, init="lsuv")


# Each norm's and activation's hyperparameters at a value away from its default, and what the torch
# module the architecture builds holds for it (the module's own attribute, or whether it learns a scale).
NON_DEFAULT = {
    "norm": {
        "batch": {"eps": 1e-3, "momentum": 0.01, "affine": False, "track_running_stats": False},
        "layer": {"eps": 1e-3, "affine": False},
        "group": {"num_groups": 2, "eps": 1e-3, "affine": False},
        "instance": {"eps": 1e-3, "affine": True},
        "rms": {"eps": 1e-3, "affine": False},
        "none": {},
    },
    "activation": {
        "identity": {},
        "sigmoid": {},
        "tanh": {},
        "relu": {},
        "leaky_relu": {"negative_slope": 0.2},
        "prelu": {"init": 0.1},  # num_parameters: one slope a layer (refused otherwise, when built)
        "elu": {"alpha": 0.5},
        "selu": {},
        "gelu": {"approximate": "tanh"},
        "silu": {},
        "mish": {},
        "softplus": {"beta": 2.0, "threshold": 10.0},
        "hardswish": {},
    },
}


def _held(module: torch.nn.Module, hyperparameter: str):
    """What a torch norm or activation module holds for ``hyperparameter``."""
    if hyperparameter == "affine":
        return module.weight is not None
    return getattr(module, hyperparameter)


@pytest.mark.parametrize("category", sorted(NON_DEFAULT))
def test_every_hyperparameter_of_every_norm_and_activation_has_a_non_default_value_here(category):
    """A new entry or hyperparameter fails here until the contract below covers it."""
    registry = get_registry(category)
    taken = {e.name: set(e.hyperparameter_names) - {"num_parameters"} for e in registry}
    assert taken == {name: set(values) for name, values in NON_DEFAULT[category].items()}


@pytest.mark.parametrize("name", LAYERED)
def test_technique_hyperparameters_reach_the_torch_modules_of_every_architecture(name):
    """Each set value is the torch module's own (nn.BatchNorm1d.eps, nn.LeakyReLU.negative_slope, ...)
    in every layer of every architecture, built by name or from a recipe read back from YAML."""
    from optimlab.recipe import Recipe
    from optimlab.techniques.norms import Norm

    kind = sorted(MODELS.get(name).capabilities & INPUT_KINDS.keys())[-1]
    for norm, settings in NON_DEFAULT["norm"].items():
        if norm == "instance" and name in ("mlp", "mnist1d_baseline_mlp"):
            continue  # (N, C) features: refused, test_every_norm_and_activation_builds_and_runs
        for activation, options in NON_DEFAULT["activation"].items():
            choices = {"norm": {"name": norm, **settings}, "activation": {"name": activation, **options}}
            recipe = Recipe.from_yaml(Recipe.from_dict({"model": {"name": name, **choices}}).to_yaml())
            for model, _ in (build(name, kind, **choices), build(name, kind, **recipe.model.keywords())):
                norms = [m.inner for m in model.modules() if isinstance(m, Norm) and m.kind == norm]
                acts = [m for m in model.modules() if activation_name(m) == activation]
                assert acts and (norms or norm == "none"), (norm, activation)
                for module, expected in [*((n, settings) for n in norms), *((a, options) for a in acts)]:
                    assert {k: _held(module, k) for k in expected} == expected, (norm, activation)
                prelus = [p for a in acts if isinstance(a, torch.nn.PReLU) for p in a.parameters()]
                assert all(torch.equal(p, torch.full_like(p, options["init"])) for p in prelus)


SCHEMES_BY_NAME = {
    "xavier_normal": torch.nn.init.xavier_normal_,
    "xavier_uniform": torch.nn.init.xavier_uniform_,
    "kaiming_normal": torch.nn.init.kaiming_normal_,
    "kaiming_uniform": torch.nn.init.kaiming_uniform_,
    "orthogonal": torch.nn.init.orthogonal_,
}


@pytest.mark.parametrize("name", LAYERED)
@pytest.mark.parametrize("scheme", sorted(SCHEMES_BY_NAME))
def test_an_init_by_name_draws_torchs_distribution_in_every_layer_before_every_activation(name, scheme):
    """Every Linear and ConvNd weight of every architecture, before every activation of the registry and
    the output layer, against torch's function of the same name on the same shape (two-sample
    Kolmogorov-Smirnov, weights of 300 or more; fans over the receptive field as torch reads them):
    gain 1 for xavier and orthogonal, sqrt(2) for kaiming, whatever follows; every bias 0."""
    from scipy.stats import ks_2samp

    kind = sorted(MODELS.get(name).capabilities & INPUT_KINDS.keys())[-1]
    layers = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)
    for activation in get_registry("activation").names():
        shape, _, keywords = INPUT_KINDS[kind]
        model = optimlab.models.create(
            name, shape, NUM_OUTPUTS, activation=activation, init=scheme, width=32, depth=2, **keywords
        )
        for layer in (m for m in model.modules() if isinstance(m, layers)):
            if layer.bias is not None:
                assert torch.all(layer.bias == 0), (activation, layer)
            weight = layer.weight.detach()
            if weight.numel() >= 300:
                drawn = SCHEMES_BY_NAME[scheme](torch.empty_like(weight))
                pvalue = ks_2samp(weight.flatten().numpy(), drawn.flatten().numpy()).pvalue
                assert pvalue > 1e-4, (activation, layer, pvalue)
