"""How long the page of many long runs takes, and how big it is.

Claim (issue 16): overlaying 10 runs of 10,000 steps each (a metrics.jsonl line per step, an evaluation
every 100 steps) renders a page under 2 MB in under 5 s. The runs are written once (made-up curves with
noise, so that thinning has spikes to keep); each repeat reads the 10 folders and writes the page
(`optimlab report RUN...` without the process start). Printed: the median and the slowest repeat, the
median CPU time (what the page costs an idle core: a shared machine's load moves it less), and the
page's size. The size is also a test (tests/report/test_run_page.py); the time is not (shared CI).

Run: python benchmarks/report_overlay.py [--runs 10] [--steps 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from optimlab.recipe import Recipe
from optimlab.report.run_folder import read_run
from optimlab.report.run_page import write_run_report


def write_run(folder: Path, lr: float, steps: int) -> None:
    folder.mkdir(parents=True)
    Recipe.from_dict({"optimizer": {"name": "adam", "lr": lr}}).save(folder / "recipe.yaml")
    noise = random.Random(int(lr * 1e6))
    with open(folder / "metrics.jsonl", "w") as lines:
        for step in range(1, steps + 1):
            loss = 2.3 * math.exp(-step * lr) + 0.1 * noise.random()
            lines.write(
                json.dumps({"step": step, "epoch": 0, "train_loss": loss, "lr": lr, "seconds": step * 3e-3})
            )
            lines.write("\n")
            if step % 100 == 0:
                record = {
                    "step": step,
                    "epoch": 0,
                    "val_loss": loss,
                    "val_accuracy": 1 - loss / 2.3,
                    "seconds": step * 3e-3,
                }
                lines.write(json.dumps(record) + "\n")
    result = {
        "status": "completed",
        "steps": steps,
        "seconds": steps * 3e-3,
        "metrics": {"test_accuracy": 0.9},
    }
    (folder / "result.json").write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="report-overlay-"))
    folders = [work / f"run-{i}" for i in range(args.runs)]
    for i, folder in enumerate(folders):
        write_run(folder, 1e-4 * (i + 1), args.steps)
    write_run_report([read_run(folders[0])], work / "warm-up.html")  # imports, fonts
    times, reading, cpu = [], [], []
    for _ in range(args.repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        runs = [read_run(f) for f in folders]
        read = time.perf_counter()
        page = write_run_report(runs, work / "page.html")
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        reading.append(read - started)
    print(
        f"{args.runs} runs x {args.steps} steps: median {statistics.median(times):.2f} s (reading the runs "
        f"{statistics.median(reading):.2f} s), slowest {max(times):.2f} s over {args.repeats} repeats, "
        f"CPU time {statistics.median(cpu):.2f} s (median); "
        f"page {page.stat().st_size / 1e6:.2f} MB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
