"""Recipe runs end to end: accuracy on digits, output files, exact resume after a SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from optimlab.errors import OptimlabError
from optimlab.recipe import Recipe
from optimlab.train import train

SMALL = {
    "data": {"name": "digits", "scaling": "standardize"},
    "model": {"name": "mlp", "width": 64},
    "optimizer": {"name": "adam", "lr": 3e-3},
    "training": {"epochs": 3, "batch_size": 32},
}


def test_digits_mlp_learns_and_writes_its_outputs(tmp_path):
    result = train(Recipe.from_dict(SMALL), tmp_path / "run")
    assert result.status == "completed" and result.steps == 3 * 34  # 1,078 training rows / 32
    assert result.metrics["val_accuracy"] > 0.9 and result.metrics["test_accuracy"] > 0.9
    out = tmp_path / "run"
    assert Recipe.load(out / "recipe.yaml") == Recipe.from_dict(SMALL)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "train_loss" in line] == list(range(1, 103))
    assert [line["step"] for line in lines if "val_loss" in line] == [34, 68, 102]
    saved = torch.load(out / "model.pt", weights_only=False)
    assert "scaling.mean" in saved["model"] or any(k.startswith("scaling.") for k in saved["model"])
    assert json.loads((out / "result.json").read_text())["status"] == "completed"


def test_a_diverging_run_is_recorded_not_lost(tmp_path):
    recipe = Recipe.from_dict({**SMALL, "optimizer": {"name": "sgd", "lr": 1e6}})
    result = train(recipe, tmp_path / "run")
    assert result.status == "diverged" and "diverged" in result.message
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "diverged"


def test_an_existing_run_is_not_overwritten(tmp_path):
    recipe = Recipe.from_dict({**SMALL, "training": {"steps": 3}})
    train(recipe, tmp_path / "run")
    with pytest.raises(OptimlabError, match="already holds a run.*--resume"):
        train(recipe, tmp_path / "run")


def test_run_killed_mid_way_resumes_to_the_same_final_weights(tmp_path):
    recipe = Recipe.from_dict(
        {**SMALL, "training": {"steps": 4000, "batch_size": 32, "checkpoint_every": 50}}
    )
    recipe.save(tmp_path / "recipe.yaml")
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-c",
        "from optimlab.cli.app import main; main()",
        "train",
        str(tmp_path / "recipe.yaml"),
        "--out",
        str(killed),
        "--no-progress",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and not (killed / "model.pt").exists()

    resumed = subprocess.run(
        [*command[:3], "train", "--resume", str(killed), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    reference = train(recipe, tmp_path / "uninterrupted")
    assert json.loads((killed / "result.json").read_text())["steps"] == reference.steps == 4000
    got = torch.load(killed / "model.pt", weights_only=False)["model"]
    want = torch.load(tmp_path / "uninterrupted" / "model.pt", weights_only=False)["model"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    steps = [
        json.loads(line)["step"]
        for line in (killed / "metrics.jsonl").read_text().splitlines()
        if "train_loss" in line
    ]
    assert steps == list(range(1, 4001))  # no line lost or repeated across the kill


def test_bf16_autocast_runs_the_forward_pass_in_bfloat16(monkeypatch):
    import optimlab.train.run as run

    recipe = Recipe.from_dict({**SMALL, "training": {"steps": 30, "precision": "bf16"}})
    dtypes = []
    real_build = run.build

    def spying_build(recipe):
        built = real_build(recipe)
        linear = next(m for m in built.model.modules() if isinstance(m, torch.nn.Linear))
        linear.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        return built

    monkeypatch.setattr(run, "build", spying_build)
    result = train(recipe)
    assert result.status == "completed" and result.metrics["val_accuracy"] > 0.5
    assert dtypes[0] == torch.bfloat16  # training steps under autocast
    assert dtypes[-1] == torch.float32  # evaluation is not autocast


# Defaults meant for large models are slow here; these are the usual settings for a small MLP.
TUNED = {"sam": {"lr": 0.1, "options": {"base": "momentum", "rho": 0.05}}, "lion": {"lr": 3e-4}}


@pytest.mark.parametrize("optimizer", ["sam", "lookahead", "schedule_free_adamw", "muon", "lion"])
def test_every_kind_of_optimizer_trains_through_the_loop(optimizer):
    """SAM needs a closure, schedule-free evaluates at another point than it trains at."""
    recipe = Recipe.from_dict(
        {**SMALL, "optimizer": {"name": optimizer, **TUNED.get(optimizer, {})}, "training": {"epochs": 3}}
    )
    result = train(recipe)
    assert result.status == "completed" and result.metrics["val_accuracy"] > 0.6, result.metrics


def test_schedule_free_is_evaluated_at_its_averaged_point(monkeypatch):
    import optimlab.train.loop as loop

    recipe = Recipe.from_dict({**SMALL, "optimizer": {"name": "schedule_free_sgd", "lr": 0.5}})
    modes = []
    real_fit = loop.fit

    def watching_fit(model, optimizer, *args, evaluate, **kwargs):
        def watched():
            modes.append(optimizer.param_groups[0]["train_mode"])
            return evaluate()

        state = real_fit(model, optimizer, *args, evaluate=watched, **kwargs)
        modes.append(optimizer.param_groups[0]["train_mode"])
        return state

    import optimlab.train.run as run

    monkeypatch.setattr(run, "fit", watching_fit)
    assert train(recipe).status == "completed"
    assert modes and not any(modes)  # every evaluation and the final weights at the eval point
