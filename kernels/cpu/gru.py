"""The GRU on the CPU: gru_forward and gru_backward, a whole sequence per call (the
contract: kernels/backend.py; the layout, padding and threads: recurrent.py)."""
import numpy as np

from .buffers import empty
from .recurrent import (ONE, ZERO, any_padded, batch_minor, bias_grad, contiguous, initial_state, jit, lengths_array,
                        per_step, project_inputs, sigmoid, state_blocks, step_columns, step_order, tanh,
                        weight_and_input_grads)
from .threads import blas_threaded


@jit
def _gru_cell(gates, col, rec, b_ih, b_hh, h_prev, h, hn):
    """One step, on columns col..col+B of gates, which hold W_ih x_t there on entry and
    r, z, n on exit; rec = W_hh h_prev (3H, B). In PyTorch's gate order r, z, n, with
    gx = W_ih x + b_ih and a = W_hh h_prev + b_hh:
        r = s(gx_r + a_r),  z = s(gx_z + a_z),  n = tanh(gx_n + r a_n),  h = (1 - z) n + z h_prev
    a_n goes to the same columns of hn: backward needs it for dr."""
    H, B = h.shape
    end = col + B
    for j in range(H):
        gr, gz, gn, hnj = gates[j, col:end], gates[H + j, col:end], gates[2 * H + j, col:end], hn[j, col:end]
        ar, az, an = rec[j], rec[H + j], rec[2 * H + j]
        br, bz = b_ih[j] + b_hh[j], b_ih[H + j] + b_hh[H + j]
        bxn, bhn = b_ih[2 * H + j], b_hh[2 * H + j]
        hp, hj = h_prev[j], h[j]
        for b in range(B):
            r = sigmoid(gr[b] + ar[b] + br)
            z = sigmoid(gz[b] + az[b] + bz)
            a_n = an[b] + bhn
            n = tanh(gn[b] + bxn + r * a_n)
            hj[b] = (ONE - z) * n + z * hp[b]
            gr[b], gz[b], gn[b], hnj[b] = r, z, n, a_n


@jit
def _gru_cell_backward(acts, col, hn, h_prev, d_out, dh, dgx, dgh):
    """Backward through one step (columns col..col+B of acts, hn, dgx, dgh). dh (H, B) holds
    dL/dh_t from the later steps; d_out is the output's own gradient:
        dh = dh + d_out,   dn = dh (1 - z),   dz = dh (h_prev - n),   dr = dn (1 - n^2) a_n
    dgx gets the gradients of the input parts (dr s', dz s', dn tanh'), dgh those of the
    recurrent parts, the same but for the n gate, where r multiplies: dn tanh' r.
    dh leaves holding dh z, the part of dL/dh_{t-1} that skips W_hh; the caller adds W_hh^T dgh."""
    H, B = h_prev.shape
    end = col + B
    for j in range(H):
        ar, az, an, hnj = acts[j, col:end], acts[H + j, col:end], acts[2 * H + j, col:end], hn[j, col:end]
        xr, xz, xn = dgx[j, col:end], dgx[H + j, col:end], dgx[2 * H + j, col:end]
        hr, hz, hn_ = dgh[j, col:end], dgh[H + j, col:end], dgh[2 * H + j, col:end]
        hp, dj, dhj = h_prev[j], d_out[j], dh[j]
        for b in range(B):
            r, z, n = ar[b], az[b], an[b]
            dh_t = dhj[b] + dj[b]
            dn = dh_t * (ONE - z) * (ONE - n * n)
            dr = dn * hnj[b] * r * (ONE - r)
            dz = dh_t * (hp[b] - n) * z * (ONE - z)
            xr[b], xz[b], xn[b] = dr, dz, dn
            hr[b], hz[b], hn_[b] = dr, dz, dn * r
            dhj[b] = dh_t * z


@jit
def _gru_hold(lengths, t, acts, h_prev, h):
    """The padded sequences of step t (t >= lengths[b]): the state passes unchanged, and the
    activations stored are those of a step that keeps it, z = 1 and r = n = 0, under which
    the cell's backward gives zero gate gradients and dh_{t-1} = dh_t + d_out_t."""
    H, B = h.shape
    for b in range(B):
        if t >= lengths[b]:
            col = t * B + b
            for j in range(H):
                acts[j, col], acts[H + j, col], acts[2 * H + j, col] = ZERO, ONE, ZERO
                h[j, b] = h_prev[j, b]


@jit
def _gru_forward(w_hh, b_ih, b_hh, reverse, lengths, hs, gates, hn):
    B = hs.shape[2]
    rec = np.empty((w_hh.shape[0], B), hs.dtype)
    order = step_order(hs.shape[0] - 1, reverse)
    for s in range(order.shape[0]):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        np.dot(w_hh, hs[read], rec)
        _gru_cell(gates, t * B, rec, b_ih, b_hh, hs[read], hs[write], hn)
        if any_padded(lengths, t):
            _gru_hold(lengths, t, gates, hs[read], hs[write])


@jit
def _gru_backward(w_hh_t, hs, acts, hn, d_out, reverse, dh, dgx, dgh):
    B = dh.shape[1]
    block = np.empty((acts.shape[0], B), acts.dtype)
    carried = np.empty(dh.shape, dh.dtype)
    order = step_order(d_out.shape[0], reverse)
    for s in range(order.shape[0] - 1, -1, -1):
        t, read = order[s, 0], order[s, 1]
        _gru_cell_backward(acts, t * B, hn, hs[read], d_out[t], dh, dgx, dgh)
        step_columns(dgh, t, block)
        np.dot(w_hh_t, block, carried)
        dh += carried  # dh_{t-1} = dh z + W_hh^T dgh_t


@blas_threaded
def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
    x = contiguous(x)
    T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
    acts, hn = empty((3 * H, T * B), x.dtype), empty((H, T * B), x.dtype)
    project_inputs(x, np.ascontiguousarray(w_ih), acts)
    hs = initial_state(h0, T, reverse)
    _gru_forward(np.ascontiguousarray(w_hh), b_ih, b_hh, bool(reverse), lengths_array(lengths, T, B), hs, acts, hn)
    return hs.transpose(0, 2, 1), acts, hn


@blas_threaded
def gru_backward(x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx, lengths=None):
    """(lengths goes unread: the activations gru_forward stored at padded steps already make
    them pass the gradient on; it is taken for the same signature as the other cells.)"""
    x, hs_t = contiguous(x), state_blocks(hs)
    dh = batch_minor(dh_n)
    dgx, dgh = empty(acts.shape, x.dtype), empty(acts.shape, x.dtype)
    _gru_backward(np.ascontiguousarray(w_hh.T), hs_t, acts, hn, per_step(d_out), bool(reverse), dh, dgx, dgh)
    dx, dw_ih, dw_hh = weight_and_input_grads(x, w_ih, hs_t, dgx, dgh, reverse, need_dx)
    return dx, dh.T, dw_ih, dw_hh, bias_grad(dgx), bias_grad(dgh)
