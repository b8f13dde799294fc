"""tinygrad_nb: a small, readable reverse-mode autodiff framework with Numba kernels.

    from tinygrad_nb import Tensor
    x = Tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()      # x.grad == 2 * x
"""
import numpy as np

from . import debug, viz
from .profiler import profile
from .function import enable_grad, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck
from .random import fork_rng, get_rng_state, manual_seed, set_rng_state
from .tensor import Tensor
from . import autograd, cpu, cuda, data, nn, optim
from .serialization import load, save
from .summary import summary
from .training import evaluate, fit

float16, float32, float64 = np.float16, np.float32, np.float64
half = float16
int32, int64, bool_ = np.int32, np.int64, np.bool_
long = int64

zeros, ones, full, randn, rand, randint = Tensor.zeros, Tensor.ones, Tensor.full, Tensor.randn, Tensor.rand, Tensor.randint
arange, eye, zeros_like, ones_like = Tensor.arange, Tensor.eye, Tensor.zeros_like, Tensor.ones_like
from_numpy = Tensor.from_numpy
cat, stack, where = Tensor.cat, Tensor.stack, Tensor.where


def tensor(data, requires_grad=False, device="cpu", dtype=None):
    """torch.tensor: a new tensor holding a copy of data. Its dtype follows PyTorch's: Python
    floats (and lists of them) become float32, Python ints int64 and bools bool (where
    Tensor(data) makes every Python number float32); NumPy arrays and tensors keep theirs."""
    if dtype is None and not isinstance(data, (Tensor, np.ndarray, np.generic)):
        dtype = {"i": np.int64, "u": np.int64, "b": np.bool_}.get(np.asarray(data).dtype.kind)
    return Tensor(data, requires_grad=requires_grad, device=device, dtype=dtype)


def _method(name, doc):
    """tg.<name>(input, ...): Tensor.<name> as a function, as torch.<name>; an array input
    (a NumPy array, or a tensor's raw `.array`) is read as a tensor."""

    def function(input, *args, **kwargs):
        return getattr(input if isinstance(input, Tensor) else Tensor(input), name)(*args, **kwargs)

    function.__name__, function.__qualname__, function.__doc__ = name, name, doc
    return function


max = _method("max", "torch.max: over everything, or over one dim the pair (values, indices).")
min = _method("min", "torch.min: over everything, or over one dim the pair (values, indices).")
argmax = _method("argmax", "torch.argmax: the index of the largest value (along dim).")
argmin = _method("argmin", "torch.argmin: the index of the smallest value (along dim).")
exp = _method("exp", "torch.exp: e ** input.")
log = _method("log", "torch.log: the natural logarithm.")
sin = _method("sin", "torch.sin.")
cos = _method("cos", "torch.cos.")
sum = _method("sum", "torch.sum: over everything, or over dim.")
mean = _method("mean", "torch.mean: over everything, or over dim.")
matmul = _method("matmul", "torch.matmul: input @ other, with np.matmul's rules.")
flatten = _method("flatten", "torch.flatten(input, start_dim=0, end_dim=-1).")
softmax = _method("softmax", "torch.softmax(input, dim).")
log_softmax = _method("log_softmax", "torch.log_softmax(input, dim).")
relu = _method("relu", "torch.relu: max(input, 0).")
sigmoid = _method("sigmoid", "torch.sigmoid: 1 / (1 + e ** -input).")
tanh = _method("tanh", "torch.tanh.")
prod = _method("prod", "torch.prod: the product over everything, or over dim.")
cumsum = _method("cumsum", "torch.cumsum(input, dim): running sums along dim.")
sort = _method("sort", "torch.sort(input, dim=-1, descending=False): the pair (values, indices).")
argsort = _method("argsort", "torch.argsort(input, dim=-1, descending=False): the positions that sort input.")
topk = _method("topk", "torch.topk(input, k, dim=-1, largest=True): the pair (values, indices).")
gather = _method("gather", "torch.gather(input, dim, index): input's entries at index along dim.")
scatter = _method("scatter", "torch.scatter(input, dim, index, src or value): a copy with src written at index.")
scatter_add = _method("scatter_add", "torch.scatter_add(input, dim, index, src): a copy with src added at index.")


__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck", "GradcheckError",
    "manual_seed", "get_rng_state", "set_rng_state", "fork_rng", "debug", "viz", "profile", "zeros", "ones", "full", "randn", "rand", "randint", "arange",
    "eye", "zeros_like", "ones_like", "cat", "stack", "where", "float16", "half", "float32", "float64", "int32",
    "int64",
    "autograd", "nn", "optim", "data", "cpu", "cuda", "save", "load", "summary", "fit", "evaluate",
    "from_numpy", "argmax", "argmin", "exp", "log", "mean", "matmul", "flatten", "softmax", "log_softmax", "relu",
    "sigmoid", "tanh", "sin", "cos", "device", "prod", "cumsum", "sort", "argsort", "topk", "gather", "scatter",
    "scatter_add",
]  # tg.max, tg.min and tg.sum exist too, but `import *` does not shadow Python's own
