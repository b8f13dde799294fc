"""Zero padding and its adjoint, for the convolution kernels (conv.py, winograd.py, depthwise.py).

    padded_hw(out_hw, kernel_hw, stride, dilation)  the padded block every window fits in
    valid_range(offset, stride, size, n_out)        outputs o whose input o*stride + offset is inside
    pad_into(x, ph, pw, xpad)                       x zero-padded into the block xpad
    crop_into(xpad, ph, pw, x)                      the adjoint: the block's window over x, copied back
    extend_rows(y, y_ext)                           rows laid out wider, zeros in the extra columns
"""
from numba import njit


def padded_hw(out_hw, kernel_hw, stride, dilation):
    """(rows, columns) of the padded block a convolution reads: just large enough for every
    window, the last one starting at (OH-1)*sh and reaching (kh-1)*dh further."""
    return tuple((o - 1) * s + (k - 1) * d + 1 for o, k, s, d in zip(out_hw, kernel_hw, stride, dilation))


@njit(cache=True, fastmath=False)
def valid_range(offset, stride, size, n_out):
    """The output indices o in [lo, hi) with 0 <= o*stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - offset + stride - 1) // stride if size > offset else 0
    hi = min(hi, n_out)
    return min(lo, hi), hi


@njit(cache=True, fastmath=False)
def pad_into(x, ph, pw, xpad):
    """xpad[c, r, q] = x[c, r - ph, q - pw], 0 where that is outside x."""
    channels, height, width = x.shape
    rows, width_p = xpad.shape[1], xpad.shape[2]
    lo, hi = valid_range(-pw, 1, width, width_p)
    for c in range(channels):
        for r in range(rows):
            ih = r - ph
            if ih < 0 or ih >= height:
                for q in range(width_p):
                    xpad[c, r, q] = 0
                continue
            for q in range(lo):
                xpad[c, r, q] = 0
            dst, src = xpad[c, r, lo:hi], x[c, ih, lo - pw : hi - pw]  # sliced: an index q - pw
            for q in range(hi - lo):  # might be negative, and Numba's test for that stops LLVM vectorising
                dst[q] = src[q]
            for q in range(hi, width_p):
                xpad[c, r, q] = 0


@njit(cache=True, fastmath=False)
def crop_into(xpad, ph, pw, x):
    """x[c, h, w] = xpad[c, h + ph, w + pw], 0 where that is outside xpad (pixels of x no
    output read, past a block that ends early)."""
    channels, height, width = x.shape
    rows, width_p = xpad.shape[1], xpad.shape[2]
    lo, hi = valid_range(pw, 1, width_p, width)
    for c in range(channels):
        for h in range(height):
            dst = x[c, h]
            if h + ph >= rows:
                dst[:] = 0
                continue
            src = xpad[c, h + ph, lo + pw : hi + pw]
            for w in range(hi - lo):
                dst[lo + w] = src[w]
            dst[hi:] = 0


@njit(cache=True, fastmath=False)
def extend_rows(y, y_ext):
    """y_ext[k, oh*Wp + ow] = y[k, oh, ow], zero in the scratch columns ow >= OW: an output
    (gradient) in the layout of a padded block's rows, Wp = y_ext.shape[1] // OH wide."""
    n_out, oh_n, ow_n = y.shape
    width_p = y_ext.shape[1] // oh_n
    for k in range(n_out):
        for oh in range(oh_n):
            dst, src = y_ext[k, oh * width_p : (oh + 1) * width_p], y[k, oh]
            for ow in range(ow_n):
                dst[ow] = src[ow]
            dst[ow_n:] = 0
