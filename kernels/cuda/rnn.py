"""Recurrent layers on the GPU: the CPU's six kernels, with the same shapes and results.

    lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)          -> hs, cs, acts
    lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx)
                                                   -> dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh
    gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)               -> hs, acts, hn
    gru_backward(x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx)
                                                   -> dx, dh0, dw_ih, dw_hh, db_ih, db_hh
    rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse)         -> hs
    rnn_backward(x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx)
                                                   -> dx, dh0, dw_ih, dw_hh, db_ih, db_hh

x (T, B, I) is time-major; hs, cs (T+1, B, H) hold the initial state and every step's new
one (see kernels/cpu/rnn.py for the layout and the formulas). As on the CPU:
  * x @ W_ih^T for all steps is one matrix product before the time loop;
  * each step is two launches: the recurrent product h_{t-1} @ W_hh^T (the tiled kernel,
    into a buffer reused by every step) and one fused kernel for the gate math, one thread
    per (batch, hidden) element;
  * backward runs the steps in reverse, each a fused gate-gradient kernel and the product
    that carries dh back through W_hh; the weight, input and bias gradients, sums over all
    steps, are then single products (split along the T*B rows) and a tree reduction.
Everything stays on the GPU; the loop over time steps only issues launches.
"""
import numpy as np

from .array import CudaArray
from .elementwise import tanh
from .launch import cuda, grid, launch
from .matmul import matmul
from .xp import zeros

# float32 constants: a Python 1.0 would turn float32 gate math into float64 on the GPU.
ONE, HALF, ZERO = np.float32(1), np.float32(0.5), np.float32(0)


@cuda.jit(device=True)
def sigmoid(x):
    return HALF + HALF * tanh(HALF * x)  # never overflows, unlike 1 / (1 + e^-x)


# ---- LSTM ---------------------------------------------------------------------------------
@cuda.jit(cache=True)
def lstm_cell_kernel(B, H, gates, g0, rec, b_ih, b_hh, cs, c_read, c_write, hs, h_write):
    """One step for every (b, j): gates[g0:] holds x W_ih^T on entry, the activations i f g o on exit."""
    for e in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        at, rt = g0 + b * 4 * H + j, b * 4 * H + j
        i = sigmoid(gates[at] + rec[rt] + b_ih[j] + b_hh[j])
        f = sigmoid(gates[at + H] + rec[rt + H] + b_ih[j + H] + b_hh[j + H])
        g = tanh(gates[at + 2 * H] + rec[rt + 2 * H] + b_ih[j + 2 * H] + b_hh[j + 2 * H])
        o = sigmoid(gates[at + 3 * H] + rec[rt + 3 * H] + b_ih[j + 3 * H] + b_hh[j + 3 * H])
        c = f * cs[c_read + e] + i * g
        cs[c_write + e] = c
        hs[h_write + e] = o * tanh(c)
        gates[at], gates[at + H], gates[at + 2 * H], gates[at + 3 * H] = i, f, g, o


@cuda.jit(cache=True)
def lstm_cell_backward_kernel(B, H, acts, a0, cs, c_read, c_write, d_out, d0, dh, dc, dgates):
    """dgates[a0:] for one step; dc becomes dL/dc_{t-1} (dh_{t-1} is the product that follows)."""
    for e in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        at = a0 + b * 4 * H + j
        i, f, g, o = acts[at], acts[at + H], acts[at + 2 * H], acts[at + 3 * H]
        tc = tanh(cs[c_write + e])
        dh_t = dh[e] + d_out[d0 + e]
        dc_t = dc[e] + dh_t * o * (ONE - tc * tc)
        dgates[at] = dc_t * g * i * (ONE - i)
        dgates[at + H] = dc_t * cs[c_read + e] * f * (ONE - f)
        dgates[at + 2 * H] = dc_t * i * (ONE - g * g)
        dgates[at + 3 * H] = dh_t * tc * o * (ONE - o)
        dc[e] = dc_t * f


# ---- GRU ----------------------------------------------------------------------------------
@cuda.jit(cache=True)
def gru_cell_kernel(B, H, gates, g0, rec, b_ih, b_hh, hs, h_read, h_write, hn, n0):
    """One step: gates[g0:] holds x W_ih^T on entry, r z n on exit; hn gets W_hn h + b_hn."""
    for e in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        at, rt = g0 + b * 3 * H + j, b * 3 * H + j
        r = sigmoid(gates[at] + b_ih[j] + rec[rt] + b_hh[j])
        z = sigmoid(gates[at + H] + b_ih[j + H] + rec[rt + H] + b_hh[j + H])
        a_n = rec[rt + 2 * H] + b_hh[j + 2 * H]
        n = tanh(gates[at + 2 * H] + b_ih[j + 2 * H] + r * a_n)
        hs[h_write + e] = (ONE - z) * n + z * hs[h_read + e]
        gates[at], gates[at + H], gates[at + 2 * H] = r, z, n
        hn[n0 + e] = a_n


@cuda.jit(cache=True)
def gru_cell_backward_kernel(B, H, acts, a0, hn, n0, hs, h_read, d_out, d0, dh, carry, dgx, dgh):
    """One step's dgx, dgh; dL/dh_t = dh + carry + d_out, where dh holds the part that skipped
    W_hh (dh z) and carry the part through it (dgh_{t+1} W_hh); dh leaves as dh_t z."""
    for e in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        at = a0 + b * 3 * H + j
        r, z, n = acts[at], acts[at + H], acts[at + 2 * H]
        dh_t = dh[e] + carry[e] + d_out[d0 + e]
        dn = dh_t * (ONE - z) * (ONE - n * n)
        dr = dn * hn[n0 + e] * r * (ONE - r)
        dz = dh_t * (hs[h_read + e] - n) * z * (ONE - z)
        dgx[at], dgx[at + H], dgx[at + 2 * H] = dr, dz, dn
        dgh[at], dgh[at + H], dgh[at + 2 * H] = dr, dz, dn * r
        dh[e] = dh_t * z


# ---- Elman RNN ----------------------------------------------------------------------------
@cuda.jit(cache=True)
def rnn_cell_kernel(B, H, pre, p0, rec, b_ih, b_hh, hs, h_write, relu):
    for e in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        j = e % H
        v = pre[p0 + e] + rec[e] + b_ih[j] + b_hh[j]
        hs[h_write + e] = max(v, ZERO) if relu else tanh(v)


@cuda.jit(cache=True)
def rnn_cell_backward_kernel(B, H, hs, h_write, d_out, d0, dh, dpre, p0, relu):
    """dpre = (dh + d_out) act', read off the output: tanh' = 1 - h^2, relu' = [h > 0]."""
    for e in range(cuda.grid(1), B * H, cuda.gridsize(1)):
        h = hs[h_write + e]
        if relu:
            slope = ONE if h > ZERO else ZERO
        else:
            slope = ONE - h * h
        dpre[p0 + e] = (dh[e] + d_out[d0 + e]) * slope


# ---- the time loop and the products around it ---------------------------------------------
def _steps(T, reverse):
    """(t, read, write) per step in the order the forward pass runs them (as on the CPU)."""
    for s in range(T):
        t = T - 1 - s if reverse else s
        yield (t, t + 1, t) if reverse else (t, t, t + 1)


def _contiguous(*arrays):
    return [a if a.is_contiguous else a.copy() for a in arrays]


def _project(x, w_ih):
    """x @ W_ih^T for every step at once: (T, B, I) -> (T, B, G*H)."""
    T, B, I = x.shape
    return matmul(x.reshape(1, T * B, I), w_ih.T.reshape(1, I, -1)).reshape(T, B, -1)


def _recurrent(h, w_hh, rec):
    """rec (1, B, G*H) = h (B, H) @ W_hh^T."""
    matmul(h.reshape(1, *h.shape), w_hh.T.reshape(1, *w_hh.T.shape), out=rec)


def _carry_back(dgates_t, w_hh, dh):
    """dh (B, H) = dgates_t (B, G*H) @ W_hh."""
    matmul(dgates_t.reshape(1, *dgates_t.shape), w_hh.reshape(1, *w_hh.shape), out=dh.reshape(1, *dh.shape))


def _finish_backward(x, w_ih, hs, dgx, dgh, reverse, need_dx):
    """dx (None unless need_dx), dW_ih = dgx^T x, dW_hh = dgh^T h_read, over all T*B rows."""
    T, B, I = x.shape
    rows = T * B
    h_read = hs[1:] if reverse else hs[:-1]
    dgx2, dgh2 = dgx.reshape(1, rows, -1), dgh.reshape(1, rows, -1)
    dw_ih = matmul(dgx2.transpose(0, 2, 1), x.reshape(1, rows, I)).reshape(w_ih.shape)
    dw_hh = matmul(dgh2.transpose(0, 2, 1), h_read.reshape(1, rows, -1)).reshape(w_ih.shape[0], -1)
    dx = matmul(dgx2, w_ih.reshape(1, *w_ih.shape)).reshape(x.shape) if need_dx else None
    return dx, dw_ih, dw_hh


def _states(x, h0, H, reverse, count=1):
    """Empty (T+1, B, H) state arrays with the initial states in the slot the first step reads."""
    T, B = x.shape[:2]
    first = T if reverse else 0
    out = []
    for init in h0[:count]:
        states = CudaArray.empty((T + 1, B, H), x.dtype)
        states[first] = init
        out.append(states)
    return out


def _offset(array, t):
    return array.offset + t * array.strides[0]


def _from_start(vector):
    """The vector, or a copy of it, whose buffer starts at its first element."""
    return vector if vector.offset == 0 and vector.is_contiguous else vector.copy()


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    x, w_ih, w_hh = _contiguous(x, w_ih, w_hh)
    b_ih, b_hh = _from_start(b_ih), _from_start(b_hh)
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    hs, cs = _states(x, (h0, c0), H, reverse, count=2)
    acts = _project(x, w_ih)
    rec = CudaArray.empty((1, B, 4 * H), x.dtype)
    for t, read, write in _steps(T, reverse):
        _recurrent(hs[read], w_hh, rec)
        launch(lstm_cell_kernel, *grid(B * H), B, H, acts.buf, _offset(acts, t), rec.buf, b_ih.buf,
               b_hh.buf, cs.buf, _offset(cs, read), _offset(cs, write), hs.buf, _offset(hs, write))
    return hs, cs, acts


def lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx):
    x, w_ih, w_hh, d_out = _contiguous(x, w_ih, w_hh, d_out)
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    dh, dc = dh_n.copy(), dc_n.copy()  # become dh0, dc0 step by step
    dgates = CudaArray.empty(acts.shape, x.dtype)
    for t, read, write in reversed(list(_steps(T, reverse))):
        launch(lstm_cell_backward_kernel, *grid(B * H), B, H, acts.buf, _offset(acts, t), cs.buf, _offset(cs, read),
               _offset(cs, write), d_out.buf, _offset(d_out, t), dh.buf, dc.buf, dgates.buf)
        _carry_back(dgates[t], w_hh, dh)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, hs, dgates, dgates, reverse, need_dx)
    db = dgates.sum(axis=(0, 1))
    return dx, dh, dc, dw_ih, dw_hh, db, db.copy()  # two arrays, as on the CPU: b_ih and b_hh own their .grad


def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse):
    x, w_ih, w_hh = _contiguous(x, w_ih, w_hh)
    b_ih, b_hh = _from_start(b_ih), _from_start(b_hh)
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    (hs,) = _states(x, (h0,), H, reverse)
    acts = _project(x, w_ih)
    hn = CudaArray.empty((T, B, H), x.dtype)
    rec = CudaArray.empty((1, B, 3 * H), x.dtype)
    for t, read, write in _steps(T, reverse):
        _recurrent(hs[read], w_hh, rec)
        launch(gru_cell_kernel, *grid(B * H), B, H, acts.buf, _offset(acts, t), rec.buf, b_ih.buf,
               b_hh.buf, hs.buf, _offset(hs, read), _offset(hs, write), hn.buf, _offset(hn, t))
    return hs, acts, hn


def gru_backward(x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx):
    x, w_ih, w_hh, d_out = _contiguous(x, w_ih, w_hh, d_out)
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    dh, carry = dh_n.copy(), zeros((B, H), x.dtype)
    dgx, dgh = CudaArray.empty(acts.shape, x.dtype), CudaArray.empty(acts.shape, x.dtype)
    for t, read, write in reversed(list(_steps(T, reverse))):
        launch(gru_cell_backward_kernel, *grid(B * H), B, H, acts.buf, _offset(acts, t), hn.buf, _offset(hn, t),
               hs.buf, _offset(hs, read), d_out.buf, _offset(d_out, t), dh.buf, carry.buf, dgx.buf, dgh.buf)
        _carry_back(dgh[t], w_hh, carry)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, hs, dgx, dgh, reverse, need_dx)
    return dx, dh + carry, dw_ih, dw_hh, dgx.sum(axis=(0, 1)), dgh.sum(axis=(0, 1))


def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse):
    x, w_ih, w_hh = _contiguous(x, w_ih, w_hh)
    b_ih, b_hh = _from_start(b_ih), _from_start(b_hh)
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    (hs,) = _states(x, (h0,), H, reverse)
    pre = _project(x, w_ih)
    rec = CudaArray.empty((1, B, H), x.dtype)
    for t, read, write in _steps(T, reverse):
        _recurrent(hs[read], w_hh, rec)
        launch(rnn_cell_kernel, *grid(B * H), B, H, pre.buf, _offset(pre, t), rec.buf, b_ih.buf,
               b_hh.buf, hs.buf, _offset(hs, write), bool(relu))
    return hs


def rnn_backward(x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx):
    x, w_ih, w_hh, d_out = _contiguous(x, w_ih, w_hh, d_out)
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    dh = dh_n.copy()
    dpre = CudaArray.empty(d_out.shape, x.dtype)
    for t, read, write in reversed(list(_steps(T, reverse))):
        launch(rnn_cell_backward_kernel, *grid(B * H), B, H, hs.buf, _offset(hs, write), d_out.buf, _offset(d_out, t),
               dh.buf, dpre.buf, _offset(dpre, t), bool(relu))
        _carry_back(dpre[t], w_hh, dh)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, hs, dpre, dpre, reverse, need_dx)
    db = dpre.sum(axis=(0, 1))
    return dx, dh, dw_ih, dw_hh, db, db.copy()
