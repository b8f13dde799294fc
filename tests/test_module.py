"""Module, Parameter, Sequential: discovery, state dicts, modes."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import nn


class Affine(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(tg.ones(n))
        self.bias = nn.Parameter(tg.zeros(n))
        self.register_buffer("count", tg.zeros(1))

    def forward(self, x):
        return x * self.weight + self.bias


def test_parameters_and_state_dict_names():
    model = nn.Sequential(Affine(2), nn.Sequential(Affine(3)))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.0.weight", "1.0.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "0.count", "1.0.weight", "1.0.bias", "1.0.count"]  # PyTorch's order
    assert all(p.requires_grad for p in model.parameters())


def test_load_state_dict_from_numpy_and_errors():
    m = Affine(2)
    state = {"weight": np.array([2.0, 3.0]), "bias": np.array([1.0, 1.0]), "count": np.array([5.0])}
    m.load_state_dict(state)
    np.testing.assert_array_equal(m(tg.ones(2)).numpy(), [3, 4])
    assert m.weight.dtype == np.float32
    with pytest.raises(KeyError, match="missing keys \\['count'\\]"):
        m.load_state_dict({"weight": np.ones(2), "bias": np.ones(2)})
    with pytest.raises(ValueError, match="'weight' has shape \\(3,\\).*expects \\(2,\\)"):
        m.load_state_dict({**state, "weight": np.ones(3)})


def test_train_eval_zero_grad_and_gradients():
    m = nn.Sequential(Affine(2))
    assert m.training and m[0].training
    m.eval()
    assert not m[0].training
    m(tg.ones(2)).sum().backward()
    np.testing.assert_array_equal(m[0].weight.grad.numpy(), [1, 1])
    m.zero_grad()
    assert m[0].weight.grad is None
    assert len(m) == 1 and "Affine" in repr(m)


def test_to_double_keeps_parameter_identity():
    m = Affine(2)
    p = m.weight
    m.double()
    assert m.weight is p and p.dtype == np.float64


def test_slicing_keeps_the_container_and_its_names():
    a, b, c = Affine(2), Affine(2), Affine(2)
    seq = nn.Sequential({"first": a, "second": b, "third": c})
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and [n for n, _ in head.named_children()] == ["first", "second"]
    assert head[1] is b and seq[-1] is c
    x = tg.ones(2)
    np.testing.assert_array_equal(seq[1:](a(x)).numpy(), seq(x).numpy())
    modules = nn.ModuleList([a, b, c])[1:]
    assert isinstance(modules, nn.ModuleList) and list(modules) == [b, c]
