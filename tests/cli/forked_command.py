"""The ``optimlab`` command in a fresh process per call, at a fraction of an interpreter start's cost.

Run as a script, this is a parent that imports the command line once (its modules, typer's and torch's:
the second or two of each start) and runs no command and no torch op itself. For each request, one JSON
line on stdin, it forks a child that takes the request's environment, folder and arguments, points its
stdout and stderr at the request's files, runs the entry point the ``optimlab`` console script calls and
exits with the code the interpreter would give (1 with the traceback on stderr for an uncaught error).
The parent kills a child still running past the request's timeout, and answers one JSON line per
request: the exit code, or null for a child killed. ``ForkedCommand`` is the test's end of it.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path


class ForkedCommand:
    """A parent process (this module as a script) forking one child per ``run``."""

    def __init__(self, env: dict[str, str]) -> None:
        self._parent = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )

    def run(
        self,
        args: list[str],
        cwd: Path,
        env: dict[str, str],
        out: Path,
        timeout: float,
        source: str = "",
        unread: tuple[int, ...] = (),
    ) -> tuple[int | None, str, str]:
        """(exit code, stdout, stderr) of ``optimlab *args`` run in ``cwd`` (of ``python -c source *args``
        where a ``source`` is given); the code is None for a child killed past ``timeout`` seconds. Its
        output goes through two files in the folder ``out``, but for the descriptors in ``unread`` (1, 2),
        which go to a pipe whose reader has left before the child writes (``| head -0``)."""
        stdout, stderr = out / "stdout", out / "stderr"
        request = {"args": args, "cwd": str(cwd), "env": env, "stdout": str(stdout), "stderr": str(stderr)}
        request.update(source=source, unread=list(unread))
        assert self._parent.stdin is not None and self._parent.stdout is not None
        self._parent.stdin.write(json.dumps({**request, "timeout": timeout}) + "\n")
        self._parent.stdin.flush()
        answer = self._parent.stdout.readline()
        assert answer, f"the forking parent ended (exit code {self._parent.poll()})"
        code = json.loads(answer)["code"]
        return code, stdout.read_text(errors="replace"), stderr.read_text(errors="replace")

    def close(self) -> None:
        """End the parent: it leaves when its stdin closes."""
        assert self._parent.stdin is not None
        self._parent.stdin.close()
        self._parent.wait(timeout=60)


def _serve() -> None:
    """Answer each request line on stdin with its child's exit code, until stdin closes."""
    # imported once here, no op run: each child starts with them (a command's checks import torch,
    # optuna, matplotlib and the catalogs, ~1,500 modules: most of a case's cost where each child did)
    import torch  # noqa: F401

    import optimlab.bench
    import optimlab.cli._catalog
    import optimlab.cli.app
    import optimlab.doctor
    import optimlab.gallery
    import optimlab.registry
    import optimlab.study.compare
    import optimlab.study.report
    import optimlab.train.run
    import optimlab.workloads  # noqa: F401
    from optimlab.__main__ import main

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(main, request)
        deadline = time.monotonic() + request["timeout"]
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if done[0] == 0:  # still running: a hang
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = None
        else:
            code = os.waitstatus_to_exitcode(done[1])
        print(json.dumps({"code": code}), flush=True)


def _child(main: Callable[[], None], request: dict) -> None:
    """Become the command's process: its folder, environment, argv and output files; run it; exit."""
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # not the parent's requests
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        if request["unread"]:  # a write there fails with EPIPE (SIGPIPE ignored, as Python starts)
            read_end, write_end = os.pipe()
            os.close(read_end)
            for fd in request["unread"]:
                os.dup2(write_end, fd)
            os.close(write_end)
        sys.stdin = sys.__stdin__ = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
            2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False
        )
        sys.argv = ["-c" if request["source"] else "optimlab", *request["args"]]
        atexit._clear()  # the exit handlers of the command alone, as in its own interpreter
        if request["source"]:  # python -c: the source run as the __main__ module
            main = functools.partial(exec, request["source"], {"__name__": "__main__"})
        code = _exit_code(main)
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # the child's own set-up failed: shown as a crash of the command
        traceback.print_exc()
        code = 1
    os._exit(code)


def _exit_code(main: Callable[[], None]) -> int:
    """The code the interpreter exits with after ``main()``: SystemExit's (a message printed, 1), or 1
    with the traceback on stderr for any other uncaught exception."""
    try:
        main()
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    _serve()
