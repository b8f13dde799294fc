"""Gradients of gradients (create_graph=True): every op's graph_backward against finite
differences of its gradient (gradgradcheck, float64, on the CPU), and the same
Hessian-vector products on the 'cuda' device (the simulator without a GPU) as on the CPU."""
import numpy as np
import pytest

import tinygrad_nb as tg
import tinygrad_nb.nn.functional as F
from tinygrad_nb import Tensor
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.gradcheck import GradcheckError, gradgradcheck

R = np.random.default_rng(7)


def away(shape, lo=0.3, hi=1.5, kinks=(0.0,)):
    """Values at least `lo` from every kink (where a derivative jumps), of either sign."""
    x = R.uniform(lo, hi, shape) * R.choice([-1.0, 1.0], shape)
    for k in kinks[1:]:
        x = np.where(np.abs(x - k) < 0.2, x + 0.5, x)
    return x


def positive(shape):
    return R.uniform(0.5, 2.0, shape)


def distinct(shape):
    """Values whose maxima are unique (max and max-pool have no ties to split)."""
    return R.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) / 7.0


ACTIVATIONS = {
    "relu": (lambda x: x.relu(), ()),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), ()),
    "sigmoid": (lambda x: x.sigmoid(), ()),
    "tanh": (lambda x: x.tanh(), ()),
    "gelu": (lambda x: F.gelu(x), ()),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), ()),
    "silu": (lambda x: F.silu(x), ()),
    "elu": (lambda x: F.elu(x), ()),
    "selu": (lambda x: F.selu(x), ()),
    "softplus": (lambda x: F.softplus(x, beta=1.5), ()),
    "relu6": (lambda x: F.relu6(3 * x + 3), ()),
    "hardsigmoid": (lambda x: F.hardsigmoid(2 * x), (0.0, 3.0, -3.0)),
    "hardswish": (lambda x: F.hardswish(2 * x), (0.0, 3.0, -3.0)),
    "mish": (lambda x: F.mish(x), ()),
}

CASES = {
    # name: (fn, input arrays); every float input requires grad
    "add_sub_broadcast": (lambda a, b: (a + b) * (a - b), [away((2, 3)), away((3,))]),
    "mul_div": (lambda a, b: a * b / (b * b + 1), [away((2, 3)), away((2, 1))]),
    "pow": (lambda a, b: a ** b, [positive((2, 3)), away((2, 3))]),
    "pow_scalar": (lambda a: a ** 3, [away((4,))]),
    "maximum": (lambda a, b: a.maximum(b) * a, [away((3,)), away((3,)) + 0.1]),
    "where": (lambda a, b: tg.where(Tensor(np.array([True, False, True]), device=a.device), a * a, b * a),
              [away((3,)), away((3,))]),
    "exp_log_sqrt": (lambda a: a.exp() * a.abs().log() + a.abs().sqrt(), [away((5,))]),
    "sin_cos": (lambda a: a.sin() * a.cos(), [away((5,))]),
    "clip": (lambda a: a.clip(-0.8, 0.9) * a, [away((6,), lo=0.1, hi=1.4)]),
    "sum_mean_var": (lambda a: (a * a).sum(axis=1) + a.mean(0, keepdim=True).sum() + a.var(), [away((3, 4))]),
    "max_min": (lambda a: a.max(axis=1).values * a.min() + a.max(), [distinct((3, 4))]),
    "logsumexp": (lambda a: a.logsumexp(axis=(0, 2)) ** 2, [away((2, 3, 2))]),
    "softmax": (lambda a: a.softmax(axis=1) * a, [away((2, 4))]),
    "log_softmax": (lambda a: a.log_softmax(axis=0) * a, [away((3, 2))]),
    "matmul_batched": (lambda a, b: (a @ b) * (a @ b), [away((2, 2, 3)), away((3, 2))]),
    "matmul_vector": (lambda a, b: (a @ b).tanh(), [away((3,)), away((3, 2))]),
    "movement": (lambda a: (a.reshape(3, 2).permute(1, 0).expand(2, 2, 3) * a.reshape(2, 3)).flatten() ** 2,
                 [away((2, 3))]),
    "pad": (lambda a: a.pad(((1, 0), (2, -1))) ** 2, [away((2, 3))]),
    "getitem": (lambda a: a[np.array([0, 2, 0]), 1:] ** 2 * a[1, 0], [away((3, 3))]),
    "cat_stack": (lambda a, b: tg.cat([a, b * b], axis=1).sin() + tg.stack([a, b]).sum(0).repeat(1, 2), [away((2, 2)), away((2, 2))]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2)).tanh(),
               [away((1, 2, 5, 5)), away((3, 2, 2, 2)), away((3,))]),
    "conv2d_groups": (lambda x, w: F.conv2d(x, w, groups=2, padding=1) ** 2, [away((2, 4, 3, 3)), away((2, 2, 2, 2))]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1).sigmoid(),
                         [away((1, 2, 3, 3)), away((2, 3, 3, 3)), away((3,))]),
    "conv1d": (lambda x, w: F.conv1d(x, w, padding=1) ** 2, [away((2, 2, 5)), away((3, 2, 3))]),
    "max_pool2d": (lambda x: F.max_pool2d(x * x, 2, stride=1) * x[:, :, :2, :2], [distinct((1, 2, 3, 3)) + 0.5]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x * x, 2, stride=1, padding=1) ** 2, [away((1, 1, 3, 3))]),
    "cross_entropy": (lambda x: F.cross_entropy(x, Tensor(np.array([0, 2, 1]), device=x.device)), [away((3, 4))]),
    "cross_entropy_options": (lambda x: F.cross_entropy(x, Tensor(np.array([0, -100, 3])), reduction="sum",
                                                        weight=Tensor(np.array([1.0, 2.0, 0.5, 1.5])),
                                                        label_smoothing=0.1), [away((3, 4))]),
    "cross_entropy_none": (lambda x: F.cross_entropy(x, Tensor(np.array([1, 0])), reduction="none") ** 2,
                           [away((2, 3))]),
    "nll_loss": (lambda x: F.nll_loss(x.log_softmax(1), Tensor(np.array([1, 0, 2]))), [away((3, 3))]),
    "embedding": (lambda w: F.embedding(Tensor(np.array([[0, 2], [2, 1]])), w) ** 2, [away((3, 2))]),
    "layer_norm_batch_norm": (lambda x: F.layer_norm(x, (3,)) * F.batch_norm(x, None, None, training=True),
                              [away((4, 3))]),
}
CASES.update({f"activation_{k}": (fn, [away((6,), kinks=kinks)]) for k, (fn, kinks) in ACTIVATIONS.items()})


def _inputs(arrays, device="cpu"):
    return [Tensor(a, requires_grad=True, device=device) for a in arrays]


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_of_gradients_match_finite_differences(name):
    fn, arrays = CASES[name]
    assert gradgradcheck(fn, _inputs(arrays), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_have_gradients_of_gradients(mode):
    tg.manual_seed(0)
    layer = getattr(tg.nn, mode)(2, 2, batch_first=True).double()
    params = list(layer.parameters())

    def fn(x, *weights):
        for p, w in zip(params, weights):
            p.array = w.array
        return layer(x)[0]

    x = Tensor(away((2, 3, 2)), requires_grad=True)
    out_first = layer(x)[0]
    (g,) = tg.autograd.grad(out_first.sum(), [x], create_graph=True)
    (h,) = tg.autograd.grad((g * g).sum(), [x])
    numeric = np.zeros(x.shape)
    flat = x.array.reshape(-1)
    for i in range(flat.size):
        sides = []
        for step in (1e-6, -1e-6):
            flat[i] += step
            (gi,) = tg.autograd.grad(layer(x)[0].sum(), [x])
            sides.append(float((gi.numpy() ** 2).sum()))
            flat[i] -= step
        numeric.reshape(-1)[i] = (sides[0] - sides[1]) / 2e-6
    np.testing.assert_allclose(h.numpy(), numeric, rtol=1e-4, atol=1e-6)
    # and with respect to the weights, through the same layer
    (gw,) = tg.autograd.grad(layer(x)[0].sum(), [params[0]], create_graph=True)
    (hx,) = tg.autograd.grad((gw * gw).sum(), [x])
    assert hx.shape == x.shape and np.isfinite(hx.numpy()).all() and np.abs(hx.numpy()).sum() > 0


def test_cast_passes_gradients_of_gradients_back_in_the_input_dtype():
    x = Tensor(np.array([0.5, -1.25, 2.0]), requires_grad=True)
    (g,) = tg.autograd.grad((x.float() ** 3).sum(), [x], create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), [x])
    assert g.dtype == h.dtype == np.float64
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy(), rtol=1e-6)


def test_backward_create_graph_leaves_differentiable_grads():
    """PyTorch's gradient penalty idiom: .grad made by backward(create_graph=True) has a graph."""
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = (x ** 3).sum()
    y.backward(create_graph=True)
    assert x.grad.requires_grad
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)
    penalty = (x.grad ** 2).sum()
    (h,) = tg.autograd.grad(penalty, [x])
    np.testing.assert_allclose(h.numpy(), 2 * 3 * x.numpy() ** 2 * 6 * x.numpy())


def test_hessian_vector_product_of_a_small_cnn():
    tg.manual_seed(0)
    net = tg.nn.Sequential(tg.nn.Conv2d(1, 2, 3, padding=1), tg.nn.Tanh(), tg.nn.MaxPool2d(2), tg.nn.Flatten(),
                           tg.nn.Linear(8, 3)).double()
    x = Tensor(away((2, 1, 4, 4)))
    labels = Tensor(np.array([0, 2]))
    params = list(net.parameters())
    loss = F.cross_entropy(net(x), labels)
    grads = tg.autograd.grad(loss, params, create_graph=True)
    v = [Tensor(R.standard_normal(p.shape)) for p in params]
    hv = tg.autograd.grad(sum((g * vi).sum() for g, vi in zip(grads, v)), params)
    eps = 1e-6

    def flat_grad(sign):
        for p, vi in zip(params, v):
            p.array = p.array + sign * eps * vi.array
        gs = tg.autograd.grad(F.cross_entropy(net(x), labels), params)
        for p, vi in zip(params, v):
            p.array = p.array - sign * eps * vi.array
        return [g.numpy() for g in gs]

    plus, minus = flat_grad(1), flat_grad(-1)
    for h, a, b in zip(hv, plus, minus):
        np.testing.assert_allclose(h.numpy(), (a - b) / (2 * eps), rtol=1e-4, atol=1e-7)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    """The check can fail: an op whose graph_backward drops a term is caught."""
    from tinygrad_nb.ops import elementwise as E

    class BadSin(E.Sin):
        def graph_backward(ctx, g):
            return g * ctx.constant(np.cos(ctx.parents[0].array))  # cos x as a constant: no second derivative

    with pytest.raises(GradcheckError):
        gradgradcheck(lambda a: BadSin.apply(a), _inputs([away((3,))]))


def test_second_backward_reaches_hooks_and_retains_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x * x).sum()
    (g,) = tg.autograd.grad(y, [x], create_graph=True)
    seen = []
    g.register_hook(lambda t: seen.append(t.numpy().copy()))
    g.sum().backward(retain_graph=True)  # g's graph runs through y's own nodes (x * x): keep them
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    y.backward()  # create_graph kept y's graph too (it implies retain_graph)
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() + 3 * x.numpy() ** 2)


needs_cuda = pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")
CUDA_CASES = ["mul_div", "pow", "exp_log_sqrt", "activation_gelu", "activation_tanh", "softmax", "logsumexp",
              "matmul_batched", "getitem", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "cross_entropy",
              "embedding", "pad", "sum_mean_var", "where", "max_min", "cat_stack", "activation_mish"]


def _hvp(fn, arrays, device):
    inputs = _inputs(arrays, device)
    outs = fn(*inputs)
    rng = np.random.default_rng(3)
    total = (outs * Tensor(rng.standard_normal(outs.shape), device=device)).sum()
    grads = tg.autograd.grad(total, inputs, create_graph=True, allow_unused=True)
    vs = [Tensor(rng.standard_normal(x.shape), device=device) for x in inputs]
    second = sum((g * v).sum() for g, v in zip(grads, vs) if g is not None and g.requires_grad)
    return [g.numpy() for g in grads if g is not None], [h.numpy() for h in tg.autograd.grad(second, inputs, allow_unused=True)
                                                         if h is not None]


@needs_cuda
@pytest.mark.parametrize("name", CUDA_CASES)
def test_cuda_gradients_of_gradients_match_the_cpu(name):
    fn, arrays = CASES[name]
    cpu, gpu = _hvp(fn, arrays, "cpu"), _hvp(fn, arrays, "cuda")
    for a, b in zip(cpu[0] + cpu[1], gpu[0] + gpu[1]):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11)
    assert len(cpu[1]) == len(gpu[1]) > 0


def test_every_op_has_a_differentiable_backward():
    """create_graph reaches every op: each Function subclass writes its graph_backward."""
    import importlib
    import pkgutil

    import tinygrad_nb.ops
    from tinygrad_nb.function import Function

    for info in pkgutil.iter_modules(tinygrad_nb.ops.__path__):
        importlib.import_module(f"tinygrad_nb.ops.{info.name}")
    pending, missing = list(Function.__subclasses__()), []
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith("tinygrad_nb.") and cls.graph_backward is Function.graph_backward:
            missing.append(cls.__name__)
    assert not missing, f"ops without graph_backward: {missing}"
