"""Pooling on every device against plain-loop NumPy references, float64 gradient checks (on
the GPU against the CPU's gradients, see conftest.check_gradients), errors, modules."""
import math

import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn

from conftest import _run, check_gradients, on_devices, t64


def out_size(n, k, s, p, d, ceil_mode):
    span = (n + 2 * p - d * (k - 1) - 1) / s
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    return out - 1 if ceil_mode and (out - 1) * s >= n + p else out


def max_pool_reference(x, k, s, p, d, ceil_mode):
    """Loops over every window; returns the values and PyTorch's flat arg-max indices."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, k[0], s[0], p[0], d[0], ceil_mode), out_size(w, k[1], s[1], p[1], d[1], ceil_mode)
    y, idx = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow), np.int64)
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    taps = [
                        (x[a, b, r, q], r * w + q)
                        for r in range(i * s[0] - p[0], i * s[0] - p[0] + d[0] * (k[0] - 1) + 1, d[0])
                        for q in range(j * s[1] - p[1], j * s[1] - p[1] + d[1] * (k[1] - 1) + 1, d[1])
                        if 0 <= r < h and 0 <= q < w
                    ]
                    best = max(v for v, _ in taps)
                    y[a, b, i, j], idx[a, b, i, j] = best, next(t for v, t in taps if v == best)
    return y, idx


def avg_pool_reference(x, k, s, p, ceil_mode, count_include_pad):
    n, c, h, w = x.shape
    oh, ow = out_size(h, k[0], s[0], p[0], 1, ceil_mode), out_size(w, k[1], s[1], p[1], 1, ceil_mode)
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0] + k[0]), (p[1], p[1] + k[1])))
    inside = np.pad(np.ones((h, w)), ((p[0], p[0] + k[0]), (p[1], p[1] + k[1])))
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * s[0], min(i * s[0] + k[0], h + 2 * p[0]))
            cols = slice(j * s[1], min(j * s[1] + k[1], w + 2 * p[1]))
            divisor = inside[rows, cols].size if count_include_pad else inside[rows, cols].sum()
            y[:, :, i, j] = xp[:, :, rows, cols].sum(axis=(2, 3)) / divisor
    return y


MAX_CASES = [
    # x shape, kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((1, 2, 7, 5), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((2, 1, 7, 8), (3, 3), (2, 3), (1, 0), (2, 1), False),
    ((1, 2, 5, 5), (2, 2), (2, 2), (0, 1), (1, 1), True),
    ((2, 2, 4, 5), (1, 1), (1, 2), (0, 0), (1, 1), False),
]


@pytest.mark.parametrize("xs,k,s,p,d,ceil_mode", MAX_CASES)
def test_max_pool2d(rng, device, xs, k, s, p, d, ceil_mode):
    x = rng.standard_normal(xs)
    y, idx = F.max_pool2d(Tensor(x.astype(np.float32), device=device), k, s, p, d, ceil_mode, return_indices=True)
    expected, expected_idx = max_pool_reference(x, k, s, p, d, ceil_mode)
    assert y.device == idx.device == device
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    assert idx.dtype == np.int64 and not idx.requires_grad
    check_gradients(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode, return_indices=True), [x], device)


def test_max_pool2d_ties_send_the_gradient_to_one_winner(device):
    x = Tensor(np.ones((1, 1, 4, 4)), device=device, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    winners = np.zeros((4, 4))
    winners[::2, ::2] = 1  # the first element of every window, as PyTorch picks
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], winners)


def test_max_pool2d_overlapping_windows_add_up(device):
    x = Tensor(np.array([[[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]), device=device, requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()  # 5 wins both top windows
    assert x.grad.numpy()[0, 0, 0, 1] == 2 and x.grad.numpy().sum() == 4


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_max_pool2d_nan_wins_and_padding_only_windows(rng, device):
    """A NaN in a window is its maximum (as in PyTorch), with its index; a window that sees only
    padding gives -inf and index -1, and passes no gradient."""
    x = rng.standard_normal((1, 2, 5, 6))
    x[0, 0, 1, 1] = x[0, 1, 2, 4] = x[0, 1, 3, 3] = np.nan
    xt = Tensor(x, device=device, requires_grad=True)
    y, idx = F.max_pool2d(xt, 3, 2, 1, return_indices=True)
    clean = np.where(np.isnan(x), -np.inf, x)  # the reference without the NaNs, then the NaNs on top
    expected, expected_idx = max_pool_reference(clean, (3, 3), (2, 2), (1, 1), (1, 1), False)
    nan_idx = np.flatnonzero(np.isnan(x[0, 0]).ravel()), np.flatnonzero(np.isnan(x[0, 1]).ravel())
    for c in (0, 1):
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                rows = range(max(2 * i - 1, 0), min(2 * i + 2, 5))
                cols = range(max(2 * j - 1, 0), min(2 * j + 2, 6))
                hit = [t for t in nan_idx[c] if t // 6 in rows and t % 6 in cols]
                if hit:  # any of a window's NaNs may be the one it names
                    expected[0, c, i, j] = np.nan
                    expected_idx[0, c, i, j] = idx.numpy()[0, c, i, j] if idx.numpy()[0, c, i, j] in hit else hit[0]
    np.testing.assert_array_equal(y.numpy(), expected)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)
    y.backward(Tensor(np.ones(y.shape), device=device))
    want = np.zeros(2 * 30)  # each window's gradient goes to the tap it names
    np.add.at(want, (np.arange(2)[:, None, None] * 30 + expected_idx[0]).ravel(), 1.0)
    np.testing.assert_array_equal(xt.grad.numpy(), want.reshape(x.shape))
    # one row, read at -1 and 1 by the dilated taps: every window sees padding only
    y, idx = F.max_pool2d(Tensor(rng.standard_normal((1, 2, 1, 3)), device=device), 2, 1, 1, (2, 1), return_indices=True)
    assert np.isneginf(y.numpy()[:, :, 0]).all() and (idx.numpy()[:, :, 0] == -1).all()


@pytest.mark.parametrize("pool", [lambda x: F.max_pool2d(x, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1)], ids=["max", "avg"])
def test_pooling_gradcheck_on_the_device(rng, device, pool):
    """Finite differences in float64 through the op, on the device itself."""
    x = Tensor(rng.permutation(20).reshape(1, 1, 4, 5) + rng.uniform(0, 0.1, (1, 1, 4, 5)), device=device,
               requires_grad=True)  # distinct values: a max moves only under steps far larger than eps
    assert tg.gradcheck(pool, [x])


AVG_CASES = [
    # x shape, kernel, stride, padding, ceil_mode, count_include_pad
    ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0), False, True),
    ((1, 2, 7, 5), (3, 2), (2, 1), (1, 1), True, True),
    ((1, 2, 7, 5), (3, 2), (2, 1), (1, 1), True, False),
    ((2, 1, 5, 6), (3, 3), (3, 2), (1, 0), False, False),
    ((1, 1, 5, 5), (2, 2), (2, 2), (1, 1), True, True),
]


@pytest.mark.parametrize("device,xs,k,s,p,ceil_mode,count_include_pad", on_devices(AVG_CASES, cuda=AVG_CASES[1:4]),
                         indirect=["device"])
def test_avg_pool2d(rng, device, xs, k, s, p, ceil_mode, count_include_pad):
    x = rng.standard_normal(xs)
    y = F.avg_pool2d(Tensor(x.astype(np.float32), device=device), k, s, p, ceil_mode, count_include_pad)
    assert y.device == device
    np.testing.assert_allclose(y.numpy(), avg_pool_reference(x, k, s, p, ceil_mode, count_include_pad), rtol=1e-5, atol=1e-6)
    check_gradients(lambda x: F.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad), [x], device)


def test_avg_pool2d_divisor_override(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    y = F.avg_pool2d(Tensor(x), 2, divisor_override=3)
    np.testing.assert_allclose(y.numpy(), x.reshape(1, 1, 2, 2, 2, 2).sum(axis=(3, 5)) / 3)


# Overlapping windows (7 -> 3 rows, and more outputs than inputs) and a global average: on the
# GPU each input's gradient sums its windows in one pass, as the CPU's scatter does.
ADAPTIVE_CASES = [((2, 3, 7, 5), (3, 2)), ((1, 2, 4, 6), 1), ((1, 1, 5, 5), (None, 3)), ((2, 6, 6), 4),
                  ((1, 2, 4, 3), (6, 5)), ((2, 2, 5, 6), 1)]


@pytest.mark.parametrize("device,xs,size", on_devices(ADAPTIVE_CASES, cuda=[ADAPTIVE_CASES[i] for i in (0, 4, 5)]),
                         indirect=["device"])
def test_adaptive_avg_pool2d(rng, device, xs, size):
    x = rng.standard_normal(xs)
    y = F.adaptive_avg_pool2d(Tensor(x, device=device), size)
    assert y.device == device
    h, w = xs[-2:]
    oh, ow = (size, size) if isinstance(size, int) else (size[0] or h, size[1] or w)
    expected = np.stack(
        [
            np.stack(
                [x[..., i * h // oh : -(-(i + 1) * h // oh), j * w // ow : -(-(j + 1) * w // ow)].mean(axis=(-2, -1)) for j in range(ow)],
                -1,
            )
            for i in range(oh)
        ],
        -2,
    )
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12)
    check_gradients(lambda x: F.adaptive_avg_pool2d(x, size), [x], device)


def test_unbatched_pooling(rng):
    x = rng.standard_normal((2, 4, 4))
    np.testing.assert_allclose(F.max_pool2d(Tensor(x), 2).numpy(), max_pool_reference(x[None], (2, 2), (2, 2), (0, 0), (1, 1), False)[0][0])
    y, idx = F.max_pool2d(Tensor(x), 2, return_indices=True)
    assert y.shape == idx.shape == (2, 2, 2)


def test_pool_errors():
    x = tg.zeros(1, 2, 5, 5)
    with pytest.raises(RuntimeError, match=r"max_pool2d: padding \(2, 2\) should be at most half of the kernel size \(3, 3\)"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match=r"max_pool2d: input of shape \(1, 2, 5, 5\) is too small for kernel \(6, 6\)"):
        F.max_pool2d(x, 6)
    with pytest.raises(RuntimeError, match=r"avg_pool2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got shape \(5, 5\)"):
        F.avg_pool2d(tg.zeros(5, 5), 2)
    with pytest.raises(TypeError, match="max_pool2d: expected a floating input, got int64"):
        F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size 0 must be positive"):
        F.adaptive_avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="max_pool2d: kernel_size must be an int or a pair of ints"):
        F.max_pool2d(x, (2, 2, 2))


def test_pool_modules(rng):
    x = Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)(x).shape == (2, 3, 5, 5)
    assert nn.AvgPool2d(2, stride=1)(x).shape == (2, 3, 7, 7)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    assert idx.shape == y.shape
    assert "kernel_size=2" in repr(nn.MaxPool2d(2)) and list(nn.AvgPool2d(2).parameters()) == []


@pytest.mark.parametrize("kernel,stride", [((2, 2), (2, 2)), ((3, 2), (1, 2)), ((2, 3), (3, 1))])
def test_max_pool_fast_path_agrees_with_the_general_kernel(rng, kernel, stride):
    """Windows inside the image take a branch-free kernel (2x2 windows at stride 2 one of
    their own); ties (first maximum wins) and NaNs (the last NaN wins) must come out as in
    the general one."""
    from tinygrad_nb.kernels.cpu import pool as kernels

    x = rng.integers(-2, 3, (2, 3, 7, 8)).astype(np.float32)  # small integers: many ties
    x[rng.random(x.shape) < 0.05] = np.nan
    out_hw = tuple((s - k) // st + 1 for s, k, st in zip(x.shape[2:], kernel, stride))
    shape = x.shape[:2] + out_hw
    general = kernels._max_pool(x, *kernel, *stride, 0, 0, 1, 1, np.empty(shape, np.float32), np.empty(shape, np.int64))
    fast = [kernels._max_pool_inside(x, *kernel, *stride, np.empty(shape, np.float32), np.empty(shape, np.int64)),
            kernels.max_pool2d(x, kernel, stride, (0, 0), (1, 1), out_hw)]
    if kernel == stride == (2, 2):
        fast.append(kernels._max_pool_2x2(x, np.empty(shape, np.float32), np.empty(shape, np.int64)))
    assert np.isnan(general[0]).any()
    for y, argmax in fast:
        np.testing.assert_array_equal(y, general[0])
        np.testing.assert_array_equal(argmax, general[1])


STRIDED_VIEWS = {
    "transposed": lambda x: x.transpose(2, 3),
    "sliced": lambda x: x[:, 1:, ::2, 1:],
    "channels last": lambda x: (x.permute(0, 2, 3, 1) * 1).permute(0, 3, 1, 2),
}
POOLS = {
    "max": lambda x: F.max_pool2d(x, 3, 2, 1, 2, True),
    "avg": lambda x: F.avg_pool2d(x, 3, 2, 1, True, False),
    "adaptive": lambda x: F.adaptive_avg_pool2d(x, (4, 3)),
}


@pytest.mark.parametrize("view", STRIDED_VIEWS)
@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pooling_reads_strided_inputs_and_gradients(rng, device, view, pool, dtype):
    """x, and the gradient that reaches the pooled output through a transpose, are views of
    other strides, read in place: float64 gradients are right, float32 within its rounding."""
    x = rng.standard_normal((2, 3, 9, 7))
    fn = lambda x: POOLS[pool](STRIDED_VIEWS[view](x)).transpose(2, 3)  # noqa: E731
    if dtype == np.float64:
        check_gradients(fn, [x], device)
    else:
        (out32,), (grad32,) = _run(fn, [x.astype(np.float32)], device)
        (out64,), (grad64,) = _run(fn, [x], device)
        for t32, t64_ in ((out32, out64), (grad32, grad64)):
            assert t32.dtype == np.float32 and t32.device == device
            np.testing.assert_allclose(t32.numpy(), t64_.numpy(), rtol=1e-5, atol=1e-6)
