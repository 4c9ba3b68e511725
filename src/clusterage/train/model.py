"""The CNN of the paper's Table 2, as a backend-neutral Keras 3 factory."""

from __future__ import annotations

import keras
from keras import layers


def build_cnn(input_shape=(112, 112, 5), *, conv_filters=(128, 256, 512),
              dense_units=(512, 256, 128), kernel_size: int = 3, pool_size: int = 2,
              learning_rate: float = 1e-6, seed: int | None = None) -> keras.Model:
    """Conv(3x3, ReLU, valid) + MaxPool(2x2) blocks, Flatten, ReLU dense layers, one linear unit.

    The keyword defaults are the paper's (Table 2; Adam 1e-6 and MSE, Sect. 3.1): with a
    112 x 112 input the flattened features are 12 x 12 x 512 = 73,728. One of the authors'
    scripts pooled twice after the second convolution; Table 2, followed here, does not.
    """
    init = keras.initializers.GlorotUniform
    inputs = keras.Input(shape=tuple(input_shape), name="cutout")
    x = inputs
    for i, filters in enumerate(conv_filters):
        x = layers.Conv2D(filters, kernel_size, activation="relu", padding="valid",
                          kernel_initializer=init(seed=None if seed is None else seed + i),
                          name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(pool_size, name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units):
        x = layers.Dense(units, activation="relu",
                         kernel_initializer=init(seed=None if seed is None else seed + 100 + i),
                         name=f"dense{i + 1}")(x)
    outputs = layers.Dense(1, activation="linear", dtype="float32",
                           kernel_initializer=init(seed=None if seed is None else seed + 200),
                           name="log_age")(x)
    model = keras.Model(inputs, outputs, name="cluster_age_cnn")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model


def save_weights_only(model: keras.Model, path) -> None:
    """Write the layers' weights to a ``.weights.h5`` file, without the optimiser's state.

    ``Model.save_weights`` of a compiled, trained model also writes Adam's two moments (three
    times the weights); an uncompiled view of the same layers writes the weights alone.
    """
    keras.Model(model.inputs, model.outputs).save_weights(path)


def load_weights_only(model: keras.Model, path) -> None:
    """Load a file written by :func:`save_weights_only` into a model of the same architecture."""
    keras.Model(model.inputs, model.outputs).load_weights(path)


def forward_flops(model: keras.Model) -> int:
    """Multiply-adds x 2 of one forward pass (convolutions and dense layers only)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1]
            total += 2 * h * w * c_out * kh * kw * c_in
        elif isinstance(layer, layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)
