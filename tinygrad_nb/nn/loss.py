"""Loss functions, functional and as modules, with PyTorch's arguments and reductions
('mean', 'sum' or 'none'). Cross-entropy and the element-wise losses are single ops
(tinygrad_nb/ops/loss.py: each direction one kernel); the rest are compositions of Tensor
ops, so each gradient follows from the ops' own backward formulas:

    cross_entropy(x, t)  = nll_loss(log_softmax(x), t)       (fused: CrossEntropy)
    nll_loss(logp, t)_i  = -w[t_i] * logp[i, t_i]          (Tensor.take_rows, on the device)

The element-wise losses, each a rule of kernels/loss_rules.py run by PointwiseLoss:

    mse_loss(x, y)_i     = (x_i - y_i)^2
    l1_loss(x, y)_i      = |x_i - y_i|
    smooth_l1_loss       = d^2 / (2 beta) where d = |x - y| < beta, else d - beta / 2
    huber_loss           = d^2 / 2 where d < delta, else delta (d - delta / 2)
    binary_cross_entropy = -(y log x + (1 - y) log(1 - x)), each log at least -100 (PyTorch's clamp)
    bce_with_logits(x,y) = max(x, 0) - x y + log(1 + e^-|x|)
    kl_div(x, y)_i       = y_i (log y_i - x_i)   (x log-probabilities; 0 where y_i = 0)

A `weight` multiplies the losses before the reduction, and bce_with_logits's `pos_weight` adds
(p - 1) y softplus(-x), as Tensor ops around the fused loss.
"""

import numpy as np

from ..ops import loss as loss_ops
from ..tensor import Tensor
from .module import Module

REDUCTIONS = ("mean", "sum", "none")
KL_REDUCTIONS = REDUCTIONS + ("batchmean",)


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _class_last(t):
    """(N, C, d1, ...) -> (N*d1*..., C): classes on the last axis, one row per prediction."""
    if t.ndim <= 2:
        return t.reshape(-1, t.shape[-1])
    return t.permute(0, *range(2, t.ndim), 1).reshape(-1, t.shape[1])


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of integer class targets, given log-probabilities `input`
    of shape (C,), (N, C) or (N, C, d1, ...) and `target` of shape (), (N,) or (N, d1, ...).
    'mean' divides by the summed weights of the targets that are not ignore_index."""
    _check_reduction(reduction, "nll_loss")
    loss, w = _nll(input, target, weight, ignore_index, "nll_loss")
    if reduction == "mean":
        return loss.sum() / w.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


def _nll(input, target, weight, ignore_index, op):
    """-w_i logp[i, t_i] and the weights w_i = weight[t_i] (1 without weights, 0 for
    ignore_index), both of the target's shape."""
    labels = _labels(target, input, op, ignore_index)
    classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
    flat = labels.reshape(-1)
    expected = labels.shape
    rows = _class_last(input)
    picked = rows.take_rows(flat, ignore_index)
    if weight is None:
        w = (flat != ignore_index).cast(input.dtype)
    else:
        w = _weights(weight, classes, input, op).reshape(1, -1).expand(rows.shape).take_rows(flat, ignore_index)
    return -(picked * w).reshape(expected), w.reshape(expected)


def _labels(target, input, op, ignore):
    """Integer class targets as a Tensor on input's device, of input's shape without the class
    axis. Everything stays on that device: labels given as arrays are moved there, and on the
    GPU an out-of-range label gives a NaN loss instead of the CPU's IndexError (checking would
    copy the labels back every step)."""
    _check_device(target, input, op)
    labels = target if isinstance(target, Tensor) else Tensor(np.asarray(target), device=input.device)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer class targets, got dtype {labels.dtype}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if labels.shape != expected:
        raise ValueError(f"{op}: input of shape {input.shape} needs target of shape {expected}, got {labels.shape}")
    if labels.device == "cpu":
        classes = input.shape[1] if input.ndim >= 2 else input.shape[0]
        host = labels.numpy()
        bad = host[(host != ignore) & ((host < 0) | (host >= classes))]
        if bad.size:
            raise IndexError(f"{op}: target {int(bad.reshape(-1)[0])} is out of bounds for {classes} classes")
    return labels


def _check_device(target, input, op):
    """A Tensor target must be on input's device, as in PyTorch: moving it here would hide
    a copy in every step. Arrays and lists are not on a device and go where they are needed."""
    if isinstance(target, Tensor) and target.device != input.device:
        raise RuntimeError(f"{op}: expected input and target on one device, got input on {input.device}, target on {target.device}")


def _target(target, input, op):
    """`target` as a Tensor on input's device; an array or list becomes one of input's dtype."""
    _check_device(target, input, op)
    return _as_tensor(target, input)


def _weights(weight, classes, input, op):
    """Class weights as a Tensor of input's dtype on its device."""
    w = _as_tensor(weight, input).cast(input.dtype)
    if w.shape != (classes,):
        raise ValueError(f"{op}: weight should have one entry per class, shape ({classes},), got {w.shape}")
    return w


def _check_reduction(reduction, op, allowed=REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """log_softmax over the class axis (1, or 0 for an unbatched (C,) input), then nll_loss.

    `target` holds class indices, or class probabilities of input's shape. With label
    smoothing e the target becomes (1 - e) * target + e / C, as PyTorch computes it:
    (1 - e) * nll + (e / C) * sum_c -w_c logp_c, the second part reduced like the first."""
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0 and 1, got {label_smoothing}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have a class axis, got a 0-d tensor")
    class_axis = 1 if input.ndim >= 2 else 0
    classes = input.shape[class_axis]
    _check_device(target, input, "cross_entropy")
    target = target if isinstance(target, Tensor) else np.asarray(target)
    if target.dtype.kind == "f":
        w = None
        if weight is not None:
            w = _weights(weight, classes, input, "cross_entropy").reshape((-1,) + (1,) * (input.ndim - 1 - class_axis))
        return _soft_cross_entropy(input.log_softmax(class_axis), target, w, class_axis, reduction, label_smoothing)
    labels = _labels(target, input, "cross_entropy", ignore_index)
    rows = _class_last(input) if input.ndim >= 2 else input.reshape(1, -1)
    w = None if weight is None else _weights(weight, classes, input, "cross_entropy")
    loss = loss_ops.CrossEntropy.apply(rows, labels.reshape(-1), *(() if w is None else (w,)), ignore=int(ignore_index),
                                smoothing=float(label_smoothing), reduction=reduction)
    return loss.reshape(labels.shape) if reduction == "none" else loss


def _soft_cross_entropy(logp, target, w, class_axis, reduction, label_smoothing):
    if target.shape != logp.shape:
        raise ValueError(f"cross_entropy: probability targets must have the input's shape {logp.shape}, got {target.shape}")
    classes = logp.shape[class_axis]
    target = _as_tensor(target, logp).cast(logp.dtype)
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    terms = logp * target if w is None else logp * target * w
    return _reduce(-terms.sum(class_axis), reduction, "cross_entropy")


def _pointwise(rule, input, target, reduction, op, a=0.0, weight=None):
    """The element-wise loss `rule` of kernels/loss_rules.py, reduced: one op, or with a weight
    the weighted losses reduced by Tensor ops."""
    _check_reduction(reduction, op)
    target = _pair(input, target, op)
    if weight is None:
        return loss_ops.PointwiseLoss.apply(input, target, rule=rule, a=a, reduction=reduction)
    loss = loss_ops.PointwiseLoss.apply(input, target, rule=rule, a=a, reduction="none") * _as_tensor(weight, input)
    return _reduce(loss, reduction, op)


def mse_loss(input, target, reduction="mean"):
    """(input - target)^2, elementwise, then reduced."""
    return _pointwise("mse", input, target, reduction, "mse_loss")


def _pair(input, target, op):
    """target as a Tensor beside input, of input's shape and dtype."""
    target = _target(target, input, op)
    if target.shape != input.shape:
        raise ValueError(f"{op}: input of shape {input.shape} and target of shape {target.shape} must match")
    return target.cast(input.dtype)


def l1_loss(input, target, reduction="mean"):
    """|input - target|, elementwise, then reduced."""
    return _pointwise("l1", input, target, reduction, "l1_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """d^2 / (2 beta) where d = |input - target| < beta, else d - beta / 2 (beta = 0: the L1 loss)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be at least 0, got {beta}")
    if beta == 0:
        return _pointwise("l1", input, target, reduction, "smooth_l1_loss")
    return _pointwise("smooth_l1", input, target, reduction, "smooth_l1_loss", a=beta)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """d^2 / 2 where d = |input - target| < delta, else delta (d - delta / 2)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return _pointwise("huber", input, target, reduction, "huber_loss", a=delta)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-(y log x + (1 - y) log(1 - x)) for probabilities x; each log is clamped at -100, as in
    PyTorch, so that x = 0 or 1 gives a finite loss. (Values of x outside [0, 1] are not
    checked: that would read them on the host. From logits, binary_cross_entropy_with_logits
    is exact where this one clamps.)"""
    return _pointwise("bce", input, target, reduction, "binary_cross_entropy", weight=weight)


def kl_div(input, target, reduction="mean", log_target=False):
    """target (log target - input) elementwise, input being log-probabilities (and target too
    with log_target); 0 where target is 0. reduction 'batchmean' divides the sum by the batch
    size (the true KL divergence per sample); 'mean' divides by the number of elements, as
    PyTorch does."""
    _check_reduction(reduction, "kl_div", KL_REDUCTIONS)
    rule = "kl_div_log_target" if log_target else "kl_div"
    if reduction == "batchmean":
        return _pointwise(rule, input, target, "sum", "kl_div") / (input.shape[0] if input.ndim else 1)
    return _pointwise(rule, input, target, reduction, "kl_div")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """-[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))] from the logits x, computed as
    max(x, 0) - x y + log(1 + e^-|x|) + (p - 1) y softplus(-x), so that no sigmoid ever rounds
    to 0 or 1 (the last term, from pos_weight p, as Tensor ops)."""
    op = "binary_cross_entropy_with_logits"
    if pos_weight is None:
        return _pointwise("bce_with_logits", input, target, reduction, op, weight=weight)
    _check_reduction(reduction, op)
    target = _pair(input, target, op)
    loss = loss_ops.PointwiseLoss.apply(input, target, rule="bce_with_logits", reduction="none")
    loss = loss + (_as_tensor(pos_weight, input) - 1.0) * target * (-input).softplus()
    if weight is not None:
        loss = loss * _as_tensor(weight, input)
    return _reduce(loss, reduction, op)


def _as_tensor(value, like):
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=like.dtype), device=like.device)


class _Loss(Module):
    reductions = REDUCTIONS

    def __init__(self, reduction="mean"):
        super().__init__()
        _check_reduction(reduction, type(self).__name__, self.reductions)
        self.reduction = reduction

    def _weights_like(self, input, *names):
        """The loss's weight tensors (buffers, as in PyTorch) on input's device, in its dtype.
        A weight is moved and cast once, on first use, rather than on every step (copies that
        a captured CUDA graph could not make)."""
        for name in names:
            value = getattr(self, name)
            if value is not None and (value.device != input.device or value.dtype != input.dtype):
                setattr(self, name, value.to(input.device).cast(input.dtype).detach())
        return [getattr(self, name) for name in names]

    def _register_weights(self, **weights):
        for name, value in weights.items():
            self.register_buffer(name, value if value is None or isinstance(value, Tensor) else Tensor(np.asarray(value)))

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self._register_weights(weight=weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        (weight,) = self._weights_like(input, "weight")
        return cross_entropy(input, target, weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self._register_weights(weight=weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        (weight,) = self._weights_like(input, "weight")
        return nll_loss(input, target, weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    def forward(self, input, target):
        return mse_loss(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self._register_weights(weight=weight, pos_weight=pos_weight)

    def forward(self, input, target):
        weight, pos_weight = self._weights_like(input, "weight", "pos_weight")
        return binary_cross_entropy_with_logits(input, target, weight, self.reduction, pos_weight)


class L1Loss(_Loss):
    def forward(self, input, target):
        return l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self._register_weights(weight=weight)

    def forward(self, input, target):
        (weight,) = self._weights_like(input, "weight")
        return binary_cross_entropy(input, target, weight, self.reduction)


class KLDivLoss(_Loss):
    reductions = KL_REDUCTIONS

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return kl_div(input, target, self.reduction, self.log_target)
