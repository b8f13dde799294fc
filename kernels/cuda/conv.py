"""2-D convolution on the GPU: im2col for the whole batch, then the tiled matrix product.

The same three kernels as the CPU's, on CudaArrays (NCHW, weight (K, C/groups, kh, kw)):

    conv2d(x, weight, bias, stride, padding, dilation, groups, out_hw)                 -> y
    conv2d_backward_input(grad_y, weight, input_hw, stride, padding, dilation, groups) -> dx
    conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation, groups)    -> dw
    conv2d_backward(x, grad_y, weight, input_grad, weight_grad, stride, padding, dilation, groups) -> (dx, dw)

(the last does both backward products of a Conv2d, laying dY out per group once for the two).

With G groups, C_g = C/G input and K_g = K/G output channels per group and L = OH*OW
output pixels, im2col lays the receptive fields of all N samples side by side:
    cols[g, (c, i, j), (n, oh, ow)] = x[n, g*C_g + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
(0 in the padding), so each direction is one batched product over the G groups:
    forward          Y_g  = W_g (K_g, C_g*kh*kw) @ cols_g           (then to NCHW, plus bias)
    backward input   dcols_g = W_g^T @ dY_g, folded back by col2im
    backward weight  dW_g = dY_g (K_g, N*L) @ cols_g^T              (K = N*L: split along K)
col2im is a gather: each thread owns one input pixel and adds up the columns that copied
it, so no two threads write the same place.
"""
import numpy as np

from .array import CudaArray, binary
from .elementwise import ADD, copy_kernel, run
from .launch import cuda, grid, launch
from .matmul import matmul
from .xp import zeros


@cuda.jit(cache=True)
def im2col_kernel(total, x, x0, xs, dims, geometry, out_hw, cols):
    """cols (G, C_g*kh*kw, N*OH*OW), contiguous, from x (N, C, H, W) of any strides."""
    n_samples, c_group, height, width = dims
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    oh_n, ow_n = out_hw
    pixels = n_samples * oh_n * ow_n
    rows = c_group * kh * kw
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        column, row, g = e % pixels, (e // pixels) % rows, e // (pixels * rows)
        n, p = column // (oh_n * ow_n), column % (oh_n * ow_n)
        j, i, c = row % kw, (row // kw) % kh, row // (kw * kh)
        ih = (p // ow_n) * sh - ph + i * dh
        iw = (p % ow_n) * sw - pw + j * dw
        if 0 <= ih < height and 0 <= iw < width:
            cols[e] = x[x0 + n * xs[0] + (g * c_group + c) * xs[1] + ih * xs[2] + iw * xs[3]]
        else:
            cols[e] = 0


@cuda.jit(device=True)
def window_through(position, tap, pad, dilation, stride, outputs):
    """Along one axis: the output whose window reads input `position` through `tap`, or -1.
    (Output o reads o * stride - pad + tap * dilation.) Shared with max pooling's backward."""
    start = position + pad - tap * dilation
    if start < 0 or start % stride or start // stride >= outputs:
        return -1
    return start // stride


@cuda.jit(cache=True)
def col2im_kernel(total, cols, dims, geometry, out_hw, dx, zero):
    """dx (N, C, H, W), contiguous: each pixel sums the entries of cols copied from it."""
    n_samples, c_group, height, width = dims
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    oh_n, ow_n = out_hw
    pixels = n_samples * oh_n * ow_n
    rows = c_group * kh * kw
    channels = total // (n_samples * height * width)
    for e in range(cuda.grid(1), total, cuda.gridsize(1)):
        iw, ih = e % width, (e // width) % height
        channel, n = (e // (width * height)) % channels, e // (width * height * channels)
        g, c = channel // c_group, channel % c_group
        acc = zero
        for i in range(kh):
            oh = window_through(ih, i, ph, dh, sh, oh_n)
            if oh < 0:
                continue
            for j in range(kw):
                ow = window_through(iw, j, pw, dw, sw, ow_n)
                if ow >= 0:
                    acc += cols[(g * rows + (c * kh + i) * kw + j) * pixels + n * oh_n * ow_n + oh * ow_n + ow]
        dx[e] = acc


def _im2col(x, c_group, groups, kernel_hw, stride, padding, dilation, out_hw):
    n_samples, _, height, width = x.shape
    rows, pixels = c_group * kernel_hw[0] * kernel_hw[1], n_samples * out_hw[0] * out_hw[1]
    cols = CudaArray.empty((groups, rows, pixels), x.dtype)
    geometry = (*kernel_hw, *stride, *padding, *dilation)
    launch(im2col_kernel, *grid(cols.size), cols.size, x.buf, x.offset, x.strides,
           (n_samples, c_group, height, width), geometry, tuple(out_hw), cols.buf)
    return cols


def _per_group(a, groups):
    """(N, K, OH, OW) -> (G, K/G, N*OH*OW): the layout of the products' dY (a copy when N > 1)."""
    n, k = a.shape[:2]
    return a.reshape(n, groups, k // groups, -1).transpose(1, 2, 0, 3).reshape(groups, k // groups, -1)


def conv2d(x, weight, bias, stride, padding, dilation, groups, out_hw):
    n_samples = x.shape[0]
    k_out, c_group, kh, kw = weight.shape
    out = CudaArray.empty((n_samples, k_out) + tuple(out_hw), x.dtype)
    if out.size == 0:
        return out
    cols = _im2col(x, c_group, groups, (kh, kw), stride, padding, dilation, out_hw)
    y = matmul(weight.reshape(groups, k_out // groups, -1), cols)  # (G, K_g, N*L)
    y = y.reshape(groups, k_out // groups, n_samples, -1).transpose(2, 0, 1, 3)  # a view (N, G, K_g, L)
    target = out.reshape(y.shape)
    if bias is None:
        run(copy_kernel, target, y)
    else:
        binary(ADD, np.add, y, bias.reshape(1, groups, k_out // groups, 1), out=target)
    return out


def conv2d_backward_input(grad_y, weight, input_hw, stride, padding, dilation, groups):
    return _backward_input(_per_group(grad_y, groups), grad_y.shape, weight, input_hw, stride, padding, dilation, groups)


def _backward_input(dy, y_shape, weight, input_hw, stride, padding, dilation, groups):
    """dx from dY laid out per group (G, K_g, N*L)."""
    n_samples, k_out = y_shape[:2]
    _, c_group, kh, kw = weight.shape
    dx = CudaArray.empty((n_samples, c_group * groups) + tuple(input_hw), dy.dtype)
    if dx.size == 0:
        return dx
    w_t = weight.reshape(groups, k_out // groups, -1).transpose(0, 2, 1)  # (G, C_g*kh*kw, K_g), a view
    dcols = matmul(w_t, dy)
    geometry = (kh, kw, *stride, *padding, *dilation)
    launch(col2im_kernel, *grid(dx.size), dx.size, dcols.buf, (n_samples, c_group, *input_hw), geometry,
           tuple(y_shape[2:]), dx.buf, dx.dtype.type(0))
    return dx


def conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation, groups):
    return _backward_weight(x, _per_group(grad_y, groups), grad_y.shape, kernel_hw, stride, padding, dilation, groups)


def _backward_weight(x, dy, y_shape, kernel_hw, stride, padding, dilation, groups):
    """dw from x and dY laid out per group (G, K_g, N*L)."""
    k_out = y_shape[1]
    c_group = x.shape[1] // groups
    if x.shape[0] == 0:
        return zeros((k_out, c_group) + tuple(kernel_hw), x.dtype)
    cols = _im2col(x, c_group, groups, kernel_hw, stride, padding, dilation, y_shape[2:])
    dw = matmul(dy, cols.transpose(0, 2, 1))  # (G, K_g, C_g*kh*kw)
    return dw.reshape((k_out, c_group) + tuple(kernel_hw))


def conv2d_backward(x, grad_y, weight, input_grad, weight_grad, stride, padding, dilation, groups):
    """(dx, dw) of y = conv2d(x, weight), each only if asked for (else None)."""
    dy = _per_group(grad_y, groups)
    geometry = stride, padding, dilation, groups
    dx = _backward_input(dy, grad_y.shape, weight, x.shape[2:], *geometry) if input_grad else None
    dw = _backward_weight(x, dy, grad_y.shape, weight.shape[2:], *geometry) if weight_grad else None
    return dx, dw
