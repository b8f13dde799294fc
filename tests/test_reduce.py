"""Reductions, softmax family and argmax: forward against NumPy, float64 gradient checks."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor

from conftest import t64

AXES = [None, 0, -1, (0, 2), 1]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize(
    "name,op,ref",
    [
        ("sum", lambda x, a, k: x.sum(a, keepdim=k), lambda x, a, k: x.sum(axis=a, keepdims=k)),
        ("mean", lambda x, a, k: x.mean(a, keepdim=k), lambda x, a, k: x.mean(axis=a, keepdims=k)),
        ("var", lambda x, a, k: x.var(a, keepdim=k), lambda x, a, k: x.var(axis=a, keepdims=k, ddof=1)),
        ("max", lambda x, a, k: _values(x.max(a, keepdim=k)), lambda x, a, k: x.max(axis=a, keepdims=k)),
        ("min", lambda x, a, k: _values(x.min(a, keepdim=k)), lambda x, a, k: x.min(axis=a, keepdims=k)),
        ("logsumexp", lambda x, a, k: x.logsumexp(a, keepdim=k), lambda x, a, k: np.log(np.exp(x).sum(axis=a, keepdims=k))),
    ],
)
def test_reductions(rng, name, op, ref, axis, keepdim):
    a = rng.standard_normal((2, 3, 4))
    out = op(Tensor(a.astype(np.float32)), axis, keepdim)
    np.testing.assert_allclose(out.numpy(), ref(a, axis, keepdim), rtol=1e-5, atol=1e-5)
    assert tg.gradcheck(lambda x: op(x, axis, keepdim), [t64(a)])


def test_dim_is_an_alias_of_axis(rng):
    x = Tensor(rng.standard_normal((2, 3)))
    np.testing.assert_allclose(x.sum(dim=1).numpy(), x.sum(axis=1).numpy())
    np.testing.assert_allclose(x.softmax(dim=0).numpy(), x.softmax(axis=0).numpy())


def _values(out):
    """max/min over one axis return (values, indices); over several, or all, the values."""
    return out.values if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_over_one_axis_return_values_and_indices(rng, name):
    a = rng.standard_normal((3, 5))
    a[1, [1, 3]] = 9.0 if name == "max" else -9.0  # a tie: the first one's index, as NumPy's argmax
    pick = np.argmax if name == "max" else np.argmin
    out = getattr(Tensor(a), name)(1)
    values, indices = out  # PyTorch's `_, predicted = outputs.max(1)`
    assert out.values is values and out.indices is indices
    np.testing.assert_allclose(values.numpy(), getattr(a, name)(axis=1))
    assert indices.dtype == np.int64 and indices.numpy().tolist() == pick(a, axis=1).tolist()
    kept = getattr(Tensor(a), name)(dim=0, keepdim=True)
    assert kept.values.shape == kept.indices.shape == (1, 5)
    assert kept.indices.numpy().tolist() == [pick(a, axis=0).tolist()]
    assert not isinstance(getattr(Tensor(a), name)(), tuple) and not isinstance(getattr(Tensor(a), name)((0, 1)), tuple)


def test_max_over_one_axis_is_differentiable_through_its_values(rng):
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert tg.gradcheck(lambda t: t.max(1).values, [x])
    with pytest.raises(IndexError, match="out of range"):
        x.max(2)


def test_max_ties_split_the_gradient():
    x = tg.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax(rng, axis):
    a = rng.standard_normal((3, 5)) * 3
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    sm = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(Tensor(a).softmax(axis).numpy(), sm, rtol=1e-6)
    np.testing.assert_allclose(Tensor(a).log_softmax(axis).numpy(), np.log(sm), rtol=1e-6, atol=1e-9)
    assert tg.gradcheck(lambda x: x.softmax(axis), [t64(a)])
    assert tg.gradcheck(lambda x: x.log_softmax(axis), [t64(a)])


def test_softmax_is_stable_for_huge_logits():
    x = Tensor([[1e4, -1e4, 1e4 - 1.0], [-1e4, -1e4, -1e4]], requires_grad=True)
    ls = x.log_softmax(1)
    assert np.isfinite(ls.numpy()).all()
    np.testing.assert_allclose(x.softmax(1).numpy()[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(x.logsumexp(1).numpy(), [1e4 + np.log1p(np.exp(-1.0)), -1e4 + np.log(3)], rtol=1e-6)
    ls.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_argmax_argmin(rng):
    a = rng.standard_normal((3, 4))
    x = Tensor(a)
    assert x.argmax().item() == a.argmax()
    np.testing.assert_array_equal(x.argmax(1).numpy(), a.argmax(1))
    np.testing.assert_array_equal(x.argmin(dim=0).numpy(), a.argmin(0))
    assert x.argmax(1, keepdim=True).shape == (3, 1) and x.argmax(1).dtype == np.int64


def test_mean_of_integers_is_float():
    assert Tensor(np.arange(4)).mean().item() == 1.5
