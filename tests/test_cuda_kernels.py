"""The CUDA kernels called directly: the backend contract bound on both devices, the matrix product in
every tile configuration (including the GPU's large ones, on small matrices so that the
simulator copes), strided inputs and the error function."""
import math

import numpy as np
import pytest

from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

from tinygrad_nb.kernels.cuda import gemm  # noqa: E402
from tinygrad_nb.kernels.cuda import matmul as mm  # noqa: E402
from tinygrad_nb.kernels.cuda import xp  # noqa: E402


def test_cuda_backend_binds_every_entry_point_with_the_contracts_arguments():
    import inspect

    from tinygrad_nb.kernels.backend import ENTRY_POINTS, Backend
    from tinygrad_nb.kernels.cpu.backend import CPU
    from tinygrad_nb.kernels.cuda.backend import CUDA

    for backend in (CPU, CUDA):
        for name in ENTRY_POINTS:
            bound = backend.__dict__.get(name)
            assert bound is not None, f"{backend.name} backend lacks {name}"
            contract = list(inspect.signature(getattr(Backend, name)).parameters)[1:]  # without self
            given = list(inspect.signature(bound.__func__).parameters)
            assert given[:len(contract)] == contract, f"{backend.name}.{name}{given} differs from the contract {contract}"


@pytest.mark.parametrize("tiles", [gemm.SIMULATOR, *gemm.GPU_TILES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_tiles(rng, tiles, dtype):
    """Ragged edges in M, N and K, and two batches."""
    a, b = rng.standard_normal((2, 11, 10)).astype(dtype), rng.standard_normal((2, 10, 9)).astype(dtype)
    out = mm.matmul(xp.asarray(a), xp.asarray(b), tiles=tiles)
    assert out.dtype == dtype and out.shape == (2, 11, 9)
    np.testing.assert_allclose(out.get(), a @ b, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("a_t", [False, True])
@pytest.mark.parametrize("b_t", [False, True])
def test_matmul_sweeps_either_axis_over_many_slices(rng, a_t, b_t):
    """Operands stored either way round (each kernel variant loads along the contiguous axis)
    and a K of many slices of the double-buffered loop, ending in a ragged one."""
    a, b = rng.standard_normal((1, 13, 23)), rng.standard_normal((1, 23, 10))
    da = xp.asarray(a[0].T.copy()).T.reshape(1, 13, 23) if a_t else xp.asarray(a)
    db = xp.asarray(b[0].T.copy()).T.reshape(1, 23, 10) if b_t else xp.asarray(b)
    assert gemm.dense(da, 2).along_k != a_t and gemm.dense(db, 1).along_k == b_t
    np.testing.assert_allclose(mm.matmul(da, db).get(), a @ b, rtol=1e-12)


@pytest.mark.parametrize("splits", [2, 3])
def test_matmul_split_along_k(rng, splits):
    """Partial products over parts of K, added up by a reduction (K = 10: parts of 5 or 4, 4, 2)."""
    a, b = rng.standard_normal((2, 3, 10)), rng.standard_normal((2, 10, 4))
    np.testing.assert_allclose(mm.matmul(xp.asarray(a), xp.asarray(b), splits=splits).get(), a @ b, rtol=1e-12)


def test_matmul_into_a_given_array(rng):
    a, b = rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 4, 2))
    out = xp.zeros((1, 3, 2))
    assert mm.matmul(xp.asarray(a), xp.asarray(b), out=out) is out
    np.testing.assert_allclose(out.get(), a @ b, rtol=1e-12)
    with pytest.raises(ValueError, match="out must be a contiguous float64 array of shape"):
        mm.matmul(xp.asarray(a), xp.asarray(b), out=xp.zeros((1, 2, 3)))


def test_matmul_reads_strided_and_broadcast_views(rng):
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((3, 7))
    at = xp.broadcast_to(xp.asarray(a).T, (2, 5, 7))  # transposed, batch stride 0: no copies
    bt = xp.broadcast_to(xp.asarray(b).T, (2, 7, 3))
    assert not at.is_contiguous
    np.testing.assert_allclose(mm.matmul(at, bt).get(), np.broadcast_to(a.T @ b.T, (2, 5, 3)), rtol=1e-12)
    empty = mm.matmul(xp.zeros((1, 2, 0)), xp.zeros((1, 0, 3)))
    np.testing.assert_array_equal(empty.get(), np.zeros((1, 2, 3)))


# (x shape, weight shape, stride, padding, dilation, groups): ragged tiles, groups, a depthwise
# multiplier (direct kernels), strides and dilation with padding.
CONV_KERNEL_CASES = [((2, 3, 7, 6), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
                     ((1, 4, 6, 7), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),
                     ((2, 3, 5, 5), (6, 1, 3, 3), (1, 2), (2, 1), (2, 1), 3)]


@pytest.mark.parametrize("tiles,splits", [(gemm.SIMULATOR, 1), (gemm.SMALL, 3), (gemm.MEDIUM, 2), (gemm.LARGE, 1)])
@pytest.mark.parametrize("case", CONV_KERNEL_CASES)
def test_convolution_products_read_strided_operands_in_place(rng, monkeypatch, tiles, splits, case):
    """The implicit-GEMM convolution in each tile configuration (the weight gradient's long sum
    split along N*L too) against the CPU kernels, on views that are not contiguous: an NHWC
    input seen as NCHW and a gradient sliced out of a wider array."""
    from tinygrad_nb.kernels.cpu import conv as cpu_conv

    from tinygrad_nb.kernels.cuda import conv as gpu_conv

    monkeypatch.setattr(gemm, "tiles_for", lambda *shape: tiles)
    monkeypatch.setattr(gemm, "splits_for", lambda *shape: splits)
    xs, ws, stride, padding, dilation, groups = case
    geometry = stride, padding, dilation, groups
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out_hw = tuple((xs[2 + a] + 2 * padding[a] - dilation[a] * (ws[2 + a] - 1) - 1) // stride[a] + 1 for a in (0, 1))
    gy = rng.standard_normal((xs[0], ws[0]) + out_hw)
    x_view = xp.asarray(np.ascontiguousarray(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    gy_view = xp.asarray(np.concatenate([gy, gy], axis=3))[:, :, :, : out_hw[1]]
    assert not x_view.is_contiguous and not gy_view.is_contiguous
    want = [cpu_conv.conv2d(x, w, b, *geometry, out_hw), cpu_conv.conv2d_backward_input(gy, w, xs[2:], *geometry),
            cpu_conv.conv2d_backward_weight(x, gy, ws[2:], *geometry)]
    got = [gpu_conv.conv2d(x_view, xp.asarray(w), xp.asarray(b), *geometry, out_hw),
           gpu_conv.conv2d_backward_input(gy_view, xp.asarray(w), xs[2:], *geometry),
           gpu_conv.conv2d_backward_weight(x_view, gy_view, ws[2:], *geometry)]
    for g, c in zip(got, want):
        np.testing.assert_allclose(g.get(), c, rtol=1e-10, atol=1e-12)


def test_large_tiles_only_when_the_grid_fills_the_gpu():
    if tg_cuda.is_simulated():
        assert gemm.tiles_for(1, 4096, 4096) == gemm.SIMULATOR
    else:
        sms = gemm.multiprocessors()
        assert gemm.tiles_for(1, 4096, 4096) == gemm.LARGE and gemm.tiles_for(1, 64, 64) == gemm.SMALL
        assert gemm.tiles_for(sms, 128, 128) == gemm.LARGE and gemm.tiles_for(sms, 128, 129) == gemm.LARGE
        if 64 < sms <= 256:  # an H100 or H200 has 132: 1024^2 is 64 large tiles, 256 medium ones
            assert gemm.tiles_for(1, 1024, 1024) == gemm.MEDIUM


ERF = np.vectorize(math.erf)
# Each activation's value and derivative, from NumPy and the textbook formulas.
ACTIVATIONS = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "gelu": (lambda x: x * (1 + ERF(x / math.sqrt(2))) / 2,
             lambda x: (1 + ERF(x / math.sqrt(2))) / 2 + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
    "silu": (lambda x: x / (1 + np.exp(-x)), lambda x: (1 + np.exp(-x) + x * np.exp(-x)) / (1 + np.exp(-x)) ** 2),
    "gelu_tanh": (lambda x: x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))) / 2,
                  lambda x: (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))) / 2
                  + x / np.cosh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)) ** 2 * math.sqrt(2 / math.pi)
                  * (1 + 3 * 0.044715 * x**2) / 2),
    "elu": (lambda x: np.where(x > 0, x, 0.2 * np.expm1(np.minimum(x, 0))), lambda x: np.where(x > 0, 1.0, 0.2 * np.exp(np.minimum(x, 0)))),
    "selu": (lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
             lambda x: 1.0507009873554805 * np.where(x > 0, 1.0, 1.6732632423543772 * np.exp(np.minimum(x, 0)))),
    "softplus": (lambda x: np.log1p(np.exp(0.2 * x)) / 0.2, lambda x: 1 / (1 + np.exp(-0.2 * x))),  # beta 0.2
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0),
    "hardsigmoid": (lambda x: np.clip(x / 6 + 0.5, 0, 1), lambda x: ((x > -3) & (x < 3)) / 6.0),
    "hardswish": (lambda x: x * np.clip(x / 6 + 0.5, 0, 1), lambda x: np.where(x < -3, 0.0, np.where(x > 3, 1.0, (2 * x + 3) / 6))),
    "mish": (lambda x: x * np.tanh(np.log1p(np.exp(x))),
             lambda x: np.tanh(np.log1p(np.exp(x))) + x / (1 + np.exp(-x)) / np.cosh(np.log1p(np.exp(x))) ** 2),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_activation_kernel_against_its_formula(rng, name, device, dtype):
    """One rule per activation (kernels/activations.py) makes the kernels of both devices;
    contiguous arrays take the GPU's flat kernels, a transposed view its general ones."""
    from tinygrad_nb.device import get_device

    value, slope = ACTIVATIONS[name]
    dev = get_device(device)
    forward, backward = dev.backend.activation, dev.backend.activation_backward
    x = (rng.standard_normal((3, 5)) * 3).astype(dtype)
    x[np.isin(x, [0, 3, -3, 6])] = 0.5  # the kinks of ReLU, ReLU6 and the hard ones
    g = rng.standard_normal((3, 5)).astype(dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    for transposed in (False, True):  # a transposed view is strided: the GPU's general kernels
        xd = dev.from_numpy(x.T.copy()).T if transposed else dev.from_numpy(x)
        y, kept = forward(name, xd, 0.2)
        dx = backward(name, dev.from_numpy(g), kept, 0.2)
        y, dx = dev.to_numpy(y), dev.to_numpy(dx)
        assert y.dtype == dtype and dx.dtype == dtype
        np.testing.assert_allclose(y, value(x.astype(np.float64)), **tol)
        np.testing.assert_allclose(dx, g * slope(x.astype(np.float64)), **tol)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_relu_keeps_nan_and_infinities(device):
    from tinygrad_nb.device import get_device

    dev = get_device(device)
    x = np.array([np.nan, -np.inf, np.inf, -0.0, -1.0, 2.0], np.float32)
    y, _ = dev.backend.activation("relu", dev.from_numpy(x))
    np.testing.assert_array_equal(dev.to_numpy(y), [np.nan, 0, np.inf, 0, 0, 2])


def cuda_kernel(name):
    from tinygrad_nb.device import get_device

    return getattr(get_device("cuda").backend, name)


def test_simulated_threads_of_a_block_share_one_shared_array(monkeypatch):
    """The simulator's cuda.shared.array creates a block's array on first use; threads that
    switch during that creation must still all get the same array (launch.py patches it)."""
    import threading
    import time

    from tinygrad_nb.kernels.cuda.launch import SIMULATED

    if not SIMULATED:
        pytest.skip("a real GPU has real shared memory")
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    empty = np.empty

    def slow_empty(*args, **kwargs):
        time.sleep(0.01)  # a thread switch inside the creation, every time
        return empty(*args, **kwargs)

    monkeypatch.setattr(np, "empty", slow_empty)
    shared, barrier, got = FakeCUDAShared(0), threading.Barrier(8), []

    def thread():
        barrier.wait()
        got.append(shared.array(4, np.float32))

    threads = [threading.Thread(target=thread) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(a is got[0] for a in got)
