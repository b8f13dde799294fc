"""The GPU gives the CPU's numbers where the CPU is the reference: layers with running
statistics, optimiser updates and whole training steps, run from the same start on both
devices (in Numba's CUDA simulator where there is no GPU), and the GPU's own random masks.
The CPU side of each is checked against NumPy or PyTorch's formulas in its own test file."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor, nn, optim
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

pytestmark = pytest.mark.cuda


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


def test_small_cnn_trains_like_the_cpu(rng):
    """Conv-ReLU-Pool-Linear, two SGD steps, on both devices from the same start."""
    x, labels = rng.standard_normal((2, 1, 6, 6)).astype(np.float32), np.array([0, 2])
    results = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 3))
        model.to(device)
        for _ in range(2):
            model.zero_grad()
            loss = F.cross_entropy(model(Tensor(x, device=device)), labels)
            loss.backward()
            for p in model.parameters():
                p.data = p.data - 0.1 * p.grad.data
        results[device] = [p.numpy() for p in model.parameters()]
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
