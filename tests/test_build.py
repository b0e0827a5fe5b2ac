"""Building a recipe: seeds, the scaler in front, data-dependent init on training inputs."""

import math
import warnings

import pytest
import torch

from optimlab.build import build, build_data, build_schedule
from optimlab.errors import InvalidValueError
from optimlab.recipe import Recipe, RecipeError
from optimlab.techniques.init import KeptWeightsWarning
from optimlab.train.run import train


def test_same_recipe_builds_identical_weights_and_a_fitted_scaler():
    recipe = Recipe.from_dict({"data": {"name": "wine", "scaling": "standardize"}})
    first, second = build(recipe), build(recipe)
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    scaled = first.model.scaling(first.splits.train.x)
    assert torch.allclose(scaled.mean(0), torch.zeros(scaled.shape[1]), atol=1e-5)
    assert torch.allclose(scaled.std(0, unbiased=False), torch.ones(scaled.shape[1]), atol=1e-4)


def test_a_scaling_with_hyperparameters_is_built_with_them():
    recipe = Recipe.from_dict(
        {"data": {"name": "wine", "scaling": {"name": "minmax", "feature_range": [-1, 2]}}}
    )
    built = build(recipe)
    scaled = built.model.scaling(built.splits.train.x)
    torch.testing.assert_close(scaled.amin(0), torch.full((scaled.shape[1],), -1.0))
    torch.testing.assert_close(scaled.amax(0), torch.full((scaled.shape[1],), 2.0))


def test_per_channel_scaling_of_flat_images_takes_each_channels_pixels_together():
    """digits are stored flat (64 features) as (1, 8, 8) images: per_channel fitted a mean and spread per
    pixel, which is standardize. Now one channel: one mean and population std over all its pixels."""
    built = build(
        Recipe.from_dict({"data": {"name": "digits", "scaling": "per_channel"}, "model": {"name": "cnn"}})
    )
    std, mean = torch.std_mean(built.splits.train.x.double(), correction=0)
    expected = ((built.splits.val.x.double() - mean) / std).float()
    torch.testing.assert_close(built.model.scaling(built.splits.val.x), expected)


def test_a_warmup_starts_from_the_recipes_warmup_start_as_torchs_linear_lr():
    """The warmup's start could not be set in a recipe (schedule: {warmup_start: 0.1} was an unknown
    hyperparameter of cosine): every warmup started at lr 0. The rate is now torch's LinearLR(0.1) joined
    to CosineAnnealingLR by SequentialLR, step for step."""
    recipe = Recipe.from_dict(
        {"schedule": {"name": "cosine", "warmup_steps": 5, "warmup_start": 0.1}, "training": {"steps": 30}}
    )
    schedule = build_schedule(recipe, 30)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    lr_scheduler = torch.optim.lr_scheduler
    reference = lr_scheduler.SequentialLR(
        optimizer,
        [
            lr_scheduler.LinearLR(optimizer, 0.1, 1.0, total_iters=5),
            lr_scheduler.CosineAnnealingLR(optimizer, 25),
        ],
        [5],
    )
    expected = []
    for _ in range(30):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert [schedule(t) for t in range(30)] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert (
        Recipe.from_dict({"schedule": {"name": "cosine", "warmup_steps": 5}}).id
        == Recipe.from_dict({"schedule": {"name": "cosine", "warmup_steps": 5, "warmup_start": 0.0}}).id
    )  # at its default, left out: stored ids stay
    with pytest.raises(RecipeError, match=r"0.1 for schedule.warmup_start.*warmup_steps > 0"):
        Recipe.from_dict({"schedule": {"name": "cosine", "warmup_start": 0.1}})


def test_other_seed_other_weights():
    recipe = Recipe.from_dict({"data": {"name": "iris"}})
    other = recipe.with_updates({"training.seed": 1})
    weights = [next(build(r).model.net.parameters()) for r in (recipe, other)]
    assert not torch.equal(*weights)


def linear_output_variances(built):
    """The variance of each Linear's outputs of ``built``'s model on 512 training rows."""
    outputs = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: outputs.append(o.var().item()))
        for m in built.model.net.modules()
        if isinstance(m, torch.nn.Linear)
    ]
    with torch.no_grad():
        built.model(built.splits.train.x[:512])
    for hook in hooks:
        hook.remove()
    return outputs


def test_lsuv_recipe_gives_unit_variance_layer_outputs_on_training_data():
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 64, "depth": 3, "init": "lsuv", "activation": "tanh"},
        }
    )
    outputs = linear_output_variances(build(recipe))
    assert len(outputs) == 4 and all(abs(v - 1) < 0.15 for v in outputs), outputs


def test_cnn_sees_digits_as_8x8_images():
    built = build(Recipe.from_dict({"data": {"name": "digits"}, "model": {"name": "cnn"}}))
    convs = [m for m in built.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and convs[0].in_channels == 1


def test_a_transformer_reads_digits_as_a_sequence_of_64_pixels():
    """A sequence model, not an image one, is built for the flat rows: 64 positions of one value each,
    its logits those of the rows' own forward (no 8x8 image shape it cannot take)."""
    built = build(Recipe.from_dict({"data": {"name": "digits"}, "model": {"name": "transformer"}}))
    net = built.model.net
    assert net.position.shape[0] == 64 and net.embed.in_features == 1
    rows = built.splits.train.x[:5]
    assert built.model(rows).shape == (5, 10)


def test_noisy_quadratic_trains_a_parameter_vector_on_its_own_loss():
    from optimlab.train import train

    recipe = Recipe.from_dict(
        {
            "data": {"name": "noisy_quadratic"},
            "model": {"name": "parameter_vector"},
            "optimizer": {"name": "sgd", "lr": 0.01},
            "training": {"steps": 200},
        }
    )
    built = build(recipe)
    assert built.loss_fn is built.splits.loss
    start = built.loss_fn(built.model(built.splits.val.x), built.splits.val.y).item()
    result = train(recipe)
    assert result.status == "completed" and result.metrics["val_loss"] < 0.5 * start


def test_drop_last_counts_only_full_batches_in_an_epoch():
    from optimlab.build import total_steps

    recipe = Recipe.from_dict({"training": {"epochs": 2, "batch_size": 100}})
    assert total_steps(recipe, 1078) == 2 * 11
    assert total_steps(recipe.with_updates({"training.drop_last": True}), 1078) == 2 * 10


def test_a_transformer_on_next_characters_is_causal_per_position_and_embeds_the_ids():
    """``--model transformer`` on python_source, nothing else set: one output row per position, each
    reading only the positions up to it (a later character changed leaves earlier outputs as they
    were), and the ids embedded, as the python_lm workload sets by hand."""
    text = {"name": "python_source", "options": {"chars": 2000, "context": 16}}
    built = build(Recipe.from_dict({"data": text, "model": {"name": "transformer"}}))
    net = built.model.net
    assert isinstance(net.embed, torch.nn.Embedding) and net.embed.num_embeddings == 97
    x = built.splits.train.x[:4]
    changed = x.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 97
    with torch.no_grad():
        out, out_changed = built.model(x), built.model(changed)
    assert out.shape == (4, 16, 97)
    assert torch.equal(out[:, :10], out_changed[:, :10]) and not torch.equal(out[:, 10:], out_changed[:, 10:])
    loss = built.loss_fn(out, built.splits.train.y[:4])
    assert abs(loss.item() - math.log(97)) < 1.0  # an untrained model: near uniform over 97 characters


@pytest.mark.parametrize("context", [16, 97])
def test_a_recipes_cross_entropy_on_next_characters_reads_the_classes_last(context):
    """training.loss: cross_entropy (for its label smoothing) on python_source handed the logits (N, T, 97)
    to torch's loss, which reads the classes at dim 1: a RuntimeError with 16 positions, and with 97, as
    many as the classes, a silent loss of the positions as classes. It is now torch's of each position."""
    text = {"name": "python_source", "options": {"chars": 3000, "context": context}}
    training = {"loss": "cross_entropy", "loss_options": {"label_smoothing": 0.1}, "steps": 1}
    built = build(Recipe.from_dict({"data": text, "model": {"name": "transformer"}, "training": training}))
    x, y = built.splits.train.x[:4], built.splits.train.y[:4]
    with torch.no_grad():
        out = built.model(x)
        expected = torch.nn.functional.cross_entropy(out.flatten(0, 1), y.flatten(), label_smoothing=0.1)
        torch.testing.assert_close(built.loss_fn(out, y), expected)


def test_loss_options_without_a_loss_are_refused_where_the_data_set_brings_its_own():
    """loss_options with no training.loss on a data set with its own loss were dropped without a word:
    label smoothing 0.1 on python_source trained with its plain next-character cross-entropy."""
    text = {"name": "python_source", "options": {"chars": 2000, "context": 16}}
    training = {"loss_options": {"label_smoothing": 0.1}}
    recipe = Recipe.from_dict({"data": text, "model": {"name": "transformer"}, "training": training})
    with pytest.raises(InvalidValueError, match=r"training.loss_options.*NextTokenCrossEntropy"):
        build(recipe)


def test_a_non_causal_model_on_next_tokens_and_a_model_without_positions_are_refused():
    """causal: false on next-character targets built a model whose position t attends to t + 1, its own
    target: a validation loss it reaches by copying."""
    text = {"name": "python_source", "options": {"chars": 2000, "context": 16}}
    model = {"name": "transformer", "options": {"causal": False}}
    with pytest.raises(InvalidValueError, match="model.options.causal.*reads each position's target"):
        build(Recipe.from_dict({"data": text, "model": model}))
    with pytest.raises(InvalidValueError, match="an output per position .* transformer"):
        build(Recipe.from_dict({"data": text, "model": {"name": "cnn"}}))
    # `optimlab train --dataset python_source` names no model: the message names the flag and the default
    with pytest.raises(InvalidValueError, match=r"'mlp' for model.name \(--model; the default is mlp\)"):
        build(Recipe.from_dict({"data": text}))


def test_bce_on_two_classes_builds_one_logit_whose_sign_is_the_accuracy(tmp_path):
    recipe = Recipe.from_dict(
        {
            "data": {"name": "breast_cancer", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 16, "depth": 1},
            "training": {"steps": 200, "loss": "bce"},
        }
    )
    result = train(recipe, tmp_path)
    built = build(recipe)
    assert built.model.net[-1].out_features == 1
    built.model.load_state_dict(torch.load(tmp_path / "model.pt")["model"])
    with torch.no_grad():
        logits = built.model.eval()(built.splits.val.x).squeeze(1)
    by_hand = ((logits > 0).long() == built.splits.val.y).float().mean().item()
    assert result.metrics["val_accuracy"] == pytest.approx(by_hand)
    assert result.metrics["val_accuracy"] > 0.9  # a separable set: not the share of class 0 (0.37)


def test_torchs_own_bce_on_two_classes_trains_as_bce_does():
    """torch.nn.BCEWithLogitsLoss named as the user's loss got two logits and the class ids, and failed on
    the first batch: it gets one output and 0/1 floats, as the registered bce."""
    data = {"name": "breast_cancer", "scaling": "standardize"}
    mine = build(Recipe.from_dict({"data": data, "training": {"loss": "torch.nn:BCEWithLogitsLoss"}}))
    assert mine.model.net[-1].out_features == 1
    logits, y = mine.model(mine.splits.val.x), mine.splits.val.y
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float().unsqueeze(1))
    torch.testing.assert_close(mine.loss_fn(logits, y), expected)


@pytest.mark.parametrize(
    "data, loss, accepted",
    [
        ("digits", "mse", "a 10-class loss for digits: cross_entropy"),
        ("digits", "bce", "a 10-class loss for digits: cross_entropy"),
        ("teacher_student", "cross_entropy", "a regression loss for teacher_student: mse, huber"),
    ],
)
def test_a_loss_of_the_other_task_or_of_two_classes_is_refused_by_its_field(data, loss, accepted):
    with pytest.raises(InvalidValueError, match=f"'{loss}' for training.loss: accepted {accepted}"):
        build(Recipe.from_dict({"data": {"name": data}, "training": {"loss": loss}}))


def test_a_warmup_past_the_run_is_named_by_its_recipe_field():
    """It was "warmup_steps ... at most total_steps (3)", names the recipe (and --warmup-steps) lack."""
    recipe = Recipe.from_dict({"data": {"name": "iris"}, "training": {"epochs": 1, "batch_size": 64}})
    steps = build(recipe).total_steps  # 90 training rows in batches of 64
    assert steps == 2
    with pytest.raises(
        InvalidValueError,
        match="invalid value 2 for schedule.warmup_steps: accepted at most 1: the run's 2 steps less one, for cosine",
    ):
        build(recipe.with_updates({"schedule.name": "cosine", "schedule.warmup_steps": 2}))
    assert (
        build(recipe.with_updates({"schedule.name": "constant", "schedule.warmup_steps": 2})).total_steps == 2
    )


IRIS_SAID = "is more than the {} training rows{} of iris: each step takes the whole split, a batch of {} rows"


@pytest.mark.parametrize(
    ("data", "batch_size", "said"),
    [
        ({}, 91, IRIS_SAID.format(90, "", 90)),
        ({}, 90, None),  # the split in one batch exactly
        ({"data_fraction": 0.5}, 100, IRIS_SAID.format(45, " data.data_fraction 0.5 keeps", 45)),
        ({"data_fraction": 1e-6}, 32, IRIS_SAID.format(3, " data.data_fraction 1e-06 keeps", 3)),
    ],
)
def test_a_batch_past_the_training_rows_takes_them_all_said_where_a_size_or_fraction_was_chosen(
    data, batch_size, said
):
    """A --batch-size 100 over the 45 rows data_fraction 0.5 keeps of iris was refused ('accepted 1.0167
    or more', no fraction), where 100 over a whole split of 90 was warned: one rule now, the rows kept in
    one batch, said once. Truth: the rows counted by hand (iris: 150, 30 to val and test each; a fraction
    keeps a row a class at least) and the one batch of all of them that torch's DataLoader makes."""
    recipe = Recipe.from_dict(
        {"data": {"name": "iris", **data}, "training": {"steps": 1, "batch_size": batch_size}}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build(recipe)
    rows = len(built.splits.train)
    loader = torch.utils.data.DataLoader(range(rows), batch_size=batch_size)
    assert [len(batch) for batch in loader] == [rows]
    assert [str(w.message).split(" ", 2)[2] for w in caught] == (
        [] if said is None else [f"{said}, one step an epoch"]
    )
    assert (built.recipe.training.batch_size, built.total_steps) == (batch_size, 1)


@pytest.mark.parametrize("accumulate", [3, 4, 50])
def test_accumulating_more_batches_than_an_epoch_has_is_said_as_a_batch_past_the_split_is(accumulate):
    """`train --accumulate-grad-batches 50` over an epoch of 34 batches made every step one of 34 without a
    word, where --batch-size past the split warns. Said alike: one warning naming the field, the value and
    the batches an epoch has; none where the groups fit. Truth: torch's DataLoader over the training split
    (iris: 90 rows, batches of 32), and the run's steps, one an epoch (groups never span an epoch's end)."""
    recipe = Recipe.from_dict(
        {"data": {"name": "iris"}, "training": {"epochs": 2, "accumulate_grad_batches": accumulate}}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build(recipe)
    batches = len(torch.utils.data.DataLoader(range(len(built.splits.train)), batch_size=32))
    assert batches == 3
    said = [str(w.message) for w in caught if "accumulate_grad_batches" in str(w.message)]
    if accumulate <= batches:
        assert said == [] and built.total_steps == 2 * math.ceil(batches / accumulate)
    else:
        assert said == [
            f"accumulate_grad_batches {accumulate} is more than the 3 batches an epoch of iris has: each step "
            "accumulates the whole epoch, 3 batches, one step an epoch"
        ]
        assert built.total_steps == 2  # one an epoch


def test_the_default_batch_size_past_a_small_split_is_no_choice_to_warn_of(tmp_path):
    """The default batch of 32 over a 40-row file (24 training rows) was warned of in each of a comparison's
    8 trials, though nobody typed it; a typed 33 is said."""
    (tmp_path / "tiny.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    recipe = Recipe.from_dict({"data": {"name": str(tmp_path / "tiny.csv")}, "training": {"steps": 1}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(build(recipe).splits.train) == 24
        build(recipe.with_updates({"training.batch_size": 33}))
    assert [str(w.message).split(":")[0] for w in caught] == [
        "batch_size 33 is more than the 24 training rows of tiny"
    ]


def test_drop_last_past_the_training_rows_is_refused_alone_in_the_recipes_words():
    """training.drop_last with a batch of 200 over iris's 90 rows said 'each step takes the whole split',
    then refused 'batch_size' at the first step: the refusal alone now, before a step, naming the field."""
    recipe = Recipe.from_dict(
        {"data": {"name": "iris"}, "training": {"steps": 1, "batch_size": 200, "drop_last": True}}
    )
    with warnings.catch_warnings(record=True) as caught, pytest.raises(InvalidValueError) as refused:
        warnings.simplefilter("always")
        build(recipe)
    assert caught == [] and str(refused.value) == (
        "invalid value 200 for training.batch_size (--batch-size): accepted at most the 90 training rows "
        "when training.drop_last drops smaller batches."
    )


def test_a_data_fraction_keeping_a_batch_is_kept():
    recipe = Recipe.from_dict({"data": {"name": "digits", "data_fraction": 0.05}})
    assert 32 <= len(build_data(recipe).train) < 60


def test_an_epoch_of_accumulated_batches_counts_its_optimizer_steps():
    from optimlab.build import total_steps

    recipe = Recipe.from_dict({"training": {"epochs": 2, "batch_size": 100, "accumulate_grad_batches": 4}})
    assert total_steps(recipe, 1078) == 2 * 3  # 11 batches an epoch: groups of 4, 4 and 3


def _trained_in_float64(recipe: Recipe) -> tuple[int, float]:
    """Steps and validation loss of ``recipe`` trained by the steps :func:`train` takes (``fit_built``: its
    batches, order, accumulation and seeds), with the model and inputs in float64: float32's rounding of
    sums taken in another order grows over the steps into differences that depend on the CPU's kernels.
    It skips what train adds around them: the per-epoch evaluation, callbacks (progress, metrics,
    checkpoints) and the run folder; the validation loss is taken once, after the last step."""
    from optimlab.train.run import evaluate, fit_built

    built = build(recipe)
    built.model.double()  # in place: the optimizer keeps the same parameters
    train_split, val = built.splits.train, built.splits.val
    state = fit_built(built, train_split.x.double(), train_split.y, evaluate=None)
    found = evaluate(built.model, built.loss_fn, val.x.double(), val.y, task="classification", prefix="val")
    return state.step, found["val_loss"]


# Float32 runs of the test below differed by 1.4e-4 relative (2.028126 vs 2.028410, an AMD EPYC): about
# 1200 float32 epsilons. The same growth from float64's epsilon stays under 1e5 of them with room.
FLOAT64_RUN_REL = 1e5 * torch.finfo(torch.float64).eps


def test_a_recipe_accumulating_four_batches_of_8_trains_as_batches_of_32():
    """1078 digits rows: 135 batches of 8 an epoch in groups of 4 are the 34 batches of 32, the last
    group (and batch) of 22 rows included, as long as no layer sees the batch apart (no batch norm)."""
    from optimlab.train.members import Unstackable, train_members

    base = {
        "model": {"name": "mlp", "norm": "none", "width": 32},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        "training": {"epochs": 2, "batch_size": 32},
    }
    whole_steps, whole = _trained_in_float64(Recipe.from_dict(base))
    grouped = Recipe.from_dict(base).with_updates(
        {"training.batch_size": 8, "training.accumulate_grad_batches": 4}
    )
    accumulated_steps, accumulated = _trained_in_float64(grouped)
    _, small = _trained_in_float64(Recipe.from_dict(base).with_updates({"training.batch_size": 8}))
    assert accumulated_steps == whole_steps == 68
    assert accumulated == pytest.approx(whole, rel=FLOAT64_RUN_REL, abs=0)
    assert small != pytest.approx(whole, rel=1e-2)
    with pytest.raises(Unstackable, match="accumulate_grad_batches"):
        train_members([grouped, grouped.with_updates({"optimizer.lr": 0.05})], [None, None])


_LABEL_LOSSES = """
import torch
from torch import nn

class SoftMargin(nn.Module):  # torch's, of one score per example and -1/+1 labels
    def forward(self, outputs, targets):
        return nn.functional.soft_margin_loss(outputs.squeeze(-1), targets.float())

WEIGHTS = torch.tensor([0.0, 1.0, 2.0, 3.0])  # indexed by the raw label id 1..3

class Weighted(nn.Module):  # a cross-entropy of labels 1..3 over 4 scores, each row weighted by its id
    def forward(self, outputs, targets):
        rows = nn.functional.cross_entropy(outputs, targets, reduction="none")
        return (rows * WEIGHTS[targets]).mean()

def hinge(outputs, targets):  # of one score per example against -1/+1 labels of the same shape
    return (1 - targets * outputs).clamp(min=0).mean()

def squared(outputs, targets):  # of one output per example and targets (N,), as a hand loop gives them
    return ((outputs.squeeze(-1) - targets) ** 2).mean()

class Bce(nn.BCEWithLogitsLoss):  # torch's, of probabilities: labels -1/+1 as 0/1
    pass

class Mse(nn.MSELoss):  # torch's, elementwise: its targets are shaped as the outputs
    pass

def margin_net(input_shape, num_outputs):
    torch.manual_seed(0)
    return nn.Linear(input_shape[0], 1)
"""


def _labelled_file(tmp_path, labels):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(labels), 3)).astype(np.float32)
    np.savez(tmp_path / "labelled.npz", x=x, y=np.asarray(labels))
    return x, np.asarray(labels)


@pytest.mark.parametrize("labels", [[-1, 1] * 50, [1, 2, 3, 3] * 25])
def test_the_users_own_loss_gets_the_class_labels_as_given(tmp_path, write_modules, labels):
    """The user's loss (training.loss by import path) got labels -1/+1 as 0/1 (torch's SoftMarginLoss then
    gave every -1 row the constant log 2, nothing to learn) and labels 1..3 as 0..2 (a table indexed by the
    raw id read the wrong rows), without a word beside the command line's note. Now the loss of the first
    batch is the user's loss computed by hand on the raw labels, each row's label the one its inputs had
    in the file, and a model of the user's sized by the recipe gets a score for every id up to the largest."""
    write_modules(label_losses=_LABEL_LOSSES)
    x, y = _labelled_file(tmp_path, labels)
    margin = labels[0] == -1
    recipe = Recipe.from_dict(
        {
            "data": {"name": str(tmp_path / "labelled.npz")},
            "model": {"name": "label_losses:margin_net"} if margin else {"name": "mlp", "depth": 1},
            "training": {
                "loss": "label_losses:SoftMargin" if margin else "label_losses:Weighted",
                "steps": 1,
            },
        }
    )
    built = build(recipe)
    assert built.splits.relabelled is None  # said in the data line all the same:
    shown = "-1, 1" if margin else "1, 2, 3"
    assert built.splits.reading == f"inputs 'x', targets 'y', labels {shown} as given to the loss"
    train = built.splits.train
    raw = {tuple(row): label for row, label in zip(x.tolist(), y.tolist())}
    assert train.y.tolist() == [raw[tuple(row)] for row in train.x.tolist()]  # each row's own label
    if not margin:
        assert built.splits.num_outputs == 4  # ids 0..3, of which 1..3 occur
    xb, yb = train.x[:8], torch.as_tensor([raw[tuple(row)] for row in train.x[:8].tolist()])
    with torch.no_grad():
        out = built.model(xb)
        if margin:
            expected = torch.log1p(torch.exp(-yb.float() * out.squeeze(-1))).mean()
        else:
            picked = out.log_softmax(1)[torch.arange(8), yb]
            expected = (-picked * yb.float()).mean()  # the weight of id k is k
        torch.testing.assert_close(built.loss_fn(out, train.y[:8]), expected)


def test_optimlabs_own_loss_gets_class_ids_and_says_the_mapping():
    """Under optimlab's own cross-entropy, which needs ids 0..K-1, labels -1/+1 are mapped and the mapping
    is said in ``relabelled`` (the Python API's warning) as in ``reading`` (the command line's line)."""
    from optimlab.data import Examples

    data = Examples.from_arrays(torch.randn(6, 2), torch.tensor([-1, 1, 1, -1, 1, -1]), name="pm")
    assert data.examples.y.tolist() == [0, 1, 1, 0, 1, 0]
    assert data.relabelled == "labels -1, 1 as classes 0-1" and data.reading.endswith(data.relabelled)


@pytest.mark.parametrize("loss", ["squared", "Mse"])
def test_the_users_own_loss_gets_a_regressions_targets_in_their_own_shape(tmp_path, write_modules, loss):
    """Regression targets (N,) reached the user's loss as (N, 1): a loss of outputs.squeeze(-1) - targets
    then broadcast to (N, N), every output against every target of its batch, without a word (fit gives
    them as they are). Now they keep their shape; torch's elementwise losses still get them shaped as the
    outputs, (N, 1). The first batch's loss is the squared error by hand against each row's own target."""
    import numpy as np

    write_modules(label_losses=_LABEL_LOSSES)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    np.savez(tmp_path / "amounts.npz", x=x, y=y)
    recipe = Recipe.from_dict(
        {
            "data": {"name": str(tmp_path / "amounts.npz")},
            "model": {"name": "label_losses:margin_net"},
            "training": {"loss": f"label_losses:{loss}", "steps": 1},
        }
    )
    built = build(recipe)
    train = built.splits.train
    assert tuple(train.y.shape) == ((len(train),) if loss == "squared" else (len(train), 1))
    raw = {tuple(row): target for row, target in zip(x.tolist(), y.tolist())}
    yb = torch.tensor([raw[tuple(row)] for row in train.x[:8].tolist()])
    with torch.no_grad():
        out = built.model(train.x[:8])
        torch.testing.assert_close(built.loss_fn(out, train.y[:8]), ((out.squeeze(-1) - yb) ** 2).mean())


def test_the_users_own_loss_gets_labels_in_a_column_as_given_and_their_accuracy_is_read(
    tmp_path, write_modules
):
    """Labels stored (N, 1) reached the user's loss as (N,): a hinge loss of 1 - targets * outputs against
    one score each, (N, 1), broadcast to (N, N) without a word (fit gives them as they are). Now they keep
    their shape, are split by class, and the run's accuracy is the share of rows whose score's sign is their
    label. The first batch's loss is the hinge by hand against each row's own label."""
    import numpy as np

    write_modules(label_losses=_LABEL_LOSSES)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = np.where(x[:, :1] > 0, 1, -1)  # (N, 1)
    np.savez(tmp_path / "column.npz", x=x, y=y)
    recipe = Recipe.from_dict(
        {
            "data": {"name": str(tmp_path / "column.npz"), "scaling": "none"},
            "model": {"name": "label_losses:margin_net"},
            "training": {"loss": "label_losses:hinge", "steps": 1},
        }
    )
    built = build(recipe)
    train, test = built.splits.train, built.splits.test
    assert tuple(train.y.shape) == (len(train), 1)
    for label in (-1, 1):  # split class by class: a fifth of each to test
        assert (test.y == label).sum() == int((y == label).sum() * 0.2 + 0.5)  # rounded half up
    raw = {tuple(row): label for row, label in zip(x.tolist(), y[:, 0].tolist())}
    yb = torch.tensor([[raw[tuple(row)]] for row in train.x[:8].tolist()])
    with torch.no_grad():
        out = built.model(train.x[:8])
        torch.testing.assert_close(built.loss_fn(out, train.y[:8]), (1 - yb * out).clamp(min=0).mean())
        score = built.model(test.x).squeeze(-1)
    from optimlab.train.run import evaluate  # a run's evaluation of a split

    found = evaluate(built.model, built.loss_fn, test.x, test.y, task="classification", prefix="test")
    expected = ((score > 0) == (test.y.squeeze(-1) > 0)).double().mean().item()
    assert 0.2 < expected < 0.8 and found["test_accuracy"] == pytest.approx(expected)


def test_torchs_binary_cross_entropy_of_the_user_gets_labels_as_the_probabilities_it_takes(
    tmp_path, write_modules
):
    """The user's own BCEWithLogitsLoss reads a target as the probability of class 1: given the labels
    -1/+1 as they are, its loss has no lower bound and the model learns to inflate its logits. It gets
    them as 0/1, said as for optimlab's losses; the first batch's loss is torch's of (y + 1) / 2 by hand."""
    write_modules(label_losses=_LABEL_LOSSES)
    x, y = _labelled_file(tmp_path, [-1, 1] * 50)
    recipe = Recipe.from_dict(
        {
            "data": {"name": str(tmp_path / "labelled.npz")},
            "model": {"name": "label_losses:margin_net"},
            "training": {"loss": "label_losses:Bce", "steps": 1},
        }
    )
    built = build(recipe)
    assert built.splits.relabelled == "labels -1, 1 as classes 0-1"
    train = built.splits.train
    raw = {tuple(row): label for row, label in zip(x.tolist(), y.tolist())}
    yb = torch.tensor([raw[tuple(row)] for row in train.x[:8].tolist()], dtype=torch.float32)
    with torch.no_grad():
        out = built.model(train.x[:8])
        expected = torch.nn.functional.binary_cross_entropy_with_logits(out.squeeze(-1), (yb + 1) / 2)
        torch.testing.assert_close(built.loss_fn(out, train.y[:8]), expected)


@pytest.mark.parametrize(
    ("init", "reference"),
    [
        ("kaiming_normal", torch.nn.init.kaiming_normal_),
        ({"name": "xavier_uniform", "gain": 0.5}, lambda w: torch.nn.init.xavier_uniform_(w, gain=0.5)),
        (
            {"name": "he", "mode": "fan_out", "a": 0.2},
            lambda w: torch.nn.init.kaiming_normal_(w, 0.2, "fan_out"),
        ),
    ],
)
def test_a_recipes_init_draws_the_users_own_model(user_package, init, reference):
    """The user's factory by import path takes no init: a recipe's init was refused ('takes no init'), so
    no study could compare inits on the user's own model. The build draws it: after the factory (same
    seed), each Linear is what torch's function of the name draws on it, its bias zero."""
    from optimlab_userpkg.nets import build as users_build

    recipe = Recipe.from_dict(
        {"data": {"name": "digits"}, "model": {"name": "optimlab_userpkg.nets:build", "init": init}}
    )
    built = build(recipe)
    torch.manual_seed(recipe.training.seed)
    linears = [m for m in users_build((64,), 10).modules() if isinstance(m, torch.nn.Linear)]
    expected = [reference(torch.empty_like(m.weight)) for m in linears]
    drawn = [m for m in built.model.net.modules() if isinstance(m, torch.nn.Linear)]
    torch.testing.assert_close([m.weight.data for m in drawn], expected, rtol=0, atol=0)
    assert all(torch.all(m.bias == 0) for m in drawn)


def test_gain_auto_on_the_users_model_reads_the_activation_functions_its_forward_calls(write_modules):
    """gain 'auto' read the registration order alone, where F.relu is no module: the user's model was
    drawn at gain 1 without a word. It reads one forward pass on training inputs: torch's relu gain sqrt(2)
    for the layer before F.relu, 1 for the output layer."""
    write_modules(
        functional_net="""
        import math
        from torch import nn
        from torch.nn import functional

        class Net(nn.Module):
            def __init__(self, input_shape, num_outputs):
                super().__init__()
                self.hidden, self.out = nn.Linear(math.prod(input_shape), 512), nn.Linear(512, num_outputs)

            def forward(self, x):
                return self.out(functional.relu(self.hidden(x.flatten(1))))
        """
    )
    recipe = Recipe.from_dict(
        {"model": {"name": "functional_net:Net", "init": {"name": "xavier_normal", "gain": "auto"}}}
    )
    net = build(recipe).model.net
    for layer, gain in [(net.hidden, torch.nn.init.calculate_gain("relu")), (net.out, 1.0)]:
        fan_out, fan_in = layer.weight.shape
        # thousands of draws: the sample std within 5% of gain * sqrt(2 / (fan_in + fan_out))
        assert layer.weight.std().item() == pytest.approx(gain * math.sqrt(2 / (fan_in + fan_out)), rel=0.05)


def test_lsuv_draws_the_users_own_model_on_its_training_inputs(user_package):
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "optimlab_userpkg.nets:build", "init": "lsuv", "options": {"width": 64}},
        }
    )
    outputs = linear_output_variances(build(recipe))
    assert len(outputs) == 2 and all(abs(v - 1) < 0.1 for v in outputs), outputs


def test_a_recipes_init_draws_the_users_model_of_dict_batches(user_package, write_modules):
    """Dict batches: the user's model built from its own config is drawn as well; its embedding, which no
    name draws, is named in the warning."""
    write_modules(
        bag_net="""
        from torch import nn
        from torch.nn import functional

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed, self.head = nn.EmbeddingBag(20, 8), nn.Linear(8, 2)

            def forward(self, input_ids, attention_mask=None, labels=None):
                logits = self.head(self.embed(input_ids))
                return {"logits": logits, "loss": functional.cross_entropy(logits, labels)}
        """
    )
    recipe = Recipe.from_dict(
        {
            "data": {"name": "optimlab_userpkg.text:sentences"},
            "model": {"name": "bag_net:Net", "init": "orthogonal"},
        }
    )
    with pytest.warns(KeptWeightsWarning, match="'embed.weight' \\(20, 8\\)"):
        head = build(recipe).model.head
    torch.testing.assert_close(head.weight @ head.weight.T, torch.eye(2), rtol=0, atol=1e-6)
    assert torch.all(head.bias == 0)


def _rows(splits):
    """Each split's row ids (a row's one input is its index in the file)."""
    return {
        part: frozenset(getattr(splits, part).x[:, 0].long().tolist()) for part in ("train", "val", "test")
    }


def test_a_fixed_split_seed_splits_and_subsamples_runs_of_every_seed_alike(tmp_path):
    """data.split_seed fixes the data's split and its training subsample whatever training.seed: a study's
    seed reruns were split anew by their own seed, so some of their test rows were validation rows at the
    tuning seed. Left None, the split follows training.seed as it always did. Truth: the row ids of each
    split (each row's input is its index in the file)."""
    import numpy as np

    path = tmp_path / "rows.npz"
    np.savez(path, x=np.arange(200, dtype=np.float32).reshape(-1, 1), y=np.arange(200) % 2)
    base = Recipe.from_dict({"data": {"name": str(path), "data_fraction": 0.5}})
    at_tuning = _rows(build_data(base))
    assert (len(at_tuning["train"]), len(at_tuning["val"]), len(at_tuning["test"])) == (60, 40, 40)
    for seed in (1, 2, 3):
        fixed = _rows(build_data(base.with_updates({"training.seed": seed, "data.split_seed": 0})))
        assert fixed == at_tuning  # test, val and the subsample of train: the same rows
        assert not fixed["test"] & (at_tuning["train"] | at_tuning["val"])
        resplit = _rows(build_data(base.with_updates({"training.seed": seed})))
        assert resplit["test"] & at_tuning["val"]  # None: split anew by the seed, as before
    # the subsample follows the split seed: another split seed, another subsample of its own training rows
    other = _rows(build_data(base.with_updates({"data.split_seed": 5})))
    assert other["train"] != at_tuning["train"] and len(other["train"]) == 60
