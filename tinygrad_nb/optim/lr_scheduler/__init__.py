"""Learning-rate schedulers: call `step()` once per epoch, after the optimiser's steps
(OneCycleLR: once per batch).

Each computes the rate of epoch e from the group's initial rate in closed form, so a
restored scheduler needs only its epoch counter; ReduceLROnPlateau, which follows a metric,
keeps its best value and counters instead. SequentialLR runs schedulers one after another,
ChainedScheduler several at once, their effects multiplied as in PyTorch.

    scheduler.py  LRScheduler, the base
    schedules.py  StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, ConstantLR, PolynomialLR, LambdaLR
    cyclic.py     CosineAnnealingWarmRestarts, OneCycleLR
    plateau.py    ReduceLROnPlateau
    composite.py  SequentialLR, ChainedScheduler
"""
from .composite import ChainedScheduler, SequentialLR
from .cyclic import CosineAnnealingWarmRestarts, OneCycleLR
from .plateau import ReduceLROnPlateau
from .scheduler import LRScheduler
from .schedules import (ConstantLR, CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, MultiStepLR, PolynomialLR,
                        StepLR)

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ConstantLR",
           "PolynomialLR", "LambdaLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR",
           "ChainedScheduler"]
