"""Options that take one of a few words (--precision, --format, --log): their refusal reads as sentences."""

import pytest


@pytest.mark.parametrize(
    "argv, flag, refused",
    [
        (
            ["train", "--precision", "fp16"],
            "--precision",
            "'fp16' is not one of fp32, bf16. Did you mean 'bf16'?",
        ),
        (["list", "--format", "jsn"], "--format", "'jsn' is not one of human, json. Did you mean 'json'?"),
        (["train", "--precision", "int8"], "--precision", "'int8' is not one of fp32, bf16."),
    ],
)
def test_a_refused_choice_is_one_sentence_before_the_help_pointer(cli, argv, flag, refused):
    """'... fp32, bf16 (did you mean 'bf16'?) (see 'optimlab train -h')': two parentheses in a row.
    Truth: the accepted words and errors.did_you_mean's sentence, then click's pointer to the help."""
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert err == f"error: Invalid value for {flag!r}: {refused} (see 'optimlab {argv[0]} -h')\n"
