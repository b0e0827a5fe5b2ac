"""``gallery run all --size tiny --resume`` with nothing to do: what a resume of a finished gallery pays to
find each kept page in this optimlab's words, each round in fresh interpreters, the count it says first
(``pages_found``, which asks ``keeps_page``) included, as the CLI runs them.

Claim: comparing a kept page's words first, without drawing its figures (``gallery.page.write_kept_page``,
``Page.render(drawn=False)``), and drawing only a page whose words changed, resumes faster than drawing every
kept page's figures to compare its bytes (8b3cd3db). Each round times ``run_gallery(resume=True)`` over the
same finished folder with this tree and with the tree ``--before`` (a checkout's ``src``, such as
``git archive 4e01d2bc src``); the folder is first made whole with this tree. Prints both medians and the
median within-round ratio with its 95% bootstrap interval (``paired.py``). ``--reworded`` reads every kept
page as worded otherwise (``without_drawings`` patched), so that each is built, drawn and written again.

    python benchmarks/gallery_resume.py --out /tmp/gallery-tiny --before /tmp/old/src --rounds 3 [--reworded]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from paired import THIS_TREE, in_tree, print_before_now, source_tree, tree_rounds

_TIMED = """
import inspect
import time
import optimlab.gallery.page
from optimlab.gallery import run_gallery
from optimlab.gallery.publish import pages_found
if {reworded!r}:
    optimlab.gallery.page.without_drawings = lambda document: "a page in older words"
started = time.perf_counter()
found = pages_found("tiny", {out!r}, resume=True)
# the count's decisions handed on as the CLI hands them (c8272194: kept=), else decided a second time; a
# tree before c8272194 keeps them itself (its run_gallery takes no kept)
handed = "kept" in inspect.signature(run_gallery).parameters
kept = {{"kept": found[1]}} if handed else {{}}
run_gallery(size="tiny", out={out!r}, resume=True, **kept)
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="a gallery folder at size tiny (made whole first)")
    parser.add_argument("--before", type=source_tree, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reworded", action="store_true", help="every kept page written again")
    args = parser.parse_args()
    whole = _TIMED.format(out=args.out, reworded=False)
    subprocess.run([sys.executable, "-c", in_tree(THIS_TREE, whole)], check=True, capture_output=True)
    code = _TIMED.format(out=args.out, reworded=args.reworded)
    now, before = tree_rounds(code, args.before, args.rounds)
    timed = f"count and resume, {'every page reworded' if args.reworded else 'nothing to do'}"
    print_before_now(f"gallery run all --size tiny --resume: {timed}", now, before, str(args.before))


if __name__ == "__main__":
    main()
