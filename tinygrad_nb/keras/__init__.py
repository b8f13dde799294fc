"""A Keras front end: Keras scripts run on tinygrad_nb by changing their imports.

    from tinygrad_nb.keras.models import Sequential
    from tinygrad_nb.keras.layers import Conv2D, MaxPooling2D, Flatten, Dense
    model = Sequential([Conv2D(32, (3, 3), activation='relu', input_shape=(8, 8, 1)),
                        MaxPooling2D((2, 2)), Flatten(), Dense(10, activation='softmax')])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x_train, y_train, epochs=10, validation_data=(x_test, y_test))

Layers are builders over tinygrad_nb.nn; data is channels-last, as in Keras.
"""
from . import activations, backend, callbacks, layers, losses, metrics, optimizers
from .models import Model, Sequential, load_model
from .layers import Input

__all__ = ["Input", "Model", "Sequential", "load_model", "activations", "backend", "callbacks", "layers", "losses",
           "metrics", "optimizers"]
