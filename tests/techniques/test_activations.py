"""Activations: every entry builds, maps back to its name, and carries the gain its variance calls for."""

import math
import warnings

import pytest
import torch
from torch import nn

from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import get_registry
from optimlab.techniques import activations

NAMES = get_registry("activation").names()
# torch.nn.init.calculate_gain's arguments for the activations PyTorch tabulates.
TORCH_GAINS = {
    "identity": ("linear", None),
    "sigmoid": ("sigmoid", None),
    "tanh": ("tanh", None),
    "relu": ("relu", None),
    "leaky_relu": ("leaky_relu", 0.01),
    "prelu": ("leaky_relu", 0.25),
    "selu": ("selu", None),
}


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_builds_a_fresh_module_that_maps_back_to_its_name(name):
    first, second = activations.create(name), activations.create(name)
    assert isinstance(first, nn.Module) and first is not second
    assert activations.activation_name(first) == name
    assert activations.module_gain(first) == activations.gain(name)
    x = torch.randn(5, 3)
    assert first(x).shape == x.shape


@pytest.mark.parametrize("name", sorted(TORCH_GAINS))
def test_tabulated_gains_are_pytorchs(name):
    nonlinearity, param = TORCH_GAINS[name]
    assert activations.gain(name) == pytest.approx(nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


# Each name with its default hyperparameters, as its paper (and torch's documentation) writes it, by hand.
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 20.0, x, torch.log1p(torch.exp(x)))  # torch's threshold 20: linear above


BY_THE_PAPERS = {
    "identity": lambda x: x,
    "sigmoid": lambda x: 1.0 / (1.0 + torch.exp(-x)),
    "tanh": lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
    "relu": lambda x: torch.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),  # Maas et al.'s slope 0.01
    "prelu": lambda x: torch.where(x > 0, x, 0.25 * x),  # He et al. start a = 0.25
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1.0),  # Clevert et al.'s alpha 1
    "selu": lambda x: _SELU_SCALE * torch.where(x > 0, x, _SELU_ALPHA * (torch.exp(x) - 1.0)),
    "gelu": lambda x: x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))),  # exact, not the tanh form
    "silu": lambda x: x / (1.0 + torch.exp(-x)),  # swish with beta = 1
    "mish": lambda x: x * torch.tanh(_softplus(x)),
    "softplus": _softplus,
    "hardswish": lambda x: x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0,
}


def test_every_name_is_covered_by_its_papers_formula():
    assert sorted(BY_THE_PAPERS) == sorted(NAMES)


@pytest.mark.parametrize("name", sorted(BY_THE_PAPERS))
def test_each_name_computes_its_papers_function_at_its_defaults(name):
    """Truth: the closed forms above (SELU's constants from Klambauer et al. eq. 14); a change of a
    default (gelu to its tanh form, leaky_relu's slope to 0.2) changes what the name means."""
    x = torch.linspace(-30.0, 30.0, 6001, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(
            activations.create(name).double()(x), BY_THE_PAPERS[name](x), rtol=1e-12, atol=1e-12
        )


def _monte_carlo_second_moment(module: nn.Module) -> float:
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        return module(z).square().mean().item()


@pytest.mark.parametrize(
    ("name", "hyperparameters"),
    [(n, {}) for n in NAMES if n not in TORCH_GAINS]
    + [("relu", {}), ("elu", {"alpha": 0.5}), ("softplus", {"beta": 2.0}), ("gelu", {"approximate": "tanh"})],
)
def test_other_gains_preserve_the_second_moment(name, hyperparameters):
    # gain^2 * E[f(z)^2] = 1 for z ~ N(0, 1), checked by sampling rather than by the module's quadrature;
    # relu is the case He et al. derive by hand (gain sqrt(2)).
    moment = _monte_carlo_second_moment(activations.create(name, **hyperparameters))
    assert activations.gain(name, **hyperparameters) ** 2 * moment == pytest.approx(1.0, rel=5e-3)


def test_gains_depend_on_the_hyperparameters():
    assert activations.gain("leaky_relu", negative_slope=0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert activations.gain("elu", alpha=0.5) != pytest.approx(activations.gain("elu"))


def test_module_gain_reads_the_modules_own_hyperparameters():
    assert activations.module_gain(nn.LeakyReLU(0.3)) == pytest.approx(math.sqrt(2 / 1.09))
    assert activations.module_gain(nn.PReLU(init=0.1)) == pytest.approx(math.sqrt(2 / 1.01))
    assert activations.module_gain(nn.ELU(alpha=0.5)) == pytest.approx(activations.gain("elu", alpha=0.5))


def test_non_activations_have_no_name_and_no_gain():
    assert activations.activation_name(nn.Linear(2, 2)) is None
    assert activations.module_gain(nn.Dropout()) is None


def test_aliases():
    assert isinstance(activations.create("swish"), nn.SiLU)
    assert isinstance(activations.create("Linear"), nn.Identity)
    assert activations.gain("none") == 1.0


@pytest.mark.parametrize("name", get_registry("activation").names())
def test_capabilities_describe_the_function(name):
    f = activations.create(name)
    capabilities = get_registry("activation").get(name).capabilities
    x = torch.tensor([-100.0, -50.0, -1.0, 2.0, 50.0, 100.0])
    with torch.no_grad():
        y = f(x)
    if "saturating" in capabilities:  # flat in both tails: the gradient vanishes there
        assert y[0] == pytest.approx(y[1].item(), abs=1e-6) and y[4] == pytest.approx(y[5].item(), abs=1e-6)
    if "relu_family" in capabilities:  # identity for x > 0, a slope in [0, 1) below
        assert torch.equal(y[3:], x[3:])
        slope = (y[:3] / x[:3]).unique()
        assert len(slope) == 1 and 0 <= slope.item() < 1


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean 'relu'"):
        activations.create("rleu")
    with pytest.raises(UnknownNameError, match="tanh"):
        activations.gain("tanhh")


@pytest.mark.parametrize("slope", [-0.5, 1.5, 3.0, -2.0])
def test_slopes_outside_zero_one_are_torchs_own(slope):
    """torch takes any slope for nn.LeakyReLU and any start for nn.PReLU (a slope > 1 or < 0 is used in
    some papers): each builds torch's module and gets calculate_gain's value."""
    x = torch.linspace(-3, 3, 13)
    leaky = activations.create("leaky_relu", negative_slope=slope)
    assert torch.equal(leaky(x), nn.LeakyReLU(slope)(x))
    torch_gain = nn.init.calculate_gain("leaky_relu", slope)
    assert activations.gain("leaky_relu", negative_slope=slope) == pytest.approx(torch_gain, rel=1e-12)
    prelu = activations.create("prelu", init=slope)
    assert torch.equal(prelu(x), nn.PReLU(init=slope)(x))
    assert activations.gain("prelu", init=slope) == pytest.approx(torch_gain, rel=1e-12)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_slopes_are_refused_by_name(value):
    with pytest.raises(InvalidValueError, match=r"invalid value -?(nan|inf) .*'negative_slope': accepted a"):
        activations.create("leaky_relu", negative_slope=value)
    with pytest.raises(InvalidValueError, match=r"invalid value -?(nan|inf) .*'init': accepted a"):
        activations.create("prelu", init=value)


def test_bad_hyperparameters_are_named():
    with pytest.raises(UnknownNameError, match="alpha"):
        activations.create("elu", alpah=1.0)
    with pytest.raises(InvalidValueError, match="approximate"):
        activations.gain("gelu", approximate="erf")


@pytest.mark.parametrize(
    "qualified", [name for name in activations._FOREIGN if name.startswith("transformers.")]
)
def test_hugging_face_activations_count_as_the_function_they_compute(qualified):
    module_name, _, class_name = qualified.rpartition(".")
    cls = getattr(pytest.importorskip(module_name), class_name, None)
    if cls is None:
        pytest.skip(f"{qualified} is not in this version of transformers")
    module = cls()
    name = activations.activation_name(module)
    _, hyperparameters = activations._FOREIGN[qualified]
    x = torch.linspace(-6.0, 6.0, 1001)
    torch.testing.assert_close(module(x), activations.create(name, **hyperparameters)(x), atol=2e-3, rtol=0)
    assert activations.module_gain(module) == activations.gain(name, **hyperparameters)


@pytest.mark.parametrize(
    ("module", "nonlinearity", "param"),
    [
        (nn.Identity(), "linear", None),
        (nn.Sigmoid(), "sigmoid", None),
        (nn.Tanh(), "tanh", None),
        (nn.ReLU(), "relu", None),
        (nn.ReLU(inplace=True), "relu", None),
        (nn.LeakyReLU(), "leaky_relu", None),
        (nn.LeakyReLU(0.2), "leaky_relu", 0.2),
        (nn.PReLU(init=0.3), "leaky_relu", 0.3),
        (nn.SELU(), "selu", None),
    ],
)
def test_torch_modules_with_a_tabulated_gain_get_calculate_gains(module, nonlinearity, param):
    assert activations.module_gain(module) == pytest.approx(
        nn.init.calculate_gain(nonlinearity, param), rel=1e-12
    )


def _hugging_face(class_name: str, *args):
    cls = getattr(pytest.importorskip("transformers.activations"), class_name, None)
    if cls is None:
        pytest.skip(f"transformers.activations.{class_name} is not in this version of transformers")
    return cls(*args)


@pytest.mark.parametrize(
    "make",
    [
        nn.ReLU6,
        lambda: nn.ReLU6(inplace=True),
        nn.Hardtanh,
        lambda: nn.Hardtanh(-2.0, 2.0),
        lambda: nn.CELU(0.5),
        nn.Softsign,
        nn.Tanhshrink,
        nn.LogSigmoid,
        nn.Hardsigmoid,
        nn.Softshrink,
        nn.Hardshrink,
        lambda: nn.Threshold(0.1, 0.0),
        lambda: nn.RReLU().eval(),
        lambda: _hugging_face("QuickGELUActivation"),
        lambda: _hugging_face("ReLUSquaredActivation"),
        lambda: _hugging_face("ClippedGELUActivation", -10.0, 10.0),
        lambda: _hugging_face("LaplaceActivation"),
    ],
)
def test_unregistered_elementwise_activations_get_their_second_moment_gain(make):
    """An activation no entry registers (nn.ReLU6, transformers' QuickGELUActivation) had no gain, so gain
    'auto' drew the layer before it at gain 1 without a word. Truth: gain^2 * E[f(z)^2] = 1 by sampling."""
    module = make()
    assert activations.is_activation(module)
    moment = _monte_carlo_second_moment(module)
    assert activations.module_gain(module) ** 2 * moment == pytest.approx(1.0, rel=5e-3)


def test_softmaxes_read_logits_and_glu_has_no_gain():
    for module in (nn.Softmax(dim=-1), nn.LogSoftmax(dim=-1), nn.Softmin(dim=-1), nn.Softmax2d()):
        assert activations.is_activation(module) and activations.module_gain(module) == 1.0
    assert activations.is_activation(nn.GLU()) and activations.module_gain(nn.GLU()) is None
    assert not activations.is_activation(nn.MultiheadAttention(4, 2))


@pytest.mark.parametrize(
    ("function", "args", "kwargs"),
    [
        (torch.nn.functional.leaky_relu, (0.2,), {}),
        (torch.nn.functional.elu, (), {"alpha": 0.5}),
        (torch.nn.functional.softplus, (2.0, 10.0), {}),
        (torch.nn.functional.gelu, (), {"approximate": "tanh"}),
        (torch.nn.functional.hardtanh, (-2.0, 2.0), {}),
        (torch.nn.functional.relu6, (), {}),
        (torch.tanh, (), {}),
        (torch.Tensor.sigmoid_, (), {}),
    ],
)
def test_a_function_call_maps_to_the_module_computing_it(function, args, kwargs):
    """Truth: the function itself, on the same input."""
    x = torch.linspace(-5.0, 5.0, 101)
    module = activations.function_activation(function, (x, *args), kwargs)
    torch.testing.assert_close(module(x.clone()), function(x.clone(), *args, **kwargs))
    assert activations.function_activation(torch.add, (x, x), {}) is None


def _torch_activation_functions() -> list[str]:
    """torch's activation modules (torch.nn.modules.activation) built without arguments whose function of
    the same name in torch.nn.functional takes the input alone (F.rrelu for nn.RReLU; not F.prelu, which
    needs the weight nn.PReLU holds, nor F.softmax, its dim), so a function torch adds is covered."""
    from torch.nn.modules import activation as torch_activations

    names = []
    for name in torch_activations.__all__:
        function = getattr(nn.functional, name.lower(), None)
        try:
            getattr(torch_activations, name)()
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # F.softmax(x) warns: its dim is needed
                function(torch.randn(2, 4))
        except (TypeError, UserWarning):  # arguments needed (nn.Threshold, F.prelu, F.softmax), or no
            continue  # function (nn.LeakyReLU's is leaky_relu, tested with its slope above)
        names.append(name)
    return names


TORCH_ACTIVATION_FUNCTIONS = _torch_activation_functions()


def test_torchs_activation_functions_are_found():
    """The generator below finds torch's functions, those once missed among them: were torch's
    ``__all__`` to change so that it found none, the test below would be skipped without a word."""
    assert {"RReLU", "Hardshrink", "Softshrink"} <= set(TORCH_ACTIVATION_FUNCTIONS)


@pytest.mark.parametrize("name", TORCH_ACTIVATION_FUNCTIONS)
def test_torchs_activation_function_maps_to_its_module(name):
    """F.rrelu, F.hardshrink and F.softshrink mapped to no module, so gain 'auto' read a forward calling one
    after a layer as no activation (gain 1, where nn.Softshrink's is 1.54). Truth: torch's module of the
    name, and the function itself on the same input (the module in eval mode: F.rrelu's default)."""
    from torch.nn.modules import activation as torch_activations

    function = getattr(nn.functional, name.lower())
    x = torch.linspace(-5.0, 5.0, 200).reshape(2, 100)
    module = activations.function_activation(function, (x,), {})
    assert type(module) is getattr(torch_activations, name)
    torch.testing.assert_close(module.eval()(x.clone()), function(x.clone()), rtol=0, atol=0)


def _hardtanh_gain(c: float) -> float:
    """1 / sqrt(E[hardtanh_c(z)^2]), z ~ N(0, 1): 1 - 2 c phi(c) + 2 (c^2 - 1) (1 - Phi(c)), by parts."""
    phi = math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)
    tail = 0.5 * math.erfc(c / math.sqrt(2.0))
    return 1.0 / math.sqrt(1.0 - 2.0 * c * phi + 2.0 * (c * c - 1.0) * tail)


def test_an_unregistered_activations_gain_is_evaluated_once_per_class_and_settings():
    """Each layer's nn.Hardtanh was run anew on the 240,001-point grid: a model of many such layers paid
    it each time. Now once per class and settings, and a change of settings is read afresh; each value
    is the closed-form second moment."""
    from torch.overrides import TorchFunctionMode

    calls = []

    class _Count(TorchFunctionMode):
        def __torch_function__(self, function, types, args=(), kwargs=None):
            if getattr(function, "__name__", "") == "hardtanh":
                calls.append(function)
            return function(*args, **(kwargs or {}))

    with _Count():
        gains = [activations.module_gain(nn.Hardtanh(-1.2345, 1.2345)) for _ in range(3)]
    assert len(calls) == 1
    assert gains == [pytest.approx(_hardtanh_gain(1.2345), rel=1e-7)] * 3
    changed = nn.Hardtanh(-1.2345, 1.2345)
    changed.min_val, changed.max_val = -0.75, 0.75
    assert activations.module_gain(changed) == pytest.approx(_hardtanh_gain(0.75), rel=1e-7)
    hooked = nn.Hardtanh(-1.2345, 1.2345)
    hooked.register_forward_hook(lambda _, __, output: 2.0 * output)  # its output is not the settings'
    assert activations.module_gain(hooked) == pytest.approx(_hardtanh_gain(1.2345) / 2.0, rel=1e-7)


@pytest.mark.parametrize(
    ("category", "name", "field"),
    [("activation", "leaky_relu", "negative_slope"), ("activation", "prelu", "init"), ("init", "he", "a")],
)
def test_a_slope_whose_square_overflows_is_refused_naming_the_field(category, name, field):
    """negative_slope / init / kaiming's a of 1e200 were taken: the gain's slope**2 (and torch's
    calculate_gain, truth here) raised a bare OverflowError, which train blamed on the data batch. The
    bound, 1e19, is a slope torch's calculate_gain still takes, equal to ours."""
    with pytest.raises(OverflowError):
        torch.nn.init.calculate_gain("leaky_relu", 1e200)
    entry = get_registry(category).get(name)
    with pytest.raises(InvalidValueError) as refused:
        entry.validate({field: 1e200})
    assert f"hyperparameter '{field}': accepted a number in [-1e+19, 1e+19] (a slope whose square" in str(
        refused.value
    )
    entry.validate({field: -1e19})
    assert activations.gain("leaky_relu", negative_slope=-1e19) == torch.nn.init.calculate_gain(
        "leaky_relu", -1e19
    )


def test_a_users_own_leaky_relu_of_any_slope_has_its_gain():
    """module_gain(nn.LeakyReLU(1e200)) raised OverflowError: the gain sqrt(2 / (1 + s^2)) is sqrt(2) / s
    to double precision there (1 is far below an ulp of s^2)."""
    assert activations.module_gain(nn.LeakyReLU(1e200)) == pytest.approx(math.sqrt(2) / 1e200, rel=1e-15)
    assert activations.module_gain(nn.LeakyReLU(0.2)) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
