"""An experiment of the gallery: a claim, the runs that test it, and how the numbers decide it.

Each experiment is registered by name in the ``experiment`` registry (summary and paper like every
technique) as an :class:`Experiment`, whose call runs it at a size and returns an :class:`Outcome`:

* ``measure(size) -> Evidence``: trains the runs (several seeds) and collects the numbers;
* ``verdict(numbers) -> Verdict``: a pure function of those numbers only (tests feed it made-up ones);
* ``figures(evidence)``: the figures of the page, from the same evidence.

Sizes: ``small`` (the default) runs on one CPU thread in well under five minutes; ``large`` scales the
runs up (wider, deeper, longer, more seeds) and takes a GPU when there is one; ``tiny`` only checks that
the experiment runs end to end (tests), its numbers too few to decide anything.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.verdict import Verdict
from optimlab.registry import Capability, Entry, new_registry

__all__ = [
    "KINDS",
    "SIZES",
    "Evidence",
    "Experiment",
    "Outcome",
    "RunRecord",
    "device_for",
    "experiment_names",
    "experiments",
    "get_experiment",
    "register",
]

SIZES = ("tiny", "small", "large")
# What an experiment tests: a claim as tutorials state it, or a classic paper's result.
KINDS = {Capability.TUTORIAL_CLAIM: "Tutorial claims", Capability.PAPER_RESULT: "Classic results"}

_REGISTRY = new_registry("experiment")


def device_for(size: str) -> str:
    """Large runs take a GPU when there is one; the others stay on the CPU (timings comparable)."""
    return "auto" if size == "large" else "cpu"


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One run as the page lists it: its arm, its full spec (a recipe) and how it ended."""

    arm: str
    spec: Mapping[str, Any]  # the recipe as a mapping, with any extras the gallery applied
    status: str
    result: str  # the number the run contributes, in words ("test_accuracy 0.973")


@dataclasses.dataclass
class Evidence:
    """What an experiment measured: the numbers its verdict reads, the series its figures draw, its runs."""

    numbers: dict[str, Any]  # JSON-ready; the only input of the verdict
    series: dict[str, Any]  # JSON-ready curves and profiles for the figures
    runs: list[RunRecord]
    setup: str  # what was run, in one paragraph, with the sizes of this run


@dataclasses.dataclass
class Outcome:
    """An experiment's result at one size."""

    name: str
    size: str
    evidence: Evidence
    verdict: Verdict
    seconds: float


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A claim and how to test it. Registered objects are instances: calling one runs it."""

    name: str
    kind: str  # a key of KINDS
    title: str
    claim: str  # the sentence tested, as a tutorial or the paper states it
    sources: tuple[str, ...]  # full references with links, cited on the page
    measure: Callable[[str], Evidence]
    verdict: Callable[[Mapping[str, Any]], Verdict]
    figures: Callable[[Evidence], Sequence[tuple[Figure, str]]]

    def __call__(self, size: str = "small") -> Outcome:
        started = time.perf_counter()
        evidence = self.measure(size)
        return Outcome(
            name=self.name,
            size=size,
            evidence=evidence,
            verdict=self.verdict(evidence.numbers),
            seconds=time.perf_counter() - started,
        )


def register(experiment: Experiment, *, summary: str, paper: str) -> Experiment:
    """Register ``experiment`` under its name; its one hyperparameter is ``size``."""
    if experiment.kind not in KINDS:
        raise ValueError(f"experiment kind {experiment.kind!r} is not one of {', '.join(KINDS)}")
    _REGISTRY.register(
        experiment.name,
        summary=summary,
        paper=paper,
        accepts={"size": SIZES},
        capabilities=(experiment.kind,),
        obj=experiment,
    )
    return experiment


def experiment_names() -> list[str]:
    return _REGISTRY.names()


def experiments() -> list[Entry[Experiment]]:
    """The registry's entries (name, summary, paper, the experiment itself), in registration order."""
    return list(_REGISTRY)


def get_experiment(name: str) -> Experiment:
    """The experiment registered as ``name``; an unknown name raises offering the close ones."""
    return _REGISTRY.get(name).obj
