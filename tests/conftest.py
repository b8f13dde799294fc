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
