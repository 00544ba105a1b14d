"""Markdown for hover and completion documentation, made safe to render.

A string from the document is shown as itself: escaped (``text``) or in a code span
(``code``), never as a link, an image or HTML. A docstring from a package keeps its own
markdown (emphasis, code, http(s) links) but not images, raw HTML or links anywhere else
(``docstring``). ``plain`` is what a client that takes no markdown sees of it all."""

from __future__ import annotations

import functools
import re

_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_BREAKS = re.compile(r"\r\n|\r|\n")
_TICKS = re.compile(r"`+")
_FENCE = re.compile(r"^(`{3,}|~{3,})")  # at the margin only: an indented one may be in a list
_TILDES = re.compile(r"~{3,}")
# A line that opens a block or ends a paragraph (blank, a heading, a quote, a list item, a
# rule, a setext underline, HTML, a fence, a table's delimiter row): a code span cannot run
# on into it.
_BREAKER = re.compile(r"[ \t]*(?:$|[#>*+\-=_|:<`~0-9!\[])")  # ! and [: an image's or link's text
_TABLE_RULE = re.compile(r"(?m)^(?=[^\n]*\|)(?=[^\n]*-)[ \t>]*[|:\- \t]+$")
_IMAGE = re.compile(r"!\[([^\[\]\n]*)\](?:\([^()\n]*\)|\[[^\[\]\n]*\])")
_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?([^\s()<>]*)>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)")
_WEB = re.compile(r"https?://[^\s()<>\[\]`\\]+\Z", re.IGNORECASE)
_TAG = re.compile(r"<(?=[A-Za-z/!?]|\Z)")  # at the end: a link's text may follow
_HTML = re.compile(
    r"<[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|</[A-Za-z][A-Za-z0-9-]*\s*>"
    r"|<!--.*?-->|<\?.*?\?>|<![A-Za-z][^<>]*>|<!\[CDATA\[.*?\]\]>",
    re.DOTALL,
)
_TOKEN = re.compile(r"\\([!-/:-@\[-`{-~])|(`+)")  # a backslash escape, or a backtick run


def _one_line(value: str) -> str:
    """Line breaks shown as ``\\n``: a blank line would end the paragraph (and a code span
    around it) and let what follows be read as markdown of its own."""
    return _BREAKS.sub(r"\\n", value)


def text(value: str) -> str:
    """``value`` as literal text: each ASCII punctuation character backslash-escaped (but an
    underscore inside a word, which cannot begin or end emphasis), so that no link, image,
    autolink, HTML or emphasis starts in it."""
    flat = _one_line(value)
    out = []
    last = len(flat) - 1
    for index, char in enumerate(flat):
        inside_word = 0 < index < last and flat[index - 1].isalnum() and flat[index + 1].isalnum()
        if char == "_" and inside_word:
            out.append(char)
            continue
        out.append("\\" + char if char in _PUNCTUATION else char)
    return "".join(out)


def code(value: str) -> str:
    """``value`` in an inline code span, whatever backticks it holds (the fence is longer
    than its longest run of them): nothing inside a code span is rendered."""
    flat = _one_line(value)
    longest = max((len(run) for run in _TICKS.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat[:1] in ("`", " ") or flat[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def block(value: str, language: str = "") -> str:
    """``value`` in a fenced code block whose fence no line of it can close."""
    longest = max((len(run) for run in _TICKS.findall(value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{value}\n{fence}"


def docstring(value: object) -> str:
    """A package's docstring text with what it may not show taken out: an image becomes its
    alt text, raw HTML goes, a link to anything but an http(s) address becomes its
    text. Code blocks and code spans are left as they are (nothing in them renders). Not a
    string: nothing."""
    return _docstring(value) if isinstance(value, str) else ""


@functools.lru_cache(maxsize=4096)  # the catalog's texts, shown again and again
def _docstring(value: str) -> str:
    out: list[str] = []
    prose: list[str] = []
    lines = _BREAKS.split(value)  # a CR alone ends a line too
    index = 0
    while index < len(lines):
        opened = _FENCE.match(lines[index]) if index else None  # line 1 may follow a title
        if opened is None or (opened[1][0] == "`" and "`" in lines[index][opened.end() :]):
            prose.append(lines[index])
            index += 1
            continue
        if prose:
            out.append(_spans("\n".join(prose)))
            prose = []
        mark, width = re.escape(opened[1][0]), len(opened[1])
        closing = re.compile(rf"^ {{0,3}}{mark}{{{width},}}\s*$")
        end = next((j for j in range(index + 1, len(lines)) if closing.match(lines[j])), None)
        stop = len(lines) if end is None else end + 1
        out.append("\n".join(lines[index:stop]))
        if end is None:  # closed here, not by what the hover says after it
            out.append(opened[1])
        index = stop
    if prose:
        out.append(_spans("\n".join(prose)))
    return "\n".join(out)


def _spans(value: str, spans: bool = True) -> str:
    """Prose with its backslash escapes and code spans kept as they are and the rest made
    safe (``_prose``). An escaped backtick opens no span, as in CommonMark. A span is kept
    only where no reading of the block structure can cut it: within its line, or over lines
    that carry its paragraph on; and with no pipe, nor over lines, where a table may be."""
    tables = spans and _TABLE_RULE.search(value) is not None
    out = []
    start = at = 0
    while (token := _TOKEN.search(value, at)) is not None:
        if token[1] is not None:  # an escape: already literal
            out.append(_prose(value[start : token.start()]) + token[0])
            start = at = token.end()
            continue
        closing = _closing(value, token) if spans else None
        if closing is None:  # no span: the backticks are literal text
            out.append(_prose(value[start : token.start()]) + "\\`" * len(token[2]))
            start = at = token.end()
            continue
        if not _kept(value, token.start(), closing.start(), tables):  # shown, but as text
            inner = _spans(value[token.end() : closing.start()], spans=False)
            ticks = "\\`" * len(token[2])
            out.append(_prose(value[start : token.start()]) + ticks + inner + ticks)
            start = at = closing.end()
            continue
        out.append(_prose(value[start : token.start()]) + value[token.start() : closing.end()])
        start = at = closing.end()
    out.append(_prose(value[start:]))
    return "".join(out)


def _closing(value: str, run: re.Match[str]) -> re.Match[str] | None:
    """The backtick run that closes the code span ``run`` opens (as many backticks)."""
    return re.compile(rf"(?<!`){run[2]}(?!`)").search(value, run.end())


def _kept(value: str, start: int, end: int, tables: bool) -> bool:
    """Whether the code span from ``start`` to ``end`` is one whatever the blocks are."""
    inner = value[start:end]
    if tables and "|" in inner:
        return False
    if "\n" not in inner:
        return True
    opening = _prose(value[value.rfind("\n", 0, start) + 1 : start])
    if tables or opening[:1] in (" ", "\t") or _BREAKER.match(opening.lstrip(" \t") or "a"):
        return False
    return not any(_BREAKER.match(line) for line in inner.split("\n")[1:])


def _prose(value: str) -> str:
    value = _IMAGE.sub(lambda m: m[1], value)
    out = []
    at = 0
    for link in _LINK.finditer(value):
        before = _inert(value[at : link.start()])
        if before.endswith("!"):  # an image's mark left by what was taken out before it
            before = before[:-1] + "\\!"
        out.append(before)
        label = _inert(link[1])
        out.append(f"[{label}]({link[2]})" if _WEB.match(link[2]) else label)
        at = link.end()
    out.append(_inert(value[at:]))
    return "".join(out)


def _inert(value: str) -> str:
    """Prose with no link, image or HTML left to start: brackets escaped, HTML tags (and
    comments, processing instructions, declarations) taken out, and a ``<`` left before
    a tag name escaped."""
    value = value.replace("[", "\\[").replace("]", "\\]")
    value = _TILDES.sub(lambda m: "\\" + m[0], value)  # a fence in a list or a quote
    return _TAG.sub(r"\\<", _HTML.sub("", value))


def web_address(value: object) -> str | None:
    """``value`` when it is an http(s) address that can stand in a link as it is."""
    return value if isinstance(value, str) and _WEB.match(value) else None


_BLOCK = re.compile(r"(?ms)^ {0,3}(`{3,})\w*\n(.*?)\n {0,3}\1`*[ \t]*$")
_MARKERS = {0xE000: None, 0xE001: None}  # what ``plain`` marks what it keeps aside with


def plain(markdown: str) -> str:
    """What a client that asked for plain text should see of the markdown."""
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"\ue000{len(kept) - 1}\ue001"

    source = _BLOCK.sub(lambda m: keep(m[2]), markdown.translate(_MARKERS))
    source = re.sub(r"(?m)^ {0,3}`{3,}\w*\n?", "", source)
    out = []
    at = 0
    while (token := _TOKEN.search(source, at)) is not None:
        out.append(source[at : token.start()])
        at = token.end()
        if token[1] is not None:
            out.append(keep(token[1]))
        elif (closing := _closing(source, token)) is None:
            out.append(token[2])
        else:
            inner = source[token.end() : closing.start()]
            if inner[:1] == inner[-1:] == " " and inner.strip(" "):
                inner = inner[1:-1]
            out.append(keep(inner))
            at = closing.end()
    out.append(source[at:])
    text_ = "".join(out)
    text_ = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 <\2>", text_)
    text_ = re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"\1", text_)
    text_ = text_.replace("**", "").replace("`", "")
    return re.sub("\ue000([0-9]+)\ue001", lambda m: kept[int(m[1])], text_)
