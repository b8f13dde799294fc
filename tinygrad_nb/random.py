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


def _draw(method, shape, dtype):
    """method(shape) of the global generator in `dtype`: drawn in it where NumPy's generator
    can (float32, float64), so a float32 tensor never passes through a float64 array twice
    its size; other dtypes are drawn in float64 and cast."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return getattr(_rng, method)(shape, dtype=dtype)
    return getattr(_rng, method)(shape).astype(dtype)


def normal(shape, dtype):
    """Standard normal samples of `shape` in `dtype`."""
    return _draw("standard_normal", shape, dtype)


def uniform(shape, dtype):
    """Uniform samples in [0, 1) of `shape` in `dtype`."""
    return _draw("random", shape, dtype)


def device_seed():
    """The seed of a device's own generator: made from manual_seed's, without drawing from
    the global generator (so whether and when a device generator starts changes no other draw)."""
    return int(np.random.SeedSequence(_seed[0]).generate_state(1, np.uint64)[0])


def on_manual_seed(callback):
    """Run callback() whenever manual_seed is called (device generators register here)."""
    _reseed.append(callback)
