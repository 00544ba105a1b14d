"""The tolerant parser, for text that is not valid JSON: a best-effort value, every syntax
problem, and a navigable view of the broken regions, from the tokens of ``doc_lex``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tree_sitter import Tree

from .doc_base import MAX_DEPTH, Span, _escaped_at_end
from .doc_lex import _Lexer, _Stop, _Token
from .doc_strict import _duplicate
from .doc_view import _Array, _Context, _Member, _Object, _Value


@dataclass(slots=True)
class _Frame:
    node: _Object | _Array
    value: dict[str, Any] | list[Any] | None  # None: not kept (discarded or too deep)
    state: str  # object: key, colon, value, comma; array: value, comma
    member: _Member | None = None
    comma: _Token | None = None  # a ',' after an item, for trailing-comma findings
    seen: dict[str, Span] | None = None


# json.loads(str) stops at "\ufeff" ("Unexpected UTF-8 BOM"), and so does json.load of a
# file opened in text mode; only bytes given to json.loads are let through.
_BOM_MESSAGE = "Byte order mark: json.loads and json.load of a text file reject it"
_CLOSER = {"{": "}", "[": "]"}
_OPENER = {"}": "{", "]": "["}


class _Tolerant(_Lexer):
    """An error-tolerant JSON parser: builds the best-effort value, the navigation view and
    the syntax findings in one pass, without recursion (any depth of nesting)."""

    def __init__(self, text: str, start: int, tree: Tree, ctx: _Context) -> None:
        super().__init__(text, start, tree, ctx)
        self.frames: list[_Frame] = []
        self.root: _Value | None = None
        self.value: Any = None
        self.last_end = start

    def depth(self) -> int:
        return len(self.frames)

    # -- values

    def key(self, token: _Token) -> _Member:
        raw = self.text[token.start : token.end]
        span = (token.start, token.end)
        if token.kind == "string":
            _, key, _ = self.scalar(token)
            closed = len(raw) >= 2 and raw[-1] == '"' and not _escaped_at_end(raw)
            return _Member(key, span, True, closed, None, None)
        if token.kind == "sq":
            self.error(token.start, token.end, "Property names must be in double quotes")
            body = raw[1:-1] if len(raw) >= 2 and raw.endswith("'") else raw[1:]
            return _Member(body, span, False, True, None, None)
        self.error(token.start, token.end, "Property names must be in double quotes")
        return _Member(raw, span, False, True, None, None)

    def add_member(self, frame: _Frame, member: _Member) -> None:
        node = frame.node
        assert isinstance(node, _Object) and node.members is not None
        node.members.append(member)
        frame.member = member
        frame.comma = None
        if member.key is not None and member.key_span is not None:
            if frame.seen is None:
                frame.seen = {}
            first = frame.seen.setdefault(member.key, member.key_span)
            if first != member.key_span:
                self.problems.append(_duplicate(member.key, member.key_span, first))

    def start_value(self, token: _Token, frame: _Frame | None, keep: bool = True) -> None:
        """Start the value `token` begins, attaching it to `frame` (None: the root)."""
        if frame is not None:
            frame.state = "comma"
            frame.comma = None
        if token.kind in ("{", "["):
            depth = len(self.frames) + 1
            node: _Value
            child_value: dict[str, Any] | list[Any]
            if token.kind == "{":
                node, child_value = _Object(token.start, members=[]), {}
            else:
                node, child_value = _Array(token.start, items=[]), []
            if depth > MAX_DEPTH and (frame is None or frame.value is not None):
                self.error(
                    token.start,
                    token.end,
                    f"Nested more than {MAX_DEPTH} levels deep: Python's json cannot read it",
                )
            kept = keep and depth <= MAX_DEPTH and (frame is None or frame.value is not None)
            self.attach(frame, node, child_value, kept, keep)
            self.frames.append(
                _Frame(node, child_value if kept else None, "key" if token.kind == "{" else "value")
            )
            return
        node, value, ok = self.scalar(token)
        self.attach(frame, node, value, ok and keep, keep)

    def attach(
        self, frame: _Frame | None, node: _Value, value: Any, has_value: bool, keep: bool
    ) -> None:
        if frame is None:
            self.root = node
            self.value = value if has_value else None
            return
        if not keep:
            return
        if isinstance(frame.node, _Object):
            member = frame.member
            assert member is not None
            member.value = node
            if has_value and member.key is not None and isinstance(frame.value, dict):
                frame.value[member.key] = value
        else:
            assert frame.node.items is not None
            frame.node.items.append(node)
            if isinstance(frame.value, list):
                # An unusable element stays as None so that indices keep matching the text.
                frame.value.append(value if has_value else None)

    def close(self, token: _Token) -> None:
        frame = self.frames.pop()
        frame.node.end = token.end
        frame.node.closed = True
        if frame.comma is not None:
            comma = frame.comma
            self.note(comma.start, comma.end, "trailing_comma", "Trailing comma is not allowed")

    def abandon(self, end: int) -> None:
        frame = self.frames.pop()
        self.end_slot(frame, end)
        frame.node.end = end
        frame.node.closed = False

    def end_slot(self, frame: _Frame, end: int) -> None:
        """A member left without a value ends here (for node_at's value slot)."""
        if frame.state in ("colon", "value") and frame.member is not None:
            frame.member.stop = end

    def mismatch(self, token: _Token) -> None:
        opener = _OPENER[token.kind]
        wanted = "object" if opener == "{" else "array"
        for index in range(len(self.frames) - 1, -1, -1):
            if self.frames[index].node.kind == wanted:
                break
        else:
            self.error(token.start, token.end, f"Unexpected '{token.kind}'")
            return
        top = self.frames[-1].node
        top_opener = "{" if top.kind == "object" else "["
        self.error(
            token.start,
            token.end,
            f"Expected '{_CLOSER[top_opener]}' before '{token.kind}'",
            related=((top.start, top.start + 1, f"'{top_opener}' is opened here"),),
        )
        while len(self.frames) - 1 > index:
            self.abandon(token.start)
        self.frames[-1].comma = None
        self.close(token)

    # -- the state machine

    def run(self) -> None:
        try:
            self._run()
        except _Stop:
            while self.frames:
                self.abandon(self.last_end)

    def _run(self) -> None:
        text = self.text
        if self.pos == 1:
            self.note(
                0,
                1,
                "bom",
                _BOM_MESSAGE,
            )
        while True:
            token = self.next()
            if token is None:
                break
            if not self.frames:
                if self.root is not None:
                    end = len(text.rstrip(" \t\r\n"))
                    self.error(
                        token.start, max(end, token.end), "Unexpected text after the JSON value"
                    )
                    break
                if token.kind in ("{", "[", "string", "word", "sq", "atom"):
                    self.start_value(token, None)
                else:
                    self.error(token.start, token.end, _unexpected(text[token.start : token.end]))
            elif self.frames[-1].node.kind == "object":
                self.object_token(self.frames[-1], token)
            else:
                self.array_token(self.frames[-1], token)
            self.last_end = token.end
        self.finish()

    def finish(self) -> None:
        end = len(self.text)
        if self.frames:
            frame = self.frames[-1]
            node = frame.node
            opener = "{" if node.kind == "object" else "["
            expected = {
                "key": "a property name or '}'",
                "colon": "':'",
                "value": "a value" if node.kind == "object" else "a value or ']'",
                "comma": f"',' or '{_CLOSER[opener]}'",
            }[frame.state]
            self.error(
                end,
                end,
                f"Unexpected end of text: expected {expected}",
                related=((node.start, node.start + 1, f"'{opener}' is not closed"),),
            )
            while self.frames:
                self.abandon(end)
        elif self.root is None and self.last_end == self.start:
            self.error(0, end, "Empty document: expected a JSON value")

    def object_token(self, frame: _Frame, token: _Token) -> None:
        kind = token.kind
        state = frame.state
        if kind == "}":
            self.end_slot(frame, token.start)
            if state == "colon":
                self.error(token.start, token.end, "Expected ':' and a value")
            elif state == "value":
                self.error(token.start, token.end, "Expected a value")
            self.close(token)
            return
        if kind == "]":
            self.mismatch(token)
            return
        if kind == ",":
            if state == "comma":
                frame.state = "key"
                frame.comma = token
            else:
                self.end_slot(frame, token.start)
                message = {"key": "Expected a property name", "colon": "Expected ':'"}.get(
                    state, "Expected a value"
                )
                self.error(token.start, token.end, message)
                frame.state = "key"
                frame.comma = None
            return
        if kind == ":":
            if state == "colon":
                assert frame.member is not None
                frame.member.colon = token.end
                frame.state = "value"
            elif state == "key":
                self.error(token.start, token.end, "Expected a property name before ':'")
                self.add_member(frame, _Member(None, None, False, True, token.end, None))
                frame.state = "value"
            else:
                self.error(token.start, token.end, "Unexpected ':'")
            return
        if kind == "other":
            self.error(token.start, token.end, _unexpected(self.text[token.start : token.end]))
            return
        keylike = kind in ("string", "word", "sq")
        if state == "key":
            if keylike:
                self.add_member(frame, self.key(token))
                frame.state = "colon"
            else:
                self.error(token.start, token.end, "Expected a property name")
                self.start_value(token, frame, keep=False)
            return
        if state == "value":
            self.start_value(token, frame)
            return
        following = self.peek() if keylike else None
        if keylike and following is not None and following.kind == ":":
            # `"a": 1 "b": 2` or `{"a" "b": 2}`: a missing ',' (or value) before a new key.
            message = "Expected ','" if state == "comma" else "Expected ':' and a value"
            self.end_slot(frame, token.start)
            self.error(token.start, token.end, message)
            self.add_member(frame, self.key(token))
            frame.state = "colon"
            return
        if state == "colon":
            self.error(token.start, token.end, "Expected ':'")
            self.start_value(token, frame)
            return
        self.error(token.start, token.end, "Expected ',' or '}'")
        self.start_value(token, frame, keep=False)

    def array_token(self, frame: _Frame, token: _Token) -> None:
        kind = token.kind
        state = frame.state
        if kind == "]":
            self.close(token)
            return
        if kind == "}":
            self.mismatch(token)
            return
        if kind == ",":
            if state == "comma":
                frame.state = "value"
                frame.comma = token
            else:
                self.error(token.start, token.end, "Expected a value")
                frame.comma = None
            return
        if kind == ":":
            self.error(token.start, token.end, "Unexpected ':'")
            return
        if kind == "other":
            self.error(token.start, token.end, _unexpected(self.text[token.start : token.end]))
            return
        if state == "comma":
            self.error(token.start, token.end, "Expected ',' or ']'")
        self.start_value(token, frame)


def _unexpected(raw: str) -> str:
    char = raw[:1]
    if char in "{}[]:,":
        return f"Unexpected '{char}'"
    if char.isprintable() and not char.isspace():
        return f"Unexpected character '{char}'"
    return f"Unexpected character U+{ord(char):04X}"
