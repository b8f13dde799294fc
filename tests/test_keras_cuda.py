"""A Keras model moved with .to('cuda') trains and predicts there as on the CPU (in Numba's
CUDA simulator where there is no GPU): the channels-first shortcut, the fused logits loss,
the optimiser built on the first batch and predict's copy back to NumPy all run on the device."""
import numpy as np
import pytest

import tinygrad_nb as tg
from tinygrad_nb import cuda as tg_cuda
from tinygrad_nb.keras import backend
from tinygrad_nb.keras.layers import LSTM, Conv2D, Dense, Flatten, Input, MaxPooling2D, Reshape
from tinygrad_nb.keras.models import Model

if not tg_cuda.is_available():
    pytest.skip("no CUDA GPU and the simulator is off", allow_module_level=True)


def small_model():
    backend.clear_session()
    tg.manual_seed(0)
    images = Input(shape=(6, 6, 1))
    h = MaxPooling2D()(Conv2D(2, 3, padding="same", activation="relu")(images))
    h = LSTM(3)(Reshape((3, 6))(h))
    model = Model(images, Dense(2, activation="softmax")(Flatten()(h)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_keras_model_trains_on_cuda_as_on_cpu():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 6, 6, 1)).astype(np.float32), np.arange(8) % 2
    cpu, gpu = small_model(), small_model().to("cuda")
    for model in (cpu, gpu):
        tg.manual_seed(1)
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    assert next(gpu.parameters()).device == "cuda"
    assert list(gpu._graphs.values()) and all(g is not None for g in gpu._graphs.values())  # batch 2 replayed a capture
    np.testing.assert_allclose(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
