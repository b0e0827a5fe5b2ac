"""From a recipe to the objects that train: data, model, loss, optimizer, schedule.

Every random choice takes its seed from the recipe: the data split and subsample from its split seed
(:func:`split_seed`: ``data.split_seed``, else ``training.seed``) through the data loader, the initial
weights from ``torch.manual_seed(seed)`` right before the model is built (NumPy's and Python's global
generators seeded there too, for the user's code that draws from them while training).

Data comes as tensors (every built-in set, and the user's ``(input, target)`` data), or as the user's
dict batches (:class:`~optimlab.data.user_factory.BatchSplits`, kept as given): then the model is the
user's factory alone (no input scaler, no shapes given), and the loss is the model's own unless the
recipe names one (``training.loss``, or ``training.compute_loss`` by import path).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from optimlab.data.built_once import built_once
from optimlab.data.global_rng import seed_numpy_and_python
from optimlab.data.user_batches import UserBatches, describe, prediction, takes_dict_whole
from optimlab.data.user_factory import BatchSplits, batch_keys
from optimlab.errors import InvalidValueError, OptimlabWarning, user_stacklevel
from optimlab.models import takes_recipe_fields
from optimlab.models.layers import channels_first
from optimlab.models.modes import modes_kept
from optimlab.models.sizing import check_fits, check_step_fits
from optimlab.models.user import InputsAs, embeds_ids, parameter_dtype
from optimlab.number_text import count_of
from optimlab.recipe import MODEL_LOSS, OWN_DEFAULT, ModelSpec, Recipe, TrainingSpec, architecture_techniques
from optimlab.registry import Capability, get_registry
from optimlab.techniques.losses import ClassesLast, PointwiseLoss, ignored_label, regression_loss
from optimlab.user_code import import_object

__all__ = [
    "Built",
    "build",
    "build_data",
    "build_loss",
    "build_model",
    "build_momentum",
    "build_optimizer",
    "build_schedule",
    "build_scheduler",
    "data_key",
    "optimizer_keywords",
    "resolve_device",
    "split_seed",
    "targets_as_given",
    "task_of_loss",
    "total_steps",
    "training_steps",
    "user_batches",
]


INIT_BATCH = 512  # rows that a data-dependent init (LSUV) measures output variances on


def resolve_device(name: str) -> torch.device:
    """``auto`` is the first GPU when there is one, else the CPU; a device this machine lacks (a recipe
    written on a GPU machine) is refused naming what it has, where torch raised deep in the build."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidValueError(
            "training.device", name, "cpu or auto: 'mps' is not available on this machine"
        )
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = "has no CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
            raise InvalidValueError(
                "training.device", name, f"cpu or auto: this PyTorch ({torch.__version__}) {build}"
            )
        if (device.index or 0) >= count:
            raise InvalidValueError(
                "training.device",
                name,
                f"cpu, auto or cuda:0..cuda:{count - 1}: this machine has {count} CUDA GPU(s)",
            )
    return device


def split_seed(recipe: Recipe) -> int:
    """The seed ``recipe``'s data are drawn, split and subsampled with: ``data.split_seed``, else (None, every
    recipe before that field) ``training.seed``, so a run of another seed is split anew."""
    return recipe.training.seed if recipe.data.split_seed is None else recipe.data.split_seed


def data_key(recipe: Recipe) -> str:
    """What decides the data ``recipe`` builds: its data section, its loss and the loss's options (the
    targets' task, a label the loss ignores) and its split seed (:func:`split_seed`)."""
    return json.dumps([*_data_source(recipe), split_seed(recipe)], default=str, sort_keys=True)


def _data_source(recipe: Recipe) -> list[Any]:
    """What decides the data ``recipe`` builds but its seed: a workload's data, whatever the seed (its
    ``data.split_seed`` too: a recipe fixing it to its training seed builds the data of one that does not)."""
    training = recipe.training
    data = {field: value for field, value in recipe.to_dict()["data"].items() if field != "split_seed"}
    return [data, training.loss, training.loss_options]


def build_data(recipe: Recipe) -> Any:
    """The recipe's train/val/test splits (see :func:`optimlab.data.load`); the user's targets (a file's,
    a factory's) of the task its loss decides (:func:`task_of_loss`), a built-in set's of its own; inside
    :func:`~optimlab.data.built_once.data_built_once` (a comparison), built once a seed. A
    ``data.data_fraction`` keeps a row of each class at least (:func:`optimlab.data.splits.split`); fewer
    rows than a batch are said by :func:`_check_batch_past_split`."""
    source = json.dumps(_data_source(recipe), default=str, sort_keys=True)
    return built_once(source, data_key(recipe), lambda: _loaded(recipe))


def _loaded(recipe: Recipe) -> Any:
    """The recipe's splits, loaded (:func:`build_data`)."""
    from optimlab.data import load
    from optimlab.data.examples import targets_for

    spec = recipe.data
    registry = get_registry("dataset")
    built_in = spec.name in registry and Capability.USER not in registry.get(spec.name).capabilities
    loss = None if built_in else recipe.training.loss
    ignored = ignored_by_loss(loss, recipe.training.loss_options if loss else {})
    with targets_for(task_of_loss(loss), as_given=targets_as_given(loss), ignored=ignored):
        splits = load(
            spec.name,
            seed=split_seed(recipe),
            val_fraction=spec.val_fraction,
            test_fraction=spec.test_fraction,
            data_fraction=spec.data_fraction,
            **spec.options,
        )
    return splits


def task_of_loss(loss: str | None) -> str | None:
    """``"regression"`` where ``loss`` is one (a built-in of regression only, mse; the user's MSELoss...),
    else None: the targets' values decide."""
    registry = get_registry("loss")
    if loss is None or loss not in registry:
        return None
    entry = registry.get(loss)
    if Capability.USER in entry.capabilities:
        return "regression" if regression_loss(entry.create()) else None
    of_numbers = Capability.REGRESSION in entry.capabilities
    return "regression" if of_numbers and Capability.CLASSIFICATION not in entry.capabilities else None


def targets_as_given(loss: str | None) -> bool:
    """Whether ``loss`` is the user's own (an import path, an object), which gets the targets as given
    (:func:`~optimlab.data.examples.targets_for`); not torch's regression losses, which compare outputs
    and targets elementwise, so get the targets shaped as the outputs, (N, 1) for a regression's (N,),
    nor torch's binary cross-entropy, which reads a target as a probability, so gets labels -1/+1 as
    0/1 (said), not a loss without a lower bound."""
    registry = get_registry("loss")
    users = loss is not None and loss in registry and Capability.USER in registry.get(loss).capabilities
    return users and task_of_loss(loss) is None and not _binary(loss)


def ignored_by_loss(loss: str | None, options: Mapping[str, Any] | None = None) -> int | None:
    """The class label ``loss`` (None: the task's, cross-entropy for classes), made with ``options``, leaves
    out (:func:`~optimlab.techniques.losses.ignored_label`): -100 for torch's cross-entropy, the user's
    loss's own ``ignore_index``; None for the model's own loss and a loss that scores every label."""
    registry = get_registry("loss")
    name = "cross_entropy" if loss is None else loss
    return ignored_label(registry.get(name).create(**(options or {}))) if name in registry else None


def num_outputs(splits: Any, loss: str | None = None) -> int:
    """The model's outputs: a score per class (one, the logit of class 1, under a binary loss such as
    bce), or per regression target."""
    binary = splits.task == "classification" and loss is not None and _binary(loss)
    return 1 if binary else splits.num_outputs


def build_model(recipe: Recipe, splits: Any) -> nn.Module:
    """The architecture with its init, norm and activation, behind the fitted input scaler.

    The scaler is the model's first module, so it is saved in the model's state and applied
    identically at evaluation; it is fitted on the training split only.
    """
    from optimlab.techniques.choice import resolve
    from optimlab.techniques.init import KeptWeightsWarning, apply

    torch.manual_seed(recipe.training.seed)
    seed_numpy_and_python(recipe.training.seed)  # a Dataset's np.random augmentations, read while training
    keywords = recipe.model.keywords()
    # the factory's own init (OWN_DEFAULT, passed none) is drawn by the factory, as 'default' is
    init, init_options = (
        ("default", {}) if recipe.model.init == OWN_DEFAULT else resolve("init", recipe.model.init)
    )
    data_dependent = Capability.DATA_DEPENDENT in get_registry("init").get(init).capabilities
    entry = get_registry("model").get(recipe.model.name)
    drawn_here = recipe.model.init_drawn_by_build()
    if isinstance(splits, BatchSplits):
        net = _model_of_batches(recipe, keywords, data_dependent)
        return apply(net, init, **init_options) if drawn_here and init != "default" else net
    if data_dependent and not drawn_here:  # built plain, then drawn on a batch of scaled training inputs
        keywords["init"] = "default"
    shape = _input_shape(recipe.model.name, splits)
    asked = _asked_by_data(recipe.model.name, splits)
    if asked.get("causal") and keywords.get("causal") is False:  # position t would read its target, t + 1
        raise InvalidValueError(
            "model.options.causal",
            False,
            f"true (the default) for {splits.name}'s next-token targets: a model that attends to later "
            "positions reads each position's target in its input",
        )
    keywords = {**asked, **keywords}
    outputs = num_outputs(splits, recipe.training.loss)
    if Capability.USER not in entry.capabilities:  # the user's factory runs once, in the real build
        device, optimizer = resolve_device(recipe.training.device), recipe.optimizer
        check_fits(
            recipe.model.name, shape, outputs, device, optimizer.name, optimizer.keywords(), **keywords
        )
    net = entry.create(shape, outputs, **keywords)
    # The user's model embeds the inputs as they come: ids it gets as int64 (a built-in embeds its own).
    ids = Capability.USER in entry.capabilities and embeds_ids(net, splits.train.x)
    if (splits.vocab_size or ids) and recipe.data.scaling != "none":
        raise InvalidValueError(
            "data.scaling", recipe.data.scaling, f"'none': {splits.name}'s inputs are token ids"
        )
    scaling, scaling_options = resolve("scaling", recipe.data.scaling)
    # Images stored flat (digits: 64 features) or without their channel ((H, W)) are fitted as (C, H, W).
    images = channels_first(tuple(splits.image_shape)) if splits.image_shape else None
    scaler = get_registry("scaling").create(scaling, **scaling_options).fit(splits.train.x, shape=images)
    dtype = torch.long if ids else parameter_dtype(net)
    if splits.train.x.is_floating_point() and dtype not in (None, splits.train.x.dtype):
        model = nn.Sequential(OrderedDict(scaling=scaler, inputs_as=InputsAs(dtype), net=net))
    else:
        model = nn.Sequential(OrderedDict(scaling=scaler, net=net))
    if data_dependent or (drawn_here and init != "default"):
        # On training inputs as the net gets them: LSUV's, and gain 'auto''s forward pass, which sees the
        # activation functions of the user's forward (F.relu) that registration order does not.
        with warnings.catch_warnings():
            if Capability.USER not in entry.capabilities:  # a built-in keeps its embeddings by design
                warnings.simplefilter("ignore", KeptWeightsWarning)
            apply(net, init, data=model[:-1](splits.train.x[:INIT_BATCH]), **init_options)
    user = Capability.USER in entry.capabilities
    if user:
        _check_one_tensor(model, splits.train.x[:2], shape)
    training, optimizer = recipe.training, recipe.optimizer
    check_step_fits(  # a user's forward is not run to size it: it may print, count or cache
        recipe.model.name,
        model,
        None if user else splits.train.x,
        training.batch_size,
        resolve_device(training.device),
        optimizer.name,
        optimizer.keywords(),
        torch.bfloat16 if training.precision == "bf16" else None,
    )
    return model


def _check_one_tensor(model: nn.Module, rows: torch.Tensor, input_shape: tuple[int, ...]) -> None:
    """Refuse, before training, a user's model whose output on ``(input, target)`` rows is no tensor of
    scores (a tuple such as ``(scores, aux)``): a recipe's run reads one (its loss, accuracy and every
    evaluation, the batched backend's members). A model that fails on the rows is left to the first
    step, which names what it cannot take, but where its factory was given ``input_shape``, the images'
    shape, the rows come flat (digits' (1, 8, 8) as (N, 64)), and the model fails on them but runs on
    them viewed as ``input_shape``: sized by ``input_shape[-1]``, such a model blamed the batch. A model
    that fails on both (one that views them itself, wrongly sized after) is left to the first step.
    The random state is left as it was."""
    try:
        with modes_kept(model), torch.random.fork_rng(devices=[]), torch.no_grad():
            outputs = model.eval()(rows)
    except RuntimeError as error:
        flat = (*rows.shape[1:],)
        if flat == input_shape or not _runs_as_images(model, rows, input_shape):
            return  # the first training step reports it, with the batch it failed on
        said = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise InvalidValueError(
            f"the model (model.name) built for input_shape {input_shape}, on the data's rows (data.name)",
            f"rows of (N, {', '.join(map(str, flat))})",
            f"the images of input_shape as they come, rows of (N, {', '.join(map(str, flat))}): view them "
            f"first (nn.Unflatten(1, input_shape)) or take math.prod(input_shape) features (RuntimeError: "
            f"{said})",
        ) from error
    except Exception:  # the first training step reports it, with the batch it failed on
        return
    if not isinstance(prediction(outputs), torch.Tensor):
        raise InvalidValueError(
            "the model's output",
            describe(outputs),
            "one tensor of scores (or outputs with .logits) on (input, target) data; for more, such as an "
            "auxiliary loss, give dict batches and training.compute_loss",
        )


def _runs_as_images(model: nn.Module, rows: torch.Tensor, input_shape: tuple[int, ...]) -> bool:
    """Whether ``model`` (in eval mode) takes ``rows`` viewed as ``input_shape``; the random state kept."""
    try:
        with modes_kept(model), torch.random.fork_rng(devices=[]), torch.no_grad():
            model.eval()(rows.reshape(-1, *input_shape))
    except Exception:  # any refusal: the model does not take them
        return False
    return True


def _input_shape(name: str, splits: Any) -> tuple[int, ...]:
    """The shape an architecture is built for: images as images (CNNs see digits as 8x8 images; MLPs
    flatten them) where it takes images, as the user's own code may; else the flat rows, which a
    sequence model reads as a sequence of values (a Transformer: digits' 64 pixels, one a position)."""
    capabilities = get_registry("model").get(name).capabilities
    if splits.image_shape and (Capability.IMAGES in capabilities or Capability.USER in capabilities):
        return tuple(splits.image_shape)
    return tuple(splits.input_shape)


def _asked_by_data(name: str, splits: Any) -> dict[str, Any]:
    """The architecture's options that the data decides, where the recipe leaves them unset: token ids
    are embedded (``vocab_size``), and next-token targets need an output per position that sees only
    earlier positions (``per_token``, ``causal``)."""
    registry = get_registry("model")
    takes = registry.get(name).hyperparameter_names
    asked: dict[str, Any] = {"vocab_size": splits.vocab_size} if splits.vocab_size else {}
    if splits.next_token:
        if "per_token" not in takes:
            able = [n for n in registry.names() if "per_token" in registry.get(n).hyperparameter_names]
            raise InvalidValueError(
                f"model.name (--model; the default is {ModelSpec.model_fields['name'].default})",
                name,
                f"an architecture with an output per position for {splits.name}'s next-token targets: "
                + ", ".join(able),
            )
        asked.update(per_token=True, causal=True)
    return {k: v for k, v in asked.items() if k in takes}


def _model_of_batches(recipe: Recipe, keywords: dict[str, Any], data_dependent: bool) -> nn.Module:
    """The user's model for dict batches: their factory with the recipe's options, nothing around it (the
    model takes the batch's named inputs as they are)."""
    entry = get_registry("model").get(recipe.model.name)
    wanted = getattr(entry.obj, "data_keywords", None)  # set on the user's factories (models/user.py)
    if wanted is None:
        raise InvalidValueError(
            "model.name",
            recipe.model.name,
            "the user's model factory (an import path or an object): a built-in architecture needs "
            "(input, target) tensors to size itself",
        )
    if wanted:
        raise InvalidValueError(
            "model.name",
            f"{recipe.model.name} asking for {', '.join(wanted)}",
            "a factory that does not ask for input_shape or num_outputs: dict batches give no shapes "
            "(build the model from its own config)",
        )
    if recipe.data.scaling != "none":
        raise InvalidValueError(
            "data.scaling", recipe.data.scaling, "'none': dict batches reach the model as they are"
        )
    if data_dependent:
        raise InvalidValueError("model.init", recipe.model.init, "an init that needs no data (dict batches)")
    return entry.create(**keywords)


def build_loss(recipe: Recipe, splits: Any) -> nn.Module | None:
    """The recipe's loss; else the data set's own (noisy quadratic); else the task's usual one. None for
    dict batches whose loss the model returns (``training.loss: model``, the default for them) or
    ``training.compute_loss`` computes."""
    spec = recipe.training
    if isinstance(splits, BatchSplits):
        if spec.loss in (None, MODEL_LOSS) or spec.compute_loss is not None:
            return None
    elif spec.loss == MODEL_LOSS or spec.compute_loss is not None:
        raise InvalidValueError(
            "training.loss" if spec.compute_loss is None else "training.compute_loss",
            spec.loss or spec.compute_loss,
            "a loss of (outputs, targets) for (input, target) data: the model's own loss and "
            "compute_loss(model, batch) are for dict batches",
        )
    elif spec.loss is None and splits.loss is not None:
        if spec.loss_options:  # they would go unread
            raise InvalidValueError(
                "training.loss_options",
                spec.loss_options,
                f"none with {splits.name}'s own loss ({type(splits.loss).__name__}), or a training.loss "
                "they are options of",
            )
        return splits.loss
    name = spec.loss or ("cross_entropy" if splits.task == "classification" else "mse")
    if not isinstance(splits, BatchSplits):  # the user's batches: the loss is theirs to pair
        _check_fits_task(name, splits)
    made = get_registry("loss").create(name, **spec.loss_options)
    if not isinstance(splits, BatchSplits) and splits.task == "classification" and _is_bce(made):
        return PointwiseLoss(made)  # the user's BCE gets the class ids as the 0/1 floats it takes, as bce
    if _per_position(splits) and isinstance(made, nn.CrossEntropyLoss):
        return ClassesLast(made)
    return made


def _per_position(splits: Any) -> bool:
    """Whether a data set that brings its own loss has class ids per position, ``(N, T)``, read against
    logits ``(N, T, V)`` (python_source's next characters): a recipe's cross-entropy must take the classes
    last as that loss does, not at dim 1 as torch's (positions as classes, refused or, where T = V,
    silently wrong)."""
    if isinstance(splits, BatchSplits) or splits.loss is None or splits.task != "classification":
        return False
    return splits.train.y.dim() > 1


def _binary(loss: str) -> bool:
    """Whether ``loss`` takes one logit per 0/1 target: a registered binary loss (bce), or the user's
    when it is torch's ``BCEWithLogitsLoss``; not the model's own loss (refused for tensors by
    :func:`build_loss`, with its reason)."""
    registry = get_registry("loss")
    if loss not in registry:
        return False
    entry = registry.get(loss)
    if Capability.USER in entry.capabilities:
        return _is_bce(entry.create())
    return Capability.BINARY in entry.capabilities


def _is_bce(loss: nn.Module) -> bool:
    """torch's binary cross-entropy of a logit (Goodfellow et al. 2016, sec. 6.2.2.2). Not ``BCELoss``:
    its model outputs a probability, which the accuracy, reading a logit's sign, would misread."""
    return isinstance(loss, nn.BCEWithLogitsLoss)


def _check_fits_task(loss: str, splits: Any) -> None:
    """Refuse a built-in loss of the other task (cross-entropy of one regression target is 0: nothing
    trains), or a binary one (one logit of class 1) of more than 2 classes; the user's are theirs."""
    registry = get_registry("loss")
    capabilities = registry.get(loss).capabilities
    if Capability.USER in capabilities:
        return
    two_classes = splits.task != "classification" or splits.num_classes == 2
    fitting = [
        e.name
        for e in registry
        if splits.task in e.capabilities
        and Capability.USER not in e.capabilities
        and (two_classes or Capability.BINARY not in e.capabilities)
    ]
    if loss not in fitting:
        what = splits.task if two_classes else f"{splits.num_classes}-class"
        raise InvalidValueError(
            "training.loss", loss, f"a {what} loss for {splits.name}: {', '.join(fitting)}"
        )


def _check_takes_targets(name: str, model: nn.Module, target: str | None, train: Any) -> None:
    """Refuse the model's own loss (the default for dict batches) of a model whose ``forward`` cannot take
    the batches' ``target`` (``labels``), so cannot return a loss of them: a plain module of named inputs
    that returns scores. It said "forward() got an unexpected keyword argument 'labels'" of the batch. A
    forward given the batch whole (``def forward(self, batch)``: :func:`takes_dict_whole` of the keys of
    ``train``'s first item) may return its loss."""
    parameters = inspect.signature(model.forward).parameters.values()
    if target is None or any(p.name == target or p.kind is p.VAR_KEYWORD for p in parameters):
        return
    if takes_dict_whole(model, batch_keys(train)):  # def forward(self, batch): the batch, target and all
        return
    raise InvalidValueError(
        "training.loss",
        f"{MODEL_LOSS} (the default for dict batches): {name}'s forward takes no {target!r}, so returns "
        "no loss of them",
        f"a loss of its outputs and the batch's {target!r} (training.loss: cross_entropy in a recipe), "
        "or training.compute_loss: mypkg.losses:step",
    )


def build_optimizer(recipe: Recipe, model: nn.Module, steps: int) -> torch.optim.Optimizer:
    """The recipe's optimizer over ``model``'s parameters, for a run of ``steps`` steps."""
    from optimlab.optim import create

    keywords = optimizer_keywords(recipe, build_momentum(recipe, steps))
    return create(recipe.optimizer.name, model.parameters(), **keywords)


def build_momentum(recipe: Recipe, steps: int) -> Callable[[int], float] | None:
    """The momentum the schedule cycles over ``steps`` steps (``schedule.cycle_momentum``), else None.

    torch's OneCycleLR with ``cycle_momentum=True``: :func:`~optimlab.schedules.one_cycle_momentum` over
    the steps after the warmup, in one_cycle's phases, held at ``max_momentum`` during the warmup.
    References: Smith 2018, https://arxiv.org/abs/1803.09820
    """
    from optimlab.schedules import linear_warmup, one_cycle_momentum

    spec = recipe.schedule
    if not spec.cycle_momentum:
        return None
    takes = inspect.signature(one_cycle_momentum).parameters
    phases = {k: v for k, v in spec.options.items() if k in takes}
    cycle = one_cycle_momentum(
        steps - spec.warmup_steps, base_momentum=spec.base_momentum, max_momentum=spec.max_momentum, **phases
    )
    return linear_warmup(cycle, spec.warmup_steps, start=spec.max_momentum)


def optimizer_keywords(recipe: Recipe, momentum: Callable[[int], float] | None) -> dict[str, Any]:
    """The optimizer's keywords, with ``momentum`` (:func:`build_momentum`) as its momentum or its
    first beta, as torch's OneCycleLR sets them (the second beta stays the recipe's)."""
    from optimlab.schedules.families import momentum_field

    keywords = recipe.optimizer.keywords()
    if momentum is None:
        return keywords
    field = momentum_field(recipe.optimizer.name)
    if field == "momentum":
        return {**keywords, "momentum": momentum}
    entry = get_registry("optimizer").get(recipe.optimizer.name)
    defaults = {**{h.name: h.default for h in entry.hyperparameters}, **entry.defaults}
    return {**keywords, "betas": (momentum, *keywords.get("betas", defaults["betas"])[1:])}


def total_steps(recipe: Recipe, num_train: int) -> int:
    """The run's optimizer steps: ``training.steps``, else its epochs of ``num_train`` rows."""
    from optimlab.data.batches import RECIPE_BATCHING, steps_per_epoch

    spec = recipe.training
    if spec.steps is not None:
        return spec.steps
    batches = steps_per_epoch(num_train, spec.batch_size, spec.drop_last, names=RECIPE_BATCHING)
    return spec.epochs * _optimizer_steps(batches, spec)


def _optimizer_steps(batches: int, spec: TrainingSpec) -> int:
    """Optimizer steps of an epoch of ``batches`` in groups of ``accumulate_grad_batches`` (the last
    one maybe shorter: groups never span an epoch's end, as :func:`optimlab.fit` takes them)."""
    return math.ceil(batches / spec.accumulate_grad_batches)


def _check_batched_as_given(recipe: Recipe, splits: BatchSplits) -> None:
    """Refuse a batch size, shuffle or drop_last of the recipe's for training batches that come batched
    (a DataLoader, a list of batches): they keep their own, so the value, recorded with the run, would
    never be used (--batch-size 4 trained on the loader's batches of 8)."""
    if not splits.train_comes_batched:
        return
    spec, fields = recipe.training, TrainingSpec.model_fields
    for name in ("batch_size", "shuffle", "drop_last"):
        if getattr(spec, name) != fields[name].default:
            raise InvalidValueError(
                f"training.{name}",
                getattr(spec, name),
                f"its default, {fields[name].default}: the training batches of {splits.name} come batched "
                f"({describe(splits.train)}), so set it there, or give a Dataset of dict items, which the "
                "recipe batches",
            )


def training_steps(recipe: Recipe, splits: Any) -> int:
    """The run's optimizer steps: ``training.steps``, else its epochs of the training split (of the
    user's dict batches: as many steps an epoch as they make batches)."""
    if not isinstance(splits, BatchSplits):
        return total_steps(recipe, splits.train.x.shape[0])
    _check_batched_as_given(recipe, splits)
    spec = recipe.training
    if spec.steps is not None:
        return spec.steps
    batches = user_batches(recipe, splits.train, None, None, train=True)
    epoch = batches.steps_per_epoch
    if epoch == 0:  # not 0 steps: a run that trains nothing, without a word
        raise batches.no_batch()
    if epoch is None:
        raise InvalidValueError(
            "training.steps", None, "a number of steps: the training batches do not say how many an epoch has"
        )
    return spec.epochs * _optimizer_steps(epoch, spec)


def _check_batch_past_split(recipe: Recipe, splits: Any) -> None:
    """A ``training.batch_size`` more than the training split's rows: refused where ``drop_last`` drops
    every batch then (in the recipe's words, before a step); else each step takes the whole split
    (torch's DataLoader does so too), which is said where the size or the split's fraction was chosen
    (``data_fraction`` 1e-6 trains on a row a class): the default 32 over a small file is no choice to warn
    of. The recipe records the size as given, which makes the same batches again."""
    from optimlab.data.batches import RECIPE_BATCHING, steps_per_epoch

    train, spec = splits.train, recipe.training
    if isinstance(splits, BatchSplits):
        if splits.train_comes_batched:  # the user chose the size
            return
        rows = len(train)
    else:
        rows = train.x.shape[0]
    if spec.batch_size <= rows or rows == 0:
        return
    if spec.drop_last:
        steps_per_epoch(rows, spec.batch_size, drop_last=True, names=RECIPE_BATCHING)
    fraction = recipe.data.data_fraction
    if spec.batch_size == TrainingSpec.model_fields["batch_size"].default and fraction == 1:
        return
    kept = f" data.data_fraction {fraction:g} keeps" if fraction < 1 else ""
    warnings.warn(
        f"batch_size {spec.batch_size:,} is more than the {count_of(rows, 'training row')}{kept} of "
        f"{splits.name}: each step takes the whole split, a batch of {count_of(rows, 'row')}, one step an "
        "epoch",
        OptimlabWarning,
        stacklevel=user_stacklevel(),
    )


def _check_accumulation_past_epoch(recipe: Recipe, splits: Any) -> None:
    """A ``training.accumulate_grad_batches`` more than the batches an epoch has: a group never spans an
    epoch's end (:func:`_optimizer_steps`), so each step takes the epoch's batches, one step an epoch, as a
    batch size past the split does (:func:`_check_batch_past_split`), said alike (accumulating 50 over an
    epoch of 34 batches made every step one of 34 without a word)."""
    from optimlab.data.batches import RECIPE_BATCHING, steps_per_epoch

    spec = recipe.training
    if spec.accumulate_grad_batches == 1:  # a step a batch: nothing to count
        return
    if isinstance(splits, BatchSplits):
        batches = user_batches(recipe, splits.train, None, None, train=True).steps_per_epoch
    else:
        batches = steps_per_epoch(
            splits.train.x.shape[0], spec.batch_size, spec.drop_last, names=RECIPE_BATCHING
        )
    if not batches or spec.accumulate_grad_batches <= batches:  # None: an epoch of batches not said
        return
    warnings.warn(
        f"accumulate_grad_batches {spec.accumulate_grad_batches:,} is more than the "
        f"{count_of(batches, 'batch')} an epoch of {splits.name} has: each step accumulates the "
        f"whole epoch, {count_of(batches, 'batch')}, one step an epoch",
        OptimlabWarning,
        stacklevel=user_stacklevel(),
    )


def user_batches(
    recipe: Recipe,
    split: Any,
    loss_fn: nn.Module | None,
    compute_loss: Callable[[nn.Module, Any], torch.Tensor] | None,
    *,
    train: bool,
) -> UserBatches:
    """A split of the user's dict batches with its loss: for training, in the recipe's batches and
    order; else every example once, in order (an evaluation)."""
    spec = recipe.training
    return UserBatches(
        split,
        loss_fn,
        compute_loss=compute_loss,
        batch_size=spec.batch_size,
        seed=spec.seed,
        shuffle=spec.shuffle and train,
        drop_last=spec.drop_last and train,
    )


def build_schedule(recipe: Recipe, steps: int) -> Callable[[int], float]:
    """The recipe's schedule over ``steps`` steps: ``step -> multiplier`` of the peak lr."""
    from optimlab.schedules.create import check_warmup, create

    spec = recipe.schedule
    check_warmup(spec.name, steps, spec.warmup_steps, "schedule.warmup_steps")
    return create(
        spec.name,
        total_steps=steps,
        warmup_steps=spec.warmup_steps,
        warmup_start=spec.warmup_start,
        **spec.options,
    )


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
    loss_fn: nn.Module | None  # None: dict batches, the model's own loss or compute_loss
    optimizer: torch.optim.Optimizer
    scheduler: Any
    total_steps: int
    device: torch.device
    compute_loss: Callable[[nn.Module, Any], torch.Tensor] | None = None  # training.compute_loss

    def batches(self, split: Any, *, train: bool = False) -> UserBatches:
        """A split of the user's dict batches with this run's loss (:func:`user_batches`)."""
        return user_batches(self.recipe, split, self.loss_fn, self.compute_loss, train=train)


def build(recipe: Recipe) -> Built:
    """Build data, model, loss, optimizer and schedule, all on the recipe's device."""
    from optimlab.models.user import check_model

    device = resolve_device(recipe.training.device)
    splits = build_data(recipe)
    model = build_model(recipe, splits).to(device)
    # The architecture's technique fields reach it; the init too where the build draws it on the model.
    drawn = {"init"} if recipe.model.init_drawn_by_build() else set()
    takes_recipe_fields(model, recipe.model.name, {*architecture_techniques(recipe.model.name), *drawn})
    check_model(model)  # before the optimizer, whose refusal of no parameters is torch's bare ValueError
    loss_fn = build_loss(recipe, splits)
    path = recipe.training.compute_loss
    if isinstance(splits, BatchSplits) and loss_fn is None and path is None:
        _check_takes_targets(recipe.model.name, model, splits.target, splits.train)
    steps = training_steps(recipe, splits)
    _check_batch_past_split(recipe, splits)
    _check_accumulation_past_epoch(recipe, splits)
    optimizer = build_optimizer(recipe, model, steps)
    return Built(
        recipe=recipe,
        splits=splits,
        model=model,
        loss_fn=loss_fn.to(device) if loss_fn is not None else None,
        optimizer=optimizer,
        scheduler=build_scheduler(recipe, optimizer, steps),
        total_steps=steps,
        device=device,
        compute_loss=import_object(path, "compute_loss") if path is not None else None,
    )
