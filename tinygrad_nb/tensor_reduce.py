"""Tensor's reductions: sum mean var std norm prod cumsum; max and min with their positions
(argmax argmin), sorting (sort argsort topk); logsumexp, softmax and log_softmax.

Mixed into Tensor by tensor.py. Reductions take `axis` (an int or a tuple; NumPy's word)
or `dim` (PyTorch's), and `keepdim`.
"""
import numbers
from typing import NamedTuple

import numpy as np

from .device import get_device
from .function import TensorBase
from .kernels.shapes import normalise_axes
from .ops.index import Gather
from .ops.reduce import Cumsum, LogSoftmax, LogSumExp, Max, Prod, Softmax, Sum
from .tensor_args import _axis


class ValuesIndices(NamedTuple):
    """What max(dim), min(dim), sort and topk return, as PyTorch's torch.return_types.max: a
    tuple that unpacks as (values, indices) and names its parts."""
    values: TensorBase
    indices: TensorBase


class TensorReduce:
    # ---- reductions -------------------------------------------------------------------
    def sum(self, axis=None, keepdim=False, dim=None, dtype=None):
        t = self if dtype is None else self.cast(dtype)
        return Sum.apply(t, axis=_axes(self, axis, dim, "sum"), keepdim=keepdim)

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

    def prod(self, dim=None, keepdim=False, dtype=None):
        """The product over one axis (over everything when dim is None), as torch.prod;
        integer and bool tensors give int64."""
        axis = None if dim is None else _axis(self, dim, "prod")
        return Prod.apply(self.cast(_reduced_dtype(self, dtype)), axis=axis if self.ndim else None, keepdim=keepdim)

    def cumsum(self, dim, dtype=None):
        """Running sums along dim: y_i = x_0 + ... + x_i (as torch.cumsum; integer and bool
        tensors give int64)."""
        axis, t = _axis(self, dim, "cumsum"), self.cast(_reduced_dtype(self, dtype))
        if t.ndim == 0:
            return t.reshape(1).cumsum(0).reshape(())
        return Cumsum.apply(t, axis=axis)

    # ---- extremes and their positions -------------------------------------------------
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
        values = Max.apply(self, axis=_axes(self, axis, dim, name, nonempty=True), keepdim=keepdim, use_min=name == "min")
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
        out = get_device(self.device).backend.argmax(self.array, axis, keepdim, smallest)
        return self._from_array(out, self.device)

    # ---- sorting ----------------------------------------------------------------------
    def argsort(self, dim=-1, descending=False, stable=False):
        """The positions (int64) that sort the tensor along dim. The sort is always stable
        (equal values keep their order) and NaN is the largest value, as in PyTorch; on a GPU
        the order is found on the host (a copy there and back)."""
        return self._from_array(self._order("argsort", dim, descending)[1], self.device)

    def sort(self, dim=-1, descending=False, stable=False):
        """The pair (values, indices) of the tensor sorted along dim, as torch.sort (stable
        always); the values' gradient goes back to where each value came from."""
        dim, order = self._order("sort", dim, descending)
        return ValuesIndices(Gather.apply(self, index=order, axis=dim), self._from_array(order, self.device))

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The pair (values, indices) of the k largest (smallest with largest=False) entries
        along dim, as torch.topk; always in sorted order, the first of equal values first.
        The values' gradient goes back to the entries picked."""
        dim, order = self._order("topk", dim, largest)
        if not 0 <= k <= self.shape[dim]:
            raise RuntimeError(f"topk: k = {k} is out of range for dim {dim} of shape {self.shape} "
                               f"(expected 0 <= k <= {self.shape[dim]})")
        indices = get_device(self.device).xp.ascontiguousarray(order[(slice(None),) * dim + (slice(0, k),)])
        return ValuesIndices(Gather.apply(self, index=indices, axis=dim), self._from_array(indices, self.device))

    def _order(self, op, dim, descending):
        """(dim, the positions that sort the tensor along it): the device's stable argsort."""
        if self.ndim == 0:
            raise RuntimeError(f"{op}: expects a tensor with at least one axis, got a 0-d tensor")
        dim = _axis(self, dim, op)
        return dim, get_device(self.device).backend.argsort(self.array, dim, descending)

    # ---- softmax ----------------------------------------------------------------------
    def logsumexp(self, axis=None, keepdim=False, dim=None):
        """log(sum(exp(x))) along axis, stable for large |x|."""
        return LogSumExp.apply(self, axis=_axes(self, axis, dim, "logsumexp"), keepdim=keepdim)

    def log_softmax(self, axis=-1, dim=None):
        """x - logsumexp(x): log-probabilities along axis."""
        return LogSoftmax.apply(self, axis=_axis(self, axis if dim is None else dim, "log_softmax"))

    def softmax(self, axis=-1, dim=None):
        """e^x / sum e^x: probabilities along axis that sum to 1."""
        return Softmax.apply(self, axis=_axis(self, axis if dim is None else dim, "softmax"))


def _axes(t, axis, dim, op, nonempty=False):
    """The reduced axes as a sorted tuple; None means all; `dim` is PyTorch's name."""
    axes = normalise_axes(dim if axis is None else axis, t.shape, op, of="a tensor")
    if nonempty and any(t.shape[a] == 0 for a in axes):
        raise RuntimeError(f"{op}: cannot reduce over an empty axis of shape {t.shape}")
    return axes


def _values(extreme):
    """The values of max/min, which over one axis come with their indices."""
    return extreme.values if isinstance(extreme, ValuesIndices) else extreme


def _reduced_dtype(t, dtype):
    """The dtype of prod and cumsum: the one asked for, else a floating tensor's own, else int64."""
    if dtype is not None:
        return dtype
    return t.dtype if t.dtype.kind == "f" else np.int64

