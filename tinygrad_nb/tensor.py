"""Tensor: an n-dimensional array that remembers the ops that made it.

Every method here either builds a Tensor or calls `SomeOp.apply(...)` from `ops/`;
the math and the derivatives live in the ops, the user-facing API lives here.
"""
import numbers
import operator
import weakref
from typing import NamedTuple

import numpy as np

from . import cuda, function
from .device import canonical, get_device
from .ops import elementwise as E
from .ops import index as IX
from .ops import matmul as M
from .ops import movement as MV
from .ops import reduce as R
from . import random
from .random import generator

DEFAULT_FLOAT = np.float32


def _to_dtype(dtype):
    return None if dtype is None else np.dtype(getattr(dtype, "np_dtype", dtype))


def _as_array(data, dtype):
    """Python numbers and lists become float32; NumPy arrays keep their dtype (as
    torch.from_numpy) but are copied (as torch.tensor), except that a requested dtype wins."""
    if isinstance(data, Tensor):
        data = data.numpy()
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        arr = np.array(data)  # a copy, as torch.tensor: in-place updates must not reach the caller's array
    else:
        arr = np.asarray(data)
        if dtype is None and arr.dtype.kind in "fiu":
            arr = arr.astype(DEFAULT_FLOAT)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    _check_dtype(arr.dtype, "Tensor")
    return arr


def _check_dtype(dtype, who):
    if dtype.kind in "cOUSV":
        raise TypeError(f"{who}: unsupported dtype {dtype}; expected float16, float32, float64, an integer or bool")


def _shape_arg(shape):
    """Accept f(2, 3) and f((2, 3))."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


class ValuesIndices(NamedTuple):
    """What max(dim), min(dim), sort and topk return, as PyTorch's torch.return_types.max: a
    tuple that unpacks as (values, indices) and names its parts."""
    values: "Tensor"
    indices: "Tensor"


class Tensor:
    __array_priority__ = 1000  # so ndarray * Tensor calls Tensor.__rmul__

    def __init__(self, data, requires_grad=False, device="cpu", dtype=None):
        arr = _as_array(data, _to_dtype(dtype))
        dev = get_device(device)
        self.array = dev.from_numpy(arr)
        self.device = dev.name
        self.grad = None
        self._ctx = None
        self._out_index = 0
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    @classmethod
    def _from_array(cls, array, device, requires_grad=False):
        """Wrap an array that already lives on `device` (no copy, no dtype change)."""
        t = cls.__new__(cls)
        t.array, t.device, t.grad, t._ctx, t._out_index = array, device, None, None, 0
        t.requires_grad = requires_grad
        return t

    def requires_grad_(self, flag=True):
        if flag and self.array.dtype.kind != "f":
            raise RuntimeError(
                f"Tensor.requires_grad_: only floating tensors can require gradients, got dtype {self.array.dtype}"
            )
        self.requires_grad = bool(flag)
        return self

    # ---- inspection -------------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self):
        return len(self.array.shape)

    @property
    def data(self):
        """The same values as a tensor outside the graph, sharing this one's buffer (PyTorch's
        .data): `p.data.add_(g, alpha=-lr)` updates p without recording anything. The raw
        device array itself is `.array`."""
        return Tensor._from_array(self.array, self.device)

    @data.setter
    def data(self, value):
        """Replace the values (a Tensor's or an array's), keeping this tensor and its graph role."""
        self.array = value.array if isinstance(value, Tensor) else get_device(self.device).from_numpy(np.asarray(value))

    @property
    def is_leaf(self):
        return self._ctx is None

    def dim(self):
        return self.ndim

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[_axis(self, dim, "size")]

    def numel(self):
        return int(np.prod(self.shape))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def numpy(self):
        """The values as a NumPy array (copied to the host from a GPU)."""
        return get_device(self.device).to_numpy(self.array)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item: only one-element tensors convert to a Python number, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self):
        extra = f", device='{self.device}'" if self.device != "cpu" else ""
        if self.requires_grad:
            extra += ", requires_grad=True"
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{extra})"

    def __bool__(self):
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors of one element can be used as an index, got {self.dtype}")
        return int(self.item())

    __hash__ = object.__hash__

    # ---- autograd ---------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Fill `.grad` of every leaf that requires it with d(self)/d(leaf), summed over
        calls. A non-scalar tensor needs `gradient`, the vector of the vector-Jacobian product.
        With create_graph the gradients are themselves differentiable (and the graph is kept)."""
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph (was it made under no_grad?)")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs, got shape {self.shape}; "
                    "pass a gradient of the same shape"
                )
            g = get_device(self.device).xp.ones(self.shape, self.dtype)
        else:
            g = gradient.array if isinstance(gradient, Tensor) else get_device(self.device).from_numpy(
                np.asarray(gradient, dtype=self.dtype)
            )
            if tuple(g.shape) != self.shape:
                raise RuntimeError(f"backward: gradient has shape {tuple(g.shape)}, expected {self.shape}")
        function.backward(self, g, retain_graph=bool(retain_graph), create_graph=create_graph)

    def _accumulate(self, g):
        """Leaf gradients add up across uses and across backward() calls. Under create_graph, g
        is a Tensor with a graph of its own, and so .grad becomes."""
        if isinstance(g, Tensor):
            g = g.cast(self.dtype)
            self.grad = g if self.grad is None else self.grad + g
            return
        if g.dtype != self.dtype:
            g = g.astype(self.dtype)
        if self.grad is None:
            self.grad = Tensor._from_array(g, self.device)
        else:
            self.grad = Tensor._from_array(self.grad.array + g, self.device)

    @property
    def is_leaf(self):
        """True for a tensor made by the user (not by an op that records a graph)."""
        return self._ctx is None

    def register_hook(self, hook):
        """Call hook(grad) when backward() has this tensor's whole gradient; a tensor the hook
        returns replaces the gradient (for a leaf, before it goes into .grad). Returns a handle
        whose remove() unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        hooks = self.__dict__.setdefault("_hooks", [])
        hooks.append(hook)
        self._watch()
        return function.RemovableHandle(hooks, hook)

    def retain_grad(self):
        """Keep this (non-leaf) tensor's gradient in .grad after backward(), as leaves do."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that has requires_grad=False")
        self._retain = True
        self._watch()

    def _watch(self):
        """Have the op that made this tensor hand its gradient to the tensor's hooks."""
        if self._ctx is not None:
            watched = self._ctx.__dict__.setdefault("watched", {})
            watched[self._out_index] = weakref.ref(self)

    def register_post_accumulate_grad_hook(self, hook):
        """Call hook(self) in every backward() once its last contribution has been added into
        this leaf's .grad (PyTorch's hook of that name). Returns a handle whose remove()
        unregisters it."""
        if self._ctx is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors (made by the user, not by "
                               "an op) accumulate gradients")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: the tensor does not require grad")
        hooks = self.__dict__.setdefault("_grad_hooks", [])
        hooks.append(hook)
        return function.RemovableHandle(hooks, hook)

    def detach(self):
        """The same values, cut from the graph (shares memory, as in PyTorch)."""
        return Tensor._from_array(self.array, self.device)

    # ---- devices and dtypes -----------------------------------------------------------
    def to(self, target):
        """`.to('cuda')`, `.to('cpu')` or `.to(dtype)`. Moving devices copies and is
        differentiable (the gradient moves back)."""
        try:
            name = canonical(target)
            if name in ("cpu", "cuda"):
                return self if name == self.device else _Transfer.apply(self, device=name)
        except TypeError:
            pass
        if isinstance(target, str):
            try:
                np.dtype(target)
            except TypeError:
                raise ValueError(f"to: unknown device or dtype {target!r}; expected 'cpu', 'cuda' (or 'cuda:0') "
                                 "or a dtype such as tg.float32") from None
        return self.cast(target)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def cast(self, dtype):
        dtype = _to_dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind != "f":
            return Tensor._from_array(self.array.astype(dtype), self.device)
        return E.Cast.apply(self, dtype=dtype)

    def float(self):
        return self.cast(np.float32)

    def double(self):
        return self.cast(np.float64)

    def half(self):
        """As float16: storage, casts, NumPy's elementwise ops and reductions; ops with a
        Numba kernel (matmul, conv, pooling, rnn...) need float32 and say so."""
        return self.cast(np.float16)

    def bfloat16(self):
        raise TypeError("bfloat16: NumPy has no bfloat16 dtype, so neither has tinygrad_nb; use half() (float16) or "
                        "float()")

    def long(self):
        return self.cast(np.int64)

    def int(self):
        return self.cast(np.int32)

    def bool(self):
        return self.cast(np.bool_)

    def type(self, dtype=None):
        """Without dtype, the type's name as PyTorch gives it, in this package:
        'tinygrad_nb.FloatTensor', 'tinygrad_nb.cuda.LongTensor'... With a dtype, this tensor
        cast to it; with such a name (also 'torch.' ones), cast and moved to its device."""
        if dtype is None:
            name = _TYPE_NAMES.get(self.dtype)
            if name is None:
                raise TypeError(f"type: no tensor type name for dtype {self.dtype}")
            return f"tinygrad_nb.{'cuda.' if self.device == 'cuda' else ''}{name}"
        if not isinstance(dtype, str) or "Tensor" not in dtype:
            return self.cast(dtype)
        prefix, _, name = dtype.rpartition(".")
        by_name = {v: k for k, v in _TYPE_NAMES.items()}
        if name not in by_name or prefix not in ("tinygrad_nb", "tinygrad_nb.cuda", "torch", "torch.cuda"):
            raise ValueError(f"type: unknown tensor type {dtype!r}; expected a dtype or a name such as "
                             f"'tinygrad_nb.FloatTensor' or 'tinygrad_nb.cuda.LongTensor'")
        return self.to("cuda" if prefix.endswith(".cuda") else "cpu").cast(by_name[name])

    # ---- factories --------------------------------------------------------------------
    @staticmethod
    def _factory(array, dtype, device, requires_grad):
        return Tensor(array, requires_grad=requires_grad, device=device, dtype=_to_dtype(dtype) or DEFAULT_FLOAT)

    @staticmethod
    def _on_device(make, shape, dtype, device, requires_grad):
        """A tensor whose buffer the device makes itself in the final dtype (no host copy,
        so factories also work inside a captured CUDA graph)."""
        dev = get_device(device)
        dtype = _to_dtype(dtype) or np.dtype(DEFAULT_FLOAT)
        return Tensor._from_array(make(dev, shape, dtype), dev.name).requires_grad_(requires_grad)

    @staticmethod
    def zeros(*shape, dtype=None, device="cpu", requires_grad=False):
        return Tensor.full(_shape_arg(shape), 0, dtype, device, requires_grad)

    @staticmethod
    def ones(*shape, dtype=None, device="cpu", requires_grad=False):
        return Tensor.full(_shape_arg(shape), 1, dtype, device, requires_grad)

    @staticmethod
    def from_numpy(array):
        """torch.from_numpy: a CPU tensor sharing the array's memory (writes show on both
        sides), with the array's dtype."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
        _check_dtype(array.dtype, "from_numpy")
        return Tensor._from_array(array, "cpu")

    @staticmethod
    def full(shape, fill_value, dtype=None, device="cpu", requires_grad=False):
        shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(n) for n in shape)
        return Tensor._on_device(lambda dev, s, d: dev.xp.full(s, fill_value, d), shape, dtype, device, requires_grad)

    @staticmethod
    def randn(*shape, dtype=None, device="cpu", requires_grad=False):
        """Standard normal samples from the generator seeded by `manual_seed`, drawn in the
        tensor's dtype (on the host, for every device)."""
        return Tensor._on_device(lambda dev, s, d: dev.from_numpy(random.normal(s, d)), _shape_arg(shape), dtype, device,
                                 requires_grad)

    @staticmethod
    def rand(*shape, dtype=None, device="cpu", requires_grad=False):
        """Uniform samples in [0, 1): on the CPU from the generator seeded by `manual_seed`, on
        the GPU from the GPU's own generator (seeded from it), so a captured step draws new ones."""
        return Tensor._on_device(lambda dev, s, d: dev.uniform(s, d), _shape_arg(shape), dtype, device, requires_grad)

    @staticmethod
    def randint(low, high=None, size=(), dtype=None, device="cpu"):
        if high is None:
            low, high = 0, low
        values = generator().integers(low, high, size=_shape_arg((size,)))
        return Tensor(values, device=device, dtype=_to_dtype(dtype) or np.int64)

    @staticmethod
    def arange(start, end=None, step=1, dtype=None, device="cpu", requires_grad=False):
        """Like torch.arange: integer arguments give int64, any float gives float32."""
        if end is None:
            start, end = 0, start
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        default = np.int64 if ints else DEFAULT_FLOAT
        return Tensor(np.arange(start, end, step), requires_grad, device, _to_dtype(dtype) or default)

    @staticmethod
    def eye(n, m=None, dtype=None, device="cpu", requires_grad=False):
        return Tensor._factory(np.eye(n, m), dtype, device, requires_grad)

    @staticmethod
    def zeros_like(t, dtype=None, device=None, requires_grad=False):
        return Tensor.zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)

    @staticmethod
    def ones_like(t, dtype=None, device=None, requires_grad=False):
        return Tensor.ones(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)

    # ---- arithmetic -------------------------------------------------------------------
    def _operand(self, other):
        """Turn a number or array into a Tensor on self's device. A Python number takes
        self's dtype when self is floating (so x * 2 stays float32)."""
        if isinstance(other, Tensor):
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
            return Tensor._from_array(get_device(self.device).scalar(other, dtype), self.device)
        return Tensor(other, device=self.device)

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
        return self._binary(E.Add, other)

    def __radd__(self, other):
        return self._binary(E.Add, other, reverse=True)

    def __sub__(self, other):
        return self._binary(E.Sub, other)

    def __rsub__(self, other):
        return self._binary(E.Sub, other, reverse=True)

    def __mul__(self, other):
        return self._binary(E.Mul, other)

    def __rmul__(self, other):
        return self._binary(E.Mul, other, reverse=True)

    def __truediv__(self, other):
        """True division: integers divide as float32, as in PyTorch."""
        return self._floating()._binary(E.Div, other)

    def __rtruediv__(self, other):
        return self._floating()._binary(E.Div, other, reverse=True)

    def __pow__(self, other):
        return self._binary(E.Pow, other)

    def __rpow__(self, other):
        return self._binary(E.Pow, other, reverse=True)

    def __neg__(self):
        return E.Neg.apply(self)

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
        out = M.MatMul.apply(a2.cast(dtype), b2.cast(dtype))
        if a.ndim == 1:
            out = out.squeeze(-2)
        if b.ndim == 1:
            out = out.squeeze(-1)
        return out

    def _compare(self, op, other):
        other = self._operand(other)
        _broadcast_shape(op.__name__, self, other)
        function._common_device(op.__name__, [self, other])
        return Tensor._from_array(op(self.array, other.array), self.device)

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
        return Tensor._from_array(~self.array, self.device)

    def __and__(self, other):
        return self._compare(operator.and_, other)

    def __or__(self, other):
        return self._compare(operator.or_, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # ---- elementwise functions --------------------------------------------------------
    def exp(self):
        return E.Exp.apply(self._floating())

    def log(self):
        return E.Log.apply(self._floating())

    def sin(self):
        return E.Sin.apply(self._floating())

    def cos(self):
        return E.Cos.apply(self._floating())

    def sqrt(self):
        return E.Sqrt.apply(self._floating())

    def tanh(self):
        return E.Tanh.apply(self._floating())

    def sigmoid(self):
        return E.Sigmoid.apply(self._floating())

    def relu(self):
        return E.Relu.apply(self)

    def leaky_relu(self, negative_slope=0.01):
        return E.LeakyRelu.apply(self, float(negative_slope))

    def gelu(self, approximate="none"):
        """x Phi(x), exactly (approximate='none', PyTorch's default) or with tanh ('tanh')."""
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        return E.Gelu.apply(self) if approximate == "none" else E.GeluTanh.apply(self)

    def silu(self):
        return E.Silu.apply(self)

    def elu(self, alpha=1.0):
        return E.Elu.apply(self, float(alpha))

    def selu(self):
        return E.Selu.apply(self)

    def softplus(self, beta=1.0, threshold=20.0):
        """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (only PyTorch's
        default threshold, 20, is built in)."""
        if threshold != 20:
            raise ValueError(f"softplus: only threshold=20 (PyTorch's default) is supported, got {threshold}")
        if beta <= 0:
            raise ValueError(f"softplus: beta must be positive, got {beta}")
        return E.Softplus.apply(self, float(beta))

    def relu6(self):
        return E.Relu6.apply(self)

    def hardsigmoid(self):
        return E.Hardsigmoid.apply(self)

    def hardswish(self):
        return E.Hardswish.apply(self)

    def mish(self):
        return E.Mish.apply(self)

    def abs(self):
        return E.Abs.apply(self)

    def clip(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clip: at least one of min and max must be given")
        return E.Clip.apply(self, lo=min, hi=max)

    clamp = clip

    def maximum(self, other):
        return self._binary(E.Maximum, other)

    def minimum(self, other):
        return -((-self).maximum(-self._operand(other)))

    def square(self):
        return self * self

    def rsqrt(self):
        return 1.0 / self.sqrt()

    @staticmethod
    def where(condition, x, y):
        """Elementwise `x if condition else y`, broadcasting all three."""
        ref = next((t for t in (x, y, condition) if isinstance(t, Tensor)), None)
        if ref is None:
            ref = Tensor(x)
        if ref.dtype.kind != "f":
            ref = Tensor(np.zeros((), DEFAULT_FLOAT), device=ref.device)
        cond = condition if isinstance(condition, Tensor) else Tensor(np.asarray(condition, bool), device=ref.device)
        x, y = ref._operand(x), ref._operand(y)
        try:
            np.broadcast_shapes(cond.shape, x.shape, y.shape)
        except ValueError:
            raise RuntimeError(f"where: shapes {cond.shape}, {x.shape} and {y.shape} cannot be broadcast together") from None
        dtype = np.result_type(x.dtype, y.dtype)
        return E.Where.apply(cond, x.cast(dtype), y.cast(dtype))

    # ---- reductions -------------------------------------------------------------------
    def sum(self, axis=None, keepdim=False, dim=None, dtype=None):
        t = self if dtype is None else self.cast(dtype)
        return R.Sum.apply(t, axis=_axes(self, axis, dim, "sum"), keepdim=keepdim)

    def mean(self, axis=None, keepdim=False, dim=None):
        axes = _axes(self, axis, dim, "mean")
        count = int(np.prod([self.shape[a] for a in axes]))
        t = self if self.dtype.kind == "f" else self.float()
        return t.sum(axes, keepdim) / count

    def var(self, axis=None, keepdim=False, dim=None, correction=1, unbiased=None):
        """Variance with Bessel's correction by default (as torch.var)."""
        if unbiased is not None:
            correction = int(unbiased)
        axes = _axes(self, axis, dim, "var")
        count = int(np.prod([self.shape[a] for a in axes]))
        diff = self - self.mean(axes, keepdim=True)
        return (diff * diff).sum(axes, keepdim) / max(count - correction, 0)

    def std(self, axis=None, keepdim=False, dim=None, correction=1, unbiased=None):
        return self.var(axis, keepdim, dim, correction, unbiased).sqrt()

    def prod(self, dim=None, keepdim=False, dtype=None):
        """The product over one axis (over everything when dim is None), as torch.prod;
        integer and bool tensors give int64."""
        axis = None if dim is None else _axis(self, dim, "prod")
        return R.Prod.apply(self.cast(_reduced_dtype(self, dtype)), axis=axis if self.ndim else None, keepdim=keepdim)

    def cumsum(self, dim, dtype=None):
        """Running sums along dim: y_i = x_0 + ... + x_i (as torch.cumsum; integer and bool
        tensors give int64)."""
        axis, t = _axis(self, dim, "cumsum"), self.cast(_reduced_dtype(self, dtype))
        if t.ndim == 0:
            return t.reshape(1).cumsum(0).reshape(())
        return R.Cumsum.apply(t, axis=axis)

    def max(self, axis=None, keepdim=False, dim=None):
        """Largest value: over everything (a scalar tensor), over a tuple of axes (the values),
        or over one axis as PyTorch's max(dim): the named pair (values, indices), the first
        largest winning ties, so that `_, predicted = outputs.max(1)` works as there."""
        return self._extreme(axis, keepdim, dim, "max")

    def min(self, axis=None, keepdim=False, dim=None):
        """Smallest value, as max (one axis: the pair (values, indices))."""
        return self._extreme(axis, keepdim, dim, "min")

    def _extreme(self, axis, keepdim, dim, name):
        chosen = dim if axis is None else axis
        values = R.Max.apply(self, axis=_axes(self, axis, dim, name, nonempty=True), keepdim=keepdim, use_min=name == "min")
        if chosen is None or isinstance(chosen, (tuple, list)):
            return values
        return ValuesIndices(values, self._arg(name == "min", axis, keepdim, dim, f"arg{name}"))

    def argmax(self, axis=None, keepdim=False, dim=None):
        """Index of the largest value along axis (of the flattened tensor when None), computed
        on the tensor's device."""
        return self._arg(False, axis, keepdim, dim, "argmax")

    def argmin(self, axis=None, keepdim=False, dim=None):
        return self._arg(True, axis, keepdim, dim, "argmin")

    def _arg(self, smallest, axis, keepdim, dim, name):
        axis = dim if axis is None else axis
        if axis is not None:
            axis = _axis(self, axis, name)
        if self.numel() == 0 if axis is None else self.shape[axis] == 0:
            raise RuntimeError(f"{name}: cannot take the {name} over an empty axis of a tensor of shape {self.shape}")
        out = get_device(self.device).kernel("argmax")(self.array, axis, keepdim, smallest)
        return Tensor._from_array(out, self.device)

    def argsort(self, dim=-1, descending=False, stable=False):
        """The positions (int64) that sort the tensor along dim. The sort is always stable
        (equal values keep their order) and NaN is the largest value, as in PyTorch; on a GPU
        the order is found on the host (a copy there and back)."""
        return Tensor._from_array(self._order("argsort", dim, descending)[1], self.device)

    def sort(self, dim=-1, descending=False, stable=False):
        """The pair (values, indices) of the tensor sorted along dim, as torch.sort (stable
        always); the values' gradient goes back to where each value came from."""
        dim, order = self._order("sort", dim, descending)
        return ValuesIndices(IX.Gather.apply(self, index=order, axis=dim), Tensor._from_array(order, self.device))

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The pair (values, indices) of the k largest (smallest with largest=False) entries
        along dim, as torch.topk; always in sorted order, the first of equal values first.
        The values' gradient goes back to the entries picked."""
        dim, order = self._order("topk", dim, largest)
        if not 0 <= k <= self.shape[dim]:
            raise RuntimeError(f"topk: k = {k} is out of range for dim {dim} of shape {self.shape} "
                               f"(expected 0 <= k <= {self.shape[dim]})")
        indices = get_device(self.device).xp.ascontiguousarray(order[(slice(None),) * dim + (slice(0, k),)])
        return ValuesIndices(IX.Gather.apply(self, index=indices, axis=dim), Tensor._from_array(indices, self.device))

    def _order(self, op, dim, descending):
        """(dim, the positions that sort the tensor along it): the device's stable argsort."""
        if self.ndim == 0:
            raise RuntimeError(f"{op}: expects a tensor with at least one axis, got a 0-d tensor")
        dim = _axis(self, dim, op)
        return dim, get_device(self.device).kernel("argsort")(self.array, dim, descending)

    def logsumexp(self, axis=None, keepdim=False, dim=None):
        """log(sum(exp(x))) along axis, stable for large |x|."""
        return R.LogSumExp.apply(self, axis=_axes(self, axis, dim, "logsumexp"), keepdim=keepdim)

    def log_softmax(self, axis=-1, dim=None):
        """x - logsumexp(x): log-probabilities along axis."""
        return R.LogSoftmax.apply(self, axis=_axis(self, axis if dim is None else dim, "log_softmax"))

    def softmax(self, axis=-1, dim=None):
        """e^x / sum e^x: probabilities along axis that sum to 1."""
        return R.Softmax.apply(self, axis=_axis(self, axis if dim is None else dim, "softmax"))

    # ---- movement ---------------------------------------------------------------------
    def reshape(self, *shape):
        target = _resolve_shape(_shape_arg(shape), self.shape)
        return self if target == self.shape else MV.Reshape.apply(self, shape=target)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _axis(self, start_dim, "flatten"), _axis(self, end_dim, "flatten")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1 :])

    def permute(self, *order):
        order = _shape_arg(order)
        if sorted(_axis(self, o, "permute") for o in order) != list(range(self.ndim)):
            raise RuntimeError(f"permute: {order} is not a permutation of the {self.ndim} axes of shape {self.shape}")
        return MV.Permute.apply(self, order=tuple(_axis(self, o, "permute") for o in order))

    def transpose(self, dim0=-2, dim1=-1):
        order = list(range(self.ndim))
        a, b = _axis(self, dim0, "transpose"), _axis(self, dim1, "transpose")
        order[a], order[b] = order[b], order[a]
        return MV.Permute.apply(self, order=tuple(order))

    @property
    def T(self):
        return MV.Permute.apply(self, order=tuple(reversed(range(self.ndim))))

    def t(self):
        """The transpose of a matrix (a vector or a scalar as it is), as PyTorch's t()."""
        if self.ndim > 2:
            raise RuntimeError(f"t: expects a tensor of at most 2 axes, got shape {self.shape}; use transpose(dim0, dim1)")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def clone(self):
        """A copy in a buffer of its own, in the graph (the gradient passes through)."""
        return MV.Clone.apply(self)

    def contiguous(self):
        """This tensor if its values lie in order in its buffer, else a copy that does."""
        flags = getattr(self.array, "flags", None)
        ordered = flags.c_contiguous if flags is not None else self.array.is_contiguous
        return self if ordered else self.clone()

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def narrow(self, dim, start, length):
        """The `length` entries from `start` along dim (a view, as PyTorch's narrow)."""
        dim = _axis(self, dim, "narrow")
        if not 0 <= start <= start + length <= self.shape[dim]:
            raise IndexError(f"narrow: entries {start}..{start + length} do not fit axis {dim} of shape {self.shape}")
        return self[(slice(None),) * dim + (slice(start, start + length),)]

    def new_zeros(self, *shape):
        """Zeros of the given shape with this tensor's dtype and device."""
        return Tensor.zeros(_shape_arg(shape), dtype=self.dtype, device=self.device)

    def new_ones(self, *shape):
        return Tensor.ones(_shape_arg(shape), dtype=self.dtype, device=self.device)

    view_as = reshape_as

    def split(self, split_size_or_sections, dim=0):
        """Pieces along dim: each of split_size (the last one smaller if need be), or of the
        listed sizes, which must add up to the axis (as PyTorch's split)."""
        dim = _axis(self, dim, "split")
        n = self.shape[dim]
        if isinstance(split_size_or_sections, numbers.Integral):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: split_size must be positive, got {size}")
            sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
        else:
            sizes = [int(k) for k in split_size_or_sections]
            if sum(sizes) != n or min(sizes, default=0) < 0:
                raise ValueError(f"split: sections {sizes} do not add up to axis {dim} of shape {self.shape}")
        pieces, start = [], 0
        for size in sizes:
            pieces.append(self[(slice(None),) * dim + (slice(start, start + size),)])
            start += size
        return tuple(pieces)

    def chunk(self, chunks, dim=0):
        """At most `chunks` pieces along dim, each of ceil(n / chunks) (as PyTorch's chunk)."""
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        n = self.shape[_axis(self, dim, "chunk")]
        return self.split(max(1, -(-n // chunks)), dim)

    def unbind(self, dim=0):
        """The slices along dim, that axis removed."""
        dim = _axis(self, dim, "unbind")
        return tuple(self[(slice(None),) * dim + (i,)] for i in range(self.shape[dim]))

    def index_select(self, dim, index):
        """The entries at `index` (integers, 1-D) along dim."""
        dim = _axis(self, dim, "index_select")
        index = np.asarray(index.numpy() if isinstance(index, Tensor) else index)
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise IndexError(f"index_select: index must be a 1-D integer tensor, got shape {index.shape} of {index.dtype}")
        return self[(slice(None),) * dim + (index,)]

    def gather(self, dim, index):
        """out[i][j][k] = self[i][index[i][j][k]][k] for dim = 1 (and so on for any dim): index
        has self's number of axes and picks along dim (as torch.gather)."""
        return IX.Gather.apply(self, index=_along(self, "gather", dim, index), axis=_axis(self, dim, "gather"))

    def masked_fill(self, mask, value):
        """value where mask (broadcast to this shape) holds, this tensor elsewhere."""
        return Tensor.where(mask, self._operand(value), self).cast(self.dtype)

    def scatter(self, dim, index, src=None, value=None):
        """A copy with out[i][index[i][j][k]][k] = src[i][j][k] for dim = 1 (and so on for any
        dim), or = value, as torch.scatter(dim, index, src) / (dim, index, value): index has
        self's number of axes, src (of self's dtype) is at least index's size. Of repeated
        positions one write wins (the last on the CPU). Gradients reach self (except where
        written) and src (where read)."""
        if src is None or isinstance(src, numbers.Number):
            value = src if value is None else value
            if value is None:
                raise TypeError("scatter: expected src (a tensor) or value (a number)")
            return IX.Scatter.apply(self, index=_along(self, "scatter", dim, index), axis=_axis(self, dim, "scatter"),
                                    value=value)
        src = self._scatter_source("scatter", src)
        return IX.Scatter.apply(self, src, index=_along(self, "scatter", dim, index, src), axis=_axis(self, dim, "scatter"))

    def scatter_add(self, dim, index, src):
        """A copy with out[i][index[i][j][k]][k] += src[i][j][k] for dim = 1 (and so on for any
        dim), repeated positions adding up, as torch.scatter_add. Gradients reach self and src."""
        src = self._scatter_source("scatter_add", src)
        return IX.ScatterAdd.apply(self, src, index=_along(self, "scatter_add", dim, index, src),
                                   axis=_axis(self, dim, "scatter_add"))

    def _scatter_source(self, op, src):
        src = src if isinstance(src, Tensor) else Tensor(src, device=self.device, dtype=self.dtype)
        if src.dtype != self.dtype or src.device != self.device:
            raise RuntimeError(f"{op}: expected src of self's dtype {self.dtype} on '{self.device}', got "
                               f"{src.dtype} on '{src.device}' (shapes {self.shape} and {src.shape})")
        return src

    def repeat(self, *sizes):
        """The tensor tiled sizes[i] times along each axis (leading sizes add axes), as PyTorch's repeat."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"repeat: {len(sizes)} repeats for a tensor of {self.ndim} axes (shape {self.shape})")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        spread = self.reshape(tuple(d for n in shape for d in (1, n)))
        tiled = spread.expand(tuple(d for r, n in zip(sizes, shape) for d in (r, n)))
        return tiled.reshape(tuple(r * n for r, n in zip(sizes, shape)))

    def norm(self, p="fro", dim=None, keepdim=False):
        """The p-norm over dim (all axes by default): p = 2 or 'fro', 1, inf or any p > 0."""
        if p in ("fro", 2):
            return (self * self).sum(dim, keepdim).sqrt()
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == float("inf"):
            return _values(self.abs().max(dim, keepdim))
        if isinstance(p, numbers.Real) and p > 0:
            return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)
        raise ValueError(f"norm: p must be 'fro', inf or a positive number, got {p!r}")

    def mm(self, other):
        if self.ndim != 2 or other.ndim != 2:
            raise RuntimeError(f"mm: expects two matrices, got shapes {self.shape} and {other.shape}")
        return self @ other

    def bmm(self, other):
        if self.ndim != 3 or other.ndim != 3 or self.shape[0] != other.shape[0]:
            raise RuntimeError(f"bmm: expects two batches of matrices of one batch size, got shapes {self.shape} and "
                               f"{other.shape}")
        return self @ other

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dims = {_axis(self, d, "squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in dims and n == 1)))

    def unsqueeze(self, dim):
        dim = _axis(self, dim, "unsqueeze", extra=1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def expand(self, *sizes):
        sizes = _shape_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise RuntimeError(f"expand: cannot expand shape {self.shape} to {sizes} (fewer dimensions)")
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        for i, n in enumerate(self.shape):
            if n != 1 and n != shape[lead + i]:
                raise RuntimeError(f"expand: cannot expand shape {self.shape} to {sizes}: axis {i} has size {n}")
        return MV.Expand.apply(self, shape=shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def pad(self, widths, value=0.0):
        """Constant padding; widths is ((before, after), ...) for every axis, or one pair per
        trailing axis. Negative widths crop. (F.pad takes PyTorch's flat, last-axis-first form.)"""
        widths = [tuple(int(v) for v in w) for w in widths]
        if len(widths) > self.ndim or any(len(w) != 2 for w in widths):
            raise ValueError(f"pad: expected at most {self.ndim} (before, after) pairs for shape {self.shape}, got {widths}")
        widths = [(0, 0)] * (self.ndim - len(widths)) + widths
        for (a, b), n in zip(widths, self.shape):
            if n + a + b < 0:
                raise ValueError(f"pad: widths {widths} crop more than shape {self.shape} holds")
        return MV.Pad.apply(self, widths=widths, value=value)

    def __getitem__(self, index):
        if (isinstance(index, Tensor) and index.device == self.device != "cpu" and index.dtype.kind in "iu"
                and self.ndim and self.dtype.kind == "f"):
            # rows picked by ids already on the GPU: gathered there (an id outside the axis reads NaN)
            rows = MV.Embedding.apply(self.reshape(self.shape[0], -1), index, wrap=True)
            return rows.reshape(index.shape + self.shape[1:])
        try:
            return MV.GetItem.apply(self, index=_index(index))
        except IndexError as e:
            raise IndexError(f"__getitem__: index {index!r} is invalid for shape {self.shape}: {e}") from None

    def __setitem__(self, index, value):
        if self.requires_grad or self._ctx is not None:
            raise RuntimeError("__setitem__: in-place assignment into a tensor that is part of a graph; use where() or cat()")
        value = value.array if isinstance(value, Tensor) else value
        self.array[_index(index)] = value
        function.bump_version(self.array)

    # ---- in-place ops ---------------------------------------------------------------------
    # x.add_(y) is x + y written back into x, as in PyTorch. Where no graph is recorded through
    # x (under no_grad, or when neither side requires grad) the values go into x's own buffer,
    # which views of x see, and the buffer's version count goes up, so that a backward that
    # saved it refuses to run. Where one is (x is an op's result, or y requires grad), x
    # becomes the new node of the graph, its values in a new buffer, so the arrays the graph
    # saved stay as they were. Writing into a leaf that requires grad while recording is an
    # error, as in PyTorch: `with tg.no_grad(): p -= lr * p.grad` is the way.
    def _write(self, name, compute, *operands):
        if function.is_grad_enabled() and self.requires_grad and self._ctx is None:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place operation "
                               "(write parameters under tg.no_grad(), as optimisers do)")
        before = self
        if function.is_grad_enabled() and self.requires_grad:  # the node this tensor was, as the new one's input
            before = Tensor._from_array(self.array, self.device, requires_grad=True)
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
        return self._write("fill_", lambda t: Tensor.full(t.shape, value, dtype=t.dtype, device=t.device))

    def zero_(self):
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0):
        """Fill with samples uniform in [a, b), from the global generator (nn.init's way)."""
        return self._write("uniform_", lambda t: Tensor.rand(t.shape, dtype=t.dtype, device=t.device) * (b - a) + a)

    def normal_(self, mean=0.0, std=1.0):
        """Fill with samples of a normal distribution, from the global generator."""
        return self._write("normal_", lambda t: Tensor.randn(t.shape, dtype=t.dtype, device=t.device) * std + mean)

    def scatter_(self, dim, index, src=None, value=None):
        """scatter written into this tensor, in place."""
        return self._write("scatter_", lambda t: t.scatter(dim, index, src, value))

    def scatter_add_(self, dim, index, src):
        """scatter_add written into this tensor, in place."""
        return self._write("scatter_add_", lambda t: t.scatter_add(dim, index, src))

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def take_rows(self, labels, ignore_index=-100):
        """For a (R, C) tensor and R integer labels: y_i = self[i, labels[i]], 0 where the label
        is ignore_index, NaN where it is no class. The gather of the classification losses,
        done on the tensor's device (labels are a Tensor there)."""
        if self.ndim != 2 or labels.shape != self.shape[:1] or labels.dtype.kind not in "iu":
            raise RuntimeError(
                f"take_rows: expected a 2-D tensor and one integer label per row, got shape {self.shape} "
                f"and labels of shape {labels.shape}, dtype {labels.dtype}"
            )
        return MV.TakeRows.apply(self, labels, ignore=int(ignore_index))

    @staticmethod
    def cat(tensors, axis=0, dim=None):
        """Join tensors along an existing axis."""
        tensors = list(tensors)
        if not tensors:
            raise ValueError("cat: expected a non-empty list of tensors")
        axis = _axis(tensors[0], axis if dim is None else dim, "cat")
        first = tensors[0].shape
        for t in tensors[1:]:
            if t.ndim != len(first) or any(a != b for i, (a, b) in enumerate(zip(t.shape, first)) if i != axis):
                shapes = ", ".join(str(x.shape) for x in tensors)
                raise RuntimeError(f"cat: shapes {shapes} must match except along axis {axis}")
        dtype = np.result_type(*[t.dtype for t in tensors])
        return MV.Cat.apply(*[t.cast(dtype) for t in tensors], axis=axis)

    @staticmethod
    def stack(tensors, axis=0, dim=None):
        """Join tensors of one shape along a new axis."""
        tensors = list(tensors)
        if not tensors:
            raise ValueError("stack: expected a non-empty list of tensors")
        if len({t.shape for t in tensors}) > 1:
            raise RuntimeError(f"stack: expects tensors of equal shape, got {[t.shape for t in tensors]}")
        axis = axis if dim is None else dim
        return Tensor.cat([t.unsqueeze(axis) for t in tensors], axis=axis)

    def copy_(self, src):
        """Write src's values into this tensor's own buffer, in place: src is a Tensor (from
        any device), an array or a number, broadcast to self's shape and cast to its dtype.
        Whatever holds the buffer (an optimiser, a captured CUDA graph) sees the new values.
        While a graph is recorded through it (src requires grad, or this tensor is an op's
        result), the copy is part of the graph, as the other in-place ops are."""
        if function.is_grad_enabled() and (self.requires_grad or isinstance(src, Tensor) and src.requires_grad):
            return self._write("copy_", lambda t, o: o.to(t.device).expand(t.shape), self._operand(src))
        if isinstance(src, Tensor) and src.device == self.device:
            values = src.array
        else:
            values = src.numpy() if isinstance(src, Tensor) else np.asarray(src)
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


class _Transfer(function.Function):
    """y = x copied to another device;   dx = g copied back"""

    def forward(ctx, x, device=None):
        ctx.src = ctx.device
        ctx.device = get_device(device)  # outputs live on the destination
        return ctx.device.from_numpy(ctx.src.to_numpy(x))

    def backward(ctx, g):
        return ctx.src.from_numpy(ctx.device.to_numpy(g))

    def graph_backward(ctx, g):
        return g.to(ctx.src.name)


def _axis(t, axis, op, extra=0):
    """Normalise one axis (negative counts from the end) with a clear error."""
    n = t.ndim + extra
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -max(n, 1) <= axis < max(n, 1):
        raise IndexError(f"{op}: axis {axis} is out of range for a tensor of shape {t.shape} (expected {-n} to {n - 1})")
    return int(axis) % max(n, 1)


def _axes(t, axis, dim, op, nonempty=False):
    """The reduced axes as a sorted tuple; None means all; `dim` is PyTorch's name."""
    if axis is None:
        axis = dim
    if axis is None:
        axes = tuple(range(t.ndim))
    elif isinstance(axis, (tuple, list)):
        axes = tuple(sorted({_axis(t, a, op) for a in axis}))
    else:
        axes = (_axis(t, axis, op),) if t.ndim else ()
    if nonempty and any(t.shape[a] == 0 for a in axes):
        raise RuntimeError(f"{op}: cannot reduce over an empty axis of shape {t.shape}")
    return axes


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


def _values(extreme):
    """The values of max/min, which over one axis come with their indices."""
    return extreme.values if isinstance(extreme, ValuesIndices) else extreme


def _index(index):
    """Indices for GetItem: Tensors and lists become integer (or bool) arrays."""
    out = []
    for it in index if isinstance(index, tuple) else (index,):
        if isinstance(it, Tensor):
            it = it.numpy()
        elif isinstance(it, list):
            it = np.asarray(it)
        if isinstance(it, np.ndarray) and it.dtype.kind == "f":
            raise IndexError(f"tensors used as indices must be integer or bool, got {it.dtype}")
        out.append(it)
    return tuple(out)


def _along(t, op, dim, index, src=None):
    """The index of gather/scatter along dim as an array on t's device (int64 from the host),
    checked as PyTorch checks it: integer, t's number of axes, no larger than t except along
    dim (nor than src, if any, anywhere), entries within dim (an index already on the GPU is
    not read back to check: the kernels skip what lies outside)."""
    dim = _axis(t, dim, op)
    on_device = isinstance(index, Tensor) and index.device == t.device != "cpu"
    host = None if on_device else np.asarray(index.numpy() if isinstance(index, Tensor) else index)
    shape, dtype = (index.shape, index.dtype) if on_device else (host.shape, host.dtype)
    if dtype.kind not in "iu":
        raise IndexError(f"{op}: index must be an integer tensor, got dtype {dtype} (shape {shape})")
    if t.ndim == 0 or len(shape) != t.ndim:
        raise IndexError(f"{op}: index must have the {t.ndim} axes of self (shape {t.shape}), got shape {shape}"
                         + ("" if t.ndim else "; a 0-d tensor has no axis to index"))
    if any(n > m for d, (n, m) in enumerate(zip(shape, t.shape)) if d != dim):
        raise RuntimeError(f"{op}: index of shape {shape} is larger than self of shape {t.shape} outside dim {dim}")
    if src is not None and (src.ndim != len(shape) or any(n > m for n, m in zip(shape, src.shape))):
        raise RuntimeError(f"{op}: src of shape {src.shape} must have index's {len(shape)} axes and be at least "
                           f"its size along each (index shape {shape})")
    if on_device:
        return index.array
    if host.size and (host.min() < 0 or host.max() >= t.shape[dim]):
        bad = host[(host < 0) | (host >= t.shape[dim])].flat[0]
        raise IndexError(f"{op}: index {bad} is out of bounds for dim {dim} of shape {t.shape} "
                         f"(expected 0 to {t.shape[dim] - 1})")
    return get_device(t.device).from_numpy(np.ascontiguousarray(host, np.int64))


def _reduced_dtype(t, dtype):
    """The dtype of prod and cumsum: the one asked for, else a floating tensor's own, else int64."""
    if dtype is not None:
        return dtype
    return t.dtype if t.dtype.kind == "f" else np.int64


_TYPE_NAMES = {np.dtype(k): v for k, v in ((np.float32, "FloatTensor"), (np.float64, "DoubleTensor"),
                                           (np.float16, "HalfTensor"), (np.int64, "LongTensor"), (np.int32, "IntTensor"),
                                           (np.int16, "ShortTensor"), (np.int8, "CharTensor"), (np.uint8, "ByteTensor"),
                                           (np.bool_, "BoolTensor"))}


def _resolve_shape(shape, old):
    """The target of reshape, with one -1 inferred, or a clear error."""
    numel = int(np.prod(old))
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise RuntimeError(f"reshape: invalid shape {shape}")
    known = int(np.prod([n for n in shape if n != -1]))
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"reshape: shape {shape} is invalid for input of shape {old} ({numel} elements)")
        shape = tuple(numel // known if n == -1 else n for n in shape)
    if int(np.prod(shape)) != numel:
        raise RuntimeError(f"reshape: shape {shape} is invalid for input of shape {old} ({numel} elements)")
    return shape
