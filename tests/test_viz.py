"""viz: the DOT text of a graph (nodes, labels, edges) and rendering it."""
import re
import shutil

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import viz
from tinygrad_nb.function import Function
from tinygrad_nb.nn import Module, Parameter


def parse(dot):
    """{node: label} and [(tail, head)] of the DOT text to_dot writes."""
    assert dot.startswith("digraph tinygrad_nb {\n") and dot.endswith("}\n")
    labels = dict(re.findall(r'^  (\w+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M))
    edges = re.findall(r"^  (\w+) -> (\w+);$", dot, re.M)
    assert {n for e in edges for n in e} <= set(labels), "every edge joins declared nodes"
    return labels, edges


class Tiny(Module):
    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.ones((3, 2), np.float32))

    def forward(self, x):
        return ((x @ self.weight).relu() * 2).sum()


def test_ops_and_tensors_with_shapes_dtype_device_and_parameter_names():
    model = Tiny()
    loss = model(tg.ones(4, 3))
    labels, edges = parse(viz.to_dot(loss, params=dict(model.named_parameters())))
    ops = [label for node, label in labels.items() if re.fullmatch(r"op\d+", node)]
    assert ops == ["MatMul", "Relu", "Mul", "Sum"]  # numbered in forward order
    assert labels["op0_out0"] == "(4, 2) float32 cpu"
    weight = next(n for n, label in labels.items() if label.startswith("weight"))
    assert labels[weight] == "weight\\n(3, 2) float32 cpu"
    assert (weight, "op0") in edges
    assert sum(1 for label in labels.values() if label.startswith("constant")) == 2  # the input and the 2
    assert ("op0", "op0_out0") in edges and ("op0_out0", "op1") in edges
    assert labels["op3_out0"] == "output\\n() float32 cpu"
    assert re.search(r"^  op3_out0 \[.*penwidth=2\];$", viz.to_dot(loss), re.M)


def test_params_as_pairs_and_a_tensor_used_twice_is_one_node():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    labels, edges = parse(viz.to_dot(y, params=[("x", x)]))
    xs = [n for n, label in labels.items() if label.startswith("x\\n")]
    assert len(xs) == 1 and edges.count((xs[0], "op0")) == 2


class _Halves(Function):
    """(a, b) = x split in two along axis 0;   dx = cat(ga, gb)"""

    def forward(ctx, x):
        n = x.shape[0] // 2
        return x[:n], x[n:]

    def backward(ctx, ga, gb):
        return ctx.xp.concatenate([ga, gb])


def test_every_output_of_a_multi_output_op_is_a_node():
    a, b = _Halves.apply(tg.ones(4, requires_grad=True))
    labels, edges = parse(viz.to_dot(b * 3))
    assert labels["op0_out0"] == "(2,) float32 cpu" and labels["op0_out1"] == "(2,) float32 cpu"
    assert ("op0_out1", "op1") in edges and not any(tail == "op0_out0" for tail, _ in edges)


def test_a_leaf_alone_and_quotes_in_names():
    w = tg.zeros(2, requires_grad=True)
    labels, edges = parse(viz.to_dot(w, params={'say "hi"': w}))
    assert labels == {"leaf0": 'say \\"hi\\"\\n(2,) float32 cpu'} and edges == []


def test_draw_writes_dot_text_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    y = tg.ones(2, requires_grad=True).exp()
    path = viz.draw(y, tmp_path / "g.dot")
    assert open(path).read() == viz.to_dot(y)


def test_draw_explains_a_missing_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RuntimeError, match=r"viz.draw: .*needs the Graphviz program `dot`.*apt-get install graphviz"):
        viz.draw(tg.ones(2, requires_grad=True).exp(), tmp_path / "g.svg")


def test_to_dot_rejects_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="viz.to_dot: expected a Tensor, got ndarray"):
        viz.to_dot(np.ones(2))


def test_draw_rejects_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"viz.draw: cannot tell the format from .*\.svg, \.png, \.pdf, \.dot"):
        viz.draw(tg.ones(2), tmp_path / "g.jpeg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_draw_renders_svg(tmp_path):
    x = tg.ones(2, 2, requires_grad=True)
    path = viz.draw((x @ x).sum(), tmp_path / "g.svg")
    svg = open(path).read()
    assert "<svg" in svg and "MatMul" in svg
