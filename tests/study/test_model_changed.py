"""A study resumed after its model's code changed is refused, naming the change: it resumed and put the
results of two models in one comparison (optimlab's own ResNet lost its biases before batch norm between
two sessions, with its name and recipe id unchanged). Its trials record the structure they trained."""

import ast
import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from optimlab.build import build_data, build_model
from optimlab.models.structure import structure
from optimlab.study import load_specs
from optimlab.study.compare import compare
from optimlab.study.storage import load_records, open_storage
from optimlab.study.trial import syntax_text
from tests.cli.forked_command import ForkedCommand

SOURCE = str(Path(__file__).resolve().parents[2] / "src")
NET = """
import math
from torch import nn


def build(input_shape, num_outputs):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), 8, bias={bias}), nn.{activation}(), nn.Linear(8, num_outputs)
    )
"""
PLAN = {"model": "changing_net:build", "dataset": "iris", "budget": 2, "seeds": 1, "epochs": 1}


def write_net(
    folder: Path, *, bias: bool = True, activation: str = "Tanh", name: str = "changing_net"
) -> None:
    (folder / f"{name}.py").write_text(NET.format(bias=bias, activation=activation))


@pytest.fixture
def forked(forked_parents) -> ForkedCommand:
    """A parent that imported the command line once and forks each resume's process (no interpreter and
    torch start per resume); it never imports the users' model code, so each child imports it afresh."""
    return forked_parents(SOURCE)


@pytest.fixture
def resume(forked, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """``resume(folder, *argv)``: ``optimlab compare --resume`` in a fresh process, which imports the
    model's code as it is now."""
    output = tmp_path / "resume-output"
    output.mkdir()

    def run(folder: Path, *argv: str) -> subprocess.CompletedProcess:
        args = ["compare", "--resume", str(folder), "--no-progress", *argv]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SOURCE}
        code, out, err = forked.run(args, Path.cwd(), env, output, timeout=300)
        assert code is not None, f"still running after 300 s: {err}"
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def trials(folder: Path) -> list:
    (spec,) = load_specs(str(folder))
    return load_records(open_storage(str(folder)), [spec.study_name(m) for m in spec.methods])


def test_a_structure_is_the_modules_and_tensor_shapes_not_the_values():
    torch.manual_seed(0)
    one, other = nn.Linear(4, 3), nn.Linear(4, 3)
    assert structure(one) == structure(other) and not torch.equal(one.weight, other.weight)
    assert structure(nn.Linear(4, 3))["parameters"] == 4 * 3 + 3
    assert structure(nn.Linear(4, 3)) != structure(nn.Linear(3, 4))  # 15 parameters each
    assert structure(nn.BatchNorm1d(3)) != structure(nn.BatchNorm1d(3, track_running_stats=False))  # buffers
    assert structure(nn.Sequential(nn.ReLU())) != structure(nn.Sequential(nn.GELU()))
    assert structure(nn.Linear(4, 3)) != structure(nn.Linear(4, 3).double())

    def net(module: str) -> nn.Module:  # one class, defined in a notebook, then moved into a module
        cls = type("Net", (nn.Sequential,), {"__module__": module})
        return cls(nn.Linear(4, 3))

    assert structure(net("__main__")) == structure(net("mynets"))


@pytest.mark.parametrize("backend", ["local", "batched"])
def test_a_study_whose_model_code_changed_is_refused_on_resume_and_kept(
    tmp_path, monkeypatch, backend, resume
):
    code = tmp_path / "code"
    code.mkdir()
    write_net(code)
    monkeypatch.syspath_prepend(str(code))
    out = tmp_path / "study"
    compare(["sgd"], out=out, backend=backend, **PLAN)
    before = trials(out)
    inputs = 4  # iris
    assert {r.status for r in before} == {"completed"}
    batched = [t.user_attrs.get("batched_with") for t in _frozen(out)]
    assert (batched.count(2) == 2) == (backend == "batched")  # its tuning trials trained as one stack

    write_net(code, activation="ReLU")  # the same parameters
    refused = resume(out, "--seeds", "2")
    assert refused.returncode == 2 and refused.stdout == "", refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "method 'sgd'" in line and "changing_net:build" in line
    assert f"the same {(inputs + 1) * 8 + 9 * 3} parameters as it was trained with, in other modules" in line

    write_net(code, bias=False)
    (line,) = resume(out, "--seeds", "2").stderr.strip().splitlines()
    assert f"{inputs * 8 + 9 * 3} parameters, not the {(inputs + 1) * 8 + 9 * 3} it was trained with" in line
    assert [(r.key, r.metrics) for r in trials(out)] == [(r.key, r.metrics) for r in before]

    write_net(code)  # the code restored (the same code resumes): the study takes its second seed
    assert resume(out, "--seeds", "2").returncode == 0
    assert len([r for r in trials(out) if r.finished]) == len(before) + 1


def test_each_trial_records_the_structure_of_the_model_it_trained(tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    write_net(
        code, activation="GELU", name="gelu_net"
    )  # a name of its own: the registry keeps what it adopts
    monkeypatch.syspath_prepend(str(code))
    compare(["sgd"], out=tmp_path / "study", **{**PLAN, "model": "gelu_net:build"})
    (spec,) = load_specs(str(tmp_path / "study"))
    recipe = spec.recipe.with_updates(spec.methods[0].updates)
    expected = structure(build_model(recipe, build_data(recipe)))  # with its input scaling in front
    recorded = [t.user_attrs["model"] for t in _frozen(tmp_path / "study")]
    tree = hashlib.sha256(_dumped((code / "gelu_net.py").read_text()).encode()).hexdigest()
    assert len(recorded) == 3 and all(m == {**expected, "source_sha256": tree} for m in recorded)
    assert expected["parameters"] == (4 + 1) * 8 + (8 + 1) * 3
    modules = [type(m).__name__ for m in build_model(recipe, build_data(recipe)).modules()]
    assert "GELU" in modules and "Tanh" not in modules


def _frozen(folder: Path) -> list:
    storage = open_storage(str(folder))
    (spec,) = load_specs(str(folder))
    study_id = storage.get_study_id_from_name(spec.study_name(spec.methods[0]))
    return storage.get_all_trials(study_id)


def test_methods_that_differ_only_in_their_optimizer_rebuild_their_model_once(tmp_path, monkeypatch):
    """A resume rebuilt the model (and loaded the data) once a method: six optimizers on the user's data
    read it six times, though their data and model are one."""
    import optimlab.build
    from optimlab.study.run import check_same_models

    code = tmp_path / "code"
    code.mkdir()
    write_net(code, name="once_net")
    monkeypatch.syspath_prepend(str(code))
    out = tmp_path / "study"
    compare(["sgd", "adam"], out=out, **{**PLAN, "model": "once_net:build"})
    builds = []
    real = optimlab.build.build_model
    monkeypatch.setattr(optimlab.build, "build_model", lambda *a, **k: builds.append(1) or real(*a, **k))
    (spec,) = load_specs(str(out))
    check_same_models(open_storage(str(out)), spec)
    assert len(builds) == 1


DATA = """
import torch


def load(seed=0):
    x = torch.randn(120, 4, generator=torch.Generator().manual_seed(seed))
    return x, (x[:, 0] > {threshold}).long()
"""


def test_a_study_whose_data_changed_is_refused_on_resume_and_kept(tmp_path, monkeypatch, resume):
    """The data factory's labels changed between two sessions (or a CSV file was edited): the resumed
    study trained its new seeds on other data and averaged them with the old, the model unchanged."""
    code = tmp_path / "code"
    code.mkdir()
    write_net(code, name="data_net")
    (code / "changing_data.py").write_text(DATA.format(threshold=0.0))
    monkeypatch.syspath_prepend(str(code))
    out = tmp_path / "study"
    compare(["sgd"], out=out, **{**PLAN, "model": "data_net:build", "dataset": "changing_data:load"})
    before = trials(out)

    (code / "changing_data.py").write_text(DATA.format(threshold=0.5))  # other labels, the same shapes
    refused = resume(out, "--seeds", "2")
    assert refused.returncode == 2 and refused.stdout == "", refused.stderr
    *read, line = refused.stderr.strip().splitlines()  # the data line of what it read, then the error
    assert [r for r in read if not r.startswith("data: changing_data:load")] == []
    assert "method 'sgd'" in line and "changing_data:load" in line and "sha256" in line
    assert [(r.key, r.metrics) for r in trials(out)] == [(r.key, r.metrics) for r in before]

    # restored (the same data resumes): the second seed runs
    (code / "changing_data.py").write_text(DATA.format(threshold=0.0))
    assert resume(out, "--seeds", "2").returncode == 0
    assert len([r for r in trials(out) if r.finished]) == len(before) + 1


def write_rows(table: Path, flipped: int) -> None:
    """90 rows of 3 features and a label (the first feature's sign), the first ``flipped`` labels flipped."""
    rows = torch.randn(90, 3, generator=torch.Generator().manual_seed(0))
    labels = (rows[:, 0] > 0).long()
    labels[:flipped] = 1 - labels[:flipped]
    lines = [f"{a:.5f},{b:.5f},{c:.5f},{int(y)}" for (a, b, c), y in zip(rows.tolist(), labels)]
    table.write_text("a,b,c,label\n" + "\n".join(lines) + "\n")


def test_a_study_whose_csv_file_was_edited_is_refused_on_resume(tmp_path, resume):
    table = tmp_path / "rows.csv"
    write_rows(table, 0)
    out = tmp_path / "study"
    compare(["sgd"], out=out, **{**PLAN, "model": "mlp", "dataset": str(table)})
    write_rows(table, 5)  # five labels corrected in the file
    refused = resume(out, "--seeds", "2")
    assert refused.returncode == 2, refused.stderr
    assert "rows.csv" in refused.stderr and "sha256" in refused.stderr


def test_a_study_stopped_before_any_trial_finished_keeps_the_data_its_trials_train_on(tmp_path, resume):
    """Stored (killed before a trial finished), its CSV edited, then resumed: the trials trained on the
    edited file, but the study kept the sha256 of the first, and the next resume, on the very data every
    trial trained on, was refused ('reads its data as other values'). A method without a finished trial
    records the data it resumes on."""
    from optimlab.study.compare import plan_comparison
    from optimlab.study.run import open_studies
    from optimlab.study.storage import claims_held

    table, out = tmp_path / "rows.csv", tmp_path / "study"
    write_rows(table, 0)
    with claims_held():  # as a comparison holds them: withdrawn as it stops (else this live process runs it)
        for spec in plan_comparison(["sgd"], **{**PLAN, "model": "mlp", "dataset": str(table)}):
            open_studies(spec, str(out))  # stored, no trial run
    write_rows(table, 5)
    first = resume(out, "--seeds", "1")
    assert first.returncode == 0, first.stderr
    again = resume(out, "--seeds", "2")  # the same file every finished trial read
    assert again.returncode == 0, again.stderr
    write_rows(table, 0)
    refused = resume(out, "--seeds", "3")
    assert refused.returncode == 2 and "rows.csv" in refused.stderr and "sha256" in refused.stderr


def test_a_study_whose_data_or_model_no_longer_build_is_refused_on_resume_not_run(
    tmp_path, monkeypatch, resume
):
    """Resumed while its CSV file was moved away, a study ran its new seed reruns, each failing on the
    missing file, and ended with exit 0 and 'failed trials 2' on its leaderboard; the file put back, the
    failed seeds were never run again. So too for a model whose code raises. The resume is refused in one
    line naming the method and why, and nothing is run."""
    code = tmp_path / "code"
    code.mkdir()
    write_net(code, name="raising_net")
    monkeypatch.syspath_prepend(str(code))
    table, out = tmp_path / "rows.csv", tmp_path / "study"
    write_rows(table, 0)
    compare(["sgd"], out=out, **{**PLAN, "model": "raising_net:build", "dataset": str(table)})
    before = [(r.key, r.state) for r in trials(out)]

    table.rename(tmp_path / "moved.csv")
    refused = resume(out, "--seeds", "2")
    assert refused.returncode == 2 and refused.stdout == "", refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "cannot resume study" in line and "method 'sgd'" in line and "there is none at" in line, line
    (tmp_path / "moved.csv").rename(table)

    (code / "raising_net.py").write_text(
        "def build(input_shape, num_outputs):\n    raise ValueError('no GPU')\n"
    )
    refused = resume(out, "--seeds", "2")
    assert refused.returncode == 2, refused.stderr
    *read, line = refused.stderr.strip().splitlines()  # the data line of what it read, then the error
    assert [r for r in read if not r.startswith("data: ")] == []
    assert "method 'sgd' cannot build its model 'raising_net:build'" in line and "no GPU" in line, line
    assert [(r.key, r.state) for r in trials(out)] == before  # no trial run, none failed

    write_net(code, name="raising_net")  # restored: the second seed runs
    assert resume(out, "--seeds", "2").returncode == 0
    assert [r.state for r in trials(out)] == ["complete"] * (len(before) + 1)


def test_a_resume_checks_data_and_models_on_one_build_of_each_methods_data(tmp_path, monkeypatch):
    """Resuming a study built each method's data twice before any trial: once to check the data's sha256
    against its trials' (check_same_data), again to rebuild the model they trained (check_same_models):
    a data factory that reads a large file, or a database, ran twice. Truth: the calls the user's own
    factory sees, two methods of one data; both checks still refuse what changed (tests above)."""
    code = tmp_path / "code"
    code.mkdir()
    write_net(code, name="counted_net")
    (code / "counted_data.py").write_text("CALLS = []\n" + DATA.format(threshold=0.0).replace(
        "def load(seed=0):\n", "def load(seed=0):\n    CALLS.append(seed)\n"))  # fmt: skip
    monkeypatch.syspath_prepend(str(code))
    import counted_data

    from optimlab.study.run import open_studies

    out = tmp_path / "study"
    compare(
        ["sgd", "adam"], out=out, **{**PLAN, "model": "counted_net:build", "dataset": "counted_data:load"}
    )
    (spec,) = load_specs(str(out))
    counted_data.CALLS.clear()
    open_studies(spec, str(out), resume=True)
    assert len(counted_data.CALLS) == 1


FORWARD_NET = """
import math
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.hidden, self.out = nn.Linear(math.prod(input_shape), 8), nn.Linear(8, num_outputs)

    def forward(self, x):
        return self.out(torch.{activation}(self.hidden(x.flatten(1))))
"""


def test_a_study_whose_models_forward_changed_is_refused_on_resume_naming_its_file(
    tmp_path, monkeypatch, resume
):
    """A model's structure is its modules and tensors (test above), so an activation called in forward
    (torch.tanh to torch.relu), the usual way in a user's own nn.Module, changed nothing it records: the
    study resumed and ranked trials of two models as one. Each trial records the sha256 of its model's
    file's syntax tree: a comment or a reformat (black's) keeps it, so the study resumes (byte sha256
    refused those for good), a changed expression does not. Truth: ast.parse's tree of each file, and the
    results kept as they were."""
    code = tmp_path / "code"
    code.mkdir()
    net = code / "forward_net.py"
    net.write_text(FORWARD_NET.format(activation="tanh"))
    monkeypatch.syspath_prepend(str(code))
    out = tmp_path / "study"
    compare(["sgd"], out=out, **{**PLAN, "model": "forward_net:Net"})
    before = [(r.key, r.metrics) for r in trials(out)]
    assert all("source_sha256" in t.user_attrs["model"] for t in _frozen(out))

    trained = FORWARD_NET.format(activation="tanh")
    for changed in (
        FORWARD_NET.format(activation="relu"),
        trained.replace("x.flatten(1)", "(x - 1).flatten(1)"),
    ):
        net.write_text(changed)  # an activation; an expression, x to x - 1
        refused = resume(out, "--seeds", "2")
        assert refused.returncode == 2 and refused.stdout == "", refused.stderr
        (line,) = refused.stderr.strip().splitlines()
        assert "method 'sgd'" in line and "forward_net:Net" in line and str(net) in line, line
        assert "restore the file, or run it as a new study" in line, line
        assert [(r.key, r.metrics) for r in trials(out)] == before

    reformatted = "# the user's net, commented\n" + FORWARD_NET.format(activation="tanh").replace(
        "(self, x):", "(self, x):  # x: (batch, *input_shape)\n\n"
    ).replace("nn.Linear(8, num_outputs)", "nn.Linear(\n            8,\n            num_outputs,\n        )")
    assert _dumped(reformatted) == _dumped(FORWARD_NET.format(activation="tanh"))
    net.write_text(reformatted)  # its tree unchanged: the study takes its second seed
    assert resume(out, "--seeds", "2").returncode == 0
    assert len([r for r in trials(out) if r.finished]) == len(before) + 1


SCRIPT = """
import sys

import torch
from torch import nn

import optimlab


class Net(nn.Module):
    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.hidden, self.out = nn.Linear(4, 8), nn.Linear(8, num_outputs)

    def forward(self, x):
        return self.out(torch.{activation}(self.hidden(x)))


x = torch.randn(60, 4, generator=torch.Generator().manual_seed(0))
optimlab.compare(
    ["sgd"], model=Net, data=(x, (x[:, 0] > 0).long()), out=sys.argv[1], budget=2, seeds=int(sys.argv[2]),
    epochs=1, resume=sys.argv[2] != "1",
)
"""


# `python SCRIPT ARGS` in a process forked from `forked`'s parent: the script's folder first on sys.path,
# the script run as __main__ from its file (runpy.run_path, as the interpreter runs a script).
AS_SCRIPT = """
import os, runpy, sys
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(sys.argv[0])
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_script_whose_models_forward_changed_is_refused_on_resume(tmp_path, forked):
    """optimlab.compare(model=Net, resume=True) from a script run as __main__ names Net '<net>', which no
    import path reaches: the check of its file was skipped, though inspect.getsourcefile(Net) finds the
    script. Truth: the script's own file, its forward's activation changed."""
    script, out, output = tmp_path / "train_net.py", tmp_path / "study", tmp_path / "script-output"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SOURCE}
    output.mkdir()

    def run(activation: str, seeds: int) -> subprocess.CompletedProcess:
        script.write_text(SCRIPT.format(activation=activation))
        args = [str(script), str(out), str(seeds)]
        code, stdout, stderr = forked.run(args, tmp_path, env, output, timeout=300, source=AS_SCRIPT)
        return subprocess.CompletedProcess(args, code, stdout, stderr)

    assert run("tanh", 1).returncode == 0
    refused = run("relu", 2)
    assert refused.returncode == 1 and "'<net>', is defined in" in refused.stderr, refused.stderr
    assert str(script) in refused.stderr and "restore the file" in refused.stderr
    assert run("tanh", 2).returncode == 0, run("tanh", 2).stderr


def _dumped(source: str) -> str:
    """``ast.dump`` of ``source``'s tree without the fields left None or empty (3.13's ``ast.dump``)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for name, value in list(ast.iter_fields(node)):
            if value is None or value == []:
                delattr(node, name)
    return ast.dump(tree)


def test_a_model_files_digest_is_the_same_on_python_versions_whose_trees_add_empty_fields(monkeypatch):
    """Python 3.12 gave every function and class an empty ``type_params`` where none is written, and
    3.13's ``ast.dump`` leaves fields None or empty out, so a digest of ``ast.dump`` refused, on a
    newer Python, the resume of a study whose model file never changed. Truth: the tree of 3.11 with
    3.12's empty field added (``_fields`` as 3.12 declares them) gives the same digest, and the text
    digested is ``ast.dump`` of the tree less its empty fields."""
    source = FORWARD_NET.format(activation="tanh")
    before = syntax_text(ast.parse(source))
    assert before == _dumped(source)
    for kind in (ast.FunctionDef, ast.ClassDef):
        if "type_params" not in kind._fields:
            monkeypatch.setattr(kind, "_fields", (*kind._fields, "type_params"))
            monkeypatch.setattr(kind, "type_params", [], raising=False)
    assert syntax_text(ast.parse(source)) == before


def _documented(net: str, words: str) -> str:
    """``net`` with a docstring of ``words`` on its module, its class and its forward."""
    return f'"""{words}"""\n' + net.replace(
        "class Net(nn.Module):\n", f'class Net(nn.Module):\n    """{words}"""\n\n'
    ).replace("def forward(self, x):\n", f'def forward(self, x):\n        """{words}"""\n')


def test_a_study_whose_models_docstrings_were_edited_resumes(tmp_path, monkeypatch, resume):
    """Docstrings are in the syntax tree, so a typo fixed in the model class's docstring refused the resume
    as a changed model. They are left out of the digest as comments are; code beside them still counts.
    Truth: the study resumes and takes its second seed; the same file with relu in forward is refused."""
    code = tmp_path / "code"
    code.mkdir()
    net = code / "documented_net.py"
    net.write_text(_documented(FORWARD_NET.format(activation="tanh"), "A two-layr net."))
    monkeypatch.syspath_prepend(str(code))
    out = tmp_path / "study"
    compare(["sgd"], out=out, **{**PLAN, "model": "documented_net:Net"})
    before = len([r for r in trials(out) if r.finished])

    net.write_text(_documented(FORWARD_NET.format(activation="relu"), "A two-layer net."))
    refused = resume(out, "--seeds", "2")
    assert refused.returncode == 2 and "docstrings and formatting aside" in refused.stderr, refused.stderr
    net.write_text(_documented(FORWARD_NET.format(activation="tanh"), "A two-layer net."))  # the typo fixed
    done = resume(out, "--seeds", "2")
    assert done.returncode == 0, done.stderr
    assert len([r for r in trials(out) if r.finished]) == before + 1


def test_a_model_file_is_read_once_per_edit_not_once_per_trial(tmp_path, monkeypatch):
    """Every trial (each member of a batched trial too) read and parsed its model's file again. Its digest
    is kept while the file's modification time and size stay; an edited file is read again. Truth: the
    number of ast.parse calls, and the digest of the edited file's own tree."""
    import hashlib

    from optimlab.recipe import Recipe
    from optimlab.study.trial import model_source

    net = tmp_path / "cached_net.py"
    net.write_text(FORWARD_NET.format(activation="tanh"))
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = Recipe.from_dict({"model": {"name": "cached_net:Net"}, "data": {"name": "iris"}})
    parse, parsed = ast.parse, []
    monkeypatch.setattr(ast, "parse", lambda source, *a, **k: parsed.append(source) or parse(source, *a, **k))
    first = model_source(recipe)
    assert [model_source(recipe) for _ in range(3)] == [first] * 3 and len(parsed) == 1
    edited = FORWARD_NET.format(activation="sigmoid")
    net.write_text(edited)
    digest = hashlib.sha256(syntax_text(parse(edited)).encode()).hexdigest()
    assert model_source(recipe) == (str(net), digest) != first and len(parsed) == 2
