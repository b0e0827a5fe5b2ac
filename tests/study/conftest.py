"""A throwaway PostgreSQL server on loopback, shared by the tests of this folder that ask for it.

Needs the server binaries (Debian: ``postgresql``) and ``psycopg2`` (``optimlab[postgres]``); a test
asking for it is skipped with the reason otherwise. As root, the server runs as the ``postgres`` user
(it refuses root).
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _server_binary(name):
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if found is None:
        pytest.skip(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return found


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed: pip install 'optimlab[postgres]'")
    initdb, pg_ctl = _server_binary("initdb"), _server_binary("pg_ctl")
    data, port = (
        Path(tempfile.mkdtemp(prefix="optimlab-pg-")),
        _free_port(),
    )  # under /tmp: any user reaches it
    prefix = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no 'postgres' user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chown(data, account.pw_uid, account.pw_gid)
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "optimlab", "--auth=trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg2://optimlab@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False, capture_output=True
        )
        shutil.rmtree(data, ignore_errors=True)
