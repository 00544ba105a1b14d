"""Real Keras files for the archive, preset and detection tests, built once per test session
in a child process: ``.keras`` archives saved by Keras 3 and by tf_keras, one made to look like
tf.keras 2.13's (the ``keras.src.engine`` module and ``keras_version`` 2.13.1 that Keras 3
cannot load), and a KerasHub preset of a tiny BERT classifier (offline, no weights
downloaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_BUILD = r'''
import json, os, sys, zipfile
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
out = sys.argv[1]
import keras
import numpy as np

seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
seq.save(os.path.join(out, "k3_sequential.keras"))
inp = keras.Input((6,), name="x")
hidden = keras.layers.Dense(5, activation="relu", name="hidden")(inp)
keras.Model(inp, keras.layers.Dense(2, name="head")(hidden)).save(
    os.path.join(out, "k3_functional.keras"))

import tf_keras
inp = tf_keras.Input((4,))
model = tf_keras.Model(inp, tf_keras.layers.Dense(2, name="dense")(inp))
model.save(os.path.join(out, "tfk_functional.keras"))
np.save(os.path.join(out, "tfk_functional_kernel.npy"), model.get_layer("dense").kernel.numpy())
tf_keras.Sequential([tf_keras.layers.InputLayer(input_shape=(4,)),
                     tf_keras.layers.Dense(3, name="dense")]).save(
    os.path.join(out, "tfk_sequential.keras"))

def as_213(source, target):
    """What tf.keras 2.13 wrote: its modules are keras.src.engine.*, its version 2.13.1."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                data = data.replace(b"tf_keras.src.engine.", b"keras.src.engine.")
            elif info.filename == "metadata.json":
                data = json.dumps({"keras_version": "2.13.1",
                                   "date_saved": "2023-08-01@10:00:00"}).encode()
            zout.writestr(info, data)

as_213(os.path.join(out, "tfk_functional.keras"), os.path.join(out, "tf213_functional.keras"))
as_213(os.path.join(out, "tfk_sequential.keras"), os.path.join(out, "tf213_sequential.keras"))

import keras_hub
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "fox"]
tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8)
backbone = keras_hub.models.BertBackbone(
    vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=4, intermediate_dim=8,
    max_sequence_length=8)
task = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
task.save_to_preset(os.path.join(out, "bert_preset"))
open(os.path.join(out, "done"), "w").write("ok")
'''

# Loads each archive named with Keras 3 and prints one JSON line per archive.
LOAD = r"""
import json, os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
for path in sys.argv[1:]:
    try:
        model = keras.saving.load_model(path)
    except Exception as exc:
        print(json.dumps({"path": path, "loaded": False, "error": f"{type(exc).__name__}: {exc}"}))
        continue
    weights = {layer.name: [w.numpy().tolist() for w in layer.weights] for layer in model.layers}
    print(json.dumps({"path": path, "loaded": True, "weights": weights}))
"""


def built(tmp_path_factory) -> Path:
    """The folder of the built files (built on the first call of the session)."""
    folder = tmp_path_factory.getbasetemp() / "keras_files"
    if (folder / "done").is_file():
        return folder
    folder.mkdir(exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_HOME": str(folder / "keras_home")}
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0 and (folder / "done").is_file(), done.stderr[-3000:]
    return folder


def load_with_keras(*paths: Path) -> dict[str, dict]:
    """What Keras 3's ``load_model`` makes of each archive, from a child process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD, *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {Path(a["path"]).name: a for a in answers}
