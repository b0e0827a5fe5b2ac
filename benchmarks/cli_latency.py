"""How fast the command line answers: ``--help``, ``list`` and rejected flags, each in a fresh process.

Claim (issue 13): ``optimlab --help``, ``optimlab list`` and a rejected flag answer in under 1.5 s. Each
command runs ``--rounds`` times in a new interpreter, the commands interleaved round by round so that a
busy spell of a shared machine hits all of them alike; the table gives the median wall time and the
median CPU time (user + system of the child, which a busy machine inflates far less than wall time).
``list`` reads the catalog cached on first use (see ``optimlab.cli._catalog``); one untimed call warms it.

    python benchmarks/cli_latency.py --rounds 7
    PYTHONPATH=/work/main/src python benchmarks/cli_latency.py --rounds 3   # another tree, for comparison
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (interpreter alone)": None,
    "optimlab --help": ["--help"],
    "optimlab --version": ["--version"],
    "optimlab list": ["list"],
    "optimlab list optimizer --format json": ["list", "optimizer", "--format", "json"],
    "train --lr inf (rejected value)": ["train", "--lr", "inf"],
    "train --epochs 0 (rejected value)": ["train", "--epochs", "0"],
    "train --optimizer adamm (unknown name)": ["train", "--optimizer", "adamm"],
    "compare --storage notaurl::: (rejected)": ["compare", "--optimizers", "sgd", "--storage", "notaurl:::"],
    "trian (unknown verb)": ["trian"],
}


def _run(args: list[str] | None) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process running ``optimlab args``."""
    code = "pass" if args is None else "from optimlab.cli.app import main; main()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *(args or [])], capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _run(["list"])  # build the catalog cache if this tree has none yet
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, args in COMMANDS.items():
            times[name].append(_run(args))
    print(f"| command | median wall (s) | median CPU (s) |  ({rounds} fresh processes each)")
    print("| --- | ---: | ---: |")
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| `{name}` | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
