"""``optimlab train``: what the verb says around the library's run (tests of the run itself: tests/train)."""

from __future__ import annotations

import json
import os
import shlex
import signal

from optimlab.cli import _errors


def test_a_stopped_run_says_one_resume_command_with_the_flags_it_ran_with(cli, monkeypatch, tmp_path):
    """A run started with --html --log tensorboard and stopped by a signal said 'Resume with: optimlab
    train --resume DIR', where a signal after its last step said the command with its flags: two
    commands for one run. Both now say the one the verb's own interruption line says."""
    import optimlab.train
    from optimlab.train.loop import Callback

    class StopAtFirstStep(Callback):
        def __init__(self, *args: object) -> None:
            pass

        def on_step_end(self, state: object) -> None:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(optimlab.train, "ProgressBar", StopAtFirstStep)
    run = tmp_path / "a run"  # a space: the command quoted as a shell reads it
    flags = ("--html", "--log", "tensorboard")
    code, out, err = cli(
        "train", "--dataset", "iris", "--steps", "50", "--out", str(run), *flags, "--format", "json"
    )
    again = shlex.join(["optimlab", "train", "--resume", str(run), *flags])
    assert code == _errors.INTERRUPTED
    assert err.strip().endswith(f"checkpoint saved. Resume with: {again}")
    assert json.loads(out)["message"].endswith(f"Resume with: {again}")


def test_a_batch_larger_than_the_split_is_said_at_start_and_trains_as_the_whole_split(cli, tmp_path):
    """--batch-size 1000000 on iris trained on the whole split without a word while the recipe records
    1000000. One warning line says so before the run; truth: the model a batch of 91 trains is the one a
    batch of the split's 90 rows trains, bit for bit (its digest), and a batch of exactly 90 gets no warning."""
    digests, errs = {}, {}
    for size in ("90", "91"):
        out = tmp_path / size
        code, _, err = cli(
            "train", "--dataset", "iris", "--steps", "1", "--batch-size", size, "--out", str(out)
        )
        assert code == 0, err
        digests[size] = json.loads((out / "result.json").read_text())["model"]["digest"]
        errs[size] = [line for line in err.splitlines() if line.startswith("warning:")]
    assert digests["91"] == digests["90"]
    assert errs == {
        "90": [],
        "91": [
            "warning: batch_size 91 is more than the 90 training rows of iris: each step takes the whole split, "
            "a batch of 90 rows, one step an epoch"
        ],
    }
