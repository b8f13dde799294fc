"""The activations: one op per rule of kernels/activations.py, made from the rule.

A rule holds an activation's formula y = f(x, a) and its derivative dx = df(g, x or y, a),
written once for both devices; `Activation` is the op that runs any of them through the
device's `activation` kernel, and the op of each rule is a subclass named after it
(`Relu`, `LeakyRelu`, `Mish` ...) whose docstring is its rule's two formulas. Adding a rule
adds its op: nothing here names an activation.
"""
from ..function import Function
from ..kernels.activations import RULES, bind


class Activation(Function):
    """y = f(x);   dx = df(g, x or y): an activation whose formula and derivative are a rule of
    kernels/activations.py. The kernel returns what the backward pass reads (x or y), so
    ReLU, say, keeps only its output."""

    rule = None  # the rule's name in kernels/activations.py

    def forward(ctx, x, a=0.0):
        ctx.a = a
        y, kept = ctx.backend.activation(ctx.rule, x, a)
        ctx.save_for_backward(kept)
        return y

    def backward(ctx, g):
        return ctx.backend.activation_backward(ctx.rule, g, ctx.saved[0], ctx.a)

    def graph_backward(ctx, g):
        rule = RULES[ctx.rule]
        kept = ctx.output() if rule.saves == "output" else ctx.parents[0]
        return bind(rule.backward, tensor_names(type(g)))(g, kept, ctx.a)


def tensor_names(Tensor):
    """The functions the rules call, as Tensor ops: a rule's derivative is then itself
    differentiable (gradients of gradients)."""
    return {"where": Tensor.where, "tanh": Tensor.tanh, "exp": Tensor.exp, "log1p": lambda t: (1 + t).log(),
            "erf": lambda t: 2 * OPS["normal_cdf"].apply(t * SQRT_2) - 1}


SQRT_2 = 1.4142135623730951


def _op(name, rule):
    """The Activation subclass of one rule: `leaky_relu` gives LeakyRelu."""
    doc = f"y = {rule.forward.__doc__.strip().rstrip('.')};   dx = {rule.backward.__doc__.strip().rstrip('.')}"
    return type("".join(part.capitalize() for part in name.split("_")), (Activation,),
                {"rule": name, "__doc__": doc, "__module__": __name__})


OPS = {name: _op(name, rule) for name, rule in RULES.items()}
globals().update({op.__name__: op for op in OPS.values()})  # ops.activation.Relu, .Mish ...: the ops by name
