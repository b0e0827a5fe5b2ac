"""The noisy quadratic of DeepOBS (``quadratic_deep``): an optimizer's behaviour on a known landscape.

Schneider et al., DeepOBS: A Deep Learning Optimizer Benchmark Suite, 2019, https://arxiv.org/abs/1903.05499.
The loss 0.5 (theta - x)^T H (theta - x) with H's deep-learning-like spectrum (90 eigenvalues in
(0, 1), 10 in (30, 60)) and samples x ~ N(0, 0.6^2 I); see :mod:`optimlab.data.noisy_quadratic`. Its
expected loss is minimal at theta = 0, where it equals the noise floor 0.5 * 0.36 * tr(H) (about 89
on validation): the tuned metric is the validation loss, to be minimised.
"""

from __future__ import annotations

from optimlab.recipe import Recipe
from optimlab.registry import POSITIVE_INT, new_registry
from optimlab.study.workloads import Workload

__all__ = ["noisy_quadratic"]

_REGISTRY = new_registry("workload")


@_REGISTRY.register(
    "noisy_quadratic",
    summary="DeepOBS quadratic_deep: 100-d noisy quadratic, deep-learning spectrum; tuned on validation loss.",
    paper="Schneider et al. 2019, DeepOBS, arXiv:1903.05499",
    accepts={"epochs": POSITIVE_INT, "batch_size": POSITIVE_INT},
    aliases=("quadratic_deep",),
)
def noisy_quadratic(*, epochs: int = 100, batch_size: int = 128) -> Workload:
    """theta (100 values, starting at ones) fitted to 600 training samples in batches of 128, 100 epochs.

    DeepOBS trains 100 epochs of batch 128 over 1,000 samples; here the 1,000 samples are split
    600/200/200, so 100 epochs are 500 steps (0.1 s each 100 on one CPU thread).

    Target: validation loss <= TARGET_PLACEHOLDER.
    """
    recipe = Recipe.from_dict({
        "data": {"name": "noisy_quadratic"},
        "model": {"name": "parameter_vector"},
        "training": {"epochs": epochs, "batch_size": batch_size},
    })
    return Workload(name="noisy_quadratic", recipe=recipe, metric="val_loss", goal="min", test_metric="test_loss",
                    target=None)
