"""prod cumsum sort argsort topk scatter scatter_add (and their in-place forms), type and
expand_as, with PyTorch's semantics: forward against NumPy references and explicit loops,
float64 gradient checks (first and second order), ties and zeros, the errors of misuse, and
the same results on the 'cuda' device (Numba's CUDA simulator without a GPU)."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import Tensor
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.gradcheck import gradgradcheck

from conftest import t64

on_gpu = pytest.mark.skipif(not tg_cuda.is_available(), reason="no CUDA GPU and the simulator is off")


def ref_scatter(a, dim, index, src, accumulate=False):
    """torch.scatter / scatter_add by explicit loops over the index's positions."""
    out = a.copy()
    for pos in np.ndindex(*index.shape):
        at = list(pos)
        at[dim] = index[pos]
        value = src if np.ndim(src) == 0 else src[pos]
        out[tuple(at)] = out[tuple(at)] + value if accumulate else value
    return out


def stable_order(line, descending):
    """Python's sort is stable: equal values keep their order."""
    return sorted(range(len(line)), key=lambda i: -line[i] if descending else line[i])


# ---- prod -------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_matches_numpy(rng, dim, keepdim):
    a = rng.uniform(0.5, 1.5, (2, 3))
    out = Tensor(a).prod(dim, keepdim=keepdim)
    axis = None if dim is None else dim
    np.testing.assert_allclose(out.numpy(), np.prod(a, axis=axis, keepdims=keepdim), rtol=1e-12)
    assert tg.prod(Tensor(a), dim).shape == np.prod(a, axis=axis).shape


def test_prod_of_integers_and_empty_axes():
    out = Tensor(np.array([[2, 3], [4, 5]], np.int32)).prod(1)
    assert out.dtype == np.int64 and out.tolist() == [6, 20]
    assert Tensor(np.zeros((2, 0))).prod(1).tolist() == [1.0, 1.0]
    assert Tensor(np.array(3.0)).prod(0).item() == 3.0


def test_prod_gradient_is_the_product_of_the_others_also_at_zeros():
    x = t64([[2.0, 0.0, 3.0], [0.0, 0.0, 3.0], [1.0, 2.0, 4.0]])
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])
    y = t64([2.0, 0.0, 3.0])
    y.prod().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 6.0, 0.0])


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, True), (1, False)])
def test_prod_gradcheck(rng, dim, keepdim):
    a = rng.uniform(-1.5, 1.5, (3, 3))
    a[0, 1] = a[2, 0] = a[2, 2] = 0.0  # one zero in a row, two in another
    assert tg.gradcheck(lambda x: x.prod(dim, keepdim=keepdim), [t64(a)])
    assert gradgradcheck(lambda x: x.prod(dim, keepdim=keepdim), [t64(a)], atol=1e-5, rtol=1e-4)


# ---- cumsum -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_matches_numpy_and_its_gradient_is_a_reversed_cumsum(rng, dim):
    a = rng.standard_normal((2, 3))
    np.testing.assert_allclose(Tensor(a).cumsum(dim).numpy(), np.cumsum(a, axis=dim), rtol=1e-12)
    np.testing.assert_allclose(tg.cumsum(Tensor(a), dim).numpy(), np.cumsum(a, axis=dim), rtol=1e-12)
    x = t64(a)
    g = rng.standard_normal((2, 3))
    x.cumsum(dim).backward(Tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), np.flip(np.cumsum(np.flip(g, dim), axis=dim), dim), rtol=1e-12)
    assert tg.gradcheck(lambda t: t.cumsum(dim), [t64(a)])
    assert gradgradcheck(lambda t: t.cumsum(dim) * t, [t64(a)], atol=1e-5, rtol=1e-4)


def test_cumsum_of_integers_is_int64():
    out = Tensor(np.array([1, 2, 3], np.int32)).cumsum(0)
    assert out.dtype == np.int64 and out.tolist() == [1, 3, 6]
    assert Tensor(np.array([True, True, False])).cumsum(0).tolist() == [1, 2, 2]
    assert Tensor(np.array(2.5)).cumsum(0).item() == 2.5


# ---- sort, argsort, topk ----------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_are_stable_with_ties(dim, descending):
    a = np.array([[3.0, 1.0, 3.0, 2.0], [1.0, 1.0, 0.0, 1.0], [2.0, 5.0, 2.0, 5.0]])
    values, indices = Tensor(a).sort(dim, descending=descending)
    lines = np.moveaxis(a, dim, -1).reshape(-1, a.shape[dim])
    expected = np.array([stable_order(line, descending) for line in lines])
    expected = np.moveaxis(expected.reshape(np.moveaxis(a, dim, -1).shape), -1, dim)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.numpy(), expected)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(a, expected, dim))
    np.testing.assert_array_equal(Tensor(a).argsort(dim, descending=descending).numpy(), expected)
    if not descending:
        np.testing.assert_array_equal(values.numpy(), np.sort(a, axis=dim))
        np.testing.assert_array_equal(tg.argsort(Tensor(a), dim).numpy(), np.argsort(a, axis=dim, kind="stable"))


def test_nan_sorts_as_the_largest_value():
    a = np.array([1.0, np.nan, -2.0])
    np.testing.assert_array_equal(Tensor(a).argsort().numpy(), [2, 0, 1])
    np.testing.assert_array_equal(Tensor(a).argsort(descending=True).numpy(), [1, 0, 2])


def test_sort_gradient_goes_back_to_where_each_value_came_from(rng):
    x = t64([3.0, 1.0, 2.0])
    values, _ = x.sort(descending=True)
    values.backward(Tensor(np.array([10.0, 20.0, 30.0])))
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 30.0, 20.0])
    a = rng.permutation(12).reshape(3, 4) / 5.0  # distinct: no tie where finite differences would swap
    assert tg.gradcheck(lambda t: t.sort(0).values, [t64(a)])
    assert gradgradcheck(lambda t: t.sort(1, descending=True).values ** 2, [t64(a)], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1])
def test_topk_matches_a_sorted_reference(rng, largest, dim):
    a = rng.permutation(12).reshape(3, 4).astype(np.float64)
    values, indices = Tensor(a).topk(2, dim=dim, largest=largest)
    order = np.argsort(-a if largest else a, axis=dim)
    expected = np.take(order, [0, 1], axis=dim)
    np.testing.assert_array_equal(indices.numpy(), expected)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(a, expected, dim))
    assert tg.topk(Tensor(a), 2, dim, largest).indices.tolist() == expected.tolist()


def test_topk_ties_take_the_first_and_the_gradient_reaches_only_the_picked():
    x = t64([[1.0, 4.0, 4.0, 0.0, 4.0]])
    values, indices = x.topk(2)
    assert indices.tolist() == [[1, 2]] and values.tolist() == [[4.0, 4.0]]
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 1.0, 0.0, 0.0]])
    assert x.topk(0).values.shape == (1, 0)


def test_topk_gradcheck(rng):
    a = rng.permutation(10).reshape(2, 5) / 3.0
    assert tg.gradcheck(lambda t: t.topk(3, dim=1).values, [t64(a)])
    assert tg.gradcheck(lambda t: t.topk(1, dim=0, largest=False).values, [t64(a)])
    assert gradgradcheck(lambda t: t.topk(2).values * t.topk(2, largest=False).values, [t64(a)], atol=1e-5, rtol=1e-4)


# ---- scatter, scatter_add -----------------------------------------------------------------
# index (2, 2) into self (3, 4) along dim 1, and src (2, 3) larger than index: torch allows both
INDEX = np.array([[3, 0], [1, 2]])


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_matches_loops(rng, dim):
    a, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 3))
    index = INDEX if dim == 1 else np.array([[2, 0], [1, 2]])
    out = Tensor(a).scatter(dim, Tensor(index), Tensor(src))
    np.testing.assert_array_equal(out.numpy(), ref_scatter(a, dim, index, src))
    np.testing.assert_array_equal(Tensor(a).scatter(dim, index, 2.5).numpy(), ref_scatter(a, dim, index, 2.5))
    np.testing.assert_array_equal(Tensor(a).scatter(dim, index, value=-1.0).numpy(), ref_scatter(a, dim, index, -1.0))
    np.testing.assert_array_equal(tg.scatter(Tensor(a), dim, index, Tensor(src)).numpy(), out.numpy())


def test_scatter_add_adds_repeated_positions(rng):
    a, src = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    index = np.array([[0, 0, 2, 0], [1, 1, 1, 1]])
    expected = ref_scatter(a, 1, index, src, accumulate=True)
    np.testing.assert_allclose(Tensor(a).scatter_add(1, index, Tensor(src)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(tg.scatter_add(Tensor(a), 1, index, Tensor(src)).numpy(), expected, rtol=1e-12)
    counts = Tensor(np.zeros(3, np.int64)).scatter_add(0, np.array([2, 0, 2, 2]), Tensor(np.ones(4, np.int64)))
    assert counts.tolist() == [1, 0, 3]


def test_scatter_gradients_as_pytorch(rng):
    x, src = t64(rng.standard_normal((3, 4))), t64(rng.standard_normal((2, 3)))
    g = rng.standard_normal((3, 4))
    x.scatter(1, INDEX, src).backward(Tensor(g))
    written = ref_scatter(np.zeros((3, 4)), 1, INDEX, 1.0) == 1.0
    np.testing.assert_array_equal(x.grad.numpy(), np.where(written, 0.0, g))
    picked = np.take_along_axis(g[:2], INDEX, 1)  # src beyond the index gets nothing
    np.testing.assert_array_equal(src.grad.numpy(), np.pad(picked, ((0, 0), (0, 1))))


@pytest.mark.parametrize("name", ["scatter", "scatter_value", "scatter_add"])
def test_scatter_gradcheck(rng, name):
    fns = {
        "scatter": lambda x, s: x.scatter(1, INDEX, s) * x,
        "scatter_value": lambda x, s: x.scatter(0, np.array([[2, 0, 1, 0]]), 0.5) * s.sum(),
        "scatter_add": lambda x, s: x.scatter_add(1, np.array([[0, 0, 3], [1, 1, 1]]), s) * x,
    }
    inputs = [t64(rng.standard_normal((3, 4))), t64(rng.standard_normal((2, 3)))]
    assert tg.gradcheck(fns[name], inputs)
    assert gradgradcheck(fns[name], [t64(t.numpy()) for t in inputs], atol=1e-5, rtol=1e-4)


def test_in_place_scatters_write_into_the_buffer_and_bump_its_version(rng):
    a = rng.standard_normal((3, 4))
    t = Tensor(a)
    view = t.reshape(12)
    assert t.scatter_(1, INDEX, Tensor(np.ones((2, 2)))) is t
    np.testing.assert_array_equal(view.numpy().reshape(3, 4), ref_scatter(a, 1, INDEX, np.ones((2, 2))))
    t.scatter_add_(0, np.array([[0, 0, 0, 0]]), Tensor(np.full((1, 4), 2.0)))
    t.scatter_(1, INDEX, value=7.0)
    expected = ref_scatter(ref_scatter(ref_scatter(a, 1, INDEX, np.ones((2, 2))), 0, np.zeros((1, 4), int),
                                       np.full((1, 4), 2.0), True), 1, INDEX, 7.0)
    np.testing.assert_array_equal(t.numpy(), expected)
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = x.exp()  # saves its output
    with tg.no_grad():
        y.scatter_(0, np.array([1]), value=0.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_in_place_scatters_on_results_record_the_graph(rng):
    def f(x, s):
        h = x * 2.0
        h.scatter_(1, INDEX, s)
        h.scatter_add_(0, np.array([[1, 0, 2, 2]]), s[:1, :1].expand(1, 4) * x[:1])
        return h * x

    assert tg.gradcheck(f, [t64(rng.standard_normal((3, 4))), t64(rng.standard_normal((2, 2)))])
    leaf = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="scatter_: a leaf Variable that requires grad"):
        leaf.scatter_(0, np.array([0]), value=2.0)


# ---- type, expand_as --------------------------------------------------------------------
def test_type_names_and_casts():
    x = Tensor(np.array([1.5, -2.0]))
    assert x.float().type() == "tinygrad_nb.FloatTensor"
    assert x.type() == "tinygrad_nb.DoubleTensor"
    assert x.long().type() == "tinygrad_nb.LongTensor"
    assert x.type(tg.float32).dtype == np.float32 and x.type("int32").dtype == np.int32
    assert x.type("tinygrad_nb.LongTensor").tolist() == [1, -2]
    assert x.type("torch.FloatTensor").dtype == np.float32
    with pytest.raises(ValueError, match=r"type: unknown tensor type 'tinygrad_nb.BFloat16Tensor'"):
        x.type("tinygrad_nb.BFloat16Tensor")


def test_expand_as(rng):
    a = rng.standard_normal((3, 1))
    other = Tensor(np.zeros((2, 3, 4)))
    np.testing.assert_array_equal(Tensor(a).expand_as(other).numpy(), np.broadcast_to(a, (2, 3, 4)))
    assert tg.gradcheck(lambda t: t.expand_as(other), [t64(a)])
    with pytest.raises(RuntimeError, match=r"expand: cannot expand shape \(3, 1\) to \(2, 4\)"):
        Tensor(a).expand_as(Tensor(np.zeros((2, 4))))


# ---- errors -----------------------------------------------------------------------------
def test_errors_name_the_op_the_shapes_and_what_was_expected():
    x = Tensor(np.zeros((3, 4)))
    src = Tensor(np.ones((2, 2)))
    with pytest.raises(IndexError, match=r"scatter: index must have the 2 axes of self \(shape \(3, 4\)\), got shape \(2,\)"):
        x.scatter(1, np.array([0, 1]), src)
    with pytest.raises(IndexError, match=r"scatter_add: index must be an integer tensor, got dtype float64"):
        x.scatter_add(1, np.array([[0.0, 1.0]]), src)
    with pytest.raises(IndexError, match=r"scatter: index 4 is out of bounds for dim 1 of shape \(3, 4\) \(expected 0 to 3\)"):
        x.scatter(1, np.array([[0, 4]]), src)
    with pytest.raises(IndexError, match=r"out of bounds"):
        x.scatter(0, np.array([[-1, 0]]), 1.0)
    with pytest.raises(RuntimeError, match=r"scatter: index of shape \(4, 1\) is larger than self of shape \(3, 4\) outside dim 1"):
        x.scatter(1, np.zeros((4, 1), int), 1.0)
    with pytest.raises(RuntimeError, match=r"scatter_add: src of shape \(2, 2\) must have index's 2 axes and be at least its size"):
        x.scatter_add(1, np.zeros((2, 3), int), src)
    with pytest.raises(RuntimeError, match=r"scatter: expected src of self's dtype float64 on 'cpu', got float32"):
        x.scatter(1, np.zeros((2, 2), int), src.float())
    with pytest.raises(TypeError, match="scatter: expected src"):
        x.scatter(1, np.zeros((2, 2), int))
    with pytest.raises(RuntimeError, match=r"topk: k = 5 is out of range for dim 1 of shape \(3, 4\) \(expected 0 <= k <= 4\)"):
        x.topk(5)
    with pytest.raises(RuntimeError, match="topk: k = -1 is out of range"):
        x.topk(-1, dim=0)
    with pytest.raises(IndexError, match=r"^sort: axis 2 is out of range for a tensor of shape \(3, 4\)"):
        x.sort(2)
    with pytest.raises(RuntimeError, match="^sort: expects a tensor with at least one axis, got a 0-d tensor"):
        Tensor(np.array(1.0)).sort()
    with pytest.raises(RuntimeError, match="^topk: expects a tensor with at least one axis, got a 0-d tensor"):
        Tensor(np.array(1.0)).topk(1)
    with pytest.raises(IndexError, match=r"^argsort: axis -3 is out of range"):
        x.argsort(-3)
    with pytest.raises(IndexError, match=r"cumsum: axis 2 is out of range"):
        x.cumsum(2)
    with pytest.raises(IndexError, match=r"prod: axis -3 is out of range"):
        x.prod(-3)


# ---- the 'cuda' device ------------------------------------------------------------------
@on_gpu
@pytest.mark.parametrize("name", ["prod", "prod_all", "cumsum", "sort", "topk", "scatter", "scatter_add", "scatter_value"])
def test_the_same_on_the_device(rng, name):
    from conftest import assert_like_cpu

    fns = {
        "prod": lambda x, s: x.prod(1, keepdim=True) * x,
        "prod_all": lambda x, s: x.prod() * s.prod(0),
        "cumsum": lambda x, s: x.cumsum(0) + x.cumsum(-1) * s.cumsum(1).sum(),
        "sort": lambda x, s: x.sort(0, descending=True).values * x + x.argsort(1).float(),
        "topk": lambda x, s: x.topk(2, dim=1).values * s[:, :2].sum() + x.topk(1, 0, largest=False).indices.float().sum(),
        "scatter": lambda x, s: x.scatter(1, INDEX, s) * x,
        "scatter_add": lambda x, s: x.scatter_add(1, np.array([[0, 0, 3], [1, 1, 1]]), s) * x,
        "scatter_value": lambda x, s: x.scatter(0, np.array([[2, 0, 1, 0]]), 0.5) * x,
    }
    a = rng.permutation(12).reshape(3, 4) / 5.0 - 1.0
    a[0, 1] = 0.0  # a zero in prod's line
    assert_like_cpu(fns[name], a, rng.standard_normal((2, 3)))


@on_gpu
def test_device_indices_stay_on_the_device(rng):
    a, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 2))
    x = Tensor(a, device="cuda")
    index = Tensor(INDEX, device="cuda")
    out = x.scatter(1, index, Tensor(src, device="cuda"))
    assert out.device == "cuda"
    np.testing.assert_array_equal(out.numpy(), ref_scatter(a, 1, INDEX, src))
    added = x.scatter_add(1, Tensor(np.array([[0, 0], [3, 3]]), device="cuda"), Tensor(src, device="cuda"))
    np.testing.assert_allclose(added.numpy(), ref_scatter(a, 1, np.array([[0, 0], [3, 3]]), src, True), rtol=1e-12)
    values, indices = x.topk(2)
    assert indices.device == "cuda" and values.device == "cuda"
    np.testing.assert_array_equal(x.gather(1, indices.numpy()).numpy(), values.numpy())
    x.scatter_(0, np.array([[1, 1, 1, 1]]), value=0.0)
    assert x.numpy()[1].tolist() == [0.0] * 4 and x.type() == "tinygrad_nb.cuda.DoubleTensor"
    assert x.type("tinygrad_nb.FloatTensor").device == "cpu"
