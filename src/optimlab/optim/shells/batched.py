"""Many models at once: K members whose parameters carry a leading member dimension, one chain for all.

The second shell over the same transforms as the ``torch.optim`` drop-in. Parameters are stacked,
``(K, *shape)``, as ``torch.func.stack_module_state`` returns them; each hyperparameter is shared (a
number) or per member (a list of K values, or a ``(K,)`` tensor), which the core's ``per_tensor`` views
as ``(K, 1, ..., 1)``. So K learning-rate trials cost one foreach pass per op instead of K, and
member k follows exactly the steps of the drop-in shell with member k's values (tested).

Only optimizers whose math is elementwise (registry capability ``elementwise``) can be batched: a
transform that reduces over a whole tensor (Muon's orthogonalization, LAMB's trust ratio, Adafactor's
factored moments) would mix the members stacked in it.

>>> import torch
>>> params = [torch.ones(3, 2)]  # 3 members of a 2-vector
>>> opt = BatchedOptimizer(params, "sgd", members=3, lr=[0.1, 0.2, 0.3])
>>> opt.step([torch.ones(3, 2)]); params[0][:, 0]
tensor([0.9000, 0.8000, 0.7000])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.optim.base import GradientTransformation
from optimlab.registry import get_registry

__all__ = ["BatchedOptimizer", "BATCHABLE"]

BATCHABLE = "elementwise"  # the registry capability that makes an optimizer batchable


def _per_member(name: str, value: Any, members: int, like: Tensor) -> Any:
    """A list of K values as a ``(K,)`` tensor (K tuples: a tuple of tensors); anything else as it is."""
    if isinstance(value, Tensor):
        if value.shape != (members,):
            raise InvalidValueError(f"per-member hyperparameter {name!r}", tuple(value.shape), f"shape ({members},)")
        return value.to(like)
    if not isinstance(value, list):
        return value
    if len(value) != members:
        raise InvalidValueError(f"per-member hyperparameter {name!r}", f"{len(value)} values", f"{members}, one a member")
    if isinstance(value[0], (tuple, list)):  # betas: K pairs -> a pair of per-member values
        return tuple(_shared_or_tensor(list(column), like) for column in zip(*value))
    return _shared_or_tensor(value, like)


def _shared_or_tensor(values: list[Any], like: Tensor) -> Any:
    """Values equal across members stay one number: the foreach ops' fused Scalar overload, and the
    transforms that branch on a value (RAdam's rectification threshold depends on b2) keep working."""
    if all(v == values[0] for v in values):
        return values[0]
    return torch.tensor(values, dtype=like.dtype, device=like.device)


class BatchedOptimizer:
    """Steps K stacked members with the registered optimizer ``name``.

    Args:
        params: tensors of shape ``(K, *shape)``, updated in place.
        name: a registered optimizer with the ``elementwise`` capability.
        members: K.
        schedule: an lr multiplier ``step -> float`` applied to every member's lr (the recipe's
            schedule), counted in this optimizer's steps as a torch ``LambdaLR`` counts them.
        **hyperparameters: the optimizer's keywords, shared or per member (a list of K values).
    """

    def __init__(self, params: Sequence[Tensor], name: str, *, members: int,
                 schedule: Callable[[int], float] | None = None, **hyperparameters: Any) -> None:
        entry = get_registry("optimizer").get(name)
        if BATCHABLE not in entry.capabilities:
            raise OptimlabError(f"optimizer {entry.name!r} cannot step stacked members: its math is not "
                                f"elementwise (capabilities: {', '.join(sorted(entry.capabilities)) or 'none'})")
        self.params = list(params)
        if any(p.shape[:1] != (members,) for p in self.params):
            raise InvalidValueError("stacked parameters", [tuple(p.shape) for p in self.params], f"a leading dim {members}")
        for key, value in hyperparameters.items():  # names and ranges, member by member
            for member_value in value if isinstance(value, list) else [value]:
                if not isinstance(member_value, Tensor):
                    entry.validate({key: tuple(member_value) if isinstance(member_value, list) else member_value})
        values = {k: _per_member(k, v, members, self.params[0]) for k, v in hyperparameters.items()}
        if schedule is not None:
            lr = values.get("lr", next(h.default for h in entry.hyperparameters if h.name == "lr"))
            values["lr"] = lambda step: lr * schedule(step)
        # The entry's bound defaults, then the values checked above (its ranges do not read tensors).
        self.transform: GradientTransformation = entry.obj(**{**entry.defaults, **values})
        self.state = self.transform.init(self.params)
        self.training = self.transform.set_mode is None  # modal optimizers start at their eval point

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        """``p <- p + update(grads)`` for every stacked parameter; ``grads`` have the params' shapes."""
        updates, self.state = self.transform.update(list(grads), self.state, self.params)
        torch._foreach_add_(self.params, updates)

    @torch.no_grad()
    def train(self) -> None:
        """Move the parameters to the point gradients are taken at (schedule-free ``y``)."""
        self._set_mode(True)

    @torch.no_grad()
    def eval(self) -> None:
        """Move the parameters to the point to evaluate (schedule-free ``x``)."""
        self._set_mode(False)

    def _set_mode(self, train: bool) -> None:
        if self.transform.set_mode is not None and self.training != train:
            self.state = self.transform.set_mode(self.params, self.state, train)
        self.training = train
