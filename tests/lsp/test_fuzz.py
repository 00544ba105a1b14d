"""The running server under random edits and requests from a real client: every request is
answered, only current versions are published, and the server is alive at the end."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from layercfg.server.positions import LineIndex

from .conftest import SERVER, capabilities, start, wait_for_publication

URI = "file:///fuzz/model.layercfg.json"
OFF = {"deepCheck": "off"}
REQUEST_SECONDS = 20
REFUSED = -32803  # RequestFailed: formatting a document that is not strict JSON

BASE = json.dumps(
    {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {"name": f"dense_{i}", "units": 4, "activation": "relu"},
                    "registered_name": None,
                }
                for i in range(3)
            ],
        },
        "registered_name": None,
    },
    indent=2,
)
PIECES = [
    "\r\n",
    "\r",
    "\n",
    "\ufeff",
    "\x00",
    "\ud800",
    "\udc00",
    "\U0001f600",
    "é",
    "名",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"',
    "\\",
    '"name": "\ud83d",',
    '"units": 1e400, ',
    '"units": -0,',
    '{"class_name": "Dense", "config": {}}',
    "",
    " ",
    "null",
]


async def _session(client: LanguageClient, pull: bool) -> None:
    client.set_configuration(OFF, section="layercfg")
    name = "visual-studio-code" if pull else "neovim@v0.7.0"
    params = types.InitializeParams(
        capabilities=capabilities(name, pull=pull), initialization_options=OFF
    )
    await start(client, params)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def push(lsp_client: LanguageClient, plain_catalog):
    await _session(lsp_client, pull=False)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def pull(lsp_client: LanguageClient, plain_catalog):
    await _session(lsp_client, pull=True)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def bare(lsp_client: LanguageClient, plain_catalog):
    """A session the test shuts down itself."""
    await _session(lsp_client, pull=False)
    yield
    if lsp_client._server and lsp_client._server.returncode is None:
        lsp_client.exit(None)
        await lsp_client._server.wait()


def _open(client: LanguageClient, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=URI, language_id="json", version=version, text=text
            )
        )
    )


def _change(
    client: LanguageClient,
    version: int,
    changes: list[types.TextDocumentContentChangeEvent],
    uri: str = URI,
) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=changes,
        )
    )


class Mirror:
    """The client's copy of the text, to pick positions near (and past) its content."""

    def __init__(self, text: str) -> None:
        self.text = text

    def apply(self, rng: types.Range, new_text: str) -> None:
        lines = LineIndex(self.text)
        start, end = lines.offset_at(rng.start), lines.offset_at(rng.end)
        start, end = min(start, end), max(start, end)
        self.text = self.text[:start] + new_text + self.text[end:]

    def position(self, rnd: random.Random) -> types.Position:
        lines = self.text.split("\n")
        line = rnd.randrange(len(lines) + 2)  # past the last line too
        width = len(lines[line]) if line < len(lines) else 0
        return types.Position(line=line, character=rnd.randrange(width + 6))


def _requests(client: LanguageClient, position: types.Position, rng: types.Range):
    doc = types.TextDocumentIdentifier(uri=URI)
    at = types.TextDocumentPositionParams(text_document=doc, position=position)
    return {
        "completion": lambda: client.text_document_completion_async(
            types.CompletionParams(text_document=doc, position=position)
        ),
        "hover": lambda: client.text_document_hover_async(
            types.HoverParams(text_document=doc, position=position)
        ),
        "definition": lambda: client.text_document_definition_async(
            types.DefinitionParams(text_document=doc, position=position)
        ),
        "references": lambda: client.text_document_references_async(
            types.ReferenceParams(
                text_document=doc,
                position=at.position,
                context=types.ReferenceContext(include_declaration=True),
            )
        ),
        "documentSymbol": lambda: client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc)
        ),
        "foldingRange": lambda: client.text_document_folding_range_async(
            types.FoldingRangeParams(text_document=doc)
        ),
        "codeAction": lambda: client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=doc, range=rng, context=types.CodeActionContext(diagnostics=[])
            )
        ),
        "formatting": lambda: client.text_document_formatting_async(
            types.DocumentFormattingParams(
                text_document=doc, options=types.FormattingOptions(tab_size=2, insert_spaces=True)
            )
        ),
    }


async def _fuzz(client: LanguageClient, seed: int, steps: int, pull: bool) -> int:
    print(f"seed {seed}")
    rnd = random.Random(seed)
    mirror = Mirror(BASE)
    _open(client, BASE)
    version = 1
    answered = refused = 0
    for _ in range(steps):
        if rnd.random() < 0.5:
            start, end = mirror.position(rnd), mirror.position(rnd)
            if (end.line, end.character) < (start.line, start.character):
                start, end = end, start
            piece = "".join(rnd.choice(PIECES) for _ in range(rnd.randrange(3)))
            if rnd.random() < 0.03:  # now and then the whole text at once
                version += 1
                mirror.text = rnd.choice([BASE, BASE.replace("\n", "\r\n"), "\ufeff" + BASE])
                _change(
                    client,
                    version,
                    [types.TextDocumentContentChangeWholeDocument(text=mirror.text)],
                )
                continue
            rng = types.Range(start=start, end=end)
            version += 1
            _change(
                client, version, [types.TextDocumentContentChangePartial(range=rng, text=piece)]
            )
            mirror.apply(rng, piece)
            continue
        position = mirror.position(rnd)
        other = mirror.position(rnd)
        if (other.line, other.character) < (position.line, position.character):
            position, other = other, position
        requests = _requests(client, position, types.Range(start=position, end=other))
        name = rnd.choice(sorted(requests) + (["diagnostic"] if pull else []))
        if name == "diagnostic":
            call = client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
            )
        else:
            call = requests[name]()
        try:
            await asyncio.wait_for(call, REQUEST_SECONDS)
        except JsonRpcException as error:
            assert name == "formatting" and error.code == REFUSED, (name, error)
            refused += 1
        answered += 1
    print(
        f"{steps} steps: {version} versions, {answered} requests answered "
        f"({refused} formatting refusals)"
    )
    return version


def _assert_versions_only_move_forward(client: LanguageClient, sent: int) -> None:
    versions = [v for uri, v, _ in client.published if uri == URI]  # type: ignore[attr-defined]
    assert versions == sorted(versions), versions
    assert all(v is not None and 1 <= v <= sent for v in versions), versions


async def _alive(client: LanguageClient) -> None:
    hover = client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=0, character=1),
        )
    )
    await asyncio.wait_for(hover, REQUEST_SECONDS)


async def test_random_edits_and_requests_with_push_diagnostics(push: LanguageClient):
    began = time.perf_counter()
    last = await _fuzz(push, seed=20240607, steps=300, pull=False)
    await _alive(push)
    await wait_for_publication(push, URI, last, timeout=15)
    _assert_versions_only_move_forward(push, last)
    print(f"{time.perf_counter() - began:.1f} s")


async def test_random_edits_and_requests_with_pull_diagnostics(pull: LanguageClient):
    began = time.perf_counter()
    await _fuzz(pull, seed=7331, steps=300, pull=True)
    await _alive(pull)
    assert not pull.published  # type: ignore[attr-defined]  # a pull client is never pushed to
    print(f"{time.perf_counter() - began:.1f} s")


async def test_a_thousand_changes_in_a_second_publish_only_the_last(push: LanguageClient):
    seed = 1000
    print(f"seed {seed}")
    rnd = random.Random(seed)
    _open(push, BASE)
    await wait_for_publication(push, URI, 1)
    began = time.perf_counter()
    mirror = Mirror(BASE)
    for version in range(2, 1002):
        position = mirror.position(rnd)
        rng = types.Range(start=position, end=position)
        piece = rnd.choice([" ", "\n", "x", "é"])
        _change(push, version, [types.TextDocumentContentChangePartial(range=rng, text=piece)])
        mirror.apply(rng, piece)
        if version % 50 == 0:
            await asyncio.sleep(0.04)  # 1,000 changes spread over about a second
    sent = time.perf_counter() - began
    await wait_for_publication(push, URI, 1001, timeout=5)
    arrived = time.perf_counter() - began
    print(f"1,000 changes sent in {sent:.2f} s; last publication after {arrived - sent:.2f} s")
    await asyncio.sleep(0.5)  # nothing else may follow it
    versions = [v for uri, v, _ in push.published if uri == URI]  # type: ignore[attr-defined]
    assert versions[-1] == 1001
    assert versions.count(1001) == 1, versions
    _assert_versions_only_move_forward(push, 1001)


async def test_did_change_for_a_document_never_opened(push: LanguageClient):
    never = "file:///fuzz/never.layercfg.json"
    rng = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=3, character=9)
    )
    _change(
        push, 2, [types.TextDocumentContentChangePartial(range=rng, text='{"a": 1}')], uri=never
    )
    _change(push, 3, [types.TextDocumentContentChangeWholeDocument(text="{")], uri=never)
    hover = await push.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=never),
            position=types.Position(line=0, character=1),
        )
    )
    assert hover is None
    _open(push, BASE)
    await wait_for_publication(push, URI, 1)
    await _alive(push)


def _hover_request(client: LanguageClient) -> Any:
    return client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=0, character=1),
        )
    )


async def test_requests_after_shutdown_do_not_crash(bare: LanguageClient):
    _open(bare, BASE)
    await wait_for_publication(bare, URI, 1)
    await bare.shutdown_async(None)
    pending = [asyncio.ensure_future(_hover_request(bare)) for _ in range(3)]
    await asyncio.sleep(1)
    assert bare._server is not None and bare._server.returncode is None  # still running
    bare.exit(None)
    assert await asyncio.wait_for(bare._server.wait(), 10) == 0
    for future in pending:
        future.cancel()


async def test_requests_after_shutdown_are_errors(bare: LanguageClient):
    _open(bare, BASE)
    await wait_for_publication(bare, URI, 1)
    await bare.shutdown_async(None)
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(_hover_request(bare), 3)
