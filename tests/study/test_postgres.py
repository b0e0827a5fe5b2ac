"""A PostgreSQL storage shared by two worker processes: a throwaway server on loopback.

Needs the PostgreSQL server binaries (Debian: ``postgresql``) and ``psycopg2`` (``optimlab[postgres]``);
skipped with the reason otherwise. As root, the server runs as the ``postgres`` user (it refuses root).
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

from optimlab.study import StudySpec, get_workload, methods_from, run_study

pytest.importorskip("psycopg2", reason="psycopg2 is not installed: pip install 'optimlab[postgres]'")


def _server_binary(name):
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if found is None:
        pytest.skip(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return found


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_url():
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    data, port = Path(tempfile.mkdtemp(prefix="optimlab-pg-")), _free_port()  # under /tmp: any user reaches it
    prefix = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chown(data, account.pw_uid, account.pw_gid)
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "optimlab", "--auth=trust", "--no-sync"], check=True,
                   capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://optimlab@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_two_workers_share_a_postgres_study(postgres_url):
    command = [sys.executable, "-c", "import typer; from optimlab.cli.worker_cmd import worker; typer.run(worker)",
               postgres_url, "--wait"]
    workers = [subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    spec = StudySpec.for_workload("pg", get_workload("digits-mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"]),
                                  budget=4, seeds=2)
    result = run_study(spec, postgres_url, backend="workers", workers=0)
    ran = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, out
        ran.append(int(out.split("worker ran ")[1].split()[0]))
    assert sum(ran) == 2 * (4 + 2) == len(result.records)
    study = optuna.load_study(study_name="pg/adam", storage=postgres_url)
    trials = study.get_trials()
    assert sorted(t.user_attrs["key"] for t in trials) == ["seeds/0", "seeds/1", *(f"tune/{i}" for i in range(4))]
    assert all(t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs["curve"]["step"] == [34] for t in trials)
