"""The global random generators a user's code draws from without a generator of its own: torch's CPU one
(dropout, ``torch.randn``, torchvision's transforms), NumPy's (``np.random.normal``) and Python's
(``random.random``), as one state a checkpoint keeps and a resumed run sets again.

States are tensors and plain values, which a weights-only ``torch.load`` reads (NumPy's key words are
kept as an int32 tensor of the same bits).

>>> import numpy as np
>>> states = global_states()
>>> first = np.random.rand()
>>> set_global_states(states)
>>> np.random.rand() == first
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = [
    "global_generators_given_back",
    "global_states",
    "kept_states",
    "seed_numpy_and_python",
    "set_global_states",
    "torch_state",
]


def global_states() -> dict[str, Any]:
    """The states of torch's CPU, NumPy's and Python's global generators, for :func:`set_global_states`
    (NumPy's is most of the cost: 111 of 157 us, Python's 28, torch's 2; min of 7 x 5,000 calls on the
    shared 2-core CPU box under load, 2026-12-06)."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.view(np.int32)),
            "pos": position,
            "gauss": (has_gauss, gauss),
        },
        "python": random.getstate(),
    }


def torch_state() -> dict[str, Any]:
    """The state of torch's CPU generator alone, as :func:`global_states` gives it (1 us of its 46 on an
    idle core): what a run keeps where no checkpoint can be written, dropout's and torch-drawn
    augmentations' generator, for a run continued in its process (``fit(..., state=state)``)."""
    return {"torch": torch.get_rng_state()}


def kept_states(kept: torch.Tensor | dict[str, Any] | None) -> dict[str, Any] | None:
    """``kept`` as :func:`global_states` gives them: one kept before NumPy's and Python's states were
    (torch's tensor alone) as torch's."""
    return {"torch": kept} if isinstance(kept, torch.Tensor) else kept


def set_global_states(states: dict[str, Any]) -> None:
    """Set the global generators to ``states`` (:func:`global_states`); one they hold no state of (a
    checkpoint written before NumPy's and Python's were kept) is left as it is."""
    if (state := states.get("torch")) is not None:
        torch.set_rng_state(state)
    if (state := states.get("numpy")) is not None:
        keys = state["keys"].numpy().view(np.uint32)
        np.random.set_state(("MT19937", keys, int(state["pos"]), *state["gauss"]))
    if (state := states.get("python")) is not None:
        version, internal, gauss_next = state
        random.setstate((version, tuple(internal), gauss_next))


def seed_numpy_and_python(seed: int) -> None:
    """Seed NumPy's global generator (with ``seed`` mod 2**32, the 32 bits it takes) and Python's with
    ``seed``, beside torch's (``torch.manual_seed``): a user's code drawing from them (``np.random``
    augmentations) then draws the same numbers at each run of one seed."""
    np.random.seed(seed % 2**32)
    random.seed(seed)


@contextmanager
def global_generators_given_back() -> Iterator[None]:
    """The global generators (:func:`global_states`: torch's CPU one, NumPy's, Python's) as they were
    before the block, whatever it drew or seeded (``torch.manual_seed`` and :func:`seed_numpy_and_python`
    as a recipe builds, a package's ``np.random.seed``): the caller's own draws after it go on from where
    they were, not from the block's seed."""
    states = global_states()
    try:
        yield
    finally:
        set_global_states(states)
