"""Hostile input for what changed last, no Keras: docstrings whose markdown a CommonMark
reader takes apart where the hover's sanitizer did not (code spans over block boundaries,
fences in lists and quotes, an image's mark left behind) and a catalog whose schemas name a
meta-schema on the web (the worker that writes catalogs is not trusted to reach it), and a
``.keras`` member of millions of small tokens (its pretty view's memory), and methods named by
megabytes (echoed to the log whole), a cached catalog or part of gigabytes (read whole), and
a document opened and closed in a loop (a popup each time), a tf_keras TFOpLambda that names
a TensorFlow function with effects (no static finding); and a large flat document whose
syntax tree takes some 150 bytes a character (a hole left open)."""

from __future__ import annotations

import copy
import gzip
import http.server
import json
import subprocess
import sys
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsp_frames import messages as _messages
from markdown_it import MarkdownIt

from layercfg.schema_builder import cachekey, catalog_cache
from layercfg.server import archives
from layercfg.server.catalog import Catalog
from layercfg.server.services import markdown, security
from layercfg.server.services.hover import Hoverer
from layercfg.server.services.validation import validate

FROZEN = Path(__file__).parent / "data" / "frozen"

# -- docstrings that a CommonMark reader reads otherwise ------------------------------------------

# markdown-it (CommonMark, with GFM tables as VS Code's renderer has them) reads what the
# hover shows; what it finds live is what a client would render.
READER = MarkdownIt("commonmark").enable("table")
LINK = "[run](command:workbench.action.terminal.new)"


def _live(md: str) -> list[Any]:
    """The images, raw HTML and links to anything but a web address that ``md`` renders."""
    found: list[Any] = []

    def walk(tokens: list[Any]) -> None:
        for token in tokens:
            href = str(token.attrs.get("href", ""))
            if token.type == "link_open" and not href.startswith(("http://", "https://")):
                found.append(("link", href))
            elif token.type == "image":
                found.append(("image", token.attrs.get("src")))
            elif token.type in ("html_inline", "html_block"):
                found.append(("html", token.content))
            walk(token.children or [])

    walk(READER.parse(md))
    return found


HOSTILE_DOCSTRINGS = {
    "an image whose title holds a parenthesis": '![px](http://host/p.png "a(b")',
    "an image's mark left by an empty image": "!![](x)[px](http://host/p.png)",
    "an image's mark left by a tag": "!<b>[px](http://host/p.png)",
    "a tag's bracket left before a link's text": "<[img src=x onerror=alert(1)](x:y)>",
    "a code span over a blank line": f"`a\n\n{LINK}\n\n`",
    "a code span over a heading": f"`a\n# {LINK}\n`",
    "a code span over a setext underline": f"`a\n===\n{LINK}\n`",
    "a code span over a list item": f"`a\n- {LINK}\n`",
    "a code span over a quote": f"`a\n> {LINK}\n`",
    "a code span over an HTML block": "`a\n<div>\n<img src=x onerror=alert(1)>\n`",
    "a code span across an indented line": f"<b>    # ===`\n{LINK}`",
    "a code span cut by a table's cells": f"| h | i | j |\n| - | - | - |\n| `a | {LINK} | ` |",
    "a code span over lone CRs": f"`a\r\r{LINK}\r\r`",
    "a fence in a quote": f"> ```\n{LINK}\n> ```",
    "a fence in a list item": f"- ```\n  a\n  ```\n{LINK}\n- ```",
    "a fence in indented code": f"    ```\n{LINK}\n    ```",
    "a tilde fence indented": f"  ~~~\n```\n~~~\n{LINK}\n```",
    "a fence on the summary's line": f"```\na\n\n{LINK}\n\n```",
}


@pytest.fixture(scope="module")
def hoverer() -> Hoverer:
    return Hoverer(Catalog.from_json({"classes": []}))


@pytest.mark.parametrize("name", sorted(HOSTILE_DOCSTRINGS))
def test_a_docstring_renders_no_image_html_or_other_link(hoverer, name):
    doc = HOSTILE_DOCSTRINGS[name]
    # As a class's hover shows a summary (after its name, on its line) and as a key's hover
    # shows a description (a paragraph of its own between others).
    summary = hoverer.class_markdown({"class_name": "Dense", "summary": doc})
    assert _live(summary) == [], summary
    description = f"**units**\n\n{markdown.docstring(doc)}\n\nDefault: `1`"
    assert _live(description) == [], description


def test_what_a_docstring_keeps_still_renders():
    """The safe reading keeps a web link, a code span over lines of one paragraph and a
    fenced example at the margin."""
    doc = (
        "See [the guide](https://keras.io/g).\n"
        "Shape `(batch_size,\n    filters)` out.\n\n```python\nx = [1](2)\n```"
    )
    md = markdown.docstring(doc)
    tokens = READER.parse(md)
    assert [t.attrs["href"] for t in tokens[1].children or [] if t.type == "link_open"] == [
        "https://keras.io/g"
    ]
    assert [t.content for t in tokens[1].children or [] if t.type == "code_inline"] == [
        "(batch_size,     filters)"
    ]
    assert [t.content for t in tokens if t.type == "fence"] == ["x = [1](2)\n"]


# -- a catalog whose schema names a web address ---------------------------------------------------


@pytest.fixture(scope="module")
def frozen() -> dict[str, Any]:
    plain = sorted(FROZEN.glob("catalog-*-e3b0c44298fc1c14*.json.gz"))
    assert plain, f"no frozen catalog in {FROZEN}: run tests/frozen.py"
    with gzip.open(plain[-1], "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


@pytest.fixture()
def web() -> Iterator[tuple[str, list[str]]]:
    """A web server on the loopback and the paths asked of it."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            asked.append(self.path)
            body = b'{"$schema": "https://json-schema.org/draft/2020-12/schema"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("where", ["a property", "the class's schema"])
def test_a_catalog_schema_naming_a_web_meta_schema_is_never_fetched(frozen, web, where):
    """A catalog is data the worker wrote: a ``$schema`` (or ``$id``) deep in it must not
    make the server, which runs outside the worker's sandbox, reach the network."""
    address, asked = web
    data = copy.deepcopy(frozen)
    dense = data["schema"]["$defs"]["keras.layers.Dense"]
    target = dense["properties"]["units"] if where == "a property" else dense
    target["$schema"] = f"{address}/exfiltrate?secret=1"
    target["$id"] = f"{address}/resource.json"
    document = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": "d", "units": "x"},
        "registered_name": None,
    }
    findings = validate(document, Catalog.from_json(data))
    assert asked == []
    assert findings  # the document is still checked (or the schema refused with a finding)


# -- a .keras member of millions of small tokens -------------------------------------------------

MANY_TOKENS = {
    "numbers": "[" + "1," * (1 << 18) + "1]",
    "empty objects under keys": '{"a": [' + '{"k":{}},' * (1 << 16) + "{}]}",
}


@pytest.mark.parametrize("name", sorted(MANY_TOKENS))
def test_the_view_of_a_member_of_many_tokens_costs_a_few_times_its_size(tmp_path, name):
    """The pretty view of a member is a few times its size, whatever it holds: its reading
    must not keep a tuple per token (100 bytes each: a member at the 64 MB cap made
    gigabytes)."""
    text = MANY_TOKENS[name]
    path = tmp_path / "tokens.keras"
    with zipfile.ZipFile(path, "w") as archive:  # stored, as Keras stores its members
        archive.writestr("config.json", text)
    tracemalloc.start()
    try:
        read = archives.read(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read.raw == text and len(read.view) > len(text)
    assert peak < 16 * len(text), f"{peak >> 10} kB for a member of {len(text) >> 10} kB"


# -- a method named by megabytes ------------------------------------------------------------------


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_a_method_name_of_megabytes_is_not_echoed_to_the_log():
    """pygls logs an unknown method's name whole, once for a notification and once for a
    request (4 MB of stderr for two 2 MB names): its lines quote at most a few hundred
    characters of it, and the request is still answered."""
    name = "x" * (2 << 20)
    initialize = {"processId": None, "rootUri": None, "capabilities": {}}
    data = _frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize})
    data += _frame({"jsonrpc": "2.0", "method": name, "params": {}})
    data += _frame({"jsonrpc": "2.0", "id": 2, "method": name, "params": {}})
    data += _frame({"jsonrpc": "2.0", "id": 3, "method": "shutdown", "params": None})
    done = subprocess.run(
        [sys.executable, "-m", "layercfg", "lsp"], input=data, capture_output=True, timeout=120
    )
    assert b"unknown method" in done.stderr
    assert len(done.stderr) < 64 << 10, f"{len(done.stderr)} bytes of stderr"
    assert b'"id": 3' in done.stdout or b'"id":3' in done.stdout


# -- a cached file of gigabytes --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["catalog", "part"])
def test_a_cached_file_of_gigabytes_is_refused_unread(tmp_path, monkeypatch, which):
    """A sparse 4 GB file named as the catalog (or the part) was read whole, by the server
    for the catalog: refused by its size, it is rebuilt as a damaged one is."""
    monkeypatch.setenv("LAYERCFG_CACHE_DIR", str(tmp_path))
    key = cachekey.compute((), "keras")
    path = tmp_path / (key.filename if which == "catalog" else key.part_filename)
    with path.open("wb") as handle:
        handle.truncate(4 << 30)
    tracemalloc.start()
    try:
        if which == "catalog":
            with pytest.raises(OSError):
                Catalog.load(path)
        else:
            assert catalog_cache.read_part() is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


# -- a document opened and closed in a loop -------------------------------------------------------


def test_a_document_opened_and_closed_in_a_loop_is_not_a_popup_each_time():
    """A client that folds ranges one at a time (rangeLimit 1) got the notice that folding
    is limited once per open: 30 popups for 30 opens. Three a minute now (a reopened document
    says it again, but not without end); each request still answered."""
    capabilities = {"textDocument": {"foldingRange": {"rangeLimit": 1}}}
    initialize = {"processId": None, "rootUri": None, "capabilities": capabilities}
    data = _frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize})
    data += _frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    text = json.dumps({"class_name": "Dense", "config": {"a": {"b": [1, [2, [3]]]}}}, indent=1)
    uri = "file:///w/loop.layercfg.json"
    opened = {"uri": uri, "languageId": "json", "version": 1, "text": text}
    for ident in range(10, 40):
        data += _frame(
            {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": opened}}
        )
        params = {"textDocument": {"uri": uri}}
        data += _frame(
            {"jsonrpc": "2.0", "id": ident, "method": "textDocument/foldingRange", "params": params}
        )
        data += _frame(
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didClose",
                "params": {"textDocument": params["textDocument"]},
            }
        )
    data += _frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None})
    done = subprocess.run(
        [sys.executable, "-m", "layercfg", "lsp"], input=data, capture_output=True, timeout=120
    )
    messages = _messages(done.stdout)
    answered = {m["id"] for m in messages if "id" in m and "result" in m}
    assert set(range(10, 40)) <= answered
    shown = [m for m in messages if m.get("method") == "window/showMessage"]
    assert [m["params"]["message"][:10] for m in shown] == ["Folding in"] * 3


# -- a large flat document: its syntax tree's memory ----------------------------------------------

TREE_MEMORY = """
import gc, json, os
from layercfg.server.document import Document

def resident():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

text = "[" + "1," * (2 << 20) + "1]"
document = Document.parse("file:///w/flat.layercfg.json", text, 1)
document.value
gc.collect()
before = resident()
document.warm()  # what the publisher does for every document, off the first diagnostics
print(json.dumps({"text": len(text), "grown": resident() - before}))
"""


@pytest.mark.xfail(
    strict=True,
    reason="tree-sitter's tree of a document costs some 150 bytes a character (a 20 MB "
    "config, 3 GB; one at the 64 MB cap, about 9 GB): a document that large needs a "
    "tree-less path for node lookups and edits, which the document model does not have",
)
def test_the_syntax_tree_of_a_large_flat_document_costs_a_few_times_its_size():
    done = subprocess.run(
        [sys.executable, "-c", TREE_MEMORY], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout)
    assert measured["grown"] < 20 * measured["text"], measured


# -- a TFOpLambda naming a TensorFlow function with effects --------------------------------------


def _tf_op_model(function: str) -> dict[str, Any]:
    first = {"batch_input_shape": [None, 3], "name": "a"}
    op = {"name": "op", "function": function}
    node = [["_CONSTANT_VALUE", -1, "x", {"output_stream": "file:///tmp/x"}]]
    layers = [
        {"class_name": "InputLayer", "config": first, "name": "a", "inbound_nodes": []},
        {"class_name": "TFOpLambda", "config": op, "name": "op", "inbound_nodes": [node]},
    ]
    config = {"name": "m", "layers": layers, "input_layers": [["a", 0, 0]]}
    return {"class_name": "Functional", "config": {**config, "output_layers": [["op", 0, 0]]}}


@pytest.mark.parametrize(
    "function", ["print", "io.write_file", "py_function", "compat.v1.read_file", "config.run"]
)
def test_a_tf_op_layer_naming_a_function_with_effects_is_a_static_finding(function):
    """Without --deep, nothing said that the layer calls tf.print (to a file) when tf_keras
    rebuilds the model: only its file URL was noted, as a warning."""
    found = [f for f in security.scan(_tf_op_model(function)) if f.code == "LCF502"]
    assert [f.path for f in found] == [("config", "layers", 1, "config", "function")]
    assert found[0].severity == 1


@pytest.mark.parametrize("function", ["math.add", "reshape", "__operators__.getitem"])
def test_a_tf_op_layer_of_a_math_op_is_no_static_finding(function):
    assert not [f for f in security.scan(_tf_op_model(function)) if f.code == "LCF502"]
