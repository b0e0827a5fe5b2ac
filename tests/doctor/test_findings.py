"""Ranking: severity, then strength of evidence, with causes before what they explain."""

from optimlab.doctor import Finding, rank


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
