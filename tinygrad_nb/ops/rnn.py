"""Recurrent layers: one Function per layer and direction runs the whole sequence.

A hand-unrolled LSTM makes a dozen graph nodes per time step; these ops make one node
for the sequence, and their kernels run every step inside one compiled call (forward)
and backpropagate through time inside another (backward).

Inputs are time-major: x (T, B, I), states (B, H), weights as PyTorch stores them,
w_ih (G*H, I) and w_hh (G*H, H) for G gates. Biases are both given or both None (bias=False). `reverse`
runs the sequence from its last step to its first (a bidirectional layer's second
direction); the outputs stay in time order either way.
Each op returns the outputs of every step (T, B, H) and the final state(s), so a
gradient can arrive through any of them.

Gradients of gradients (create_graph) run the layer again, one step at a time in Tensor ops
(the `*_steps` functions, the cells' formulas as written above), and differentiate that.
"""
from ..function import Function, backward, enable_grad


def _biases(xp, b_ih, b_hh, size, dtype):
    """The two bias vectors; zeros for a layer without biases."""
    if b_ih is None:
        b_ih = b_hh = xp.zeros(size, dtype)
    return b_ih, b_hh


def _input_grads(has_bias, *grads):
    """One gradient per Tensor input: the last two, the biases', only if they were given."""
    return grads if has_bias else grads[:-2]


def _through_steps(ctx, grads, steps, **options):
    """The input gradients as Tensors with graphs: the layer's forward again in Tensor ops,
    then backward(create_graph) from sum_k <output_k, grad_k>."""
    with enable_grad():
        outs = steps(*ctx.parents, **options)
        total = sum((o * g).sum() for o, g in zip(outs, grads))
    capture = {id(p): [p, None] for p in ctx.parents if p.requires_grad}
    for p in ctx.parents:
        p._watch()  # a parent made by an op hands its gradient over as it passes (as autograd.grad's inputs do)
    backward(total, ctx.xp.ones((), total.dtype), capture=capture, create_graph=True)
    return tuple(capture[id(p)][1] if id(p) in capture else None for p in ctx.parents)


def _time_order(x, reverse):
    steps = range(x.shape[0])
    return reversed(steps) if reverse else steps


def _affine(x, h, w_ih, w_hh, b_ih, b_hh):
    """(x W_ih^T + b_ih, h W_hh^T + b_hh)."""
    gx, gh = x @ w_ih.t(), h @ w_hh.t()
    return (gx, gh) if b_ih is None else (gx + b_ih, gh + b_hh)


def lstm_steps(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    hs = [None] * x.shape[0]
    for t in _time_order(x, reverse):
        gx, gh = _affine(x[t], h, w_ih, w_hh, b_ih, b_hh)
        i, f, g, o = (gx + gh).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = hs[t] = o.sigmoid() * c.tanh()
    return type(x).stack(hs), h, c


def gru_steps(x, h, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    hs = [None] * x.shape[0]
    for t in _time_order(x, reverse):
        gx, gh = _affine(x[t], h, w_ih, w_hh, b_ih, b_hh)
        (xr, xz, xn), (hr, hz, hn) = gx.chunk(3, 1), gh.chunk(3, 1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        h = hs[t] = (1 - z) * (xn + r * hn).tanh() + z * h
    return type(x).stack(hs), h


def rnn_steps(x, h, w_ih, w_hh, b_ih=None, b_hh=None, relu=False, reverse=False):
    hs = [None] * x.shape[0]
    for t in _time_order(x, reverse):
        a = sum(_affine(x[t], h, w_ih, w_hh, b_ih, b_hh))
        h = hs[t] = a.relu() if relu else a.tanh()
    return type(x).stack(hs), h


class LSTMLayer(Function):
    """One LSTM layer in one direction over a sequence; with gates i, f, g, o (PyTorch's order)
        [i, f, g, o] = [s, s, tanh, s](x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t);   returns (h_1..h_T, h_T, c_T)
    Backward through time, from dh_T, dc_T and each output's gradient, gives each step's
    gate gradient da_t (see kernels/cpu/rnn.py, _lstm_cell_backward) and then
        dW_ih = sum_t da_t^T x_t,   dW_hh = sum_t da_t^T h_{t-1},   db_ih = db_hh = sum_t da_t,
        dx_t = da_t W_ih,   dh_{t-1} = da_t W_hh,   dc_{t-1} = dc_t f"""

    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
        ctx.has_bias, ctx.reverse = b_ih is not None, reverse
        b_ih, b_hh = _biases(ctx.xp, b_ih, b_hh, w_ih.shape[0], x.dtype)
        hs, cs, acts = ctx.kernel("lstm_forward")(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        ctx.save_for_backward(x, w_ih, w_hh, hs, cs, acts)
        if reverse:
            return hs[:-1], hs[0], cs[0]
        return hs[1:], hs[-1], cs[-1]

    def backward(ctx, d_out, dh_n, dc_n):
        x, w_ih, w_hh, hs, cs, acts = ctx.saved
        grads = ctx.kernel("lstm_backward")(
            x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, ctx.reverse, ctx.needs_input_grad[0])
        return _input_grads(ctx.has_bias, *grads)

    def graph_backward(ctx, *grads):
        return _through_steps(ctx, grads, lstm_steps, reverse=ctx.reverse)


class GRULayer(Function):
    """One GRU layer in one direction over a sequence; with gates r, z, n (PyTorch's order)
        r = s(x W_ir^T + b_ir + h W_hr^T + b_hr),   z = s(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),   h_t = (1 - z) n + z h_{t-1}
    returns (h_1..h_T, h_T). Backward through time gives each step's gradients of the
    input part, dgx_t, and of the recurrent part, dgh_t (they differ in n, where r
    multiplies), and then
        dW_ih = sum_t dgx_t^T x_t,   dW_hh = sum_t dgh_t^T h_{t-1},   dx_t = dgx_t W_ih,
        dh_{t-1} = dh_t z + dgh_t W_hh,   db_ih = sum_t dgx_t,   db_hh = sum_t dgh_t"""

    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
        ctx.has_bias, ctx.reverse = b_ih is not None, reverse
        b_ih, b_hh = _biases(ctx.xp, b_ih, b_hh, w_ih.shape[0], x.dtype)
        hs, acts, hn = ctx.kernel("gru_forward")(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)
        ctx.save_for_backward(x, w_ih, w_hh, hs, acts, hn)
        return (hs[:-1], hs[0]) if reverse else (hs[1:], hs[-1])

    def backward(ctx, d_out, dh_n):
        x, w_ih, w_hh, hs, acts, hn = ctx.saved
        grads = ctx.kernel("gru_backward")(
            x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, ctx.reverse, ctx.needs_input_grad[0])
        return _input_grads(ctx.has_bias, *grads)

    def graph_backward(ctx, *grads):
        return _through_steps(ctx, grads, gru_steps, reverse=ctx.reverse)


class RNNLayer(Function):
    """One Elman RNN layer in one direction over a sequence, act = tanh or relu:
        h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh);   returns (h_1..h_T, h_T)
    Backward through time, with da_t = (dL/dh_t) act'(.) (1 - h_t^2 for tanh, [h_t > 0] for relu):
        dW_ih = sum_t da_t^T x_t,   dW_hh = sum_t da_t^T h_{t-1},   db_ih = db_hh = sum_t da_t,
        dx_t = da_t W_ih,   dh_{t-1} = da_t W_hh"""

    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, relu=False, reverse=False):
        ctx.has_bias, ctx.relu, ctx.reverse = b_ih is not None, relu, reverse
        b_ih, b_hh = _biases(ctx.xp, b_ih, b_hh, w_ih.shape[0], x.dtype)
        hs = ctx.kernel("rnn_forward")(x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse)
        ctx.save_for_backward(x, w_ih, w_hh, hs)
        return (hs[:-1], hs[0]) if reverse else (hs[1:], hs[-1])

    def backward(ctx, d_out, dh_n):
        x, w_ih, w_hh, hs = ctx.saved
        grads = ctx.kernel("rnn_backward")(
            x, w_ih, w_hh, hs, d_out, dh_n, ctx.relu, ctx.reverse, ctx.needs_input_grad[0])
        return _input_grads(ctx.has_bias, *grads)

    def graph_backward(ctx, *grads):
        return _through_steps(ctx, grads, rnn_steps, relu=ctx.relu, reverse=ctx.reverse)
