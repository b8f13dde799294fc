"""compile, fit, evaluate and predict: Keras's training methods, shared by Sequential and
the functional Model. Data comes as NumPy arrays (batched by our DataLoader) or as a
DataLoader of (inputs, targets); the step is the usual forward, loss, backward, optimiser
step, on tinygrad_nb's losses and optimisers."""
import sys
import time

import numpy as np

from .. import data
from ..function import no_grad
from ..progress import TextBar
from ..serialization import load, save
from ..tensor import Tensor
from ..training import _captured
from . import activations, callbacks as callbacks_module, losses, metrics as metrics_module, optimizers


class KerasBar(TextBar):
    """Keras's progress line on stdout, rewritten in place while the epoch runs:
        23/45 [==============>...............] - ETA: 0s - loss: 0.4321 - accuracy: 0.8765
    and left, when closed, as
        45/45 [==============================] - 1s 20ms/step - loss: 0.1234 - accuracy: 0.9650
    With final_only (verbose=2) only the last line is shown, in Keras's short form."""

    width = 30

    def __init__(self, total, final_only=False):
        self.final_only = final_only
        super().__init__(total, "", file=sys.stdout)

    def _show(self, end=""):
        if self.final_only and not end:
            return
        self.shown_at = time.perf_counter()
        elapsed = self.shown_at - self.start
        metrics = "".join(f" - {k}: {v}" for k, v in self.postfix.items())
        count = f"{self.n}/{self.total}"
        if end:
            per_step = elapsed / max(self.n, 1)
            step = f"{per_step:.0f}s/step" if per_step >= 1 else f"{per_step * 1e3:.0f}ms/step" if per_step >= 1e-3 \
                else f"{per_step * 1e6:.0f}us/step"
            line = (f"{count} - {elapsed:.0f}s - {step}{metrics}" if self.final_only
                    else f"{count} [{'=' * self.width}] - {elapsed:.0f}s {step}{metrics}")
        else:
            done = self.width * self.n // max(self.total, 1)
            bar = "=" * max(done - 1, 0) + (">" if done else "") + "." * (self.width - done)
            eta = elapsed / self.n * (self.total - self.n) if self.n else 0.0
            line = f"{count} [{bar}] - ETA: {eta:.0f}s{metrics}"
        self.file.write("\r" + line.ljust(self.shown_length) + end)
        self.file.flush()
        self.shown_length = len(line)


def _float32(array):
    """Keras feeds floating data as float32; integers (labels, token ids) stay integers."""
    array = np.asarray(array)
    return array.astype(np.float32) if array.dtype.kind == "f" and array.dtype != np.float32 else array


def _format(logs):
    return {k: f"{v:.4f}" for k, v in logs.items()}


class Training:
    """The Keras training API of a model (mixed into Model). The model is an nn.Module whose
    forward takes `logits=True` to leave out its output layer's activation."""

    optimizer = loss = None
    compiled_metrics = ()
    stop_training = False

    # ---- compile -------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """optimizer: a name ('adam', 'sgd', 'rmsprop', 'adamw') or keras.optimizers object;
        loss: a name, a keras.losses object or f(y_true, y_pred); metrics: names such as
        'accuracy', 'mae', 'mse' or functions of NumPy arrays."""
        self.optimizer = optimizers.get(optimizer)
        self.__dict__.pop("_graphs", None)  # steps captured for the previous optimizer
        self.loss = None if loss is None else losses.get(loss)
        self.compiled_metrics = [metrics_module.get(m) for m in metrics or []]

    def _require_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"{what}: you must compile your model before training/testing. Use "
                               f"`model.compile(optimizer, loss)`.")
        if self.outputs is not None and len(self.outputs) > 1:
            raise ValueError(f'{what}: model "{self.name}" has {len(self.outputs)} outputs; compile\'s loss trains '
                             f"models of one output (predict takes any)")

    # ---- one batch -------------------------------------------------------------------------
    def _fused_activation(self):
        """The output activation that the loss can take the logits of instead, if any."""
        loss, layer = self.loss, self.output_layer
        activation = getattr(layer, "activation", None)
        if loss.from_logits or loss.logits_of is None or activation is not activations.ACTIVATIONS[loss.logits_of]:
            return None
        return activation

    def _loss_and_output(self, inputs, target, channels_first):
        fused = self._fused_activation()
        if fused is None:
            output = self(inputs, channels_first=channels_first)
            return self.loss(target, output), output
        logits = self(inputs, logits=True, channels_first=channels_first)
        return self.loss.compute_from_logits(target, logits), _Logits(logits, fused)

    def _train_step(self, inputs, target, channels_first):
        loss, output = self._loss_and_output(inputs, target, channels_first)
        if self.optimizer.optimizer is None:  # the first batch has built every layer by now
            self.optimizer.build(self.parameters())
        step = self.optimizer.optimizer
        step.zero_grad()
        loss.backward()
        step.step()
        return loss, output

    def _graphed_step(self, inputs, target, channels_first, device):
        """The training step, on 'cuda' captured once per batch shape as a CUDA graph and then
        replayed (as tg.fit does; the first batch of a shape runs eagerly and warms it up)."""
        def step(x, t):
            return self._train_step(x, t, channels_first)

        if device != "cuda" or not isinstance(inputs, Tensor):
            return step(inputs, target)
        graphs = self.__dict__.setdefault("_graphs", {})
        shapes = (channels_first, inputs.shape, target.shape)
        if graphs.get(shapes) is not None:
            return graphs[shapes](inputs, target)
        result = step(inputs, target)
        if shapes not in graphs:
            graphs[shapes] = _captured(step, inputs, target)
        return result

    # ---- data ------------------------------------------------------------------------------
    def _loader(self, x, y, batch_size, shuffle=False, what="fit"):
        """(A DataLoader of (inputs..., targets) batches, from arrays or as given; whether
        its inputs are channels first). Arrays for a model whose first layers work channels
        first are permuted to that once, here, rather than at every batch."""
        if isinstance(x, data.DataLoader):
            if y is not None:
                raise ValueError(f"{what}: y must be None when x is a DataLoader (it yields the targets)")
            return x, False
        xs = [_float32(a) for a in (x if isinstance(x, (list, tuple)) else [x])]
        first = self.takes_channels_first_inputs([a.shape for a in xs])
        if first:
            xs = [np.ascontiguousarray(np.moveaxis(a, -1, 1)) for a in xs]
        arrays = xs if y is None else xs + [_float32(y)]
        return data.DataLoader(data.TensorDataset(*arrays), batch_size=batch_size or 32, shuffle=shuffle), first

    def _split(self, batch, device, has_targets=True):
        """(model input, target) of a batch, on the model's device."""
        tensors = [t.to(device) for t in batch]
        inputs, target = (tensors[:-1], tensors[-1]) if has_targets else (tensors, None)
        return (inputs[0] if len(inputs) == 1 else inputs), target

    def _device(self):
        return next((p.device for p in self.parameters()), "cpu")

    # ---- fit ------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0):
        """Train on arrays x, y (or a DataLoader x) for `epochs` passes; returns the History."""
        self._require_compiled("fit")
        if validation_split and validation_data is None:
            if isinstance(x, data.DataLoader):
                raise ValueError("fit: validation_split needs arrays; give a DataLoader validation_data instead")
            xs = x if isinstance(x, (list, tuple)) else [x]
            cut = int(len(xs[0]) * (1.0 - validation_split))  # Keras keeps the last samples, before shuffling
            validation_data = ([a[cut:] for a in xs] if len(xs) > 1 else xs[0][cut:], y[cut:])
            x, y = ([a[:cut] for a in xs] if len(xs) > 1 else xs[0][:cut]), y[:cut]
        loader = self._loader(x, y, batch_size, shuffle)
        val_loader = None
        if validation_data is not None:
            val_loader = (validation_data, False) if isinstance(validation_data, data.DataLoader) \
                else self._loader(*validation_data[:2], batch_size, what="fit (validation_data)")
        history = callbacks_module.History()
        hooks = [history] + list(callbacks or [])
        for hook in hooks:
            hook.set_model(self)
            hook.set_params({"epochs": epochs, "steps": len(loader[0]), "verbose": verbose})
        self.history, self.stop_training = history, False
        for hook in hooks:
            hook.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for hook in hooks:
                hook.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = KerasBar(len(loader[0]), final_only=verbose == 2) if verbose else None
            logs = self._train_epoch(loader, hooks, bar)
            if val_loader is not None:
                logs.update({f"val_{k}": v for k, v in self._test(val_loader).items()})
            if bar is not None:
                bar.set_postfix(_format(logs), refresh=False)
                bar.close()
            for hook in hooks:
                hook.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for hook in hooks:
            hook.on_train_end()
        return history

    def _train_epoch(self, batches, hooks, bar):
        self.train()
        loader, channels_first = batches
        device = self._device()
        totals = _Totals(self.compiled_metrics)
        for index, batch in enumerate(loader):
            for hook in hooks:
                hook.on_train_batch_begin(index)
            inputs, target = self._split(batch, device)
            loss, output = self._graphed_step(inputs, target, channels_first, device)
            value = totals.add(loss, output, target)
            if bar is not None:
                bar.set_postfix(_format(totals.logs()), refresh=False)
                bar.update()
            for hook in hooks:
                hook.on_train_batch_end(index, {"loss": value})
        return totals.logs()

    def _test(self, batches, bar=None):
        """Mean loss and metrics over a _loader, in eval mode, recording no graph."""
        loader, channels_first = batches
        was_training = self.training
        self.eval()
        totals = _Totals(self.compiled_metrics)
        device = self._device()
        try:
            with no_grad():
                for batch in loader:
                    inputs, target = self._split(batch, device)
                    loss, output = self._loss_and_output(inputs, target, channels_first)
                    totals.add(loss, output, target)
                    if bar is not None:
                        bar.update()
        finally:
            self.train(was_training)
        return totals.logs()

    # ---- evaluate and predict ----------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, return_dict=False):
        """The loss on x, y, or [loss, metric...] when compiled with metrics (a dict with
        return_dict)."""
        self._require_compiled("evaluate")
        loader, channels_first = self._loader(x, y, batch_size, what="evaluate")
        bar = KerasBar(len(loader), final_only=verbose == 2) if verbose else None
        logs = self._test((loader, channels_first), bar)
        if bar is not None:
            bar.set_postfix(_format(logs), refresh=False)
            bar.close()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=1):
        """The model's outputs for x as NumPy arrays (a list of them for several outputs)."""
        inputs_count = len(getattr(self, "inputs", None) or [None])
        loader, channels_first = self._loader(x, None, batch_size, what="predict")
        was_training = self.training
        self.eval()
        bar = KerasBar(len(loader), final_only=verbose == 2) if verbose else None
        results, device = [], self._device()
        try:
            with no_grad():
                for batch in loader:
                    has_targets = len(batch) > inputs_count
                    inputs, _ = self._split(batch, device, has_targets)
                    outputs = self(inputs, channels_first=channels_first)
                    results.append([o.numpy() for o in (outputs if isinstance(outputs, list) else [outputs])])
                    if bar is not None:
                        bar.update()
        finally:
            self.train(was_training)
        if bar is not None:
            bar.close()
        joined = [np.concatenate(parts) for parts in zip(*results)]
        return joined[0] if len(joined) == 1 else joined

    # ---- weights ----------------------------------------------------------------------------
    def save_weights(self, filepath):
        """Each layer's weights, in order, in tinygrad_nb's file format (which never runs code)."""
        save([layer.state_dict() for layer in self.layers], filepath)

    def load_weights(self, filepath):
        """Weights that save_weights wrote, matched to the layers by position (as Keras
        matches them), so that another instance of the same architecture can read them."""
        states = load(filepath, device=self._device())
        layers = list(self.layers)
        if len(states) != len(layers):
            raise ValueError(f"load_weights: {filepath} holds the weights of {len(states)} layers, but the model has "
                             f"{len(layers)} (build the model first if it builds lazily)")
        for layer, state in zip(layers, states):
            try:
                layer.load_state_dict(state)
            except (KeyError, ValueError) as error:
                raise ValueError(f'load_weights: layer "{layer.name}" cannot take the weights saved for it: '
                                 f"{error}") from None


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class _Logits:
    """The output of a model whose activation the loss took over: its logits, turned into
    the model's output on the host when a metric asks (on a batch's few scores, cheaper
    than one more op on the device)."""

    host_activations = {"softmax": _softmax, "sigmoid": _sigmoid}

    def __init__(self, logits, activation):
        self.logits, self.activation = logits, self.host_activations[activation.__name__]

    def numpy(self):
        return self.activation(self.logits.numpy())


class _Totals:
    """An epoch's running sums: the loss weighted by batch size, and each metric's (sum, count)."""

    def __init__(self, metrics):
        self.metrics, self.loss, self.count = metrics, 0.0, 0
        self.sums = [[0.0, 0] for _ in metrics]

    def add(self, loss, output, target):
        """Count a batch in; returns its loss as a number."""
        n, value = len(target), loss.item()
        self.loss, self.count = self.loss + value * n, self.count + n
        if self.metrics:
            y_true, y_pred = target.numpy(), output.numpy()
            for sums, (_, metric) in zip(self.sums, self.metrics):
                total, count = metric(y_true, y_pred)
                sums[0] += float(total)
                sums[1] += count
        return value

    def logs(self):
        logs = {"loss": self.loss / max(self.count, 1)}
        logs.update({name: total / max(count, 1) for (name, _), (total, count) in zip(self.metrics, self.sums)})
        return logs
