"""Every op is its own textbook entry: each Function subclass states its forward and backward formula."""
import importlib
import pkgutil
import re

import pytest

import tinygrad_nb.nn  # noqa: F401  (so any Function defined beside the layers is found too)
import tinygrad_nb.ops
from tinygrad_nb.function import Function

for _module in pkgutil.iter_modules(tinygrad_nb.ops.__path__):
    importlib.import_module(f"tinygrad_nb.ops.{_module.name}")


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


OPS = sorted({c for c in subclasses(Function) if c.__module__.startswith("tinygrad_nb.")},
             key=lambda c: (c.__module__, c.__name__))

# The backward formula: an equation for an input's gradient (dx = ..., dW = ..., dx[n,c,h,w] = ...)
# or, for ops whose gradient is a routing rule, a sentence about where the gradient goes.
BACKWARD = re.compile(r"\bd[A-Za-z_]\S*?\s*=|\bgradient")


def test_the_ops_are_found():
    names = {c.__name__ for c in OPS}
    assert {"Add", "MatMul", "Sum", "Reshape", "Softmax"} <= names


@pytest.mark.parametrize("op", OPS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_docstring_gives_forward_and_backward_formula(op):
    doc = op.__dict__.get("__doc__") or ""  # its own docstring, not one inherited
    backward = BACKWARD.search(doc)
    assert backward, f"{op.__name__}'s docstring has no backward formula (e.g. 'dx = g * y'): {doc!r}"
    assert "=" in doc[: backward.start()], f"{op.__name__}'s docstring has no forward formula first: {doc!r}"
