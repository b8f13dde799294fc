"""3-D convolution for video and volumes (N, C, D, H, W): F.conv3d, F.conv_transpose3d and
the modules Conv3d and ConvTranspose3d, with PyTorch's arguments, output sizes and
initialisation, on the 2-D product kernels.

A 3-D convolution is a sum over the kernel's depth taps of 2-D convolutions: tap k reads the
input frames k*dilation, k*dilation + stride, ... (one per output frame),
    y[:, :, d] = sum_k conv2d(x[:, :, d * s_d - p_d + k * dil_d], w[:, :, k])
A fixed 0/1 matrix along the frames (ops/resample.py) gathers those taps, row i*kd + k
reading input frame i * stride + k * dilation - padding (none, so zero, in the padding);
with the output frames folded into the batch and the taps side by side as channels, the
sum is the channel sum of a single conv2d (one product, as im2col along depth). The
transpose runs one conv_transpose2d with the taps side by side as its output channels, and
the transposed matrix adds tap k of frame i back into output frame
i * stride + k * dilation - padding.
Every step is a differentiable op, so the gradients are those of the 2-D kernels.
"""
import numpy as np

from ..ops.resample import AlongAxis, SparseMatrix
from .conv import _check_bias, _check_groups, _check_tensors, _Conv, _ConvTranspose, _ints, conv2d, conv_transpose2d


def _batched5(x, fn):
    return fn(x) if x.ndim == 5 else fn(x.unsqueeze(0)).squeeze(0)


def _frames(x):
    """(N, C, D, H, W) -> (N, D, C, H, W): frames along the second axis, ready to fold into the batch."""
    return x.permute(0, 2, 1, 3, 4)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) of input (N, C, D, H, W) with weight
    (K, C/groups, kd, kh, kw); padding is an int, a triple, 'valid' or 'same'."""
    op = "conv3d"
    _check_tensors(op, input, weight, bias, 5)
    stride, dilation = _ints(stride, 3, "stride", op, 1), _ints(dilation, 3, "dilation", op, 1)
    k_out, cg, kd = weight.shape[:3]
    _check_groups(op, input.shape[-4], k_out, groups)
    if cg * groups != input.shape[-4]:
        raise RuntimeError(f"{op}: weight of shape {weight.shape} with groups={groups} expects {cg * groups} input "
                           f"channels, got input of shape {input.shape}")
    _check_bias(op, bias, k_out)
    if padding == "same":
        if stride != (1, 1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        total = dilation[0] * (kd - 1)
        depth_pad, plane_pad = (total // 2, total - total // 2), "same"
    else:
        pads = (0, 0, 0) if padding == "valid" else _ints(padding, 3, "padding", op, 0)
        depth_pad, plane_pad = (pads[0], pads[0]), pads[1:]

    def run(x):
        depth = x.shape[2]
        frames = (depth + sum(depth_pad) - dilation[0] * (kd - 1) - 1) // stride[0] + 1
        if frames < 1:
            raise RuntimeError(f"{op}: kernel depth {kd} (dilation {dilation[0]}) can't be greater than the padded "
                               f"input depth {depth + sum(depth_pad)} for input of shape {input.shape}")
        (n, c, _, h, w), g = x.shape, groups
        # row i*kd + k: the input frame tap k of output frame i reads (zeros in the padding)
        taps = AlongAxis.apply(_frames(x), axis=1,
                               matrix=_spread(frames, kd, stride[0], dilation[0], depth_pad[0], depth).T)
        # the depth taps of a group side by side as its channels: (N D', G kd C/G, H, W)
        stacked = taps.reshape(n * frames, kd, g, c // g, h, w).permute(0, 2, 1, 3, 4, 5)
        planes = weight.permute(0, 2, 1, 3, 4).reshape(weight.shape[0], kd * weight.shape[1], *weight.shape[3:])
        y = conv2d(stacked.reshape(n * frames, kd * c, h, w), planes, None, stride[1:], plane_pad, dilation[1:], g)
        y = y.reshape(n, frames, *y.shape[1:]).permute(0, 2, 1, 3, 4)
        return y if bias is None else y + bias.reshape(1, -1, 1, 1, 1)

    return _batched5(input, run)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 3-D convolution (conv3d's gradient with respect to its input) of input
    (N, C_in, D, H, W) with weight (C_in, C_out/groups, kd, kh, kw); output depth
    (D - 1) stride - 2 padding + dilation (kd - 1) + output_padding + 1, and so on."""
    op = "conv_transpose3d"
    _check_tensors(op, input, weight, bias, 5)
    stride, padding = _ints(stride, 3, "stride", op, 1), _ints(padding, 3, "padding", op, 0)
    dilation, output_padding = _ints(dilation, 3, "dilation", op, 1), _ints(output_padding, 3, "output_padding", op, 0)
    c_in, cg_out, kd = weight.shape[:3]
    if input.shape[-4] != c_in:
        raise RuntimeError(f"{op}: weight of shape {weight.shape} expects {c_in} input channels, got input of shape "
                           f"{input.shape}")
    _check_groups(op, c_in, cg_out * groups, groups)
    _check_bias(op, bias, cg_out * groups)
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either stride {stride} or "
                         f"dilation {dilation}")

    def run(x):
        n, frames, g = x.shape[0], x.shape[2], groups
        depth = (frames - 1) * stride[0] + dilation[0] * (kd - 1) + 1 + output_padding[0] - 2 * padding[0]
        if depth < 1:
            raise RuntimeError(f"{op}: input of shape {input.shape} gives an empty output depth; reduce padding")
        x = _frames(x).reshape(n * frames, c_in, *x.shape[3:])
        planes = weight.permute(0, 2, 1, 3, 4).reshape(c_in, kd * cg_out, *weight.shape[3:])
        y = conv_transpose2d(x, planes, None, stride[1:], padding[1:], output_padding[1:], g, dilation[1:])
        h, w = y.shape[2:]
        # (N, D, G, kd, C/G, ...) -> frame i's tap k as row i*kd + k of (N, D kd, C, ...)
        y = y.reshape(n, frames, g, kd, cg_out, h, w).permute(0, 1, 3, 2, 4, 5, 6).reshape(n, frames * kd, g * cg_out, h, w)
        y = AlongAxis.apply(y, axis=1, matrix=_spread(frames, kd, stride[0], dilation[0], padding[0], depth))
        y = y.permute(0, 2, 1, 3, 4)
        return y if bias is None else y + bias.reshape(1, -1, 1, 1, 1)

    return _batched5(input, run)


def _spread(frames, taps, stride, dilation, padding, depth):
    """The 0/1 matrix (depth x frames*taps) that adds tap k of input frame i into output frame
    i * stride + k * dilation - padding (those that land inside the output)."""
    i, k = np.divmod(np.arange(frames * taps), taps)
    target = i * stride + k * dilation - padding
    inside = (target >= 0) & (target < depth)
    return SparseMatrix(target[inside], np.arange(frames * taps)[inside], np.ones(inside.sum()), (depth, frames * taps))


class Conv3d(_Conv):
    """3-D convolution layer over (N, C_in, D, H, W) inputs: weight (out, in/groups, kd, kh, kw)."""

    dims, function = 3, staticmethod(conv3d)


class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-D convolution layer: weight (in, out/groups, kd, kh, kw)."""

    dims, function = 3, staticmethod(conv_transpose3d)
