"""Layer, the base of every Keras layer, and the symbolic tensors of the functional API.

A Keras layer is a thin builder over our nn modules: it is an nn.Module whose `build`
creates the nn modules once the input's shape is known, and whose `call` runs them,
converting Keras's channels-last layout to ours (channels first) and back inside the layer.

Calling a layer on a KerasTensor (what Input returns) runs nothing: it builds the layer
for that shape and returns KerasTensors for its outputs, whose shapes come from running
the layer once on a small batch of zeros (so no shape rule is written twice). Calling it
on a Tensor runs it, building it first from that Tensor's shape if it was never built.
"""
import inspect
import itertools

import numpy as np

from ... import nn
from ...function import no_grad
from ...tensor import Tensor
from .. import activations
from ..backend import snake_case, unique_name


def shape_text(shape):
    """(None, 6, 6, 32) as Keras prints it."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class InputSpec:
    """What a layer accepts: a rank (one or several) and sizes on some axes."""

    def __init__(self, ndim=None, axes=None):
        self.ndim = (ndim,) if isinstance(ndim, int) else ndim
        self.axes = dict(axes or {})

    def check(self, layer, index, shape):
        """Raise Keras's error, naming the layer, when `shape` (batch axis first) does not fit."""
        where = f'Input {index} of layer "{layer.name}" is incompatible with the layer'
        if self.ndim is not None and len(shape) not in self.ndim:
            expected = " or ".join(f"ndim={n}" for n in self.ndim)
            raise ValueError(f"{where}: expected {expected}, found ndim={len(shape)}. Full shape received: "
                             f"{shape_text(shape)}{layer.ndim_hint(shape)}")
        for axis, size in self.axes.items():
            if size is not None and len(shape) > abs(axis) - (axis < 0) and shape[axis] not in (None, size):
                raise ValueError(f"{where}: expected axis {axis} of input shape to have value {size}, but received "
                                 f"input with shape {shape_text(shape)}")


class Node:
    """One call of a layer in a functional model: the KerasTensors it read and made."""

    def __init__(self, layer, inputs, shapes, dtypes):
        self.layer, self.inputs = layer, inputs
        self.outputs = [KerasTensor(shape, dtype, self, i) for i, (shape, dtype) in enumerate(zip(shapes, dtypes))]


class KerasTensor:
    """A symbolic tensor of a functional model: the shape (None for the batch) and the node
    that will compute it."""

    def __init__(self, shape, dtype, node, index):
        self.shape, self.dtype, self.node, self.index = tuple(shape), np.dtype(dtype), node, index

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return (f"<KerasTensor shape={shape_text(self.shape)} dtype={self.dtype} "
                f"(created by layer '{self.node.layer.name}')>")


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _is_symbolic(inputs):
    return any(isinstance(x, KerasTensor) for x in _as_list(inputs))


class Layer(nn.Module):
    """Keras's Layer. Subclasses set `input_spec` (what they accept), define `build(shape)`
    (create the nn modules; `shape` has None for the batch, or is a list of shapes for a
    layer of several inputs) and `call(inputs)`; a layer with an `activation` applies it
    after `call`, so that a model can ask the last layer for its logits instead."""

    activation = None

    def __init__(self, name=None, trainable=True, input_shape=None, batch_input_shape=None, batch_size=None):
        super().__init__()
        self.name = name or unique_name(snake_case(type(self).__name__))
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self.batch_input_shape = None if batch_input_shape is None else tuple(batch_input_shape)
        self._trainable, self.built = trainable, False
        self.input_spec = getattr(self, "input_spec", None)

    # ---- what a subclass defines ----------------------------------------------------------
    def build(self, input_shape):
        """Create the layer's nn modules for inputs of `input_shape`; layers without
        weights need nothing."""

    def call(self, inputs):
        raise NotImplementedError(f"{type(self).__name__} must define call()")

    def ndim_hint(self, shape):
        """A sentence added to the wrong-rank error (Dense suggests Flatten)."""
        return ""

    # ---- trainable ---------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freezing a layer stops its weights' gradients (Keras's layer.trainable = False)."""
        self._trainable = bool(value)
        self.requires_grad_(self._trainable)

    # ---- building and running ------------------------------------------------------------
    def _check(self, shapes):
        if self.input_spec is not None:
            for i, shape in enumerate(shapes):
                self.input_spec.check(self, i, shape)

    def _maybe_build(self, shapes, device="cpu"):
        self._check(shapes)
        if not self.built:
            self.build(shapes if len(shapes) > 1 or self.multiple_inputs else shapes[0])
            self.built = True
            self._check(shapes)  # build learns sizes (the Dense's input width) to check from now on
            self.requires_grad_(self._trainable)
            if device != "cpu":
                self.to(device)

    multiple_inputs = False  # merge layers take a list even of one tensor

    def __call__(self, inputs, *args, **kwargs):
        if not isinstance(inputs, Tensor) and _is_symbolic(inputs):
            return self._call_symbolic(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def forward(self, inputs, logits=False):
        """Run the layer on Tensors; `logits` leaves out the final activation."""
        tensors = _as_list(inputs)
        self._maybe_build([(None,) + t.shape[1:] for t in tensors], tensors[0].device)
        return self._activate(self.call(inputs), logits)

    def _activate(self, outputs, logits):
        if self.activation is not None and self.activation is not activations.linear and not logits:
            outputs = self.activation(outputs)
        return outputs

    # ---- the channels-first shortcut ---------------------------------------------------------
    # Layers that compute channels first (convolutions, pooling...) permute on the way in and
    # out. A model hands such layers' outputs to the next one of them still channels first,
    # so a run of them permutes once at each end; layers whose work is elementwise (Dropout,
    # most activations) take either layout.
    def takes_channels_first(self):
        """Whether this built layer can run on channels-first input through forward_channels_first."""
        return False

    def any_layout(self):
        """Whether this layer is elementwise, so the same in either layout."""
        return False

    def call_channels_first(self, inputs):
        raise NotImplementedError(f"{type(self).__name__} has no channels-first form")

    def forward_channels_first(self, inputs, logits=False):
        """forward on a channels-first (N, C, ...) input, giving a channels-first output."""
        self._check([(None,) + inputs.shape[2:] + inputs.shape[1:2]])
        outputs = self.call(inputs) if self.any_layout() else self.call_channels_first(inputs)
        return self._activate(outputs, logits)

    def _elementwise_activation(self):
        return self.activation is not activations.softmax

    def _call_symbolic(self, inputs):
        tensors = _as_list(inputs)
        if not all(isinstance(t, KerasTensor) for t in tensors):
            raise TypeError(f'Layer "{self.name}": the inputs of a functional model must all be KerasTensors '
                            f"(from Input or another layer), got {[type(t).__name__ for t in tensors]}")
        shapes = [t.shape for t in tensors]
        self._maybe_build(shapes)
        out_shapes, dtypes = self._traced_shapes(shapes, [t.dtype for t in tensors], isinstance(inputs, (list, tuple)))
        node = Node(self, tensors, out_shapes, dtypes)
        return node.outputs if len(node.outputs) > 1 else node.outputs[0]

    def compute_output_shape(self, input_shape):
        """The output shape(s) for inputs of `input_shape` (batch axis None)."""
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        as_list = isinstance(input_shape, list)
        out, _ = self._traced_shapes([tuple(s) for s in shapes], [np.float32] * len(shapes), as_list)
        return out if len(out) > 1 else out[0]

    def _traced_shapes(self, shapes, dtypes, as_list):
        """Run the layer on zeros with every unknown size (batch included) set to 2, and to 3
        as well if an axis other than the batch is unknown: the output sizes that change
        with it are unknown (None) too."""
        def run(fill):
            zeros = [Tensor.zeros(tuple(fill if d is None else d for d in s), dtype=dt)
                     for s, dt in zip(shapes, dtypes)]
            modes = [(m, m.training) for m in self.modules()]
            self.eval()
            try:
                with no_grad():
                    return _as_list(self.forward(zeros if as_list else zeros[0]))
            finally:
                for module, mode in modes:
                    module.training = mode

        first = run(2)
        unknown = any(d is None for s in shapes for d in s[1:])
        second = run(3) if unknown else first
        out_shapes = [(None,) + tuple(a if a == b else None for a, b in zip(x.shape[1:], y.shape[1:]))
                      for x, y in zip(first, second)]
        return out_shapes, [x.dtype for x in first]

    # ---- config --------------------------------------------------------------------------
    def get_config(self):
        """The arguments that make this layer again: each argument of __init__, read from
        the attribute of the same name (activations by their names)."""
        config = {"name": self.name, "trainable": self._trainable}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        for name in itertools.islice(inspect.signature(type(self).__init__).parameters, 1, None):
            if name in config or name in ("kwargs", "input_shape", "batch_size"):
                continue
            value = getattr(self, name)
            if name == "activation" and callable(value):
                value = activations.serialize(value)
            elif isinstance(value, Layer):
                value = {"class_name": type(value).__name__, "config": value.get_config()}
            elif isinstance(value, tuple):
                value = list(value)
            config[name] = value
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ---- weights -------------------------------------------------------------------------
    def count_params(self):
        """Keras's count: the weights, and the floating buffers (BatchNormalization's moving
        mean and variance, which Keras counts as non-trainable weights)."""
        return self._counts()[0]

    def _counts(self):
        """(all, trainable) weights, as count_params counts them."""
        params = list(self.parameters())
        buffers = [b for b in self.buffers() if b.dtype.kind == "f"]
        trainable = sum(p.numel() for p in params if p.requires_grad)
        return sum(p.numel() for p in params) + sum(b.numel() for b in buffers), trainable

    def extra_repr(self):
        return f"name={self.name!r}"


class InputLayer(Layer):
    """Where a functional model's data enters (Input makes one)."""

    def __init__(self, batch_input_shape=None, dtype="float32", name=None, input_shape=None, batch_size=None):
        super().__init__(name=name or unique_name("input", zero_based=False), input_shape=input_shape,
                         batch_input_shape=batch_input_shape, batch_size=batch_size)
        if self.batch_input_shape is None:
            raise ValueError(f'InputLayer "{self.name}": give its shape (shape=(...) without the batch axis)')
        self.dtype = str(np.dtype(dtype))
        self.built = True
        self.node = Node(self, [], [self.batch_input_shape], [self.dtype])

    def get_config(self):
        return {"name": self.name, "batch_input_shape": list(self.batch_input_shape), "dtype": self.dtype}


def Input(shape=None, batch_size=None, name=None, dtype="float32", batch_shape=None):
    """The KerasTensor a functional model starts from: shape without the batch axis."""
    if shape is None and batch_shape is None:
        raise ValueError("Input: give shape=(...) (without the batch axis) or batch_shape=(...)")
    batch_shape = tuple(batch_shape) if batch_shape is not None else (batch_size,) + tuple(shape)
    return InputLayer(batch_input_shape=batch_shape, dtype=dtype, name=name).node.outputs[0]


def channels_first(x):
    """Keras's (N, ..., C) as our (N, C, ...)."""
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def channels_last(x):
    """Our (N, C, ...) as Keras's (N, ..., C)."""
    return x.permute(0, *range(2, x.ndim), 1)
