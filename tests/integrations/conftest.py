"""Fixtures of the integrations' tests."""

import gc
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _imports_frozen_out_of_gc() -> None:
    """The objects alive once the tests are collected (the imported torch, transformers, lightning) moved
    out of the garbage collector's reach, as ``gc.freeze`` does: accelerate's ``free_memory`` runs a full
    ``gc.collect()`` at every ``Trainer.train()``, which walked them all (0.8 s a call in this process).
    Measured on the shared 2-core box, ``pytest -p no:xdist tests/integrations/test_huggingface*.py``:
    53 s -> 37 s of CPU (user), 154 s -> 138 s wall; 8 of its Trainer tests (``--durations``, run
    back to back) 34.4 s -> 13.6 s. They are never freed, as they would not be."""
    gc.collect()
    gc.freeze()


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
