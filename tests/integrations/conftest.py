"""Fixtures of the integrations' tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def made_store(tmp_path_factory) -> Path:
    """MLflow's SQLite store as its client creates it when a first run makes it, made once: its
    migrations spend seconds of CPU (10 s of a test's setup on 2 busy cores), the copy of the file none."""
    from optimlab.integrations.mlflow_writer import MLflowRun

    folder = tmp_path_factory.mktemp("made-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # its artifacts folder, ./mlruns
        MLflowRun(run_name="first", tracking_uri=uri).end("FINISHED")
    return folder / "mlflow.db"
