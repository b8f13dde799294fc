"""The CPU kernels' reusable arrays (kernels/cpu/buffers.py): an output comes back from the
pool only when nothing outside the pool refers to it."""
import numpy as np
import pytest

from tinygrad_nb import Tensor, nn
from tinygrad_nb.kernels.cpu import buffers


def test_a_free_array_is_handed_out_again():
    a = buffers.empty((3, 5), np.float32)
    address = a.ctypes.data
    del a
    assert buffers.empty((3, 5), np.float32).ctypes.data == address


@pytest.mark.parametrize("keep", [
    lambda a: a,                   # the array itself
    lambda a: a[1:],               # a view of it
    lambda a: a.reshape(-1),       # a reshaped view
    lambda a: Tensor._from_array(a, "cpu"),  # a Tensor over it, as an op's output is
])
def test_an_array_something_refers_to_is_not_handed_out(keep):
    a = buffers.empty((4, 6), np.float64)
    held = keep(a)
    address = a.ctypes.data
    del a
    b = buffers.empty((4, 6), np.float64)
    assert b.ctypes.data != address
    assert held is not None


def test_shape_and_dtype_pick_the_pool():
    a = buffers.empty((2, 3), np.float32)
    address = a.ctypes.data
    del a
    assert buffers.empty((3, 2), np.float32).ctypes.data != address
    assert buffers.empty((2, 3), np.float64).ctypes.data != address


def test_the_pool_lets_go_past_its_byte_budget(monkeypatch):
    monkeypatch.setattr(buffers, "_BYTES", 1000)
    monkeypatch.setattr(buffers, "_held", 0)
    monkeypatch.setattr(buffers, "_pool", {})
    buffers.empty((100,), np.float32)  # 400 bytes
    buffers.empty((101,), np.float32)  # 404 bytes: 804 in all
    assert len(buffers._pool) == 2
    buffers.empty((102,), np.float32)  # 408 more would pass 1000: the pool starts again
    assert list(buffers._pool) == [((102,), np.dtype(np.float32))]
    assert buffers._held == 408


def test_cnn_training_steps_never_overwrite_what_a_caller_holds(rng):
    """Convolution, ReLU, both poolings and the products take their outputs from the pool:
    activations, logits and gradients of earlier steps must keep their values."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    held = []
    for _ in range(3):  # a new input each time, so a reused buffer would change held values
        model.zero_grad()
        x = Tensor(rng.standard_normal((2, 2, 8, 8)).astype(np.float32), requires_grad=True)
        hidden = model[:3](x)
        out = model[3:](hidden)
        out.sum().backward()
        arrays = [hidden, out, x.grad] + [p.grad for p in model.parameters()]
        held.append((arrays, [a.numpy().copy() for a in arrays]))
    for arrays, values in held:
        for a, v in zip(arrays, values):
            np.testing.assert_array_equal(a.numpy(), v)


def test_empty_cache_hands_back_what_the_cpu_kernels_keep():
    import tinygrad_nb as tg
    import tinygrad_nb.nn.functional as F

    x, w = Tensor(np.ones((4, 16, 20, 20), np.float32)), Tensor(np.ones((16, 16, 3, 3), np.float32))
    y = F.conv2d(x, w, padding=1)
    assert tg.cpu.memory_cached() >= 4 * 16 * 20 * 20 * 4  # the output, and the convolution's scratch
    tg.cpu.empty_cache()
    assert tg.cpu.memory_cached() == 0
    np.testing.assert_array_equal(y.numpy(), F.conv2d(x, w, padding=1).numpy())  # y is still its own


def test_scratch_is_bounded_in_bytes(monkeypatch):
    monkeypatch.setattr(buffers, "_WORKSPACE_BYTES", 1000)
    buffers.release()
    first = buffers.workspace("a", (100,), np.float32)
    assert buffers.workspace("a", (100,), np.float32) is first
    buffers.workspace("b", (200,), np.float32)  # 400 + 800 bytes: past the bound, the scratch starts again
    assert buffers.workspace("a", (100,), np.float32) is not first
