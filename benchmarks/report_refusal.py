"""``optimlab report FOLDER`` refused (a folder that is neither a run nor a study: exit 2), each round in
fresh interpreters: this tree against an older one.

Claim (9cdccf59): report imported its page writer (``report.study_history``, 2.7 s) before checking its
folders, so a refusal took 3.1 s; the writer is now imported after the checks, and the refusal takes 0.5 s.
Each round runs, in a fresh interpreter for each tree, the command's ``main()`` on an empty folder, checks it
exits 2, and prints its seconds, imports included (the interpreter's own start not), or with ``--imported``
after importing torch and the command line untimed, as the tests' in-process ``cli`` fixture runs it: wall
time, or with ``--cpu`` the process's CPU time (user + system; a loaded machine inflates it far less). The
table gives both medians and the median within-round ratio with its 95% bootstrap interval (``paired.py``).

    git worktree add /tmp/before 9cdccf59~1
    python benchmarks/report_refusal.py --rounds 7 --before /tmp/before/src
    python benchmarks/report_refusal.py --rounds 7 --cpu --before /tmp/before/src
    python benchmarks/report_refusal.py --rounds 7 --cpu --imported --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
import tempfile

from paired import print_before_now, source_tree, tree_rounds

_TIMED = """
import contextlib, io, time
if {imported}:  # torch and the command line loaded already, as in the tests' in-process cli
    import torch
    from optimlab.cli.app import main
wall, cpu = time.perf_counter(), time.process_time()
sys.argv = ["optimlab", "report", {folder!r}]
from optimlab.cli.app import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as said:
    try:
        main()
        code = 0
    except SystemExit as exit:
        code = exit.code
if code != 2:
    raise SystemExit(f"report exited {{code}}, not 2 (refused): {{said.getvalue()}}")
print(time.process_time() - cpu if {cpu} else time.perf_counter() - wall)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cpu", action="store_true", help="the process's CPU seconds, not wall")
    parser.add_argument("--imported", action="store_true", help="torch and the CLI imported before timing")
    parser.add_argument("--before", type=source_tree, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        now, before = tree_rounds(
            _TIMED.format(folder=folder, cpu=args.cpu, imported=args.imported), args.before, args.rounds
        )
    timed = f"report of an empty folder refused, {'CPU' if args.cpu else 'wall'}"
    timed += ", torch and the CLI imported before" if args.imported else ", imports included"
    print_before_now(timed, now, before, str(args.before))


if __name__ == "__main__":
    main()
