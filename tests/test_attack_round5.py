"""Hostile input for what changed last, through Keras: the deep check's policy that a package
the user did not configure (keras_hub) is never imported."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

# The worker's own deep-check handler in a fresh interpreter: what it found, and which
# keras_hub modules it imported.
_WORKER = """
import io, json, sys
from layercfg.schema_builder.worker import Worker

document = json.loads(open(sys.argv[1]).read())
params = {"value": document, "modules": [], "trusted": True}
result = Worker(io.StringIO()).do_deep_check(1, params)
hub = sorted(m for m in sys.modules if m.split(".")[0] == "keras_hub")
print(json.dumps({"findings": result["findings"], "keras_hub": hub}))
"""


def _deep(path: Path, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _WORKER, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("registered", ["mine>PositionEmbedding", "keras>PositionEmbedding"])
def test_a_registered_name_of_another_package_does_not_get_keras_hub_imported(
    registered, subprocess_env, tmp_path
) -> None:
    import keras
    import keras_hub

    layer = keras_hub.layers.PositionEmbedding(sequence_length=4, name="position")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        document = keras.saving.serialize_keras_object(layer)
    assert document["module"].startswith("keras_hub.")
    # Keras looks the registered_name up first, finds nothing, and then imports the module.
    document["registered_name"] = registered
    path = tmp_path / "layer.layercfg.json"
    path.write_text(json.dumps(document))
    answer = _deep(path, subprocess_env)
    assert answer["keras_hub"] == []
    (finding,) = [f for f in answer["findings"] if f["path"] == ["class_name"]]
    assert finding["code"] == "LCF101"
    assert finding["data"]["package"] == "keras_hub"  # the package to add to modules
