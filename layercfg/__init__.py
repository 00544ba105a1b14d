"""layercfg: editors and CI that understand Keras layer and model configs."""

__version__ = "0.1.0"
