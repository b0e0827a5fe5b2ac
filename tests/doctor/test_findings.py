"""Ranking: severity, then strength of evidence, with causes before what they explain."""

from optimlab.doctor import Finding, rank
from optimlab.doctor.findings import TORCH_CALLS, Setting, advised_as


def finding(rule, severity="warning", score=1.0, explains=()):
    return Finding(
        rule=rule,
        severity=severity,
        title=rule,
        explanation="",
        recommendation="",
        score=score,
        explains=explains,
    )


def order(findings):
    return [f.rule for f in rank(findings)]


def test_severity_then_score():
    assert order(
        [
            finding("a", "info", 9),
            finding("b", "warning", 1),
            finding("c", "error", 0.5),
            finding("d", "warning", 3),
        ]
    ) == ["c", "d", "b", "a"]


def test_a_cause_comes_first_and_takes_the_severity_of_what_it_explains():
    ranked = rank([finding("nan", "error", 10), finding("scale", "warning", 0.1, explains=("nan", "absent"))])
    assert [(f.rule, f.severity, f.consequence_of) for f in ranked] == [
        ("scale", "error", ()),
        ("nan", "error", ("scale",)),
    ]


def test_explanation_is_transitive_and_deeper_effects_come_later():
    ranked = order(
        [
            finding("vanishing", "error", 20),
            finding("dead", "error", 4, explains=("vanishing",)),
            finding("lr", "warning", 1, explains=("dead",)),
            finding("other", "error", 5),
        ]
    )
    assert ranked == ["other", "lr", "dead", "vanishing"]  # two roots of equal severity: by score


def test_findings_that_explain_each_other_cancel_out():
    ranked = rank([finding("a", "error", 1, explains=("b",)), finding("b", "error", 2, explains=("a",))])
    assert [f.rule for f in ranked] == ["b", "a"] and all(not f.consequence_of for f in ranked)


def test_an_info_finding_explains_nothing():
    ranked = rank([finding("nan", "error", 10), finding("scale", "info", 5, explains=("nan",))])
    assert [(f.rule, f.severity, f.consequence_of) for f in ranked] == [
        ("nan", "error", ()),
        ("scale", "info", ()),
    ]


def test_a_setting_says_its_number_as_the_rule_does_and_a_mix_of_arguments_and_calls_is_joined_as_each():
    """advised_as gave 'weight_decay=0.00012345678 in the optimizer' under the rule's 'weight_decay
    0.000123' and 'lr=100000.0' for 'lr: 1e+05' (repr, where the rules say 3 digits); unsaid settings were
    all joined by the first one's kind ('; set torch.nn...clip_grad_norm_' after a trainer's argument).
    Truth: the numbers Python reads back are the rule's, to its 3 digits."""
    decay = Finding("weight_decay_too_high", "error", "", "", "optimizer: {weight_decay: 0.000123}, a hundredth",
                    {"optimizer.weight_decay": 0.00012345678})  # fmt: skip
    told = advised_as(decay, TORCH_CALLS).recommendation
    assert told == "weight_decay=0.000123 in the optimizer, a hundredth", told
    lr = Finding("lr_too_low", "warning", "", "", "lr: 1e+05", {"optimizer.lr": 1e5})
    assert advised_as(lr, TORCH_CALLS).recommendation == "lr=1e+05 in the optimizer"
    assert float(advised_as(lr, TORCH_CALLS).recommendation.split("=")[1].split()[0]) == 1e5
    mixed = Finding("exploding_gradients", "error", "", "", "lower the lr",
                    {"optimizer.lr": 0.1, "training.grad_clip_norm": 1.0})  # fmt: skip
    settings = {"optimizer.lr": "TrainingArguments.learning_rate", **{
        "training.grad_clip_norm": TORCH_CALLS["training.grad_clip_norm"]}}  # fmt: skip
    told = advised_as(mixed, settings)
    assert told.recommendation == (
        "lower the lr; set TrainingArguments.learning_rate=0.1; "
        "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) before each optimizer.step()"
    ), told.recommendation
    assert told.recipe_changes == {"TrainingArguments.learning_rate": 0.1}
    assert Setting("Trainer.gradient_clip_val").an_argument and not TORCH_CALLS["optimizer.lr"].an_argument
