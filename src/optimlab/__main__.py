"""The ``optimlab`` command's entry point, also ``python -m optimlab`` (for an environment whose scripts are
not on PATH)."""

import signal
import sys


def main() -> None:
    """Run the ``optimlab`` command. A Ctrl-C while its modules import (typer's and every verb's: 0.2 s
    of each start, measured on the shared 2-core box, 2026-12-06), before ``optimlab.cli.app.main``
    handles one, ends it as a later one does, 'interrupted' on stderr and exit code 130, where it
    printed a KeyboardInterrupt traceback from inside importlib."""
    try:
        from optimlab.cli.app import main as command
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C cuts no line (cli._errors.stopping)
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None  # the shell's code for Ctrl-C (cli._errors.INTERRUPTED)
    command()


if __name__ == "__main__":
    main()
