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
    assert screenshot(page, tmp_path).name == f"{kind}.png"
