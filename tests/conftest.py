"""Shared test setup: one torch thread per test process (the suite runs under xdist on 2 cores)."""

import os

# Two processes with 2 torch threads each made a training loop 100x slower on this 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)
