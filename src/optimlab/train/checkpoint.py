"""Checkpoints that a killed run resumes from: written atomically, the previous one kept, checked on load.

A checkpoint holds the model, optimizer and scheduler state, the loop's :class:`TrainState`, the
global RNG states of torch's CPU and each GPU (dropout draws from them), NumPy and Python (a Dataset's
augmentations may draw from them: :mod:`optimlab.data.global_rng`), each callback's state, and the
recipe it was trained with (with the changes made to it on resume). The batch order of tensors and
Datasets is a function of (seed, epoch) (see :func:`optimlab.train.loop.epoch_permutation`); a
DataLoader's is drawn again from the states ``TrainState.data_drawn`` keeps.

Writing (through :mod:`optimlab.atomic`): the new checkpoint goes to a temporary file, the latest
becomes the previous (``checkpoint.prev.pt``), and the new one, fsynced, takes its name
(``checkpoint.pt``). A kill at any moment
leaves a complete latest checkpoint, or none and a complete previous one.

Reading: a torch checkpoint is a zip whose entries carry CRC-32 checksums that ``torch.load`` does not
verify (a flipped byte in a tensor loads silently); they are verified here. A latest checkpoint that
fails is set aside for the previous one, with a warning.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optimlab.atomic import atomic_path, signals_deferred
from optimlab.data.global_rng import global_states, set_global_states
from optimlab.errors import OptimlabError, OptimlabWarning, a_type, with_article
from optimlab.models.structure import describe_change, structure
from optimlab.train.loop import Callback, TrainState

__all__ = [
    "CHECKPOINT_NAME",
    "PREVIOUS_NAME",
    "has_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "torch_save_file",
]

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"
_KEYS = ("model", "optimizer", "scheduler", "state", "torch_rng", "callbacks")


def save_checkpoint(
    folder: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    state: TrainState,
    callbacks: Sequence[Callback] = (),
    recipe: dict[str, Any] | None = None,
    recipe_changes: Sequence[dict[str, Any]] = (),
    data: str | None = None,
) -> Path:
    """Write ``folder/checkpoint.pt`` atomically (``folder`` made where missing, as ``mkdir -p``), keeping
    the one it replaces as ``checkpoint.prev.pt``; ``data`` is the sha256 of the data trained on
    (:mod:`optimlab.data.digest`), which a resume checks."""
    folder = Path(folder)
    rngs = global_states()
    payload = {
        "model": model.state_dict(),
        "structure": structure(model),
        "optimizer": optimizer.state_dict(),
        "optimizer_class": type(optimizer).__qualname__,  # AdamW's groups hold Adam's keys
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        # torch's load_state_dict takes another scheduler class's state whole (a StepLR given a LambdaLR's)
        "scheduler_class": type(scheduler).__qualname__ if scheduler is not None else None,
        "state": state.to_dict(),
        "torch_rng": rngs["torch"],
        "numpy_rng": rngs["numpy"],
        "python_rng": rngs["python"],
        # dropout on a GPU draws from its own generator, which torch_rng does not hold
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
        "callbacks": [callback.state_dict() for callback in callbacks],
        "callback_types": [type(callback).__qualname__ for callback in callbacks],  # each state's owner
        "recipe": recipe,
        "recipe_changes": list(recipe_changes),  # made on resumes, with the step each took effect
        "data": data,
    }
    latest = folder / CHECKPOINT_NAME
    # a second Ctrl-C during the save that the first one asked for lost the checkpoint it was writing
    with signals_deferred(), atomic_path(latest) as partial:
        torch_save_file(payload, partial)
        if latest.exists():  # a kill from here to the new one's rename leaves the previous to load
            os.replace(latest, folder / PREVIOUS_NAME)
    return latest


def torch_save_file(payload: dict[str, Any], path: Path) -> None:
    """``torch.save`` into ``path``, a write the system refuses (a full disk, ``ulimit -f``) raised as the
    OS's error: given a path, torch's zip writer raised a RuntimeError ('unexpected pos 42560 vs 42448')
    naming neither the file nor the reason; given a file, it keeps the file's OSError as its context."""
    with open(path, "wb") as file:
        try:
            torch.save(payload, file)
        except RuntimeError as error:
            if isinstance(error.__context__, OSError):
                raise error.__context__ from None
            raise


def has_checkpoint(folder: str | Path) -> bool:
    """Whether ``folder`` holds a checkpoint (latest or previous) to resume from."""
    return any((Path(folder) / name).is_file() for name in (CHECKPOINT_NAME, PREVIOUS_NAME))


def read_checkpoint(folder: str | Path) -> dict[str, Any]:
    """The latest readable checkpoint in ``folder``: the latest, else the previous (with a warning)."""
    folder = Path(folder)
    problems = []
    for name in (CHECKPOINT_NAME, PREVIOUS_NAME):
        path = folder / name
        if not path.is_file():
            continue
        try:
            payload = _read(path)
        except OptimlabError as error:
            problems.append(str(error))
            continue
        if problems:
            warnings.warn(
                f"{problems[0]}; resuming from the previous checkpoint {str(path)!r}",
                OptimlabWarning,
                stacklevel=2,
            )
        return payload
    if problems:
        raise OptimlabError(
            "cannot resume: " + "; ".join(problems) + ". Start the run again in a new folder (--out)"
        )
    raise OptimlabError(f"cannot resume: {str(folder)!r} holds no {CHECKPOINT_NAME}")


def _read(path: Path) -> dict[str, Any]:
    damaged = f"checkpoint {str(path)!r} is damaged (truncated or corrupted)"
    try:
        with zipfile.ZipFile(path) as archive:
            bad_entry = archive.testzip()  # CRC-32 of every entry; torch.load checks none
        if bad_entry is not None:
            raise OptimlabError(f"{damaged}: entry {bad_entry!r} fails its checksum")
        # weights_only: a checkpoint is tensors and plain containers, and loading one runs no code.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise OptimlabError(f"cannot read checkpoint {str(path)!r}: {error.strerror or error}") from None
    except OptimlabError:
        raise
    except pickle.UnpicklingError as error:
        if found := re.search(r"Unsupported global: GLOBAL (\S+)", str(error)):
            raise OptimlabError(  # whole, but holding an object: loading it would run its code
                f"checkpoint {str(path)!r} holds a {found[1]} object, which a weights-only load refuses "
                "(a checkpoint is tensors and plain values; this one was written by other code)"
            ) from None
        raise OptimlabError(f"{damaged}: UnpicklingError: {str(error).splitlines()[0]}") from None
    except Exception as error:  # zip, pickle and torch each raise their own kind on damage
        raise OptimlabError(
            f"{damaged}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from None
    missing = [key for key in _KEYS if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise OptimlabError(f"{str(path)!r} is not an optimlab checkpoint: it lacks {', '.join(missing)}")
    return payload


def load_checkpoint(
    payload: dict[str, Any],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    callbacks: Sequence[Callback] = (),
) -> TrainState:
    """Restore everything :func:`save_checkpoint` wrote; returns the loop state to continue from. What
    the payload alone refuses (another model structure, optimizer class, scheduler or callbacks) is
    refused before anything is loaded; an optimizer state refused once loaded (of a checkpoint naming no
    class) is refused before the model's weights are, the optimizer's own state given back."""
    stored = payload.get("structure")  # absent from checkpoints written before it was kept
    if stored is not None and (now := structure(model)) != stored:
        if misfit := _weights_misfit(
            model, payload["model"]
        ):  # another width: the layers named, as torch does
            raise OptimlabError(f"the checkpoint's weights do not fit the recipe's model: {misfit}")
        raise OptimlabError(  # the same tensors, other modules
            f"the recipe's model now builds with {describe_change(now, stored)}: its code changed since "
            "the checkpoint was written; restore the model's code to resume, or train a new run"
        )
    _check_optimizer_class(payload, optimizer)
    _check_scheduler(payload, scheduler)
    paired = _paired(payload, callbacks)
    given = optimizer.state_dict()  # given back where the state loaded (of no class named) is refused
    try:
        _load_optimizer(payload, optimizer)
        try:
            model.load_state_dict(payload["model"])
        except RuntimeError as error:  # torch lists every missing, unexpected and mis-shaped tensor
            raise OptimlabError(
                f"the checkpoint's weights do not fit the recipe's model: {_first_lines(error)}"
            ) from None
    except OptimlabError:
        optimizer.load_state_dict(given)
        raise
    if scheduler is not None:
        scheduler.load_state_dict(payload["scheduler"])
    # numpy_rng and python_rng are absent from checkpoints written before they were kept
    set_global_states(
        {"torch": payload["torch_rng"], **{k: payload.get(f"{k}_rng") for k in ("numpy", "python")}}
    )
    cuda_rng = payload.get("cuda_rng")  # absent from checkpoints written before it was kept
    if cuda_rng is not None and torch.cuda.is_available() and len(cuda_rng) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_rng)
    for callback, callback_state in paired:
        callback.load_state_dict(callback_state)
    return TrainState.from_dict(payload["state"])


def _load_optimizer(payload: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """Load ``payload``'s optimizer state into ``optimizer``, refusing one torch cannot take, or whose
    groups another optimizer class wrote (:func:`_check_optimizer_groups`)."""
    # the hyperparameters its step reads (an SGD's momentum), which another class's groups lack
    held = {key for group in optimizer.param_groups for key in group} & set(optimizer.defaults)
    try:
        optimizer.load_state_dict(payload["optimizer"])
    except (ValueError, KeyError, RuntimeError) as error:
        # torch's reason alone was Adam's KeyError 'step' for an SGD's state: what the state holds says
        # which optimizer wrote it
        kept = sorted(
            {key for per_parameter in payload["optimizer"]["state"].values() for key in per_parameter}
        )
        holding = f" (each parameter's {', '.join(kept)})" if kept else ""
        raise OptimlabError(
            f"the checkpoint's optimizer state{holding} does not fit {a_type(optimizer)} "
            f"({type(error).__name__}: {_first_lines(error)}); resume with the optimizer and parameter "
            "groups it was saved with"
        ) from None
    _check_optimizer_groups(optimizer, held)


def _check_optimizer_class(payload: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """Refuse ``payload``'s optimizer state where another optimizer class than ``optimizer``'s wrote it:
    torch's ``load_state_dict`` takes another class's parameter groups whole (an SGD given Adam's took
    its lr, then its first step raised KeyError 'momentum'). Checkpoints written before the class was
    kept name none: :func:`_check_optimizer_groups` tells them once loaded."""
    saved_class = payload.get("optimizer_class")
    if saved_class is not None and saved_class != type(optimizer).__qualname__:
        raise _another_optimizer(saved_class, optimizer, "")


def _check_optimizer_groups(optimizer: torch.optim.Optimizer, held: set[str]) -> None:
    """Refuse the optimizer state just loaded into ``optimizer`` (of a checkpoint that names no class)
    where its groups lack hyperparameters they ``held`` before the load (keys torch added since are
    filled in by its ``__setstate__``): another optimizer class wrote it."""
    lacking = sorted({key for group in optimizer.param_groups for key in held if key not in group})
    if lacking:
        raise _another_optimizer(None, optimizer, f" (its parameter groups lack {', '.join(lacking)})")


def _another_optimizer(
    saved_class: str | None, optimizer: torch.optim.Optimizer, holding: str
) -> OptimlabError:
    """The refusal of an optimizer state saved by ``saved_class`` (None: not known) for ``optimizer``."""
    return OptimlabError(
        f"the checkpoint's optimizer state was saved by {saved_class or 'another optimizer'}{holding}, "
        f"which does not fit {a_type(optimizer)}; resume with the optimizer and parameter groups it was "
        "saved with"
    )


def _check_scheduler(payload: dict[str, Any], scheduler: Any | None) -> None:
    """Refuse to resume ``scheduler`` from ``payload`` where it was saved with none, or without one where
    it was saved with one (the rate restarted at step 0, or the saved schedule was lost, in silence), or
    with another scheduler class than the checkpoint names (checkpoints written before it was kept name
    none, and load into any)."""
    saved_state, saved_class = payload["scheduler"], payload.get("scheduler_class")
    given_class = type(scheduler).__qualname__ if scheduler is not None else None
    if saved_state is None and scheduler is None:
        return
    if saved_state is None or scheduler is None or saved_class not in (None, given_class):
        if saved_state is None:
            saved, hint = "no scheduler", "scheduler=None"
        else:
            saved = f"{with_article(saved_class)} scheduler" if saved_class else "a scheduler"
            hint = f"the {saved_class or 'scheduler'} it was saved with"
        given = "none" if scheduler is None else a_type(scheduler)
        raise OptimlabError(
            f"the checkpoint was saved with {saved}, but {given} was given to resume it: resume with {hint}"
        )


def _paired(payload: dict[str, Any], callbacks: Sequence[Callback]) -> list[tuple[Callback, Any]]:
    """Each of ``callbacks`` with the state ``payload`` holds for it: the state saved by a callback of its
    type (the n-th of a type the n-th's), or by position in checkpoints written before the types were
    kept. Other callbacks than were saved are refused, naming both: loaded by position, an EarlyStopping
    given StopOnSignal's state raised a bare KeyError 'best', and a state given to no callback was lost."""
    saved, names = payload["callbacks"], payload.get("callback_types")
    given = [type(callback).__qualname__ for callback in callbacks]
    if names is None:  # by position
        if len(saved) != len(callbacks):
            raise OptimlabError(
                f"the checkpoint holds the states of {_counted(len(saved))} (save_checkpoint's callbacks), "
                f"but {_counted(len(callbacks))} {'was' if len(callbacks) == 1 else 'were'} given to resume: "
                "give the callbacks it was saved with, in that order"
            )
        return list(zip(callbacks, saved, strict=True))
    if sorted(names) != sorted(given):
        raise OptimlabError(
            f"the checkpoint holds the states of {_counted(len(names))} ({', '.join(names) or 'none'}: "
            f"save_checkpoint's callbacks), but {_counted(len(given))} ({', '.join(given) or 'none'}) "
            f"{'was' if len(given) == 1 else 'were'} given to resume: give the callbacks it was saved with"
        )
    states: dict[str, list[Any]] = {}
    for name, state in zip(names, saved, strict=True):
        states.setdefault(name, []).append(state)
    return [(callback, states[name].pop(0)) for callback, name in zip(callbacks, given, strict=True)]


def _counted(n: int) -> str:
    return f"{n} callback{'' if n == 1 else 's'}"


def _weights_misfit(model: nn.Module, weights: Any) -> str:
    """What keeps ``weights`` (a checkpoint's ``state_dict``) out of ``model``, in torch's words for
    ``load_state_dict`` (missing and unexpected keys, each mis-shaped tensor), the first few; "" where
    they fit. Asked before anything loads, where the model's structure changed: a model of another width
    (``--set model.width=32``) was told that its code changed."""
    own = model.state_dict()
    if not isinstance(weights, Mapping):
        return f"its model holds {a_type(weights)}, not a state_dict"
    problems = []
    if missing := [key for key in own if key not in weights]:
        problems.append(f"Missing key(s) in state_dict: {', '.join(map(repr, missing))}.")
    if unexpected := [key for key in weights if key not in own]:
        problems.append(f"Unexpected key(s) in state_dict: {', '.join(map(repr, unexpected))}.")
    problems += [
        f"size mismatch for {key}: copying a param with shape {weights[key].shape} from checkpoint, the shape "
        f"in current model is {tensor.shape}."
        for key, tensor in own.items()
        if key in weights and getattr(weights[key], "shape", tensor.shape) != tensor.shape
    ]
    return " ".join(problems[:3])


def _first_lines(error: Exception, lines: int = 3) -> str:
    """Torch's load errors list one problem a line; the first few name the layers concerned."""
    text = " ".join(line.strip() for line in str(error).splitlines()[:lines] if line.strip())
    return text.removeprefix("Error(s) in loading state_dict for ")
