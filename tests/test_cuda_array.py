"""CudaArray and the 'cuda' xp namespace against NumPy: dtypes, views, indexing, reductions.

Without a GPU these run in Numba's CUDA simulator (tests/conftest.py switches it on), so
the shapes are tiny."""
import numpy as np
import pytest

from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

from tinygrad_nb.kernels.cuda import reduce as red  # noqa: E402
from tinygrad_nb.kernels.cuda import xp  # noqa: E402
from tinygrad_nb.kernels.cuda.array import CudaArray  # noqa: E402


def dev(a):
    return xp.asarray(np.asarray(a))


def check(got, want):
    assert isinstance(got, CudaArray)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_allclose(got.get(), want, rtol=1e-6, atol=1e-7)


def test_round_trip_and_dtypes():
    for a in [np.arange(6.0).reshape(2, 3), np.arange(4, dtype=np.float32), np.array([True, False]), np.int64(7), np.zeros((0, 3))]:
        check(dev(a), np.asarray(a))
    assert dev(np.float32(2.5)).item() == 2.5
    with pytest.raises(TypeError, match="copy it to the host explicitly"):
        np.asarray(dev([1.0]))


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: abs(a) ** b,
        lambda a, b: a < b,
        lambda a, b: a == b,
        lambda a, b: a >= b,
    ],
)
def test_binary_broadcasting_and_dtype_promotion(rng, fn):
    a = rng.standard_normal((2, 1, 3)).astype(np.float32)
    b = rng.standard_normal((4, 1))
    check(fn(dev(a), dev(b)), fn(a, b))  # float32 with float64 gives float64
    check(fn(dev(a), 2.0), fn(a, 2.0))  # Python numbers are weak: float32 stays float32
    check(fn(3, dev(b)), fn(3, b))
    check(fn(dev(a), np.float32(1.5)), fn(a, np.float32(1.5)))


def test_bool_and_integer_arithmetic(rng):
    m, n = rng.standard_normal(5) > 0, np.arange(5)
    check(dev(m) * 0.5, m * 0.5)
    check(dev(m) & dev(n > 2), m & (n > 2))
    check(dev(m) | dev(n > 2), m | (n > 2))
    check(~dev(m), ~m)
    check(dev(n) * 2, n * 2)
    check(dev(n) / 2, n / 2)
    check(dev(n) + 0.5, n + 0.5)
    with pytest.raises(TypeError, match="only bool arrays"):
        dev(n) & dev(n)
    with pytest.raises(TypeError, match="host array"):
        dev(n) + n


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "abs", "sign", "negative", "isfinite", "isnan"])
def test_unary(rng, name):
    a = rng.standard_normal((3, 4))
    a[0, :3] = [0.0, np.inf, np.nan]
    with np.errstate(all="ignore"):
        want = getattr(np, name)(a)
    got = getattr(xp, name)(dev(a)).get()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert getattr(xp, name)(dev(a.astype(np.float32))).dtype == want.astype(np.float32).dtype or name in ("isfinite", "isnan")


def test_where_clip_maximum(rng):
    c, a, b = rng.standard_normal((2, 3)) > 0, rng.standard_normal((2, 3)), rng.standard_normal(3)
    check(xp.where(dev(c), dev(a), dev(b)), np.where(c, a, b))
    check(xp.where(dev(c), dev(a.astype(np.float32)), 0), np.where(c, a.astype(np.float32), np.float32(0)))
    check(xp.where(dev(c), np.float32(1), np.float32(0.1)), np.where(c, np.float32(1), np.float32(0.1)))
    check(xp.clip(dev(a), -0.5, 0.5), np.clip(a, -0.5, 0.5))
    check(xp.clip(dev(a), None, 0.0), np.clip(a, None, 0.0))
    nan = np.array([np.nan, 1.0])
    check(xp.maximum(dev(nan), dev([0.0, 2.0])), np.maximum(nan, [0.0, 2.0]))
    check(xp.minimum(dev(a), 0.0), np.minimum(a, 0.0))


def test_in_place_operators_write_through_views():
    a = np.arange(12.0).reshape(3, 4)
    x = dev(a)
    x -= 1.0
    x[1:, ::2] *= 10.0
    a -= 1.0
    a[1:, ::2] *= 10.0
    check(x, a)
    mask = dev(np.ones(4, bool))
    mask &= dev(np.arange(4) > 1)
    check(mask, np.arange(4) > 1)


def test_views_share_memory_and_reshape_copies_only_when_needed():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = dev(a)
    t = x.transpose(2, 0, 1)
    assert t.buf is x.buf and not t.is_contiguous
    check(t, a.transpose(2, 0, 1))
    check(t.reshape(4, 6), a.transpose(2, 0, 1).reshape(4, 6))
    assert t.reshape(4, 6).buf is x.buf  # axes 0 and 1 of x stay adjacent: no copy
    assert t.reshape(24).buf is not x.buf  # a real transpose: copied
    check(t.reshape(-1), a.transpose(2, 0, 1).reshape(-1))
    check(x.swapaxes(0, 2).T, a.swapaxes(0, 2).T)
    check(x[:, None, 1].reshape(2, 1, 2, 2), a[:, None, 1].reshape(2, 1, 2, 2))
    check(xp.broadcast_to(dev(a[0, :, :1]), (2, 3, 4)), np.broadcast_to(a[0, :, :1], (2, 3, 4)))
    check(xp.broadcast_to(x[:, :1], (5, 2, 1, 4)).reshape(10, 4), np.broadcast_to(a[:, :1], (5, 2, 1, 4)).reshape(10, 4))
    check(xp.moveaxis(x, 0, -1), np.moveaxis(a, 0, -1))
    check(xp.squeeze(xp.expand_dims(x, 1), 1), a)
    with pytest.raises(ValueError, match="cannot reshape"):
        x.reshape(5, -1)


@pytest.mark.parametrize(
    "index",
    [
        (1,),
        (slice(None, None, -1), 0),
        (Ellipsis, 1),
        (None, slice(1, None), slice(None, None, 2), -1),
        (slice(5, 10),),
        ([0, 1, 0],),
        ([[1, 1], [0, 0]], slice(None), [3, 0]),
        (slice(None), np.array([2, 0, 2])),
        (1, [2, 0], slice(1, 3)),
        (np.arange(24).reshape(2, 3, 4) % 5 == 0,),
        (np.array([True, False]), Ellipsis, 1),
        (np.array([], dtype=np.int64),),
    ],
)
def test_getitem_setitem_and_add_at(rng, index):
    a = rng.standard_normal((2, 3, 4))
    check(dev(a)[index], a[index])
    value = rng.standard_normal(a[index].shape)
    picked = np.arange(a.size).reshape(a.shape)[index]
    if np.unique(picked).size == picked.size:  # with repeats, which write wins is unspecified on a GPU
        x, b = dev(a), a.copy()
        x[index] = dev(value)
        b[index] = value
        check(x, b)
    x, b = dev(a), a.copy()
    xp.add.at(x, index, dev(value))
    np.add.at(b, index, value)
    check(x, b)


def test_add_at_accumulates_repeats_and_setitem_broadcasts():
    x = xp.zeros(3)
    xp.add.at(x, ([0, 0, 2, 0],), dev([1.0, 2.0, 3.0, 4.0]))
    check(x, np.array([7.0, 0.0, 3.0]))
    y = xp.zeros((2, 3), np.float32)
    y[:, 1] = 5
    y[[1]] = dev(np.arange(3.0))
    check(y, np.array([[0, 5, 0], [0, 1, 2]], np.float32))
    with pytest.raises(IndexError, match="out of bounds"):
        dev(np.zeros((2, 3)))[:, 3]


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(rng, axis, keepdims):
    a = rng.standard_normal((3, 5, 2))
    x = dev(a).transpose(1, 0, 2)  # a strided view: reductions read any layout
    ref = a.transpose(1, 0, 2)
    for name in ("sum", "max", "min", "mean"):
        check(getattr(xp, name)(x, axis=axis, keepdims=keepdims), getattr(np, name)(ref, axis=axis, keepdims=keepdims))


def test_reduction_dtypes_and_edge_cases():
    check(xp.sum(dev(np.array([True, True, False]))), np.sum([True, True, False]))
    check(xp.sum(dev(np.arange(5, dtype=np.int32))), np.arange(5, dtype=np.int32).sum())
    check(xp.max(dev(np.arange(5)), axis=0), np.arange(5).max(axis=0))
    check(xp.sum(dev(np.zeros((0, 3))), axis=0), np.zeros(3))
    check(xp.max(dev([1.0, np.nan, 3.0])), np.max([1.0, np.nan, 3.0]))
    check(xp.mean(dev(np.arange(4))), np.mean(np.arange(4)))
    with pytest.raises(ValueError, match="zero-size reduction"):
        xp.max(dev(np.zeros((0, 3))), axis=0)


@pytest.mark.parametrize("parts", [1, 3])
def test_tree_reduction_over_long_rows(rng, parts):
    """Rows longer than a block fold in strides, then in the tree; split rows fold twice."""
    a = rng.standard_normal((2, 61)).astype(np.float32)
    x = dev(a)
    for op, ref in [(red.SUM, a.sum(1)), (red.MAX, a.max(1)), (red.MIN, a.min(1))]:
        out = xp.empty(2, np.float32)
        identity = np.float32({red.SUM: 0, red.MAX: -np.inf, red.MIN: np.inf}[op])
        red.reduce_into(op, identity, out.buf, x, (2,), (61,), (61,), (1,), parts=parts)
        np.testing.assert_allclose(out.get(), ref, rtol=1e-5)


def test_concatenate_stack_pad(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 1)).astype(np.float32)
    check(xp.concatenate([dev(a), dev(b)], axis=1), np.concatenate([a, b], axis=1))
    check(xp.stack([dev(a), dev(a)], axis=-1), np.stack([a, a], axis=-1))
    check(xp.pad(dev(a), ((1, 0), (0, 2)), constant_values=-1.0), np.pad(a, ((1, 0), (0, 2)), constant_values=-1.0))
    with pytest.raises(ValueError, match="must match except along axis 0"):
        xp.concatenate([dev(a), dev(b)], axis=0)


def test_creation():
    check(xp.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    check(xp.ones(3), np.ones(3))
    check(xp.full((2,), 7, np.int64), np.full((2,), 7, np.int64))
    check(xp.zeros_like(dev(np.ones((2, 2), np.float32))), np.zeros((2, 2), np.float32))
    check(xp.arange(5), np.arange(5))
    check(xp.eye(3), np.eye(3))
    check(xp.ascontiguousarray(dev(np.ones((2, 3))).T), np.ones((3, 2)))
