"""Tensor's movement: reshaping, axis order, copies, joining and splitting, and indexing
(__getitem__, gather, scatter and their relatives).

Mixed into Tensor by tensor.py. Each method checks its arguments and calls an op from
ops/movement.py or ops/index.py, where the op's gradient lives: the incoming gradient
put back where each value came from.
"""
import numbers

import numpy as np

from .device import get_device
from .function import TensorBase
from .kernels.shapes import is_c_contiguous, resolve_shape
from .ops.index import Gather, Scatter, ScatterAdd
from .ops.movement import Cat, Clone, Embedding, Expand, GetItem, Pad, Permute, Reshape, TakeRows
from .tensor_args import _axis, _shape_arg


class TensorMovement:
    # ---- reshaping --------------------------------------------------------------------
    def reshape(self, *shape):
        target = resolve_shape(_shape_arg(shape), self.shape, RuntimeError)
        return self if target == self.shape else Reshape.apply(self, shape=target)

    view = reshape

    def reshape_as(self, other):
        return self.reshape(other.shape)

    view_as = reshape_as

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _axis(self, start_dim, "flatten"), _axis(self, end_dim, "flatten")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1 :])

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
        return Expand.apply(self, shape=shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def repeat(self, *sizes):
        """The tensor tiled sizes[i] times along each axis (leading sizes add axes), as PyTorch's repeat."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"repeat: {len(sizes)} repeats for a tensor of {self.ndim} axes (shape {self.shape})")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        spread = self.reshape(tuple(d for n in shape for d in (1, n)))
        tiled = spread.expand(tuple(d for r, n in zip(sizes, shape) for d in (r, n)))
        return tiled.reshape(tuple(r * n for r, n in zip(sizes, shape)))

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
        return Pad.apply(self, widths=widths, value=value)

    # ---- axis order -------------------------------------------------------------------
    def permute(self, *order):
        order = _shape_arg(order)
        if sorted(_axis(self, o, "permute") for o in order) != list(range(self.ndim)):
            raise RuntimeError(f"permute: {order} is not a permutation of the {self.ndim} axes of shape {self.shape}")
        return Permute.apply(self, order=tuple(_axis(self, o, "permute") for o in order))

    def transpose(self, dim0=-2, dim1=-1):
        order = list(range(self.ndim))
        a, b = _axis(self, dim0, "transpose"), _axis(self, dim1, "transpose")
        order[a], order[b] = order[b], order[a]
        return Permute.apply(self, order=tuple(order))

    @property
    def T(self):
        return Permute.apply(self, order=tuple(reversed(range(self.ndim))))

    def t(self):
        """The transpose of a matrix (a vector or a scalar as it is), as PyTorch's t()."""
        if self.ndim > 2:
            raise RuntimeError(f"t: expects a tensor of at most 2 axes, got shape {self.shape}; use transpose(dim0, dim1)")
        return self.transpose(0, 1) if self.ndim == 2 else self

    # ---- copies -----------------------------------------------------------------------
    def clone(self):
        """A copy in a buffer of its own, in the graph (the gradient passes through)."""
        return Clone.apply(self)

    def contiguous(self):
        """This tensor if its values lie in order in its buffer, else a copy that does."""
        return self if is_c_contiguous(self.array) else self.clone()

    # ---- joining and splitting --------------------------------------------------------
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
        return Cat.apply(*[t.cast(dtype) for t in tensors], axis=axis)

    @classmethod
    def stack(cls, tensors, axis=0, dim=None):
        """Join tensors of one shape along a new axis."""
        tensors = list(tensors)
        if not tensors:
            raise ValueError("stack: expected a non-empty list of tensors")
        if len({t.shape for t in tensors}) > 1:
            raise RuntimeError(f"stack: expects tensors of equal shape, got {[t.shape for t in tensors]}")
        axis = axis if dim is None else dim
        return cls.cat([t.unsqueeze(axis) for t in tensors], axis=axis)

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

    def narrow(self, dim, start, length):
        """The `length` entries from `start` along dim (a view, as PyTorch's narrow)."""
        dim = _axis(self, dim, "narrow")
        if not 0 <= start <= start + length <= self.shape[dim]:
            raise IndexError(f"narrow: entries {start}..{start + length} do not fit axis {dim} of shape {self.shape}")
        return self[(slice(None),) * dim + (slice(start, start + length),)]

    # ---- indexing ---------------------------------------------------------------------
    def __getitem__(self, index):
        if (isinstance(index, TensorBase) and index.device == self.device != "cpu" and index.dtype.kind in "iu"
                and self.ndim and self.dtype.kind == "f"):
            # rows picked by ids already on the GPU: gathered there (an id outside the axis reads NaN)
            rows = Embedding.apply(self.reshape(self.shape[0], -1), index, wrap=True)
            return rows.reshape(index.shape + self.shape[1:])
        try:
            return GetItem.apply(self, index=_index(index))
        except IndexError as e:
            raise IndexError(f"__getitem__: index {index!r} is invalid for shape {self.shape}: {e}") from None

    def index_select(self, dim, index):
        """The entries at `index` (integers, 1-D) along dim."""
        dim = _axis(self, dim, "index_select")
        index = np.asarray(index.numpy() if isinstance(index, TensorBase) else index)
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise IndexError(f"index_select: index must be a 1-D integer tensor, got shape {index.shape} of {index.dtype}")
        return self[(slice(None),) * dim + (index,)]

    def gather(self, dim, index):
        """out[i][j][k] = self[i][index[i][j][k]][k] for dim = 1 (and so on for any dim): index
        has self's number of axes and picks along dim (as torch.gather)."""
        return Gather.apply(self, index=_along(self, "gather", dim, index), axis=_axis(self, dim, "gather"))

    def masked_fill(self, mask, value):
        """value where mask (broadcast to this shape) holds, this tensor elsewhere."""
        return self.where(mask, self._operand(value), self).cast(self.dtype)

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
            return Scatter.apply(self, index=_along(self, "scatter", dim, index), axis=_axis(self, dim, "scatter"),
                                    value=value)
        src = self._scatter_source("scatter", src)
        return Scatter.apply(self, src, index=_along(self, "scatter", dim, index, src), axis=_axis(self, dim, "scatter"))

    def scatter_add(self, dim, index, src):
        """A copy with out[i][index[i][j][k]][k] += src[i][j][k] for dim = 1 (and so on for any
        dim), repeated positions adding up, as torch.scatter_add. Gradients reach self and src."""
        src = self._scatter_source("scatter_add", src)
        return ScatterAdd.apply(self, src, index=_along(self, "scatter_add", dim, index, src),
                                   axis=_axis(self, dim, "scatter_add"))

    def _scatter_source(self, op, src):
        src = src if isinstance(src, TensorBase) else self._from_data(src, device=self.device, dtype=self.dtype)
        if src.dtype != self.dtype or src.device != self.device:
            raise RuntimeError(f"{op}: expected src of self's dtype {self.dtype} on '{self.device}', got "
                               f"{src.dtype} on '{src.device}' (shapes {self.shape} and {src.shape})")
        return src

    def take_rows(self, labels, ignore_index=-100):
        """For a (R, C) tensor and R integer labels: y_i = self[i, labels[i]], 0 where the label
        is ignore_index, NaN where it is no class. The gather of the classification losses,
        done on the tensor's device (labels are a Tensor there)."""
        if self.ndim != 2 or labels.shape != self.shape[:1] or labels.dtype.kind not in "iu":
            raise RuntimeError(
                f"take_rows: expected a 2-D tensor and one integer label per row, got shape {self.shape} "
                f"and labels of shape {labels.shape}, dtype {labels.dtype}"
            )
        return TakeRows.apply(self, labels, ignore=int(ignore_index))


def _index(index):
    """Indices for GetItem: Tensors and lists become integer (or bool) arrays."""
    out = []
    for it in index if isinstance(index, tuple) else (index,):
        if isinstance(it, TensorBase):
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
    on_device = isinstance(index, TensorBase) and index.device == t.device != "cpu"
    host = None if on_device else np.asarray(index.numpy() if isinstance(index, TensorBase) else index)
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
