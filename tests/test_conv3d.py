"""3-D convolution, its transpose and 3-D pooling: forward against direct NumPy loops over
every output position, float64 gradient checks, the indices max_pool3d returns, the 'cuda'
device against the CPU, the modules and the errors."""
import itertools

import numpy as np
import pytest

import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.gradcheck import gradcheck

R = np.random.default_rng(0)


def conv3d_ref(x, w, b, stride, padding, dilation, groups):
    n, c = x.shape[:2]
    k_out, cg, *ks = w.shape
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    outs = [(xp.shape[2 + i] - dilation[i] * (ks[i] - 1) - 1) // stride[i] + 1 for i in range(3)]
    y = np.zeros((n, k_out, *outs))
    per = k_out // groups
    for o in itertools.product(*(range(m) for m in outs)):
        for k in range(k_out):
            g = k // per
            patch = xp[:, g * cg:(g + 1) * cg][
                (slice(None), slice(None)) + tuple(slice(o[i] * stride[i], o[i] * stride[i] + dilation[i] * (ks[i] - 1) + 1,
                                                         dilation[i]) for i in range(3))]
            y[(slice(None), k) + o] = (patch * w[k]).sum(axis=(1, 2, 3, 4))
    return y + (0 if b is None else b[None, :, None, None, None])


def conv_transpose3d_ref(x, w, b, stride, padding, output_padding):
    n, c_in = x.shape[:2]
    _, c_out, *ks = w.shape
    full = [(x.shape[2 + i] - 1) * stride[i] + ks[i] + output_padding[i] for i in range(3)]
    y = np.zeros((n, c_out, *full))
    for i in itertools.product(*(range(m) for m in x.shape[2:])):
        region = (slice(None), slice(None)) + tuple(slice(i[a] * stride[a], i[a] * stride[a] + ks[a]) for a in range(3))
        y[region] += np.einsum("nc,cokij->nokij", x[(slice(None), slice(None)) + i], w)
    crop = (slice(None), slice(None)) + tuple(slice(p, f - p) for p, f in zip(padding, full))
    return y[crop] + b[None, :, None, None, None]


def pool3d_ref(x, kernel, stride, padding, reduce):
    outs = [(x.shape[2 + i] + 2 * padding[i] - kernel[i]) // stride[i] + 1 for i in range(3)]
    fill = -np.inf if reduce == "max" else 0.0
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding], constant_values=fill)
    y = np.zeros(x.shape[:2] + tuple(outs))
    for o in itertools.product(*(range(m) for m in outs)):
        patch = xp[(slice(None), slice(None)) + tuple(slice(o[i] * stride[i], o[i] * stride[i] + kernel[i])
                                                      for i in range(3))]
        flat = patch.reshape(patch.shape[:2] + (-1,))
        y[(slice(None), slice(None)) + o] = flat.max(-1) if reduce == "max" else flat.sum(-1) / np.prod(kernel)
    return y


@pytest.mark.parametrize("kw", [dict(), dict(stride=(2, 1, 2), padding=(1, 0, 1)), dict(dilation=(2, 1, 1), padding=1),
                                dict(groups=2, stride=2, padding=1)], ids=str)
def test_conv3d_matches_a_direct_loop(kw):
    groups = kw.get("groups", 1)
    x, w, b = R.standard_normal((2, 4, 5, 5, 6)), R.standard_normal((4, 4 // groups, 3, 2, 3)), R.standard_normal(4)
    full = dict(stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1), groups=1)
    full.update({k: (v if isinstance(v, tuple) or k == "groups" else (v,) * 3) for k, v in kw.items()})
    np.testing.assert_allclose(F.conv3d(Tensor(x), Tensor(w), Tensor(b), **kw).numpy(),
                               conv3d_ref(x, w, b, full["stride"], full["padding"], full["dilation"], full["groups"]),
                               rtol=1e-10, atol=1e-12)


def test_conv3d_same_padding_and_gradients():
    x, w = Tensor(R.standard_normal((1, 2, 4, 3, 4)), requires_grad=True), Tensor(R.standard_normal((2, 2, 2, 3, 2)),
                                                                                  requires_grad=True)
    y = F.conv3d(x, w, padding="same")
    assert y.shape == (1, 2, 4, 3, 4)
    np.testing.assert_allclose(y.numpy(), conv3d_ref(np.pad(x.numpy(), [(0, 0), (0, 0), (0, 1), (1, 1), (0, 1)]),
                                                     w.numpy(), None, (1,) * 3, (0,) * 3, (1,) * 3, 1), rtol=1e-10)
    b = Tensor(R.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda a, c, d: F.conv3d(a, c, d, stride=(2, 1, 1), padding=1), [x, w, b])


def test_conv_transpose3d_matches_a_direct_loop_and_has_gradients():
    x, w, b = R.standard_normal((2, 3, 3, 2, 3)), R.standard_normal((3, 2, 2, 3, 2)), R.standard_normal(2)
    got = F.conv_transpose3d(Tensor(x), Tensor(w), Tensor(b), stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0))
    np.testing.assert_allclose(got.numpy(), conv_transpose3d_ref(x, w, b, (2, 1, 2), (1, 0, 1), (1, 0, 0)), rtol=1e-10,
                               atol=1e-12)
    assert gradcheck(lambda a, c: F.conv_transpose3d(a, c, stride=2, padding=1),
                     [Tensor(x[:1, :, :2], requires_grad=True), Tensor(w, requires_grad=True)])


def test_max_and_avg_pool3d():
    x = R.permutation(np.arange(2 * 2 * 5 * 6 * 7, dtype=np.float64)).reshape(2, 2, 5, 6, 7)
    y, idx = F.max_pool3d(Tensor(x), 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), pool3d_ref(x, (3,) * 3, (2,) * 3, (1,) * 3, "max"))
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 2, -1), idx.numpy().reshape(2, 2, -1), -1),
                                  y.numpy().reshape(2, 2, -1))
    np.testing.assert_allclose(F.avg_pool3d(Tensor(x), (2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0)).numpy(),
                               pool3d_ref(x, (2, 3, 2), (1, 2, 2), (1, 1, 0), "avg"), rtol=1e-12)
    t = Tensor(x[:1, :1, :3, :4, :4] / 100, requires_grad=True)
    assert gradcheck(lambda a: F.max_pool3d(a, 2, stride=1), [t])
    assert gradcheck(lambda a: F.avg_pool3d(a, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [t])
    np.testing.assert_allclose(nn.AdaptiveAvgPool3d(1)(Tensor(x)).numpy().reshape(2, 2), x.mean(axis=(2, 3, 4)), rtol=1e-12)
    assert gradcheck(lambda a: F.adaptive_avg_pool3d(a, (2, 4, None)), [t])


def test_a_c3d_block_trains():
    """The video classifier's building block (two 3x3x3 convolutions and 3-D pooling) learns."""
    block = nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
                          nn.Conv3d(4, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                          nn.Linear(4, 2))
    y = np.arange(8) % 2
    clips = R.standard_normal((8, 1, 4, 8, 8)) + np.where(y == 1, 1.0, -1.0)[:, None, None, None, None] * np.linspace(-1, 1, 4)[:, None, None]
    x, labels = Tensor(clips.astype(np.float32)), Tensor(y)  # class 1 brightens over time, class 0 darkens
    from tinygrad_nb import optim

    opt = optim.Adam(block.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.cross_entropy(block(x), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_modules_and_unbatched_inputs():
    conv = nn.Conv3d(2, 3, (1, 3, 3), padding=(0, 1, 1), padding_mode="replicate")
    assert conv.weight.shape == (3, 2, 1, 3, 3) and conv(Tensor(np.ones((2, 4, 5, 5), np.float32))).shape == (3, 4, 5, 5)
    up = nn.ConvTranspose3d(3, 2, 2, stride=2)
    assert up.weight.shape == (3, 2, 2, 2, 2) and up(Tensor(np.ones((1, 3, 2, 3, 4), np.float32))).shape == (1, 2, 4, 6, 8)
    assert up(Tensor(np.ones((1, 3, 2, 3, 4), np.float32)), output_size=(5, 7, 9)).shape == (1, 2, 5, 7, 9)
    assert nn.MaxPool3d(2)(Tensor(np.ones((3, 4, 4, 4), np.float32))).shape == (3, 2, 2, 2)
    assert nn.AvgPool3d(2)(Tensor(np.ones((1, 3, 4, 4, 4), np.float32))).shape == (1, 3, 2, 2, 2)


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv3d(Tensor(np.ones((2, 3, 3))), Tensor(np.ones((1, 2, 1, 1, 1)))), RuntimeError, "4-D .* or 5-D"),
    (lambda: F.conv3d(Tensor(np.ones((1, 2, 2, 3, 3))), Tensor(np.ones((1, 2, 3, 1, 1)))), RuntimeError,
     "kernel depth 3"),
    (lambda: F.conv3d(Tensor(np.ones((1, 2, 3, 3, 3))), Tensor(np.ones((1, 2, 1, 1, 1))), stride=2, padding="same"),
     ValueError, "padding='same' is not supported for strided"),
    (lambda: F.conv3d(Tensor(np.ones((1, 2, 3, 3, 3))), Tensor(np.ones((1, 2, 1, 1, 1))), stride=(1, 1)), ValueError,
     "stride must be an int or 3 of ints"),
    (lambda: F.max_pool3d(Tensor(np.ones((1, 2, 3, 3))), 2, padding=2), RuntimeError, "at most half"),
    (lambda: F.avg_pool3d(Tensor(np.ones((1, 1, 1, 3, 3))), 2), RuntimeError, "too small"),
    (lambda: F.adaptive_avg_pool3d(Tensor(np.ones((1, 1, 3, 3, 3))), (1, 2)), ValueError, "3 ints"),
])
def test_errors_name_the_op(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")
def test_cuda_3d_ops_match_the_cpu():
    x, w = R.standard_normal((1, 2, 3, 4, 4)), R.standard_normal((2, 2, 2, 3, 3))
    results = []
    for device in ("cpu", "cuda"):
        t, k = Tensor(x, requires_grad=True, device=device), Tensor(w, requires_grad=True, device=device)
        y = F.max_pool3d(F.conv3d(t, k, padding=(1, 1, 1), stride=(1, 2, 1)), 2, stride=1)
        z = F.conv_transpose3d(F.avg_pool3d(y, (1, 1, 2)), k, stride=2)
        z.sum().backward()
        results.append((z.numpy(), t.grad.numpy(), k.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
