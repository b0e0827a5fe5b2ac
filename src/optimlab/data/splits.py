"""Deterministic train/val/test splits from a seed, stratified by class, and training-set subsampling.

Each class (for regression: the whole set) is shuffled with a ``torch.Generator`` seeded by ``seed``;
its first ``round(n_c * test_fraction)`` examples go to test, the next ``round(n_c * val_fraction)`` to
validation, and a ``data_fraction`` of the rest (at least one) to training. So val and test do not
depend on ``data_fraction``, and a smaller training subsample is contained in a larger one: learning
curves over data size compare like with like. A recipe's ``seed`` here is its split seed
(``data.split_seed``, else ``training.seed``: :func:`optimlab.build.split_seed`); the subsample, drawn
from the same generator, follows it, so runs of one split seed train on the same rows whatever their
``training.seed``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optimlab.data.examples import DatasetInfo, Examples, TensorPair, listed_label
from optimlab.errors import InvalidValueError, OptimlabWarning
from optimlab.number_text import count_of
from optimlab.registry import SEED, UNIT_OPEN, Interval, real_number, whole_number

__all__ = [
    "SPLIT_NAMES",
    "Splits",
    "check_fractions",
    "no_training_rows",
    "rounded",
    "say_empty",
    "split",
    "untrained_classes",
]

# The names of each split in the user's data saved split, in this order: an image folder's train/,
# valid/, test/ folders (Kaggle's), an .npz's x_train, x_val, x_test arrays (keras.datasets')
SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Splits(DatasetInfo):
    """A data set split three ways, with what the model and loss need to know about it."""

    train: TensorPair
    val: TensorPair
    test: TensorPair

    def _targets(self) -> Tensor:
        return self.train.y


def check_fractions(
    val_fraction: float, test_fraction: float, data_fraction: float
) -> tuple[float, float, float]:
    """The three fractions as Python numbers (NumPy's scalars too), or raise, naming the field, unless val
    and test are in [0, 1) with a sum below 1 and data in (0, 1]."""
    val_fraction = real_number(val_fraction, "val_fraction", UNIT_OPEN)
    test_fraction = real_number(test_fraction, "test_fraction", UNIT_OPEN)
    if val_fraction + test_fraction >= 1.0:
        raise InvalidValueError(
            "val_fraction + test_fraction",
            val_fraction + test_fraction,
            "less than 1, leaving examples to train on",
        )
    data_fraction = real_number(data_fraction, "data_fraction", Interval(0, 1, open_low=True))
    return val_fraction, test_fraction, data_fraction


def no_training_rows(name: str, rows: int, val_fraction: float, test_fraction: float) -> InvalidValueError:
    """The refusal of fractions whose shares, each rounded, leave ``name``'s ``rows`` none to train on."""
    return InvalidValueError(
        f"fractions for {name} ({rows} examples)",
        (val_fraction, test_fraction),
        "values that leave at least one training example",
    )


TEST_FRACTION = 0.2  # split's default share held out for test, where a data set brings no test set


def rounded(count: int, fraction: float) -> int:
    return int(count * fraction + 0.5)  # half up, unlike Python's round-half-even


def split(
    data: Examples,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = TEST_FRACTION,
    data_fraction: float = 1.0,
) -> Splits:
    """Split ``data`` into train/val/test, stratified by class (one label per example); subsample
    training only. A data set that brings its own test set (``data.test``) keeps it, and
    ``test_fraction`` does not apply; with no validation or subsample either, the training rows stay in
    the data set's own order (so sequential batches are the ones its authors trained on).

    >>> import torch
    >>> from optimlab.data.examples import Examples
    >>> data = Examples.from_arrays(torch.randn(100, 3), torch.arange(100) % 2, name="toy")
    >>> s = split(data, seed=0, data_fraction=0.5)
    >>> len(s.train), len(s.val), len(s.test)
    (30, 20, 20)
    """
    val_fraction, test_fraction, data_fraction = check_fractions(val_fraction, test_fraction, data_fraction)
    seed = whole_number(seed, "seed", SEED)  # a recipe's; torch's generator raised on a float or past 2^64
    info = {f.name: getattr(data, f.name) for f in dataclasses.fields(DatasetInfo)}
    if data.test is not None:
        if test_fraction != TEST_FRACTION:
            _say_test_kept(data, test_fraction)
        if val_fraction == 0 and data_fraction == 1:  # the data set's own split, rows in its own order
            return Splits(
                **info, train=data.examples, val=data.examples.subset(torch.arange(0)), test=data.test
            )
        test_fraction = 0.0
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data.examples), generator=generator)
    y = data.examples.y
    if data.task == "classification" and y.numel() == len(y):  # per-token labels: no strata
        labels = y.reshape(len(y))[order]  # (N, 1) as given for the user's loss, too
        classes = labels.unique().tolist()  # labels as given too: -1/+1, 1..K
        strata = [order[labels == c] for c in classes]
    else:
        classes, strata = [None], [order]
    parts: dict[str, list[Tensor]] = {"test": [], "val": [], "train": []}
    untrained = []  # the classes whose every row went to validation and test
    for label, indices in zip(classes, strata):
        n_test, n_val = rounded(len(indices), test_fraction), rounded(len(indices), val_fraction)
        rest = indices[n_test + n_val :]
        # the label the loss ignores (-100) is split as the classes are, and is no class left untrained
        if len(strata) > 1 and not len(rest) and label != data.ignored_label:
            untrained.append(indices)
        parts["test"].append(indices[:n_test])
        parts["val"].append(indices[n_test : n_test + n_val])
        parts["train"].append(rest[: max(1, rounded(len(rest), data_fraction))])
    # Shuffle each split so that no consumer sees classes in blocks; train last, since its size alone
    # depends on data_fraction, so that val and test stay the same draws whatever the subsample.
    chosen = {}
    for name, pieces in parts.items():
        indices = torch.cat(pieces)
        chosen[name] = data.examples.subset(indices[torch.randperm(len(indices), generator=generator)])
    if len(chosen["train"]) == 0:
        raise no_training_rows(data.name, len(data.examples), val_fraction, test_fraction)
    fractions = {"val": val_fraction, "test": test_fraction}
    # a split given no row is said even where that is within a row of what was asked (2 classes of 2)
    if len(strata) == 1 or not _say_fractions_missed(data, strata, fractions, chosen):
        say_empty(data.name, len(data.examples), fractions, {part: len(chosen[part]) for part in fractions})
    if untrained:
        _say_untrained(data, untrained, fractions)
    test = chosen["test"] if data.test is None else data.test
    return Splits(**info, train=chosen["train"], val=chosen["val"], test=test)


def _say_fractions_missed(
    data: Examples, strata: list[Tensor], fractions: dict[str, float], chosen: dict[str, TensorPair]
) -> bool:
    """Warn (and return True) where splitting class by class, each class's share rounded, gave validation
    or test rows far from their fractions of the whole (more than a row and a tenth off): many classes of
    a few rows each (1000 classes of 3 rows: a third of the rows each, for 0.2). Off by a row or so, as the
    built-in sets' splits are (breast_cancer's 113 rows for 113.8), they are not said."""
    parts = {name: f for name, f in fractions.items() if f > 0}  # test 0 too where the data bring theirs
    total = len(data.examples)
    asked = {name: rounded(total, f) for name, f in parts.items()}
    if all(abs(len(chosen[name]) - asked[name]) <= max(1, asked[name] // 10) for name in parts):
        return False
    words = {"val": "validation", "test": "test"}
    gives = " and ".join(
        f"{len(chosen[n])}{f' of its {total} rows' if i == 0 else ''} to {words[n]}"
        for i, n in enumerate(parts)
    )
    fields = " and ".join(f"data.{n}_fraction {f:g}" for n, f in parts.items())
    smallest = min(map(len, strata))
    warnings.warn(
        f"the stratified split of {data.name} gives {gives}, not the {' and '.join(map(str, asked.values()))} "
        f"that {fields} ask{'s' if len(parts) == 1 else ''} for: each of its {len(strata)} classes "
        f"(the smallest of {smallest} row{'s' * (smallest != 1)}) is split on its own, its share rounded; give "
        "fewer classes, more rows of each, or splits of your own",
        OptimlabWarning,
        stacklevel=3,
    )
    return True


def _say_test_kept(data: Examples, test_fraction: float) -> None:
    """Warn where ``test_fraction`` was given for a data set that brings its own test set (MNIST-1D's
    ``split: original``, CIFAR-10's ``test_batch``): that set is kept whole and the fraction not applied,
    so the run's recipe, which records the fraction, says it."""
    warnings.warn(
        f"data.test_fraction {test_fraction:g} does not apply: {data.name} brings its own test set of "
        f"{count_of(len(data.test), 'row')}, kept whole; leave data.test_fraction at its default "
        f"{TEST_FRACTION:g}",
        OptimlabWarning,
        stacklevel=3,
    )


def say_empty(name: str, rows: int, fractions: dict[str, float], sizes: dict[str, int]) -> None:
    """Warn where a split asked for (``fractions`` of ``name``'s ``rows``) got no row (``sizes``), its
    share of a few rows rounded to 0 (0.2 of 2): the run then ends with no metric of it (the stratified
    split's misses: :func:`_say_fractions_missed`)."""
    empty = [part for part, fraction in fractions.items() if fraction > 0 and not sizes[part]]
    if not empty:
        return
    fields = " and ".join(f"data.{part}_fraction {fractions[part]:g}" for part in empty)
    words = " and ".join({"val": "validation", "test": "test"}[part] for part in empty)
    warnings.warn(
        f"the split of {name}'s {rows} rows gives {words} no row ({fields} of them rounds "
        "to 0), so the run has no metric of it; give more rows, or 0 for a split not wanted",
        OptimlabWarning,
        stacklevel=3,
    )


def _say_untrained(data: Examples, untrained: list[Tensor], fractions: dict[str, float]) -> None:
    """Warn where splitting class by class left a class (``untrained``: its rows) no training row, each of
    its few rows rounded into validation or test (2 rows at 0.25 each): the model is scored on a class it
    never sees. The split stays as drawn; scikit-learn's stratified split refuses classes this small."""
    y = data.examples.y.reshape(len(data.examples.y))
    named = ", ".join(f"{y[rows[0]].item()} ({len(rows)} row{'s' * (len(rows) != 1)})" for rows in untrained)
    fields = " and ".join(f"data.{n}_fraction {f:g}" for n, f in fractions.items() if f > 0)
    warnings.warn(
        f"the stratified split of {data.name} gives class{'es' * (len(untrained) > 1)} {named} no training "
        f"row: {fields} round{'s' * (fields.count('data.') == 1)} every one of them into validation or "
        "test, so the model is scored on classes it never trains on; give more rows of each class, smaller "
        "fractions, or splits of your own",
        OptimlabWarning,
        stacklevel=3,
    )


_SHOWN_UNTRAINED = 6  # class labels named in the note


def untrained_classes(
    trained: Any, train_name: str, held_out: Mapping[str, Any], ignored: int | None = None
) -> str:
    """What a reading says of the user's own validation or test split (``held_out``: labels by the name
    the user gave them) holding class labels the training split (``trained``) lacks: the split is kept as
    given, and the model never learns those classes. Nothing where none does; labels per position
    (sequences) are not read."""
    trained = _labels(trained)
    if trained.ndim > 1 and trained.shape[1:] != (1,):
        return ""
    notes = []
    for name, labels in held_out.items():
        unseen = np.setdiff1d(np.unique(_labels(labels)), np.unique(trained))
        unseen = unseen[unseen != ignored] if ignored is not None else unseen
        if len(unseen):
            shown = ", ".join(map(listed_label, unseen[:_SHOWN_UNTRAINED].tolist()))
            more = ", ..." if len(unseen) > _SHOWN_UNTRAINED else ""
            classes = "class" if len(unseen) == 1 else "classes"
            notes.append(
                f"{name} holds {classes} {shown}{more}, which {train_name} lacks: never learnt, still scored"
            )
    return "; ".join(notes)


def _labels(values: Any) -> np.ndarray:
    """Labels (an array, or a tensor wherever it lives) as an array."""
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
