"""Safety classes of fixes: the distance that ranks did-you-means, what makes one safe, and
what ``check --fix``, ``--unsafe-fixes``, fix all and the quick fixes do with each class."""

from __future__ import annotations

import json
import warnings

import keras
import pytest
from lsprotocol import types

from layercfg.cli import main
from layercfg.server import engine
from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services import code_actions, fix_safety
from layercfg.server.services.code_actions import ActionSupport, Fixer
from layercfg.server.settings import Settings

URI = "file:///model.layercfg.json"
SETTINGS = Settings()


@pytest.fixture(scope="module")
def cat(catalog: dict) -> Catalog:
    return Catalog.from_json(catalog)


@pytest.fixture(scope="module")
def fixer(cat: Catalog) -> Fixer:
    return Fixer(cat)


def layer(class_name: str, **config) -> str:
    value = {
        "module": "keras.layers",
        "class_name": class_name,
        "config": config,
        "registered_name": None,
    }
    return json.dumps(value, indent=2) + "\n"


def loads(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.saving.deserialize_keras_object(json.loads(text), safe_mode=True)


def fixes_of(fixer: Fixer, text: str, code: str) -> list[code_actions.Fix]:
    document = Document.parse(URI, text, 1)
    found = [c for c in engine.check(document, fixer.catalog, SETTINGS) if c.problem.code == code]
    assert found, f"no {code} in {text!r}"
    return fixer.fixes(document, found[0].problem, found[0].path)


# -- the distance ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word, name, expected",
    [
        ("targte_shape", "target_shape", 1.0),  # one transposition, not two substitutions
        ("Coonv2D", "Conv2D", 1.0),
        ("sigmoid_", "sigmoid", 1.0),
        ("conv2d", "Conv2D", 2 * fix_safety.CASE_COST),
        ("relu", "relu", 0.0),
        ("abc", "xyz", 3.0),
    ],
)
def test_distance(word, name, expected):
    assert fix_safety.distance(word, name) == expected


def test_a_name_clearly_closest_is_safe_and_a_tie_is_not():
    assert fix_safety.judge_name("rleu", "relu", ["relu", "relu6", "elu"]).safe
    tie = fix_safety.judge_name("reluu", "relu", ["relu", "relu6"])
    assert tie.applicability == fix_safety.UNSAFE and "relu6" in tie.reason
    far = fix_safety.judge_name("rectifier", "relu", ["relu"])
    assert not far.safe and "not close" in far.reason


# -- the four mistakes --fix used to leave --------------------------------------------------------

FOUR = [
    pytest.param(layer("Reshape", target_shape=[4]), "target_shape", "targte_shape", id="key"),
    pytest.param(
        layer("BatchNormalization", beta_regularizer=None),
        "beta_regularizer",
        "bta_regularizer",
        id="key-deletion",
    ),
    pytest.param(
        layer("Dense", units=2, activation="sigmoid"), '"sigmoid"', '"sigmoid_"', id="activation"
    ),
    pytest.param(layer("Conv2D", filters=2, kernel_size=3), '"Conv2D"', '"Coonv2D"', id="class"),
]


@pytest.mark.parametrize("good, right, wrong", FOUR)
def test_check_fix_applies_the_clearly_closest_name(cat, tmp_path, capsys, good, right, wrong):
    path = tmp_path / "a.layercfg.json"
    path.write_text(good.replace(right, wrong))
    assert main(["check", "--fix", str(path)]) == 0
    assert path.read_text() == good
    err = capsys.readouterr().err
    assert "(safe)" in err and "0 problem(s) left" in err
    loads(path.read_text())


# -- an ambiguous name: unsafe ---------------------------------------------------------------------

AMBIGUOUS = layer("Dense", units=2, activation="reluu")  # relu or relu6: one letter each


def test_an_ambiguous_name_is_unsafe(fixer):
    fixes = fixes_of(fixer, AMBIGUOUS, "LCF105")
    best = fixes[0]
    assert not best.safe and not best.preferred and best.unsafe
    assert "as close" in best.reason
    assert not any(f.safe or f.unsafe for f in fixes[1:])  # the other choices are for a person


def test_fix_leaves_an_ambiguous_name_and_says_why(cat, tmp_path, capsys):
    path = tmp_path / "a.layercfg.json"
    path.write_text(AMBIGUOUS)
    assert main(["check", "--fix", "--format", "json", str(path)]) == 1
    assert path.read_text() == AMBIGUOUS
    report = json.loads(capsys.readouterr().out)
    (item,) = report["files"]
    assert item["fixes"]["applied"] == []
    (left,) = item["fixes"]["left"]
    assert left["code"] == "LCF105" and left["pointer"] == "/config/activation"
    assert "--unsafe-fixes" in left["reason"] and "as close" in left["reason"]


def test_unsafe_fixes_apply_the_best_candidate(cat, tmp_path, capsys):
    path = tmp_path / "a.layercfg.json"
    path.write_text(AMBIGUOUS)
    assert main(["check", "--fix", "--unsafe-fixes", str(path)]) == 0
    fixed = json.loads(path.read_text())
    assert fixed["config"]["activation"] in ("relu", "relu6")
    assert "fixed LCF105 (unsafe)" in capsys.readouterr().err
    loads(path.read_text())


def test_unsafe_fixes_need_fix_or_diff(cat, tmp_path, capsys):
    path = tmp_path / "a.layercfg.json"
    path.write_text(AMBIGUOUS)
    assert main(["check", "--unsafe-fixes", str(path)]) == 2
    assert "--unsafe-fixes goes with --fix or --diff" in capsys.readouterr().err


# -- a fix that leaves the document invalid is never safe ------------------------------------------

INVALID_AFTER = [
    # units must be an integer: the rename would only trade one error for another
    pytest.param(layer("Dense", unitz="abc"), "LCF102", "Change to 'units'", id="key"),
    # Conv2D has no 'units': the config says the class meant is another one
    pytest.param(
        layer("Coonv2D", filters=2, kernel_size=3, units=4),
        "LCF101",
        "Change to 'Conv2D' (keras.layers)",
        id="class",
    ),
]


@pytest.mark.parametrize("text, code, title", INVALID_AFTER)
def test_a_fix_that_leaves_an_error_is_never_safe(cat, fixer, tmp_path, capsys, text, code, title):
    best = fixes_of(fixer, text, code)[0]
    assert best.title == title
    assert not best.safe and best.unsafe and "would not be valid" in best.reason
    path = tmp_path / "a.layercfg.json"
    path.write_text(text)
    assert main(["check", "--fix", str(path)]) == 1
    assert path.read_text() == text
    assert f"not fixed {code}: unsafe fix: the document would not be valid" in (
        capsys.readouterr().err
    )


def test_a_class_fix_keeps_the_package(fixer):
    text = json.dumps(
        {
            "module": "keras.layers",
            "class_name": "Dens",
            "config": {"units": 2},
            "registered_name": None,
        }
    )
    assert fixes_of(fixer, text, "LCF101")[0].safe
    moved = fix_safety.judge_class(
        {"module": "mypackage.layers", "class_name": "Dens", "config": {"units": 2}},
        fixer.catalog,
        ("class_name",),
        {"class_name": "Dense", "module": "keras.layers", "registered_name": None},
        [{"class_name": "Dense", "module": "keras.layers", "registered_name": None}],
        [(("module",), "keras.layers")],
    )
    assert not moved.safe and "moves the class" in moved.reason


# -- fix all and the quick fixes -------------------------------------------------------------------

MIXED = (
    '{\n  "module": "keras.layers",\n  "class_name": "Dense",\n  "config": {\n'
    '    "unitz": 4,\n    "activation": "reluu",\n    "use_bias": true\n'
    '  },\n  "registered_name": null\n}\n'
)


def test_fix_all_applies_only_the_safe_fixes(cat):
    after, applied = code_actions.fix_all(Document.parse(URI, MIXED, 1), cat, SETTINGS)
    assert after == MIXED.replace('"unitz"', '"units"')
    assert [(f.code, f.safe) for f in applied] == [("LCF102", True)]
    outcome = fix_safety.apply_fixes(Document.parse(URI, MIXED, 1), cat, SETTINGS)
    assert outcome.text == after  # check --fix is fix all
    assert [left.checked.problem.code for left in outcome.left] == ["LCF105"]
    unsafe = fix_safety.apply_fixes(Document.parse(URI, MIXED, 1), cat, SETTINGS, unsafe=True)
    assert {f.code for f in unsafe.applied} == {"LCF102", "LCF105"} and unsafe.left == []


def test_quick_fixes_show_their_class(cat, fixer):
    document = Document.parse(URI, MIXED, 1)
    current = [engine.to_diagnostic(document, c) for c in engine.check(document, cat, SETTINGS)]
    everything = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=99, character=0)
    )
    actions = code_actions.quick_fixes(
        document, fixer, [], current, everything, ActionSupport(), "utf-16"
    )
    by_title = {a.title: a for a in actions}
    assert by_title["Change to 'units'"].is_preferred
    assert by_title['Change to "relu" (unsafe)'].is_preferred is None
    assert 'Change to "relu6"' in by_title  # another choice: no class shown
    assert code_actions.has_safe_fix(document, fixer, current, "utf-16")
