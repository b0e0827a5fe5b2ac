"""A PostgreSQL storage shared by two worker processes (the server: ``postgres_url`` in conftest.py)."""

import os
import signal
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import optuna
import pytest

from optimlab.errors import OptimlabError
from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.study.storage import open_storage
from optimlab.workloads import get_workload


def test_two_workers_share_a_postgres_study(postgres_url, forked_parents, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parents = [forked_parents(slot=slot) for slot in (0, 1)]  # two processes at once: two parents

    def worker(slot: int) -> tuple[int | None, str, str]:
        """`optimlab worker URL --wait` in a process of its own, forked by parent ``slot``."""
        (tmp_path / str(slot)).mkdir()
        return parents[slot].run(["worker", postgres_url, "--wait"], tmp_path, env, tmp_path / str(slot), 300)

    spec = StudySpec.for_workload(
        "pg",
        get_workload("digits_mlp", epochs=1),
        methods_from("optimizer.name", ["sgd", "adam"]),
        budget=4,
        seeds=2,
    )
    with ThreadPoolExecutor(2) as pool:
        workers = [pool.submit(worker, slot) for slot in (0, 1)]
        result = run_study(spec, postgres_url, backend="workers", options=BackendOptions(workers=0))
        ended = [started.result() for started in workers]
    ran = []
    for code, out, err in ended:
        assert code == 0, out + err
        ran.append(int(out.split("worker ran ")[1].split()[0]))
    assert sum(ran) == 2 * (4 + 2) == len(result.records)
    study = optuna.load_study(study_name="pg/adam", storage=postgres_url)
    trials = study.get_trials()
    assert sorted(t.user_attrs["key"] for t in trials) == [
        "seeds/0",
        "seeds/1",
        *(f"tune/{i}" for i in range(4)),
    ]
    assert all(
        t.state == optuna.trial.TrialState.COMPLETE and t.user_attrs["curve"]["step"] == [34] for t in trials
    )


def test_a_postgresql_url_without_a_driver_opens_with_the_installed_one(postgres_url):
    """``postgresql://`` as --help and the README write it: SQLAlchemy 2.1 reads it as psycopg (3),
    while optimlab[postgres] installs psycopg2; opening it failed ('needs a database driver ... pip
    install optimlab[postgres]', the extra already installed)."""
    plain = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    optuna.create_study(storage=open_storage(plain), study_name="plain-url")
    assert "plain-url" in [s.study_name for s in optuna.get_all_study_summaries(postgres_url)]


def test_the_page_of_studies_in_postgresql_hides_the_password(postgres_url, tmp_path):
    """`optimlab report postgresql://user:password@host/db` showed the password on the page, twice."""
    from optimlab.report.study_history import write_history_report

    url = postgres_url.replace("optimlab@", "optimlab:s3cret@")  # the server trusts, and ignores it
    spec = StudySpec.for_workload(
        "pg-page",
        get_workload("digits_mlp", epochs=1),
        methods_from("optimizer.name", ["sgd"]),
        budget=1,
        seeds=1,
    )
    run_study(spec, url)
    page = write_history_report([url], tmp_path / "page.html", command=f"optimlab report {url}").read_text()
    assert "s3cret" not in page and page.count("optimlab:***@") == 2


def test_the_commands_never_show_the_password_of_a_storage_url(postgres_url, capsys, tmp_path):
    """`optimlab worker postgresql://user:password@host/db` printed the password in its first line, its
    last, and its error, and `optimlab compare --storage` in its last (a terminal's scrollback, a CI log)."""
    from optimlab.cli.app import main

    # a database of its own: the server's default one holds the studies of tests run before this one
    url = _new_database(postgres_url, "password_shown").replace("optimlab@", "optimlab:s3cret@")  # trusted
    with pytest.raises(SystemExit) as done:
        main(["worker", url, "--name", "no-such-study"])
    shown = capsys.readouterr()
    assert done.value.code == 2 and "s3cret" not in shown.out + shown.err
    assert shown.err.splitlines()[-1].startswith("error: no optimlab study 'no-such-study' at 'postgresql")
    assert "optimlab:***@" in shown.err.splitlines()[0] and "optimlab:***@" in shown.err.splitlines()[-1]
    compare = ["compare", "--workload", "digits_mlp", "--optimizers", "sgd", "--budget", "1", "--seeds", "1"]
    with pytest.raises(SystemExit) as done:
        main(
            [*compare, "--epochs", "1", "--name", "pg-shown", "--storage", url, "--out", str(tmp_path / "c")]
        )
    shown = capsys.readouterr()
    assert done.value.code == 0 and "s3cret" not in shown.out + shown.err
    assert "storage: postgresql+psycopg2://optimlab:***@" in shown.out
    with pytest.raises(SystemExit) as done:  # a name beside the study there: the studies it holds, named
        main(["worker", url, "--name", "no-such-study"])
    shown = capsys.readouterr()
    assert done.value.code == 2 and "s3cret" not in shown.out + shown.err
    assert shown.err.splitlines()[-1].endswith("accepted a study there: 'pg-shown'.")


def test_tables_set_up_by_another_optuna_are_refused_in_one_line_naming_the_upgrade(postgres_url):
    """Tables of an older Optuna schema (alembic's revision) raised Optuna's RuntimeError: a traceback,
    exit 1, from optimlab worker, report and compare."""
    import sqlalchemy

    from optimlab.cli.app import main

    url = _new_database(postgres_url, "older_schema")
    optuna.storages.RDBStorage(url).engine.dispose()  # today's tables, then stamped as Optuna 3.0's
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'v3.0.0.a'"))
    engine.dispose()
    with pytest.raises(OptimlabError) as refused:
        open_storage(url)
    assert str(refused.value) == (
        f"cannot open storage {url!r}: The runtime optuna version {optuna.__version__} is no longer compatible "
        f"with the table schema (set up by optuna {optuna.__version__}). Please execute `$ optuna storage "
        f"upgrade --storage {url!r}` for upgrading the storage."
    )
    with pytest.raises(SystemExit) as done:
        main(["worker", url])
    assert done.value.code == 2


def _new_database(postgres_url, name):
    """A URL of a new, empty database ``name`` on the test server."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


def test_processes_opening_an_empty_database_at_once_all_open_it(postgres_url, tmp_path):
    """Workers started together on an empty database each created Optuna's tables: all but one were
    refused ('cannot open storage ...: duplicate key value violates unique constraint
    "pg_type_typname_nsp_index"')."""
    url = _new_database(postgres_url, "opened_at_once")
    go = tmp_path / "go"
    children = []
    for number in range(4):  # processes forked from this one: their imports done, all released at once
        child = os.fork()
        if child == 0:  # the child: never returns into pytest
            code = 0
            try:
                while not go.exists():
                    time.sleep(0.001)
                open_storage(url).get_all_studies()
            except BaseException:
                (tmp_path / f"error-{number}").write_text(traceback.format_exc())
                code = 1
            os._exit(code)
        children.append(child)
    go.touch()
    codes, deadline = {}, time.monotonic() + 120
    while len(codes) < 4 and time.monotonic() < deadline:
        for child in set(children) - set(codes):
            ended, status = os.waitpid(child, os.WNOHANG)
            if ended:
                codes[child] = os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    for child in set(children) - set(codes):  # still opening after 120 s: a hang
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    errors = [error.read_text() for error in tmp_path.glob("error-*")]
    assert [codes.get(child) for child in children] == [0] * 4, errors
