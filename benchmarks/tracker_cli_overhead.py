"""What logging to a tracker costs a user at the command line: ``optimlab train --log tensorboard|mlflow``
against the same ``optimlab train`` without it, each timed from start to return.

Claim (issue 16): logging to a tracker costs at most 1.05x the run without it. At the command line the run
a user waits for is the whole command: Python and torch starting, the recipe, the data, training, the
results written (``benchmarks/tracker_overhead.py`` times the ``train`` call alone). ``--log mlflow`` also
keeps the run's page with the MLflow run, written by the command (as ``--html`` writes it) and attached
before it returns; this script checks that MLflow shows the page as soon as the command has returned
(polling MLflow's client, untimed) and prints the lag, which should be nil. ``--html`` alone is timed
for reference. Each round runs every command once, in a rotating order. Printed: the median over rounds
of the ratio within each round, with its 95% bootstrap interval (benchmarks/paired.py), of wall time and
of the command's CPU time (the writer process, a new session, is not counted), and the median of the
seconds each command adds to the plain one in its round: a tracker's cost is mostly fixed (MLflow's
import, 4 s of CPU in its writer, overlaps the command's start), so the ratio falls as the run grows.

Recipe: ``--model`` on ``--dataset`` (default: MLP on digits, 34 steps an epoch), ``--epochs`` epochs,
``--no-progress``; MLflow's store: a SQLite file in a fresh folder.

Run: python benchmarks/tracker_cli_overhead.py [--rounds 9] [--epochs 5] [--arms tensorboard,mlflow,html]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import paired_ratio

ARMS = {
    "plain": [],
    "tensorboard": ["--log", "tensorboard"],
    "mlflow": ["--log", "mlflow"],
    "html": ["--html"],
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def page_attached(client, run_name: str, deadline: float) -> None:
    """Return once MLflow shows the run ``run_name`` ended, with report.html attached."""
    from mlflow.entities import ViewType

    experiment = client.get_experiment_by_name("optimlab").experiment_id
    while time.perf_counter() < deadline:
        runs = client.search_runs(
            [experiment], f"attributes.run_name = '{run_name}'", run_view_type=ViewType.ALL
        )
        finished = runs and runs[0].info.status == "FINISHED"
        if finished and "report.html" in [a.path for a in client.list_artifacts(runs[0].info.run_id)]:
            return
        time.sleep(0.05)
    raise TimeoutError(f"no page attached to MLflow run {run_name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument(
        "--arms", default="tensorboard,mlflow,html", help="comma-separated, from: " + ", ".join(ARMS)
    )
    args = parser.parse_args()
    arms = ["plain", *(a for a in args.arms.split(",") if a in ARMS and a != "plain")]
    work = Path(tempfile.mkdtemp(prefix="tracker-cli-overhead-"))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    base = [
        sys.executable,
        "-m",
        "optimlab.cli.app",
        "train",
        "--dataset",
        args.dataset,
        "--model",
        args.model,
    ]
    base += ["--epochs", str(args.epochs), "--no-progress"]
    client = None
    if "mlflow" in arms:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)

    def command(arm: str, name: str) -> tuple[float, float]:
        """Run one command; its wall and CPU seconds (and, for MLflow, wait for its page, untimed)."""
        started, started_cpu = time.perf_counter(), children_cpu()
        done = subprocess.run(
            [*base, "--out", str(work / name), *ARMS[arm]], cwd=work, env=env, capture_output=True
        )
        seconds, cpu = time.perf_counter() - started, children_cpu() - started_cpu
        if done.returncode != 0:
            raise SystemExit(done.stderr.decode())
        if arm == "mlflow":
            page_attached(client, name, time.perf_counter() + 300)
            lag.append(time.perf_counter() - started - seconds)
        return seconds, cpu

    lag: list[float] = []  # from an "mlflow" command's return until MLflow shows its page
    for arm in arms:  # warm-up: file caches, MLflow's store created
        command(arm, f"warm-up-{arm}")
    lag.clear()
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    cpu: dict[str, list[float]] = {arm: [] for arm in arms}
    for round_ in range(args.rounds):
        for arm in arms[round_ % len(arms) :] + arms[: round_ % len(arms)]:
            seconds, seconds_cpu = command(arm, f"{arm}-{round_}")
            times[arm].append(seconds)
            cpu[arm].append(seconds_cpu)
    print(
        f"{args.rounds} rounds, `optimlab train` of {args.model} on {args.dataset} for {args.epochs} epochs, "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        + (
            f"; MLflow shows the page {statistics.median(lag):.2f} s after the command returns (median)"
            if lag
            else ""
        )
    )
    print("| command | median s | added s | ratio to plain [95% CI] | CPU ratio to plain [95% CI] |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| plain | {statistics.median(times['plain']):.2f} | 0 | 1 | 1 |")
    for arm in arms[1:]:
        ratio, low, high = paired_ratio(times[arm], times["plain"])
        cpu_ratio, cpu_low, cpu_high = paired_ratio(cpu[arm], cpu["plain"])
        added = statistics.median(a - b for a, b in zip(times[arm], times["plain"]))
        print(
            f"| {' '.join(ARMS[arm])} | {statistics.median(times[arm]):.2f} | {added:+.2f} "
            f"| {ratio:.3f} [{low:.3f}, {high:.3f}] "
            f"| {cpu_ratio:.3f} [{cpu_low:.3f}, {cpu_high:.3f}] |"
        )


if __name__ == "__main__":
    main()
