"""The user's code by import path: a model, a data set, a loss and an optimizer named ``pkg.mod:attr`` in a
recipe are imported, checked, and trained like built-ins; the recipe keeps the path."""

import dataclasses
import json
import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from optimlab.build import build
from optimlab.data import load
from optimlab.data.user_factory import as_data
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.recipe import OWN_DEFAULT, Recipe, RecipeError
from optimlab.registry import get_registry
from optimlab.train import train
from optimlab.user_code import defined_at, is_import_path

NETS = '''
import torch
from torch import nn

def build(input_shape, num_outputs, width=8):
    """A one-hidden-layer MLP."""
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], width), nn.ReLU(), nn.Linear(width, num_outputs))

def Linear(width=3):
    return nn.Linear(4, 2)

class Halved(nn.Module):
    """Half the mean squared error."""
    def forward(self, outputs, targets):
        return 0.5 * ((outputs.squeeze(-1) - targets.squeeze(-1)) ** 2).mean()

def double(input_shape, num_outputs):
    return build(input_shape, num_outputs).double()

class Embedded(nn.Module):
    """Token ids (N, 5) embedded, then a linear layer: nn.Embedding takes int64 only."""
    def __init__(self, num_outputs):
        super().__init__()
        self.embed, self.out = nn.Embedding(12, 8), nn.Linear(40, num_outputs)
    def forward(self, ids):
        return self.out(self.embed(ids).flatten(1))

def sized(in_features, num_classes):
    return nn.Linear(in_features, num_classes)

def not_a_model():
    return "a model"

def validated(n_layer=1):
    """A config that checks its fields, as transformers' do: the reason on the second line."""
    raise TypeError(f"Validation error for field 'n_layer':\\n    Field 'n_layer' expected int, got {n_layer!r}")

class WithAuxiliary(nn.Module):
    """Class scores and an auxiliary loss, as a tuple."""
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(4, 2)
    def forward(self, x):
        scores = self.out(x)
        return scores, scores.pow(2).mean()

class PlusAuxiliary(nn.Module):
    def forward(self, outputs, targets):
        scores, auxiliary = outputs
        return nn.functional.cross_entropy(scores, targets) + auxiliary

NUMBER = 3
'''

DATA = """
import torch
from torch.utils.data import DataLoader, TensorDataset

def _xy(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] > 0).long()

def tensors(n=50, seed=0):
    return _xy(n, seed)

def loader(n=40):
    return DataLoader(TensorDataset(*_xy(n, 1)), batch_size=16)

def fixed():
    return _xy(30, 2), TensorDataset(*_xy(10, 3)), DataLoader(TensorDataset(*_xy(10, 4)), batch_size=4)

def regression():
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(5))
    return x, x.sum(1, keepdim=True)

def tokens(n=200, largest=11):
    g = torch.Generator().manual_seed(6)
    ids = torch.randint(0, 12, (n, 5), generator=g)
    ids[0, 0] = largest
    return ids, ids[:, 0] % 2

def text():
    return "rows"
"""


@pytest.fixture(scope="module")
def user_package(write_modules):
    return write_modules(optimlab_test_nets=NETS, optimlab_test_data=DATA)


def test_import_paths_are_told_from_names_and_files():
    assert is_import_path("pkg.mod:build") and is_import_path("mod:Obj.attr")
    assert not any(map(is_import_path, ["mlp", "C:/data.csv", "C:\\x.npy", ":f", "m:", "a.csv"]))


def test_a_recipe_trains_the_users_model_on_the_users_data(user_package):
    recipe = Recipe.from_dict(
        {
            "data": {"name": "optimlab_test_data:tensors", "options": {"n": 60}},
            "model": {"name": "optimlab_test_nets:build", "options": {"width": 5}},
            "training": {"epochs": 1, "batch_size": 8},
        }
    )
    built = build(recipe)
    hidden = built.model.net[1]
    assert (hidden.in_features, hidden.out_features, built.model.net[3].out_features) == (4, 5, 2)
    assert len(built.splits.train) + len(built.splits.val) + len(built.splits.test) == 60
    # The id hashes the path as written, so it is stable and differs from another factory's.
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe and again.id == recipe.id
    assert "optimlab_test_nets:build" in recipe.to_yaml() and "optimlab_test_data:tensors" in recipe.to_yaml()
    other = recipe.with_updates({"data.name": "optimlab_test_data:loader", "data.options": {}})
    assert other.id != recipe.id
    result = train(recipe)
    assert result.status == "completed" and result.recipe_id == recipe.id and result.steps == 5


@pytest.mark.parametrize("task", ["tensors", "regression"])
def test_a_model_in_double_precision_trains_on_the_float32_data(user_package, task):
    """A .double() model failed on the first batch (mat1 and mat2 must have the same dtype): its inputs
    are cast as a hand loop would, model(x.double()), and its own precision is kept."""
    recipe = Recipe.from_dict(
        {
            "data": {"name": f"optimlab_test_data:{task}"},
            "model": {"name": "optimlab_test_nets:double"},
            "training": {"epochs": 2, "batch_size": 8},
        }
    )
    built = build(recipe)
    x = built.splits.val.x
    assert x.dtype == torch.float32 and {p.dtype for p in built.model.parameters()} == {torch.float64}
    assert torch.equal(built.model(x), built.model.net(built.model.scaling(x).double()))
    loss_fn = torch.nn.functional.cross_entropy if task == "tensors" else torch.nn.functional.mse_loss
    untrained = loss_fn(built.model(x), built.splits.val.y).item()
    result = train(recipe.with_updates({"training.epochs": 30, "optimizer.lr": 0.01}))
    assert result.status == "completed" and result.metrics["val_loss"] < untrained


def test_token_ids_reach_the_users_embedding_as_int64(user_package):
    """A model with an nn.Embedding failed on the first batch ("Expected tensor for argument #1
    'indices' to have one of the following scalar types: Long, Int; but got torch.FloatTensor"): the
    ids, stored as float32 like every input, reach it as the int64 its embedding takes."""
    recipe = Recipe.from_dict(
        {
            "data": {"name": "optimlab_test_data:tokens"},
            "model": {"name": "optimlab_test_nets:Embedded"},
            "training": {"epochs": 2, "batch_size": 16},
        }
    )
    built = build(recipe)
    x, y = built.splits.val.x, built.splits.val.y
    assert x.dtype == torch.float32 and torch.equal(built.model(x), built.model.net(x.long()))
    assert (built.model(x).argmax(1) == y).float().mean() < 0.8
    result = train(recipe.with_updates({"training.epochs": 20, "optimizer.lr": 0.01}))
    assert result.status == "completed" and result.metrics["val_accuracy"] == 1.0  # the first id's parity
    with pytest.raises(OptimlabError, match="invalid value 'standardize' for data.scaling: accepted 'none'"):
        build(recipe.with_updates({"data.scaling": "standardize"}))
    # Ids past 2^24 cannot be float32 exactly: refused, not merged with their neighbours.
    huge = recipe.with_updates({"data.options": {"largest": 2**24 + 1}})
    with pytest.raises(OptimlabError, match="integers up to 16,777,217"):
        build(huge)


def test_model_options_are_checked_against_the_factorys_keywords(user_package):
    entry = get_registry("model").get("optimlab_test_nets:build")
    assert entry.hyperparameter_names == ("width",) and "user" in entry.capabilities
    with pytest.raises(RecipeError, match="widht"):
        Recipe.from_dict({"model": {"name": "optimlab_test_nets:build", "options": {"widht": 3}}})


def test_the_path_keeps_its_case(user_package):
    assert get_registry("model").resolve("optimlab_test_nets:Linear") == "optimlab_test_nets:Linear"


def test_data_in_each_shape_a_factory_returns(user_package):
    from_loader = load("optimlab_test_data:loader", seed=0)
    assert len(from_loader.train) + len(from_loader.val) + len(from_loader.test) == 40
    fixed = load("optimlab_test_data:fixed")
    assert (len(fixed.train), len(fixed.val), len(fixed.test)) == (30, 10, 10)
    expected = torch.cat([torch.randn(10, 4, generator=torch.Generator().manual_seed(4))])
    assert torch.equal(fixed.test.x, expected) and fixed.num_classes == 2
    regression = load("optimlab_test_data:regression", val_fraction=0.25, test_fraction=0.25)
    assert regression.task == "regression" and len(regression.train) == 20
    pair = as_data(DataLoader(TensorDataset(torch.ones(5, 2), torch.arange(5) % 2), batch_size=2), "x")
    assert pair.examples.x.shape == (5, 2)


def test_a_users_loss_is_the_runs_loss(user_package):
    recipe = Recipe.from_dict(
        {
            "data": {"name": "optimlab_test_data:regression"},
            "model": {"name": "optimlab_test_nets:build"},
            "training": {"loss": "optimlab_test_nets:Halved", "epochs": 1},
        }
    )
    built = build(recipe)
    outputs, targets = torch.zeros(3, 1), torch.full((3, 1), 2.0)
    assert built.loss_fn(outputs, targets).item() == pytest.approx(2.0)


def test_a_loss_function_is_the_runs_loss_with_loss_options_as_its_keywords(user_package):
    """torch.nn.functional:cross_entropy was refused: 'input, target' for the parameters of loss, accepted
    parameters with a default. A function of (outputs, targets) is the loss itself, its other keywords
    the loss options, checked by name like a factory's."""
    options = {"label_smoothing": 0.1, "ignore_index": 1}
    recipe = Recipe.from_dict(
        {
            "data": {"name": "optimlab_test_data:tensors"},
            "model": {"name": "optimlab_test_nets:build"},
            "training": {"loss": "torch.nn.functional:cross_entropy", "loss_options": options, "epochs": 1},
        }
    )
    built = build(recipe)
    outputs, targets = torch.randn(6, 2, generator=torch.Generator().manual_seed(0)), torch.arange(6) % 2
    expected = torch.nn.functional.cross_entropy(outputs, targets, **options)
    assert built.loss_fn(outputs, targets).item() == pytest.approx(expected.item())
    assert expected.item() != pytest.approx(torch.nn.functional.cross_entropy(outputs, targets).item())
    assert train(recipe).status == "completed"
    with pytest.raises(RecipeError, match="'label_smothing'. Did you mean 'label_smoothing'"):
        recipe.with_updates({"training.loss_options": {"label_smothing": 0.1}})


@pytest.mark.parametrize("loss", [None, "optimlab_test_nets:PlusAuxiliary"])
def test_a_model_of_tensors_returning_a_tuple_is_refused_before_training(user_package, loss):
    """A model returning (scores, aux) with a loss that takes the tuple trained, then died in a traceback
    at its evaluation ('tuple' object has no attribute 'unsqueeze'); under cross-entropy the first
    batch was blamed. (Python's fit and the doctor take such a model with such a loss.)"""
    recipe = Recipe.from_dict({
        "data": {"name": "optimlab_test_data:tensors"},
        "model": {"name": "optimlab_test_nets:WithAuxiliary"},
        "training": {"loss": loss, "epochs": 1},
    })  # fmt: skip
    with pytest.raises(OptimlabError) as refused:
        train(recipe)
    assert str(refused.value).startswith(
        "invalid value 'a tuple of 2 (float32 (2, 2), float32 ())' for the model's output: accepted one "
        "tensor of scores (or outputs with .logits) on (input, target) data"
    )


def test_a_model_sized_by_the_last_of_input_shape_on_flat_images_is_told_how_they_come(write_modules):
    """digits' images reach a user's factory as input_shape (1, 8, 8) and its batches as rows (N, 64)
    (docs/your-own-model.md): a model sized by input_shape[-1] was refused as a bad first batch, 'a
    tuple of 2 (float32 (32, 64), int64 (32,)) for the first batch', where its own size is what is off.
    Now the line names input_shape, the rows and the two ways, with torch's own words (truth: torch's
    refusal of those rows by nn.Linear(8, 10))."""
    write_modules(
        optimlab_test_last_dim="from torch import nn\n\n\ndef build(input_shape, num_outputs):\n"
        "    return nn.Linear(input_shape[-1], num_outputs)\n"
    )
    recipe = Recipe.from_dict({"data": {"name": "digits"}, "model": {"name": "optimlab_test_last_dim:build"}})
    with pytest.raises(InvalidValueError) as refused:
        build(recipe)
    with pytest.raises(RuntimeError) as torchs:
        nn.Linear(8, 10)(torch.zeros(2, 64))
    assert str(refused.value) == (
        "invalid value 'rows of (N, 64)' for the model (model.name) built for input_shape "
        "(1, 8, 8), on the data's rows (data.name): "
        "accepted the images of input_shape as they come, rows of (N, 64): view them first "
        f"(nn.Unflatten(1, input_shape)) or take math.prod(input_shape) features (RuntimeError: {torchs.value})."
    )


def test_the_cli_names_each_flag_of_a_model_sized_by_the_last_of_input_shape_once(write_modules, cli):
    """The line named each flag twice on the command line, '(--model, --model) ... (--dataset, --dataset)':
    build said flag and field, and the CLI turns the field into its flag. It names the field alone."""
    write_modules(
        optimlab_test_last_dim_cli="from torch import nn\n\n\ndef build(input_shape, num_outputs):\n"
        "    return nn.Linear(input_shape[-1], num_outputs)\n"
    )
    code, out, err = cli(
        "train", "--dataset", "digits", "--model", "optimlab_test_last_dim_cli:build", "--steps", "1"
    )
    assert code == 2, (out, err)
    assert "for the model (--model) built for input_shape (1, 8, 8), on the data's rows (--dataset): " in err


def test_a_model_that_views_its_rows_itself_is_not_told_to_view_them(write_modules):
    """A model that already does nn.Unflatten(1, input_shape), wrongly sized after (Linear(99, 10) on 144
    features), was told to unflatten its rows: it fails on them viewed as images too, so build leaves it
    to the first step, which reports torch's own error (truth: torch's refusal of the same sizes)."""
    write_modules(
        optimlab_test_unflattens="from torch import nn\n\n\ndef build(input_shape, num_outputs):\n"
        "    return nn.Sequential(nn.Unflatten(1, input_shape), nn.Conv2d(1, 4, 3), nn.Flatten(), "
        "nn.Linear(99, num_outputs))\n"
    )
    recipe = Recipe.from_dict(
        {"data": {"name": "digits"}, "model": {"name": "optimlab_test_unflattens:build"}}
    )
    model = build(recipe).model  # not refused here
    with pytest.raises(RuntimeError, match=re.escape("(2x144 and 99x10)")):
        model.eval()(torch.zeros(2, 64))


@pytest.mark.parametrize(
    "section, path, message",
    [
        ("model", "optimlab_no_such_module:build", "cannot import 'optimlab_no_such_module'"),
        ("model", "optimlab_test_nets:missing", "has no 'missing'"),
        ("model", "optimlab_test_nets:NUMBER", "invalid value 'int' for model"),
        ("data", "optimlab_test_data:nothing", "has no 'nothing'"),
    ],
)
def test_what_does_not_import_is_refused_at_validation(user_package, section, path, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict({section: {"name": path}})


def test_what_a_factory_returns_is_checked(user_package):
    with pytest.raises(
        OptimlabError, match="invalid value 'a str' for what model 'optimlab_test_nets:not_a_model'"
    ):
        build(Recipe.from_dict({"model": {"name": "optimlab_test_nets:not_a_model"}}))
    with pytest.raises(
        OptimlabError, match="invalid value 'rows' for what dataset 'optimlab_test_data:text'"
    ):
        load("optimlab_test_data:text")


def test_an_error_of_the_users_code_keeps_its_reason_after_a_heading(user_package):
    recipe = Recipe.from_dict(
        {"model": {"name": "optimlab_test_nets:validated", "options": {"n_layer": "two"}}}
    )
    with pytest.raises(OptimlabError) as refused:
        build(recipe)
    assert str(refused.value) == (
        "model 'optimlab_test_nets:validated' raised TypeError: Validation error for field 'n_layer': "
        "Field 'n_layer' expected int, got 'two' (optimlab_test_nets.py, line 36)"
    )


def test_a_parameter_nothing_fills_is_named_with_what_fills_one(user_package):
    """build(in_features, num_classes) failed as "raised TypeError: build() missing 2 required positional
    arguments", without saying that the data gives input_shape and num_outputs by those names."""
    with pytest.raises(RecipeError) as refused:
        Recipe.from_dict({"model": {"name": "optimlab_test_nets:sized"}})
    assert str(refused.value).splitlines()[1].strip() == (
        "model.name: invalid value 'in_features, num_classes' for the parameters of model "
        "'optimlab_test_nets:sized' (optimlab_test_nets.py, line 28): accepted parameters with a default, "
        "which model.options may set, or named input_shape / num_outputs, which the data gives."
    )


def test_categories_without_an_importer_refuse_paths():
    with pytest.raises(OptimlabError, match="takes no import paths"):
        get_registry("activation").get("collections:OrderedDict")


def test_examples_in_the_docstrings_run():
    import doctest

    import optimlab.user_code

    assert doctest.testmod(optimlab.user_code).failed == 0


def test_a_misspelt_name_is_offered_its_close_names_and_else_the_modules_own(user_package):
    """A wrong name listed every public name of the module, those it imported (torch, nn) first; a close
    name is offered, and else the module's own names, not its imports."""
    with pytest.raises(
        RecipeError, match=r"has no 'buld' for model 'optimlab_test_nets:buld' \(did you mean 'build'\?\)"
    ):
        Recipe.from_dict({"model": {"name": "optimlab_test_nets:buld"}})
    with pytest.raises(RecipeError) as listed:
        Recipe.from_dict({"model": {"name": "optimlab_test_nets:zzzz"}})
    offered = str(listed.value).split("(it has: ")[1]
    assert "build" in offered and "torch" not in offered.split(", ") and "nn" not in offered.split(", ")


@pytest.mark.parametrize(
    ("source", "path", "said"),
    [
        (
            "import optimlab_absent_dependency\n",
            "uc_imports_absent:build",
            "ModuleNotFoundError: No module named 'optimlab_absent_dependency' (uc_imports_absent.py, line 1)",
        ),
        (
            "import uc_prefix\n",  # a dependency whose name begins the module's own: told as not found
            "uc_prefix_nets:build",
            "ModuleNotFoundError: No module named 'uc_prefix' (uc_prefix_nets.py, line 1)",
        ),
        (
            "x = 1\nraise ValueError('broken at import')\n",
            "uc_raises:build",
            "ValueError: broken at import (uc_raises.py, line 2)",
        ),
        (
            "def build(input_shape, num_outputs): ...\n",
            "uc_file.py:build",
            "names a module, not its file: uc_file:build",
        ),
        (
            "x = 1\ndef build(input_shape, num_outputs):\n    return = 3\n",
            "uc_syntax:build",
            "SyntaxError: invalid syntax (uc_syntax.py, line 3)",
        ),
        (
            "import json\n\nsettings = json.loads('{')\n",
            "uc_reads_json:build",
            "JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1) "
            "(uc_reads_json.py, line 3)",
        ),
    ],
    ids=[
        "a missing dependency",
        "a missing dependency named as the module's start",
        "raises",
        "a file's name",
        "a syntax error",
        "raised in the standard library",
    ],
)
def test_a_module_found_but_not_imported_says_why_and_where_not_to_look_on_the_path(
    tmp_path, monkeypatch, source, path, said
):
    """A module found on the path that raised at import, or imported a package not installed, was told
    '(is its folder on PYTHONPATH, or the package installed?)': it was found. 'mynets.py:build' said
    "No module named 'mynets.py'". A syntax error was placed twice, the second time in importlib's
    __init__.py, and an error raised in the standard library (json.loads) at json's decoder.py, not at
    the user's line: the line, its file and line number, ends the message once."""
    (tmp_path / (path.split(":")[0].removesuffix(".py") + ".py")).write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RecipeError, match="cannot import") as refused:
        Recipe.from_dict({"model": {"name": path}})
    line = next(line for line in str(refused.value).splitlines() if "cannot import" in line)
    assert line.endswith(said) and "PYTHONPATH" not in str(refused.value)
    with pytest.raises(RecipeError, match=r"is its folder on PYTHONPATH"):  # a module truly not found
        Recipe.from_dict({"model": {"name": "uc_nowhere_at_all:build"}})


def test_the_users_code_in_a_folder_named_optimlab_is_placed(tmp_path, monkeypatch):
    """Every file under a folder named optimlab was taken for optimlab's own: the user's project folder
    ~/optimlab/mynets.py raising at import was said without its line."""
    folder = tmp_path / "optimlab"
    folder.mkdir()
    (folder / "uc_in_optimlab_folder.py").write_text("x = 1\nraise ValueError('broken at import')\n")
    monkeypatch.syspath_prepend(str(folder))
    with pytest.raises(RecipeError, match=r"broken at import \(uc_in_optimlab_folder.py, line 2\)"):
        Recipe.from_dict({"model": {"name": "uc_in_optimlab_folder:build"}})


def test_a_factory_of_positional_only_parameters_gets_the_data_by_position(tmp_path, monkeypatch):
    """build(input_shape, num_outputs, /) was called with them by name: 'raised TypeError: build() got
    some positional-only arguments passed as keyword arguments', placed in optimlab's user_code.py. One
    between them that the data does not fill keeps its default."""
    (tmp_path / "uc_positional.py").write_text(
        "from torch import nn\n\n"
        "def build(input_shape, num_outputs, /, width=8):\n"
        "    return nn.Sequential(nn.Linear(input_shape[0], width), nn.Linear(width, num_outputs))\n\n"
        "def between(input_shape, bias=False, num_outputs=2, /):\n"
        "    return nn.Sequential(nn.Linear(input_shape[0], num_outputs, bias=bias))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = {"data": {"name": "iris"}, "model": {"name": "uc_positional:build", "options": {"width": 5}}}
    model = build(Recipe.from_dict(recipe)).model.net  # iris: 4 features, 3 classes
    assert [tuple(layer.weight.shape) for layer in model] == [(5, 4), (3, 5)]
    recipe["model"] = {"name": "uc_positional:between"}
    (layer,) = build(Recipe.from_dict(recipe)).model.net
    assert tuple(layer.weight.shape) == (3, 4) and layer.bias is None


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("./uc_nets.py:build", "names a module, not its file: uc_nets:build"),
        (
            "my nets/uc_nets.py:build",
            "names a module, not its file: uc_nets:build, run from the folder 'my nets' or with it on PYTHONPATH",
        ),
        (
            "my nets/uc_nets:build",
            "names a module, not its file: uc_nets:build, run from the folder 'my nets' or with it on PYTHONPATH",
        ),
    ],
    ids=["relative", "a folder with a space", "a folder, the file without .py"],
)
def test_a_files_path_where_an_import_path_goes_is_told_the_import_path(
    tmp_path, monkeypatch, cli, given, said
):
    """--model ./nets.py:build (or any path to a .py file) was 'unknown model ... Accepted: cnn, convnet,
    ...', as a misspelt built-in, where 'nets.py:build' was told the import path to write. So was the file's path
    without its .py ('my nets/uc_nets:build'), which names no module either."""
    (tmp_path / "my nets").mkdir()
    (tmp_path / "my nets" / "uc_nets.py").write_text("def build(input_shape, num_outputs): ...\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", "--dataset", "iris", "--model", given, "--epochs", "1", "--no-progress")
    assert (code, out, len(err.strip().splitlines())) == (2, "", 1) and err.strip().endswith(said)
    assert "unknown model" not in err


def test_a_data_factorys_required_parameter_is_refused_when_it_is_looked_up(tmp_path, monkeypatch):
    """A data factory with a parameter nothing fills, needs(path), passed its lookup and failed only when
    called, 'dataset 'uc_needs:needs' raised TypeError: needs() missing 1 required positional argument:
    'path'', where a model factory's is refused at its lookup. seed, which optimlab gives, is filled."""
    (tmp_path / "uc_needs.py").write_text("def needs(path):\n    return path\n\ndef seeded(seed):\n    ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(OptimlabError) as refused:
        get_registry("dataset").get("uc_needs:needs")
    assert str(refused.value) == (
        "invalid value 'path' for the parameters of dataset 'uc_needs:needs' (uc_needs.py, line 1): accepted "
        "parameters with a default, which data.options may set."
    )
    assert get_registry("dataset").get("uc_needs:seeded").name == "uc_needs:seeded"


def test_a_file_in_the_current_folder_hidden_by_an_installed_module_of_its_name_is_said(
    tmp_path, monkeypatch
):
    """./code.py:build imported the standard library's code module and listed its names, '(it has:
    InteractiveConsole, ...)', the user's own file, with its build, never named."""
    import code

    (tmp_path / "code.py").write_text("def build(input_shape, num_outputs): ...\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError) as refused:
        Recipe.from_dict({"model": {"name": "code:build"}})
    assert str(refused.value).endswith(
        f"'code' has no 'build' for model 'code:build': 'code' imported {code.__file__}, which hides code.py in "
        "the current folder (searched after the installed modules): rename yours"
    )


def test_a_factory_or_module_that_calls_sys_exit_is_said_in_one_line(tmp_path, monkeypatch, cli):
    """sys.exit(3) in the user's factory ended `optimlab train` and `compare` with exit code 3 and not a
    word (SystemExit passes `except Exception`)."""
    (tmp_path / "uc_exits.py").write_text(
        "import sys\n\ndef build(input_shape, num_outputs):\n    sys.exit(3)\n"
    )
    (tmp_path / "uc_exits_at_import.py").write_text("import sys\nsys.exit('bye')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = cli(
        "train", "--dataset", "iris", "--model", "uc_exits:build", "--epochs", "1", "--no-progress"
    )
    assert (code, out) == (
        2,
        "",
    ) and err.strip() == "error: model 'uc_exits:build' called sys.exit(3) (uc_exits.py, line 4)"
    with pytest.raises(RecipeError, match=r"it called sys.exit\('bye'\) \(uc_exits_at_import.py, line 2\)"):
        Recipe.from_dict({"model": {"name": "uc_exits_at_import:build"}})


def test_what_a_factory_returned_is_named_with_its_article(tmp_path, monkeypatch):
    """'invalid value 'a int' for what model ... returned'; None was 'a NoneType'."""
    from optimlab.errors import a_type

    w = [torch.zeros(1, requires_grad=True)]
    assert [a_type(v) for v in (3, "s", [], object(), torch.optim.Adam(w), torch.nn.LSTM(1, 1), torch.optim.SGD(w))] == [
        "an int", "a str", "a list", "an object", "an Adam", "an LSTM", "an SGD",
    ]  # fmt: skip
    assert [a_type(v) for v in (torch.nn.GRU(1, 1), torch.nn.ReLU(), torch.nn.Embedding(1, 1))] == [
        "a GRU", "a ReLU", "an Embedding",
    ]  # fmt: skip
    (tmp_path / "uc_returns_int.py").write_text(
        "from torch import nn\n\ndef build(input_shape, num_outputs):\n    return 3\n\n"
        "def forgot(input_shape, num_outputs):\n    nn.Linear(4, num_outputs)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(OptimlabError, match="invalid value 'an int' for what model 'uc_returns_int:build'"):
        build(Recipe.from_dict({"model": {"name": "uc_returns_int:build"}}))
    # a factory without its return: 'a NoneType'
    with pytest.raises(OptimlabError, match="invalid value 'None' for what model 'uc_returns_int:forgot'"):
        build(Recipe.from_dict({"model": {"name": "uc_returns_int:forgot"}}))


@pytest.mark.parametrize("category", ["model", "dataset", "loss"])
def test_a_factory_whose_signature_python_cannot_read_is_refused_in_one_line(tmp_path, monkeypatch, category):
    """A factory that is a partial of a C type (functools.partial(int, base=2)), whose arguments
    inspect.signature cannot read, raised its ValueError as a traceback ('no signature found for builtin
    type <class 'int'>') at the lookup of the model, data set or loss."""
    (tmp_path / "uc_nosig.py").write_text("import functools\n\nmake = functools.partial(int, base=2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(OptimlabError) as refused:
        get_registry(category).get("uc_nosig:make")
    assert str(refused.value) == (
        f"invalid value 'partial (no Python signature)' for {category} 'uc_nosig:make': accepted a Python "
        "function or class whose arguments Python can read (wrap it in a def)."
    )


def test_a_data_factory_taking_its_seed_positional_only_gets_it_by_position(tmp_path, monkeypatch):
    """load(seed, /) was called with seed=...: 'dataset 'uc_pos_seed:load' raised TypeError: load() got
    some positional-only arguments passed as keyword arguments: 'seed'', where a model factory's
    positional-only parameters are passed by position."""
    (tmp_path / "uc_pos_seed.py").write_text(
        "import torch\n\n"
        "def load(seed, /, n=10):\n"
        "    x = torch.full((n, 2), float(seed))\n"
        "    return x, torch.arange(n) % 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    splits = load("uc_pos_seed:load", seed=3, n=20)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 20
    assert bool((splits.train.x == 3.0).all())


@pytest.mark.parametrize("given", ["uc spaced nets:build", "uc-spaced-nets:build", "UC Spaced Nets:build"])
def test_a_path_that_is_no_import_path_is_refused_not_read_as_another_module(
    tmp_path, monkeypatch, cli, given
):
    """--model 'uc spaced nets:build' (not an import path: Python names have no spaces or dashes) was
    normalised as a registered name is, lower case with underscores, into the import path
    'uc_spaced_nets:build', and trained that module, a file the user never named. The truth: Python
    imports no module 'uc spaced nets'; the name is refused in one line as typed, nothing trained."""
    (tmp_path / "uc_spaced_nets.py").write_text(
        "from torch import nn\n\ndef build(input_shape, num_outputs):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], num_outputs))\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("train", "--dataset", "iris", "--model", given, "--steps", "1", "--out", "run")
    assert (code, out, len(err.strip().splitlines())) == (2, "", 1), err
    assert f"unknown model {given!r}" in err and not (tmp_path / "run").exists()
    with pytest.raises(RecipeError, match=f"unknown model {given!r}"):
        Recipe.from_dict({"model": {"name": given}})
    assert get_registry("model").resolve(" uc_spaced_nets:build ") == "uc_spaced_nets:build"


PACKAGED = """from torch import nn

def build(input_shape, num_outputs):
    return [nn.Linear(input_shape[0], num_outputs)]

def sized(in_features, num_classes):
    return nn.Linear(in_features, num_classes)

def needs(path):
    return path

class Weighted(nn.Module):
    def __init__(self, weight):
        super().__init__()
"""


@pytest.mark.parametrize(
    "flag, path, said",
    [
        ("--model", "uc_pkg:build", "invalid value 'a list' for what model 'uc_pkg:build' returned (nets.py, "
                                    "line 3): accepted an nn.Module."),
        ("--model", "uc_pkg:sized", "invalid value 'in_features, num_classes' for the parameters of model "
                                    "'uc_pkg:sized' (nets.py, line 6): accepted parameters with a default"),
        ("--dataset", "uc_pkg:needs", "invalid value 'path' for the parameters of dataset 'uc_pkg:needs' "
                                      "(nets.py, line 9): accepted parameters with a default"),
        ("--set", "training.loss=uc_pkg:Weighted", "invalid value 'weight' for the parameters of loss "
                                                   "'uc_pkg:Weighted' (nets.py, line 12): accepted"),
    ],
    ids=["returns a list", "model parameters", "dataset parameter", "loss parameter"],
)  # fmt: skip
def test_a_factory_refused_is_named_with_the_file_and_line_it_is_defined_at(
    tmp_path, monkeypatch, cli, flag, path, said
):
    """A factory that returns no nn.Module, or has a parameter nothing fills, was named by its import path
    alone: where a package re-exports it (uc_pkg/__init__.py: from .nets import build) the file to mend
    was never said. The truth: the line of the def in the file written here, as Python's inspect finds it."""
    (tmp_path / "uc_pkg").mkdir()
    (tmp_path / "uc_pkg" / "__init__.py").write_text("from .nets import Weighted, build, needs, sized\n")
    (tmp_path / "uc_pkg" / "nets.py").write_text(PACKAGED)
    monkeypatch.chdir(tmp_path)
    given = ["--dataset", "iris", flag, path] if flag != "--dataset" else [flag, path]
    code, out, err = cli("train", *given, "--steps", "1", "--out", "run", "--no-progress")
    assert (code, out, len(err.strip().splitlines())) == (2, "", 1), err
    assert said in err


def test_a_factory_returning_a_class_or_a_function_is_told_which(tmp_path, monkeypatch):
    """A factory returning the class it meant to call (return nn.Linear) or a function in place of its
    result was refused as 'invalid value 'a type'' / 'a function': the value never named. The truth:
    Python's repr of the class, and the function's name."""
    (tmp_path / "uc_uncalled.py").write_text(
        "from torch import nn\n\ndef build(input_shape, num_outputs):\n    return nn.Linear\n\n"
        "def nested(input_shape, num_outputs):\n    def inner():\n        return nn.Linear(4, 2)\n"
        "    return inner\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(OptimlabError) as refused:
        build(Recipe.from_dict({"model": {"name": "uc_uncalled:build"}}))
    assert str(refused.value) == (
        f"invalid value {torch.nn.Linear!r} for what model 'uc_uncalled:build' returned (uc_uncalled.py, "
        "line 3): accepted an nn.Module."
    )
    with pytest.raises(
        OptimlabError, match=r"^invalid value a function nested.<locals>.inner for what model"
    ):
        build(Recipe.from_dict({"model": {"name": "uc_uncalled:nested"}}))


def test_a_factory_returning_a_callable_object_is_named_by_its_type_on_one_line(tmp_path, monkeypatch):
    """A factory returning a callable object (a tokenizer, a transforms pipeline) put its repr, lines of
    it, into the refusal. The truth: one line naming its type."""
    (tmp_path / "uc_callable.py").write_text(
        "class Tok:\n    def __call__(self, text):\n        return text\n\n"
        "    def __repr__(self):\n        return 'Tok(\\n  vocab_size=50257,\\n)'\n\n"
        "def build(input_shape, num_outputs):\n    return Tok()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(OptimlabError) as refused:
        build(Recipe.from_dict({"model": {"name": "uc_callable:build"}}))
    assert str(refused.value) == (
        "invalid value 'a Tok' for what model 'uc_callable:build' returned (uc_callable.py, line 8): "
        "accepted an nn.Module."
    )


def test_a_factory_of_an_installed_package_is_not_sent_to_its_file_and_a_wrapper_loop_is_no_crash():
    """defined_at named torch's own file ('torch.nn:Linear' (linear.py, line 53)) as the one to mend, and
    raised inspect.unwrap's ValueError on a function wrapping itself. The truth: the user cannot mend an
    installed package's file; Python's inspect cannot follow the loop."""
    with pytest.raises(OptimlabError) as refused:
        build(Recipe.from_dict({"model": {"name": "torch.nn:Linear"}}))
    assert "'torch.nn:Linear':" in str(refused.value) and "line" not in str(refused.value)

    def looped():
        return None

    looped.__wrapped__ = looped
    assert defined_at(looped) == ""


OWN_DEFAULTS = '''
import torch
from torch import nn

class Net(nn.Module):
    """Its own defaults: a rate, a registered init by name, a registered activation class, a norm class
    (the registry's norms are functions: no recipe value holds it)."""
    def __init__(self, input_shape, num_outputs, dropout=0.5, init="xavier_normal", activation=nn.Tanh,
                 norm=nn.LayerNorm):
        super().__init__()
        self.init = init
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(input_shape[0], 6), norm(6), activation(), nn.Dropout(dropout),
            nn.Linear(6, num_outputs),
        )
    def forward(self, x):
        return self.body(x)

class Built(nn.Module):
    """Defaults of no class: a function called on tensors, a module built already."""
    def __init__(self, input_shape, num_outputs, activation=torch.tanh, norm=nn.LayerNorm(6)):
        super().__init__()
        self.activation, self.norm = activation, norm
        self.linear = nn.Linear(input_shape[0], 6)
    def forward(self, x):
        return self.activation(self.norm(self.linear(x)))

class Conv(nn.Module):
    """Channels of a 2x2 map normalized by its own nn.BatchNorm2d: a norm of images' layout."""
    def __init__(self, input_shape, num_outputs, norm=nn.BatchNorm2d):
        super().__init__()
        self.conv, self.norm, self.head = nn.Conv2d(1, 3, 1), norm(3), nn.Linear(12, num_outputs)
    def forward(self, x):
        return self.head(self.norm(self.conv(x.reshape(-1, 1, 2, 2))).flatten(1))

class Grouped(nn.Module):
    """nn.GroupNorm, called (num_groups, num_channels): no registered norm is called so."""
    def __init__(self, input_shape, num_outputs, norm=nn.GroupNorm):
        super().__init__()
        self.norm, self.head = norm(2, 4), nn.Linear(4, num_outputs)
    def forward(self, x):
        return self.head(self.norm(x))

class Features(nn.Module):
    """An MLP normalizing (N, C) features by its own nn.BatchNorm1d (or a norm class given)."""
    def __init__(self, input_shape, num_outputs, width=32, norm=nn.BatchNorm1d):
        super().__init__()
        self.linear, self.norm = nn.Linear(input_shape[0], width), norm(width)
        self.head = nn.Linear(width, num_outputs)
    def forward(self, x):
        return self.head(self.norm(self.linear(x)))

class Synced(Features):
    """Features normalized by DDP's nn.SyncBatchNorm, a norm of inputs of any rank."""
    def __init__(self, input_shape, num_outputs, width=32, norm=nn.SyncBatchNorm):
        super().__init__(input_shape, num_outputs, width, norm)

class Recurrent(nn.Module):
    """A GRU over (batch, time, features): it takes no activation, norm, init or dropout."""
    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.gru, self.head = nn.GRU(1, 4, batch_first=True), nn.Linear(4, num_outputs)
    def forward(self, x):
        return self.head(self.gru(x[..., None])[1][-1])

class Optional(nn.Module):
    """None for no dropout layer: no dropout rate holds it."""
    def __init__(self, input_shape, num_outputs, dropout=None):
        super().__init__()
        layers = [nn.Linear(input_shape[0], num_outputs)]
        self.body = nn.Sequential(*(layers if dropout is None else [nn.Dropout(dropout), *layers]))
    def forward(self, x):
        return self.body(x)
'''
NET = "optimlab_test_own_defaults:Net"
TENSORS = {"name": "optimlab_test_data:tensors", "options": {"n": 20}}  # built in a blink


@pytest.fixture(scope="module")
def own_defaults(write_modules):
    return write_modules(optimlab_test_own_defaults=OWN_DEFAULTS)


def _built(recipe: Recipe) -> dict:
    """What torch built of the Net (its activation, norm and dropout modules, the init it was given)."""
    net = build(recipe).model.net
    body = net.body
    return {
        "activation": type(body[3]).__name__,
        "norm": type(body[2]).__name__,
        "dropout": body[4].p,
        "init": net.init,
    }


def _as_each_verb_has_it(model: dict) -> list[Recipe]:
    """The recipe as given, set by ``with_updates`` over the default recipe (train's --model), and read back
    from the stored forms a run folder (YAML) and a study (JSON) keep."""
    given = Recipe.from_dict({"data": TENSORS, "model": model})
    updated = Recipe.from_dict({"data": TENSORS}).with_updates({f"model.{k}": v for k, v in model.items()})
    return [
        given,
        updated,
        Recipe.from_yaml(given.to_yaml(), stored=True),
        Recipe.from_dict(json.loads(json.dumps(updated.to_dict()))),
    ]


def test_a_users_class_keeps_its_own_defaults_and_its_recipe_says_them(user_package, own_defaults):
    """dropout=0.5, init='xavier_normal' and activation=nn.Tanh were built as the recipe's 0.0, 'default'
    and 'relu' (the string: 'str' object is not callable). The truth: the class's own modules, the recipe
    saying each (tanh is the registry's nn.Tanh; its nn.LayerNorm no recipe value holds: own_default)."""
    recipes = _as_each_verb_has_it({"name": NET})
    for recipe in recipes:
        model = recipe.model
        assert (model.activation, model.norm, model.init, model.dropout) == (
            "tanh",
            OWN_DEFAULT,
            "xavier_normal",
            0.5,
        )
        built = {"activation": "Tanh", "norm": "LayerNorm", "dropout": 0.5, "init": "xavier_normal"}
        assert _built(recipe) == built and recipe.id == recipes[0].id


def test_a_field_set_on_a_users_class_is_built_as_set_even_at_the_recipes_default(user_package, own_defaults):
    """The reverted attempt compared values to the recipe's defaults: activation relu set on this class
    built its Tanh while the recipe said relu. Set, each is passed: relu as the registry's class (the
    class calls what it is given), with its hyperparameters bound."""
    model = {"name": NET, "activation": "relu", "init": "default", "dropout": 0.0}
    for recipe in _as_each_verb_has_it(model):
        assert (recipe.model.activation, recipe.model.init, recipe.model.dropout) == ("relu", "default", 0.0)
        assert _built(recipe) == {
            "activation": "ReLU",
            "norm": "LayerNorm",
            "dropout": 0.0,
            "init": "default",
        }
    leaky = Recipe.from_dict(
        {"data": TENSORS, "model": {"name": NET, "activation": {"name": "leaky_relu", "negative_slope": 0.2}}}
    )
    assert build(leaky).model.net.body[3].negative_slope == 0.2
    # set to its own default, it is the recipe left unset: one model, one stored form, one id
    tanh = Recipe.from_dict(
        {"data": TENSORS, "model": {"name": NET, "activation": "tanh", "norm": "own_default"}}
    )
    assert tanh == Recipe.from_dict({"data": TENSORS, "model": {"name": NET}})


def test_a_default_no_recipe_value_holds_is_kept_and_stored_as_the_models_own(user_package, own_defaults):
    """dropout=None (no dropout layer) was built as the recipe's 0.0 (a layer). The truth: no keyword
    passed, no nn.Dropout built, the recipe saying own_default; a rate set is built as set."""
    optional = "optimlab_test_own_defaults:Optional"
    for recipe in _as_each_verb_has_it({"name": optional}):
        assert recipe.model.dropout == OWN_DEFAULT and "dropout: own_default" in recipe.to_yaml()
        assert not any(isinstance(m, torch.nn.Dropout) for m in build(recipe).model.modules())
    rate = Recipe.from_dict({"data": TENSORS, "model": {"name": optional, "dropout": 0.25}})
    assert [m.p for m in build(rate).model.modules() if isinstance(m, torch.nn.Dropout)] == [0.25]
    # on a model whose own default a recipe value holds, own_default is that value
    assert Recipe.from_dict({"model": {"name": "resnet", "norm": "own_default"}}).model.norm == "batch"
    with pytest.raises(
        RecipeError, match=r"model.dropout: 'half' is no dropout rate: give a number in \[0, 1\)"
    ):
        Recipe.from_dict({"model": {"name": optional, "dropout": "half"}})


def test_a_technique_the_users_class_takes_not_is_stored_as_its_own(user_package, own_defaults):
    """A GRU's recipe said model.activation: relu (the MLP's placeholder), which its model has not: the
    docs' contract is own_default where no recipe value holds it. Init stays default (the build draws
    it). Set to another, each is refused naming own_default; a recipe stored before, saying relu, none
    and 0.0, still loads, and builds the same model."""
    recurrent = "optimlab_test_own_defaults:Recurrent"
    for recipe in _as_each_verb_has_it({"name": recurrent}):
        model = recipe.model
        assert (model.activation, model.norm, model.init, model.dropout) == (
            OWN_DEFAULT,
            OWN_DEFAULT,
            "default",
            OWN_DEFAULT,
        )
        assert "activation: own_default" in recipe.to_yaml() and model.keywords() == {}
    with pytest.raises(RecipeError, match=r"'tanh' for activation: accepted 'own_default' \(.*takes no"):
        Recipe.from_dict({"data": TENSORS, "model": {"name": recurrent, "activation": "tanh"}})
    stored = {"name": recurrent, "activation": "relu", "norm": "none", "dropout": 0.0}
    assert Recipe.from_dict({"data": TENSORS, "model": stored}).model.keywords() == {}


def test_every_verb_builds_the_users_class_alike_and_a_study_does_after_its_round_trip(
    user_package, own_defaults
):
    """train --model kept the MLP's dropout 0.0 (with_updates on model.name) where compare stored the
    class's 0.5. train, doctor and lr-find read their flags through recipe_from_options, compare and bench
    through on_user_code; a compared model.name is the study's recipe updated, before and after its spec's
    round trip through storage. A field chosen for the old model (relu, away from the class's tanh)
    stays; its own defaults follow the new one."""
    from optimlab.cli._options import recipe_from_options
    from optimlab.study.compare import on_user_code
    from optimlab.study.protocols import Method, StudySpec
    from optimlab.workloads import get_workload

    by_flags = recipe_from_options(None, {"model": NET}).model
    (workload,) = on_user_code([get_workload("digits_mlp")], model=NET)
    spec = StudySpec("own", get_workload("digits_mlp").recipe, (Method("net", {"model.name": NET}),))
    compared = [
        s.method_recipe(s.methods[0]).model
        for s in (spec, StudySpec.from_dict(json.loads(json.dumps(spec.to_dict()))))
    ]
    assert by_flags == workload.recipe.model == compared[0] == compared[1]
    assert (by_flags.activation, by_flags.dropout) == ("tanh", 0.5)
    chosen = Recipe.from_dict({"model": {"name": NET, "activation": "relu"}}).with_updates(
        {"model.name": "mlp"}
    )
    assert (chosen.model.activation, chosen.model.norm, chosen.model.dropout) == ("relu", "none", 0.0)


def test_a_study_whose_trials_trained_another_recipe_than_its_method_resolves_now_is_not_resumed(
    own_defaults, tmp_path, monkeypatch
):
    """A study begun before 1ba6c0cf, comparing model.name=mlp and a user's class, stored trials of the
    class at the recipe's placeholders (dropout 0.0, relu); resumed (compare --resume), its new trials
    took the class's own (dropout 0.5, tanh) and all were averaged as one method, exit 0. The old
    resolution is planted for the first run (no architecture's own defaults); the resume refuses in one
    line naming the method, the field, the value its trials trained and today's."""
    import optimlab.recipe
    from optimlab.study.compare import plan_comparison
    from optimlab.study.run import load_specs, open_studies, run_study

    out = tmp_path / "study"
    with monkeypatch.context() as before:
        before.setattr(optimlab.recipe, "architecture_techniques", lambda name: {})
        (spec,) = plan_comparison(
            ["mlp", NET], field="model.name", dataset="iris", budget=1, seeds=1, epochs=1
        )
        run_study(spec, out)
    (stored,) = load_specs(out)
    with pytest.raises(
        OptimlabError, match=rf"method '{NET}' now resolves .*model.dropout 0.0 -> 0.5"
    ) as refused:
        open_studies(dataclasses.replace(stored, seeds=2), out, resume=True)
    assert "'mlp'" not in str(refused.value) and "\n" not in str(refused.value)


def test_a_technique_set_on_a_default_of_another_form_is_built_in_that_form_or_refused(
    user_package, own_defaults
):
    """norm=layer on a class taking norm=nn.LayerNorm exited 2 at the build ('str' object is not callable:
    the registry's norms are functions, and the name was passed): the registry's factory is passed, its
    hyperparameters bound. A function default (torch.tanh) takes a module of the registered class, a
    module built already (nn.LayerNorm(6)) no norm the recipe can build: refused at the recipe."""
    net = build(
        Recipe.from_dict({"data": TENSORS, "model": {"name": NET, "norm": {"name": "layer", "eps": 1e-3}}})
    )
    (norm,) = [m for m in net.model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert (norm.normalized_shape, norm.eps) == ((6,), 1e-3)
    built = "optimlab_test_own_defaults:Built"
    model = build(
        Recipe.from_dict({"data": TENSORS, "model": {"name": built, "activation": "relu"}})
    ).model.net
    x = torch.randn(3, 4)
    expected = torch.relu(torch.nn.functional.layer_norm(model.linear(x), (6,)))
    torch.testing.assert_close(model(x), expected)
    with pytest.raises(
        RecipeError, match=r"invalid value 'layer' for norm: accepted own_default: .*LayerNorm"
    ):
        Recipe.from_dict({"data": TENSORS, "model": {"name": built, "norm": "layer"}})


def test_a_refused_technique_names_own_default_among_the_accepted(user_package, own_defaults):
    """norm: own_default with model.norm.eps set said "unknown norm 'own_default'. Accepted: batch, ...",
    and an unknown norm's list left own_default out, a value the field takes."""
    recipe = Recipe.from_dict({"data": TENSORS, "model": {"name": NET, "norm": "own_default"}})
    with pytest.raises(
        RecipeError, match=r"model.norm: own_default \(the model's own norm\) takes no hyperp"
    ):
        recipe.with_updates({"model.norm.eps": 1e-3})
    with pytest.raises(RecipeError, match=r"unknown norm 'lyer'.*Accepted: .*none, own_default, rms"):
        recipe.with_updates({"model.norm": "lyer"})
    assert recipe.with_updates({"model.norm": "own_default"}) == recipe


def test_a_page_names_the_model_s_own_technique_that_trained(user_package, own_defaults):
    """A run's or study's recipe table said ``model.norm | own_default`` of a Net that trained torch's
    LayerNorm: it now names the model's own (the class torch built), as '(default: 0.001)' names Adam's lr."""
    from optimlab.report.recipes import defaults_named

    recipe = Recipe.from_dict({"data": TENSORS, "model": {"name": NET}})
    assert recipe.model.norm == OWN_DEFAULT and _built(recipe)["norm"] == "LayerNorm"
    assert defaults_named(recipe)["model.norm"] == f"({NET}'s own: LayerNorm)"
    assert "model.dropout" not in defaults_named(recipe)  # 0.5, a value the recipe holds, shown as itself


def test_train_and_compare_put_a_recipe_file_on_the_users_class_alike(
    user_package, own_defaults, tmp_path, monkeypatch, cli
):
    """compare r.yaml --model Net replaced the file's whole model section (Net's tanh) where train r.yaml
    --model Net kept the gelu written in it. Both keep a field that chose something for the old model
    (gelu, away from the MLP's relu) where Net takes it, drop a size Net does not take (width), and give
    a field at the old model's own (dropout 0.0) Net's own (0.5); --set beside --model wins. The truth:
    the modules torch builds from the recipe each verb would run (the library patched out)."""
    import optimlab.cli._catalog
    import optimlab.study.compare
    import optimlab.train

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data: {json.dumps(TENSORS)}\nmodel: {{name: mlp, activation: gelu, width: 16}}\n")
    planned = []

    def planned_only(planned_recipe, *args, **kwargs):  # what the verb would run: nothing runs
        planned.append(getattr(planned_recipe, "recipe", planned_recipe))  # a study's spec holds it
        raise OptimlabError("planned")

    monkeypatch.setattr(optimlab.train, "train", planned_only)
    monkeypatch.setattr(optimlab.study.compare, "check_trains", planned_only)
    # --optimizers sgd's name check is not what is tested: its catalog imported every registry (2 s)
    monkeypatch.setattr(optimlab.cli._catalog, "check_name", lambda *args: None)
    compared = cli(
        "compare", str(recipe), "--model", NET, "--optimizers", "sgd", "--out", str(tmp_path / "c")
    )
    trained = cli(
        "train", str(recipe), "--model", NET, "--set", "model.dropout=0.0", "--out", str(tmp_path / "t")
    )
    assert [(code, err.splitlines()[-1]) for code, _, err in (compared, trained)] == [
        (2, "error: planned")
    ] * 2
    own = {"activation": "GELU", "norm": "LayerNorm", "dropout": 0.5, "init": "xavier_normal"}
    assert [_built(r) for r in planned] == [own, {**own, "dropout": 0.0}]
    assert planned[0].model.width is None
    assert planned[0].model.model_copy(update={"dropout": 0.0}) == planned[1].model  # alike but for --set


def test_compare_refusing_a_recipe_files_choice_the_model_does_not_take_says_to_remove_it(
    user_package, own_defaults, tmp_path, monkeypatch, cli
):
    """compare r.yaml --model Optional, the file's MLP at norm: batch, was refused as 'invalid value
    'batch' for norm', naming neither --model nor the file, where compare has no --set to undo it: the
    line names both and says the fix, which the truth checks (the file without model.norm is planned)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data: {json.dumps(TENSORS)}\nmodel: {{name: mlp, norm: batch}}\n")
    import optimlab.study.compare

    def planned_only(spec):  # planned: nothing trains
        raise OptimlabError(f"planned {spec.recipe.model.name}")

    monkeypatch.setattr(optimlab.study.compare, "check_trains", planned_only)
    optional = "optimlab_test_own_defaults:Optional"
    call = ("compare", str(recipe), "--model", optional, "--optimizers", "sgd", "--out", str(tmp_path / "c"))
    code, _, err = cli(*call)
    assert (code, len(err.splitlines())) == (2, 1)
    assert f"--model {optional}: the recipe file's model.norm (batch), chosen for mlp" in err
    assert err.rstrip().endswith("remove model.norm from the recipe file (compare has no --set)")
    recipe.write_text(f"data: {json.dumps(TENSORS)}\nmodel: {{name: mlp}}\n")
    code, _, err = cli(*call)
    assert (code, err.splitlines()[-1]) == (2, f"error: planned {optional}")


@pytest.mark.parametrize(
    ("norm", "torch_norm"),
    [
        ("batch", torch.nn.BatchNorm2d(3)),
        ("instance", torch.nn.InstanceNorm2d(3)),
        ({"name": "group", "num_groups": 3}, torch.nn.GroupNorm(3, 3)),
        ("layer", torch.nn.GroupNorm(1, 3)),  # over (C, H, W) of each image, as Wu & He's layer norm
    ],
)
def test_a_norm_set_on_a_class_defaulting_to_a_torch_norm_is_built_in_its_layout(
    user_package, own_defaults, norm, torch_norm
):
    """norm: batch on a class taking norm=nn.BatchNorm2d built a flat (features-last) batch norm, which
    failed at its first forward on the (N, C, H, W) maps. The default's layout is bound: the truth is
    torch's own norm of that layout on the same maps (training mode: the batch's statistics)."""
    conv = "optimlab_test_own_defaults:Conv"
    net = build(Recipe.from_dict({"data": TENSORS, "model": {"name": conv, "norm": norm}})).model.net
    maps = net.conv(torch.randn(8, 4).reshape(-1, 1, 2, 2))
    torch.testing.assert_close(net.norm(maps), torch_norm(maps), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("name", "norm", "torch_norm"),
    [
        ("Features", "group", torch.nn.GroupNorm(16, 32)),  # Wu & He's 32 lowered to 2 features a group
        ("Features", "layer", torch.nn.LayerNorm(32)),
        ("Features", "batch", torch.nn.BatchNorm1d(32)),
        ("Synced", "batch", torch.nn.BatchNorm1d(32)),  # DDP's norm of (N, C) features
        ("Synced", "none", torch.nn.Identity()),
    ],
)
def test_a_norm_set_on_a_class_normalizing_features_by_a_torch_norm_trains_its_features(
    user_package, own_defaults, name, norm, torch_norm
):
    """norm: group on an MLP taking norm=nn.BatchNorm1d built a group norm of 32 groups of one feature,
    refused at the first batch (each would normalize to 0); norm: none and batch on one taking
    nn.SyncBatchNorm were refused at the recipe. The truth: torch's norm of (N, C) features on them."""
    model = {"name": f"optimlab_test_own_defaults:{name}", "norm": norm}
    net = build(Recipe.from_dict({"data": TENSORS, "model": model})).model.net
    features = net.linear(torch.randn(8, 4))
    torch.testing.assert_close(net.norm(features), torch_norm(features), rtol=1e-4, atol=1e-4)
    if isinstance(torch_norm, torch.nn.BatchNorm1d):  # and of (N, C, L) channels, as torch's takes them
        channels = torch.randn(8, 32, 5)
        torch.testing.assert_close(net.norm(channels), torch_norm(channels), rtol=1e-4, atol=1e-4)


def test_a_norm_set_on_a_class_defaulting_to_a_torch_norm_of_no_layout_is_refused(user_package, own_defaults):
    """nn.GroupNorm is called (num_groups, num_channels): a registered norm there was called with the
    groups as its width and the channels as its layout, and failed at the build; none, which needs no
    layout, failed so too (a layout of 4)."""
    grouped = "optimlab_test_own_defaults:Grouped"
    with pytest.raises(
        RecipeError, match=r"model: invalid value 'group' for norm: accepted own_default: .*GroupNorm"
    ):
        Recipe.from_dict({"data": TENSORS, "model": {"name": grouped, "norm": "group"}})
    none = build(Recipe.from_dict({"data": TENSORS, "model": {"name": grouped, "norm": "none"}})).model.net
    features = torch.randn(3, 4)
    assert torch.equal(none.norm(features), features)  # none needs no layout: built, as an identity


@pytest.mark.parametrize("verb", ["train", "doctor", "lr-find", "compare", "bench"])
def test_each_verbs_model_help_names_only_what_the_verb_takes(cli, verb):
    """One --model help was shared: compare's said '--set wins' (compare has no --set), bench's 'The
    RECIPE's model fields' (bench takes no RECIPE), train's 'A workload's model is replaced whole' (train
    takes no --workload). The truth: the verb's own usage and options, in the rest of its help."""
    code, out, _ = cli(verb, "--help")
    text = " ".join(out.replace("│", " ").split())
    model = text.split("--model <str> ")[1].split("[default")[0]
    rest = text.replace(model, "")
    assert code == 0
    assert ("--set wins" in model) == ("--set " in rest)
    assert ("RECIPE" in model) == ("[RECIPE]" in rest)
    assert ("workload" in model) == ("--workload" in rest)


@pytest.mark.parametrize("given", ["torch.optim.Adam", "torch.optim.lr_scheduler.OneCycleLR"])
def test_an_import_path_with_a_dot_for_its_colon_is_told_the_path_it_meant(given, cli):
    """optimizer: {name: torch.optim.Adam} was refused as 'unknown optimizer' with the built-in names
    alone, no word of the package.module:Class form. Truth: importlib finds the attribute after the last
    dot, and the path suggested with a colon is one the registry resolves; a name of no such path (a
    typo) is told the form without a suggestion. The path meant is suggested alone: after other tests had
    imported torch.optim.adamw:AdamW, it came first ('Did you mean 'torch.optim.adamw:AdamW' or ...')."""
    import importlib

    from optimlab.errors import UnknownNameError
    from optimlab.registry import get_registry
    from optimlab.user_code import IMPORT_PATH

    module, _, attribute = given.rpartition(".")
    assert hasattr(importlib.import_module(module), attribute)
    meant = f"{module}:{attribute}"
    registry = get_registry("optimizer")
    registry.resolve("torch.optim.adamw:AdamW")  # a path held already, closer in spelling: not suggested
    with pytest.raises(UnknownNameError) as refused:
        registry.resolve(given)
    assert f"Did you mean {meant!r}?" in str(refused.value)
    assert str(refused.value).endswith(f", or an import path {IMPORT_PATH}.")
    code, _, err = cli("train", "--dataset", "iris", "--optimizer", given, "--epochs", "1")
    assert code == 2 and len(err.splitlines()) == 1 and f"Did you mean {meant!r}?" in err
    if given == "torch.optim.Adam":
        assert registry.get(registry.resolve(meant)).name == meant
    with pytest.raises(UnknownNameError) as typo:
        registry.resolve("adamm")
    assert "':" not in str(typo.value) and str(typo.value).endswith(f", or an import path {IMPORT_PATH}.")
