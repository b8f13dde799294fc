"""F.pad with PyTorch's arguments, and the padding layers.

`pad` lists widths from the last axis backwards: (left, right) pads the last axis, (left,
right, top, bottom) the last two, and so on. Constant padding (negative widths crop) is the
Pad op. The other modes fill the border from the input itself, a fixed choice of source
position per output position along each padded axis:
    reflect     -p for p < 0, 2(n-1) - p for p >= n  (the edge itself is not repeated)
    replicate   the nearest edge position, min(max(p, 0), n - 1)
    circular    p mod n
which is a 0/1 matrix applied along that axis (ops/resample.py), whose transpose adds the
border's gradient back onto the positions it was copied from."""
import numbers

import numpy as np

from ..ops.resample import AlongAxis, SparseMatrix
from .module import Module

MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode="constant", value=None):
    """input padded by `pad` = (last axis's left, right, the one before's left, right, ...)."""
    if mode not in MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    widths = list(pad)
    if len(widths) % 2 or len(widths) // 2 > input.ndim or not all(isinstance(w, numbers.Integral) for w in widths):
        raise ValueError(f"pad: expected an even number of ints, at most 2 per axis ({2 * input.ndim} for shape "
                         f"{input.shape}), got {tuple(pad)}")
    pairs = [(int(widths[2 * i]), int(widths[2 * i + 1])) for i in range(len(widths) // 2)][::-1]
    if mode == "constant":
        return input.pad(pairs, value=0.0 if value is None else value)
    if value is not None:
        raise ValueError(f"pad: a fill value is only used in constant mode, got value={value} with mode={mode!r}")
    if len(pairs) > 3 or len(pairs) >= input.ndim:
        raise ValueError(f"pad: {mode} mode pads 1 to 3 trailing axes and keeps at least one in front (a channel "
                         f"or batch axis), got {len(pairs)} pairs for shape {input.shape}")
    out = input
    for axis, (left, right) in enumerate(pairs, start=input.ndim - len(pairs)):
        n = input.shape[axis]
        if min(left, right) < 0:
            raise ValueError(f"pad: negative widths are only allowed in constant mode, got {tuple(pad)}")
        if mode == "reflect" and max(left, right) >= n:
            raise ValueError(f"pad: reflect padding ({left}, {right}) must be less than the size {n} of axis {axis} "
                             f"(input shape {input.shape})")
        if mode == "circular" and max(left, right) > n:
            raise ValueError(f"pad: circular padding ({left}, {right}) can be at most the size {n} of axis {axis} "
                             f"(input shape {input.shape})")
        if left or right:
            out = AlongAxis.apply(out, axis=axis, matrix=_border(mode, n, left, right))
    return out


def _border(mode, n, left, right):
    """The (n + left + right) x n matrix that picks each output position's source."""
    p = np.arange(-left, n + right)
    if mode == "reflect":
        source = np.where(p < 0, -p, np.where(p >= n, 2 * (n - 1) - p, p))
    elif mode == "replicate":
        source = np.clip(p, 0, n - 1)
    else:
        source = p % n
    return SparseMatrix(np.arange(len(p)), source, np.ones(len(p)), (len(p), n))


class _Pad(Module):
    mode, axes = "constant", 1

    def __init__(self, padding, value=None):
        super().__init__()
        self.padding = (padding,) * (2 * self.axes) if isinstance(padding, numbers.Integral) else tuple(padding)
        if len(self.padding) != 2 * self.axes:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.axes} ints, got {padding!r}")
        self.value = value

    def forward(self, x):
        return pad(x, self.padding, self.mode, self.value)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self.value is not None else "")


def _layer(name, mode, axes, doc):
    return type(name, (_Pad,), {"mode": mode, "axes": axes, "__doc__": doc, "__module__": __name__})


ConstantPad1d = _layer("ConstantPad1d", "constant", 1, "Pads the last axis with a constant value.")
ConstantPad2d = _layer("ConstantPad2d", "constant", 2, "Pads the last two axes with a constant value.")
ConstantPad3d = _layer("ConstantPad3d", "constant", 3, "Pads the last three axes with a constant value.")
ReflectionPad1d = _layer("ReflectionPad1d", "reflect", 1, "Pads the last axis with its reflection.")
ReflectionPad2d = _layer("ReflectionPad2d", "reflect", 2, "Pads the last two axes with their reflection.")
ReflectionPad3d = _layer("ReflectionPad3d", "reflect", 3, "Pads the last three axes with their reflection.")
ReplicationPad1d = _layer("ReplicationPad1d", "replicate", 1, "Pads the last axis with copies of its edge.")
ReplicationPad2d = _layer("ReplicationPad2d", "replicate", 2, "Pads the last two axes with copies of their edges.")
ReplicationPad3d = _layer("ReplicationPad3d", "replicate", 3, "Pads the last three axes with copies of their edges.")
CircularPad1d = _layer("CircularPad1d", "circular", 1, "Pads the last axis by wrapping it around.")
CircularPad2d = _layer("CircularPad2d", "circular", 2, "Pads the last two axes by wrapping them around.")
CircularPad3d = _layer("CircularPad3d", "circular", 3, "Pads the last three axes by wrapping them around.")
ZeroPad1d = _layer("ZeroPad1d", "constant", 1, "Pads the last axis with zeros.")
ZeroPad2d = _layer("ZeroPad2d", "constant", 2, "Pads the last two axes with zeros.")
ZeroPad3d = _layer("ZeroPad3d", "constant", 3, "Pads the last three axes with zeros.")
