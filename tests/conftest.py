import numpy as np
import pytest

import tinygrad_nb as tg


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def t64(array, requires_grad=True):
    """A float64 leaf for gradient checks."""
    return tg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)
