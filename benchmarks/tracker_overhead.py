"""What logging to a tracker costs: a training run with TensorBoard or MLflow logging against the same run
without it.

Claim (issue 16): sending every metric of ``metrics.jsonl`` (each step's loss and lr, each evaluation) to
a tracker costs at most 1.05x the run without it. Each round trains the same recipe once per arm, in a
rotating order: plain ``train(recipe, out)``, and with a :class:`~optimlab.integrations.Tracker` callback
for TensorBoard, for MLflow (a local SQLite store; its client in a writer process, the default: its close
hands over the run's end and returns), for MLflow waited for (the same, and ``tracker.wait()``, what a
caller that reads the run back in the same process pays) and, for reference, MLflow with its client in
the training process (``background=False``, how runs are sent after the fact). Timed: opening the tracker
and the ``train`` call (build, loop, evaluations, final write, the tracker's close), plus the wait in the
"waited" arm. After the timing of each MLflow run the script waits for the writer to complete it, so that
its work never lands in the next run's timing; that lag is printed too.
Printed: the median over rounds of the ratio within each round, with its 95% bootstrap interval
(benchmarks/paired.py), of wall time and of this process's CPU time (its threads included: a shared
machine's load moves it less); apart, the median time to open the tracker and the wait at its close,
the CPU time MLflow's writer process spends per run (Linux), and its startup (a fresh process until
its MLflow run exists), which overlaps the first run of a process.

Recipe: ``--model`` on ``--dataset`` (default: MLP 64-128-128-10 on digits, 34 steps an epoch; ``--model
cnn --dataset mnist1d`` for a heavier step), Adam, batch 32, 1 torch thread, ``--epochs`` epochs,
evaluation every epoch.

Run: python benchmarks/tracker_overhead.py [--rounds 11] [--epochs 10] [--model mlp --dataset digits]
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import paired_ratio

from optimlab.integrations import mlflow_writer, open_tracker
from optimlab.recipe import Recipe
from optimlab.train import train
from optimlab.train.loop import Callback, TrainState

ARMS = ("plain", "tensorboard", "mlflow", "mlflow waited", "mlflow in process")


class Stamp(Callback):
    """The time at which training ends, as seen just before (or after) the tracker's close."""

    def __init__(self) -> None:
        self.at = 0.0

    def on_train_end(self, state: TrainState) -> None:
        self.at = time.perf_counter()


def writer_startup(work: Path) -> float:
    """Seconds from starting a fresh MLflow writer process to its first answer (its run exists)."""
    settings = {"run_name": "startup", "params": {}, "experiment": "startup", "tracking_uri": None}
    settings.update(
        cwd=str(work), environment={k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    )
    started = time.perf_counter()
    writer = subprocess.Popen(
        [sys.executable, "-m", "optimlab.integrations.mlflow_writer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    writer.stdin.write(pickle.dumps((0, "open", settings)))
    writer.stdin.flush()
    answer = writer.stdout.readline()
    seconds = time.perf_counter() - started
    writer.stdin.close()
    writer.wait()
    assert b"run_id" in answer, answer
    return seconds


def process_seconds(pid: int) -> float:
    """CPU seconds (user + system) that process ``pid`` has spent so far (Linux: /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated, from: " + ", ".join(ARMS))
    args = parser.parse_args()
    asked = [arm.strip() for arm in args.arms.split(",") if arm.strip() and arm.strip() != "plain"]
    unknown = [arm for arm in asked if arm not in ARMS]
    if unknown:
        parser.error(f"--arms: {', '.join(map(repr, unknown))} is not an arm; accepted: {', '.join(ARMS)}")
    arms = ["plain", *dict.fromkeys(asked)]
    with_writer = any(arm in ("mlflow", "mlflow waited") for arm in arms)  # MLflow's writer process runs
    torch.set_num_threads(1)
    recipe = Recipe.from_dict(
        {
            "data": {"name": args.dataset},
            "model": {"name": args.model},
            "optimizer": {"name": "adam", "lr": 1e-3},
            "training": {"epochs": args.epochs},
        }
    )
    work = Path(tempfile.mkdtemp(prefix="tracker-overhead-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.chdir(work)  # MLflow's artifacts folder
    # idle, before anything else runs; only where an arm uses the writer (--arms plain,tensorboard needs
    # no MLflow, and its empty lists stopped the script with StatisticsError after all rounds)
    startup = [writer_startup(work) for _ in range(3)] if with_writer else []
    # Warm-up: imports, data, allocator; each tracker's first opening (MLflow's store created, its
    # library imported here and in this process's writer process).
    warm_up = [
        open_tracker(arm.split()[0], folder=work, run_name="warm-up", background=arm != "mlflow in process")
        for arm in arms[1:]
    ]
    steps = train(recipe, work / "warm-up", callbacks=warm_up).steps
    for tracker in warm_up:
        tracker.wait()
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    cpu: dict[str, list[float]] = {arm: [] for arm in arms}  # of this process, its threads included
    writer_cpu: list[float] = []  # of the MLflow writer process, per run
    opening: dict[str, list[float]] = {arm: [] for arm in arms[1:]}
    closing: dict[str, list[float]] = {arm: [] for arm in arms[1:]}
    lag: list[float] = []  # from train's return until the writer has completed an "mlflow" run
    for round_ in range(args.rounds):
        for arm in arms[round_ % len(arms) :] + arms[: round_ % len(arms)]:
            out = work / f"{arm.replace(' ', '-')}-{round_}"
            before, after = Stamp(), Stamp()
            background = arm in ("mlflow", "mlflow waited")
            writer = mlflow_writer.writer_process().process.pid if background else 0
            writer_before = process_seconds(writer) if background else 0.0
            started, started_cpu = time.perf_counter(), time.process_time()
            callbacks = []
            if arm != "plain":
                tracker = open_tracker(
                    arm.split()[0],
                    folder=out,
                    run_name=out.name,
                    params=recipe.to_dict(),
                    background=background,
                )
                callbacks = [before, tracker, after]
                opening[arm].append(time.perf_counter() - started)
            train(recipe, out, callbacks=callbacks)
            if arm == "mlflow waited":
                tracker.wait()
            times[arm].append(time.perf_counter() - started)
            cpu[arm].append(time.process_time() - started_cpu)
            if arm != "plain":
                closing[arm].append(after.at - before.at)
            if arm == "mlflow":
                tracker.wait()  # outside the timing: the writer's work stays out of the next run's
                lag.append(time.perf_counter() - started - times[arm][-1])
            if background:
                writer_cpu.append(process_seconds(writer) - writer_before)
    print(
        f"{args.rounds} rounds, {args.model} on {args.dataset}, {steps} steps a run, load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        + (
            f"; MLflow's writer starts in {statistics.median(startup):.2f} s (median of 3, idle) and "
            f"spends {statistics.median(writer_cpu):.3f} s of CPU a run (median)"
            if with_writer
            else ""
        )
        + (f"; an unwaited run is complete {statistics.median(lag):.3f} s after train returns" if lag else "")
    )
    print(
        "| run | median s | ratio to plain [95% CI] | CPU ratio to plain [95% CI] | opening the tracker, "
        "median s | close, median s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| plain | {statistics.median(times['plain']):.3f} | 1 | 1 | | |")
    for arm in arms[1:]:
        ratio, low, high = paired_ratio(times[arm], times["plain"])
        cpu_ratio, cpu_low, cpu_high = paired_ratio(cpu[arm], cpu["plain"])
        print(
            f"| {arm} | {statistics.median(times[arm]):.3f} | {ratio:.3f} [{low:.3f}, {high:.3f}] "
            f"| {cpu_ratio:.3f} [{cpu_low:.3f}, {cpu_high:.3f}] "
            f"| {statistics.median(opening[arm]):.3f} | {statistics.median(closing[arm]):.3f} |"
        )


if __name__ == "__main__":
    main()
