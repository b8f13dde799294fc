"""Layers: Linear, Flatten, activations, Dropout, BatchNorm, LayerNorm, initialisers.
Forward passes against NumPy, float64 gradient checks, PyTorch's state-dict names."""
import math

import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn

from conftest import t64


def test_linear_matches_numpy_and_has_pytorch_shapes(rng):
    layer = nn.Linear(4, 3)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert list(layer.state_dict()) == ["weight", "bias"]
    x = rng.standard_normal((5, 4)).astype(np.float32)
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert nn.Linear(4, 3, bias=False).bias is None
    assert "in_features=4, out_features=3" in repr(layer)


def test_linear_default_init_is_uniform_in_one_over_sqrt_fan_in():
    tg.manual_seed(0)
    layer = nn.Linear(100, 200)
    bound = 1 / math.sqrt(100)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound
    np.testing.assert_allclose(w.var(), bound**2 / 3, rtol=0.05)  # variance of U(-b, b)


def test_linear_gradients():
    x, w, b = t64(np.ones((2, 3)) * 0.5), t64(np.arange(12.0).reshape(4, 3) / 10), t64(np.ones(4))
    assert tg.gradcheck(F.linear, [x, w, b])


def test_linear_rejects_wrong_width():
    with pytest.raises(RuntimeError, match=r"linear: input of shape \(2, 5\) needs last dimension 4"):
        nn.Linear(4, 3)(tg.zeros(2, 5))


def test_seeded_init_is_reproducible():
    tg.manual_seed(3)
    a = nn.Linear(3, 3).weight.numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(a, nn.Linear(3, 3).weight.numpy())


@pytest.mark.parametrize(
    "fill,check",
    [
        (lambda t: nn.init.xavier_uniform_(t), lambda w: np.abs(w).max() <= math.sqrt(6 / (20 + 30))),
        (lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu"), lambda w: abs(w.std() - math.sqrt(2 / 20)) < 0.03),
        (lambda t: nn.init.constant_(t, 0.5), lambda w: (w == 0.5).all()),
        (lambda t: nn.init.orthogonal_(t), lambda w: np.allclose(w.T @ w, np.eye(20), atol=1e-5)),
    ],
)
def test_initialisers(fill, check):
    t = tg.zeros(30, 20)
    assert fill(t) is t
    assert t.dtype == np.float32 and check(t.numpy())


def test_init_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(tg.zeros(3))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")


def test_flatten_and_identity():
    x = tg.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Identity(7)(x) is x


@pytest.mark.parametrize(
    "module,ref",
    [
        (nn.ReLU(), lambda a: np.maximum(a, 0)),
        (nn.LeakyReLU(0.2), lambda a: np.where(a > 0, a, 0.2 * a)),
        (nn.Sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
        (nn.Tanh(), np.tanh),
        (nn.GELU(), lambda a: a * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))),
        (nn.Softmax(dim=1), lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True)),
        (nn.LogSoftmax(dim=1), lambda a: a - np.log(np.exp(a).sum(1, keepdims=True))),
    ],
)
def test_activations(rng, module, ref):
    a = rng.standard_normal((3, 4))
    np.testing.assert_allclose(module(Tensor(a)).numpy(), ref(a), rtol=1e-6, atol=1e-9)


def test_functional_activations_match_modules(rng):
    x = Tensor(rng.standard_normal((2, 3)))
    np.testing.assert_array_equal(F.relu(x).numpy(), nn.ReLU()(x).numpy())
    np.testing.assert_array_equal(F.log_softmax(x, dim=0).numpy(), x.log_softmax(0).numpy())


def test_dropout_training_and_eval():
    tg.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = tg.ones(200, 50, requires_grad=True)
    y = layer(x)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy())  # the gradient passes where the mask kept
    layer.eval()
    assert layer(x) is x
    assert (nn.Dropout(1.0)(x).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1, got 1.5"):
        nn.Dropout(1.5)


def _bn_reference(x, axes, eps=1e-5):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def test_batchnorm2d_train_eval_and_running_statistics(rng):
    bn = nn.BatchNorm2d(3, momentum=0.1)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    x = (rng.standard_normal((4, 3, 5, 5)) * 2 + 1).astype(np.float32)
    np.testing.assert_allclose(bn(Tensor(x)).numpy(), _bn_reference(x, (0, 2, 3)), rtol=1e-4, atol=1e-5)
    n = 4 * 5 * 5
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    unbiased = x.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * unbiased, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    rm, rv = bn.running_mean.numpy()[:, None, None], bn.running_var.numpy()[:, None, None]
    np.testing.assert_allclose(bn(Tensor(x)).numpy(), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-4, atol=1e-5)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm_cumulative_average_and_no_tracking(rng):
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [rng.standard_normal((6, 2)).astype(np.float32) + i for i in range(3)]
    for b in batches:
        bn(Tensor(b))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-5)
    free = nn.BatchNorm1d(2, affine=False, track_running_stats=False).eval()
    assert list(free.state_dict()) == []
    np.testing.assert_allclose(free(Tensor(batches[0])).numpy(), _bn_reference(batches[0], 0), rtol=1e-4, atol=1e-5)


def test_batchnorm_gradients(rng):
    x, w, b = t64(rng.standard_normal((4, 2, 3))), t64(rng.standard_normal(2)), t64(rng.standard_normal(2))
    rm, rv = Tensor(np.zeros(2)), Tensor(np.ones(2))
    assert tg.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True), [x, w, b])
    assert tg.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), [x, w, b])


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected a 4D input, got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(tg.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected 3 channels in axis 1, got shape \(2, 4\)"):
        nn.BatchNorm1d(3)(tg.zeros(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(tg.zeros(1, 3))


def test_layernorm(rng):
    ln = nn.LayerNorm((3, 4))
    assert ln.weight.shape == (3, 4) and list(ln.state_dict()) == ["weight", "bias"]
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(ln(Tensor(x)).numpy(), _bn_reference(x, (1, 2)), rtol=1e-4, atol=1e-5)
    xs, w, b = t64(rng.standard_normal((2, 5))), t64(rng.standard_normal(5)), t64(rng.standard_normal(5))
    assert tg.gradcheck(lambda x, w, b: F.layer_norm(x, (5,), w, b), [xs, w, b])
    with pytest.raises(ValueError, match=r"does not end with normalized_shape \(3,\)"):
        nn.LayerNorm(3)(tg.zeros(2, 4))


def test_pytorch_state_dict_loads_and_gives_the_same_outputs(rng):
    """A state dict exported from PyTorch is a dict of NumPy arrays under PyTorch's names;
    here it is written out by hand for Linear -> BatchNorm1d -> ReLU -> Linear in eval mode."""
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).eval()
    state = {
        "0.weight": rng.standard_normal((4, 3)), "0.bias": rng.standard_normal(4),
        "1.weight": rng.random(4) + 0.5, "1.bias": rng.standard_normal(4),
        "1.running_mean": rng.standard_normal(4), "1.running_var": rng.random(4) + 0.5,
        "1.num_batches_tracked": np.array(7),
        "3.weight": rng.standard_normal((2, 4)), "3.bias": rng.standard_normal(2),
    }
    model.load_state_dict(state)
    x = rng.standard_normal((5, 3))
    h = x @ state["0.weight"].T + state["0.bias"]
    h = (h - state["1.running_mean"]) / np.sqrt(state["1.running_var"] + 1e-5) * state["1.weight"] + state["1.bias"]
    expected = np.maximum(h, 0) @ state["3.weight"].T + state["3.bias"]
    np.testing.assert_allclose(model(Tensor(x.astype(np.float32))).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert model[1].num_batches_tracked.dtype == np.int64
