"""Keras recurrent models on the 8x8 digits read as sequences: each image is 8 steps (its
rows) of 8 features. A SimpleRNN and an LSTM in a Sequential, then the functional API: a
bidirectional LSTM whose last state and mean over time are joined before the classifier.

    python examples/keras_rnn.py

Expected result (about 15 s on 2 CPU cores), the test accuracy of each after 20 epochs:

    SimpleRNN           test accuracy 97.8%
    LSTM                test accuracy 95.8%
    functional BiLSTM   test accuracy 96.7%
"""
import tinygrad_nb as tg
from tinygrad_nb import data
from tinygrad_nb.keras.layers import (LSTM, Bidirectional, Concatenate, Dense, GlobalAveragePooling1D, Input,
                                      SimpleRNN)
from tinygrad_nb.keras.models import Model, Sequential
from tinygrad_nb.keras.optimizers import Adam


def rows(split):
    images, labels = data.digits(split).arrays
    return images[:, 0], labels  # (N, 8 rows, 8 pixels): a sequence of 8 steps


def functional_bilstm():
    pixels = Input(shape=(8, 8))
    steps = Bidirectional(LSTM(32, return_sequences=True))(pixels)
    last = LSTM(32)(steps)
    mean = GlobalAveragePooling1D()(steps)
    outputs = Dense(10, activation="softmax")(Concatenate()([last, mean]))
    return Model(inputs=pixels, outputs=outputs)


def main(epochs=20):
    x_train, y_train = rows("train")
    x_test, y_test = rows("test")
    models = {
        "SimpleRNN": lambda: Sequential([SimpleRNN(64, input_shape=(8, 8)), Dense(10, activation="softmax")]),
        "LSTM": lambda: Sequential([LSTM(64, input_shape=(8, 8)), Dense(10, activation="softmax")]),
        "functional BiLSTM": functional_bilstm,
    }
    for name, build in models.items():
        tg.manual_seed(0)
        model = build()
        model.compile(optimizer=Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        print(f"{name:<19} test accuracy {accuracy:.1%}")


if __name__ == "__main__":
    main()
