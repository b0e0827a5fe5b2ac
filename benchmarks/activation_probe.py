"""What the size check's activation probe costs a catalogue model's build: ``activation_bytes`` (two
training forwards, of 2 and 4 rows, under autograd's saved-tensor hooks) against ``build_model`` whole.

``build_model`` checks a catalogue model whole before it trains (``sizing.check_step_fits``): weights,
gradients, the optimizer's state and a batch's activations, the last measured by the probe. Each round
builds each model (``build_model``, probe included) and then times the probe alone on the model built,
in one process after one untimed build of each (first-use imports); the table gives the medians and the
median within-round share probe / build with its 95% bootstrap interval (``paired.py``).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/activation_probe.py --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import time

from paired import paired_ratio

from optimlab.build import build_data, build_model
from optimlab.models.sizing import activation_bytes
from optimlab.recipe import Recipe

BATCH_SIZE = 32  # the recipes' default, as the check sizes a step
MODELS = ("mlp", "cnn", "resnet", "transformer")  # the catalogue on digits (8x8, 64 features), defaults


def _recipe(model: str) -> Recipe:
    return Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": model},
            "optimizer": {"name": "adam", "lr": 1e-3},
            "training": {"batch_size": BATCH_SIZE, "steps": 1},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    recipes = {name: _recipe(name) for name in MODELS}
    splits = {name: build_data(recipe) for name, recipe in recipes.items()}
    for name, recipe in recipes.items():  # untimed: first-use imports and kernels
        build_model(recipe, splits[name])
    builds: dict[str, list[float]] = {name: [] for name in MODELS}
    probes: dict[str, list[float]] = {name: [] for name in MODELS}
    for _ in range(args.rounds):
        for name, recipe in recipes.items():
            started = time.perf_counter()
            model = build_model(recipe, splits[name])
            built = time.perf_counter()
            activation_bytes(model, splits[name].train.x, BATCH_SIZE)
            builds[name].append(built - started)
            probes[name].append(time.perf_counter() - built)
    print(f"| digits model, batch {BATCH_SIZE} | build_model ms | probe ms | probe / build (95%) |")
    print("| --- | ---: | ---: | ---: |")
    for name in MODELS:
        share, low, high = paired_ratio(probes[name], builds[name])
        build_ms, probe_ms = (1e3 * statistics.median(t) for t in (builds[name], probes[name]))
        print(f"| {name} | {build_ms:.1f} | {probe_ms:.1f} | {share:.2f} [{low:.2f}, {high:.2f}] |")


if __name__ == "__main__":
    main()
