"""retained_heap: inside it, a large block comes from (and returns to) the heap instead of mmap.

The check runs in a fresh process: in a test worker that already ran other tests, the heap may hold a
free chunk large enough for the block, and glibc then serves it without mmap either way. It is forked
from the session's parent (tests/conftest.py's forked_parents), which imported the package and ran nothing.
"""

import os
import sys
import textwrap

import pytest

_CHECK = textwrap.dedent(
    """
    import ctypes, ctypes.util
    import torch
    from optimlab.train.heap import retained_heap

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        print("skip: mallinfo2 needs glibc 2.33")
        raise SystemExit
    libc.mallinfo2.restype = Mallinfo2
    size = 64 << 20  # above glibc's largest adaptive mmap threshold (32 MiB)
    with retained_heap():
        pass  # the thresholds are fixed from here on (glibc stops adapting them)
    before = libc.mallinfo2().hblks
    block = torch.empty(size, dtype=torch.uint8)
    outside = libc.mallinfo2().hblks - before
    del block
    with retained_heap():
        before = libc.mallinfo2().hblks
        block = torch.empty(size, dtype=torch.uint8)
        inside = libc.mallinfo2().hblks - before
        del block
    print(outside, inside)
    """
)


def test_a_large_block_is_mmapped_outside_and_taken_from_the_heap_inside(tmp_path, forked_parents):
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc is Linux's")
    code, out, err = forked_parents().run([], tmp_path, dict(os.environ), tmp_path, 300, source=_CHECK)
    assert code == 0, err
    if out.startswith("skip:"):
        pytest.skip(out.removeprefix("skip:").strip())
    assert out.split() == ["1", "0"]
