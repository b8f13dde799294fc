"""Reductions, softmax family and argmax on every device: forward against NumPy, float64
gradient checks (on the GPU against the CPU's gradients, see conftest.check_gradients)."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor

from conftest import check_gradients, on_devices

AXES = [None, 0, -1, (0, 2), 1]


@pytest.mark.parametrize("device,axis", on_devices(AXES, cuda=[None, 1, (0, 2)], single=True), indirect=["device"])
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
def test_reductions(rng, device, name, op, ref, axis, keepdim):
    a = rng.standard_normal((2, 3, 4))
    out = op(Tensor(a.astype(np.float32), device=device), axis, keepdim)
    assert out.device == device
    np.testing.assert_allclose(out.numpy(), ref(a, axis, keepdim), rtol=1e-5, atol=1e-5)
    check_gradients(lambda x: op(x, axis, keepdim), [a], device)


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


def test_max_ties_split_the_gradient(device):
    x = tg.tensor([1.0, 3.0, 3.0], requires_grad=True, device=device)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5])
    # over an axis, each row splits its own ties; min as max
    a = np.array([[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], [[0.0, -1.0, 0.0], [5.0, 4.0, 4.0]]])
    for name, keepdim in (("max", False), ("min", True)):
        x = Tensor(a, requires_grad=True, device=device)
        values = getattr(x, name)(2, keepdim=keepdim).values
        np.testing.assert_array_equal(values.numpy(), getattr(a, name)(axis=2, keepdims=keepdim))
        values.sum().backward()
        hit = a == getattr(a, name)(axis=2, keepdims=True)
        np.testing.assert_allclose(x.grad.numpy(), hit / hit.sum(axis=2, keepdims=True))
    x = Tensor(a, requires_grad=True, device=device)
    x.max((0, 2)).sum().backward()  # the ties of a reduction over several axes split too
    hit = a == a.max(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), hit / hit.sum(axis=(0, 2), keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax(rng, device, axis):
    a = rng.standard_normal((3, 5)) * 3
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    sm = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(Tensor(a, device=device).softmax(axis).numpy(), sm, rtol=1e-6)
    np.testing.assert_allclose(Tensor(a, device=device).log_softmax(axis).numpy(), np.log(sm), rtol=1e-6, atol=1e-9)
    check_gradients(lambda x: x.softmax(axis), [a], device)
    check_gradients(lambda x: x.log_softmax(axis), [a], device)
    check_gradients(lambda x: x.softmax(axis) + x.log_softmax(axis), [a], device)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_softmax_family_on_views_and_infinite_rows(rng, device, axis):
    """Any axis of a strided view (on the GPU one launch each way, a thread per row), and a
    row holding -inf, whose other entries stay finite: values and gradients by the formulas
    d softmax = s (g - sum(g s)), d log_softmax = g - s sum(g)."""
    a = rng.standard_normal((3, 4, 5))
    a[0, 1, 2] = -np.inf
    g1, g2 = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 3, 4))
    x = Tensor(a, requires_grad=True, device=device)
    view = x.permute(2, 0, 1)
    log_sm, sm = view.log_softmax(axis), view.softmax(axis)
    ((log_sm * Tensor(g1, device=device)).sum() + (sm * Tensor(g2, device=device)).sum()).backward()
    v = a.transpose(2, 0, 1)
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    s = e / e.sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(log_sm.numpy(), np.log(s), rtol=1e-12)
    np.testing.assert_allclose(sm.numpy(), s, rtol=1e-12, atol=1e-15)
    grad = (g1 - s * g1.sum(axis=axis, keepdims=True)) + s * (g2 - (g2 * s).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(x.grad.numpy(), grad.transpose(1, 2, 0), rtol=1e-10, atol=1e-12)


def test_softmax_is_stable_for_huge_logits():
    x = Tensor([[1e4, -1e4, 1e4 - 1.0], [-1e4, -1e4, -1e4]], requires_grad=True)
    ls = x.log_softmax(1)
    assert np.isfinite(ls.numpy()).all()
    np.testing.assert_allclose(x.softmax(1).numpy()[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(x.logsumexp(1).numpy(), [1e4 + np.log1p(np.exp(-1.0)), -1e4 + np.log(3)], rtol=1e-6)
    ls.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_argmax_argmin(rng, device):
    a = rng.standard_normal((3, 4))
    x = Tensor(a, device=device)
    assert x.argmax().item() == a.argmax()
    np.testing.assert_array_equal(x.argmax(1).numpy(), a.argmax(1))
    np.testing.assert_array_equal(x.argmin(dim=0).numpy(), a.argmin(0))
    assert x.argmax(1, keepdim=True).shape == (3, 1) and x.argmax(1).dtype == np.int64


def test_mean_of_integers_is_float():
    assert Tensor(np.arange(4)).mean().item() == 1.5


def test_argmax_and_argmin_ties_nans_views_and_empty_axes(rng, device):
    """Ties go to the first index and a NaN wins, as in NumPy; views and keepdim work; the
    result stays on the device."""
    a = rng.integers(0, 3, (4, 5, 3)).astype(np.float64)
    a[1, 2, 0] = np.nan
    x = Tensor(a, device=device)
    for got, want in [(x.argmax(1), a.argmax(1)), (x.argmin(-1, keepdim=True), a.argmin(-1)[..., None]),
                      (x.argmax(), a.argmax()), (x.permute(2, 0, 1).argmin(2), a.transpose(2, 0, 1).argmin(2)),
                      (x[:, ::2].argmax(0, keepdim=True), a[:, ::2].argmax(0)[None])]:
        assert got.device == device and got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(RuntimeError, match="argmax: cannot take the argmax over an empty axis"):
        Tensor(np.zeros((0, 3)), device=device).argmax()
    assert Tensor(np.zeros((0, 3)), device=device).argmax(1).shape == (0,)
