"""2-D convolution on the GPU as implicit GEMM: the tiled product of gemm.py, reading the
input where it lies instead of through an im2col buffer.

The same three kernels as the CPU's, on CudaArrays (NCHW, weight (K, C/groups, kh, kw)):

    conv2d(x, weight, bias, stride, padding, dilation, groups, out_hw)                 -> y
    conv2d_backward_input(grad_y, weight, input_hw, stride, padding, dilation, groups) -> dx
    conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation, groups)    -> dw
    conv2d_backward(x, grad_y, weight, input_grad, weight_grad, stride, padding, dilation, groups) -> (dx, dw)

With G groups, C_g = C/G input and K_g = K/G output channels per group and L = OH*OW
output pixels, the columns of im2col,
    cols_g[(c, i, j), (n, oh, ow)] = x[n, g*C_g + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
(0 in the padding), are never stored: the product's loads compute each one's address.
Each direction is one batched product over the G groups, one launch:
    forward          Y_g  = W_g (K_g, C_g*kh*kw) @ cols_g, written into y (NCHW) with the bias
    backward input   dX_g = W_g^T (C_g, K_g*kh*kw) @ dY~_g, where dY~_g[(k, i, j), (n, ih, iw)] is
                     dY[n, g*K_g + k, oh, ow] for the output (oh, ow) whose window reads (ih, iw)
                     through tap (i, j), 0 if none: col2im's sum, read as a gather
    backward weight  dW_g = dY_g (K_g, N*L) @ cols_g^T, a long sum split along N*L (plus one
                     reduction launch adding the parts)
Depthwise convolutions (one input channel per group) leave the product's tiles almost
empty (K_g rows of a 128-row tile), so they run direct kernels (depthwise.py) instead.
"""
from . import depthwise
from .array import CudaArray
from .gemm import COLS, COLS_T, DY_COLS, DY_GATHER, NCHW_BIAS, NCHW_OUT, W_T, dense, gathered, product
from .reduce import SUM, reduce


def _geometry(x_shape, w_shape, groups, stride, padding, dilation, out_hw):
    """The product kinds' geo tuple (see gemm.py)."""
    n, c = x_shape[:2]
    k, _, kh, kw = w_shape
    return (n, c // groups, *x_shape[2:], kh, kw, *stride, *padding, *dilation, *out_hw, k // groups)


def _depthwise(c_group, groups):
    return c_group == 1 and groups > 1


def conv2d(x, weight, bias, stride, padding, dilation, groups, out_hw):
    n_samples = x.shape[0]
    k_out, c_group, kh, kw = weight.shape
    out = CudaArray.empty((n_samples, k_out) + tuple(out_hw), x.dtype)
    if out.size == 0:
        return out
    geo = _geometry(x.shape, weight.shape, groups, stride, padding, dilation, out_hw)
    if bias is not None and not (bias.is_contiguous and bias.ndim == 1):
        bias = bias.copy()  # both kernels index it as bias[b0 + k]
    if _depthwise(c_group, groups):
        return depthwise.forward(x, weight, bias, geo, out)
    w = weight.reshape(groups, k_out // groups, c_group * kh * kw)
    return product(dense(w, 2), gathered(COLS, x), groups, k_out // groups, out.size // k_out, c_group * kh * kw,
                   x.dtype, out=out, out_kind=NCHW_OUT if bias is None else NCHW_BIAS, geo=geo, bias=bias)


def conv2d_backward_input(grad_y, weight, input_hw, stride, padding, dilation, groups):
    n_samples, k_out = grad_y.shape[:2]
    _, c_group, kh, kw = weight.shape
    dx = CudaArray.empty((n_samples, c_group * groups) + tuple(input_hw), grad_y.dtype)
    if dx.size == 0:
        return dx
    geo = _geometry(dx.shape, weight.shape, groups, stride, padding, dilation, grad_y.shape[2:])
    if _depthwise(c_group, groups):
        return depthwise.backward_input(grad_y, weight, geo, dx)
    return product(gathered(W_T, weight), gathered(DY_GATHER, grad_y), groups, c_group, dx.size // (c_group * groups),
                   (k_out // groups) * kh * kw, grad_y.dtype, out=dx, out_kind=NCHW_OUT, geo=geo)


def conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation, groups):
    k_out = grad_y.shape[1]
    c_group = x.shape[1] // groups
    shape = (k_out, c_group) + tuple(kernel_hw)
    geo = _geometry(x.shape, shape, groups, stride, padding, dilation, grad_y.shape[2:])
    if _depthwise(c_group, groups):
        return depthwise.backward_weight(x, grad_y, geo, CudaArray.empty(shape, x.dtype))
    taps = kernel_hw[0] * kernel_hw[1]
    dw = product(gathered(DY_COLS, grad_y), gathered(COLS_T, x), groups, k_out // groups, c_group * taps,
                 grad_y.size // k_out, x.dtype, geo=geo)
    return dw.reshape(shape)


def channel_sums(grad_y):
    """One reduction launch over every axis but the channels."""
    return reduce(SUM, grad_y, (0,) + tuple(range(2, grad_y.ndim)))


def conv2d_backward(x, grad_y, weight, input_grad, weight_grad, stride, padding, dilation, groups):
    """(dx, dw) of y = conv2d(x, weight), each only if asked for (else None)."""
    geometry = stride, padding, dilation, groups
    dx = conv2d_backward_input(grad_y, weight, x.shape[2:], *geometry) if input_grad else None
    dw = conv2d_backward_weight(x, grad_y, weight.shape[2:], *geometry) if weight_grad else None
    return dx, dw
