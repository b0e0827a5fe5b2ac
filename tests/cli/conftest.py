"""The command line run in this process: ``cli("train", "--lr", "inf")`` -> (exit code, stdout, stderr)."""

import pytest

from optimlab.cli.app import main


@pytest.fixture
def cli(capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(list(argv))
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
