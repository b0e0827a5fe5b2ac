"""Learning-rate schedules: ``step -> multiplier`` functions, 1 at their peak, by name.

>>> from optimlab.schedules import create
>>> schedule = create("cosine", total_steps=1000, warmup_steps=100)
>>> schedule(0), schedule(100), schedule(1000)
(0.0, 1.0, 0.0)

``create`` builds any family of the ``schedule`` registry (``optimlab list schedule``) with an optional
linear warmup; ``join`` composes schedules; ``as_lr_scheduler`` drives a torch optimizer with one;
``ReduceOnPlateau`` is the metric-driven one; ``plot`` draws them; ``one_cycle_momentum`` is the momentum
torch's OneCycleLR cycles beside the rate.
"""

from optimlab.schedules.create import create, linear_warmup
from optimlab.schedules.families import one_cycle_momentum
from optimlab.schedules.join import Schedule, join
from optimlab.schedules.plateau import ReduceOnPlateau
from optimlab.schedules.plot import plot
from optimlab.schedules.torch_adapter import PlateauLR, as_lr_scheduler

__all__ = [
    "PlateauLR",
    "ReduceOnPlateau",
    "Schedule",
    "as_lr_scheduler",
    "create",
    "join",
    "linear_warmup",
    "one_cycle_momentum",
    "plot",
]
