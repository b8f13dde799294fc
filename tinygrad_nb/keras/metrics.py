"""Keras's metrics by name, computed on the host from each batch's predictions. Each
gives (sum, count) for its batch, so that an epoch's value is the mean over its samples.

'accuracy' is chosen as Keras chooses it: binary when the model outputs one value per
sample, sparse categorical when the labels are class numbers (one axis fewer than the
outputs, or a last axis of 1), categorical (one-hot labels) otherwise."""
import numpy as np


def binary_accuracy(y_true, y_pred):
    hits = (y_pred > 0.5) == (y_true.reshape(y_pred.shape) > 0.5)
    return hits.sum(), hits.size


def sparse_categorical_accuracy(y_true, y_pred):
    hits = y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])
    return hits.sum(), hits.size


def categorical_accuracy(y_true, y_pred):
    hits = y_pred.argmax(-1) == y_true.argmax(-1)
    return hits.sum(), hits.size


def accuracy(y_true, y_pred):
    if y_pred.shape[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    errors = np.abs(y_pred - y_true.reshape(y_pred.shape))
    return errors.sum(), errors.size


def mean_squared_error(y_true, y_pred):
    errors = (y_pred - y_true.reshape(y_pred.shape)) ** 2
    return errors.sum(), errors.size


METRICS = {
    "accuracy": accuracy, "acc": accuracy,
    "binary_accuracy": binary_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
}


def get(identifier):
    """(name shown in the logs, function (y_true, y_pred) -> (sum, count)) for a metric
    name, or for a function of NumPy arrays f(y_true, y_pred) -> per-sample values."""
    if isinstance(identifier, str):
        if identifier not in METRICS:
            raise ValueError(f"Unknown metric function: {identifier!r}. Known ones: {', '.join(sorted(METRICS))}")
        return identifier, METRICS[identifier]
    if callable(identifier):
        def per_sample(y_true, y_pred):
            values = np.asarray(identifier(y_true, y_pred))
            return values.sum(), values.size

        return getattr(identifier, "__name__", "metric"), per_sample
    raise TypeError(f"compile: a metric must be a name or a function, got {type(identifier).__name__}")
