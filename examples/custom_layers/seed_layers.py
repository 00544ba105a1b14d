"""Three custom layers, as the question that started layercfg had them (Keras 3).

None is registered with ``keras.saving.register_keras_serializable``: layercfg finds them in
the module named by ``--modules seed_layers`` and gives them to Keras as ``custom_objects``,
as a program that loads their configs would.
"""

import keras


class SeedDense(keras.layers.Layer):
    """A dense layer: ``units`` outputs, then ``activation``."""

    def __init__(self, units=32, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return self.activation(inputs @ self.kernel + self.bias)

    def get_config(self):
        # Every constructor argument, so that from_config(get_config()) is the same layer.
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
        }


class MyMultiWeightLayer(keras.layers.Layer):
    """Two weight matrices side by side; both sizes are required, without defaults."""

    def __init__(self, units1, units2, **kwargs):
        super().__init__(**kwargs)
        self.units1 = units1
        self.units2 = units2

    def build(self, input_shape):
        self.w1 = self.add_weight(shape=(input_shape[-1], self.units1), name="w1")
        self.w2 = self.add_weight(shape=(input_shape[-1], self.units2), name="w2")

    def call(self, inputs):
        return keras.ops.concatenate([inputs @ self.w1, inputs @ self.w2], axis=-1)

    def get_config(self):
        return {**super().get_config(), "units1": self.units1, "units2": self.units2}


class NestedDenseBlock(keras.layers.Layer):
    """A block around a nested Dense layer, which its config holds as an envelope."""

    def __init__(self, dense=None, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense if dense is not None else keras.layers.Dense(8)

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        return {**super().get_config(), "dense": keras.saving.serialize_keras_object(self.dense)}

    @classmethod
    def from_config(cls, config):
        # The nested layer comes back as a layer, not as the dict get_config wrote; and only
        # the keys get_config writes are read.
        dense = config.pop("dense", None)
        if isinstance(dense, dict):
            dense = keras.saving.deserialize_keras_object(dense)
        return cls(dense=dense, **config)
