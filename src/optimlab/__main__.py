"""``python -m optimlab``: the ``optimlab`` command (for an environment whose scripts are not on PATH)."""

from optimlab.cli.app import main

if __name__ == "__main__":
    main()
