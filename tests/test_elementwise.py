"""Elementwise ops on every device: forward against NumPy, gradients against finite differences
(on the GPU against the CPU's, see conftest.check_gradients), with broadcasting and size-1 axes."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nb as tg
from tinygrad_nb import Tensor

from conftest import _run, check_gradients, on_devices, t64

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 2)), ((5, 1), (1, 5))]

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
    "maximum": (lambda a, b: a.maximum(b), np.maximum),
    "minimum": (lambda a, b: a.minimum(b), np.minimum),
}


def _inputs(rng, name, sa, sb):
    a = rng.standard_normal(sa)
    b = rng.standard_normal(sb)
    if name == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    if name == "pow":
        a = np.abs(a) + 0.5
    return a, b


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS)
def test_binary_forward_and_grad(rng, device, name, sa, sb):
    op, ref = BINARY[name]
    a, b = _inputs(rng, name, sa, sb)
    out = op(Tensor(a.astype(np.float32), device=device), Tensor(b.astype(np.float32), device=device))
    assert out.dtype == np.float32 and out.device == device
    np.testing.assert_allclose(out.numpy(), ref(a, b), rtol=1e-5, atol=1e-6)
    check_gradients(op, [a, b], device)


@pytest.mark.parametrize("name", BINARY)
def test_binary_reflected_with_numbers(rng, name):
    op, ref = BINARY[name]
    a, _ = _inputs(rng, name, (2, 3), (1,))
    if name in ("maximum", "minimum"):
        return
    x = Tensor(a.astype(np.float32))
    np.testing.assert_allclose(op(2.0, x).numpy(), ref(2.0, a), rtol=1e-5)
    np.testing.assert_allclose(op(x, 2.0).numpy(), ref(a, 2.0), rtol=1e-5)
    assert op(x, 2).dtype == np.float32


UNARY = {
    "exp": (lambda x: x.exp(), np.exp, None),
    "log": (lambda x: x.log(), np.log, "positive"),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, "positive"),
    "tanh": (lambda x: x.tanh(), np.tanh, None),
    "sin": (lambda x: x.sin(), np.sin, None),
    "cos": (lambda x: x.cos(), np.cos, None),
    "sigmoid": (lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), None),
    "relu": (lambda x: x.relu(), lambda a: np.where(a > 0, a, 0), "away_from_0"),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda a: np.where(a > 0, a, 0.1 * a), "away_from_0"),
    "gelu": (lambda x: x.gelu(), lambda a: a * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2))), None),
    "silu": (lambda x: x.silu(), lambda a: a / (1 + np.exp(-a)), None),
    "gelu_tanh": (lambda x: x.gelu(approximate="tanh"),
                  lambda a: a * 0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))), None),
    "elu": (lambda x: x.elu(0.7), lambda a: np.where(a > 0, a, 0.7 * np.expm1(np.minimum(a, 0))), "away_from_0"),
    "selu": (lambda x: x.selu(), lambda a: 1.0507009873554805 * np.where(a > 0, a, 1.6732632423543772 * np.expm1(np.minimum(a, 0))),
             "away_from_0"),
    "softplus": (lambda x: x.softplus(beta=2.0), lambda a: np.log1p(np.exp(2 * a)) / 2, None),
    "relu6": (lambda x: x.relu6(), lambda a: np.clip(a, 0, 6), "away_from_kinks"),
    "hardsigmoid": (lambda x: x.hardsigmoid(), lambda a: np.clip(a / 6 + 0.5, 0, 1), "away_from_kinks"),
    "hardswish": (lambda x: x.hardswish(), lambda a: a * np.clip(a / 6 + 0.5, 0, 1), "away_from_kinks"),
    "mish": (lambda x: x.mish(), lambda a: a * np.tanh(np.log1p(np.exp(a))), None),
    "abs": (lambda x: x.abs(), np.abs, "away_from_0"),
    "neg": (lambda x: -x, np.negative, None),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), "away_from_edges"),
    "square": (lambda x: x.square(), np.square, None),
}


def _unary_input(rng, kind, shape):
    a = rng.standard_normal(shape)
    if kind == "positive":
        a = np.abs(a) + 0.1
    if kind == "away_from_0":
        a = np.sign(a) * (np.abs(a) + 0.05)
    if kind == "away_from_kinks":  # spread over -7..7, kept off the kinks at -3, 0, 3 and 6
        a = a * 3.5
        for kink in (-3, 0, 3, 6):
            a = np.where(np.abs(a - kink) < 0.05, a + 0.2, a)
    if kind == "away_from_edges":  # the clip bounds are kinks: finite differences there are meaningless
        for edge in (-0.5, 0.7):
            a = np.where(np.abs(a - edge) < 0.05, a + 0.2, a)
    return a


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("device,shape", on_devices([(), (1,), (3, 4), (2, 1, 3)], cuda=[(), (2, 1, 3)], single=True), indirect=["device"])
def test_unary_forward_and_grad(rng, device, name, shape):
    op, ref, kind = UNARY[name]
    a = _unary_input(rng, kind, shape)
    out = op(Tensor(a.astype(np.float32), device=device))
    assert out.dtype == np.float32 and out.device == device
    np.testing.assert_allclose(out.numpy(), ref(a), rtol=1e-5, atol=1e-6)
    check_gradients(op, [a], device)


def test_float32_stays_float32(rng, device):
    """A chain of ops on float32 inputs keeps float32 outputs and gradients, within float32's
    rounding of float64's; the float64 gradients are checked as everywhere."""
    fn = lambda x, y: ((x * y + 1.5) / (y * y + 1)).gelu().sigmoid().log_softmax(1) @ y  # noqa: E731
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    outs32, grads32 = _run(fn, [a.astype(np.float32), b.astype(np.float32)], device)
    outs64, grads64 = _run(fn, [a, b], device)
    for t32, t64_ in zip(outs32 + grads32, outs64 + grads64):
        assert t32.dtype == np.float32 and t32.device == device
        np.testing.assert_allclose(t32.numpy(), t64_.numpy(), rtol=1e-5, atol=1e-6)
    check_gradients(fn, [a, b], device)


def test_sigmoid_and_softmax_do_not_overflow():
    x = Tensor([-1e4, 0.0, 1e4])
    np.testing.assert_allclose(x.sigmoid().numpy(), [0.0, 0.5, 1.0])
    assert np.isfinite(x.log_softmax(0).numpy()).all()


def test_where_forward_and_grad(rng, device):
    cond = rng.standard_normal((3, 4)) > 0
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    out = tg.where(Tensor(cond, device=device), Tensor(a, device=device), Tensor(b, device=device))
    assert out.device == device
    np.testing.assert_allclose(out.numpy(), np.where(cond, a, b))
    check_gradients(lambda c, x, y: Tensor.where(c, x, y), [cond, a, b], device)
    # the masks comparisons make select and scale as numbers do
    check_gradients(lambda c, x, y: tg.where(c, x, y) * (x > y) + (x <= 0.1).float(), [cond, a, b], device)
    assert tg.where(Tensor(cond, device=device), Tensor(a, device=device), 0.0).shape == (3, 4)


def test_comparisons_give_bool_without_grad(rng, device):
    a = Tensor(rng.standard_normal((3,)), requires_grad=True, device=device)
    for out, ref in [(a > 0, a.numpy() > 0), (a <= 0.1, a.numpy() <= 0.1), (a == a, np.ones(3, bool)), (a != 1, np.ones(3, bool))]:
        assert out.dtype == np.bool_ and not out.requires_grad and out.device == device
        np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal((a <= 0.1).float().numpy(), (a.numpy() <= 0.1).astype(np.float32))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 3), min_size=0, max_size=3),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.integers(0, 2**31 - 1),
)
def test_broadcast_gradients_hypothesis(shape, ones, seed):
    """Any shape against a copy with some axes squashed to 1 and some leading axes dropped."""
    rng = np.random.default_rng(seed)
    other = [1 if o else n for n, o in zip(shape, ones)][int(ones[0]) :]
    a, b = rng.standard_normal(shape), rng.standard_normal(other)
    assert tg.gradcheck(lambda x, y: x * y + y, [t64(a), t64(b)])


def test_relu_special_values_and_strided_input(device):
    """PyTorch's relu: -inf and -0.0 give 0, inf and NaN pass through; the gradient is 1
    where the output is positive. A transposed view is read like any array."""
    for dtype in (np.float32, np.float64):
        x = Tensor(np.array([[-np.inf, -1.0, -0.0], [0.0, 2.0, np.inf]], dtype), requires_grad=True, device=device)
        y = x.T.relu()
        np.testing.assert_array_equal(y.numpy(), [[0, 0], [0, 2], [0, np.inf]])
        y.backward(Tensor(np.full((3, 2), 3.0, dtype), device=device))
        np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [0, 3, 3]])
        assert y.dtype == x.grad.dtype == dtype and x.grad.device == device
        assert np.isnan(Tensor(np.array([np.nan], dtype), device=device).relu().numpy()[0])
