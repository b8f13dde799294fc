"""Work along one axis on the CPU: gathers and scatters by an index tensor (torch.gather,
torch.scatter, torch.scatter_add), running sums and products (cumsum, the products of the
others behind prod's gradient) and the stable sort order (sort, argsort, topk).

An index along `axis` has the array's number of axes and picks, for each of its positions,
the entry at index[pos] along `axis` and at pos's own coordinates along the others; it may
be smaller than the array along the others. The callers check the index's range.

Where the index spans the array along the other axes (the usual case), gathers and scatters
are compiled loops over the array viewed as (before, along, after); otherwise NumPy's
advanced indexing (and np.add.at, many times slower, for scatter_add) does the work."""
import numpy as np
from numba import njit, prange

from ..shapes import around_axis


def _spans(array, index, axis):
    """Whether the compiled loops apply: a C-contiguous array that index spans on every other axis."""
    return array.flags.c_contiguous and all(n == m for i, (n, m) in enumerate(zip(array.shape, index.shape)) if i != axis)


@njit(cache=True, parallel=True)
def _gather(x, index, out):
    for a in prange(out.shape[0]):
        for m in range(out.shape[1]):
            for b in range(out.shape[2]):
                out[a, m, b] = x[a, index[a, m, b], b]
    return out


@njit(cache=True, parallel=True)
def _scatter(out, index, src, accumulate):
    # one thread per `before` row: rows never share an entry, so the adds need no atomics
    for a in prange(index.shape[0]):
        for m in range(index.shape[1]):
            for b in range(index.shape[2]):
                if accumulate:
                    out[a, index[a, m, b], b] += src[a, m, b]
                else:
                    out[a, index[a, m, b], b] = src[a, m, b]
    return out


def _picks(index, axis):
    """The advanced index that addresses, for each position of `index`, the entry it picks."""
    grids = list(np.indices(index.shape, sparse=True))
    grids[axis] = index
    return tuple(grids)


def gather_along(x, index, axis):
    """out[pos] = x[pos with index[pos] along axis]; out has index's shape."""
    x = np.ascontiguousarray(x)
    if not _spans(x, index, axis):
        return x[_picks(index, axis)]
    before, along, after = around_axis(index.shape, axis)
    out = np.empty((before, along, after), x.dtype)
    _gather(x.reshape(around_axis(x.shape, axis)), np.ascontiguousarray(index).reshape(out.shape), out)
    return out.reshape(index.shape)


def scatter_along(out, index, src, axis, accumulate):
    """In place: out[pos with index[pos] along axis] = src[pos] (+= with accumulate, repeats
    adding up) for each position of index; src is a number or an array at least index's size
    along every axis. Without accumulate the last of repeated positions wins."""
    if np.ndim(src):
        src = src[tuple(slice(0, n) for n in index.shape)]
    if _spans(out, index, axis):
        shape = around_axis(index.shape, axis)
        values = np.ascontiguousarray(np.broadcast_to(np.asarray(src, out.dtype), index.shape)).reshape(shape)
        _scatter(out.reshape(around_axis(out.shape, axis)), np.ascontiguousarray(index).reshape(shape), values, accumulate)
        return
    if accumulate:
        np.add.at(out, _picks(index, axis), src)
    else:
        out[_picks(index, axis)] = src


def scan(x, axis, product, reverse, exclusive):
    """Running sums (products with `product`) along axis, in x's dtype: y_i = x_0 + ... + x_i;
    with reverse from the end (y_i = x_i + ... + x_{n-1}); exclusive leaves x_i itself out
    (the first y is 0, or 1)."""
    line = np.moveaxis(x, axis, -1)
    if reverse:
        line = line[..., ::-1]
    y = (np.cumprod if product else np.cumsum)(line, axis=-1, dtype=x.dtype)
    if exclusive:
        first = np.full(y.shape[:-1] + (1,), 1 if product else 0, x.dtype)
        y = np.concatenate([first, y[..., :-1]], axis=-1)[..., : line.shape[-1]]
    if reverse:
        y = y[..., ::-1]
    return np.ascontiguousarray(np.moveaxis(y, -1, axis))


def argsort(x, axis, descending):
    """The int64 positions that sort x along axis, stable (equal values keep their order) and
    with NaN the largest value, as PyTorch. Descending sorts the reversed line ascending and
    reverses the result back, which keeps both properties."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
    reversed_order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return np.ascontiguousarray(np.flip(x.shape[axis] - 1 - reversed_order, axis)).astype(np.int64, copy=False)
