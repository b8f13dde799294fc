"""The 1-D pooling layers, adaptive max pooling, the transposed 1-D convolution and
ConvTranspose2d(x, output_size=...): forward against direct NumPy loops, float64 gradient
checks, the indices return_indices gives, and the errors."""
import numpy as np
import pytest

import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn
from tinygrad_nb.gradcheck import gradcheck

R = np.random.default_rng(0)


def windows_1d(n, k, s, p, ceil):
    span = n + 2 * p - k
    out = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return [(o * s - p, o * s - p + k) for o in range(out)]


def max_pool1d_ref(x, k, s, p):
    out, idx = [], []
    for a, b in windows_1d(x.shape[-1], k, s, p, False):
        lo, hi = max(a, 0), min(b, x.shape[-1])
        seg = x[..., lo:hi]
        idx.append(lo + seg.argmax(-1))
        out.append(seg.max(-1))
    return np.stack(out, -1), np.stack(idx, -1)


def avg_pool1d_ref(x, k, s, p, ceil, include_pad):
    out = []
    for a, b in windows_1d(x.shape[-1], k, s, p, ceil):
        lo, hi = max(a, 0), min(b, x.shape[-1])
        count = (min(b, x.shape[-1] + p) - a) if include_pad else hi - lo
        out.append(x[..., lo:hi].sum(-1) / count)
    return np.stack(out, -1)


def adaptive_bounds(i, n_out, n_in):
    return (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)


def adaptive_max2d_ref(x, oh, ow):
    h, w = x.shape[-2:]
    out, idx = np.zeros(x.shape[:-2] + (oh, ow)), np.zeros(x.shape[:-2] + (oh, ow), np.int64)
    for i in range(oh):
        for j in range(ow):
            (r0, r1), (c0, c1) = adaptive_bounds(i, oh, h), adaptive_bounds(j, ow, w)
            block = x[..., r0:r1, c0:c1].reshape(x.shape[:-2] + (-1,))
            k = block.argmax(-1)
            out[..., i, j] = block.max(-1)
            idx[..., i, j] = (r0 + k // (c1 - c0)) * w + c0 + k % (c1 - c0)
    return out, idx


def conv_transpose1d_ref(x, w, b, s, p, op):
    n, c_in, length = x.shape
    _, c_out, k = w.shape
    full = np.zeros((n, c_out, (length - 1) * s + k + op))
    for i in range(length):
        full[:, :, i * s:i * s + k] += np.einsum("nc,cok->nok", x[:, :, i], w)
    return full[:, :, p:full.shape[2] - p] + b[None, :, None]


def test_max_pool1d_values_indices_and_gradient():
    x = R.standard_normal((2, 3, 11))
    y, idx = F.max_pool1d(Tensor(x), 3, stride=2, padding=1, return_indices=True)
    ref, ref_idx = max_pool1d_ref(x, 3, 2, 1)
    np.testing.assert_array_equal(y.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    np.testing.assert_array_equal(nn.MaxPool1d(2)(Tensor(x[0])).numpy(), max_pool1d_ref(x[0], 2, 2, 0)[0])
    assert gradcheck(lambda t: F.max_pool1d(t, 3, 2, 1), [Tensor(x, requires_grad=True)])


@pytest.mark.parametrize("ceil, include_pad", [(False, True), (True, False), (True, True)])
def test_avg_pool1d(ceil, include_pad):
    x = R.standard_normal((2, 2, 10))
    got = nn.AvgPool1d(3, 2, 1, ceil_mode=ceil, count_include_pad=include_pad)(Tensor(x))
    np.testing.assert_allclose(got.numpy(), avg_pool1d_ref(x, 3, 2, 1, ceil, include_pad), rtol=1e-12)
    assert gradcheck(lambda t: F.avg_pool1d(t, 3, 2, 1, ceil, include_pad), [Tensor(x, requires_grad=True)])


def test_adaptive_pools():
    x = R.standard_normal((2, 3, 7, 9))
    y, idx = nn.AdaptiveMaxPool2d((3, 4), return_indices=True)(Tensor(x))
    ref, ref_idx = adaptive_max2d_ref(x, 3, 4)
    np.testing.assert_array_equal(y.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    np.testing.assert_array_equal(F.adaptive_max_pool2d(Tensor(x[0]), (None, 2)).numpy(), adaptive_max2d_ref(x[0], 7, 2)[0])
    line = x[:, :, 0]
    np.testing.assert_array_equal(nn.AdaptiveMaxPool1d(4)(Tensor(line)).numpy(),
                                  adaptive_max2d_ref(line[:, :, None, :], 1, 4)[0][:, :, 0])
    avg = np.stack([line[:, :, slice(*adaptive_bounds(i, 4, 9))].mean(-1) for i in range(4)], -1)
    np.testing.assert_allclose(nn.AdaptiveAvgPool1d(4)(Tensor(line)).numpy(), avg, rtol=1e-12)
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 4)), [Tensor(x[:1, :1], requires_grad=True)])
    assert gradcheck(lambda t: F.adaptive_avg_pool1d(t, 4), [Tensor(line[:1], requires_grad=True)])


def test_adaptive_max_pool_gives_a_tie_to_the_first_maximum():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.adaptive_max_pool2d(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().reshape(-1), [1.0, 0.0, 0.0, 0.0])


def test_conv_transpose1d_and_its_module():
    x, w, b = R.standard_normal((2, 3, 5)), R.standard_normal((3, 4, 3)), R.standard_normal(4)
    got = F.conv_transpose1d(Tensor(x), Tensor(w), Tensor(b), stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(got.numpy(), conv_transpose1d_ref(x, w, b, 2, 1, 1), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda a, c: F.conv_transpose1d(a, c, stride=2), [Tensor(x[:1], requires_grad=True),
                                                                          Tensor(w, requires_grad=True)])
    layer = nn.ConvTranspose1d(3, 4, 3, stride=2)
    assert layer(Tensor(x.astype(np.float32))).shape == (2, 4, 11) and layer.weight.shape == (3, 4, 3)


def test_conv_transpose_output_size_picks_the_output_padding():
    layer = nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1)
    x = Tensor(R.standard_normal((1, 2, 4, 5)).astype(np.float32))
    assert layer(x).shape == (1, 1, 7, 9)
    bigger = layer(x, output_size=(1, 1, 8, 10))
    assert bigger.shape == (1, 1, 8, 10)
    np.testing.assert_array_equal(bigger.numpy(), F.conv_transpose2d(x, layer.weight, layer.bias, 2, 1, (1, 1)).numpy())
    with pytest.raises(ValueError, match=r"requested an output size of \(9, 9\), but valid sizes range from 7 to 8"):
        layer(x, output_size=(9, 9))
    assert nn.ConvTranspose1d(1, 1, 2, stride=3)(Tensor(np.ones((1, 1, 4), np.float32)), output_size=[12]).shape == (1, 1, 12)


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.max_pool1d(Tensor(np.ones((1, 2, 3, 4))), 2), RuntimeError, "expected a 2-D .* or 3-D"),
    (lambda: F.max_pool1d(Tensor(np.ones((1, 4))), (2, 2)), ValueError, "kernel_size must be an int"),
    (lambda: F.adaptive_max_pool2d(Tensor(np.ones((1, 4, 4))), (2, 0)), ValueError, "must be positive"),
    (lambda: F.adaptive_avg_pool1d(Tensor(np.ones((1, 4))), (2, 2)), ValueError, "output_size must be an int or 1"),
    (lambda: F.conv_transpose1d(Tensor(np.ones((1, 2, 4))), Tensor(np.ones((2, 1, 3))), stride=(1, 2)), ValueError,
     "stride must be an int"),
])
def test_errors_name_the_op(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.skipif(not __import__("tinygrad_nb").cuda.is_available(), reason="no CUDA GPU and the simulator is off")
@pytest.mark.parametrize("name, fn", [
    ("adaptive_max_pool2d", lambda t: F.adaptive_max_pool2d(t, (2, 4))),
    ("max_pool1d", lambda t: F.max_pool1d(t[0], 2, return_indices=True)[0]),
    ("avg_pool1d", lambda t: F.avg_pool1d(t[0], 3, 1, 1)),
    ("adaptive_avg_pool1d", lambda t: F.adaptive_avg_pool1d(t[0], 4)),
    ("conv_transpose1d", lambda t: F.conv_transpose1d(t[0], Tensor(np.ones((5, 3, 2)), device=t.device), stride=2)),
])
def test_cuda_matches_the_cpu(name, fn):
    x = R.standard_normal((1, 2, 5, 6))
    results = []
    for device in ("cpu", "cuda"):
        t = Tensor(x, requires_grad=True, device=device)
        y = fn(t)
        (y * y).sum().backward()
        results.append((y.numpy(), t.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
