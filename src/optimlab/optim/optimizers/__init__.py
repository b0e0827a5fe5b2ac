"""Named optimizers: each a short chain of transforms plus its registry entry (category ``optimizer``).

One module per family, as :mod:`optimlab.optim.transforms` has one per primitive family. Importing this
package imports every module in it, so a new module's entries register without editing any list
(modules whose name starts with ``_`` hold what the families share and register nothing). Use the
optimizers through :func:`optimlab.optim.create` (a ``torch.optim.Optimizer``) or functionally:

>>> import torch
>>> from optimlab.optim import adamw
>>> p = [torch.ones(2)]
>>> tx = adamw(lr=0.1, weight_decay=0.5)
>>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
>>> delta[0]  # -lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)
tensor([-0.1500, -0.1500])
"""

from optimlab.registry import import_submodules

__all__ = ["MODULES"]

MODULES = import_submodules(__name__)  # the family modules, by name; importing them registered them
