"""Keras's optimisers, with Keras's argument names and defaults, over tinygrad_nb.optim.

A Keras optimiser is made before the model has weights (a Sequential without an input
shape builds on its first batch), so it keeps its settings and makes the optim optimiser
when training starts. Its learning_rate can be read and set at any time (callbacks do)."""
from .. import optim


class Optimizer:
    def __init__(self, learning_rate, **settings):
        self._learning_rate, self.settings = float(learning_rate), settings
        self.optimizer = None  # the optim.Optimizer, once build() has the parameters

    def build(self, params):
        self.optimizer = self.make(list(params), self._learning_rate)
        return self.optimizer

    def make(self, params, lr):
        raise NotImplementedError(f"{type(self).__name__} must define make()")

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = float(value)
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self._learning_rate

    lr = learning_rate  # Keras 2's older name

    def get_config(self):
        return {"learning_rate": self._learning_rate, **self.settings}


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate, momentum=momentum, nesterov=nesterov)

    def make(self, params, lr):
        return optim.SGD(params, lr=lr, **self.settings)


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad)

    def make(self, params, lr):
        s = self.settings
        return optim.Adam(params, lr=lr, betas=(s["beta_1"], s["beta_2"]), eps=s["epsilon"], amsgrad=s["amsgrad"])


class AdamW(Optimizer):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        super().__init__(learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad)

    def make(self, params, lr):
        s = self.settings
        return optim.AdamW(params, lr=lr, betas=(s["beta_1"], s["beta_2"]), eps=s["epsilon"],
                           weight_decay=s["weight_decay"], amsgrad=s["amsgrad"])


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
        super().__init__(learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, centered=centered)

    def make(self, params, lr):
        s = self.settings
        return optim.RMSprop(params, lr=lr, alpha=s["rho"], eps=s["epsilon"], momentum=s["momentum"],
                             centered=s["centered"])


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(identifier):
    """A Keras optimiser from a name ('adam', 'sgd', 'rmsprop', 'adamw') or an optimiser."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer: {identifier!r}. Known ones: {', '.join(sorted(OPTIMIZERS))}")
        return OPTIMIZERS[key]()
    raise TypeError(f"compile: optimizer must be a name or a keras.optimizers.Optimizer, got "
                    f"{type(identifier).__name__}")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    return classes[config["class_name"]](**config["config"])
