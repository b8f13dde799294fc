"""Depthwise convolution on the CPU (groups == input channels): direct loops, no BLAS.

Each output channel k reads one input channel, c = k // multiplier, so a product would
have an inner size of kh*kw and be mostly im2col copying. The loops instead go plane by
plane. The input plane is zero-padded into a per-thread scratch block P just large enough
for every tap, so no loop tests bounds, and
    y[oh, ow] = b + sum_ij w_ij P[oh*sh + i*dh, ow*sw + j*dw]
At stride 1 the output is laid out with rows as wide as P's ("extended", the columns past
OW scratch, as in conv.py's shifted products), and then each tap (i, j) is one pass over
the whole plane at a fixed offset into P, flat:
    y_ext[q] += w_ij P_flat[q + i*dh*Wp + j*dw]          q < OH*Wp
a loop about a thousand long that LLVM turns into vector multiply-adds. (Passes along each
output row instead, 32 long at 32x32, take 2.5x as long: much of their time goes to
starting and ending loops.) A 3x3 filter's nine passes run as one, which reads and writes
each output once (the forward 25% faster); other filters and strides run the passes, the
strides row by row.
Backward runs the passes reversed:
    dP_flat[q + off_ij] += w_ij dy_ext[q],   then dx = dP cropped
    dw_ij = sum over samples and q of dy_ext[q] P_flat[q + off_ij]
the weight gradient summed first into kh*kw vectors of partial sums (a scalar running sum
does not vectorise: without fastmath LLVM keeps the order of the additions). dy_ext's
scratch columns are zero, so what they meet in P adds nothing. For a 3x3 filter (at
stride 1) both backward products change shape:
    dx[h, w] = sum_ij w_ij dy_ext[(h + ph)*Wp + w + pw - off_ij]   (dy_ext with zero margins)
one gathering pass per row of dx, written straight into dx: no plane to clear, scatter
into and crop (the input gradient 10% faster); and the weight gradient's nine sums run in
nine vector registers (`_tap_sums`, written in LLVM's vector instructions as small_gemm's
tile is) over dy's own rows, with no dy_ext to lay out: 1.16 -> 0.80 ms on the benchmark's
32x64x32x32. (Written in Numba, nine running sums over full-length rows, loaded and
stored at every element, took 35% longer than the nine passes.)

Indices are slices plus a loop counter (src = P_flat[off : off + n], then src[q]), never
q + off: Numba tests every index for a negative value to wrap, and that test kept LLVM
from vectorising these loops (a third of the time without it; bench/README.md has the
figures, and those of these kernels against PyTorch's).
"""
import numpy as np
from llvmlite import ir
from numba import config, get_thread_id, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .buffers import workspace
from .padding import crop_into, extend_rows, pad_into, padded_hw, valid_range
from .small_gemm import VECTOR_BYTES, vector_ops

_SLOTS = config.NUMBA_NUM_THREADS

jit = njit(cache=True, fastmath=False)
parallel_jit = njit(cache=True, fastmath=False, parallel=True)


@jit
def _taps3x3(pf, w, bias, row, col, e, cols):
    """e[q] = bias + sum_ij w[i, j] pf[q + i*row + j*col] for q < cols: the nine passes of a
    3x3 filter fused into one, which reads each output once instead of nine times (half the
    time of nine passes), adding in the same order."""
    s00, s01, s02 = pf[0:cols], pf[col:col + cols], pf[2 * col:2 * col + cols]
    s10, s11, s12 = pf[row:row + cols], pf[row + col:row + col + cols], pf[row + 2 * col:row + 2 * col + cols]
    r2 = 2 * row
    s20, s21, s22 = pf[r2:r2 + cols], pf[r2 + col:r2 + col + cols], pf[r2 + 2 * col:r2 + 2 * col + cols]
    w00, w01, w02 = w[0, 0], w[0, 1], w[0, 2]
    w10, w11, w12 = w[1, 0], w[1, 1], w[1, 2]
    w20, w21, w22 = w[2, 0], w[2, 1], w[2, 2]
    for q in range(cols):
        e[q] = (bias + w00 * s00[q] + w01 * s01[q] + w02 * s02[q] + w10 * s10[q] + w11 * s11[q] + w12 * s12[q]
                + w20 * s20[q] + w21 * s21[q] + w22 * s22[q])


@jit
def _gather3x3(em, at, w, row, col, out, n, accumulate):
    """out[p] = sum_ij w[i, j] em[at + p - i*row - j*col] for p < n, added to out when
    `accumulate`: the nine scattering passes of a 3x3 filter's input gradient as one
    gathering pass, on the extended output gradient em with zeros on either side (so taps
    that fall outside add zero)."""
    t00, t01, t02 = em[at:at + n], em[at - col:at - col + n], em[at - 2 * col:at - 2 * col + n]
    m1 = at - row
    t10, t11, t12 = em[m1:m1 + n], em[m1 - col:m1 - col + n], em[m1 - 2 * col:m1 - 2 * col + n]
    m2 = at - 2 * row
    t20, t21, t22 = em[m2:m2 + n], em[m2 - col:m2 - col + n], em[m2 - 2 * col:m2 - 2 * col + n]
    w00, w01, w02 = w[0, 0], w[0, 1], w[0, 2]
    w10, w11, w12 = w[1, 0], w[1, 1], w[1, 2]
    w20, w21, w22 = w[2, 0], w[2, 1], w[2, 2]
    zero = out.dtype.type(0)
    for p in range(n):
        out[p] = ((out[p] if accumulate else zero) + w00 * t00[p] + w01 * t01[p] + w02 * t02[p] + w10 * t10[p]
                  + w11 * t11[p] + w12 * t12[p] + w20 * t20[p] + w21 * t21[p] + w22 * t22[p])


@jit
def _input_grad3x3(gy, w, ph, pw, dh, dw, width_p, height_p, ext, dx, accumulate):
    """dx (H, W) = the input gradient of a 3x3 filter at stride 1 (added to dx when
    `accumulate`), written straight into dx: each row one gathering pass (_gather3x3) over
    gy (1, OH, OW) extended to P's width with zero margins, rows and columns past the padded
    block P (height_p x width_p) 0, as crop_into leaves them. No plane to clear and crop."""
    cols, margin = gy.shape[1] * width_p, 2 * dh * width_p + 2 * dw
    em = ext[0]
    em[:margin] = 0
    extend_rows(gy, ext[:, margin:margin + cols])
    em[margin + cols:2 * margin + cols] = 0
    height, width = dx.shape
    lo, hi = valid_range(pw, 1, width_p, width)
    for h in range(height):
        out = dx[h]
        if h + ph >= height_p:
            if not accumulate:
                out[:] = 0
            continue
        if not accumulate:
            out[:lo] = 0
            out[hi:] = 0
        _gather3x3(em, margin + (h + ph) * width_p + pw + lo, w, dh * width_p, dw, out[lo:hi], hi - lo, accumulate)


def _make_tap_sums(vector_bytes):
    """The 3x3 weight gradient's nine sums over a plane, in registers (see _weight_sums3x3)."""

    @intrinsic
    def tap_sums(typingctx, g, pf, offsets, rows, width, p_stride, out, out_stride):
        """out[t * out_stride] += sum over r < rows and q < m of g[r*width + q] pf[r*p_stride +
        q + offsets[t]] for t < 9, with m the largest multiple of a vector's lanes <= width;
        returns m. Flat arrays of one dtype, nothing bounds-checked."""
        if not (isinstance(g, types.Array) and g.dtype in (types.float32, types.float64)
                and pf.dtype == out.dtype == g.dtype):
            return None

        def codegen(context, builder, signature, args):
            g, pf, offsets, rows, width, p_stride, out, out_stride = args
            data = [context.make_array(t)(context, builder, v).data
                    for t, v in zip(signature.args[:3] + signature.args[6:7], (g, pf, offsets, out))]
            scalar = context.get_value_type(signature.args[0].dtype)
            vector, lanes, fmuladd, load = vector_ops(context, builder, signature.args[0].dtype, vector_bytes)
            index = lambda i: ir.Constant(rows.type, i)  # noqa: E731
            taps = [builder.load(builder.gep(data[2], [index(t)])) for t in range(9)]
            sums = [cgutils.alloca_once_value(builder, ir.Constant(vector, None)) for _ in range(9)]
            chunks = builder.sdiv(width, index(lanes))

            with cgutils.for_range(builder, rows) as row:
                g_row = builder.gep(data[0], [builder.mul(row.index, width)])
                p_row = builder.gep(data[1], [builder.mul(row.index, p_stride)])
                with cgutils.for_range(builder, chunks) as chunk:
                    q = builder.mul(chunk.index, index(lanes))
                    gv = load(builder.gep(g_row, [q]))
                    for t in range(9):
                        pv = load(builder.gep(p_row, [builder.add(q, taps[t])]))
                        builder.store(fmuladd(gv, pv, builder.load(sums[t])), sums[t])
            for t in range(9):
                total, vec = ir.Constant(scalar, 0.0), builder.load(sums[t])
                for lane in range(lanes):
                    total = builder.fadd(total, builder.extract_element(vec, ir.Constant(ir.IntType(32), lane)))
                slot = builder.gep(data[3], [builder.mul(index(t), out_stride)])
                builder.store(builder.fadd(builder.load(slot), total), slot)
            return builder.mul(chunks, index(lanes))

        return types.intp(g, pf, offsets, types.intp, types.intp, types.intp, out, types.intp), codegen

    return tap_sums


_tap_sums = _make_tap_sums(VECTOR_BYTES)


@jit
def _weight_sums3x3(gy, pf, width_p, row, col, acc):
    """acc[i*3 + j, 0] += sum over (oh, ow) of gy[oh, ow] pf[oh*width_p + ow + i*row + j*col]
    for a plane gy (OH, OW): the nine running sums in vector registers (_tap_sums, a lane
    each), where nine passes over rows of partial sums load and store each sum at every
    element (and need gy's rows laid out as wide as P's first); the last OW mod lanes
    columns one by one."""
    oh_n, ow_n = gy.shape
    offsets = np.empty(9, np.int64)
    for i in range(3):
        for j in range(3):
            offsets[3 * i + j] = i * row + j * col
    stride, flat = acc.shape[1], acc.reshape(-1)
    done = _tap_sums(gy.reshape(-1), pf, offsets, oh_n, ow_n, width_p, flat, stride)
    for t in range(9):
        total = flat[t * stride]
        for oh in range(oh_n):
            g, src = gy[oh], pf[oh * width_p + offsets[t]:]
            for ow in range(done, ow_n):
                total += g[ow] * src[ow]
        flat[t * stride] = total


@jit
def _forward_plane(p, w, bias, sh, sw, dh, dw, ext, y):
    """y[oh, ow] = bias + sum_ij w[i, j] p[oh*sh + i*dh, ow*sw + j*dw]"""
    oh_n, ow_n = y.shape
    kh, kw = w.shape
    width_p = p.shape[1]
    if sh == 1 and sw == 1:
        pf, e, cols = p.reshape(-1), ext[0], oh_n * width_p
        if kh == 3 and kw == 3:
            _taps3x3(pf, w, bias, dh * width_p, dw, e, cols)
        else:
            e[:cols] = bias
            for i in range(kh):
                for j in range(kw):
                    wij, offset = w[i, j], i * dh * width_p + j * dw
                    src = pf[offset : offset + cols]
                    for q in range(cols):
                        e[q] += wij * src[q]
        for oh in range(oh_n):
            row, src = y[oh], e[oh * width_p : oh * width_p + ow_n]
            for ow in range(ow_n):
                row[ow] = src[ow]
        return
    y[:] = bias
    for oh in range(oh_n):
        row = y[oh]
        for i in range(kh):
            src = p[oh * sh + i * dh]
            for j in range(kw):
                wij, taps = w[i, j], src[j * dw :: sw]
                for ow in range(ow_n):
                    row[ow] += wij * taps[ow]


@jit
def _input_grad_plane(gy, w, sh, sw, dh, dw, ext, p):
    """p[oh*sh + i*dh, ow*sw + j*dw] += w[i, j] gy[oh, ow]: the adjoint of _forward_plane in
    p. gy is (1, OH, OW)."""
    oh_n, ow_n = gy.shape[1], gy.shape[2]
    kh, kw = w.shape
    width_p = p.shape[1]
    if sh == 1 and sw == 1:
        pf, cols = p.reshape(-1), oh_n * width_p
        extend_rows(gy, ext[:, :cols])
        e = ext[0]
        for i in range(kh):
            for j in range(kw):
                wij, offset = w[i, j], i * dh * width_p + j * dw
                dst = pf[offset : offset + cols]
                for q in range(cols):
                    dst[q] += wij * e[q]
        return
    for oh in range(oh_n):
        row = gy[0, oh]
        for i in range(kh):
            dst = p[oh * sh + i * dh]
            for j in range(kw):
                wij, taps = w[i, j], dst[j * dw :: sw]
                for ow in range(ow_n):
                    taps[ow] += wij * row[ow]


@jit
def _weight_grad_plane(p, gy, kh, kw, sh, sw, dh, dw, ext, acc):
    """acc[i*kw + j, :] += the terms of sum_(oh, ow) gy[oh, ow] p[oh*sh + i*dh, ow*sw + j*dw],
    the adjoint of _forward_plane in w before its final sum. gy is (1, OH, OW)."""
    oh_n, ow_n = gy.shape[1], gy.shape[2]
    width_p = p.shape[1]
    if sh == 1 and sw == 1:
        pf, e, cols = p.reshape(-1), ext[0], oh_n * width_p
        if kh == 3 and kw == 3:
            _weight_sums3x3(gy[0], pf, width_p, dh * width_p, dw, acc)
            return
        extend_rows(gy, ext[:, :cols])
        for i in range(kh):
            for j in range(kw):
                row, offset = acc[i * kw + j], i * dh * width_p + j * dw
                src = pf[offset : offset + cols]
                for q in range(cols):
                    row[q] += e[q] * src[q]
        return
    for oh in range(oh_n):
        g = gy[0, oh]
        for i in range(kh):
            src = p[oh * sh + i * dh]
            for j in range(kw):
                row, taps = acc[i * kw + j], src[j * dw :: sw]
                for ow in range(ow_n):
                    row[ow] += g[ow] * taps[ow]


@parallel_jit
def _forward(x, w, bias, sh, sw, ph, pw, dh, dw, out, planes, ext):
    n_samples, k_out = out.shape[0], out.shape[1]
    multiplier = k_out // x.shape[1]
    for nk in prange(n_samples * k_out):
        n, k = nk // k_out, nk % k_out
        t, c = get_thread_id(), k // multiplier
        pad_into(x[n, c : c + 1], ph, pw, planes[t])
        _forward_plane(planes[t, 0], w[k, 0], bias[k], sh, sw, dh, dw, ext[t], out[n, k])
    return out


@parallel_jit
def _backward_input(grad_y, w, sh, sw, ph, pw, dh, dw, dx, planes, ext):
    n_samples, channels = dx.shape[0], dx.shape[1]
    multiplier = grad_y.shape[1] // channels
    direct = sh == 1 and sw == 1 and w.shape[2] == 3 and w.shape[3] == 3
    for nc in prange(n_samples * channels):
        n, c = nc // channels, nc % channels
        t = get_thread_id()
        if direct:
            for k in range(c * multiplier, (c + 1) * multiplier):
                _input_grad3x3(grad_y[n, k : k + 1], w[k, 0], ph, pw, dh, dw, planes.shape[3], planes.shape[2] - 1,
                               ext[t], dx[n, c], k > c * multiplier)
            continue
        planes[t] = 0
        for k in range(c * multiplier, (c + 1) * multiplier):
            _input_grad_plane(grad_y[n, k : k + 1], w[k, 0], sh, sw, dh, dw, ext[t], planes[t, 0])
        crop_into(planes[t], ph, pw, dx[n, c : c + 1])
    return dx


@parallel_jit
def _backward_weight(x, grad_y, sh, sw, ph, pw, dh, dw, dw_out, planes, ext, sums):
    n_samples, k_out = grad_y.shape[0], grad_y.shape[1]
    multiplier = k_out // x.shape[1]
    kh, kw = dw_out.shape[2], dw_out.shape[3]
    for k in prange(k_out):  # each thread owns whole filters: no two threads add into one entry
        t, c = get_thread_id(), k // multiplier
        acc = sums[t]
        acc[:] = 0
        for n in range(n_samples):
            pad_into(x[n, c : c + 1], ph, pw, planes[t])
            _weight_grad_plane(planes[t, 0], grad_y[n, k : k + 1], kh, kw, sh, sw, dh, dw, ext[t], acc)
        for i in range(kh):
            for j in range(kw):
                dw_out[k, 0, i, j] = acc[i * kw + j].sum()
    return dw_out


# ---- entry points (called from conv.py when groups == input channels) -------------------

def sums_are_direct(kernel_hw, stride):
    """Whether every result is the direct sum over its taps, the padding's zeros multiplied
    in as PyTorch's kernels do, and nothing else: 3x3 filters at stride 1, whose passes
    never multiply the scratch columns of an extended row into a kept result. inf and NaN
    then come out as PyTorch's, and conv.py runs them without its finiteness check."""
    return tuple(kernel_hw) == (3, 3) and tuple(stride) == (1, 1)


def _scratch(out_hw, kernel_hw, stride, dilation, dtype):
    """Per thread slot: the padded plane, (1, Hp + 1, Wp) with Hp = (OH-1)*sh + (kh-1)*dh + 1
    rows (the last an output reads; one more so that the flat passes of stride 1 stay inside
    at the scratch columns' end), and an extended output row, OH*Wp long, with room for a
    margin on either side as long as a filter's reach, (kh-1)*dh*Wp + (kw-1)*dw (_gather3x3)."""
    hp, wp = padded_hw(out_hw, kernel_hw, stride, dilation)
    planes = workspace("depthwise_plane", (_SLOTS, 1, hp + 1, wp), dtype)
    reach = (kernel_hw[0] - 1) * dilation[0] * wp + (kernel_hw[1] - 1) * dilation[1]
    return planes, workspace("depthwise_ext", (_SLOTS, 1, out_hw[0] * wp + 2 * reach), dtype)


def conv2d(x, weight, bias, stride, padding, dilation, out):
    """out = the depthwise convolution of x (N, C, H, W) with weight (K, 1, kh, kw), K a
    multiple of C, + bias (K,) unless empty."""
    planes, ext = _scratch(out.shape[2:], weight.shape[2:], stride, dilation, x.dtype)
    if not bias.shape[0]:  # zeros of x's dtype: a bias of 0.0 would make the kernels' sums float64
        bias = np.zeros(weight.shape[0], x.dtype)
    return _forward(x, weight, bias, *stride, *padding, *dilation, out, planes, ext)


def conv2d_backward_input(grad_y, weight, stride, padding, dilation, dx):
    """dx = the gradient of conv2d's input for the output gradient grad_y."""
    planes, ext = _scratch(grad_y.shape[2:], weight.shape[2:], stride, dilation, grad_y.dtype)
    return _backward_input(grad_y, weight, *stride, *padding, *dilation, dx, planes, ext)


def conv2d_backward_weight(x, grad_y, kernel_hw, stride, padding, dilation):
    """The gradient of conv2d's weight, (K, 1, kh, kw)."""
    planes, ext = _scratch(grad_y.shape[2:], kernel_hw, stride, dilation, x.dtype)
    kh, kw = kernel_hw
    sums = workspace("depthwise_sums", (_SLOTS, kh * kw, ext.shape[2]), x.dtype)
    dw = np.empty((grad_y.shape[1], 1, kh, kw), x.dtype)
    return _backward_weight(x, grad_y, *stride, *padding, *dilation, dw, planes, ext, sums)
