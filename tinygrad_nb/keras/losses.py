"""Keras's losses, called loss(y_true, y_pred) (Keras's order), each the mean over the batch,
computed with nn.functional's losses.

A crossentropy of probabilities is computed from the logits where it can be: a model whose
last layer ends in the softmax (sigmoid) that the loss undoes gives the loss its input
before that activation (`logits_of`), and the loss takes the exact, stable route
(log-softmax inside cross_entropy). Otherwise the probabilities are clipped to
[1e-7, 1 - 1e-7], as Keras clips them."""
from ..nn import functional as F
from .backend import snake_case

EPSILON = 1e-7


def _like(y_true, y_pred):
    """y_true in y_pred's dtype, reshaped to its shape when they hold as many values
    ((N,) labels for (N, 1) outputs)."""
    if y_true.dtype != y_pred.dtype:
        y_true = y_true.cast(y_pred.dtype)
    if y_true.shape != y_pred.shape and y_true.numel() == y_pred.numel():
        y_true = y_true.reshape(y_pred.shape)
    return y_true


class Loss:
    """Base class: a subclass defines `compute(y_true, y_pred)` on probabilities (or plain
    outputs) and, when it has a logits form, `logits_of` and `compute_from_logits`."""

    logits_of = None  # the output activation whose input this loss can take instead

    def __init__(self, from_logits=False, name=None):
        self.from_logits, self.name = from_logits, name or snake_case(type(self).__name__)

    def __call__(self, y_true, y_pred):
        if self.from_logits:
            return self.compute_from_logits(y_true, y_pred)
        return self.compute(y_true, y_pred)

    def get_config(self):
        return {"from_logits": self.from_logits, "name": self.name}


class SparseCategoricalCrossentropy(Loss):
    """Integer labels (N,) or (N, 1) (or (N, T) for a sequence of predictions) against
    class scores on the last axis."""

    logits_of = "softmax"

    def _flat(self, y_true, y_pred):
        """(N*, C) scores and (N*,) labels, reshaped only where they are not already."""
        if y_pred.ndim != 2:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
        if y_true.ndim != 1:
            y_true = y_true.reshape(-1)
        return y_pred, y_true.long()

    def compute(self, y_true, y_pred):
        probs, labels = self._flat(y_true, y_pred)
        return F.nll_loss(probs.clip(EPSILON, 1 - EPSILON).log(), labels)

    def compute_from_logits(self, y_true, logits):
        logits, labels = self._flat(y_true, logits)
        return F.cross_entropy(logits, labels)


class CategoricalCrossentropy(Loss):
    """One-hot (or soft) labels against class scores, both (..., C)."""

    logits_of = "softmax"

    def compute(self, y_true, y_pred):
        y_true = _like(y_true, y_pred)
        return -(y_true * y_pred.clip(EPSILON, 1 - EPSILON).log()).sum(axis=-1).mean()

    def compute_from_logits(self, y_true, logits):
        y_true = _like(y_true, logits)
        if logits.ndim != 2:
            classes = logits.shape[-1]
            logits, y_true = logits.reshape(-1, classes), y_true.reshape(-1, classes)
        return F.cross_entropy(logits, y_true)


class BinaryCrossentropy(Loss):
    """0/1 labels against probabilities (sigmoid outputs), elementwise."""

    logits_of = "sigmoid"

    def compute(self, y_true, y_pred):
        return F.binary_cross_entropy(y_pred.clip(EPSILON, 1 - EPSILON), _like(y_true, y_pred))

    def compute_from_logits(self, y_true, logits):
        return F.binary_cross_entropy_with_logits(logits, _like(y_true, logits))


class MeanSquaredError(Loss):
    def compute(self, y_true, y_pred):
        return F.mse_loss(y_pred, _like(y_true, y_pred))

    compute_from_logits = compute


class MeanAbsoluteError(Loss):
    def compute(self, y_true, y_pred):
        return F.l1_loss(y_pred, _like(y_true, y_pred))

    compute_from_logits = compute


class _Function(Loss):
    """A user's function f(y_true, y_pred) -> per-sample values or their mean."""

    def __init__(self, function):
        super().__init__(name=getattr(function, "__name__", "loss"))
        self.function = function

    def compute(self, y_true, y_pred):
        return self.function(y_true, y_pred).mean()


LOSSES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
}


def get(identifier):
    """A Loss from a name, a Loss, or a function f(y_true, y_pred)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier not in LOSSES:
            raise ValueError(f"Unknown loss function: {identifier!r}. Known ones: {', '.join(sorted(LOSSES))}")
        return LOSSES[identifier](name=identifier)
    if callable(identifier):
        return _Function(identifier)
    raise TypeError(f"compile: loss must be a name, a keras.losses.Loss or a function, got {type(identifier).__name__}")
