"""The shared vocabulary (``layercfg/codes.py``): every code the product writes is a ``Code``,
codes travel as their text, and severities keep LSP's numbers and the settings' words."""

from __future__ import annotations

import json
import re
from pathlib import Path

from layercfg.codes import SEVERITY_WORDS, Code, Severity
from layercfg.server.settings import SEVERITIES

ROOT = Path(__file__).parent.parent


def test_every_code_in_the_product_is_a_code_member():
    written = set()
    for folder in ("server", "schema_builder", "layercfg"):
        for path in (ROOT / folder).rglob("*.py"):
            written |= set(re.findall(r"\bLCF\d{3}\b", path.read_text(encoding="utf-8")))
    known = {code.value for code in Code}
    assert written - known == set()
    assert len(known) == len(Code)  # no two members share a code


def test_a_code_is_its_text_in_comparisons_json_and_messages():
    assert Code.UNKNOWN_LAYER == "LCF202" and "LCF202" == Code.UNKNOWN_LAYER
    assert {"LCF202": 1}[Code.UNKNOWN_LAYER] == 1
    assert json.dumps({"code": Code.UNKNOWN_LAYER}) == '{"code": "LCF202"}'
    assert f"{Code.UNKNOWN_LAYER}" == str(Code.UNKNOWN_LAYER) == "LCF202"
    assert Code("LCF202") is Code.UNKNOWN_LAYER


def test_severities_are_lsps_numbers_and_the_settings_words():
    assert [int(s) for s in Severity] == [1, 2, 3, 4]
    assert {word: (int(s) if s else None) for word, s in SEVERITY_WORDS.items()} == SEVERITIES
    assert Severity.from_word("warning") is Severity.WARNING and Severity.WARNING.word == "warning"
    assert Severity.from_word("off") is None and Severity.from_word("loud") is None
