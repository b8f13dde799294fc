"""Losses against NumPy references (every reduction, weights, ignore_index, label smoothing),
float64 gradient checks, module forms and errors."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn

from conftest import check_gradients, t64


def _log_softmax(a, axis=1):
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _reduce(per_sample, reduction, denominator):
    return {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.sum() / denominator}[reduction]


def _ce_reference(logits, labels, weight, ignore_index, reduction, smoothing):
    logp = _log_softmax(logits)
    c = logits.shape[1]
    w = np.ones(c) if weight is None else weight
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0)
    wt = w[safe] * keep
    nll = -logp[np.arange(len(labels)), safe] * wt
    smooth = -(logp * w).sum(1) * keep
    return (1 - smoothing) * _reduce(nll, reduction, wt.sum()) + smoothing / c * _reduce(smooth, reduction, wt.sum())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy(rng, reduction, smoothing, weighted):
    logits = rng.standard_normal((6, 4))
    labels = np.array([0, 3, -100, 1, 2, 3])
    weight = rng.random(4) + 0.5 if weighted else None
    out = F.cross_entropy(Tensor(logits), Tensor(labels), weight, reduction=reduction, label_smoothing=smoothing)
    expected = _ce_reference(logits, labels, weight, -100, reduction, smoothing)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
    f = lambda x: F.cross_entropy(x, Tensor(labels), weight, reduction=reduction, label_smoothing=smoothing)
    assert tg.gradcheck(f, [t64(logits)])


def test_cross_entropy_float32_and_module_form(rng):
    logits = rng.standard_normal((5, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 5)
    loss = nn.CrossEntropyLoss()(Tensor(logits), Tensor(labels))
    assert loss.dtype == np.float32 and loss.shape == ()
    np.testing.assert_allclose(loss.item(), -_log_softmax(logits)[np.arange(5), labels].mean(), rtol=1e-5)
    assert "reduction='mean'" in repr(nn.CrossEntropyLoss())


def test_cross_entropy_spatial_and_unbatched(rng):
    logits = rng.standard_normal((2, 4, 3))  # (N, C, d): a class score per position
    labels = rng.integers(0, 4, (2, 3))
    per_position = F.cross_entropy(Tensor(logits), Tensor(labels), reduction="none")
    logp = _log_softmax(logits)
    expected = -np.take_along_axis(logp, labels[:, None, :], axis=1)[:, 0, :]
    np.testing.assert_allclose(per_position.numpy(), expected, rtol=1e-10)
    assert tg.gradcheck(lambda x: F.cross_entropy(x, Tensor(labels)), [t64(logits)])
    single = F.cross_entropy(Tensor(logits[0, :, 0]), Tensor(np.array(labels[0, 0])))
    np.testing.assert_allclose(single.item(), expected[0, 0], rtol=1e-10)


def test_cross_entropy_with_probability_targets(rng):
    logits = rng.standard_normal((3, 4))
    probs = rng.random((3, 4))
    probs /= probs.sum(1, keepdims=True)
    smoothed = probs * 0.9 + 0.1 / 4
    out = F.cross_entropy(Tensor(logits), Tensor(probs), label_smoothing=0.1)
    np.testing.assert_allclose(out.item(), -(smoothed * _log_softmax(logits)).sum(1).mean(), rtol=1e-10)
    assert tg.gradcheck(lambda x: F.cross_entropy(x, Tensor(probs)), [t64(logits)])


def test_cross_entropy_is_stable_for_huge_logits():
    x = tg.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    loss = F.cross_entropy(x, Tensor(np.array([1, 1])))
    loss.backward()
    np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-6)
    assert np.isfinite(x.grad.numpy()).all()


def test_nll_loss_matches_reference_and_module(rng):
    logp = _log_softmax(rng.standard_normal((4, 3)))
    labels = np.array([2, 0, 1, 1])
    weight = np.array([1.0, 2.0, 0.5])
    expected = -(logp[np.arange(4), labels] * weight[labels]).sum() / weight[labels].sum()
    out = nn.NLLLoss(weight=weight)(Tensor(logp), Tensor(labels))
    np.testing.assert_allclose(out.item(), expected, rtol=1e-10)
    assert tg.gradcheck(lambda x: F.nll_loss(x, Tensor(labels), reduction="sum"), [t64(logp)])


def test_loss_errors():
    x = tg.zeros(3, 4)
    with pytest.raises(IndexError, match="target 4 is out of bounds for 4 classes"):
        F.cross_entropy(x, Tensor(np.array([0, 4, 1])))
    with pytest.raises(ValueError, match=r"input of shape \(3, 4\) needs target of shape \(3,\), got \(2,\)"):
        F.cross_entropy(x, Tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="weight should have one entry per class"):
        F.cross_entropy(x, Tensor(np.array([0, 1, 2])), weight=np.ones(3))
    with pytest.raises(ValueError, match=r"mse_loss: input of shape \(3, 4\) and target of shape \(4,\)"):
        F.mse_loss(x, tg.zeros(4))
    with pytest.raises(TypeError, match="nll_loss: expected integer class targets"):
        F.nll_loss(x, tg.zeros(3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(rng, reduction):
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    out = nn.MSELoss(reduction)(Tensor(a), Tensor(b))
    np.testing.assert_allclose(out.numpy(), _reduce((a - b) ** 2, reduction, a.size), rtol=1e-12)
    assert tg.gradcheck(lambda x, y: F.mse_loss(x, y, reduction=reduction), [t64(a), t64(b)])


def _bce_reference(x, y, weight=1.0, pos_weight=1.0):
    p = 1 / (1 + np.exp(-x))
    return -weight * (pos_weight * y * np.log(p) + (1 - y) * np.log(1 - p))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(rng, reduction):
    x, y = rng.standard_normal((4, 3)) * 3, rng.random((4, 3))
    weight, pos_weight = rng.random(3), rng.random(3) * 3
    out = nn.BCEWithLogitsLoss(weight, reduction, pos_weight)(Tensor(x), Tensor(y))
    np.testing.assert_allclose(out.numpy(), _reduce(_bce_reference(x, y, weight, pos_weight), reduction, x.size), rtol=1e-9)
    f = lambda x: F.binary_cross_entropy_with_logits(x, Tensor(y), reduction=reduction, pos_weight=pos_weight)
    assert tg.gradcheck(f, [t64(x)])


def test_bce_with_logits_is_stable_and_exact_at_zero():
    x = tg.tensor([-200.0, 0.0, 0.0, 200.0], requires_grad=True)
    y = Tensor(np.array([1.0, 0.0, 1.0, 0.0], np.float32))
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.item(), 400 + 2 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [-1, 0.5, -0.5, 1], atol=1e-6)  # sigmoid(x) - y


def _np_reduce(loss, reduction):
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


# name -> (functional call, module, NumPy reference of the elementwise loss, input kind)
REGRESSION = {
    "l1": (lambda x, y, r: F.l1_loss(x, y, reduction=r), lambda r: nn.L1Loss(reduction=r), lambda x, y: np.abs(x - y)),
    "smooth_l1": (lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.5), lambda r: nn.SmoothL1Loss(r, beta=0.5),
                  lambda x, y: np.where(np.abs(x - y) < 0.5, (x - y) ** 2 / (2 * 0.5), np.abs(x - y) - 0.25)),
    "huber": (lambda x, y, r: F.huber_loss(x, y, reduction=r, delta=0.5), lambda r: nn.HuberLoss(r, delta=0.5),
              lambda x, y: np.where(np.abs(x - y) < 0.5, (x - y) ** 2 / 2, 0.5 * (np.abs(x - y) - 0.25))),
    "bce": (lambda x, y, r: F.binary_cross_entropy(x, y, reduction=r), lambda r: nn.BCELoss(reduction=r),
            lambda x, y: -(y * np.log(x) + (1 - y) * np.log(1 - x))),
}


def _regression_inputs(rng, name):
    if name == "bce":
        return rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4))
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    d = x - y  # off the kinks at |d| = 0 and |d| = 0.5, where finite differences are meaningless
    x = np.where(np.abs(np.abs(d) - 0.5) < 0.05, x + 0.2, x)
    return np.where(np.abs(x - y) < 0.05, x + 0.2, x), y


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", REGRESSION)
def test_regression_and_probability_losses(rng, name, reduction):
    fn, module, ref = REGRESSION[name]
    x, y = _regression_inputs(rng, name)
    want = _np_reduce(ref(x, y), reduction)
    np.testing.assert_allclose(fn(Tensor(x), Tensor(y), reduction).numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(module(reduction)(Tensor(x), Tensor(y)).numpy(), want, rtol=1e-10)
    assert tg.gradcheck(lambda a: fn(a, Tensor(y), reduction), [t64(x)])
    with pytest.raises(ValueError, match="must match"):
        fn(Tensor(x), Tensor(y[:2]), reduction)


def test_bce_clamps_its_logs_and_takes_weights():
    x, y = Tensor(np.array([0.0, 1.0, 0.5])), Tensor(np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(F.binary_cross_entropy(x, y, reduction="none").numpy(), [100.0, 100.0, np.log(2)])
    w = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(nn.BCELoss(weight=w, reduction="sum")(x, y).numpy(), 100 + 200 + 3 * np.log(2))


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "mean", "none"])
def test_kl_div(rng, reduction, log_target):
    logits = rng.standard_normal((4, 5))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    q = rng.dirichlet(np.ones(5), 4)
    q[0, 2] = 0.0  # a zero probability contributes 0, not nan
    q[0] /= q[0].sum()
    pointwise = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - logp), 0)
    want = pointwise.sum() / 4 if reduction == "batchmean" else _np_reduce(pointwise, reduction)
    target = np.log(np.where(q > 0, q, 1e-300)) if log_target else q
    got = F.kl_div(Tensor(logp), Tensor(target), reduction=reduction, log_target=log_target)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nn.KLDivLoss(reduction, log_target)(Tensor(logp), Tensor(target)).numpy(), want,
                               rtol=1e-9, atol=1e-12)
    assert tg.gradcheck(lambda a: F.kl_div(a, Tensor(target), reduction=reduction, log_target=log_target), [t64(logp)])
    with pytest.raises(ValueError, match="kl_div: reduction must be one of"):
        F.kl_div(Tensor(logp), Tensor(q), reduction="batchsum")
    with pytest.raises(ValueError, match="KLDivLoss: reduction must be one of"):
        nn.KLDivLoss("batchsum")


def test_the_composed_losses_agree_across_devices(rng):
    if not tg.cuda.is_available():
        pytest.skip("no CUDA GPU and the simulator is off")
    from conftest import assert_like_cpu

    x, y = rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4))
    assert_like_cpu(lambda a, b: F.smooth_l1_loss(a, b, beta=0.3) + F.huber_loss(a, b, delta=0.2) + F.l1_loss(a, b)
                    + F.binary_cross_entropy(a, b) + F.kl_div(a.log(), b, reduction="batchmean"), x, y)


# Each loss on every device, with targets given as tensors on the input's device, as arrays (which
# go to the input's device) and as labels on the device (which come back to index with).
LOSSES = {
    "cross_entropy": lambda x: F.cross_entropy(x, np.array([0, 2, 1])),
    "cross_entropy_smoothing_weights": lambda x: F.cross_entropy(
        x, np.array([0, 2, -100]), weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1),
    "nll_loss_sum": lambda x: F.nll_loss(x.log_softmax(1), np.array([1, 1, 0]), reduction="sum"),
    "mse_loss": lambda x: F.mse_loss(x, Tensor(np.ones((3, 3)), device=x.device)),
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, Tensor(np.eye(3), device=x.device), pos_weight=2.0),
    "mse_loss_array_target": lambda x: F.mse_loss(x, np.ones((3, 3))),
    "bce_with_logits_array_target": lambda x: F.binary_cross_entropy_with_logits(x, np.eye(3), weight=np.full(3, 0.5)),
    "cross_entropy_array_probabilities": lambda x: F.cross_entropy(x, np.full((3, 3), 1 / 3), label_smoothing=0.1),
    "cross_entropy_device_labels": lambda x: F.cross_entropy(
        x, Tensor(np.array([0, 2, -100]), device=x.device), label_smoothing=0.1),
    "nll_loss_device_labels_none": lambda x: F.nll_loss(
        x.log_softmax(1), Tensor(np.array([1, 1, 0]), device=x.device), reduction="none"),
}


@pytest.mark.parametrize("name", LOSSES)
def test_losses_on_every_device(rng, device, name):
    out = LOSSES[name](Tensor(rng.standard_normal((3, 3)), device=device))
    assert out.device == device
    check_gradients(LOSSES[name], [rng.standard_normal((3, 3))], device)


TARGETS = {"mse_loss": np.ones((2, 2)), "binary_cross_entropy_with_logits": np.eye(2),
           "cross_entropy": np.array([0, 1]), "nll_loss": np.array([1, 0])}


@pytest.mark.cuda
@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("input_device,target_device", [("cuda", "cpu"), ("cpu", "cuda")])
def test_loss_target_tensor_on_another_device_is_an_error(name, input_device, target_device):
    if not tg.cuda.is_available():
        pytest.skip("no CUDA GPU and the simulator is off")
    x = Tensor(np.zeros((2, 2)), device=input_device)
    message = f"{name}: expected input and target on one device, got input on {input_device}, target on {target_device}"
    with pytest.raises(RuntimeError, match=message):
        getattr(F, name)(x, Tensor(TARGETS[name], device=target_device))
