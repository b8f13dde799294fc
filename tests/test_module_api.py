"""PyTorch's everyday module API: GroupNorm, InstanceNorm2d, Dropout2d, Unflatten, the
containers ModuleDict / ParameterList / ParameterDict, forward hooks, requires_grad_,
buffers, add_module / register_parameter, against NumPy references and with float64
gradient checks."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn

from conftest import t64


def _np_group_norm(a, groups, eps=1e-5):
    n = a.shape[0]
    g = a.reshape(n, groups, -1)
    return ((g - g.mean(2, keepdims=True)) / np.sqrt(g.var(2, keepdims=True) + eps)).reshape(a.shape)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_norm(rng, groups):
    a, w, b = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal(4), rng.standard_normal(4)
    want = _np_group_norm(a, groups) * w.reshape(1, 4, 1, 1) + b.reshape(1, 4, 1, 1)
    np.testing.assert_allclose(F.group_norm(Tensor(a), groups, Tensor(w), Tensor(b)).numpy(), want, rtol=1e-9, atol=1e-12)
    assert tg.gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), [t64(a), t64(w), t64(b)])
    layer = nn.GroupNorm(groups, 4)
    np.testing.assert_allclose(layer(Tensor(a.astype(np.float32))).numpy(), _np_group_norm(a, groups), rtol=1e-4, atol=1e-5)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    with pytest.raises(ValueError, match="must be divisible by num_groups"):
        nn.GroupNorm(3, 4)


def test_instance_norm(rng):
    a = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(nn.InstanceNorm2d(3)(Tensor(a)).numpy(), _np_group_norm(a, 3), rtol=1e-9, atol=1e-12)
    assert list(nn.InstanceNorm2d(3).parameters()) == [] and len(list(nn.InstanceNorm2d(3, affine=True).parameters())) == 2
    assert tg.gradcheck(lambda x: F.instance_norm(x), [t64(a)])
    with pytest.raises(ValueError, match="track_running_stats=True is not supported"):
        nn.InstanceNorm2d(3, track_running_stats=True)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        nn.InstanceNorm2d(3)(Tensor(a[:, :2]))


def test_dropout2d_drops_whole_channels():
    tg.manual_seed(0)
    layer = nn.Dropout2d(0.5)
    y = layer(Tensor(np.ones((8, 6, 3, 3), np.float32))).numpy()
    per_plane = y.reshape(8, 6, 9)
    assert np.all((per_plane == 0).all(2) | (per_plane == 2).all(2))  # each plane dropped or scaled by 2 as a whole
    assert 0 < (per_plane == 0).all(2).sum() < 48
    layer.eval()
    x = Tensor(np.ones((2, 3, 2, 2), np.float32))
    assert layer(x) is x
    with pytest.raises(ValueError, match=r"dropout2d: expected an input of shape \(N, C, H, W\)"):
        F.dropout2d(Tensor(np.ones((2, 3))))


def test_unflatten_undoes_flatten(rng):
    x = Tensor(rng.standard_normal((4, 2, 3, 5)))
    y = nn.Unflatten(1, (2, 3, 5))(nn.Flatten()(x))
    assert y.shape == (4, 2, 3, 5) and np.array_equal(y.numpy(), x.numpy())
    assert nn.Unflatten(-1, (3, 2))(Tensor(np.zeros((2, 6)))).shape == (2, 3, 2)


def test_containers_register_their_contents():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3)})
    d["act"] = nn.ReLU()
    assert list(d) == ["enc", "act"] and "act" in d and len(d) == 2 and isinstance(d["enc"], nn.Linear)
    assert list(d.state_dict()) == ["enc.weight", "enc.bias"]
    p = nn.ParameterList([tg.ones(2), nn.Parameter(tg.zeros(3))])
    p.append(tg.ones(1))
    assert len(p) == 3 and p[-1].shape == (1,) and [n for n, _ in p.named_parameters()] == ["0", "1", "2"]
    assert all(isinstance(t, nn.Parameter) for t in p)
    q = nn.ParameterDict({"scale": tg.ones(1)})
    q["shift"] = tg.zeros(1)
    assert q.keys() == ["scale", "shift"] and "shift" in q and [n for n, _ in q.named_parameters()] == ["scale", "shift"]


def test_forward_hooks_requires_grad_and_registration(rng):
    layer = nn.Linear(3, 2)
    seen = []
    handle = layer.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape)) or out * 2)
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    plain = x @ layer.weight.T + layer.bias
    np.testing.assert_allclose(layer(x).numpy(), 2 * plain.numpy(), rtol=1e-6)
    assert seen == [(layer, (4, 3))]
    handle.remove()
    np.testing.assert_allclose(layer(x).numpy(), plain.numpy(), rtol=1e-6)
    assert layer.requires_grad_(False) is layer and not any(p.requires_grad for p in layer.parameters())
    bn = nn.BatchNorm1d(3)
    assert [b.shape for b in bn.buffers()] == [(3,), (3,), ()]
    m = nn.Module()
    m.add_module("fc", nn.Linear(1, 1))
    m.register_parameter("scale", nn.Parameter(tg.ones(1)))
    assert sorted(n for n, _ in m.named_parameters()) == ["fc.bias", "fc.weight", "scale"]
    with pytest.raises(TypeError, match="register_parameter: 'w' must be a Parameter"):
        m.register_parameter("w", tg.ones(1))
    with pytest.raises(TypeError, match="add_module: 'x' must be a Module"):
        m.add_module("x", 3)
    with pytest.raises(TypeError, match="NumPy has no bfloat16"):
        m.bfloat16()


def test_state_dict_lists_each_modules_parameters_then_its_buffers():
    """PyTorch's order, which code that pairs weights by position relies on."""
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                        "1.num_batches_tracked", "2.weight", "2.bias"]


def test_full_backward_hook_sees_grad_input_and_grad_output_and_may_replace_them():
    lin = nn.Linear(3, 2)
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append((module, [g.numpy().copy() for g in grad_input], [g.numpy().copy() for g in grad_output]))
        return (grad_input[0] * 0 + 1,)

    handle = lin.register_full_backward_hook(hook)
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = lin(x)
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    (y * tg.Tensor(w)).sum().backward()
    module, grad_input, grad_output = seen[0]
    assert module is lin
    np.testing.assert_allclose(grad_output[0], w)
    np.testing.assert_allclose(grad_input[0], w @ lin.weight.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), np.ones((2, 3)))  # replaced by the hook
    np.testing.assert_allclose(lin.weight.grad.numpy(), w.T @ x.numpy(), rtol=1e-6)  # the weights' gradient is untouched
    handle.remove()
    x.grad = None
    (lin(x) * tg.Tensor(w)).sum().backward()
    assert len(seen) == 1
    np.testing.assert_allclose(x.grad.numpy(), w @ lin.weight.numpy(), rtol=1e-6)


def test_full_backward_hook_on_a_first_layer_gets_none_for_its_data_input():
    conv = nn.Conv2d(1, 2, 3)
    calls, pre = [], []
    conv.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go[0].shape)))
    conv.register_full_backward_pre_hook(lambda m, go: pre.append(go[0].shape) or (go[0] * 2,))
    x = tg.Tensor(np.random.default_rng(0).standard_normal((1, 1, 4, 4)).astype(np.float32))
    conv(x).sum().backward()
    assert calls == [((None,), (1, 2, 2, 2))] and pre == [(1, 2, 2, 2)]
    np.testing.assert_allclose(conv.bias.grad.numpy(), [8.0, 8.0])  # the pre-hook doubled the outputs' gradient


def test_full_backward_hook_on_an_lstm_sees_every_output():
    lstm = nn.LSTM(2, 3)
    seen = []
    lstm.register_full_backward_hook(lambda m, gi, go: seen.append([None if g is None else g.shape for g in go]))
    x = tg.Tensor(np.ones((4, 1, 2), np.float32), requires_grad=True)
    out, (h, c) = lstm(x)
    (out.sum() + h.sum()).backward()
    assert seen == [[(4, 1, 3), (1, 1, 3), (1, 1, 3)]]
    assert x.grad is not None and x.grad.shape == (4, 1, 2)


def test_forward_pre_hook_replaces_the_arguments():
    lin = nn.Linear(2, 1)
    lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = lin(tg.Tensor(np.ones((1, 2), np.float32)))
    np.testing.assert_allclose(out.numpy(), lin.bias.numpy().reshape(1, 1))
