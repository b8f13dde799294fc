"""The global random generator behind randn/rand, initialisers, dropout and shuffling.

Devices with a generator of their own (the GPU's, which a captured step must be able to run
without the host) seed it from manual_seed's seed (a random one until it is called), and
`manual_seed` reseeds them too."""
import numpy as np

_rng = np.random.default_rng()
_seed = [np.random.SeedSequence().entropy]  # what device generators start from
_reseed = []  # callbacks of device generators, run by manual_seed


def manual_seed(seed):
    """Make every later random draw (factories, init, dropout, shuffling) reproducible."""
    global _rng
    _rng = np.random.default_rng(seed)
    _seed[0] = seed
    for reseed in _reseed:
        reseed()


def generator():
    return _rng


def device_seed():
    """The seed of a device's own generator: made from manual_seed's, without drawing from
    the global generator (so whether and when a device generator starts changes no other draw)."""
    return int(np.random.SeedSequence(_seed[0]).generate_state(1, np.uint64)[0])


def on_manual_seed(callback):
    """Run callback() whenever manual_seed is called (device generators register here)."""
    _reseed.append(callback)
