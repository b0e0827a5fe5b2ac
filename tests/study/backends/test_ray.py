"""The Ray backend on a local Ray instance (2 CPUs): the same trials as in-process execution."""

import pytest

from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.workloads import get_workload

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'optimlab[ray]'")


def test_ray_tasks_run_the_planned_trials(tmp_path):
    spec = StudySpec.for_workload(
        "r",
        get_workload("digits_mlp", epochs=1),
        methods_from("optimizer.name", ["sgd", "adam"]),
        budget=2,
        seeds=1,
    )
    # its workers inherit OMP_NUM_THREADS=1 (tests/conftest.py); a runtime_env setting it again made Ray
    # start two more workers for the tasks (through setup_worker.py) beside the two it prestarts
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_study(spec, tmp_path / "ray", backend="ray", options=BackendOptions(workers=2))
    finally:
        ray.shutdown()
    local = run_study(spec, tmp_path / "local")

    def outcome(records):
        return {(r.study, r.key): (r.params, r.seed, r.value) for r in records}

    assert len(result.records) == 2 * (2 + 1) and all(r.state == "complete" for r in result.records)
    assert outcome(result.records) == outcome(local.records)
