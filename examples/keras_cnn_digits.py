"""The Keras way: a Keras script's CNN on the 8x8 digits, run by changing its imports.

    python examples/keras_cnn_digits.py

The images are channels-last, (N, 8, 8, 1), as Keras has them. Expected result (about
2 s on 2 CPU cores): the test accuracy passes 97% at epoch 6 and ends at 98.6%; the
model saved with model.save and read back with load_model predicts the same:

    Epoch 10/10
    45/45 [==============================] - 0s 743us/step - loss: 0.0844 - accuracy: 0.9784 - val_loss: 0.0861 - val_accuracy: 0.9861
    test accuracy 98.6%
    reloaded model agrees on 359 of 359 test images
"""
import os
import tempfile

import numpy as np

import tinygrad_nb as tg
from tinygrad_nb import data
from tinygrad_nb.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from tinygrad_nb.keras.models import Sequential, load_model
from tinygrad_nb.keras.optimizers import Adam


def channels_last(split):
    images, labels = data.digits(split).arrays
    return images.transpose(0, 2, 3, 1), labels  # (N, 1, 8, 8) -> (N, 8, 8, 1)


def main(epochs=10):
    tg.manual_seed(0)
    x_train, y_train = channels_last("train")
    x_test, y_test = channels_last("test")
    model = Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_data=(x_test, y_test))
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.1%}")

    path = os.path.join(tempfile.mkdtemp(), "digits_cnn.keras")
    model.save(path)
    restored = load_model(path)
    same = restored.predict(x_test, verbose=0).argmax(1) == model.predict(x_test, verbose=0).argmax(1)
    print(f"reloaded model agrees on {np.sum(same)} of {len(same)} test images")


if __name__ == "__main__":
    main()
