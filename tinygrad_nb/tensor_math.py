"""Tensor's arithmetic: the operators (+ - * / ** @ and their reflected forms) with PyTorch's
type promotion, comparisons, the elementwise functions and activations, where, and the
matrix products. The activations without a parameter are made from the rules' table
(kernels/activations.py): one method per row, `t.relu()`, `t.mish()` ... (ACTIVATIONS below).

Mixed into Tensor by tensor.py. Each method checks its arguments and calls an op from
ops/ (`Add.apply(a, b)`), where the math and its derivative live. New tensors outside
an op come from `_from_array` and `_from_data`, which make a plain Tensor.
"""
import numbers
import operator

import numpy as np

from . import function
from .device import get_device
from .function import TensorBase
from .ops.activation import Elu, Gelu, GeluTanh, LeakyRelu, OPS, RULES, Softplus
from .ops.elementwise import Abs, Add, Clip, Cos, Div, Exp, Log, Maximum, Mul, Neg, Pow, Sin, Sqrt, Sub, Where
from .ops.matmul import MatMul
from .tensor_args import DEFAULT_FLOAT


class TensorMath:
    # ---- arithmetic -------------------------------------------------------------------
    def _operand(self, other):
        """Turn a number or array into a Tensor on self's device. A Python number takes
        self's dtype when self is floating (so x * 2 stays float32)."""
        if isinstance(other, TensorBase):
            return other
        if isinstance(other, (numbers.Number, np.bool_)) and not isinstance(other, np.ndarray):
            if self.dtype.kind == "f":
                dtype = self.dtype
            elif isinstance(other, (bool, np.bool_)):
                dtype = self.dtype
            elif isinstance(other, numbers.Integral):
                dtype = self.dtype if self.dtype.kind in "iu" else np.int64
            else:
                dtype = DEFAULT_FLOAT
            return self._from_array(get_device(self.device).scalar(other, dtype), self.device)
        return self._from_data(other, device=self.device)

    def _binary(self, op, other, reverse=False):
        other = self._operand(other)
        a, b = _promoted_pair(*((other, self) if reverse else (self, other)))
        _broadcast_shape(op.__name__, a, b)
        return op.apply(a, b)

    def _floating(self):
        """This tensor, or for an integer or bool one a float32 copy: what exp, log and the
        like compute on, as in PyTorch (NumPy would make float64)."""
        return self if self.dtype.kind == "f" else self.cast(DEFAULT_FLOAT)

    def __add__(self, other):
        return self._binary(Add, other)

    def __radd__(self, other):
        return self._binary(Add, other, reverse=True)

    def __sub__(self, other):
        return self._binary(Sub, other)

    def __rsub__(self, other):
        return self._binary(Sub, other, reverse=True)

    def __mul__(self, other):
        return self._binary(Mul, other)

    def __rmul__(self, other):
        return self._binary(Mul, other, reverse=True)

    def __truediv__(self, other):
        """True division: integers divide as float32, as in PyTorch."""
        return self._floating()._binary(Div, other)

    def __rtruediv__(self, other):
        return self._floating()._binary(Div, other, reverse=True)

    def __pow__(self, other):
        return self._binary(Pow, other)

    def __rpow__(self, other):
        return self._binary(Pow, other, reverse=True)

    def __neg__(self):
        return Neg.apply(self)

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return self._operand(other).matmul(self)

    add, sub, mul, div, pow, neg = __add__, __sub__, __mul__, __truediv__, __pow__, __neg__

    def matmul(self, other):
        """Matrix product with np.matmul's rules: 1-D operands are promoted to matrices
        and the added axis removed afterwards; leading axes broadcast."""
        a, b = _promoted_pair(self, self._operand(other))
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
        a2 = a.unsqueeze(0) if a.ndim == 1 else a
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise RuntimeError(
                f"matmul: mat1 and mat2 shapes cannot be multiplied "
                f"({'x'.join(map(str, a.shape))} and {'x'.join(map(str, b.shape))})"
            )
        try:
            np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            raise RuntimeError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not broadcast") from None
        dtype = np.result_type(a.dtype, b.dtype)
        out = MatMul.apply(a2.cast(dtype), b2.cast(dtype))
        if a.ndim == 1:
            out = out.squeeze(-2)
        if b.ndim == 1:
            out = out.squeeze(-1)
        return out

    def mm(self, other):
        if self.ndim != 2 or other.ndim != 2:
            raise RuntimeError(f"mm: expects two matrices, got shapes {self.shape} and {other.shape}")
        return self @ other

    def bmm(self, other):
        if self.ndim != 3 or other.ndim != 3 or self.shape[0] != other.shape[0]:
            raise RuntimeError(f"bmm: expects two batches of matrices of one batch size, got shapes {self.shape} and "
                               f"{other.shape}")
        return self @ other

    # ---- comparisons ------------------------------------------------------------------
    def _compare(self, op, other):
        other = self._operand(other)
        _broadcast_shape(op.__name__, self, other)
        function._common_device(op.__name__, [self, other])
        return self._from_array(op(self.array, other.array), self.device)

    def __lt__(self, other):
        return self._compare(operator.lt, other)

    def __le__(self, other):
        return self._compare(operator.le, other)

    def __gt__(self, other):
        return self._compare(operator.gt, other)

    def __ge__(self, other):
        return self._compare(operator.ge, other)

    def __eq__(self, other):
        return self._compare(operator.eq, other)

    def __ne__(self, other):
        return self._compare(operator.ne, other)

    # PyTorch's names of the comparisons
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __invert__(self):
        if self.dtype != np.bool_:
            raise TypeError(f"~ needs a bool tensor, got {self.dtype}")
        return self._from_array(~self.array, self.device)

    def __and__(self, other):
        return self._compare(operator.and_, other)

    def __or__(self, other):
        return self._compare(operator.or_, other)

    # ---- elementwise functions --------------------------------------------------------
    def exp(self):
        return Exp.apply(self._floating())

    def log(self):
        return Log.apply(self._floating())

    def sin(self):
        return Sin.apply(self._floating())

    def cos(self):
        return Cos.apply(self._floating())

    def sqrt(self):
        return Sqrt.apply(self._floating())

    def leaky_relu(self, negative_slope=0.01):
        return LeakyRelu.apply(self, float(negative_slope))

    def gelu(self, approximate="none"):
        """x Phi(x), exactly (approximate='none', PyTorch's default) or with tanh ('tanh')."""
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        return Gelu.apply(self) if approximate == "none" else GeluTanh.apply(self)

    def elu(self, alpha=1.0):
        return Elu.apply(self, float(alpha))

    def softplus(self, beta=1.0, threshold=20.0):
        """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (only PyTorch's
        default threshold, 20, is built in)."""
        if threshold != 20:
            raise ValueError(f"softplus: only threshold=20 (PyTorch's default) is supported, got {threshold}")
        if beta <= 0:
            raise ValueError(f"softplus: beta must be positive, got {beta}")
        return Softplus.apply(self, float(beta))

    def abs(self):
        return Abs.apply(self)

    def clip(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        return Clip.apply(self, lo=min, hi=max)

    clamp = clip

    def maximum(self, other):
        return self._binary(Maximum, other)

    def minimum(self, other):
        return -((-self).maximum(-self._operand(other)))

    def square(self):
        return self * self

    def rsqrt(self):
        return 1.0 / self.sqrt()

    @classmethod
    def where(cls, condition, x, y):
        """Elementwise `x if condition else y`, broadcasting all three."""
        ref = next((t for t in (x, y, condition) if isinstance(t, TensorBase)), None)
        if ref is None:
            ref = cls._from_data(x)
        if ref.dtype.kind != "f":
            ref = cls._from_data(np.zeros((), DEFAULT_FLOAT), device=ref.device)
        cond = condition if isinstance(condition, TensorBase) else cls._from_data(np.asarray(condition, bool),
                                                                                   device=ref.device)
        x, y = ref._operand(x), ref._operand(y)
        try:
            np.broadcast_shapes(cond.shape, x.shape, y.shape)
        except ValueError:
            raise RuntimeError(f"where: shapes {cond.shape}, {x.shape} and {y.shape} cannot be broadcast together") from None
        dtype = np.result_type(x.dtype, y.dtype)
        return Where.apply(cond, x.cast(dtype), y.cast(dtype))


def _broadcast_shape(op, a, b):
    if a.shape == b.shape or not b.shape:
        return a.shape
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}  # bool < integer < floating, PyTorch's categories


def _promoted_pair(a, b):
    """PyTorch's type promotion for two tensors (Python numbers were made tensors of the
    other's dtype by _operand: they never change it):
    - a tensor with axes and a 0-d one: the 0-d one counts only if its category is higher
      (float32 + a 0-d float64 stays float32; int64 + a 0-d float64 is float64);
    - otherwise the higher category wins (int64 + float32 is float32, where NumPy says
      float64), and within one category the wider dtype (float32 + float64 is float64).
    A NumPy array is a tensor of its own dtype here, as torch.as_tensor makes it."""
    ka, kb = _CATEGORY[a.dtype.kind], _CATEGORY[b.dtype.kind]
    if (a.ndim == 0) != (b.ndim == 0):
        zero, full = (a, b) if a.ndim == 0 else (b, a)
        dtype = full.dtype if _CATEGORY[zero.dtype.kind] <= _CATEGORY[full.dtype.kind] else zero.dtype
    elif ka != kb:
        dtype = a.dtype if ka > kb else b.dtype
    else:
        return a, b
    return a.cast(dtype), b.cast(dtype)


def _activation(name, op, keeps_integers):
    def method(self):
        return op.apply(self if keeps_integers else self._floating())

    method.__name__, method.__qualname__, method.__doc__ = name, f"TensorMath.{name}", op.__doc__
    return method


# The rules with an nn module: each a Tensor method of its name (and, in nn, a module and a function).
ACTIVATIONS = {name: rule.module for name, rule in RULES.items() if rule.module}
for _name in ACTIVATIONS:
    setattr(TensorMath, _name, _activation(_name, OPS[_name], RULES[_name].keeps_integers))
