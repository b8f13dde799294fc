"""Layers, losses and optimisers on the 'cuda' device against the CPU. They are written on
Tensor ops (and the optimisers on the device's array namespace), so each must give the
CPU's numbers on the GPU: outputs, gradients, running statistics and parameter updates."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from test_cuda_ops import same_on_both
from tinygrad_nb import Tensor, nn, optim
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

LOSSES = {
    "cross_entropy": lambda x: F.cross_entropy(x, np.array([0, 2, 1])),
    "cross_entropy_smoothing_weights": lambda x: F.cross_entropy(
        x, np.array([0, 2, -100]), weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1),
    "nll_loss_sum": lambda x: F.nll_loss(x.log_softmax(1), np.array([1, 1, 0]), reduction="sum"),
    "mse_loss": lambda x: F.mse_loss(x, Tensor(np.ones((3, 3)), device=x.device)),
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, Tensor(np.eye(3), device=x.device), pos_weight=2.0),
    # Targets given as arrays go to the input's device; labels on the device come back to index with.
    "mse_loss_array_target": lambda x: F.mse_loss(x, np.ones((3, 3))),
    "bce_with_logits_array_target": lambda x: F.binary_cross_entropy_with_logits(x, np.eye(3), weight=np.full(3, 0.5)),
    "cross_entropy_array_probabilities": lambda x: F.cross_entropy(x, np.full((3, 3), 1 / 3), label_smoothing=0.1),
    "cross_entropy_device_labels": lambda x: F.cross_entropy(
        x, Tensor(np.array([0, 2, -100]), device=x.device), label_smoothing=0.1),
    "nll_loss_device_labels_none": lambda x: F.nll_loss(
        x.log_softmax(1), Tensor(np.array([1, 1, 0]), device=x.device), reduction="none"),
}


@pytest.mark.parametrize("name", LOSSES)
def test_losses(rng, name):
    same_on_both(LOSSES[name], rng.standard_normal((3, 3)))


TARGETS = {"mse_loss": np.ones((2, 2)), "binary_cross_entropy_with_logits": np.eye(2),
           "cross_entropy": np.array([0, 1]), "nll_loss": np.array([1, 0])}


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("input_device,target_device", [("cuda", "cpu"), ("cpu", "cuda")])
def test_loss_target_tensor_on_another_device_is_an_error(name, input_device, target_device):
    x = Tensor(np.zeros((2, 2)), device=input_device)
    message = f"{name}: expected input and target on one device, got input on {input_device}, target on {target_device}"
    with pytest.raises(RuntimeError, match=message):
        getattr(F, name)(x, Tensor(TARGETS[name], device=target_device))


def _layer_outputs(layer, x, device):
    tg.manual_seed(0)
    module = layer().double().to(device)
    inp = Tensor(x, device=device, requires_grad=True)
    out = module(inp)
    (out * Tensor(np.arange(out.numel()).reshape(out.shape) % 5, device=device, dtype=out.dtype)).sum().backward()
    state = [t.numpy() for t in module.state_dict().values()]
    return [out.numpy(), inp.grad.numpy()] + state + [p.grad.numpy() for p in module.parameters()]


LAYERS = {
    "batchnorm2d_train": (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    "batchnorm1d_eval": (lambda: nn.BatchNorm1d(3).eval(), (4, 3)),
    "layernorm": (lambda: nn.LayerNorm(4), (2, 3, 4)),
    "gelu_softmax": (lambda: nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Softmax(1)), (2, 4)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layers(rng, name):
    layer, shape = LAYERS[name]
    x = rng.standard_normal(shape)
    for c, g in zip(_layer_outputs(layer, x, "cpu"), _layer_outputs(layer, x, "cuda")):
        np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-12)


def test_dropout_draws_its_masks_on_the_gpu():
    """The GPU's masks come from its own generator (so a captured step can draw anew): not the
    CPU's numbers, but the same law, reproducible from manual_seed, new on every call."""
    tg.manual_seed(0)
    x = tg.ones(40, 50, device="cuda", requires_grad=True)
    y = F.dropout(x, 0.25)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.75) < 0.03
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy())
    again = F.dropout(x, 0.25).numpy() != 0
    assert (again != kept).mean() > 0.2  # a second draw is a new mask
    tg.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, 0.25).numpy() != 0, kept)
    u = tg.rand(2000, device="cuda", dtype=np.float64).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02 and abs(u.std() - 12**-0.5) < 0.02
    assert len(np.unique(u)) == u.size


OPTIMIZERS = {
    "sgd_nesterov_decay": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam_amsgrad": lambda p: optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.1),
    "adamw": lambda p: optim.AdamW(p, lr=0.01),
    "rmsprop_centered_momentum": lambda p: optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_updates(rng, name):
    w0, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    final = {}
    for device in ("cpu", "cuda"):
        w = Tensor(w0, device=device, requires_grad=True)
        opt = OPTIMIZERS[name]([w])
        for _ in range(3):
            opt.zero_grad()
            ((Tensor(x, device=device) @ w).tanh() ** 2).sum().backward()
            opt.step()
        state = opt.state_dict()["state"][0]
        final[device] = [w.numpy()] + [v.numpy() for k, v in sorted(state.items()) if isinstance(v, Tensor)]
    for c, g in zip(final["cpu"], final["cuda"]):
        np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-12)


def test_clip_grad_norm():
    results = {}
    for device in ("cpu", "cuda"):
        w = Tensor(np.arange(5.0), device=device, requires_grad=True)
        (w * w).sum().backward()
        norm = nn.utils.clip_grad_norm_([w], 1.0)
        results[device] = (norm.item(), w.grad.numpy())
    assert results["cpu"][0] == pytest.approx(results["cuda"][0], rel=1e-12)
    np.testing.assert_allclose(results["cuda"][1], results["cpu"][1], rtol=1e-12)
