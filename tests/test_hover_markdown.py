"""Hover and completion markdown: a string from the document renders as itself, never as a
link, image or HTML; a package's docstring keeps its http(s) links and loses its images,
raw HTML and other links. What renders is read here by a small CommonMark reader of its own
(code blocks and spans, backslash escapes), independent of ``markdown.py``."""

from __future__ import annotations

import copy
import json
import re

import pytest

from layercfg.server.catalog import Catalog
from layercfg.server.document import Document
from layercfg.server.services import markdown
from layercfg.server.services.completion import ClientSupport, Completer
from layercfg.server.services.hover import Hoverer
from layercfg.server.services.schema_match import Matcher

MARKDOWN = ClientSupport(snippets=True)
PLAIN = ClientSupport(markdown=False)

HOSTILE = [
    "[click](https://evil.example)",
    "![x](http://host/pixel.png)",
    "<img src=http://host/pixel.png>",
    "<script>alert(1)</script>",
    "<https://evil.example>",
    "https://evil.example/bare and www.evil.example and user@evil.example",
    "`x` [y](https://evil.example) `",
    "``[z](https://evil.example)`",
    "a\n\n[after a blank line](https://evil.example)",
    "line\r\n# heading\n- item\n> quote",
    "**bold** _em_ ~~gone~~ | table |",
    "[ref][1]\n\n[1]: https://evil.example",
    "&lt;img src=x&gt; &#60;b&#62;",
    "\\[escaped\\](https://evil.example)",
]
# A name that closes the code span it is shown in, then links, shows an image and a tag.
EVIL = "a` [click](https://evil.example) ![x](http://host/pixel.png) <img src=http://h/i.png> `b"
KEY = "[click](https://evil.example) ![x](http://host/pixel.png) <img src=http://h/i.png>"


def _without_code(md: str) -> str:
    """The markdown with its fenced code blocks and code spans taken out (CommonMark: a
    span closes at the next run of as many backticks)."""
    md = re.sub(r"(?ms)^ {0,3}(`{3,})[^\n]*\n.*?^ {0,3}\1`*[ \t]*$", "", md)
    out, at = [], 0
    while (run := re.compile(r"`+").search(md, at)) is not None:
        closing = re.compile(rf"(?<!`){run[0]}(?!`)").search(md, run.end())
        if closing is None:
            out.append(md[at : run.end()])
            at = run.end()
        else:
            out.append(md[at : run.start()] + " ")
            at = closing.end()
    return "".join(out) + md[at:]


def _rendered(md: str) -> str:
    """What of the markdown is read as markdown: outside code, escaped characters gone."""
    return re.sub(r"\\[!-/:-@\[-`{-~]", "", _without_code(md))


def _live(md: str) -> dict[str, list[str]]:
    """The links (their targets), images, tags and autolinks the markdown would render."""
    text = _rendered(md)
    outside = re.sub(r"\]\([^)]*\)", "]", text)  # the text without the links' targets
    return {
        "links": re.findall(r"\]\(\s*<?([^)\s>]*)", text),
        "images": re.findall(r"!\[", text),
        "tags": re.findall(r"<[A-Za-z/!?][^>]*>?", text),
        "autolinks": re.findall(r"(?:https?://|www\.)[^\s)]*|\S+@\S+\.\w+", outside),
        "references": re.findall(r"^\s{0,3}\[[^\]]+\]:", text, re.MULTILINE),
    }


def _inert(md: str) -> bool:
    return not any(_live(md).values())


@pytest.mark.parametrize("value", HOSTILE)
def test_document_text_is_escaped_to_itself(value):
    assert _inert(markdown.text(value))
    shown = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown.text(value))
    assert shown == re.sub(r"\r\n|\r|\n", r"\\n", value)
    assert markdown.plain(markdown.text(value)) == shown


@pytest.mark.parametrize("value", HOSTILE)
def test_document_text_in_a_code_span_is_one_span_of_itself(value):
    span = markdown.code(value)
    assert _inert(span)
    assert _without_code(span).strip() == ""  # nothing of it outside the span
    ticks = re.match(r"`+", span)[0]
    inner = span[len(ticks) : -len(ticks)]
    flat = re.sub(r"\r\n|\r|\n", r"\\n", value)
    assert inner in (flat, f" {flat} ")


def test_a_code_block_is_not_closed_by_its_content():
    md = markdown.block("f(sep='```')\n```\n[x](https://evil.example)", "python")
    assert _without_code(md).strip() == ""


@pytest.mark.parametrize(
    ("doc", "kept", "gone"),
    [
        ("See [the guide](https://keras.io/guides/x).", ["https://keras.io/guides/x"], []),
        ("A ![pixel](http://host/pixel.png) here", [], ["pixel.png"]),
        ("Raw <img src=http://host/i.png> and <b>bold</b>", [], ["<img", "<b>"]),
        ("[run](command:workbench.action.terminal.new)", [], ["command:"]),
        ("[js](javascript:alert(1))", [], ["javascript"]),
        ("[f](file:///etc/passwd)", [], ["file:"]),
        ("[a [nested] b](javascript:x)", [], ["javascript"]),
        ("[![img](http://h/i.png)](https://keras.io/x)", ["https://keras.io/x"], ["i.png"]),
        ("<!-- comment --> <?php ?>", [], ["<!--", "<?"]),
    ],
)
def test_docstrings_keep_web_links_only(doc, kept, gone):
    md = markdown.docstring(doc)
    live = _live(md)
    assert live["links"] == kept
    assert not live["images"] and not live["tags"] and not live["references"]
    for word in gone:
        assert word not in " ".join(live["links"] + live["autolinks"] + live["tags"])


def test_docstrings_keep_their_code_and_formatting():
    doc = 'Integers in `0 <= value < n`, like `"awq/<bits>"`; **bold** [keras](https://keras.io).'
    assert markdown.docstring(doc) == doc
    block = "Example:\n```python\nx = '<b>[a](javascript:b)</b>'\n```\nafter"
    assert markdown.docstring(block) == block
    unclosed = "Example:\n~~~~\nx = 1"
    assert markdown.docstring(unclosed) == unclosed + "\n~~~~"


# -- hover and completion over a catalog whose docstrings are hostile ---------------------------


@pytest.fixture(scope="module")
def hostile(catalog):
    data = copy.deepcopy(catalog)
    dense = next(e for e in data["classes"] if e["id"] == "keras.layers.Dense")
    dense["summary"] = (
        "Regular layer ![px](http://host/pixel.png) <img src=http://host/i.png> see "
        "[guide](https://keras.io/guides/x) or [run](command:workbench.action.terminal.new), "
        "`List<int>`"
    )
    dense["signature"] = "Dense(units, sep='```\\n[x](https://evil.example)')"
    dense["doc_url"] = "javascript:alert(1)"
    schema = data["schema"]["$defs"]["keras.layers.Dense"]
    schema["properties"]["units"]["description"] = (
        "Units. <script>alert(1)</script> [j](javascript:alert(1)) ![i](https://host/i.png)"
    )
    schema["properties"]["units"]["markdownDescription"] = schema["properties"]["units"][
        "description"
    ]
    dense["params"]["units"]["description"] = schema["properties"]["units"]["description"]
    schema["properties"][KEY] = {"type": "integer", "description": "a key named by markdown"}
    cat = Catalog.from_json(data)
    walker = Matcher(cat)
    return Completer(cat, walker), Hoverer(cat, walker)


def _hover(hoverer, value, needle, support=MARKDOWN, after=1):
    text = json.dumps(value)
    document = Document.parse("file:///t.layercfg.json", text, 1)
    hover = hoverer.hover(document, text.index(needle) + after, support)
    assert hover is not None, needle
    return hover.contents.value


DENSE = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 3, "name": EVIL}}
MODEL = {
    "module": "keras",
    "class_name": "Functional",
    "config": {
        "name": "m",
        "layers": [
            {
                "module": "keras.layers",
                "class_name": "InputLayer",
                "name": EVIL,
                "config": {"name": EVIL, "batch_shape": [None, 3]},
                "inbound_nodes": [],
            }
        ],
        "input_layers": [[EVIL, 0, 0]],
        "output_layers": [[EVIL, 0, 0]],
    },
}


def test_a_layer_name_from_the_document_is_no_link(hostile):
    md = _hover(hostile[1], MODEL, '"input_layers": [["', after=len('"input_layers": [["') + 1)
    assert md.startswith("Layer `") and md.endswith("` of this model")
    assert _inert(md), _live(md)
    assert _hover(hostile[1], MODEL, '"input_layers": [["', PLAIN, 20) == (
        f"Layer {EVIL} of this model"
    )


def test_a_key_from_the_document_is_no_link(hostile):
    value = {**DENSE, "config": {"units": 3, KEY: 1}}
    md = _hover(hostile[1], value, '"[click]')
    assert md.startswith("**") and "a key named by markdown" in md
    assert _inert(md), _live(md)


def test_a_class_hover_keeps_web_links_of_its_docstring_only(hostile):
    md = _hover(hostile[1], DENSE, '"Dense"')
    live = _live(md)
    assert [link for link in live["links"] if not link.startswith("file://")] == [
        "https://keras.io/guides/x"
    ]
    assert not live["images"] and not live["tags"] and not live["autolinks"]
    assert "**Dense** — Regular layer px" in md and "`List<int>`" in md
    assert "javascript" not in md  # the doc_url that is not a web address is left out
    assert "Dense(units, sep=" in _without_code(md) or "Dense(units" in md


def test_a_key_hover_and_its_completion_drop_what_the_docstring_may_not_show(hostile):
    completer, hoverer = hostile
    md = _hover(hoverer, DENSE, '"units"')
    assert _inert(md), _live(md)
    assert "Units." in md and "**units**" in md
    text = json.dumps({**DENSE, "config": {}})
    document = Document.parse("file:///t.layercfg.json", text, 1)
    items = completer.complete(document, text.index("{}") + 1, MARKDOWN).items
    units = next(item for item in items if item.label == "units")
    assert "Units." in units.documentation.value and _inert(units.documentation.value)
    text = json.dumps({"module": "keras.layers", "class_name": "", "config": {}})
    document = Document.parse("file:///t.layercfg.json", text, 1)
    at = text.index('"class_name": "') + len('"class_name": "')
    items = completer.complete(document, at, MARKDOWN).items
    dense = next(item for item in items if item.label == "Dense")
    live = _live(dense.documentation.value)
    assert live["links"] == ["https://keras.io/guides/x"]
    assert not live["images"] and not live["tags"]


def test_a_key_completed_as_a_snippet_is_inserted_as_its_own_json_string(catalog):
    """A parameter name holding a quote, a backslash or snippet syntax (``$1``, ``${``,
    ``}``) is inserted as the JSON string of that name, in snippets and plain text alike."""
    name = 'odd"key\\ $1 ${2:x} }'
    data = copy.deepcopy(catalog)
    schema = data["schema"]["$defs"]["keras.layers.Dense"]
    schema["properties"][name] = {"type": "integer", "default": 7}
    cat = Catalog.from_json(data)
    completer = Completer(cat, Matcher(cat))
    text = json.dumps({"module": "keras.layers", "class_name": "Dense", "config": {}})
    document = Document.parse("file:///t.layercfg.json", text, 1)
    at = text.index("{}") + 1
    for support, expanded in ((MARKDOWN, _expand_snippet), (PLAIN, lambda t: t)):
        items = completer.complete(document, at, support).items
        (item,) = [i for i in items if i.label == name]
        inserted = item.text_edit.new_text if item.text_edit else item.insert_text
        assert json.loads("{" + expanded(inserted) + "}") == {name: 7}


def _expand_snippet(text: str) -> str:
    """What a client inserts for an LSP snippet: placeholders replaced by their text, the
    escapes \\$, \\} and \\\\ undone."""
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "$}\\":
            out.append(text[index + 1])
            index += 2
        elif text.startswith("${", index):
            colon = text.index(":", index)
            index = colon + 1  # the placeholder's text follows; its closing brace is dropped
        elif char == "}":
            index += 1
        elif char == "$" and index + 1 < len(text) and text[index + 1].isdigit():
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)
