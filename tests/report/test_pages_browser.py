"""The pages of `optimlab report` (a run, runs overlaid, studies over time) and `train --html`, opened in
headless Chromium: every figure drawn, no script error; screenshots kept as artifacts (see test_browser)."""

import pytest

from report.test_browser import CHROMIUM, assert_every_figure_rendered, rendered, screenshot

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)"
    ),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Two short runs and two tiny studies of one workload (the second trained twice as long)."""
    from optimlab.recipe import Recipe
    from optimlab.report.run_folder import read_run
    from optimlab.report.run_page import write_run_report
    from optimlab.report.study_history import write_history_report
    from optimlab.study import StudySpec, methods_from, run_study
    from optimlab.train import train
    from optimlab.workloads import get_workload

    folder = tmp_path_factory.mktemp("pages")
    runs = []
    for name, lr in (("adam-3e-3", 3e-3), ("adam-3e-2", 3e-2)):
        recipe = Recipe.from_dict(
            {
                "data": {"name": "digits"},
                "optimizer": {"name": "adam", "lr": lr},
                "training": {"steps": 60, "eval_every": 10},
            }
        )
        train(recipe, folder / name)
        runs.append(read_run(folder / name))
    stores = []
    for week, epochs in (("week-1", 1), ("week-2", 2)):
        spec = StudySpec.for_workload(
            "digits", get_workload("digits-mlp", epochs=epochs), methods_from("optimizer.name", ["sgd", "adam"]),
            budget=1, seeds=3,
        )  # fmt: skip
        run_study(spec, folder / week)
        stores.append(folder / week)
    return {
        "run-report": write_run_report(runs[:1], folder / "run-report.html", command="optimlab train ..."),
        "runs-overlaid": write_run_report(runs, folder / "runs-overlaid.html"),
        "studies-over-time": write_history_report(stores, folder / "studies-over-time.html"),
    }


@pytest.mark.parametrize("kind", ["run-report", "runs-overlaid", "studies-over-time"])
def test_page_renders_every_figure_in_chromium_and_keeps_a_screenshot(pages, kind, tmp_path):
    page = pages[kind]
    seen = rendered(page, tmp_path)
    assert_every_figure_rendered(seen, page)
    assert seen["headings"] >= 3 and seen["tables"] >= 2
    # the page fits Chromium's window of 800 px: a run's results table of 9 metric columns ran 49 px past it
    assert seen["overflow"] == 0, seen["overflow"]
    assert seen["scrolled"] == [] and seen["broken"] == [], (seen["scrolled"], seen["broken"])
    assert screenshot(page, tmp_path).name == f"{kind}.png"


def test_long_names_of_the_users_model_and_run_stay_within_the_page_and_its_figures(tmp_path, user_package):
    """A study named after the user's model (mypkg.models:build_a_very_long_name...) ran its heading past
    the page's right edge, and its figure titles were cut at the figure's edge."""
    import dataclasses

    from study.test_report import RECORDS, SPEC

    from optimlab.recipe import Recipe
    from optimlab.report.run_folder import read_run
    from optimlab.report.run_page import write_run_report
    from optimlab.study import write_report
    from optimlab.study.run import StudyResult
    from report.test_run_page import fake_run

    name = "mypkg.models.build_a_very_long_name_for_a_residual_multilayer_perceptron_model-on-digits"
    folder = fake_run(tmp_path / name)
    Recipe.from_dict({"model": {"name": "optimlab_userpkg.nets:build"}}).save(folder / "recipe.yaml")
    study = StudyResult(dataclasses.replace(SPEC, name=name), str(tmp_path), RECORDS)
    for page in (
        write_run_report([read_run(folder)], tmp_path / "run.html", command=f"optimlab train --out {name}"),
        write_report([study], tmp_path / "study.html", command="optimlab compare --model mypkg.models:build"),
    ):
        seen = rendered(page, tmp_path)
        assert_every_figure_rendered(seen, page)
        assert seen["overflow"] == 0 and seen["clipped"] == [], (page.name, seen["overflow"], seen["clipped"])


def test_only_a_long_run_name_breaks_in_a_table_and_the_page_keeps_its_width(tmp_path):
    """Beside a run named a_very_long_run_name_..._0001, every column of the results table shrank below its
    words: 'complet' / 'ed', 'val_accura' / 'cy'."""
    from optimlab.report.run_folder import read_run
    from optimlab.report.run_page import write_run_report
    from report.test_run_page import fake_run

    names = [
        "plain",
        "a_very_long_run_name_that_someone_typed_for_an_experiment_with_adamw_and_cosine_warmup_0001",
    ]
    runs = [read_run(fake_run(tmp_path / name)) for name in names]
    page = write_run_report(runs, tmp_path / "overlaid.html")
    seen = rendered(page, tmp_path)
    assert seen["broken"] == [] and seen["overflow"] == 0, (seen["broken"], seen["overflow"])
