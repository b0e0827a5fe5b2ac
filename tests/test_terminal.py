"""Every rich console optimlab makes takes a width it can print in: COLUMNS=0 is no width said."""

import io
import re
import shutil
import types
from pathlib import Path

import pytest
from rich.console import Console

import optimlab
from optimlab import terminal


@pytest.fixture
def columns_of_zero_on_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "0")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's word for a terminal, as a tty is


def test_a_columns_of_zero_is_the_terminals_width(columns_of_zero_on_a_terminal):
    """Truth: rich's own console at COLUMNS=0 prints nothing, and the standard library reads no width
    there (the terminal's, else 80)."""
    lost, kept = io.StringIO(), io.StringIO()
    Console(file=lost).print("x")
    assert lost.getvalue() == ""
    made = terminal.console(file=kept)
    made.print("x")
    assert kept.getvalue() == "x\n" and made.width == shutil.get_terminal_size().columns >= 1


def test_the_progress_bar_on_a_terminal_of_columns_zero_draws_its_last_frame(
    columns_of_zero_on_a_terminal, capsys
):
    """`COLUMNS=0 script -qc "optimlab train ..."` lost the bar's last frame, the run's final loss and
    metrics: its console, made apart from the CLI's, had a width of 0."""
    from optimlab.train import ProgressBar

    state = types.SimpleNamespace(
        total_steps=2, step=0, last_metrics={"val_loss": 0.25}, skipped=False, train_loss=0.5
    )
    bar = ProgressBar()
    bar.on_train_start(state)
    state.step = 2
    bar.on_step_end(state)
    bar.on_train_end(state)
    assert "loss 0.5 val_loss 0.25" in capsys.readouterr().err


def test_every_console_is_made_by_the_one_maker():
    """A console made apart (the spinner's, the progress bar's) kept the width of 0 that the CLI's own
    had lost: none is made but by terminal.console."""
    source = Path(optimlab.__file__).parent
    made = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if path.name != "terminal.py" and re.search(r"\bConsole\(", path.read_text())
    ]
    assert made == []
