"""Construction, dtypes, factories and conversions."""
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor


def test_dtype_rules():
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor(3.0).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert Tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.int64
    assert Tensor([1, 2], dtype=tg.float64).dtype == np.float64
    assert Tensor(np.arange(3)).float().dtype == np.float32
    assert Tensor([1.5]).double().dtype == np.float64 and Tensor([1.5]).long().dtype == np.int64


def test_float64_stays_float64_through_ops():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = ((x * 2 + 1) @ x).relu().sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_cast_is_differentiable():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x.float() * 2
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float64


def test_factories():
    tg.manual_seed(1)
    a = tg.randn(2, 3)
    tg.manual_seed(1)
    assert np.array_equal(a.numpy(), Tensor.randn((2, 3)).numpy())
    assert a.dtype == np.float32 and a.shape == (2, 3)
    assert tg.zeros(2, 3).numpy().sum() == 0 and tg.ones((2,)).numpy().sum() == 2
    assert tg.full((2, 2), 7.0).numpy().sum() == 28
    assert tg.arange(5).dtype == np.int64 and tg.arange(0, 1, 0.5).dtype == np.float32
    assert np.array_equal(tg.eye(3).numpy(), np.eye(3))
    assert tg.zeros_like(a).shape == (2, 3) and tg.ones_like(a).dtype == np.float32
    r = tg.rand(100)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1
    assert tg.zeros(2, requires_grad=True).requires_grad
    assert tg.randint(0, 5, (10,)).dtype == np.int64


def test_inspection():
    x = Tensor(np.zeros((2, 3, 4)))
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(-1) == 4 and x.dim() == 3
    assert x.numel() == 24 and len(x) == 2 and x.device == "cpu"
    assert Tensor([[3.5]]).item() == 3.5
    assert "tensor(" in repr(Tensor([1.0], requires_grad=True))


def test_to_and_device_names():
    x = Tensor([1.0])
    assert x.to("cpu") is x and x.cpu() is x
    assert x.to(tg.float64).dtype == np.float64


def test_import_compiles_nothing_and_is_fast():
    code = "import time; t = time.time(); import tinygrad_nb, sys; print(time.time() - t, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) < 1.5
    assert out[1] == "False"


def test_numpy_interop():
    x = Tensor([1.0, 2.0])
    assert np.asarray(x).tolist() == [1.0, 2.0]
    assert (np.ones(2) * x).numpy().tolist() == [1.0, 2.0]


def test_random_factories_draw_in_the_final_dtype():
    """A float32 randn/rand peaks at the tensor's own size, not at a float64 draw twice it."""
    import tracemalloc

    for factory in (tg.randn, tg.rand):
        factory(10)  # first-call allocations stay out of the count
        tracemalloc.start()
        t = factory(10**6)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert t.dtype == np.float32 and peak < 1.25 * 4 * 10**6
    assert tg.randn(3, dtype=tg.float64).dtype == np.float64
