"""``gallery run all --size tiny --resume`` with nothing to do: what a resume of a finished gallery pays to
find each kept page in this optimlab's words, each round in fresh interpreters.

Claim: comparing a kept page's words first, without drawing its figures (``gallery.page.write_kept_page``,
``Page.render(drawn=False)``), and drawing only a page whose words changed, resumes faster than drawing every
kept page's figures to compare its bytes (8b3cd3db). Each round times ``run_gallery(resume=True)`` over the
same finished folder with this tree and with the tree ``--before`` (a checkout's ``src``, such as
``git archive 4e01d2bc src``); the folder is first made whole with this tree. Prints both medians and the
median within-round ratio with its 95% bootstrap interval (``paired.py``).

    python benchmarks/gallery_resume.py --out /tmp/gallery-tiny --before /tmp/old/src --rounds 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from paired import THIS_TREE, in_tree, print_before_now, source_tree, tree_rounds

_TIMED = """
import time
from optimlab.gallery import run_gallery
started = time.perf_counter()
run_gallery(size="tiny", out={out!r}, resume=True)
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="a gallery folder at size tiny (made whole first)")
    parser.add_argument("--before", type=source_tree, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    code = _TIMED.format(out=args.out)
    subprocess.run([sys.executable, "-c", in_tree(THIS_TREE, code)], check=True, capture_output=True)
    now, before = tree_rounds(code, args.before, args.rounds)
    print_before_now("gallery run all --size tiny --resume, nothing to do", now, before, str(args.before))


if __name__ == "__main__":
    main()
