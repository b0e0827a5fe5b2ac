"""Lookahead: k fast steps of any optimizer, then one step of slow weights towards where they led.

Zhang, Lucas, Hinton & Ba, Lookahead Optimizer: k steps forward, 1 step back, 2019,
https://arxiv.org/abs/1907.08610.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import torch
from torch import Tensor

from optimlab.errors import OptimlabError
from optimlab.optim.wrappers.wrapper import BaseSpec, WrappedOptimizer, base_optimizer
from optimlab.registry import POSITIVE_INT, UNIT, Capability, new_registry

__all__ = ["Lookahead"]

_REGISTRY = new_registry("optimizer")

PullbackMomentum = Literal["none", "reset", "pullback"]


def _momentum_buffer(state: Mapping[str, Any]) -> Tensor | None:
    """The base's momentum buffer for one parameter: torch's ``momentum_buffer``, or the ``trace`` of
    optimlab's :func:`~optimlab.optim.transforms.momentum.scale_by_momentum` (key ``"<i>.trace"``)."""
    for key, value in state.items():
        if isinstance(value, Tensor) and (key == "momentum_buffer" or key.endswith(".trace")):
            return value
    return None


@_REGISTRY.register(
    "lookahead",
    summary="Wraps any optimizer: every k steps, slow weights move alpha of the way to the fast ones.",
    paper="Zhang, Lucas, Hinton & Ba 2019, arXiv:1907.08610",
    accepts={"k": POSITIVE_INT, "alpha": UNIT, "pullback_momentum": ("none", "reset", "pullback")},
    capabilities=(Capability.WRAPPER,),
)
class Lookahead(WrappedOptimizer):
    """Lookahead around a base optimizer, as ``pytorch_optimizer.Lookahead`` 4.1.0 (= the authors' code).

    The slow weights start at the parameters (when first stepped). The base optimizer takes every
    step; after every k-th, ``phi <- phi + alpha (p - phi)`` and ``p <- phi``: the fast weights are
    pulled back to the slow ones, which moved a fraction alpha of the way. The base's momentum buffer
    is then left alone ("none"), zeroed ("reset"), or interpolated the same way towards a slow copy of
    it ("pullback"); the last two need a base with a momentum buffer (SGD with momentum).

    Args:
        params: parameters or param groups, or an optimizer instance to wrap.
        base: the inner optimizer: an optimlab name ("adam" when None) or a ``torch.optim`` class.
        base_hyperparameters: its keywords, e.g. ``{"lr": 1e-3}``.
        k: fast steps per slow step; after a multiple of k steps fast and slow weights coincide.
        alpha: the slow weights' step towards the fast ones; 1 is the base optimizer alone.
        pullback_momentum: "none", "reset" or "pullback", see above.

    Example:
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = Lookahead([w], "sgd", {"lr": 0.1}, k=2, alpha=0.5)
        >>> for _ in range(2):
        ...     opt.zero_grad(); w.sum().backward(); opt.step()
        >>> w.detach()  # two SGD steps reach 0.8; the slow weights move half of the way
        tensor([0.9000, 0.9000])

    References:
        Zhang, Lucas, Hinton & Ba, Lookahead Optimizer: k steps forward, 1 step back, 2019,
        https://arxiv.org/abs/1907.08610.
    """

    default_base = "adam"  # the base optimizer when none is named

    state_prefix = "lookahead"

    def __init__(
        self,
        params: Iterable[Any] | torch.optim.Optimizer,
        base: BaseSpec = None,
        base_hyperparameters: Mapping[str, Any] | None = None,
        /,
        *,
        k: int = 5,
        alpha: float = 0.5,
        pullback_momentum: PullbackMomentum = "none",
    ) -> None:
        _REGISTRY.get("lookahead").validate({"k": k, "alpha": alpha, "pullback_momentum": pullback_momentum})
        super().__init__(
            base_optimizer(params, base, base_hyperparameters, default=self.default_base, owner="lookahead")
        )
        self.k, self.alpha, self.pullback_momentum = k, alpha, pullback_momentum
        for group in self.param_groups:
            group.setdefault("lookahead_step", 0)  # fast steps since the last sync, saved with the groups

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One base step (``closure`` goes to it); every k-th step per group, the slow step."""
        for p in self._parameters():
            if "slow_param" not in self.state[p]:
                self.state[p]["slow_param"] = p.detach().clone()
                if self.pullback_momentum == "pullback":
                    self.state[p]["slow_momentum"] = torch.zeros_like(p)
        loss = self.base_optimizer.step(closure)
        for group in self.param_groups:
            group["lookahead_step"] = group.get("lookahead_step", 0) + 1
            if group["lookahead_step"] >= self.k:
                group["lookahead_step"] = 0
                self._synchronize(group["params"])
        return loss

    def _synchronize(self, params: list[Tensor]) -> None:
        """``p <- p + (1 - alpha)(phi - p)``, then ``phi <- p``; the same for the momentum if asked."""
        if not params:  # an empty param group, which torch accepts: nothing to move
            return
        slow = [self.state[p]["slow_param"] for p in params]
        torch._foreach_lerp_(params, slow, 1 - self.alpha)
        torch._foreach_copy_(slow, params)
        if self.pullback_momentum == "none":
            return
        stepped = [p for p in params if self.base_optimizer.state.get(p)]
        found = [(p, _momentum_buffer(self.base_optimizer.state[p])) for p in stepped]
        buffers = [(p, b) for p, b in found if b is not None]
        if not buffers:
            if stepped:
                raise OptimlabError(
                    f"lookahead pullback_momentum={self.pullback_momentum!r} needs a base optimizer with a "
                    f"momentum buffer (SGD with momentum); {type(self.base_optimizer).__name__} has none: "
                    "use pullback_momentum='none'."
                )
            return  # none of the group's parameters stepped yet (a frozen group): no momentum to move
        if self.pullback_momentum == "reset":
            torch._foreach_zero_([b for _, b in buffers])
            return
        slow_momenta = [self.state[p]["slow_momentum"] for p, _ in buffers]
        torch._foreach_lerp_([b for _, b in buffers], slow_momenta, 1 - self.alpha)
        torch._foreach_copy_(slow_momenta, [b for _, b in buffers])
