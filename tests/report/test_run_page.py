"""The page of a run, and of runs overlaid: read from run folders, what differs between recipes, size."""

import html
import itertools
import json
import math
import re

import pytest
import torch
import yaml

from optimlab.build import build
from optimlab.errors import OptimlabError
from optimlab.recipe import Recipe
from optimlab.report.line_chart import thinned
from optimlab.report.run_folder import read_run
from optimlab.report.run_page import run_page, write_run_report


def fake_run(folder, *, lr=1e-3, steps=100, eval_every=20, spike=None, val_loss=lambda step: 1.0, epoch=100):
    """A run folder as `optimlab train` leaves it, with made-up curves (no training); ``epoch`` steps an
    epoch."""
    folder.mkdir(parents=True)
    Recipe.from_dict({"optimizer": {"name": "adam", "lr": lr}}).save(folder / "recipe.yaml")
    with open(folder / "metrics.jsonl", "w") as lines:
        for step in range(1, steps + 1):
            loss = 2.3 * math.exp(-step / steps) if step != spike else None
            at = {"step": step, "epoch": (step - 1) // epoch, "seconds": step / 100}
            lines.write(json.dumps({**at, "train_loss": loss, "lr": lr}) + "\n")
            if step % eval_every == 0:
                lines.write(json.dumps({**at, "val_loss": val_loss(step), "val_accuracy": 0.5}) + "\n")
    (folder / "result.json").write_text(
        json.dumps({"status": "completed", "steps": steps, "metrics": {"test_accuracy": 0.5}})
    )
    (folder / "model.pt").write_bytes(b"")  # the weights train saves at the end
    return folder


def test_a_run_folder_reads_back_every_line(tmp_path):
    run = read_run(fake_run(tmp_path / "a", spike=7))
    steps, seconds, losses = run.series["train_loss"]
    assert steps == list(range(1, 101)) and seconds[9] == 0.1
    assert math.isnan(losses[6]) and losses[0] == pytest.approx(2.3 * math.exp(-0.01))  # null -> NaN
    assert run.series["val_accuracy"][0] == [20, 40, 60, 80, 100]
    assert run.recipe["optimizer"]["lr"] == 1e-3 and run.result["status"] == "completed"


def test_a_folder_that_is_not_a_run_is_refused_by_name(tmp_path):
    with pytest.raises(OptimlabError, match="not a run folder"):
        read_run(tmp_path)
    folder = fake_run(tmp_path / "bad")
    (folder / "metrics.jsonl").write_text('{"step": 1}\nnot json\n')
    with pytest.raises(OptimlabError, match="line 2"):
        read_run(folder)
    (folder / "metrics.jsonl").write_bytes(b"\x80\x81 binary")  # named: it raised UnicodeDecodeError
    with pytest.raises(OptimlabError, match="metrics.jsonl' is not a metrics log: it is binary or not UTF-8"):
        read_run(folder)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("recipe.yaml", "garbage: [\n", "recipe.yaml' is not a recipe"),  # was a yaml ScannerError
        ("recipe.yaml", "- a\n- b\n", "recipe.yaml' is not a recipe"),
        ("result.json", "not json\n", "result.json' is not a result"),  # was a JSONDecodeError
        ("result.json", "[1, 2]\n", "result.json' is not a result"),
    ],
)
def test_a_run_folder_with_a_corrupt_recipe_or_result_is_named_in_one_line(tmp_path, name, content, message):
    folder = fake_run(tmp_path / "bad")
    (folder / name).write_text(content)
    with pytest.raises(OptimlabError, match=message) as error:
        read_run(folder)
    assert "\n" not in str(error.value) and str(folder) in str(error.value)


def test_runs_overlaid_show_only_the_differing_fields(tmp_path, page_reader):
    runs = [read_run(fake_run(tmp_path / name, lr=lr)) for name, lr in (("a", 1e-3), ("b", 3e-2))]
    page = run_page(runs).render()
    assert "<td>optimizer.lr</td>" in page and "<td>optimizer.name</td>" not in page
    assert "1 field differs; every other field" in page
    assert page.count("<figure>") == 3 + 3  # loss, val loss, val accuracy by step; the three by time
    assert (
        "Learning rate: constant, a 0.001, b 0.03." in page_reader(page).paragraphs
    )  # flat lines drawn before


def test_a_learning_rate_that_changes_is_drawn(tmp_path, page_reader):
    folder = fake_run(tmp_path / "warmup")
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        if "lr" in line:
            line["lr"] = 1e-3 * min(1.0, line["step"] / 10)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    page = run_page([read_run(folder)]).render()
    assert page.count("<figure>") == 3 + 2 and 'aria-label="Learning rate by step"' in page
    assert not [p for p in page_reader(page).paragraphs if p.startswith("Learning rate")]


def test_thinning_keeps_the_ends_and_every_spike():
    values = [1.0] * 10_000
    values[4321], values[8765] = 50.0, -3.0
    keep = thinned(len(values), values)
    assert len(keep) <= 1002 and {0, 4321, 8765, 9999} <= set(keep)


def test_ten_runs_of_ten_thousand_steps_make_a_page_under_2_mb(tmp_path):
    runs = [
        read_run(fake_run(tmp_path / f"r{i}", lr=1e-3 * (i + 1), steps=10_000, eval_every=100))
        for i in range(10)
    ]
    path = write_run_report(runs, tmp_path / "ten.html")
    assert path.stat().st_size < 2_000_000


def test_the_page_of_a_run_on_dict_batches_is_written(tmp_path, user_package):
    """A Hugging Face style run (the model's own loss on dict batches) has no class count to draw a
    chance line from: `train --html` and `report` on it raised AttributeError (BatchSplits.num_classes)."""
    from optimlab.train import train

    recipe = Recipe.from_dict(
        {
            "data": {"name": "optimlab_userpkg.text:sentences"},
            "model": {"name": "optimlab_userpkg.text:BagOfWords"},
            "training": {"epochs": 1, "batch_size": 16},
        }
    )
    result = train(recipe, tmp_path / "run")
    page = write_run_report([read_run(tmp_path / "run")], tmp_path / "run" / "report.html")
    html = page.read_text()
    assert result.metrics["val_accuracy"] >= 0 and "val_<wbr>accuracy" in html and "chance" not in html


def test_a_diverged_run_is_said_to_be_so_and_its_page_shows_result_json(tmp_path):
    """The page of a run that diverged titled it like a finished one ('optimlab run: div'), its table
    captioned 'Results at the end of training'."""
    import xml.etree.ElementTree as ElementTree

    from optimlab.train import train

    recipe = {"data": {"name": "iris"}, "optimizer": {"name": "sgd", "lr": 1e10}, "training": {"epochs": 3}}
    train(Recipe.from_dict(recipe), tmp_path / "div")
    result = json.loads((tmp_path / "div" / "result.json").read_text())
    page = run_page([read_run(tmp_path / "div")]).render()
    assert result["status"] == "diverged"
    assert "<title>optimlab run: div (diverged)</title>" in page and "Results where training stopped" in page
    assert f'<td>diverged</td><td class="number">{result["steps"]}</td>' in page
    assert html.escape(result["message"]) in page
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):  # the NaN loss breaks no figure
        assert ElementTree.fromstring(svg).tag.endswith("svg") and "nan" not in svg.lower()


@pytest.mark.parametrize(("status", "shown"), [("interrupted", "interrupted"), (None, "not finished")])
def test_an_interrupted_or_unfinished_run_is_titled_so(tmp_path, status, shown):
    folder = fake_run(tmp_path / "run")
    if status is None:  # killed: no result.json
        (folder / "result.json").unlink()
    else:
        (folder / "result.json").write_text(json.dumps({"status": status, "steps": 42, "metrics": {}}))
    finished = read_run(fake_run(tmp_path / "done"))
    assert run_page([read_run(folder)]).title == f"optimlab run: run ({shown})"
    assert run_page([read_run(folder), finished]).title == f"optimlab runs: 2 runs overlaid (1 {shown})"
    assert run_page([finished]).title == "optimlab run: done"
    assert "Results at the end of training" in run_page([finished]).render()


def test_a_null_recipe_field_shows_the_default_it_trained_with_not_a_blank(tmp_path):
    """A null field read '(default)': the page did not say what trained (the MLP's width, Adam's weight
    decay). It names the component's default where the component states one."""
    run = read_run(fake_run(tmp_path / "a"))
    assert run.recipe["model"]["width"] is None and run.recipe["optimizer"]["weight_decay"] is None
    recipe = run_page([run]).render().split("<h2>Recipe</h2>")[1].split("<h2>")[0]
    built = build(Recipe.from_dict(run.recipe))
    hidden = next(m for m in built.model.modules() if isinstance(m, torch.nn.Linear)).out_features
    decay = built.optimizer.param_groups[0]["weight_decay"]
    assert f"<td>model.width</td><td>(default: {hidden})</td>" in recipe
    assert f"<td>optimizer.weight_decay</td><td>(default: {decay})</td>" in recipe
    assert "<td>training.steps</td><td>(default)</td>" in recipe and "<td></td>" not in recipe


def test_the_recipe_of_a_run_of_the_users_model_says_which_model_fields_it_does_not_take(
    tmp_path, user_package
):
    """The page showed ``model.activation: relu`` beside a model of tanh units, read as if it trained with
    relu; the study's page says 'not taken by' for these fields, and so does the run's."""
    folder = fake_run(tmp_path / "a")
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["model"]["name"] = "optimlab_userpkg.nets:build"  # build(input_shape, num_outputs, width=16)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    table = run_page([read_run(folder)]).render().split("<h2>Recipe</h2>")[1].split("<h2>")[0]
    for field in ("activation", "norm", "init", "dropout", "depth"):
        assert f"<td>model.{field}</td><td>not taken by optimlab_userpkg.nets:build</td>" in table
    assert "<td>model.width</td><td>(default: 16)</td>" in table  # it takes width, 16 by default
    built_in = run_page([read_run(fake_run(tmp_path / "b"))]).render()
    assert "not taken" not in built_in and "<td>model.activation</td><td>relu</td>" in built_in


def test_a_run_keeps_its_colour_in_every_figure_where_another_has_no_line(tmp_path):
    """A diverged run has no validation curve: the runs after it took the next colour in those figures, so
    one run was red in the training loss and green in the validation loss."""
    runs = [fake_run(tmp_path / name) for name in ("a", "diverged", "c")]
    log = runs[1] / "metrics.jsonl"
    log.write_text("".join(line for line in log.open() if "val_loss" not in line))
    page = run_page([read_run(folder) for folder in runs]).render()
    by_figure = [
        dict(re.findall(r'stroke="(#[0-9a-f]{6})" stroke-width="1.5" [^>]*><title>([^<]+)</title>', svg))
        for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S)
    ]
    colours = [{run: colour for colour, run in figure.items()} for figure in by_figure]
    assert {"a", "diverged", "c"} == set(colours[0]) and {"a", "c"} == set(colours[1])  # train, val loss
    assert all(figure[run] == colours[0][run] for figure in colours for run in figure)


def best_rows(page_reader, page: str) -> dict[str, dict[str, str]]:
    """The table of best values along the way, by metric."""
    (table,) = [t for t in page_reader(page).tables if t.caption.startswith("Best value along the way")]
    return {row["metric"]: {**row, "class": c} for row, c in zip(table.records(), table.classes, strict=True)}


def test_the_best_along_the_way_is_the_one_in_the_runs_metrics_file(tmp_path, page_reader):
    """The page showed the final metrics only: where the validation loss was best, and how much worse it
    ended, could not be seen. Checked against the run's own metrics.jsonl, read here line by line."""
    from optimlab.train import train

    recipe = {
        "data": {"name": "digits"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": 6},
    }
    train(Recipe.from_dict(recipe), tmp_path / "run")
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    page = run_page([read_run(tmp_path / "run")]).render()
    rows = best_rows(page_reader, page)
    assert list(rows) == ["val_loss", "val_accuracy"]  # no training loss (a batch's), no lr (no direction)
    for metric, pick in (("val_loss", min), ("val_accuracy", max)):
        evaluations = [line for line in lines if metric in line]
        best = pick(evaluations, key=lambda line: line[metric])  # of ties, the first
        row = rows[metric]
        assert float(row["best"]) == pytest.approx(best[metric], rel=5e-4)
        assert (int(row["at step"]), int(row["in epoch"])) == (best["step"], best["epoch"] + 1)
        assert float(row["last"]) == pytest.approx(evaluations[-1][metric], rel=5e-4)
        assert int(row["at step 6"]) == evaluations[-1]["step"] == lines[-1]["step"]
        assert (row["class"] == "warning") == (best is not evaluations[-1])
        assert row["better"] == ("lower" if pick is min else "higher")
        assert f"best {best[metric]:.4g} at {best['step']}" in " ".join(page_reader(page).rings)


def test_an_over_fitting_run_shows_its_best_step_and_how_much_worse_it_ended(tmp_path, page_reader):
    folder = fake_run(
        tmp_path / "over",
        steps=1000,
        eval_every=100,
        val_loss=lambda step: 0.2 + 0.01 * (step / 100 - 3) ** 2,
    )
    page = run_page([read_run(folder)]).render()
    row = best_rows(page_reader, page)["val_loss"]
    assert (row["best"], row["at step"], row["in epoch"], row["last"], row["at step 6"]) == (
        "0.2", "300", "3", "0.69", "1000"
    )  # fmt: skip
    assert row["class"] == "warning" and row["note"] == "ended worse than its best by 0.49"
    (caption,) = [t.caption for t in page_reader(page).tables if t.caption.startswith("Best value")]
    assert caption.endswith("model.pt holds the last step's weights, not the best's")  # what train saves
    by_step, by_time = [r for r in page_reader(page).rings if r.startswith("validation loss")]
    assert by_step == "validation loss: best 0.2 at 300" and by_time == "validation loss: best 0.2 at 3"


def test_a_run_best_at_its_last_step_is_not_said_to_have_saved_other_weights(tmp_path, page_reader):
    """A regression run whose validation loss and RMSE were best at its last step (the weights model.pt
    holds) was captioned 'model.pt holds the last step's weights, not the best's'."""
    folder = fake_run(tmp_path / "better", val_loss=lambda step: 1 / step)
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    kept = [{k: v for k, v in line.items() if k != "val_accuracy"} for line in lines]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in kept))
    page = run_page([read_run(folder)]).render()
    assert best_rows(page_reader, page)["val_loss"]["at step"] == "100"
    (caption,) = [t.caption for t in page_reader(page).tables if t.caption.startswith("Best value")]
    assert caption.endswith("epochs counted from 1. model.pt holds the last step's weights")


def test_a_run_that_diverged_shows_its_best_finite_value_and_that_it_stopped(tmp_path, page_reader):
    folder = fake_run(tmp_path / "div", val_loss=lambda step: None if step == 100 else 1 - step / 1000)
    (folder / "result.json").write_text(json.dumps({"status": "diverged", "steps": 100, "metrics": {}}))
    row = best_rows(page_reader, run_page([read_run(folder)]).render())["val_loss"]
    assert (row["best"], row["at step"], row["last"]) == ("0.92", "80", "nan")
    assert (
        row["class"] == "warning"
        and row["note"] == "stopped at step 100 (diverged): the best of the values before"
    )


def test_a_finished_run_whose_last_evaluation_is_not_finite_says_so(tmp_path, page_reader):
    """A run that completed with a NaN last validation loss read 'ended worse than its best by nan'."""
    folder = fake_run(tmp_path / "nan", val_loss=lambda step: None if step == 100 else 1 - step / 1000)
    row = best_rows(page_reader, run_page([read_run(folder)]).render())["val_loss"]
    assert (row["best"], row["last"], row["class"]) == ("0.92", "nan", "warning")
    assert row["note"] == "its last evaluation is not finite (NaN or infinite)"


def test_runs_overlaid_each_have_their_best(tmp_path, page_reader):
    runs = [
        read_run(fake_run(tmp_path / name, val_loss=lambda step, at=at: abs(step - at) / 100))
        for name, at in (("a", 40), ("b", 100))
    ]
    (table,) = [t for t in page_reader(run_page(runs).render()).tables if t.caption.startswith("Best")]
    steps = {(r["run"], r["metric"]): r["at step"] for r in table.records()}
    assert steps == {("a", "val_loss"): "40", ("a", "val_accuracy"): "20", ("b", "val_loss"): "100",
                     ("b", "val_accuracy"): "20"}  # fmt: skip


def test_runs_whose_init_is_a_name_in_one_and_a_mapping_in_the_other_differ_in_that_field(
    tmp_path, page_reader
):
    """Overlaid, a run with `init: he` and one with `init: {name: orthogonal, gain: 2}` read 'model.init:
    kaiming_normal | (default)', then 'model.init.name: (default) | orthogonal': the second run's init
    shown as the default. Likewise 'optimizer.options: {} | (default)' beside the options' fields."""
    first, second = fake_run(tmp_path / "he"), fake_run(tmp_path / "orthogonal")
    Recipe.from_dict({"model": {"init": "he"}}).save(first / "recipe.yaml")
    Recipe.from_dict(
        {
            "model": {"init": {"name": "orthogonal", "gain": 2.0}},
            "optimizer": {"options": {"betas": [0.8, 0.99]}},
        }
    ).save(second / "recipe.yaml")
    runs = [read_run(first), read_run(second)]
    reader = page_reader(run_page(runs).render())
    (table,) = [t for t in reader.tables if t.header == ["field", "he", "orthogonal"]]
    rows = {row[0]: row[1:] for row in table.rows}
    recipes = [yaml.safe_load((folder / "recipe.yaml").read_text()) for folder in (first, second)]
    assert recipes[0]["model"]["init"] == "kaiming_normal" and recipes[0]["optimizer"]["options"] == {}
    assert rows == {
        "model.init": ["kaiming_normal", "{name: orthogonal, gain: 2.0}"],
        "optimizer.options": ["{}", "{betas: [0.8, 0.99]}"],
    }


def test_runs_overlaid_with_other_budgets_or_seeds_are_said_to_be_no_like_for_like(tmp_path, page_reader):
    """The results table set a 2-epoch run of seed 0 beside a 5-epoch run of seed 1 as if comparable;
    only the recipe section, far below, showed that they differ."""
    folders = [fake_run(tmp_path / name) for name in ("short", "long", "same")]
    for folder, epochs, seed in zip(folders, (2, 5, 2), (0, 1, 0), strict=True):
        Recipe.from_dict({"training": {"epochs": epochs, "seed": seed}}).save(folder / "recipe.yaml")
    unlike = [read_run(folder) for folder in folders]
    said = [p for p in page_reader(run_page(unlike).render()).paragraphs if p.startswith("Not like for like")]
    assert said == [
        "Not like for like: the runs differ in training.epochs (2, 5, 2); training.seed (0, 1, 0). "
        "A difference in their results may come from these."
    ]
    alike = run_page([unlike[0], unlike[2]]).render()
    assert not [p for p in page_reader(alike).paragraphs if p.startswith("Not like for like")]


def test_a_killed_run_shows_the_last_step_and_time_its_log_reached(tmp_path, page_reader):
    """A run killed before result.json showed blank steps and seconds, though metrics.jsonl said where it
    stopped."""
    folder = fake_run(tmp_path / "killed", steps=73)
    (folder / "result.json").unlink()
    (folder / "model.pt").unlink()  # saved at the end of training, which a kill never reaches
    last = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])
    tables = page_reader(run_page([read_run(folder)]).render()).tables
    (row,) = next(t for t in tables if t.caption == "Results where training stopped").records()
    assert (row["status"], int(row["steps"]), float(row["seconds"])) == ("not finished", 73, last["seconds"])
    (best,) = [t.caption for t in tables if t.caption.startswith("Best value")]  # no model.pt to speak of
    assert "model.pt" not in best and not (folder / "model.pt").exists()


def test_a_run_that_has_logged_no_line_yet_says_so_where_its_curves_would_be(tmp_path, page_reader):
    """A run just started (metrics.jsonl empty, or its first line cut mid-write) had a 'By step' heading
    over nothing; beside a run with curves it was in no legend, without a word. Truth: its log holds no
    complete line, so there is nothing of it to draw."""
    started = fake_run(tmp_path / "started", steps=5)
    (started / "result.json").unlink()
    (started / "metrics.jsonl").write_text('{"step": 1, "epoch": 0, "train_lo')  # a write under way
    said = "started: no metrics logged yet (metrics.jsonl holds no complete line)."
    assert said in page_reader(run_page([read_run(started)]).render()).paragraphs
    both = page_reader(run_page([read_run(started), read_run(fake_run(tmp_path / "done", steps=5))]).render())
    assert said in both.paragraphs


def test_runs_in_folders_of_one_name_under_parents_of_one_name_are_each_drawn(tmp_path, cli):
    """`optimlab report a/x/run b/x/run` named both runs 'x/run' (the folder's name with its parent's): the
    second one's lines replaced the first's in every chart, one legend entry for two runs, and two rows
    alike in every table. Truth: two run folders, two lines a chart, each named apart (a/x/run, b/x/run);
    read_run's names (both 'run') alike from Python."""
    first = fake_run(tmp_path / "a" / "x" / "run", lr=1e-3)
    second = fake_run(tmp_path / "b" / "x" / "run", lr=1e-2)
    page = run_page([read_run(first), read_run(second)]).render()
    (loss,) = re.findall(r'<svg[^>]*aria-label="Training loss \(last batch\) by step".*?</svg>', page, re.S)
    assert re.findall(r"<path d=\"M[^\"]*\"[^>]*><title>([^<]*)</title>", loss) == ["a/x/run", "b/x/run"]
    code, _, _ = cli("report", str(first), str(second), "--out", str(tmp_path / "page.html"))
    page = (tmp_path / "page.html").read_text()
    assert code == 0 and "Runs: a/x/run, b/x/run." in page


def test_a_run_being_written_before_its_first_checkpoint_says_it_has_not_finished(tmp_path, page_reader):
    """A run in its first epoch (no result.json, no checkpoint yet, its last line half written) was said to
    be 'not finished' in its status cell only; the sentence that a run without result.json is still going
    or was killed came only with a checkpoint. Truth: result.json is written at the end; without it the
    page is of what metrics.jsonl held when read, up to its last whole line."""
    folder = fake_run(tmp_path / "first epoch", steps=30)
    (folder / "result.json").unlink()
    with open(folder / "metrics.jsonl", "a") as log:
        log.write('{"step": 31, "epoch": 0, "train_lo')
    paragraphs = page_reader(run_page([read_run(folder)]).render()).paragraphs
    assert (
        "first epoch: no result.json: the run is still going, or was stopped without one (killed); this page "
        "shows its metrics.jsonl up to its last whole line, step 30, and no checkpoint to resume it from."
    ) in paragraphs


def _rewrite(folder, change):
    """metrics.jsonl with ``change(line)`` applied to each line."""
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(change(line)) + "\n" for line in lines))


def test_a_schedule_that_decays_to_zero_is_drawn_on_a_linear_axis(tmp_path):
    """Warmup then cosine to ~1e-7 was drawn on a log axis (the values span 4 decades): the tail's last
    steps filled the chart, the warmup's straight line bent."""
    import xml.etree.ElementTree as ElementTree

    folder = fake_run(tmp_path / "cosine")

    def scheduled(line):
        if "lr" in line:
            step = line["step"]
            line["lr"] = 1e-2 * (
                step / 20 if step <= 20 else 0.5 * (1 + math.cos(math.pi * (step - 20) / 80))
            )
            line["lr"] = max(line["lr"], 1e-7)
        return line

    _rewrite(folder, scheduled)
    page = run_page([read_run(folder)]).render()
    svg = next(
        s for s in re.findall(r"<svg.*?</svg>", page, flags=re.S) if 'aria-label="Learning rate by step"' in s
    )
    ticks = [
        float(t.text)
        for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")
        if t.get("text-anchor") == "end" and t.get("font-size") == "10"
    ]
    gaps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(ticks) >= 4 and len(gaps) == 1 and min(ticks) <= 1e-7 < 1e-2 <= max(ticks), ticks


def test_an_overlay_of_learning_rates_decades_apart_keeps_a_log_axis(tmp_path):
    runs = [read_run(fake_run(tmp_path / name, lr=lr)) for name, lr in (("a", 1e-4), ("b", 1e-1))]
    for run in runs:  # not constant: a warmup each, so the lr is drawn
        _rewrite(
            run.path,
            lambda line: {**line, "lr": line["lr"] * min(1, line["step"] / 10)} if "lr" in line else line,
        )
    page = run_page([read_run(run.path) for run in runs]).render()
    svg = next(
        s for s in re.findall(r"<svg.*?</svg>", page, flags=re.S) if 'aria-label="Learning rate by step"' in s
    )
    assert ">1e-04<" in svg and ">1e-01<" in svg  # labelled at powers of ten, in one notation


def test_a_metric_without_a_finite_value_is_said_in_words_not_drawn_as_empty_axes(tmp_path, page_reader):
    """Every validation value NaN drew empty axes from 0.09 to 0.11 and a legend line for nothing."""
    folder = fake_run(tmp_path / "nan")
    _rewrite(folder, lambda line: {k: (None if k.startswith("val_") else v) for k, v in line.items()})
    page = run_page([read_run(folder)]).render()
    assert (
        "Validation accuracy (fraction correct): no finite value (NaN or infinite at all 5 points logged)."
        in (page_reader(page).paragraphs)
    )
    assert 'aria-label="Validation accuracy (fraction correct) by step"' not in page
    assert "validation loss (no finite value)" in page  # beside the training loss, in its legend


def test_a_run_resumed_with_a_changed_recipe_says_what_changed_and_when(tmp_path, page_reader):
    """`train --resume --epochs 130` of a run of 500 epochs: the page showed the recipe of 130 epochs
    only, which does not repeat the run (its schedule followed 500 epochs up to step 4000)."""
    folder = fake_run(tmp_path / "run")
    result = json.loads((folder / "result.json").read_text())
    result["recipe_changes"] = [
        {"field": "training.epochs", "from": 500, "to": 130, "step": 4000},
        {"field": "training.steps", "from": None, "to": 4100, "step": 4000},  # unset: 'from None' was said
    ]
    (folder / "result.json").write_text(json.dumps(result))
    paragraphs = page_reader(run_page([read_run(folder)]).render()).paragraphs
    (said,) = [p for p in paragraphs if "resumed at" in p]
    assert said.startswith(
        "run: resumed at step 4000 with training.epochs changed from 500 to 130, training.steps changed from "
        "(default) to 4100."
    )


@pytest.mark.parametrize("checkpoint", [True, False], ids=["checkpoint", "no-checkpoint"])
def test_a_killed_run_says_how_to_continue_it(tmp_path, page_reader, checkpoint):
    folder = fake_run(tmp_path / "my run")
    (folder / "result.json").unlink()
    if checkpoint:
        (folder / "checkpoint.pt").write_bytes(b"")
    said = [p for p in page_reader(run_page([read_run(folder)]).render()).paragraphs if "--resume" in p]
    assert said == ([f"my run: no result.json: the run is still going, or was stopped without one (killed). "
                     f"`optimlab train --resume '{folder}'` continues it from its last checkpoint."] if checkpoint else [])  # fmt: skip


def test_the_page_gives_the_command_that_repeats_the_run_and_it_does(tmp_path, page_reader, cli):
    """The page gave the command that wrote it (`optimlab report RUN`), not one that trains the run again."""
    import shlex

    from optimlab.train import train

    recipe = {"data": {"name": "iris"}, "training": {"epochs": 2, "seed": 3}}
    train(Recipe.from_dict(recipe), tmp_path / "iris")
    tables = page_reader(
        run_page([read_run(tmp_path / "iris")], command="optimlab report iris").render()
    ).tables
    settings = dict(next(t for t in tables if t.header == ["setting", "value"]).rows)
    command = settings["command that repeats iris"]
    assert shlex.split(command)[:2] == ["optimlab", "train"]
    assert cli(*shlex.split(command)[1:], "--no-progress")[0] == 0
    again = json.loads((tmp_path / "iris-again" / "result.json").read_text())
    assert again["metrics"] == json.loads((tmp_path / "iris" / "result.json").read_text())["metrics"]


def test_where_a_diverged_loss_stops_being_finite_is_drawn(tmp_path):
    """A loss gone NaN at step 91 of 100 drew its curve to step 90 and nothing after: the chart did not
    say the curve ended, nor where."""
    import xml.etree.ElementTree as ElementTree

    folder = fake_run(tmp_path / "diverged")
    _rewrite(
        folder,
        lambda line: {**line, "train_loss": None} if line["step"] > 90 and "train_loss" in line else line,
    )
    page = run_page([read_run(folder)]).render()
    svg = next(
        s
        for s in re.findall(r"<svg.*?</svg>", page, flags=re.S)
        if "Training and validation loss by step" in s
    )
    root = ElementTree.fromstring(svg)
    titles = {
        t.text: path
        for path in root.iter("{http://www.w3.org/2000/svg}path")
        if (t := path.find("{http://www.w3.org/2000/svg}title")) is not None
    }
    stop = titles["training loss (last batch): not finite from 91"]
    [[*_, last]] = [  # the training loss curve's last point, at step 90
        [tuple(map(float, p)) for p in re.findall(r"[ML]([-\d.]+) ([-\d.]+)", path.get("d"))]
        for label, path in titles.items()
        if label == "training loss (last batch)"
    ]
    ticks = {
        float(t.text): float(t.get("x"))
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if t.get("text-anchor") == "middle" and t.get("font-size") == "10"
    }
    (s0, x0), (s1, x1) = sorted(ticks.items())[:2]
    at = float(re.match(r"M([-\d.]+)", stop.get("d")).group(1))
    assert at == pytest.approx(x0 + (91 - s0) * (x1 - x0) / (s1 - s0), abs=0.3) and at > last[0]


def test_runs_overlaid_on_other_data_are_said_to_be_no_like_for_like(tmp_path, page_reader):
    """Runs on digits, a regression CSV and wine were said to differ in training.epochs only."""
    folders = [fake_run(tmp_path / name) for name in ("digits", "wine")]
    for folder, data in zip(folders, ("digits", "wine"), strict=True):
        Recipe.from_dict({"data": {"name": data}}).save(folder / "recipe.yaml")
    said = [
        p
        for p in page_reader(run_page([read_run(f) for f in folders]).render()).paragraphs
        if p.startswith("Not like for like")
    ]
    assert said == [
        "Not like for like: the runs differ in data.name (digits, wine). A difference in their results may come from these."
    ]


def test_the_charts_of_a_run_line_up_by_step(tmp_path):
    """The validation accuracy's chart began at its first evaluation (step 20), under a loss chart that
    began at step 1: their axes covered different steps."""
    import xml.etree.ElementTree as ElementTree

    page = run_page([read_run(fake_run(tmp_path / "run"))]).render()
    ticks = []
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        if "by step" in svg:
            root = ElementTree.fromstring(svg)
            ticks.append(
                [
                    t.text
                    for t in root.iter("{http://www.w3.org/2000/svg}text")
                    if t.get("text-anchor") == "middle" and t.get("font-size") == "10"
                ]
            )
    assert len(ticks) == 2 and ticks[0] == ticks[1] == ["0", "20", "40", "60", "80", "100"], ticks


def test_a_metric_evaluated_once_is_said_in_words_not_drawn_as_a_dot(tmp_path, page_reader):
    """A one-epoch run drew its single validation accuracy as a dot alone on a chart."""
    page = run_page([read_run(fake_run(tmp_path / "one", eval_every=100))]).render()
    assert (
        "Validation accuracy (fraction correct): one evaluation, 0.5 at step 100."
        in page_reader(page).paragraphs
    )
    assert "Validation accuracy (fraction correct) by" not in page
    assert 'aria-label="Training and validation loss by step"' in page  # the loss curve, with its one point


def test_one_step_runs_overlaid_say_their_training_loss_was_logged_once_and_draw_no_empty_section(
    tmp_path, page_reader
):
    """Two runs of one step overlaid: each metric a sentence, as it should, but the training loss (a batch's,
    logged at every step, never evaluated) read 'one evaluation', and 'By wall time' stood over no figure,
    promising 'the same curves'. Truth: metrics.jsonl holds one training loss line and one evaluation line
    a run; there is no curve to draw against wall time."""
    runs = [
        read_run(fake_run(tmp_path / name, steps=1, eval_every=1, lr=lr))
        for name, lr in (("a", 1e-3), ("b", 1e-2))
    ]
    reader = page_reader(run_page(runs).render())
    said = {p.split(":")[0]: p for p in reader.paragraphs}
    assert (
        said["Training loss (last batch)"]
        == "Training loss (last batch): logged once, a 0.8461 at step 1; b 0.8461 at step 1."
    )
    assert said["Validation loss"].startswith("Validation loss: one evaluation, a 1 at step 1")
    assert "By wall time" not in reader.headings and "By step" in reader.headings


def test_more_runs_than_colours_are_each_drawn_their_own_way(tmp_path):
    """12 runs overlaid: the 11th and 12th were drawn in the 1st and 2nd's colours and solid lines, two runs
    one line in each chart and in its legend."""
    runs = [
        read_run(fake_run(tmp_path / f"r{i}", lr=1e-3 * (i + 1), steps=20, eval_every=5)) for i in range(12)
    ]
    for svg in re.findall(r"<svg.*?</svg>", run_page(runs).render(), re.S):
        drawn = re.findall(
            r'<path d="M[^"]*" fill="none" stroke="(#\w+)" stroke-width="1.5"([^>]*)><title>(r\d+)', svg
        )
        legend = re.findall(r'<path d="M[^"]*h16" stroke="(#\w+)" stroke-width="2"([^>]*)/>', svg)
        assert len({(colour, dash) for colour, dash, _ in drawn}) == len({run for _, _, run in drawn}) == 12
        assert len(set(legend)) == 12


def test_the_results_say_how_many_parameters_each_run_trained(cli, tmp_path, page_reader):
    """Runs of two widths overlaid gave their metrics with no word of their models' sizes; result.json
    records the trained model (an MLP 4-w-w-3 on iris: (4 + 1) w + (w + 1) w + (w + 1) 3 parameters)."""
    for width in (4, 8):
        code, _, err = cli(
            "train", "--dataset", "iris", "--model", "mlp", "--width", str(width), "--epochs", "1",
            "--out", str(tmp_path / f"w{width}"), "--no-progress",
        )  # fmt: skip
        assert code == 0, err
    page = run_page([read_run(tmp_path / "w4"), read_run(tmp_path / "w8")]).render()
    (results,) = [t for t in page_reader(page).tables if t.caption.startswith("Results")]
    column = results.header.index("parameters")
    assert [row[column] for row in results.rows] == [f"{5 * w + (w + 1) * w + (w + 1) * 3:,}" for w in (4, 8)]
    legacy = read_run(fake_run(tmp_path / "old"))  # a result.json written before models were recorded
    (results,) = [
        t for t in page_reader(run_page([legacy]).render()).tables if t.caption.startswith("Results")
    ]
    assert "parameters" not in results.header


def test_the_chance_loss_line_is_the_smoothed_one_and_only_where_the_runs_share_their_loss(
    tmp_path, monkeypatch
):
    """9-to-1 classes: a constant prediction's cross-entropy is 0.325 (the entropy of the frequencies), and
    0.471 under label_smoothing 0.2 (tests/report/test_chance.py finds it with L-BFGS on torch's loss).
    Runs overlaid with and without smoothing have no one chance loss: the line of the first misled the
    other; the accuracy's, 0.9, stays."""
    from tests.report.test_chance import IMBALANCED

    (tmp_path / "chance_imbalanced.py").write_text(IMBALANCED)
    monkeypatch.syspath_prepend(str(tmp_path))
    folders = [fake_run(tmp_path / name) for name in ("plain", "smoothed")]
    for folder, options in zip(folders, ({}, {"label_smoothing": 0.2}), strict=True):
        recipe = {"data": {"name": "chance_imbalanced:load"}, "training": {"loss_options": options}}
        Recipe.from_dict(recipe).save(folder / "recipe.yaml")
    alone = run_page([read_run(folders[1])]).render()
    assert "chance 0.471" in alone and "chance 0.325" not in alone
    both = run_page([read_run(f) for f in folders]).render()
    assert "chance 0.9" in both and not re.search(r"chance 0\.(325|471)", both)


def test_a_loss_that_goes_below_zero_is_drawn_whole_on_a_linear_axis(tmp_path):
    """A Gaussian negative log-likelihood falls below 0: 5 e^(-s/10) - 1 from 3.5 to -1.0. Its positive
    values span decades (3.5 to 0.0095), which took a log axis, where the steps below 0 (84 of 100) cannot
    be drawn: the curve ended at step 16 without a word, its last 84 steps lost."""
    import xml.etree.ElementTree as ElementTree

    folder = fake_run(tmp_path / "nll")
    _rewrite(
        folder,
        lambda line: (
            {**line, "train_loss": 5 * math.exp(-line["step"] / 10) - 1} if "train_loss" in line else line
        ),
    )
    svg = next(
        s
        for s in re.findall(r"<svg.*?</svg>", run_page([read_run(folder)]).render(), flags=re.S)
        if 'aria-label="Training and validation loss by step"' in s
    )
    ticks = [
        float(t.text)
        for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")
        if t.get("text-anchor") == "end" and t.get("font-size") == "10"
    ]
    lowest = 5 * math.exp(-10) - 1  # step 100's loss, by hand
    gaps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert min(ticks) <= lowest and len(gaps) == 1, ticks  # a linear axis down to the last step's loss


def test_an_interrupted_run_copied_elsewhere_says_to_resume_the_copy_in_words_a_shell_reads(
    tmp_path, page_reader
):
    """The page of a run stopped by Ctrl-C gave result.json's 'Resume with: optimlab train --resume
    FOLDER', FOLDER where it trained, unquoted: reported where it was copied to, it sent the resume to
    the first folder, and a folder with a space split into two words."""
    import shlex
    import shutil
    import signal

    from optimlab.train import train
    from tests.train.stops import SignalAt

    recipe = {"data": {"name": "iris"}, "model": {"name": "mlp", "width": 8}, "training": {"steps": 4}}
    stopped = train(Recipe.from_dict(recipe), tmp_path / "my run", callbacks=[SignalAt(2, signal.SIGINT)])
    assert stopped.status == "interrupted"
    said_by_train = shlex.split(stopped.message.partition("Resume with: ")[2])
    assert said_by_train == ["optimlab", "train", "--resume", str(tmp_path / "my run")]
    copy = shutil.copytree(tmp_path / "my run", tmp_path / "kept copy")
    [said] = [p for p in page_reader(run_page([read_run(copy)]).render()).paragraphs if "Resume with" in p]
    assert said.startswith("kept copy: interrupted by SIGINT at step 2 of 4; checkpoint saved.")
    assert shlex.split(said.partition("Resume with: ")[2]) == ["optimlab", "train", "--resume", str(copy)]


@pytest.mark.parametrize(
    ("metric", "chart", "values", "linear"),
    [
        (
            "val_accuracy",
            "Validation accuracy (fraction correct) by step",
            [0.05, 0.6, 0.9, 0.97, 0.99],
            True,
        ),
        ("val_loss", "Training and validation loss by step", [2.0, 0.5, 0.1, 0.03, 0.01], False),
    ],
)
def test_only_a_metric_without_an_upper_bound_that_spans_decades_takes_a_log_axis(
    tmp_path, metric, chart, values, linear
):
    """An accuracy from 0.05 to 0.99 (20x) was drawn on a log axis: 0.9 to 0.99, where runs differ,
    squeezed into its top. Truth: the y ticks, evenly spaced on a linear axis only; a loss over the same
    span keeps its log axis, as the study's and the doctor's charts do, and its label says '(log)'."""
    import xml.etree.ElementTree as ElementTree

    folder = fake_run(tmp_path / "run")
    evaluations = iter(values)
    _rewrite(folder, lambda line: {**line, metric: next(evaluations)} if metric in line else line)
    svg = next(
        s
        for s in re.findall(r"<svg.*?</svg>", run_page([read_run(folder)]).render(), flags=re.S)
        if f'aria-label="{chart}"' in s
    )
    ticks = [
        float(t.text)
        for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")
        if t.get("text-anchor") == "end" and t.get("font-size") == "10"
    ]
    gaps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(ticks) >= 3 and (len(gaps) == 1) == linear, ticks
    # a log axis says so on its label, as the doctor's charts do: its plain ticks (0.01, 0.1, 1) do not
    said = [t.text for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text") if t.text]
    assert ("loss (log)" in said) == (not linear), said
