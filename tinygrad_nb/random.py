"""The global random generator behind randn/rand, initialisers, dropout and shuffling.

Devices with a generator of their own (the GPU's, which a captured step must be able to run
without the host) seed it from manual_seed's seed (a random one until it is called), and
`manual_seed` reseeds them too."""
import numpy as np

_rng = np.random.default_rng()
_seed = [np.random.SeedSequence().entropy]  # what device generators start from
_devices = {}  # device name -> (reseed, get, set) of its own generator (see device_generator)


def manual_seed(seed):
    """Make every later random draw (factories, init, dropout, shuffling) reproducible."""
    global _rng
    _rng = np.random.default_rng(seed)
    _seed[0] = seed
    for reseed, _, _ in _devices.values():
        reseed()


def generator():
    return _rng


def seed_worker(seed):
    """manual_seed in a DataLoader worker process, which forgets the device generators: a
    forked process cannot use its parent's GPU context."""
    _devices.clear()
    manual_seed(seed)


def get_rng_state():
    """The state of the global generator and of the device generators, as plain data that
    `save` stores (torch.get_rng_state, with the GPU's as torch.cuda.get_rng_state)."""
    return {"bit_generator": _rng.bit_generator.state, "seed": _seed[0],
            "devices": {name: get() for name, (_, get, _) in _devices.items()}}


def set_rng_state(state):
    """Put the generators back where get_rng_state found them: later draws (factories,
    init, dropout, shuffling, on every device) repeat the ones that followed."""
    kind = state["bit_generator"]["bit_generator"]
    if kind != type(_rng.bit_generator).__name__:
        raise ValueError(f"set_rng_state: the state is of a {kind} generator; this one is {type(_rng.bit_generator).__name__}")
    _rng.bit_generator.state = state["bit_generator"]
    _seed[0] = state["seed"]
    for name, value in state.get("devices", {}).items():
        if name in _devices:
            _devices[name][2](value)


class fork_rng:
    """Context manager: the global generator's state is restored on exit, so draws inside
    leave later ones unchanged (torch.random.fork_rng)."""

    def __enter__(self):
        self.state = get_rng_state()
        return self

    def __exit__(self, *exc):
        set_rng_state(self.state)


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


def device_generator(name, reseed, get, set):
    """Register a device's own generator: manual_seed calls reseed(), get_rng_state
    includes get() (its state as plain data) and set_rng_state calls set(value)."""
    _devices[name] = (reseed, get, set)
