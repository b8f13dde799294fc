"""The LSTM on the CPU: lstm_forward and lstm_backward, a whole sequence per call (the
contract: kernels/backend.py; the layout, padding and threads: recurrent.py)."""
import numpy as np
from numba import prange

from . import small_gemm
from .blas import gemm
from .buffers import empty
from .recurrent import (ONE, ZERO, any_padded, batch_minor, bias_grad, contiguous, initial_state, jit, lengths_array,
                        parallel_jit, per_step, sigmoid, state_blocks, step_order, tanh, transpose_into)
from .threads import numba_threads, threads_for_kernels


# Inside these kernels the gate rows are unit-major: row 4j + g is gate g of hidden unit j
# (PyTorch stores gate-major, row g*H + j). A block of units lo..hi then owns the adjacent
# rows 4lo..4hi of the weights, the gates and their gradients, which is what lets each
# thread run its units' share of a step as products on its own rows. A block starts at a
# whole panel of rows (small_gemm.panel_rows: one unit's four gates, or two units' on
# AVX-512). The gates and their gradients are step-major, (T, 4H, B): each step's block is
# one contiguous matrix, which the step's products read and write.
def _unit_major(w):
    """w's rows from PyTorch's gate-major order (g*H + j) to unit-major (4j + g)."""
    out = empty(w.shape, w.dtype)
    H = w.shape[0] // 4
    out.reshape(H, 4, -1)[...] = w.reshape(4, H, -1).transpose(1, 0, 2)
    return out


def _gate_major(w):
    """The inverse of _unit_major: rows 4j + g back to g*H + j."""
    out = empty(w.shape, w.dtype)
    H = w.shape[0] // 4
    out.reshape(4, H, -1)[...] = w.reshape(H, 4, -1).transpose(1, 0, 2)
    return out


@jit
def _unit_panels(H, rows):
    """(hidden units per panel of `rows` gate rows, panels that cover H units; the last may be partial)"""
    per_panel = rows // 4
    return per_panel, (H + per_panel - 1) // per_panel


@jit
def _units(k, blocks, H, rows):
    """Block k's hidden units lo..hi of `blocks` equal shares of H, each starting at a whole
    panel of `rows` gate rows."""
    per_panel, panels = _unit_panels(H, rows)
    return min(H, k * panels // blocks * per_panel), min(H, (k + 1) * panels // blocks * per_panel)


def _blocks(H, vector_bytes):
    """How many blocks of hidden units a step is shared out over: a thread each, at most a panel each."""
    return min(threads_for_kernels(), _unit_panels(H, small_gemm.panel_rows(vector_bytes))[1])


@jit
def _lstm_cell(gates, bias, c_prev, c, h, lo, hi):
    """One step for hidden units lo..hi. gates (4H, B) holds W_ih x_t + W_hh h_prev on entry
    and the activations (kept for backward) on exit; bias in PyTorch's order; c_prev, c,
    h (H, B). With gates i, f, g, o:
        i = s(.), f = s(.), g = tanh(.), o = s(.),   c = f c_prev + i g,   h = o tanh(c)"""
    H, B = c.shape
    for j in range(lo, hi):
        gi, gf, gg, go = gates[4 * j], gates[4 * j + 1], gates[4 * j + 2], gates[4 * j + 3]
        bi, bf, bg, bo = bias[j], bias[H + j], bias[2 * H + j], bias[3 * H + j]
        cp, cj, hj = c_prev[j], c[j], h[j]
        # Two loops: one body holding all five tanh chains overflows the registers and is
        # bound by their latency; split, the chains of successive iterations overlap (-12%).
        for b in range(B):
            i = sigmoid(gi[b] + bi)
            f = sigmoid(gf[b] + bf)
            g = tanh(gg[b] + bg)
            gi[b], gf[b], gg[b] = i, f, g
            go[b] = sigmoid(go[b] + bo)
            cj[b] = f * cp[b] + i * g
        for b in range(B):
            hj[b] = go[b] * tanh(cj[b])


@jit
def _lstm_cell_backward(acts, c_prev, c, d_out, dh, dc, dgates, lo, hi):
    """Backward through one step for hidden units lo..hi, from the activations i f g o
    (acts, (4H, B)) and the cell states. dh, dc (H, B) hold dL/dh_t, dL/dc_t from the later
    steps; d_out is the output's own gradient:
        dh = dh + d_out,   dc = dc + dh o (1 - tanh^2 c)
        di = dc g,   df = dc c_prev,   dg = dc i,   do = dh tanh c,   dc_prev = dc f
    and through the activations (s' = s (1 - s), tanh' = 1 - tanh^2) into dgates (4H, B).
    dc leaves as dL/dc_{t-1}; dh_{t-1} = W_hh^T dgates_t is the caller's product."""
    B = c.shape[1]
    for j in range(lo, hi):
        ai, af, ag, ao = acts[4 * j], acts[4 * j + 1], acts[4 * j + 2], acts[4 * j + 3]
        di, df, dg, do = dgates[4 * j], dgates[4 * j + 1], dgates[4 * j + 2], dgates[4 * j + 3]
        cp, cj, dj, dhj, dcj = c_prev[j], c[j], d_out[j], dh[j], dc[j]
        for b in range(B):
            i, f, g, o = ai[b], af[b], ag[b], ao[b]
            tc = tanh(cj[b])
            dh_t = dhj[b] + dj[b]
            dc_t = dcj[b] + dh_t * o * (ONE - tc * tc)
            di[b] = dc_t * g * i * (ONE - i)
            df[b] = dc_t * cp[b] * f * (ONE - f)
            dg[b] = dc_t * i * (ONE - g * g)
            do[b] = dh_t * tc * o * (ONE - o)
            dcj[b] = dc_t * f


@jit
def _lstm_hold(lengths, t, acts, c_prev, c, h_prev, h, lo, hi):
    """The padded sequences of step t (t >= lengths[b]), units lo..hi: the state passes
    unchanged, and the activations stored (unit-major rows, (4H, B)) are those of a step
    that keeps it, i = g = o = 0 and f = 1, under which the cell's backward gives zero gate
    gradients and dc_{t-1} = dc_t."""
    for b in range(lengths.shape[0]):
        if t >= lengths[b]:
            for j in range(lo, hi):
                acts[4 * j, b], acts[4 * j + 1, b], acts[4 * j + 2, b], acts[4 * j + 3, b] = ZERO, ONE, ZERO, ZERO
                c[j, b], h[j, b] = c_prev[j, b], h_prev[j, b]


@jit
def _pass_padded(lengths, t, dh, d_out, carried, lo, hi):
    """carried[lo:hi] += dh + d_out for the sequences that step t pads: their state passed
    through the step, and was its output, so dL/dh_{t-1} gets dL/dh_t and the output's
    gradient whole (W_hh^T dgates_t, in carried already, is zero for them)."""
    for b in range(lengths.shape[0]):
        if t >= lengths[b]:
            for j in range(lo, hi):
                carried[j, b] += dh[j, b] + d_out[j, b]


@jit
def _pack_units(w, lo, hi, rows, panels):
    """Hidden units lo..hi of w (4H, n), whose rows are gate-major, into rows (unit-major,
    row 4j + g) and into panels (4H // R, n, R) as small_gemm reads them, R rows each."""
    H, R = w.shape[0] // 4, panels.shape[2]
    for j in range(lo, hi):
        for g in range(4):
            rows[4 * j + g] = w[g * H + j]
    small_gemm.pack_rows(rows[4 * lo:4 * hi], panels[4 * lo // R:4 * hi // R])


@parallel_jit
def _lstm_forward(x, w_ih, w_hh, bias, reverse, lengths, hs, cs, gates, scratch, blocks, vector_bytes):
    """The forward pass, shared out over `blocks` blocks of hidden units, one per thread.
    First each block packs its units' rows of W_ih and W_hh and lays a share of the steps'
    inputs out as x_t^T (I, B). Then the time loop: in each step, a block computes its rows
    of W_ih x_t + W_hh h_prev (its units' four gates) in step t's block of gates, then runs
    its units' cell (and holds the state of the sequences the step pads). A step reads the
    whole state the step before wrote, so the steps wait for each other at the end of each
    parallel loop (about 2 us). scratch: the x_t^T
    (T, I, B), then W_ih's rows and panels, then W_hh's (see _pack_units)."""
    xt, ih_rows, ih_panels, hh_rows, hh_panels = scratch
    T, H, B, I, R = gates.shape[0], hs.shape[1], hs.shape[2], x.shape[2], ih_panels.shape[2]
    for k in prange(blocks):
        lo, hi = _units(k, blocks, H, R)
        _pack_units(w_ih, lo, hi, ih_rows, ih_panels)
        _pack_units(w_hh, lo, hi, hh_rows, hh_panels)
        for t in range(k * T // blocks, (k + 1) * T // blocks):
            transpose_into(x[t], xt[t])
    wi, pi, wh, ph = ih_rows.reshape(-1), ih_panels.reshape(-1), hh_rows.reshape(-1), hh_panels.reshape(-1)
    xf, hf, gf = xt.reshape(-1), hs.reshape(-1), gates.reshape(-1)
    order = step_order(T, reverse)
    for s in range(T):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        padded = any_padded(lengths, t)
        for k in prange(blocks):
            lo, hi = _units(k, blocks, H, R)
            rows, at = 4 * (hi - lo), (t * 4 * H + 4 * lo) * B
            small_gemm.product(pi[4 * lo * I:], R * I, wi[4 * lo * I:], I, xf[t * I * B:], B, gf[at:], B,
                               rows, B, I, False, vector_bytes)
            small_gemm.product(ph[4 * lo * H:], R * H, wh[4 * lo * H:], H, hf[read * H * B:], B, gf[at:], B,
                               rows, B, H, True, vector_bytes)
            _lstm_cell(gates[t], bias, cs[read], cs[write], hs[write], lo, hi)
            if padded:
                _lstm_hold(lengths, t, gates[t], cs[read], cs[write], hs[read], hs[write], lo, hi)


@jit
def _sum_parts(parts, lo, hi, out):
    """out[lo:hi] = the sum of parts[k][lo:hi] over k, in a fixed order."""
    for j in range(lo, hi):
        row, first = out[j], parts[0, j]
        for b in range(row.shape[0]):
            row[b] = first[b]
        for k in range(1, parts.shape[0]):
            part = parts[k, j]
            for b in range(row.shape[0]):
                row[b] += part[b]


@jit
def _accumulate(total, part):
    """total += part, for 2-D arrays of one shape. Numba's own `total += part` on these
    row slices took 6x longer."""
    for i in range(total.shape[0]):
        row, add = total[i], part[i]
        for b in range(row.shape[0]):
            row[b] += add[b]


@parallel_jit
def _lstm_backward(x, w_hh, hs, cs, acts, d_out, reverse, lengths, dh, dc, dgates, grads, scratch, blocks, vector_bytes):
    """Backpropagation through time, each step shared out over blocks of hidden units.
    A block runs its units' cell backward, which writes its own rows of dgates_t, and then
    its part of dh_{t-1} = W_hh^T dgates_t: the product over its rows only, all H rows of
    dh (a product of H x 4(hi-lo) by 4(hi-lo) x B: at these sizes BLAS took 13% less time
    over it than over a block's rows of dh and every gate). The parts meet at the next step,
    where each block adds up its own rows of them. They alternate between two slots by
    the parity of the step, so no block overwrites a part another still reads. (A block's
    part also carries its rows of dh_t + d_out_t for the sequences the step pads.)
    The weights' gradients are sums over the steps, and each block adds its rows of this
    step's terms while dgates_t is in cache: dW_ih += dG_t x_t, dW_hh += dG_t h_read_t^T,
    and db (4H, B) += dG_t, summed over the samples afterwards. grads: those three, in
    unit-major rows. dgates: every step's gate gradients (T, 4H, B), or one slot (1, 4H, B)
    that every step reuses when dx is not wanted. scratch: W_hh^T (H, 4H) with unit-major
    columns, its rows packed (H // R, 4H, R), the states the steps read as (T, B, H), and
    dgates_t's rows packed (4H // R, B, R)."""
    dw_ih, dw_hh, db = grads
    w_cols, panels, h_read, dg_panels = scratch
    T, H, B, I, R = acts.shape[0], dh.shape[0], dh.shape[1], x.shape[2], panels.shape[2]
    parts = np.empty((2, blocks, H, B), dh.dtype)
    order = step_order(T, reverse)
    for k in prange(blocks):
        lo, hi = _units(k, blocks, H, R)
        for i in range(H):
            for j in range(lo, hi):
                for g in range(4):
                    w_cols[i, 4 * j + g] = w_hh[g * H + j, i]
        small_gemm.pack_rows(w_cols[:, 4 * lo:4 * hi], panels[:, 4 * lo:4 * hi])
        for s in range(k * T // blocks, (k + 1) * T // blocks):
            transpose_into(hs[order[s, 1]], h_read[order[s, 0]])
        dw_ih[4 * lo:4 * hi] = 0
        dw_hh[4 * lo:4 * hi] = 0
        db[4 * lo:4 * hi] = 0
    wf, packed, pf, gf = w_cols.reshape(-1), panels.reshape(-1), parts.reshape(-1), dgates.reshape(-1)
    dpf, xf, hrf, dwi, dwh = dg_panels.reshape(-1), x.reshape(-1), h_read.reshape(-1), dw_ih.reshape(-1), dw_hh.reshape(-1)
    for s in range(T - 1, -2, -1):  # the forward steps, last first; s = -1 only sums dh0
        for k in prange(blocks):
            lo, hi = _units(k, blocks, H, R)
            if s + 1 < T:  # dh_t from the parts the step after made
                _sum_parts(parts[(s + 1) % 2], lo, hi, dh)
            if s >= 0:
                t, read, write = order[s, 0], order[s, 1], order[s, 2]
                d = t if dgates.shape[0] == T else 0  # the step's slot: its own, or the one slot reused
                _lstm_cell_backward(acts[t], cs[read], cs[write], d_out[t], dh, dc, dgates[d], lo, hi)
                rows, at = 4 * (hi - lo), (d * 4 * H + 4 * lo) * B
                small_gemm.product(packed[4 * lo * R:], 4 * H * R, wf[4 * lo:], 4 * H, gf[at:], B,
                                   pf[((s % 2) * blocks + k) * H * B:], B, H, B, rows, False, vector_bytes)
                if any_padded(lengths, t):
                    _pass_padded(lengths, t, dh, d_out[t], parts[s % 2, k], lo, hi)
                small_gemm.pack_rows(dgates[d, 4 * lo:4 * hi], dg_panels[4 * lo // R:4 * hi // R])
                small_gemm.product(dpf[4 * lo * B:], R * B, gf[at:], B, xf[t * B * I:], I, dwi[4 * lo * I:], I,
                                   rows, I, B, True, vector_bytes)
                small_gemm.product(dpf[4 * lo * B:], R * B, gf[at:], B, hrf[t * B * H:], H, dwh[4 * lo * H:], H,
                                   rows, H, B, True, vector_bytes)
                _accumulate(db[4 * lo:4 * hi], dgates[d, 4 * lo:4 * hi])


@parallel_jit
def _lstm_input_grad(dgates, w_rows, dx):
    """dx_t = dgates_t^T @ W_ih for every step, W_ih in unit-major rows; the steps over
    Numba's threads."""
    T, G, B = dgates.shape
    I = dx.shape[2]
    gf, wf, xf = dgates.reshape(-1), w_rows.reshape(-1), dx.reshape(-1)
    for t in prange(T):
        gemm(True, False, B, I, G, 1.0, gf[t * G * B:], B, wf, I, 0.0, xf[t * B * I:], I)


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
    x = contiguous(x)
    (T, B, I), H = x.shape, w_hh.shape[1]
    acts = empty((T, 4 * H, B), x.dtype)
    hs, cs = initial_state(h0, T, reverse), initial_state(c0, T, reverse)
    vector_bytes = small_gemm.VECTOR_BYTES
    R = small_gemm.panel_rows(vector_bytes)
    scratch = tuple(empty(shape, x.dtype) for shape in ((T, I, B), (4 * H, I), (4 * H // R, I, R), (4 * H, H),
                                                        (4 * H // R, H, R)))
    with numba_threads():
        _lstm_forward(x, np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh), b_ih + b_hh, bool(reverse),
                      lengths_array(lengths, T, B), hs, cs, acts, scratch, _blocks(H, vector_bytes), vector_bytes)
    return hs.transpose(0, 2, 1), cs.transpose(0, 2, 1), acts


def lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx, lengths=None):
    x = contiguous(x)
    (T, B, I), H = x.shape, w_hh.shape[1]
    dh, dc = batch_minor(dh_n), batch_minor(dc_n)  # become dh0, dc0 step by step
    # dx needs every step's gate gradients after the loop; without it one slot serves every
    # step (a block reads only the rows it wrote, and the steps meet between), which keeps
    # the backward's writes in cache instead of streaming (T, 4H, B) out to memory.
    dgates = empty(acts.shape if need_dx else (1,) + acts.shape[1:], x.dtype)
    grads = tuple(empty(shape, x.dtype) for shape in ((4 * H, I), (4 * H, H), (4 * H, B)))
    vector_bytes = small_gemm.VECTOR_BYTES
    R = small_gemm.panel_rows(vector_bytes)
    scratch = tuple(empty(shape, x.dtype) for shape in ((H, 4 * H), (H // R, 4 * H, R), (T, B, H),
                                                        (4 * H // R, B, R)))
    dx = empty(x.shape, x.dtype) if need_dx else None
    with numba_threads():
        _lstm_backward(x, np.ascontiguousarray(w_hh), state_blocks(hs), state_blocks(cs), acts, per_step(d_out),
                       bool(reverse), lengths_array(lengths, T, B), dh, dc, dgates, grads, scratch,
                       _blocks(H, vector_bytes), vector_bytes)
        if need_dx:
            _lstm_input_grad(dgates, _unit_major(w_ih), dx)
    dw_ih, dw_hh, db_samples = grads
    db = _gate_major(bias_grad(db_samples)[:, None])[:, 0]  # b_ih and b_hh enter only as their sum: equal gradients
    return dx, dh.T, dc.T, _gate_major(dw_ih), _gate_major(dw_hh), db, db.copy()  # two arrays: one .grad scaled in place must not scale the other
