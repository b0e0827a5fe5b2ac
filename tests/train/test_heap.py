"""retained_heap: inside it, a large block comes from (and returns to) the heap instead of mmap."""

import ctypes
import ctypes.util
import sys

import pytest
import torch

from optimlab.train.heap import retained_heap


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")
    ]  # fmt: skip


def _libc():
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc is Linux's")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("mallinfo2 needs glibc 2.33")
    libc.mallinfo2.restype = _Mallinfo2
    return libc


def mmapped_blocks(libc) -> int:
    return libc.mallinfo2().hblks


def test_a_large_block_is_mmapped_outside_and_taken_from_the_heap_inside():
    libc = _libc()
    with retained_heap():
        pass  # the thresholds are fixed from here on (glibc stops adapting them)
    before = mmapped_blocks(libc)
    block = torch.empty(4 << 20, dtype=torch.uint8)  # 4 MiB: above glibc's default 128 KiB threshold
    assert mmapped_blocks(libc) == before + 1
    del block
    with retained_heap():
        before = mmapped_blocks(libc)
        block = torch.empty(4 << 20, dtype=torch.uint8)
        assert mmapped_blocks(libc) == before
        del block
