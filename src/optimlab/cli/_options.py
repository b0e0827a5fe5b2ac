"""Options shared by several verbs, declared once, and how they override a recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from optimlab.recipe import Recipe

FormatOpt = Annotated[str, typer.Option("--format", help="Output: human or json.")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help=(
            "Torch threads of this process (default: torch's own, every core unless OMP_NUM_THREADS says "
            "otherwise, with --backend batched, whose stacked models use them; else 1, fastest for one small "
            "model, and each worker process takes one)."
        ),
    ),
]
RecipeArg = Annotated[
    Path | None, typer.Argument(help="Recipe YAML file; flags override its fields.", show_default=False)
]
DatasetOpt = Annotated[
    str | None, typer.Option("--dataset", help="Built-in data set or a CSV/NumPy/IDX path.")
]
ScalingOpt = Annotated[
    str | None, typer.Option("--scaling", help="Input scaling: none, standardize, minmax, ...")
]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Architecture: mlp, cnn, resnet, transformer.")]
WidthOpt = Annotated[int | None, typer.Option("--width", help="Hidden width (channels for CNNs).")]
DepthOpt = Annotated[
    int | None, typer.Option("--depth", help="Hidden layers (blocks per stage for ResNets).")
]
InitOpt = Annotated[str | None, typer.Option("--init", help="Weight init: he, xavier_normal, lsuv, ...")]
ActOpt = Annotated[
    str | None, typer.Option("--act", "--activation", help="Activation: relu, tanh, gelu, ...")
]
NormOpt = Annotated[str | None, typer.Option("--norm", help="Normalization layer: batch, layer, none, ...")]
OptimizerOpt = Annotated[
    str | None, typer.Option("--optimizer", "--opt", help="Optimizer: sgd, adam, lion, ...")
]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate (peak, when scheduled).")]
WeightDecayOpt = Annotated[float | None, typer.Option("--weight-decay", "--wd", help="Weight decay.")]
ScheduleOpt = Annotated[
    str | None, typer.Option("--schedule", help="LR schedule: constant, cosine, wsd, ...")
]
WarmupOpt = Annotated[int | None, typer.Option("--warmup-steps", help="Linear warmup steps.")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Passes over the training split.")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Optimizer steps (overrides --epochs).")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="Rows per minibatch.")]
ClipOpt = Annotated[float | None, typer.Option("--grad-clip", help="Clip the global gradient norm to this.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of split, init and batch order.")]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="cpu, cuda, or auto (a GPU when there is one).")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder of your MNIST/Fashion-MNIST/CIFAR-10 files, for the workloads that read them.",
    ),
]
PrecisionOpt = Annotated[str | None, typer.Option("--precision", help="fp32, or bf16 autocast.")]

# flag name -> dotted recipe field
RECIPE_FLAGS = {
    "dataset": "data.name",
    "scaling": "data.scaling",
    "model": "model.name",
    "width": "model.width",
    "depth": "model.depth",
    "init": "model.init",
    "act": "model.activation",
    "norm": "model.norm",
    "optimizer": "optimizer.name",
    "lr": "optimizer.lr",
    "weight_decay": "optimizer.weight_decay",
    "schedule": "schedule.name",
    "warmup_steps": "schedule.warmup_steps",
    "epochs": "training.epochs",
    "steps": "training.steps",
    "batch_size": "training.batch_size",
    "grad_clip": "training.grad_clip_norm",
    "seed": "training.seed",
    "device": "training.device",
    "precision": "training.precision",
}


def recipe_from_options(recipe_path: Path | None, flags: dict[str, Any]) -> Recipe:
    """The recipe file (or the default recipe) with every given flag applied on top."""
    recipe = Recipe.load(recipe_path) if recipe_path is not None else Recipe()
    updates = {RECIPE_FLAGS[name]: value for name, value in flags.items() if value is not None}
    return recipe.with_updates(updates) if updates else recipe


def torch_threads(threads: int | None, backend: str) -> int:
    """The ``--threads`` given, else the default that :data:`ThreadsOpt` describes."""
    import torch

    from optimlab.errors import InvalidValueError

    if threads is not None:
        if threads < 1:
            raise InvalidValueError("--threads", threads, "a whole number of threads >= 1")
        return threads
    return torch.get_num_threads() if backend == "batched" else 1
