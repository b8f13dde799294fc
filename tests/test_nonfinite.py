"""inf and NaN come out as PyTorch's do: IEEE arithmetic on the direct formulas, on every
convolution path and through softmax, log-softmax and cross-entropy, on both devices."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor
from tinygrad_nb.kernels.cpu import conv

INF, NAN = np.inf, np.nan


def _taps(x, w, pad, groups):
    """The convolution as a sum of one product per tap, in float64 (a direct sum: the
    arithmetic PyTorch's kernels do on inf and NaN)."""
    n, c, h, wd = x.shape
    k, cg = w.shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - 2, wd + 2 * pad - 2
    out = np.zeros((n, k, oh, ow))
    with np.errstate(invalid="ignore"):
        for f in range(k):
            g = f // (k // groups)
            for ci in range(cg):
                for i in range(3):
                    for j in range(3):
                        out[:, f] += w[f, ci, i, j] * xp[:, g * cg + ci, i:i + oh, j:j + ow]
    return out


def _same(got, want):
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(got), test(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-4)


# (input channels, filters, groups): Winograd, shifted products (forward; input and weight
# gradients from 32 channels), im2col, depthwise
PATHS = {"winograd": (8, 8, 1), "shifted": (32, 3, 1), "im2col": (2, 3, 1), "depthwise": (4, 4, 4)}


def _weight_taps(x, gy, pad, groups):
    """dW[f, ci, i, j] = sum over n, p, q of gy[n, f, p, q] * xpad[n, g(f) * cg + ci, p + i, q + j]."""
    k, cg = gy.shape[1], x.shape[1] // groups
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = gy.shape[2:]
    dw = np.zeros((k, cg, 3, 3))
    with np.errstate(invalid="ignore"):
        for f in range(k):
            g = f // (k // groups)
            for i in range(3):
                for j in range(3):
                    dw[f, :, i, j] = np.einsum("nhw,nchw->c", gy[:, f], xp[:, g * cg:(g + 1) * cg, i:i + oh, j:j + ow])
    return dw


def _input_taps(gy, w, pad, groups):
    """dX: the convolution of gy, padded by 2 - pad, with the filters turned round and their
    channel roles swapped within each group."""
    k, cg = w.shape[:2]
    kg = k // groups
    turned = np.concatenate([w[g * kg:(g + 1) * kg, :, ::-1, ::-1].transpose(1, 0, 2, 3) for g in range(groups)])
    return _taps(gy, turned, 2 - pad, groups)


@pytest.mark.parametrize("path", PATHS)
def test_convolution_of_inf_and_nan_on_every_path(rng, path):
    c, k, groups = PATHS[path]
    x, w = rng.standard_normal((2, c, 6, 7)), rng.standard_normal((k, c // groups, 3, 3))
    x[0, 0, 2, 3], x[1, c - 1, 4, 1], x[1, 0, 0, 0] = INF, -INF, NAN
    y = conv.conv2d(x.astype(np.float32), w.astype(np.float32), None, (1, 1), (1, 1), (1, 1), groups, (6, 7))
    _same(y, _taps(x, w, 1, groups))
    gy = rng.standard_normal((2, k, 6, 7))
    dw = conv.conv2d_backward_weight(x.astype(np.float32), gy.astype(np.float32), (3, 3), (1, 1), (1, 1), (1, 1), groups)
    _same(dw, _weight_taps(x, gy, 1, groups))
    gy[0, 0, 3, 3], gy[1, k - 1, 0, 5] = INF, NAN
    dx = conv.conv2d_backward_input(gy.astype(np.float32), w.astype(np.float32), (6, 7), (1, 1), (1, 1), (1, 1), groups)
    _same(dx, _input_taps(gy, w, 1, groups))


def test_depthwise_3x3_makes_the_direct_sums_without_a_check(rng, monkeypatch):
    """3x3 depthwise filters at stride 1 run their kernels with no finiteness check (one
    would fail here): with inf and NaN in the filters, the input and the output gradient,
    every result has the direct sums' inf and NaN."""
    def no_check(*operands):
        raise AssertionError("a finiteness check ran")

    monkeypatch.setattr(conv, "_finite", no_check)
    x, w = rng.standard_normal((2, 4, 6, 7)), rng.standard_normal((4, 1, 3, 3))
    w[1, 0, 0, 2], w[2, 0, 1, 1], x[0, 3, 5, 6] = INF, NAN, -INF
    y = conv.conv2d(x.astype(np.float32), w.astype(np.float32), None, (1, 1), (1, 1), (1, 1), 4, (6, 7))
    _same(y, _taps(x, w, 1, 4))
    gy = rng.standard_normal((2, 4, 6, 7))
    gy[1, 3, 0, 0] = INF
    dx = conv.conv2d_backward_input(gy.astype(np.float32), w.astype(np.float32), (6, 7), (1, 1), (1, 1), (1, 1), 4)
    _same(dx, _input_taps(gy, w, 1, 4))
    dw = conv.conv2d_backward_weight(x.astype(np.float32), gy.astype(np.float32), (3, 3), (1, 1), (1, 1), (1, 1), 4)
    _same(dw, _weight_taps(x, gy, 1, 4))


ROWS = {  # a row of scores: PyTorch's softmax, log_softmax, and cross-entropy for label 1
    "+inf": ([INF, 0, 0], [NAN] * 3, [NAN] * 3, NAN),
    "-inf": ([-INF, 0, 0], [0, 0.5, 0.5], [-INF, -np.log(2), -np.log(2)], np.log(2)),
    "nan": ([NAN, 0, 0], [NAN] * 3, [NAN] * 3, NAN),
    "all -inf": ([-INF] * 3, [NAN] * 3, [NAN] * 3, NAN),
}


# The simulated GPU's kernels run on NumPy scalars, which warn where a GPU returns the IEEE value silently.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_softmax_and_cross_entropy_of_inf_and_nan(row, device):
    scores, softmax, log_softmax, loss = ROWS[row]
    x = Tensor(np.array([scores], np.float32), device=device)
    np.testing.assert_allclose(x.softmax(1).numpy()[0], softmax, rtol=1e-6)
    np.testing.assert_allclose(x.log_softmax(1).numpy()[0], log_softmax, rtol=1e-6)
    np.testing.assert_allclose(F.cross_entropy(x, Tensor(np.array([1]), device=device)).item(), loss, rtol=1e-6)


def test_no_numpy_warnings_on_the_cpu():
    import warnings

    x = Tensor(np.array([[INF, 0, 0], [-INF, -INF, -INF]], np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.softmax(1).sum().backward()
        F.cross_entropy(x, Tensor(np.array([1, 2]))).backward()
        tg.no_grad()(lambda: x.log_softmax(1))()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_gpu_convolution_of_inf_and_nan(rng):
    """The GPU's convolution (implicit-GEMM products) sums tap by tap, as PyTorch's."""
    if not tg.cuda.is_available():
        pytest.skip("no CUDA GPU and the simulator is off")
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    x[0, 0, 2, 3], x[0, 1, 4, 1], x[0, 0, 0, 0] = INF, -INF, NAN
    xt, wt = Tensor(x.astype(np.float32), device="cuda", requires_grad=True), Tensor(w.astype(np.float32), device="cuda")
    y = F.conv2d(xt, wt, padding=1)
    _same(y.numpy(), _taps(x, w, 1, 1))
    gy = rng.standard_normal((1, 3, 5, 5))
    gy[0, 1, 2, 2] = INF
    y.backward(Tensor(gy.astype(np.float32), device="cuda"))
    _same(xt.grad.numpy(), _input_taps(gy, w, 1, 1))
