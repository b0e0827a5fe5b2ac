"""Sharpness-aware minimization: step with the gradient taken at the worst nearby point.

Foret, Kleiner, Mobahi & Neyshabur, Sharpness-Aware Minimization for Efficiently Improving
Generalization, 2020, https://arxiv.org/abs/2010.01412; adaptive SAM (ASAM): Kwon, Kim, Park & Choi,
ASAM: Adaptive Sharpness-Aware Minimization for Scale-Invariant Learning of Deep Neural Networks,
2021, https://arxiv.org/abs/2102.11600.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.optim.shells.torch_optim import steppable
from optimlab.optim.user import needs_closure
from optimlab.optim.wrappers.wrapper import BaseSpec, WrappedOptimizer, base_optimizer, closure_base_refused
from optimlab.registry import NON_NEGATIVE, Capability, new_registry

__all__ = ["SAM"]

_REGISTRY = new_registry("optimizer")
_OWN = ("rho", "adaptive")  # SAM's keys a param group may set for itself


@_REGISTRY.register(
    "sam",
    summary="Wraps any optimizer: steps with the gradient at the worst point within radius rho (ASAM too).",
    paper="Foret et al. 2020, arXiv:2010.01412; ASAM: Kwon et al. 2021, arXiv:2102.11600",
    accepts={"rho": NON_NEGATIVE, "adaptive": (True, False)},
    capabilities=(Capability.WRAPPER, Capability.NEEDS_CLOSURE),
)
class SAM(WrappedOptimizer):
    """SAM around a base optimizer, as the reference PyTorch code (davda54/sam ``sam.py``).

    ``step(closure)`` expects the gradients ``g`` at ``w`` to be there (the usual ``loss.backward()``),
    then: ``g_hat = g`` (SAM) or ``|w| g`` (ASAM); ``e = rho / (||g_hat|| + 1e-12) * g`` (SAM) or
    ``... * w^2 g`` (ASAM, on the real and imaginary parts of a complex parameter apart, as torch.optim
    steps them), with ``||.||`` the L2 norm over every parameter of every group; ``w <- w + e``;
    ``closure()`` recomputes loss and gradients there; ``w`` is restored (a copy, not a subtraction) and
    the base optimizer steps with the gradients from ``w + e``. The closure runs once per step: two
    forward-backward passes per step in all. If no parameter has a gradient yet, the closure first runs
    at ``w`` to make them; so it does where the gradients are still those the last step left, at its
    ``w + e`` (a loop that calls ``step(closure)`` alone, as Lightning's automatic optimization does: its
    closure zeroes them as it starts).

    A base built with ``maximize=True`` ascends the objective ``f``, which is SAM minimizing ``-f``: the
    worst nearby point is then the lowest, ``e`` is negated (``w - e``), and the base ascends with the
    gradients there. Param groups that mix ``maximize`` True and False (a min-max game) have no one
    worst point and are refused.

    A param group may set its own ``rho`` and ``adaptive`` (``{"params": backbone, "rho": 0.0}``), as in
    davda54's code: its parameters move by its own radius, the norm staying the one over every group.
    One departure from that code: it sets SAM's ``rho`` into the groups the base shares, so a base that
    takes a ``rho`` itself (torch's Adadelta) decays its averages with SAM's radius (0.05, where its own is
    0.9); here such a key stays the base's, and SAM's radius there is SAM's ``rho``. The state dict keeps
    SAM's ``rho`` and ``adaptive`` with the groups' own, and loads them, as torch's optimizers load lr.

    Args:
        params: parameters or param groups, or an optimizer instance to wrap.
        base: the inner optimizer: an optimlab name ("sgd" when None; the paper's runs use SGD with
            momentum) or a ``torch.optim`` class.
        base_hyperparameters: its keywords, e.g. ``{"lr": 0.1, "momentum": 0.9}``.
        rho: the radius of the neighbourhood, in the units of ``w`` (SAM) or relative to ``|w|``
            (ASAM, where ~10x larger values are used, e.g. 0.5 against 0.05).
        adaptive: ASAM's scale-invariant neighbourhood ``|w|``-weighted (davda54's form: no ``eta``).

    ``step`` returns the closure's loss, the loss at ``w + e``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
        >>> opt = SAM([w], "sgd", {"lr": 0.1}, rho=0.5)
        >>> def closure():
        ...     opt.zero_grad(); loss = (w**2).sum() / 2; loss.backward(); return loss
        >>> _ = closure(); _ = opt.step(closure)
        >>> w.detach()  # the gradient at w + 0.5 w / ||w|| = 1.1 w: w - 0.1 * 1.1 w
        tensor([2.6700, 3.5600])

    References:
        Foret et al., Sharpness-Aware Minimization for Efficiently Improving Generalization, 2020,
        https://arxiv.org/abs/2010.01412.
        Kwon et al., ASAM: Adaptive Sharpness-Aware Minimization, 2021, https://arxiv.org/abs/2102.11600.
    """

    default_base = "sgd"  # the base optimizer when none is named

    needs_closure = True  # training loops pass step() a closure (optimlab.train.fit does)

    state_prefix = "sam"

    def __init__(
        self,
        params: Iterable[Any] | torch.optim.Optimizer,
        base: BaseSpec = None,
        base_hyperparameters: Mapping[str, Any] | None = None,
        /,
        *,
        rho: float = 0.05,
        adaptive: bool = False,
    ) -> None:
        _REGISTRY.get("sam").validate({"rho": rho, "adaptive": adaptive})
        inner = base_optimizer(params, base, base_hyperparameters, default=self.default_base, owner="sam")
        if needs_closure(inner):  # stepped below without one, at the gradients of w + e
            raise closure_base_refused("sam", type(inner) if base is None else base)
        super().__init__(inner)
        self.rho, self.adaptive = rho, adaptive
        for index, group in enumerate(self.param_groups):
            self._group_settings(group, f"param group {index}")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "base_optimizer" in self.__dict__:  # not the base's groups, registered as torch's __init__ runs
            self._group_settings(param_group, "the param group added")
        super().add_param_group(param_group)

    def _own_settings(self, group: Mapping[str, Any]) -> dict[str, Any]:
        """The ``rho`` and ``adaptive`` ``group`` sets for SAM (not those the base takes itself: adadelta's
        ``rho``), as they were validated when the group came (built, added or loaded)."""
        return {k: group[k] for k in _OWN if k in group and k not in self.base_optimizer.defaults}

    def _group_settings(self, group: Mapping[str, Any], where: str) -> dict[str, Any]:
        """:meth:`_own_settings` of ``group``, refused in one line naming ``where`` outside SAM's ranges."""
        own = self._own_settings(group)
        try:
            _REGISTRY.get("sam").validate(own)
        except InvalidValueError as error:
            raise InvalidValueError(f"{error.field} in {where}", error.value, error.accepted) from None
        return own

    def _own_hyperparameters(self) -> dict[str, Any]:
        return {self.state_prefix: {"rho": self.rho, "adaptive": self.adaptive}}

    def _load_own_hyperparameters(self, state_dict: Mapping[str, Any]) -> None:
        """SAM's ``rho`` and ``adaptive`` as saved, as torch's optimizers load their groups' lr; a state
        saved before SAM kept them keeps this SAM's."""
        saved = dict(state_dict.get(self.state_prefix, {}))
        try:
            _REGISTRY.get("sam").validate(saved)
        except InvalidValueError as error:
            raise InvalidValueError(f"{error.field} in the state_dict", error.value, error.accepted) from None
        self.rho, self.adaptive = saved.get("rho", self.rho), saved.get("adaptive", self.adaptive)

    def _with_gradients(self) -> list[torch.Tensor]:
        return [p for group in self._groups_with_gradients() for p in group[2]]

    def _groups_with_gradients(self) -> list[tuple[float, bool, list[torch.Tensor]]]:
        """Each param group's ``rho``, ``adaptive`` (its own, else SAM's) and parameters with a gradient."""
        return [
            (
                own.get("rho", self.rho),
                own.get("adaptive", self.adaptive),
                [p for p in group["params"] if p.grad is not None],
            )
            for group in self.param_groups
            for own in [self._own_settings(group)]
        ]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perturb to ``w + e``, re-evaluate the gradients there with ``closure``, restore, base step."""
        if closure is None:
            raise OptimlabError(
                "sam needs optimizer.step(closure), where closure() zeroes the gradients, computes the "
                "loss, calls loss.backward() and returns the loss: SAM evaluates the gradient twice a step."
            )
        sign = -1.0 if self._maximizing() else 1.0
        params = self._with_gradients()
        if not params or self._gradients_left(params):
            with torch.enable_grad():
                loss = closure()
            params = self._with_gradients()
            if not params:  # the closure took no gradient (Lightning's skipped batch): no update, as SGD's
                return loss
        # A sparse gradient (nn.Embedding(sparse=True)) as its dense equal: the global norm and w + e
        # need it whole, and torch has no foreach norm for sparse tensors (NotImplementedError). A complex
        # parameter as its real and imaginary parts, as torch.optim steps it: ASAM's |w| and w^2 per part
        # (the complex square w * w would turn the gradient).
        groups = [
            (rho, adaptive, steppable(p.grad for p in group), steppable(group))
            for rho, adaptive, group in self._groups_with_gradients()
            if group
        ]
        device = params[0].device
        norms = [
            n.to(device)
            for _, adaptive, grads, weights in groups
            for n in torch._foreach_norm(
                torch._foreach_mul(grads, torch._foreach_abs(weights)) if adaptive else grads
            )
        ]
        norm = torch.linalg.vector_norm(torch.stack(norms))  # over every group, as davda54's
        saved = [p.detach().clone() for p in params]
        for rho, adaptive, grads, weights in groups:
            perturbation = (
                torch._foreach_mul(grads, torch._foreach_mul(weights, weights)) if adaptive else grads
            )
            perturbation = torch._foreach_mul(perturbation, sign * rho / (norm + 1e-12))
            torch._foreach_add_(weights, perturbation)  # views of the parameters: w + e
        self.zero_grad()  # the closure's gradients are those at w + e alone, even if it does not zero them
        with torch.enable_grad():
            loss = closure()
        torch._foreach_copy_(params, saved)
        self.base_optimizer.step()
        # The gradients left are those at w + e: a loop whose closure zeroes them as it starts, and that
        # takes none before step (Lightning's: step(closure) alone) would hand them back as those at w.
        self._left = [(weakref.ref(p.grad), p.grad._version) for p in params if p.grad is not None]
        return loss

    def _maximizing(self) -> bool:
        """Whether the base ascends the objective (``maximize=True``, as torch's optimizers take it)."""
        maximize = {bool(group.get("maximize", False)) for group in self.param_groups}
        if len(maximize) > 1:
            raise OptimlabError(
                "sam needs one maximize for every param group, got True and False: the perturbation "
                "moves towards the worst point of one objective; use maximize=False (or True) in all groups."
            )
        return maximize == {True}

    def _gradients_left(self, params: list[torch.Tensor]) -> bool:
        """Whether the gradients of ``params`` are those the last step left (at its perturbed weights),
        untouched since: no backward nor zeroing, both of which replace a gradient or bump its version."""
        left = getattr(self, "_left", None)
        return (
            bool(left)
            and len(left) == len(params)
            and all(p.grad is ref() and p.grad._version == version for p, (ref, version) in zip(params, left))
        )

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__getstate__().items() if k != "_left"}  # weak references
