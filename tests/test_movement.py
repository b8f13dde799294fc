"""Movement ops, indexing, cat/stack/pad on every device: forward against NumPy, float64
gradient checks (on the GPU against the CPU's gradients, see conftest.check_gradients)."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor

from conftest import check_gradients, t64

CASES = {
    "reshape": (lambda x: x.reshape(4, -1), lambda a: a.reshape(4, -1)),
    "view": (lambda x: x.view((2, 12)), lambda a: a.reshape(2, 12)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "transpose": (lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    "T": (lambda x: x.T, lambda a: a.T),
    "flatten": (lambda x: x.flatten(1), lambda a: a.reshape(2, -1)),
    "unsqueeze": (lambda x: x.unsqueeze(-1), lambda a: a[..., None]),
    "squeeze": (lambda x: x.unsqueeze(1).squeeze(1), lambda a: a),
    "expand": (lambda x: x[:, :1, :].expand(2, 3, -1), lambda a: np.broadcast_to(a[:, :1, :], (2, 3, 4))),
    "expand_lead": (lambda x: x.expand(5, 2, 3, 4), lambda a: np.broadcast_to(a, (5, 2, 3, 4))),
    "pad": (lambda x: x.pad(((1, 0), (0, 2))), lambda a: np.pad(a, ((0, 0), (1, 0), (0, 2)))),
    "pad_crop": (lambda x: x.pad(((0, 0), (-1, 1), (2, -2))), lambda a: np.pad(a, ((0, 0), (0, 1), (2, 0)))[:, 1:, :4]),
    "slice": (lambda x: x[1:, ::2, -1], lambda a: a[1:, ::2, -1]),
    "int_index": (lambda x: x[0], lambda a: a[0]),
    "ellipsis_none": (lambda x: x[..., None, 1], lambda a: a[..., None, 1]),
    "int_array": (lambda x: x[[0, 1, 0]], lambda a: a[[0, 1, 0]]),
    "repeated_pairs": (lambda x: x[[1, 1, 0], [2, 2, 0]], lambda a: a[[1, 1, 0], [2, 2, 0]]),
    "tensor_index": (lambda x: x[:, Tensor(np.array([2, 0, 2]))], lambda a: a[:, [2, 0, 2]]),
    "bool_mask": (lambda x: x[Tensor(np.arange(24).reshape(2, 3, 4) % 3 == 0)], lambda a: a[np.arange(24).reshape(2, 3, 4) % 3 == 0]),
}


@pytest.mark.parametrize("name", CASES)
def test_movement(rng, device, name):
    op, ref = CASES[name]
    a = rng.standard_normal((2, 3, 4))
    out = op(Tensor(a, device=device))
    assert out.device == device
    np.testing.assert_array_equal(out.numpy(), ref(a))
    check_gradients(op, [a], device)


def test_repeated_indices_accumulate():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 0, 1])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cat_and_stack(rng, device, axis):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    x, y = Tensor(a, device=device), Tensor(b, device=device)
    np.testing.assert_array_equal(tg.cat([x, y], axis=axis).numpy(), np.concatenate([a, b], axis=axis))
    np.testing.assert_array_equal(Tensor.stack([x, y], dim=axis).numpy(), np.stack([a, b], axis=axis))
    check_gradients(lambda x, y: tg.cat([x, y, x], axis=axis), [a, b], device)
    check_gradients(lambda x, y: tg.stack([x, y], axis=axis), [a, b], device)


def test_cat_of_different_sizes(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
    assert tg.gradcheck(lambda x, y: tg.cat([x, y], axis=1), [t64(a), t64(b)])


def test_setitem_outside_a_graph():
    x = tg.zeros(3)
    x[1] = 5.0
    np.testing.assert_array_equal(x.numpy(), [0, 5, 0])


def test_indexing_with_an_integer_tensor_on_the_device(rng, device):
    """x[ids] with an integer tensor on x's device reads the ids there (on the GPU, no copy to
    the host), negative ids counting from the end; the gradient adds up repeated rows."""
    a = rng.standard_normal((5, 2, 3))
    ids = np.array([[4, -1], [0, 4]])
    out = Tensor(a, device=device)[Tensor(ids, device=device)] * 2
    assert out.device == device
    np.testing.assert_array_equal(out.numpy(), a[ids] * 2)
    check_gradients(lambda x: x[Tensor(ids, device=x.device)] * 2, [a], device)
    # An id out of range: the CPU says so; a GPU kernel cannot raise, and reads NaN rows instead.
    outside = Tensor(np.array([5]), device=device)
    if device == "cpu":
        with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 5"):
            Tensor(a)[outside]
    else:
        assert np.isnan(Tensor(a, device=device)[outside].numpy()).all()
