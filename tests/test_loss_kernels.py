"""The element-wise losses as fused ops (PointwiseLoss, rules in kernels/loss_rules.py): every
loss and reduction against an independent NumPy reference, float64 gradient checks with
respect to input and target, gradients of gradients, non-finite edge cases, the 'cuda' device
(the simulator without a GPU) against the CPU, and one graph node per loss."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.gradcheck import gradcheck, gradgradcheck
from tinygrad_nb.ops.loss import PointwiseLoss

REDUCTIONS = ["mean", "sum", "none"]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (call, NumPy reference of each element's loss, inputs (x, t) for a generator): the
# inputs keep |x - t| away from the kinks at 0 and at beta / delta, where finite differences
# are meaningless.
LOSSES = {
    "mse": (lambda x, t, r: F.mse_loss(x, t, reduction=r), lambda x, t: (x - t) ** 2, "regression"),
    "l1": (lambda x, t, r: F.l1_loss(x, t, reduction=r), lambda x, t: np.abs(x - t), "regression"),
    "smooth_l1": (lambda x, t, r: F.smooth_l1_loss(x, t, reduction=r, beta=0.5),
                  lambda x, t: np.where(np.abs(x - t) < 0.5, (x - t) ** 2 / 1.0, np.abs(x - t) - 0.25), "regression"),
    "smooth_l1_beta0": (lambda x, t, r: F.smooth_l1_loss(x, t, reduction=r, beta=0.0), lambda x, t: np.abs(x - t),
                        "regression"),
    "huber": (lambda x, t, r: F.huber_loss(x, t, reduction=r, delta=0.5),
              lambda x, t: np.where(np.abs(x - t) < 0.5, (x - t) ** 2 / 2, 0.5 * (np.abs(x - t) - 0.25)), "regression"),
    "bce": (lambda x, t, r: F.binary_cross_entropy(x, t, reduction=r),
            lambda x, t: -(t * np.log(x) + (1 - t) * np.log(1 - x)), "probability"),
    "bce_with_logits": (lambda x, t, r: F.binary_cross_entropy_with_logits(x, t, reduction=r),
                        lambda x, t: -(t * np.log(_sigmoid(x)) + (1 - t) * np.log(1 - _sigmoid(x))), "logits"),
    "kl_div": (lambda x, t, r: F.kl_div(x, t, reduction=r), lambda x, t: t * (np.log(t) - x), "distribution"),
    "kl_div_log_target": (lambda x, t, r: F.kl_div(x, t, reduction=r, log_target=True),
                          lambda x, t: np.exp(t) * (t - x), "log_distribution"),
}


def _inputs(kind, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    if kind == "probability":
        return rng.uniform(0.05, 0.95, shape), rng.uniform(0, 1, shape)
    if kind == "logits":
        return rng.standard_normal(shape) * 3, rng.uniform(0, 1, shape)
    if kind in ("distribution", "log_distribution"):
        x = np.log(rng.dirichlet(np.ones(shape[-1]), shape[:-1]))
        t = rng.dirichlet(np.ones(shape[-1]), shape[:-1])
        return x, (np.log(t) if kind == "log_distribution" else t)
    x, t = rng.standard_normal(shape), rng.standard_normal(shape)
    d = x - t
    x = np.where(np.abs(np.abs(d) - 0.5) < 0.1, x + 0.3, x)
    return np.where(np.abs(x - t) < 0.1, x + 0.3, x), t


def _reduced(loss, reduction):
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_each_loss_matches_its_numpy_reference(name, reduction, dtype):
    call, reference, kind = LOSSES[name]
    x, t = _inputs(kind, (5, 7))
    got = call(Tensor(x.astype(dtype)), Tensor(t.astype(dtype)), reduction)
    assert got.dtype == dtype and got.shape == (() if reduction != "none" else x.shape)
    np.testing.assert_allclose(got.numpy(), _reduced(reference(x, t), reduction),
                               rtol=1e-10 if dtype == np.float64 else 1e-5, atol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_gradients_with_respect_to_input_and_target(name, reduction):
    call, _, kind = LOSSES[name]
    x, t = _inputs(kind)
    xs, ts = Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)
    assert gradcheck(lambda a, b: call(a, b, reduction), [xs, ts])
    # One gradient asked for, the other left out: the kernel writes only what is wanted.
    assert gradcheck(lambda a, b: call(a, b, reduction), [Tensor(x), Tensor(t, requires_grad=True)])
    assert gradcheck(lambda a, b: call(a, b, reduction), [Tensor(x, requires_grad=True), Tensor(t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_gradients_of_gradients(name, reduction):
    call, _, kind = LOSSES[name]
    x, t = _inputs(kind, (2, 3), seed=1)
    assert gradgradcheck(lambda a, b: call(a, b, reduction), [Tensor(x, requires_grad=True),
                                                               Tensor(t, requires_grad=True)], atol=1e-5, rtol=1e-4)


def test_weights_and_pos_weight_stay_exact_and_differentiable(rng):
    x, t = rng.standard_normal((4, 3)) * 3, rng.uniform(0, 1, (4, 3))
    w, p = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 3, 3)
    s = _sigmoid(x)
    want = -w * (p * t * np.log(s) + (1 - t) * np.log(1 - s))
    for reduction in REDUCTIONS:
        got = F.binary_cross_entropy_with_logits(Tensor(x), Tensor(t), weight=w, pos_weight=p, reduction=reduction)
        np.testing.assert_allclose(got.numpy(), _reduced(want, reduction), rtol=1e-10)
    probs = rng.uniform(0.05, 0.95, (4, 3))
    np.testing.assert_allclose(F.binary_cross_entropy(Tensor(probs), Tensor(t), weight=w, reduction="sum").numpy(),
                               (-w * (t * np.log(probs) + (1 - t) * np.log(1 - probs))).sum(), rtol=1e-10)
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=p),
                     [Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_logits_stay_finite(dtype):
    x = Tensor(np.array([-1e4, -200.0, 0.0, 200.0, 1e4], dtype), requires_grad=True)
    t = Tensor(np.array([1.0, 1.0, 0.5, 0.0, 0.0], dtype), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [1e4, 200.0, np.log(2), 200.0, 1e4], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, -1.0, 0.0, 1.0, 1.0], atol=1e-6)  # sigmoid(x) - t
    np.testing.assert_allclose(t.grad.numpy(), -x.numpy())


def test_bce_at_zero_and_one_is_finite_both_ways():
    x = Tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    t = Tensor(np.array([1.0, 0.0, 0.0, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0, 0.0, 0.0], atol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, 0.0, 0.0])  # (x - t) / max(x (1 - x), 1e-12)
    np.testing.assert_allclose(t.grad.numpy(), [100.0, -100.0, 100.0, -100.0], atol=1e-12)


def test_nan_inputs_give_nan_losses():
    nan = Tensor(np.array([np.nan, 0.5]))
    for loss in (F.mse_loss(nan, Tensor(np.zeros(2)), reduction="none"),
                 F.binary_cross_entropy(nan, Tensor(np.ones(2)), reduction="none"),
                 F.binary_cross_entropy_with_logits(nan, Tensor(np.ones(2)), reduction="none")):
        assert np.isnan(loss.numpy()[0]) and np.isfinite(loss.numpy()[1])


def test_a_zero_target_probability_contributes_nothing():
    x, t = Tensor(np.log(np.array([0.5, 0.5])), requires_grad=True), Tensor(np.array([0.0, 1.0]), requires_grad=True)
    loss = F.kl_div(x, t, reduction="sum")
    np.testing.assert_allclose(loss.numpy(), np.log(2))
    loss.backward()
    assert np.isfinite(x.grad.numpy()).all() and np.isfinite(t.grad.numpy()).all()


def test_the_mean_of_no_elements_is_nan():
    assert np.isnan(F.mse_loss(Tensor(np.zeros((0, 3))), Tensor(np.zeros((0, 3)))).item())


def test_strided_inputs(rng):
    x, t = rng.standard_normal((4, 6)), rng.standard_normal((6, 4))
    loss = F.huber_loss(Tensor(x)[:, ::2], Tensor(t).T[:, ::2], reduction="none")
    d = (x - t.T)[:, ::2]
    np.testing.assert_allclose(loss.numpy(), np.where(np.abs(d) < 1, d**2 / 2, np.abs(d) - 0.5), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_each_loss_is_one_graph_node(name, reduction):
    call, _, kind = LOSSES[name]
    x, t = _inputs(kind)
    xs, ts = Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)
    loss = call(xs, ts, reduction)
    assert isinstance(loss._ctx, PointwiseLoss)
    assert loss._ctx.parents[0] is xs and loss._ctx.parents[1] is ts  # nothing between the loss and its inputs


def test_kl_batchmean_is_a_sum_node_divided():
    x, t = _inputs("distribution")
    loss = F.kl_div(Tensor(x, requires_grad=True), Tensor(t), reduction="batchmean")
    (parent,) = [p for p in loss._ctx.parents if p._ctx is not None]
    assert isinstance(parent._ctx, PointwiseLoss)


needs_cuda = pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")


@needs_cuda
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_the_cuda_device_agrees_with_the_cpu(name, reduction):
    from conftest import assert_like_cpu

    call, _, kind = LOSSES[name]
    x, t = _inputs(kind, (3, 5))
    assert_like_cpu(lambda a, b: call(a, b, reduction), x, t)


@needs_cuda
def test_the_cuda_device_agrees_on_strided_float32_and_weighted_losses(rng):
    from conftest import assert_like_cpu

    x, t = rng.standard_normal((4, 6)), rng.uniform(0, 1, (6, 4))
    assert_like_cpu(lambda a, b: F.smooth_l1_loss(a[:, ::2], b.T[:, ::2], reduction="none")
                    + F.binary_cross_entropy_with_logits(a[:, 1::2], b.T[:, 1::2], weight=np.full(3, 0.5),
                                                         pos_weight=2.0, reduction="none"), x, t)
    big = rng.standard_normal(1000) * 30  # more elements than one simulated block strides over
    assert_like_cpu(lambda a, b: F.binary_cross_entropy_with_logits(a, b), big, rng.uniform(0, 1, 1000))
    for reduction in REDUCTIONS:
        cpu = F.mse_loss(Tensor(x.astype(np.float32)), Tensor(t.T.astype(np.float32)), reduction=reduction)
        gpu = F.mse_loss(Tensor(x.astype(np.float32), device="cuda"), Tensor(t.T.astype(np.float32), device="cuda"),
                         reduction=reduction)
        assert gpu.dtype == np.float32
        np.testing.assert_allclose(gpu.numpy(), cpu.numpy(), rtol=1e-6)
    empty = Tensor(np.zeros((0, 3)), device="cuda")
    assert np.isnan(F.mse_loss(empty, empty).item())


@needs_cuda
def test_a_reduced_loss_launches_two_kernels_forward_and_one_backward():
    x = Tensor(np.ones((4, 5), np.float32), device="cuda", requires_grad=True)
    t = Tensor(np.zeros((4, 5), np.float32), device="cuda")
    loss = F.binary_cross_entropy_with_logits(x, t)

    def count(fn):
        graph = tg_cuda.CUDAGraph()
        with tg_cuda.graph(graph):
            fn()
        return graph.num_kernels

    forward = count(lambda: PointwiseLoss.apply(x, t, rule="bce_with_logits"))
    backward = count(lambda: loss._ctx.backward(loss.array))
    assert (forward, backward) == (2, 1)
