"""Timings of the document model on a ~2 MB Functional model config (NASNetLarge), the
product's benchmark: parse, one-character edits, node_at and locate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from layercfg.server.document import Document

_GENERATE = (
    "import json, sys, keras\n"
    "model = keras.applications.NASNetLarge(weights=None)\n"
    "config = keras.saving.serialize_keras_object(model)\n"
    "open(sys.argv[1], 'w').write(json.dumps(config, indent=2))\n"
)


def big_document() -> Path:
    """The benchmark file, generated once (in a child process: Keras never loads here)."""
    cache = Path(os.environ.get("LAYERCFG_BENCH_CACHE", tempfile.gettempdir()))
    path = cache / "nasnet.layercfg.json"
    if not path.exists():
        print(f"generating {path} (about 40 s)...", file=sys.stderr)
        partial = path.with_suffix(".partial")
        subprocess.run([sys.executable, "-c", _GENERATE, str(partial)], check=True)
        partial.rename(path)
    return path


def best_ms(action: Callable[[], Any], repeat: int = 7) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def insert(doc: Document, offset: int, text: str) -> types.TextDocumentContentChangePartial:
    position = doc.lines.position_at(offset)
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=position, end=position), text=text
    )


def main() -> None:
    text = big_document().read_text(encoding="utf-8")
    doc = Document.parse("file:///nasnet.layercfg.json", text, 1)
    value = json.loads(text)
    layers = value["config"]["layers"]
    print(
        f"document: {len(text) / 1e6:.2f} MB, {len(layers)} layers, "
        f"{doc.tree.root_node.descendant_count} tree-sitter nodes"
    )

    rows: list[tuple[str, float, str]] = []
    rows.append(("Document.parse", best_ms(lambda: Document.parse("u", text, 1), 5), "150"))
    rows.append(
        (
            "value + problems (valid)",
            best_ms(lambda: Document.parse("u", text, 1).problems, 5) - rows[0][1],
            "-",
        )
    )

    middle = len(layers) // 2
    path = ("config", "layers", middle, "config", "name")
    span = doc.locate(path)
    assert span is not None
    inside = span[0] + 2
    doc.lines  # noqa: B018 - built once per version, as the server does
    digit = insert(doc, inside, "x")
    rows.append(
        ("apply_changes, 1 char, valid", best_ms(lambda: doc.apply_changes([digit], 2)), "20")
    )
    quote = insert(doc, doc.locate(("config", "layers", middle), "open")[0] + 1, '"')
    rows.append(
        ("apply_changes, 1 char, breaks", best_ms(lambda: doc.apply_changes([quote], 2)), "20")
    )
    broken = doc.apply_changes([quote], 2)
    rows.append(
        (
            "apply_changes + problems, breaks",
            best_ms(lambda: doc.apply_changes([quote], 2).problems, 3),
            "-",
        )
    )
    rows.append(("node_at (valid)", best_ms(lambda: doc.node_at(inside)), "2"))
    rows.append(("locate (valid)", best_ms(lambda: doc.locate(path)), "2"))
    broken.problems  # noqa: B018
    rows.append(("node_at (broken, analysed)", best_ms(lambda: broken.node_at(inside + 1)), "2"))
    rows.append(("locate (broken, analysed)", best_ms(lambda: broken.locate(path)), "2"))
    rows.append(("json.loads alone", best_ms(lambda: json.loads(text)), "-"))

    width = max(len(name) for name, _, _ in rows)
    for name, ms, target in rows:
        limit = f"(target <= {target} ms)" if target != "-" else ""
        print(f"{name:<{width}}  {ms:8.2f} ms  {limit}")


if __name__ == "__main__":
    main()
