"""The op test suite on the 'cuda' device: every case of the CPU op tests, run on both
devices, must give the same outputs and the same gradients.

The CPU side is checked against NumPy references and finite differences in its own test
files; here each case runs forward and backward once per device (float64, so the two agree
to rounding) and the GPU's results are compared with the CPU's. Without a GPU the 'cuda'
side runs in Numba's CUDA simulator.
"""
import numpy as np
import pytest

import test_elementwise as ew_cases
import test_matmul as mm_cases
import test_movement as mv_cases
import tinygrad_nb as tg
from tinygrad_nb import Tensor
from tinygrad_nb import cuda as tg_cuda

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)


def _run(fn, arrays, device, seed=0):
    inputs = [Tensor(a, device=device, requires_grad=np.asarray(a).dtype.kind == "f") for a in arrays]
    out = fn(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    rng = np.random.default_rng(seed)
    loss = None
    for o in outs:
        if o.requires_grad:
            term = (o * Tensor(rng.standard_normal(o.shape), device=device, dtype=o.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    return [o for o in outs], [t.grad for t in inputs]


def same_on_both(fn, *arrays, rtol=1e-10, atol=1e-12):
    """fn(*tensors) on 'cpu' and on 'cuda': equal outputs (values, dtypes, devices) and gradients."""
    cpu_outs, cpu_grads = _run(fn, arrays, "cpu")
    gpu_outs, gpu_grads = _run(fn, arrays, "cuda")
    for c, g in zip(cpu_outs + cpu_grads, gpu_outs + gpu_grads):
        assert (c is None) == (g is None)
        if c is None:
            continue
        assert g.device == "cuda" and g.dtype == c.dtype and g.shape == c.shape, (g.dtype, c.dtype, g.shape, c.shape)
        np.testing.assert_allclose(g.numpy(), c.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ew_cases.BINARY)
@pytest.mark.parametrize("sa,sb", ew_cases.BROADCAST_PAIRS)
def test_binary(rng, name, sa, sb):
    op, _ = ew_cases.BINARY[name]
    a, b = ew_cases._inputs(rng, name, sa, sb)
    same_on_both(op, a, b)


@pytest.mark.parametrize("name", ew_cases.UNARY)
@pytest.mark.parametrize("shape", [(), (2, 1, 3)])
def test_unary(rng, name, shape):
    op, _, kind = ew_cases.UNARY[name]
    same_on_both(op, ew_cases._unary_input(rng, kind, shape))


def test_float32_stays_float32(rng):
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    same_on_both(lambda x, y: ((x * y + 1.5) / (y * y + 1)).gelu().sigmoid().log_softmax(1) @ y, a, b, rtol=1e-5, atol=1e-6)


def test_where_and_comparisons(rng):
    cond = rng.standard_normal((3, 4)) > 0
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    same_on_both(lambda c, x, y: tg.where(c, x, y) * (x > y) + (x <= 0.1).float(), cond, a, b)


@pytest.mark.parametrize("axis", [None, 1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions(rng, axis, keepdim):
    a = rng.standard_normal((2, 3, 4))
    a[0, 0, :2] = a[0, 0, 2]  # ties: max and min split their gradient
    for op in (Tensor.sum, Tensor.mean, Tensor.var, Tensor.max, Tensor.min, Tensor.logsumexp):
        same_on_both(lambda x: op(x, axis, keepdim), a)


@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_family_and_argmax(rng, axis):
    a = rng.standard_normal((3, 5)) * 3
    same_on_both(lambda x: x.softmax(axis) + x.log_softmax(axis), a)
    same_on_both(lambda x: x.argmax(axis), a)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_softmax_family_on_views_and_infinite_rows(rng, axis):
    """One launch each way on the GPU, a thread per row: any axis of a strided view, and rows
    holding -inf (which stay finite elsewhere) give the CPU's numbers."""
    a = rng.standard_normal((3, 4, 5))
    a[0, 1, 2] = -np.inf
    same_on_both(lambda x: x.permute(2, 0, 1).log_softmax(axis) * 0.5 + x.permute(2, 0, 1).softmax(axis), a)


def test_argmax_and_argmin_run_on_the_device(rng):
    """Ties go to the first index and a NaN wins, as in NumPy; views and keepdim work."""
    a = rng.integers(0, 3, (4, 5, 3)).astype(np.float64)
    a[1, 2, 0] = np.nan
    for fn in (lambda x: x.argmax(1), lambda x: x.argmin(-1, keepdim=True), lambda x: x.argmax(),
               lambda x: x.permute(2, 0, 1).argmin(2), lambda x: x[:, ::2].argmax(0, keepdim=True)):
        same_on_both(fn, a)
    with pytest.raises(RuntimeError, match="argmax: cannot take the argmax over an empty axis"):
        Tensor(np.zeros((0, 3)), device="cuda").argmax()
    assert Tensor(np.zeros((0, 3)), device="cuda").argmax(1).shape == (0,)


@pytest.mark.parametrize("name", mv_cases.CASES)
def test_movement(rng, name):
    op, _ = mv_cases.CASES[name]
    same_on_both(op, rng.standard_normal((2, 3, 4)))


@pytest.mark.parametrize("axis", [0, -1])
def test_cat_and_stack(rng, axis):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    same_on_both(lambda x, y: (tg.cat([x, y, x], axis=axis), tg.stack([x, y], axis=axis)), a, b)


@pytest.mark.parametrize("sa,sb", mm_cases.SHAPES)
def test_matmul(rng, sa, sb):
    same_on_both(lambda x, y: x @ y, rng.standard_normal(sa), rng.standard_normal(sb))


def test_matmul_of_transposed_views(rng):
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 5))
    same_on_both(lambda x, y: x.T @ y.T, a, b)


def test_relu_special_values(rng):
    same_on_both(lambda x: x.relu(), np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf]))
    assert np.isnan(Tensor(np.array([np.nan]), device="cuda").relu().numpy()[0])


def test_indexing_with_ids_on_the_gpu_gathers_there(rng):
    """x[ids] with an integer tensor on the GPU reads the ids there (no copy to the host),
    negative ids counting from the end; the gradient adds up repeated rows."""
    a = rng.standard_normal((5, 2, 3))
    ids = np.array([[4, -1], [0, 4]])
    same_on_both(lambda x: x[Tensor(ids, device=x.device)] * 2, a)
    x = Tensor(a, device="cuda")
    assert np.isnan(x[Tensor(np.array([5]), device="cuda")].numpy()).all()
