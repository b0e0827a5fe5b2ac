"""Studies on the user's code by import path: the path is stored, so a resumed study and a worker
process started elsewhere import the same code; bad paths, factories and batches stop every verb with
one line and exit code 2 (run as the `optimlab` command runs, in a fresh process)."""

import _thread
import functools
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from optimlab.study import load_specs
from optimlab.study.compare import compare
from optimlab.study.storage import IMPORT_FROM_ATTR, load_records, open_storage

SOURCE = str(Path(__file__).resolve().parents[2] / "src")
PLAN = {
    "model": "optimlab_userpkg.nets:build",
    "dataset": "optimlab_userpkg.data:blobs",
    "budget": 2,
    "seeds": 1,
    "epochs": 1,
}


@pytest.fixture
def optimlab(forked_parents, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """``optimlab(*argv, user_package=None)``: the command line in a fresh process; the user's package
    found only where PYTHONPATH says. Each process is forked from a parent started with that PYTHONPATH
    (forked_parents): no interpreter and torch start per command, and sys.path is the one PYTHONPATH
    gives (the current folder not on it, as for the `optimlab` script)."""
    output = tmp_path / "command-output"
    output.mkdir()

    def run(*argv: str, user_package: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [user_package, SOURCE]))
        parent = forked_parents(env["PYTHONPATH"])
        code, out, err = parent.run(list(argv), Path.cwd(), env, output, timeout)
        assert code is not None, f"still running after {timeout} s: {err}"
        return subprocess.CompletedProcess(argv, code, out, err)

    return run


def finished(folder):
    (spec,) = load_specs(str(folder))
    names = [spec.study_name(m) for m in spec.methods]
    return [r for r in load_records(open_storage(str(folder)), names) if r.finished]


class Stop(Exception):
    pass


def test_a_study_stopped_midway_resumes_in_a_fresh_process_on_the_same_code(user_package, tmp_path, optimlab):
    def stop_after_two(spec, records):
        if sum(r.finished for r in records) >= 2:
            raise Stop

    with pytest.raises(Stop):
        compare(["sgd", "adam"], out=tmp_path, on_progress=stop_after_two, **PLAN)
    assert len(finished(tmp_path)) == 2
    done = optimlab("compare", "--resume", str(tmp_path), "--no-progress", "--format", "json",
                    user_package=user_package)  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = finished(tmp_path)
    assert len(records) == 2 * (2 + 1) and all(r.state == "complete" for r in records)
    assert {r.recipe["model"]["name"] for r in records} == {"optimlab_userpkg.nets:build"}


def test_a_worker_process_started_elsewhere_imports_the_stored_path(cli, user_package, tmp_path, optimlab):
    # the worker in a process of its own (killed if still waiting after 120 s), the driver in this one;
    # the study in a folder of its own (tmp_path holds the worker's output files). The driver waits for
    # workers started anywhere, without a deadline: a worker that fails or is killed interrupts it (as
    # Ctrl-C would), where the test hung once the worker was gone.
    folder = tmp_path / "study"
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(
            optimlab, "worker", str(folder), "--wait", "--format", "json", user_package=user_package,
            timeout=120,
        )  # fmt: skip
        driving = threading.Event()  # set while the driver runs: the test past it is never interrupted
        driving.set()
        held = threading.Lock()  # over the check and its interruption, and over the clear
        started.add_done_callback(functools.partial(_interrupt_if_failed, driving=driving, held=held))
        code, err = None, ""
        try:  # an interruption asked as the driver returned lands past it: caught, the worker's failure said
            code, _, err = cli(
                "compare", "--optimizers", "sgd,adam", "--model", PLAN["model"], "--dataset", PLAN["dataset"],
                "--budget", "2", "--seeds", "1", "--epochs", "1", "--backend", "workers", "--workers", "0",
                "--no-progress", "--out", str(folder), "--format", "json",
            )  # fmt: skip
            with held:
                driving.clear()
        except KeyboardInterrupt:
            driving.clear()
        worker = started.result()  # its failure first: the driver's is then the interruption
    assert worker.returncode == 0, worker.stderr
    assert code == 0, err
    # the driver's note names a worker that waits on through the seed reruns planned after the tuning
    assert f"waiting for `optimlab worker --wait {folder}` processes to run the trials" in err
    assert '"trials": 6' in worker.stdout  # every trial ran in the worker, which imported the user's package
    assert len(finished(folder)) == 6


def _interrupt_if_failed(worker: Future, driving: threading.Event, held: threading.Lock) -> None:
    """Interrupt the main thread, its driver waiting for trials while ``driving`` is set, where ``worker``
    failed or was killed. ``held`` over the check and the interruption: the main thread clears
    ``driving`` holding it, so an interruption asked as the driver returns lands before that clear is
    done, where it is caught, never past it (where it stopped the whole pytest session)."""
    failed = worker.exception() is not None or worker.result().returncode != 0
    with held:
        if failed and driving.is_set():
            _thread.interrupt_main()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "optimlab_userpkg.nowhere:build"], "cannot import 'optimlab_userpkg.nowhere'"),
        (
            ["--model", "optimlab_userpkg.nets:not_a_model"],
            "for what model 'optimlab_userpkg.nets:not_a_model'",
        ),
        (["--dataset", "optimlab_userpkg.data:dict_batches"], "of dict batches, to split"),
        (["--model", "optimlab_userpkg.nets:fixed"], "the first batch"),
    ],
)
def test_compare_on_bad_user_code_says_what_in_one_line_and_exits_2(
    user_package, tmp_path, argv, message, optimlab
):
    flags = {"--model": PLAN["model"], "--dataset": PLAN["dataset"], **dict(zip(argv[::2], argv[1::2]))}
    done = optimlab(
        "compare", "--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--epochs", "1", "--no-progress",
        "--out", str(tmp_path / "out"), *(part for pair in flags.items() for part in pair),
        user_package=user_package,
    )  # fmt: skip
    *said, last = done.stderr.strip().splitlines()  # what the data factory gave, where it ran, first
    assert done.returncode == 2 and last.startswith("error: ") and message in last, done.stderr
    assert all(line.startswith("data: ") for line in said) and len(said) <= 1, done.stderr
    assert "Traceback" not in done.stderr


def test_bench_and_worker_on_bad_paths_exit_2_in_one_line(user_package, tmp_path, optimlab):
    bench = optimlab("bench", "--workloads", "digits_mlp", "--optimizer-path", "optimlab_userpkg.nowhere:Opt",
                     "--out", str(tmp_path / "bench"), "--no-progress", user_package=user_package)  # fmt: skip
    assert bench.returncode == 2 and len(bench.stderr.strip().splitlines()) == 1, bench.stderr
    assert "cannot import 'optimlab_userpkg.nowhere'" in bench.stderr
    # A study on the user's code, then a worker that cannot import it: its PYTHONPATH lacks the package,
    # and the folder the driver found it in is not on this machine.
    compare(["sgd"], out=tmp_path / "study", **{**PLAN, "budget": 1, "seeds": 1})
    storage = open_storage(str(tmp_path / "study"))
    for study in storage.get_all_studies():
        storage.set_study_user_attr(study._study_id, IMPORT_FROM_ATTR, [str(tmp_path / "elsewhere")])
    worker = optimlab("worker", str(tmp_path / "study"))
    errors = [line for line in worker.stderr.splitlines() if line.startswith("error:")]
    assert worker.returncode == 2 and len(errors) == 1 and "Traceback" not in worker.stderr, worker.stderr
    assert "No module named 'optimlab_userpkg'" in errors[0] and "PYTHONPATH" in errors[0]


def test_a_report_or_worker_started_elsewhere_finds_the_code_where_the_driver_did(
    user_package, tmp_path, optimlab
):
    """The study keeps the folders its driver found the user's code in: `optimlab report` or `optimlab
    worker` run from another folder, without PYTHONPATH, said "cannot import 'optimlab_userpkg'"."""
    compare(["sgd"], out=tmp_path / "study", **{**PLAN, "budget": 1, "seeds": 1})
    page = optimlab("report", str(tmp_path / "study"), "--out", str(tmp_path / "page.html"))
    assert page.returncode == 0, page.stderr
    assert "optimlab_userpkg.nets:build" in (tmp_path / "page.html").read_text()
    worker = optimlab("worker", str(tmp_path / "study"), "--format", "json")
    assert worker.returncode == 0 and '"trials": 0' in worker.stdout, worker.stderr


def test_the_user_package_is_reached_only_through_the_path_given(user_package):
    # The fixture's own check: without PYTHONPATH a fresh process does not find the package, so the
    # tests above that pass find it through what optimlab hands on.
    done = subprocess.run([sys.executable, "-P", "-c", "import optimlab_userpkg"], capture_output=True,
                          env={**os.environ, "PYTHONPATH": ""}, cwd="/")  # fmt: skip
    assert done.returncode != 0 and "optimlab_userpkg" in done.stderr.decode()


def test_bench_runs_on_the_users_model_and_keeps_the_path_for_resume(cli, user_package, tmp_path):
    code, _, err = cli(
        "bench", "--workloads", "two_spirals_mlp", "--optimizers", "sgd", "--model", PLAN["model"],
        "--budget", "1", "--seeds", "1", "--backend", "local", "--no-progress", "--out", str(tmp_path),
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    (spec,) = load_specs(str(tmp_path))
    assert spec.recipe.model.name == PLAN["model"] and spec.recipe.data.name == "two_spirals"
    assert len(finished(tmp_path)) == 2
    code, _, err = cli("bench", "--resume", str(tmp_path), "--no-progress", "--format", "json")
    assert code == 0, err  # the saved settings name the model: nothing to rerun, nothing refused
    assert len(finished(tmp_path)) == 2
