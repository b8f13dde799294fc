"""In-place ops (add_ sub_ mul_ div_ clamp_ copy_ fill_ zero_, += -= *= /=) against NumPy,
the version counts that make backward refuse arrays written since they were saved, the
graph they record when a gradient flows through them (float64 gradient checks), and the
errors of PyTorch's rules."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn

CASES = {
    "add_": (lambda t, o: t.add_(o), lambda a, o: a + o),
    "add_ alpha": (lambda t, o: t.add_(o, alpha=-2.0), lambda a, o: a - 2.0 * o),
    "sub_": (lambda t, o: t.sub_(o), lambda a, o: a - o),
    "mul_": (lambda t, o: t.mul_(o), lambda a, o: a * o),
    "div_": (lambda t, o: t.div_(o), lambda a, o: a / o),
    "clamp_": (lambda t, o: t.clamp_(-0.5, 0.5), lambda a, o: np.clip(a, -0.5, 0.5)),
    "copy_": (lambda t, o: t.copy_(o), lambda a, o: np.broadcast_to(o, a.shape)),
    "fill_": (lambda t, o: t.fill_(0.25), lambda a, o: np.full_like(a, 0.25)),
    "zero_": (lambda t, o: t.zero_(), lambda a, o: np.zeros_like(a)),
}


def _iadd(t, o):
    t += o
    return t


def _imul(t, o):
    t *= o
    return t


def _isub(t, o):
    t -= o
    return t


def _idiv(t, o):
    t /= o
    return t


CASES.update({"+=": (_iadd, lambda a, o: a + o), "-=": (_isub, lambda a, o: a - o),
              "*=": (_imul, lambda a, o: a * o), "/=": (_idiv, lambda a, o: a / o)})


@pytest.mark.parametrize("name", CASES)
def test_writes_into_the_tensors_own_buffer(rng, name, device):
    op, ref = CASES[name]
    a, o = rng.standard_normal((2, 3)), rng.uniform(0.5, 2.0, (3,))  # o broadcasts along the rows
    t = Tensor(a, device=device)
    view = t.reshape(3, 2)  # shares t's buffer
    out = op(t, Tensor(o, device=device))
    assert out is t and t.dtype == np.float64 and t.shape == (2, 3)
    np.testing.assert_allclose(t.numpy(), ref(a, o), rtol=1e-12)
    np.testing.assert_allclose(view.numpy(), ref(a, o).reshape(3, 2), rtol=1e-12)


def test_the_sgd_step_by_hand_updates_the_model():
    tg.manual_seed(0)
    model = nn.Linear(3, 2)
    weight, before = model.weight, model.weight.numpy().copy()
    model(Tensor(np.ones((4, 3), np.float32))).sum().backward()
    with tg.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    assert model.weight is weight
    np.testing.assert_allclose(model.weight.numpy(), before - 0.1 * 4.0, rtol=1e-6)


def test_a_leaf_that_requires_grad_is_written_only_under_no_grad():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place operation"):
        x += 1.0
    with tg.no_grad():
        x.mul_(2.0)
    np.testing.assert_allclose(x.numpy(), [2.0, 2.0, 2.0])


def test_backward_refuses_an_array_written_since_it_was_saved():
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = x.exp()  # Exp saves its output
    with tg.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*is at version 1; expected version 0"):
        y.sum().backward()
    w = Tensor(np.array([2.0, 3.0]))
    z = (x * w).sum()  # Mul saves both inputs
    w[0] = 7.0  # __setitem__ writes in place too
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_writes_that_backward_does_not_need_are_fine():
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    c = Tensor(np.array([2.0, 3.0]))
    y = (x + c).sum()  # Add saves nothing
    c.mul_(10.0)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_in_place_ops_on_results_record_the_graph(rng):
    """h = 2x; h += tanh(x); h *= h; h.clamp_(-5, 5); h -= x / 3: the gradient through every write."""

    def f(x):
        h = x * 2.0
        h += x.tanh()
        h *= h
        h.clamp_(-5.0, 5.0)
        h.sub_(x, alpha=1 / 3)
        return h

    x = Tensor(rng.uniform(-0.8, 0.8, (2, 3)), requires_grad=True)
    assert tg.gradcheck(f, [x])
    x.grad = None
    y = Tensor(np.zeros(3))
    y.copy_(x[0])  # copying a tensor that requires grad makes y part of the graph
    (y * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[0], [3.0, 3.0, 3.0])


def test_dtype_and_shape_rules():
    i = Tensor(np.array([1, 2, 3]))
    with pytest.raises(RuntimeError, match=r"result type float\d+ can.t be cast to the desired output type int64"):
        i += 0.5
    f = Tensor(np.ones(3, np.float32))
    f += np.full(3, 0.5)  # a float64 array: written back as float32
    assert f.dtype == np.float32 and f.numpy().tolist() == [1.5, 1.5, 1.5]
    with pytest.raises(RuntimeError, match=r"add_: the result has shape \(2, 3\); it cannot be written into a tensor of shape \(3,\)"):
        f.add_(Tensor(np.ones((2, 3), np.float32)))


def test_data_is_the_values_outside_the_graph_sharing_the_buffer(rng):
    """PyTorch's .data idioms: updates through it record nothing and reach the tensor."""
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (p * p).sum().backward()
    d = p.data
    assert not d.requires_grad and d.is_leaf and d.array is p.array
    p.data.add_(p.grad, alpha=-0.5)  # no error although p requires grad: .data is outside the graph
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])
    p.data = Tensor(np.array([3.0, 4.0]))
    np.testing.assert_allclose(p.numpy(), [3.0, 4.0])
    assert p.requires_grad and p.is_leaf
    w = nn.Linear(3, 2).weight
    w.data.uniform_(-0.1, 0.1)
    assert np.abs(w.numpy()).max() <= 0.1 and w.numpy().std() > 0
    w.data.normal_(5.0, 0.01)
    assert abs(w.numpy().mean() - 5.0) < 0.05
