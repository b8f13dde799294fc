"""Convolutions against plain-loop NumPy references, float64 gradient checks (on the GPU
against the CPU's gradients, see conftest.check_gradients), errors, modules."""
import math

import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn

from conftest import check_gradients, on_devices, t64


def conv2d_reference(x, w, b, stride, padding, dilation, groups):
    """y[n,k,oh,ow] = b[k] + sum_{c,i,j} w[k,c,i,j] x_padded[n, group(k) + c, oh*s + i*d, ow*s + j*d]"""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, k, oh, ow))
    kg = k // groups
    for f in range(k):
        xs = xp[:, (f // kg) * cg : (f // kg + 1) * cg]
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
                y[:, f, i, j] = (patch * w[f]).sum(axis=(1, 2, 3))
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def conv_transpose2d_reference(x, w, b, stride, padding, output_padding, groups, dilation):
    """Every input pixel adds w[c, :, :, :] * x[n, c, h, w] into a patch of the output at
    (h*s - p, w*s - p): scatter into a padded canvas, then crop the padding."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    _, kg, kh, kw = w.shape
    out_h = (h - 1) * sh - 2 * ph + dh * (kh - 1) + output_padding[0] + 1
    out_w = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + output_padding[1] + 1
    canvas = np.zeros((n, kg * groups, out_h + 2 * ph + sh, out_w + 2 * pw + sw))
    cg = c // groups
    for ci in range(c):
        g = ci // cg
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for e in range(kw):
                        canvas[:, g * kg : (g + 1) * kg, i * sh + a * dh, j * sw + e * dw] += x[:, ci, i, j, None] * w[ci, :, a, e]
    y = canvas[:, :, ph : ph + out_h, pw : pw + out_w]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def random_conv_cases(count, seed):
    """Random geometries: strides, paddings, dilations, groups, odd sizes, batch 1, 1x1 kernels."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        groups = int(rng.choice([1, 1, 2, 3]))
        cg, kg = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        kh, kw = int(rng.choice([1, 2, 3])), int(rng.choice([1, 3]))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 2)))
        n, h, w = int(rng.choice([1, 2])), int(rng.integers(3, 8)), int(rng.integers(3, 8))
        if (h + 2 * padding[0] - dilation[0] * (kh - 1)) < 1 or (w + 2 * padding[1] - dilation[1] * (kw - 1)) < 1:
            continue
        cases.append(((n, cg * groups, h, w), (kg * groups, cg, kh, kw), stride, padding, dilation, groups))
    return cases


CONV_CASES = random_conv_cases(10, seed=1) + [
    ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # the common 3x3, pad 1
    ((1, 4, 6, 5), (4, 1, 3, 3), (2, 1), (1, 1), (1, 1), 4),  # depthwise
    ((2, 2, 5, 4), (6, 1, 3, 2), (1, 2), (2, 0), (2, 1), 2),  # depthwise with multiplier 3
    ((2, 3, 4, 4), (5, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1
    ((5, 3, 7, 6), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),  # depthwise at stride 1 (flat passes), batch > threads
    ((2, 2, 6, 7), (4, 1, 3, 2), (1, 1), (2, 1), (2, 2), 2),  # ... with dilation, padding past the kernel, multiplier 2
    ((2, 2, 7, 6), (4, 1, 3, 3), (1, 1), (2, 1), (2, 1), 2),  # depthwise 3x3 at stride 1 (fused taps), dilated, multiplier 2
]


# On the GPU (each simulated case costs about a second): groups, strides, dilation and padding
# at random; depthwise with a multiplier; 1x1.
CONV_CASES_GPU = [CONV_CASES[i] for i in (3, 5, 8)] + CONV_CASES[-4:-1]


@pytest.mark.parametrize("device,xs,ws,stride,padding,dilation,groups", on_devices(CONV_CASES, cuda=CONV_CASES_GPU),
                         indirect=["device"])
def test_conv2d_forward_and_gradients(rng, device, xs, ws, stride, padding, dilation, groups):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    expected = conv2d_reference(x, w, b, stride, padding, dilation, groups)
    out = F.conv2d(Tensor(x.astype(np.float32), device=device), Tensor(w.astype(np.float32), device=device),
                   Tensor(b.astype(np.float32), device=device), stride, padding, dilation, groups)
    assert out.dtype == np.float32 and out.device == device
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)
    fn = lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    check_gradients(fn, [x, w, b], device)


STRIDE_ONE_CASES = [c for c in random_conv_cases(40, seed=3) if c[2] == (1, 1)][:5] + [
    ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # the common 3x3, pad 1
    ((1, 4, 4, 6), (6, 2, 2, 3), (1, 1), (3, 2), (2, 1), 2),  # padding past the kernel, even kernel, groups
    ((2, 3, 4, 4), (5, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1
]


@pytest.mark.parametrize("xs,ws,stride,padding,dilation,groups", STRIDE_ONE_CASES)
def test_conv2d_by_shifted_products(rng, monkeypatch, xs, ws, stride, padding, dilation, groups):
    """Stride 1 with channels to spare runs one product per tap out of the padded input;
    with the channel thresholds lowered, the small geometries go that way too."""
    from tinygrad_nb.kernels.cpu import conv as kernels

    monkeypatch.setattr(kernels, "_SHIFTED_FROM", dict.fromkeys(kernels._SHIFTED_FROM, 1))
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out = F.conv2d(Tensor(x.astype(np.float32)), Tensor(w.astype(np.float32)), Tensor(b.astype(np.float32)),
                   stride, padding, dilation, groups)
    np.testing.assert_allclose(out.numpy(), conv2d_reference(x, w, b, stride, padding, dilation, groups), rtol=1e-4, atol=1e-4)
    fn = lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    assert tg.gradcheck(fn, [t64(x), t64(w), t64(b)])


WINOGRAD_CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1)),  # odd output: the last tile row and column half outside
    ((1, 2, 6, 8), (3, 2, 3, 3), (1, 1)),  # even output, batch 1
    ((3, 2, 7, 4), (2, 2, 3, 3), (0, 0)),  # no padding
    ((2, 1, 3, 5), (5, 1, 3, 3), (2, 1)),  # padding past the kernel: outputs larger than the input
    ((5, 2, 4, 4), (3, 2, 3, 3), (0, 2)),  # more samples than threads
    ((2, 2, 4, 5), (3, 2, 3, 3), (3, 1)),  # padding 3: the input gradient's convolution crops dy
]


@pytest.mark.parametrize("xs,ws,padding", WINOGRAD_CASES)
def test_conv2d_by_winograd(rng, monkeypatch, xs, ws, padding):
    """3x3 at stride 1 with channels to spare runs by Winograd's F(2x2, 3x3); with the channel
    threshold lowered, the small geometries go that way too."""
    from tinygrad_nb.kernels.cpu import conv as kernels

    monkeypatch.setattr(kernels, "_WINOGRAD_FROM", 1)
    ran = []
    monkeypatch.setattr(kernels.winograd, "_forward", _spy(kernels.winograd._forward, ran))
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    expected = conv2d_reference(x, w, b, (1, 1), padding, (1, 1), 1)
    out = F.conv2d(Tensor(x.astype(np.float32)), Tensor(w.astype(np.float32)), Tensor(b.astype(np.float32)), padding=padding)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert ran
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding), [t64(x), t64(w), t64(b)])


@pytest.mark.parametrize("vector_bytes", [32, 64])
def test_winograd_products_in_register_tiles(rng, monkeypatch, vector_bytes):
    """With AVX-512 (64-byte vectors) the forward products run in small_gemm's 8-row tiles:
    12 filters are a tile and four rows for BLAS; a 12x12 output's 36 Winograd tiles are
    rounded up to 48 columns in float32 (a 64-byte register tile's width and a 32-byte
    one's) and 40 in float64, the padding zeros. Either width gives the same numbers."""
    from tinygrad_nb.kernels.cpu import conv as kernels
    from tinygrad_nb.kernels.cpu import small_gemm

    monkeypatch.setattr(kernels, "_WINOGRAD_FROM", 1)
    monkeypatch.setattr(small_gemm, "VECTOR_BYTES", vector_bytes)
    x, w, b = rng.standard_normal((2, 3, 12, 12)), rng.standard_normal((12, 3, 3, 3)), rng.standard_normal(12)
    expected = conv2d_reference(x, w, b, (1, 1), (1, 1), (1, 1), 1)
    for dtype, tol in ((np.float32, 1e-4), (np.float64, 1e-10)):
        out = F.conv2d(Tensor(x.astype(dtype)), Tensor(w.astype(dtype)), Tensor(b.astype(dtype)), padding=1)
        np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), [t64(x[:1, :, :6, :6]), t64(w), t64(b)])


@pytest.mark.parametrize("vector_bytes", [32, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_weight_gradient_in_register_tiles(rng, monkeypatch, vector_bytes, dtype):
    """With AVX-512, 8 channels in and a tile width of filters out (32 float32, 16 float64),
    the weight gradient's products run in register tiles on transposed layouts; against
    dW[k, c, i, j] = sum over n, h, w of dY[n, k, h, w] * Xpad[n, c, h + i, w + j]."""
    from tinygrad_nb.kernels.cpu import conv as kernels
    from tinygrad_nb.kernels.cpu import small_gemm

    monkeypatch.setattr(small_gemm, "VECTOR_BYTES", vector_bytes)
    k = 2 * 64 // np.dtype(dtype).itemsize
    x, w, gy = rng.standard_normal((3, 8, 9, 10)), rng.standard_normal((k, 8, 3, 3)), rng.standard_normal((3, k, 9, 10))
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.stack([np.einsum("nkhw,nchw->kc", gy, xpad[:, :, i:i + 9, j:j + 10]) for i in range(3) for j in range(3)],
                        axis=-1).reshape(k, 8, 3, 3)
    dw = kernels.conv2d_backward_weight(x.astype(dtype), gy.astype(dtype), (3, 3), (1, 1), (1, 1), (1, 1), 1)
    tol = 1e-3 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(dw, expected, rtol=tol, atol=tol)


def _spy(function, calls):
    def spy(*args):
        calls.append(function.__name__)
        return function(*args)

    return spy


def test_winograd_runs_from_8_channels_and_only_for_3x3_at_stride_1(rng, monkeypatch):
    from tinygrad_nb.kernels.cpu import conv as kernels

    ran = []
    for name in ("_forward", "_backward_weight"):  # the input gradient runs through _forward too
        monkeypatch.setattr(kernels.winograd, name, _spy(getattr(kernels.winograd, name), ran))
    for channels, filters, kernel, stride, dilation, used in [
        (8, 8, 3, 1, 1, True), (7, 8, 3, 1, 1, False), (8, 7, 3, 1, 1, False),
        (8, 8, 3, 2, 1, False), (8, 8, 3, 1, 2, False), (8, 8, 5, 1, 1, False),
    ]:
        ran.clear()
        x, w = rng.standard_normal((2, channels, 6, 6)), rng.standard_normal((filters, channels, kernel, kernel))
        xt, wt = t64(x), t64(w)
        y = F.conv2d(xt, wt, padding=1, stride=stride, dilation=dilation)
        y.sum().backward()
        assert sorted(ran) == (["_backward_weight", "_forward", "_forward"] if used else [])
        expected = conv2d_reference(x, w, None, (stride,) * 2, (1, 1), (dilation,) * 2, 1)
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("channels", [2, 8, 40])
def test_conv2d_backward_is_the_adjoint_of_forward_at_every_channel_count(rng, channels):
    """Which of im2col and shifted products runs depends on the channel count; whichever it
    is, dx and dw are the adjoints of the reference convolution: for every dy,
    <conv(x, w), dy> = <x, dx(dy)> = <w, dw(x, dy)>, checked for random x, w, dy."""
    x, w = rng.standard_normal((3, channels, 6, 5)), rng.standard_normal((7, channels, 3, 3))
    dy = rng.standard_normal((3, 7, 6, 5))
    xt, wt = t64(x), t64(w)
    y = F.conv2d(xt, wt, padding=1)
    y.backward(Tensor(dy))
    reference = conv2d_reference(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(y.numpy(), reference, rtol=1e-10, atol=1e-10)
    inner = (reference * dy).sum()
    np.testing.assert_allclose((x * xt.grad.numpy()).sum(), inner, rtol=1e-10)
    np.testing.assert_allclose((w * wt.grad.numpy()).sum(), inner, rtol=1e-10)
    x2 = rng.standard_normal(x.shape)  # a second direction, so an error orthogonal to x would show
    np.testing.assert_allclose((x2 * xt.grad.numpy()).sum(),
                               (conv2d_reference(x2, w, None, (1, 1), (1, 1), (1, 1), 1) * dy).sum(), rtol=1e-10)


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 3, 7), (1, 2, 1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_sums_against_numpy(rng, device, shape, dtype):
    """The bias gradient's reduction, over every axis but the channels, of 3-D and 4-D gradients."""
    from tinygrad_nb.device import get_device

    where = get_device(device)
    g = rng.standard_normal(shape).astype(dtype)
    got = where.to_numpy(where.backend.channel_sums(Tensor(g, device=device).array))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, g.astype(np.float64).sum(axis=(0,) + tuple(range(2, g.ndim))),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_conv2d_without_bias_and_partial_gradients(rng):
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(F.conv2d(Tensor(x), Tensor(w), padding=1).numpy(),
                               conv2d_reference(x, w, None, (1, 1), (1, 1), (1, 1), 1), atol=1e-12)
    assert tg.gradcheck(lambda x, w: F.conv2d(x, w), [t64(x), t64(w, requires_grad=False)])
    assert tg.gradcheck(lambda x, w: F.conv2d(x, w, stride=2), [t64(x, requires_grad=False), t64(w)])


def test_depthwise_3x3_input_gradient_past_the_padded_block(rng):
    """The kernel's input gradient for an output smaller than the input implies: input rows
    and columns no output reads get 0, the rest the adjoint of the reference convolution,
    <conv(x), dy> = <x, dx(dy)> for random x (with multiplier 2 the two filters of a
    channel add up)."""
    from tinygrad_nb.kernels.cpu import depthwise

    x, w, dy = rng.standard_normal((2, 3, 7, 9)), rng.standard_normal((6, 1, 3, 3)), rng.standard_normal((2, 6, 4, 5))
    dx = np.empty_like(x)
    depthwise.conv2d_backward_input(dy, w, (1, 1), (1, 1), (1, 1), dx)
    assert not dx[:, :, 5:].any() and not dx[:, :, :, 6:].any()  # read by no output: the block is 6 x 7
    y = conv2d_reference(x, w, None, (1, 1), (1, 1), (1, 1), 3)[:, :, :4, :5]
    np.testing.assert_allclose((x * dx).sum(), (y * dy).sum(), rtol=1e-10)


def test_depthwise_3x3_without_bias(rng):
    """The fused 3x3 depthwise passes without a bias (zeros of x's dtype stand in), float32
    and float64. Rows of 19 outputs: the weight gradient's vector sums take 16 float32 or 8
    float64 columns at a time (one or two vectors) and the rest one by one."""
    x, w = rng.standard_normal((3, 4, 9, 19)), rng.standard_normal((4, 1, 3, 3))
    g = rng.standard_normal((3, 4, 9, 19))
    expected = conv2d_reference(x, w, None, (1, 1), (1, 1), (1, 1), 4)
    grads = {}
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        xt, wt = Tensor(x.astype(dtype), requires_grad=True), Tensor(w.astype(dtype), requires_grad=True)
        out = F.conv2d(xt, wt, padding=1, groups=4)
        assert out.dtype == dtype
        np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)
        out.backward(Tensor(g.astype(dtype)))
        grads[dtype] = xt.grad.numpy(), wt.grad.numpy()
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)
    assert tg.gradcheck(lambda x, w: F.conv2d(x, w, padding=1, groups=4), [t64(x[:1, :, :3]), t64(w)])


def test_conv2d_float32_without_bias(rng, device):
    """float32 in, float32 out and gradients, within float32's rounding of float64's."""
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    out = F.conv2d(Tensor(x.astype(np.float32), device=device), Tensor(w.astype(np.float32), device=device), padding=1)
    assert out.dtype == np.float32 and out.device == device
    np.testing.assert_allclose(out.numpy(), conv2d_reference(x, w, None, (1, 1), (1, 1), (1, 1), 1), rtol=1e-5, atol=1e-5)
    grads = {}
    for dtype in (np.float32, np.float64):
        xt = Tensor(x.astype(dtype), device=device, requires_grad=True)
        wt = Tensor(w.astype(dtype), device=device, requires_grad=True)
        F.conv2d(xt, wt, padding=1).backward(Tensor(np.ones((2, 4, 5, 5), dtype), device=device))
        grads[dtype] = xt.grad, wt.grad
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32.numpy(), g64.numpy(), rtol=1e-5, atol=1e-5)
    check_gradients(lambda x, w: F.conv2d(x, w, padding=1), [x, w], device)


def test_conv2d_batch_larger_than_threads_sums_weight_gradient_over_all_samples(rng):
    """The weight gradient is summed per thread and then across threads: every sample counts."""
    x, w = rng.standard_normal((7, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal((7, 4, 6, 6))
    xt, wt = t64(x), t64(w)
    F.conv2d(xt, wt, padding=1).backward(Tensor(g))
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.stack(
        [np.stack([np.einsum("nkhw,nchw->kc", g, xp[:, :, i : i + 6, j : j + 6]) for j in range(3)], -1) for i in range(3)], -2
    )
    np.testing.assert_allclose(wt.grad.numpy(), expected, rtol=1e-10)


def test_conv2d_same_padding_and_unbatched_input(rng):
    x, w = rng.standard_normal((3, 6, 7)), rng.standard_normal((2, 3, 4, 3))
    out = F.conv2d(Tensor(x), Tensor(w), padding="same", dilation=(1, 2))
    assert out.shape == (2, 6, 7)
    # PyTorch pads the extra row of an even kernel at the bottom
    padded = np.pad(x[None], ((0, 0), (0, 0), (1, 2), (2, 2)))
    np.testing.assert_allclose(out.numpy(), conv2d_reference(padded, w, None, (1, 1), (0, 0), (1, 2), 1)[0], atol=1e-12)
    assert F.conv2d(Tensor(x), Tensor(w), padding="valid").shape == (2, 3, 5)


@pytest.mark.parametrize("xs,ws,stride,padding,dilation,groups", CONV_CASES[:6])
def test_conv1d(rng, xs, ws, stride, padding, dilation, groups):
    x, w, b = rng.standard_normal(xs[:2] + xs[3:]), rng.standard_normal(ws[:2] + ws[3:]), rng.standard_normal(ws[0])
    out = F.conv1d(Tensor(x), Tensor(w), Tensor(b), stride[1], padding[1], dilation[1], groups)
    expected = conv2d_reference(x[:, :, None], w[:, :, None], b, (1, stride[1]), (0, padding[1]), (1, dilation[1]), groups)
    np.testing.assert_allclose(out.numpy(), expected[:, :, 0], atol=1e-12)
    fn = lambda x, w, b: F.conv1d(x, w, b, stride[1], padding[1], dilation[1], groups)  # noqa: E731
    assert tg.gradcheck(fn, [t64(x), t64(w), t64(b)])


TRANSPOSE_CASES = [
    # x shape, weight shape, stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 4), (3, 2, 3, 3), (2, 2), (1, 1), (1, 1), 1, (1, 1)),
    ((1, 4, 3, 5), (4, 1, 2, 3), (1, 2), (0, 1), (0, 1), 2, (2, 1)),
    ((2, 2, 3, 3), (2, 3, 1, 1), (3, 2), (0, 0), (2, 0), 1, (1, 1)),
    ((2, 4, 5, 4), (4, 1, 3, 3), (2, 1), (1, 1), (0, 0), 4, (1, 1)),  # depthwise
]


@pytest.mark.parametrize("device,xs,ws,stride,padding,output_padding,groups,dilation",
                         on_devices(TRANSPOSE_CASES, cuda=TRANSPOSE_CASES[1:3]), indirect=["device"])
def test_conv_transpose2d(rng, device, xs, ws, stride, padding, output_padding, groups, dilation):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1] * groups)
    out = F.conv_transpose2d(Tensor(x, device=device), Tensor(w, device=device), Tensor(b, device=device),
                             stride, padding, output_padding, groups, dilation)
    expected = conv_transpose2d_reference(x, w, b, stride, padding, output_padding, groups, dilation)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    fn = lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)  # noqa: E731
    check_gradients(fn, [x, w, b], device)


def test_conv_transpose2d_inverts_the_shape_of_conv2d(rng):
    x = Tensor(rng.standard_normal((1, 2, 7, 8)))
    down = F.conv2d(x, Tensor(rng.standard_normal((3, 2, 3, 3))), stride=2, padding=1)
    up = F.conv_transpose2d(down, Tensor(rng.standard_normal((3, 2, 3, 3))), stride=2, padding=1, output_padding=(0, 1))
    assert up.shape == x.shape


def test_conv_errors():
    x, w = tg.zeros(1, 4, 5, 5), tg.zeros(2, 4, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d: kernel size \(7 x 7, with dilation\) can't be greater than the padded input size \(5 x 5\)"):
        F.conv2d(x, tg.zeros(2, 4, 7, 7))
    with pytest.raises(RuntimeError, match=r"conv2d: in_channels \(4\) and out_channels \(2\) must both be divisible by groups \(3\)"):
        F.conv2d(x, w, groups=3)
    with pytest.raises(RuntimeError, match=r"conv2d: weight of shape \(2, 4, 3, 3\) with groups=2 expects 8 input channels"):
        F.conv2d(x, w, groups=2)
    with pytest.raises(RuntimeError, match=r"conv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got shape \(5, 5\)"):
        F.conv2d(tg.zeros(5, 5), w)
    with pytest.raises(RuntimeError, match="conv2d: expected a 4-D weight"):
        F.conv2d(x, tg.zeros(2, 4, 3))
    with pytest.raises(RuntimeError, match=r"conv2d: bias of shape \(3,\) does not match 2 output channels"):
        F.conv2d(x, w, tg.zeros(3))
    with pytest.raises(TypeError, match="conv2d: input, weight and bias must share one floating dtype"):
        F.conv2d(x.double(), w)
    with pytest.raises(ValueError, match="conv2d: stride must be at least 1"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="conv1d: expected a 2-D"):
        F.conv1d(x, tg.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(2, 2\) must be smaller than either stride"):
        F.conv_transpose2d(x, tg.zeros(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="conv_transpose2d: weight of shape .* expects 3 input channels"):
        F.conv_transpose2d(x, tg.zeros(3, 2, 3, 3))


def test_conv_modules_shapes_names_and_init():
    tg.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    assert conv.weight.shape == (6, 2, 3, 3) and conv.bias.shape == (6,)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    bound = 1 / math.sqrt(2 * 3 * 3)
    assert np.abs(conv.weight.numpy()).max() <= bound and np.abs(conv.bias.numpy()).max() <= bound
    assert np.abs(conv.weight.numpy()).max() > 0.8 * bound  # uniform over the whole range
    assert conv(tg.randn(2, 4, 9, 9)).shape == (2, 6, 5, 5)
    assert "stride=(2, 2)" in repr(conv) and "groups=2" in repr(conv)

    conv1 = nn.Conv1d(3, 5, 4, padding=2, bias=False)
    assert conv1.weight.shape == (5, 3, 4) and conv1.bias is None
    assert conv1(tg.randn(2, 3, 10)).shape == (2, 5, 11)

    up = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)
    assert up.weight.shape == (4, 2, 4, 4) and up.bias.shape == (2,)
    assert np.abs(up.weight.numpy()).max() <= 1 / math.sqrt(2 * 16)
    assert up(tg.randn(1, 4, 5, 5)).shape == (1, 2, 10, 10)
    with pytest.raises(ValueError, match="padding_mode='zeros'"):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")


def test_conv_module_trains_float64_and_moves_gradients(rng):
    conv = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
    x = Tensor(rng.standard_normal((2, 2, 4, 4)))
    conv(x).sum().backward()
    assert conv.weight.grad.shape == (3, 2, 3, 3) and conv.weight.grad.dtype == np.float64
    np.testing.assert_allclose(conv.bias.grad.numpy(), np.full(3, 2 * 16.0))


def test_conv2d_without_threadpoolctl_runs_on_one_numba_thread(rng, monkeypatch):
    """When BLAS cannot be made serial, the kernels fall back to one Numba thread: same numbers."""
    from tinygrad_nb.kernels.cpu import conv as kernels

    x, w = rng.standard_normal((3, 4, 5, 5)), rng.standard_normal((2, 4, 3, 3))
    g = rng.standard_normal((3, 2, 5, 5))
    args = ((1, 1), (1, 1), (1, 1), 1)
    threaded = [kernels.conv2d(x, w, None, *args, (5, 5)), kernels.conv2d_backward_input(g, w, (5, 5), *args),
                kernels.conv2d_backward_weight(x, g, (3, 3), *args)]
    from tinygrad_nb.kernels.cpu import threads

    monkeypatch.setitem(threads._state, "serial", False)
    serial = [kernels.conv2d(x, w, None, *args, (5, 5)), kernels.conv2d_backward_input(g, w, (5, 5), *args),
              kernels.conv2d_backward_weight(x, g, (3, 3), *args)]
    for a, b in zip(threaded, serial):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ws,stride,padding,dilation,groups", [((4, 1, 3, 2), (2, 1), (1, 1), (1, 2), 2),
                                                               ((4, 1, 3, 3), (1, 1), (1, 0), (1, 1), 2)],
                         ids=["grouped-strided-dilated", "depthwise-multiplier-2"])
def test_conv2d_gradcheck_on_the_device(rng, device, ws, stride, padding, dilation, groups):
    """Finite differences in float64 through the op, on the device itself: on the GPU the
    implicit-GEMM products and the depthwise kernels."""
    x = Tensor(rng.standard_normal((1, 2, 4, 5)), device=device, requires_grad=True)
    w = Tensor(rng.standard_normal(ws), device=device, requires_grad=True)
    b = Tensor(rng.standard_normal(ws[0]), device=device, requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b])


@pytest.mark.parametrize("vector_bytes", [32, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_tap_sums_at_either_vector_width(rng, vector_bytes, dtype):
    """The weight gradient's register sums (AVX2's 32-byte vectors or AVX-512's 64; LLVM
    splits the wider ones elsewhere) against NumPy: whole vectors of each row only, the
    count of columns done returned, each sum added to its slot of out."""
    from numba import njit

    from tinygrad_nb.kernels.cpu import depthwise

    tap_sums = depthwise._make_tap_sums(vector_bytes)

    @njit
    def run(g, pf, offsets, rows, width, p_stride, out, out_stride):
        return tap_sums(g, pf, offsets, rows, width, p_stride, out, out_stride)

    rows, width, p_stride, out_stride = 3, 37, 41, 5
    g, pf = rng.standard_normal(rows * width).astype(dtype), rng.standard_normal(rows * p_stride + 90).astype(dtype)
    offsets = np.array([0, 1, 2, 41, 42, 43, 82, 83, 84], np.int64)
    out = rng.standard_normal(9 * out_stride).astype(dtype)
    before = out.copy()
    done = run(g, pf, offsets, rows, width, p_stride, out, out_stride)
    lanes = vector_bytes // np.dtype(dtype).itemsize
    assert done == width - width % lanes
    for t in range(9):
        expected = before[t * out_stride] + sum(
            float(g[r * width + q]) * float(pf[r * p_stride + q + offsets[t]]) for r in range(rows) for q in range(done))
        np.testing.assert_allclose(out[t * out_stride], expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    untouched = np.ones(out.shape, bool)
    untouched[::out_stride] = False
    np.testing.assert_array_equal(out[untouched], before[untouched])
