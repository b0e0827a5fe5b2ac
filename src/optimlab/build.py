"""From a recipe to the objects that train: data, model, loss, optimizer, schedule.

Every random choice takes its seed from the recipe: the data split and subsample from
``training.seed`` through the data loader, the initial weights from ``torch.manual_seed(seed)`` right
before the model is built.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optimlab.recipe import Recipe
from optimlab.registry import Capability, get_registry

__all__ = [
    "Built",
    "build",
    "build_data",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_schedule",
    "build_scheduler",
    "resolve_device",
    "total_steps",
]


INIT_BATCH = 512  # rows that a data-dependent init (LSUV) measures output variances on


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_data(recipe: Recipe) -> Any:
    """The recipe's train/val/test splits (see :func:`optimlab.data.load`)."""
    from optimlab.data import load

    spec = recipe.data
    return load(
        spec.name,
        seed=recipe.training.seed,
        val_fraction=spec.val_fraction,
        test_fraction=spec.test_fraction,
        data_fraction=spec.data_fraction,
        **spec.options,
    )


def num_outputs(splits: Any) -> int:
    if splits.task == "classification":
        return int(splits.num_classes)
    y = splits.train.y
    return 1 if y.ndim == 1 else int(y.shape[1])


def build_model(recipe: Recipe, splits: Any) -> nn.Module:
    """The architecture with its init, norm and activation, behind the fitted input scaler.

    The scaler is the model's first module, so it is saved in the model's state and applied
    identically at evaluation; it is fitted on the training split only.
    """
    from optimlab.techniques.choice import resolve
    from optimlab.techniques.init import apply

    torch.manual_seed(recipe.training.seed)
    keywords = recipe.model.keywords()
    init, init_options = resolve("init", recipe.model.init)
    data_dependent = Capability.DATA_DEPENDENT in get_registry("init").get(init).capabilities
    if data_dependent:  # built plain, then initialized on a batch of scaled training inputs
        keywords["init"] = "default"
    shape = splits.image_shape or splits.input_shape  # CNNs see digits as 8x8 images; MLPs flatten
    net = get_registry("model").create(recipe.model.name, tuple(shape), num_outputs(splits), **keywords)
    scaler = get_registry("scaling").create(recipe.data.scaling).fit(splits.train.x)
    if data_dependent:
        apply(net, init, data=scaler(splits.train.x[:INIT_BATCH]), **init_options)
    return nn.Sequential(OrderedDict(scaling=scaler, net=net))


def build_loss(recipe: Recipe, splits: Any) -> nn.Module:
    """The recipe's loss; else the data set's own (noisy quadratic); else the task's usual one."""
    if recipe.training.loss is None and splits.loss is not None:
        return splits.loss
    name = recipe.training.loss or ("cross_entropy" if splits.task == "classification" else "mse")
    return get_registry("loss").create(name, **recipe.training.loss_options)


def build_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    from optimlab.optim import create

    return create(recipe.optimizer.name, model.parameters(), **recipe.optimizer.keywords())


def total_steps(recipe: Recipe, num_train: int) -> int:
    from optimlab.data.batches import steps_per_epoch

    spec = recipe.training
    if spec.steps is not None:
        return spec.steps
    return spec.epochs * steps_per_epoch(num_train, spec.batch_size, spec.drop_last)


def build_schedule(recipe: Recipe, steps: int) -> Callable[[int], float]:
    """The recipe's schedule over ``steps`` steps: ``step -> multiplier`` of the peak lr."""
    from optimlab.schedules import create

    spec = recipe.schedule
    return create(spec.name, total_steps=steps, warmup_steps=spec.warmup_steps, **spec.options)


def build_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer, steps: int) -> Any:
    """A torch LRScheduler that multiplies each group's lr by the recipe's schedule."""
    from optimlab.schedules import as_lr_scheduler

    return as_lr_scheduler(optimizer, build_schedule(recipe, steps))


@dataclasses.dataclass
class Built:
    """Everything a run needs, built from one recipe."""

    recipe: Recipe
    splits: Any
    model: nn.Module
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    total_steps: int
    device: torch.device


def build(recipe: Recipe) -> Built:
    """Build data, model, loss, optimizer and schedule, all on the recipe's device."""
    device = resolve_device(recipe.training.device)
    splits = build_data(recipe)
    model = build_model(recipe, splits).to(device)
    optimizer = build_optimizer(recipe, model)
    steps = total_steps(recipe, splits.train.x.shape[0])
    return Built(
        recipe=recipe,
        splits=splits,
        model=model,
        loss_fn=build_loss(recipe, splits).to(device),
        optimizer=optimizer,
        scheduler=build_scheduler(recipe, optimizer, steps),
        total_steps=steps,
        device=device,
    )
