"""Keras's activations by name, each a function of a Tensor made of ops Tensor already has."""
from ..nn import functional as F


def linear(x):
    return x


def relu(x):
    return x.relu()


def relu6(x):
    return F.relu6(x)


def sigmoid(x):
    return x.sigmoid()


def softmax(x):
    return x.softmax(axis=-1)


def tanh(x):
    return x.tanh()


def elu(x):
    return x.elu()


def selu(x):
    return F.selu(x)


def softplus(x):
    return x.softplus()


def gelu(x):
    return x.gelu()


def swish(x):
    return x.silu()


def leaky_relu(x):
    return x.leaky_relu(0.2)  # Keras's default slope (PyTorch's is 0.01)


def exponential(x):
    return x.exp()


ACTIVATIONS = {f.__name__: f for f in (linear, relu, relu6, sigmoid, softmax, tanh, elu, selu, softplus, gelu, swish,
                                       leaky_relu, exponential)}
ACTIVATIONS["silu"] = swish


def get(identifier):
    """The activation named `identifier` (None means linear), or a callable as it is."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if identifier not in ACTIVATIONS:
        raise ValueError(f"Unknown activation function: {identifier!r}. Known ones: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[identifier]


def serialize(function):
    """The name a saved model stores for `function`."""
    name = getattr(function, "__name__", None)
    if ACTIVATIONS.get(name) is not function:
        raise ValueError(f"The activation {function!r} has no Keras name, so a model using it cannot be saved as a "
                         f"config; use one of {', '.join(sorted(ACTIVATIONS))}")
    return name
