"""Recurrent layers on the CPU: one call runs a layer's whole sequence, one call runs
backpropagation through time.

Shapes (time-major, C-contiguous, one float dtype throughout):
    x (T, B, I)   inputs           w_ih (G*H, I), w_hh (G*H, H)   PyTorch's weights, G gates
    h0, c0 (B, H) initial states   hs, cs (T+1, B, H)              every state, saved for backward

`hs` holds the initial state and each step's new state in time order. Running forward
in time, step t reads hs[t] and writes hs[t+1], so the outputs are hs[1:]; with
`reverse` (the second direction of a bidirectional layer) step t reads hs[t+1] and
writes hs[t], so the outputs are hs[:T]. Either way the states each step read form one
contiguous block, which makes dW_hh a single matrix product.

Where the time goes, and how each part is done:
  * x @ W_ih^T for every step at once: one BLAS product before the loop.
  * h_{t-1} @ W_hh^T: one small BLAS product per step; the recurrence forces the order.
  * the gate math: one fused loop per step over (batch, hidden) that LLVM vectorises.
  * backward: the per-step loop only finds the gate gradients dgates_t and dh_{t-1};
    dx = dgates @ W_ih, dW_ih = dgates^T x, dW_hh = dgates^T h_prev and the bias sums
    run after it as four big products over all T*B rows (no accumulation inside loops).
BLAS brings its own threads and the loops here stay serial, so one thread pool runs the
hot path (see PERFORMANCE.md on pools fighting for the cores).
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

# error_model="numpy": a float division by zero gives inf rather than raising, which lets
# LLVM vectorise loops that divide (the Python model adds a test before every division).
jit = njit(cache=True, fastmath=False, error_model="numpy")


# ---- activations ------------------------------------------------------------------------------
# libm's tanhf is a scalar call (~20 ns) that stops LLVM from vectorising the gate loops;
# an LSTM training step at T=50, B=32, H=128 evaluates a million of them. In float32 we
# use instead the rational approximation of Eigen (and TensorFlow), which vectorises to
# ~0.2 ns and stays within 4e-7 of the exact tanh (tests/test_rnn.py checks the bound).
# Float64, used for gradient checks, keeps libm's exact tanh.

_CLAMP = np.float32(7.90531110763549805)  # beyond this tanh rounds to +-1 in float32
# Numerator x (a1 + a3 x^2 + ... + a13 x^12), denominator b0 + b2 x^2 + b4 x^4 + b6 x^6.
_A1, _A3, _A5, _A7 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), \
    np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08)
_A9, _A11, _A13 = np.float32(-8.60467152213735e-11), np.float32(2.00018790482477e-13), \
    np.float32(-2.76076847742355e-16)
_B0, _B2, _B4, _B6 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03), \
    np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)


@njit(inline="always")
def _tanh_float32(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x * (((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2) + _A1)
    q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
    return p / q


def tanh(x):
    """tanh for the gate math (float32: the rational approximation; float64: exact)."""
    return np.tanh(x)


@overload(tanh, inline="always")
def _tanh_typed(x):
    if x == types.float32:
        return lambda x: _tanh_float32(x)
    return lambda x: np.tanh(x)


# The constants of the gate math are float32, so float32 kernels stay in float32 (a Python
# 1 or 0.5 would promote each expression to float64 and halve the vector width); in float64
# kernels they promote exactly.
ONE, HALF, ZERO = np.float32(1), np.float32(0.5), np.float32(0)


@njit(inline="always")
def sigmoid(x):
    """1 / (1 + e^-x), as (1 + tanh(x/2)) / 2: it never overflows and uses the tanh above."""
    return HALF + HALF * tanh(HALF * x)


# ---- pieces shared by the three cells ---------------------------------------------------------
@jit
def _steps(T, reverse):
    """The order the forward pass visits time steps in, one row (t, read, write) per step:
    read and write index the states in hs/cs that step t reads and writes."""
    order = np.empty((T, 3), np.int64)
    for s in range(T):
        t = T - 1 - s if reverse else s
        order[s, 0] = t
        order[s, 1] = t + 1 if reverse else t
        order[s, 2] = t if reverse else t + 1
    return order


@jit
def _copy(src, dst):
    for b in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[b, j] = src[b, j]


@jit
def _add(src, dst):
    for b in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[b, j] += src[b, j]


@jit
def _project(x, w_ih, out):
    """out[t] = x[t] @ W_ih^T for every step, as one (T*B, I) @ (I, G*H) product
    (the cells add the biases)."""
    rows = x.shape[0] * x.shape[1]
    np.dot(x.reshape(rows, x.shape[2]), w_ih.T, out.reshape(rows, out.shape[2]))


@jit
def _column_sums(a, out):
    """out = a summed over its first two axes (a bias gradient: the sum over time and batch)."""
    for k in range(out.shape[0]):
        out[k] = 0
    for t in range(a.shape[0]):
        for b in range(a.shape[1]):
            for k in range(a.shape[2]):
                out[k] += a[t, b, k]


@jit
def _weight_grads(x, h_read, dgx, dgh, dw_ih, dw_hh):
    """After the time loop, the weight gradients, which sum over all steps, each as one BLAS
    product whose rows run over all T*B (time, batch) pairs:
        dW_ih = dgx^T x,   dW_hh = dgh^T h_read
    dgx, dgh: gradients of the gates' input part (x W_ih^T + b_ih) and recurrent part
    (h W_hh^T + b_hh), the same array except in the GRU; h_read: the states the steps read."""
    rows = x.shape[0] * x.shape[1]
    np.dot(dgx.reshape(rows, dgx.shape[2]).T, x.reshape(rows, x.shape[2]), dw_ih)
    np.dot(dgh.reshape(rows, dgh.shape[2]).T, h_read.reshape(rows, h_read.shape[2]), dw_hh)


@jit
def _input_grad(dgx, w_ih, dx):
    """dx = dgx @ W_ih for all steps at once."""
    rows = dx.shape[0] * dx.shape[1]
    np.dot(dgx.reshape(rows, dgx.shape[2]), w_ih, dx.reshape(rows, dx.shape[2]))


def _contiguous(*arrays):
    return tuple(np.ascontiguousarray(a) for a in arrays)


def _h_read(hs, reverse):
    """The states the steps read, in time order: hs[:T] forward in time, hs[1:] in reverse."""
    return hs[1:] if reverse else hs[:-1]


def _finish_backward(x, w_ih, w_hh, hs, dgx, dgh, reverse, need_dx):
    """dx (None unless need_dx), dW_ih, dW_hh from the gate gradients of every step."""
    dw_ih, dw_hh = np.empty(w_ih.shape, x.dtype), np.empty(w_hh.shape, x.dtype)
    _weight_grads(x, _h_read(hs, reverse), dgx, dgh, dw_ih, dw_hh)
    if not need_dx:
        return None, dw_ih, dw_hh
    dx = np.empty(x.shape, x.dtype)
    _input_grad(dgx, w_ih, dx)
    return dx, dw_ih, dw_hh


def _bias_grad(dgates):
    out = np.empty(dgates.shape[2], dgates.dtype)
    _column_sums(dgates, out)
    return out


# ---- LSTM -------------------------------------------------------------------------------------
@jit
def _lstm_cell(gates, rec, bias, c_prev, c, h):
    """One step. gates holds x W_ih^T on entry and the activations (kept for backward) on
    exit; rec = h_prev W_hh^T, bias = b_ih + b_hh. In PyTorch's gate order i, f, g, o:
        i = s(.), f = s(.), g = tanh(.), o = s(.),   c = f c_prev + i g,   h = o tanh(c)"""
    B, H = c.shape
    bi, bf, bg, bo = bias[:H], bias[H:2 * H], bias[2 * H:3 * H], bias[3 * H:]
    for b in range(B):
        gi, gf, gg, go = gates[b, :H], gates[b, H:2 * H], gates[b, 2 * H:3 * H], gates[b, 3 * H:]
        ri, rf, rg, ro = rec[b, :H], rec[b, H:2 * H], rec[b, 2 * H:3 * H], rec[b, 3 * H:]
        cp, cb, hb = c_prev[b], c[b], h[b]
        for j in range(H):
            i = sigmoid(gi[j] + ri[j] + bi[j])
            f = sigmoid(gf[j] + rf[j] + bf[j])
            g = tanh(gg[j] + rg[j] + bg[j])
            o = sigmoid(go[j] + ro[j] + bo[j])
            c_new = f * cp[j] + i * g
            cb[j] = c_new
            hb[j] = o * tanh(c_new)
            gi[j], gf[j], gg[j], go[j] = i, f, g, o


@jit
def _lstm_cell_backward(acts, c_prev, c, d_out, dh, dc, dgates):
    """Backward through one step, from the activations i f g o and the cell states.
    dh, dc hold dL/dh_t, dL/dc_t from the later steps; d_out is the output's own gradient:
        dh = dh + d_out,   dc = dc + dh o (1 - tanh^2 c)
        di = dc g,   df = dc c_prev,   dg = dc i,   do = dh tanh c,   dc_prev = dc f
    and through the activations (s' = s (1 - s), tanh' = 1 - tanh^2) into dgates.
    dc leaves as dL/dc_{t-1}; dh_{t-1} = dgates W_hh is the caller's BLAS product."""
    B, H = c.shape
    for b in range(B):
        ai, af, ag, ao = acts[b, :H], acts[b, H:2 * H], acts[b, 2 * H:3 * H], acts[b, 3 * H:]
        di, df, dg, do = dgates[b, :H], dgates[b, H:2 * H], dgates[b, 2 * H:3 * H], dgates[b, 3 * H:]
        cp, cb, dob, dhb, dcb = c_prev[b], c[b], d_out[b], dh[b], dc[b]
        for j in range(H):
            i, f, g, o = ai[j], af[j], ag[j], ao[j]
            tc = tanh(cb[j])
            dh_t = dhb[j] + dob[j]
            dc_t = dcb[j] + dh_t * o * (ONE - tc * tc)
            di[j] = dc_t * g * i * (ONE - i)
            df[j] = dc_t * cp[j] * f * (ONE - f)
            dg[j] = dc_t * i * (ONE - g * g)
            do[j] = dh_t * tc * o * (ONE - o)
            dcb[j] = dc_t * f


@jit
def _lstm_forward(x, h0, c0, w_ih, w_hh, bias, reverse, hs, cs, acts):
    _project(x, w_ih, acts)  # each step turns its part into activations
    rec = np.empty((h0.shape[0], w_hh.shape[0]), x.dtype)
    order = _steps(x.shape[0], reverse)
    _copy(h0, hs[order[0, 1]])
    _copy(c0, cs[order[0, 1]])
    for s in range(x.shape[0]):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        np.dot(hs[read], w_hh.T, rec)
        _lstm_cell(acts[t], rec, bias, cs[read], cs[write], hs[write])


@jit
def _lstm_backward(w_hh, cs, acts, d_out, reverse, dh, dc, dgates):
    """The time loop of backpropagation: each step's gate gradients, and dh, dc carried back."""
    order = _steps(acts.shape[0], reverse)
    for s in range(acts.shape[0] - 1, -1, -1):  # the forward steps, last first
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        _lstm_cell_backward(acts[t], cs[read], cs[write], d_out[t], dh, dc, dgates[t])
        np.dot(dgates[t], w_hh, dh)  # dh_{t-1} = dgates_t W_hh


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """The whole sequence of one LSTM layer in one direction.
    Returns hs, cs (T+1, B, H) and the gate activations acts (T, B, 4H)."""
    x, h0, c0, w_ih, w_hh = _contiguous(x, h0, c0, w_ih, w_hh)
    T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
    hs, cs = np.empty((T + 1, B, H), x.dtype), np.empty((T + 1, B, H), x.dtype)
    acts = np.empty((T, B, 4 * H), x.dtype)
    _lstm_forward(x, h0, c0, w_ih, w_hh, b_ih + b_hh, bool(reverse), hs, cs, acts)
    return hs, cs, acts


def lstm_backward(x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx):
    """Backpropagation through time from what lstm_forward saved, given the gradients of
    the outputs d_out (T, B, H) and of the final states dh_n, dc_n (B, H).
    Returns dx (None unless need_dx), dh0, dc0, dw_ih, dw_hh, db_ih, db_hh (b_ih and b_hh
    enter only as their sum, so their gradients are one array)."""
    x, w_ih, w_hh, d_out = _contiguous(x, w_ih, w_hh, d_out)
    dh, dc = np.array(dh_n, order="C"), np.array(dc_n, order="C")  # become dh0, dc0 step by step
    dgates = np.empty(acts.shape, x.dtype)
    _lstm_backward(w_hh, cs, acts, d_out, bool(reverse), dh, dc, dgates)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, w_hh, hs, dgates, dgates, reverse, need_dx)
    db = _bias_grad(dgates)
    return dx, dh, dc, dw_ih, dw_hh, db, db


# ---- GRU --------------------------------------------------------------------------------------
@jit
def _gru_cell(gates, rec, b_ih, b_hh, h_prev, h, hn):
    """One step. gates holds x W_ih^T on entry and r, z, n on exit; rec = h_prev W_hh^T.
    In PyTorch's gate order r, z, n, with gx = gates + b_ih and a = rec + b_hh:
        r = s(gx_r + a_r),  z = s(gx_z + a_z),  n = tanh(gx_n + r a_n),  h = (1 - z) n + z h_prev
    a_n goes to hn: backward needs it for dr."""
    B, H = h.shape
    xbr, xbz, xbn = b_ih[:H], b_ih[H:2 * H], b_ih[2 * H:]
    hbr, hbz, hbn = b_hh[:H], b_hh[H:2 * H], b_hh[2 * H:]
    for b in range(B):
        gr, gz, gn = gates[b, :H], gates[b, H:2 * H], gates[b, 2 * H:]
        ar, az, an = rec[b, :H], rec[b, H:2 * H], rec[b, 2 * H:]
        hp, hb, hnb = h_prev[b], h[b], hn[b]
        for j in range(H):
            r = sigmoid(gr[j] + xbr[j] + ar[j] + hbr[j])
            z = sigmoid(gz[j] + xbz[j] + az[j] + hbz[j])
            a_n = an[j] + hbn[j]
            n = tanh(gn[j] + xbn[j] + r * a_n)
            hb[j] = (ONE - z) * n + z * hp[j]
            gr[j], gz[j], gn[j], hnb[j] = r, z, n, a_n


@jit
def _gru_cell_backward(acts, hn, h_prev, d_out, dh, dgx, dgh):
    """Backward through one step. dh holds dL/dh_t from the later steps; d_out is the
    output's own gradient:
        dh = dh + d_out,   dn = dh (1 - z),   dz = dh (h_prev - n),   dr = dn (1 - n^2) a_n
    dgx gets the gradients of the input parts (dr s', dz s', dn tanh'), dgh those of the
    recurrent parts, the same but for the n gate, where r multiplies: dn tanh' r.
    dh leaves holding dh z, the part of dL/dh_{t-1} that skips W_hh; the caller adds dgh W_hh."""
    B, H = h_prev.shape
    for b in range(B):
        ar, az, an = acts[b, :H], acts[b, H:2 * H], acts[b, 2 * H:]
        xr, xz, xn = dgx[b, :H], dgx[b, H:2 * H], dgx[b, 2 * H:]
        hr, hz, hn_ = dgh[b, :H], dgh[b, H:2 * H], dgh[b, 2 * H:]
        hp, hnb, dob, dhb = h_prev[b], hn[b], d_out[b], dh[b]
        for j in range(H):
            r, z, n = ar[j], az[j], an[j]
            dh_t = dhb[j] + dob[j]
            dn = dh_t * (ONE - z) * (ONE - n * n)
            dr = dn * hnb[j] * r * (ONE - r)
            dz = dh_t * (hp[j] - n) * z * (ONE - z)
            xr[j], xz[j], xn[j] = dr, dz, dn
            hr[j], hz[j], hn_[j] = dr, dz, dn * r
            dhb[j] = dh_t * z


@jit
def _gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, hs, acts, hn):
    _project(x, w_ih, acts)
    rec = np.empty((h0.shape[0], w_hh.shape[0]), x.dtype)
    order = _steps(x.shape[0], reverse)
    _copy(h0, hs[order[0, 1]])
    for s in range(x.shape[0]):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        np.dot(hs[read], w_hh.T, rec)
        _gru_cell(acts[t], rec, b_ih, b_hh, hs[read], hs[write], hn[t])


@jit
def _gru_backward(w_hh, hs, acts, hn, d_out, reverse, dh, dgx, dgh):
    rec = np.empty(dh.shape, dh.dtype)
    order = _steps(acts.shape[0], reverse)
    for s in range(acts.shape[0] - 1, -1, -1):
        t, read = order[s, 0], order[s, 1]
        _gru_cell_backward(acts[t], hn[t], hs[read], d_out[t], dh, dgx[t], dgh[t])
        np.dot(dgh[t], w_hh, rec)
        _add(rec, dh)  # dh_{t-1} = dh z + dgh_t W_hh


def gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse):
    """The whole sequence of one GRU layer in one direction.
    Returns hs (T+1, B, H), the gate activations acts (T, B, 3H) and hn (T, B, H),
    the n gate's recurrent part W_hn h + b_hn."""
    x, h0, w_ih, w_hh, b_ih, b_hh = _contiguous(x, h0, w_ih, w_hh, b_ih, b_hh)
    T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
    hs = np.empty((T + 1, B, H), x.dtype)
    acts, hn = np.empty((T, B, 3 * H), x.dtype), np.empty((T, B, H), x.dtype)
    _gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, bool(reverse), hs, acts, hn)
    return hs, acts, hn


def gru_backward(x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx):
    """Backpropagation through time from what gru_forward saved.
    Returns dx (None unless need_dx), dh0, dw_ih, dw_hh, db_ih, db_hh."""
    x, w_ih, w_hh, d_out = _contiguous(x, w_ih, w_hh, d_out)
    dh = np.array(dh_n, order="C")
    dgx, dgh = np.empty(acts.shape, x.dtype), np.empty(acts.shape, x.dtype)
    _gru_backward(w_hh, hs, acts, hn, d_out, bool(reverse), dh, dgx, dgh)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, w_hh, hs, dgx, dgh, reverse, need_dx)
    return dx, dh, dw_ih, dw_hh, _bias_grad(dgx), _bias_grad(dgh)


# ---- Elman RNN (tanh or relu) -----------------------------------------------------------------
@jit
def _rnn_cell(pre, rec, bias, h, relu):
    """h = act(x W_ih^T + h_prev W_hh^T + b_ih + b_hh), act = tanh or relu; pre = x W_ih^T."""
    B, H = h.shape
    for b in range(B):
        pb, rb, hb = pre[b], rec[b], h[b]
        for j in range(H):
            v = pb[j] + rb[j] + bias[j]
            hb[j] = max(v, ZERO) if relu else tanh(v)


@jit
def _rnn_cell_backward(h, d_out, dh, dpre, relu):
    """dpre = (dh + d_out) act'(.), read off the output: tanh' = 1 - h^2, relu' = [h > 0]."""
    B, H = h.shape
    for b in range(B):
        hb, dob, dhb, dpb = h[b], d_out[b], dh[b], dpre[b]
        for j in range(H):
            if relu:
                slope = ONE if hb[j] > ZERO else ZERO
            else:
                slope = ONE - hb[j] * hb[j]
            dpb[j] = (dhb[j] + dob[j]) * slope


@jit
def _rnn_forward(x, h0, w_ih, w_hh, bias, relu, reverse, hs, pre):
    _project(x, w_ih, pre)
    rec = np.empty(h0.shape, x.dtype)
    order = _steps(x.shape[0], reverse)
    _copy(h0, hs[order[0, 1]])
    for s in range(x.shape[0]):
        t, read, write = order[s, 0], order[s, 1], order[s, 2]
        np.dot(hs[read], w_hh.T, rec)
        _rnn_cell(pre[t], rec, bias, hs[write], relu)


@jit
def _rnn_backward(w_hh, hs, d_out, relu, reverse, dh, dpre):
    order = _steps(d_out.shape[0], reverse)
    for s in range(d_out.shape[0] - 1, -1, -1):
        t, write = order[s, 0], order[s, 2]
        _rnn_cell_backward(hs[write], d_out[t], dh, dpre[t], relu)
        np.dot(dpre[t], w_hh, dh)  # dh_{t-1} = dpre_t W_hh


def rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse):
    """The whole sequence of one Elman RNN layer in one direction.
    Returns hs (T+1, B, H), all backward needs."""
    x, h0, w_ih, w_hh = _contiguous(x, h0, w_ih, w_hh)
    T, B, H = x.shape[0], x.shape[1], w_hh.shape[1]
    hs = np.empty((T + 1, B, H), x.dtype)
    _rnn_forward(x, h0, w_ih, w_hh, b_ih + b_hh, bool(relu), bool(reverse), hs, np.empty((T, B, H), x.dtype))
    return hs


def rnn_backward(x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx):
    """Backpropagation through time from the states rnn_forward returned.
    Returns dx (None unless need_dx), dh0, dw_ih, dw_hh, db_ih, db_hh (one array: the
    biases enter only as their sum)."""
    x, w_ih, w_hh, d_out = _contiguous(x, w_ih, w_hh, d_out)
    dh = np.array(dh_n, order="C")
    dpre = np.empty(d_out.shape, x.dtype)
    _rnn_backward(w_hh, hs, d_out, bool(relu), bool(reverse), dh, dpre)
    dx, dw_ih, dw_hh = _finish_backward(x, w_ih, w_hh, hs, dpre, dpre, reverse, need_dx)
    db = _bias_grad(dpre)
    return dx, dh, dw_ih, dw_hh, db, db
