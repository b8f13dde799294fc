"""float16 (half): dtype names, casts, NumPy's elementwise ops and reductions, modules cast in
place, save/load; and the ops that run Numba kernels refusing float16 with a clear error."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor, nn, optim
from tinygrad_nb.nn import functional as F

KERNEL_ERROR = "float16 is not supported by this op's cpu kernel .* use float32"


def test_dtype_names_and_casts():
    assert tg.float16 is np.float16 and tg.half is tg.float16
    x = tg.tensor([1.5, -2.25, 3.0])
    h = x.half()
    assert h.dtype == np.float16 and h.numpy().tolist() == [1.5, -2.25, 3.0]
    assert h.float().dtype == np.float32 and h.double().dtype == np.float64
    assert x.to(tg.float16).dtype == np.float16 and x.to("float16").dtype == np.float16
    assert tg.tensor([1.0], dtype=tg.half).dtype == np.float16
    assert Tensor(np.ones(2, np.float16)).dtype == np.float16  # a NumPy array keeps its dtype
    assert tg.from_numpy(np.ones(2, np.float16)).dtype == np.float16
    assert h.type() == "tinygrad_nb.HalfTensor" and x.type("torch.HalfTensor").dtype == np.float16
    with np.errstate(over="ignore"):
        assert tg.tensor([70000.0]).half().numpy()[0] == np.inf  # float16's range, as NumPy's cast
    with pytest.raises(TypeError, match="NumPy has no bfloat16 dtype"):
        x.bfloat16()


def test_elementwise_ops_and_reductions_compute_in_float16():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)).astype(np.float16), rng.uniform(0.5, 2, size=(3, 4)).astype(np.float16)
    x, y = Tensor(a), Tensor(b)
    cases = [
        (x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b), (x * 2.0, a * np.float16(2)),
        (y ** 2, b ** 2), (x.exp(), np.exp(a)), (y.log(), np.log(b)), (x.tanh(), np.tanh(a)), (x.abs(), np.abs(a)),
        (x.max(), a.max()), (x.maximum(y), np.maximum(a, b)), (x.reshape(4, 3).T, a.reshape(4, 3).T),
    ]
    for out, expected in cases:
        assert out.dtype == np.float16
        np.testing.assert_array_equal(out.numpy(), expected)
    softmax = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    for out, expected in [(x.sum(), a.sum()), (x.sum(1), a.sum(1)), (x.mean(0), a.mean(0)), (x.softmax(1), softmax)]:
        assert out.dtype == np.float16  # summed in another order than NumPy's: equal to float16's precision
        np.testing.assert_allclose(out.numpy(), expected, rtol=2e-3, atol=2e-3)
    assert x.argmax().item() == int(a.argmax())


def test_gradients_through_float16_and_through_the_cast():
    x = Tensor(np.array([1.0, 2.0, 3.0], np.float16), requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == np.float16 and x.grad.numpy().tolist() == [2.0, 4.0, 6.0]
    w = tg.tensor([0.5, 1.5], requires_grad=True)
    (w.half() * 3.0).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.numpy().tolist() == [3.0, 3.0]


def _half(*shape):
    return Tensor(np.ones(shape, np.float16))


@pytest.mark.parametrize("op,run", [
    ("matmul", lambda: _half(2, 3) @ _half(3, 4)),
    ("conv2d", lambda: F.conv2d(_half(1, 1, 4, 4), _half(1, 1, 2, 2))),
    ("max_pool2d", lambda: F.max_pool2d(_half(1, 1, 4, 4), 2)),
    ("activation", lambda: _half(3).relu()),
    ("lstm_forward", lambda: nn.LSTM(2, 3).half()(_half(4, 1, 2))),
], ids=lambda v: v if isinstance(v, str) else "")
def test_ops_with_numba_kernels_refuse_float16_clearly(op, run):
    with pytest.raises(TypeError, match=f"^{op}: {KERNEL_ERROR}"):
        run()


def test_an_optimiser_over_float16_parameters_says_to_use_float32():
    p = nn.Parameter(_half(3))
    p.grad = _half(3)
    with pytest.raises(TypeError, match=f"sgd_step: {KERNEL_ERROR}"):
        optim.SGD([p], lr=0.1).step()


def test_module_casts_floating_parameters_and_buffers_in_place():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    weight = model[0].weight
    opt = optim.SGD(model.parameters(), lr=0.1)
    weight.grad = tg.ones(3, 2)
    assert model.half() is model
    assert model[0].weight is weight and opt.param_groups[0]["params"][0] is weight  # the same Parameter
    dtypes = {name: t.dtype for name, t in model.state_dict().items()}
    assert dtypes.pop("1.num_batches_tracked") == np.int64  # integer buffers keep their dtype
    assert set(dtypes.values()) == {np.dtype(np.float16)} and weight.grad.dtype == np.float16
    assert model.double() is model and weight.dtype == np.float64 and model[1].running_var.dtype == np.float64
    model.float()
    assert weight.dtype == np.float32 and model[1].num_batches_tracked.dtype == np.int64
    model.to(tg.half)
    assert weight.dtype == np.float16
    with pytest.raises(TypeError, match="Sequential.bfloat16: NumPy has no bfloat16 dtype"):
        model.bfloat16()


def test_float16_save_and_load_round_trip(tmp_path):
    model = nn.Linear(3, 2).half()
    values = {name: t.numpy() for name, t in model.state_dict().items()}
    tg.save({"model": model.state_dict(), "x": tg.tensor([0.1, 65504.0]).half(), "raw": np.ones(2, np.float16)},
            tmp_path / "half.npz")
    loaded = tg.load(tmp_path / "half.npz")
    assert loaded["x"].dtype == np.float16 and loaded["x"].numpy().tolist() == [np.float16(0.1), 65504.0]
    assert loaded["raw"].dtype == np.float16
    for name, t in loaded["model"].items():
        assert t.dtype == np.float16
        np.testing.assert_array_equal(t.numpy(), values[name])
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(loaded["model"])  # into float32 parameters: cast to theirs
    assert fresh.weight.dtype == np.float32
    np.testing.assert_array_equal(fresh.weight.numpy(), values["weight"].astype(np.float32))
