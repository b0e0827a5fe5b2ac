"""Which modules the doctor's instruments count as norm layers: those that normalize, known by what they
are (a torch norm, a subclass, another library's that computes as one), not by "Norm" in a class name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import optimlab.models
from optimlab.doctor import diagnose
from optimlab.doctor.instruments import Instruments
from optimlab.techniques.norms import is_norm_layer


class NormalizedLinear(nn.Linear):
    """A user's layer named like a norm that normalizes nothing it outputs."""


class ScaledLayerNorm(nn.LayerNorm):
    """A user's subclass of a torch norm, with a forward of its own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


def _norms(model: nn.Module) -> list[str]:
    return Instruments(model, torch.optim.SGD(model.parameters(), 0.1)).statistics.norms


@pytest.mark.parametrize(
    "build, norms",
    [
        # optimlab's Norm holds the torch module that normalizes: counted once, as that module
        (lambda: optimlab.models.create("mlp", (8,), 2, width=4, norm="none"), []),
        (lambda: optimlab.models.create("mlp", (8,), 2, width=4, norm="batch"), ["2.inner", "5.inner"]),
        (lambda: nn.Sequential(NormalizedLinear(8, 4), nn.ReLU(), nn.Linear(4, 2)), []),
        (lambda: nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(8, 4)), nn.Linear(4, 2)), []),
        (
            lambda: nn.Sequential(nn.Linear(8, 4), nn.RMSNorm(4), nn.GroupNorm(2, 4), ScaledLayerNorm(4)),
            ["1", "2", "3"],
        ),
    ],
    ids=["optimlab-norm-none", "optimlab-batch-norm", "named-normalized", "weight-norm", "torch-norms"],
)
def test_norm_layers_are_counted_by_what_they_are(build, norms):
    """Truth: the layers each model was built with. The census counted any class named '*Norm*': an
    optimlab mlp's Norm(kind='none') (an identity) as a norm, a batch-normed one's norms twice (the Norm
    and the BatchNorm1d inside), a NormalizedLinear and weight_norm's parametrization."""
    assert _norms(build()) == norms


def test_a_deep_sigmoid_mlp_without_norms_is_told_to_add_one_not_that_its_norms_do_not_carry_the_gradient():
    """`optimlab doctor --dataset digits --optimizer sgd --lr 10 --no-lr-find --steps 40` (mlp, norm none)
    advised 'the norm layers already there do not carry the gradient': its identities were counted as
    norms. Truth: the model holds no norm (its Norm modules are nn.Identity inside)."""
    model = optimlab.models.create("mlp", (16,), 2, width=16, depth=8, activation="sigmoid")
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in model.modules())
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    vanishing = next(f for f in found.findings if f.rule == "vanishing_gradients")
    assert "already there" not in vanishing.recommendation, vanishing.recommendation
    assert "norm: batch" in vanishing.recommendation, vanishing.recommendation


@pytest.mark.parametrize("lazy", [nn.LazyBatchNorm1d, lambda: nn.LazyLinear(8)], ids=["batch-norm", "linear"])
def test_a_trainers_doctor_refuses_a_lazy_layer_not_yet_run_in_one_line(lazy):
    """A trainer's doctor (TrainerDoctor.start, as Lightning's and Hugging Face's callbacks call it) on a
    model whose lazy layer has not run raised torch's 'Attempted to use an uninitialized parameter': the
    census read the shape of a parameter that has none. It refuses as diagnose does (truth: torch says the
    parameter is uninitialized)."""
    from optimlab.errors import InvalidValueError
    from optimlab.integrations.trainer_doctor import TrainerDoctor

    model = nn.Sequential(nn.Linear(4, 4), lazy(), nn.ReLU(), nn.Linear(8, 2))
    assert isinstance(model[1].weight, nn.parameter.UninitializedParameter)
    with pytest.raises(
        InvalidValueError, match=r"lazy parameter 1\.weight has no shape yet.*call model\(batch\)"
    ):
        TrainerDoctor(print_findings=False).start(model, torch.optim.SGD(model.parameters(), 0.1), 0)


def test_a_local_response_norm_is_no_norm_layer_as_it_keeps_no_scale():
    """nn.LocalResponseNorm was counted by its name before 4ea3dc31 and not after, without a word: now
    decided in techniques.norms.is_norm_layer, the one home of 'is this a norm' (the instruments read
    it). Truth: torch's LocalResponseNorm at its defaults leaves unit-scale activations within 0.1%
    and activations 100x larger still large, where a batch norm brings both to unit scale."""
    x = torch.randn(4, 6, 5, 5, generator=torch.Generator().manual_seed(0))
    lrn = nn.LocalResponseNorm(2)
    assert torch.allclose(lrn(x), x, rtol=1e-3) and lrn(100 * x).std() > 10
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.LocalResponseNorm(2), nn.Conv2d(6, 2, 3), nn.BatchNorm2d(2))
    assert _norms(model) == ["3"]
    assert [is_norm_layer(m) for m in model] == [False, False, False, True]


class MyRMSNorm(nn.Module):
    """A user's RMSNorm whose scale is ``scale``, not ``weight`` (x-transformers' ``g``, lucidrains' ``gamma``)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class PlainLayerNorm(nn.Module):
    """A user's LayerNorm without affine parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(-1, keepdim=True)) / (x.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()


class ClipNorm(nn.Module):
    """Named like a norm, yet keeps its inputs' scale: no norm layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(-100, 100)


def test_a_users_norm_is_counted_by_what_it_computes_whatever_its_scale_is_called():
    """4ea3dc31 counted a '*Norm' only with a 1-D Parameter named weight: a user's RMSNorm holding
    ``scale`` and a LayerNorm without affine were no norm, and a deep net of them was told to add one.
    Truth: torch's nn.RMSNorm and nn.LayerNorm compute what they compute; ClipNorm keeps the scale."""
    x = torch.randn(5, 4)
    assert torch.allclose(MyRMSNorm(4)(x), nn.RMSNorm(4, eps=1e-6)(x), atol=1e-5)
    assert torch.allclose(PlainLayerNorm()(x), nn.LayerNorm(4, elementwise_affine=False)(x), atol=1e-5)
    model = nn.Sequential(nn.Linear(4, 4), MyRMSNorm(4), PlainLayerNorm(), ClipNorm(), nn.Linear(4, 2))
    assert _norms(model) == ["1", "2"]
