"""Matrix product on every device (BLAS on the CPU): every rank combination np.matmul accepts."""
import numpy as np
import pytest

from tinygrad_nb import Tensor

from conftest import check_gradients

SHAPES = [
    ((3, 4), (4, 5)),
    ((1, 1), (1, 1)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
]


@pytest.mark.parametrize("sa,sb", SHAPES)
def test_matmul(rng, device, sa, sb):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = Tensor(a.astype(np.float32), device=device) @ Tensor(b.astype(np.float32), device=device)
    assert out.dtype == np.float32 and out.device == device
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-5)
    check_gradients(lambda x, y: x @ y, [a, b], device)


def test_matmul_kernel_directly(rng):
    from tinygrad_nb.kernels.cpu.matmul import matmul

    for dtype in (np.float32, np.float64):
        a, b = rng.standard_normal((3, 5, 7)).astype(dtype), rng.standard_normal((3, 7, 2)).astype(dtype)
        out = matmul(a, b)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, a @ b, rtol=1e-5)
    np.testing.assert_array_equal(matmul(np.zeros((1, 2, 0)), np.zeros((1, 0, 3))), np.zeros((1, 2, 3)))


def test_matmul_of_non_contiguous_views(rng, device):
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 5))
    np.testing.assert_allclose((Tensor(a, device=device).T @ Tensor(b, device=device).T).numpy(), a.T @ b.T)
    check_gradients(lambda x, y: x.T @ y.T, [a, b], device)


@pytest.mark.parametrize("which", [0, 1])
def test_gradient_of_an_operand_stored_transposed_keeps_its_layout(rng, device, which):
    """x @ W.T (a linear layer) and A.T @ B: the transposed operand's gradient is computed
    transposed, so the parameter behind it gets a C-ordered gradient (an optimiser reads it
    flat), with the values of G^T X (or B G^T) all the same."""
    from tinygrad_nb.kernels.shapes import is_c_contiguous

    stored = rng.standard_normal((5, 4) if which == 1 else (4, 3))  # W (out, in), or A (k, m)
    other = rng.standard_normal((3, 4) if which == 1 else (4, 5))  # x (n, in), or B (k, n)
    g = rng.standard_normal((3, 5))
    p, q = Tensor(stored, requires_grad=True, device=device), Tensor(other, requires_grad=True, device=device)
    out = q @ p.T if which == 1 else p.T @ q
    out.backward(Tensor(g, device=device))
    expected = g.T @ other if which == 1 else other @ g.T
    assert is_c_contiguous(p.grad.array)
    np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(q.grad.numpy(), g @ stored if which == 1 else stored @ g, rtol=1e-12)


def test_matmul_mixed_precision_promotes(rng):
    a, b = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((3, 2))
    assert (Tensor(a) @ Tensor(b)).dtype == np.float64


@pytest.mark.parametrize("batch,m,k,n", [(1, 70, 65, 90), (1, 90, 65, 70), (1, 2, 300, 1000), (3, 67, 64, 65), (2, 1, 1, 1)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_kernel_blocks_and_transposed_operands(rng, batch, m, k, n, trans_a, trans_b):
    """Products large enough to be shared out over threads by rows or by columns, with
    operands that are transposes of contiguous arrays (passed to BLAS without a copy)."""
    from tinygrad_nb.kernels.cpu.matmul import matmul

    a = rng.standard_normal((batch, k, m) if trans_a else (batch, m, k))
    b = rng.standard_normal((batch, n, k) if trans_b else (batch, k, n))
    a, b = (a.swapaxes(1, 2) if trans_a else a), (b.swapaxes(1, 2) if trans_b else b)
    np.testing.assert_allclose(matmul(a, b), np.matmul(a, b), rtol=1e-10, atol=1e-10)


def test_matmul_of_a_read_only_broadcast_view(rng):
    from tinygrad_nb.kernels.cpu.matmul import matmul

    a, b = rng.standard_normal((1, 4, 3)), np.broadcast_to(rng.standard_normal((3, 5)), (2, 3, 5))
    np.testing.assert_allclose(matmul(np.broadcast_to(a, (2, 4, 3)), b), np.matmul(a, b), rtol=1e-12)
