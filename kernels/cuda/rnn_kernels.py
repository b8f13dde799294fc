"""The persistent recurrent kernels: each runs a layer's whole sequence in one direction, the
forward pass or backpropagation through time, for the ROWS batch rows its block owns (see
rnn.py for the design and the launch around them).

Threads share out the hidden units (unit j = u0 + threadIdx.x, for u0 in steps of THREADS);
a thread keeps every gate of its unit for the block's rows in registers, so the cell math
needs no exchange between threads. The weights stream through shared memory in tiles read
along their rows, so that a warp's global reads are whole sectors:
  * forward, W_hh[g*H + j, k0:k0+KT] for the gates g of every unit j of the pass;
  * backward, W_hh[c0:c0+CT, u0:u0+THREADS], the columns of the pass's units.
Each tile is loaded once per block and used for all its rows, and a tile's loads are all in
flight at once, so a step waits about once per tile for memory.

The kernels come from factories keyed by the cell, the rows per block and the dtype, which
fix the sizes of the register and shared arrays (and leave each kernel only its cell's code).

With `masked`, step t of batch row b is padding when t >= lengths[b] (a packed sequence):
forward keeps the row's state there (hold_state), and backward passes its gradient on,
dL/dh_{t-1} = dL/dh_t + d_out_t (and dc unchanged), with zero gate gradients
(pass_gradient). Without it `lengths` is never read.
"""
import functools

import numba
import numpy as np

from .. import shapes
from .elementwise import tanh
from .launch import SIMULATED, cuda

# float32 constants: a Python 1.0 would turn float32 gate math into float64 on the GPU.
ONE, HALF, ZERO = np.float32(1), np.float32(0.5), np.float32(0)

LSTM, GRU, ELMAN = 0, 1, 2  # the cells
# Threads per CUDA block: 256 (8 warps) keep a weight tile's loads in flight and cover H = 256
# in one pass; every simulated thread is a Python thread.
THREADS = 4 if SIMULATED else 256
# Batch rows per CUDA block: the smallest that holds the batch, at most 8, where the G*R
# accumulators still fit in registers (ptxas, sm_90: at most 148 a thread, no spills, in
# float64) and a batch of 64 still spreads over 8 SMs.
GPU_ROWS = (1, 2, 4, 8)
ROWS = (1, 2) if SIMULATED else GPU_ROWS


def tiles(dtype):
    """(KT, CT): forward tiles span 32 bytes of each weight row (a memory sector), backward
    tiles CT rows; either takes 9-40 KiB of the 48 KiB of shared memory a block may have."""
    if SIMULATED:
        return 2, 2
    return (8, 32) if np.dtype(dtype).itemsize == 4 else (4, 16)


@cuda.jit(device=True)
def sigmoid(x):
    return HALF + HALF * tanh(HALF * x)  # never overflows, unlike 1 / (1 + e^-x)


# (t, read, write) of the s-th step the forward pass runs: h_t is written to hs[write]
step_slots = cuda.jit(device=True)(shapes.step_slots)


@cuda.jit(device=True)
def copy_rows(dst, dst_at, src, src_at, src_st, rows, H):
    """dst[dst_at + r*H + j] = src[src_at + r*src_st[0] + j*src_st[1]] for the block's rows."""
    for e in range(cuda.threadIdx.x, rows * H, cuda.blockDim.x):
        r, j = e // H, e % H
        dst[dst_at + e] = src[src_at + r * src_st[0] + j * src_st[1]]


@cuda.jit(device=True)
def gate_sums(acc, hv, tile, w, w0, ws, H, u0, hs, h_at, last):
    """acc[g, r] = sum_k W[g*H + j, k] h[r, k] for this thread's unit j = u0 + threadIdx.x, the
    G gates and the block's R rows (row r of h at h_at + r*H; rows past `last` repeat it, and
    their sums are never stored). Every thread of the block must call it."""
    G, U, KT = tile.shape[0], tile.shape[1], tile.shape[2] - 1  # rows padded by one
    R = acc.shape[1]
    tid = cuda.threadIdx.x
    for g in range(G):
        for r in range(R):
            acc[g, r] = 0
    for k0 in range(0, H, KT):
        for e in range(tid, G * U * KT, U):  # neighbouring threads read neighbouring k of one row
            g, u, kk = e // (U * KT), (e // KT) % U, e % KT
            inside = u0 + u < H and k0 + kk < H
            tile[g, u, kk] = w[w0 + (g * H + u0 + u) * ws[0] + (k0 + kk) * ws[1]] if inside else 0
        cuda.syncthreads()
        for kk in range(min(KT, H - k0)):
            for r in range(R):
                hv[r] = hs[h_at + min(r, last) * H + k0 + kk]
            for g in range(G):
                wk = tile[g, tid, kk]
                for r in range(R):
                    acc[g, r] += wk * hv[r]
        cuda.syncthreads()


@cuda.jit(device=True)
def carry_sums(acc, tile, w, w0, ws, H, u0, dg, dg_at, width, last):
    """acc[r] = sum_c dg[r, c] W[c, j] for this thread's unit j = u0 + threadIdx.x and the block's
    rows (row r of dg at dg_at + r*width, width = G*H columns): dL/dh_{t-1} through W_hh.
    Every thread of the block must call it."""
    CT, U = tile.shape
    R = acc.shape[0]
    tid = cuda.threadIdx.x
    for r in range(R):
        acc[r] = 0
    for c0 in range(0, width, CT):
        for cc in range(CT):
            inside = c0 + cc < width and u0 + tid < H
            tile[cc, tid] = w[w0 + (c0 + cc) * ws[0] + (u0 + tid) * ws[1]] if inside else 0
        cuda.syncthreads()
        for cc in range(min(CT, width - c0)):
            wc = tile[cc, tid]
            for r in range(R):
                acc[r] += wc * dg[dg_at + min(r, last) * width + c0 + cc]
        cuda.syncthreads()


@cuda.jit(device=True)
def operand_row(out, at, width, u, u_at, u_n, u_step, v, v_at, v_n, v_step, ones):
    """out[at : at + width] = [u (u_n values) | v (v_n values) | `ones` ones | zeros]: one row of
    the right operand of the weight-gradient product, whose ones give the bias gradients."""
    for c in range(cuda.threadIdx.x, width, cuda.blockDim.x):
        value = ZERO
        if c < u_n:
            value = u[u_at + c * u_step]
        elif c < u_n + v_n:
            value = v[v_at + (c - u_n) * v_step]
        elif c < u_n + v_n + ones:
            value = ONE
        out[at + c] = value


# ---- the cells: one (row, unit) of one step ------------------------------------------------
# Forward, the gates' pre-activations are in `gates` (at, at + step, ...), and leave as what
# backward reads (the activations).
@cuda.jit(device=True)
def lstm_cell(gates, at, step, cs, hs, read, write):
    """[i f g o] = [s s tanh s](gates),   c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)"""
    i, f = sigmoid(gates[at]), sigmoid(gates[at + step])
    g, o = tanh(gates[at + 2 * step]), sigmoid(gates[at + 3 * step])
    c = f * cs[read] + i * g
    cs[write] = c
    hs[write] = o * tanh(c)
    gates[at], gates[at + step], gates[at + 2 * step], gates[at + 3 * step] = i, f, g, o


@cuda.jit(device=True)
def gru_cell(gates, at, step, hs, read, write, a_n):
    """r = s(gates_r),  z = s(gates_z),  n = tanh(gates_n + r a_n),  h_t = (1 - z) n + z h_{t-1},
    where a_n = h_{t-1} W_hn^T + b_hn, the recurrent part of the n gate, kept apart."""
    reset, update = sigmoid(gates[at]), sigmoid(gates[at + step])
    n = tanh(gates[at + 2 * step] + reset * a_n)
    hs[write] = (ONE - update) * n + update * hs[read]
    gates[at], gates[at + step], gates[at + 2 * step] = reset, update, n


@cuda.jit(device=True)
def elman_cell(gates, at, hs, write, relu):
    """h_t = act(gates), act = relu or tanh"""
    v = gates[at]
    hs[write] = max(v, ZERO) if relu else tanh(v)


@cuda.jit(device=True)
def hold_state(cs, hs, read, write, cell):
    """A padded step: h_t = h_{t-1}, and the LSTM's c_t = c_{t-1}."""
    hs[write] = hs[read]
    if cell == LSTM:
        cs[write] = cs[read]


@cuda.jit(device=True)
def pass_gradient(dh_t, dh, e, dg, out, out_h, G, H):
    """Backward through a padded step: no gate gradients (at out, and at out_h, the GRU's
    recurrent part; out again for the other cells), and dh keeps dL/dh_t whole, to which
    the zero share through W_hh is added."""
    for g in range(G):
        dg[out + g * H] = ZERO
        dg[out_h + g * H] = ZERO
    dh[e] = dh_t


@cuda.jit(device=True)
def lstm_cell_backward(acts, at, step, cs, read, write, dh_t, dc, e, dg, out, H):
    """With dc_t = dc + dh_t o (1 - tanh^2 c_t):
        d[i f g o] = [dc_t g, dc_t c_{t-1}, dc_t i, dh_t tanh c_t] * [i(1-i), f(1-f), 1-g^2, o(1-o)],
    and dc leaves as dL/dc_{t-1} = dc_t f."""
    i, f, g, o = acts[at], acts[at + step], acts[at + 2 * step], acts[at + 3 * step]
    tc = tanh(cs[write])
    dc_t = dc[e] + dh_t * o * (ONE - tc * tc)
    dg[out] = dc_t * g * i * (ONE - i)
    dg[out + H] = dc_t * cs[read] * f * (ONE - f)
    dg[out + 2 * H] = dc_t * i * (ONE - g * g)
    dg[out + 3 * H] = dh_t * tc * o * (ONE - o)
    dc[e] = dc_t * f


@cuda.jit(device=True)
def gru_cell_backward(acts, at, step, hn, n_at, hs, read, dh_t, dh, e, dg, out, out_h, H):
    """dn = dh_t (1 - z)(1 - n^2),  dr = dn a_n r (1 - r),  dz = dh_t (h_{t-1} - n) z (1 - z);
    the input part's gradient dgx = [dr dz dn], the recurrent part's dgh = [dr dz dn r]
    (r multiplies a_n); dh leaves holding dh_t z, the part of dL/dh_{t-1} that skips W_hh."""
    r, z, n = acts[at], acts[at + step], acts[at + 2 * step]
    dn = dh_t * (ONE - z) * (ONE - n * n)
    dr = dn * hn[n_at] * r * (ONE - r)
    dz = dh_t * (hs[read] - n) * z * (ONE - z)
    dg[out], dg[out + H], dg[out + 2 * H] = dr, dz, dn
    dg[out_h], dg[out_h + H], dg[out_h + 2 * H] = dr, dz, dn * r
    dh[e] = dh_t * z


@cuda.jit(device=True)
def elman_cell_backward(hs, write, dh_t, relu, dg, out):
    """dpre = dh_t act', read off the output: tanh' = 1 - h^2, relu' = [h > 0]."""
    h = hs[write]
    if relu:
        dg[out] = dh_t if h > ZERO else ZERO
    else:
        dg[out] = dh_t * (ONE - h * h)


# ---- the sequences ------------------------------------------------------------------------
GATES = {LSTM: 4, GRU: 3, ELMAN: 1}


def _variant(kernel, cell, dtype):
    kernel.variant = (cell, np.dtype(dtype))  # for tests/ptx.py: the factory's arguments but the rows
    return kernel


@functools.lru_cache(maxsize=None)
def forward_kernel(cell, R, dtype):
    """The forward kernel of `cell` for blocks of R batch rows, computing in `dtype`."""
    G, U, (KT, _) = GATES[cell], THREADS, tiles(dtype)
    PADDED = KT + 1  # a tile's rows padded to an odd length: threads read down a column without bank conflicts
    acc_type = numba.from_dtype(dtype)

    @cuda.jit(cache=True)
    def forward(T, B, H, reverse, relu, masked, lengths, l0, ls, gates, g0, gs, w, w0, ws, bi, bi0, bis, bh, bh0, bhs,
                h0, h00, h0s, c0, c00, c0s, hs, extra):
        """Every step, in order, for the block's rows: hs (and the LSTM's cell states, extra)
        (T+1, B, H) get the initial state and each step's; per step
            gates_t <- x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh,   then the cell's math
        (gates (T, B, G*H) hold x W_ih^T on entry; the GRU's a_n = h_{t-1} W_hn^T + b_hn goes to
        its extra (T, B, H) instead); with `masked`, a row's padded steps keep its state."""
        tile = cuda.shared.array((G, U, PADDED), acc_type)
        acc = cuda.local.array((G, R), acc_type)
        hv = cuda.local.array(R, acc_type)
        row0 = cuda.blockIdx.x * R
        last = min(R, B - row0) - 1
        first = ((T if reverse else 0) * B + row0) * H
        copy_rows(hs, first, h0, h00 + row0 * h0s[0], h0s, last + 1, H)
        if cell == LSTM:
            copy_rows(extra, first, c0, c00 + row0 * c0s[0], c0s, last + 1, H)
        cuda.syncthreads()
        step = H * gs[2]  # from one gate's column to the next
        for s in range(T):
            t, read, write = step_slots(s, T, reverse)
            for u0 in range(0, H, U):
                gate_sums(acc, hv, tile, w, w0, ws, H, u0, hs, (read * B + row0) * H, last)
                j = u0 + cuda.threadIdx.x
                for r in range(R):  # a short body, unrolled: acc stays in registers
                    if r <= last and j < H:
                        at = g0 + t * gs[0] + (row0 + r) * gs[1] + j * gs[2]
                        for g in range(G):
                            rec = acc[g, r] + bh[bh0 + (g * H + j) * bhs]
                            if cell == GRU and g == 2:  # r multiplies a_n: it goes to extra alone
                                extra[(t * B + row0 + r) * H + j] = rec
                                rec = ZERO
                            gates[at + g * step] += rec + bi[bi0 + (g * H + j) * bis]
                for b in range(row0, row0 + last + 1):
                    if j < H:
                        at = g0 + t * gs[0] + b * gs[1] + j * gs[2]
                        h_read, h_write = (read * B + b) * H + j, (write * B + b) * H + j
                        if masked and t >= lengths[l0 + b * ls]:
                            hold_state(extra, hs, h_read, h_write, cell)
                        elif cell == LSTM:
                            lstm_cell(gates, at, step, extra, hs, h_read, h_write)
                        elif cell == GRU:
                            gru_cell(gates, at, step, hs, h_read, h_write, extra[(t * B + b) * H + j])
                        else:
                            elman_cell(gates, at, hs, h_write, relu)
            cuda.syncthreads()

    return _variant(forward, cell, dtype)


@functools.lru_cache(maxsize=None)
def backward_kernel(cell, R, dtype):
    """The backward kernel of `cell` for blocks of R batch rows, computing in `dtype`."""
    G, U, (_, CT) = GATES[cell], THREADS, tiles(dtype)
    acc_type = numba.from_dtype(dtype)

    @cuda.jit(cache=True)
    def backward(T, B, H, reverse, relu, masked, lengths, l0, ls, acts, a0, ast, extra, w, w0, ws, d_out, d0, ds,
                 dh_n, dhn0, dhns, dc_n, dcn0, dcns, x, x0, xs, I, hs, dg, dh, dc, operand, width):
        """Backpropagation through time for the block's rows, last step first; dh, dc (B, H)
        start as dh_n, dc_n and leave as dL/dh_0, dL/dc_0. Per step, with dh_t = dh + d_out_t:
            dg_t = the cell's gate gradients,   dh <- (the GRU's dh_t z) + dg_t W_hh
        (dg: (T, B, G*H), the GRU's (2, T, B, 3H), input part then recurrent part), and the
        step's rows of the weight gradients' right operand: [x_t | h_{t-1} | 1 | 1], the GRU's
        [x_t | 1 | 0...] and, T*B rows on, [h_{t-1} | 1 | 0...]. With `masked`, a row's padded
        steps have dg_t = 0 and dh <- dh_t."""
        tile = cuda.shared.array((CT, U), acc_type)
        acc = cuda.local.array(R, acc_type)
        row0 = cuda.blockIdx.x * R
        last = min(R, B - row0) - 1
        copy_rows(dh, row0 * H, dh_n, dhn0 + row0 * dhns[0], dhns, last + 1, H)
        if cell == LSTM:
            copy_rows(dc, row0 * H, dc_n, dcn0 + row0 * dcns[0], dcns, last + 1, H)
        cuda.syncthreads()
        step, rows = H * ast[2], T * B
        carried = rows * G * H if cell == GRU else 0  # where the recurrent part's gradients start
        for s in range(T - 1, -1, -1):
            t, read, write = step_slots(s, T, reverse)
            for u0 in range(0, H, U):
                j = u0 + cuda.threadIdx.x
                for b in range(row0, row0 + last + 1):
                    if j < H:
                        e, out = b * H + j, (t * B + b) * G * H + j
                        dh_t = dh[e] + d_out[d0 + t * ds[0] + b * ds[1] + j * ds[2]]
                        at = a0 + t * ast[0] + b * ast[1] + j * ast[2]
                        h_read, h_write = (read * B + b) * H + j, (write * B + b) * H + j
                        if masked and t >= lengths[l0 + b * ls]:
                            pass_gradient(dh_t, dh, e, dg, out, carried + out, G, H)
                        elif cell == LSTM:
                            lstm_cell_backward(acts, at, step, extra, h_read, h_write, dh_t, dc, e, dg, out, H)
                        elif cell == GRU:
                            gru_cell_backward(acts, at, step, extra, (t * B + b) * H + j, hs, h_read, dh_t, dh, e, dg,
                                              out, carried + out, H)
                        else:
                            elman_cell_backward(hs, h_write, dh_t, relu, dg, out)
            for r in range(last + 1):
                b = row0 + r
                x_at, h_at, at = x0 + t * xs[0] + b * xs[1], (read * B + b) * H, (t * B + b) * width
                if cell == GRU:
                    operand_row(operand, at, width, x, x_at, I, xs[2], hs, h_at, 0, 1, 1)
                    operand_row(operand, rows * width + at, width, hs, h_at, H, 1, x, x_at, 0, 1, 1)
                else:
                    operand_row(operand, at, width, x, x_at, I, xs[2], hs, h_at, H, 1, 2)
            cuda.syncthreads()
            for u0 in range(0, H, U):
                carry_sums(acc, tile, w, w0, ws, H, u0, dg, carried + (t * B + row0) * G * H, G * H, last)
                j = u0 + cuda.threadIdx.x
                for r in range(R):
                    if r <= last and j < H:
                        e = (row0 + r) * H + j
                        kept = cell == GRU or (masked and t >= lengths[l0 + (row0 + r) * ls])
                        dh[e] = acc[r] + (dh[e] if kept else ZERO)

    return _variant(backward, cell, dtype)
