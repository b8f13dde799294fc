"""PyTorch's autograd API around backward(): retain_grad, register_hook, is_leaf and
tg.autograd.grad, checked against backward() itself and NumPy derivatives."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor


def test_retain_grad_and_hooks(device):
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, device=device)
    h = x * 3.0
    assert x.is_leaf and not h.is_leaf
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    doubled = x.register_hook(lambda g: g * 2.0)  # a leaf's hook changes what goes into .grad
    (h * h).sum().backward()  # d/dh = 2h = 6x, d/dx = 18x
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(seen[0], [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * 18 * np.array([1.0, 2.0]))
    doubled.remove()
    x.grad = None
    y = x * 1.0
    y.register_hook(lambda g: g * 0.0)  # a non-leaf's hook changes what flows on
    (y * 5.0 + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_a_leaf_hook_sees_the_sum_of_its_contributions():
    x = Tensor(np.array([1.0]), requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(float(g.numpy()[0])))
    (x * 2.0 + x * 3.0 + x.exp()).sum().backward()
    assert calls == [pytest.approx(5.0 + np.e)]


def test_hooks_need_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="register_hook: cannot register a hook on a tensor that doesn't require"):
        Tensor(np.ones(2)).register_hook(print)
    with pytest.raises(RuntimeError, match="retain_grad: can't retain_grad"):
        Tensor(np.ones(2)).retain_grad()


def test_autograd_grad_returns_gradients_and_leaves_grad_alone(rng, device):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x, w = Tensor(a, requires_grad=True, device=device), Tensor(b, requires_grad=True, device=device)
    h = (x * w).tanh()
    loss = (h * h).sum()
    dx, dw, dh = tg.autograd.grad(loss, [x, w, h], retain_graph=True)
    t = np.tanh(a * b)
    np.testing.assert_allclose(dh.numpy(), 2 * t, rtol=1e-10)
    np.testing.assert_allclose(dx.numpy(), 2 * t * (1 - t * t) * b, rtol=1e-10)
    np.testing.assert_allclose(dw.numpy(), (2 * t * (1 - t * t) * a).sum(0), rtol=1e-10)
    assert x.grad is None and w.grad is None and h.grad is None
    loss.backward()  # the graph was kept: backward() gives the same, into .grad
    np.testing.assert_allclose(x.grad.numpy(), dx.numpy(), rtol=1e-12)


def test_autograd_grad_of_several_outputs_and_unused_inputs():
    x, z = Tensor(np.array([1.0, 2.0]), requires_grad=True), Tensor(np.array([3.0]), requires_grad=True)
    y1, y2 = x * 2.0, x * x
    (dx,) = tg.autograd.grad([y1, y2], [x], grad_outputs=[np.ones(2), np.array([1.0, 10.0])])
    np.testing.assert_allclose(dx.numpy(), [2 + 2 * 1.0, 2 + 10 * 2 * 2.0])
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        tg.autograd.grad((x * 2.0).sum(), [x, z])
    assert tg.autograd.grad((x * 2.0).sum(), [x, z], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        tg.autograd.grad(x * 2.0, [x])
