"""Shape and axis arithmetic shared by the front end and both devices' kernels.

Pure functions of shapes, axes and step counts (and of one array's layout, read from the
array whichever device holds it): no Numba, nothing compiled, so
that `Tensor` (which may not import kernels' Numba code at import time), the CPU kernels
and the GPU's CudaArray all read a shape the same way and fail with the same message.

    as_shape(3) == (3,)                      shape_from_args(((2, 3),)) == (2, 3)
    resolve_shape((-1, 4), (2, 3, 4))        == (6, 4)
    normalise_axis(-1, (2, 3), "sum")        == 1
    normalise_axes((0, -1), (2, 3), "sum")   == (0, 1)
    around_axis((2, 3, 4), 1)                == (2, 3, 4)   # (outer, along, inner)
    step_slots(0, T, reverse)                == (t, read, write) of a recurrent layer's first step

An axis out of range raises `AxisError`, both a ValueError (what NumPy raises) and an
IndexError (what PyTorch raises), so that either convention's callers catch it.
"""
import math
import numbers
import operator


class AxisError(ValueError, IndexError):
    """An axis outside an array's axes (NumPy raises a ValueError, PyTorch an IndexError)."""


def is_c_contiguous(array):
    """Whether a NumPy array's or a CudaArray's values lie in C order in its buffer."""
    flags = getattr(array, "flags", None)
    return flags.c_contiguous if flags is not None else array.is_contiguous


def as_shape(shape):
    """A shape as a tuple of Python ints; an int n is the shape (n,)."""
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(operator.index(n) for n in shape)


def shape_from_args(args):
    """The shape passed to f(2, 3) or to f((2, 3)): `args` is f's positional arguments."""
    if len(args) == 1 and not isinstance(args[0], numbers.Integral):
        args = args[0]
    return tuple(operator.index(n) for n in args)


def resolve_shape(shape, old_shape, error=ValueError):
    """reshape's target: `shape` (a tuple of ints, at most one -1, which is inferred) for
    an array of shape `old_shape`. Raises `error` (ValueError as NumPy; a caller following
    PyTorch passes RuntimeError) when no such shape holds the same number of elements."""
    shape = tuple(operator.index(n) for n in shape)
    size = math.prod(old_shape)
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise error(f"reshape: invalid shape {shape}: each size is at least 0, or -1 (inferred) for one axis only")
    if -1 in shape:
        known = math.prod(n for n in shape if n != -1)
        if known == 0 or size % known:
            raise error(f"reshape: shape {shape} is invalid for input of shape {tuple(old_shape)} "
                        f"(cannot reshape {size} elements into a multiple of {known})")
        shape = tuple(size // known if n == -1 else n for n in shape)
    elif math.prod(shape) != size:
        raise error(f"reshape: shape {shape} is invalid for input of shape {tuple(old_shape)} "
                    f"(cannot reshape {size} elements into {math.prod(shape)})")
    return shape


def normalise_axis(axis, shape, op, extra=0, of="an array"):
    """One axis of an array of `shape` as an index 0 <= axis < ndim (negative counts from
    the end); `extra` axes more are allowed (unsqueeze's new one). A 0-d array takes axis 0
    or -1. `op` and `of` ("an array", "a tensor") name the caller in the error."""
    n = len(shape) + extra
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{op}: axis must be an int, got {axis!r}") from None
    if not -max(n, 1) <= axis < max(n, 1):
        raise AxisError(f"{op}: axis {axis} is out of range for {of} of shape {tuple(shape)} (expected {-n} to {n - 1})")
    return axis % max(n, 1)


def normalise_axes(axis, shape, op, of="an array"):
    """The axes a reduction over `axis` (None: all; an int; a tuple or list of ints) folds,
    as a sorted tuple of distinct indices; () for a 0-d array."""
    if axis is None:
        return tuple(range(len(shape)))
    if isinstance(axis, (tuple, list)):
        axes = {normalise_axis(a, shape, op, of=of) for a in axis}
    else:
        axes = (normalise_axis(axis, shape, op, of=of),)
    return tuple(sorted(axes)) if shape else ()


def around_axis(shape, axis):
    """(outer, along, inner): the number of elements of the axes before `axis`, its length,
    and the number of elements of the axes after it, so that a C-contiguous array of `shape`
    reshapes to (outer, along, inner) with `axis` in the middle."""
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def step_slots(s, T, reverse):
    """(t, read, write) of the s-th of the T steps a recurrent layer's forward pass runs:
    the time step t it reads input from, and the slots of the state array (T + 1 slots,
    the initial state first, or last when `reverse`) it reads h_{t-1} from and writes h_t
    to. Plain Python: each device compiles it (@njit on the CPU, a CUDA device function)."""
    t = T - 1 - s if reverse else s
    return (t, t + 1, t) if reverse else (t, t, t + 1)
