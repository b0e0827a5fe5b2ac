"""A bench's settings file: written whole or not at all, read back or refused in one line."""

import json

import pytest
from test_atomic import in_a_full_disk

from optimlab.bench import SETTINGS_FILE, planned_workloads, read_settings, write_settings
from optimlab.errors import OptimlabError

SETTINGS = {
    "suite": None,
    "workloads": "two_spirals_mlp",
    "optimizers": "sgd,adam",
    "optimizer_path": None,
    "seeds": 1,
    "budget": 2,
    "protocol": "grid",
    "backend": "batched",
    "cost": "steps",
    "data_dir": None,
    "device": None,
    "model": None,
    "dataset": None,
    "target": None,
}


def test_settings_cut_short_by_a_full_disk_keep_the_former_ones(tmp_path):
    write_settings(tmp_path, SETTINGS)
    longer = {**SETTINGS, "optimizer_path": ["mypkg.optim:MyOptimizer"] * 500}
    assert in_a_full_disk(lambda: write_settings(tmp_path, longer)) == 3
    assert read_settings(tmp_path) == SETTINGS


def test_settings_of_an_older_bench_without_model_dataset_or_target_plan_its_workloads(tmp_path):
    older = {k: v for k, v in SETTINGS.items() if k not in ("model", "dataset", "target")}
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(older))
    assert [w.name for w in planned_workloads(read_settings(tmp_path))] == ["two_spirals_mlp"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"suite": null, "workl', "it does not parse"),
        (json.dumps({k: v for k, v in SETTINGS.items() if k != "backend"}), "it lacks backend"),
        ("[1, 2]", "it lacks suite, workloads"),
    ],
    ids=["cut", "a_setting_deleted", "not_an_object"],
)
def test_damaged_settings_are_refused_in_one_line_naming_the_file(cli, tmp_path, text, problem):
    """A bench.json cut short or edited by hand ended 'bench --resume' in a traceback (JSONDecodeError,
    KeyError: 'backend')."""
    (tmp_path / SETTINGS_FILE).write_text(text)
    with pytest.raises(OptimlabError, match=problem):
        read_settings(tmp_path)
    code, out, err = cli("bench", "--resume", str(tmp_path))
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.startswith(f"error: the bench's settings '{tmp_path / SETTINGS_FILE}' are damaged ({problem}")
