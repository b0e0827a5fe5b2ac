"""Loss functions by name, each marked "classification" or "regression" so the trainer knows its metric.

Classification losses take class-index targets (cross_entropy) or 0/1 and soft float targets (bce);
regression losses take float targets. Pointwise losses reshape a target that differs from the
prediction only by dimensions of size 1 to the prediction's shape, so that ``(N,)`` targets against
``(N, 1)`` outputs are compared element by element instead of being broadcast to ``(N, N)``. The
user's own loss by import path (``training: {loss: "mypkg.losses:Focal", loss_options: {...}}``) is a
loss factory ``fn(**loss_options) -> nn.Module`` called as ``loss(outputs, targets)``, or a loss
function ``fn(outputs, targets, **loss_options)`` taken as it is (:func:`adapt_loss`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from optimlab.errors import InvalidValueError
from optimlab.registry import POSITIVE, Capability, Interval, new_registry
from optimlab.user_modules import module_factory

__all__ = [
    "REGRESSION_LOSSES",
    "ClassesLast",
    "CrossEntropyReading",
    "LossFunction",
    "PointwiseLoss",
    "adapt_loss",
    "bce",
    "create",
    "cross_entropy",
    "cross_entropy_reading",
    "huber",
    "ignored_label",
    "leaves_out_some",
    "loss_name",
    "mse",
    "regression_loss",
    "takes_integer_targets",
]

_REGISTRY = new_registry("loss")

# torch's losses of a regression's values, compared elementwise with their targets: under them integer
# targets are no classes, and the outputs must have the targets' shape.
REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)
# their functions, each read as its module (as cross_entropy is read as CrossEntropyLoss)
_REGRESSION_FUNCTIONS = (
    nn.functional.mse_loss,
    nn.functional.l1_loss,
    nn.functional.smooth_l1_loss,
    nn.functional.huber_loss,
)


def adapt_loss(path: str, target: Any) -> Callable[..., nn.Module]:
    """``target`` as a loss factory ``fn(**loss_options) -> nn.Module``: a class or factory of the module,
    or a loss function ``fn(outputs, targets, **loss_options)`` itself (its first two parameters have no
    default: ``torch.nn.functional:cross_entropy``), made a module by :class:`LossFunction`."""
    if not _is_loss_function(target):
        return module_factory(path, target, "loss", ())
    signature = inspect.signature(target)
    options = list(signature.parameters.values())[2:]

    def factory(**given: Any) -> nn.Module:
        return LossFunction(target, **given)

    factory.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
    factory.__doc__ = target.__doc__
    return factory


def _is_loss_function(target: Any) -> bool:
    """Whether ``target`` is called as ``target(outputs, targets, ...)``: a function (not a class) whose
    first two parameters are positional without a default (a factory's have defaults: loss_options)."""
    if isinstance(target, type) or not callable(target):
        return False
    try:
        parameters = list(inspect.signature(target).parameters.values())[:2]
    except (TypeError, ValueError):  # a builtin without a signature: left to the factory's checks
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return len(parameters) == 2 and all(p.kind in positional and p.default is p.empty for p in parameters)


class LossFunction(nn.Module):
    """A loss function ``fn(outputs, targets, **options)`` as the module a recipe's loss is."""

    def __init__(self, fn: Callable[..., Tensor], **options: Any) -> None:
        super().__init__()
        self.fn, self.options = fn, options

    def forward(self, outputs: Any, targets: Any) -> Tensor:
        return self.fn(outputs, targets, **self.options)

    def extra_repr(self) -> str:
        given = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{getattr(self.fn, '__qualname__', self.fn)}{given}"


_REGISTRY.adapt_import = adapt_loss  # the user's loss by import path


class PointwiseLoss(nn.Module):
    """A torch loss of prediction and float target that first gives the target the prediction's shape,
    where the two differ only by dimensions of size 1 (``(N,)`` targets of ``(N, 1)`` outputs); a target
    of other dimensions is refused, as torch's losses refuse it, even of as many elements: ``(2, 3)``
    reshaped to ``(3, 2)`` would pair each output with another example's target."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        if _sized(target.shape) != _sized(prediction.shape):
            raise InvalidValueError(
                "target shape",
                tuple(target.shape),
                f"the shape of the prediction {tuple(prediction.shape)}, dimensions of size 1 aside",
            )
        return self.loss(prediction, target.to(prediction.dtype).reshape(prediction.shape))


def _sized(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without its dimensions of size 1."""
    return tuple(size for size in shape if size != 1)


class ClassesLast(nn.Module):
    """A loss of class scores ``(M, C)`` against ids ``(M,)``, applied to scores ``(N, ..., C)`` against ids
    ``(N, ...)``: every position one row, as next-token logits ``(N, T, V)`` are read (torch's losses take
    the classes at dim 1 instead, the positions of ``(N, T, V)`` against ``(N, T)``)."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        if prediction.shape[:-1] != target.shape:
            raise InvalidValueError(
                "target shape",
                tuple(target.shape),
                f"{tuple(prediction.shape[:-1])}: one class id per position of the scores "
                f"{tuple(prediction.shape)}, classes last",
            )
        return self.loss(prediction.flatten(0, -2), target.flatten())


@dataclasses.dataclass(frozen=True)
class _Smoothing(Interval):
    """Label smoothing in [0, 1), saying why 1 is refused."""

    def __str__(self) -> str:
        return f"{super().__str__()}: at 1 every target is the uniform distribution, so the labels go unused"


@_REGISTRY.register(
    "cross_entropy",
    summary="Softmax cross-entropy of logits against class indices (or probabilities).",
    paper="Szegedy et al. 2015, arXiv:1512.00567 (label smoothing)",
    accepts={"label_smoothing": _Smoothing(0, 1, open_high=True)},
    aliases=("ce",),
    capabilities=(Capability.CLASSIFICATION,),
)
def cross_entropy(*, label_smoothing: float = 0.0) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


@_REGISTRY.register(
    "mse",
    summary="Mean squared error.",
    aliases=("mean_squared_error",),
    capabilities=(Capability.REGRESSION,),
)
def mse() -> nn.Module:
    return PointwiseLoss(nn.MSELoss())


@_REGISTRY.register(
    "huber",
    summary="Squared error below delta, linear above: robust to outliers.",
    paper="Huber 1964, Robust Estimation of a Location Parameter",
    accepts={"delta": POSITIVE},
    capabilities=(Capability.REGRESSION,),
)
def huber(*, delta: float = 1.0) -> nn.Module:
    return PointwiseLoss(nn.HuberLoss(delta=delta))


@_REGISTRY.register(
    "bce",
    summary="Binary cross-entropy of logits against 0/1 or soft float targets.",
    # torch's binary_cross_entropy (BCELoss) takes probabilities: that name would be another loss here.
    aliases=("bce_with_logits", "binary_cross_entropy_with_logits"),
    capabilities=(Capability.CLASSIFICATION, Capability.BINARY),
)
def bce() -> nn.Module:
    return PointwiseLoss(nn.BCEWithLogitsLoss())


def create(name: str, **hyperparameters: Any) -> nn.Module:
    """A loss module ``loss(prediction, target) -> scalar``, e.g. ``create("huber", delta=0.5)``."""
    return _REGISTRY.create(name, **hyperparameters)


@dataclasses.dataclass(frozen=True)
class CrossEntropyReading:
    """How a cross-entropy loss reads class ids: the one it ignores, its class weights, its reduction."""

    ignore_index: int = -100
    weight: Tensor | None = None
    reduction: str = "mean"


_CROSS_ENTROPY_FUNCTIONS = (nn.functional.cross_entropy, nn.functional.nll_loss)


def cross_entropy_reading(loss_fn: Any) -> CrossEntropyReading | None:
    """``loss_fn`` as a cross-entropy of class ids (torch's ``CrossEntropyLoss`` or ``NLLLoss``, their
    functions, a ``functools.partial`` of these, or a recipe's :class:`LossFunction`
    of them, each also through a :class:`ClassesLast`: per position), with the keywords it was given;
    None for any other loss."""
    if isinstance(loss_fn, ClassesLast):  # the same mean over the positions not ignored
        loss_fn = loss_fn.loss
    if isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return CrossEntropyReading(loss_fn.ignore_index, loss_fn.weight, loss_fn.reduction)
    fn, options = _function_and_options(loss_fn)
    if fn not in _CROSS_ENTROPY_FUNCTIONS:
        return None
    known = {k: v for k, v in options.items() if k in ("ignore_index", "weight", "reduction")}
    return CrossEntropyReading(**known)


def _function_and_options(loss_fn: Any) -> tuple[Any, dict[str, Any]]:
    """The function a keyword ``functools.partial`` or a recipe's :class:`LossFunction` calls, through
    each (compare's ``loss=functools.partial(F.mse_loss, ...)`` is a LossFunction of the partial), and
    the keywords they give it, the outer's winning as at a call; any other ``loss_fn`` as it is, with
    none."""
    options: dict[str, Any] = {}
    while True:
        if isinstance(loss_fn, functools.partial) and not loss_fn.args:
            loss_fn, options = loss_fn.func, {**loss_fn.keywords, **options}
        elif isinstance(loss_fn, LossFunction):
            loss_fn, options = loss_fn.fn, {**loss_fn.options, **options}
        else:
            return loss_fn, options


def loss_name(loss_fn: Any) -> str:
    """``loss_fn`` as a message names it: a module's class (``MSELoss``), a function's name, with the
    keywords a ``functools.partial`` or a recipe's :class:`LossFunction` gives it
    (``mse_loss(reduction='sum')``)."""
    fn, options = _function_and_options(loss_fn)
    if isinstance(fn, nn.Module):
        return type(fn).__name__
    given = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"{getattr(fn, '__name__', type(fn).__name__)}" + (f"({given})" if given else "")


def regression_loss(loss_fn: Any) -> bool:
    """Whether ``loss_fn`` is one of torch's losses of a regression's values: a module of
    :data:`REGRESSION_LOSSES`, its function (``F.mse_loss``), a keyword ``functools.partial`` of one, or a
    recipe's :class:`LossFunction` of one. Each compares outputs with targets elementwise, broadcasting
    two shapes, and reads integer targets as numbers: under it the task is a regression, whatever the
    targets' dtype. A :class:`PointwiseLoss` (the recipe's mse) pairs the shapes itself, and a function
    that calls one (a lambda) cannot be read: neither is one."""
    fn = _function_and_options(loss_fn)[0]
    # by identity alone: tuple membership falls back to __eq__, which torchmetrics' Metric answers with a
    # truthy object (a hinge loss read as a regression), an array with one that has no truth value
    return isinstance(fn, REGRESSION_LOSSES) or any(fn is f for f in _REGRESSION_FUNCTIONS)


def takes_integer_targets(loss_fn: Any) -> bool:
    """Whether torch's ``loss_fn`` of :func:`regression_loss` takes a gradient against integer targets:
    not Huber's, whose backward raises 'Found dtype Long but expected Float' (torch 2.13; MSE, L1 and
    smooth L1 promote them to the outputs' float)."""
    fn = _function_and_options(loss_fn)[0]
    return not (isinstance(fn, nn.HuberLoss) or fn is nn.functional.huber_loss)


def ignored_label(loss_fn: Any) -> int | None:
    """The class label ``loss_fn`` leaves out of the loss: a cross-entropy's ``ignore_index``
    (:func:`cross_entropy_reading`, -100 by default, as torch's), through a :class:`ClassesLast`, else the
    ``ignore_index`` attribute of the user's own loss where it has an integer one; None for a loss that
    scores every label."""
    inner = loss_fn.loss if isinstance(loss_fn, ClassesLast) else loss_fn
    reading = cross_entropy_reading(inner)
    index = reading.ignore_index if reading is not None else getattr(inner, "ignore_index", None)
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def leaves_out_some(loss_fn: Any, targets: Tensor) -> bool:
    """Whether some of ``targets`` is one ``loss_fn``'s mean leaves out (a cross-entropy's
    ``ignore_index``, or a class of weight 0), so that a batch of such targets only averages over nothing:
    torch's 0/0, NaN, a step with nothing to learn from. False for a sum, for probabilities as targets,
    and for a loss that scores every target."""
    reading = cross_entropy_reading(loss_fn)
    if reading is None:  # a loss of the user's with an ignore_index of its own
        ignored = ignored_label(loss_fn)
        return ignored is not None and bool((targets == ignored).any())
    if reading.reduction != "mean" or targets.is_floating_point():
        return False  # its mean divides by the rows: never by nothing
    left_out = targets == reading.ignore_index
    if reading.weight is None:
        return bool(left_out.any())
    weight = reading.weight.to(targets.device)
    scored = targets[~left_out & (targets >= 0) & (targets < len(weight))]  # others: refused at their step
    return bool(left_out.any()) or bool((weight[scored] == 0).any())
