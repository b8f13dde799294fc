"""Layers that join several inputs: Concatenate, Add, Subtract, Multiply, Average, and
the functions concatenate and add, as Keras has them."""
import functools
import operator

from ...tensor import Tensor
from .base import Layer, shape_text


class _Merge(Layer):
    multiple_inputs = True

    def build(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f'Layer "{self.name}" should be called on a list of at least 2 inputs, got {input_shape}')
        self._check_shapes(input_shape)

    def _check_shapes(self, shapes):
        if len({tuple(s[1:]) for s in shapes}) > 1:
            raise ValueError(f'Layer "{self.name}" needs inputs of one shape, got shapes '
                             f"{', '.join(shape_text(s) for s in shapes)}")


class Concatenate(_Merge):
    """Joins its inputs along `axis` (the last by default); the other axes must agree."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _check_shapes(self, shapes):
        rank = len(shapes[0])
        axis = self.axis % rank
        others = {tuple(d for i, d in enumerate(s) if i != axis) for s in shapes}
        if len({len(s) for s in shapes}) > 1 or len(others) > 1:
            raise ValueError(f'Layer "{self.name}" (a Concatenate on axis={self.axis}) needs inputs whose shapes agree '
                             f"except on that axis, got {', '.join(shape_text(s) for s in shapes)}")

    def call(self, inputs):
        return Tensor.cat(list(inputs), axis=self.axis)


class Add(_Merge):
    def call(self, inputs):
        return functools.reduce(operator.add, inputs)


class Subtract(_Merge):
    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f'Layer "{self.name}" (Subtract) takes exactly 2 inputs, got {len(input_shape)}')
        super().build(input_shape)

    def call(self, inputs):
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    def call(self, inputs):
        return functools.reduce(operator.mul, inputs)


class Average(_Merge):
    def call(self, inputs):
        return functools.reduce(operator.add, inputs) * (1.0 / len(inputs))


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)
