"""Convolution and pooling on the 'cuda' device against the CPU: outputs, arg-max indices
and every gradient, on cases from the CPU test files (a subset: each simulated case costs
about a second)."""
import numpy as np
import pytest

import test_conv as conv_cases
import test_pool as pool_cases
import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from test_cuda_ops import same_on_both
from tinygrad_nb import Tensor, nn
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)

# groups, strides, dilation and padding at random; depthwise with a multiplier; 1x1
CONV = [conv_cases.CONV_CASES[i] for i in (3, 5, 8)] + conv_cases.CONV_CASES[-3:-1] + conv_cases.CONV_CASES[-1:]


@pytest.mark.parametrize("xs,ws,stride,padding,dilation,groups", CONV)
def test_conv2d(rng, xs, ws, stride, padding, dilation, groups):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    same_on_both(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), x, w, b)


@pytest.mark.parametrize("xs,ws,stride,padding,output_padding,groups,dilation", conv_cases.TRANSPOSE_CASES[1:3])
def test_conv_transpose2d(rng, xs, ws, stride, padding, output_padding, groups, dilation):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    same_on_both(lambda x, w: F.conv_transpose2d(x, w, None, stride, padding, output_padding, groups, dilation), x, w)


def test_conv_float32_without_bias(rng):
    x, w = rng.standard_normal((2, 3, 5, 5)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    same_on_both(lambda x, w: F.conv2d(x, w, padding=1), x, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xs,k,s,p,d,ceil_mode", pool_cases.MAX_CASES)
def test_max_pool2d(rng, xs, k, s, p, d, ceil_mode):
    x = rng.standard_normal(xs)
    same_on_both(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode, return_indices=True), x)


def test_max_pool2d_ties_and_overlaps():
    same_on_both(lambda x: F.max_pool2d(x, 2), np.ones((1, 1, 4, 4)))
    same_on_both(lambda x: F.max_pool2d(x, 2, stride=1), np.array([[[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]))


@pytest.mark.parametrize("xs,k,s,p,ceil_mode,count_include_pad", pool_cases.AVG_CASES[1:4])
def test_avg_pool2d(rng, xs, k, s, p, ceil_mode, count_include_pad):
    same_on_both(lambda x: F.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad), rng.standard_normal(xs))


def test_adaptive_avg_pool2d(rng):
    same_on_both(lambda x: F.adaptive_avg_pool2d(x, (3, 2)), rng.standard_normal((2, 3, 7, 5)))


def test_small_cnn_trains_like_the_cpu(rng):
    """Conv-ReLU-Pool-Linear, two SGD steps, on both devices from the same start."""
    x, labels = rng.standard_normal((2, 1, 6, 6)).astype(np.float32), np.array([0, 2])
    results = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 3))
        model.to(device)
        for _ in range(2):
            model.zero_grad()
            loss = F.cross_entropy(model(Tensor(x, device=device)), labels)
            loss.backward()
            for p in model.parameters():
                p.data = p.data - 0.1 * p.grad.data
        results[device] = [p.numpy() for p in model.parameters()]
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
