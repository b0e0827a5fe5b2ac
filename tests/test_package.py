"""The package's own namespace: the Python API's verbs by their short names and its subpackages, loaded on first use."""

import subprocess
import sys

import pytest

import optimlab


def test_the_verbs_are_their_homes_functions():
    """optimlab.fit did not exist (only optimlab.train.fit) beside optimlab.diagnose and optimlab.compare."""
    from optimlab.doctor import diagnose, find_lr
    from optimlab.study.user_compare import compare
    from optimlab.train import fit

    assert (optimlab.fit, optimlab.find_lr, optimlab.diagnose, optimlab.compare) == (
        fit,
        find_lr,
        diagnose,
        compare,
    )
    assert {"fit", "find_lr", "diagnose", "compare"} <= set(optimlab.__all__)
    with pytest.raises(AttributeError, match="module 'optimlab' has no attribute 'fitt'"):
        optimlab.fitt  # noqa: B018


def test_importing_the_package_loads_no_torch_until_a_verb_is_used():
    code = "import sys, optimlab; print('torch' in sys.modules); optimlab.fit; print('torch' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False", "True"]


SUBPACKAGES = ["optim", "schedules", "models", "techniques", "data", "doctor", "study", "train", "report"]


def test_the_subpackages_are_attributes_loaded_on_first_use():
    """``import optimlab; optimlab.optim.create(...)`` raised AttributeError (only the four verbs were
    attributes): each subpackage is the module ``import optimlab.<name>`` gives, imported only when
    reached; ``optimlab.__main__`` (the command line) and unknown names stay AttributeErrors."""
    code = (
        "import importlib, sys, optimlab\n"
        f"names = {SUBPACKAGES!r}\n"
        "print(any(f'optimlab.{n}' in sys.modules for n in names))\n"
        "print(all(getattr(optimlab, n) is importlib.import_module(f'optimlab.{n}') for n in names))\n"
        "import torch\n"
        "print(type(optimlab.optim.create('adamw', torch.nn.Linear(2, 2).parameters(), lr=1e-3)).__name__)\n"
        "for missing in ('__main__', 'nope', 'optim.create'):\n"
        "    try:\n"
        "        getattr(optimlab, missing)\n"
        "    except AttributeError as error:\n"
        "        print(error)\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    created = subprocess.run(
        [sys.executable, "-c", "import torch\nfrom optimlab.optim import create\n"
         "print(type(create('adamw', torch.nn.Linear(2, 2).parameters(), lr=1e-3)).__name__)"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert shown.splitlines() == [
        "False",
        "True",
        created.strip(),
        "module 'optimlab' has no attribute '__main__'",
        "module 'optimlab' has no attribute 'nope'",
        "module 'optimlab' has no attribute 'optim.create'",
    ]


def test_python_dash_m_optimlab_is_the_command():
    """``python -m optimlab`` failed ('No module named optimlab.__main__'), where a virtual environment's
    scripts are not on PATH."""
    done = subprocess.run(
        [sys.executable, "-m", "optimlab", "train", "--lr", "-1"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "--lr" in done.stderr and "Traceback" not in done.stderr
    version = subprocess.run([sys.executable, "-m", "optimlab", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"optimlab {optimlab.__version__}"


@pytest.mark.parametrize(
    ("verb", "typo", "meant"),
    [
        ("fit", "total_stpes", "total_steps"),
        ("diagnose", "step", "steps"),
        ("compare", "budgt", "budget"),
        ("lr_range_test", "end_rl", "end_lr"),
        ("find_lr", "check_step", "check_steps"),
        ("find_lr", "strt_lr", "start_lr"),  # a keyword it passes on to the range test
    ],
)
def test_a_mistyped_keyword_of_a_verb_names_the_one_meant(verb, typo, meant):
    """``optimlab.fit(..., total_stpes=3)`` raised Python's bare TypeError ('unexpected keyword
    argument'), no OptimlabError and no close match; the model is untouched (refused before any step)."""
    import torch
    from torch import nn

    model = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    args = {
        "fit": (
            (model, torch.optim.SGD(model.parameters(), lr=1.0), (x, y)),
            {"loss_fn": nn.CrossEntropyLoss()},
        ),
        "diagnose": ((model, (x, y), nn.CrossEntropyLoss()), {"lr_find": False}),
        "compare": ((["sgd"],), {"model": lambda: nn.Linear(3, 2), "data": (x, y)}),
        "lr_range_test": ((model, nn.CrossEntropyLoss(), x, y), {}),
        "find_lr": ((model, nn.CrossEntropyLoss(), x, y), {}),
    }
    positional, keywords = args[verb]
    import optimlab.doctor

    function = getattr(optimlab.doctor if verb in ("lr_range_test", "find_lr") else optimlab, verb)
    with pytest.raises(optimlab.UnknownNameError, match=f"unknown {verb}\\(\\) argument '{typo}'") as raised:
        function(*positional, **keywords, **{typo: 3})
    assert raised.value.suggestions[0] == meant
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "interrupting",
    [
        # a real SIGINT, sent by the process to itself as the command's modules import (typer's first)
        "class Interrupting:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.meta_path.insert(0, Interrupting())\n",
        # ... and as the command reads every verb's options, before running one
        "import typer.main\n"
        "read = typer.main.get_command\n"
        "typer.main.get_command = lambda app: (os.kill(os.getpid(), signal.SIGINT), read(app))[1]\n",
    ],
    ids=["importing", "reading-verbs"],
)
def test_ctrl_c_as_the_command_starts_ends_it_as_a_later_one_does(interrupting, tmp_path):
    """Ctrl-C in the first ~0.3 s of `optimlab train` printed a KeyboardInterrupt traceback (from the
    imports of the console script, before main handled it, then from typer's reading of the verbs);
    later it says 'interrupted', exit code 130. Truth: the installed console script's entry point, run
    as pip's script runs it, in a fresh process that receives a real SIGINT."""
    import importlib.metadata

    (entry,) = importlib.metadata.entry_points(group="console_scripts", name="optimlab")
    module, _, name = entry.value.partition(":")
    code = f"import os, signal, sys\n{interrupting}from {module} import {name}\nsys.exit({name}())\n"
    done = subprocess.run(
        [sys.executable, "-c", code, "train", "--dataset", "iris", "--epochs", "1", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # where runs/ would be, had the run gone on
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "interrupted\n", "")
