"""Model (the functional API), Sequential, and load_model.

    x = Input(shape=(T, F)); h = LSTM(32)(x); out = Dense(2, activation='softmax')(h)
    model = Model(inputs=x, outputs=out)

Both are nn.Modules: their layers (and so their weights) hang under `layers.<layer name>`,
so they also train with tinygrad_nb.fit or a PyTorch-style loop, and move with .to('cuda').
"""
import json

from .. import nn
from ..serialization import load, save
from .backend import unique_name
from .layers import Input, InputLayer, KerasTensor, Layer, deserialize, serialize
from .layers import base
from .layers.base import _as_list, shape_text
from .training import Training
from . import losses, optimizers
from .metrics import METRICS


class LayerList(nn.Module):
    """A model's layers in order, each under its own name (so a state_dict key reads
    'layers.dense.linear.weight'); iterating and indexing give the layers, as Keras's
    model.layers does."""

    def append(self, layer):
        if layer.name in vars(self) or hasattr(type(self), layer.name):
            raise ValueError(f'The name "{layer.name}" is used 2 times in the model: all layer names should be '
                             f"unique (and not a Module attribute)")
        setattr(self, layer.name, layer)

    def __iter__(self):
        return self.children()

    def __len__(self):
        return sum(1 for _ in self.children())

    def __getitem__(self, index):
        return list(self.children())[index]


def _topological(outputs):
    """The nodes that compute `outputs`, each after the nodes it reads (depth first)."""
    order, seen = [], set()
    stack = [(t.node, False) for t in reversed(outputs)]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((t.node, False) for t in reversed(node.inputs) if id(t.node) not in seen)
    return order


class Model(Training, nn.Module):
    """A model from its Input(s) and the KerasTensor(s) computed from them."""

    def __init__(self, inputs, outputs, name=None):
        nn.Module.__init__(self)
        self.name = name or unique_name("model")
        self.layers = LayerList()
        self._connect(_as_list(inputs), _as_list(outputs))

    def _connect(self, inputs, outputs):
        for t in inputs + outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f'Model "{self.name}": inputs and outputs must be KerasTensors (from Input and from '
                                f"calling layers on them), got {type(t).__name__}")
        nodes = _topological(outputs)
        given = {id(t.node) for t in inputs}
        for node in nodes:
            if isinstance(node.layer, InputLayer) and id(node) not in given:
                raise ValueError(f'Graph disconnected: cannot obtain value for tensor of "{node.layer.name}", which '
                                 f'is not among the inputs of model "{self.name}"')
        self.inputs, self.outputs, self._nodes = inputs, outputs, nodes
        for node in nodes:
            if node.layer not in list(self.layers):
                self.layers.append(node.layer)

    @property
    def built(self):
        return self.outputs is not None

    def takes_channels_first_inputs(self, shapes):
        """Whether inputs of these shapes may come channels first: all have 3 or more axes and
        feed only layers that take channels first."""
        if not self.built or len(shapes) != len(self.inputs) or any(len(s) < 3 for s in shapes):
            return False
        readers = [n.layer for n in self._nodes if any(t in self.inputs for t in n.inputs)]
        return bool(readers) and all(layer.takes_channels_first() for layer in readers)

    @property
    def output_layer(self):
        """The layer whose activation ends the model (None for several outputs)."""
        return self.outputs[0].node.layer if self.built and len(self.outputs) == 1 else None

    def get_layer(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f'No such layer: "{name}". Existing layers are: {[layer.name for layer in self.layers]}')

    def forward(self, inputs, logits=False, channels_first=False):
        """inputs: a Tensor, or a list of them for several Inputs; with `logits` the output
        layer leaves out its activation; `channels_first` says the inputs come channels
        first (fit does that where takes_channels_first_inputs allows it).

        Each value is kept with its layout: a layer that works channels first (see
        Layer.takes_channels_first) gets and leaves its tensors channels first, so that only
        a change of layout between two layers costs a permute."""
        given = _as_list(inputs)
        if len(given) != len(self.inputs):
            raise ValueError(f'Model "{self.name}" expects {len(self.inputs)} input(s), but it received '
                             f"{len(given)} input tensors")
        values = {}  # id(KerasTensor) -> (Tensor, whether it is channels first)
        for i, (kt, x) in enumerate(zip(self.inputs, given)):
            shape = x.shape[:1] + x.shape[2:] + x.shape[1:2] if channels_first else x.shape
            if len(shape) != kt.ndim or any(d not in (None, n) for d, n in zip(kt.shape[1:], shape[1:])):
                raise ValueError(f'Input {i} of layer "{self.name}" is incompatible with the layer: expected '
                                 f"shape={shape_text(kt.shape)}, found shape={shape_text(shape)}")
            values[id(kt)] = (x, channels_first)

        def read(kt, first):
            x, is_first = values[id(kt)]
            return x if is_first == first else base.channels_first(x) if first else base.channels_last(x)

        last = self.outputs[0].node if logits else None
        for node in self._nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            single = len(node.inputs) == 1 and node.inputs[0].ndim >= 3
            if single and (layer.takes_channels_first() or layer.any_layout() and values[id(node.inputs[0])][1]):
                out = layer.forward_channels_first(read(node.inputs[0], True), logits=node is last)
                values[id(node.outputs[0])] = (out, out.ndim >= 3)
                continue
            args = [read(t, False) for t in node.inputs]
            out = layer(args if layer.multiple_inputs else args[0], logits=node is last)
            for kt, value in zip(node.outputs, _as_list(out)):
                values[id(kt)] = (value, False)
        results = [read(t, False) for t in self.outputs]
        return results[0] if len(results) == 1 else results

    # ---- summary ---------------------------------------------------------------------------
    def summary(self, print_fn=print):
        """Print Keras's table of the layers, their output shapes and weight counts."""
        if not self.built:
            raise ValueError(f'Model "{self.name}" has not yet been built. Build the model first by calling `build()` '
                             f"or by calling it on a batch of data (fit does).")
        chain = all(len(n.inputs) <= 1 for n in self._nodes) and len(self.inputs) == 1
        headers = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else ["Connected to"])
        rows, total, trainable = [], 0, 0
        for layer in self.layers:
            if isinstance(layer, InputLayer) and isinstance(self, Sequential):
                continue
            nodes = [n for n in self._nodes if n.layer is layer]
            shapes = [t.shape for t in nodes[0].outputs] if len(nodes) == 1 else None
            shape = ("multiple" if shapes is None else f"[{shape_text(shapes[0])}]" if isinstance(layer, InputLayer)
                     else shape_text(shapes[0]) if len(shapes) == 1 else "[" + ", ".join(map(shape_text, shapes)) + "]")
            count, train = layer._counts()
            total, trainable = total + count, trainable + train
            row = [f"{layer.name} ({type(layer).__name__})", shape, f"{count:,}"]
            if not chain:
                row.append(", ".join(f"{t.node.layer.name}[0][{t.index}]" for n in nodes for t in n.inputs))
            rows.append(row)
        widths = [29, 26, 10, 33][: len(headers)]
        widths = [max(w, *(len(r[i]) + 1 for r in rows)) for i, w in enumerate(widths)]
        line = lambda cells: "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
        width = sum(widths)
        text = [f'Model: "{self.name}"', "_" * width, line(headers), "=" * width]
        for i, row in enumerate(rows):
            text += [line(row), "=" * width if i == len(rows) - 1 else "_" * width]
        if not rows:
            text.append("=" * width)
        text += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {total - trainable:,}", "_" * width]
        print_fn("\n".join(text))

    def count_params(self):
        return sum(layer._counts()[0] for layer in self.layers)

    # ---- config and saving -------------------------------------------------------------------
    def get_config(self):
        """The graph: every layer's config, and every node as (layer, [(node, output)...])."""
        index = {id(n): i for i, n in enumerate(self._nodes)}
        where = lambda t: [index[id(t.node)], t.index]
        return {
            "name": self.name,
            "layers": [serialize(layer) for layer in self.layers],
            "nodes": [[n.layer.name, [where(t) for t in n.inputs]] for n in self._nodes],
            "inputs": [where(t) for t in self.inputs],
            "outputs": [where(t) for t in self.outputs],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        layers = {c["config"]["name"]: deserialize(c, custom_objects) for c in config["layers"]}
        made = []  # each node's output KerasTensors, in order
        for name, inputs in config["nodes"]:
            layer = layers[name]
            if isinstance(layer, InputLayer):
                made.append(layer.node.outputs)
                continue
            args = [made[n][i] for n, i in inputs]
            made.append(_as_list(layer(args if layer.multiple_inputs else args[0])))
        pick = lambda refs: [made[n][i] for n, i in refs]
        return cls(pick(config["inputs"]), pick(config["outputs"]), name=config["name"])

    def save(self, filepath):
        """The architecture (JSON of every layer's config), the weights and the compile
        settings, in tinygrad_nb's file format: loading never runs code."""
        if not self.built:
            raise ValueError(f'Model "{self.name}" has not yet been built, so it has no weights to save yet')
        keras = {"class_name": type(self).__name__, "config": self.get_config(), "compile": self._compile_config()}
        save({"keras": json.dumps(keras), "weights": self.state_dict()}, filepath)

    def _compile_config(self):
        """What compile was given, when all of it has a name (built-in losses and metrics)."""
        if self.loss is None or type(self.loss) not in losses.LOSSES.values():
            return None
        if not all(isinstance(name, str) and name in METRICS for name, _ in self.compiled_metrics):
            return None
        return {"optimizer": optimizers.serialize(self.optimizer),
                "loss": {"class_name": type(self.loss).__name__, "config": self.loss.get_config()},
                "metrics": [name for name, _ in self.compiled_metrics]}


class Sequential(Model):
    """A stack of layers, each feeding the next. Built (weights made, shapes known) as soon
    as the first layer knows its input shape (input_shape=..., or an Input added first),
    or else on the first batch it sees."""

    def __init__(self, layers=None, name=None):
        nn.Module.__init__(self)
        self.name = name or unique_name("sequential")
        self.layers = LayerList()
        self.inputs = self.outputs = None
        self._nodes = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor):  # model.add(Input(shape=...))
            self._start(layer)
            return
        if isinstance(layer, InputLayer):
            self._start(layer.node.outputs[0])
            return
        if not isinstance(layer, Layer):
            raise TypeError(f'Sequential "{self.name}": can only add Keras layers, got {type(layer).__name__}')
        self.layers.append(layer)
        if self.outputs is not None:
            self._extend(layer)
        elif self.inputs is not None or layer.batch_input_shape is not None:
            self._start(self.inputs[0] if self.inputs else Input(batch_shape=layer.batch_input_shape))

    def _start(self, input_tensor):
        """Connect every layer added so far, from this input."""
        self.inputs, self.outputs, self._nodes = [input_tensor], [input_tensor], [input_tensor.node]
        for layer in self.layers:
            self._extend(layer)

    def _extend(self, layer):
        out = layer(self.outputs[0])
        if isinstance(out, list):
            raise ValueError(f'Sequential "{self.name}": layer "{layer.name}" has {len(out)} outputs; a Sequential '
                             f"layer must have one (use the functional Model for return_state)")
        self.outputs = [out]
        self._nodes.append(out.node)

    def build(self, input_shape):
        """Build every layer for inputs of `input_shape` (batch axis first, None or a size)."""
        self._start(Input(batch_shape=tuple(input_shape)))

    @property
    def output_layer(self):
        return self.layers[-1] if len(self.layers) else None

    def forward(self, inputs, logits=False, channels_first=False):
        if not self.built:
            self.build((None,) + inputs.shape[1:])
            if inputs.device != "cpu":
                self.to(inputs.device)
        return super().forward(inputs, logits, channels_first)

    def get_config(self):
        return {"name": self.name, "layers": [serialize(layer) for layer in self.layers],
                "batch_input_shape": None if self.inputs is None else list(self.inputs[0].shape)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        model = cls(name=config["name"])
        if config["batch_input_shape"] is not None:
            model.add(Input(batch_shape=tuple(config["batch_input_shape"])))
        for layer_config in config["layers"]:
            model.add(deserialize(layer_config, custom_objects))
        return model


def load_model(filepath, custom_objects=None, compile=True):
    """The model that Model.save wrote: rebuilt from its config, with its weights, and
    compiled as it was (a fresh optimiser state) when compile is True."""
    state = load(filepath)
    if not isinstance(state, dict) or "keras" not in state:
        raise ValueError(f"load_model: {filepath} holds no Keras model (write one with model.save(path))")
    keras = json.loads(state["keras"])
    cls = {"Model": Model, "Sequential": Sequential}[keras["class_name"]]
    model = cls.from_config(keras["config"], custom_objects)
    model.load_state_dict(state["weights"])
    settings = keras.get("compile")
    if compile and settings:
        loss_classes = {c.__name__: c for c in losses.LOSSES.values()}
        loss = settings["loss"]
        model.compile(optimizer=optimizers.deserialize(settings["optimizer"]),
                      loss=loss_classes[loss["class_name"]](**loss["config"]), metrics=settings["metrics"])
    return model
