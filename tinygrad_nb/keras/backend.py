"""Layer names, as Keras gives them: the class name in snake_case, then _1, _2, ... for the
next layers of that kind, until clear_session() starts the count again."""
import collections
import re

_counts = collections.Counter()


def snake_case(name):
    """'MaxPooling2D' -> 'max_pooling2d', 'SimpleRNN' -> 'simple_rnn' (Keras's rule)."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix, zero_based=True):
    """'dense', 'dense_1', ... or, not zero_based (Keras's inputs), 'input_1', 'input_2', ..."""
    count = _counts[prefix] + (not zero_based)
    _counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session():
    """Forget the names given so far, so that the next Dense is 'dense' again."""
    _counts.clear()
