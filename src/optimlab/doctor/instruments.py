"""Instruments: per-layer statistics gathered inside the training step, never by a second pass.

Every step, from one optimizer step pre-hook (after backward, before the weights move):

* **loss**: free, the loop reads it anyway.
* **gradient norms**: one ``torch._foreach_norm`` over every gradient gives the norm of each parameter
  tensor, hence of each layer and of the whole model; the **NaN/Inf check** is fused into it (the
  sum of the norms is finite exactly when every gradient is).

On *detailed* steps (:class:`InstrumentSchedule`: the first steps and every 20th), with forward hooks
attached for that step only:

* **weight norm, update norm, update/weight ratio**: a copy of the weights before the step; with the
  norm of the weights after it, the update's inner product with the weights (**update_dots**): how
  much of it the weight decay is (Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101).
* **activation mean/std**, **saturated fraction** (sigmoid/tanh within 5% of their flat asymptotes,
  where the derivative is below 5% of its peak: Glorot & Bengio 2010, Understanding the difficulty of
  training deep feedforward neural networks, AISTATS), **dead units** (ReLU family never positive over
  the window: Lu et al. 2019, Dying ReLU and Initialization, https://arxiv.org/abs/1903.06733).
* **layer output mean/std/spread** of every layer with parameters, on the first detailed step (what
  init and biases did), and **input feature ranges** at the first Linear/Conv or recurrent layer, over
  the first ``window`` detailed steps (the inputs' scale does not change with training).
* **batch norm rows**: how many examples each batch norm took its batch's statistics over.

Every step, from a forward pre-hook on the model: whether the forward pass the gradient came from ran
in **eval mode** (the other forward hooks read training passes only, so they see nothing of such steps).

Once, at the first non-finite gradient: the **NaN origin**, by replaying that batch's forward pass with
the weights from before the step (:mod:`optimlab.doctor.nan_origin`).

The cost of each is listed in :data:`INSTRUMENTS` (measured by ``benchmarks/doctor_overhead.py``).
Use :class:`Instruments` in any loop (``start``, then ``record_step`` after each optimizer step, then
``stop``), or :class:`optimlab.doctor.DoctorCallback` with :func:`optimlab.train.fit`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.data.user_batches import describe, target_key
from optimlab.doctor.nan_origin import NonFiniteOrigin, locate_non_finite
from optimlab.doctor.skips import ForwardSkips, read_skips
from optimlab.errors import InvalidValueError, OptimlabWarning
from optimlab.models import recipe_fields
from optimlab.number_text import named_and_more
from optimlab.optim.learning_rate import scheduled_lr
from optimlab.registry import POSITIVE_INT, Capability, get_registry
from optimlab.techniques.init import attention_projections, is_transposed_linear
from optimlab.techniques.losses import regression_loss
from optimlab.techniques.norms import is_norm_layer
from optimlab.train.evaluation import class_dim

__all__ = [
    "FLOAT16_EPS",
    "INSTRUMENTS",
    "SATURATION_DERIVATIVE",
    "FeatureStats",
    "Instrument",
    "InstrumentSchedule",
    "Instruments",
    "LayerInfo",
    "LossInputs",
    "OutputStats",
    "ParametersChanged",
    "RunStatistics",
    "eps_lost",
]


@dataclasses.dataclass(frozen=True)
class Instrument:
    """What one instrument measures, when it runs, and what it costs."""

    name: str
    when: str
    cost: str


# Costs measured by benchmarks/doctor_overhead.py on the digits MLP (64-128-128-10, batch 32, 1 thread),
# where a plain training step takes ~400 us: see docs/benchmarks.md.
INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument(
        "loss, loss_trend", "every step", "free: the loop reads the loss anyway; rules read its trend"
    ),
    Instrument(
        "gradient_norm",
        "every step",
        "one foreach norm over all gradients in an optimizer step pre-hook: with the two below, "
        "+4% on a step",
    ),
    Instrument("non_finite", "every step", "fused into the gradient norm: a sum and one scalar read"),
    Instrument(
        "nan_origin input capture, eval_mode",
        "every step",
        "a forward pre-hook keeping a reference to the batch and the model's mode",
    ),
    Instrument(
        "weight_norm, update_norm, update_to_weight_ratio",
        "detailed steps",
        "a copy of the weights before the step and two foreach norms",
    ),
    Instrument(
        "activation_mean, activation_std, saturated_fraction, dead_unit_fraction",
        "detailed steps",
        "a forward hook per activation: one pass of per-unit moments over its output; all detailed "
        "instruments together, every 20th step: +1-2% on the run",
    ),
    Instrument(
        "layer_output_std, input_feature_ranges",
        "first detailed step; first 5 detailed steps",
        "a forward hook per layer; per-feature min/max/moments at the first Linear/Conv or recurrent layer",
    ),
    Instrument(
        "update_dots",
        "detailed steps",
        "one foreach norm of the weights after the step: the update against them",
    ),
    Instrument(
        "batch_norm_rows", "detailed steps", "a forward pre-hook per batch norm reading its input's length"
    ),
    Instrument(
        "nan_origin", "once, at the first non-finite gradient", "one forward pass with a hook on every module"
    ),
)

# The derivative of each saturating activation, relative to its peak, written as a function of the
# activation's *output*: sigmoid' = y(1 - y) (peak 1/4), tanh' = 1 - y^2 (peak 1).
SATURATION_DERIVATIVE: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": lambda y: 4.0 * y * (1.0 - y),
    "tanh": lambda y: 1.0 - y * y,
}
SATURATED_BELOW = 0.05  # a unit whose derivative is under 5% of the peak passes almost no gradient
HISTOGRAM_SAMPLE = 2048  # activation values kept per hooked step, for the report's histograms


@dataclasses.dataclass(frozen=True)
class InstrumentSchedule:
    """On which steps (1-based) the costlier instruments run.

    Attributes:
        first: every one of the first steps is detailed: init problems show before training hides them.
        every: then every ``every``-th step. A detailed step of the digits MLP costs ~1.3x a plain one
            extra (benchmarks/doctor_overhead.py); every 20th keeps that near 6% of the run.
        window: detailed steps over which a unit must stay silent to count as dead (5 x the batch is
            160 examples at batch 32: a live unit fires on some of them), and over which the first
            layer's inputs are measured.
    """

    first: int = 3
    every: int = 20
    window: int = 5

    def __post_init__(self) -> None:
        for name in ("first", "every", "window"):
            value = getattr(self, name)
            if not (POSITIVE_INT.contains(value) or (name == "first" and value == 0)):
                raise InvalidValueError(f"InstrumentSchedule.{name}", value, POSITIVE_INT.accepted_for(value))

    def is_detailed(self, step: int) -> bool:
        return step <= self.first or step % self.every == 0


@dataclasses.dataclass
class LayerInfo:
    """A module that owns parameters, as it was when the instruments started."""

    name: str
    kind: str  # class name: Linear, Conv2d, LayerNorm, ...
    num_params: int
    fan_in: int | None  # inputs per output unit, for Linear and Conv layers; None otherwise
    weight_std: float | None  # std of the weight of a Linear/Conv layer
    bias_mean: float | None
    bias_std: float | None
    # torch's Conv1d/2d/3d, whose units are channels; not Hugging Face's Conv1D, a Linear layer
    convolutional: bool = False
    activation: str | None = None  # registry name of the activation this layer feeds (forward order)
    activation_module: str | None = None
    normalized: bool = False  # a norm layer runs between this layer and its activation
    # The layer that ran first on the very tensor this one reads (an attention's query, key and value
    # read one; not the data), once the forward order is known; None where no other layer reads it.
    shares_input_with: str | None = None
    # An attention's query, key and value in one layer (GPT-2's c_attn): :func:`_projects_qkv`
    projects_qkv: bool = False
    reads_data: bool = False  # its input is the model's own input (a batch), once the forward order is known
    # A recurrent layer's (RNN, LSTM, GRU) std(weight_hh) sqrt(hidden), the largest over its layers and
    # directions: about the spectral radius of its recurrent weights (1 for orthogonal ones, 0.58 at
    # torch's init); None for other modules.
    recurrent_scale: float | None = None
    # Its bias (a norm's shift) per unit, flattened: which units it holds below an activation's 0. Not
    # in the diagnosis's JSON (one number per unit), nor compared.
    bias: Tensor | None = dataclasses.field(default=None, repr=False, compare=False)
    # outputs per input unit as torch.nn.init counts them (out_channels x kernel for a conv), for the
    # layers with a fan_in: with it, the scale xavier_normal_ draws, sqrt(2 / (fan_in + fan_out))
    fan_out: int | None = None
    # An nn.MultiheadAttention's input-projection weights, which no Linear of it holds (in_proj_weight,
    # or q/k/v_proj_weight): what an init draws of it besides its out_proj; () for other modules.
    attention_projections: tuple[str, ...] = ()

    @property
    def has_weight_matrix(self) -> bool:
        return self.fan_in is not None


@dataclasses.dataclass
class OutputStats:
    """One module's output on one detailed step."""

    mean: float
    std: float  # over every element
    max_abs: float
    spread: float = float("nan")  # std across examples, averaged over units (Linear/Conv and activations)
    # A norm layer's: std across the examples of a batch at each place (position, unit), averaged. Over a
    # sequence, ``spread`` counts what varies between positions too: a Perceiver's latents, the same for
    # every example, differ between positions.
    example_spread: float = float("nan")
    saturated_fraction: float | None = None  # saturating activations
    active_units: Tensor | None = None  # ReLU family: bool per unit, positive for some example
    sample: Tensor | None = None  # activations: up to HISTOGRAM_SAMPLE values


@dataclasses.dataclass
class FeatureStats:
    """Per-feature statistics of the inputs to the first Linear/Conv or recurrent layer, over the
    detailed steps.

    A feature is a column of flat inputs, or a channel of images and sequences.
    """

    count: int  # rows, or values per channel (every position of every example)
    minimum: Tensor
    maximum: Tensor
    total: Tensor  # float64 sums, so that means and variances of 0..255 pixels stay exact
    total_squares: Tensor
    unit: str = "feature"  # or "channel"

    @property
    def mean(self) -> Tensor:
        return self.total / self.count

    @property
    def std(self) -> Tensor:
        return (self.total_squares / self.count - self.mean**2).clamp_min(0).sqrt()

    def add(self, x: Tensor) -> None:
        self.count += x.shape[0]
        low, high = torch.aminmax(x, dim=0)
        self.minimum = torch.minimum(self.minimum, low)
        self.maximum = torch.maximum(self.maximum, high)
        wide = x.double()
        self.total += wide.sum(0)
        self.total_squares += wide.square_().sum(0)

    @classmethod
    def of(cls, x: Tensor, unit: str = "feature") -> FeatureStats:
        low, high = torch.aminmax(x, dim=0)
        stats = cls(
            0,
            low,
            high,
            torch.zeros(x.shape[1], dtype=torch.float64),
            torch.zeros(x.shape[1], dtype=torch.float64),
            unit,
        )
        stats.add(x)
        return stats


TARGET_BATCHES = 50  # batches whose targets the doctor keeps: how the batches mix the data


def targets_are_numbers(targets: Tensor, loss_fn: Any) -> bool:
    """Whether ``targets`` are a regression's numbers, not class labels: floating, or of any dtype under
    one of torch's regression losses (:func:`~optimlab.techniques.losses.regression_loss`: integer
    prices are numbers to ``nn.MSELoss``, as fit's evaluation reads them)."""
    return targets.is_floating_point() or regression_loss(loss_fn)


@dataclasses.dataclass(frozen=True)
class LossInputs:
    """What a loss given apart from the model (``loss_fn``) compared at the first step: the outputs'
    and targets' shapes, whether the targets are numbers (a regression's) or labels, the loss's class
    (None for a function), and what the outputs look like as scores: their range, and over the class
    dimension of integer labels (:func:`~optimlab.train.evaluation.class_dim`) how far their sums are from 1
    and their log-sum-exps from 0 (probabilities, log-probabilities); None where there is none."""

    outputs: tuple[int, ...]
    targets: tuple[int, ...]
    numeric_targets: bool
    loss: str | None
    low: float
    high: float
    sum_gap: float | None = None
    logsumexp_gap: float | None = None
    targets_are_inputs: bool = False  # integer targets equal, element for element, to a model input
    ignore_index: int | None = None  # the loss's (CrossEntropyLoss, NLLLoss): targets it leaves out
    label_smoothing: float = 0.0  # CrossEntropyLoss's: the loss's floor is then above 0

    @classmethod
    def of(
        cls,
        outputs: Tensor,
        targets: Tensor,
        loss_fn: Any,
        *,
        targets_are_inputs: bool = False,
    ) -> LossInputs:
        scores = outputs.detach().float()
        numeric = targets_are_numbers(targets, loss_fn)
        dim = None if numeric else class_dim(scores.shape, targets.shape)
        gaps: dict[str, float] = {}
        if dim is not None and scores.numel():
            gaps["sum_gap"] = (scores.sum(dim) - 1).abs().max().item()
            gaps["logsumexp_gap"] = scores.logsumexp(dim).abs().max().item()
        return cls(
            outputs=tuple(outputs.shape),
            targets=tuple(targets.shape),
            numeric_targets=numeric,
            loss=type(loss_fn).__name__ if isinstance(loss_fn, nn.Module) else None,
            low=scores.min().item() if scores.numel() else math.nan,
            high=scores.max().item() if scores.numel() else math.nan,
            targets_are_inputs=targets_are_inputs,
            ignore_index=index if isinstance(index := getattr(loss_fn, "ignore_index", None), int) else None,
            label_smoothing=float(getattr(loss_fn, "label_smoothing", 0.0) or 0.0),
            **gaps,
        )


@dataclasses.dataclass
class RunStatistics:
    """Everything the instruments recorded; the rules read only this.

    ``layers`` are in forward order once a detailed step has run (registration order before).
    Per-step series are aligned: ``steps[i]``, ``losses[i]``, ``lrs[i]``, ``grad_norms[i]``.
    """

    layers: list[LayerInfo]
    param_layer: list[int]  # for each instrumented parameter, the index of its layer in ``layers``
    schedule: InstrumentSchedule
    # Instrumented parameters that are an earlier one again: a weight tied between two modules (GPT-2's
    # lm_head is its wte) counts in each layer that holds it, once in the whole model's norm.
    repeats: list[int] = dataclasses.field(default_factory=list)
    steps: list[int] = dataclasses.field(default_factory=list)
    losses: list[float] = dataclasses.field(default_factory=list)
    lrs: list[float] = dataclasses.field(default_factory=list)
    # The lr a torch scheduler leads the run to, the one the user set (optim.learning_rate.scheduled_lr):
    # above every lr of a run that ended in its warmup; None where not known (no scheduler).
    scheduled_lr: float | None = None
    grad_norms: list[Tensor] = dataclasses.field(default_factory=list)  # per parameter, one per step
    detailed_steps: list[int] = dataclasses.field(default_factory=list)
    weight_norms: dict[int, Tensor] = dataclasses.field(
        default_factory=dict
    )  # step -> per parameter, before it
    update_norms: dict[int, Tensor] = dataclasses.field(default_factory=dict)
    # step -> per parameter, <w_before - w_after, w_before>: how far the update points toward 0, from
    # which the weight_decay_too_high rule separates the decay from the rest of the step.
    update_dots: dict[int, Tensor] = dataclasses.field(default_factory=dict)
    outputs: dict[str, dict[int, OutputStats]] = dataclasses.field(default_factory=dict)  # module -> step
    activations: dict[str, str] = dataclasses.field(default_factory=dict)  # activation module -> name
    # Norm layers (LayerNorm, BatchNorm, GroupNorm, RMSNorm, ...), with trained parameters or without
    # (LayerNorm(elementwise_affine=False)): they reset the signal's scale whatever the init.
    norms: list[str] = dataclasses.field(default_factory=list)
    # The recipe's model fields (model.norm, model.activation, model.init, model.dropout) that change the
    # model, one optimlab built (:func:`optimlab.models.recipe_fields`): the advice names those, with its
    # recipe_changes, and torch's modules in the model's own layer names for the others (a user's model).
    recipe_fields: frozenset[str] = frozenset()
    forward_order: list[str] = dataclasses.field(default_factory=list)  # hooked modules, as they ran
    input_features: FeatureStats | None = None
    input_reader: str | None = None  # the layer that read ``input_features``
    # The inputs of each further layer that reads one of the batch's own tensors, by layer: a model of
    # several inputs (numbers beside an image) reads its second input there, not in the first layer.
    branch_inputs: dict[str, FeatureStats] = dataclasses.field(default_factory=dict)
    non_finite: NonFiniteOrigin | None = None
    loss_inputs: LossInputs | None = None  # what the loss compared at the first step (its rules read it)
    # The targets of the first TARGET_BATCHES batches as they came, on the CPU: how the batches mix
    # the data (the unshuffled_data and target_scale rules).
    batch_targets: list[Tensor] = dataclasses.field(default_factory=list)
    # The first of ``batch_targets`` equals one of the model's inputs: an autoencoder's (target_scale
    # leaves them to input_scale). Read in either door, whether or not the loss is given apart.
    reconstructs_inputs: bool = False
    # The mask the model read beside each of ``batch_targets`` under ``mask_key`` (None where it read
    # none of their shape): which target positions are padding (the padding_in_loss rule).
    batch_masks: list[Tensor | None] = dataclasses.field(default_factory=list)
    # The labels' mask among the model's inputs: attention_mask, or an encoder-decoder's (Hugging Face's
    # T5, BART) decoder_attention_mask: its attention_mask masks the encoder's inputs, not the labels.
    mask_key: str = "attention_mask"
    # The instrumented parameters (indices) that had no gradient at any step so far: the loss does not
    # depend on them (the unused_parameters rule). None before the first step.
    never_graded: set[int] | None = None
    # Trainable parameters this optimizer does not step that had a gradient and kept their values over
    # the steps watched (no other optimizer stepped them either): their module -> values (the
    # unstepped_parameters rule). Filled when the instruments stop.
    unstepped: dict[str, int] = dataclasses.field(default_factory=dict)
    # The eps an Adam-family optimizer (groups with betas) adds to the root of its second moment, the
    # largest over its groups; None for the others (the adaptive_eps rule).
    adam_eps: float | None = None
    # An optimizer's eps that rounds to 0 in the dtype of weights it steps (float16 holds nothing below
    # 6e-8: Adam's and RMSprop's default 1e-8, Adagrad's 1e-10), where it has one (:func:`eps_lost`):
    # where the second moment underflows, the update overflows (the nan_inf rule).
    eps_lost: float | None = None
    # The weight decay of each instrumented parameter's group (0 where it has none, or one that is no
    # number: a schedule, a tensor per member); the weight_decay_too_high rule reads it.
    weight_decays: list[float] = dataclasses.field(default_factory=list)
    # The global norm the run clips its gradients to before each step (a recipe's grad_clip_norm, a
    # Trainer's max_grad_norm), where the caller knows it; None: unclipped, or not known. The advice to
    # clip reads it (rules._readings._clip_in_force).
    grad_clip_norm: float | None = None
    # Each batch norm that normalized by its batch's statistics (training mode, or no running ones) ->
    # the examples (rows) of each such batch on the detailed steps (the batch_norm_batch rule).
    batch_norm_rows: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    # Steps whose forward pass ran with the model in eval mode, and the dropout and batch norm layers
    # (with running statistics) that then behaved as at evaluation (the eval_mode_training rule).
    eval_mode_steps: int = 0
    eval_mode_layers: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> class name
    # Each dropout layer's drop probability p, by name (the dropout_too_high rule).
    dropouts: dict[str, float] = dataclasses.field(default_factory=dict)
    # Modules that add their input to what they compute from it (:mod:`optimlab.doctor.skips`; what fx
    # cannot trace is read on the first detailed step): residual connections are there, and no advice to
    # add them fits.
    residual_blocks: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> class name
    # Modules whose forward the watch could not read whole: it adds a value that carries no graph (the
    # data, what frozen layers computed) to one computed through parameters, a residual connection or not.
    residual_unread: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> class name

    # --- per-layer views ----------------------------------------------------------------------

    def _per_layer(self, per_param: Tensor) -> Tensor:
        """(..., P) parameter norms -> (..., L) layer norms: sqrt of the summed squares."""
        index = torch.tensor(self.param_layer)
        squares = per_param.double().square()
        out = torch.zeros(*squares.shape[:-1], len(self.layers), dtype=torch.float64)
        return out.index_add_(-1, index, squares).sqrt()

    def number_targets(self) -> list[Tensor]:
        """The ``batch_targets`` that are a regression's numbers: floating, or any where the loss reads
        them as numbers (``loss_inputs.numeric_targets``: integers under ``nn.MSELoss``)."""
        numbers = self.loss_inputs is not None and self.loss_inputs.numeric_targets
        return [t for t in self.batch_targets if numbers or t.is_floating_point()]

    def layer_grad_norms(self) -> Tensor:
        """(steps, layers) gradient norm of each layer at each recorded step."""
        if not self.grad_norms:
            return torch.zeros(0, len(self.layers), dtype=torch.float64)
        return self._per_layer(torch.stack(self.grad_norms))

    def global_grad_norms(self) -> Tensor:
        """(steps,) norm of the whole gradient."""
        if not self.grad_norms:
            return torch.zeros(0, dtype=torch.float64)
        squares = torch.stack(self.grad_norms).double().square()
        squares[:, self.repeats] = 0
        return squares.sum(-1).sqrt()

    def layer_weight_norms(self) -> tuple[list[int], Tensor]:
        """Detailed steps with weight norms, and the (steps, layers) norms of the weights each started from."""
        steps = sorted(self.weight_norms)
        if not steps:
            return [], torch.zeros(0, len(self.layers), dtype=torch.float64)
        return steps, self._per_layer(torch.stack([self.weight_norms[s] for s in steps]))

    def update_to_weight_ratios(self) -> tuple[list[int], Tensor]:
        """Detailed steps, and the (steps, layers) ratio |w_after - w_before| / |w_before| per layer."""
        steps = sorted(set(self.update_norms) & set(self.weight_norms))
        if not steps:
            return [], torch.zeros(0, len(self.layers), dtype=torch.float64)
        updates = self._per_layer(torch.stack([self.update_norms[s] for s in steps]))
        weights = self._per_layer(torch.stack([self.weight_norms[s] for s in steps]))
        return steps, updates / weights.clamp_min(1e-30)

    def decay_pulls(self) -> tuple[list[int], Tensor]:
        """Detailed steps, and the (steps, layers) ratio |lr wd w| / |u - lr wd w| of the weight decay
        to the rest of the step u = w_before - w_after, whatever moved it (Adam's direction, the
        gradient): |u - c w|^2 = |u|^2 - 2 c <u, w> + c^2 |w|^2 with c = lr wd. Exact for decoupled
        decay (Loshchilov & Hutter 2019) and for SGD's L2 without momentum; momentum spreads the decay
        over later steps. The lr is the one recorded, the swept param group's
        (:func:`~optimlab.optim.learning_rate.lr_group`): a layer in a group at another lr is off by its
        ratio to it."""
        steps = sorted(set(self.update_dots) & set(self.update_norms) & set(self.weight_norms))
        if not steps or not self.weight_decays:
            return [], torch.zeros(0, len(self.layers), dtype=torch.float64)
        lr_at = dict(zip(self.steps, self.lrs, strict=True))
        c = torch.tensor([[lr_at.get(s, math.nan)] for s in steps], dtype=torch.float64) * torch.tensor(
            self.weight_decays, dtype=torch.float64
        )
        weights = torch.stack([self.weight_norms[s] for s in steps]).double()
        update = torch.stack([self.update_norms[s] for s in steps]).double()
        dots = torch.stack([self.update_dots[s] for s in steps])
        rest = (update.square() - 2 * c * dots + (c * weights).square()).clamp_min(0).sqrt()
        return steps, self._per_layer(c * weights) / self._per_layer(rest).clamp_min(1e-30)

    def layer_index(self, name: str) -> int:
        return next(i for i, layer in enumerate(self.layers) if layer.name == name)

    def activation_modules(self) -> list[str]:
        """Activation modules in forward order."""
        return [name for name in self.forward_order if name in self.activations]

    def feeding_layer(self, activation_module: str) -> LayerInfo | None:
        """The Linear/Conv layer whose output the activation receives (the last one to run before it)."""
        return next((layer for layer in self.layers if layer.activation_module == activation_module), None)


def _units_axis(output: Tensor, conv_before: bool) -> int:
    """Axis of the units: features of (N, F), channels of (N, C, ...); (N, T, C) for token sequences."""
    if output.ndim == 3 and not conv_before:
        return 2
    return 1 if output.ndim >= 2 else 0


def _as_rows(x: Tensor, axis: int) -> Tensor:
    """(rows, units) view: every other axis becomes rows."""
    return x.movedim(axis, -1).reshape(-1, x.shape[axis]) if x.ndim > 1 else x.reshape(-1, 1)


def _summarize(rows: Tensor) -> OutputStats:
    """Mean, std, max |y| and spread of (rows, units) outputs from the per-unit moments.

    The overall variance is the law of total variance: the mean of the units' variances plus the
    variance of their means, so one pass over the rows serves both. The per-unit variance is the mean
    of squared deviations (stable when the mean dwarfs the spread) written out: ``torch.var_mean(dim=0)``
    took 33 us on a 32 x 128 batch against 12 us for these four ops; reading the numbers back in two
    ``tolist`` calls brought the whole summary from 30 to 22 us (1 thread, this machine).
    """
    mean = rows.mean(0)
    var = (rows - mean).square_().mean(0)
    low, high = torch.aminmax(rows)
    shift = (
        mean - mean[0]
    )  # the variance of the means does not change with a shift, which avoids cancellation
    shifted, shifted_squares, unit_var, spread = (
        torch.stack([shift, shift.square(), var, var.sqrt()]).mean(1).tolist()
    )
    first, low_, high_ = torch.stack([mean[0], low, high]).tolist()
    total_var = unit_var + shifted_squares - shifted * shifted
    return OutputStats(
        mean=first + shifted, std=max(total_var, 0.0) ** 0.5, max_abs=max(-low_, high_), spread=spread
    )


def _example_spread(y: Tensor, examples: int | None) -> float:
    """The std across a batch's examples at each place (position, unit), averaged: along the one axis of
    ``y`` of ``examples`` (the batch's count), dim 0 where none or several are, or it is not known (a
    sequence-first layer, torch's default ``batch_first=False``, holds the positions in dim 0). The mean
    of squared deviations written out: ``y.std(0, correction=0)`` took 15 ms on a (32, 64, 256) output
    and 46 ms on a BERT-base's (8, 128, 768) against 0.35 and 1.9 ms for these ops (paired rounds, 1
    thread, benchmarks/example_spread.py), about 1 s a detailed step of its 25 LayerNorms."""
    axes = [axis for axis, size in enumerate(y.shape) if size == examples]
    axis = axes[0] if len(axes) == 1 else 0
    return (y - y.mean(axis, keepdim=True)).square_().mean(axis).sqrt_().mean().item()


# torch's fan-in of a transposed conv's weight (in, out / groups, *kernel) is weight[0].numel() too: the
# fan its init schemes draw with, so that the advised init reads as on scale.
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _fan_in(module: nn.Module) -> int | None:
    """Inputs per output unit of a Linear or Conv layer (a subclass, or a transposed Linear:
    :func:`~optimlab.techniques.init.is_transposed_linear`); None for any other module."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor) or weight.ndim < 2:
        return None
    if isinstance(module, (nn.Linear, *_CONV)):
        return weight[0].numel()
    if is_transposed_linear(module):
        return weight.shape[0]
    return None


def _fan_out(module: nn.Module) -> int:
    """Outputs per input unit of a layer with a :func:`_fan_in`, as torch.nn.init's fans count them: a
    Linear's out_features, a conv's out_channels times its kernel's size, a transposed Linear's columns."""
    weight = module.weight
    if not isinstance(module, (nn.Linear, *_CONV)):  # a transposed Linear: (in, out)
        return weight.shape[1]
    return weight.shape[0] * weight[0][0].numel()


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def check_shaped(model: nn.Module) -> None:
    """Refuse in one line a model holding a lazy parameter that has no shape yet (its lazy layer has not
    run): the instruments size their records by each parameter's shape."""
    lazy = next(
        (n for n, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)), None
    )
    if lazy is not None:
        raise InvalidValueError(
            "model",
            f"a model whose lazy parameter {lazy} has no shape yet",
            "a model whose lazy layers have run: call model(batch) once on a batch first",
        )


def _trained(optimizer: torch.optim.Optimizer) -> frozenset[int]:
    """The parameters ``optimizer`` steps that take a gradient, by id: those the instruments watch."""
    return frozenset(id(p) for group in optimizer.param_groups for p in group["params"] if p.requires_grad)


@dataclasses.dataclass(frozen=True)
class ParametersChanged:
    """The parameters the optimizer trains changed before optimizer step ``step`` (frozen or unfrozen
    mid-run, as Lightning's ``BaseFinetuning`` does, or a group added): ``frozen`` and ``unfrozen`` by
    their names in the model."""

    step: int
    frozen: tuple[str, ...]
    unfrozen: tuple[str, ...]

    def message(self, steps_read: int) -> str:
        """The warning that ends the record, ``steps_read`` steps long."""
        said = "; ".join(
            f"{change}: {named_and_more(names)}"
            for change, names in (("frozen", self.frozen), ("unfrozen", self.unfrozen))
            if names
        )
        return (
            f"optimlab doctor: the parameters the optimizer trains changed at step {self.step} ({said}); "
            f"the diagnosis reads the {steps_read} steps before, those of the parameters watched"
        )


class Instruments:
    """Attaches the instruments to a model and its optimizer (the layers whose parameters it steps),
    and records into :class:`RunStatistics`. They watch the parameters it trains at construction
    (stepped, requiring a gradient); where those change mid-run, the record ends before the step that
    trains others (:class:`ParametersChanged`).

    In a hand-written loop::

        instruments = Instruments(model, optimizer)
        instruments.start(step=0)
        for step in range(1, steps + 1):
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            lr = optimizer_lr(optimizer, step - 1)  # optimlab.optim.learning_rate: the one lr_find sweeps
            optimizer.step()
            instruments.record_step(step, loss.item(), lr)
        instruments.stop()
        instruments.statistics.layer_grad_norms()  # (steps, layers)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: InstrumentSchedule | None = None,
        *,
        guard: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
    ) -> None:
        """``guard``: wraps each hook the instruments put on the model and the optimizer, as it is put
        there (a trainer's callback turns a hook's failure into a warning, not the end of the user's fit)."""
        from optimlab.techniques.activations import activation_name

        self._guard = guard if guard is not None else (lambda hook: hook)
        check_shaped(model)

        schedule = InstrumentSchedule() if schedule is None else schedule
        if not isinstance(schedule, InstrumentSchedule):
            raise InvalidValueError(
                "schedule", describe(schedule), "an InstrumentSchedule, or None for the default"
            )
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        layers, params, param_layer = [], [], []
        self._layer_modules: dict[str, nn.Module] = {}
        self._module_names = {module: name or "(model)" for name, module in model.named_modules()}
        self._activation_modules: dict[str, nn.Module] = {}
        # Embeddings, trained or frozen: where one runs before any Linear/Conv layer, that layer's inputs
        # are its vectors, not the data (token ids, which have no scale to fix).
        self._embeddings = [m for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
        # Recurrent layers (RNN, LSTM, GRU): where one runs first it reads the data, and the first
        # Linear/Conv layer (a head) reads its hidden state, bounded by its tanh.
        self._recurrent = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
        # Layers that compute otherwise in eval mode: dropout (off) and batch norm (running statistics).
        self._mode_dependent = {
            name: m
            for name, m in model.named_modules()
            if (isinstance(m, _DROPOUTS) and m.p > 0)
            or (isinstance(m, _BATCH_NORMS) and m.track_running_stats)
        }
        self._forward_in_eval = False  # the model's last forward pass, in eval mode
        self._eval_mode_step = 0  # the last step counted as trained in eval mode
        activations: dict[str, str] = {}
        norms: dict[str, nn.Module] = {}
        self._trained = _trained(optimizer)
        for name, module in model.named_modules():
            # The parameters this optimizer steps: a layer another one trains (a GAN's) is not its concern.
            own = [p for p in module.parameters(recurse=False) if id(p) in self._trained]
            if own:
                param_layer += [len(layers)] * len(own)
                params += own
                layers.append(_describe_layer(name or "(model)", module, own))
                layers[-1].projects_qkv = _projects_qkv(model, name, module)
                self._layer_modules[name or "(model)"] = module
            if is_norm_layer(module):
                norms[name or "(model)"] = module
            found = activation_name(module)
            if found is not None and found != "identity":
                activations[name] = found
                self._activation_modules[name] = module
        if not params:
            raise InvalidValueError("model", type(model).__name__, "a module with trainable parameters")
        # Trainable, yet outside this optimizer: a GAN's other half, a frozen part, or a forgotten one.
        self._outside = {
            name: p for name, p in model.named_parameters() if p.requires_grad and id(p) not in self._trained
        }
        self._outside_ungraded = dict(self._outside)  # left once one has a gradient: looked at no more
        # Linear/Conv layers none of whose weights are trained (a frozen pretrained backbone): where one
        # runs first it reads the data, and the first trained layer reads its features, which no data
        # scaling reaches. Not a container or the model holding a frozen constant: it reads its inputs
        # before its own forward has scaled them.
        self._untrained = {
            self._module_names[m]: m
            for m in model.modules()
            if _fan_in(m) is not None and not any(id(p) in self._trained for p in m.parameters(recurse=False))
        }
        self._outside_norms: Tensor | None = None
        self._params = params
        self._zero = torch.zeros((), device=params[0].device)
        first_of: dict[int, int] = {}
        skips = read_skips(model)
        self.statistics = RunStatistics(
            layers=layers,
            param_layer=param_layer,
            schedule=schedule,
            repeats=[i for i, p in enumerate(params) if first_of.setdefault(id(p), i) != i],
            activations=activations,
            norms=list(norms),
            recipe_fields=recipe_fields(model),
            adam_eps=_adam_eps(optimizer),
            eps_lost=eps_lost(optimizer),
            weight_decays=_weight_decays(optimizer, params),
            dropouts={
                name: float(m.p) for name, m in self._mode_dependent.items() if isinstance(m, _DROPOUTS)
            },
            residual_blocks=dict(skips.found),
            mask_key=(
                "decoder_attention_mask"
                if getattr(getattr(model, "config", None), "is_encoder_decoder", False) is True
                else "attention_mask"
            ),
        )
        capabilities = get_registry("activation")
        self._saturating = {
            m
            for m, a in activations.items()
            if a in SATURATION_DERIVATIVE and Capability.SATURATING in capabilities.get(a).capabilities
        }
        self._relu_family = {
            m for m, a in activations.items() if Capability.RELU_FAMILY in capabilities.get(a).capabilities
        }
        self._handles: list[Any] = []  # hooks of the current detailed step
        self._permanent: list[Any] = []  # the step pre-hook and the input capture
        self._step = 0
        # Set before the first step that trains other parameters than those watched; the record ends there.
        self.parameters_changed: ParametersChanged | None = None
        self._pending_norms: Tensor | None = None
        self._scaler_skipped = False  # gradients_ready: the GradScaler skips this step (they overflowed)
        self._weights_before: list[Tensor] | None = None
        self._last_input: tuple[Any, ...] = ()
        self._last_kwargs: dict[str, Any] = {}  # a model called with named inputs (Hugging Face)
        self._last_target: Any = None  # where the loss is given apart from the model
        self._order_known = False
        self._first_layer_seen = False
        # On the first detailed step: each input tensor a layer read, kept alive so that its id is not
        # reused, with the first layer that read it.
        self._first_readers: dict[int, tuple[Tensor, str]] = {}
        self._last_layer_is_conv = False  # of the Linear/Conv layer that ran last, for the units' axis
        self._conv_feeds: dict[str, bool] = {}  # activation -> fed by a Conv, once the forward order is known
        # (register, hook) pairs, built once: a detailed step only registers them.
        self._hook_plan: list[tuple[Callable[[Callable[..., None]], Any], Callable[..., None]]] = [
            (module.register_forward_pre_hook, self._record_inputs)
            for module in (*self._embeddings, *self._recurrent, *self._untrained.values())
        ]
        for layer in layers:
            module = self._layer_modules[layer.name]
            if layer.has_weight_matrix:
                self._hook_plan.append((module.register_forward_pre_hook, self._record_inputs))
            self._hook_plan.append((module.register_forward_hook, self._layer_hook(layer)))
        for name, module in self._activation_modules.items():
            self._hook_plan.append((module.register_forward_hook, self._activation_hook(name)))
        # Norms without trained parameters and untrained layers have no layer hook: this one places them
        # in the forward order (a batch norm after a frozen first layer normalizes the data it read).
        self._hook_plan += [
            (module.register_forward_hook, lambda *_, name=name: self._ran(name))
            for name, module in (*norms.items(), *self._untrained.items())
            if name not in self._layer_modules
        ]
        self._batch_norm_hooks = [
            (module.register_forward_pre_hook, self._batch_norm_hook(name))
            for name, module in model.named_modules()
            if isinstance(module, _BATCH_NORMS)
        ]
        self._hook_plan += self._batch_norm_hooks
        # What fx could not read of the residual connections, read off the first detailed step's forward.
        watch = ForwardSkips(self.statistics.residual_blocks, self.statistics.residual_unread)
        self._skip_hooks = [
            (functools.partial(module.register_forward_hook, with_kwargs=True), watch.hook(name))
            for name, module in skips.watched.items()
        ]
        self._hook_plan += self._skip_hooks

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, step: int = 0, *, gradients_at_step: bool = True) -> None:
        """Attach the every-step instruments; ``step`` is the number of steps already taken.

        ``gradients_at_step=False``: the gradients are not ready when ``optimizer.step`` begins (a
        trainer that runs the backward pass in a closure inside the step, as Lightning does), so the
        caller calls :meth:`gradients_ready` once they are, before the weights move.
        """
        self._step = step
        if self._outside and self._outside_norms is None:
            self._outside_norms = _norms(self._outside.values())
        self._permanent = [
            self.model.register_forward_pre_hook(self._guard(self._keep_input), with_kwargs=True)
        ]
        if gradients_at_step:
            self._permanent.append(
                self.optimizer.register_step_pre_hook(self._guard(self._before_optimizer_step))
            )
        if self.schedule.is_detailed(step + 1):
            self._attach_forward_hooks()

    def record_step(self, step: int, loss: float, lr: float) -> None:
        """Call after each optimizer step with the 1-based step number, its loss and lr. Where the step
        trained other parameters than those watched (:attr:`parameters_changed`), the record ends
        before it: the instruments stop, said in one :class:`OptimlabWarning`."""
        if self.parameters_changed is not None:
            if self._permanent:  # the first step since the change
                self.stop()
                warnings.warn(
                    self.parameters_changed.message(len(self.statistics.steps)), OptimlabWarning, stacklevel=2
                )
            return
        norms = self._pending_norms
        if norms is None:  # the optimizer did not step (e.g. an AMP scaler skipped it)
            norms = torch.full((len(self._params),), math.nan)
        self._pending_norms = None
        stats = self.statistics
        stats.steps.append(step)
        stats.losses.append(loss)
        stats.lrs.append(lr)
        stats.grad_norms.append(norms)
        if not math.isfinite(loss) and stats.non_finite is None:
            stats.non_finite = NonFiniteOrigin(
                step=step,
                kind="loss",
                module=None,
                detail=f"the loss is {loss} while every gradient is finite",
            )
        if self._handles:
            self._finish_detailed_step(step)
        self._step = step
        if self.schedule.is_detailed(step + 1):
            self._attach_forward_hooks()

    def record_targets(self, step: int, target: Any, inputs: Iterable[Any] = ()) -> None:
        """Keep the targets of step ``step``'s batch (tensors; the first :data:`TARGET_BATCHES` steps;
        once a step, however often its closure runs), with the mask the model read under
        ``statistics.mask_key`` where it has their shape; the last ones for the NaN origin. Called after
        the model's forward pass; ``inputs``: the batch's other parts, where a trainer's step may call a
        part of the model (its inputs are then not the model's): whether the first targets equal an
        input, an autoencoder's."""
        if self.parameters_changed is not None:
            return
        self._last_target = target
        kept = self.statistics.batch_targets
        if isinstance(target, Tensor) and target.ndim >= 1 and len(kept) < min(step, TARGET_BATCHES):
            if not kept and target.is_floating_point():
                alike = self._inputs_like(target, inputs)
                self.statistics.reconstructs_inputs = any(torch.equal(x, target) for x in alike)
            kept.append(target.detach().to("cpu", copy=True))
            mask = self._last_kwargs.get(self.statistics.mask_key)
            same = isinstance(mask, Tensor) and mask.shape == target.shape
            self.statistics.batch_masks.append(mask.detach().to("cpu", copy=True) if same else None)

    def record_loss_inputs(self, prediction: Any, target: Any, loss_fn: Any) -> None:
        """What ``loss_fn`` (given apart from the model) compared: :class:`LossInputs`, where the
        outputs and the targets are tensors, and whether integer targets are one of the model's inputs
        (token ids not shifted) wherever they are labels: a negative target (-100, cross-entropy's
        ignored one, where Hugging Face's collators pad) is none."""
        if self.parameters_changed is not None:
            return
        if isinstance(prediction, Tensor) and isinstance(target, Tensor) and prediction.is_floating_point():
            labelled = target >= 0 if not target.is_floating_point() else None
            copied = (
                labelled is not None
                and bool(labelled.any())
                and any(
                    not x.is_floating_point() and torch.equal(x[labelled], target[labelled])
                    for x in self._inputs_like(target)
                )
            )
            self.statistics.loss_inputs = LossInputs.of(
                prediction, target, loss_fn, targets_are_inputs=copied
            )

    def _inputs_like(self, target: Tensor, inputs: Iterable[Any] = ()) -> list[Tensor]:
        """The tensors of ``target``'s shape among the model's last inputs and ``inputs``, less the
        target itself: a model that takes its labels (``model(**batch)``, Hugging Face's) reads them as
        an input, which makes it no autoencoder."""
        held = target_key(self._last_kwargs)
        named = (v for k, v in self._last_kwargs.items() if k != held)
        given = (*self._last_input, *named, *inputs)
        return [x for x in given if isinstance(x, Tensor) and x is not target and x.shape == target.shape]

    def stop(self) -> None:
        """Remove every hook; the statistics stay, with the lr a scheduler leads the run to (read here:
        a scheduler may be made after :meth:`start`)."""
        self.statistics.scheduled_lr = scheduled_lr(self.optimizer)
        for handle in [*self._handles, *self._permanent]:
            handle.remove()
        self._handles, self._permanent = [], []
        self._weights_before, self._last_input, self._last_kwargs, self._last_target = None, (), {}, None
        if self._outside_norms is not None:
            kept = _norms(self._outside.values()) == self._outside_norms
            unstepped: dict[str, int] = defaultdict(int)
            for (name, p), same in zip(self._outside.items(), kept.tolist(), strict=True):
                if same and name not in self._outside_ungraded:
                    unstepped[name.rpartition(".")[0] or "(model)"] += p.numel()
            self.statistics.unstepped = dict(unstepped)

    # --- every step ---------------------------------------------------------------------------

    def _keep_input(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # A reference, not a copy: only the NaN origin replay reads it, and only once.
        if torch.is_grad_enabled():  # a pass under no_grad (an evaluation) gives no gradient
            self._forward_in_eval = not module.training
        if module.training:
            self._last_input, self._last_kwargs = args, kwargs

    def gradients_ready(self, scale: float = 1.0, *, scaler_skips: bool = False) -> bool:
        """Read the gradients of this step now, before ``optimizer.step`` (after
        ``start(gradients_at_step=False)``, or before a loop clips them): a step's first reading is
        its own, the step pre-hook's or a second loss evaluation's (SAM's, at perturbed weights) then
        left out. ``scale``: the gradients are that multiple of the step's (float16's GradScaler's
        scale, before ``unscale_``); ``scaler_skips``: a GradScaler skips the step where they are not
        finite (an overflow, as intended): then they are not read, the step recorded without norms as
        where the step pre-hook does not fire. Returns whether the GradScaler skips this step."""
        self._scaler_skipped = False
        self._before_optimizer_step(self.optimizer, (), {}, scale, scaler_skips)
        return self._scaler_skipped

    def gradients_unread(self) -> None:
        """Forget this step's reading: the optimizer did not step on the gradients read (a micro-batch
        of accumulation, which a loop clipped before the next one added to them), nor from the weights
        copied then: where the step's own read is left out, no update is measured."""
        self._pending_norms = self._weights_before = None

    def _before_optimizer_step(
        self, optimizer: Any, args: Any, kwargs: Any, scale: float = 1.0, scaler_skips: bool = False
    ) -> None:
        # read already this step (:meth:`gradients_ready`), or the record ended
        if self._pending_norms is not None or self.parameters_changed is not None:
            return
        trained = _trained(self.optimizer)
        if trained != self._trained:  # a frozen parameter's missing gradient would read as a norm of 0
            self._parameters_changed(trained)
            return
        grads = [self._zero if p.grad is None else p.grad for p in self._params]
        seen = self.statistics.never_graded  # only those still without one are looked at again
        still = range(len(self._params)) if seen is None else seen
        self.statistics.never_graded = {i for i in still if self._params[i].grad is None}
        if self._outside_ungraded:
            for name in [n for n, p in self._outside_ungraded.items() if p.grad is not None]:
                del self._outside_ungraded[name]
        # the gradient came from a forward pass in eval mode; counted once a step, however often it is
        # read (a loop clipping each micro-batch is read on each, gradients_unread between)
        if self._forward_in_eval and self._eval_mode_step != self._step + 1:
            self._eval_mode_step = self._step + 1
            self._note_eval_mode()
        norms = torch.stack(torch._foreach_norm(grads))
        if scale != 1.0:
            norms = norms / scale
        finite = math.isfinite(norms.sum().item())
        if scaler_skips and not finite:
            self._scaler_skipped = True
            return
        self._pending_norms = norms
        step = self._step + 1
        if not finite and self.statistics.non_finite is None:
            self._detach_forward_hooks()  # the replay must not count as a detailed step
            self.statistics.non_finite = locate_non_finite(
                self.model,
                self._last_input,
                self._last_kwargs,
                target=self._last_target,
                step=step,
                gradients={
                    layer.name: self._layer_grads_finite(i) for i, layer in enumerate(self.statistics.layers)
                },
                forward_order=[layer.name for layer in self.statistics.layers],
            )
        if self._handles and finite:
            self._weights_before = [p.detach().clone() for p in self._params]

    def _parameters_changed(self, trained: frozenset[int]) -> None:
        """End the record before this step, which trains ``trained``: its forward hooks come off now, the
        others at :meth:`record_step` (not inside the optimizer's step pre-hooks, which torch iterates)."""
        names = {id(p): name for name, p in self.model.named_parameters()}

        def named(ids: frozenset[int]) -> tuple[str, ...]:
            inside = tuple(name for i, name in names.items() if i in ids)
            return inside + ("one outside the model",) * (len(ids) - len(inside))

        self.parameters_changed = ParametersChanged(
            self._step + 1, named(self._trained - trained), named(trained - self._trained)
        )
        self._detach_forward_hooks()

    def _note_eval_mode(self) -> None:
        stats = self.statistics
        stats.eval_mode_steps += 1
        stats.eval_mode_layers.update(
            (name, type(m).__name__) for name, m in self._mode_dependent.items() if not m.training
        )

    def _layer_grads_finite(self, index: int) -> bool:
        return all(
            p.grad is None or bool(torch.isfinite(p.grad).all())
            for p, layer in zip(self._params, self.statistics.param_layer, strict=True)
            if layer == index
        )

    # --- detailed steps -----------------------------------------------------------------------

    def _attach_forward_hooks(self) -> None:
        self._first_layer_seen = False
        self._handles = [register(self._guard(hook)) for register, hook in self._hook_plan]

    def _detach_forward_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _ran(self, name: str) -> None:
        if not self._order_known and name not in self.statistics.forward_order:
            self.statistics.forward_order.append(name)

    def _record_inputs(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        """Forward pre-hook of every Linear/Conv layer, embedding, recurrent and untrained layer; the
        first to run in a step records (not an embedding's ids), and so does a later one reading one of
        the batch's own tensors (:attr:`RunStatistics.branch_inputs`). A layer in eval mode inside a
        model in training (a frozen backbone's ``.eval()``) counts."""
        if not (module.training or self.model.training) or not args:
            return
        x = args[0].data if isinstance(args[0], nn.utils.rnn.PackedSequence) else args[0]
        stats = self.statistics
        if not self._first_layer_seen:
            self._first_layer_seen = True
            stats.input_features = _with_features(stats.input_features, module, x)
            stats.input_reader = self._module_names[module]
        elif any(x is given for given in (*self._last_input, *self._last_kwargs.values())):
            name = self._module_names[module]
            features = _with_features(stats.branch_inputs.get(name), module, x)
            if features is not None:
                stats.branch_inputs[name] = features

    def _batch_examples(self) -> int | None:
        """The examples in the batch the model reads: its first input tensor's length (None for none).
        Known limit: a sequence-first input (T, B, E), torch's word_language_model's, gives T, and
        :func:`_example_spread` then reads the spread across positions. The batch's targets, whose
        length would tell B, are recorded after the forward pass (:meth:`record_targets`): not at hand
        in the norms' hooks, which run inside it, and the previous step's are none at the first step, the
        one init_scale's drowned norms read."""
        given = (*self._last_input, *self._last_kwargs.values())
        return next((x.shape[0] for x in given if isinstance(x, Tensor) and x.ndim > 0), None)

    def _note_reader(self, name: str, x: Tensor) -> None:
        """Pair layer ``name`` with the first layer that read its input ``x``; where ``x`` is the data,
        note that it reads the data instead: branches from the model's input have no layer upstream
        the signal could reach."""
        if any(x is given for given in (*self._last_input, *self._last_kwargs.values())):
            self.statistics.layers[self.statistics.layer_index(name)].reads_data = True
            return
        first = self._first_readers.setdefault(id(x), (x, name))[1]
        if first != name:
            layer = self.statistics.layers[self.statistics.layer_index(name)]
            layer.shares_input_with = layer.shares_input_with or first

    def _layer_hook(self, layer: LayerInfo) -> Callable[..., None]:
        name, matrix, conv = layer.name, layer.has_weight_matrix, layer.convolutional
        norm = is_norm_layer(self._layer_modules[name])

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not module.training or not isinstance(output, Tensor):
                return
            self._ran(name)
            if not self._order_known and args and isinstance(args[0], Tensor):
                self._note_reader(name, args[0])
            if matrix:
                self._last_layer_is_conv = conv
            y = output.detach().float()
            record = _summarize(_as_rows(y, _units_axis(y, self._last_layer_is_conv)))
            if norm and y.ndim > 1:
                record.example_spread = _example_spread(y, self._batch_examples())
            self._record(name, record)

        return hook

    def _activation_hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not module.training or not isinstance(output, Tensor):
                return
            self._ran(name)
            y = output.detach().float()
            rows = _as_rows(y, _units_axis(y, self._conv_feeds.get(name, self._last_layer_is_conv)))
            record = _summarize(rows)
            record.sample = y.reshape(-1)[:HISTOGRAM_SAMPLE].clone()
            if name in self._saturating:
                derivative = SATURATION_DERIVATIVE[self.statistics.activations[name]](y)
                record.saturated_fraction = (derivative < SATURATED_BELOW).float().mean().item()
            if name in self._relu_family:
                record.active_units = (rows > 0).any(0)
            self._record(name, record)

        return hook

    def _batch_norm_hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            uses_batch = module.training or getattr(module, "running_mean", None) is None
            if uses_batch and args and isinstance(args[0], Tensor) and args[0].ndim >= 2:
                self.statistics.batch_norm_rows.setdefault(name, []).append(args[0].shape[0])

        return hook

    def _record(self, name: str, stats: OutputStats) -> None:
        self.statistics.outputs.setdefault(name, {})[self._step + 1] = stats

    def _finish_detailed_step(self, step: int) -> None:
        self._detach_forward_hooks()
        if self._skip_hooks:  # read once
            read = {id(entry) for entry in self._skip_hooks}
            self._hook_plan = [entry for entry in self._hook_plan if id(entry) not in read]
            self._skip_hooks = []
        stats = self.statistics
        stats.detailed_steps.append(step)
        if self._weights_before is not None:
            before, self._weights_before = self._weights_before, None
            stats.weight_norms[step] = torch.stack(torch._foreach_norm(before)).cpu()
            after = [p.detach() for p in self._params]
            torch._foreach_sub_(before, after)  # in place: minus the update
            stats.update_norms[step] = torch.stack(torch._foreach_norm(before)).cpu()
            # <w - w', w> = (|w|^2 + |w - w'|^2 - |w'|^2) / 2, the weights before being gone: one more
            # foreach norm (16 us on the digits MLP, against 73 us for a torch.dot a parameter)
            now = torch.stack(torch._foreach_norm(after)).cpu()
            squares = [n.double().square() for n in (stats.weight_norms[step], stats.update_norms[step], now)]
            stats.update_dots[step] = (squares[0] + squares[1] - squares[2]) / 2
        if not self._order_known and stats.forward_order:
            self._order_known = True
            self._first_readers.clear()
            self._apply_forward_order()
        if self._order_known:
            self._trim_hook_plan()

    def _apply_forward_order(self) -> None:
        """Sort layers by when they ran; pair each activation with the layer that feeds it, and note the
        layers whose output a norm layer rescales on the way."""
        stats = self.statistics
        position = {name: i for i, name in enumerate(stats.forward_order)}
        previous: LayerInfo | None = None
        for name in stats.forward_order:
            if name in stats.activations:
                if previous is not None and previous.activation is None:
                    previous.activation, previous.activation_module = stats.activations[name], name
            elif name in stats.norms:
                if previous is not None and previous.activation is None:
                    previous.normalized = True
            elif name in self._untrained:
                previous = None  # an untrained layer's outputs: what follows reads them, not previous'
            elif (layer := stats.layers[stats.layer_index(name)]).has_weight_matrix:
                previous = layer
        order = sorted(
            range(len(stats.layers)), key=lambda i: (position.get(stats.layers[i].name, len(position)), i)
        )
        new_index = {old: new for new, old in enumerate(order)}
        stats.layers = [stats.layers[i] for i in order]
        stats.param_layer = [new_index[i] for i in stats.param_layer]

    def _trim_hook_plan(self) -> None:
        """After the first detailed step, keep only the hooks later steps need: each activation's, and
        the input pre-hooks of the first Linear/Conv layer, the embeddings, the recurrent and the untrained
        layers (one of them reads the data) for the first ``window`` detailed steps (the
        inputs' scale does not change with training). Layer outputs matter at the start only (init
        scale, biases). This cut a detailed step of the digits MLP from ~820 to ~600 us extra."""
        stats = self.statistics
        ran = set(stats.forward_order)
        first = next((layer for layer in stats.layers if layer.has_weight_matrix and layer.name in ran), None)
        inputs_wanted = first is not None and len(stats.detailed_steps) < self.schedule.window
        readers = [  # the first Linear/Conv layer, and those of other branches from the data
            self._layer_modules[layer.name]
            for layer in stats.layers
            if layer is first or (layer.reads_data and layer.name in stats.branch_inputs)
        ]
        plan = (
            [
                (module.register_forward_pre_hook, self._record_inputs)
                for module in dict.fromkeys(
                    (*self._embeddings, *self._recurrent, *self._untrained.values(), *readers)
                )
            ]
            if inputs_wanted
            else []
        )
        for name, module in self._activation_modules.items():
            feeding = stats.feeding_layer(name)
            self._conv_feeds[name] = feeding is not None and feeding.convolutional
            plan.append((module.register_forward_hook, self._activation_hook(name)))
        self._hook_plan = plan + self._batch_norm_hooks


def _with_features(features: FeatureStats | None, module: nn.Module, x: Any) -> FeatureStats | None:
    """``features`` with ``x``, the inputs ``module`` read, added per feature (per channel for a conv
    layer); as they were for an embedding's ids, for what is no float tensor, and for inputs of another
    width."""
    if not isinstance(x, Tensor) or isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return features
    if not x.is_floating_point() or x.ndim == 0:
        return features
    conv = isinstance(module, _CONV)
    rows = _as_rows(x.detach().float(), _units_axis(x, conv))
    if features is None:
        return FeatureStats.of(rows, "channel" if conv else "feature")
    if features.minimum.shape[0] == rows.shape[1]:
        features.add(rows)
    return features


def _adam_eps(optimizer: torch.optim.Optimizer) -> float | None:
    """The largest eps of the groups with betas and a number eps: Adam's denominator sqrt(v) + eps
    (Adam, AdamW, NAdam, RAdam, Adamax, LAMB; not Adadelta, whose eps sits inside the root)."""
    found = [
        float(group["eps"])
        for group in optimizer.param_groups
        if "betas" in group and isinstance(group.get("eps"), (int, float))
    ]
    return max(found, default=None)


# An eps that float16 holds as a normal number (its least normal is 6.1e-5): the usual choice for an
# adaptive optimizer's weights kept in float16.
FLOAT16_EPS = 1e-4


def eps_lost(optimizer: torch.optim.Optimizer) -> float | None:
    """The eps above 0 of a group that its floating weights' dtype rounds to 0 (Adam's 1e-8, RMSprop's
    1e-8, Adagrad's 1e-10 in float16: any optimizer that adds an eps to a root of its second moment,
    with betas or not), else None: where that moment underflows too, the update overflows at any lr."""
    return next(
        (
            float(group["eps"])
            for group in optimizer.param_groups
            if isinstance(group.get("eps"), (int, float)) and group["eps"] > 0
            for p in group["params"]
            if p.is_floating_point() and torch.tensor(group["eps"], dtype=p.dtype).item() == 0
        ),
        None,
    )


def _weight_decays(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> list[float]:
    """The weight decay of each of ``params``' param group: a number, else 0."""
    by_param = {}
    for group in optimizer.param_groups:
        decay = group.get("weight_decay", 0.0)
        number = float(decay) if isinstance(decay, (int, float)) and not isinstance(decay, bool) else 0.0
        by_param.update((id(p), number) for p in group["params"])
    return [by_param.get(id(p), 0.0) for p in params]


def _norms(tensors: Iterable[Tensor]) -> Tensor:
    """Each tensor's norm in float64, on the CPU: a fingerprint of its values."""
    return torch.stack([t.detach().double().norm() for t in tensors]).cpu()


# Where an attention module keeps its number of heads: torch, timm and GPT-2 (num_heads), nanoGPT (n_head)
_HEAD_COUNTS = ("num_heads", "n_head", "n_heads", "num_attention_heads")


def _projects_qkv(model: nn.Module, name: str, module: nn.Module) -> bool:
    """A Linear layer (or Hugging Face's Conv1D) with 3x as many outputs as inputs, held by a module that
    counts attention heads: the query, key and value of GPT-2's and nanoGPT's c_attn, timm's qkv."""
    fan_in = _fan_in(module)
    if fan_in is None or not name:
        return False
    holder = model.get_submodule(name.rpartition(".")[0])
    heads = any(isinstance(getattr(holder, attribute, None), int) for attribute in _HEAD_COUNTS)
    return heads and module.weight.numel() == 3 * fan_in * fan_in


def _describe_layer(name: str, module: nn.Module, params: list[nn.Parameter]) -> LayerInfo:
    weight = getattr(module, "weight", None)
    bias = getattr(module, "bias", None)
    fan_in = _fan_in(module)
    matrix = fan_in is not None and weight.numel() > 1
    with torch.no_grad():
        return LayerInfo(
            name=name or type(module).__name__,
            kind=type(module).__name__,
            num_params=sum(p.numel() for p in params),
            fan_in=fan_in,
            weight_std=_spread(weight) if matrix else None,
            bias_mean=bias.float().mean().item() if isinstance(bias, Tensor) and bias.numel() else None,
            bias_std=bias.float().std().item() if isinstance(bias, Tensor) and bias.numel() > 1 else None,
            convolutional=isinstance(module, _CONV),
            recurrent_scale=_recurrent_scale(module),
            fan_out=None if fan_in is None else _fan_out(module),
            attention_projections=attention_projections(module)
            if isinstance(module, nn.MultiheadAttention)
            else (),
            # on the CPU: the statistics keep no tensor of the model's device alive
            bias=bias.detach().float().flatten().to("cpu", copy=True)
            if isinstance(bias, Tensor) and bias.numel()
            else None,
        )


def _spread(weight: Tensor) -> float:
    """The std of ``weight``'s entries, exactly 0 where they are all equal (a constant init): torch's std of
    a constant float32 tensor rounds to about 1e-7 of its value."""
    flat = weight.detach().flatten()
    return 0.0 if bool((flat == flat[0]).all()) else flat.float().std().item()


def _recurrent_scale(module: nn.Module) -> float | None:
    """std(W) sqrt(hidden) of each recurrent weight ``weight_hh*`` of an RNN, LSTM or GRU, the largest:
    the spectral radius a random matrix of that std has (Girko's circular law); None for other modules."""
    if not isinstance(module, nn.RNNBase):
        return None
    with torch.no_grad():
        scales = [
            p.float().std().item() * math.sqrt(p.shape[1])
            for name, p in module.named_parameters()
            if name.startswith("weight_hh") and p.numel() > 1
        ]
    return max(scales, default=None)
