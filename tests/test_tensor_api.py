"""PyTorch's everyday Tensor methods built from the movement ops: split chunk unbind clone
contiguous t reshape_as index_select gather masked_fill repeat norm mm bmm, against NumPy,
with float64 gradient checks and their errors."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor
from tinygrad_nb import cuda as tg_cuda

from conftest import t64

GATHER_INDEX = np.array([[0, 3, 3], [2, 1, 0]])
# name -> (op on a Tensor of shape (2, 4), NumPy reference on the array)
METHODS = {
    "split": (lambda x: Tensor.cat(x.split([1, 3], 1)[::-1], 1), lambda a: np.concatenate([a[:, 1:], a[:, :1]], 1)),
    "chunk": (lambda x: x.chunk(3, 1)[1] * 2, lambda a: a[:, 2:4] * 2),
    "unbind": (lambda x: x.unbind(0)[1], lambda a: a[1]),
    "clone": (lambda x: x.clone() * x, lambda a: a * a),
    "t": (lambda x: x.t(), lambda a: a.T),
    "contiguous": (lambda x: x.T.contiguous(), lambda a: a.T),
    "index_select": (lambda x: x.index_select(1, Tensor(np.array([3, 0, 3]))), lambda a: a[:, [3, 0, 3]]),
    "gather": (lambda x: x.gather(1, GATHER_INDEX), lambda a: np.take_along_axis(a, GATHER_INDEX, 1)),
    "masked_fill": (lambda x: x.masked_fill(Tensor(np.array([True, False, False, True])), 0.5),
                    lambda a: np.where([True, False, False, True], 0.5, a)),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3))),
    "norm": (lambda x: x.norm(), lambda a: np.linalg.norm(a)),
    "norm1": (lambda x: x.norm(1, dim=1), lambda a: np.abs(a).sum(1)),
    "norm3": (lambda x: x.norm(3, dim=0, keepdim=True), lambda a: (np.abs(a) ** 3).sum(0, keepdims=True) ** (1 / 3)),
    "norm_inf": (lambda x: x.norm(float("inf"), dim=1), lambda a: np.abs(a).max(1)),
    "mm": (lambda x: x.mm(x.t()), lambda a: a @ a.T),
    "bmm": (lambda x: x.reshape(2, 2, 2).bmm(x.reshape(2, 2, 2)), lambda a: a.reshape(2, 2, 2) @ a.reshape(2, 2, 2)),
    "reshape_as": (lambda x: x.reshape_as(Tensor(np.zeros((4, 2)))), lambda a: a.reshape(4, 2)),
}


@pytest.mark.parametrize("name", METHODS)
def test_forward_and_gradient(rng, name):
    op, ref = METHODS[name]
    a = rng.standard_normal((2, 4))
    np.testing.assert_allclose(op(Tensor(a)).numpy(), ref(a), rtol=1e-12)
    assert tg.gradcheck(op, [t64(a)])


@pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")
def test_the_same_on_the_device(rng):
    from conftest import assert_like_cpu

    a = rng.standard_normal((2, 4))
    assert_like_cpu(lambda x: METHODS["gather"][0](x) + METHODS["split"][0](x)[:, :3] + x.repeat(1, 2)[:, 1:4]
                    + x.masked_fill(x > 0, 0.0)[:, :3] + x.norm(), a)


def test_gather_scatters_repeated_picks_back():
    x = Tensor(np.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    x.gather(1, np.array([[0, 0, 2]])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[2.0, 0.0, 1.0]])


def test_clone_and_contiguous_own_their_buffers():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    c = x.clone()
    c.add_(1.0)
    assert x.numpy()[0, 0] == 0.0 and c.numpy()[0, 0] == 1.0
    assert x.contiguous() is x and x.T.contiguous() is not x


def test_errors_name_the_method():
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(RuntimeError, match="t: expects a tensor of at most 2 axes"):
        x.t()
    with pytest.raises(ValueError, match=r"split: sections \[1, 1\] do not add up to axis 1"):
        x.split([1, 1], 1)
    with pytest.raises(ValueError, match="chunk: chunks must be positive"):
        x.chunk(0)
    with pytest.raises(IndexError, match=r"gather: index must have the 3 axes of self \(shape \(2, 3, 4\)\), got shape \(2, 3\)"):
        x.gather(1, np.zeros((2, 3), np.int64))
    with pytest.raises(IndexError, match="index_select: index must be a 1-D integer tensor"):
        x.index_select(0, np.zeros((1, 1), np.int64))
    with pytest.raises(RuntimeError, match="repeat: 2 repeats for a tensor of 3 axes"):
        x.repeat(2, 2)
    with pytest.raises(ValueError, match="norm: p must be"):
        x.norm(-1)
    with pytest.raises(RuntimeError, match="mm: expects two matrices"):
        x.mm(x)
    with pytest.raises(RuntimeError, match="bmm: expects two batches"):
        x.bmm(Tensor(np.zeros((3, 4, 2))))
