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


@pytest.mark.parametrize("xs,size", [((2, 3, 7, 5), (3, 2)), ((1, 2, 4, 3), (6, 5)), ((2, 2, 5, 6), 1)])
def test_adaptive_avg_pool2d(rng, xs, size):
    """Overlapping windows (7 -> 3 rows, and more outputs than inputs) and a global average:
    each input's gradient sums its windows in one pass, as the CPU's scatter does."""
    same_on_both(lambda x: F.adaptive_avg_pool2d(x, size), rng.standard_normal(xs))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NaN and -inf outputs make the loss NaN
def test_max_pool2d_nan_wins_and_padding_only_windows(rng):
    x = rng.standard_normal((1, 2, 5, 6))
    x[0, 0, 1, 1] = x[0, 1, 2, 4] = x[0, 1, 3, 3] = np.nan
    same_on_both(lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True), x)
    # one row, read at -1 and 1 by the dilated taps: every window sees padding only (-inf at index -1)
    same_on_both(lambda x: F.max_pool2d(x, 2, 1, 1, (2, 1), return_indices=True), rng.standard_normal((1, 2, 1, 3)))


STRIDED_VIEWS = {
    "transposed": lambda x: x.transpose(2, 3),
    "sliced": lambda x: x[:, 1:, ::2, 1:],
    "channels last": lambda x: (x.permute(0, 2, 3, 1) * 1).permute(0, 3, 1, 2),
}
POOLS = {
    "max": lambda x: F.max_pool2d(x, 3, 2, 1, 2, True),
    "avg": lambda x: F.avg_pool2d(x, 3, 2, 1, True, False),
    "adaptive": lambda x: F.adaptive_avg_pool2d(x, (4, 3)),
}


@pytest.mark.parametrize("view", STRIDED_VIEWS)
@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pooling_reads_strided_inputs_and_gradients(rng, view, pool, dtype):
    """x, and the gradient that reaches the pooled output through a transpose, are views of
    other strides, read in place."""
    x = rng.standard_normal((2, 3, 9, 7)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    same_on_both(lambda x: POOLS[pool](STRIDED_VIEWS[view](x)).transpose(2, 3), x, **tol)


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


@pytest.mark.parametrize("ws,stride,padding,dilation,groups", [((4, 1, 3, 2), (2, 1), (1, 1), (1, 2), 2),
                                                               ((4, 1, 3, 3), (1, 1), (1, 0), (1, 1), 2)],
                         ids=["grouped-strided-dilated", "depthwise-multiplier-2"])
def test_conv2d_gradcheck_on_the_device(rng, ws, stride, padding, dilation, groups):
    """Finite differences in float64 through the op, on the device: the implicit-GEMM products
    and the depthwise kernels."""
    x = Tensor(rng.standard_normal((1, 2, 4, 5)), device="cuda", requires_grad=True)
    w = Tensor(rng.standard_normal(ws), device="cuda", requires_grad=True)
    b = Tensor(rng.standard_normal(ws[0]), device="cuda", requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), [x, w, b])


@pytest.mark.parametrize("pool", [lambda x: F.max_pool2d(x, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1)], ids=["max", "avg"])
def test_pooling_gradcheck_on_the_device(rng, pool):
    x = Tensor(rng.permutation(20).reshape(1, 1, 4, 5) + rng.uniform(0, 0.1, (1, 1, 4, 5)), device="cuda",
               requires_grad=True)  # distinct values: a max moves only under steps far larger than eps
    assert tg.gradcheck(pool, [x])
