"""Hugging Face models and settings beyond test_huggingface's (GPT-2 under the Trainer's activation
checkpointing, transformers 5's name of gradient checkpointing; DistilBERT token classification; T5
seq2seq), built from small configs (no download), under a real ``Trainer`` with its own optimizer and
schedule: the doctor's readings against the Trainer's logs, and planted faults found and named."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    DistilBertConfig,
    DistilBertForTokenClassification,
    GPT2Config,
    GPT2LMHeadModel,
    T5Config,
    T5ForConditionalGeneration,
)

from integrations.test_huggingface import LoggedGradNorms, LoggedLosses, PaddedText, trainer
from optimlab.integrations.huggingface import DoctorCallback


def rows(kind: str) -> list[dict[str, torch.Tensor]]:
    """:class:`PaddedText`'s rows, padding labelled -100, as each model's task reads them."""
    text = [{k: v for k, v in row.items() if k != "label"} for row in PaddedText(n=48)]
    if kind == "tokens":  # a class per token (its id mod 3), the padding's -100 kept
        return [{**r, "labels": torch.where(r["labels"] == -100, -100, r["input_ids"] % 3)} for r in text]
    if kind == "seq2seq":  # the target: the sequence reversed
        return [{**r, "labels": r["labels"].flip(0)} for r in text]
    return text


def gpt2(layers: int = 2) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=layers, n_head=2))


def distilbert() -> DistilBertForTokenClassification:
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=40, dim=16, n_layers=1, n_heads=2, hidden_dim=32,
                              max_position_embeddings=16, num_labels=3)  # fmt: skip
    return DistilBertForTokenClassification(config)


def t5() -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    config = T5Config(vocab_size=40, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                      decoder_start_token_id=0, pad_token_id=0)  # fmt: skip
    return T5ForConditionalGeneration(config)


# Each case: the model, its rows' kind, and the Trainer's arguments beyond doctored's.
MODELS = {
    "gpt2 under TrainingArguments(activation_checkpointing=True)": (
        gpt2,
        "text",
        {"activation_checkpointing": True},
    ),
    "distilbert token classification": (distilbert, "tokens", {}),
    "t5 seq2seq": (t5, "seq2seq", {}),
}


def doctored(model, data, steps, **args):
    """The doctor's diagnosis and the Trainer's logged losses and gradient norms, the Trainer's own
    optimizer (AdamW, its weight-decay groups) and linear schedule."""
    doctor, losses, norms = DoctorCallback(print_findings=False), LoggedLosses(), LoggedGradNorms()
    trainer(model, data, steps, (None, None), [doctor, losses, norms], per_device_train_batch_size=8,
            logging_strategy="steps", logging_steps=1, **args).train()  # fmt: skip
    return doctor.diagnosis, losses.losses, norms.norms


@pytest.mark.parametrize("case", MODELS)
def test_the_doctors_loss_and_gradient_norm_are_the_ones_the_trainer_logs(case):
    build, kind, args = MODELS[case]
    model = build()
    diagnosis, losses, norms = doctored(model, rows(kind), 4, **args)
    assert model.is_activation_checkpointing == args.get("activation_checkpointing", False)
    assert len(losses) == len(norms) == 4
    assert diagnosis.statistics.losses == pytest.approx(losses, rel=1e-5)
    assert diagnosis.statistics.global_grad_norms().tolist() == pytest.approx(norms, rel=1e-4)
    assert diagnosis.findings == []


def test_a_learning_rate_ten_times_too_high_is_named():
    """A one-block GPT-2 under the Trainer's AdamW trains quietly at 1e-2; at 1e-1 the doctor says
    lr_too_high."""
    assert doctored(gpt2(layers=1), rows("text"), 20, learning_rate=1e-2)[0].findings == []
    findings = doctored(gpt2(layers=1), rows("text"), 20, learning_rate=1e-1)[0].findings
    assert [f.rule for f in findings] == ["lr_too_high"], findings


def test_token_embeddings_initialized_at_std_10_are_named():
    """GPT-2's wte at std 10 (its config's initializer_range is 0.02) is told as the init scale of that
    layer."""
    model = gpt2()
    torch.nn.init.normal_(model.transformer.wte.weight, std=10.0)
    findings = doctored(model, rows("text"), 20)[0].findings
    assert [f.rule for f in findings] == ["init_scale"], findings
    assert "transformer.wte" in findings[0].title
