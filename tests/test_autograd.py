"""The engine: order, accumulation, no_grad, detach, graph freeing, gradcheck itself."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor
from tinygrad_nb.gradcheck import GradcheckError


def test_chain_of_10000_ops_needs_no_recursion():
    x = tg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-3)


def test_tensor_used_many_times_gets_the_sum():
    x = tg.tensor(3.0, requires_grad=True)
    y = x * x + x * 2 + x
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 3 + 2 + 1)


def test_diamond_graph():
    x = tg.tensor([2.0], requires_grad=True)
    a = x.exp()
    b = a * a + a.log()
    b.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(4.0) + 1, rtol=1e-6)


def test_gradients_accumulate_across_backward_calls():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6, 6])


def test_no_grad_records_nothing():
    x = tg.tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2
    assert not y.requires_grad and y._ctx is None

    @tg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach() * x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 4])


def test_backward_non_scalar_needs_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs.*shape \\(2,\\)"):
        (x * 2).backward()
    (x * 2).backward(tg.tensor([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2, 20])


def test_graph_is_freed_after_backward_unless_retained():
    x = tg.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_unused_output_branch_and_intermediate_grads():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    _ = y * 3  # a branch that never reaches the loss
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2])
    assert y.grad is None  # like PyTorch, only leaves keep .grad


def test_gradcheck_catches_a_wrong_gradient():
    from tinygrad_nb.function import Function

    class WrongSquare(Function):
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        def backward(ctx, g):
            return g * ctx.saved[0]  # missing the factor 2

    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradcheck(lambda t: WrongSquare.apply(t), [x])


def test_gradcheck_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(lambda t: t * 2, [tg.tensor([1.0], requires_grad=True)])


def test_post_accumulate_grad_hooks_run_once_the_leaf_is_complete():
    """A leaf used three times gets its hook once per backward, after all three
    contributions; hooks see .grad summed over calls, and remove() unregisters."""
    from tinygrad_nb.function import queue_callback

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([0.5, 0.5]), requires_grad=True)
    seen, done = [], []

    def hook(t):
        seen.append((t is w, t.grad.numpy().copy()))
        queue_callback(lambda: done.append(len(seen)))

    handle = w.register_post_accumulate_grad_hook(hook)
    ((w * 3.0 + w * w + b) * w).sum().backward()  # d/dw = 6w + 3w^2 + b
    expected = 6 * w.numpy() + 3 * w.numpy() ** 2 + b.numpy()
    assert len(seen) == 1 and seen[0][0]
    np.testing.assert_allclose(seen[0][1], expected)
    assert done == [1]  # the callback ran at the end of the sweep
    (w * 1.0).sum().backward()
    np.testing.assert_allclose(seen[1][1], expected + 1)
    handle.remove()
    (w * 1.0).sum().backward()
    assert len(seen) == 2


def test_a_hooked_leaf_some_of_whose_paths_carry_no_gradient_still_gets_its_hook():
    from tinygrad_nb.function import Function

    class Blocked(Function):  # passes values on, gradients not
        def forward(ctx, x):
            return x * 1

        def backward(ctx, g):
            return None

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.numpy().copy()))
    ((w * 2.0).sum() + Blocked.apply(w).sum()).backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [2.0, 2.0])


def test_hooks_only_on_leaves_that_require_grad():
    from tinygrad_nb.function import queue_callback

    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (Tensor(np.ones(2), requires_grad=True) * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(2)).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="no backward"):
        queue_callback(print)


def test_gradcheck_runs_on_every_device(rng, device):
    """Finite differences on the device itself: the perturbed inputs go there, the outputs come back."""
    x = Tensor(rng.standard_normal((2, 2)), requires_grad=True, device=device)
    w = Tensor(rng.standard_normal((2, 2)), requires_grad=True, device=device)
    assert tg.gradcheck(lambda x, w: (x @ w).tanh().sum(1), [x, w])
    with pytest.raises(GradcheckError, match="input 0"):  # a gradient that misses a path fails there too
        tg.gradcheck(lambda x, w: (x.detach() @ w).tanh().sum(1) + x.sum(1), [x, w])
