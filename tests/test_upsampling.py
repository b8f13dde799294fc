"""F.interpolate (every mode, both align_corners, size and scale_factor), pixel shuffle and their
modules: forward against direct NumPy loops that apply PyTorch's coordinate rules pixel by
pixel (not axis by axis, as the kernels do), float64 gradient checks (and gradients of
gradients), the 'cuda' device against the CPU, and the errors."""
import itertools
import math

import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.gradcheck import gradcheck, gradgradcheck

A = -0.75


def _source(o, n_in, n_out, scale, align, clip):
    """PyTorch's source coordinate of output position o (linear and cubic modes)."""
    if align:
        return o * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    s = 1.0 / scale if scale else n_in / n_out
    x = s * (o + 0.5) - 0.5
    return max(x, 0.0) if clip else x


def _linear_taps(o, n_in, n_out, scale, align):
    x = _source(o, n_in, n_out, scale, align, clip=True)
    i = min(int(math.floor(x)), n_in - 1)
    t = min(max(x - i, 0.0), 1.0)
    return [(i, 1 - t), (min(i + 1, n_in - 1), t)]


def _cubic_taps(o, n_in, n_out, scale, align):
    x = _source(o, n_in, n_out, scale, align, clip=False)
    i = int(math.floor(x))
    t = x - i

    def w(d):
        d = abs(d)
        return ((A + 2) * d - (A + 3)) * d * d + 1 if d <= 1 else ((A * d - 5 * A) * d + 8 * A) * d - 4 * A

    return [(min(max(i + k, 0), n_in - 1), w(t - k)) for k in (-1, 0, 1, 2)]


def _nearest_taps(o, n_in, n_out, scale, exact):
    s = 1.0 / scale if scale else n_in / n_out
    return [(min(int(math.floor((o + (0.5 if exact else 0.0)) * s)), n_in - 1), 1.0)]


def _area_taps(o, n_in, n_out):
    start, end = (o * n_in) // n_out, -(-((o + 1) * n_in) // n_out)
    return [(i, 1.0 / (end - start)) for i in range(start, end)]


def reference(x, sizes, mode, align=False, scales=None):
    """Each output pixel as the weighted sum over the product of its per-axis taps."""
    scales = scales or [None] * len(sizes)

    def taps(axis, o):
        n_in, n_out, scale = x.shape[2 + axis], sizes[axis], scales[axis]
        if mode in ("nearest", "nearest-exact"):
            return _nearest_taps(o, n_in, n_out, scale, mode == "nearest-exact")
        if mode == "area":
            return _area_taps(o, n_in, n_out)
        return (_cubic_taps if mode == "bicubic" else _linear_taps)(o, n_in, n_out, scale, align)

    out = np.zeros(x.shape[:2] + tuple(sizes))
    for pos in itertools.product(*(range(n) for n in sizes)):
        for combo in itertools.product(*(taps(a, o) for a, o in enumerate(pos))):
            weight = np.prod([w for _, w in combo])
            out[(slice(None), slice(None)) + pos] += weight * x[(slice(None), slice(None)) + tuple(i for i, _ in combo)]
    return out


R = np.random.default_rng(0)
CASES = [  # (input shape, mode, keyword arguments)
    ((2, 3, 5), "linear", dict(scale_factor=2)),
    ((2, 3, 5), "linear", dict(size=3, align_corners=True)),
    ((1, 2, 4, 5), "bilinear", dict(scale_factor=1.7)),
    ((1, 2, 4, 5), "bilinear", dict(size=(7, 3), align_corners=True)),
    ((1, 2, 4, 5), "bicubic", dict(scale_factor=2)),
    ((1, 2, 4, 5), "bicubic", dict(size=(6, 9), align_corners=True)),
    ((1, 2, 4, 5), "bicubic", dict(scale_factor=0.6)),
    ((1, 2, 4, 5), "nearest", dict(scale_factor=2.5)),
    ((1, 2, 4, 5), "nearest", dict(size=(3, 7))),
    ((1, 2, 4, 5), "nearest-exact", dict(size=(7, 3))),
    ((1, 2, 5, 7), "area", dict(size=(3, 4))),
    ((2, 3, 5), "nearest", dict(size=8)),
    ((1, 1, 2, 3, 4), "trilinear", dict(scale_factor=(2, 1.5, 0.5))),
    ((1, 1, 2, 3, 4), "nearest", dict(scale_factor=2)),
    ((1, 2, 4, 5), "bilinear", dict(scale_factor=2.3, recompute_scale_factor=True)),
]


def _sizes_and_scales(shape, kw):
    spatial = len(shape) - 2
    if "size" in kw:
        size = kw["size"]
        return list(size) if isinstance(size, tuple) else [size] * spatial, None
    factors = kw["scale_factor"]
    factors = list(factors) if isinstance(factors, tuple) else [factors] * spatial
    sizes = [math.floor(n * f) for n, f in zip(shape[2:], factors)]
    return sizes, (None if kw.get("recompute_scale_factor") else factors)


@pytest.mark.parametrize("shape, mode, kw", CASES, ids=lambda v: str(v))
def test_interpolate_matches_pytorchs_rules_pixel_by_pixel(shape, mode, kw):
    x = R.standard_normal(shape)
    sizes, scales = _sizes_and_scales(shape, kw)
    got = F.interpolate(Tensor(x), mode=mode, **kw)
    np.testing.assert_allclose(got.numpy(), reference(x, sizes, mode, kw.get("align_corners", False), scales),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, mode, kw", CASES[::2], ids=lambda v: str(v))
def test_interpolate_gradients(shape, mode, kw):
    x = Tensor(R.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda t: F.interpolate(t, mode=mode, **kw), [x])
    assert gradgradcheck(lambda t: F.interpolate(t * t, mode=mode, **kw), [x])


def test_float32_keeps_its_dtype_and_the_identity_size_copies():
    x = Tensor(R.standard_normal((1, 1, 3, 3)).astype(np.float32))
    y = F.interpolate(x, scale_factor=2, mode="bilinear")
    assert y.dtype == np.float32 and y.shape == (1, 1, 6, 6)
    same = F.interpolate(x, size=(3, 3))
    assert same is not x and np.array_equal(same.numpy(), x.numpy())


def test_pixel_shuffle_and_unshuffle():
    x = R.standard_normal((2, 8, 3, 4))
    y = F.pixel_shuffle(Tensor(x), 2).numpy()
    assert y.shape == (2, 2, 6, 8)
    for c, h, w, i, j in itertools.product(range(2), range(3), range(4), range(2), range(2)):
        np.testing.assert_array_equal(y[:, c, h * 2 + i, w * 2 + j], x[:, c * 4 + i * 2 + j, h, w])
    np.testing.assert_array_equal(F.pixel_unshuffle(Tensor(y), 2).numpy(), x)
    np.testing.assert_array_equal(nn.PixelShuffle(2)(Tensor(x[0])).numpy(), y[0])  # unbatched
    t = Tensor(x, requires_grad=True)
    assert gradcheck(lambda a: nn.PixelUnshuffle(3)(nn.PixelShuffle(2)(a)[:, :, :, :6]), [t])


def test_upsample_modules():
    x = Tensor(R.standard_normal((1, 1, 2, 3)))
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2)(x).numpy(), np.repeat(np.repeat(x.numpy(), 2, 2), 2, 3))
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(size=(3, 5))(x).numpy(),
                               reference(x.numpy(), [3, 5], "bilinear", align=True), rtol=1e-12)
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=2)(x).numpy(),
                                  F.interpolate(x, scale_factor=2).numpy())
    assert "scale_factor=2" in repr(nn.Upsample(scale_factor=2, mode="bilinear"))


@pytest.mark.parametrize("call, message", [
    (lambda x: F.interpolate(x, size=3, mode="bilinear"), "Got 3D input|got 3D input"),
    (lambda x: F.interpolate(x, size=3, scale_factor=2), "only one of size or scale_factor"),
    (lambda x: F.interpolate(x), "either size or scale_factor"),
    (lambda x: F.interpolate(x, size=3, align_corners=True), "align_corners option can only be set"),
    (lambda x: F.interpolate(x, size=(3, 4)), r"size must be a number or 1 numbers"),
    (lambda x: F.interpolate(x, size=3, mode="cubic"), "unknown mode 'cubic'"),
    (lambda x: F.interpolate(x, scale_factor=0.1), "output size .* must be positive"),
    (lambda x: F.interpolate(x, size=3, antialias=True), "antialias"),
    (lambda x: F.pixel_shuffle(x, 2), "divide by upscale_factor"),
    (lambda x: F.pixel_unshuffle(x, 0), "positive integer"),
])
def test_errors_name_the_op_and_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call(Tensor(np.zeros((1, 3, 5), np.float32)))
    with pytest.raises(TypeError, match="floating"):
        F.interpolate(Tensor(np.zeros((1, 1, 2), np.int64)), size=3)


@pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")
@pytest.mark.parametrize("shape, mode, kw", [CASES[2], CASES[5], CASES[10], CASES[12]], ids=lambda v: str(v))
def test_cuda_interpolate_matches_the_cpu(shape, mode, kw):
    x, g = R.standard_normal(shape), None
    results = []
    for device in ("cpu", "cuda"):
        t = Tensor(x, requires_grad=True, device=device)
        y = F.interpolate(t[:, :, 1:], mode=mode, **kw)  # a strided view
        g = R.standard_normal(y.shape) if g is None else g
        (y * Tensor(g, device=device)).sum().backward()
        results.append((y.numpy(), t.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
