"""The losses as single ops, so that each direction is one kernel (one or two launches on a
GPU) instead of a graph of small ones.

Cross-entropy fuses log-softmax and the negative log-likelihood of the labels.

The composition it replaces, for rows x_i of C class scores and labels t_i:
    logp_ic = x_ic - logsumexp_c(x_i)
    loss_i  = -(1 - e) w_{t_i} logp_{i t_i} - (e / C) sum_c w_c logp_ic    (0 where t_i is ignored)
with class weights w (all 1 without) and label smoothing e; 'mean' divides the summed losses
by W = sum_i w_{t_i} over the rows not ignored, as PyTorch does.

PointwiseLoss is each element-wise loss (MSE, L1, smooth L1, Huber, binary cross-entropy from
probabilities or logits, KL divergence): the loss of each element and its reduction in one
kernel, both derivatives in one kernel back, all made from one rule per loss
(kernels/loss_rules.py).
"""
import math

import numpy as np

from ..function import Function
from .activation import tensor_names
from .reduce import Softmax

REDUCTIONS = ("none", "mean", "sum")


class CrossEntropy(Function):
    """loss_i = -(1 - e) w_{t_i} logp_{i t_i} - (e/C) sum_c w_c logp_ic,  logp = x - logsumexp(x), reduced;
    dx_ij = s_i (a_ij - softmax_ij sum_c a_ic),  a_ic = -(1 - e) w_{t_i} [c = t_i] - (e/C) w_c,
    s_i the upstream gradient of row i (divided by W for 'mean')"""

    def forward(ctx, x, labels, weight=None, ignore=-100, smoothing=0.0, reduction="mean"):
        mode = REDUCTIONS.index(reduction)
        labels = ctx.xp.ascontiguousarray(labels)
        out, ctx.lse, ctx.totals = ctx.backend.cross_entropy(x, labels, weight, ignore, smoothing, mode)
        ctx.save_for_backward(x, labels, weight)
        ctx.options = ignore, smoothing, mode
        return out

    def backward(ctx, g):
        x, labels, weight = ctx.saved
        dx = ctx.backend.cross_entropy_backward(g, x, labels, weight, ctx.lse, ctx.totals, *ctx.options)
        return (dx, None) if weight is None else (dx, None, None)

    def graph_backward(ctx, g):
        """The same dx with Tensor ops: a and sum_c a_ic are constants, worked out on the host."""
        x, labels, weight = (ctx.device.to_numpy(a) if a is not None else None for a in ctx.saved)
        ignore, smoothing, mode = ctx.options
        rows, classes = x.shape
        w = np.ones(classes) if weight is None else weight.astype(np.float64)
        kept = labels != ignore
        live = kept & (labels >= 0) & (labels < classes)
        safe = np.where(live, labels, 0)
        a = -(smoothing / classes) * w * live[:, None]
        a[np.arange(rows), safe] -= (1 - smoothing) * np.where(live, w[safe], 0)
        a[kept & ~live] = np.nan
        scale = g.reshape(rows, 1) if mode == 0 else g / float(ctx.device.to_numpy(ctx.totals)[0]) if mode == 1 else g
        p = Softmax.apply(ctx.parents[0], axis=1)
        dx = scale * (ctx.constant(ctx.device.from_numpy(a.astype(x.dtype)))
                      - p * ctx.constant(ctx.device.from_numpy(a.sum(axis=1, keepdims=True).astype(x.dtype))))
        return (dx, None) if weight is None else (dx, None, None)


class PointwiseLoss(Function):
    """loss = reduce_i l(x_i, t_i; a), reduce 'none' | 'mean' | 'sum', l a rule of kernels/loss_rules.py
    (e.g. mse: l = (x - t)^2; bce_with_logits: l = max(x, 0) - x t + log(1 + e^-|x|));
    dx_i = s_i dl/dx(x_i, t_i; a),  dt_i = s_i dl/dt(x_i, t_i; a),  s_i = g_i ('none'), g ('sum'), g / N ('mean')"""

    def forward(ctx, x, t, rule, a=0.0, reduction="mean"):
        ctx.rule, ctx.a, ctx.mode = rule, float(a), REDUCTIONS.index(reduction)
        ctx.save_for_backward(x, t)
        return ctx.backend.pointwise_loss(rule, x, t, ctx.a, ctx.mode)

    def backward(ctx, g):
        x, t = ctx.saved
        return ctx.backend.pointwise_loss_backward(ctx.rule, g, x, t, ctx.a, ctx.mode, *ctx.needs_input_grad)

    def graph_backward(ctx, g):
        """The same dx and dt with Tensor ops: the rule's derivatives bound to Tensor functions."""
        from ..kernels.activations import bind
        from ..kernels.loss_rules import RULES

        rule, (x, t) = RULES[ctx.rule], ctx.parents
        names = {**tensor_names(type(g)), "log": type(g).log}
        s = g / math.prod(x.shape) if ctx.mode == REDUCTIONS.index("mean") else g
        return tuple(s * bind(derivative, names)(x, t, ctx.a) if wanted else None
                     for derivative, wanted in ((rule.d_input, ctx.needs_input_grad[0]),
                                                (rule.d_target, ctx.needs_input_grad[1])))
