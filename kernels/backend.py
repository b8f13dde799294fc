"""The backend contract: the kernel entry points every device implements.

An op never names a device: it calls `ctx.backend.conv2d(...)`, and `ctx.backend` is the
backend of its inputs' device, an instance of a subclass of `Backend` below:

    kernels/cpu/backend.py    CPU   NumPy arrays, @njit kernels
    kernels/cuda/backend.py   CUDA  CudaArrays (kernels/cuda/array.py), @cuda.jit kernels

Each method here documents one entry point once: its arguments, shapes and result. A
backend binds each name to the function that implements it (`conv2d = conv.conv2d`), so a reader goes from the op to the kernel file in one step. Arrays come in
and go out; nothing here knows Tensors. Shapes: N batch, C channels, F filters, H W
heights and widths, T time steps, B batch of a sequence, I input and H hidden sizes.
`geometry` stands for (stride, padding, dilation), each a pair, as in conv2d.

Numba compiles for float32 and float64; a backend turns the error a float16 array causes
into one that names the kernel (`guard_float16`).
"""
import functools

import numpy as np


class Backend:
    """What a device's kernels offer the ops. Subclasses bind every method."""

    name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ENTRY_POINTS:  # kernels are plain functions of arrays: bound as static methods
            if name in cls.__dict__:
                setattr(cls, name, staticmethod(guard_float16(name, cls.__dict__[name], cls.name)))

    # ---- matrix products -----------------------------------------------------------------
    def matmul(self, a, b):
        """(B, M, K) @ (B, K, N) -> (B, M, N), in the inputs' dtype (integer and mixed
        products in NumPy's rules)."""
        raise NotImplementedError

    # ---- element-wise rules ----------------------------------------------------------------
    def activation(self, name, x, a=0.0):
        """y = RULES[name](x, a) element-wise (kernels/activations.py) -> (y, what the
        backward pass reads: x or y, as the rule's `saves` says)."""
        raise NotImplementedError

    def activation_backward(self, name, g, saved, a=0.0):
        """dx from the gradient g of y and the value activation() returned to keep."""
        raise NotImplementedError

    def pointwise_loss(self, rule, x, t, a, mode):
        """The loss `rule` of kernels/loss_rules.py of each element of x (targets t of x's
        shape, parameter a): the losses (mode 0 'none'), their mean (1) or sum (2)."""
        raise NotImplementedError

    def pointwise_loss_backward(self, rule, g, x, t, a, mode, want_x, want_t):
        """(dx, dt) from the gradient g of pointwise_loss's result; None for one not wanted."""
        raise NotImplementedError

    # ---- convolution and pooling -------------------------------------------------------------
    def conv2d(self, x, weight, bias, stride, padding, dilation, groups, out_hw):
        """x (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) or None -> y (N, F, *out_hw):
        the cross-correlation, padding zeros, one weight per group of channels."""
        raise NotImplementedError

    def conv2d_backward_input(self, grad_y, weight, input_hw, stride, padding, dilation, groups):
        """dx (N, C, *input_hw) of conv2d from grad_y (N, F, OH, OW): the transposed convolution."""
        raise NotImplementedError

    def conv2d_backward_weight(self, x, grad_y, kernel_hw, stride, padding, dilation, groups):
        """dw (F, C/groups, *kernel_hw) of conv2d: each tap's correlation of x with grad_y."""
        raise NotImplementedError

    def conv2d_backward(self, x, grad_y, weight, input_grad, weight_grad, stride, padding, dilation, groups):
        """(dx, dw) of conv2d, each only if asked for (else None), sharing what they can."""
        raise NotImplementedError

    def channel_sums(self, grad_y):
        """grad_y (N, C, ...) -> (C,): the sums over every axis but the channels, a
        convolution's bias gradient."""
        raise NotImplementedError

    def max_pool2d(self, x, kernel_hw, stride, padding, dilation, out_hw):
        """x (N, C, H, W) -> (y (N, C, *out_hw), argmax): each window's largest value (NaN
        wins) and its flat position in its (H, W) plane, int64."""
        raise NotImplementedError

    def max_pool2d_backward(self, grad_y, argmax, input_hw, kernel_hw, stride, padding, dilation):
        """dx (N, C, *input_hw): each output's gradient added at its window's winner."""
        raise NotImplementedError

    def avg_pool2d(self, x, row_start, row_end, col_start, col_end, scale):
        """x (N, C, H, W) -> y (N, C, OH, OW): the sum over rows [row_start[i], row_end[i]) and
        columns [col_start[j], col_end[j]) times scale[i, j] (the windows, precomputed)."""
        raise NotImplementedError

    def avg_pool2d_backward(self, grad_y, row_start, row_end, col_start, col_end, scale, input_hw):
        """dx (N, C, *input_hw): each output's gradient times its scale spread over its window."""
        raise NotImplementedError

    def along_axis(self, x, axis, ptr, col, val):
        """x with axis `axis` (of length M's columns) replaced by M's rows, M the sparse
        matrix (ptr, col, val) in CSR form: y = M applied along that axis."""
        raise NotImplementedError

    # ---- recurrent layers: one call per layer and direction for the whole sequence -----------
    def lstm_forward(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
        """x (T, B, I), h0 c0 (B, H), w_ih (4H, I), w_hh (4H, H), biases (4H,) (gates i f g o)
        -> (hs, cs, acts): hs and cs (T+1, B, H) with the initial state first in the order
        of processing (last with reverse), acts what lstm_backward reads. `lengths` (B,)
        stops each sequence at its own length (packed sequences); None: all run T steps."""
        raise NotImplementedError

    def lstm_backward(self, x, w_ih, w_hh, hs, cs, acts, d_out, dh_n, dc_n, reverse, need_dx, lengths=None):
        """From d_out (T, B, H) and the final states' gradients dh_n dc_n (B, H) ->
        (dx or None, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)."""
        raise NotImplementedError

    def gru_forward(self, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, lengths=None):
        """As lstm_forward with gates r z n (3H rows) -> (hs (T+1, B, H), acts, hn), hn the
        candidate's recurrent term that the backward pass needs."""
        raise NotImplementedError

    def gru_backward(self, x, w_ih, w_hh, hs, acts, hn, d_out, dh_n, reverse, need_dx, lengths=None):
        """-> (dx or None, dh0, dw_ih, dw_hh, db_ih, db_hh)."""
        raise NotImplementedError

    def rnn_forward(self, x, h0, w_ih, w_hh, b_ih, b_hh, relu, reverse, lengths=None):
        """Elman's h' = tanh (relu with `relu`) of x w_ih^T + b_ih + h w_hh^T + b_hh (H rows)
        -> hs (T+1, B, H)."""
        raise NotImplementedError

    def rnn_backward(self, x, w_ih, w_hh, hs, d_out, dh_n, relu, reverse, need_dx, lengths=None):
        """-> (dx or None, dh0, dw_ih, dw_hh, db_ih, db_hh)."""
        raise NotImplementedError

    # ---- optimisers: every parameter in one call, in place ---------------------------------
    def sgd_step(self, params, grads, bufs, lr, momentum, dampening, weight_decay, nesterov, first):
        """p -= lr * (SGD's step with momentum) for every parameter; bufs (momentum buffers)
        None without momentum; `first` fills them on the first step, as PyTorch does."""
        raise NotImplementedError

    def adam_step(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2, eps,
                  weight_decay, decoupled, amsgrad):
        """Adam (AdamW when decoupled) for every parameter, counting each one's step in `steps`."""
        raise NotImplementedError

    def rmsprop_step(self, params, grads, square_avgs, grad_avgs, bufs, steps, lr, alpha, eps, weight_decay,
                     momentum, centered):
        """RMSprop for every parameter; grad_avgs None unless centered, bufs None without momentum."""
        raise NotImplementedError

    # ---- losses, reductions, gathers --------------------------------------------------------
    def cross_entropy(self, x, labels, weight, ignore, smoothing, mode):
        """x (R, C) logits, labels (R,) -> (loss: (R,) for mode 0 'none', () for 1 'mean' and
        2 'sum'; the logsumexp of each row; [W, sum_c w_c], the weights' totals)."""
        raise NotImplementedError

    def cross_entropy_backward(self, g, x, labels, weight, lse, totals, ignore, smoothing, mode):
        """dx (R, C) from the gradient g of cross_entropy's loss and what it returned."""
        raise NotImplementedError

    def argmax(self, x, axis, keepdims, smallest):
        """Index of the largest (smallest) element along `axis` (None: of the flattened array),
        the first one on ties and the first NaN if any, as int64."""
        raise NotImplementedError

    def softmax(self, x, axis, log):
        """e^(x - m) / sum e^(x - m) along axis, or its logarithm, m the row's maximum."""
        raise NotImplementedError

    def softmax_backward(self, g, y, axis, log):
        """dx of softmax (y (g - sum(g y))) or of log-softmax (g - e^y sum(g)), from its output y."""
        raise NotImplementedError

    def embedding(self, weight, ids, wrap=False):
        """weight (V, D), integer ids of any shape -> (*ids.shape, D): the rows ids pick;
        `wrap` counts negative ids from the end."""
        raise NotImplementedError

    def embedding_backward(self, g, ids, rows, wrap=False):
        """dW (rows, D): each row of g added at its id's row, repeated ids adding up."""
        raise NotImplementedError

    def take_rows(self, x, labels, ignore):
        """x (R, C), labels (R,) -> (R,): x[i, labels[i]], 0 where labels[i] == ignore."""
        raise NotImplementedError

    def take_rows_backward(self, g, labels, ignore, classes):
        """(R, classes) zeros with g[i] at (i, labels[i])."""
        raise NotImplementedError

    def gather_along(self, x, index, axis):
        """out[pos] = x[pos with index[pos] along axis]; out has index's shape."""
        raise NotImplementedError

    def scatter_along(self, out, index, src, axis, accumulate):
        """In place: out[pos with index[pos] along axis] = src[pos] (+= with accumulate,
        repeats adding up); src a number or an array of index's shape."""
        raise NotImplementedError

    def scan(self, x, axis, product, reverse, exclusive):
        """Running sums (products with `product`) along axis in x's dtype; `reverse` from the
        end; `exclusive` leaves each element itself out."""
        raise NotImplementedError

    def argsort(self, x, axis, descending):
        """The int64 positions that sort x along axis, stable, NaN the largest value."""
        raise NotImplementedError


ENTRY_POINTS = tuple(name for name, value in vars(Backend).items() if callable(value) and not name.startswith("_"))


def guard_float16(name, fn, device):
    """fn, with the error Numba raises for a float16 array (it cannot compile for one) turned
    into one that names the kernel. Checked only once a call has failed: free when it works."""

    @functools.wraps(fn)
    def kernel(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            if not any(_is_float16(a) for a in (*args, *kwargs.values())):
                raise
        raise TypeError(f"{name}: float16 is not supported by this op's {device} kernel (Numba compiles for float32 "
                        "and float64 only); use float32: tensor.float(), model.float()") from None

    return kernel


def _is_float16(value):
    if isinstance(value, (list, tuple)):
        return any(_is_float16(v) for v in value)
    return getattr(value, "dtype", None) == np.float16
