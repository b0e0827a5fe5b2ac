"""The primitives optimizers are chained from; each module holds one family, its state types above it."""

from optimlab.optim.transforms.adam import scale_by_adam, scale_by_adamax, scale_by_nadam, scale_by_radam
from optimlab.optim.transforms.adan import scale_by_adan
from optimlab.optim.transforms.adaptive import scale_by_adadelta, scale_by_adagrad, scale_by_rms
from optimlab.optim.transforms.clipping import clip_by_global_norm, clip_by_value
from optimlab.optim.transforms.decay import add_decayed_weights
from optimlab.optim.transforms.momentum import scale_by_momentum
from optimlab.optim.transforms.scaling import scale, scale_by_learning_rate
from optimlab.optim.transforms.schedule_free import schedule_free
from optimlab.optim.transforms.sign import scale_by_lion

__all__ = [
    "add_decayed_weights",
    "clip_by_global_norm",
    "clip_by_value",
    "scale",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_momentum",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_rms",
    "schedule_free",
]
