"""Normalisation layers: BatchNorm (Ioffe and Szegedy, 2015) and LayerNorm (Ba et al., 2016).

Both compute y = (x - mean) / sqrt(var + eps) * weight + bias from Tensor ops, so their
gradients come from the ops' own backward formulas. They differ in which axes the
statistics run over: BatchNorm over the batch (and spatial axes) per channel, LayerNorm
over each sample's last axes.
"""
import numbers

import numpy as np

from ..tensor import Tensor
from .module import Module, Parameter


def _normalize(x, axes, eps):
    mean = x.mean(axes, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(axes, keepdim=True)
    return centred / (var + eps).sqrt(), mean, var


def _channel_view(t, ndim):
    """A (C,) tensor shaped (1, C, 1, ...) to broadcast against an input of rank ndim."""
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (axis 1) over the batch and any spatial axes. In training the
    batch's statistics are used and, if given, the running ones are updated in place:
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dimensions (N, C, ...), got shape {input.shape}")
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        count = int(np.prod([input.shape[a] for a in axes]))
        if count < 2:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape {input.shape}")
        y, mean, var = _normalize(input, axes, eps)
        if running_mean is not None:  # in place, so that a captured CUDA graph updates them too
            for running, batch in ((running_mean, mean.array), (running_var, var.array * (count / (count - 1)))):
                running.array *= 1 - momentum
                running.array += momentum * batch.reshape(-1)
    else:
        mean, var = _channel_view(running_mean, input.ndim), _channel_view(running_var, input.ndim)
        y = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * _channel_view(weight, input.ndim)
    if bias is not None:
        y = y + _channel_view(bias, input.ndim)
    return y


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d, which differ only in the input ranks they accept."""

    ranks = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=None):
        super().__init__()
        dtype = dtype or np.float32
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(Tensor.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(Tensor.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", Tensor.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self.ranks:
            raise ValueError(f"{name}: expected a {' or '.join(f'{r}D' for r in self.ranks)} input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels in axis 1, got shape {x.shape}")
        track = self.training and self.track_running_stats
        momentum = self.momentum
        if track:
            self.num_batches_tracked.array += 1
            if momentum is None:  # a cumulative average over all batches so far
                momentum = 1.0 / int(self.num_batches_tracked.item())
        running = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        use_batch = self.training or not self.track_running_stats
        return batch_norm(x, *running, self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C."""

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C."""

    ranks = (4,)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing axes given by normalized_shape (biased variance)."""
    normalized_shape = tuple(normalized_shape)
    if input.shape[input.ndim - len(normalized_shape) :] != normalized_shape or len(normalized_shape) > input.ndim:
        raise ValueError(f"layer_norm: input of shape {input.shape} does not end with normalized_shape {normalized_shape}")
    axes = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    y = _normalize(input, axes, eps)[0]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        dtype = dtype or np.float32
        self.weight = Parameter(Tensor.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(Tensor.zeros(self.normalized_shape, dtype=dtype)) if elementwise_affine and bias else None

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each sample's channels (axis 1) in num_groups groups, over the group's
    channels and every spatial position (biased variance), then per-channel weight and bias."""
    n, c = input.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: {c} channels (input shape {input.shape}) do not split into {num_groups} groups")
    y = _normalize(input.reshape(n, num_groups, -1), (2,), eps)[0].reshape(input.shape)
    if weight is not None:
        y = y * _channel_view(weight, input.ndim)
    if bias is not None:
        y = y + _channel_view(bias, input.ndim)
    return y


def instance_norm(input, weight=None, bias=None, eps=1e-5):
    """Normalise each sample's every channel over its spatial positions: group_norm with one
    channel per group."""
    return group_norm(input, input.shape[1], weight, bias, eps)


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} must be divisible by num_groups {num_groups}")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = Parameter(Tensor.ones(num_channels)) if affine else None
        self.bias = Parameter(Tensor.zeros(num_channels)) if affine else None

    def forward(self, x):
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.weight is not None}"


class InstanceNorm2d(Module):
    """Each sample's channels normalised over their H x W positions (PyTorch's defaults: no
    affine parameters, no running statistics; track_running_stats=True is not supported)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False):
        super().__init__()
        if track_running_stats:
            raise ValueError("InstanceNorm2d: track_running_stats=True is not supported; normalise by each sample's "
                             "own statistics, or use BatchNorm2d")
        self.num_features, self.eps = num_features, eps
        self.weight = Parameter(Tensor.ones(num_features)) if affine else None
        self.bias = Parameter(Tensor.zeros(num_features)) if affine else None

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"InstanceNorm2d: expected input of shape (N, {self.num_features}, H, W), got {x.shape}")
        return instance_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, affine={self.weight is not None}"
