"""The Keras front end: layers compute what the same nn model computes (weights copied),
shapes are inferred, and compile/fit/evaluate/predict, callbacks, summary and saving behave
as Keras's."""
import csv

import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import data, nn
from tinygrad_nb.keras import backend, callbacks, losses, optimizers
from tinygrad_nb.keras.layers import (GRU, LSTM, Activation, Add, AveragePooling2D, BatchNormalization, Bidirectional,
                                      Concatenate, Conv1D, Conv2D, Conv2DTranspose, Dense, Dropout, Embedding,
                                      Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, Input, MaxPooling2D,
                                      Reshape, SimpleRNN, TimeDistributed, UpSampling2D)
from tinygrad_nb.keras.models import Model, Sequential, load_model


@pytest.fixture(autouse=True)
def fresh_names():
    backend.clear_session()
    tg.manual_seed(0)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def forward_and_grads(model, x, weights):
    """The output for x, and the gradients of sum(output * r) for the given parameters."""
    for w in weights:
        w.grad = None
    out = model(tg.Tensor(x))
    r = tg.Tensor(rand(*out.shape, seed=1))
    (out * r).sum().backward()
    return out.numpy(), [w.grad.numpy() for w in weights]


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def test_cnn_matches_nn_with_copied_weights():
    """Conv2D 'same' (symmetric, and strided where TensorFlow pads one more after), 'valid',
    pooling and Flatten in channels-last order, Dense: same outputs and gradients as nn."""
    model = Sequential([
        Conv2D(4, 3, padding="same", activation="relu", input_shape=(7, 7, 2)),
        Conv2D(3, 2, strides=2, padding="same"),   # 7 -> 4: pads (0, 1) on each axis
        Conv2D(3, 2, padding="valid"),              # 4 -> 3
        MaxPooling2D(padding="same"),               # 3 -> 2
        Flatten(),
        Dense(5, activation="tanh"),
    ])
    c1, c2, c3, _, _, d = model.layers
    ref1, ref2, ref3 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 3, 2, stride=2), nn.Conv2d(3, 3, 2)
    linear = nn.Linear(12, 5)
    for ref, layer in ((ref1, c1.conv), (ref2, c2.conv), (ref3, c3.conv), (linear, d.linear)):
        ref.load_state_dict(layer.state_dict())

    def reference(x):
        h = ref1(nchw(x)).relu()
        h = ref3(ref2(h.pad(((0, 1), (0, 1)))))
        h = nn.functional.max_pool2d(h.pad(((0, 1), (0, 1)), value=-np.inf), 2)
        return linear(nhwc(h).flatten(1)).tanh()

    x = rand(3, 7, 7, 2)
    out, grads = forward_and_grads(model, x, [c1.conv.weight, c2.conv.weight, c3.conv.bias, d.linear.weight])
    ref_out, ref_grads = forward_and_grads(reference, x, [ref1.weight, ref2.weight, ref3.bias, linear.weight])
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
    for g, ref_g in zip(grads, ref_grads):
        np.testing.assert_allclose(g, ref_g, rtol=1e-4, atol=1e-5)


def test_keras_initialisers():
    layer = Dense(300)
    layer.build((None, 200))
    w = layer.linear.weight.numpy()
    assert abs(w.max() - np.sqrt(6 / 500)) < 0.01 and np.all(layer.linear.bias.numpy() == 0)
    lstm = LSTM(4)
    lstm.build((None, 5, 3))
    bias = lstm.rnn.bias_ih_l0.numpy()
    np.testing.assert_array_equal(bias, [0] * 4 + [1] * 4 + [0] * 8)  # forget gate open
    hh = lstm.rnn.weight_hh_l0.numpy()
    np.testing.assert_allclose(hh.T @ hh, np.eye(4), atol=1e-5)  # orthogonal
    conv = Conv2D(64, 3, kernel_initializer="he_uniform", bias_initializer="ones")
    conv.build((None, 8, 8, 50))
    assert abs(conv.conv.weight.numpy().max() - np.sqrt(6 / (9 * 50))) < 0.01
    assert np.all(conv.conv.bias.numpy() == 1)
    with pytest.raises(ValueError, match="Unknown initializer: 'he'. Known ones: glorot_normal"):
        Dense(2, kernel_initializer="he").build((None, 3))


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_matches_nn(return_sequences):
    x = Input(shape=(5, 3))
    out, h, c = LSTM(4, return_sequences=return_sequences, return_state=True)(x)
    model = Model(x, [out, h, c])
    ref = nn.LSTM(3, 4, batch_first=True)
    ref.load_state_dict(model.layers[1].rnn.state_dict())
    data_in = rand(2, 5, 3)
    got = [t.numpy() for t in model(tg.Tensor(data_in))]
    seq, (h_n, c_n) = ref(tg.Tensor(data_in))
    expected = [seq.numpy() if return_sequences else seq.numpy()[:, -1], h_n.numpy()[0], c_n.numpy()[0]]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [t.shape for t in model.outputs] == [(None, 5, 4) if return_sequences else (None, 4), (None, 4), (None, 4)]


def test_bidirectional_and_gradients_match_nn():
    model = Sequential([Bidirectional(GRU(4), input_shape=(6, 3)), Dense(2)])
    bi, dense = model.layers
    ref = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    ref.load_state_dict(bi.rnn.state_dict())
    linear = nn.Linear(8, 2)
    linear.load_state_dict(dense.linear.state_dict())

    def reference(x):
        _, h_n = ref(x)
        return linear(tg.cat([h_n[0], h_n[1]], axis=1))

    x = rand(2, 6, 3)
    out, grads = forward_and_grads(model, x, [bi.rnn.weight_hh_l0_reverse, dense.linear.weight])
    ref_out, ref_grads = forward_and_grads(reference, x, [ref.weight_hh_l0_reverse, linear.weight])
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
    for g, ref_g in zip(grads, ref_grads):
        np.testing.assert_allclose(g, ref_g, rtol=1e-4, atol=1e-5)
    summed = Bidirectional(LSTM(4, return_sequences=True), merge_mode="sum")(Input(shape=(6, 3)))
    assert summed.shape == (None, 6, 4)


def test_functional_add_and_concatenate_match_nn():
    x = Input(shape=(3,))
    a, b = Dense(4, activation="relu")(x), Dense(4)(x)
    joined = Concatenate()([Add()([a, b]), x])
    out = Dense(2, activation="softmax")(joined)
    model = Model(inputs=x, outputs=out)
    assert joined.shape == (None, 7)
    la, lb, lo = model.get_layer("dense").linear, model.get_layer("dense_1").linear, model.get_layer("dense_2").linear

    def reference(t):
        return lo(tg.cat([la(t).relu() + lb(t), t], axis=1)).softmax(axis=-1)

    data_in = rand(5, 3)
    out_k, grads = forward_and_grads(model, data_in, [la.weight, lb.bias])
    out_r, ref_grads = forward_and_grads(reference, data_in, [la.weight, lb.bias])
    np.testing.assert_allclose(out_k, out_r, rtol=1e-6)
    for g, ref_g in zip(grads, ref_grads):
        np.testing.assert_allclose(g, ref_g, rtol=1e-5, atol=1e-7)


def test_shapes_are_inferred():
    def shape(layer, input_shape, dtype="float32"):
        return layer(Input(shape=input_shape, dtype=dtype)).shape

    assert shape(Conv1D(5, 3, padding="causal"), (None, 4)) == (None, None, 5)
    assert shape(Conv2D(8, 3, strides=2, padding="same"), (9, 9, 3)) == (None, 5, 5, 8)
    assert shape(Conv2DTranspose(2, 3, strides=2, padding="same"), (4, 5, 3)) == (None, 8, 10, 2)
    assert shape(Conv2DTranspose(2, 3, strides=2), (4, 5, 3)) == (None, 9, 11, 2)
    assert shape(AveragePooling2D(2, padding="same"), (5, 5, 3)) == (None, 3, 3, 3)
    assert shape(GlobalAveragePooling2D(), (5, 5, 3)) == (None, 3)
    assert shape(UpSampling2D((2, 3)), (2, 2, 1)) == (None, 4, 6, 1)
    assert shape(BatchNormalization(), (4, 4, 6)) == (None, 4, 4, 6)
    assert shape(Reshape((2, -1)), (6,)) == (None, 2, 3)
    assert shape(Embedding(10, 4), (7,), "int64") == (None, 7, 4)
    assert shape(SimpleRNN(3, return_sequences=True), (None, 2)) == (None, None, 3)
    assert shape(TimeDistributed(Dense(3)), (5, 2)) == (None, 5, 3)
    assert Dense(3).compute_output_shape((None, 4, 5)) == (None, 4, 3)
    lazy = Sequential([Dense(4), Dense(1)])
    assert not lazy.built
    assert lazy(tg.Tensor(rand(2, 6))).shape == (2, 1) and lazy.built
    assert lazy.layers[0].linear.weight.shape == (4, 6)
    assert lazy.layers[0].count_params() == 28 and lazy.count_params() == 33


def test_average_pooling_same_ignores_padding():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    out = AveragePooling2D(2, padding="same")(tg.Tensor(x)).numpy()[0, :, :, 0]
    np.testing.assert_allclose(out, [[2, 3.5], [6.5, 8]])


SUMMARY = """Model: "sequential"
_____________________________________________________________________________
Layer (type)                             Output Shape              Param #
=============================================================================
conv2d (Conv2D)                          (None, 6, 6, 8)           80
_____________________________________________________________________________
max_pooling2d (MaxPooling2D)             (None, 3, 3, 8)           0
_____________________________________________________________________________
batch_normalization (BatchNormalization) (None, 3, 3, 8)           32
_____________________________________________________________________________
flatten (Flatten)                        (None, 72)                0
_____________________________________________________________________________
dropout (Dropout)                        (None, 72)                0
_____________________________________________________________________________
dense (Dense)                            (None, 10)                730
=============================================================================
Total params: 842
Trainable params: 826
Non-trainable params: 16
_____________________________________________________________________________"""


def test_summary_table(capsys):
    model = Sequential([Conv2D(8, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(),
                        BatchNormalization(), Flatten(), Dropout(0.5), Dense(10, activation="softmax")])
    model.summary()
    assert capsys.readouterr().out == SUMMARY + "\n"  # BatchNormalization's moving mean and variance: non-trainable
    x = Input(shape=(3,))
    functional = Model(x, Add()([Dense(2)(x), Dense(2)(x)]))
    lines = []
    functional.summary(print_fn=lines.append)
    assert "Connected to" in lines[0] and "input_2 (InputLayer)         [(None, 3)]" in lines[0]
    assert "add (Add)                    (None, 2)                 0         dense_1[0][0], dense_2[0][0]" in lines[0]


def blobs(n=120, seed=0):
    """Three well separated clusters in 4-D: (x, labels)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.eye(3, 4, dtype=np.float32) * 4
    return (centres[labels] + rng.standard_normal((n, 4)).astype(np.float32)), labels


def classifier():
    model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_fit_evaluate_predict(capsys):
    x, y = blobs()
    model = classifier()
    history = model.fit(x, y, epochs=5, batch_size=16, validation_split=0.25)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1, 2, 3, 4] and history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    printed = capsys.readouterr().out
    assert "Epoch 5/5" in printed and "6/6 [==============================]" in printed
    assert " - loss: " in printed and " - val_accuracy: " in printed
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.9 and loss == pytest.approx(model.evaluate(x, y, verbose=0, return_dict=True)["loss"])
    probs = model.predict(x[:7], verbose=0)
    assert isinstance(probs, np.ndarray) and probs.shape == (7, 3)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    model.fit(x, y, epochs=1, verbose=2)
    assert "4/4 - " in capsys.readouterr().out


def test_one_hot_binary_and_regression_losses():
    x, y = blobs()
    one_hot = np.eye(3, dtype=np.float32)[y]
    model = classifier()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, one_hot, epochs=3, verbose=0)
    assert model.evaluate(x, one_hot, verbose=0)[1] > 0.8
    binary = Sequential([Dense(1, activation="sigmoid", input_shape=(4,))])
    binary.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy", metrics=["accuracy", "mae"])
    history = binary.fit(x, (y == 0).astype(np.float32), epochs=3, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "mae"} and history.history["accuracy"][-1] > 0.9
    regression = Sequential([Dense(1, input_shape=(4,))])
    regression.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    assert isinstance(regression.fit(x, x.sum(1), epochs=2, verbose=0).history["mae"][0], float)


def test_probability_losses_stay_finite_on_saturated_outputs():
    """A softmax output trained with a probability-space loss is given its logits (exact);
    a probability that is exactly 0 is clipped, as Keras clips it."""
    model = Sequential([Dense(2, activation="softmax", input_shape=(1,))])
    model.layers[0].linear.weight.array[:] = [[100.0], [-100.0]]
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = model.evaluate(np.ones((4, 1), np.float32), np.ones(4, np.int64), verbose=0)
    assert loss == pytest.approx(200.0, rel=1e-4)  # from the logits: no log(0)
    p = tg.Tensor(np.array([[1.0, 0.0]], np.float32))
    clipped = losses.SparseCategoricalCrossentropy()(tg.Tensor(np.array([1])), p).item()
    assert clipped == pytest.approx(-np.log(1e-7), rel=1e-3)
    logits = tg.Tensor(rand(4, 3))
    labels = tg.Tensor(np.array([0, 2, 1, 1]))
    exact = losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits).item()
    assert exact == pytest.approx(losses.SparseCategoricalCrossentropy()(labels, logits.softmax(axis=-1)).item(),
                                  rel=1e-5)


def test_callbacks(tmp_path):
    x, y = blobs()
    model = classifier()
    stop = callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stop])
    assert len(history.epoch) == 2 and stop.stopped_epoch == 1

    model = classifier()
    path = tmp_path / "best.keras"
    checkpoint = callbacks.ModelCheckpoint(str(path), monitor="val_accuracy", save_best_only=True)
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    log = tmp_path / "log.csv"
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
              callbacks=[checkpoint, plateau, callbacks.CSVLogger(str(log))])
    assert path.exists() and load_model(str(path)).predict(x, verbose=0).shape == (120, 3)
    assert model.optimizer.learning_rate == pytest.approx(0.05 * 0.5 ** 2)  # no improvement at epochs 2 and 3
    assert model.optimizer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.5 ** 2)
    rows = list(csv.reader(open(log)))
    assert rows[0][0] == "epoch" and "val_accuracy" in rows[0] and len(rows) == 4

    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[schedule])
    assert model.optimizer.learning_rate == pytest.approx(0.05)


def test_save_and_load_round_trip(tmp_path):
    inputs = Input(shape=(5, 2))
    h = LSTM(3, return_sequences=True)(inputs)
    h = Conv1D(4, 2, padding="same", activation="relu")(h)
    merged = Concatenate()([GlobalAveragePooling1D()(h), LSTM(2)(inputs)])
    model = Model(inputs, Dense(2, activation="softmax")(merged))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rand(6, 5, 2)
    model.fit(x, np.arange(6) % 2, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    assert restored.loss.name == "sparse_categorical_crossentropy" and restored.compiled_metrics[0][0] == "accuracy"

    seq, other = classifier(), classifier()
    points, _ = blobs()
    seq.save_weights(tmp_path / "w.weights.h5")
    other.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(other.predict(points, verbose=0), seq.predict(points, verbose=0))
    seq.save(tmp_path / "seq.keras")
    again = load_model(tmp_path / "seq.keras")
    np.testing.assert_array_equal(again.predict(points, verbose=0), seq.predict(points, verbose=0))


def test_trains_with_tinygrad_fit_and_dataloaders():
    x, y = blobs()
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3)])
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=20, shuffle=True, seed=0)
    history = tg.fit(model, loader, nn.CrossEntropyLoss(), tg.optim.Adam(model.parameters(), lr=0.05), epochs=3,
                     progress=False)
    assert history["accuracy"][-1] > 0.8
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["acc"])
    assert set(model.fit(loader, epochs=1, verbose=0, validation_data=loader).history) == {"loss", "acc", "val_loss",
                                                                                           "val_acc"}
    assert "layers.dense.linear.weight" in model.state_dict()


def test_trainable_false_and_embedding():
    model = Sequential([Embedding(10, 4, input_length=3), Flatten(), Dense(1)])
    model.layers[0].trainable = False
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 13\nNon-trainable params: 40" in lines[0]
    model.compile("sgd", "mse")
    before = model.layers[0].embedding.weight.numpy().copy()
    model.fit(np.array([[1, 2, 3]] * 4), np.ones(4, np.float32), verbose=0)
    np.testing.assert_array_equal(model.layers[0].embedding.weight.numpy(), before)


def test_activation_layer_and_dropout_in_eval():
    model = Sequential([Dense(3, input_shape=(2,)), Dropout(0.5), Activation("softmax")])
    out = model.predict(rand(4, 2), verbose=0)
    np.testing.assert_allclose(out.sum(1), 1, rtol=1e-5)


def test_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match=r'Input 0 of layer "dense" is incompatible with the layer: expected ndim=2 '
                                         r"or ndim=3, found ndim=4. Full shape received: \(None, 6, 6, 4\)"):
        Sequential([Conv2D(4, 3, input_shape=(8, 8, 1)), Dense(10)])
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match=r'Input 0 of layer "sequential_1" is incompatible with the layer: '
                                         r"expected shape=\(None, 3\), found shape=\(2, 5\)"):
        model(tg.Tensor(rand(2, 5)))
    with pytest.raises(RuntimeError, match="must compile your model before training"):
        model.fit(rand(4, 3), np.zeros(4))
    with pytest.raises(ValueError, match="Unknown loss function: 'crossentropy'. Known ones: binary_crossentropy"):
        model.compile(optimizer="adam", loss="crossentropy")
    with pytest.raises(ValueError, match="Unknown optimizer: 'adum'. Known ones: adam, adamw, rmsprop, sgd"):
        model.compile(optimizer="adum", loss="mse")
    with pytest.raises(ValueError, match="Unknown metric function: 'acuracy'"):
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    with pytest.raises(ValueError, match="Unknown activation function: 'rleu'"):
        Dense(3, activation="rleu")
    with pytest.raises(ValueError, match=r'Layer "concatenate" .*agree except on that axis'):
        Concatenate()([Input(shape=(2, 3)), Input(shape=(4, 3))])
    with pytest.raises(ValueError, match="Graph disconnected"):
        a, b = Input(shape=(2,)), Input(shape=(2,))
        Model(a, Add()([a, b]))
    two = Model(a, [Dense(1)(a), Dense(1)(a)])
    two.compile("sgd", "mse")
    with pytest.raises(ValueError, match='model "model_1" has 2 outputs'):
        two.fit(rand(4, 2), np.zeros(4))
    assert [p.shape for p in two.predict(rand(4, 2), verbose=0)] == [(4, 1), (4, 1)]
    with pytest.raises(ValueError, match="has not yet been built"):
        Sequential([Dense(2)]).summary()
