"""Options shared by several verbs, declared once: their names, help, accepted values, and how the recipe
flags override a recipe.

Every value is checked while the command line is parsed (ranges, finite numbers, choices, writable
targets, devices), so a bad call answers in a fraction of a second, before torch loads or any work
starts, and the message names the flag as typed.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from optimlab.cli import _checks as checks
from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError, close_matches, did_you_mean
from optimlab.number_text import below_smallest_float, infinity_word, read_number, read_whole_number
from optimlab.registry import (
    BATCH_ROWS,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    SEED,
    STUDY_TRIALS,
    Interval,
)
from optimlab.runs_folder import RECIPE_NAME, is_run_folder
from optimlab.study.backends import BACKENDS, BackendOptions
from optimlab.user_paths import expand_home

if TYPE_CHECKING:
    from optimlab.cli._output import Output
    from optimlab.recipe import Recipe

CONTEXT = {"help_option_names": ["-h", "--help"]}
FORMATS = ("human", "json")
# More torch threads than cores only slows a run down, and a huge count overflows torch's C int (a
# traceback) or crashes it (100000 threads: a segmentation fault at exit).
THREADS = Interval(1, os.cpu_count() or 1, integer=True)


def epilog(examples: str) -> str:
    """Examples kept one per line: click re-wraps every paragraph not marked by a ``\\b`` line."""
    head, _, body = examples.strip("\n").partition("\n")
    return f"{head}\n\n\b\n{body}"


def number(interval: Interval) -> Callable[[str], float | int]:
    """A parser accepting finite numbers within ``interval``, typed as a recipe's are read: an integer
    one's as :func:`~optimlab.number_text.read_whole_number` reads them (``1e3`` is 1000, ``1.5`` none),
    another's as :func:`~optimlab.number_text.read_number` does; ``1_0`` is no 10."""

    def parse(text: str | float) -> float | int:
        # click passes an option's default through the parser too: a number already
        if isinstance(text, (int, float)):
            value: float | int | None = text
        else:
            value = read_whole_number(text) if interval.integer else read_number(text)
        if value is None:  # 'inf' too, no number as typed: its range named by int64's bound, not as [2, inf)
            raise typer.BadParameter(
                f"{text!r} is not {interval.accepted_for(float(text) if infinity_word(text) else None)}"
            )
        if isinstance(text, str) and below_smallest_float(text) and not interval.integer:
            # 1e-400 is 0.0 as a float: --weight-decay took it as 0, --lr refused it as outside (0, inf);
            # for a count it is a fraction, refused as no whole number below
            raise typer.BadParameter(
                f"{text!r} is below the smallest float, about 5e-324: accepted {interval}"
            )
        # a float read for an integer range writes no whole number ('9007199254740993.5', its float whole)
        fraction = interval.integer and not isinstance(value, int)
        if fraction or not math.isfinite(value) or not interval.contains(value):
            raise typer.BadParameter(f"{text!r} is not accepted: {interval.accepted_for(value)}")
        return value

    return parse


def choice(*accepted: str) -> Callable[[str], str]:
    """A parser accepting one of ``accepted`` (any case); its option shows them as its metavar,
    ``metavar="|".join(...)``, as the tests check through ``parse.accepted``."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in accepted:
            near = close_matches(value, accepted)
            # a sentence of its own: the phrase's parentheses ran into click's "(see ... -h)" after it
            raise typer.BadParameter(
                f"{text!r} is not one of {', '.join(accepted)}.{did_you_mean(near, sentence=True)}"
            )
        return value

    parse.accepted = accepted  # type: ignore[attr-defined]
    return parse


def tracker(text: str) -> str:
    """``--log``: a tracker's name (its module loads only when the flag is given)."""
    from optimlab.integrations import TRACKERS

    return choice(*TRACKERS)(text)


FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        parser=choice(*FORMATS),
        help="Output: human, or json: one JSON document on stdout (progress and errors on stderr).",
        metavar="human|json",
    ),
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress while it runs.")]


ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", parser=number(THREADS), help="Torch threads, at most the cores.")
]
StudyThreadsOpt = ThreadsOpt  # compare's, bench's and worker's: a default of their own (DEFAULTS_SAID)
RecipeArg = Annotated[
    Path | None,
    typer.Argument(
        help="Recipe YAML file; flags override its fields.",
        metavar="RECIPE",
        show_default=False,
        parser=checks.recipe_file,
    ),
]
DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        parser=checks.dataset,
        help="Built-in data set, a CSV/NumPy/IDX path, a folder of class folders of images or of CIFAR-10 "
        "batches, or your factory pkg.mod:load.",
    ),
]


def column(text: str) -> str | int:
    """``--target``: a whole number is a column's 0-based position, anything else its header."""
    position = read_number(text, integer=True)
    return text if position is None else position


TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        parser=column,
        metavar="COLUMN",
        help="Target column of a CSV/TSV file or a .npy table: its header, or its 0-based position in plain "
        "digits (1e0 is read as a header).",
    ),
]
ScalingOpt = Annotated[
    str | None,
    typer.Option("--scaling", parser=checks.name, help="Input scaling: none, standardize, minmax, ..."),
]


def _model_option(rule: str) -> Any:
    """``--model``, whose fields rule (what of the old model is kept) is each verb's own ``rule``."""
    return Annotated[
        str | None,
        typer.Option(
            "--model",
            parser=checks.name,
            help=f"Architecture: mlp, cnn, resnet, transformer, or your factory pkg.mod:build. {rule}",
        ),
    ]


_KEPT = (
    "model fields that chose something (gelu over the MLP's relu, a width) are kept where this model takes "
    "them, the rest are its own; a chosen technique it does not take is refused, a size or option dropped"
)
# train, doctor, lr-find: a RECIPE (or the flags) and --set, no workload
ModelOpt = _model_option(f"The RECIPE's {_KEPT}; --set wins.")
CompareModelOpt = _model_option(
    f"The RECIPE's {_KEPT} (remove such a technique from the file). A --workload's model is replaced whole."
)
BenchModelOpt = _model_option("Each workload's model is replaced whole: this one at its own defaults.")
WidthOpt = Annotated[
    int | None, typer.Option("--width", parser=number(POSITIVE_INT), help="Hidden width (channels for CNNs).")
]
DepthOpt = Annotated[
    int | None,
    typer.Option(
        "--depth", parser=number(NON_NEGATIVE_INT), help="Hidden layers (blocks per stage for ResNets)."
    ),
]
InitOpt = Annotated[
    str | None, typer.Option("--init", parser=checks.name, help="Weight init: he, xavier_normal, lsuv, ...")
]
ActOpt = Annotated[
    str | None,
    typer.Option("--act", "--activation", parser=checks.name, help="Activation: relu, tanh, gelu, ..."),
]
NormOpt = Annotated[
    str | None,
    typer.Option("--norm", parser=checks.name, help="Normalization layer: batch, layer, none, ..."),
]
OptimizerOpt = Annotated[
    str | None,
    typer.Option("--optimizer", "--opt", parser=checks.name, help="Optimizer: sgd, adam, lion, ..."),
]
LrOpt = Annotated[
    float | None,
    typer.Option("--lr", parser=number(POSITIVE), help="Learning rate (peak, when scheduled)."),
]
WeightDecayOpt = Annotated[
    float | None, typer.Option("--weight-decay", "--wd", parser=number(NON_NEGATIVE), help="Weight decay.")
]
ScheduleOpt = Annotated[
    str | None,
    typer.Option("--schedule", parser=checks.name, help="LR schedule: constant, cosine, wsd, ..."),
]
WarmupOpt = Annotated[
    int | None, typer.Option("--warmup-steps", parser=number(NON_NEGATIVE_INT), help="Linear warmup steps.")
]
EpochsOpt = Annotated[
    int | None, typer.Option("--epochs", parser=number(POSITIVE_INT), help="Passes over the training split.")
]
StepsOpt = Annotated[
    int | None,
    typer.Option("--steps", parser=number(POSITIVE_INT), help="Optimizer steps (overrides --epochs)."),
]
BatchOpt = Annotated[
    int | None, typer.Option("--batch-size", parser=number(BATCH_ROWS), help="Rows per minibatch.")
]
ClipOpt = Annotated[
    float | None,
    typer.Option("--grad-clip", parser=number(POSITIVE), help="Clip the global gradient norm to this."),
]
AccumulateOpt = Annotated[
    int | None,
    typer.Option(
        "--accumulate-grad-batches",
        parser=number(POSITIVE_INT),
        help="Batches whose gradients one optimizer step takes (a step of --batch-size x N rows).",
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", parser=number(SEED), help="Seed of split, init and batch order."),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device", parser=checks.device, help="cpu, cuda, cuda:N, mps, or auto (a GPU when there is one)."
    ),
]
PRECISIONS = ("fp32", "bf16")
PrecisionOpt = Annotated[
    str | None,
    typer.Option(
        "--precision",
        parser=choice(*PRECISIONS),
        metavar="|".join(PRECISIONS),
        help="fp32, or bf16 autocast.",
    ),
]


def _log(tensorboard: str, what: str = "the metrics") -> Any:
    """``--log``, saying where TensorBoard's event files go for the verb: ``tensorboard``."""
    return Annotated[
        list[str] | None,
        typer.Option(
            "--log",
            parser=tracker,
            metavar="tensorboard|mlflow",
            help=f"Also send {what} to a tracker: tensorboard (event files in {tensorboard}) or mlflow "
            "(MLFLOW_TRACKING_URI, else ./mlflow.db); repeat for both. pip install 'optimlab[trackers]'.",
        ),
    ]


LogOpt = _log("the run folder's tensorboard/")
ReportLogOpt = _log("each run's or study's folder's tensorboard/")
DoctorLogOpt = _log("./tensorboard/doctor-<recipe id>", what="the findings")


def field_value(text: str) -> str:
    """One ``--set FIELD=VALUE``: a dotted recipe field and a value (read as YAML when applied)."""
    field, equals, value = (part.strip() for part in text.partition("="))
    parts = field.split(".")  # 'optimizer..lr' and 'optimizer.lr.' name no field
    dotted = len(parts) >= 2 and all(parts) and " " not in field
    if not equals or not dotted:
        # a field by its bare name (seed=1): the dotted ones that may hold it, not a second spelling of it
        fields = [field] if dotted else _dotted_fields(field)
        sets = [f"--set {name}={value or 'VALUE'}" for name in fields]
        example = " or ".join(sets) if sets else "e.g. model.init.gain=2 or optimizer.betas=[0.9,0.95]"
        if not dotted and (fields_of_section := _section_sets(field, value)):
            example = fields_of_section  # optimizer={name: sgd} was told '--set optimizer.name={name: sgd}'
        raise typer.BadParameter(f"{text!r} is not FIELD=VALUE with a dotted recipe field: {example}")
    return text


def _section_sets(section: str, value: str) -> str | None:
    """``--set optimizer={name: sgd, lr: 0.1}``, a recipe section given whole as a mapping, as the --set
    flags of its fields: ``--set optimizer.name=sgd --set optimizer.lr=0.1``, each value written by the
    recipe's YAML dumper, so --set reads back what the mapping held (a date, ``"no"`` kept a string, where
    JSON's text raised a TypeError or wrote ``no``, read as false); None for anything else."""
    import yaml

    from optimlab.recipe import dump_yaml, load_yaml

    if section not in {field.partition(".")[0] for field in RECIPE_FLAGS.values()}:
        return None
    try:
        fields = load_yaml(value)
    except yaml.YAMLError:
        return None
    if not isinstance(fields, dict) or not all(isinstance(key, str) for key in fields):
        return None
    if not fields:  # optimizer={} was told '--set optimizer.name={}'
        return f"--set {section}.FIELD=VALUE for each of its fields"
    texts = {  # a one-item flow list, its brackets cut: the value as YAML writes it on one line
        key: dump_yaml([held], default_flow_style=True, width=math.inf, sort_keys=False).strip()[1:-1]
        for key, held in fields.items()
    }
    return " ".join(f"--set {shlex.quote(f'{section}.{key}={text}')}" for key, text in texts.items())


def _dotted_fields(name: str) -> list[str]:
    """The recipe fields a flag or a field's last part names (``seed``: ``training.seed``, ``grad_clip_norm``:
    ``training.grad_clip_norm``; ``name``: ``data.name``, ``model.name``, ...); none for any other name."""
    key = name.replace("-", "_")
    if key in RECIPE_FLAGS:
        return [RECIPE_FLAGS[key]]
    return [field for field in dict.fromkeys(RECIPE_FLAGS.values()) if field.rsplit(".", 1)[-1] == key]


SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        parser=field_value,
        metavar="FIELD=VALUE",
        help="Set any recipe field, its value read as YAML: a technique's hyperparameter (model.init.gain=2, "
        "model.norm.momentum=0.01, model.activation.negative_slope=0.2) or any other (optimizer.betas=[0.9,0.95]); "
        "repeat for more.",
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        parser=checks.existing_folder,
        help="Folder of your MNIST/Fashion-MNIST/CIFAR-10 files, for the workloads that read them.",
    ),
]

# --- the study options that compare and bench share ------------------------------------------------
OptimizersOpt = Annotated[
    str | None, typer.Option("--optimizers", help="Optimizers to compare, comma-separated.")
]
# optimlab.study.protocols' StudySpec defaults and PROTOCOLS, named here so -h says them before torch loads
STUDY_DEFAULTS = {"protocol": "grid", "budget": 7, "seeds": 3}
PROTOCOLS = ("grid", "random", "tpe")
SeedsOpt = Annotated[
    int | None,
    typer.Option(
        "--seeds",
        parser=number(STUDY_TRIALS),
        help="Fresh seeds for each method's best config.",
    ),
]
BudgetOpt = Annotated[
    int | None,
    typer.Option(
        "--budget",
        parser=number(STUDY_TRIALS),
        help="Tuning trials per method.",
    ),
]
ProtocolOpt = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        parser=choice(*PROTOCOLS),
        metavar="|".join(PROTOCOLS),
        help="Tuning: grid, random or tpe.",
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        parser=choice(*BACKENDS),
        metavar="|".join(BACKENDS),
        help="Where trials run: local (here, one at a time), batched (many at once as one stacked model), "
        "workers (worker processes) or ray (a Ray cluster).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        parser=number(NON_NEGATIVE_INT),
        help="Worker processes or Ray tasks; 0 with --backend workers: wait for `optimlab worker`s.",
    ),
]
MembersOpt = Annotated[
    int | None,
    typer.Option(
        "--members",
        parser=number(POSITIVE_INT),
        help="Trials trained at once by the batched backend.",
    ),
]
CHECK_BUDGET = 30.0  # seconds: the doctor on any built-in example stays within a minute (issue 15)
CheckBudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--check-budget",
        parser=number(NON_NEGATIVE),
        metavar="SECONDS",
        help=(
            "Seconds the check of the lr candidates may take, estimated from the range test (0: no "
            "limit). Over it, the check leaves out cross-fitted checks, then "
            "candidates, then steps down to a quarter of the run, else it is not run; it says so. Run "
            "one at a time, its candidates are timed again as they go and the rest cut to the time left; "
            "one that still overran (a machine slowed mid-run) says how long it took."
        ),
    ),
]


def check_budget(seconds: float | None) -> float | None:
    """``--check-budget`` as :func:`optimlab.doctor.find_lr` takes it: not given, the default; 0 is no
    limit (None)."""
    return CHECK_BUDGET if seconds is None else seconds or None


StudyOutOpt = Annotated[
    Path | None,
    typer.Option("--out", parser=checks.study_folder, help="Output folder, new or empty."),
]


def _resume_option(parser: Callable[[str], Path], then: str) -> Any:
    """``--resume FOLDER`` of bench and compare, ``parser`` checking FOLDER, ``then`` what the verb's own
    resume takes beside it."""
    return Annotated[
        Path | None,
        typer.Option(
            "--resume",
            parser=parser,
            metavar="FOLDER",
            help=f"Continue the work kept in FOLDER (the --out of the stopped run) with the settings saved there; {then}",
        ),
    ]


ResumeOpt = _resume_option(  # bench's
    checks.resumed_folder,
    "a flag that would change them (--suite, --optimizers, --budget...) or --out is refused beside it.",
)
# compare's: FOLDER is checked once --storage is known (with it, a new folder takes the report)
StudyResumeOpt = _resume_option(
    lambda text: Path(checks.given(text, "a folder")),
    "it also takes the command that started it, --resume FOLDER in place of --out, its flags checked "
    "against those settings, and with --storage, FOLDER is where its report and tables go, the first "
    "run's or a new one.",
)


def split_names(text: str | None) -> list[str]:
    """``sgd, adam,`` -> ``["sgd", "adam"]``: a comma-separated flag's names."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def check_names(text: str | None, flag: str, category: str | None = None) -> None:
    """A comma-separated flag, if given, names at least one thing (``,,`` names none), each one a name of
    ``category`` (close matches offered) or an import path (``pkg.mod:Name``). Where the category takes
    the user's code, a file's path (``./myoptim.py:Opt``) is told the import path to write."""
    if text is None:
        return
    if not split_names(text):
        raise InvalidValueError(flag, text, "one name or more, comma-separated (a,b,c)")
    if category is not None:
        from optimlab.cli._catalog import check_name, takes_import_paths
        from optimlab.user_code import refuse_file_path

        for name in split_names(text):
            if ":" not in name:
                check_name(category, name, flag)
            elif takes_import_paths(category):
                refuse_file_path(name, flag)


def checked(check: Callable[[str], Any], text: str, param: str) -> Any:
    """A check of ``_checks`` run after parsing, its error naming ``param`` as parsing would: for checks
    that depend on other flags (``--resume`` holds a study unless ``--storage`` does) or on what an
    argument turns out to be (a run folder, or a study). Returns what the check does (the path it reads)."""
    try:
        return check(text)
    except typer.BadParameter as error:
        raise typer.BadParameter(error.message, param_hint=f"'{param}'") from None


def check_backend_options(backend: str, **given: Any) -> None:
    """Each backend option given (``workers=3``) is one that ``backend`` reads, where it was silently
    ignored (``--members`` is the batched backend's alone); ``--workers 0`` is the workers backend's."""
    for name, value in given.items():
        if value is not None and name not in BACKENDS[backend].options:
            readers = " or ".join(b for b, entry in BACKENDS.items() if name in entry.options)
            raise InvalidValueError(flag(name), value, f"only with --backend {readers}, not {backend}")
    if given.get("workers") == 0 and backend != "workers":
        raise InvalidValueError(
            "--workers", 0, f"at least 1 with --backend {backend} (0 only with --backend workers)"
        )


def refuse_with_resume(ctx: typer.Context, settings: Sequence[str]) -> None:
    """``--resume`` continues with the settings saved in its folder: refuse the flags that would change
    them (and ``--out``, since ``--resume`` names the folder)."""
    typed = {  # as typed: --budget, or an argument's metavar (RECIPE)
        param.name: param.opts[0]
        if param.param_type_name == "option"
        else (param.metavar or param.name.upper())
        for param in ctx.command.params
        if param.opts
    }
    given = [typed[k] for k in (*settings, "out_dir") if ctx.params.get(k) not in (None, [], ())]
    if given:
        raise OptimlabError(
            f"--resume continues with the settings saved in its folder; drop {', '.join(given)}"
        )


# flag parameter -> dotted recipe field
RECIPE_FLAGS = {
    "dataset": "data.name",
    "target": "data.options.target",
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
    "accumulate_grad_batches": "training.accumulate_grad_batches",
    "seed": "training.seed",
    "device": "training.device",
    "precision": "training.precision",
}


def field_of_flag(option: str) -> str | None:
    """The recipe field a verb's recipe flag sets (``--epochs`` -> ``training.epochs``), None for any
    other option: said where a verb that takes ``--set`` is given a recipe flag it has not."""
    return {flag(parameter): field for parameter, field in RECIPE_FLAGS.items()}.get(option)


# flag parameter -> the registry category its names come from (checked before the registries load)
NAMED_FLAGS = {
    "dataset": "dataset",
    "scaling": "scaling",
    "model": "model",
    "init": "init",
    "act": "activation",
    "norm": "norm",
    "optimizer": "optimizer",
    "schedule": "schedule",
}


# What an option left out takes where its parsed value is None (the recipe, the workload, the study or
# the verb decides it later), said as --help says any default value: "[default: words]". A key is the flag,
# or "VERB --flag" where verbs decide it apart. Every option that is neither in it nor given a value
# default is in NO_DEFAULT: left out, it does nothing (test_every_option_shows_its_default).
_RECIPE_ELSE = "the recipe's, else"
# Defaults whose homes import torch, named here so -h says them before torch loads; each is tied to its
# home (test_the_defaults_said_are_the_constants_the_verbs_take).
DOCTOR_STEPS = 300  # optimlab.doctor.diagnose_recipe's max_steps
CHECK_STEPS = 1000  # optimlab.doctor.check_plan.MAX_CHECK_STEPS
STUDY_WORKLOAD = "digits_mlp"  # optimlab.study.compare.DEFAULT_WORKLOAD
CHECKPOINT_MINUTES = 5  # optimlab.train.callbacks.CHECKPOINT_SECONDS / 60
STUDY_BACKEND = "local"  # compare's, as optimlab.study.compare.compare's backend
_WORKLOAD = "the workload's"
DEFAULTS_SAID = {
    "--dataset": f"{_RECIPE_ELSE} digits",
    "--target": "the one headed label, target, class or y, else the last",
    "--scaling": f"{_RECIPE_ELSE} none",
    "--model": f"{_RECIPE_ELSE} mlp",
    "--width": f"{_RECIPE_ELSE} the architecture's",
    "--depth": f"{_RECIPE_ELSE} the architecture's",
    "--init": f"{_RECIPE_ELSE} default (PyTorch's own)",
    "--act": f"{_RECIPE_ELSE} relu",
    "--norm": f"{_RECIPE_ELSE} none",
    "--optimizer": f"{_RECIPE_ELSE} adam",
    "--lr": f"{_RECIPE_ELSE} the optimizer's own",
    "--weight-decay": f"{_RECIPE_ELSE} the optimizer's own",
    "--schedule": f"{_RECIPE_ELSE} constant",
    "--warmup-steps": f"{_RECIPE_ELSE} 0",
    "--epochs": f"{_RECIPE_ELSE} 10",
    "--steps": f"{_RECIPE_ELSE} none: --epochs decide",
    "--batch-size": f"{_RECIPE_ELSE} 32",
    "--grad-clip": f"{_RECIPE_ELSE} none: no clipping",
    "--accumulate-grad-batches": f"{_RECIPE_ELSE} 1",
    "--seed": f"{_RECIPE_ELSE} 0",
    "--device": f"{_RECIPE_ELSE} cpu",
    "--precision": f"{_RECIPE_ELSE} fp32",
    "--threads": "torch's own, OMP_NUM_THREADS or every core",
    "--check-budget": f"{CHECK_BUDGET:g}",
    "--filter": "every name",
    "train --out": "runs/train-ID-TIME",
    "train --checkpoint-every": f"{_RECIPE_ELSE} once an epoch and every {CHECKPOINT_MINUTES} minutes",
    "doctor --steps": f"the recipe's run, at most {DOCTOR_STEPS}",
    "doctor --fail-on": "none: exit 0 whatever the findings",
    "lr-find --check-steps": f"the recipe's run, at most {CHECK_STEPS}",
    "report --out": "RUN/report.html for one run, STUDY/report.html for one study, else runs/report-TIME.html",
    "worker --name": "every study there",
    "worker --methods": "every method",
    # compare and bench: a study
    "--workload": STUDY_WORKLOAD,
    "--space": "the lr, over each optimizer's range",
    "--protocol": STUDY_DEFAULTS["protocol"],
    "--budget": str(STUDY_DEFAULTS["budget"]),
    "--seeds": str(STUDY_DEFAULTS["seeds"]),
    "--pruner": "none",
    "--metric": _WORKLOAD,
    "--goal": "min for a loss or an RMSE (val_loss, val_rmse, val_NAME_loss), else max",
    "--backend": STUDY_BACKEND,
    "--workers": str(BackendOptions.workers),
    "--members": str(BackendOptions.members),
    "--ray-address": "a local Ray",
    "--storage": "a journal file in --out",
    "--name": _WORKLOAD,
    "compare --out": "runs/compare-NAME-TIME",
    "compare --epochs": _WORKLOAD,
    "compare --model": _WORKLOAD,
    "compare --dataset": _WORKLOAD,
    "compare --threads": "1 a trial, fastest for one small model; a batched study's stack: torch's own",
    "bench --out": "runs/bench-NAME-TIME",
    "bench --optimizers": "sgd,momentum,adam",
    "bench --backend": "batched",
    "bench --cost": "steps",
    "bench --device": "each workload's",
    "bench --model": _WORKLOAD,
    "bench --dataset": _WORKLOAD,
    "bench --threads": "1 a trial, fastest for one small model; a batched study's stack: torch's own",
    "worker --threads": "1 a trial",
}
# Left out, these do nothing: no recipe field set, no file or page written, no tracker, nothing resumed.
NO_DEFAULT = {
    "--set",
    "--log",
    "--resume",
    "--html",
    "--plot",
    "--option",
    "--data-dir",
    "--optimizer-path",
    "--space-file",
    "--compare",
    "compare --optimizers",
    "bench --suite",
    "bench --workloads",
    "--install-completion",
    "--show-completion",
}


def said_default(verb: str, option: str) -> str | None:
    """The words of DEFAULTS_SAID for ``option`` (its first flag) of ``verb`` (``gallery run``)."""
    return DEFAULTS_SAID.get(f"{verb} {option}", DEFAULTS_SAID.get(option))


def show_defaults(command: Any, verb: str = "") -> None:
    """Every option of ``command`` and its verbs whose value defaults to None shows the default it takes
    (:data:`DEFAULTS_SAID`) at the end of its help, as typer shows a default value (click's own
    ``show_default`` text would read "[default: (7)]")."""
    for param in command.params:
        words = said_default(verb, param.opts[0]) if param.param_type_name == "option" else None
        if words is not None and param.default is None:
            param.help = f"{param.help}  [default: {words}]"
    for name, sub in getattr(command, "commands", {}).items():
        show_defaults(sub, f"{verb} {name}".strip())


def flag(parameter: str) -> str:
    """The flag a recipe parameter is typed as: ``warmup_steps`` -> ``--warmup-steps``."""
    return "--" + parameter.replace("_", "-")


def check_target(target: str | int | None, data: str | None) -> None:
    """``--target`` names a column of the data ``data`` (None: the workloads' own): a CSV/TSV file or a
    .npy table."""
    from optimlab.data.sources import TARGET_KINDS, takes_target
    from optimlab.user_code import is_import_path

    if target is None or (data is not None and takes_target(data)):
        return
    if data is None:
        raise InvalidValueError(
            "--target",
            target,
            f"only with a --dataset of {TARGET_KINDS} files; the workloads bring their own data",
        )
    if is_import_path(data):
        kind = "your factory, whose code says what the target is"
    elif data.lower().endswith(".npz"):
        kind = "an .npz archive, whose targets are named by data.options.y_key"
    elif expand_home(data, "--dataset").is_dir():
        kind = "an image folder, whose classes are its folders"
    elif any(c in data for c in "/\\."):
        kind = "a file whose targets are no column of it"
    else:
        kind = "a built-in data set"
    raise InvalidValueError(
        "--target", target, f"only with {TARGET_KINDS} files as --dataset; {data!r} is {kind}"
    )


def recipe_flags(params: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe flags given on the command line (``ctx.params``), their names checked."""
    from optimlab.cli._catalog import check_name
    from optimlab.data.sources import check_data_path
    from optimlab.user_code import is_import_path

    given = {name: value for name, value in params.items() if name in RECIPE_FLAGS and value is not None}
    for name, value in given.items():
        looks_like_path = name == "dataset" and any(c in value for c in "/\\.") and not is_import_path(value)
        if looks_like_path:  # before any work: missing, a named pipe (its read never ends), no known kind
            check_data_path(value, "--dataset")
        if name in NAMED_FLAGS and not looks_like_path and ":" not in value:
            try:
                check_name(NAMED_FLAGS[name], value, flag(name))
            except UnknownNameError:
                if name == "dataset" and Path(value).exists():  # a folder's or an IDX file's bare name
                    kind = "folder" if Path(value).is_dir() else "file"
                    raise InvalidValueError(
                        "--dataset",
                        value,
                        f"a built-in data set; for the {kind} {value!r}, its path: ./{value}",
                    ) from None
                raise
    return given


# The study counts as an API's refusal names them (study.protocols.check_trials_planned), as the flags typed.
COUNT_FLAGS = {"budget=": "--budget", "seeds=": "--seeds"}


@contextlib.contextmanager
def fields_named(typed: Mapping[str, str]) -> Iterator[None]:
    """An error in the block names each recipe field in ``typed`` as the user typed it (field -> words)."""
    try:
        yield
    except OptimlabError as error:
        message = str(error)
        for field, words in typed.items():
            # a field's own hint of its flag ("model.name (--model; the default is mlp)") is the flag typed
            message = re.sub(re.escape(f"{field} ({words}") + r"(?:;[^)]*)?\)", words, message)
            # the field alone: 'model.init.gain' of a --set beside --init is no '--init.gain'
            message = re.sub(re.escape(field) + r"(?![.\w])", words, message)
        if message == str(error):
            raise
        raise OptimlabError(message) from None


@contextlib.contextmanager
def file_named(given: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """An expected failure in the block (reading the file or folder ``path`` that ``given`` names: a flag,
    an argument) says which it is read from, where its message does not: YAML's, a binary file's or a
    search space's errors said 'a file is not valid YAML' of no file named."""
    from optimlab.cli._errors import expected_message

    try:
        yield
    except Exception as error:
        message = expected_message(error)
        if message is None or str(path) in message:
            raise
        raise OptimlabError(f"{given} {str(path)!r}: {message}") from error


def flags_named(params: Mapping[str, Any]) -> contextlib.AbstractContextManager[None]:
    """An error in the block names the flag typed (``--warmup-steps``), not the recipe field it set
    (``schedule.warmup_steps``): the user never wrote the field. Some are found only once the data is
    loaded (a warmup longer than the run its --epochs make)."""
    return fields_named(
        {
            RECIPE_FLAGS[name]: flag(name)
            for name, value in params.items()
            if name in RECIPE_FLAGS and value is not None
        }
    )


def _data_beside(recipe_path: Path, data: str) -> None:
    """A recipe's data file missing here but found beside the recipe: its paths are read from the current
    folder (a run's saved recipe names the same file), so the message says where it looked and the path
    from here, where the data layer's said only that there is no file. A ``~user`` of no user here is
    refused naming data.name (pathlib's RuntimeError was a traceback)."""
    from optimlab.user_code import is_import_path

    path = expand_home(data, f"data.name of recipe file {str(recipe_path)!r}")
    if is_import_path(data) or not any(c in data for c in "/\\.") or path.is_absolute() or path.exists():
        return
    beside = recipe_path.parent / path
    if beside.exists():
        raise OptimlabError(
            f"recipe file {str(recipe_path)!r}: its data {data!r} is read from the current folder, which "
            f"has none; give the one beside the recipe from here: --dataset {shlex.quote(str(beside))}"
        )


def recipe_from_options(
    recipe_path: Path | None, params: Mapping[str, Any], *, data_replaced: bool = False, stored: bool = False
) -> Recipe:
    """The recipe file (or the default recipe) with every recipe flag in ``params`` applied on top;
    an error names the flag typed (:func:`flags_named`). ``data_replaced``: the verb replaces the
    recipe's data itself (compare's --dataset); ``stored``: the file is a run folder's (``--resume``), as a run folder's own
    recipe.yaml is read anyway: as it was written (``Recipe.load(stored=True)``)."""
    from optimlab.recipe import Recipe, RecipeError

    given = recipe_flags(params)
    # a run folder's own recipe (the run page's "train again" command) is read as it was written too
    stored = stored or (
        recipe_path is not None and recipe_path.name == RECIPE_NAME and is_run_folder(recipe_path.parent)
    )
    set_texts = params.get("set_fields") or ()
    reached = [text.partition("=")[0].strip() for text in set_texts]
    flag_fields = {RECIPE_FLAGS[name] for name in given}
    if "epochs" in given and "steps" not in given:  # the file's training.steps overrode the flag typed
        flag_fields.add("training.steps")
    held: dict[str, Any] = {}  # a refused file's values the updates set or may drop
    try:
        recipe = Recipe.load(recipe_path, stored=stored) if recipe_path is not None else Recipe()
    except UnicodeDecodeError:
        raise OptimlabError(f"recipe file {str(recipe_path)!r} is not a YAML text file") from None
    except RecipeError as error:
        if stored and params.get("resume") is not None:  # a value stored by the run, not typed
            again = shlex.join(
                ["optimlab", "train", str(recipe_path), "--set", "FIELD=VALUE", "--out", "NEW"]
            )
            raise RecipeError(
                f"--resume {str(params['resume'])!r}: the run's stored recipe is refused, so it cannot go on; "
                f"train anew from it with the value replaced: {again} (or a flag of the field, such as --batch-size N): "
                f"{error}"
            ) from None
        refused = error  # a value refused may be one a flag or a --set replaces
        recipe, held = _file_beneath(recipe_path, stored, [*flag_fields, *reached]) or (None, {})
        if recipe is None:
            raise error from None
    if recipe_path is not None and "dataset" not in given and not data_replaced:
        _data_beside(recipe_path, recipe.data.name)
    check_target(given.get("target"), given.get("dataset", recipe.data.name))
    updates = {RECIPE_FLAGS[name]: value for name, value in given.items()}
    if "training.steps" in flag_fields and "training.steps" not in updates:
        updates["training.steps"] = None
    updates.update(_fields_set(set_texts, given, recipe, updates))
    if not updates:
        return recipe
    _check_length_set(set_texts, recipe, updates, params.keys())
    # a flag's field a --set reaches into (--init he --set model.init.gain=abc) may be refused for the
    # --set's value: the field is named as the recipe's, not as the flag, which was blamed
    with flags_named(
        {
            name: value
            for name, value in given.items()
            if not any(f.startswith(f"{RECIPE_FLAGS[name]}.") for f in reached)
        }
    ):
        if not held:
            return recipe.with_updates(updates)
        try:
            return recipe.with_updates(updates, held=held)
        except RecipeError:
            recipe.with_updates(updates)  # a value typed refused: its own refusal
            raise refused from None  # a value of the file's that the updates leave


def _file_beneath(
    path: Path | None, stored: bool, fields: Sequence[str]
) -> tuple[Recipe, dict[str, Any]] | None:
    """The recipe file ``path``, refused alone, without the values that updates of ``fields`` set or may
    drop (:func:`optimlab.recipe.take_values_reached`), and those values: a flag or a --set overrides the
    file's field (``--batch-size 90`` over a file's 1e18, which a newer range refuses; ``--optimizer sgd``
    over adam's refused betas). None where the file without them is refused still."""
    import yaml

    from optimlab.recipe import Recipe, RecipeError, holds_number_as_typed, load_yaml, take_values_reached

    if path is None or not fields:
        return None
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), stored=stored, tiny_as_text=True)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    held = take_values_reached(data, fields)
    # a number below the smallest float only where an update replaces it whole (--set milestones=[3]):
    # as its text elsewhere, a float field might read it as 0
    if holds_number_as_typed(data) or any(
        holds_number_as_typed(value) for field, value in held.items() if field not in fields
    ):
        return None
    try:
        return Recipe.from_dict(data), held
    except RecipeError:
        return None


# what the value of a NAME=VALUE flag may be (--set, plot-schedule's --option): one holding none, refused
YAML_VALUE = "a value YAML reads: a number, a word, null, [a, list] or {a: mapping}"


def _fields_set(
    texts: Sequence[str], given: Mapping[str, Any], recipe: Recipe, flag_updates: Mapping[str, Any]
) -> dict[str, Any]:
    """``--set FIELD=VALUE`` flags as recipe updates, each value typed as YAML types it (``null`` for
    none); a field set twice, or by a flag too, is refused: which would win is no guess to leave. A
    number below the smallest float for a field of whole numbers (``training.epochs=1e-400``) goes as its
    text, which the field refuses naming its own range, not a float's smallest size; whole numbers in
    ``recipe`` as the flags' ``flag_updates`` and the other --set flags change it (``--set
    schedule.name=step`` makes ``schedule.step_size`` one); in a list of whole numbers
    (``schedule.milestones=[3, 1e-400]``) it goes as its text too."""
    import yaml

    from optimlab.recipe import fields_reached

    # each recipe field a flag or a --set reaches -> who sets it, and the field as they set it: a technique
    # by name is its name (--init he, model.init={name: he}); a field under another spelling
    # (optimizer.options.lr, --lr) or inside a mapping (model.init={gain: 3}, model.init.gain=2) is one
    reached: dict[str, tuple[str, str]] = {}

    def reach(field: str, value: Any, who: str, text: str | None = None) -> None:
        for target, one in fields_reached(field, value).items():
            if text is not None and (earlier := reached.get(target)) is not None:
                raise InvalidValueError(
                    "--set", text, f"a field set once, but {earlier[0]} sets {earlier[1]} too"
                )
            reached[target] = (who, one)

    for name, value in given.items():
        reach(RECIPE_FLAGS[name], value, flag(name))
    fields: dict[str, Any] = {}
    tiny: dict[str, str] = {}  # field -> the --set flag of a number below the smallest float
    for text in texts:
        field, _, value = text.partition("=")
        field = field.strip()
        if field in fields:
            raise InvalidValueError("--set", text, f"a field set once, but another --set sets {field} too")
        try:
            fields[field] = yaml_value(value, "--set", text)
        except InvalidValueError:
            if not _below_smallest_float_alone(value):
                raise
            tiny[field] = text
        except yaml.YAMLError as error:
            raise InvalidValueError("--set", text, f"{YAML_VALUE}{yaml_found(error)}") from None
        reach(field, fields.get(field), "another --set", text)
    return {**fields, **_below_smallest_floats(tiny, recipe, {**flag_updates, **fields})}


def _check_length_set(
    texts: Sequence[str], recipe: Recipe, updates: Mapping[str, Any], options: Iterable[str]
) -> None:
    """Refuse, in the words typed, the ``--set`` flags (``texts``) that leave the run no length: epochs
    and steps both null after ``updates`` over ``recipe``. The recipe's own refusal named its fields and
    --epochs / --steps, none of which the user wrote; a flag is offered where the verb has it (its
    ``options``: lr-find has neither)."""
    length = {"training.epochs": recipe.training.epochs, "training.steps": recipe.training.steps}
    if any(updates.get(field, held) is not None for field, held in length.items()):
        return
    typed = [text for text in texts if text.partition("=")[0].strip() in length]
    if len(typed) == 1:
        other = "steps" if typed[0].partition("=")[0].strip() == "training.epochs" else "epochs"
        raise InvalidValueError(
            "--set",
            typed[0],
            f"an integer >= 1, or null beside a number of {other} "
            f"({f'--{other} N or ' if other in options else ''}--set training.{other}=N): "
            f"with training.{other} null too, the run has no length",
        )
    if typed:
        raise OptimlabError(
            f"invalid values {' and '.join(map(repr, typed))} for --set: accepted an integer >= 1 for one of "
            "them: a run of no epochs and no steps has no length."
        )


def _below_smallest_floats(
    tiny: Mapping[str, str], recipe: Recipe, updates: Mapping[str, Any]
) -> dict[str, str]:
    """The ``--set`` flags ``tiny`` (field -> flag) of numbers below the smallest float, each as its text
    for a field that holds whole numbers in ``recipe`` with the other ``updates`` made, else refused as
    below the smallest float (:func:`yaml_value`)."""
    from optimlab.recipe import holds_whole_numbers, load_yaml

    if not tiny:
        return {}
    try:
        recipe = recipe.with_updates(updates)
    except OptimlabError:  # refused by a field (said once all are applied): each other update still made,
        for field, value in updates.items():  # as --schedule step beside --set optimizer.lr=-1
            with contextlib.suppress(OptimlabError):
                recipe = recipe.with_updates({field: value})
    for field, text in tiny.items():
        if not holds_whole_numbers(field, recipe):
            yaml_value(text.partition("=")[2], "--set", text)  # refused: 'below the smallest float'
    return {field: load_yaml(text.partition("=")[2], tiny_as_text=True) for field, text in tiny.items()}


def _below_smallest_float_alone(text: str) -> bool:
    """Whether the YAML ``text`` is refused for numbers below the smallest float alone (``1e-400``,
    ``[3, 1e-400]``): read with them as text, it is read."""
    import yaml

    from optimlab.recipe import holds_number_as_typed, load_yaml

    try:
        return holds_number_as_typed(load_yaml(text, tiny_as_text=True))
    except yaml.YAMLError:
        return False


def yaml_found(error: Exception) -> str:
    """What YAML found wrong in a flag's value, to add to its refusal: ``"; found the key 'a' twice (the
    second would replace the first)"``, ``"; found undefined alias 'a'"``; empty where it says nothing."""
    found = getattr(error, "problem", None)
    return f"; {found}" if found else ""


def yaml_value(text: str, flag: str, given: str) -> Any:
    """A value typed on the command line read as YAML reads it (``0.9`` a number, ``[a, b]`` a list); a
    value :func:`~optimlab.recipe.load_yaml` refuses (``1_0``, ``&a [0.9, *a]``) is refused naming ``flag``
    and ``given``, its whole text, and so is one that holds no value at all (empty, or a comment alone:
    ``#x``), which YAML reads as null, a keyword's default or a field's none, where a value was asked for
    (``null`` is written). Raises ``yaml.YAMLError`` for text that is no YAML."""
    import yaml

    from optimlab.recipe import YamlValueError, load_yaml

    try:
        value = load_yaml(text)
    except YamlValueError as error:
        raise InvalidValueError(flag, given, error.accepted) from None
    if value is None and yaml.compose(text, Loader=yaml.SafeLoader) is None:  # no document in it
        comment = " (from a # on, YAML reads a comment: quote the value for text)" if "#" in text else ""
        raise InvalidValueError(flag, given, f"{YAML_VALUE}{comment}")
    return value


@contextlib.contextmanager
def noting_data(output: Output) -> Iterator[None]:
    """Say once on stderr each user file or folder the block loads, and how it was read: ``data:
    rows.csv, 1,000 rows x 9 features, target column 'price' (regression)``."""
    from optimlab.data.sources import noting_files

    said: set[str] = set()

    def note(line: str) -> None:
        if line not in said:  # a comparison's trials load the same file again
            said.add(line)
            output.note(f"data: {line}")

    with noting_files(note):
        yield


def use_threads(threads: int | None, backend: str | None = None) -> None:
    """Set torch's threads as :data:`ThreadsOpt` and :data:`StudyThreadsOpt` say: the ``--threads`` given, else 1 for a study's trials
    run one model at a time (a ``backend`` other than batched), else torch's own."""
    import torch

    if threads is None and backend not in (None, "batched"):
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)
