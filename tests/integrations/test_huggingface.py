"""optimlab with Hugging Face transformers: models built from tiny configs (nothing downloaded), fed
dict batches and returning their own loss, doctored directly and inside ``Trainer`` by the callback;
the LR range test of a trainer; optimlab's optimizers and schedules in ``Trainer(optimizers=...)``."""

from __future__ import annotations

import itertools

import pytest
import torch
from doctor.setups import OPTIMIZERS, NamedExamples, ReturnsItsLoss, mlp, standardized
from doctor.test_doors import DOOR_CASES
from doctor.test_rules import BROKEN
from torch.utils.data import DataLoader, Dataset
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    ViTConfig,
    ViTForImageClassification,
)

from optimlab import diagnose, optim, schedules
from optimlab.data.user_batches import UserBatches
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.integrations.huggingface import (
    DoctorCallback,
    ScheduleFreeModes,
    lr_range_test,
    trainer_optimizers,
)
from optimlab.train.evaluation import evaluate_batches


class Sentences(Dataset):
    """Token sequences whose label is whether token 7 occurs in them: a task attention can learn."""

    def __init__(self, n=256, length=12, vocab=50, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, vocab, (n, length), generator=generator)
        self.labels = (self.ids == 7).any(1).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones_like(self.ids[i]),
            "labels": self.labels[i],
        }


class Images(Dataset):
    """3x16x16 images whose label is the brighter half; ``scale`` 255 makes them raw 8-bit pixels."""

    def __init__(self, n=128, scale=1.0, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.pixels = torch.rand(n, 3, 16, 16, generator=generator)
        self.labels = (self.pixels[:, :, :8].mean((1, 2, 3)) > self.pixels[:, :, 8:].mean((1, 2, 3))).long()
        self.pixels = (self.pixels - 0.5) / 0.29 if scale == 1.0 else self.pixels * scale

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return {"pixel_values": self.pixels[i], "labels": self.labels[i]}


def tiny_bert(layers=2):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=16,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def tiny_vit():
    torch.manual_seed(0)
    config = ViTConfig(
        image_size=16,
        patch_size=4,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
    )
    return ViTForImageClassification(config)


def trainer(model, data, steps, optimizer, callbacks=(), tmp="/tmp/optimlab-hf-tests", chosen=None, **args):
    """A CPU Trainer of ``steps`` steps; ``chosen``: its ``optimizer_cls_and_kwargs``, ``args`` the
    ``TrainingArguments`` beyond these."""
    arguments = TrainingArguments(
        tmp,
        **{
            "max_steps": steps,
            "per_device_train_batch_size": 32,
            "report_to": [],
            "use_cpu": True,
            "save_strategy": "no",
            "logging_strategy": "no",
            "disable_tqdm": True,
            "seed": 0,
            **args,
        },
    )
    return Trainer(
        model=model,
        args=arguments,
        train_dataset=data,
        optimizers=optimizer,
        optimizer_cls_and_kwargs=chosen,
        callbacks=list(callbacks),
    )


@pytest.mark.parametrize("case", DOOR_CASES)
def test_the_callback_finds_the_root_cause_the_other_doors_find(case):
    setup, rule = DOOR_CASES[case]
    model = ReturnsItsLoss(setup.model(), setup.loss)
    optimizer = OPTIMIZERS[setup.optimizer](model.parameters(), setup.lr)
    doctor = DoctorCallback(print_findings=False)
    trainer(model, NamedExamples(*setup.data()), setup.steps, trainer_optimizers(optimizer), [doctor]).train()
    assert [f.rule for f in doctor.diagnosis.findings][:1] == [rule], doctor.diagnosis.findings
    steps = doctor.diagnosis.statistics.steps  # all, or up to the first NaN
    assert steps == list(range(1, len(steps) + 1)) and (len(steps) == setup.steps or rule == "nan_inf")


def test_a_text_classifier_with_dict_batches_is_doctored_directly_and_in_the_trainer():
    model = tiny_bert()
    direct = diagnose(model, Sentences(), steps=30, batch_size=32, lr_find=False)
    stats = direct.statistics
    assert len(stats.steps) == 30 and all(torch.isfinite(torch.tensor(stats.losses)))
    assert {"classifier", "bert.encoder.layer.1.output.dense"} <= {layer.name for layer in stats.layers}
    assert stats.activations["bert.pooler.activation"] == "tanh"  # hooked, named as in the registry
    doctor = DoctorCallback(print_findings=False)
    optimizer = optim.create("adamw", model.parameters(), lr=1e-3)
    trainer(model, Sentences(), 30, trainer_optimizers(optimizer), [doctor]).train()
    assert doctor.diagnosis.statistics.steps == list(range(1, 31))
    assert [layer.name for layer in doctor.diagnosis.statistics.layers] == [
        layer.name for layer in stats.layers
    ]


def test_an_image_classifier_on_raw_pixels_is_told_to_standardize_through_both_doors():
    data = Images(scale=255.0)
    direct = diagnose(tiny_vit(), data, steps=20, batch_size=32, lr_find=False)
    assert direct.findings[0].rule == "input_scale", direct.findings
    model = tiny_vit()
    doctor = DoctorCallback(print_findings=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    trainer(model, data, 20, trainer_optimizers(optimizer), [doctor]).train()
    assert doctor.diagnosis.findings[0].rule == "input_scale", doctor.diagnosis.findings
    standardized = diagnose(tiny_vit(), Images(), steps=20, batch_size=32, lr_find=False)
    assert "input_scale" not in {f.rule for f in standardized.findings}


def test_a_model_that_returns_no_loss_is_named_at_the_first_step():
    model = tiny_vit()
    data = [{"pixel_values": Images(n=4).pixels}]  # no labels: the model computes no loss
    with pytest.raises(InvalidValueError, match="model's output"):
        diagnose(model, data, lr_find=False, steps=2)


def test_the_range_test_of_a_trainer_uses_its_data_and_loss_and_restores_the_model():
    model = tiny_vit()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    hf = trainer(model, Images(), 10, trainer_optimizers(torch.optim.Adam(model.parameters(), lr=1e-3)))
    result = lr_range_test(hf, steps=30, start_lr=1e-5, end_lr=1.0)
    assert len(result.losses) >= 10 and result.lrs[0] == pytest.approx(1e-5)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


def test_the_suggestion_set_as_the_trainers_learning_rate_after_the_range_test_is_the_one_trained_at():
    """A Trainer given no optimizer: the range test created one (create_optimizer) and left it on the
    trainer, so train() reused it at the learning rate of its creation (5e-05), and the suggestion set as
    the docstring says, args.learning_rate, was silently ignored. The lr the optimizer trains at is torch's
    param_groups' initial_lr, which the Trainer's scheduler starts from."""
    hf = trainer(tiny_bert(layers=1), Sentences(n=64), 1, (None, None), learning_rate=5e-5)
    lr_range_test(hf, steps=10)
    assert hf.optimizer is None
    hf.args.learning_rate = 0.0123
    hf.train()
    assert [group["initial_lr"] for group in hf.optimizer.param_groups] == [0.0123, 0.0123]


def test_the_range_test_of_a_trainer_clips_as_it_does_and_says_what_else_it_does_otherwise():
    """The Trainer clips every step's gradient at max_grad_norm (1.0 by default) and steps once every
    gradient_accumulation_steps batches; the range test of it did neither and said nothing, its
    suggestion read as one for the Trainer's training; then it said 'unclipped'. It clips as the Trainer
    does. Truth: the sweep's lrs stepped by hand (SGD) on the Trainer's batches, in order, with torch's
    clip_grad_norm_ at the Trainer's max_grad_norm=0.001 (far below these gradients' norms: every step
    clipped), the loss after each step the sweep's; the accumulation is said in the reason."""

    def swept(**args):
        model = tiny_vit()
        optimizer = trainer_optimizers(torch.optim.SGD(model.parameters(), lr=0.1))
        hf = trainer(model, Images(n=64), 2, optimizer, train_sampling_strategy="sequential", **args)
        return lr_range_test(hf, steps=12, end_lr=100.0)

    plain, tight = swept(max_grad_norm=0.0), swept(max_grad_norm=1e-3)
    model, seen = tiny_vit(), []
    optimizer, batches = (
        torch.optim.SGD(model.parameters(), lr=0.1),
        itertools.cycle(DataLoader(Images(n=64), 32)),
    )
    loss = model(**next(batches)).loss
    for lr in tight.lrs:
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        optimizer.param_groups[0]["lr"] = lr
        optimizer.step()
        loss = model(**next(batches)).loss
        seen.append(loss.item())
    assert len(seen) == 12 and tight.losses == pytest.approx(seen, rel=1e-4)
    assert tight.losses != pytest.approx(plain.losses, rel=1e-3)  # the clip acts
    assert tight.reason == plain.reason and "max_grad_norm" not in tight.reason
    assert swept(gradient_accumulation_steps=4).reason.endswith(
        " (a step a batch: the Trainer's gradient_accumulation_steps=4 steps once every 4 batches, on 4x "
        "the rows)"
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_trainer_under_bf16_is_said_to_train_otherwise_than_the_sweep_without_autocast(dtype):
    """TrainingArguments(bf16=True): train() runs the model's forward under bfloat16 autocast, the range
    test without it, and its reason said nothing of it (the Lightning range test says its Trainer's
    precision); then it said 'at 32-bit', false of a model loaded in bfloat16, which the sweep runs in
    bfloat16. The truth: the dtype of the classifier's output in the sweep (the model's own) and in the
    real train() (autocast's)."""
    model = tiny_vit().to(dtype)
    dtypes = []
    model.classifier.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
    hf = trainer(
        model, Images(n=64), 2, trainer_optimizers(torch.optim.SGD(model.parameters(), lr=0.1)), bf16=True
    )
    result = lr_range_test(hf, steps=8)
    assert set(dtypes) == {dtype}
    assert result.reason.endswith("(without autocast: the Trainer's bf16=True mixed precision is not taken)")
    if dtype == torch.float32:
        dtypes.clear()
        hf.train()
        assert set(dtypes) == {torch.bfloat16}


def test_the_check_of_a_trainer_with_several_eval_datasets_is_refused_in_one_line():
    """Trainer(eval_dataset={"a": ..., "b": ...}), which the Trainer evaluates one by one (eval_a_loss,
    eval_b_loss): lr_range_test(trainer, check_steps=...) ended in the DataLoader's KeyError: 0, its
    loader indexing the dict as a data set. No one held-out score exists: refused in one line, naming
    the data sets, the weights untouched; with one of them set it runs."""
    model = tiny_vit()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    hf = trainer(model, Images(n=64), 2, trainer_optimizers(torch.optim.SGD(model.parameters(), lr=0.1)))
    hf.eval_dataset = {"in_domain": Images(n=32, seed=1), "shifted": Images(n=32, scale=255.0, seed=2)}
    with pytest.raises(InvalidValueError, match=r"^invalid value 'a dict of 2 data sets \(in_domain, shifted\)' "
                                                r"for trainer.eval_dataset: accepted one data set"):  # fmt: skip
        lr_range_test(hf, steps=8, check_steps=2)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items()) and hf.optimizer is not None
    hf.eval_dataset = hf.eval_dataset["in_domain"]
    assert lr_range_test(hf, steps=17, check_steps=2).check is not None  # 0.5 decade a step, checked


@pytest.mark.parametrize("before", ["off", "on"])
def test_under_gradient_checkpointing_the_range_test_recomputes_activations_as_training_does(before):
    """TrainingArguments(gradient_checkpointing=True): train() turns activation checkpointing on, so each
    checkpointed block runs its forward again in each backward pass (Chen et al. 2016); the range test ran
    before train() with it off, another graph in more memory than training. The truth: the real Trainer's
    train(), where a layer inside a block runs a forward pass a step and one more a backward; the sweep's
    are now those of the same sweep without checkpointing plus one a backward, its losses the same, and
    the model comes back as it was (off, without the embeddings' hook enabling adds, where train() turns
    it on itself; on where it was)."""

    def counted(model):  # the layer's forward passes in training mode, and its backward passes
        layer = model.bert.encoder.layer[0].intermediate.dense
        forwards, backwards = [], []
        handles = [
            layer.register_forward_hook(lambda module, args, output: forwards.append(module.training)),
            layer.weight.register_hook(backwards.append),
        ]
        return forwards, backwards, handles

    def swept(checkpointing, before):
        model = tiny_bert()
        if before == "on":
            model.activation_checkpointing_enable()
        hooks = {name: dict(m._forward_hooks) for name, m in model.named_modules()}
        forwards, backwards, handles = counted(model)
        hf = trainer(model, Sentences(n=64), 2, (None, None), gradient_checkpointing=checkpointing)
        torch.manual_seed(0)
        losses = lr_range_test(hf, steps=6, end_lr=1e-2).losses
        assert model.is_activation_checkpointing == (before == "on")
        for handle in handles:
            handle.remove()
        assert hooks == {name: dict(m._forward_hooks) for name, m in model.named_modules()}
        return hf, losses, forwards.count(True), len(backwards)

    _, plain, once, _ = swept(False, "off")
    hf, losses, forwards, backwards = swept(True, before)
    assert losses == pytest.approx(plain, rel=1e-6) and forwards == once + backwards and backwards >= 6
    forwards, backwards, _ = counted(hf.model)
    hf.train()  # the truth: 2 steps of the Trainer's own training
    assert hf.model.is_activation_checkpointing and len(backwards) == 2 and forwards.count(True) == 2 + 2


def test_gradient_checkpointing_of_a_model_that_cannot_checkpoint_is_refused_in_one_line():
    """A plain module has no gradient_checkpointing_enable: the Trainer's train() raises AttributeError
    there, and the range test, which now turns checkpointing on as train() does, says so in one line."""
    data = [{"input_ids": row["input_ids"], "labels": row["label"]} for row in PaddedText(n=16)]
    hf = trainer(ReturnsATuple(), data, 1, (None, None), gradient_checkpointing=True)
    with pytest.raises(InvalidValueError, match=r"^invalid value True for TrainingArguments\(gradient_checkp"
                                                r"ointing=...\): accepted False for a ReturnsATuple, which"):  # fmt: skip
        lr_range_test(hf, steps=4)
    with pytest.raises(AttributeError, match="gradient_checkpointing_enable"):
        hf.train()


def test_the_check_of_a_trainer_scores_its_candidates_on_rows_held_out_of_its_data():
    model = tiny_vit()
    hf = trainer(model, Images(), 10, trainer_optimizers(torch.optim.Adam(model.parameters(), lr=1e-3)))
    result = lr_range_test(hf, steps=50, start_lr=1e-4, end_lr=1.0, check_steps=6)
    assert result.check is not None and result.suggestion in [c.lr for c in result.candidates]
    assert all(c.score is not None and c.score > 0 for c in result.candidates)


def test_an_optimlab_schedule_drives_the_trainers_lr_and_schedule_free_ends_at_its_evaluation_point():
    schedule = schedules.create("cosine", total_steps=20, warmup_steps=5)
    model = tiny_bert()
    optimizer = optim.create("lion", model.parameters(), lr=1e-4)
    trainer(model, Sentences(), 12, trainer_optimizers(optimizer, schedule)).train()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * schedule(12))

    def train_schedule_free(callbacks):
        model = tiny_bert()
        optimizer = optim.create("schedule_free_adamw", model.parameters(), lr=1e-3)
        trainer(model, Sentences(), 6, trainer_optimizers(optimizer), callbacks).train()
        return model, optimizer

    with_modes, _ = train_schedule_free([ScheduleFreeModes()])
    without, optimizer = train_schedule_free([])
    weight = "classifier.weight"
    assert not torch.allclose(with_modes.state_dict()[weight], without.state_dict()[weight])
    optimizer.eval()  # what the callback does for the user
    assert torch.allclose(with_modes.state_dict()[weight], without.state_dict()[weight], atol=1e-6)


def test_a_torch_scheduler_is_refused_by_its_type_and_goes_to_the_trainer_as_it_is():
    """trainer_optimizers(optimizer, StepLR(...)) said 'invalid value <torch.optim.lr_scheduler.StepLR
    object at 0x7f...> for schedule': a memory address, and no way on. The truth: it is named by its type,
    and the way the line names, Trainer(optimizers=(optimizer, scheduler)), steps it once an optimizer
    step (lr 0.1 * 0.5 ** (4 // 2) after 4 steps, StepLR's own rule)."""
    model = tiny_bert()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step_lr = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    with pytest.raises(InvalidValueError) as refused:
        trainer_optimizers(optimizer, step_lr)
    said = str(refused.value)
    assert "a StepLR for schedule" in said and "Trainer(optimizers=(optimizer, scheduler))" in said, said
    assert " at 0x" not in said and "\n" not in said
    trainer(model, Sentences(n=64), 4, (optimizer, step_lr), per_device_train_batch_size=16).train()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


def test_a_plateau_schedule_is_refused_in_one_line_and_the_way_it_names_reduces_the_lr():
    """The Trainer stepped optimlab's plateau without its metric: after 6 evaluations that never
    improved (patience 0), the lr was still 0.1."""
    optimizer = optim.create("sgd", tiny_bert().parameters(), lr=0.1)
    plateau = schedules.create("reduce_on_plateau", patience=0, factor=0.5)
    with pytest.raises(InvalidValueError, match="'reduce_on_plateau' for schedule: accepted a step schedule"):
        trainer_optimizers(optimizer, plateau)
    model = tiny_bert()
    optimizer = optim.create("sgd", model.parameters(), lr=0.1)
    arguments = TrainingArguments("/tmp/optimlab-hf-tests", max_steps=12, report_to=[], use_cpu=True,
                                  save_strategy="no", disable_tqdm=True, eval_strategy="steps", eval_steps=2,
                                  lr_scheduler_type="reduce_lr_on_plateau",
                                  lr_scheduler_kwargs={"patience": 0, "factor": 0.5, "threshold": 10.0})  # fmt: skip
    # threshold 10: no evaluation improves, each of the 6 halves the lr
    Trainer(model=model, args=arguments, train_dataset=Sentences(n=64), eval_dataset=Sentences(n=32, seed=1),
            optimizers=(optimizer, None)).train()  # fmt: skip
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**6)


def test_a_loss_computed_outside_the_model_is_named_at_the_first_step():
    model = tiny_vit()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # With label smoothing the Trainer keeps the labels from the model and computes the loss itself.
    hf = trainer(
        model,
        Images(),
        3,
        trainer_optimizers(optimizer),
        [DoctorCallback(print_findings=False)],
        label_smoothing_factor=0.1,
    )
    with pytest.raises(InvalidValueError, match="cannot see a loss computed outside the model"):
        hf.train()


def test_a_causal_language_models_accuracy_pairs_each_position_with_the_next_token():
    """GPT-2 takes its inputs as labels and shifts them inside: the held-out accuracy is that of the
    next token, as a hand count says; a token classifier's labels are paired as they are."""
    torch.manual_seed(0)
    ids = torch.randint(0, 40, (24, 10))
    ids[:, 1::2] = (ids[:, ::2] + 1) % 40  # every second token follows from the one before
    batches = [{"input_ids": ids[i : i + 8], "labels": ids[i : i + 8]} for i in range(0, 24, 8)]
    model = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    metrics = evaluate_batches(model, UserBatches(batches, None), prefix="val")  # a random model's hits
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    next_token = (logits[:, :-1].argmax(-1) == ids[:, 1:]).float().mean().item()
    same_token = (logits.argmax(-1) == ids).float().mean().item()
    assert metrics["val_accuracy"] == pytest.approx(next_token, abs=1e-6)
    assert abs(next_token - same_token) > 1e-3  # the two pairings differ here

    tags = (ids % 3).long()
    tagger = BertForTokenClassification(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=32, num_labels=3))  # fmt: skip
    tagger.eval()
    tagged = [{"input_ids": ids[i : i + 8], "labels": tags[i : i + 8]} for i in range(0, 24, 8)]
    with torch.no_grad():
        hits = (tagger(input_ids=ids).logits.argmax(-1) == tags).float().mean().item()
    assert evaluate_batches(tagger, UserBatches(tagged, None), prefix="val")["val_accuracy"] == pytest.approx(
        hits
    )


@pytest.mark.parametrize("layers", [1, 2])
def test_bert_at_its_own_init_is_not_said_to_have_vanishing_gradients(layers):
    """BERT's weights of std 0.02 give every block alike 1e-6..1e-3 of the classifier's gradient per
    weight (its query and key the least): no fall with depth, and Adam trains it. With one block no
    copy of a layer shows that; the value projection reads the query's input and gets 1e-3 (the
    query 4e-6), and the wide layer after it 8e-4."""
    diagnosis = diagnose(tiny_bert(layers), Sentences(), steps=60, batch_size=32, lr_find=False)
    stats = diagnosis.statistics
    layers, rms = [layer.name for layer in stats.layers], stats.layer_grad_norms()[:5].median(0).values
    sizes = torch.tensor([float(layer.num_params) for layer in stats.layers], dtype=torch.float64)
    relative = (rms / sizes.sqrt()) / (rms / sizes.sqrt())[layers.index("classifier")]
    assert (
        relative[layers.index("bert.encoder.layer.0.attention.self.query")] < 1e-3
    )  # small, as the rule saw
    assert "vanishing_gradients" not in [f.rule for f in diagnosis.findings]


def test_the_callback_sees_the_labels_of_each_step():
    """The Trainer's batches reach the model as keywords: the callback keeps each step's labels, as
    the doctor's own run keeps its batches' targets."""
    doctor = DoctorCallback(print_findings=False)
    data, model = Sentences(), tiny_bert()
    optimizer = optim.create("adamw", model.parameters(), lr=1e-3)
    trainer(model, data, 12, trainer_optimizers(optimizer), [doctor]).train()
    kept = doctor.diagnosis.statistics.batch_targets
    assert len(kept) == 12 and all(t.dtype == torch.long and len(t) == 32 for t in kept)
    assert set(torch.cat(kept).tolist()) == set(data.labels.tolist())


class NamedTargets(torch.nn.Module):
    """tiny_bert taking its labels under ``name`` (``TrainingArguments(label_names=[name])``), as a
    model of one's own may; the labels each forward pass was given are kept in ``given``."""

    def __init__(self, name):
        super().__init__()
        self.bert, self.name, self.given = tiny_bert(), name, []

    def forward(self, input_ids, attention_mask=None, **labels):
        if isinstance(labels[self.name], torch.Tensor):  # not the doctor's tracing (torch.fx proxies)
            self.given.append(labels[self.name])
        return self.bert(input_ids=input_ids, attention_mask=attention_mask, labels=labels[self.name])


@pytest.mark.parametrize("name", ["answer", "targets"])
def test_the_callback_sees_labels_under_the_key_the_trainer_is_told(name):
    """Labels under another key than 'labels' (TrainingArguments(label_names=["answer"]), or 'targets',
    one of the keys the doctor reads in its own runs) were never kept: the doctor saw no batch's labels,
    and the rules that read how the batches mix the data had nothing to read. The truth: the labels
    the model was given at each step."""

    class Renamed(Sentences):
        def __getitem__(self, i):
            item = super().__getitem__(i)
            item[name] = item.pop("labels")
            return item

    doctor, model = DoctorCallback(print_findings=False), NamedTargets(name)
    optimizer = optim.create("adamw", model.parameters(), lr=1e-3)
    trainer(model, Renamed(), 6, trainer_optimizers(optimizer), [doctor], label_names=[name]).train()
    kept = doctor.diagnosis.statistics.batch_targets
    assert len(kept) == 6 and all(torch.equal(k, g) for k, g in zip(kept, model.given, strict=True))


class Answers(Sentences):
    """Sentences whose answer spans from the first token 7's position to the next (0: no 7)."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        del item["labels"]
        start = int((self.ids[i] == 7).int().argmax())
        return {**item, "start_positions": torch.tensor(start), "end_positions": torch.tensor(start + 1)}


def test_the_callback_sees_a_question_answering_models_own_labels():
    """A question-answering model's labels (start_positions, end_positions: what transformers'
    find_labels reads off its class, the Trainer's label_names where TrainingArguments sets none) were
    never kept: the callback read label_names from TrainingArguments alone. The truth: the Trainer's own
    label_names, and the start positions the model was given at each step."""
    from transformers import BertForQuestionAnswering

    torch.manual_seed(0)
    model = BertForQuestionAnswering(tiny_bert().config)
    given = []
    model.register_forward_pre_hook(lambda m, a, k: given.append(k["start_positions"]), with_kwargs=True)
    doctor = DoctorCallback(print_findings=False)
    optimizer = optim.create("adamw", model.parameters(), lr=1e-3)
    run = trainer(model, Answers(), 6, trainer_optimizers(optimizer), [doctor])
    assert run.label_names == ["start_positions", "end_positions"]
    run.train()
    kept = doctor.diagnosis.statistics.batch_targets
    assert len(kept) == 6 and all(torch.equal(k, g) for k, g in zip(kept, given, strict=True))


class LoggedLosses(TrainerCallback):
    """The training loss the Trainer logs at each step."""

    def __init__(self):
        self.losses = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))


class PaddedText(Dataset):
    """Token sequences of random lengths, padded, the padding's labels -100; ``label`` one class each."""

    def __init__(self, n=64, length=12, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 40, (n, length), generator=generator)
        self.mask = (torch.arange(length) < torch.randint(3, length + 1, (n, 1), generator=generator)).long()
        self.ids[self.mask == 0] = 0

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        tokens = self.ids[i].masked_fill(self.mask[i] == 0, -100)
        return {
            "input_ids": self.ids[i],
            "attention_mask": self.mask[i],
            "labels": tokens,
            "label": self.ids[i, 0] % 2,
        }


@pytest.mark.parametrize(
    "kind", ["causal lm, loss over the step's tokens", "classifier, loss per micro-batch"]
)
def test_under_gradient_accumulation_a_steps_loss_is_the_one_the_trainer_logs(kind):
    """GPT-2 divides its loss by the step's count of tokens the Trainer hands it (num_items_in_batch),
    BERT's classifier ignores it: either way the callback's loss is the Trainer's own."""
    torch.manual_seed(0)
    if kind.startswith("causal"):
        model = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2))
        data = [{k: v for k, v in row.items() if k != "label"} for row in PaddedText()]
    else:
        model = BertForSequenceClassification(BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1,
                                                         num_attention_heads=2, intermediate_size=32))  # fmt: skip
        data = [
            {**{k: v for k, v in row.items() if k != "label"}, "labels": row["label"]} for row in PaddedText()
        ]
    doctor, logged = DoctorCallback(print_findings=False), LoggedLosses()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer(model, data, 4, trainer_optimizers(optimizer), [doctor, logged], per_device_train_batch_size=8,
            gradient_accumulation_steps=2, logging_strategy="steps", logging_steps=1).train()  # fmt: skip
    assert len(logged.losses) == 4
    assert doctor.diagnosis.statistics.losses == pytest.approx(logged.losses, rel=1e-5)


class ReturnsATuple(torch.nn.Module):
    """A plain module returning ``(loss, logits)``, the Trainer's other form of output (it trains on
    ``outputs[0]``)."""

    def __init__(self):
        super().__init__()
        self.embed, self.head = torch.nn.Embedding(40, 8), torch.nn.Linear(8, 2)

    def forward(self, input_ids, labels):
        logits = self.head(self.embed(input_ids).mean(1))
        return torch.nn.functional.cross_entropy(logits, labels), logits


def test_a_model_returning_a_tuple_is_doctored_on_the_loss_the_trainer_logs():
    """The callback read only outputs.loss: a tuple's loss, on which the Trainer trains, was 'no loss'."""
    torch.manual_seed(0)
    data = [{"input_ids": row["input_ids"], "labels": row["label"]} for row in PaddedText()]
    model = ReturnsATuple()
    doctor, logged = DoctorCallback(print_findings=False), LoggedLosses()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer(model, data, 4, trainer_optimizers(optimizer), [doctor, logged], per_device_train_batch_size=8,
            gradient_accumulation_steps=2, logging_strategy="steps", logging_steps=1).train()  # fmt: skip
    assert len(logged.losses) == 4 and doctor.diagnosis.statistics.steps == [1, 2, 3, 4]
    assert doctor.diagnosis.statistics.losses == pytest.approx(logged.losses, rel=1e-5)


def word_tokenizer(vocab=40):
    """A word-level tokenizer built in memory (nothing downloaded): ``t3`` ... are tokens 3 ..., pad 1."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<s>": 0, "[PAD]": 1, "[UNK]": 2, **{f"t{i}": i for i in range(3, vocab)}}
    tokenizer = Tokenizer(models.WordLevel(words, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]")


def test_under_accumulation_a_collators_padding_ignored_in_the_labels_is_not_said_to_be_scored():
    """GPT-2 under gradient accumulation, its batches padded by transformers' DataCollatorForLanguageModeling
    (mlm=False), which sets the labels at the padding to -100: the doctor said 'Padding counted in the
    loss: 21% of the scored labels are where attention_mask is 0'. The callback kept the labels of a
    step's first micro-batch, the instruments the attention_mask of its last, another batch's padding.
    The truth: every label the collator made at a 0 of its attention_mask is -100; the labels kept are
    now those of each step's last micro-batch, beside its mask."""
    from transformers import DataCollatorForLanguageModeling

    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 11, (64,), generator=generator)
    lengths[::8] = 10  # most micro-batches padded to 10 tokens, each in its own places
    data = [{"input_ids": torch.randint(3, 40, (n,), generator=generator).tolist()} for n in lengths.tolist()]
    collator = DataCollatorForLanguageModeling(word_tokenizer(), mlm=False)
    batches = [collator(data[i : i + 8]) for i in range(0, 64, 8)]
    assert all((b["labels"][b["attention_mask"] == 0] == -100).all() for b in batches)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=32, n_layer=2, n_head=2))
    doctor = DoctorCallback(print_findings=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    arguments = {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 2}
    run = trainer(model, data, 4, trainer_optimizers(optimizer), [doctor], **arguments)
    run.data_collator = collator
    run.train()
    assert "padding_in_loss" not in [f.rule for f in doctor.diagnosis.findings], doctor.diagnosis.findings
    stats = doctor.diagnosis.statistics
    assert len(stats.batch_targets) == 4
    for labels, mask in zip(stats.batch_targets, stats.batch_masks, strict=True):
        assert mask is not None and (labels[mask == 0] == -100).all()


def test_an_encoder_decoders_labels_are_not_read_against_its_encoders_attention_mask():
    """T5 (an encoder-decoder from a config) given short inputs and longer targets, padded by transformers'
    DataCollatorForSeq2Seq (labels -100 at their own padding): diagnose and the callback said 'Padding
    counted in the loss: 58% of the scored labels are where attention_mask is 0', reading the decoder's
    labels against the encoder's mask where the two were padded to one length. The truth: the collator's
    labels are -100 at every padded position of their own, and the decoder has no attention_mask given."""
    from transformers import DataCollatorForSeq2Seq, T5Config, T5ForConditionalGeneration

    generator = torch.Generator().manual_seed(0)
    sources, targets = (
        torch.randint(2, 5, (64,), generator=generator),
        torch.randint(8, 11, (64,), generator=generator),
    )
    sources[::8] = targets[::8] = 10  # inputs of 2 to 4 tokens, targets of 8 to 10, most batches 10 long
    data = []
    for source, target in zip(sources.tolist(), targets.tolist()):
        ids = [torch.randint(3, 40, (n,), generator=generator).tolist() for n in (source, target)]
        data.append({"input_ids": ids[0], "labels": ids[1]})
    collator = DataCollatorForSeq2Seq(word_tokenizer())
    batches = [collator(data[i : i + 8]) for i in range(0, 64, 8)]
    assert all(b["labels"].shape == b["attention_mask"].shape for b in batches)  # one length, by chance
    lengths = torch.tensor([len(row["labels"]) for row in data[:8]])
    assert torch.equal(batches[0]["labels"] != -100, torch.arange(10) < lengths[:, None])

    def t5():
        torch.manual_seed(0)
        config = T5Config(vocab_size=40, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                          decoder_start_token_id=0, pad_token_id=1)  # fmt: skip
        return T5ForConditionalGeneration(config)

    direct = diagnose(t5(), batches, steps=8, lr_find=False)
    assert "padding_in_loss" not in [f.rule for f in direct.findings], direct.findings
    model, doctor = t5(), DoctorCallback(print_findings=False)
    run = trainer(model, data, 4, trainer_optimizers(torch.optim.SGD(model.parameters(), lr=0.05)), [doctor],
                  per_device_train_batch_size=8)  # fmt: skip
    run.data_collator = collator
    run.train()
    assert "padding_in_loss" not in [f.rule for f in doctor.diagnosis.findings], doctor.diagnosis.findings


def test_an_encoder_decoders_padded_labels_are_read_against_its_decoder_attention_mask():
    """T5 given labels padded with its pad id (not -100) and their decoder_attention_mask: the padding was
    found, but named the encoder's mask, 'where attention_mask is 0', and advised
    labels.masked_fill(attention_mask == 0, -100), a mask 8x4 against labels 8x10 (it raises). The truth:
    the labels' own mask is decoder_attention_mask (T5's forward), the advice applied with it sets every
    padded label to -100 (DataCollatorForSeq2Seq's labels) and the finding is gone."""
    from transformers import T5Config, T5ForConditionalGeneration

    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, 5, (64,), generator=generator)  # the labels' real tokens: 2 to 4 of 10
    labels = torch.randint(3, 40, (64, 10), generator=generator)
    decoder_mask = (torch.arange(10) < lengths[:, None]).long()
    labels[decoder_mask == 0] = 1  # the pad id
    input_ids = torch.randint(3, 40, (64, 4), generator=generator)
    batches = [
        {"input_ids": input_ids[i : i + 8], "attention_mask": torch.ones(8, 4, dtype=torch.long),
         "labels": labels[i : i + 8], "decoder_attention_mask": decoder_mask[i : i + 8]}
        for i in range(0, 64, 8)
    ]  # fmt: skip

    def t5():
        torch.manual_seed(0)
        config = T5Config(vocab_size=40, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                          decoder_start_token_id=0, pad_token_id=1)  # fmt: skip
        return T5ForConditionalGeneration(config)

    found = diagnose(t5(), batches, steps=8, lr_find=False)
    padding = next((f for f in found.findings if f.rule == "padding_in_loss"), None)
    assert padding is not None, found.findings
    assert padding.evidence["pad"] == 1
    assert padding.evidence["share"] == pytest.approx((decoder_mask == 0).float().mean().item())
    said = f"{padding.title} {padding.explanation} {padding.recommendation}"
    assert "decoder_attention_mask is 0" in padding.title and "DataCollatorForSeq2Seq" in said, padding
    assert "attention_mask" not in said.replace("decoder_attention_mask", ""), padding
    fix = padding.recommendation.split(": ")[-1].split(" (")[0]
    assert fix == "labels.masked_fill(decoder_attention_mask == 0, -100)"
    mended = [{**b, "labels": eval(fix, {**b})} for b in batches]  # the advice, applied as written
    assert all(torch.equal(b["labels"] == -100, b["decoder_attention_mask"] == 0) for b in mended)
    fixed = diagnose(t5(), mended, steps=8, lr_find=False)
    assert "padding_in_loss" not in [f.rule for f in fixed.findings], fixed.findings


class LoggedGradNorms(TrainerCallback):
    """The gradient norm the Trainer logs at each step (measured as it clips, before)."""

    def __init__(self):
        self.norms = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "grad_norm" in logs:
            self.norms.append(float(logs["grad_norm"]))


def test_the_gradients_read_are_those_the_trainer_clips_as_the_grad_norm_it_logs():
    """The callback read the gradients as the optimizer stepped, after the Trainer clipped them (to 1.0
    by default): every norm the doctor saw was at most max_grad_norm, and exploding gradients, found
    through every other door, were not."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    data = [{k: v for k, v in row.items() if k != "label"} for row in PaddedText(n=40)]
    doctor, logged = DoctorCallback(print_findings=False), LoggedGradNorms()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer(model, data, 3, trainer_optimizers(optimizer), [doctor, logged], per_device_train_batch_size=8,
            gradient_accumulation_steps=2, max_grad_norm=0.1, logging_strategy="steps", logging_steps=1).train()  # fmt: skip
    assert len(logged.norms) == 3 and min(logged.norms) > 0.1
    assert doctor.diagnosis.statistics.global_grad_norms().tolist() == pytest.approx(logged.norms, rel=1e-4)

    setup = {case[0]: case[1] for case in BROKEN}["deep relu mlp, N(0, 1) init"]  # max_grad_norm 1.0
    model = ReturnsItsLoss(setup.model(), setup.loss)
    doctor = DoctorCallback(print_findings=False)
    optimizer = OPTIMIZERS[setup.optimizer](model.parameters(), setup.lr)
    trainer(model, NamedExamples(*setup.data()), setup.steps, trainer_optimizers(optimizer), [doctor]).train()
    assert "exploding_gradients" in [f.rule for f in doctor.diagnosis.findings], doctor.diagnosis.findings


def test_a_model_for_a_trainer_a_wrong_schedule_or_sam_is_refused_in_one_line():
    with pytest.raises(
        InvalidValueError, match="'ViTForImageClassification' for trainer: accepted a transformers"
    ):
        lr_range_test(tiny_vit(), steps=10)
    with pytest.raises(
        InvalidValueError, match="for schedule: accepted an optimlab.doctor.InstrumentSchedule"
    ):
        DoctorCallback(schedule=20)
    sam = optim.create("sam", tiny_vit().parameters(), lr=0.1)  # it raised at the Trainer's first step
    with pytest.raises(InvalidValueError, match="'SAM' for optimizer: accepted one that steps without"):
        trainer_optimizers(sam)
    # torch's LBFGS has no needs_closure attribute, but its step has no closure default: accepted, it
    # failed at the Trainer's first optimizer.step() with a bare TypeError
    lbfgs = torch.optim.LBFGS(tiny_vit().parameters())
    with pytest.raises(TypeError, match="closure"):
        lbfgs.step()  # as the Trainer calls it
    with pytest.raises(
        InvalidValueError, match="'LBFGS' for optimizer: accepted one that steps without"
    ) as no:
        trainer_optimizers(lbfgs)
    assert "\n" not in str(no.value)


class FailsOnce(TrainerCallback):
    """Raises at step 3 of the first train() (a bug the user then fixes, in a notebook)."""

    def __init__(self):
        self.failed = False

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3 and not self.failed:
            self.failed = True
            raise ValueError("a bug")


def test_a_train_that_raised_and_a_second_train_count_each_loss_once():
    """The Trainer has no hook for a train() that raises: the callback's hooks stayed on the model, and
    the next train() added its own, so each forward pass was counted twice: the summed losses of a
    step (num_items_in_batch) doubled, and the old instruments watched on."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    data = [{k: v for k, v in row.items() if k != "label"} for row in PaddedText()]
    doctor, logged = DoctorCallback(print_findings=False), LoggedLosses()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = trainer(model, data, 4, trainer_optimizers(optimizer), [FailsOnce(), doctor, logged],
                  per_device_train_batch_size=8, logging_strategy="steps", logging_steps=1,
                  gradient_accumulation_steps=2)  # fmt: skip
    with pytest.raises(ValueError, match="a bug"):
        run.train()
    logged.losses.clear()
    run.train()
    assert doctor.diagnosis.statistics.losses == pytest.approx(logged.losses, rel=1e-5)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_detach_takes_the_hooks_of_a_train_that_raised_off_the_model():
    """The Trainer calls no callback when train() raises, so the loss hook and the instruments stayed on
    the model with no way to take them off but another train(); now detach() does."""
    model = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    data = [{k: v for k, v in row.items() if k != "label"} for row in PaddedText()]
    doctor, optimizer = DoctorCallback(print_findings=False), torch.optim.SGD(model.parameters(), lr=0.1)
    run = trainer(
        model, data, 4, trainer_optimizers(optimizer), [FailsOnce(), doctor], per_device_train_batch_size=8
    )
    with pytest.raises(ValueError, match="a bug"):
        run.train()
    assert any(m._forward_hooks for m in model.modules())  # no callback could take them off
    doctor.detach()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_a_model_under_return_dict_false_trains_and_scores_on_the_loss_its_tuple_leads_with():
    """BertForSequenceClassification built with return_dict=False returns (loss, logits) given labels, and
    the Trainer trains on outputs[0]; optimlab refused it ('build it with config.return_dict = True'). fit
    now trains it as the same model returning a ModelOutput (the same weights after 3 SGD steps), and its
    val_loss and val_accuracy are the model's own loss and a hand count of its logits' argmax."""
    from optimlab.train import fit

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 30, (16, 8), generator=generator)
    batches = [{"input_ids": ids[i : i + 8], "labels": (ids[i : i + 8, 0] > 15).long()} for i in (0, 8)]

    def trained(return_dict):
        torch.manual_seed(0)
        model = BertForSequenceClassification(BertConfig(
            vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=16, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            return_dict=return_dict,
        ))  # fmt: skip
        state = fit(
            model, torch.optim.SGD(model.parameters(), lr=0.1), batches, total_steps=3, val_data=batches
        )
        return model, state.last_metrics

    as_tuple, metrics = trained(False)
    as_output, _ = trained(True)
    assert isinstance(as_tuple.eval()(**batches[0]), tuple)
    for (name, weight), reference in zip(as_tuple.named_parameters(), as_output.parameters()):
        assert torch.equal(weight, reference), name
    with torch.no_grad():
        own = [as_output.eval()(**batch) for batch in batches]
    right = sum(int((out.logits.argmax(-1) == batch["labels"]).sum()) for out, batch in zip(own, batches))
    assert metrics["val_loss"] == pytest.approx(sum(out.loss.item() for out in own) / 2, rel=1e-5)
    assert metrics["val_accuracy"] == right / 16


@pytest.mark.parametrize("problem", ["multi_label_classification", "regression"])
def test_a_multi_label_classifiers_accuracy_is_scikit_learns_subset_accuracy(problem):
    """BERT under problem_type multi_label_classification (float 0/1 labels, BCEWithLogits) was scored by
    its loss alone. Its accuracy is scikit-learn's accuracy_score of the 0/1 label matrix against the
    logits above 0 (exact match: every label of a row right); the same head under "regression" (the mean
    squared error of the same 0/1 targets) gets none; the loss is the model's own either way."""
    from sklearn.metrics import accuracy_score

    torch.manual_seed(0)
    ids = torch.randint(1, 30, (24, 6))
    labels = torch.stack([ids[:, 0] > 15, ids[:, 1] > 10, ids[:, 2] > 20], 1).float()
    labels[:4] = torch.tensor([1.0, 0.0, 1.0])  # rows the model may get right whole
    batches = [{"input_ids": ids[i : i + 8], "labels": labels[i : i + 8]} for i in range(0, 24, 8)]
    model = BertForSequenceClassification(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32, num_labels=3,
                                                     problem_type=problem))  # fmt: skip
    model.classifier.bias.data = torch.tensor([2.0, -2.0, 0.3])  # some rows all right, some not
    metrics = evaluate_batches(model, UserBatches(batches, None), prefix="val")
    with torch.no_grad():
        outputs = [model(**batch) for batch in batches]
    assert metrics["val_loss"] == pytest.approx(sum(o.loss.item() for o in outputs) / 3, rel=1e-5)
    if problem == "regression":
        assert "val_accuracy" not in metrics
        return
    predicted = (torch.cat([o.logits for o in outputs]) > 0).int().numpy()
    truth = accuracy_score(labels.int().numpy(), predicted)
    assert 0 < truth < 1 and metrics["val_accuracy"] == pytest.approx(truth, abs=1e-12)


def test_the_range_test_of_a_trainer_refuses_what_the_trainer_gives_and_names_what_it_takes():
    """lr_range_test(trainer, model=...) (or loss_fn, data, optimizer, held_out) raised Python's TypeError
    'got multiple values for argument', batch_size=4 was ignored (the trainer's loader keeps its own), and
    an unknown keyword was told to use model, data or loss_fn. Each is one line, the trainer's own
    arguments named as such; the weights are untouched."""
    model = tiny_vit()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    hf = trainer(model, Images(n=32), 2, trainer_optimizers(torch.optim.Adam(model.parameters(), lr=1e-3)))
    given = {"model": model, "loss_fn": torch.nn.CrossEntropyLoss(), "data": Images(n=8), "batch_size": 4}
    for name, value in given.items():
        with pytest.raises(InvalidValueError, match=f"for {name} of lr_range_test\\(trainer\\): accepted none: "
                                                    "the trainer gives it"):  # fmt: skip
            lr_range_test(hf, steps=5, **{name: value})
    with pytest.raises(InvalidValueError, match="for held_out of lr_range_test"):
        lr_range_test(hf, steps=5, check_steps=2, held_out=Images(n=8))
    with pytest.raises(
        InvalidValueError, match=r"for grad_clip_norm of lr_range_test\(trainer\).*max_grad_norm"
    ):
        lr_range_test(hf, steps=5, grad_clip_norm=1.0)
    # a seed without a check orders nothing: the trainer's loader does (the check draws held-out rows by it)
    with pytest.raises(InvalidValueError, match=r"for seed of lr_range_test\(trainer\).*data_seed"):
        lr_range_test(hf, steps=5, seed=3)
    with pytest.raises(UnknownNameError) as unknown:
        lr_range_test(hf, steps=5, end_rl=1.0)
    assert str(unknown.value) == (
        "unknown lr_range_test(trainer) argument 'end_rl'. Did you mean 'end_lr'? Accepted: check_steps, "
        "diverge_factor, end_lr, margin, start_lr, steps."  # seed: with check_steps only
    )
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())


class _Failing:
    """Stands in for what the callback's own hooks call, raising inside the user's training."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("the doctor's own bug")


@pytest.mark.parametrize("where", ["loss hook", "backward callback"])
def test_a_failure_of_the_callbacks_own_hooks_takes_the_doctor_off_with_one_warning(where, monkeypatch):
    """The callback's forward hook (_keep_loss) and backward callback ran unguarded inside the user's
    training: a failure there ended the Trainer's train() with the doctor's traceback. As the
    instruments' hooks (TrainerDoctor.guarded), it now takes the doctor off with one OptimlabWarning and
    the run goes on to the same weights as without the doctor; strict=True raises it."""
    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import huggingface

    def run(callbacks):
        model = tiny_bert()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        trainer(model, Sentences(n=64), 4, trainer_optimizers(optimizer), callbacks).train()
        return model

    alone = run([])
    if where == "loss hook":
        monkeypatch.setattr(huggingface, "GradientState", _Failing)
    else:
        monkeypatch.setattr(huggingface, "Variable", _Failing)  # its _execution_engine: an AttributeError
    doctor = DoctorCallback(print_findings=False)
    with pytest.warns(OptimlabWarning, match="stopped watching at step 1") as caught:
        doctored = run([doctor])
    assert len([w for w in caught if issubclass(w.category, OptimlabWarning)]) == 1
    assert doctor.diagnosis is None
    for a, b in zip(alone.parameters(), doctored.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in doctored.modules())
    with pytest.raises((RuntimeError, AttributeError)):
        run([DoctorCallback(print_findings=False, strict=True)])


class LoggedSteps(TrainerCallback):
    """The step and loss the Trainer logs at each step."""

    def __init__(self):
        self.rows = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.rows.append((state.global_step, float(logs["loss"])))


def test_a_run_resumed_from_its_checkpoint_records_each_later_step_once_as_the_trainer_logs_it(tmp_path):
    """A Llama-style causal LM (rotary, RMSNorm, grouped-query attention, tied embeddings) trained two
    epochs of 5 batches in steps of 2 (the last of each epoch of one batch), padded by the collator,
    saved at step 4 and resumed from there by a new Trainer and callback: the record holds steps 5-6 once
    each, with the losses and grad norms of the uninterrupted run. The truth: the Trainer's own log."""
    from transformers import LlamaConfig, LlamaForCausalLM

    def llama():
        torch.manual_seed(0)
        return LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64,
                                            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                            max_position_embeddings=16, tie_word_embeddings=True))  # fmt: skip

    data = [{k: v for k, v in row.items() if k != "label"} for row in PaddedText(n=40)]

    def run(resume=None):
        doctor, logged = DoctorCallback(print_findings=False), LoggedSteps()
        trainer(llama(), data, -1, (None, None), [doctor, logged], tmp=str(tmp_path), num_train_epochs=2,
                per_device_train_batch_size=8, gradient_accumulation_steps=2, save_strategy="steps",
                save_steps=4, logging_strategy="steps", logging_steps=1).train(resume_from_checkpoint=resume)  # fmt: skip
        return doctor.diagnosis.statistics, logged.rows

    whole, logged = run()
    assert [step for step, _ in logged] == whole.steps == [1, 2, 3, 4, 5, 6]
    assert whole.losses == pytest.approx([loss for _, loss in logged], rel=1e-5)
    resumed, logged_again = run(str(tmp_path / "checkpoint-4"))
    assert resumed.steps == [step for step, _ in logged_again] == [5, 6]
    assert resumed.losses == pytest.approx(whole.losses[4:], rel=1e-5)
    assert torch.allclose(torch.stack(resumed.grad_norms), torch.stack(whole.grad_norms[4:]), rtol=1e-4)


def test_under_the_trainer_the_advice_names_the_setting_the_user_sets():
    """The doctor advised ``optimizer.lr`` to a user whose lr is ``TrainingArguments.learning_rate``
    (the Trainer makes its optimizer from it): a recipe field the Trainer has not. Truth: a real Trainer
    at Adam's lr 0.1 (the planted 'Adam lr 100x too high', 20 steps); the advice names learning_rate= with
    the value optimlab's own path advises as optimizer.lr (pinned: its keys are its recipe's). A Trainer
    given the user's own optimizer keeps optimizer.lr, though its class (AdamW) and lr are the ones the
    Trainer would make from the arguments (AdamW(..., lr=args.learning_rate), as users write it): the
    args set nothing of it (mapped on class and lr alone, the advice said learning_rate=, which did
    nothing). Under Trainer(optimizer_cls_and_kwargs=(AdamW, {'lr': 0.1})) the lr is the kwargs' (the
    Trainer's own create_optimizer does not read learning_rate there, shown below): it was advised
    learning_rate= as the Trainer's own AdamW, the same class at the same lr; a callback added by
    trainer.add_callback after the Trainer was built was advised 'lr: ...', the recipe's words."""
    setup, rule = DOOR_CASES["Adam lr 100x too high, no range test"]
    assert rule == "lr_too_high"
    steps, data = 20, NamedExamples(*setup.data())
    model = setup.model()
    plain = diagnose(
        model, setup.data(), setup.loss, OPTIMIZERS[setup.optimizer](model.parameters(), setup.lr),
        steps=steps, lr_find=False, batch_size=32, settings={},  # the lr advised, as the recipe's field
    )  # fmt: skip
    (advised,) = [f.recipe_changes for f in plain.findings if f.rule == rule]
    assert list(advised) == ["optimizer.lr"]
    value = advised["optimizer.lr"]
    assert value < setup.lr
    chosen = (torch.optim.AdamW, {"lr": setup.lr})
    # the truth of the kwargs' lr: learning_rate set to the advice leaves the Trainer's optimizer at 0.1
    told = trainer(
        ReturnsItsLoss(setup.model(), setup.loss),
        data,
        steps,
        (None, None),
        chosen=chosen,
        learning_rate=value,
    )
    assert [g["lr"] for g in told.create_optimizer().param_groups] == [setup.lr] * 2
    runs = {}
    # "added after": the callback given by trainer.add_callback once the Trainer is built (its init
    # told no callback), where optimizer_cls_and_kwargs still makes the optimizer
    for way in ("arguments", "optimizers", "optimizer_cls_and_kwargs", "added after"):
        model = ReturnsItsLoss(setup.model(), setup.loss)
        doctor = DoctorCallback(print_findings=False)
        mine = trainer_optimizers(torch.optim.AdamW(model.parameters(), lr=setup.lr, weight_decay=0.0))
        after = way == "added after"
        run = trainer(
            model, data, steps, mine if way == "optimizers" else (None, None), [] if after else [doctor],
            chosen=chosen if way in ("optimizer_cls_and_kwargs", "added after") else None,
            learning_rate=setup.lr, weight_decay=0.0, lr_scheduler_type="constant", max_grad_norm=0.0,
        )  # fmt: skip
        if after:
            run.add_callback(doctor)
        run.train()
        (runs[way],) = [f for f in doctor.diagnosis.findings if f.rule == rule]
    named = {
        "arguments": "TrainingArguments.learning_rate",
        "optimizer_cls_and_kwargs": "Trainer.optimizer_cls_and_kwargs[1]['lr']",
        "added after": "Trainer.optimizer_cls_and_kwargs[1]['lr']",
    }
    for way, finding in runs.items():  # the user's own optimizer: its lr said as torch code, no key
        assert finding.recipe_changes == ({named[way]: value} if way in named else {}), way
    assert runs["optimizers"].recommendation.startswith(f"lr={value} in the optimizer"), runs["optimizers"]
    for way in ("arguments", "optimizer_cls_and_kwargs", "added after"):
        assert runs[way].recommendation.startswith(f"{named[way]}={value}, "), runs[way]
        assert "lr: " not in runs[way].recommendation  # the recipe's words, replaced
    assert "learning_rate=" not in runs["optimizers"].recommendation
    assert "learning_rate=" not in runs["optimizer_cls_and_kwargs"].recommendation


def test_a_callback_added_after_the_init_names_learning_rate_where_the_trainer_makes_the_optimizer():
    """A DoctorCallback given by trainer.add_callback after the init (which told it nothing) to a Trainer
    given neither optimizers= nor optimizer_cls_and_kwargs= advised 'optimizer.lr', where the same
    callback given at the init advises TrainingArguments.learning_rate (pinned above), the setting the
    Trainer made its AdamW from. Truth: a real Trainer of a tiny BERT at learning_rate 1.0 (planted too
    high); the user's own AdamW(model.parameters()) given to the init is told its own lr (torch's words)."""
    advised = {}
    for way in ("trainer's optimizer", "user's optimizer"):
        model, doctor = tiny_bert(layers=1), DoctorCallback(print_findings=False)
        users = (torch.optim.AdamW(model.parameters(), lr=1.0), None)
        run = trainer(
            model, Sentences(n=64), 8, users if way == "user's optimizer" else (None, None),
            learning_rate=1.0, lr_scheduler_type="constant", max_grad_norm=0.0,
        )  # fmt: skip
        run.add_callback(doctor)
        run.train()
        (advised[way],) = [f.recipe_changes for f in doctor.diagnosis.findings if f.rule == "lr_too_high"]
    assert list(advised["trainer's optimizer"]) == ["TrainingArguments.learning_rate"]
    assert list(advised["user's optimizer"]) == []  # its own lr, said as torch code


@pytest.mark.parametrize("max_grad_norm", [1.0, 0.0])
def test_the_advice_to_clip_is_not_the_max_grad_norm_the_trainer_already_clips_at(max_grad_norm):
    """Exploding gradients (an MLP under SGD at lr 100: the gradients' norm, read before the Trainer clips,
    past 10) under the Trainer's default max_grad_norm=1.0 were advised 'set
    TrainingArguments.max_grad_norm=1.0', the setting the run has: it changes nothing. The advice there is
    the lr, saying the clip is in force; with max_grad_norm=0 (the Trainer does not clip) it stays the
    max_grad_norm 1.0, pinned. Truth: the Trainer's own argument, 1.0 by default."""
    torch.manual_seed(0)
    model = ReturnsItsLoss(mlp(depth=2), torch.nn.CrossEntropyLoss())
    doctor = DoctorCallback(print_findings=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=100.0)
    data = NamedExamples(*standardized())
    arguments = {} if max_grad_norm == 1.0 else {"max_grad_norm": max_grad_norm}
    run = trainer(model, data, 60, trainer_optimizers(optimizer), [doctor], **arguments)
    assert run.args.max_grad_norm == max_grad_norm  # 1.0: the Trainer's default
    run.train()
    (found,) = [f for f in doctor.diagnosis.findings if f.rule == "exploding_gradients"]
    assert found.evidence["peak_norm"] > 10
    if max_grad_norm == 0.0:
        # the Trainer's argument in place of the recipe field it has not (not both)
        assert found.recommendation == "TrainingArguments.max_grad_norm=1.0, and lower the lr"
        assert found.recipe_changes == {"TrainingArguments.max_grad_norm": 1.0}
        return
    assert found.recommendation == (
        "lower lr in the optimizer (the run already clips the gradients' norm at 1: the lr sets the steps' length)"
    )
    for finding in doctor.diagnosis.findings:
        assert "max_grad_norm" not in finding.recommendation + str(finding.recipe_changes), finding
