"""Tensor's in-place writes: x[i] = v, add_ sub_ mul_ div_ (and += -= *= /=), clamp_ fill_
zero_ uniform_ normal_ scatter_ scatter_add_, copy_ and detach_.

x.add_(y) is x + y written back into x, as in PyTorch. Where no graph is recorded through
x (under no_grad, or when neither side requires grad) the values go into x's own buffer,
which views of x see, and the buffer's version count goes up, so that a backward that
saved it refuses to run. Where one is (x is an op's result, or y requires grad), x
becomes the new node of the graph, its values in a new buffer, so the arrays the graph
saved stay as they were. Writing into a leaf that requires grad while recording is an
error, as in PyTorch: `with tg.no_grad(): p -= lr * p.grad` is the way.

Mixed into Tensor by tensor.py.
"""
import numpy as np

from . import cuda, function
from .device import get_device
from .function import TensorBase
from .tensor_movement import _index


class TensorInplace:
    def __setitem__(self, index, value):
        if self.requires_grad or self._ctx is not None:
            raise RuntimeError("__setitem__: in-place assignment into a tensor that is part of a graph; use where() or cat()")
        value = value.array if isinstance(value, TensorBase) else value
        self.array[_index(index)] = value
        function.bump_version(self.array)

    def _write(self, name, compute, *operands):
        """compute(self, *operands) written into this tensor, as the module docstring says."""
        if function.is_grad_enabled() and self.requires_grad and self._ctx is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place operation "
                               "(write parameters under tg.no_grad(), as optimisers do)")
        before = self
        if function.is_grad_enabled() and self.requires_grad:  # the node this tensor was, as the new one's input
            before = self._from_array(self.array, self.device, requires_grad=True)
            before._ctx, before._out_index = self._ctx, self._out_index
        new = compute(before, *(before if o is self else o for o in operands))  # x *= x: both are the old x
        if new.shape != self.shape:
            raise RuntimeError(f"{name}: the result has shape {new.shape}; it cannot be written into a tensor of "
                               f"shape {self.shape}")
        if new.dtype != self.dtype:
            if not np.can_cast(new.dtype, self.dtype, "same_kind"):
                raise RuntimeError(f"{name}: result type {new.dtype} can't be cast to the desired output type "
                                   f"{self.dtype}")
            new = new.cast(self.dtype)
        if function.is_grad_enabled() and (self.requires_grad or new.requires_grad):
            self.array, self._ctx, self._out_index, self.requires_grad = new.array, new._ctx, new._out_index, new.requires_grad
        else:
            self.array[...] = new.array
            function.bump_version(self.array)
        return self

    def add_(self, other, alpha=1):
        return self._write("add_", lambda t, o: t + (o if alpha == 1 else t._operand(o) * alpha), other)

    def sub_(self, other, alpha=1):
        return self._write("sub_", lambda t, o: t - (o if alpha == 1 else t._operand(o) * alpha), other)

    def mul_(self, other):
        return self._write("mul_", lambda t, o: t * o, other)

    def div_(self, other):
        return self._write("div_", lambda t, o: t / o, other)

    def clamp_(self, min=None, max=None):
        return self._write("clamp_", lambda t: t.clamp(min, max))

    clip_ = clamp_

    def fill_(self, value):
        return self._write("fill_", lambda t: t.full(t.shape, value, dtype=t.dtype, device=t.device))

    def zero_(self):
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0):
        """Fill with samples uniform in [a, b), from the global generator (nn.init's way)."""
        return self._write("uniform_", lambda t: t.rand(t.shape, dtype=t.dtype, device=t.device) * (b - a) + a)

    def normal_(self, mean=0.0, std=1.0):
        """Fill with samples of a normal distribution, from the global generator."""
        return self._write("normal_", lambda t: t.randn(t.shape, dtype=t.dtype, device=t.device) * std + mean)

    def scatter_(self, dim, index, src=None, value=None):
        """scatter written into this tensor, in place."""
        return self._write("scatter_", lambda t: t.scatter(dim, index, src, value))

    def scatter_add_(self, dim, index, src):
        """scatter_add written into this tensor, in place."""
        return self._write("scatter_add_", lambda t: t.scatter_add(dim, index, src))

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def copy_(self, src):
        """Write src's values into this tensor's own buffer, in place: src is a Tensor (from
        any device), an array or a number, broadcast to self's shape and cast to its dtype.
        Whatever holds the buffer (an optimiser, a captured CUDA graph) sees the new values.
        While a graph is recorded through it (src requires grad, or this tensor is an op's
        result), the copy is part of the graph, as the other in-place ops are."""
        if function.is_grad_enabled() and (self.requires_grad or isinstance(src, TensorBase) and src.requires_grad):
            return self._write("copy_", lambda t, o: o.to(t.device).expand(t.shape), self._operand(src))
        if isinstance(src, TensorBase) and src.device == self.device:
            values = src.array
        else:
            values = src.numpy() if isinstance(src, TensorBase) else np.asarray(src)
        try:
            fits = np.broadcast_shapes(tuple(values.shape), self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"copy_: values of shape {tuple(values.shape)} cannot be written into a tensor of shape {self.shape}")
        if not isinstance(values, np.ndarray):
            self.array[...] = values
        elif self.device != "cpu" and cuda.is_current_stream_capturing():
            raise RuntimeError(
                "copy_: host data copied into a 'cuda' tensor while a CUDA graph was being captured would not be "
                "copied again on replay; call copy_() before replay(), outside the captured step"
            )
        else:
            get_device(self.device).write(self.array, values)
        function.bump_version(self.array)
        return self

    def detach_(self):
        self._ctx = None
        self.requires_grad = False
        return self
