"""Start-up of ``optimlab train``: a small training run end to end, each in a fresh interpreter.

Claim: ``optimlab train --dataset digits --model mlp --epochs 5 --no-progress`` costs little more than
``import torch`` plus its training (about 0.3 s here): it imports no compiler (Dynamo, Inductor), no
scikit-learn, SciPy or pandas. Each round runs, in rotating order, ``python -c "import torch"`` (the
floor), the command on this tree and, with ``--before SRC`` (repeatable), on other source trees (``src``
of older checkouts); the table gives median wall and median CPU (user + system of the child) and, for
each other tree, the median over rounds of the within-round wall and CPU ratios of this tree to it, with
a 95% bootstrap interval (``paired.py``). Each tree gets its own catalog cache (``$XDG_CACHE_HOME``), warmed by one
untimed run, so that no round rebuilds it. ``--importtime`` prints, once, the modules the command
imports sorted by cumulative time (``python -X importtime``). ``--command`` times another command instead
(the size check of a model past the sizes it skips, 7b4ab3b5's end-to-end claim, below).

    python benchmarks/cli_startup.py --rounds 7
    mkdir /tmp/before && git archive 001f97f src | tar -x -C /tmp/before
    python benchmarks/cli_startup.py --rounds 7 --before /tmp/before/src
    git worktree add /tmp/sized 7b4ab3b5~1
    python benchmarks/cli_startup.py --rounds 6 --before /tmp/sized/src \
        --command "train --dataset iris --epochs 1 --width 2048 --no-progress"
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paired import paired_ratio, source_tree

COMMAND = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "5", "--no-progress"]
MAIN = "from optimlab.cli.app import main; main()"
THIS_TREE = Path(__file__).resolve().parents[1] / "src"


def _run(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh ``python -c code args``; a failed command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{args} failed:\n{result.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _import_breakdown(command: list[str], env: dict[str, str], out: Path, top: int = 25) -> None:
    """The ``top`` imports of ``command`` by cumulative time (self-contained subtrees counted once)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", MAIN, *command, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    rows = re.findall(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", result.stderr)
    shallow = sorted(
        ((int(us), len(indent) // 2, name) for us, indent, name in rows if len(indent) <= 6), reverse=True
    )
    print(f"\nimports of `optimlab {shlex.join(command)}` by cumulative time (depth <= 3):")
    for us, depth, name in shallow[:top]:
        print(f"  {us / 1e6:6.3f} s  {'  ' * depth}{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--before",
        type=source_tree,
        action="append",
        default=[],
        help="another tree's src folder, timed alongside",
    )
    parser.add_argument("--importtime", action="store_true", help="also print the imports by cumulative time")
    parser.add_argument(
        "--command",
        type=shlex.split,
        default=COMMAND,
        help=f"another train command (default: {shlex.join(COMMAND)})",
    )
    options = parser.parse_args()
    command = options.command
    trees = {"this tree": THIS_TREE, **{str(src): src.resolve() for src in options.before}}
    with tempfile.TemporaryDirectory() as scratch:
        envs = {
            name: {
                **os.environ,
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                "PYTHONPATH": str(src),
                "XDG_CACHE_HOME": str(Path(scratch, f"cache-{index}")),
            }
            for index, (name, src) in enumerate(trees.items())
        }
        outs = iter(Path(scratch, f"run-{i}") for i in range(10**6))
        for env in envs.values():  # build each tree's catalog cache, untimed
            _run(MAIN, [*command, "--out", str(next(outs))], env)
        arms = {"python -c 'import torch' (the floor)": None, **{f"optimlab train ({n})": n for n in trees}}
        times: dict[str, list[tuple[float, float]]] = {arm: [] for arm in arms}
        for round_index in range(options.rounds):
            order = list(arms)[round_index % len(arms) :] + list(arms)[: round_index % len(arms)]
            for arm in order:
                tree = arms[arm]
                if tree is None:
                    times[arm].append(_run("import torch", [], envs["this tree"]))
                else:
                    times[arm].append(_run(MAIN, [*command, "--out", str(next(outs))], envs[tree]))
        print(f"`optimlab {shlex.join(command)}`, {options.rounds} rounds of fresh processes")
        print("| run | median wall (s) | median CPU (s) |")
        print("| --- | ---: | ---: |")
        for arm, runs in times.items():
            wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
            print(f"| {arm} | {wall:.2f} | {cpu:.2f} |")
        now = times["optimlab train (this tree)"]
        for src in options.before:
            before = times[f"optimlab train ({src})"]
            for label, index in (("wall", 0), ("CPU", 1)):
                ratio, low, high = paired_ratio([t[index] for t in now], [t[index] for t in before])
                print(f"this tree / {src}, {label}: {ratio:.3f} [{low:.3f}, {high:.3f}]")
        if options.importtime:
            _import_breakdown(command, envs["this tree"], next(outs))


if __name__ == "__main__":
    main()
