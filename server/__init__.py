"""The layercfg language server. It never imports TensorFlow or Keras."""
