"""A recipe file and flags together: every flag typed wins over the file's fields, on every verb."""

import datetime
import json
from types import SimpleNamespace

import pytest

from optimlab.cli._options import recipe_from_options
from optimlab.recipe import Recipe

# iris: 150 rows, 90 of them training rows; batches of 30 make 3 steps an epoch
STEPS_RECIPE = "data: {name: iris}\nmodel: {width: 4, depth: 1}\ntraining: {steps: 50, batch_size: 30}\n"


@pytest.fixture
def steps_recipe(tmp_path):
    path = tmp_path / "steps.yaml"
    path.write_text(STEPS_RECIPE)
    return path


def test_epochs_flag_wins_over_the_files_steps(steps_recipe):
    """--epochs over a file's training.steps was dropped: steps override epochs, so the run kept 50."""
    recipe = recipe_from_options(steps_recipe, {"epochs": 2})
    assert (recipe.training.epochs, recipe.training.steps) == (2, None)
    both = recipe_from_options(steps_recipe, {"epochs": 2, "steps": 7})  # --steps still overrides --epochs
    assert (both.training.epochs, both.training.steps) == (2, 7)
    assert recipe_from_options(steps_recipe, {}).training.steps == 50  # the file alone keeps its steps


@pytest.mark.parametrize("verb", ["train", "doctor"])
def test_epochs_flag_sets_the_length_of_the_run(cli, tmp_path, steps_recipe, verb):
    code, out, err = cli(
        verb,
        str(steps_recipe),
        "--epochs",
        "2",
        *(["--out", str(tmp_path / "run")] if verb == "train" else ["--no-lr-find"]),
        "--no-progress",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["steps"] == 2 * 90 // 30  # not the file's 50
    if verb == "train":
        assert Recipe.load(tmp_path / "run" / "recipe.yaml").training.steps is None


def test_a_recipe_flag_a_verb_has_not_is_told_the_set_that_sets_it_and_lr_find_takes_epochs(cli, monkeypatch):
    """``lr-find --epochs 3`` (the length its candidates' check runs, as doctor's --epochs) was told
    click's 'Possible options: --depth'; any recipe flag of train that a verb with --set lacks was told
    options of like spelling. lr-find takes --epochs (and --grad-clip, which it clips by) as doctor does;
    another recipe flag is told the --set of its field, with the value typed. Truth: the --set said, run,
    gives the recipe of that field (Recipe.from_dict's id; the range test itself patched out: the recipe
    it is given is what is checked)."""
    import optimlab.doctor

    given = []

    def find_lr_recipe(recipe, **_):
        given.append(recipe)
        return SimpleNamespace(to_dict=dict)

    monkeypatch.setattr(optimlab.doctor, "find_lr_recipe", find_lr_recipe)
    code, out, err = cli("lr-find", "--dataset", "iris", "--schedule", "cosine", "--sweep-steps", "2")
    assert (code, out, err) == (
        2,
        "",
        "error: No such option: --schedule; optimlab lr-find sets the recipe's schedule.name with "
        "--set schedule.name=cosine (see 'optimlab lr-find -h')\n",
    )
    assert given == []
    said = err.split("with ")[1].split(" (see")[0].split()
    code, out, err = cli(
        "lr-find", "--dataset", "iris", "--epochs", "3", *said, "--sweep-steps", "2", "--check-steps", "1",
        "--no-progress", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    wanted = Recipe.from_dict(
        {"data": {"name": "iris"}, "training": {"epochs": 3}, "schedule": {"name": "cosine"}}
    )
    assert json.loads(out)["recipe_id"] == wanted.id == given[0].id
    code, _, err = cli("doctor", "--steps=5", "--accumulate-grad-batches=2")  # doctor's --steps is its own
    assert code == 2 and "--set training.accumulate_grad_batches=2 " in err, err


@pytest.mark.parametrize(
    "args, field, said",
    [
        # a value that starts with a dash is still the value typed (it was dropped: '=VALUE')
        (["lr-find", "--steps", "-5"], "training.steps", "with --set training.steps=-5"),
        # a second --set of the field would be refused as setting it twice
        (
            ["lr-find", "--schedule=cosine", "--set", "schedule.name=linear"],
            "schedule.name",
            "with --set, and the --set schedule.name=linear given sets it already",
        ),
        # verbs without --set: click said 'Possible options: --goal, --help'
        (
            ["compare", "--dataset", "iris", "--lr", "1e-3"],
            "optimizer.lr",
            "from a recipe file that sets it (optimlab compare RECIPE), or --space optimizer.lr=1e-3 for every trial",
        ),
        (["compare", "--steps", "5"], "training.steps", "or --space training.steps=5 for every trial"),
        (
            ["bench", "--epochs", "2"],
            "training.epochs",
            "runs each workload's own recipe, which sets training.epochs; to set it, run optimlab compare on a "
            "recipe file that sets it, or with --space training.epochs=2",
        ),
    ],
)
def test_a_recipe_flag_a_verb_has_not_is_told_where_the_verb_takes_its_field(cli, args, field, said):
    """Where the field goes is said for each verb, with the value as typed. Truth: the flag's own field
    (RECIPE_FLAGS), and a --space said reads as that field's one choice, the value typed."""
    from optimlab.cli._options import RECIPE_FLAGS, flag
    from optimlab.recipe import load_yaml
    from optimlab.study import SearchSpace

    option = next(
        o for o in (a.partition("=")[0] for a in args) if RECIPE_FLAGS.get(o[2:].replace("-", "_")) == field
    )
    code, out, err = cli(*args)
    assert (code, out) == (2, "") and err.startswith(f"error: No such option: {flag(option[2:])}; "), err
    assert said in err, err
    if "--space" in said:
        space = said.split("--space ")[1].split(" ")[0]
        typed = args[args.index(option) + 1]
        dimension = SearchSpace.from_flags([space]).dimensions[0]
        assert (dimension.field, dimension.choices) == (field, (load_yaml(typed),))


SGD_RECIPE = """data: {name: iris}
model: {width: 4, depth: 1}
optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
schedule: {name: wsd, decay_fraction: 0.5}
training: {epochs: 1, batch_size: 30}
"""


def test_optimizer_and_schedule_flags_win_over_the_files_keywords_of_the_old_ones(cli, tmp_path):
    """--optimizer adam over a file's sgd with momentum 0.9 was refused as adam's 'momentum' (and compare
    --optimizers sgd,adam on it): the keywords of the file's sgd and wsd that adam and cosine do not take
    described them, and go with them."""
    path = tmp_path / "sgd.yaml"
    path.write_text(SGD_RECIPE)
    recipe = recipe_from_options(path, {"optimizer": "adam", "schedule": "cosine"})
    assert (recipe.optimizer.name, recipe.optimizer.lr, recipe.optimizer.options) == ("adam", 0.1, {})
    assert (recipe.schedule.name, recipe.schedule.options) == ("cosine", {})
    args = [
        "--budget",
        "1",
        "--seeds",
        "1",
        "--out",
        str(tmp_path / "c"),
        "--no-progress",
        "--format",
        "json",
    ]
    code, out, err = cli("compare", str(path), "--optimizers", "sgd,adam", *args)
    assert code == 0, err
    (study,) = json.loads(out)["studies"]
    assert {row["method"] for row in study["leaderboard"]} == {"sgd", "adam"}
    assert all(row["seeds_failed"] == 0 for row in study["leaderboard"])


@pytest.mark.parametrize("verb", ["train", "doctor", "lr-find", "compare"])
def test_a_recipes_data_file_beside_it_but_not_here_is_named_with_its_path_from_here(
    cli, tmp_path, monkeypatch, verb
):
    """A recipe's relative data path is read from the current folder (a run's saved recipe names the same
    file); run from elsewhere, the data layer said only that there is no such file."""
    project = tmp_path / "my project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "rows.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    (project / "recipe.yaml").write_text("data: {name: data/rows.csv}\ntraining: {steps: 2}\n")
    monkeypatch.chdir(tmp_path)
    extra = ["--optimizers", "sgd"] if verb == "compare" else []
    code, out, err = cli(verb, "my project/recipe.yaml", *extra, "--format", "json")
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert "--dataset 'my project/data/rows.csv'" in err
    monkeypatch.chdir(project)  # from the recipe's folder, it runs
    assert cli("train", "recipe.yaml", "--out", str(tmp_path / "run"), "--no-progress")[0] == 0


def test_set_gives_any_recipe_field_and_a_techniques_hyperparameters_reach_its_torch_module(cli, tmp_path):
    """``--init``, ``--act`` and ``--norm`` take a name only: a technique's hyperparameters needed a recipe
    file. ``--set FIELD=VALUE`` sets any field, its value read as YAML, beside the flags that name it."""
    from torch import nn

    from optimlab.build import build

    code, _, err = cli(
        "train",
        "--dataset",
        "iris",
        "--steps",
        "1",
        "--act",
        "leaky_relu",
        "--set",
        "model.activation.negative_slope=0.2",
        "--norm",
        "batch",
        "--set",
        "model.norm.momentum=0.01",
        "--optimizer",
        "adam",
        "--set",
        "optimizer.betas=[0.8, 0.9]",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    )
    assert code == 0, err
    built = build(Recipe.load(tmp_path / "run" / "recipe.yaml"))
    slopes = {m.negative_slope for m in built.model.modules() if isinstance(m, nn.LeakyReLU)}
    momenta = {m.momentum for m in built.model.modules() if isinstance(m, nn.BatchNorm1d)}
    assert (slopes, momenta) == ({0.2}, {0.01})
    assert tuple(built.optimizer.param_groups[0]["betas"]) == (0.8, 0.9)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["--set", "gain=2"], "'gain=2' is not FIELD=VALUE"),
        (["--set", "optimizer..lr=1"], "'optimizer..lr=1' is not FIELD=VALUE with a dotted recipe field"),
        (["--set", "optimizer.lr.=1"], "'optimizer.lr.=1' is not FIELD=VALUE with a dotted recipe field"),
        (["--set", "model.init.gain="], "'model.init.gain=' for --set: accepted a value YAML reads"),
        (["--set", "model.init.gain=[1,"], "'model.init.gain=[1,' for --set: accepted a value YAML reads"),
        (  # it said only 'accepted a value YAML reads', which the value is but for its key twice
            ["--set", "model.init={name: he, name: xavier_normal}"],
            "or {a: mapping}; found the key 'name' twice (the second would replace the first)",
        ),
        (["--set", "optimizer.betas=&a [0.9, *a]"], "accepted a value that does not hold itself"),
        (["--init", "he", "--set", "model.init=lecun_normal"], "but --init sets model.init too"),
        (["--set", "optimizer.lr=0.1", "--set", "optimizer.lr=0.2"], "but another --set sets optimizer.lr"),
        # a field reached under another spelling, or inside a technique's mapping: the later value won
        # without a word (optimizer.lr 0.2, gain 3)
        (["--lr", "0.1", "--set", "optimizer.options.lr=0.5"], "but --lr sets optimizer.lr too"),
        (
            ["--set", "optimizer.lr=0.1", "--set", "optimizer.options.lr=0.2"],
            "another --set sets optimizer.lr",
        ),
        (["--set", "model.init.gain=2", "--set", "model.init={name: he, gain: 3}"], "sets model.init.gain"),
        (["--init", "he", "--set", "model.init={name: he, gain: 3}"], "but --init sets model.init too"),
        (  # the mapping replaces --init's he whole: it said 'invalid recipe: --init: ... {'gain': 3}'
            ["--init", "he", "--set", "model.init={gain: 3}"],
            "'model.init={gain: 3}' for --set: accepted a field set once, but --init sets model.init too",
        ),
        (["--set", "modle.init.gain=2"], "unknown recipe section 'modle' in 'modle.init.gain'. Did you mean"),
        (["--init", "he", "--set", "model.init.gain=-1"], "invalid value -1 for init 'he' (kaiming_normal)"),
    ],
)
def test_a_bad_set_is_one_line_naming_it(cli, tmp_path, given, named):
    code, out, err = cli("train", "--dataset", "iris", "--steps", "1", "--out", str(tmp_path / "r"), *given)
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert named in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("verb", ["doctor", "lr-find"])
def test_doctor_and_lr_find_take_set_as_train_does(cli, verb):
    """The verbs that read a recipe from flags take ``--set`` too: the doctor on a constant init names it."""
    quick = ["--no-lr-find", "--steps", "5"] if verb == "doctor" else ["--sweep-steps", "20"]
    code, out, err = cli(verb, "--dataset", "iris", "--set", "model.init.gain=-1", "--init", "he", *quick)
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert "invalid value -1 for init 'he' (kaiming_normal) hyperparameter 'gain'" in err
    code, out, err = cli(verb, "--dataset", "iris", "--set", "model.init=zeros", *quick, "--format", "json")
    assert code == 0, err
    if verb == "doctor":
        assert json.loads(out)["findings"][0]["title"].startswith("Constant init")


@pytest.mark.parametrize(("typed", "number"), [("+.5", 0.5), (".5e-1", 0.05), ("+.25E0", 0.25)])
def test_set_reads_a_number_as_written_where_yaml_read_text(typed, number):
    """YAML 1.1 reads +.5 as the text '+.5', which a hyperparameter then refused as no number in [0, 1]."""
    recipe = recipe_from_options(
        None, {"act": "leaky_relu", "set_fields": [f"model.activation.negative_slope={typed}"]}
    )
    assert recipe.model.activation == {"name": "leaky_relu", "negative_slope": number}
    betas = recipe_from_options(None, {"set_fields": [f"optimizer.betas=[{typed},0.99]"]}).optimizer.options
    assert betas["betas"] == [number, 0.99]  # inside a list too, where YAML 1.1's text was refused


@pytest.mark.parametrize(("typed", "number"), [("09", 9), ("-08", -8), ("+0099", 99), ("[1, 09]", [1, 9])])
def test_a_leading_zero_integer_reads_as_its_number_by_set_and_by_file_alike(
    tmp_path, user_package, typed, number
):
    """YAML 1.1 reads 09 as the text '09' (no octal digit 9), so ``--set data.options.n=09`` and a file's
    ``n: 09`` gave the user's data factory the text '09', where ``--steps 09`` and typed fields read 9.
    Truth: YAML 1.2's core schema and Python's int() of the digits; 010 stays refused (YAML 1.1's 8)."""
    data = "optimlab_userpkg.data:blobs"
    by_set = recipe_from_options(None, {"set_fields": [f"data.name={data}", f"data.options.n={typed}"]})
    path = tmp_path / "recipe.yaml"
    path.write_text(f"data: {{name: '{data}', options: {{n: {typed}}}}}\n")
    by_file = Recipe.load(path)
    assert by_set.data.options["n"] == by_file.data.options["n"] == number
    assert by_set.id == by_file.id
    again = Recipe.load(by_set.save(tmp_path / "again.yaml"))
    assert again == by_set and again.id == by_set.id


def test_a_run_folders_own_recipe_given_to_a_verb_reads_as_it_was_written(tmp_path, user_package):
    """A run folder written before 250722a holds ``n: 08`` (its dumper's text '08', YAML 1.1's reading);
    the run page's "train again" command (`optimlab train RUN/recipe.yaml`) read it as the number 8, so
    the user's factory got another value than the run trained with. Truth: the recipe as the run read
    it, the stored recipe's id; a recipe file outside a run folder still reads 08 as 8."""
    data = "optimlab_userpkg.data:blobs"
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(f"data:\n  name: '{data}'\n  options:\n    n: 08\n")
    (run / "metrics.jsonl").write_text("")
    again = recipe_from_options(run / "recipe.yaml", {})
    assert again.data.options["n"] == "08"
    assert again.id == Recipe.load(run / "recipe.yaml", stored=True).id
    (tmp_path / "recipe.yaml").write_text((run / "recipe.yaml").read_text())
    assert recipe_from_options(tmp_path / "recipe.yaml", {}).data.options["n"] == 8


def test_set_on_a_techniques_hyperparameter_beside_model_sets_the_new_models_own():
    """--model resnet --set model.norm.momentum=0.01 (resnet's own norm is batch) was refused as "unknown
    recipe section 'model.norm'": the MLP's norm, no choice, was dropped before the set applied. It now
    sets the new model's own: the recipe that resnet with that norm written out gives. A hyperparameter
    the new model's own does not take is refused as the norm registry refuses it, where it said "unknown
    norm 'momentum'", of no norm, listing own_default among the hyperparameters."""
    from optimlab.errors import OptimlabError, UnknownNameError
    from optimlab.techniques.choice import canonical

    set_beside = recipe_from_options(None, {"model": "resnet", "set_fields": ["model.norm.momentum=0.01"]})
    written = {"name": "resnet", "norm": {"name": "batch", "momentum": 0.01}}
    assert set_beside == Recipe.from_dict({"model": written})
    with pytest.raises(UnknownNameError) as by_registry:
        canonical("norm", {"name": "layer", "momentum": 0.01})
    with pytest.raises(OptimlabError) as refused:
        recipe_from_options(None, {"model": "transformer", "set_fields": ["model.norm.momentum=0.01"]})
    assert str(by_registry.value) in str(refused.value) and "own_default" not in str(refused.value)


@pytest.mark.parametrize("given", [["--steps", "BIG"], ["--set", "model.width=BIG"]])
def test_a_whole_number_past_64_bits_is_one_line_exit_2(cli, tmp_path, given):
    """--set model.width=99999999999999999999 failed as an out-of-memory guess, --steps of that size ran
    for ever: each is refused in one line naming int64's bound, before a run folder is made (--steps
    said 'is not accepted: an integer in [1, inf)', a range holding it)."""
    big = str(10**20)
    code, out, err = cli("train", *[g.replace("BIG", big) for g in given], "--out", str(tmp_path / "run"))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert f"{big}" in err and f"an integer in [1, {2**63 - 1}] (int64's bound)" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "given, dotted",
    [
        ("seed=3", "training.seed=3"),
        ("lr=0.1", "optimizer.lr=0.1"),
        ("batch-size=4", "training.batch_size=4"),
    ],
)
def test_set_of_a_fields_bare_name_is_refused_naming_its_dotted_field(cli, tmp_path, given, dotted):
    """--set seed=1 said 'is not FIELD=VALUE with a dotted recipe field, e.g. model.init.gain=2', naming
    nothing of the seed: now the dotted field that holds it, whose --set sets exactly that value."""
    code, out, err = cli("train", "--set", given, "--out", str(tmp_path / "run"))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert f"{given!r} is not FIELD=VALUE with a dotted recipe field: --set {dotted} " in err, err
    field, value = dotted.split("=")
    section, name = field.split(".")
    recipe = recipe_from_options(None, {"set_fields": [dotted]})
    assert getattr(getattr(recipe, section), name) == float(value)


@pytest.mark.parametrize(
    "section, mapping",
    [
        ("optimizer", {"name": "sgd", "lr": 0.1, "momentum": 0.5}),
        ("model", {"init": {"name": "he", "gain": 2.0}, "width": 8}),
        ("training", {"betas": [0.9, 0.99]}),  # no field of training: advised all the same, refused there
        # JSON's text: a TypeError traceback of a date and of bytes, and "no" advised bare, read as false
        ("data", {"name": datetime.date(2024, 1, 1)}),
        ("data", {"name": b"ab\x00"}),
        ("training", {"shuffle": "no", "seed": "1e-3"}),
    ],
)
def test_set_of_a_whole_section_is_refused_naming_the_set_of_each_field(cli, section, mapping):
    """--set 'optimizer={name: sgd, lr: 0.1}' was told '--set optimizer.name={name: sgd, lr: 0.1}', a
    name set to a mapping. Truth: the --set flags advised, pasted back as a shell splits them, hold the
    values the mapping held as the recipe's YAML reads them, and make the recipe the section's mapping
    makes (where its fields are the section's and their values valid)."""
    import shlex

    from optimlab.recipe import dump_yaml, load_yaml

    given = f"{section}={dump_yaml(mapping, default_flow_style=True, width=1000).strip()}"
    assert load_yaml(given.partition("=")[2]) == mapping
    code, out, err = cli("train", "--set", given)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    advised = shlex.split(err.partition("dotted recipe field: ")[2].partition(" (see ")[0])
    assert advised[::2] == ["--set"] * len(mapping), err
    read = {flag.partition("=")[0]: load_yaml(flag.partition("=")[2]) for flag in advised[1::2]}
    assert read == {f"{section}.{key}": value for key, value in mapping.items()}, err
    if section in ("optimizer", "model"):
        assert recipe_from_options(None, {"set_fields": advised[1::2]}) == Recipe.from_dict(
            {section: mapping}
        )


def test_set_of_an_empty_section_is_advised_its_fields_not_a_name_of_a_mapping(cli):
    """--set 'optimizer={}' was told '--set optimizer.name={}', a name set to a mapping."""
    code, out, err = cli("train", "--set", "optimizer={}")
    assert (code, out) == (2, "") and err.startswith("error: Invalid value for '--set': 'optimizer={}'"), err
    assert "dotted recipe field: --set optimizer.FIELD=VALUE for each of its fields (see" in err, err


@pytest.mark.parametrize(
    "given, advised",
    [
        # 'name' ends data.name, model.name, optimizer.name and schedule.name: each, not the last one
        (
            "name=adam",
            "--set data.name=adam or --set model.name=adam or --set optimizer.name=adam or "
            "--set schedule.name=adam",
        ),
        ("training.seed", "--set training.seed=VALUE"),  # the field typed, its = forgotten
        ("lr = 0.1", "--set optimizer.lr=0.1"),  # the spaces around the value dropped too
    ],
)
def test_set_without_a_dotted_field_is_advised_every_field_it_may_mean(cli, tmp_path, given, advised):
    """--set name=adam advised --set schedule.name=adam (the last field ending in 'name'), --set
    training.seed the generic model.init.gain=2, and --set 'lr = 0.1' '--set optimizer.lr= 0.1'."""
    code, out, err = cli("train", "--set", given, "--out", str(tmp_path / "run"))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert f"{given!r} is not FIELD=VALUE with a dotted recipe field: {advised} (see " in err, err


def _whole_number_options() -> list[tuple[tuple[str, ...], str, str]]:
    """Every option of every verb that takes a whole number: (verb as typed, its flag, its parameter)."""
    import typer

    from optimlab.cli.app import app

    found = []

    def walk(command, verb: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*verb, name))
        for param in command.params:
            typed = getattr(param, "type_descriptor", None)
            if param.param_type_name == "option" and typed and typed.annotation in (int, int | None):
                found.append((verb, param.opts[0], param.name))

    walk(typer.main.get_command(app), ())
    return found


def test_every_whole_number_flag_reads_an_exponent_as_a_recipe_does(tmp_path, monkeypatch):
    """`train --epochs 1e3` (and --steps, --batch-size, --seed, compare --workers, ...) was refused as 'not
    an integer' where a recipe's `epochs: 1e3` and `--set training.epochs=1e3` read 1000. Truth: the
    recipe field --set gives (YAML's reading), else the number's own digits, 10**3; the parse is the real
    command's, its verb not run. 1.5 and a float whose fraction rounds away stay refused (CASES)."""
    import typer

    from optimlab.cli._options import RECIPE_FLAGS
    from optimlab.cli.app import app

    monkeypatch.chdir(tmp_path)
    group, parsed = typer.main.get_command(app), []

    def keep_values(command) -> None:  # every verb records its parsed values instead of running
        for sub in getattr(command, "commands", {}).values():
            keep_values(sub)
        command.callback = lambda **values: parsed.append(values)

    keep_values(group)
    required = {"worker": ["folder"], "plot-schedule": ["cosine"]}
    options = _whole_number_options()
    assert {"--epochs", "--steps", "--batch-size", "--seed", "--workers"} <= {o for _, o, _ in options}
    for verb, option, name in options:
        typed, number = ("1e0", 1) if option == "--threads" else ("1e3", 10**3)  # threads: at most the cores
        args = [*verb, *required.get(verb[0], []), option, typed]
        assert group.main(args=args, prog_name="optimlab", standalone_mode=False) is None, args
        value = parsed.pop()[name]
        if name in RECIPE_FLAGS:
            section, field = RECIPE_FLAGS[name].split(".")
            by_set = recipe_from_options(None, {"set_fields": [f"{RECIPE_FLAGS[name]}={typed}"]})
            number = getattr(getattr(by_set, section), field)
        assert (type(value), value) == (int, number), (verb, option)


_FINITE_GAIN = (
    "a finite number in (0, inf), or 'auto' (the gain of the activation after each layer)"  # GAIN's own words
)


@pytest.mark.parametrize(
    "given, line",
    [
        (  # 0c3d349e's 'finite' dropped the range's own ", or 'auto'" words
            "model.init={name: he, gain: .inf}",
            f"model.init: invalid value inf for init 'he' (kaiming_normal) hyperparameter 'gain': "
            f"accepted {_FINITE_GAIN}.",
        ),
        (
            "model.init={name: he, gain: inf}",
            f"model.init: invalid value 'inf' for init 'he' (kaiming_normal) hyperparameter 'gain': "
            f"accepted {_FINITE_GAIN}.",
        ),
        (  # YAML's text 'inf' was told 'a number in (0, inf)', as if the range held it
            "optimizer.eps=inf",
            "optimizer: invalid value 'inf' for optimizer 'adam' hyperparameter 'eps': "
            "accepted a finite number in (0, inf).",
        ),
        ("optimizer.lr=inf", "optimizer.lr: 'inf' is refused: accepted a finite number in (0, inf), or null"),
        (  # 'an integer in [1, inf)' read as if it held inf: int64's bound, as '.inf' is told
            "training.epochs=inf",
            f"training.epochs: 'inf' is refused: accepted an integer in [1, {2**63 - 1}] (int64's bound), or null",
        ),
        (
            "training.epochs=.inf",
            f"training.epochs: inf is refused: accepted an integer in [1, {2**63 - 1}] (int64's bound), or null",
        ),
        (
            "schedule.step_size=inf",
            "schedule: invalid value 'inf' for schedule 'step' hyperparameter 'step_size': "
            f"accepted an integer in [1, {2**63 - 1}] (int64's bound).",
        ),
    ],
)
def test_an_infinity_as_text_or_as_yamls_float_is_told_the_finite_range_in_its_own_words(cli, given, line):
    """Refusals of an infinity, whole. Truth: the registry's own words for each range (GAIN's 'auto'),
    each infinity told the finite part it may take, as --lr inf is."""
    code, out, err = cli("train", "--dataset", "iris", "--schedule", "step", "--set", given)
    assert (code, out, err) == (2, "", f"error: invalid recipe: {line}\n")


@pytest.mark.parametrize(
    "given, key, fixed",
    [
        ("model.init={name:he}", "name:he", "{name: he}"),
        ("model.init={name: he, gain:2}", "gain:2", "{gain: 2}"),
        ("model.activation={name:leaky_relu}", "name:leaky_relu", "{name: leaky_relu}"),
    ],
)
def test_a_key_and_value_without_the_space_yaml_needs_is_told_the_space(cli, given, key, fixed):
    """--set 'model.init={name:he}' was told "the key 'name:he' names nothing (did you mean 'name'?)" of a
    key typed right. Truth: YAML itself reads the text as one key holding null, and with the space as the
    key and its value."""
    import yaml

    mapping = given.partition("=")[2]
    assert key in yaml.safe_load(mapping) and yaml.safe_load(mapping)[key] is None
    assert yaml.safe_load(fixed) == {key.partition(":")[0]: yaml.safe_load(key.partition(":")[2])}
    code, out, err = cli("train", "--dataset", "iris", "--set", given)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert err.rstrip().endswith(
        f"YAML read {key!r} as one key: it needs a space after the colon, {fixed}."
    ), err
    assert "names nothing" not in err


@pytest.mark.parametrize(
    "schedule, line",
    [
        ("constant", "accepted at most 1: the run's 1 step."),
        ("cosine", "accepted at most 0: the run's 1 step less one, for cosine after the warmup."),
    ],
)
def test_a_warmup_past_a_run_of_one_step_counts_it_in_the_singular(cli, schedule, line):
    """--steps 1 with a warmup of 5 was told 'the run's 1 steps'. Truth: English's singular of one."""
    code, out, err = cli(
        "train",
        "--dataset",
        "iris",
        "--steps",
        "1",
        "--set",
        f"schedule.name={schedule}",
        "--set",
        "schedule.warmup_steps=5",
    )
    assert (code, out, err) == (2, "", f"error: invalid value 5 for schedule.warmup_steps: {line}\n")


@pytest.mark.parametrize(
    "args, line",
    [
        (  # 'unknown recipe section ... Sections there: options.', no word of the hyperparameter meant
            ["--set", "optimizer.name=sgd", "--set", "optimizer.momentun.x=1"],
            "unknown recipe section 'optimizer.momentun' in 'optimizer.momentun.x'. Did you mean 'momentum'? "
            "Sections there: options. Hyperparameters there: lr, momentum, dampening, weight_decay, nesterov.",
        ),
        (
            ["--set", "schedule.name=step", "--set", "schedule.step_sise.x=1"],
            "unknown recipe section 'schedule.step_sise' in 'schedule.step_sise.x'. Did you mean 'step_size'? "
            "Sections there: options. Hyperparameters there: step_size, gamma.",
        ),
        (  # '--init: invalid value 'abc'': the flag was blamed for the --set's value
            ["--init", "he", "--set", "model.init.gain=abc"],
            "invalid recipe: model.init: invalid value 'abc' for init 'he' (kaiming_normal) hyperparameter "
            "'gain': accepted a number in (0, inf), or 'auto' (the gain of the activation after each layer).",
        ),
    ],
)
def test_a_set_into_an_optimizers_or_schedules_options_or_a_flags_technique_is_named_as_typed(
    cli, args, line
):
    """Truth: the hyperparameters named are ones torch's SGD and StepLR take (their signatures)."""
    import inspect

    import torch

    named = (
        set(line.rpartition("Hyperparameters there: ")[2].rstrip(".").split(", "))
        if "there: " in line
        else set()
    )
    takers = (torch.optim.SGD, torch.optim.lr_scheduler.StepLR)
    assert not named or any(named <= set(inspect.signature(taker).parameters) for taker in takers)
    code, out, err = cli("train", "--dataset", "iris", *args)
    assert (code, out, err) == (2, "", f"error: {line}\n")


@pytest.mark.parametrize(
    "args",
    [
        ["--schedule", "step", "--set", "schedule.step_size=1e-400", "--set", "optimizer.lr=-1"],
        ["--set", "schedule.step_size=1e-400", "--set", "optimizer.lr=-1", "--set", "schedule.name=step"],
    ],
)
def test_a_whole_number_below_the_smallest_float_beside_another_bad_update_is_read_as_its_field_reads_it(
    cli, args
):
    """Another bad --set (optimizer.lr=-1) dropped every update from the recipe in which step_size's kind
    was read: '1e-400 is below the smallest float', a float's words for a field of whole numbers. Truth:
    the lr alone refused as lr's range refuses -1; step_size's text is its field's to refuse."""
    code, out, err = cli("train", "--dataset", "iris", *args)
    assert (code, out) == (2, "") and "below the smallest float" not in err, err
    assert (
        err == "error: invalid recipe: optimizer.lr: -1 is refused: accepted a number in (0, inf), or null\n"
    )


S4_FILE = "data: {name: iris}\ntraining: {epochs: null, steps: 4}\n"


@pytest.mark.parametrize(
    ("recipe", "sets", "line"),
    [
        (
            None,
            ["training.epochs=null"],
            "invalid value 'training.epochs=null' for --set: accepted an integer >= 1, or null beside a number "
            "of steps (--steps N or --set training.steps=N): with training.steps null too, the run has no length.",
        ),
        (
            S4_FILE,
            ["training.steps=~"],
            "invalid value 'training.steps=~' for --set: accepted an integer >= 1, or null beside a number of "
            "epochs (--epochs N or --set training.epochs=N): with training.epochs null too, the run has no "
            "length.",
        ),
        (
            None,
            ["training.steps=null", "training.epochs=null"],
            "invalid values 'training.steps=null' and 'training.epochs=null' for --set: accepted an integer "
            ">= 1 for one of them: a run of no epochs and no steps has no length.",
        ),
    ],
)
def test_a_run_of_no_length_is_told_in_the_set_flags_typed(cli, tmp_path, recipe, sets, line):
    """--set training.epochs=null (a recipe of no steps) was told 'epochs: null and steps: null give the run
    no length ... on the command line --epochs N or --steps N', neither of which the user typed: the --set
    typed is named, whole. Truth: each way the line offers gives the run its length (--steps, or the other
    --set, beside the same --set)."""
    args = ["train", *([str(tmp_path / "r.yaml")] if recipe else ["--dataset", "iris"])]
    if recipe:
        (tmp_path / "r.yaml").write_text(recipe)
    code, out, err = cli(*args, *(a for text in sets for a in ("--set", text)))
    assert (code, out, err) == (2, "", f"error: {line}\n")
    if not recipe:  # lr-find has no --epochs nor --steps: the --set alone is offered
        code, _, err = cli("lr-find", *args[1:], *(a for text in sets for a in ("--set", text)))
        assert (code, err) == (2, f"error: {line.replace('(--steps N or ', '(')}\n")
    path = tmp_path / "r.yaml" if recipe else None
    if len(sets) == 1:
        other = "steps" if sets[0].startswith("training.epochs") else "epochs"
        for fix in ({other: 3}, {"set_fields": [*sets, f"training.{other}=3"]}):
            given = recipe_from_options(path, {"set_fields": sets, **fix})
            assert getattr(given.training, other) == 3


@pytest.mark.parametrize(
    ("value", "shown"),
    [("[-1e-400]", "[-1e-400]"), ("[3, 1E-400]", "[3, 1E-400]"), ("[2, 1.5]", "[2, 1.5]")],
)
def test_a_list_of_whole_numbers_with_one_below_the_smallest_float_is_refused_by_its_field(
    cli, tmp_path, value, shown
):
    """--set schedule.milestones=[1e-400] got a float's words, 'below the smallest float and would read as
    0', for a list of whole steps (a scalar's, step_size=1e-400, already had its field's); a recipe file's
    still did, and the --set's showed ['-1e-400'], quoted as if typed as text. Truth: the line a milestone
    that is no whole number ([2, 1.5]) gets, its range, the numbers as typed; a file's the same after its
    name."""
    refusal = (
        f"invalid recipe: schedule: invalid value {shown} for schedule 'multistep' hyperparameter "
        "'milestones': accepted a list, each an integer in [0, inf).\n"
    )
    code, out, err = cli(
        "train", "--dataset", "iris", "--schedule", "multistep", "--set", f"schedule.milestones={value}"
    )
    assert (code, out, err) == (2, "", f"error: {refusal}")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data: {{name: iris}}\nschedule: {{name: multistep, milestones: {value}}}\n")
    code, out, err = cli("train", str(recipe), "--out", str(tmp_path / "run"))
    assert (code, out, err) == (2, "", f"error: recipe file {str(recipe)!r}: {refusal}")
    code, _, err = cli("train", "--dataset", "iris", "--set", "optimizer.betas=[0.9, 1e-400]")
    assert code == 2 and "'1e-400' is below the smallest float and would read as 0" in err  # a float's list


@pytest.mark.parametrize(
    ("refused", "valid", "params"),
    [
        (  # the same init and activation named again keep their gain and slope
            "model: {init: {name: xavier_normal, gain: 2.0}, activation: {name: leaky_relu, negative_slope: 0.2}}\n"
            "training: {epochs: 1, batch_size: 1e18}",
            "model: {init: {name: xavier_normal, gain: 2.0}, activation: {name: leaky_relu, negative_slope: 0.2}}\ntraining: {epochs: 1}",
            {"batch_size": 90, "init": "xavier_normal", "act": "leaky_relu"},
        ),
        (  # another optimizer drops the betas it does not take
            "optimizer: {name: adam, betas: [0.9, 0.99]}\ntraining: {epochs: 1, batch_size: 1e18}",
            "optimizer: {name: adam, betas: [0.9, 0.99]}\ntraining: {epochs: 1}",
            {"batch_size": 90, "optimizer": "sgd"},
        ),
        (  # another schedule drops the refused step_size it does not take
            "schedule: {name: step, step_size: 0}",
            "schedule: {name: step, step_size: 5}",
            {"schedule": "cosine"},
        ),
        (  # a list below the smallest float that a --set replaces whole
            "schedule: {name: multistep, milestones: [3, 1e-400]}",
            "schedule: {name: multistep, milestones: [2]}",
            {"set_fields": ("schedule.milestones=[3]",)},
        ),
        (  # a --set rescues as its flag does
            "training: {epochs: 1, batch_size: 1e18}",
            "training: {epochs: 1, batch_size: 32}",
            {"set_fields": ("training.batch_size=90",)},
        ),
    ],
)
def test_flags_over_a_refused_file_follow_the_rules_of_flags_over_a_valid_one(
    tmp_path, refused, valid, params
):
    """Flags over a file refused alone were written into its text: --init xavier_normal lost the file's gain,
    --optimizer sgd kept adam's betas (refused for sgd), --schedule cosine kept step's refused step_size,
    and --set training.batch_size=90 rescued nothing. Truth: the same flags over the file with a valid value
    in place of the refused one, which with_updates' rules keep or drop (each asserted by hand too)."""
    head = "data: {name: iris}\n"
    (tmp_path / "refused.yaml").write_text(head + refused + "\n")
    (tmp_path / "valid.yaml").write_text(head + valid + "\n")
    got = recipe_from_options(tmp_path / "refused.yaml", params)
    assert got == recipe_from_options(tmp_path / "valid.yaml", params)
    assert got.training.batch_size in (32, 90)
    if "init" in params:
        assert (got.model.init, got.model.activation) == (
            {"name": "xavier_normal", "gain": 2.0},
            {"name": "leaky_relu", "negative_slope": 0.2},
        )
    assert got.optimizer.options == {} and got.schedule.options in ({}, {"milestones": [3]})


def test_a_flag_replaces_a_file_value_refused_alone(cli, tmp_path):
    """A recipe file whose batch_size 1e18 a newer range refuses stayed refused beside --batch-size 90, though
    flags override the file's fields ('Recipe YAML file; flags override its fields'). Truth: the recipe run
    is the file's with that field typed in it; a flag over another field leaves the file's refusal as is."""
    text = "data: {name: iris}\ntraining: {epochs: 1, batch_size: 1e18}\n"
    (tmp_path / "r.yaml").write_text(text)
    given = Recipe.from_yaml(text.replace("1e18", "90"))
    assert recipe_from_options(tmp_path / "r.yaml", {"batch_size": 90}) == given
    code, out, err = cli("train", str(tmp_path / "r.yaml"), "--lr", "0.1", "--out", str(tmp_path / "run"))
    assert (code, out) == (2, "") and err == (
        f"error: recipe file {str(tmp_path / 'r.yaml')!r}: invalid recipe: training.batch_size: 1e+18 is "
        "refused: accepted an integer in [1, 2147483647]\n"
    )
