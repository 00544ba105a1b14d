"""Static security rules (LCF5xx): one hostile document per rule, pinned to the key or value to
fix, at any depth; nothing on what Keras writes for ordinary models; linear on hostile sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services import security, security_cache
from layercfg.server.services.validation import ERROR, WARNING
from layercfg.server.settings import Settings

HOSTILE = Path(__file__).parent / "data" / "hostile"
EXAMPLES = Path(__file__).parent.parent / "examples"
URI = "file:///hostile.layercfg.json"
# ``lambda x: x * 2`` as Keras 3.15 serializes it (marshalled bytecode, base64).
BYTECODE = (
    "4wEAAAAAAAAAAAAAAAIAAAADAAAA8wwAAACXAHwAZAF6BQAAUwApAk7pAgAAAKkAqQHaAXhzAQAA\n"
    "ACD6BzxzdGRpbj76CDxsYW1iZGE+cgcAAAAJAAAAcwoAAACAAKAhoEGhI4AA8wAAAAA=\n"
)
DTYPE = {
    "module": "keras",
    "class_name": "DTypePolicy",
    "config": {"name": "float32"},
    "registered_name": None,
}


@pytest.fixture(scope="session")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


def layer(class_name: str, **config: Any) -> dict[str, Any]:
    config.setdefault("name", class_name.lower())
    return {
        "module": "keras.layers",
        "class_name": class_name,
        "config": config,
        "registered_name": None,
    }


def sequential(*layers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "model", "trainable": True, "dtype": DTYPE, "layers": list(layers)},
        "registered_name": None,
        **extra,
    }


def input_layer(*shape: int | None) -> dict[str, Any]:
    return layer(
        "InputLayer",
        batch_shape=[None, *shape],
        dtype="float32",
        sparse=False,
        ragged=False,
        name="input_layer",
        optional=False,
    )


def function(module: str, name: str) -> dict[str, Any]:
    return {
        "module": module,
        "class_name": "function",
        "config": name,
        "registered_name": "function",
    }


def checked(value: Any, cat: Catalog | None, settings: Settings | None = None):
    """Findings as ``layercfg check`` reports them: (code, pointer, severity, located text)."""
    text = json.dumps(value, indent=2)
    document = Document.parse(URI, text, 1)
    out = []
    for item in engine.check(document, cat, settings or Settings()):
        problem = item.problem
        out.append(
            (
                problem.code,
                engine.json_pointer(item.path),
                problem.severity,
                text[problem.start : problem.end],
                problem.message,
            )
        )
    return out


def security_findings(value: Any, cat: Catalog | None, settings: Settings | None = None):
    return [f for f in checked(value, cat, settings) if f[0].startswith("LCF5")]


def only(value: Any, cat: Catalog | None, settings: Settings | None = None):
    found = security_findings(value, cat, settings)
    assert len(found) == 1, found
    return found[0]


# -- one hostile document per rule ---------------------------------------------------------------


def test_lambda_bytecode_deep_in_nested_models(cat):
    code, pointer, severity, text, message = only(
        json.loads((HOSTILE / "nested_lambda.layercfg.json").read_text()), cat
    )
    assert (code, severity) == ("LCF501", ERROR)
    assert pointer == "/config/layers/1/config/layers/1/config/layer/config/function/class_name"
    assert text == '"__lambda__"'
    assert "CVE-2025-9906" in message and "refuses it unless safe_mode=False" in message


def test_lambda_bytecode_as_an_activation(cat):
    # serialize_keras_object writes any lambda this way, wherever it is.
    dense = layer(
        "Dense",
        units=2,
        activation={"class_name": "__lambda__", "config": {"value": [BYTECODE, None, None]}},
    )
    assert only(sequential(input_layer(3), dense), cat)[:3] == (
        "LCF501",
        "/config/layers/1/config/activation/class_name",
        ERROR,
    )


def test_keras2_lambda_bytecode(cat):
    keras2 = {
        "class_name": "Lambda",
        "config": {
            "name": "l",
            "function": [BYTECODE, None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }
    code, pointer, severity, text, _ = only(keras2, cat)
    assert (code, pointer, severity) == ("LCF501", "/config/function", ERROR)
    assert text.startswith("[")


def test_keras2_lambda_bytecode_string_without_its_type(cat):
    keras2 = {"class_name": "Lambda", "config": {"name": "l", "function": BYTECODE}}
    assert only(keras2, cat)[:3] == ("LCF501", "/config/function", ERROR)


def test_non_modeling_api_through_a_lambda_with_its_url_and_path(cat):
    found = security_findings(
        json.loads((HOSTILE / "get_file_gadget.layercfg.json").read_text()), cat
    )
    assert [f[:3] for f in found] == [
        ("LCF502", "/config/layers/1/config/function/config", ERROR),
        ("LCF506", "/config/layers/1/config/arguments/origin", WARNING),
        ("LCF506", "/config/layers/1/inbound_nodes/0/kwargs/fname", WARNING),
    ]
    assert found[0][3] == '"get_file"' and "CVE-2025-8747" in found[0][4]


@pytest.mark.parametrize(
    "envelope, where",
    [
        (function("keras.src.utils.file_utils", "get_file"), "config"),
        (function("keras.models", "load_model"), "config"),
        (function("keras.utils", "set_random_seed"), "config"),
        (
            {
                "module": "keras.config",
                "class_name": "enable_unsafe_deserialization",
                "config": {},
                "registered_name": None,
            },
            "class_name",
        ),
        (function("builtins", "eval"), "config"),
    ],
)
def test_non_modeling_apis_and_gadgets_anywhere(cat, envelope, where):
    # In a regularizer of a layer wrapped by Bidirectional inside a Sequential model.
    lstm = layer("LSTM", units=4, kernel_regularizer=envelope)
    document = sequential(input_layer(5, 3), layer("Bidirectional", layer=lstm))
    assert only(document, cat)[:3] == (
        "LCF502",
        f"/config/layers/1/config/layer/config/kernel_regularizer/{where}",
        ERROR,
    )


def test_non_modeling_api_named_by_a_string(cat):
    document = sequential(
        input_layer(3),
        layer("Dense", units=1),
        compile_config={"loss": "mse", "metrics": ["keras.utils.get_file"]},
    )
    assert only(document, cat)[:3] == ("LCF502", "/compile_config/metrics/0", ERROR)


def test_builtin_gadget_message_judges_the_installed_version(cat):
    message = only(layer("Dense", units=1, activation=function("builtins", "exec")), cat)[4]
    assert "CVE-2025-1550" in message and "does not resolve it" in message


@pytest.mark.parametrize(
    "module, pointer",
    [
        ("os", "/config/kernel_initializer/module"),
        ("builtins", "/config/kernel_initializer/module"),
        ("importlib.util", "/config/kernel_initializer/module"),
        ("tensorflow.python.keras.initializers", "/config/kernel_initializer/module"),
        ("dill", "/config/kernel_initializer/module"),
    ],
)
def test_stdlib_and_internal_module_roots_are_errors(cat, module, pointer):
    initializer = {"module": module, "class_name": "system", "config": {}, "registered_name": None}
    assert only(layer("Dense", units=1, kernel_initializer=initializer), cat)[:3] == (
        "LCF503",
        pointer,
        ERROR,
    )


def test_stdlib_function_in_compile_config(cat):
    code, pointer, severity, text, message = only(
        json.loads((HOSTILE / "stdlib_loss.layercfg.json").read_text()), cat
    )
    assert (code, pointer, severity, text) == (
        "LCF503",
        "/compile_config/loss/module",
        ERROR,
        '"subprocess"',
    )
    assert "`subprocess.check_output`" in message and "CVE-2025-1550" in message


def test_configuring_a_stdlib_module_does_not_let_it_through(cat):
    # A workspace's pyproject.toml may set `modules`.
    document = layer("Dense", units=1, activation=function("os", "system"))
    assert only(document, cat, Settings(modules=("os",)))[:3] == (
        "LCF503",
        "/config/activation/module",
        ERROR,
    )


def test_an_unknown_module_root_is_a_warning_until_configured(cat):
    document = layer("Dense", units=1, activation=function("acme.activations", "swishy"))
    code, pointer, severity, _, message = only(document, cat)
    assert (code, pointer, severity) == ("LCF503", "/config/activation/module", WARNING)
    assert "`modules`" in message
    assert security_findings(document, cat, Settings(modules=("acme",))) == []


def test_an_unknown_class_is_reported_once(cat):
    # LCF101 already says to configure the module: no LCF503 warning beside it.
    document = sequential(
        input_layer(3),
        {
            "module": "acme.layers",
            "class_name": "Fancy",
            "config": {"name": "f"},
            "registered_name": None,
        },
    )
    codes = [(code, pointer) for code, pointer, *_ in checked(document, cat)]
    assert ("LCF101", "/config/layers/1/class_name") in codes
    assert not [c for c in codes if c[0] == "LCF503"]


def test_torch_module_wrapper(cat):
    wrapper = layer("TorchModuleWrapper", module="gASVAAAAAAAAAAB/etc/passwd", output_shape=None)
    code, pointer, severity, text, message = only(sequential(input_layer(3), wrapper), cat)
    assert (code, pointer, severity, text) == (
        "LCF504",
        "/config/layers/1/class_name",
        ERROR,
        '"TorchModuleWrapper"',
    )
    assert "torch.load" in message and "3.11.3" in message


def test_external_models(cat):
    tfsm = layer("TFSMLayer", filepath="/srv/models/encoder", call_endpoint="serving_default")
    hub = {
        "module": "tensorflow_hub.keras_layer",
        "class_name": "KerasLayer",
        "config": {"name": "embed", "handle": "https://tfhub.dev/google/nnlm-en-dim50/2"},
        "registered_name": None,
    }
    found = security_findings(sequential(input_layer(3), tfsm, hub), cat)
    # The handle is reported once, by LCF505: not again as an external path (LCF506).
    assert [f[:4] for f in found] == [
        ("LCF505", "/config/layers/1/config/filepath", WARNING, '"/srv/models/encoder"'),
        (
            "LCF505",
            "/config/layers/2/config/handle",
            WARNING,
            '"https://tfhub.dev/google/nnlm-en-dim50/2"',
        ),
    ]
    assert "CVE-2026-1462" in found[0][4] and "refuses it in safe mode" in found[0][4]


@pytest.mark.parametrize(
    "value, pointer",
    [
        (layer("StringLookup", vocabulary="vocab.txt"), "/config/vocabulary"),
        (layer("TextVectorization", vocabulary="/data/vocab.txt"), "/config/vocabulary"),
        (
            {
                "module": "keras_hub.tokenizers",
                "class_name": "SentencePieceTokenizer",
                "config": {"name": "t", "proto": "spm.model"},
                "registered_name": None,
            },
            "/config/proto",
        ),
        (
            layer(
                "Dense",
                units=1,
                kernel_initializer={
                    "module": "keras.initializers",
                    "class_name": "Constant",
                    "config": {"value": "gs://bucket/weights.npy"},
                    "registered_name": None,
                },
            ),
            "/config/kernel_initializer/config/value",
        ),
        (layer("Dense", units=1, note="~/secrets"), "/config/note"),
        (layer("Dense", units=1, note="weights\\..\\..\\x"), "/config/note"),
        (layer("Dense", units=1, note="C:\\Users\\x"), "/config/note"),
        (
            sequential(
                input_layer(3),
                layer("Dense", units=1),
                build_config={"input_shape": [None, 3], "filepath": "model.h5"},
            ),
            "/build_config/filepath",
        ),
    ],
)
def test_external_files_and_urls(cat, value, pointer):
    assert only(value, cat)[:3] == ("LCF506", pointer, WARNING)


@pytest.mark.parametrize(
    "name, shown",
    [("../evil", "'/' and '..'"), ("a/b", "'/'"), ("a\\b", "'\\'"), ("x\x00", "NUL")],
)
def test_path_like_layer_names(cat, name, shown):
    lstm = layer("LSTM", units=4, name=name)
    document = sequential(input_layer(5, 3), layer("Bidirectional", layer=lstm))
    found = security_findings(document, cat)
    pointer = "/config/layers/1/config/layer/config/name"
    assert [f[:3] for f in found] == [("LCF507", pointer, ERROR)]
    assert f"contains {shown}" in found[0][4]


def test_path_like_name_of_a_functional_layer_is_reported_once(cat):
    # The name is in the entry and in its config, and the references (keras_history,
    # output_layers) repeat it: one finding, on the config's name.
    text = (EXAMPLES / "functional_classifier.layercfg.json").read_text()
    document = json.loads(text.replace('"hidden"', '"../../x"'))
    assert document["config"]["layers"][1]["name"] == "../../x"
    found = security_findings(document, cat)
    assert [f[:3] for f in found] == [("LCF507", "/config/layers/1/config/name", ERROR)]


def built(envelope: dict[str, Any], *shape: int | None) -> dict[str, Any]:
    return {**envelope, "build_config": {"input_shape": [None, *shape]}}


@pytest.mark.parametrize(
    "document, pointer",
    [
        # units x input size from build_config
        (built(layer("Dense", units=1_000_000), 4096), "/config/units"),
        # the input size from the layer before, in a Sequential model
        (
            sequential(
                input_layer(50_000), layer("Dropout", rate=0.1), layer("Dense", units=50_000)
            ),
            "/config/layers/2/config/units",
        ),
        (layer("Embedding", input_dim=10_000_000, output_dim=512), "/config/input_dim"),
        (
            sequential(
                input_layer(64, 64, 4096), layer("Conv2D", filters=65_536, kernel_size=[3, 3])
            ),
            "/config/layers/1/config/filters",
        ),
        # the recurrent kernel alone: 4 x units x units
        (layer("LSTM", units=30_000), "/config/units"),
        # inside a TimeDistributed wrapper, fed by the layer before the wrapper
        (
            sequential(
                input_layer(10, 60_000),
                layer("TimeDistributed", layer=layer("Dense", units=60_000)),
            ),
            "/config/layers/1/config/layer/config/units",
        ),
    ],
)
def test_parameter_bombs(cat, document, pointer):
    code, found_pointer, severity, _, message = only(document, cat)
    assert (code, found_pointer, severity) == ("LCF508", pointer, ERROR)
    assert "GB as float32" in message


def test_a_functional_layer_takes_its_input_size_from_its_node(cat):
    document = json.loads((EXAMPLES / "functional_classifier.layercfg.json").read_text())
    hidden = document["config"]["layers"][1]
    del hidden["build_config"]
    # Not too many alone; times the 16 features of the tensor its node passes, too many.
    hidden["config"]["units"] = security.MAX_PARAMETERS // 10
    assert hidden["inbound_nodes"][0]["args"][0]["config"]["shape"] == [None, 16]
    assert only(document, cat)[:3] == ("LCF508", "/config/layers/1/config/units", ERROR)
    hidden["inbound_nodes"][0]["args"][0]["config"]["shape"] = [None, None]
    assert security_findings(document, cat) == []


def test_no_parameter_bomb_without_the_numbers(cat):
    # 100,000 units over an input of unknown size may be fine: not reported.
    assert security_findings(layer("Dense", units=100_000), cat) == []
    assert security_findings(sequential(layer("Flatten"), layer("Dense", units=100_000)), cat) == []


# -- what Keras writes is clean ------------------------------------------------------------------


def _application(name: str) -> dict[str, Any]:
    keras = pytest.importorskip("keras")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cached = (
        Path(base) / "layercfg-configs" / f"keras-{keras.__version__}-"
        f"{keras.backend.backend()}" / f"{name}.json"
    )
    if cached.is_file():  # written by test_validation's application_config
        return json.loads(cached.read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(keras.applications, name)(weights=None)
        value = json.loads(json.dumps(keras.saving.serialize_keras_object(model)))
    keras.backend.clear_session()
    return value


@pytest.mark.parametrize(
    "name",
    [
        "MobileNetV2",
        "ResNet50",
        "EfficientNetB0",
        "DenseNet121",
        "InceptionV3",
        "NASNetMobile",
        "ConvNeXtTiny",
        "VGG16",
    ],
)
def test_keras_applications_are_clean(cat, name):
    assert security_findings(_application(name), cat) == []


def test_examples_are_clean(cat):
    for path in sorted(EXAMPLES.glob("*.layercfg.json")):
        assert security_findings(json.loads(path.read_text()), cat) == [], path.name


def test_sample_config_of_every_class_is_clean(catalog, cat):
    expected = {"TFSMLayer": "LCF505", "TorchModuleWrapper": "LCF504"}
    offenders = {}
    for entry in catalog["classes"]:
        envelope = {
            "module": entry["module"],
            "class_name": entry["class_name"],
            "config": entry["sample_config"] or {},
            "registered_name": entry["registered_name"],
        }
        codes = {f.code for f in security.scan(envelope, cat)}
        if codes != ({expected[entry["class_name"]]} if entry["class_name"] in expected else set()):
            offenders[entry["id"]] = codes
    assert offenders == {}


def _my_activation(x: Any) -> Any:
    return x


def test_models_keras_writes_are_clean(cat):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((5, 3), name="tokens")
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), name="bi")(inputs)
    x = keras.layers.TimeDistributed(keras.layers.Dense(8, activation=_my_activation))(x)
    x = keras.layers.Lambda(abs, name="absolute")(x)
    x = keras.layers.Lambda(_my_activation, name="named")(x)
    x = keras.layers.StringLookup(vocabulary=["a", "b"])(keras.Input((1,), dtype="string"))
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(2, activation="relu"),
            keras.layers.Dense(1, activation=keras.activations.sigmoid),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
        loss=keras.losses.binary_crossentropy,
        metrics=["mae", keras.metrics.AUC()],
    )
    functional = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.Lambda(_my_activation, name="n2")(inputs))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for obj in (model, functional, keras.layers.StringLookup(vocabulary=["a", "b"])):
            value = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
            assert security_findings(value, cat) == []


# -- versions ------------------------------------------------------------------------------------


def test_messages_judge_an_older_keras(cat):
    old = Catalog.from_json({"keras_version": "3.8.0", "implementation": "keras"})
    module = security.scan(layer("Dense", units=1, activation=function("os", "system")), old)
    assert "installed Keras 3.8.0 imports it" in module[0].message
    tfsm = security.scan(layer("TFSMLayer", filepath="/m"), old)
    assert "installed Keras 3.8.0 loads it even in safe mode" in tfsm[0].message
    on_line = Catalog.from_json({"keras_version": "3.12.1", "implementation": "keras"})
    tfsm = security.scan(layer("TFSMLayer", filepath="/m"), on_line)
    assert "3.12.1 refuses it in safe mode" in tfsm[0].message


def test_messages_without_a_catalog_say_no_installed_version():
    found = security.scan(layer("TorchModuleWrapper", module="x"))
    assert [f.code for f in found] == ["LCF504"] and "installed" not in found[0].message


def test_the_checks_run_before_the_catalog_is_ready():
    document = json.loads((HOSTILE / "nested_lambda.layercfg.json").read_text())
    assert [f[0] for f in checked(document, None)] == ["LCF501"]


def test_the_non_modeling_list_is_the_installed_keras_one():
    keras = pytest.importorskip("keras")
    from keras.src.saving import serialization_lib

    assert security.NON_MODELING_APIS == serialization_lib.NON_MODELING_APIS
    assert security.LOADING_APIS <= security.NON_MODELING_APIS
    for api in security.MORE_NON_MODELING_APIS:
        owner, name = api.rsplit(".", 1)
        assert callable(getattr(eval(owner, {"keras": keras}), name)), api


def test_the_rules_import_no_keras():
    code = (
        "import sys, layercfg.server.engine, layercfg.server.services.security; "
        "sys.exit(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keras', 'tensorflow', 'tf_keras')) != [])"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- size and depth ------------------------------------------------------------------------------


def test_a_100000_deep_document():
    value: Any = {"module": "os", "class_name": "function", "config": "system"}
    for index in range(100_000):
        value = {"nested": value} if index % 2 else [value]
    began = time.perf_counter()
    found = security.scan(value)
    assert time.perf_counter() - began < 10
    assert [f.code for f in found] == ["LCF503"]
    assert len(found[0].path) == 100_001 and found[0].path[-1] == "module"


def test_20000_envelopes_are_each_visited_once(monkeypatch):
    calls = 0
    envelope = security._Scanner._envelope

    def counted(self, node, flags):
        nonlocal calls
        calls += 1
        return envelope(self, node, flags)

    monkeypatch.setattr(security._Scanner, "_envelope", counted)
    glorot = {
        "module": "keras.initializers",
        "class_name": "GlorotUniform",
        "config": {"seed": None},
        "registered_name": None,
    }
    layers = [
        layer("Dense", units=4, name=f"d{i}", kernel_initializer=glorot) for i in range(10_000)
    ]
    layers[-1]["config"]["kernel_initializer"] = function("os", "system")
    began = time.perf_counter()
    found = security.scan(sequential(*layers))
    assert time.perf_counter() - began < 20
    assert calls == 2 + 20_000  # the model and its dtype policy, each layer and initializer
    assert [(f.code, f.path) for f in found] == [
        ("LCF503", ("config", "layers", 9_999, "config", "kernel_initializer", "module"))
    ]


def test_a_hostile_document_stops_at_the_findings_cap():
    layers = [
        layer("Dense", units=4, name=f"d{i}", kernel_initializer=function("os", "system"))
        for i in range(10_000)
    ]
    assert len(security.scan(sequential(*layers))) == security.MAX_FINDINGS
    assert len(security_cache.Cache().scan(sequential(*layers))) == security.MAX_FINDINGS


def ordered(findings: list[Any]) -> list[Any]:
    return sorted(findings, key=lambda f: (repr(f.path), f.code))


def test_the_layer_cache_agrees_with_a_whole_scan_after_edits(cat):
    layers = [input_layer(8)] + [layer("Dense", units=8, name=f"d{i}") for i in range(40)]
    layers[20]["config"]["name"] = "../x"
    text = json.dumps(sequential(*layers), indent=2)
    document = Document.parse(URI, text, 1)
    cache = engine.LayerCache()

    def codes() -> list[str]:
        found = engine.check(document, cat, Settings(), cache)
        return [c.problem.code for c in found if c.problem.code.startswith("LCF5")]

    assert codes() == ["LCF507"]
    # The units of the layer before the last: the last one's input size changes with them.
    offset = text.rindex('"units": 8', 0, text.rindex('"units": 8')) + len('"units": ')
    length = 1
    for version, units in enumerate(("3000000000", "8"), start=2):
        rng = document.lines.range_of(offset, offset + length)
        document = document.apply_changes(
            [types.TextDocumentContentChangePartial(range=rng, text=units)], version
        )
        length = len(units)
        assert ordered(cache.security.scan(document.value, cat)) == ordered(
            security.scan(document.value, cat)
        )
        assert codes() == (["LCF507", "LCF508", "LCF508"] if units != "8" else ["LCF507"])


# -- the command line ----------------------------------------------------------------------------


def test_check_reports_the_pointer_and_fails(subprocess_env, catalog):
    path = HOSTILE / "nested_lambda.layercfg.json"
    result = subprocess.run(
        [sys.executable, "-m", "layercfg", "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    [diagnostic] = [d for f in report["files"] for d in f["diagnostics"]]
    assert diagnostic["code"] == "LCF501" and diagnostic["severity"] == "error"
    assert diagnostic["pointer"] == (
        "/config/layers/1/config/layers/1/config/layer/config/function/class_name"
    )
    assert diagnostic["source"] == "layercfg"
