"""Quick fixes, fix all and the canonical form, as pure services: before text, chosen action,
after text, and the after text checked again (no finding of that kind left; Keras loads what
the canonical form writes)."""

from __future__ import annotations

import copy
import json
import warnings

import keras
import pytest
from lsprotocol import types

from layercfg.cli import main
from layercfg.schema_builder.canonical import CanonicalError, canonical
from layercfg.schema_builder.keras_api import KerasAPI
from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services import code_actions, fixes
from layercfg.server.services.code_actions import ActionSupport, Fixer, fix_all
from layercfg.server.services.formatting import apply_edits
from layercfg.server.settings import Settings

URI = "file:///model.layercfg.json"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


@pytest.fixture(scope="module")
def fixer(cat: Catalog) -> Fixer:
    return Fixer(cat)


def _codes(cat: Catalog, text: str) -> list[str]:
    document = Document.parse(URI, text, 2)
    return [c.problem.code for c in engine.check(document, cat, SETTINGS)]


def _fixes(fixer: Fixer, text: str, code: str, snippets: bool = False):
    document = Document.parse(URI, text, 1)
    found = [c for c in engine.check(document, fixer.catalog, SETTINGS) if c.problem.code == code]
    assert found, f"no {code} in {text!r}"
    return [fixer.fixes(document, c.problem, c.path, snippets) for c in found][0]


def _apply(fixer: Fixer, text: str, code: str, title: str) -> tuple[str, code_actions.Fix]:
    fixes = _fixes(fixer, text, code)
    chosen = [f for f in fixes if f.title == title]
    assert chosen, (title, [f.title for f in fixes])
    return apply_edits(text, chosen[0].edits), chosen[0]


DENSE = (
    '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n  "config": {\n%s\n  },\n'
    '  "registered_name": null\n}\n'
)


def _dense(*members: str) -> str:
    return DENSE % ",\n".join(f"    {m}" for m in members)


# (before, code, chosen action, after, preferred, safe)
CASES = [
    pytest.param(
        _dense('"unitz": 4', '"activation": "relu"'),
        "LCF102",
        "Change to 'units'",
        _dense('"units": 4', '"activation": "relu"'),
        True,
        True,
        id="unknown-key-typo",
    ),
    pytest.param(
        _dense('"units": 4', '"padding": "same"', '"activation": "relu"'),
        "LCF102",
        "Remove 'padding'",
        _dense('"units": 4', '"activation": "relu"'),
        False,
        False,
        id="unknown-key-remove",
    ),
    pytest.param(
        _dense('"units": 4', '"activation": "relu"', '"padding": "same"'),
        "LCF102",
        "Remove 'padding'",
        _dense('"units": 4', '"activation": "relu"'),
        False,
        False,
        id="remove-last-key",
    ),
    pytest.param(
        '{"module": "keras.layers", "class_name": "Dense", '
        '"config": {"init": "zeros", "units": 2}, "registered_name": null}',
        "LCF102",
        "Change to 'kernel_initializer'",
        '{"module": "keras.layers", "class_name": "Dense", '
        '"config": {"kernel_initializer": "zeros", "units": 2}, "registered_name": null}',
        True,
        True,
        id="keras1-key-name",
    ),
    pytest.param(
        _dense('"units": 4', '"activation": "reluu"'),
        "LCF105",
        'Change to "relu"',
        _dense('"units": 4', '"activation": "relu"'),
        False,
        False,
        id="activation-two-close",
    ),
    pytest.param(
        '{"module": "keras.layers", "class_name": "Conv2D", '
        '"config": {"filters": 2, "kernel_size": 3, "padding": "smae"}, "registered_name": null}',
        "LCF105",
        'Change to "same"',
        '{"module": "keras.layers", "class_name": "Conv2D", '
        '"config": {"filters": 2, "kernel_size": 3, "padding": "same"}, "registered_name": null}',
        True,
        True,
        id="enum-typo",  # "Same" is no mistake: Keras lowercases padding
    ),
    pytest.param(
        _dense('"units": "64"'),
        "LCF104",
        "Convert to 64",
        _dense('"units": 64'),
        True,
        True,
        id="string-number",
    ),
    pytest.param(
        _dense('"units": 4', '"use_bias": "false"'),
        "LCF104",
        "Convert to false",
        _dense('"units": 4', '"use_bias": false'),
        True,
        True,
        id="string-boolean",
    ),
    pytest.param(
        '{"module": "keras.layers", "class_name": "Conv2D", '
        '"config": {"filters": 2, "kernel_size": 3, "strides": 2.0}, "registered_name": null}',
        "LCF104",
        "Convert to 2",
        '{"module": "keras.layers", "class_name": "Conv2D", '
        '"config": {"filters": 2, "kernel_size": 3, "strides": 2}, "registered_name": null}',
        True,
        True,
        id="integral-float",
    ),
    pytest.param(
        _dense('"activation": "relu"'),
        "LCF103",
        "Insert 'units' with 4 to fill in",
        _dense('"units": 4', '"activation": "relu"'),
        True,
        False,
        id="missing-key-plain",
    ),
    pytest.param(
        '{"module": "keras.layers", "class_name": "Conv2D", "config": {"kernel_size": 3}, '
        '"registered_name": null}',
        "LCF103",
        "Insert 'filters' with 4 to fill in",
        '{"module": "keras.layers", "class_name": "Conv2D", "config": {"filters": 4, '
        '"kernel_size": 3}, "registered_name": null}',
        True,
        False,
        id="missing-key-keeps-order",
    ),
    pytest.param(
        '{"module": "keras.layers", "class_name": "Dence", "config": {"units": 3}, '
        '"registered_name": null}',
        "LCF101",
        "Change to 'Dense' (keras.layers)",
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}, '
        '"registered_name": null}',
        True,
        True,
        id="unknown-class",
    ),
    pytest.param(
        '{"module": "custom.registered_layers", "class_name": "Gate", "config": {"units": 2}, '
        '"registered_name": "acme>Gate"}',
        "LCF101",
        "Change to 'Gated' (acme>Gated)",
        '{"module": "custom.registered_layers", "class_name": "Gated", "config": {"units": 2}, '
        '"registered_name": "acme>Gated"}',
        True,
        True,
        id="unknown-custom-class-sets-registered-name",
    ),
    pytest.param(
        '{"module": "keras.layers", "class_name": "CuDNNLSTM", "config": {"units": 3}, '
        '"registered_name": null}',
        "LCF101",
        "Change to 'LSTM' (keras.layers)",
        '{"module": "keras.layers", "class_name": "LSTM", "config": {"units": 3}, '
        '"registered_name": null}',
        True,
        True,
        id="keras2-class-name",
    ),
    pytest.param(
        '{"class_name": "Dense", "config": {"units": 3}}',
        "LCF107",
        "Set 'module' to \"keras.layers\"",
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}}',
        True,
        True,
        id="missing-module",
    ),
    pytest.param(
        '{\n  "module": "keras.layers",\n  "class_name": "Dense", // a layer\n'
        '  "config": {"units": 3},\n  "registered_name": null\n}\n',
        "LCF002",
        "Remove the comment",
        '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n'
        '  "config": {"units": 3},\n  "registered_name": null\n}\n',
        True,
        True,
        id="comment-after-code",
    ),
    pytest.param(
        '{\n  // a layer\n  "module": "keras.layers",\n  "class_name": "Dense",\n'
        '  "config": {"units": 3},\n  "registered_name": null\n}\n',
        "LCF002",
        "Remove the comment",
        '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n'
        '  "config": {"units": 3},\n  "registered_name": null\n}\n',
        True,
        True,
        id="comment-line",
    ),
    pytest.param(
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3,}, '
        '"registered_name": null}',
        "LCF002",
        "Remove the trailing comma",
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}, '
        '"registered_name": null}',
        True,
        True,
        id="trailing-comma",
    ),
    pytest.param(
        '\ufeff{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}, '
        '"registered_name": null}',
        "LCF002",
        "Remove the byte order mark",
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 3}, '
        '"registered_name": null}',
        True,
        True,
        id="bom",
    ),
]


@pytest.mark.parametrize("before, code, title, after, preferred, safe", CASES)
def test_quick_fix(fixer, cat, before, code, title, after, preferred, safe):
    fixed, fix = _apply(fixer, before, code, title)
    assert fixed == after
    assert (fix.preferred, fix.safe) == (preferred, safe)
    assert code not in _codes(cat, fixed)


def test_unknown_key_offers_every_free_candidate_and_removal(fixer):
    fixes = _fixes(fixer, _dense('"units": 4', '"activaton": "relu"'), "LCF102")
    assert [f.title for f in fixes][-1] == "Remove 'activaton'"
    assert fixes[0].title == "Change to 'activation'" and fixes[0].preferred


def test_allowed_values_are_offered_closest_first(fixer):
    titles = [
        f.title for f in _fixes(fixer, _dense('"units": 4', '"activation": "rleu"'), "LCF105")
    ]
    assert titles[:2] == ['Change to "relu"', 'Change to "relu6"']
    assert len(titles) <= fixes.MAX_CHOICES


def test_missing_key_as_a_snippet(fixer, cat):
    (fix,) = _fixes(fixer, _dense('"activation": "relu"'), "LCF103", snippets=True)
    assert fix.snippet and fix.title == "Insert 'units'"
    (edit,) = fix.edits
    assert edit.new_text == '"units": ${1:4},\n    '
    # What the client writes once the placeholder is accepted:
    accepted = apply_edits(_dense('"activation": "relu"'), fix.edits).replace("${1:4}", "4")
    assert "LCF103" not in _codes(cat, accepted)


def test_a_missing_key_of_an_empty_config(fixer, cat):
    before = (
        '{"module": "keras.layers", "class_name": "Dense", "config": {}, "registered_name": null}'
    )
    after, _ = _apply(fixer, before, "LCF103", "Insert 'units' with 4 to fill in")
    assert '"config": {"units": 4}' in after
    assert "LCF103" not in _codes(cat, after)


def test_a_fixed_size_tuple_from_one_number():
    schema = {
        "$ref": "#/$defs/envelope.layer",
        "$defs": {
            "envelope.layer": {
                "type": "object",
                "properties": {
                    "class_name": {"type": "string"},
                    "config": {"$ref": "#/$defs/demo.Pool"},
                },
            },
            "demo.Pool": {
                "type": "object",
                "properties": {
                    "pool_size": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
            },
        },
    }
    entry = {
        "id": "demo.Pool",
        "class_name": "Pool",
        "module": "demo",
        "family": "layer",
        "schema_ref": "#/$defs/demo.Pool",
        "params": {},
    }
    tiny = Catalog({"classes": [entry], "schema": schema})
    text = '{"class_name": "Pool", "config": {"pool_size": 3}}'
    document = Document.parse(URI, text, 1)
    problem = document.problems  # no syntax problem
    assert problem == []
    finding = engine.Checked(
        engine.Problem(
            text.index("3"),
            text.index("3") + 1,
            "LCF104",
            "must be an array",
            data={"expected": ["array"], "value": 3},
        ),
        ("config", "pool_size"),
    )
    (fix,) = Fixer(tiny).fixes(document, finding.problem, finding.path)
    assert fix.title == "Convert to [3, 3]" and fix.safe
    assert apply_edits(text, fix.edits) == '{"class_name": "Pool", "config": {"pool_size": [3, 3]}}'


# -- models ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_text() -> str:
    inputs = keras.Input((4,), name="x")
    a = keras.layers.Dense(3, name="dense")(inputs)
    b = keras.layers.Dense(3, name="dense_b")(a)
    out = keras.layers.Dense(1, name="head")(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = keras.saving.serialize_keras_object(keras.Model(inputs, out, name="m"))
    return json.dumps(json.loads(json.dumps(value)), indent=2) + "\n"


def _rename_layer(text: str, old: str, new: str) -> str:
    """The model's layer ``old`` renamed everywhere, by hand (the duplicate to fix)."""
    return text.replace(f'"{old}"', f'"{new}"')


def test_duplicate_layer_name_is_renamed_with_its_references(fixer, cat, model_text):
    before = _rename_layer(model_text, "dense_b", "dense")
    assert _codes(cat, before).count("LCF201") == 1
    (fix,) = _fixes(fixer, before, "LCF201")
    assert fix.title == "Rename this layer to 'dense_1'"
    after = apply_edits(before, fix.edits)
    assert "LCF201" not in _codes(cat, after) and "LCF202" not in _codes(cat, after)
    value = json.loads(after)
    layers = {layer["name"]: layer for layer in value["config"]["layers"]}
    assert set(layers) == {"x", "dense", "dense_1", "head"}
    assert layers["dense_1"]["config"]["name"] == "dense_1"
    # The renamed layer still takes the first dense's output; head takes the renamed one's.
    history = layers["dense_1"]["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    assert history[0] == "dense"
    history = layers["head"]["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    assert history[0] == "dense_1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = keras.saving.deserialize_keras_object(value)
    assert [layer.name for layer in model.layers] == ["x", "dense", "dense_1", "head"]


def test_missing_reference_offers_the_close_names(fixer, cat, model_text):
    head, _, tail = model_text.rpartition('"dense_b",')  # head's keras_history
    before = head + '"dense_bb",' + tail
    fixes = _fixes(fixer, before, "LCF202")
    assert [f.title for f in fixes] == ["Change to 'dense_b'", "Change to 'dense'"]
    # dense_b is one letter away, dense three: a margin wide enough for a layer reference
    assert [f.safe for f in fixes] == [True, False]
    assert "LCF202" not in _codes(cat, apply_edits(before, fixes[0].edits))


# -- fix all ---------------------------------------------------------------------------------------


def test_fix_all_applies_the_single_safe_choices_only(cat):
    before = (
        '{\n  "module": "keras.layers",\n  "class_name": "Dence",\n  "config": {\n'
        '    "unitz": "4",\n    "activation": "reluu", // typo\n    "use_bias": "true",\n'
        '  },\n  "registered_name": null\n}\n'
    )
    after, applied = fix_all(Document.parse(URI, before, 1), cat, SETTINGS)
    assert after == (
        '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n  "config": {\n'
        '    "units": 4,\n    "activation": "reluu",\n    "use_bias": true\n'
        '  },\n  "registered_name": null\n}\n'
    )
    assert {f.code for f in applied} == {"LCF101", "LCF102", "LCF104", "LCF002"}
    # reluu is relu or relu6, one letter each: not for fix all to choose
    assert _codes(cat, after) == ["LCF105"]


def test_fix_all_upgrades_a_keras2_document(cat):
    from pathlib import Path

    text = (Path(__file__).parent / "data" / "validation" / "keras2_sequential.json").read_text()
    after, applied = fix_all(Document.parse(URI, text, 1), cat, SETTINGS)
    assert [f.title for f in applied] == ["Upgrade to Keras 3 format"]
    assert _codes(cat, after) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.saving.deserialize_keras_object(json.loads(after))


def test_check_fix_and_diff_on_files(cat, tmp_path, capsys, fixtures_on_path):
    path = tmp_path / "a.layercfg.json"
    before = _dense('"unitz": 4', '"activation": "reluu"').replace("\n", "\r\n")
    path.write_bytes(before.encode())
    assert main(["check", "--diff", str(path)]) == 1
    out = capsys.readouterr().out
    assert '-    "unitz": 4,' in out and '+    "units": 4,' in out
    assert path.read_bytes() == before.encode()  # --diff writes nothing
    assert main(["check", "--fix", str(path)]) == 1  # reluu is left to the user
    fixed = path.read_bytes().decode()
    assert fixed == before.replace('"unitz"', '"units"')  # CRLF kept
    assert "LCF105" in capsys.readouterr().out
    assert main(["check", "--diff", str(path)]) == 0


# -- only what the current version still has ------------------------------------------------


def _diagnostics(cat: Catalog, document: Document) -> list[types.Diagnostic]:
    return [engine.to_diagnostic(document, c) for c in engine.check(document, cat, SETTINGS)]


def test_actions_are_offered_only_for_current_diagnostics(fixer, cat):
    text = _dense('"unitz": 4', '"activation": "relu"')
    old = Document.parse(URI, text, 1)
    (asked,) = _diagnostics(cat, old)
    everything = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=99, character=0)
    )
    support = ActionSupport(document_changes=True)
    actions = code_actions.quick_fixes(
        old, fixer, [asked], _diagnostics(cat, old), everything, support, "utf-16"
    )
    assert [a.title for a in actions] == ["Change to 'units'", "Remove 'unitz'"]
    assert actions[0].diagnostics == [asked] and actions[0].is_preferred
    edit = actions[0].edit.document_changes[0]
    assert edit.text_document.version == 1
    # A line inserted above: the client's diagnostic no longer describes the text.
    new = old.apply_changes(
        [
            types.TextDocumentContentChangePartial(
                range=types.Range(
                    start=types.Position(line=0, character=1),
                    end=types.Position(line=0, character=1),
                ),
                text='\n  "name_": 1,',
            )
        ],
        2,
    )
    actions = code_actions.quick_fixes(
        new, fixer, [asked], _diagnostics(cat, new), everything, support, "utf-16"
    )
    assert actions == []
    # Fixed meanwhile: nothing to offer either.
    fixed = Document.parse(URI, text.replace("unitz", "units"), 3)
    assert (
        code_actions.quick_fixes(
            fixed, fixer, [asked], _diagnostics(cat, fixed), everything, support, "utf-16"
        )
        == []
    )


def test_snippet_edits_only_where_the_client_takes_them(fixer, cat):
    document = Document.parse(URI, _dense('"activation": "relu"'), 1)
    diagnostics = _diagnostics(cat, document)
    everything = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=99, character=0)
    )
    rich = ActionSupport(snippet_edits=True, document_changes=True)
    (action,) = code_actions.quick_fixes(
        document, fixer, diagnostics, diagnostics, everything, rich, "utf-16"
    )
    (edit,) = action.edit.document_changes[0].edits
    assert isinstance(edit, types.SnippetTextEdit) and "${1:4}" in edit.snippet.value
    (action,) = code_actions.quick_fixes(
        document, fixer, diagnostics, diagnostics, everything, ActionSupport(), "utf-16"
    )
    (edit,) = action.edit.changes[URI]
    assert isinstance(edit, types.TextEdit) and "$" not in edit.new_text


# -- canonical form --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api() -> KerasAPI:
    return KerasAPI()


def _load(value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.saving.deserialize_keras_object(copy.deepcopy(value))


HAND_WRITTEN = (
    '{\n  "module": "keras.layers",\n  "class_name": "Conv2D",\n  "config": {\n'
    '    "name": "conv",\n    "filters": 8,\n    "kernel_size": 3,\n    "strides": [1, 1],\n'
    '    "padding": "same",\n    "use_bias": true,\n    "activation": "linear"\n  },\n'
    '  "registered_name": null\n}\n'
)


def test_remove_defaults_keeps_what_differs(api, cat):
    document = Document.parse(URI, HAND_WRITTEN, 1)
    result = canonical(document.value, "prune", api)
    after = apply_edits(HAND_WRITTEN, fixes.rewrite_whole(document, result["value"]))
    assert after == (
        '{\n  "module": "keras.layers",\n  "class_name": "Conv2D",\n  "config": {\n'
        '    "name": "conv",\n    "filters": 8,\n    "kernel_size": 3,\n'
        '    "padding": "same"\n  },\n  "registered_name": null\n}\n'
    )
    assert _codes(cat, after) == []
    layer = _load(json.loads(after))
    assert layer.get_config() == _load(json.loads(HAND_WRITTEN)).get_config()


def test_fill_in_defaults_is_what_keras_writes(api, cat):
    document = Document.parse(URI, HAND_WRITTEN, 1)
    result = canonical(document.value, "fill", api)
    after = apply_edits(HAND_WRITTEN, fixes.rewrite_whole(document, result["value"]))
    value = json.loads(after)
    written = json.loads(json.dumps(keras.saving.serialize_keras_object(_load(value))))
    assert value == written
    assert value["config"]["dilation_rate"] == [1, 1] and value["config"]["groups"] == 1
    assert _codes(cat, after) == []
    # The lines that were already there stay untouched.
    assert after.startswith('{\n  "module": "keras.layers",\n  "class_name": "Conv2D",\n')


def test_canonical_form_of_a_model_round_trips(api, model_text):
    value = json.loads(model_text)
    pruned = canonical(value, "prune", api)["value"]
    assert len(json.dumps(pruned)) < len(json.dumps(value))
    assert pruned["config"]["layers"][1]["config"] == {"name": "dense", "units": 3}
    filled = canonical(pruned, "fill", api)["value"]
    assert filled == json.loads(json.dumps(keras.saving.serialize_keras_object(_load(value))))


def test_canonical_form_is_refused_while_the_document_has_errors(cat, api):
    text = _dense('"units": 4', '"activation": "rleu"')
    document = Document.parse(URI, text, 1)
    reason = code_actions.canonical_refusal(document, _diagnostics(cat, document))
    assert reason is not None
    assert reason.startswith("Fix the errors first: line 6: Unknown activation")
    clean = Document.parse(URI, HAND_WRITTEN, 1)
    assert code_actions.canonical_refusal(clean, _diagnostics(cat, clean)) is None
    with pytest.raises(CanonicalError, match="Keras cannot load"):
        canonical(
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": "x"},
                "registered_name": None,
            },
            "fill",
            api,
        )
