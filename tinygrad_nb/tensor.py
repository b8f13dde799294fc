"""Tensor: an n-dimensional array that remembers the ops that made it.

Every method either builds a Tensor or calls `SomeOp.apply(...)` from `ops/`; the math
and the derivatives live in the ops, the user-facing API on Tensor. This file holds
Tensor's core: construction, inspection, backward and hooks, devices and dtypes. The
rest of its methods come from one mixin class per subject, each in a file of its own:

    tensor_create.py    factories: zeros ones full randn rand arange eye *_like from_numpy
    tensor_math.py      arithmetic with type promotion, comparisons, elementwise functions
    tensor_reduce.py    reductions, max/min and argmax, sorting, softmax
    tensor_movement.py  reshaping, axis order, joining and splitting, indexing
    tensor_inplace.py   in-place writes: x[i] = v, add_ ... copy_

The mixins are imported by this file, so they cannot import Tensor: they make new tensors
with `_from_array` and `_from_data`, defined here, and recognise tensors as instances of
function.TensorBase.
"""
import weakref

import numpy as np

from . import function
from .device import canonical, get_device
from .ops.elementwise import Cast
from .tensor_args import DEFAULT_FLOAT, _axis, _check_dtype, _to_dtype
from .tensor_create import TensorFactories
from .tensor_inplace import TensorInplace
from .tensor_math import ACTIVATIONS, TensorMath
from .tensor_movement import TensorMovement
from .tensor_reduce import TensorReduce, ValuesIndices

__all__ = ["ACTIVATIONS", "Tensor", "ValuesIndices"]


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


class Tensor(function.TensorBase, TensorFactories, TensorMath, TensorReduce, TensorMovement, TensorInplace):
    """Tensor(data, requires_grad=False, device='cpu', dtype=None): the values on a device,
    and, once an op that records a graph made them, that op (`_ctx`)."""

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

    @staticmethod
    def _from_array(array, device, requires_grad=False):
        """Wrap an array that already lives on `device` (no copy, no dtype change). A plain
        Tensor also when called through a subclass: `p * 2` for an nn.Parameter p is no
        Parameter, as in PyTorch."""
        t = Tensor.__new__(Tensor)
        t.array, t.device, t.grad, t._ctx, t._out_index = array, device, None, None, 0
        t.requires_grad = requires_grad
        return t

    @staticmethod
    def _from_data(data, requires_grad=False, device="cpu", dtype=None):
        """Tensor(data, ...), for the mixins, which cannot name Tensor."""
        return Tensor(data, requires_grad, device, dtype)

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

    __hash__ = object.__hash__  # == is elementwise (tensor_math.py); a tensor hashes by identity, as in PyTorch

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
        return Cast.apply(self, dtype=dtype)

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


_TYPE_NAMES = {np.dtype(k): v for k, v in ((np.float32, "FloatTensor"), (np.float64, "DoubleTensor"),
                                           (np.float16, "HalfTensor"), (np.int64, "LongTensor"), (np.int32, "IntTensor"),
                                           (np.int16, "ShortTensor"), (np.int8, "CharTensor"), (np.uint8, "ByteTensor"),
                                           (np.bool_, "BoolTensor"))}

