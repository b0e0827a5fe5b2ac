"""The primitives optimizers are chained from; each module holds one family, its state types above it.

Every transform a module exports is exported here and from :mod:`optimlab.optim`
(``tests/optim/test_public_api.py`` fails until it is).
"""

from optimlab.optim.transforms.adam import scale_by_adam, scale_by_adamax, scale_by_nadam, scale_by_radam
from optimlab.optim.transforms.adan import scale_by_adan
from optimlab.optim.transforms.adaptive import scale_by_adadelta, scale_by_adagrad, scale_by_rms
from optimlab.optim.transforms.clipping import clip_by_global_norm, clip_by_value
from optimlab.optim.transforms.decay import add_decayed_weights
from optimlab.optim.transforms.factored_rms import scale_by_factored_rms
from optimlab.optim.transforms.momentum import scale_by_momentum
from optimlab.optim.transforms.orthogonal import orthogonalize_by_newton_schulz
from optimlab.optim.transforms.partition import partition
from optimlab.optim.transforms.scaling import scale, scale_by_learning_rate
from optimlab.optim.transforms.schedule_free import schedule_free
from optimlab.optim.transforms.sign import scale_by_lion
from optimlab.optim.transforms.trust_ratio import scale_by_trust_ratio

__all__ = [
    "add_decayed_weights",
    "clip_by_global_norm",
    "clip_by_value",
    "orthogonalize_by_newton_schulz",
    "partition",
    "scale",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_factored_rms",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_momentum",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_trust_ratio",
    "schedule_free",
]
