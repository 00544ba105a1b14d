"""The engine shared by the server and ``layercfg check``: located findings, incremental
validation equal to a full one, and the command line's output formats."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
from lsprotocol import types

from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services.validation import validate
from layercfg.server.settings import Settings

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def cat(plain_catalog) -> Catalog:
    return Catalog.from_json(plain_catalog)


@pytest.fixture(scope="module")
def functional_text() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = keras.Input((32, 32, 3), name="image")
        x = inputs
        for index in range(6):
            x = keras.layers.Conv2D(8 + index, 3, padding="same", name=f"conv{index}")(x)
            x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
        outputs = keras.layers.Dense(10, name="logits")(keras.layers.Flatten(name="flat")(x))
        model = keras.Model(inputs, outputs, name="net")
    return json.dumps(keras.saving.serialize_keras_object(model), indent=2)


def _edit(document: Document, old: str, new: str, version: int) -> Document:
    start = document.text.index(old)
    change = types.TextDocumentContentChangePartial(
        range=document.lines.range_of(start, start + len(old)), text=new
    )
    return document.apply_changes([change], version)


def _keys(findings):
    return sorted((f.path, f.part, f.code, f.message) for f in findings)


def test_incremental_validation_equals_a_full_one_through_edits(cat, functional_text):
    document = Document.parse("file:///net.layercfg.json", functional_text, 1)
    cache = engine.LayerCache()
    assert cache.validate(document, cat) == [] == validate(document.value, cat)
    edits = [
        ('"filters": 10', '"filters": "10"'),  # wrong type in a middle layer
        ('"name": "bn3"', '"name": "bn2"'),  # duplicate layer name (model link)
        ('"padding": "same"', '"padding": "sme"'),
        ('"filters": "10"', '"filters": 10'),  # and back
        ('"momentum"', '"momentun"'),
    ]
    for version, (old, new) in enumerate(edits, start=2):
        document = _edit(document, old, new, version)
        assert _keys(cache.validate(document, cat)) == _keys(validate(document.value, cat))
    codes = {f.code for f in cache.validate(document, cat)}
    assert codes == {"LCF201", "LCF105", "LCF102"}


def test_check_locates_findings_and_applies_severity_overrides(cat):
    text = '{"module": "keras.layers", "class_name": "Dense", "config": {"unitz": 4}}'
    document = Document.parse("file:///d.layercfg.json", text, 1)
    checked = engine.check(document, cat, Settings())
    unknown = next(c for c in checked if c.problem.code == "LCF102")
    assert text[unknown.problem.start : unknown.problem.end] == '"unitz"'
    assert engine.json_pointer(unknown.path) == "/config/unitz"
    quiet = Settings(severity={"LCF102": "hint", "LCF103": "off"})
    codes = {(c.problem.code, c.problem.severity) for c in engine.check(document, cat, quiet)}
    assert ("LCF102", 4) in codes and not any(code == "LCF103" for code, _ in codes)


def test_json_pointer_escapes():
    assert engine.json_pointer(("config", "a/b", "c~d", 3)) == "/config/a~1b/c~0d/3"
    assert engine.json_pointer(()) == ""


def test_ranges_stay_right_with_crlf_and_non_ascii(cat):
    text = (
        '{\r\n  "module": "keras.layers",\r\n  "class_name": "Dense",\r\n'
        '  "config": {"name": "dénse_😀", "unitz": 4}\r\n}'
    )
    document = Document.parse("file:///u.layercfg.json", text, 1)
    (unknown,) = [c for c in engine.check(document, cat, Settings()) if c.problem.code == "LCF102"]
    diagnostic = engine.to_diagnostic(document, unknown, "utf-16")
    line = text.split("\r\n")[3]
    utf16_column = len(line[: line.index('"unitz"')].encode("utf-16-le")) // 2
    assert diagnostic.range.start == types.Position(line=3, character=utf16_column)
    utf8 = engine.to_diagnostic(document, unknown, "utf-8")
    assert utf8.range.start.character == len(line[: line.index('"unitz"')].encode())


# -- layercfg check ------------------------------------------------------------------------------


def _check(args, env, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "layercfg", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "good.layercfg.json").write_text(
        '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 4},'
        ' "registered_name": null}'
    )
    sub = tmp_path / "nested"
    sub.mkdir()
    (sub / "bad.layercfg.json").write_text(
        '{"module": "keras.layers", "class_name": "Dense",\n "config": {"units": "64"}}'
    )
    (sub / "ignored.json").write_text("{not even json")
    return tmp_path


def test_check_text_output_and_exit_codes(subprocess_env, plain_catalog, tree):
    result = _check([str(tree)], subprocess_env)
    assert result.returncode == 1, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if "LCF" in x]
    assert line.startswith(str(tree / "nested" / "bad.layercfg.json") + ":2:")
    assert "LCF104" in line
    assert "2 file(s) checked" in result.stdout
    clean = _check([str(tree / "good.layercfg.json")], subprocess_env)
    assert clean.returncode == 0 and "0 problem(s)" in clean.stdout


def test_check_json_output(subprocess_env, plain_catalog, tree):
    result = _check(["--format", "json", str(tree)], subprocess_env)
    data = json.loads(result.stdout)
    assert data["version"] == 1 and len(data["files"]) == 2
    (bad,) = [f for f in data["files"] if f["diagnostics"]]
    (diagnostic,) = bad["diagnostics"]
    assert diagnostic["code"] == "LCF104" and diagnostic["pointer"] == "/config/units"
    assert diagnostic["range"]["start"] == {"line": 1, "character": 21}
    assert diagnostic["source"] == "layercfg" and diagnostic["severity"] == "error"


def test_check_sarif_output(subprocess_env, plain_catalog, tree):
    result = _check(["--format", "sarif", str(tree)], subprocess_env)
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    (finding,) = run["results"]
    assert finding["ruleId"] == "LCF104" and finding["level"] == "error"
    region = finding["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (2, 22)


def test_check_usage_errors_exit_2(subprocess_env, plain_catalog, tmp_path):
    result = _check([str(tmp_path / "missing.layercfg.json")], subprocess_env)
    assert result.returncode == 2 and "no such file or directory" in result.stderr
    result = _check(["--format", "xml", str(tmp_path)], subprocess_env)
    assert result.returncode == 2


def test_a_missing_key_is_shown_on_the_key_naming_its_object(catalog):
    text = '{"module": "keras.layers", "class_name": "Dense", "config": {"activation": "relu"}}'
    document = Document.parse("file:///m.layercfg.json", text, 1)
    (missing,) = [
        c.problem
        for c in engine.check(document, Catalog.from_json(catalog), Settings())
        if c.problem.code == "LCF103"
    ]
    assert text[missing.start : missing.end] == '"config"'
    ((start, end, message),) = missing.related
    assert text[start:end] == '{"activation": "relu"}' and "lacks" in message
