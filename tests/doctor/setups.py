"""Training setups for the doctor's tests: healthy ones, and ones broken in each way the doctor names.

Data: scikit-learn's digits (1,078 training rows of 8x8 images, 16 grey levels), standardized, raw,
or stretched to pixels 0..255. Models are plain torch, built here with the broken part made explicit.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

import torch
from sklearn.datasets import load_digits
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import optimlab.optim


@functools.cache
def digits() -> tuple[Tensor, Tensor]:
    """Raw digits (values 0..16) and labels, the first 1,078 rows of a seeded shuffle."""
    x, y = load_digits(return_X_y=True)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:1078]
    return torch.tensor(x, dtype=torch.float32)[order], torch.tensor(y)[order]


def standardized() -> tuple[Tensor, Tensor]:
    x, y = digits()
    return (x - x.mean(0)) / x.std(0).clamp_min(1e-3), y


def pixels() -> tuple[Tensor, Tensor]:
    """Digits as 8-bit pixels: 0..255, not normalized."""
    x, y = digits()
    return x * (255 / 16), y


def mlp(
    activation: type[nn.Module] = nn.ReLU,
    *,
    depth: int = 2,
    width: int = 128,
    weight_std: float | None = None,
    init: str | None = None,
    hidden_bias: float | None = None,
    inputs: int = 64,
    outputs: int = 10,
) -> nn.Sequential:
    """Linear -> activation blocks and a Linear head. ``weight_std``: N(0, std) weights and zero biases;
    ``init``: "he" or "xavier" (with the activation's gain); ``hidden_bias``: every hidden bias set to it."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), activation()]
    layers.append(nn.Linear(width if depth else inputs, outputs))
    model = nn.Sequential(*layers)
    gain = 5 / 3 if activation is nn.Tanh else 1.0
    for layer in model:
        if not isinstance(layer, nn.Linear):
            continue
        if weight_std is not None:
            nn.init.normal_(layer.weight, std=weight_std)
        elif init == "he":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        elif init == "xavier":
            nn.init.xavier_normal_(layer.weight, gain=gain)
        if weight_std is not None or init is not None:
            nn.init.zeros_(layer.bias)
    if hidden_bias is not None:
        for layer in list(model)[:-1]:
            if isinstance(layer, nn.Linear):
                nn.init.constant_(layer.bias, hidden_bias)
    return model


def cnn(*, conv_bias: float | None = None) -> nn.Sequential:
    """Two 3x3 conv blocks with ReLU, max-pool, global average pool and a Linear head, on 8x8 digits."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    if conv_bias is not None:
        for layer in model:
            if isinstance(layer, nn.Conv2d):
                nn.init.constant_(layer.bias, conv_bias)
    return model


def normalized_mlp(norm: type[nn.Module], activation: type[nn.Module]) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(64, 128),
        norm(128),
        activation(),
        nn.Linear(128, 128),
        norm(128),
        activation(),
        nn.Linear(128, 10),
    )


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr),
    "momentum": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
    # eps 1.0 (TensorFlow's advice for Inception): Adam's steps are lr x gradient / eps, as SGD's
    "adam, eps 1": lambda params, lr: torch.optim.Adam(params, lr=lr, eps=1.0),
    "lion": lambda params, lr: optimlab.optim.create("lion", params, lr=lr),
    # Weight decay: AdamW's usual 0.1 and SGD's 5e-4 (Loshchilov & Hutter 2019), and 100x those
    "adamw, wd 0.1": lambda params, lr: torch.optim.AdamW(params, lr=lr, weight_decay=0.1),
    "adamw, wd 10": lambda params, lr: torch.optim.AdamW(params, lr=lr, weight_decay=10.0),
    "momentum, wd 5e-4": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4),
    "sgd, wd 0.1": lambda params, lr: torch.optim.SGD(params, lr=lr, weight_decay=0.1),
}


@dataclasses.dataclass
class Setup:
    """A model, its data, an optimizer by name and lr: what ``optimlab.diagnose`` examines."""

    model: Callable[[], nn.Module]
    data: Callable[[], tuple[Tensor, Tensor]]
    optimizer: str
    lr: float
    loss: nn.Module = dataclasses.field(default_factory=nn.CrossEntropyLoss)
    steps: int = 200
    check_steps: int = 200  # of each lr candidate's check run (lr_check)
    # What the user's code does to the model once the optimizer is built (replaces its head, say).
    then: Callable[[nn.Module], None] | None = None
    batch_size: int = 32  # of tensors; a DataLoader (sorted_by_label) batches the data itself
    compute_loss: Callable[[nn.Module, Any], Tensor] | None = None  # instead of ``loss``

    def diagnose(self, **options: Any) -> Any:
        from optimlab.doctor import diagnose

        model = self.model()
        optimizer = OPTIMIZERS[self.optimizer](model.parameters(), self.lr)
        if self.then is not None:
            self.then(model)
        data = self.data()
        return diagnose(
            model,
            data,
            None if self.compute_loss else self.loss,
            optimizer,
            compute_loss=self.compute_loss,
            batch_size=None if isinstance(data, DataLoader) else self.batch_size,  # a loader batches itself
            # the rules' advice in the recipe's fields, whoever runs the training (diagnose_in_recipe_words)
            **{"steps": self.steps, "check_steps": self.check_steps, "settings": {}, **options},
        )


def diagnose_in_recipe_words(*args: Any, **options: Any) -> Any:
    """optimlab.doctor.diagnose with its advice in the recipe's fields (``settings={}``), as a recipe's run
    is told it: what a rule advises, whoever runs the training. The torch words a user's own code is told
    in their place: tests/doctor/test_doors.py."""
    from optimlab.doctor import diagnose

    return diagnose(*args, settings={}, **options)


def regression() -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1024, 8, generator=generator)
    return x, x @ torch.randn(8, 1, generator=generator) + 0.1 * torch.randn(1024, 1, generator=generator)


def regression_in_thousands() -> tuple[Tensor, Tensor]:
    """:func:`regression` with its targets in the thousands (prices, say), not standardized."""
    x, y = regression()
    return x, 1000 * y


def flat_regression() -> tuple[Tensor, Tensor]:
    """:func:`regression`'s targets as ``(N,)``: against a model's ``(N, 1)`` outputs, MSE broadcasts."""
    x, y = regression()
    return x, y[:, 0]


def signed_halves() -> tuple[Tensor, Tensor]:
    """:func:`standardized` digits labelled -1 (digits 0-4) or +1 (5-9), as (N, 1) floats: an SVM's labels."""
    x, y = standardized()
    return x, (2.0 * (y >= 5).float() - 1.0)[:, None]


def standardized_regression() -> tuple[Tensor, Tensor]:
    """:func:`regression` with its targets standardized: about half of them negative."""
    x, y = regression()
    return x, (y - y.mean()) / y.std()


def sorted_by_label() -> DataLoader:
    """:func:`standardized` digits ordered by label, batched in that order (no shuffling)."""
    x, y = standardized()
    order = torch.argsort(y, stable=True)
    return DataLoader(TensorDataset(x[order], y[order]), batch_size=32, shuffle=False)


def with_nan_row() -> tuple[Tensor, Tensor]:
    x, y = standardized()
    x = x.clone()
    x[500, 7] = float("nan")
    return x, y


def feature_times_1000() -> tuple[Tensor, Tensor]:
    x, y = standardized()
    x = x.clone()
    x[:, 3] = x[:, 3] * 1000
    return x, y


def noisy_labels() -> tuple[Tensor, Tensor]:
    """60% of the labels replaced by random classes: the loss has a floor far above 0."""
    x, y = standardized()
    generator = torch.Generator().manual_seed(1)
    return x, torch.where(
        torch.rand(len(y), generator=generator) < 0.6, torch.randint(0, 10, (len(y),), generator=generator), y
    )


def shuffled_labels() -> tuple[Tensor, Tensor]:
    """:func:`standardized` digits whose labels were permuted apart from their inputs: nothing to learn."""
    x, y = standardized()
    return x, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]


def resnet(width: int = 16) -> nn.Module:
    import optimlab.models

    torch.manual_seed(0)
    return optimlab.models.create("resnet", (1, 8, 8), 10, norm="batch", init="kaiming_normal", width=width)


def transformer(width: int = 64) -> nn.Module:
    import optimlab.models

    torch.manual_seed(0)
    return optimlab.models.create("transformer", (8, 8), 10, width=width)


def rows_as_sequences() -> tuple[Tensor, Tensor]:
    """Each 8x8 digit as a sequence of 8 rows of 8 features."""
    x, y = standardized()
    return x.reshape(-1, 8, 8), y


class LastStepClassifier(nn.Module):
    """A recurrent layer (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``) over (N, T, F) sequences, and a Linear
    head on its last step's output."""

    def __init__(self, cell: type[nn.Module], inputs: int, hidden: int, classes: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn = cell(inputs, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def pixel_rows() -> tuple[Tensor, Tensor]:
    """:func:`pixels` as sequences of 8 rows of 8 features: values 0..255."""
    x, y = pixels()
    return x.reshape(-1, 8, 8), y


def first_step_sign(length: int = 200) -> tuple[Tensor, Tensor]:
    """1,024 sequences of ``length`` N(0, 1) values, labelled by the sign of the first: the rest is
    noise, so the model must carry one value through every step (Bengio et al. 1994)."""
    x = torch.randn(1024, length, 1, generator=torch.Generator().manual_seed(0))
    return x, (x[:, 0, 0] > 0).long()


HEALTHY: dict[str, Setup] = {
    "relu mlp, He init, Adam 1e-3": Setup(lambda: mlp(init="he"), standardized, "adam", 1e-3),
    "relu mlp, PyTorch init, Adam 3e-3": Setup(mlp, standardized, "adam", 3e-3),
    "tanh mlp, Xavier init, SGD 0.1": Setup(lambda: mlp(nn.Tanh, init="xavier"), standardized, "sgd", 0.1),
    "sigmoid mlp, PyTorch init, Adam 1e-3": Setup(lambda: mlp(nn.Sigmoid), standardized, "adam", 1e-3),
    "cnn, Adam 1e-3": Setup(cnn, standardized, "adam", 1e-3),
    "batch-norm mlp, momentum 0.05": Setup(
        lambda: normalized_mlp(nn.BatchNorm1d, nn.ReLU), standardized, "momentum", 0.05
    ),
    "layer-norm gelu mlp, Adam 1e-3": Setup(
        lambda: normalized_mlp(nn.LayerNorm, nn.GELU), standardized, "adam", 1e-3
    ),
    "deep relu mlp, He init, momentum 0.01": Setup(
        lambda: mlp(depth=6, init="he"), standardized, "momentum", 0.01
    ),
    # The resnet and transformer at width 8 and 32, not 16 and 64: healthy either way, 8.1 -> 5.4 and
    # 6.0 -> 4.6 s CPU (suggestions 0.040 -> 0.045 for lr 0.05, 0.0024 -> 0.0084 for 1e-3)
    "optimlab resnet, batch norm, He init, momentum 0.05": Setup(
        lambda: resnet(width=8), standardized, "momentum", 0.05, steps=100, check_steps=40
    ),
    "optimlab transformer on rows, Adam 1e-3": Setup(
        lambda: transformer(width=32), rows_as_sequences, "adam", 1e-3, steps=100, check_steps=40
    ),
    "lstm on rows, Adam 3e-3": Setup(
        lambda: LastStepClassifier(nn.LSTM, 8, 64, 10),
        rows_as_sequences,
        "adam",
        3e-3,
        steps=100,
        check_steps=40,
    ),
    "relu mlp, Lion 3e-4 (a third of Adam's lr, Chen et al. 2023)": Setup(mlp, standardized, "lion", 3e-4),
    "relu mlp, Adam eps 1 with an lr to match, 0.3": Setup(mlp, standardized, "adam, eps 1", 0.3),
    "relu mlp, AdamW 3e-3 with wd 0.1": Setup(mlp, standardized, "adamw, wd 0.1", 3e-3),
    "batch-norm mlp, momentum 0.05 with wd 5e-4": Setup(
        lambda: normalized_mlp(nn.BatchNorm1d, nn.ReLU), standardized, "momentum, wd 5e-4", 0.05
    ),
    "regression mlp, MSE, Adam 1e-3": Setup(
        lambda: mlp(inputs=8, outputs=1, width=64, depth=1), regression, "adam", 1e-3, nn.MSELoss()
    ),
}


def dropout_mlp() -> nn.Sequential:
    """:func:`normalized_mlp` with batch norm, and dropout after each ReLU."""
    layers = list(normalized_mlp(nn.BatchNorm1d, nn.ReLU))
    return nn.Sequential(*layers[:3], nn.Dropout(0.3), *layers[3:6], nn.Dropout(0.3), layers[6])


def heavy_dropout_mlp(p: float = 0.9) -> nn.Sequential:
    """:func:`mlp` with dropout ``p`` after each ReLU."""
    layers = list(mlp())
    return nn.Sequential(*layers[:2], nn.Dropout(p), *layers[2:4], nn.Dropout(p), layers[4])


def loss_then_accuracy_in_eval_mode(model: nn.Module, batch: Any) -> Tensor:
    """A user's step: the loss, then the batch's accuracy after ``model.eval()``, with no
    ``model.train()`` after it: from the second step on, the model trains in eval mode."""
    x, y = batch
    loss = nn.functional.cross_entropy(model(x), y)
    model.eval()
    with torch.no_grad():
        model(x).argmax(1).eq(y).float().mean()
    return loss


class ReturnsItsLoss(nn.Module):
    """``net`` in Hugging Face's style: named inputs and ``labels`` in, a dict with its loss and logits out."""

    def __init__(self, net: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.net, self.loss = net, loss

    def forward(self, pixel_values: Tensor, labels: Tensor | None = None) -> dict[str, Tensor | None]:
        logits = self.net(pixel_values)
        return {"loss": None if labels is None else self.loss(logits, labels), "logits": logits}


class NamedExamples(Dataset):
    """Rows of ``(x, y)`` as dicts ``{"pixel_values": x[i], "labels": y[i]}``, as a Hugging Face
    data set hands them out."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        # Not named .x and .y: data with those attributes is read as a pair of tensors.
        self.inputs, self.labels = x, y

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"pixel_values": self.inputs[i], "labels": self.labels[i]}


class WithSpareLayer(nn.Module):
    """``net`` beside a layer its forward never calls (a head left out of it, say): the optimizer steps
    that layer, the loss does not reach it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.spare = nn.Linear(128, 128)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class FunctionalReluNet(nn.Module):
    """A ReLU MLP on digits (64 -> 128 -> 128 -> 10) that calls its ReLUs as ``torch.relu`` in its forward
    pass, as much user code does: no activation module for the instruments to hook. ``input_bias``:
    the first layer's biases (torch's default where None)."""

    def __init__(self, input_bias: float | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inp, self.mid, self.head = nn.Linear(64, 128), nn.Linear(128, 128), nn.Linear(128, 10)
        if input_bias is not None:
            nn.init.constant_(self.inp.bias, input_bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.relu(self.mid(torch.relu(self.inp(x)))))


def markov_tokens() -> tuple[Tensor, Tensor]:
    """512 sequences of 17 tokens of 32, each drawn given the one before from a fixed random chain
    (entropy about 2 nats a token): inputs the first 16, targets the next token of each."""
    generator = torch.Generator().manual_seed(0)
    chain = torch.softmax(2 * torch.randn(32, 32, generator=generator), 1)
    tokens = torch.zeros(512, 17, dtype=torch.long)
    tokens[:, 0] = torch.randint(0, 32, (512,), generator=generator)
    for t in range(16):
        tokens[:, t + 1] = torch.multinomial(chain[tokens[:, t]], 1, generator=generator)[:, 0]
    return tokens[:, :-1], tokens[:, 1:]


def padded_markov_tokens(rows: int = 1024, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Sequences of 4 to 11 tokens (1..31) from a fixed random chain, padded with 0 to 40 (84% of the
    targets): inputs the first 40 positions, targets the next token of each."""
    chain = torch.softmax(2 * torch.randn(31, 31, generator=torch.Generator().manual_seed(0)), 1)
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.zeros(rows, 41, dtype=torch.long)
    tokens[:, 0] = torch.randint(0, 31, (rows,), generator=generator)
    for t in range(40):
        tokens[:, t + 1] = torch.multinomial(chain[tokens[:, t]], 1, generator=generator)[:, 0]
    lengths = torch.randint(4, 12, (rows,), generator=generator)
    tokens = torch.where(torch.arange(41) < lengths[:, None], tokens + 1, 0)
    return tokens[:, :-1], tokens[:, 1:]


def tokens_as_their_own_targets() -> tuple[Tensor, Tensor]:
    """:func:`markov_tokens` with the inputs as targets: not shifted by one."""
    x, _ = markov_tokens()
    return x, x


class NextTokenLSTM(nn.Module):
    """Token ids (N, T) -> an LSTM -> scores (N, 32, T) over the 32 tokens at each position."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.rnn, self.head = (
            nn.Embedding(32, 32),
            nn.LSTM(32, 64, batch_first=True),
            nn.Linear(64, 32),
        )

    def forward(self, ids: Tensor) -> Tensor:
        return self.head(self.rnn(self.embed(ids))[0]).transpose(1, 2)


def trained_held_out(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]],
    loss: Callable[[Tensor, Tensor], Tensor],
    steps: int,
    batch: int,
    clip: float | None = None,
    *,
    seed: int = 0,
) -> float:
    """Independent truth for a finding's advice: ``model`` trained by ``optimizer`` for ``steps`` steps of
    ``batch`` rows drawn from ``data``'s training pair (in the order of a generator seeded ``seed``),
    the gradient's norm clipped at ``clip`` where given; its ``loss`` on the held-out pair, in eval mode."""
    (x, y), (x_held, y_held) = data
    order = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(0, len(x), (batch,), generator=order)
        optimizer.zero_grad()
        loss(model(x[rows]), y[rows]).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    with torch.no_grad():
        return loss(model.eval()(x_held), y_held).item()


# What a user's own model (plain torch: no recipe field draws its weights) is told in place of the
# recipe's ``init: <scheme>``: torch's call that draws the same weights, on its layers' weights.
_TORCH_INIT_CALLS = {
    "kaiming_normal": "nn.init.kaiming_normal_(weight) on the weight",
    "xavier_normal": "nn.init.xavier_normal_(weight) on the weight",
    "truncated_normal": "nn.init.trunc_normal_(weight, std=0.02, a=-0.04, b=0.04) on the weight",
}


# One torch call of an init advice on a user's model: the call, the tensors of each layer it draws (their
# weights, or an attention's input projections), the layers it names (cut short by 'and N more'), and
# whether it zeroes their biases.
_TORCH_CALL = re.compile(
    r"(nn\.init\.\w+_\(weight[^)]*\)) on (the weights?|each third \(query, key, value\) of the in_proj_weight|"
    r"the q_proj_weight, k_proj_weight, v_proj_weight) of ((?:[\w.]+ \(\w+\)(?:, | and )?)+?)"
    r"(?: and (\d+) more)?(, with nn\.init\.zeros_\(bias\) on (?:its bias|their biases))?(?=;|:| \(|$)"
)


@dataclasses.dataclass(frozen=True)
class TorchInitCall:
    """A torch call an init advice tells, on every layer it is about, and whether it zeroes their biases."""

    call: str
    tensors: str  # 'the weights', 'each third (query, key, value) of the in_proj_weight', ...
    layers: list[str]
    zero_biases: bool


def torch_init_calls(finding: Any) -> list[TorchInitCall]:
    """The torch calls an init advice opens ``finding``'s recommendation with (one after another, joined
    by '; '), each with all of its layers: those its words name, and those 'and N more' stands for, read
    in order from ``evidence["layers"]`` (every layer the advice is about, in the order the calls name
    them). Fails where words and evidence disagree."""
    text, listed, calls, at = finding.recommendation, finding.evidence["layers"], [], 0
    match = _TORCH_CALL.match(text)
    while match is not None:
        named = re.findall(r"([\w.]+) \(\w+\)", match[3])
        count = len(named) + int(match[4] or 0)
        assert listed[at : at + len(named)] == named, (text, listed)
        calls.append(TorchInitCall(match[1], match[2], listed[at : at + count], match[5] is not None))
        at += count
        match = _TORCH_CALL.match(text, match.end() + 2) if text.startswith("; ", match.end()) else None
    assert calls and at == len(listed), (text, listed)
    return calls


def apply_init_advice(model: nn.Module, finding: Any) -> dict[str, list[str]]:
    """Run each torch call of ``finding``'s advice, as said, on every layer it is about (on its weight,
    or on each of an attention's input projections, a third of in_proj_weight at a time): {call: paths}."""
    applied: dict[str, list[str]] = {}
    for told in torch_init_calls(finding):
        for name in told.layers:
            layer = model.get_submodule(name)
            if told.tensors.startswith("the weight"):
                tensors = [layer.weight]
            elif told.tensors.startswith("each third"):
                tensors = list(layer.in_proj_weight.chunk(3))
            else:
                tensors = [layer.q_proj_weight, layer.k_proj_weight, layer.v_proj_weight]
            with torch.no_grad():
                for tensor in tensors:
                    eval(told.call, {"nn": nn, "weight": tensor})
                if told.zero_biases:
                    nn.init.zeros_(layer.bias)
        applied.setdefault(told.call, []).extend(told.layers)
    return applied


def told_torch_init(finding: Any, scheme: str, layers: list[str] | None = None) -> bool:
    """Whether ``finding`` tells a user's model torch's call for init ``scheme`` first, no recipe change,
    on the layers its evidence lists (:func:`torch_init_calls`): ``layers``, where given, the model's own."""
    return (
        finding.recipe_changes == {}
        and finding.recommendation.startswith(_TORCH_INIT_CALLS[scheme])
        and (layers is None or [n for c in torch_init_calls(finding) for n in c.layers] == layers)
        and bool(torch_init_calls(finding))
    )
