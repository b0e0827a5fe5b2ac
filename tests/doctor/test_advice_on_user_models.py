"""Advice on a user's own model (plain torch, Hugging Face) names its layers and the torch modules to
put there; the recipe's model fields (model.norm, model.activation), which change nothing in a model the
user wrote, are said only of optimlab's own architectures."""

from __future__ import annotations

import copy
import itertools
import re

import pytest
import torch
from torch import nn

import optimlab.models
from doctor.setups import apply_init_advice, told_torch_init
from optimlab.doctor import diagnose

_RECIPE_MODEL_FIELDS = ("model.norm", "model.activation")


def _sigmoid_stack(built_by_optimlab: bool) -> nn.Module:
    """Eight Linear(16, 16) + sigmoid layers and a head: optimlab's mlp, or the same layers in plain torch."""
    torch.manual_seed(0)
    if built_by_optimlab:
        return optimlab.models.create("mlp", (16,), 2, width=16, depth=8, activation="sigmoid")
    layers: list[nn.Module] = []
    for _ in range(8):
        layers += [nn.Linear(16, 16), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(16, 2))


@pytest.mark.parametrize("built_by_optimlab", [True, False], ids=["optimlab-mlp", "user-sequential"])
def test_a_vanishing_gradient_through_sigmoids_is_advised_in_the_words_of_who_built_the_model(
    built_by_optimlab,
):
    """The same eight sigmoid layers: optimlab's mlp is told its recipe fields (activation: relu, which
    its recipe changes); a user's nn.Sequential was told them too, fields it has not: it is told
    nn.ReLU and nn.init.kaiming_normal_ in place of its sigmoids, or nn.BatchNorm1d/nn.LayerNorm."""
    model = _sigmoid_stack(built_by_optimlab)
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    vanishing = next(f for f in found.findings if f.rule == "vanishing_gradients")
    if built_by_optimlab:
        assert vanishing.recommendation.startswith(
            "activation: relu with init: kaiming_normal instead of sigmoid"
        )
        assert vanishing.recipe_changes == {"model.activation": "relu", "model.init": "kaiming_normal"}
    else:
        assert vanishing.recommendation.startswith(
            "nn.ReLU with nn.init.kaiming_normal_ on the weights in place of each sigmoid"
        ), vanishing.recommendation
        assert "nn.BatchNorm1d/2d, or nn.LayerNorm" in vanishing.recommendation
        assert "activation:" not in vanishing.recommendation and "norm:" not in vanishing.recommendation
        assert vanishing.recipe_changes == {}


class _Pooler(nn.Module):
    """BERT's pooler as transformers writes it: ``dense`` then the tanh module ``activation``."""

    def __init__(self) -> None:
        super().__init__()
        self.dense, self.activation = nn.Linear(16, 16), nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(x))


def test_a_saturated_pooler_tanh_is_told_a_layer_norm_before_it_at_its_path_not_recipe_fields():
    """A Hugging Face BERT (a small BertConfig, SGD lr 3) saturated its pooler's tanh and was told
    'norm: batch before the tanh, or activation: relu with init: kaiming_normal', recipe_changes
    {'model.norm': 'batch'}: optimlab recipe fields a BERT has not. Here a user's model with the
    pooler's layers and names (transformers not loaded: 16 s), its tanh saturated by inputs of std 30
    at torch's init. Truth: the module paths the model was built with."""
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("pooler", _Pooler())
    model.add_module("classifier", nn.Linear(16, 2))
    x = 30 * torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    saturation = next(f for f in found.findings if f.rule == "saturation")
    assert saturation.recommendation == (
        "a norm layer on pooler.dense's outputs, before the tanh at pooler.activation (nn.LayerNorm, or "
        "nn.BatchNorm1d over features), or nn.ReLU in place of that tanh with nn.init.kaiming_normal_ on "
        "the weight that feeds it"
    )
    assert not set(_RECIPE_MODEL_FIELDS) & set(saturation.recipe_changes), saturation.recipe_changes


def _user_with_swapped_norm() -> nn.Module:
    from optimlab.techniques.norms import swap_norm

    model = _sigmoid_stack(False)
    model.insert(16, nn.BatchNorm1d(16))
    return swap_norm(model, "layer")  # its norm now optimlab's Norm: still the user's own model


@pytest.mark.parametrize(
    "build",
    [
        lambda: nn.Sequential(
            optimlab.models.create("mlp", (16,), 16, width=16, depth=8, activation="sigmoid"),
            nn.Linear(16, 2),
        ),
        _user_with_swapped_norm,
    ],
    ids=["optimlab-mlp-inside-a-user-sequential", "user-sequential-after-swap-norm"],
)
def test_a_users_model_holding_optimlab_parts_is_advised_in_torch_words(build):
    """Whether a model held an optimlab Norm decided the words: the user's Sequential around an optimlab mlp,
    or the user's own after optimlab's swap_norm, was told 'activation: relu with init: kaiming_normal',
    {'model.activation': 'relu', ...}, fields no recipe has for it. Truth: the top-level model is the
    user's nn.Sequential, which optimlab did not build."""
    torch.manual_seed(0)
    model = build()
    x = torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    vanishing = next(f for f in found.findings if f.rule == "vanishing_gradients")
    assert vanishing.recommendation.startswith("nn.ReLU with nn.init.kaiming_normal_"), (
        vanishing.recommendation
    )
    assert vanishing.recipe_changes == {}


def test_a_saturated_tanh_after_a_conv_layer_is_told_norms_that_take_its_channels():
    """A user CNN, Conv2d(1, 8, 3) then a tanh saturated by inputs of std 30, was told 'nn.LayerNorm, or
    nn.BatchNorm1d over features', which both refuse its (N, 8, 6, 6) outputs. Truth: torch's
    nn.BatchNorm2d(8) and nn.GroupNorm(2, 8) take them, nn.BatchNorm1d(8) does not."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Tanh(), nn.Flatten(), nn.Linear(288, 2))
    x = 30 * torch.randn(64, 1, 8, 8)
    found = diagnose(model, (x, (x[:, 0, 0, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    saturation = next(f for f in found.findings if f.rule == "saturation")
    assert "(nn.BatchNorm2d over channels, or nn.GroupNorm)" in saturation.recommendation
    outputs = model[0](x[:2])
    assert nn.BatchNorm2d(8)(outputs).shape == nn.GroupNorm(2, 8)(outputs).shape == outputs.shape
    with pytest.raises((RuntimeError, ValueError)):
        nn.BatchNorm1d(8)(outputs)


def test_a_users_batch_norm_and_dropout_are_advised_in_torch_words():
    """A user's Sequential(Linear, BatchNorm1d, ReLU, Dropout(0.9), Linear) in batches of 4 was told
    'norm: group ... or layer' {'model.norm': 'layer'} and 'model: dropout 0.5' {'model.dropout': 0.5}:
    recipe fields that do not reach it. Truth: the layers it was built with."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.9), nn.Linear(32, 2))
    x = torch.randn(64, 16)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long()), batch_size=4
    )
    found = diagnose(model, loader, nn.CrossEntropyLoss(), steps=12, lr_find=False)
    by_rule = {f.rule: f for f in found.findings}
    assert by_rule["batch_norm_batch"].recommendation.startswith(
        "nn.GroupNorm for conv layers, or nn.LayerNorm, in place of 1"
    )
    assert by_rule["dropout_too_high"].recommendation.startswith("nn.Dropout(p=0.5) at most at 3")
    assert by_rule["batch_norm_batch"].recipe_changes == by_rule["dropout_too_high"].recipe_changes == {}


_FACTORIES = """
import math
from torch import nn


def build(input_shape, num_outputs):
    return build_kw(input_shape, num_outputs)


def build_kw(input_shape, num_outputs, activation=nn.Sigmoid):
    layers, width = [], math.prod(input_shape)
    for _ in range(8):
        layers += [nn.Linear(width, 32), activation()]
        width = 32
    return nn.Sequential(*layers, nn.Linear(width, num_outputs))
"""


@pytest.mark.parametrize(
    "factory, changes",
    [
        ("build", {"model.init": "kaiming_normal"}),
        ("build_kw", {"model.activation": "relu", "model.init": "kaiming_normal"}),
    ],
)
def test_a_users_factory_on_the_command_line_is_told_the_recipe_fields_that_reach_it(
    write_modules, cli, factory, changes
):
    """A factory taking activation= (`--act relu` builds it with ReLUs) was told torch's words with
    recipe_changes {}, and one taking none would have been told 'activation: relu' had it held an optimlab
    Norm. Truth: the factory's keywords, which the recipe passes (--act), and the init the build draws on
    any user's model (--init)."""
    import json

    write_modules(optimlab_test_sigmoid_factories=_FACTORIES)
    code, out, err = cli(
        "doctor", "--model", f"optimlab_test_sigmoid_factories:{factory}", "--dataset", "digits",
        "--optimizer", "sgd", "--lr", "0.1", "--no-lr-find", "--steps", "20", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    vanishing = next(f for f in json.loads(out)["findings"] if f["rule"] == "vanishing_gradients")
    assert vanishing["recipe_changes"] == changes
    assert ("activation: relu" in vanishing["recommendation"]) == ("model.activation" in changes)
    # the layers in the factory's own names: 'net.' is the build's wrapper, which the factory never saw
    said = " ".join(vanishing[words] for words in ("title", "explanation", "recommendation"))
    assert "net." not in said and re.search(r"^Vanishing gradients: \d+ \(Linear\)", vanishing["title"])


def _layer_normed_relus(built_by_optimlab: bool) -> nn.Module:
    """Twenty Linear(16, 16) + LayerNorm + ReLU layers and a head: optimlab's mlp, or the same in torch."""
    torch.manual_seed(0)
    if built_by_optimlab:
        return optimlab.models.create("mlp", (16,), 2, width=16, depth=20, norm="layer")
    layers: list[nn.Module] = []
    for _ in range(20):
        layers += [nn.Linear(16, 16), nn.LayerNorm(16), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(16, 2))


@pytest.mark.parametrize(
    "built_by_optimlab, advice, changes",
    [
        (True, "activation: leaky_relu", {"model.activation": "leaky_relu"}),
        (False, "nn.LeakyReLU in place of the relu at 56", {}),
    ],
    ids=["optimlab-mlp", "user-sequential"],
)
def test_dead_relus_after_a_norm_are_told_a_leaky_relu_in_the_words_of_who_built_the_model(
    built_by_optimlab, advice, changes
):
    """Dead units behind a layer norm (no norm to add): optimlab's mlp is told its activation field, the
    user's Sequential the torch module at the path its last ReLU has (truth: 20 x 3 modules, the last
    ReLU is module 56 of nn.Sequential's numbering)."""
    model = _layer_normed_relus(built_by_optimlab)
    if not built_by_optimlab:
        assert isinstance(model[56], nn.ReLU) and isinstance(model[55], nn.LayerNorm)
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(),
                     torch.optim.SGD(model.parameters(), 0.01), steps=12, lr_find=False)  # fmt: skip
    dead = next(f for f in found.findings if f.rule == "dead_units")
    assert dead.recommendation == advice and dead.recipe_changes == changes


def _relus_drawn_small(built_by_optimlab: bool) -> nn.Module:
    """Eight Linear(16, 16) + ReLU layers and a head, their weights drawn at std 0.02 (0.08x He's
    sqrt(2 / 16)): optimlab's mlp, or the same layers in plain torch."""
    torch.manual_seed(0)
    if built_by_optimlab:
        model = optimlab.models.create("mlp", (16,), 2, width=16, depth=8)
    else:
        layers: list[nn.Module] = []
        for _ in range(8):
            layers += [nn.Linear(16, 16), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(16, 2))
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.02)
    return model


def _diagnosed(model: nn.Module) -> dict[str, object]:
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    return {f.rule: f for f in found.findings}


_INIT_RULES = ("init_scale", "vanishing_gradients", "lost_signal", "dead_units", "exploding_gradients")


def test_weights_drawn_too_small_in_a_users_model_are_told_the_torch_init_on_its_layers():
    """A user's nn.Sequential of ReLU layers drawn at 0.08x He's scale was told 'init: kaiming_normal for
    relu layers', {'model.init': 'kaiming_normal'}: a recipe field no recipe has for it (here by
    init_scale, vanishing_gradients and dead_units alike). It is told torch's call on its own layer paths,
    and no finding names a model field. Truth: the paths of the Linear layers feeding its ReLUs (0, 2, 4,
    6, ...), He's, and its head, drawn as small, Glorot's; and the calls themselves: run on those weights,
    as said, the init finding is gone."""
    model = _relus_drawn_small(False)
    found = _diagnosed(model)
    told = found["init_scale"].recommendation
    assert told.startswith(
        "nn.init.kaiming_normal_(weight) on the weights of 0 (Linear), 2 (Linear), 4 (Linear), 6 (Linear) "
        "and 4 more"
    ), told
    for finding in found.values():
        assert not any(field.startswith("model.") for field in finding.recipe_changes), finding
        assert "init: " not in finding.recommendation, finding.recommendation
    relus = [str(i) for i in range(0, 16, 2)]
    assert all(isinstance(model[int(i) + 1], nn.ReLU) for i in relus)
    assert told_torch_init(found["init_scale"], "kaiming_normal", [*relus, "16"]), found["init_scale"]
    assert apply_init_advice(model, found["init_scale"]) == {
        "nn.init.kaiming_normal_(weight)": relus,
        "nn.init.xavier_normal_(weight)": ["16"],
    }
    assert not set(_INIT_RULES) & set(_diagnosed(model)), "the advice, run as said, left a finding"


def test_weights_drawn_too_small_in_optimlabs_mlp_are_told_its_init_field():
    """The same layers built by optimlab's mlp, whose recipe's model.init draws them: the recipe field."""
    vanishing = _diagnosed(_relus_drawn_small(True))["vanishing_gradients"]
    assert vanishing.recommendation.startswith("init: kaiming_normal for relu layers (the weights are 0.0")
    assert vanishing.recipe_changes == {"model.init": "kaiming_normal"}


@pytest.mark.parametrize("built_by_optimlab", [True, False], ids=["optimlab-mlp", "user-sequential"])
def test_a_copied_or_saved_model_keeps_the_words_of_who_built_it(built_by_optimlab, tmp_path):
    """copy.deepcopy of optimlab's mlp lost the record of the recipe fields that build it (kept beside the
    model, by the model), so the copy was told torch's words: a user's nn.Sequential. Truth: a copy, or
    the model torch.save wrote and torch.load read, is built by the same recipe as the model; a user's
    model stays a user's."""
    model = _relus_drawn_small(built_by_optimlab)
    torch.save(model, tmp_path / "model.pt")
    for twin in (copy.deepcopy(model), torch.load(tmp_path / "model.pt", weights_only=False)):
        assert optimlab.models.recipe_fields(twin) == optimlab.models.recipe_fields(model)
    assert bool(optimlab.models.recipe_fields(model)) == built_by_optimlab
    vanishing = _diagnosed(copy.deepcopy(model))["vanishing_gradients"]
    assert vanishing.recommendation.startswith("init: kaiming_normal" if built_by_optimlab else "nn.init.")


@pytest.mark.parametrize("scheme", ["kaiming_normal", "xavier_normal", "truncated_normal"])
def test_the_torch_call_advised_for_an_init_draws_what_the_recipes_init_draws(scheme):
    """The torch call a user's model is told in place of the recipe's ``init:`` draws the same weights.
    Truth: optimlab's scheme and the call, from one seed on one (out, in) weight: the same tensor."""
    from optimlab.doctor.rules._readings import TORCH_INITS
    from optimlab.techniques.init import create

    ours, theirs = torch.empty(96, 160), torch.empty(96, 160)
    torch.manual_seed(0)
    create(scheme)(ours)
    torch.manual_seed(0)
    eval(TORCH_INITS[scheme], {"nn": nn, "weight": theirs})  # the advice, run as said
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("built_by_optimlab", [True, False], ids=["optimlab-mlp", "user-sequential"])
def test_a_signal_lost_to_weights_drawn_too_small_is_told_the_init(built_by_optimlab):
    """Optimlab's mlp of ReLU layers drawn at 0.08x He's scale: each layer shrinks the signal until its
    biases (none held under 0) are all that is left, and lost_signal, ranked first, said 'look between 9
    (relu) and 10 (Linear) in the forward pass: a function there (a ReLU on values below 0, a clamp, a
    mask, a detach) ...', where there is none. It is told the init, in the words of who built the model:
    the same layers in a user's nn.Sequential get torch's call. Truth: the weights' std, 0.02 against He's
    sqrt(2 / 16), and the forward pass, Linear, identity and ReLU modules only."""
    mlp = _relus_drawn_small(True)
    model = mlp if built_by_optimlab else nn.Sequential(*mlp)  # the user's: optimlab built no such model
    assert {type(m).__name__ for m in model} == {"Flatten", "Linear", "Norm", "ReLU"}
    found = _diagnosed(model)["lost_signal"]
    assert found.evidence["init_ratio"] == pytest.approx(0.02 / (2 / 16) ** 0.5, rel=0.1), found
    if built_by_optimlab:
        assert found.recommendation.startswith("init: kaiming_normal for relu layers (the weights are 0.0")
        assert found.recipe_changes == {"model.init": "kaiming_normal"}
    else:  # the head, drawn as small, under Glorot's
        assert told_torch_init(found, "kaiming_normal", [*(str(i) for i in range(1, 24, 3)), "25"]), found


class _NormedBlocksThenClamp(nn.Module):
    """Four Linear(16, 16) + LayerNorm + ReLU blocks, then a bug in the forward pass that zeroes the
    signal (a clamp at 0 times 0), then two Linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16), nn.ReLU()) for _ in range(4)
        )
        self.lin, self.head = nn.Linear(16, 16), nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(self.lin(torch.clamp(x, max=0.0) * 0))


def test_a_signal_lost_behind_layer_norms_is_not_blamed_on_small_weights():
    """Blocks of Linear + LayerNorm + ReLU drawn at std 0.02 (0.06x He's scale), then a clamp that zeroes
    the signal: lost_signal said redraw the weights (nn.init.kaiming_normal_ ... 0.0551x), where the
    LayerNorms keep the signal's scale whatever the weights' and the clamp loses it. Truth: the forward
    pass written here (the norm after each Linear; the clamp between the last ReLU and lin)."""
    torch.manual_seed(0)
    model = _NormedBlocksThenClamp()
    for block in model.blocks:
        nn.init.normal_(block[0].weight, std=0.02)
    found = _diagnosed(model)["lost_signal"]
    assert "init_ratio" not in found.evidence, found
    assert found.recommendation.startswith("look between blocks.3.2 (relu) and lin (Linear)"), found


def test_a_net_of_tanh_and_relu_layers_is_told_each_layers_own_init_in_one_advice():
    """Linear(16, 16) layers drawn at std 0.02, feeding ReLU and tanh in turn: the advice named only the
    layers of one activation, so run as said twice the same findings came back. Each activation's
    layers get their own call (He's for the ReLU ones, Glorot's for the tanh ones), and run once as
    said, no init finding is left. Truth: the model written (layer i feeds a ReLU where i % 4 == 0)."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(8):
        layers += [nn.Linear(16, 16), nn.Tanh() if i % 2 else nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(16, 2))
    for layer in model[:-1:2]:
        nn.init.normal_(layer.weight, std=0.02)
    found = _diagnosed(model)
    told = found["init_scale"]
    applied = apply_init_advice(model, told)
    assert applied == {
        "nn.init.kaiming_normal_(weight)": [str(i) for i in range(0, 16, 4)],
        "nn.init.xavier_normal_(weight)": [str(i) for i in range(2, 16, 4)],
    }, told
    for rule in ("vanishing_gradients", "lost_signal"):
        assert found[rule].evidence["layers"] == told.evidence["layers"], found[rule]
    assert not set(_INIT_RULES) & set(_diagnosed(model)), "the advice, run as said, left a finding"


def test_dead_units_of_conv_layers_drawn_small_are_told_every_layer_at_once():
    """Six Conv2d + ReLU layers drawn at std 0.02 (0.07x to 0.12x He's scale): dead_units, ranked first,
    named one layer a time (its weights and bias), so run as said round after round it left the others
    at 0.07x to 0.12x. It names all six, and run once as said, no init finding is left. Truth: the
    model written, its six Conv2d layers at 0, 2, ..., 10."""
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()]
    for _ in range(5):
        layers += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(8 * 8 * 8, 2))
    for layer in model[:12:2]:
        nn.init.normal_(layer.weight, std=0.02)
    x = torch.randn(64, 3, 8, 8)
    found = {
        f.rule: f
        for f in diagnose(
            model, (x, (x[:, 0, 0, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False
        ).findings
    }
    applied = apply_init_advice(model, found["dead_units"])
    assert applied == {"nn.init.kaiming_normal_(weight)": [str(i) for i in range(0, 12, 2)]}, found
    after = diagnose(model, (x, (x[:, 0, 0, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    assert not set(_INIT_RULES) & {f.rule for f in after.findings}, after.findings


@pytest.mark.parametrize(
    "fields, rule, scale",
    [(["norm"], "saturation", 30.0), (["activation"], "vanishing_gradients", 1.0)],
    ids=["factory-of-norm-saturated", "factory-of-activation-vanishing"],
)
def test_a_factory_is_told_only_the_recipe_fields_it_takes(fields, rule, scale):
    """A command line's factory taking norm= alone, its sigmoids saturated, was told 'norm: batch before the
    sigmoid, or activation: relu with init: kaiming_normal'; one taking activation= alone 'activation:
    relu with init: kaiming_normal': init: and activation: reach neither model. Truth: the fields the
    factory was recorded to take; every other change is told in torch's words."""
    from optimlab.models import takes_recipe_fields

    model = _sigmoid_stack(False)
    takes_recipe_fields(model, "users_module:factory", fields)
    torch.manual_seed(0)
    x = scale * torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    told = next(f for f in found.findings if f.rule == rule)
    taken = {f"model.{field}" for field in fields}
    words = {"model.norm": "norm:", "model.activation": "activation:", "model.init": "init:"}
    for field, word in words.items():
        assert (re.search(rf"(?<![\w.]){word}", told.recommendation) is not None) == (field in taken), told
    assert set(told.recipe_changes) == taken, told


def test_a_created_model_whose_layers_the_user_replaced_is_told_torch_words():
    """optimlab's mlp whose Linear layers the user replaced by their own was told 'init: kaiming_normal
    for relu layers', {'model.init': ...}: the recipe rebuilds the model without the user's layers. A
    model with a layer the user put in, or added, is the user's: torch's call on its paths. Truth: the
    layers replaced."""
    model = _relus_drawn_small(True)
    built = optimlab.models.recipe_fields(model)
    assert "model.init" in built
    untouched = copy.deepcopy(model)
    model[1] = nn.Linear(16, 16)  # the user's own layer in the place of the first
    nn.init.normal_(model[1].weight, std=0.02)
    assert optimlab.models.recipe_fields(model) == frozenset()
    added = copy.deepcopy(untouched).append(nn.Softmax(-1))
    assert optimlab.models.recipe_fields(added) == frozenset()
    assert optimlab.models.recipe_fields(untouched) == built  # a copy keeps the marks
    vanishing = _diagnosed(model)["vanishing_gradients"]
    assert told_torch_init(vanishing, "kaiming_normal", [*(str(i) for i in range(1, 24, 3)), "25"]), vanishing


class _PaddedTokenTagger(nn.Module):
    """Eight token ids (0 pads) -> their vectors, side by side -> tanh -> two classes."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 32, padding_idx=0)
        self.hidden, self.act, self.head = nn.Linear(256, 64), nn.Tanh(), nn.Linear(64, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.hidden(self.embed(ids).flatten(1))))


def test_an_embedding_drawn_too_large_is_told_to_keep_its_padding_row_at_0():
    """An embedding with a padding_idx drawn at std 10 (its padding row too) was told nn.init.normal_ on
    its vectors, which draws the padding row as well, where torch's nn.Embedding keeps it at 0 (padding
    ids then add nothing). Truth: torch's own nn.Embedding(..., padding_idx=0), whose row 0 is 0; the
    advice run as said gives it back."""
    torch.manual_seed(0)
    model = _PaddedTokenTagger()
    assert not model.embed.weight[0].any()  # torch's own padding row
    nn.init.normal_(model.embed.weight, std=10.0)
    ids = torch.randint(0, 50, (256, 8), generator=torch.Generator().manual_seed(0))
    labels = (ids < 25).sum(1).gt(4).long()
    found = diagnose(model, (ids, labels), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    told = next(f for f in found.findings if "(Embedding)'s vectors" in f.recommendation)
    call, _, rest = told.recommendation.partition(" on embed (Embedding)'s vectors")
    padding = re.search(r"then (weight\[padding_idx\]\.zero_\(\)) where it has a padding_idx", rest)
    assert padding is not None, told
    with torch.no_grad():  # the advice, run as said
        scope = {"nn": nn, "weight": model.embed.weight, "padding_idx": model.embed.padding_idx}
        eval(call, scope)
        eval(padding[1], scope)
    drawn = model.embed.weight.detach()
    assert not drawn[0].any() and drawn[1:].std().item() == pytest.approx(0.02, rel=0.1)


def test_a_saturated_tanh_is_told_its_weights_against_the_scale_its_advised_init_draws():
    """Tanh layers 64->256->...->256 drawn at 4/sqrt(fan_in) saturate; the advice, Glorot's xavier_normal_
    (Glorot & Bengio 2010), said '0 (Linear) is 2.4x that scale' (the ratio to torch's tanh gain 5/3),
    then '3.99x the 1/sqrt(fan_in) it draws on a square layer', of a layer that is not square: xavier
    draws sqrt(2 / (fan_in + fan_out)) there, which the weights are 6.3x. Truth: torch's xavier_normal_
    drawn on the same layer's shape, and the advice applied leaves no finding."""
    x = torch.randn(256, 64)
    y = (x[:, 0] > 0).long()
    widths = [64, 256, 256, 256, 256, 256]

    def tanh_net(weights_at: float | None) -> nn.Module:
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.Linear(fan_in, fan_out), nn.Tanh()]
            with torch.no_grad():
                if weights_at is None:
                    nn.init.xavier_normal_(layers[-2].weight)  # the advice, run as said
                else:
                    layers[-2].weight.normal_(0.0, weights_at / fan_in**0.5)
        return nn.Sequential(*layers, nn.Linear(widths[-1], 2))

    model = tanh_net(4.0)
    found = diagnose(model, (x, y), nn.CrossEntropyLoss(), steps=20, lr_find=False)
    (saturation,) = [f for f in found.findings if f.rule == "saturation"]
    told = re.search(
        r"0 \(Linear\)'s weights are ([\d.]+)x the std ([\d.]+) it draws there\)", saturation.recommendation
    )
    xavier = nn.init.xavier_normal_(torch.empty(256, 64, dtype=torch.float64)).std().item()
    drawn = model[0].weight.std().item()
    assert told, saturation.recommendation
    assert float(told.group(2)) == pytest.approx(xavier, rel=0.02)
    assert float(told.group(1)) == pytest.approx(drawn / xavier, rel=0.02) and float(told.group(1)) > 6
    assert diagnose(tanh_net(None), (x, y), nn.CrossEntropyLoss(), steps=20, lr_find=False).findings == []
