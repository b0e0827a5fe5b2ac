"""What the named optimizers share: the descent step with its weight decay, and torch's ranges.

Every factory of this package returns a :class:`~optimlab.optim.base.GradientTransformation` whose update
is the final delta ``p <- p + delta``. Keyword names and defaults are those of ``torch.optim`` where
torch has the optimizer (``lr``, ``betas``, ``weight_decay`` ...), so a torch user finds them where
expected; any of them may be a float, a schedule ``step -> float`` or a ``(K,)`` tensor.

Weight decay is coupled (L2, added to the gradient before the preconditioner) or decoupled (added to
the direction after it, then multiplied by lr); see :mod:`optimlab.optim.transforms.decay`.
"""

from __future__ import annotations

from optimlab.optim.base import GradientTransformation, Hyperparameter, chain
from optimlab.optim.transforms import add_decayed_weights, scale_by_learning_rate
from optimlab.registry import NON_NEGATIVE, POSITIVE, UNIT_OPEN, Interval

__all__ = ["ADAM_LIKE", "COMMON", "EPS", "FLAG", "OPEN_UNIT", "descend", "off"]

# Ranges as torch.optim checks them (lr = 0 is allowed: it freezes a param group), except eps.
COMMON = {"lr": NON_NEGATIVE, "weight_decay": NON_NEGATIVE}
# eps > 0, where torch takes 0: with eps = 0 a coordinate whose gradient is 0 so far divides 0 by 0,
# so torch's Adam, NAdam, Adamax, RMSprop and Adagrad turn a zero-gradient param to NaN in one step,
# and Adadelta (sqrt(0 + 0) on top) never moves any param (torch 2.13, measured).
EPS = POSITIVE
ADAM_LIKE = {**COMMON, "betas": UNIT_OPEN, "eps": EPS}
FLAG = (True, False)
OPEN_UNIT = Interval(0, 1, open_low=True, open_high=True)


def off(hyperparameter: Hyperparameter) -> bool:
    """A hyperparameter fixed at exactly 0 switches its transform off (a schedule never does)."""
    return isinstance(hyperparameter, (int, float)) and hyperparameter == 0


def descend(
    direction: GradientTransformation,
    lr: Hyperparameter,
    weight_decay: Hyperparameter,
    *,
    decoupled: bool,
    round_product: bool = False,
    adds_with_alpha: bool = False,
) -> GradientTransformation:
    """``-lr * direction`` with weight decay coupled (through ``direction``) or decoupled (beside it);
    ``round_product`` and ``adds_with_alpha``: see
    :func:`~optimlab.optim.transforms.scaling.scale_by_learning_rate`."""
    decay = add_decayed_weights(weight_decay)
    steps = (direction, decay) if decoupled else (decay, direction)
    lr_step = scale_by_learning_rate(lr, round_product=round_product, adds_with_alpha=adds_with_alpha)
    return chain(*steps, lr_step)
