"""End to end: an MLP written with raw Tensor ops learns a separable problem."""
import numpy as np

import tinygrad_nb as tg
from tinygrad_nb import Tensor


def test_mlp_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 784)).astype(np.float32) * 2
    labels = rng.integers(0, 10, 2000)
    x = centres[labels] + rng.standard_normal((2000, 784)).astype(np.float32) * 3
    train, test = slice(0, 1500), slice(1500, None)

    tg.manual_seed(0)
    w1 = (tg.randn(784, 128) * (1 / 28)).requires_grad_()
    b1 = tg.zeros(128, requires_grad=True)
    w2 = (tg.randn(128, 10) * (1 / 128**0.5)).requires_grad_()
    b2 = tg.zeros(10, requires_grad=True)
    params = [w1, b1, w2, b2]

    def logits(xb):
        return ((Tensor(xb) @ w1 + b1).relu()) @ w2 + b2

    for epoch in range(5):
        for i in range(0, 1500, 50):
            xb, yb = x[train][i : i + 50], labels[train][i : i + 50]
            logp = logits(xb).log_softmax(axis=1)
            loss = -logp[np.arange(len(yb)), yb].mean()
            for p in params:
                p.grad = None
            loss.backward()
            for p in params:
                p.data -= 0.05 * p.grad.data
    with tg.no_grad():
        accuracy = (logits(x[test]).argmax(1).numpy() == labels[test]).mean()
    assert accuracy > 0.95
