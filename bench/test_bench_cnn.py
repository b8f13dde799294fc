"""CNN benchmarks: tinygrad_nb side by side with a NumPy im2col reference and PyTorch CPU.

Each group times one workload three ways; tinygrad_nb runs in this process, the references
in worker processes (see conftest.py). Read the ratios off the group tables (the fastest is
1.0). Run with:  pytest bench/ --benchmark-only
"""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from models import c3d, lenet
from tinygrad_nb import Tensor, nn, optim

CONV = dict(n=32, c=64, size=32, filters=64)
DEPTHWISE = dict(CONV, groups=64)  # one filter per channel, as in MobileNet's blocks
POOL = dict(n=32, c=64, size=32)
LENET_BATCH = 64
C3D = dict(batch=1, frames=16, size=112)  # C3D's first two blocks on one 16-frame 112x112 RGB clip


def _data(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- the NumPy reference: im2col by slicing, products by np.matmul / tensordot (BLAS) ----


def np_conv_forward(x, w, b):
    """3x3-style convolution, stride 1, 'same' padding; returns y and the columns backward needs."""
    n, c, h, wd = x.shape
    k, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    cols = np.empty((n, c, kh, kw, h, wd), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i : i + h, j : j + wd]
    cols = cols.reshape(n, c * kh * kw, h * wd)
    y = np.matmul(w.reshape(k, -1), cols) + b.reshape(1, k, 1)
    return y.reshape(n, k, h, wd), cols


def np_conv_backward(gy, w, cols, x_shape):
    n, c, h, wd = x_shape
    k, _, kh, kw = w.shape
    g = gy.reshape(n, k, h * wd)
    dw = np.tensordot(g, cols, axes=([0, 2], [0, 2])).reshape(w.shape)
    db = g.sum(axis=(0, 2))
    dcols = np.matmul(w.reshape(k, -1).T, g).reshape(n, c, kh, kw, h, wd)
    dxp = np.zeros((n, c, h + kh - 1, wd + kw - 1), gy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + h, j : j + wd] += dcols[:, :, i, j]
    return dxp[:, :, kh // 2 : kh // 2 + h, kw // 2 : kw // 2 + wd], dw, db


def np_depthwise_forward(xp, w, b):
    """Depthwise 3x3 ('same' padding) on the padded input: one broadcast multiply-add per tap."""
    n, c, hp, wp = xp.shape
    h, wd = hp - 2, wp - 2
    y = np.broadcast_to(b.reshape(1, c, 1, 1), (n, c, h, wd)).copy()
    for i in range(3):
        for j in range(3):
            y += w[:, 0, i, j].reshape(1, c, 1, 1) * xp[:, :, i : i + h, j : j + wd]
    return y


def np_depthwise_backward(gy, w, xp):
    n, c, h, wd = gy.shape
    dxp, dw = np.zeros_like(xp), np.empty_like(w)
    for i in range(3):
        for j in range(3):
            dxp[:, :, i : i + h, j : j + wd] += w[:, 0, i, j].reshape(1, c, 1, 1) * gy
            dw[:, 0, i, j] = np.einsum("nchw,nchw->c", gy, xp[:, :, i : i + h, j : j + wd])
    return dxp[:, :, 1:-1, 1:-1], dw, gy.sum(axis=(0, 2, 3))


def np_pool_forward(x):
    """2x2 max pooling, stride 2, through a (..., 4) view of every window."""
    n, c, h, w = x.shape
    windows = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = windows.argmax(axis=-1)
    return np.take_along_axis(windows, arg[..., None], -1)[..., 0], arg


def np_pool_backward(gy, arg, x_shape):
    n, c, h, w = x_shape
    dwin = np.zeros(gy.shape + (4,), gy.dtype)
    np.put_along_axis(dwin, arg[..., None], gy[..., None], -1)
    return dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_shape)


def numpy_conv(n, c, size, filters, backward, groups=1):
    x, w, b = _data(n, c, size, size), _data(filters, c // groups, 3, 3, seed=1) * 0.05, _data(filters, seed=2)
    gy = _data(n, filters, size, size, seed=3)
    if groups > 1:  # depthwise, the only grouped workload
        def depthwise():
            xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
            np_depthwise_forward(xp, w, b)
            if backward:
                np_depthwise_backward(gy, w, xp)

        return depthwise

    def step():
        y, cols = np_conv_forward(x, w, b)
        if backward:
            np_conv_backward(gy, w, cols, x.shape)

    return step


def numpy_pool(n, c, size):
    x, gy = _data(n, c, size, size), _data(n, c, size // 2, size // 2, seed=1)

    def step():
        y, arg = np_pool_forward(x)
        np_pool_backward(gy, arg, x.shape)

    return step


def numpy_lenet(batch):
    rng = np.random.default_rng(0)
    x, labels = _data(batch, 1, 28, 28), rng.integers(0, 10, batch)
    params = [_data(32, 1, 3, 3) / 3, np.zeros(32, np.float32), _data(64, 32, 3, 3) / 17, np.zeros(64, np.float32),
              _data(128, 3136) / 56, np.zeros(128, np.float32), _data(10, 128) / 11, np.zeros(10, np.float32)]

    def step():
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        a1, cols1 = np_conv_forward(x, w1, b1)
        r1 = np.maximum(a1, 0)
        p1, arg1 = np_pool_forward(r1)
        a2, cols2 = np_conv_forward(p1, w2, b2)
        r2 = np.maximum(a2, 0)
        p2, arg2 = np_pool_forward(r2)
        f = p2.reshape(batch, -1)
        h = np.maximum(f @ w3.T + b3, 0)
        logits = h @ w4.T + b4
        z = logits - logits.max(axis=1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        dlogits = prob
        dlogits[np.arange(batch), labels] -= 1
        dlogits /= batch
        dh = (dlogits @ w4) * (h > 0)
        df = dh @ w3
        dr2 = np_pool_backward(df.reshape(p2.shape), arg2, r2.shape) * (a2 > 0)
        dp1, dw2, db2 = np_conv_backward(dr2, w2, cols2, p1.shape)
        dr1 = np_pool_backward(dp1, arg1, r1.shape) * (a1 > 0)
        _, dw1, db1 = np_conv_backward(dr1, w1, cols1, x.shape)
        grads = [dw1, db1, dw2, db2, dh.T @ f, dh.sum(0), dlogits.T @ h, dlogits.sum(0)]
        for p, g in zip(params, grads):
            p -= 0.01 * g

    return step


# ---- the PyTorch reference (imported only in its worker process) ---------------------


def torch_conv(n, c, size, filters, backward, groups=1):
    import torch

    x, w, b = (torch.from_numpy(a) for a in (_data(n, c, size, size), _data(filters, c // groups, 3, 3, seed=1) * 0.05, _data(filters, seed=2)))
    gy = torch.from_numpy(_data(n, filters, size, size, seed=3))
    if not backward:
        def forward():
            with torch.no_grad():
                torch.nn.functional.conv2d(x, w, b, padding=1, groups=groups)

        return forward
    for t in (x, w, b):
        t.requires_grad_(True)

    def step():
        for t in (x, w, b):
            t.grad = None
        torch.nn.functional.conv2d(x, w, b, padding=1, groups=groups).backward(gy)

    return step


def torch_pool(n, c, size):
    import torch

    x = torch.from_numpy(_data(n, c, size, size)).requires_grad_(True)
    gy = torch.from_numpy(_data(n, c, size // 2, size // 2, seed=1))

    def step():
        x.grad = None
        torch.nn.functional.max_pool2d(x, 2).backward(gy)

    return step


def torch_lenet(batch):
    import torch

    torch.manual_seed(0)
    model = lenet(torch.nn)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, labels = torch.from_numpy(_data(batch, 1, 28, 28)), torch.from_numpy(np.random.default_rng(0).integers(0, 10, batch))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        opt.step()

    return step


def torch_c3d(batch, frames, size):
    import torch

    torch.manual_seed(0)
    model = c3d(torch.nn)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, labels = torch.from_numpy(_data(batch, 3, frames, size, size)), torch.from_numpy(np.arange(batch) % 10)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        opt.step()

    return step


# ---- tinygrad_nb (this process) -----------------------------------------------------


def tinygrad_conv(n, c, size, filters, backward, groups=1):
    x, w, b = Tensor(_data(n, c, size, size)), Tensor(_data(filters, c // groups, 3, 3, seed=1) * 0.05), Tensor(_data(filters, seed=2))
    gy = Tensor(_data(n, filters, size, size, seed=3))
    if not backward:
        return tg.no_grad()(lambda: F.conv2d(x, w, b, padding=1, groups=groups))
    for t in (x, w, b):
        t.requires_grad_(True)

    def step():
        for t in (x, w, b):
            t.grad = None
        F.conv2d(x, w, b, padding=1, groups=groups).backward(gy)

    return step


def tinygrad_pool(n, c, size):
    x = Tensor(_data(n, c, size, size), requires_grad=True)
    gy = Tensor(_data(n, c, size // 2, size // 2, seed=1))

    def step():
        x.grad = None
        F.max_pool2d(x, 2).backward(gy)

    return step


def tinygrad_lenet(batch):
    tg.manual_seed(0)
    model = lenet(nn)
    opt = optim.SGD(model.parameters(), lr=0.01)
    x, labels = Tensor(_data(batch, 1, 28, 28)), Tensor(np.random.default_rng(0).integers(0, 10, batch))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        opt.step()

    return step


def tinygrad_c3d(batch, frames, size):
    tg.manual_seed(0)
    model = c3d(nn)
    opt = optim.SGD(model.parameters(), lr=0.01)
    x, labels = Tensor(_data(batch, 3, frames, size, size)), Tensor(np.arange(batch) % 10)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        opt.step()

    return step


def _run_here(benchmark, step):
    step()  # compile (or load from the cache) and touch every buffer once
    benchmark(step)


WORKLOADS = {
    "conv2d forward": (dict(CONV, backward=False), tinygrad_conv, numpy_conv, torch_conv),
    "conv2d forward+backward": (dict(CONV, backward=True), tinygrad_conv, numpy_conv, torch_conv),
    "depthwise conv2d forward+backward": (dict(DEPTHWISE, backward=True), tinygrad_conv, numpy_conv, torch_conv),
    "max_pool2d 2x2 forward+backward": (POOL, tinygrad_pool, numpy_pool, torch_pool),
    "LeNet training step": (dict(batch=LENET_BATCH), tinygrad_lenet, numpy_lenet, torch_lenet),
    "C3D blocks training step (16x112x112 clip)": (C3D, tinygrad_c3d, None, torch_c3d),
}


@pytest.mark.parametrize("impl", ["tinygrad", "numpy", "torch"])
@pytest.mark.parametrize("group", WORKLOADS)
def test_cnn(benchmark, request, group, impl):
    """The three implementations of one workload run one after another, so the host's load
    drifts as little as possible between the rows of a group's table."""
    kwargs, *builders = WORKLOADS[group]
    benchmark.group = group
    if impl == "tinygrad":
        _run_here(benchmark, builders[0](**kwargs))
    elif impl == "numpy":
        if builders[1] is None:
            pytest.skip(f"{group}: no NumPy reference")
        benchmark(request.getfixturevalue("reference")(builders[1], **kwargs))
    else:
        benchmark(request.getfixturevalue("torch_ref")(builders[2], **kwargs))


def test_first_call_in_fresh_process(benchmark, fresh_process):
    """conv2d forward+backward, first call in a new process with a warm Numba cache."""
    benchmark.group = "first conv2d forward+backward in a fresh process (warm cache)"
    fresh_process("import numpy as np, tinygrad_nb as tg, tinygrad_nb.nn.functional as F", """
x = tg.Tensor(np.ones((32, 64, 32, 32), np.float32), requires_grad=True)
w = tg.Tensor(np.ones((64, 64, 3, 3), np.float32), requires_grad=True)
F.conv2d(x, w, padding=1).sum().backward()""")
