"""`optimlab train --log mlflow` read back with MLflow's client: the metrics of metrics.jsonl at their steps,
the recipe as parameters, the run's page as an artifact."""

import json
from pathlib import Path

import pytest

from integrations import train_with_tracker
from optimlab.recipe import Recipe
from optimlab.report.recipes import flat_fields
from optimlab.report.run_folder import AXES

pytest.importorskip("mlflow", reason="pip install 'optimlab[trackers]'")
from mlflow.tracking import MlflowClient


@pytest.mark.slow
def test_train_log_mlflow_holds_metrics_recipe_and_report(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts folder, ./mlruns, lands here
    out = tmp_path / "iris-run"
    train_with_tracker(out, "mlflow")
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("optimlab").experiment_id])
    assert run.info.run_name == "iris-run" and run.info.status == "FINISHED"
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    metrics = {key for line in lines for key in line if key not in AXES}
    assert set(run.data.metrics) == metrics
    for key in metrics:
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        expected = [(line["step"], line[key]) for line in lines if key in line]
        assert [(m.step, m.value) for m in history] == pytest.approx(expected), key
    recipe = Recipe.load(out / "recipe.yaml")
    assert run.data.params == {k: str(v) for k, v in flat_fields(recipe.to_dict())}
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["report.html"]
    page = client.download_artifacts(run.info.run_id, "report.html", str(tmp_path / "back"))
    assert Path(page).read_text() == (out / "report.html").read_text()
