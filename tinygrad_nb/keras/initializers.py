"""Keras's weight initialisers by name, as nn.init functions. Fans are the same whichever
layout holds a weight (Keras's (in, out) or our (out, in)), so the distributions are Keras's.
'he_normal' and 'glorot_normal' draw from an untruncated normal (Keras truncates at 2 sigma)."""
from ..nn import init

INITIALIZERS = {
    "glorot_uniform": init.xavier_uniform_,
    "glorot_normal": init.xavier_normal_,
    "he_uniform": lambda w: init.kaiming_uniform_(w, nonlinearity="relu"),
    "he_normal": lambda w: init.kaiming_normal_(w, nonlinearity="relu"),
    "lecun_uniform": lambda w: init.kaiming_uniform_(w, nonlinearity="linear"),
    "orthogonal": init.orthogonal_,
    "zeros": init.zeros_,
    "ones": init.ones_,
}


def initialize(name, weight):
    if name not in INITIALIZERS:
        raise ValueError(f"Unknown initializer: {name!r}. Known ones: {', '.join(sorted(INITIALIZERS))}")
    INITIALIZERS[name](weight)
