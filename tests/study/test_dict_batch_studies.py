"""Studies on the user's dict batches with a model that returns its own loss (issue 12): a tiny Hugging
Face BertForSequenceClassification (built from a config, nothing downloaded) compared directly on its
dict batches, from Python and from the command line, against a hand-written loop and across backends."""

import math
import os
import warnings

import pytest
import torch
from torch.utils.data import default_collate

import optimlab
from optimlab.errors import InvalidValueError, OptimlabWarning
from optimlab.recipe import Recipe
from optimlab.study import load_specs
from optimlab.study.backends import BackendOptions
from optimlab.study.compare import compare, plan_comparison
from optimlab.study.storage import load_records, open_storage
from optimlab.train.run import train

pytest.importorskip("transformers")

SOURCE = os.path.join(os.path.dirname(__file__), "..", "..", "src")
TEXT = "optimlab_userpkg.text"
PLAN = {"model": f"{TEXT}:bert", "dataset": f"{TEXT}:sentences", "budget": 1, "seeds": 1, "epochs": 1}


def records_of(folder):
    (spec,) = load_specs(str(folder))
    names = [spec.study_name(m) for m in spec.methods]
    return spec, {(r.study, r.key): r for r in load_records(open_storage(str(folder)), names) if r.finished}


def test_a_trial_on_dict_batches_is_a_hand_loop_on_the_models_own_loss(user_package):
    from optimlab_userpkg.text import bert, sentences

    recipe = Recipe.from_dict({
        "data": {"name": PLAN["dataset"]}, "model": {"name": PLAN["model"]},
        "optimizer": {"name": "sgd", "lr": 0.5},
        "training": {"epochs": 2, "batch_size": 16, "shuffle": False, "seed": 3,
                     "metrics": ["optimlab_userpkg.metrics:f1"]},
    })  # fmt: skip
    result = train(recipe)
    assert result.status == "completed" and result.steps == 2 * 3  # 48 items, batches of 16

    torch.manual_seed(3)
    model = bert()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    train_set, val_set = sentences()
    model.train()
    for _ in range(2):
        for start in range(0, len(train_set), 16):
            batch = default_collate([train_set[i] for i in range(start, min(start + 16, len(train_set)))])
            optimizer.zero_grad()
            model(**batch).loss.backward()
            optimizer.step()
    model.eval()
    total, logits = 0.0, []
    with torch.no_grad():
        for start in range(0, len(val_set), 16):
            batch = default_collate([val_set[i] for i in range(start, min(start + 16, len(val_set)))])
            out = model(**batch)
            total += out.loss.item() * len(batch["labels"])
            logits.append(out.logits)
    labels = torch.tensor([val_set[i]["labels"] for i in range(len(val_set))])
    predicted = torch.cat(logits).argmax(-1)
    assert math.isclose(result.metrics["val_loss"], total / len(val_set), rel_tol=1e-5)
    assert result.metrics["val_accuracy"] == (predicted == labels).sum().item() / len(val_set)
    true_positives = ((predicted == 1) & (labels == 1)).sum().item()  # F1 of class 1, by hand
    f1 = 2 * true_positives / max(1, (predicted == 1).sum().item() + (labels == 1).sum().item())
    assert result.metrics["val_f1"] == pytest.approx(f1)
    assert "test_loss" not in result.metrics  # the factory gives no test split


def test_optimlab_compare_takes_the_hf_model_and_its_dict_batches_directly(user_package, tmp_path):
    from optimlab_userpkg.text import Sentences
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=8, num_labels=2)  # fmt: skip
    done = optimlab.compare(
        ["sgd", "adamw"], model=lambda: BertForSequenceClassification(config), data=(Sentences(24), Sentences(16, seed=1)),
        epochs=1, budget=1, seeds=1, recipe={"training.batch_size": 8}, out=tmp_path,
    )  # fmt: skip
    assert {row.method for row in done.leaderboard} == {"sgd", "adamw"}
    (result,) = done.results
    assert result.spec.metric == "val_accuracy" and result.spec.test_metric == "val_accuracy"
    assert result.spec.recipe.training.loss == "model"  # the model's own loss, written in the recipe
    finished = [r for r in result.records if r.finished]
    assert len(finished) == 4 and all(r.state == "complete" for r in finished)
    assert all(0 <= r.metrics["val_accuracy"] <= 1 and r.steps == 3 for r in finished)  # 24 items / 8


@pytest.mark.slow  # a worker process imports torch and transformers: most of its time on 2 busy cores
def test_the_cli_compares_the_hf_model_by_path_and_a_worker_resumes_it_to_the_same_curves(
    cli, user_package, tmp_path
):
    flags = ["--model", PLAN["model"], "--dataset", PLAN["dataset"], "--budget", "1", "--seeds", "1",
             "--epochs", "1", "--no-progress", "--format", "json"]  # fmt: skip
    code, _, err = cli("compare", "--optimizers", "sgd", *flags, "--out", str(tmp_path / "local"))
    assert code == 0, err
    spec, local = records_of(tmp_path / "local")
    assert spec.recipe.model.name == PLAN["model"] and spec.recipe.training.loss == "model"
    assert len(local) == 2 and all(r.state == "complete" for r in local.values())

    # Stopped after one trial, then resumed by a worker process that imports the stored paths.
    class Stop(Exception):
        pass

    def stop_after_one(spec, records):
        if sum(r.finished for r in records) >= 1:
            raise Stop

    with pytest.raises(Stop):
        compare(["sgd"], out=tmp_path / "resumed", on_progress=stop_after_one, **PLAN)
    compare(resume=True, out=tmp_path / "resumed", backend="workers", options=BackendOptions(workers=1))
    _, resumed = records_of(tmp_path / "resumed")
    assert set(resumed) == set(local)
    for key, record in local.items():
        assert record.recipe == resumed[key].recipe
        for name in ("step", "train_loss", "val_loss", "val_accuracy"):
            assert record.curve[name] == pytest.approx(resumed[key].curve[name], abs=1e-6), name


def test_the_batched_backend_runs_dict_batches_one_at_a_time_saying_why_once(user_package, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = compare(["sgd"], out=tmp_path, backend="batched", **{**PLAN, "budget": 2})
    said = [str(w.message) for w in caught if issubclass(w.category, OptimlabWarning)]
    assert len(said) == 1 and "dict batches" in said[0], said
    assert all(r.state == "complete" for r in done.results[0].records)


def test_compute_loss_by_path_and_a_dataset_split_by_the_recipe(user_package):
    recipe = Recipe.from_dict({
        "data": {"name": f"{TEXT}:all_sentences", "val_fraction": 0.25, "test_fraction": 0.25},
        "model": {"name": PLAN["model"]},
        "training": {"compute_loss": f"{TEXT}:smoothed_loss", "epochs": 1, "batch_size": 16},
    })  # fmt: skip
    result = train(recipe)
    assert result.steps == 2  # 64 items: 16 to test, 16 to validation, 32 to train
    # Label smoothing 0.1 of two classes keeps the loss above its floor -(0.95 ln 0.95 + 0.05 ln 0.05).
    assert result.metrics["val_loss"] > 0.198 and result.metrics["test_loss"] > 0.198
    with pytest.raises(InvalidValueError, match="compute_loss"):
        train(Recipe.from_dict({"training": {"compute_loss": f"{TEXT}:smoothed_loss"}}))  # digits: tensors


def test_dict_batches_the_model_cannot_take_a_loss_from_stop_the_cli_in_one_line(
    user_package, tmp_path, forked_parents
):
    # Batches without labels: the model, given no loss, returns none (checked before any trial). The
    # command in a process of its own, forked by a parent whose sys.path is PYTHONPATH's (no current folder).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([user_package, SOURCE])}
    (tmp_path / "output").mkdir()
    code, _, err = forked_parents(env["PYTHONPATH"]).run(
        ["compare", "--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--epochs", "1", "--no-progress",
         "--out", str(tmp_path / "compare"), "--model", f"{TEXT}:BagOfWords", "--dataset", f"{TEXT}:unlabelled"],
        tmp_path, env, tmp_path / "output", timeout=300,
    )  # fmt: skip
    said, *lines = err.strip().splitlines()  # what was read, then the refusal in one line
    assert said.startswith(f"data: {TEXT}:unlabelled, dict batches of input_ids: ")
    assert code == 2 and len(lines) == 1, err
    assert "the model's output" in lines[0] and "a loss (a scalar tensor, .loss" in lines[0]
    assert "a dict of {'logits': float32 (8, 2)}" in lines[0]  # the value, named


def test_a_model_sized_from_the_data_is_refused_on_dict_batches(cli, user_package, tmp_path):
    code, _, err = cli(
        "compare", "--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--epochs", "1", "--no-progress",
        "--out", str(tmp_path), "--model", "optimlab_userpkg.nets:build", "--dataset", PLAN["dataset"],
    )  # fmt: skip
    said, *lines = err.strip().splitlines()  # what was read, then the refusal in one line
    assert said.startswith(f"data: {PLAN['dataset']}, dict items of ")
    assert code == 2 and len(lines) == 1, err
    assert "optimlab_userpkg.nets:build asking for input_shape, num_outputs" in lines[0]


def test_optimlab_compare_takes_compute_loss_by_its_function_or_path(user_package, tmp_path):
    from optimlab_userpkg.text import bert, sentences, smoothed_loss

    done = optimlab.compare(["sgd"], model=bert, data=sentences(), compute_loss=smoothed_loss, epochs=1,
                            budget=1, seeds=1, out=tmp_path)  # fmt: skip
    (result,) = done.results
    assert result.spec.recipe.training.compute_loss == f"{TEXT}:smoothed_loss"  # stored as its path
    assert result.spec.recipe.training.loss is None and result.spec.metric == "val_loss"  # no logits seen
    assert all(r.state == "complete" and r.metrics["val_loss"] > 0.198 for r in result.records)  # smoothed
    with pytest.raises(InvalidValueError, match="compute_loss"):
        optimlab.compare(["sgd"], model=bert, data=sentences(), compute_loss=lambda m, b: m(**b).loss)


def test_a_named_loss_on_dict_batches_gets_the_logits_and_the_labels(user_package):
    # BERT's own loss for one label per example is the cross-entropy of its logits: the same run.
    base = {"data": {"name": PLAN["dataset"]}, "model": {"name": PLAN["model"]}, "training": {"epochs": 1}}
    own = train(Recipe.from_dict(base).with_updates({"training.loss": "model"}))
    named = train(Recipe.from_dict(base).with_updates({"training.loss": "cross_entropy"}))
    assert own.metrics == pytest.approx(named.metrics, abs=1e-6) and own.metrics["val_accuracy"] > 0


def test_bench_runs_the_hf_model_by_path_and_a_seed_run_is_its_stored_recipe_trained(
    cli, user_package, tmp_path
):
    flags = ["--workloads", "digits_mlp", "--model", PLAN["model"], "--dataset", PLAN["dataset"],
             "--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--no-progress", "--format", "json"]  # fmt: skip
    code, _, err = cli("bench", *flags, "--out", str(tmp_path / "bench"))
    assert code == 0, err
    spec, records = records_of(tmp_path / "bench")
    # The workload's scaling and loss gave way to the dict batches': as they are, the model's own loss.
    assert spec.recipe.data.scaling == "none" and spec.recipe.training.loss == "model"
    seed_run = next(r for r in records.values() if r.phase == "seeds")
    again = train(Recipe.from_dict(seed_run.recipe))
    assert seed_run.metrics["val_loss"] == pytest.approx(again.metrics["val_loss"], rel=1e-5)
    assert seed_run.metrics["val_accuracy"] == again.metrics["val_accuracy"]


def test_a_language_model_without_a_test_split_is_reported_on_what_it_is_tuned_on(user_package):
    # Token labels (no class per example): tuned on val_loss, and the fresh seeds reported on it too.
    (spec,) = plan_comparison(["sgd"], model=f"{TEXT}:gpt", dataset=f"{TEXT}:counting", budget=1, seeds=1)
    assert (spec.metric, spec.goal, spec.test_metric) == ("val_loss", "min", "val_loss")


def test_a_model_that_takes_no_labels_is_refused_its_own_loss_naming_the_fix(user_package, tmp_path):
    from optimlab_userpkg.text import Scorer, sentences

    base = {"data": {"name": PLAN["dataset"]}, "model": {"name": f"{TEXT}:Scorer"}, "training": {"epochs": 1}}
    with pytest.raises(InvalidValueError) as refused:
        train(Recipe.from_dict(base))
    assert str(refused.value).startswith(
        f"invalid value \"model (the default for dict batches): {TEXT}:Scorer's forward takes no 'labels', "
        "so returns no loss of them\" for training.loss: accepted a loss of its outputs and the batch's "
        "'labels' (training.loss: cross_entropy in a recipe)"
    )
    # Named, the loss gets the scores and the labels: val_loss and val_accuracy as a hand loop finds them.
    found = train(Recipe.from_dict(base).with_updates({"training.loss": "cross_entropy"}), tmp_path).metrics
    model = Scorer()
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True)["model"])
    batch = default_collate(list(sentences()[1]))  # 24 items: one batch of 32
    scores = model(batch["input_ids"])
    loss = torch.nn.functional.cross_entropy(scores, batch["labels"]).item()
    accuracy = (scores.argmax(1) == batch["labels"]).float().mean().item()
    assert found == pytest.approx({"val_loss": loss, "val_accuracy": accuracy}, abs=1e-6)


@pytest.mark.parametrize("field, value", [("batch_size", 4), ("shuffle", False), ("drop_last", True)])
def test_batching_of_batches_that_come_batched_is_refused(user_package, field, value):
    """--batch-size 4 on the user's DataLoaders trained on their own batches, the 4 recorded with the run."""
    base = {"data": {"name": f"{TEXT}:loaders"}, "model": {"name": PLAN["model"]}}
    with pytest.raises(InvalidValueError) as refused:
        train(Recipe.from_dict({**base, "training": {field: value, "epochs": 1}}))
    assert str(refused.value).startswith(
        f"invalid value {value} for training.{field}: accepted its default, "
        f"{not value if field != 'batch_size' else 32}: the training batches of {TEXT}:loaders come batched "
        "(a DataLoader), so set it there"
    )
    assert train(Recipe.from_dict({**base, "training": {"epochs": 1}})).steps == 3  # 48 items, 16 a batch


def test_a_dataset_of_dict_items_split_with_nothing_held_out_trains_unscored(user_package):
    """val_fraction 0 died in a ZeroDivisionError (the mean loss of no batch) after training."""
    recipe = Recipe.from_dict({
        "data": {"name": f"{TEXT}:all_sentences", "val_fraction": 0.0, "test_fraction": 0.0},
        "model": {"name": PLAN["model"]}, "training": {"epochs": 1},
    })  # fmt: skip
    result = train(recipe)
    assert (result.status, result.steps, result.metrics) == ("completed", 2, {})


def test_the_default_metric_on_dict_batches_reads_the_users_data_once_and_builds_no_optimizer(
    user_package, monkeypatch
):
    """Choosing the default metric of dict batches under the model's own loss evaluated a first batch
    through build(recipe): the user's data factory ran three times per study (the metric's check, its
    evaluation, the fitting to dict batches), with an optimizer built and thrown away. Truth: the calls
    the user's own factory sees; the choice itself is unchanged (val_accuracy, integer labels)."""
    import optimlab_userpkg.text

    import optimlab.build

    calls = {"data": 0, "optimizer": 0}
    build_optimizer = optimlab.build.build_optimizer

    class Counted(optimlab_userpkg.text.Sentences):  # the factory makes its two splits of this class
        def __init__(self, *args, **kwargs):
            calls["data"] += 0.5
            super().__init__(*args, **kwargs)

    def counted_optimizer(*args, **kwargs):
        calls["optimizer"] += 1
        return build_optimizer(*args, **kwargs)

    monkeypatch.setattr(optimlab_userpkg.text, "Sentences", Counted)
    monkeypatch.setattr(optimlab.build, "build_optimizer", counted_optimizer)
    (spec,) = plan_comparison(["sgd"], **{**PLAN, "epochs": None})
    assert spec.metric == "val_accuracy" and calls == {"data": 1, "optimizer": 0}
    from optimlab.study.compare import recipe_workload

    calls.update(data=0)
    recipe = Recipe.from_dict({"model": {"name": f"{TEXT}:bert"}, "data": {"name": f"{TEXT}:sentences"}})
    assert recipe_workload(recipe, "bert").metric == "val_accuracy"
    assert calls == {"data": 1, "optimizer": 0}
