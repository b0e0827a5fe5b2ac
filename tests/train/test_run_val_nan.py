"""Recipe runs over the user's dict batches whose val data makes the loss NaN mid-training."""

import json
import math
import warnings

import pytest
import torch

from optimlab.errors import InvalidValueError, OptimlabWarning
from optimlab.recipe import Recipe
from optimlab.train import train
from optimlab.train.checkpoint import CHECKPOINT_NAME, PREVIOUS_NAME

from .user_modules import DICT_NET

# Dict items {"x": (4,), "labels": ()}; the val split's row PLANTED (if any) holds NaN in column 2.
ITEMS = """
import math

import torch
from torch.utils.data import Dataset

PLANTED = {planted}


class Items(Dataset):
    def __init__(self, n, seed):
        self.x = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
        self.y = (self.x[:, 0] > 0).long()
        if PLANTED is not None and seed == 1:
            self.x[PLANTED, 2] = math.nan

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {{"x": self.x[i], "labels": self.y[i]}}


def splits():
    return Items(32, 0), Items(40, 1)
"""


def test_a_recipe_run_whose_val_data_makes_the_loss_nan_mid_training_warns_once_and_completes(
    write_modules, tmp_path
):
    """A recipe over the user's dict batches (a Dataset factory) whose val split holds NaN in its fifth
    batch (the first, read before training, is clean) was refused at the first evaluation, mid-training,
    after fit itself had stopped refusing it (89f22c2b): every step since the last checkpoint lost. The
    run now completes as fit's does, saying it in one warning (row, batch and column), val_loss NaN.
    Truth: the same run over clean val data: the same checkpoints (steps, weights, optimizer state) and
    train losses; val_accuracy as torch's argmax gives it on the planted data with the final weights."""
    runs = {}
    for planted in (None, 37):
        module = f"optimlab_val_items_{planted}"
        write_modules(optimlab_dict_net=DICT_NET, **{module: ITEMS.format(planted=planted)})
        recipe = Recipe.from_dict(
            {
                "model": {"name": "optimlab_dict_net:build"},
                "data": {"name": f"{module}:splits"},
                "optimizer": {"name": "sgd", "lr": 0.1},
                "training": {"epochs": 3, "batch_size": 8, "checkpoint_every": 4},
            }
        )
        out = tmp_path / module
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train(recipe, out)
        said = [str(w.message) for w in caught if issubclass(w.category, OptimlabWarning)]
        lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        saved = [torch.load(out / name, weights_only=False) for name in (PREVIOUS_NAME, CHECKPOINT_NAME)]
        runs[planted] = result, said, lines, saved
    result, said, lines, saved = runs[37]
    clean_result, clean_said, clean_lines, clean_saved = runs[None]
    assert result.status == clean_result.status == "completed" and result.steps == 12
    assert clean_said == [] and len(said) == 1
    assert "the val data's 'x' at row 37 (batch 5's row 5), column 2" in said[0]
    assert [line.get("train_loss") for line in lines] == [line.get("train_loss") for line in clean_lines]
    val_losses = [float(line["val_loss"]) for line in lines if "val_loss" in line]
    assert len(val_losses) == 3 and all(math.isnan(v) for v in val_losses)
    assert math.isnan(result.metrics["val_loss"]) and math.isfinite(clean_result.metrics["val_loss"])
    for checkpoint, clean in zip(saved, clean_saved, strict=True):  # at steps 8 and 12
        assert checkpoint["state"]["step"] == clean["state"]["step"]
        assert checkpoint["state"]["train_loss"] == clean["state"]["train_loss"]
        assert checkpoint["optimizer"]["param_groups"] == clean["optimizer"]["param_groups"]
        assert all(torch.equal(checkpoint["model"][k], clean["model"][k]) for k in clean["model"])
        assert torch.equal(checkpoint["torch_rng"], clean["torch_rng"])
    assert [c["state"]["step"] for c in saved] == [8, 12]
    weights = saved[1]["model"]
    vx = torch.randn(40, 4, generator=torch.Generator().manual_seed(1))
    vy = (vx[:, 0] > 0).long()
    vx[37, 2] = math.nan
    logits = vx @ weights["lin.weight"].T + weights["lin.bias"]
    assert result.metrics["val_accuracy"] == (logits.argmax(1) == vy).sum().item() / 40


def test_a_recipe_run_whose_first_val_batch_makes_the_loss_nan_is_still_refused_before_any_step(
    write_modules, tmp_path
):
    """The run's metrics are tried on the val split before training (a metric that raises said in
    seconds): NaN in its first batch is refused there, naming the row, before any step or checkpoint,
    as fit refuses it; the warning a run gives mid-training does not stand in for it. Truth: the
    NaN's place, planted at row 3; nothing written in the run's folder but what precedes a step."""
    write_modules(
        optimlab_dict_net=DICT_NET,
        optimlab_val_items_first=ITEMS.format(planted=3),
        optimlab_val_metric="def zero(outputs, targets):\n    return 0.0\n",
    )
    recipe = Recipe.from_dict(
        {
            "model": {"name": "optimlab_dict_net:build"},
            "data": {"name": "optimlab_val_items_first:splits"},
            "training": {"epochs": 1, "batch_size": 8, "metrics": ["optimlab_val_metric:zero"]},
        }
    )
    with pytest.raises(
        InvalidValueError, match=r"the val data's 'x' at row 3 \(batch 1's row 3\), column 2:"
    ):
        train(recipe, tmp_path / "run")
    assert not (tmp_path / "run" / CHECKPOINT_NAME).exists()


def test_a_recipe_run_whose_test_split_makes_the_loss_nan_keeps_its_result_and_says_so_once(
    write_modules, tmp_path
):
    """The test split, scored once after the last step, was refused there for NaN in a batch: the run's
    result (result.json, its val scores) lost after training. It is said in one warning naming the test
    data's row, test_loss NaN. Truth: the same run with a clean test split: equal val scores and weights."""
    factory = ITEMS.format(planted=None) + "\n\ndef with_test(nan):\n"
    factory += "    test = Items(16, 2)\n    if nan:\n        test.x[9, 0] = math.nan\n"
    factory += "    return Items(32, 0), Items(40, 1), test\n\n\n"
    factory += "def planted():\n    return with_test(True)\n\n\ndef clean():\n    return with_test(False)\n"
    write_modules(optimlab_dict_net=DICT_NET, optimlab_test_items=factory)
    runs = {}
    for name in ("clean", "planted"):
        recipe = Recipe.from_dict(
            {
                "model": {"name": "optimlab_dict_net:build"},
                "data": {"name": f"optimlab_test_items:{name}"},
                "training": {"epochs": 2, "batch_size": 8},
            }
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train(recipe, tmp_path / name)
        said = [str(w.message) for w in caught if issubclass(w.category, OptimlabWarning)]
        runs[name] = result, said, torch.load(tmp_path / name / CHECKPOINT_NAME, weights_only=False)["model"]
    (result, said, weights), (clean, clean_said, clean_weights) = runs["planted"], runs["clean"]
    assert result.status == clean.status == "completed" and clean_said == [] and len(said) == 1
    assert "the test data's 'x' at row 9 (batch 2's row 1), column 0" in said[0]
    assert math.isnan(result.metrics["test_loss"]) and math.isfinite(clean.metrics["test_loss"])
    assert {k: v for k, v in result.metrics.items() if k.startswith("val_")} == {
        k: v for k, v in clean.metrics.items() if k.startswith("val_")
    }
    assert all(torch.equal(weights[k], clean_weights[k]) for k in weights)
    assert json.loads((tmp_path / "planted" / "result.json").read_text())["status"] == "completed"


def test_a_recipe_run_with_metrics_builds_its_val_evaluator_once(write_modules, tmp_path, monkeypatch):
    """A run given metrics built its val evaluator three times (the check of its metrics before training,
    the evaluations, the final score), each reading the recipe's batches anew and, of rows of tensors,
    moving the val split to the device again. Truth: split_evaluator's calls for the val split, counted:
    one; the run scores val as before (val_loss and the user's metric at the end)."""
    import optimlab.train.run as run

    write_modules(
        optimlab_dict_net=DICT_NET,
        optimlab_val_items_once=ITEMS.format(planted=None),
        optimlab_val_metric_once="def zero(outputs, targets):\n    return 0.0\n",
    )
    built_for = []
    split_evaluator = run.split_evaluator
    monkeypatch.setattr(
        run, "split_evaluator", lambda *a, **k: built_for.append(k["prefix"]) or split_evaluator(*a, **k)
    )
    recipe = Recipe.from_dict(
        {
            "model": {"name": "optimlab_dict_net:build"},
            "data": {"name": "optimlab_val_items_once:splits"},
            "training": {"epochs": 2, "batch_size": 8, "metrics": ["optimlab_val_metric_once:zero"]},
        }
    )
    result = train(recipe, tmp_path / "run")
    assert built_for.count("val") == 1
    assert result.metrics["val_zero"] == 0.0 and math.isfinite(result.metrics["val_loss"])
