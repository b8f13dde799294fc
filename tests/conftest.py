import os

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb.cuda import driver_has_gpu

# Without a GPU the 'cuda' tests run in Numba's CUDA simulator, which must be chosen before
# numba.cuda is first imported (tinygrad_nb itself does not import Numba).
if not driver_has_gpu():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def t64(array, requires_grad=True):
    """A float64 leaf for gradient checks."""
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


# Every kernel the simulated tests launch, with its argument types, for test_cuda_ptx.py,
# which compiles them for a real GPU and runs last so that it sees the whole run's launches.
LAUNCHES = set()


def pytest_configure(config):
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        import ptx

        ptx.record(LAUNCHES)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.path.name == "test_cuda_ptx.py")
