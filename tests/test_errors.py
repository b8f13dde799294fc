"""Bad input gets an error naming the op, the shapes and what was expected."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor


def test_broadcast_mismatch():
    with pytest.raises(RuntimeError, match=r"Add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        tg.zeros(2, 3) + tg.zeros(4)


def test_matmul_mismatch():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        tg.zeros(2, 3) @ tg.zeros(4, 5)
    with pytest.raises(RuntimeError, match="at least 1 dimension"):
        tg.tensor(1.0) @ tg.zeros(1)
    with pytest.raises(RuntimeError, match="batch dimensions"):
        tg.zeros(2, 2, 3) @ tg.zeros(3, 3, 4)


def test_bad_axis():
    with pytest.raises(IndexError, match=r"sum: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        tg.zeros(2, 3).sum(2)
    with pytest.raises(IndexError, match="permute"):
        tg.zeros(2, 3).permute(0, 5)


def test_bad_reshape():
    with pytest.raises(RuntimeError, match=r"reshape: shape \(4, 2\) is invalid for input of shape \(2, 3\)"):
        tg.zeros(2, 3).reshape(4, 2)


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only floating tensors can require gradients, got dtype int64"):
        Tensor(np.arange(3), requires_grad=True)


def test_backward_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.ones(1).backward()


def test_mixed_devices_are_an_error():
    from tinygrad_nb.device import CPU, register_device

    class Other(CPU):
        def __init__(self):
            super().__init__()
            self.name = "other"

    register_device(Other())
    a = Tensor([1.0])
    b = Tensor([1.0], device="other")
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on one device, got \(1,\) on cpu, \(1,\) on other"):
        a + b


def test_unknown_device():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Tensor([1.0], device="tpu")


def test_bad_index():
    with pytest.raises(IndexError, match=r"__getitem__: .* shape \(2, 3\)"):
        tg.zeros(2, 3)[5]
    with pytest.raises(IndexError, match="integer or bool"):
        tg.zeros(3)[Tensor([0.5])]


def test_cat_and_stack_shapes():
    with pytest.raises(RuntimeError, match="cat: shapes"):
        tg.cat([tg.zeros(2, 3), tg.zeros(3, 3)], axis=1)
    with pytest.raises(RuntimeError, match="stack: expects tensors of equal shape"):
        tg.stack([tg.zeros(2), tg.zeros(3)])


def test_expand_error():
    with pytest.raises(RuntimeError, match="expand: cannot expand shape"):
        tg.zeros(2, 3).expand(4, 3)
