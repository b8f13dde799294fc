"""The activation modules and functions of PyTorch's nn beyond the elementwise rules (which
tests/test_elementwise.py and tests/test_cuda_kernels.py check against their formulas):
PReLU's learnt slopes, inplace=True, GELU's approximation, argument errors."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn
from tinygrad_nb import cuda as tg_cuda

from conftest import t64


@pytest.mark.parametrize("channels", [1, 3])
def test_prelu_learns_one_slope_or_one_per_channel(rng, channels):
    layer = nn.PReLU(channels, init=0.1).to(tg.float64)
    a = rng.standard_normal((2, 3, 4))
    a[np.abs(a) < 0.05] = 0.3
    slopes = np.full(channels, 0.1).reshape(1, -1, 1)
    np.testing.assert_allclose(layer(Tensor(a)).numpy(), np.where(a > 0, a, slopes * a))
    assert tg.gradcheck(lambda x, w: F.prelu(x, w), [t64(a), layer.weight])
    assert [name for name, _ in layer.named_parameters()] == ["weight"] and layer.weight.shape == (channels,)
    with pytest.raises(ValueError, match="prelu: weight of 2 slopes for an input of shape"):
        F.prelu(Tensor(a), Tensor(np.ones(2)))


@pytest.mark.parametrize("module", [nn.ReLU, nn.ReLU6, nn.SELU, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.ELU])
def test_inplace_writes_into_the_input(rng, module):
    a = rng.standard_normal((2, 5)) * 4
    x = Tensor(a)
    expected = module()(Tensor(a)).numpy()
    with tg.no_grad():
        out = module(inplace=True)(x)
    assert out is x
    np.testing.assert_allclose(x.numpy(), expected)
    h = Tensor(a, requires_grad=True) * 1.0  # an op's result: the write joins the graph
    (module(inplace=True)(h) * 2.0).sum().backward()
    assert "inplace=True" in repr(module(inplace=True))


def test_gelu_approximate_and_softplus_arguments(rng):
    a = rng.standard_normal(6)
    exact, approx = nn.GELU()(Tensor(a)).numpy(), nn.GELU(approximate="tanh")(Tensor(a)).numpy()
    assert np.abs(exact - approx).max() < 1e-3 and not np.allclose(exact, approx, rtol=0, atol=1e-9)
    assert repr(nn.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        Tensor(a).gelu("fast")
    with pytest.raises(ValueError, match="only threshold=20"):
        nn.Softplus(threshold=10)(Tensor(a))
    big = Tensor(np.array([30.0, -30.0]))
    np.testing.assert_allclose(F.softplus(big).numpy(), [30.0, np.log1p(np.exp(-30.0))])  # no overflow


@pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")
def test_the_new_modules_agree_across_devices(rng):
    from conftest import assert_like_cpu

    a = rng.standard_normal((2, 3, 4)) * 3
    w = np.array([0.1, 0.2, 0.3])
    assert_like_cpu(lambda x, w: F.prelu(F.mish(F.hardswish(F.elu(x, 0.5))), w).softplus(2.0), a, w)
