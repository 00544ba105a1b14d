"""A ``.keras`` archive in the editor: the server hands out its ``config.json`` pretty-printed
under a ``layercfg:`` URI, and that read-only document gets every feature (diagnostics at the
right place, hover, outline). ``layercfg/detect`` tells Keras ``config.json`` files from
Hugging Face ones. Archives saved by Keras in this session."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from keras_files import built  # noqa: E402

from .conftest import wait_for_status  # noqa: E402


def _fields(value: Any) -> Any:
    if hasattr(value, "_asdict"):  # pygls answers a custom request with named tuples
        return {k: _fields(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_fields(item) for item in value]
    if isinstance(value, dict):
        return {k: _fields(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return {
        k: _fields(getattr(value, k))
        for k in dir(value)
        if not k.startswith("_") and not callable(getattr(value, k))
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return built(tmp_path_factory)


@pytest.fixture
def typo_archive(tmp_path, saved) -> Path:
    target = tmp_path / "typo model.keras"
    with (
        zipfile.ZipFile(saved / "k3_functional.keras") as zin,
        zipfile.ZipFile(target, "w") as zout,
    ):
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                data = data.replace(b'"units": 5', b'"units": "5"')
            zout.writestr(info, data)
    return target


async def _content(client: LanguageClient, uri: str) -> dict:
    answer = await client.protocol.send_request_async("layercfg/archiveContent", {"uri": uri})
    return _fields(answer)


async def test_archive_opens_as_a_read_only_document_with_every_feature(
    vscode: LanguageClient, typo_archive: Path
):
    await wait_for_status(vscode, "ready")
    answer = await _content(vscode, typo_archive.as_uri())
    assert answer["readOnly"] is True and answer["member"] == "config.json"
    uri, text = answer["uri"], answer["text"]
    assert uri.startswith("layercfg://") and uri.endswith("/config.json")
    assert text.count("\n") > 20  # pretty-printed: Keras wrote one line
    assert _fields(await _content(vscode, uri))["text"] == text  # the same by either URI
    vscode.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="layercfg-json", version=1, text=text
            )
        )
    )
    report = await vscode.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    (wrong,) = [d for d in report.items if d.code == "LCF104" and "units" in d.message]
    line = text.splitlines()[wrong.range.start.line]
    assert line[wrong.range.start.character :].startswith('"5"')
    row = next(i for i, line in enumerate(text.splitlines()) if '"activation": "relu"' in line)
    column = text.splitlines()[row].index('"activation"') + 2
    hover = await vscode.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=row, character=column),
        )
    )
    assert hover is not None and "activation" in json.dumps(_fields(hover.contents)).lower()
    symbols = await vscode.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert {"hidden", "head"} <= set(json.dumps(_fields(symbols)).replace('"', " ").split())


async def test_tf_keras_213_archive_content_says_to_upgrade(vscode: LanguageClient, saved):
    answer = await _content(vscode, (saved / "tf213_functional.keras").as_uri())
    assert answer["kerasVersion"] == "2.13.1"
    assert answer["notes"] and "layercfg upgrade" in answer["notes"][0]


async def test_not_an_archive(vscode: LanguageClient, tmp_path):
    (tmp_path / "x.keras").write_text("not a zip")
    answer = await _content(vscode, (tmp_path / "x.keras").as_uri())
    assert "not a zip archive" in answer["error"]
    assert (
        await vscode.protocol.send_request_async(
            "layercfg/archiveContent", {"uri": "file:///a/b.txt"}
        )
        is None
    )


async def test_detect_tells_keras_from_hugging_face(vscode: LanguageClient, tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(
        json.dumps({"architectures": ["BertModel"], "model_type": "bert"})
    )
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "config.json").write_text(json.dumps({"lr": 1}))
    (tmp_path / "k" / "metadata.json").write_text(json.dumps({"keras_version": "3.15.1"}))
    hf = _fields(
        await vscode.protocol.send_request_async(
            "layercfg/detect", {"uri": (tmp_path / "hf" / "config.json").as_uri()}
        )
    )
    assert hf["kind"] == "transformers" and hf["keras"] is False and hf["reason"]
    keras = _fields(
        await vscode.protocol.send_request_async(
            "layercfg/detect", {"uri": (tmp_path / "k" / "config.json").as_uri()}
        )
    )
    assert keras["keras"] is True and "metadata.json" in keras["reason"]
