"""The global random generator behind randn/rand, initialisers, dropout and shuffling.

Devices with a generator of their own (the GPU's, which a captured step must be able to run
without the host) seed it from this one, and `manual_seed` reseeds them too."""
import numpy as np

_rng = np.random.default_rng()
_reseed = []  # callbacks of device generators, run by manual_seed


def manual_seed(seed):
    """Make every later random draw (factories, init, dropout, shuffling) reproducible."""
    global _rng
    _rng = np.random.default_rng(seed)
    for reseed in _reseed:
        reseed()


def generator():
    return _rng


def device_seed():
    """A seed for a device's own generator, drawn from the global one."""
    return int(_rng.integers(2**63))


def on_manual_seed(callback):
    """Run callback() whenever manual_seed is called (device generators register here)."""
    _reseed.append(callback)
