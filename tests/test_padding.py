"""F.pad (PyTorch's last-axis-first widths; constant, reflect, replicate and circular modes),
the padding layers and the convolutions' padding_mode: forward against NumPy's np.pad (whose
'reflect', 'edge' and 'wrap' are the same rules), float64 gradient checks, the 'cuda' device
against the CPU, and the errors."""
import numpy as np
import pytest

import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(0)
NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap", "constant": "constant"}
WIDTHS = [(1, 2), (2, 1, 3, 0), (0, 2, 1, 1, 1, 0)]


def numpy_pad(x, pad, mode, value=0.0):
    pairs = [(0, 0)] * (x.ndim - len(pad) // 2) + [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)][::-1]
    extra = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, pairs, mode=NUMPY_MODE[mode], **extra)


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize("pad", WIDTHS, ids=str)
def test_pad_matches_numpy(mode, pad):
    x = R.standard_normal((2, 3, 4, 5))
    value = {"value": 1.5} if mode == "constant" else {}
    np.testing.assert_array_equal(F.pad(Tensor(x), pad, mode=mode, **value).numpy(), numpy_pad(x, pad, mode, 1.5))


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
def test_pad_gradients(mode):
    x = Tensor(R.standard_normal((1, 2, 3, 4)), requires_grad=True)
    assert gradcheck(lambda t: F.pad(t, (2, 1, 1, 2), mode=mode), [x])
    assert gradgradcheck(lambda t: F.pad(t * t, (1, 3), mode=mode), [x])


def test_constant_pad_crops_with_negative_widths():
    x = R.standard_normal((2, 5))
    np.testing.assert_array_equal(F.pad(Tensor(x), (-1, 2)).numpy(), np.pad(x[:, 1:], ((0, 0), (0, 2))))


def test_padding_layers():
    x = Tensor(R.standard_normal((1, 2, 3, 3)))
    np.testing.assert_array_equal(nn.ReflectionPad2d(1)(x).numpy(), numpy_pad(x.numpy(), (1, 1, 1, 1), "reflect"))
    np.testing.assert_array_equal(nn.ReplicationPad1d((2, 0))(x[0]).numpy(), numpy_pad(x.numpy()[0], (2, 0), "replicate"))
    np.testing.assert_array_equal(nn.CircularPad2d((1, 0, 0, 2))(x).numpy(), numpy_pad(x.numpy(), (1, 0, 0, 2), "circular"))
    np.testing.assert_array_equal(nn.ZeroPad2d((1, 0, 2, 0))(x).numpy(), numpy_pad(x.numpy(), (1, 0, 2, 0), "constant"))
    np.testing.assert_array_equal(nn.ConstantPad1d(1, 3.0)(x).numpy(), numpy_pad(x.numpy(), (1, 1), "constant", 3.0))
    assert repr(nn.ReflectionPad2d(1)) == "ReflectionPad2d((1, 1, 1, 1))"
    with pytest.raises(ValueError, match="ReflectionPad2d: padding must be an int or 4 ints"):
        nn.ReflectionPad2d((1, 2))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_convolutions_pad_with_their_padding_mode(mode):
    conv = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode).double()
    x = Tensor(R.standard_normal((1, 2, 4, 5)), requires_grad=True)
    expected = F.conv2d(F.pad(x, (2, 2, 1, 1), mode=mode), conv.weight, conv.bias)
    np.testing.assert_allclose(conv(x).numpy(), expected.numpy(), rtol=1e-12)
    same = nn.Conv1d(2, 2, 4, padding="same", padding_mode=mode).double()
    x1 = Tensor(R.standard_normal((1, 2, 6)))
    np.testing.assert_allclose(same(x1).numpy(), F.conv1d(F.pad(x1, (1, 2), mode=mode), same.weight, same.bias).numpy(),
                               rtol=1e-12)
    assert f"padding_mode={mode}" in repr(conv)
    assert gradcheck(lambda t: conv(t), [x])


@pytest.mark.parametrize("call, message", [
    (lambda x: F.pad(x, (1,)), "even number of ints"),
    (lambda x: F.pad(x, (1, 1), mode="mirror"), "unknown mode 'mirror'"),
    (lambda x: F.pad(x, (3, 0), mode="reflect"), "must be less than the size 3"),
    (lambda x: F.pad(x, (4, 0), mode="circular"), "at most the size 3"),
    (lambda x: F.pad(x, (-1, 0), mode="replicate"), "negative widths are only allowed in constant mode"),
    (lambda x: F.pad(x, (1, 1), mode="reflect", value=2.0), "only used in constant mode"),
    (lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect"), "keeps at least one in front"),
    (lambda x: nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect"), "only padding_mode='zeros'"),
    (lambda x: nn.Conv2d(1, 1, 3, padding_mode="mirror"), "padding_mode must be one of"),
])
def test_errors_name_the_op_and_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call(Tensor(np.zeros((2, 3), np.float32)))


@pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")
@pytest.mark.parametrize("mode", ["reflect", "circular"])
def test_cuda_pad_matches_the_cpu(mode):
    x, g = R.standard_normal((1, 2, 3, 4)), R.standard_normal((1, 2, 6, 7))
    results = []
    for device in ("cpu", "cuda"):
        t = Tensor(x, requires_grad=True, device=device)
        y = F.pad(t, (2, 1, 1, 2), mode=mode)
        (y * Tensor(g, device=device)).sum().backward()
        results.append((y.numpy(), t.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
