"""The third seed layer as it was first written: its ``from_config`` reads a ``config`` key
that its ``get_config`` never writes, so loading any config it wrote fails with
``KeyError: 'config'``. ``seed_layers.NestedDenseBlock`` is the fixed one."""

import keras


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
        inner = config.pop("config")  # the bug: get_config wrote no "config" key
        dense = keras.saving.deserialize_keras_object(inner["dense"])
        return cls(dense=dense, **config)
