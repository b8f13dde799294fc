"""The global random generator behind randn/rand, initialisers and dropout."""
import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed):
    """Make every later random draw (factories, init, dropout, shuffling) reproducible."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator():
    return _rng
